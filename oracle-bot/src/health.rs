//! `GET /health` (JSON, 200 or 503) and `GET /metrics` (Prometheus text), as the old bot served
//! them, with its two mistakes fixed: a healthy follower answers 200, and counts are per landed
//! update.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use oracle_core::{EngineStatus, FeedId, Price, U256, evm::FailoverTransport};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// More consecutive failures than this and the bot reports itself unhealthy (the old bot's rule).
pub const MAX_HEALTHY_FAILURES: u32 = 5;

/// The `/health` body: the old bot's field names and units.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// This bot's id.
    pub bot_id: String,
    /// Whether the bot is healthy.
    pub healthy: bool,
    /// The oracle's last update, unix milliseconds (the old field's unit).
    pub last_update: Option<u64>,
    /// Failed ticks in a row.
    pub consecutive_failures: u32,
    /// Updates this bot landed.
    pub total_updates: u64,
    /// Seconds since start.
    pub uptime: u64,
    /// Whether this bot leads.
    pub is_leader: bool,
    /// The oracle's ETH/USD price.
    pub eth_price: Option<f64>,
    /// The oracle's elizaOS/USD price.
    pub eliza_price: Option<f64>,
    /// The updater's balance in ETH.
    pub wallet_balance: Option<f64>,
    /// The network's gas price in gwei.
    pub gas_price: Option<f64>,
    /// RPC failovers since start.
    pub rpc_failovers: u64,
    /// Failed ticks since start.
    pub update_failures: u64,
}

fn display(p: &Price) -> Option<f64> {
    p.to_string().parse().ok()
}

fn units(wei: U256, decimals: u8) -> Option<f64> {
    Price::new(wei, decimals).ok().as_ref().and_then(display)
}

impl Health {
    /// The health of a bot from its engine status.
    pub fn from_status(status: &EngineStatus, uptime_secs: u64, rpc_failovers: u64) -> Self {
        let healthy = status.consecutive_failures <= MAX_HEALTHY_FAILURES;
        let price =
            |feed: &FeedId| status.prices.iter().find(|(f, _)| f == feed).and_then(|(_, p)| display(p));
        Self {
            status: if healthy { "healthy" } else { "unhealthy" },
            bot_id: status.bot_id.clone(),
            healthy,
            last_update: status
                .last_update
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
            consecutive_failures: status.consecutive_failures,
            total_updates: status.total_updates,
            uptime: uptime_secs,
            is_leader: status.is_leader,
            eth_price: price(&FeedId::ETH_USD),
            eliza_price: price(&FeedId::ELIZAOS_USD),
            wallet_balance: status.wallet_balance_wei.and_then(|w| units(w, 18)),
            gas_price: status.gas_price_wei.and_then(|w| units(U256::from(w), 9)),
            rpc_failovers,
            update_failures: status.update_failures,
        }
    }
}

#[derive(Clone)]
struct AppState {
    status: watch::Receiver<EngineStatus>,
    rpc: Vec<FailoverTransport>,
    metrics: PrometheusHandle,
    started: Instant,
}

async fn health(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let failovers = app.rpc.iter().map(FailoverTransport::failovers).sum();
    let body = Health::from_status(&app.status.borrow(), app.started.elapsed().as_secs(), failovers);
    let code = if body.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    metrics::gauge!("oracle_uptime_seconds").set(app.started.elapsed().as_secs_f64());
    ([("content-type", "text/plain; version=0.0.4")], app.metrics.render())
}

/// Binds `addr` and serves `/health` and `/metrics` until `cancel` fires.
///
/// Returns once bound, with the bound address and the serving task, so a bind failure is an
/// error at start-up rather than a silent missing endpoint.
pub async fn serve(
    addr: SocketAddr,
    status: watch::Receiver<EngineStatus>,
    rpc: Vec<FailoverTransport>,
    metrics: PrometheusHandle,
    cancel: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Arc::new(AppState { status, rpc, metrics, started: Instant::now() });
    let router =
        Router::new().route("/health", get(health)).route("/metrics", get(self::metrics)).with_state(app);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "health server failed");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_are_healthy_and_failures_are_not() {
        let mut s = EngineStatus { bot_id: "b".into(), ..Default::default() };
        let h = Health::from_status(&s, 10, 0);
        assert!(h.healthy && !h.is_leader, "a follower is healthy");
        s.consecutive_failures = 5;
        assert!(Health::from_status(&s, 10, 0).healthy);
        s.consecutive_failures = 6;
        let h = Health::from_status(&s, 10, 0);
        assert_eq!((h.healthy, h.status), (false, "unhealthy"));
        s.wallet_balance_wei = Some(U256::from(1_500_000_000_000_000_000u128));
        s.gas_price_wei = Some(2_500_000_000);
        s.prices = vec![(FeedId::ETH_USD, Price::parse("3245.67", 8).unwrap())];
        s.last_update = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
        let json = serde_json::to_value(Health::from_status(&s, 10, 0)).unwrap();
        assert_eq!(json["walletBalance"], 1.5);
        assert_eq!(json["gasPrice"], 2.5);
        assert_eq!(json["ethPrice"], 3245.67);
        assert_eq!(json["lastUpdate"], 1_700_000_000_000u64);
        assert_eq!(json["botId"], "b");
    }
}
