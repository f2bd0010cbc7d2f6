//! A JSON-RPC proxy in front of a real node that misbehaves on cue: it forwards a request and then
//! never answers (the node has the transaction, the client never learns it), or fails a request
//! without forwarding it. Each request is judged by a rule the test gives.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use serde_json::Value;

/// What the proxy does with one HTTP request (a single JSON-RPC call or a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it and return the node's answer.
    Forward,
    /// Forward it, then never answer: the node acted, the client waits until its timeout.
    ForwardThenHang,
    /// Answer 502 without forwarding: the node never saw it.
    Fail,
}

type Rule = dyn Fn(&Value) -> Verdict + Send + Sync;

struct Shared {
    upstream: String,
    client: reqwest::Client,
    rule: Box<Rule>,
    /// Every method seen, in order, with the verdict it got.
    log: Mutex<Vec<(String, Verdict)>>,
}

/// A running proxy; stops with the runtime.
#[derive(Clone)]
pub struct RpcProxy {
    /// The proxy's URL, to give the client instead of the node's.
    pub url: String,
    shared: Arc<Shared>,
}

/// The methods of a request body (one, or each of a batch).
pub fn methods(body: &Value) -> Vec<String> {
    let one = |v: &Value| v["method"].as_str().unwrap_or_default().to_owned();
    match body {
        Value::Array(calls) => calls.iter().map(one).collect(),
        v => vec![one(v)],
    }
}

impl RpcProxy {
    /// Starts a proxy to `upstream` that judges every request with `rule`.
    pub async fn start(upstream: &str, rule: impl Fn(&Value) -> Verdict + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            rule: Box::new(rule),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new().route("/", post(handle)).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    /// How many requests calling `method` got `verdict`.
    pub fn count(&self, method: &str, verdict: Verdict) -> usize {
        self.shared.log.lock().unwrap().iter().filter(|(m, v)| m == method && *v == verdict).count()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> impl IntoResponse {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let verdict = (shared.rule)(&parsed);
    shared.log.lock().unwrap().extend(methods(&parsed).into_iter().map(|m| (m, verdict)));
    if verdict == Verdict::Fail {
        return (StatusCode::BAD_GATEWAY, Bytes::new());
    }
    let answer = shared
        .client
        .post(&shared.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let (status, bytes) = match answer {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, r.bytes().await.unwrap_or_default())
        }
        Err(_) => (StatusCode::BAD_GATEWAY, Bytes::new()),
    };
    if verdict == Verdict::ForwardThenHang {
        std::future::pending::<()>().await;
    }
    (status, bytes)
}
