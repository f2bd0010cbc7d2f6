//! Misbehaving RPC endpoints for failover tests: one that accepts connections and never answers,
//! one that answers garbage, and a closed port.

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
