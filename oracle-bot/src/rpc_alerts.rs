//! Alerts from the RPC transports: every endpoint of a chain down (a condition, with a recovery)
//! and failovers (events, throttled by the alert layer). The transports' background probes mark
//! endpoints healthy or not; this reads their state once per probe interval.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use oracle_core::{Alert, Alerter, Severity, engine::alert_keys, evm::FailoverTransport, format_duration};
use tokio_util::sync::CancellationToken;

/// The longest one alerter may take to accept an alert (the network channels queue at once).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What the watcher remembers of one chain.
#[derive(Default)]
struct ChainState {
    /// Since when every endpoint is down, while it is.
    down_since: Option<SystemTime>,
    /// Failovers already reported.
    failovers: u64,
}

/// Watches `transports` every `every` until `cancel`, sending alerts to `alerters`.
pub(crate) async fn watch(
    transports: Vec<FailoverTransport>,
    alerters: Vec<Arc<dyn Alerter>>,
    bot_id: String,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut states: Vec<ChainState> = transports.iter().map(|_| ChainState::default()).collect();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for (transport, state) in transports.iter().zip(states.iter_mut()) {
            for alert in observe(&bot_id, transport, state) {
                for alerter in &alerters {
                    if tokio::time::timeout(SEND_TIMEOUT, alerter.send(&alert)).await.is_err() {
                        tracing::warn!(alerter = alerter.name(), key = %alert.key, "alert delivery timed out");
                    }
                }
            }
        }
    }
}

/// The alerts one look at `transport` gives.
fn observe(bot_id: &str, transport: &FailoverTransport, state: &mut ChainState) -> Vec<Alert> {
    let chain = transport.chain();
    let stats = transport.stats();
    let mut out = Vec::new();
    let all_down = !stats.is_empty() && stats.iter().all(|s| !s.healthy);
    let down_key = format!("{}{chain}", alert_keys::RPC_DOWN_PREFIX);
    match (all_down, state.down_since) {
        (true, None) => {
            state.down_since = Some(SystemTime::now());
            out.push(Alert::new(
                Severity::Critical,
                down_key,
                format!("Every {chain} RPC endpoint is down"),
                format!(
                    "Bot {bot_id}: all {} {chain} endpoints fail their probes or lag behind. Nothing can be read or sent on {chain} until one answers; check the providers (the bot's log names each endpoint by host).",
                    stats.len()
                ),
            ));
        }
        (false, Some(since)) => {
            state.down_since = None;
            let lasted = SystemTime::now().duration_since(since).ok();
            let for_how_long = lasted.map(|d| format!(" after {}", format_duration(d))).unwrap_or_default();
            out.push(Alert::resolved(
                down_key,
                format!("Resolved: Every {chain} RPC endpoint is down"),
                format!("Bot {bot_id}: a {chain} endpoint answers again{for_how_long}."),
                Severity::Critical,
                lasted,
            ));
        }
        _ => {}
    }
    let failovers = transport.failovers();
    if failovers > state.failovers {
        let new = failovers - state.failovers;
        state.failovers = failovers;
        out.push(Alert::event(
            Severity::Info,
            format!("{}{chain}", alert_keys::RPC_FAILOVER_PREFIX),
            format!("{chain} RPC failover"),
            format!(
                "Bot {bot_id}: {chain} requests moved to a less preferred endpoint ({new} new, {failovers} since start). The preferred one is used again once it passes its probes."
            ),
        ));
    }
    out
}
