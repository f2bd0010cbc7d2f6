//! Turning tick outcomes into alerts: raised once when a condition appears, and a recovery
//! message once when it clears, instead of one alert per tick.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::sync::Mutex;

use super::report::{TickFailure, TickOutcome};
use crate::{Alert, Alerter, Policy, Severity, SkipReason, U256};

/// Keys of conditions that clear by themselves when a later tick does not see them.
const KEY_UPDATE_FAILED: &str = "update-failed";
/// The balance is below the low (warning) level.
const KEY_BALANCE_LOW: &str = "balance-low";
/// The balance is below the minimum: nothing is sent.
const KEY_BALANCE_CRITICAL: &str = "balance-critical";

/// Sends alerts on condition changes to every configured alerter.
pub(super) struct AlertFanout {
    alerters: Vec<Arc<dyn Alerter>>,
    /// Active condition keys, with the title they were raised with and, for skip conditions,
    /// the stage of their check in `decide`.
    active: Mutex<BTreeMap<String, (String, Option<u8>)>>,
    timeout: Duration,
}

impl AlertFanout {
    pub(super) fn new(alerters: Vec<Arc<dyn Alerter>>, timeout: Duration) -> Self {
        Self { alerters, active: Mutex::new(BTreeMap::new()), timeout }
    }

    /// Raises and clears conditions according to one tick's outcome.
    pub(super) async fn observe(&self, bot_id: &str, outcome: &TickOutcome) {
        let raised = conditions(bot_id, outcome);
        let mut active = self.active.lock().await;
        let mut to_send = Vec::new();
        // A condition resolves only when a tick proves it gone: a landed update proves every
        // check passed; a skip proves the checks before it passed; any tick that did not fail
        // proves updates no longer fail. Follower and failed ticks prove nothing.
        let resolved = |stage: Option<u8>| match outcome {
            TickOutcome::Submitted(_) => true,
            TickOutcome::Skipped(reason) => stage.is_none_or(|s| s < reason.stage()),
            TickOutcome::Failed(_) | TickOutcome::Follower { .. } => false,
        };
        let cleared: Vec<String> = active
            .iter()
            .filter(|(key, _)| is_outcome_key(key))
            .filter(|(key, (_, stage))| !raised.iter().any(|(a, _)| &a.key == *key) && resolved(*stage))
            .map(|(key, _)| key.clone())
            .collect();
        for key in cleared {
            if let Some((title, _)) = active.remove(&key) {
                to_send.push(Alert::new(
                    Severity::Info,
                    key.clone(),
                    format!("Resolved: {title}"),
                    format!("Bot {bot_id}: the condition \"{title}\" no longer holds."),
                ));
            }
        }
        for (alert, stage) in raised {
            // Review flags are events, not conditions: each large move is reported.
            let is_event = alert.key.starts_with("review:");
            if is_event || !active.contains_key(&alert.key) {
                if !is_event {
                    active.insert(alert.key.clone(), (alert.title.clone(), stage));
                }
                to_send.push(alert);
            }
        }
        drop(active);
        for alert in &to_send {
            self.send(alert).await;
        }
    }

    /// Raises a condition the engine tracks itself (not derived from a tick's outcome): sent
    /// once, until [`AlertFanout::resolve`].
    pub(super) async fn raise(&self, alert: Alert) {
        let mut active = self.active.lock().await;
        if active.contains_key(&alert.key) {
            return;
        }
        active.insert(alert.key.clone(), (alert.title.clone(), None));
        drop(active);
        self.send(&alert).await;
    }

    /// Resolves a condition raised with [`AlertFanout::raise`], with one recovery message.
    pub(super) async fn resolve(&self, bot_id: &str, key: &str) {
        let removed = self.active.lock().await.remove(key);
        if let Some((title, _)) = removed {
            let alert = Alert::new(
                Severity::Info,
                key,
                format!("Resolved: {title}"),
                format!("Bot {bot_id}: the condition \"{title}\" no longer holds."),
            );
            self.send(&alert).await;
        }
    }

    /// The wallet balance conditions, checked on every leader tick: a warning below the low
    /// level, a critical alert below the minimum (where nothing is sent), each once.
    pub(super) async fn observe_balance(&self, bot_id: &str, balance: Option<U256>, policy: &Policy) {
        let Some(balance) = balance else { return };
        let eth =
            |wei: U256| crate::Price::new(wei, 18).map(|p| p.to_string()).unwrap_or_else(|_| wei.to_string());
        if balance < policy.low_balance_wei() {
            self.raise(Alert::new(
                Severity::Warning,
                KEY_BALANCE_LOW,
                "Updater wallet balance low",
                format!(
                    "Bot {bot_id}: balance {} ETH is below {} ETH; top it up.",
                    eth(balance),
                    eth(policy.low_balance_wei())
                ),
            ))
            .await;
        } else {
            self.resolve(bot_id, KEY_BALANCE_LOW).await;
        }
        if balance < policy.min_balance_wei() {
            self.raise(Alert::new(
                Severity::Critical,
                KEY_BALANCE_CRITICAL,
                "Updater wallet balance critically low: updates stopped",
                format!(
                    "Bot {bot_id}: balance {} ETH is below {} ETH; no update is sent until it is topped up.",
                    eth(balance),
                    eth(policy.min_balance_wei())
                ),
            ))
            .await;
        } else {
            self.resolve(bot_id, KEY_BALANCE_CRITICAL).await;
        }
    }

    /// Sends one alert to every alerter; a failing channel is logged, never fatal.
    pub(super) async fn send(&self, alert: &Alert) {
        for alerter in &self.alerters {
            match tokio::time::timeout(self.timeout, alerter.send(alert)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(alerter = alerter.name(), error = %e, "alert delivery failed"),
                Err(_) => {
                    tracing::warn!(alerter = alerter.name(), timeout = ?self.timeout, "alert delivery timed out")
                }
            }
        }
    }
}

/// Whether a key belongs to a condition derived from tick outcomes (as opposed to one the engine
/// raises and resolves itself).
fn is_outcome_key(key: &str) -> bool {
    key == KEY_UPDATE_FAILED || key.starts_with("skip:")
}

/// The alert conditions one outcome shows, each with the stage of its check when it is a skip.
fn conditions(bot_id: &str, outcome: &TickOutcome) -> Vec<(Alert, Option<u8>)> {
    match outcome {
        TickOutcome::Follower { .. } => Vec::new(),
        TickOutcome::Submitted(landed) => landed
            .review
            .iter()
            .map(|flag| {
                let moved = flag.move_bps.map_or("an unbounded move".to_owned(), format_bps);
                Alert::new(
                    Severity::Warning,
                    format!("review:{}", flag.feed),
                    format!("Large {} move flagged for review", flag.feed),
                    format!(
                        "Bot {bot_id} submitted {} after {moved} (review threshold {}) in transaction {}.",
                        flag.feed,
                        format_bps(flag.threshold_bps),
                        landed.tx_hash
                    ),
                )
            })
            .map(|a| (a, None))
            .collect(),
        TickOutcome::Failed(failure) => vec![(failure_alert(bot_id, failure), None)],
        TickOutcome::Skipped(reason) => {
            skip_alert(bot_id, reason).map(|a| (a, Some(reason.stage()))).into_iter().collect()
        }
    }
}

fn failure_alert(bot_id: &str, failure: &TickFailure) -> Alert {
    Alert::new(Severity::Error, KEY_UPDATE_FAILED, "Oracle update failed", format!("Bot {bot_id}: {failure}"))
}

fn skip_alert(bot_id: &str, reason: &SkipReason) -> Option<Alert> {
    let key = format!("skip:{}", reason.label());
    let (severity, title, body) = match reason {
        SkipReason::OutOfBounds { feed, price, min, max } => (
            Severity::Error,
            format!("{feed} price outside the oracle's bounds"),
            format!("Observed {price}, the oracle accepts {min} to {max}. Nothing was sent."),
        ),
        SkipReason::ExceedsTargetDeviation { feed, move_bps, limit_pct } => (
            Severity::Error,
            format!("{feed} moved beyond the oracle's deviation limit"),
            format!(
                "{feed} moved {} but the oracle rejects moves over {limit_pct}% within a day. \
                 If this is a true market move, an operator must use the emergency update.",
                format_bps(*move_bps)
            ),
        ),
        SkipReason::GasTooHigh { asked_wei, cap_wei, age, stale_soon } => (
            if *stale_soon { Severity::Error } else { Severity::Warning },
            if *stale_soon {
                "Gas price above the cap while the price is about to go stale".to_owned()
            } else {
                "Gas price above the cap".to_owned()
            },
            format!(
                "The network asks {asked_wei} wei/gas, above the cap of {cap_wei} wei/gas; \
                 the on-chain prices are {}s old.",
                age.as_secs()
            ),
        ),
        SkipReason::ZeroPrice { feed, source } => (
            Severity::Error,
            format!("{feed} source reported zero"),
            format!("{source} reported a zero {feed} price; nothing was sent."),
        ),
        SkipReason::MissingObservation { feed } => (
            Severity::Error,
            format!("No observation for {feed}"),
            format!("No source produced a {feed} price; nothing was sent."),
        ),
        SkipReason::Unrepresentable { feed, error } => (
            Severity::Error,
            format!("{feed} price cannot be represented"),
            format!("{error}; nothing was sent."),
        ),
        SkipReason::HeldForConfirmation { feed, move_bps, seen, needed } => (
            Severity::Warning,
            format!("Large {feed} move held for confirmation"),
            format!(
                "{feed} moved {} from the on-chain price: it is sent only once {needed} consecutive ticks \
                 see it ({seen} so far). If it reverts meanwhile, nothing is sent.",
                move_bps.map_or_else(|| "from zero".to_owned(), format_bps)
            ),
        ),
        // The balance has conditions of its own, checked every tick (`observe_balance`).
        SkipReason::BalanceTooLow { .. }
        | SkipReason::LandedElsewhere { .. }
        | SkipReason::NotLeader { .. }
        | SkipReason::TooSoon { .. }
        | SkipReason::WithinThreshold { .. } => {
            return None;
        }
    };
    Some(Alert::new(severity, key, title, format!("Bot {bot_id}: {body}")))
}

/// `1234` bps as `12.34%`.
pub(crate) fn format_bps(bps: u64) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlertError;
    use async_trait::async_trait;

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Alert>>);

    #[async_trait]
    impl Alerter for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
            self.0.lock().unwrap().push(alert.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn conditions_alert_once_and_recover_once() {
        let rec = Arc::new(Recorder::default());
        let fanout = AlertFanout::new(vec![rec.clone()], Duration::from_secs(1));
        let low = TickOutcome::Skipped(SkipReason::ExceedsTargetDeviation {
            feed: crate::FeedId::ETH_USD,
            move_bps: 6_000,
            limit_pct: 50,
        });
        for _ in 0..3 {
            fanout.observe("b", &low).await;
        }
        fanout.observe("b", &TickOutcome::Follower { leader: None }).await;
        // A quiet tick stops before the deviation check: it proves nothing about it.
        let quiet = TickOutcome::Skipped(SkipReason::TooSoon {
            age: Duration::ZERO,
            min_interval: Duration::from_secs(60),
        });
        fanout.observe("b", &quiet).await;
        assert_eq!(rec.0.lock().unwrap().len(), 1, "no recovery from a tick that did not check");
        // A gas skip comes after the deviation check: the move is acceptable now.
        let gas = TickOutcome::Skipped(SkipReason::GasTooHigh {
            asked_wei: 2,
            cap_wei: 1,
            age: Duration::ZERO,
            stale_soon: false,
        });
        fanout.observe("b", &gas).await;
        fanout.observe("b", &gas).await;
        let sent = rec.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[0].severity, Severity::Error);
        assert_eq!(sent[1].severity, Severity::Info);
        assert_eq!(sent[0].key, sent[1].key);
        assert!(sent[1].title.starts_with("Resolved"));
        assert_eq!(
            (sent[2].severity, sent[2].key.as_str()),
            (Severity::Warning, "skip:gas_too_high"),
            "raised once"
        );
    }

    #[test]
    fn bps_format() {
        assert_eq!(format_bps(1234), "12.34%");
        assert_eq!(format_bps(5), "0.05%");
    }
}

#[cfg(test)]
mod balance_tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Alert>>);

    #[async_trait::async_trait]
    impl Alerter for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        async fn send(&self, alert: &Alert) -> Result<(), crate::AlertError> {
            self.0.lock().unwrap().push(alert.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn balance_alerts_fire_once_each_and_recover() {
        let rec = Arc::new(Recorder::default());
        let fanout = AlertFanout::new(vec![rec.clone()], Duration::from_secs(1));
        let policy = Policy::default();
        let milli = |m: u64| Some(U256::from(m) * U256::from(1_000_000_000_000_000u64));
        for balance in [milli(5), milli(5), U256::from(1u8).into(), Some(U256::ZERO), milli(20), milli(20)] {
            fanout.observe_balance("b", balance, &policy).await;
        }
        let sent: Vec<(Severity, String)> =
            rec.0.lock().unwrap().iter().map(|a| (a.severity, a.key.clone())).collect();
        assert_eq!(
            sent,
            vec![
                (Severity::Warning, KEY_BALANCE_LOW.to_owned()),
                (Severity::Critical, KEY_BALANCE_CRITICAL.to_owned()),
                (Severity::Info, KEY_BALANCE_LOW.to_owned()),
                (Severity::Info, KEY_BALANCE_CRITICAL.to_owned()),
            ]
        );
    }
}
