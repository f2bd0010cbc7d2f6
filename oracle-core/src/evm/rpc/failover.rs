//! An RPC transport over an ordered list of endpoints that fails over.
//!
//! A tower `Service` (so alloy uses it as its transport, under any provider) that sends each
//! request to the preferred healthy endpoint. A transport failure, a timeout, an answer that is
//! not JSON-RPC, or a JSON-RPC error that says the endpoint cannot serve the request (rate
//! limited, block or state missing, method missing: see [`endpoint_refusal`](super::endpoint_refusal))
//! moves the request to the next endpoint, with the old bot's log lines
//! (`Base RPC 0 failed, trying fallback...`, `Base switched to RPC 1`). A background probe reads
//! every endpoint's block number: an endpoint behind the best by more than `max_lag_blocks`, or
//! failing, is unhealthy; the preferred endpoint is used again once it has passed `recover_after`
//! probes in a row. Transactions are never blindly sent to a second endpoint: a broadcast moves on
//! only when the first endpoint certainly did not receive it (the connection was refused); an
//! error answer to a broadcast is passed on as it is.
//!
//! Why not alloy's `FallbackLayer`: it ranks endpoints by latency and fans requests out to
//! several at once, which would broadcast transactions to several endpoints and hide which one
//! accepted them, and it has no notion of an endpoint lagging behind the others.

use std::{
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{
        client::RpcClient,
        json_rpc::{RequestPacket, ResponsePacket},
    },
    transports::{TransportError, TransportErrorKind, TransportFut, http::reqwest},
};
use tower::Service;

use super::{
    RpcUrl,
    coalesce::{Coalescer, DEFAULT_COALESCE_WINDOW, DEFAULT_MAX_BATCH, SendFn},
    http::{HttpEndpoint, packet_refusal},
};
use crate::{evm::EvmError, secret::redact_urls};

/// Settings of a [`FailoverTransport`].
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// The chain's name in logs and metrics (`Base`, `Jeju`).
    pub chain: String,
    /// Limit of one request to one endpoint (default 10 s).
    pub request_timeout: Duration,
    /// Limit of one request across all endpoints (default 30 s).
    pub total_timeout: Duration,
    /// An endpoint this many blocks behind the best one is unhealthy (default 5).
    pub max_lag_blocks: u64,
    /// How often every endpoint's block number is probed (default 5 s).
    pub probe_interval: Duration,
    /// Consecutive good probes before a failed endpoint is preferred again (default 2).
    pub recover_after: u32,
    /// The chain id every endpoint must answer (default: none given, and then the first
    /// `eth_chainId` answer of any endpoint fixes it). An endpoint answering another one fails.
    pub chain_id: Option<u64>,
    /// How long a read waits for others to share its JSON-RPC batch (default 2 ms,
    /// [`DEFAULT_COALESCE_WINDOW`]; zero sends every request alone): the reads a round makes
    /// together on one chain go out as one batch.
    pub coalesce_window: Duration,
    /// The most calls in one coalesced batch (default 100, [`DEFAULT_MAX_BATCH`]).
    pub max_batch: usize,
}

impl FailoverConfig {
    /// Defaults for `chain`.
    pub fn new(chain: impl Into<String>) -> Self {
        Self {
            chain: chain.into(),
            request_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_lag_blocks: 5,
            probe_interval: Duration::from_secs(5),
            recover_after: 2,
            chain_id: None,
            coalesce_window: DEFAULT_COALESCE_WINDOW,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// One endpoint's counters, as [`FailoverTransport::stats`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// HTTP round trips sent to it (a JSON-RPC batch is one).
    pub requests: u64,
    /// JSON-RPC calls sent to it (each call of a batch counts).
    pub calls: u64,
    /// Round trips that failed (transport error, timeout, garbage, or an error answer that
    /// means the endpoint cannot serve the request).
    pub errors: u64,
    /// Whether it is currently considered healthy.
    pub healthy: bool,
    /// Its latest probed block number.
    pub block: Option<u64>,
}

struct Endpoint {
    url: RpcUrl,
    http: HttpEndpoint,
    state: Mutex<Health>,
    requests: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Health {
    healthy: bool,
    /// Good probes in a row since it last failed.
    streak: u32,
    block: Option<u64>,
}

struct Inner {
    config: FailoverConfig,
    endpoints: Vec<Endpoint>,
    /// The endpoint that answered last, to log switches once.
    active: AtomicUsize,
    failovers: AtomicU64,
    /// Gathers the reads made together into one batch.
    coalescer: Arc<Coalescer>,
}

/// A transport over several endpoints that fails over; cheap to clone (shared state).
#[derive(Clone)]
pub struct FailoverTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FailoverTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.inner.endpoints.iter().map(|e| e.url.to_string()).collect();
        f.debug_struct("FailoverTransport")
            .field("chain", &self.inner.config.chain)
            .field("endpoints", &urls)
            .finish()
    }
}

/// What a failed attempt means for the request.
enum Failure {
    /// Try the next endpoint.
    Next(TransportError),
    /// Give up: trying elsewhere could duplicate a transaction.
    Stop(TransportError),
    /// The endpoint answered, but with an error that says it cannot serve the request (`reason`):
    /// try the next endpoint, and pass this answer on if none is left.
    Refused { answer: ResponsePacket, reason: String },
}

impl FailoverTransport {
    /// A transport over `urls` (in preference order), probing them in the background while it
    /// lives. Must be called within a tokio runtime.
    pub fn new(urls: &[RpcUrl], config: FailoverConfig) -> Result<Self, EvmError> {
        if urls.is_empty() {
            return Err(EvmError::NoEndpoint { chain: config.chain });
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| EvmError::HttpClient { reason: e.to_string() })?;
        let chain = Arc::new(super::answer::ChainPin::new(config.chain_id));
        let endpoints = urls
            .iter()
            .map(|url| Endpoint {
                url: url.clone(),
                http: HttpEndpoint::with_chain(url.clone(), client.clone(), Arc::clone(&chain)),
                state: Mutex::new(Health { healthy: true, streak: 0, block: None }),
                requests: AtomicU64::new(0),
                calls: AtomicU64::new(0),
                errors: AtomicU64::new(0),
            })
            .collect();
        let coalescer = Arc::new(Coalescer::new(config.coalesce_window, config.max_batch));
        let inner = Arc::new(Inner {
            config,
            endpoints,
            active: AtomicUsize::new(0),
            failovers: AtomicU64::new(0),
            coalescer,
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(probe_loop(weak));
        Ok(Self { inner })
    }

    /// Failovers since start: times the endpoint in use moved to a less preferred one.
    pub fn failovers(&self) -> u64 {
        self.inner.failovers.load(Ordering::Relaxed)
    }

    /// Per-endpoint counters, in preference order.
    pub fn stats(&self) -> Vec<EndpointStats> {
        self.inner
            .endpoints
            .iter()
            .map(|e| {
                let h = *e.state.lock().unwrap_or_else(|p| p.into_inner());
                EndpointStats {
                    requests: e.requests.load(Ordering::Relaxed),
                    calls: e.calls.load(Ordering::Relaxed),
                    errors: e.errors.load(Ordering::Relaxed),
                    healthy: h.healthy,
                    block: h.block,
                }
            })
            .collect()
    }

    /// Probes every endpoint now (the background probe does this every `probe_interval`).
    pub async fn probe_now(&self) {
        probe(&self.inner).await;
    }

    /// The chain's name, as configured (`Base`, `Jeju`).
    pub fn chain(&self) -> &str {
        &self.inner.config.chain
    }

    /// A read-only provider over this transport (sharing its endpoints, health and counters),
    /// without fillers or wallet, like [`connect_failover`](super::connect_failover)'s.
    pub fn provider(&self) -> DynProvider {
        let is_local =
            self.inner.endpoints.iter().all(|e| {
                e.url.expose().host_str().is_some_and(|h| h == "localhost" || h.starts_with("127."))
            });
        let rpc = RpcClient::new(self.clone(), is_local);
        ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased()
    }
}

impl Inner {
    fn health(&self, i: usize) -> Health {
        *self.endpoints[i].state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_health(&self, i: usize, f: impl FnOnce(&mut Health)) {
        f(&mut self.endpoints[i].state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Healthy endpoints first, each group in preference order.
    fn order(&self) -> Vec<usize> {
        let (mut healthy, mut rest): (Vec<usize>, Vec<usize>) =
            (0..self.endpoints.len()).partition(|&i| self.health(i).healthy);
        healthy.append(&mut rest);
        healthy
    }

    fn mark_failed(&self, i: usize) {
        self.set_health(i, |h| {
            h.healthy = false;
            h.streak = 0;
        });
    }

    fn label(&self, i: usize) -> [(&'static str, String); 2] {
        [("chain", self.config.chain.clone()), ("endpoint", i.to_string())]
    }

    async fn attempt(&self, i: usize, request: RequestPacket) -> Result<ResponsePacket, Failure> {
        let endpoint = &self.endpoints[i];
        let calls = match &request {
            RequestPacket::Single(_) => 1,
            RequestPacket::Batch(b) => b.len() as u64,
        };
        let is_broadcast = request.method_names().any(|m| m.starts_with("eth_sendRawTransaction"));
        endpoint.requests.fetch_add(1, Ordering::Relaxed);
        endpoint.calls.fetch_add(calls, Ordering::Relaxed);
        metrics::counter!("oracle_rpc_requests_total", &self.label(i)).increment(1);
        let started = Instant::now();
        let result = endpoint.http.send(request).await;
        metrics::histogram!("oracle_rpc_request_duration_seconds", &self.label(i))
            .record(started.elapsed().as_secs_f64());
        let count_error = || {
            endpoint.errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("oracle_rpc_errors_total", &self.label(i)).increment(1);
        };
        match result {
            Ok(answer) => match packet_refusal(&answer) {
                None => Ok(answer),
                Some(reason) => {
                    count_error();
                    if is_broadcast {
                        // The node may still have taken the transaction: pass the answer on (the
                        // submitter reads it), but prefer another endpoint for what follows.
                        self.mark_failed(i);
                        let chain = &self.config.chain;
                        tracing::warn!(chain = %chain, endpoint = %endpoint.url, error = %reason, "{chain} RPC {i} refused a broadcast; not sending it elsewhere");
                        Ok(answer)
                    } else {
                        Err(Failure::Refused { answer, reason })
                    }
                }
            },
            Err(e) => {
                count_error();
                // A broadcast may have reached the node even though the answer did not reach us;
                // only a refused connection proves it did not.
                if is_broadcast && !is_connect_error(&e) {
                    Err(Failure::Stop(e))
                } else {
                    Err(Failure::Next(e))
                }
            }
        }
    }

    async fn request(self: Arc<Self>, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let chain = self.config.chain.clone();
        let order = self.order();
        let mut last = None;
        for (n, &i) in order.iter().enumerate() {
            match self.attempt(i, request.clone()).await {
                Ok(response) => {
                    let previous = self.active.swap(i, Ordering::Relaxed);
                    if previous != i {
                        // A move to a less preferred endpoint is a failover; a return to a more
                        // preferred one that proved healthy again is not.
                        if i > previous {
                            self.failovers.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("oracle_rpc_failover_total", "chain" => chain.clone())
                                .increment(1);
                        }
                        tracing::warn!(chain = %chain, endpoint = %self.endpoints[i].url, "{chain} switched to RPC {i}");
                    }
                    return Ok(response);
                }
                Err(Failure::Stop(e)) => {
                    self.mark_failed(i);
                    return Err(e);
                }
                Err(Failure::Next(e)) => {
                    self.mark_failed(i);
                    let reason = redact_urls(&e.to_string());
                    if n + 1 < order.len() {
                        tracing::warn!(chain = %chain, endpoint = %self.endpoints[i].url, error = %reason, "{chain} RPC {i} failed, trying fallback...");
                    } else {
                        tracing::error!(chain = %chain, endpoint = %self.endpoints[i].url, error = %reason, "{chain} RPC {i} failed, no endpoint left");
                    }
                    last = Some(Err(e));
                }
                Err(Failure::Refused { answer, reason }) => {
                    self.mark_failed(i);
                    if n + 1 < order.len() {
                        tracing::warn!(chain = %chain, endpoint = %self.endpoints[i].url, error = %reason, "{chain} RPC {i} failed, trying fallback...");
                    } else {
                        // The caller gets the node's own error answer, as if there were no
                        // failover: it says more than "no endpoint left".
                        tracing::warn!(chain = %chain, endpoint = %self.endpoints[i].url, error = %reason, "{chain} RPC {i} refused the request, no endpoint left: passing its answer on");
                    }
                    last = Some(Ok(answer));
                }
            }
        }
        last.unwrap_or_else(|| Err(TransportErrorKind::custom_str("no RPC endpoint")))
    }
}

fn is_connect_error(e: &TransportError) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = source {
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            return r.is_connect();
        }
        source = err.source();
    }
    false
}

/// Reads every endpoint's block number; marks failing and lagging endpoints unhealthy and
/// recovered ones healthy after `recover_after` good probes.
async fn probe(inner: &Inner) {
    let blocks = futures_util::future::join_all(inner.endpoints.iter().map(|e| async {
        let req =
            alloy::rpc::json_rpc::Request::new("eth_blockNumber", alloy::rpc::json_rpc::Id::Number(0), ());
        let packet = RequestPacket::Single(req.serialize().ok()?);
        match e.http.send(packet).await {
            Ok(ResponsePacket::Single(r)) => {
                let raw = r.payload.as_success()?;
                let n: alloy::primitives::U64 = serde_json::from_str(raw.get()).ok()?;
                Some(n.to::<u64>())
            }
            _ => None,
        }
    }))
    .await;
    let best = blocks.iter().flatten().max().copied();
    for (i, block) in blocks.into_iter().enumerate() {
        let lagging = matches!((block, best), (Some(b), Some(top)) if top.saturating_sub(b) > inner.config.max_lag_blocks);
        let good = block.is_some() && !lagging;
        let was = inner.health(i);
        inner.set_health(i, |h| {
            h.block = block;
            if good {
                h.streak = h.streak.saturating_add(1);
                if !h.healthy && h.streak >= inner.config.recover_after {
                    h.healthy = true;
                }
            } else {
                h.streak = 0;
                h.healthy = false;
            }
        });
        let now = inner.health(i);
        let chain = &inner.config.chain;
        let url = &inner.endpoints[i].url;
        if was.healthy && !now.healthy {
            match (block, best) {
                (Some(b), Some(top)) => {
                    tracing::warn!(chain = %chain, endpoint = %url, block = b, best = top, "{chain} RPC {i} is lagging {} blocks behind", top - b)
                }
                _ => {
                    tracing::warn!(chain = %chain, endpoint = %url, "{chain} RPC {i} failed its health probe")
                }
            }
        } else if !was.healthy && now.healthy {
            tracing::info!(chain = %chain, endpoint = %url, "{chain} RPC {i} is healthy again");
        }
        metrics::gauge!("oracle_rpc_endpoint_healthy", &inner.label(i)).set(if now.healthy {
            1.0
        } else {
            0.0
        });
    }
}

async fn probe_loop(weak: Weak<Inner>) {
    let Some(interval) = weak.upgrade().map(|i| i.config.probe_interval) else { return };
    // The first probe comes one interval after start: until then requests themselves find
    // failing endpoints.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // The probe stops with the last clone of the transport.
        let Some(inner) = weak.upgrade() else { return };
        probe(&inner).await;
    }
}

impl Service<RequestPacket> for FailoverTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let inner = self.inner.clone();
        if inner.coalescer.takes(&request) {
            let coalescer = Arc::clone(&inner.coalescer);
            let send: SendFn = Arc::new(move |packet| Box::pin(Arc::clone(&inner).bounded(packet)));
            Box::pin(async move { coalescer.request(request, send).await })
        } else {
            Box::pin(inner.bounded(request))
        }
    }
}

impl Inner {
    /// [`request`](Self::request) within the total timeout.
    async fn bounded(self: Arc<Self>, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let total = self.config.total_timeout;
        let chain = self.config.chain.clone();
        match tokio::time::timeout(total, self.request(request)).await {
            Ok(result) => result,
            Err(_) => Err(TransportErrorKind::custom_str(&format!(
                "{chain}: no RPC endpoint answered within {total:?}"
            ))),
        }
    }
}

/// Gives the transport's series their `# HELP` text (call once after installing the recorder).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "oracle_rpc_requests_total",
        Unit::Count,
        "JSON-RPC requests (a batch counts once) per chain and endpoint index."
    );
    describe_counter!(
        "oracle_rpc_errors_total",
        Unit::Count,
        "Requests that failed or were refused per chain and endpoint index."
    );
    describe_histogram!(
        "oracle_rpc_request_duration_seconds",
        Unit::Seconds,
        "Time of one JSON-RPC request per chain and endpoint index."
    );
    describe_counter!(
        "oracle_rpc_failover_total",
        Unit::Count,
        "Times a chain's requests moved to another endpoint."
    );
    describe_gauge!(
        "oracle_rpc_endpoint_healthy",
        "1 while an endpoint answers and keeps up with the best one, per chain and endpoint index."
    );
}
