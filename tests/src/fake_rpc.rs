//! Misbehaving RPC endpoints for failover tests: one that accepts connections and never answers,
//! one that answers garbage, one that answers an HTML page, one that answers every call with a
//! JSON-RPC error, a proxy that refuses one method, and a closed port.

use std::{future::Future, pin::Pin, sync::Arc};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A URL on which nothing listens (bound once, then closed).
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}")
}

/// Serves on a free port until the runtime ends; returns its URL. Each connection is handed to
/// `answer` with what the client sent.
async fn serve(answer: fn(tokio::net::TcpStream) -> tokio::task::JoinHandle<()>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            answer(socket);
        }
    });
    url
}

/// An endpoint that accepts TCP connections and never answers.
pub async fn hanging_url() -> String {
    serve(|mut socket| {
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            // Read whatever comes and hold the connection open without a word.
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        })
    })
    .await
}

/// An endpoint that answers every request with HTTP 200 and a body that is not JSON.
pub async fn garbage_url() -> String {
    serve(|mut socket| {
        tokio::spawn(async move {
            let mut buf = [0u8; 65536];
            if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                let body = "<html>upstream hiccup</html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        })
    })
    .await
}

/// An HTTP answer of a fake endpoint.
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn json(body: &Value) -> Self {
        Self { status: "200 OK", content_type: "application/json", body: body.to_string() }
    }
}

type Answer = Arc<dyn Fn(String, Vec<u8>) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Reads one HTTP/1.1 request: returns its path and body (`None` if the client went away).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + length].to_vec()))
}

/// Serves HTTP on a free port until the runtime ends, one request per connection; returns its
/// URL. `answer` gets each request's path and body.
async fn serve_http(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let Some((path, body)) = read_request(&mut socket).await else { return };
                let reply = answer(path, body).await;
                let response = format!(
                    "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    reply.status,
                    reply.content_type,
                    reply.body.len(),
                    reply.body
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// The calls of a JSON-RPC request body (one, or a batch), and whether it was a batch.
fn calls(body: &[u8]) -> (Vec<Value>, bool) {
    match serde_json::from_slice::<Value>(body).unwrap_or(Value::Null) {
        Value::Array(calls) => (calls, true),
        call => (vec![call], false),
    }
}

fn error_object(call: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": code, "message": message}})
}

/// A 13-line HTML page, as a plain web server answers it; it echoes the request path in its
/// title, like many servers' error pages do. [`HTML_PAGE_MARKER`] is on its tenth line.
pub fn html_page(path: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>Cannot POST {path}</title>\n<meta charset=\"utf-8\">\n</head>\n<body>\n<h1>Welcome</h1>\n<p>This is a plain web server, not a JSON-RPC endpoint.</p>\n<p>{HTML_PAGE_MARKER}</p>\n<footer>static site</footer>\n</body>\n</html>\n"
    )
}

/// Text deep in [`html_page`]: it must never reach an error or a log line.
pub const HTML_PAGE_MARKER: &str = "PAGE-BOTTOM-MARKER";

/// An endpoint that answers every request with HTTP 200, `text/html` and [`html_page`].
pub async fn html_url() -> String {
    serve_http(Arc::new(|path, _| {
        Box::pin(async move {
            Reply { status: "200 OK", content_type: "text/html; charset=utf-8", body: html_page(&path) }
        })
    }))
    .await
}

/// An endpoint that answers HTTP 200 with the JSON-RPC error `code`/`message` to every call
/// (each call of a batch gets its own error object).
pub async fn error_url(code: i64, message: &'static str) -> String {
    serve_http(Arc::new(move |_, body| {
        Box::pin(async move {
            let (calls, batch) = calls(&body);
            let errors: Vec<Value> = calls.iter().map(|c| error_object(c, code, message)).collect();
            Reply::json(&if batch { Value::Array(errors) } else { errors[0].clone() })
        })
    }))
    .await
}

/// A proxy to `upstream` that refuses `method` as a node without it does (geth's -32601
/// "does not exist/is not available"), alone or inside a batch, and forwards everything else.
pub async fn refusing_proxy_url(upstream: String, method: &'static str) -> String {
    let client = alloy::transports::http::reqwest::Client::new();
    serve_http(Arc::new(move |_, body| {
        let (client, upstream) = (client.clone(), upstream.clone());
        Box::pin(async move {
            let (calls, batch) = calls(&body);
            let (refused, forwarded): (Vec<Value>, Vec<Value>) =
                calls.into_iter().partition(|c| c["method"] == method);
            let mut answers: Vec<Value> = refused
                .iter()
                .map(|c| {
                    error_object(c, -32601, &format!("the method {method} does not exist/is not available"))
                })
                .collect();
            if !forwarded.is_empty() {
                let request = if batch { Value::Array(forwarded) } else { forwarded[0].clone() };
                let text = client
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(request.to_string())
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                match serde_json::from_str::<Value>(&text).unwrap() {
                    Value::Array(upstream_answers) => answers.extend(upstream_answers),
                    single => answers.push(single),
                }
            }
            Reply::json(&if batch { Value::Array(answers) } else { answers[0].clone() })
        })
    }))
    .await
}
