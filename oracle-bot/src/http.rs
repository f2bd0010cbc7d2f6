//! The bot's HTTP endpoints, hardened: `GET /health` (liveness), `GET /ready` (readiness) and
//! `GET /metrics` (Prometheus text). Nothing else answers with data, nothing changes state, and
//! no client can hold the server:
//!
//! - a request's headers must arrive within [`HEADER_READ_TIMEOUT`] (a slowloris client is cut
//!   off), and be at most [`MAX_HEADER_BYTES`] (431 beyond);
//! - a connection lives at most [`CONNECTION_LIFETIME`], keep-alive included;
//! - at most [`MAX_CONNECTIONS`] connections are served at once; more wait in the kernel's
//!   accept queue rather than costing memory;
//! - a handler answers within [`REQUEST_TIMEOUT`] (tower's timeout) and at most
//!   [`MAX_IN_FLIGHT`] run at once (tower's concurrency limit); request bodies are never read
//!   beyond [`MAX_BODY_BYTES`];
//! - unknown paths answer 404, other methods 405.
//!
//! The server is hyper's HTTP/1 connection driven by hand instead of `axum::serve`, because
//! `axum::serve` has no header-read timeout.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router, error_handling::HandleErrorLayer, extract::DefaultBodyLimit, http::StatusCode,
    response::IntoResponse,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

/// A request's headers must arrive within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers larger than this are refused.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Request bodies are not read beyond this (no endpoint takes one).
pub const MAX_BODY_BYTES: usize = 1024;
/// The longest a connection is kept, keep-alive included.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Requests handled at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// A handler's time limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Wraps the endpoints' router in the limits above, with 404 for unknown paths.
pub fn harden(router: Router) -> Router {
    router
        .fallback(|| async {
            (StatusCode::NOT_FOUND, "not found: the endpoints are /health, /ready and /metrics\n")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        (StatusCode::SERVICE_UNAVAILABLE, "timed out\n").into_response()
                    } else {
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
                    }
                }))
                .timeout(REQUEST_TIMEOUT)
                .concurrency_limit(MAX_IN_FLIGHT),
        )
}

/// Binds `addr` and serves `router` (hardened) until `cancel` fires.
///
/// Returns once bound, with the bound address and the serving task, so a bind failure is an
/// error at start-up rather than a silent missing endpoint. On cancellation it stops accepting;
/// open connections end within [`CONNECTION_LIFETIME`].
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let service = TowerToHyperService::new(harden(router));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            // A slot first, then accept: past the limit, clients wait in the accept queue.
            let permit = tokio::select! {
                () = cancel.cancelled() => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accepting an HTTP connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES);
                let connection = http.serve_connection(TokioIo::new(stream), service);
                // Whatever the client does, the connection ends.
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            });
        }
    });
    Ok((bound, task))
}

/// A router with one `GET` route per `(path, handler)`, for tests of the limits.
#[cfg(test)]
fn router_for_tests() -> Router {
    Router::new().route("/health", axum::routing::get(|| async { "ok" }))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn request(addr: SocketAddr, raw: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn unknown_paths_and_other_methods_are_refused() {
        let cancel = CancellationToken::new();
        let (addr, _task) =
            serve("127.0.0.1:0".parse().unwrap(), router_for_tests(), cancel.clone()).await.unwrap();
        let ok = request(addr, "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let missing = request(addr, "GET /admin HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = request(
            addr,
            "POST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let huge = format!(
            "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
            "a".repeat(64 * 1024)
        );
        let refused = request(addr, &huge).await;
        assert!(refused.starts_with("HTTP/1.1 431") || refused.is_empty(), "{refused}");
        cancel.cancel();
    }
}
