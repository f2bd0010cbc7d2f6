//! `/health`, `/ready` and `/metrics` of a bot driving many targets: each target judged by the
//! single target's rules ([`Health::assess`], [`Ready::assess`]), reported under `targets` by
//! name with its chain, and the bot's own status the worst of them. A bot that follows every
//! target is healthy (the others lead); one whose targets are failing or stale is not.
//!
//! ```json
//! {"status":"healthy","healthy":true,"botId":"bot-a","leads":2,"isLeader":true, ...,
//!  "targets":{"jeju-eth":{"chain":"jeju","status":"healthy","isLeader":true, ...}}}
//! ```

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Instant, SystemTime},
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use oracle_core::{EngineStatus, evm::FailoverTransport};
use serde::Serialize;
use tokio::sync::watch;

use crate::health::{Facts, Health, HealthRules, Ready, UPTIME_SECONDS};

/// What the endpoints read of one target.
#[derive(Debug, Clone)]
pub struct TargetSource {
    /// Its name.
    pub name: String,
    /// Its chain.
    pub chain: String,
    /// Its engine's status.
    pub status: watch::Receiver<EngineStatus>,
    /// Its limits (its own heartbeat when overridden).
    pub rules: HealthRules,
}

/// One target in `/health`: its chain and the single target's body.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// The target's chain.
    pub chain: String,
    /// Its health, judged as a single target's.
    #[serde(flatten)]
    pub health: Health,
}

/// The `/health` body of a bot with many targets.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetsHealth {
    /// `healthy` when every target is, else `unhealthy`.
    pub status: &'static str,
    /// Whether every target is healthy.
    pub healthy: bool,
    /// This bot's id.
    pub bot_id: String,
    /// Seconds since start.
    pub uptime: u64,
    /// Whether this bot leads any target.
    pub is_leader: bool,
    /// How many targets this bot leads.
    pub leads: usize,
    /// Updates this bot landed, over all targets.
    pub total_updates: u64,
    /// RPC failovers since start, over all chains.
    pub rpc_failovers: u64,
    /// The rules failing on any target (each once); empty when healthy.
    pub reasons: Vec<&'static str>,
    /// Every target by name.
    pub targets: BTreeMap<String, TargetHealth>,
}

/// One target in `/ready`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetReady {
    /// The target's chain.
    pub chain: String,
    /// Its readiness, judged as a single target's.
    #[serde(flatten)]
    pub ready: Ready,
}

/// The `/ready` body of a bot with many targets.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetsReady {
    /// Whether every target is ready.
    pub ready: bool,
    /// This bot's id.
    pub bot_id: String,
    /// Whether this bot leads any target.
    pub is_leader: bool,
    /// How many targets this bot leads.
    pub leads: usize,
    /// The reasons of any target (each once); empty when ready.
    pub reasons: Vec<&'static str>,
    /// Every target by name.
    pub targets: BTreeMap<String, TargetReady>,
}

fn union(all: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in all {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

struct AppState {
    bot_id: String,
    targets: Vec<TargetSource>,
    rpc: Vec<FailoverTransport>,
    metrics: PrometheusHandle,
    started: Instant,
}

impl AppState {
    /// Every target's status now, with the facts to judge it by.
    fn each<T>(&self, judge: impl Fn(Facts<'_>, &HealthRules) -> T) -> BTreeMap<String, (String, T)> {
        let now = SystemTime::now();
        let uptime = self.started.elapsed();
        let rpc_failovers = self.rpc.iter().map(FailoverTransport::failovers).sum();
        self.targets
            .iter()
            .map(|t| {
                let status = t.status.borrow().clone();
                let facts = Facts { status: &status, now, uptime, rpc_failovers };
                (t.name.clone(), (t.chain.clone(), judge(facts, &t.rules)))
            })
            .collect()
    }

    fn health(&self) -> TargetsHealth {
        let targets: BTreeMap<String, TargetHealth> = self
            .each(Health::assess)
            .into_iter()
            .map(|(name, (chain, health))| (name, TargetHealth { chain, health }))
            .collect();
        let healthy = targets.values().all(|t| t.health.healthy);
        let leads = targets.values().filter(|t| t.health.is_leader).count();
        TargetsHealth {
            status: if healthy { "healthy" } else { "unhealthy" },
            healthy,
            bot_id: self.bot_id.clone(),
            uptime: self.started.elapsed().as_secs(),
            is_leader: leads > 0,
            leads,
            total_updates: targets.values().map(|t| t.health.total_updates).fold(0, u64::saturating_add),
            rpc_failovers: self.rpc.iter().map(FailoverTransport::failovers).sum(),
            reasons: union(targets.values().flat_map(|t| t.health.reasons.iter().copied())),
            targets,
        }
    }

    fn ready(&self) -> TargetsReady {
        let targets: BTreeMap<String, TargetReady> = self
            .each(Ready::assess)
            .into_iter()
            .map(|(name, (chain, ready))| (name, TargetReady { chain, ready }))
            .collect();
        let leads = targets.values().filter(|t| t.ready.is_leader).count();
        TargetsReady {
            ready: targets.values().all(|t| t.ready.ready),
            bot_id: self.bot_id.clone(),
            is_leader: leads > 0,
            leads,
            reasons: union(targets.values().flat_map(|t| t.ready.reasons.iter().copied())),
            targets,
        }
    }
}

async fn health(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let body = app.health();
    let code = if body.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn ready(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let body = app.ready();
    let code = if body.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    metrics::gauge!(UPTIME_SECONDS).set(app.started.elapsed().as_secs_f64());
    ([("content-type", "text/plain; version=0.0.4")], app.metrics.render())
}

/// The `/health`, `/ready` and `/metrics` routes of a bot with many targets.
pub fn router(
    bot_id: String,
    targets: Vec<TargetSource>,
    rpc: Vec<FailoverTransport>,
    metrics: PrometheusHandle,
) -> Router {
    metrics::describe_gauge!(
        UPTIME_SECONDS,
        metrics::Unit::Seconds,
        "Seconds since the bot's endpoints started."
    );
    let app = Arc::new(AppState { bot_id, targets, rpc, metrics, started: Instant::now() });
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(self::metrics))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_named_once_in_their_first_order() {
        assert_eq!(union(["stale", "failures", "stale"].into_iter()), ["stale", "failures"]);
    }
}
