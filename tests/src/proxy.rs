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
    /// Answer 200 with bytes that are not JSON, without forwarding.
    Garbage,
    /// Forward it, but answer `eth_blockNumber` this many blocks below the node: a node that
    /// fell behind the chain.
    BehindBlocks(u64),
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
    match verdict {
        Verdict::Fail => return (StatusCode::BAD_GATEWAY, Bytes::new()),
        Verdict::Garbage => return (StatusCode::OK, Bytes::from_static(b"\x00{\"jsonrpc\":\"2.0\",\"res")),
        _ => {}
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
    if let Verdict::BehindBlocks(behind) = verdict {
        return (status, behind_blocks(&parsed, &bytes, behind));
    }
    (status, bytes)
}

/// The node's answer with the result of every `eth_blockNumber` call in `request` lowered by
/// `behind`; every other result is left alone.
fn behind_blocks(request: &Value, answer: &[u8], behind: u64) -> Bytes {
    let calls: Vec<&Value> = match request {
        Value::Array(all) => all.iter().collect(),
        one => vec![one],
    };
    let height_ids: Vec<&Value> =
        calls.iter().filter(|c| c["method"] == "eth_blockNumber").map(|c| &c["id"]).collect();
    let Ok(mut v) = serde_json::from_slice::<Value>(answer) else { return Bytes::copy_from_slice(answer) };
    let lower = |one: &mut Value| {
        if !height_ids.contains(&&one["id"]) {
            return;
        }
        let Some(hex) = one["result"].as_str() else { return };
        if let Ok(n) = u64::from_str_radix(hex.trim_start_matches("0x"), 16) {
            one["result"] = Value::String(format!("{:#x}", n.saturating_sub(behind)));
        }
    };
    match &mut v {
        Value::Array(all) => all.iter_mut().for_each(lower),
        one => lower(one),
    }
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}
