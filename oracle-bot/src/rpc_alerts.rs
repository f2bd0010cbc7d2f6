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

#[cfg(test)]
mod tests {
    use alloy::{node_bindings::Anvil, providers::Provider};
    use oracle_core::{
        AlertKind,
        evm::{FailoverConfig, RpcUrl},
    };
    use oracle_tests::{anvil, fake_rpc::dead_url, tool};

    use super::*;

    fn transport(urls: &[String]) -> FailoverTransport {
        let urls: Vec<RpcUrl> = urls.iter().map(|u| RpcUrl::parse(u).unwrap()).collect();
        FailoverTransport::new(&urls, FailoverConfig::new("Jeju")).unwrap()
    }

    fn kinds(alerts: &[Alert]) -> Vec<(String, AlertKind, Severity)> {
        alerts.iter().map(|a| (a.key.clone(), a.kind, a.severity)).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_endpoint_down_is_raised_once_and_resolved_when_one_answers() {
        let chain = anvil(1);
        let port = chain.port();
        let t = transport(&[chain.endpoint()]);
        let mut state = ChainState::default();
        t.probe_now().await;
        assert!(observe("b", &t, &mut state).is_empty());

        drop(chain);
        t.probe_now().await;
        let raised = observe("b", &t, &mut state);
        assert_eq!(kinds(&raised), [("rpc-down:Jeju".to_owned(), AlertKind::Raised, Severity::Critical)]);
        assert!(raised[0].body.contains("all 1 Jeju endpoints"), "{}", raised[0].body);
        t.probe_now().await;
        assert!(observe("b", &t, &mut state).is_empty(), "raised once");

        let _chain = Anvil::at(tool("anvil")).port(port).chain_id(1).spawn();
        // A failed endpoint is trusted again after two good probes.
        t.probe_now().await;
        t.probe_now().await;
        let resolved = observe("b", &t, &mut state);
        assert!(
            matches!(resolved[0].kind, AlertKind::Resolved { was: Severity::Critical, lasted: Some(_) }),
            "{resolved:?}"
        );
        assert_eq!(resolved[0].key, "rpc-down:Jeju");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failover_is_an_event() {
        let chain = anvil(1);
        let t = transport(&[dead_url(), chain.endpoint()]);
        let mut state = ChainState::default();
        assert!(observe("b", &t, &mut state).is_empty());
        t.provider().get_block_number().await.unwrap();
        let events = observe("b", &t, &mut state);
        assert_eq!(kinds(&events), [("rpc-failover:Jeju".to_owned(), AlertKind::Event, Severity::Info)]);
        assert!(observe("b", &t, &mut state).is_empty(), "reported once");
    }
}
