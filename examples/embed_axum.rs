//! Embedding the updater in an existing axum service.
//!
//! `cargo run -p oracle-examples --example embed_axum` (needs `anvil`: `scripts/setup.sh`
//! installs it into `.tools/bin`, or set `ANVIL`).
//!
//! The service (an "orders" API) owns the process: its tokio runtime, its `tracing` subscriber,
//! its `metrics` recorder (metrics-exporter-prometheus) and its router. The updater is a guest:
//! the engine is spawned on the service's runtime, logs through the service's subscriber, counts
//! into the service's recorder, and its `/health`, `/ready` and `/metrics` routes (the bot's own,
//! `oracle_bot::health::router`, built without the bot's configuration) are mounted under
//! `/oracle`. One `CancellationToken` stops the server (gracefully) and the engine (which
//! releases leadership) together.
//!
//! The target is real: anvil, `ManualPriceOracle` and the built-in EVM submitter. The example
//! waits for the first update to land, requests its own endpoints over HTTP and checks them, the
//! chain and its log, stops, and exits non-zero if any of it is off.

use std::{
    future::IntoFuture,
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    network::EthereumWallet, node_bindings::Anvil, primitives::U256, providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use axum::{Router, routing::get};
use metrics_exporter_prometheus::PrometheusBuilder;
use oracle_bot::health::{HealthRules, HealthSource};
use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter, Policy, Price,
    evm::{ManualOracleSubmitter, RpcUrl, bindings::ManualPriceOracle},
};
use oracle_sources::FixedPriceSource;
use tokio_util::sync::CancellationToken;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The service's log sink: stderr, and a copy the example reads back at the end.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        std::io::stderr().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// One of the service's own routes, counting its requests in the service's recorder.
async fn orders() -> &'static str {
    metrics::counter!("service_requests_total", "route" => "/orders").increment(1);
    r#"{"orders":[]}"#
}

/// `GET url`: the status and the body.
async fn get_text(client: &reqwest::Client, url: &str) -> Result<(u16, String), Error> {
    let response = client.get(url).send().await?;
    Ok((response.status().as_u16(), response.text().await?))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The service's subscriber and recorder, installed before anything else, as a service does.
    let logs = Logs::default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .init();
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    oracle_core::engine::metrics::describe();
    oracle_core::evm::describe_metrics();

    // The target chain: ManualPriceOracle at ETH 3000 / elizaOS 0.10, with its own updater key.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let anvil_bin =
        std::env::var_os("ANVIL").map(PathBuf::from).unwrap_or_else(|| repo.join(".tools/bin/anvil"));
    let anvil = Anvil::at(anvil_bin).try_spawn()?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let updater = PrivateKeySigner::from(anvil.keys()[1].clone());
    let owner_provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(owner.clone())).connect_http(anvil.endpoint_url());
    let e8 = |units: u64| U256::from(units) * U256::from(100_000_000u64);
    let oracle =
        ManualPriceOracle::deploy(&owner_provider, e8(3000), U256::from(10_000_000u64), owner.address())
            .await?;
    oracle.setPriceUpdater(updater.address()).send().await?.get_receipt().await?;
    println!("ManualPriceOracle at {}", oracle.address());

    let submitter = ManualOracleSubmitter::builder()
        .provider(oracle_core::evm::connect(&RpcUrl::parse(&anvil.endpoint())?, Duration::from_secs(10))?)
        .chain_name("anvil")
        .oracle(*oracle.address())
        .signer(updater)
        .poll_interval(Duration::from_millis(50))
        .connect()
        .await?;
    let policy = Policy::builder().min_interval(Duration::ZERO).build()?;
    let interval = Duration::from_millis(200);
    let engine = Engine::builder()
        .source(FeedId::ETH_USD, Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::parse("3100", 8)?)))
        .source(
            FeedId::ELIZAOS_USD,
            Arc::new(FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::parse("0.10", 8)?)),
        )
        .elector(Arc::new(AlwaysLeader::new("orders-service")))
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(policy.clone())
        .interval(interval)
        .build()?;

    // The bot's endpoints without the bot's configuration: the rules are the embedder's
    // (`HealthRules::from_config` needs a `BotConfig`), and there are no failover transports.
    let rules = HealthRules {
        stalled_after: 3 * interval + Duration::from_secs(60),
        stale_after: policy.heartbeat() + interval,
    };
    let oracle_routes = oracle_bot::health::router(
        HealthSource { status: engine.status(), rules },
        Vec::new(),
        prometheus.clone(),
    );
    let app = Router::new()
        .route("/", get(|| async { "orders service" }))
        .route("/orders", get(orders))
        .nest("/oracle", oracle_routes);

    let cancel = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(
        axum::serve(listener, app).with_graceful_shutdown(cancel.clone().cancelled_owned()).into_future(),
    );
    let mut status = engine.status();
    let engine = tokio::spawn({
        let cancel = cancel.clone();
        async move { engine.run(cancel).await }
    });

    // `wait_for` hands back a read guard on the engine's status: held, it would block the
    // engine's next status update, so it is dropped at once.
    let landed = tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| s.total_updates >= 1));
    if !matches!(landed.await, Ok(Ok(_))) {
        return Err(format!("no update landed within 30 s: {:?}", status.borrow().last_report).into());
    }

    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let (code, body) = get_text(&client, &format!("{base}/orders")).await?;
    println!("GET /orders: {code} {body}");
    let (code, body) = get_text(&client, &format!("{base}/oracle/health")).await?;
    println!("GET /oracle/health: {code} {body}");
    let health: serde_json::Value = serde_json::from_str(&body)?;
    if code != 200
        || health["isLeader"] != true
        || health["ethPrice"] != 3100.0
        || health["totalUpdates"] != 1
    {
        return Err("/oracle/health should be 200, leading, one update, ETH at 3100".into());
    }
    let (code, metrics) = get_text(&client, &format!("{base}/oracle/metrics")).await?;
    let shown: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("oracle_total_updates") || l.starts_with("service_requests"))
        .collect();
    println!("GET /oracle/metrics: {code}, among them {shown:?}");
    if code != 200
        || !shown.contains(&"oracle_total_updates 1")
        || !metrics.contains(r#"service_requests_total{route="/orders"} 1"#)
    {
        return Err(
            "/oracle/metrics should show the engine's and the service's metrics in one registry".into()
        );
    }
    let stored = oracle.getPrices().call().await?.ethUsd;
    println!("on chain: ETH/USD {stored}");
    if stored != e8(3100) {
        return Err(format!("the oracle holds {stored}, not 3100e8").into());
    }

    // One token stops both; the engine finishes its tick in progress and releases leadership.
    drop(client);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), async { tokio::try_join!(server, engine) }).await??.0?;
    if reqwest::get(format!("{base}/orders")).await.is_ok() {
        return Err("the server still answers after the shutdown".into());
    }
    let log = logs.text();
    if !log.contains("oracle_core::engine: engine started") || !log.contains("engine stopped") {
        return Err("the engine's log lines did not go through the service's subscriber".into());
    }
    println!("the engine logged through the service's subscriber; service and updater stopped together");
    Ok(())
}
