//! `HttpJsonSource` against a local HTTP server: values as strings and numbers (exact, no f64),
//! a missing pointer, a garbage body, HTTP 500, a timeout, and errors that never show the URL's
//! query string or credentials.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, time::Duration};

use oracle_core::{FeedId, Observation, PriceSource, SourceError};
use oracle_sources::HttpJsonSource;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Answers each request by its path: `(status line, body)`; `/slow` never answers.
fn route(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "/string" => ("200 OK", r#"{"data": {"price": "3245.67"}}"#),
        "/number" => ("200 OK", r#"{"data": {"price": 3245.123456789012345678}}"#),
        "/array" => ("200 OK", r#"[{"usd": 0.1}]"#),
        "/zero" => ("200 OK", r#"{"data": {"price": "0"}}"#),
        "/negative" => ("200 OK", r#"{"data": {"price": -5}}"#),
        "/exponent" => ("200 OK", r#"{"data": {"price": 3.2e3}}"#),
        "/null" => ("200 OK", r#"{"data": {"price": null}}"#),
        "/garbage" => ("200 OK", "<html>502 Bad Gateway</html>"),
        "/error" => ("500 Internal Server Error", r#"{"error": "boom"}"#),
        _ => return None,
    })
}

/// A one-route-table HTTP/1.1 server on a free loopback port.
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let path = target.split('?').next().unwrap_or("/");
                if path == "/slow" {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let (status, body) = route(path).unwrap_or(("404 Not Found", "{}"));
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

const SECRET: &str = "SECRET-API-KEY";

fn source(addr: SocketAddr, path: &str, pointer: &str, decimals: u8) -> HttpJsonSource {
    HttpJsonSource::builder(
        FeedId::ETH_USD,
        format!("http://user:{SECRET}@{addr}{path}?key={SECRET}&ids=eth"),
    )
    .pointer(pointer)
    .decimals(decimals)
    .timeout(Duration::from_millis(500))
    .build()
    .unwrap()
}

async fn fetch(source: &HttpJsonSource) -> Result<Observation, SourceError> {
    source.fetch(&FeedId::ETH_USD).await
}

/// The refusal, checked to keep the URL's secrets out of every rendering.
async fn refusal(source: &HttpJsonSource) -> SourceError {
    let error = fetch(source).await.expect_err("the source must refuse");
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(SECRET), "the error shows a secret: {text}");
        assert!(!text.contains("ids=eth"), "the error shows the query string: {text}");
    }
    error
}

#[tokio::test]
async fn values_as_strings_and_numbers_are_parsed_exactly() {
    oracle_tests::init_tracing();
    let addr = server().await;
    let obs = fetch(&source(addr, "/string", "/data/price", 8)).await.unwrap();
    assert_eq!(obs.price.to_string(), "3245.67000000");
    assert_eq!(obs.source, "http:ETH/USD");
    // 22 significant digits: an f64 would have kept 17.
    let obs = fetch(&source(addr, "/number", "/data/price", 18)).await.unwrap();
    assert_eq!(obs.price.to_string(), "3245.123456789012345678");
    let obs = fetch(&source(addr, "/array", "/0/usd", 8)).await.unwrap();
    assert_eq!(obs.price.to_string(), "0.10000000");
}

#[tokio::test]
async fn bad_answers_are_refused_by_kind() {
    let addr = server().await;

    match refusal(&source(addr, "/string", "/data/usd", 8)).await {
        SourceError::Invalid { check: "json pointer", detail, .. } => {
            assert!(detail.contains("/data/usd") && detail.contains("no member \"usd\""), "{detail}");
            assert!(
                detail.contains(&format!("GET http://{addr})")) && !detail.contains("/string"),
                "names the URL without secrets: {detail}"
            );
        }
        other => panic!("expected a pointer refusal, got {other:?}"),
    }
    match refusal(&source(addr, "/garbage", "/data/price", 8)).await {
        SourceError::Unreachable { reason, .. } => assert!(reason.contains("not valid JSON"), "{reason}"),
        other => panic!("expected Unreachable for a garbage body, got {other:?}"),
    }
    match refusal(&source(addr, "/error", "/data/price", 8)).await {
        SourceError::Unreachable { reason, .. } => {
            assert!(reason.contains("HTTP 500"), "{reason}");
            assert!(reason.contains(&format!("http://{addr}")) && !reason.contains("/error"), "{reason}");
        }
        other => panic!("expected Unreachable for HTTP 500, got {other:?}"),
    }
    match refusal(&source(addr, "/slow", "/data/price", 8)).await {
        SourceError::Unreachable { reason, .. } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected Unreachable for a timeout, got {other:?}"),
    }
    match refusal(&source(addr, "/string", "/data/price", 1)).await {
        SourceError::Invalid { check: "json value", detail, .. } => {
            assert!(detail.contains("more fractional digits"), "{detail}");
        }
        other => panic!("expected a value refusal, got {other:?}"),
    }
    for path in ["/exponent", "/null"] {
        assert!(
            matches!(
                refusal(&source(addr, path, "/data/price", 8)).await,
                SourceError::Invalid { check: "json value", .. }
            ),
            "{path}"
        );
    }
    for path in ["/zero", "/negative"] {
        assert!(
            matches!(refusal(&source(addr, path, "/data/price", 8)).await, SourceError::NonPositive { .. }),
            "{path}"
        );
    }
    // Nothing listening at all.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    assert!(matches!(
        refusal(&source(closed, "/string", "/data/price", 8)).await,
        SourceError::Unreachable { .. }
    ));
}

/// An API key in the URL's path (`/v2/<key>/price`, as Alchemy and Infura put it) appears in no
/// error, `Debug` or log line.
#[tokio::test]
async fn a_key_in_the_path_is_never_shown() {
    let addr = server().await;
    let (capture, _guard) = oracle_tests::capture::LogCapture::start();
    let keyed = source(addr, &format!("/v2/{SECRET}/price"), "/data/price", 8);
    assert!(!format!("{keyed:?}").contains(SECRET));
    // The server has no such path: a 404, refused as unreachable, the key nowhere in it.
    assert!(matches!(refusal(&keyed).await, SourceError::Unreachable { .. }));
    assert!(!capture.text().contains(SECRET), "{}", capture.text());
}
