//! `GET /health` (JSON, 200 or 503) and `GET /metrics` (Prometheus text), as the old bot served
//! them, with its two mistakes fixed: a healthy follower answers 200, and counts are per landed
//! update.
//!
//! `/health` answers 503 when any of three rules fails, each named in `reasons`:
//!
//! - `failures`: more than [`MAX_HEALTHY_FAILURES`] ticks failed in a row (the old bot's rule);
//! - `stalled`: no tick finished for [`HealthRules::stalled_after`], three intervals plus the
//!   longest a tick may take: the loop is stuck, whatever its last tick said;
//! - `stale`: this bot leads and the oracle's data, as its last tick saw it, is older than
//!   [`HealthRules::stale_after`], the heartbeat plus one interval. Skipped ticks (gas above the
//!   cap) are not failures, so without this rule a leader that lets the data go stale looks
//!   healthy.
//!
//! A follower is not responsible for the data: stale data leaves it at 200 (restarting it would
//! not help, and would take away the standby), but its JSON says so (`dataStale`): every bot's
//! engine reads the oracle each tick, leader or follower.
//!
//! `GET /ready` answers 200 when the bot can do its job now, or 503 with the reasons:
//! `starting` (no tick finished yet), `backend_unreachable` (the last election round failed),
//! `target_unreachable` (no endpoint of the target chain answered), `backing_off` (the bot gave
//! up leadership after failing against the target and waits out its backoff), and the liveness
//! rules above. A follower is ready: it is the standby.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use oracle_core::TickFailure;
use oracle_core::{EngineStatus, FeedId, Price, U256, evm::FailoverTransport};
use serde::Serialize;
use tokio::sync::watch;

use crate::BotConfig;

/// How old the oracle's data was when this bot last read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAge {
    /// When it was read (host clock).
    pub checked_at: SystemTime,
    /// The data's age then.
    pub age: Duration,
}

/// More consecutive failures than this and the bot reports itself unhealthy (the old bot's rule).
pub const MAX_HEALTHY_FAILURES: u32 = 5;

/// The engine's limit on each read step (its default; the bot does not change it): election,
/// reading the oracle, fetching a price, each alert delivery.
const ENGINE_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// RPC requests a tick makes outside the engine's bounded read steps, each bounded by the RPC
/// total timeout: simulate, gas price, fee estimate, gas estimate, nonce, broadcast.
const UNBOUNDED_RPC_CALLS: u32 = 6;

/// The limits `/health` judges by, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthRules {
    /// No tick finished for longer than this: the loop stalled.
    pub stalled_after: Duration,
    /// Data older than this is stale.
    pub stale_after: Duration,
}

impl HealthRules {
    /// The rules for `config`:
    ///
    /// - `stalled_after` = 3 × `UPDATE_INTERVAL_MS` + the longest a tick may take. Ticks never
    ///   overlap, so a slow tick delays the next; three intervals on top of the slowest tick
    ///   leave room for a few slow ones in a row. The longest tick, from the engine's bounds:
    ///   election (30 s), reading the oracle and fetching prices (each 30 s per attempt for
    ///   `MAX_RETRIES` + 1 attempts, plus `RETRY_DELAY_MS` between them), re-reading before
    ///   sending (30 s), six RPC requests (`RPC_TOTAL_TIMEOUT_MS` each), the receipt
    ///   (`RECEIPT_TIMEOUT_S`) and the alerts (30 s). With the defaults: 900 s + 660 s = 26 min.
    /// - `stale_after` = `HEARTBEAT_S` + `UPDATE_INTERVAL_MS`: a heartbeat update is due at the
    ///   first tick at or after the heartbeat age, which comes at most one interval later. With
    ///   the defaults that is 3600 s, when the contract's `isPriceFresh()` turns false.
    pub fn from_config(config: &BotConfig) -> Self {
        let attempts = config.max_retries.saturating_add(1);
        let read_step = ENGINE_STEP_TIMEOUT
            .saturating_mul(attempts)
            .saturating_add(config.retry_delay.saturating_mul(config.max_retries));
        let longest_tick = ENGINE_STEP_TIMEOUT
            .saturating_add(read_step.saturating_mul(2))
            .saturating_add(ENGINE_STEP_TIMEOUT)
            .saturating_add(config.rpc_total_timeout.saturating_mul(UNBOUNDED_RPC_CALLS))
            .saturating_add(config.receipt_timeout)
            .saturating_add(ENGINE_STEP_TIMEOUT);
        Self {
            stalled_after: config.update_interval.saturating_mul(3).saturating_add(longest_tick),
            stale_after: config.policy.heartbeat().saturating_add(config.update_interval),
        }
    }
}

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
    /// The rules that make the bot unhealthy now (`failures`, `stalled`, `stale`); empty when
    /// healthy.
    pub reasons: Vec<&'static str>,
    /// When the last tick finished, unix milliseconds (`null` before the first).
    pub last_tick_at: Option<u64>,
    /// The oracle's data age in seconds when this bot's last tick read it (`dataCheckedAt`),
    /// leader or follower. `null` when unknown.
    pub data_age_seconds: Option<u64>,
    /// When that was, unix milliseconds.
    pub data_checked_at: Option<u64>,
    /// Whether that age is over `staleAfterSeconds` (`null` when unknown). A follower reports
    /// it and stays healthy; for the leader it is the `stale` rule.
    pub data_stale: Option<bool>,
    /// The `stale` rule's limit: the heartbeat plus one interval.
    pub stale_after_seconds: u64,
    /// The `stalled` rule's limit: three intervals plus the longest tick.
    pub stalled_after_seconds: u64,
}

fn display(p: &Price) -> Option<f64> {
    p.to_string().parse().ok()
}

fn units(wei: U256, decimals: u8) -> Option<f64> {
    Price::new(wei, decimals).ok().as_ref().and_then(display)
}

fn unix_millis(t: SystemTime) -> Option<u64> {
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a bot knows when `/health` is asked.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The engine's status.
    pub status: &'a EngineStatus,
    /// The host clock now.
    pub now: SystemTime,
    /// Time since the health server started (stands for the last tick until the first).
    pub uptime: Duration,
    /// RPC failovers since start.
    pub rpc_failovers: u64,
}

impl Health {
    /// Judges a bot's health by `rules`.
    pub fn assess(facts: Facts<'_>, rules: &HealthRules) -> Self {
        let status = facts.status;
        let last_tick = status.last_tick_finished_at();
        // A clock stepped back makes the last tick look recent: not stalled, until it passes.
        let since_tick =
            last_tick.map_or(facts.uptime, |t| facts.now.duration_since(t).unwrap_or(Duration::ZERO));
        let seen = status
            .data_age_at_last_tick()
            .zip(last_tick)
            .map(|(age, checked_at)| DataAge { checked_at, age });
        let data_stale = seen.map(|s| s.age > rules.stale_after);
        let mut reasons = Vec::new();
        if status.consecutive_failures > MAX_HEALTHY_FAILURES {
            reasons.push("failures");
        }
        if since_tick > rules.stalled_after {
            reasons.push("stalled");
        }
        if status.is_leader && data_stale == Some(true) {
            reasons.push("stale");
        }
        let healthy = reasons.is_empty();
        let price =
            |feed: &FeedId| status.prices.iter().find(|(f, _)| f == feed).and_then(|(_, p)| display(p));
        Self {
            status: if healthy { "healthy" } else { "unhealthy" },
            bot_id: status.bot_id.clone(),
            healthy,
            last_update: status.last_update.and_then(unix_millis),
            consecutive_failures: status.consecutive_failures,
            total_updates: status.total_updates,
            uptime: facts.uptime.as_secs(),
            is_leader: status.is_leader,
            eth_price: price(&FeedId::ETH_USD),
            eliza_price: price(&FeedId::ELIZAOS_USD),
            wallet_balance: status.wallet_balance_wei.and_then(|w| units(w, 18)),
            gas_price: status.gas_price_wei.and_then(|w| units(U256::from(w), 9)),
            rpc_failovers: facts.rpc_failovers,
            update_failures: status.update_failures,
            reasons,
            last_tick_at: last_tick.and_then(unix_millis),
            data_age_seconds: seen.map(|s| s.age.as_secs()),
            data_checked_at: seen.and_then(|s| unix_millis(s.checked_at)),
            data_stale,
            stale_after_seconds: rules.stale_after.as_secs(),
            stalled_after_seconds: rules.stalled_after.as_secs(),
        }
    }
}

/// While this bot follows, logs when the oracle's data (as its ticks read it) turns stale, naming
/// the leader that let it, and when it is fresh again: the follower's view of the leader's job.
/// Stops when the engine's status channel closes.
pub async fn log_follower_staleness(mut status: watch::Receiver<EngineStatus>, stale_after: Duration) {
    let mut was_stale = false;
    while status.changed().await.is_ok() {
        let (age, leader) = {
            let s = status.borrow_and_update();
            if s.is_leader {
                was_stale = false;
                continue;
            }
            let leader = match s.last_report.as_ref().map(|r| &r.outcome) {
                Some(oracle_core::TickOutcome::Follower { leader: Some(id) }) => id.clone(),
                _ => "unknown".to_owned(),
            };
            (s.data_age_at_last_tick(), leader)
        };
        let Some(age) = age else { continue };
        let stale = age > stale_after;
        if stale && !was_stale {
            tracing::warn!(
                age_s = age.as_secs(), limit_s = stale_after.as_secs(), %leader,
                "oracle data is stale: the leader {leader} has not updated it for {} s", age.as_secs()
            );
        } else if !stale && was_stale {
            tracing::info!(age_s = age.as_secs(), "oracle data is fresh again");
        }
        was_stale = stale;
    }
}

/// The `/ready` body.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Whether the bot can do its job now.
    pub ready: bool,
    /// This bot's id.
    pub bot_id: String,
    /// Whether this bot leads.
    pub is_leader: bool,
    /// Why not (`starting`, `backend_unreachable`, `target_unreachable`, `backing_off`, and the
    /// liveness reasons); empty when ready.
    pub reasons: Vec<&'static str>,
}

impl Ready {
    /// Judges readiness: liveness, plus the conditions under which the bot is up but cannot do
    /// its job.
    pub fn assess(facts: Facts<'_>, rules: &HealthRules) -> Self {
        let health = Health::assess(facts, rules);
        let status = facts.status;
        let mut reasons = Vec::new();
        match status.last_report.as_ref().map(|r| &r.outcome) {
            None => reasons.push("starting"),
            Some(oracle_core::TickOutcome::Failed(
                TickFailure::Election(_) | TickFailure::TimedOut { step: "leader election", .. },
            )) => reasons.push("backend_unreachable"),
            Some(_) => {}
        }
        if status.target_unreachable {
            reasons.push("target_unreachable");
        }
        if status.backing_off {
            reasons.push("backing_off");
        }
        reasons.extend(health.reasons);
        Self {
            ready: reasons.is_empty(),
            bot_id: status.bot_id.clone(),
            is_leader: status.is_leader,
            reasons,
        }
    }
}

struct AppState {
    status: watch::Receiver<EngineStatus>,
    rules: HealthRules,
    rpc: Vec<FailoverTransport>,
    metrics: PrometheusHandle,
    started: Instant,
}

impl AppState {
    fn facts<'a>(&self, status: &'a EngineStatus) -> Facts<'a> {
        Facts {
            status,
            now: SystemTime::now(),
            uptime: self.started.elapsed(),
            rpc_failovers: self.rpc.iter().map(FailoverTransport::failovers).sum(),
        }
    }
}

async fn health(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let status = app.status.borrow().clone();
    let body = Health::assess(app.facts(&status), &app.rules);
    let code = if body.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn ready(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let status = app.status.borrow().clone();
    let body = Ready::assess(app.facts(&status), &app.rules);
    let code = if body.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    metrics::gauge!(UPTIME_SECONDS).set(app.started.elapsed().as_secs_f64());
    ([("content-type", "text/plain; version=0.0.4")], app.metrics.render())
}

/// Seconds since the endpoints started.
pub const UPTIME_SECONDS: &str = "oracle_uptime_seconds";

/// What the endpoints read: the engine's status and the rules.
#[derive(Debug)]
pub struct HealthSource {
    /// The engine's status channel.
    pub status: watch::Receiver<EngineStatus>,
    /// The limits.
    pub rules: HealthRules,
}

/// The `/health`, `/ready` and `/metrics` routes (serve them with [`crate::http::serve`], or
/// mount them in an embedder's router).
pub fn router(source: HealthSource, rpc: Vec<FailoverTransport>, metrics: PrometheusHandle) -> Router {
    metrics::describe_gauge!(
        UPTIME_SECONDS,
        metrics::Unit::Seconds,
        "Seconds since the bot's endpoints started."
    );
    let HealthSource { status, rules } = source;
    let app = Arc::new(AppState { status, rules, rpc, metrics, started: Instant::now() });
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(self::metrics))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn rules() -> HealthRules {
        HealthRules { stalled_after: 1_000 * SEC, stale_after: 3_600 * SEC }
    }

    fn at(secs: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A bot whose last tick ran from `t0` for 5 s with `outcome`, the data written at `written`.
    fn ticked(leader: bool, outcome: oracle_core::TickOutcome, written: Option<u64>) -> EngineStatus {
        EngineStatus {
            bot_id: "b".into(),
            ticks: 1,
            is_leader: leader,
            last_update: written.map(at),
            last_report: Some(oracle_core::TickReport {
                started_at: at(1_700_000_000),
                took: 5 * SEC,
                token: None,
                outcome,
            }),
            ..Default::default()
        }
    }

    fn gas_too_high(age: u64) -> oracle_core::TickOutcome {
        oracle_core::TickOutcome::Skipped(oracle_core::SkipReason::GasTooHigh {
            asked_wei: 2,
            cap_wei: 1,
            age: Duration::from_secs(age),
            stale_soon: true,
        })
    }

    fn facts(status: &EngineStatus, now: u64) -> Facts<'_> {
        Facts { status, now: at(now), uptime: 10 * SEC, rpc_failovers: 0 }
    }

    fn assess(status: &EngineStatus, now: u64) -> Health {
        Health::assess(facts(status, now), &rules())
    }

    #[test]
    fn followers_are_healthy_and_failures_are_not() {
        let mut s = EngineStatus { bot_id: "b".into(), ..Default::default() };
        let h = assess(&s, 1_700_000_000);
        assert!(h.healthy && !h.is_leader, "a follower is healthy");
        assert_eq!((h.data_stale, h.data_age_seconds, h.last_tick_at), (None, None, None));
        s.consecutive_failures = 5;
        assert!(assess(&s, 1_700_000_000).healthy);
        s.consecutive_failures = 6;
        let h = assess(&s, 1_700_000_000);
        assert_eq!((h.healthy, h.status, h.reasons.as_slice()), (false, "unhealthy", &["failures"][..]));
        s.wallet_balance_wei = Some(U256::from(1_500_000_000_000_000_000u128));
        s.gas_price_wei = Some(2_500_000_000);
        s.prices = vec![(FeedId::ETH_USD, Price::parse("3245.67", 8).unwrap())];
        s.last_update = Some(at(1_700_000_000));
        let json = serde_json::to_value(assess(&s, 1_700_000_000)).unwrap();
        assert_eq!(json["walletBalance"], 1.5);
        assert_eq!(json["gasPrice"], 2.5);
        assert_eq!(json["ethPrice"], 3245.67);
        assert_eq!(json["lastUpdate"], 1_700_000_000_000u64);
        assert_eq!(json["botId"], "b");
        assert_eq!(json["reasons"], serde_json::json!(["failures"]));
        assert_eq!(json["staleAfterSeconds"], 3_600);
        assert_eq!(json["stalledAfterSeconds"], 1_000);
    }

    #[test]
    fn a_loop_that_stopped_ticking_is_stalled() {
        let s = ticked(true, gas_too_high(100), None);
        let finished = 1_700_000_005;
        let h = assess(&s, finished + 1_000);
        assert!(h.healthy, "exactly the limit is still fine: {:?}", h.reasons);
        assert_eq!(h.last_tick_at, Some(finished * 1_000));
        let h = assess(&s, finished + 1_001);
        assert_eq!((h.healthy, h.reasons.as_slice()), (false, &["stalled"][..]));
        assert!(assess(&s, finished - 50).healthy, "a clock stepped back is not a stall");
        // Before the first tick, the time since start counts.
        let fresh = EngineStatus::default();
        let facts = Facts { status: &fresh, now: at(0), uptime: 1_001 * SEC, rpc_failovers: 0 };
        assert_eq!(Health::assess(facts, &rules()).reasons, ["stalled"]);
    }

    /// The reproduced case: gas above the cap, every tick skipped (no failure), the data 4000 s old.
    #[test]
    fn a_leader_with_stale_data_is_unhealthy_and_a_follower_is_not() {
        let now = 1_700_000_010;
        let leader = ticked(true, gas_too_high(4_000), Some(1_699_996_000));
        let h = assess(&leader, now);
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!((h.healthy, h.reasons.as_slice()), (false, &["stale"][..]));
        assert_eq!((h.data_age_seconds, h.data_stale), (Some(4_000), Some(true)));
        assert_eq!(h.data_checked_at, Some(1_700_000_005_000));
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["reasons"], serde_json::json!(["stale"]));
        assert_eq!(json["dataStale"], true);

        assert!(assess(&ticked(true, gas_too_high(3_600), None), now).healthy, "at the limit");
        let failed = ticked(
            true,
            oracle_core::TickOutcome::Failed(oracle_core::TickFailure::TimedOut { step: "x", after: SEC }),
            Some(1_700_000_000),
        );
        assert_eq!(assess(&failed, now).data_age_seconds, Some(5), "host time to the tick's end");

        // A follower's tick read the oracle too: the data was 4000 s old at the tick's end.
        let follower = ticked(
            false,
            oracle_core::TickOutcome::Follower { leader: Some("a".into()) },
            Some(1_699_996_005),
        );
        let h = assess(&follower, now);
        assert!(h.healthy, "the leader is responsible: {:?}", h.reasons);
        assert_eq!((h.data_stale, h.data_age_seconds), (Some(true), Some(4_000)));
        let follower = ticked(false, oracle_core::TickOutcome::Follower { leader: Some("a".into()) }, None);
        let h = assess(&follower, now);
        assert_eq!((h.healthy, h.data_stale), (true, None), "not read yet: unknown");
        // Both rules at once are both named.
        let h = assess(&leader, 1_700_000_005 + 1_001);
        assert_eq!(h.reasons, ["stalled", "stale"]);
    }

    #[test]
    fn readiness_names_why_the_bot_cannot_do_its_job() {
        let now = 1_700_000_010;
        let fresh = EngineStatus { bot_id: "b".into(), ..Default::default() };
        assert_eq!(Ready::assess(facts(&fresh, now), &rules()).reasons, ["starting"]);
        let follower = ticked(false, oracle_core::TickOutcome::Follower { leader: None }, Some(now - 100));
        let r = Ready::assess(facts(&follower, now), &rules());
        assert!(r.ready && !r.is_leader, "a follower is the standby: {:?}", r.reasons);
        let mut cut_off = follower.clone();
        cut_off.target_unreachable = true;
        cut_off.backing_off = true;
        assert_eq!(
            Ready::assess(facts(&cut_off, now), &rules()).reasons,
            ["target_unreachable", "backing_off"]
        );
        let election = ticked(
            false,
            oracle_core::TickOutcome::Failed(TickFailure::Election(
                oracle_core::ElectionError::Unavailable { backend: "redis", reason: "down".into() },
            )),
            None,
        );
        assert_eq!(Ready::assess(facts(&election, now), &rules()).reasons, ["backend_unreachable"]);
        let stale = ticked(true, gas_too_high(4_000), None);
        assert_eq!(Ready::assess(facts(&stale, now), &rules()).reasons, ["stale"], "liveness counts too");
    }

    #[test]
    fn the_rules_follow_the_configuration() {
        let vars: std::collections::HashMap<String, String> = [
            (
                "PRICE_UPDATER_PRIVATE_KEY",
                "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
            ),
            ("ORACLE_ADDRESS", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            ("BASE_RPC_URL", "http://127.0.0.1:8545"),
            ("JEJU_RPC_URL", "http://127.0.0.1:9545"),
            ("ELIZAOS_FIXED_PRICE_USD", "0.10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let rules = HealthRules::from_config(&BotConfig::from_map(&vars).unwrap());
        assert_eq!(rules.stale_after, 3_600 * SEC, "the contract's isPriceFresh() window with the defaults");
        // 3 × 300 s + (30 + 2 × (4 × 30 + 3 × 5) + 30 + 6 × 30 + 120 + 30) s.
        assert_eq!(rules.stalled_after, (900 + 660) * SEC);
    }
}
