//! A hostile JSON-RPC endpoint: a proxy in front of a real node that, for a seeded fraction of
//! requests, answers what a bad provider can send. The faults ([`Fault`]): truncated JSON, valid
//! JSON of the wrong shape, a result of the wrong type, a huge body (24 MB, with and without a
//! declared length), a slow trickle, a batch answer with missing, duplicated or foreign ids, an
//! error object with an odd code, a block number that goes backwards, and a chain id that changes.
//!
//! It speaks HTTP/1.1 itself, one request per connection, so it can send what a well-behaved
//! server library would not (a body cut short of its length, a body until the connection
//! closes, one byte at a time). Every fault it injects is logged with the method it hit, so a test
//! can match the client's counters against what was really sent.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{proxy::methods, rng::Rng};

/// One kind of bad answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The node's answer cut in half (forwarded: the node saw the request).
    Truncated,
    /// Valid JSON that is not a JSON-RPC response (not forwarded).
    WrongShape,
    /// A JSON-RPC response whose result is an array, for any method (forwarded).
    WrongType,
    /// 24 MB of a result (forwarded); every other time without a declared length.
    Huge,
    /// The node's answer one byte every 100 ms (forwarded).
    Trickle,
    /// A batch answer with an id missing, duplicated or foreign (forwarded).
    BatchIds,
    /// A JSON-RPC error with an odd code and control characters (not forwarded); only on plain
    /// reads, where an error cannot be a real answer (on `eth_call` it is a revert).
    OddError,
    /// `eth_blockNumber` a few blocks below one already answered.
    BlockBackwards,
    /// `eth_chainId` one more than the node's.
    ChainIdChanged,
}

/// Methods where an error object can only be the endpoint's failure (see [`Fault::OddError`]).
const PLAIN_READS: &[&str] = &["eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_maxPriorityFeePerGas"];

#[derive(Debug)]
struct State {
    rng: Rng,
    per_mille: u64,
    enabled: bool,
    highest_block: u64,
    huge_sent: u64,
    faults: Vec<(String, Fault)>,
    requests: u64,
}

/// A running hostile proxy; stops with the runtime.
#[derive(Clone)]
pub struct HostileProxy {
    /// The proxy's URL.
    pub url: String,
    upstream: String,
    client: reqwest::Client,
    state: Arc<Mutex<State>>,
}

impl HostileProxy {
    /// Starts a proxy to `upstream` that spoils about `per_mille`/1000 of the requests, chosen
    /// by a generator seeded with `seed`.
    pub async fn start(upstream: &str, seed: u64, per_mille: u64) -> Self {
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("the proxy's address"));
        let proxy = Self {
            url,
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            state: Arc::new(Mutex::new(State {
                rng: Rng::new(seed),
                per_mille,
                enabled: true,
                highest_block: 0,
                huge_sent: 0,
                faults: Vec::new(),
                requests: 0,
            })),
        };
        let server = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let p = server.clone();
                tokio::spawn(async move { p.serve(stream).await });
            }
        });
        proxy
    }

    /// Turns faults on or off (off: a plain proxy).
    pub fn set_enabled(&self, enabled: bool) {
        self.state.lock().expect("proxy state").enabled = enabled;
    }

    /// Every fault injected so far, with the (first) method of the request it hit.
    pub fn faults(&self) -> Vec<(String, Fault)> {
        self.state.lock().expect("proxy state").faults.clone()
    }

    /// How many HTTP requests it received.
    pub fn requests(&self) -> u64 {
        self.state.lock().expect("proxy state").requests
    }

    /// Picks the fault for a request with `methods` (`None`: answer honestly).
    fn choose(&self, body: &Value, methods: &[String]) -> Option<Fault> {
        let mut s = self.state.lock().expect("proxy state");
        s.requests += 1;
        if !s.enabled {
            return None;
        }
        let first = methods.first().map(String::as_str).unwrap_or_default();
        // A fault only some requests can get, not injected yet, goes to the first request that
        // can get it, whatever the roll: which requests a run makes depends on timing, and a run
        // must see every kind.
        let eligible = if body.is_array() {
            Some(Fault::BatchIds)
        } else if first == "eth_blockNumber" && s.highest_block > 5 {
            Some(Fault::BlockBackwards)
        } else if first == "eth_chainId" {
            Some(Fault::ChainIdChanged)
        } else if PLAIN_READS.contains(&first) {
            Some(Fault::OddError)
        } else {
            None
        };
        if let Some(fault) = eligible
            && !s.faults.iter().any(|(_, f)| *f == fault)
        {
            s.faults.push((first.to_owned(), fault));
            return Some(fault);
        }
        if s.rng.below(1000) >= s.per_mille {
            return None;
        }
        let mut options =
            vec![Fault::Truncated, Fault::WrongShape, Fault::WrongType, Fault::Huge, Fault::Trickle];
        // The faults only some requests can get weigh three times as much, so a run of a few
        // hundred ticks sees each of them.
        let mut specific = |f: Fault| options.extend([f, f, f]);
        if body.is_array() {
            specific(Fault::BatchIds);
        } else {
            if PLAIN_READS.contains(&first) {
                specific(Fault::OddError);
            }
            if first == "eth_blockNumber" && s.highest_block > 5 {
                specific(Fault::BlockBackwards);
            }
            if first == "eth_chainId" {
                specific(Fault::ChainIdChanged);
            }
        }
        let len = options.len() as u64;
        let fault = options[usize::try_from(s.rng.below(len)).unwrap_or(0)];
        s.faults.push((first.to_owned(), fault));
        Some(fault)
    }

    async fn forward(&self, body: &[u8]) -> Vec<u8> {
        let answer = self
            .client
            .post(&self.upstream)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let bytes = match answer {
            Ok(r) => r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        // Remember the highest block answered, to go back from.
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            && let Some(n) =
                v["result"].as_str().and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            && serde_json::from_slice::<Value>(body).is_ok_and(|b| b["method"] == "eth_blockNumber")
        {
            let mut s = self.state.lock().expect("proxy state");
            s.highest_block = s.highest_block.max(n);
        }
        bytes
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(body) = read_request(&mut stream).await else { return };
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let ms = methods(&parsed);
        let id = parsed.get("id").cloned().unwrap_or(Value::Null);
        let Some(fault) = self.choose(&parsed, &ms) else {
            let answer = self.forward(&body).await;
            let _ = respond(&mut stream, &answer, true).await;
            return;
        };
        let _ = match fault {
            Fault::Truncated => {
                let answer = self.forward(&body).await;
                let half = answer.len() / 2;
                respond(&mut stream, &answer[..half], true).await
            }
            Fault::WrongShape => respond(&mut stream, br#"{"jsonrpc":"2.0","hello":["world"]}"#, true).await,
            Fault::WrongType => {
                let answer = self.forward(&body).await;
                let mut v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                match &mut v {
                    Value::Array(items) => items.iter_mut().for_each(|i| i["result"] = json!([true])),
                    other => other["result"] = json!([true]),
                }
                respond(&mut stream, v.to_string().as_bytes(), true).await
            }
            Fault::Huge => {
                let _ = self.forward(&body).await;
                let declared = {
                    let mut s = self.state.lock().expect("proxy state");
                    s.huge_sent += 1;
                    s.huge_sent % 2 == 1
                };
                huge(&mut stream, &id, declared).await
            }
            Fault::Trickle => {
                let answer = self.forward(&body).await;
                trickle(&mut stream, &answer).await
            }
            Fault::BatchIds => {
                let answer = self.forward(&body).await;
                let mut items: Vec<Value> = serde_json::from_slice(&answer).unwrap_or_default();
                let pick = self.state.lock().expect("proxy state").rng.below(3);
                match pick {
                    0 => {
                        items.pop();
                    }
                    1 => {
                        if let Some(first) = items.first().cloned() {
                            items.push(first);
                        }
                    }
                    _ => {
                        if let Some(last) = items.last_mut() {
                            last["id"] = json!(999_999_999u64);
                        }
                    }
                }
                items.reverse();
                respond(&mut stream, Value::Array(items).to_string().as_bytes(), true).await
            }
            Fault::OddError => {
                let odd = json!({"jsonrpc": "2.0", "id": id, "error": {"code": i64::MIN, "message": "\u{0}\u{202e}odd\nerror", "data": [1, {"x": null}]}});
                respond(&mut stream, odd.to_string().as_bytes(), true).await
            }
            Fault::BlockBackwards => {
                let (highest, back) = {
                    let mut s = self.state.lock().expect("proxy state");
                    let back = 1 + s.rng.below(5);
                    (s.highest_block, back)
                };
                let answer = json!({"jsonrpc": "2.0", "id": id, "result": format!("{:#x}", highest - back)});
                respond(&mut stream, answer.to_string().as_bytes(), true).await
            }
            Fault::ChainIdChanged => {
                let answer = self.forward(&body).await;
                let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                let real = v["result"]
                    .as_str()
                    .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
                let changed =
                    json!({"jsonrpc": "2.0", "id": id, "result": format!("{:#x}", real.unwrap_or(0) + 1)});
                respond(&mut stream, changed.to_string().as_bytes(), true).await
            }
        };
    }
}

/// Reads one HTTP request's body (by its `Content-Length`).
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[header_end..header_end + length].to_vec())
}

async fn respond(stream: &mut TcpStream, body: &[u8], declared: bool) -> std::io::Result<()> {
    let length = if declared { format!("Content-Length: {}\r\n", body.len()) } else { String::new() };
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

/// 24 MB of a hex result, in 1 MB writes.
async fn huge(stream: &mut TcpStream, id: &Value, declared: bool) -> std::io::Result<()> {
    const MB: usize = 1 << 20;
    let prefix = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x"#);
    let total = prefix.len() + 24 * MB + 2;
    let length = if declared { format!("Content-Length: {total}\r\n") } else { String::new() };
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(prefix.as_bytes()).await?;
    let block = vec![b'a'; MB];
    for _ in 0..24 {
        stream.write_all(&block).await?;
    }
    stream.write_all(b"\"}").await?;
    stream.shutdown().await
}

/// The answer one byte every 100 ms (the client gives up first).
async fn trickle(stream: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    for byte in body {
        stream.write_all(std::slice::from_ref(byte)).await?;
        stream.flush().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stream.shutdown().await
}
