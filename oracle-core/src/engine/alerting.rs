//! Turning tick outcomes into alerts: raised once when a condition appears, and a recovery
//! message once when it clears, instead of one alert per tick.
//!
//! Every key the engine uses is in [`keys`], with its severity and what clears it; the operators'
//! table is `docs/operations.md` ("Alerts"). Reminders for conditions that stay open, rate
//! limits, routing and delivery queues are not here: they wrap any [`Alerter`] (`oracle-alerts`).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::sync::Mutex;

use super::{
    metrics::{DEFAULT_UPDATE_GAS, updates_remaining},
    report::{EngineStatus, TickFailure, TickOutcome},
};
use crate::{
    Alert, Alerter, FeedId, OnChainState, Policy, Rejection, Severity, SkipReason, SourceError, SubmitError,
    U256, format_duration,
};

/// The stable keys of the engine's alerts (and of the conditions the bot watches itself).
/// Dashboards, routing and the operations table refer to these.
pub mod keys {
    /// Critical: `failure_threshold` ticks (default 5) failed in a row, at any stage. Clears at
    /// the first tick that does not fail.
    pub const UPDATE_FAILED: &str = "update-failed";
    /// Warning: the updater's balance is below `LOW_BALANCE_ETH`, with the updates it still pays
    /// for. Clears when a leader tick reads a balance above it.
    pub const BALANCE_LOW: &str = "balance-low";
    /// Critical: the balance is below `MIN_BALANCE_ETH`: nothing is sent. Clears when a leader
    /// tick reads a balance above it.
    pub const BALANCE_CRITICAL: &str = "balance-critical";
    /// Critical: the node refused an update for lack of funds. Clears when an update lands.
    pub const INSUFFICIENT_FUNDS: &str = "insufficient-funds";
    /// Critical: a move the contract's deviation rule would revert; the owner must run
    /// `oracle-cli emergency-update`. Clears when a tick gets past that check.
    pub const EXCEEDS_TARGET_DEVIATION: &str = "skip:exceeds_target_deviation";
    /// Warning, or error once the data is at the heartbeat age: the gas price is above the cap.
    /// Clears when a tick gets past the gas check.
    pub const GAS_TOO_HIGH: &str = "skip:gas_too_high";
    /// Error: a transaction stuck at the gas cap cannot be replaced. Clears when it resolves.
    pub const STUCK_AT_CAP: &str = "stuck-at-cap";
    /// Info event (only with [`AlertRules::leadership`](super::AlertRules::leadership)): this bot gained or lost leadership.
    pub const LEADERSHIP: &str = "leadership";
    /// Error: the leader election's backend did not answer. Clears at the first tick whose
    /// election round answered (as leader or follower).
    pub const ELECTION_UNREACHABLE: &str = "election-unreachable";
    /// Critical: this bot leads and the on-chain data is older than the stale limit (default the
    /// heartbeat plus one tick interval). Clears when a leader tick sees fresh data.
    pub const PRICE_STALE: &str = "price-stale";
    /// Prefix (`source-manipulated:<feed>`), error: a source refused its reading as manipulated
    /// (thin liquidity, spot far from the TWAP, sources that disagree). Clears when the feed is
    /// fetched again.
    pub const SOURCE_MANIPULATED_PREFIX: &str = "source-manipulated:";
    /// Prefix (`review:<feed>`), warning event: a move at least the review threshold landed.
    pub const REVIEW_PREFIX: &str = "review:";
    /// Prefix (`move-held:<feed>`), warning: a large move held back for confirmation. Reserved:
    /// the engine has no hold yet; this key fires once the hold lands.
    pub const MOVE_HELD_PREFIX: &str = "move-held:";
    /// Prefix (`rpc-down:<chain>`), critical: every RPC endpoint of the chain is unhealthy.
    /// Raised and cleared by the bot's RPC watcher, not by ticks.
    pub const RPC_DOWN_PREFIX: &str = "rpc-down:";
    /// Prefix (`rpc-failover:<chain>`), info event: requests moved to a less preferred endpoint.
    /// Raised by the bot's RPC watcher; rate-limited by the delivery layer.
    pub const RPC_FAILOVER_PREFIX: &str = "rpc-failover:";
    /// Prefix of the other skip conditions (`skip:out_of_bounds`, `skip:zero_price`,
    /// `skip:missing_observation`, `skip:unrepresentable`), error.
    pub const SKIP_PREFIX: &str = "skip:";
}

/// Consecutive failed ticks before [`keys::UPDATE_FAILED`] is raised, by default.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;

/// What raises the engine's alerts beyond each tick's own outcome.
///
/// ```
/// use std::time::Duration;
/// use oracle_core::engine::AlertRules;
/// let rules = AlertRules::default().failure_threshold(3).leadership(true);
/// assert_eq!(rules.get_failure_threshold(), 3);
/// assert_eq!(AlertRules::default().get_failure_threshold(), 5);
/// # let _ = Duration::ZERO;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRules {
    failure_threshold: u32,
    stale_after: Option<Duration>,
    leadership: bool,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self { failure_threshold: DEFAULT_FAILURE_THRESHOLD, stale_after: None, leadership: false }
    }
}

impl AlertRules {
    /// Failed ticks in a row before [`keys::UPDATE_FAILED`] (default
    /// [`DEFAULT_FAILURE_THRESHOLD`]; 0 counts as 1). One failed tick is often a node's hiccup
    /// that the next tick survives; five in a row is an outage.
    pub fn failure_threshold(mut self, ticks: u32) -> Self {
        self.failure_threshold = ticks.max(1);
        self
    }

    /// Data older than this, seen by the leader, raises [`keys::PRICE_STALE`] (default: the
    /// policy's heartbeat plus the tick interval, when a heartbeat update is overdue).
    pub fn stale_after(mut self, age: Duration) -> Self {
        self.stale_after = Some(age);
        self
    }

    /// Whether gaining and losing leadership is alerted (default off: a single bot leads from
    /// its first tick to its last, which says nothing). The bot turns it on with election.
    pub fn leadership(mut self, on: bool) -> Self {
        self.leadership = on;
        self
    }

    /// The failure threshold.
    pub fn get_failure_threshold(&self) -> u32 {
        self.failure_threshold
    }
}

/// What proves a condition gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// A skip condition checked at this stage of `decide`: cleared by a landed update or a skip
    /// at a later stage.
    Stage(u8),
    /// Cleared by any tick that neither failed nor followed.
    NotFailed,
    /// Cleared only by a landed update.
    Landed,
    /// Cleared by any tick whose election round answered.
    ElectionAnswered,
    /// Cleared by any tick that fetched every feed.
    Fetched,
    /// Raised and resolved explicitly ([`AlertFanout::raise`] and [`AlertFanout::resolve`]).
    Explicit,
    /// A large move held for confirmation: cleared by any tick that decided without holding one
    /// (it was sent, or it reverted).
    NotHeld,
}

/// An open condition.
struct Active {
    title: String,
    severity: Severity,
    proof: Proof,
    since: SystemTime,
}

#[derive(Default)]
struct State {
    active: BTreeMap<String, Active>,
    /// Whether this bot led at the last tick (`None` before the first).
    was_leader: Option<bool>,
}

impl State {
    /// Opens a condition, or raises its severity; returns the alert to send, if any.
    fn open(&mut self, alert: Alert, proof: Proof) -> Option<Alert> {
        match self.active.get_mut(&alert.key) {
            None => {
                let active =
                    Active { title: alert.title.clone(), severity: alert.severity, proof, since: alert.at };
                self.active.insert(alert.key.clone(), active);
                Some(alert)
            }
            // The same condition got worse (gas above the cap, and now the data is about to go
            // stale): say so once more, at the new severity.
            Some(a) if alert.severity > a.severity => {
                a.severity = alert.severity;
                a.title = alert.title.clone();
                Some(alert)
            }
            Some(_) => None,
        }
    }

    /// Closes a condition; returns its recovery message.
    fn close(&mut self, bot_id: &str, key: &str) -> Option<Alert> {
        let a = self.active.remove(key)?;
        let lasted = SystemTime::now().duration_since(a.since).ok();
        let for_how_long = lasted.map(|d| format!(" It lasted {}.", format_duration(d))).unwrap_or_default();
        Some(Alert::resolved(
            key,
            format!("Resolved: {}", a.title),
            format!("Bot {bot_id}: the condition \"{}\" no longer holds.{for_how_long}", a.title),
            a.severity,
            lasted,
        ))
    }
}

/// Sends alerts on condition changes to every configured alerter.
pub(super) struct AlertFanout {
    alerters: Vec<Arc<dyn Alerter>>,
    state: Mutex<State>,
    timeout: Duration,
    rules: AlertRules,
    stale_after: Duration,
    /// The engine's target, when it has one: alerters shared by many targets deduplicate and
    /// resolve by key, so each target's alerts carry it in the key and the title.
    scope: Option<String>,
}

impl AlertFanout {
    /// `default_stale_after` applies unless the rules set their own.
    pub(super) fn new(
        alerters: Vec<Arc<dyn Alerter>>,
        timeout: Duration,
        rules: AlertRules,
        default_stale_after: Duration,
    ) -> Self {
        let stale_after = rules.stale_after.unwrap_or(default_stale_after);
        Self { alerters, state: Mutex::new(State::default()), timeout, rules, stale_after, scope: None }
    }

    /// Scopes every alert to `target` (`<target>/<key>`, `[<target>] <title>`).
    pub(super) fn scoped(mut self, target: Option<String>) -> Self {
        self.scope = target;
        self
    }

    /// Raises and clears conditions according to one tick's outcome and the status it left.
    pub(super) async fn observe(&self, bot_id: &str, outcome: &TickOutcome, status: &EngineStatus) {
        let raised = conditions(bot_id, outcome, status, &self.rules);
        let mut state = self.state.lock().await;
        let mut to_send = Vec::new();
        let cleared: Vec<String> = state
            .active
            .iter()
            .filter(|(key, a)| {
                a.proof != Proof::Explicit
                    && !raised.iter().any(|(r, _)| &r.key == *key)
                    && proves(outcome, a.proof)
            })
            .map(|(key, _)| key.clone())
            .collect();
        to_send.extend(cleared.iter().filter_map(|key| state.close(bot_id, key)));
        for (alert, proof) in raised {
            match proof {
                // Events are not conditions: each is reported.
                None => to_send.push(alert),
                Some(proof) => to_send.extend(state.open(alert, proof)),
            }
        }
        if self.rules.leadership {
            to_send.extend(leadership_change(bot_id, state.was_leader, status.is_leader));
        }
        state.was_leader = Some(status.is_leader);
        // Only the leader answers for the data's age; a follower's view says nothing about it.
        if status.is_leader
            && let Some(age) = status.data_age_at_last_tick()
        {
            if age > self.stale_after {
                let alert = Alert::new(
                    Severity::Critical,
                    keys::PRICE_STALE,
                    "On-chain price is stale",
                    format!(
                        "Bot {bot_id} leads and the oracle's data is {} old, past the limit of {}. \
                         Consumers reading isPriceFresh() see stale prices; check why updates do not land.",
                        format_duration(age),
                        format_duration(self.stale_after)
                    ),
                );
                to_send.extend(state.open(alert, Proof::Explicit));
            } else {
                to_send.extend(state.close(bot_id, keys::PRICE_STALE));
            }
        }
        drop(state);
        for alert in &to_send {
            self.send(alert).await;
        }
    }

    /// Raises a condition the engine tracks itself (not derived from a tick's outcome): sent
    /// once (again only if its severity rises), until [`AlertFanout::resolve`].
    pub(super) async fn raise(&self, alert: Alert) {
        let opened = self.state.lock().await.open(alert, Proof::Explicit);
        if let Some(alert) = opened {
            self.send(&alert).await;
        }
    }

    /// Resolves a condition raised with [`AlertFanout::raise`], with one recovery message.
    pub(super) async fn resolve(&self, bot_id: &str, key: &str) {
        let closed = self.state.lock().await.close(bot_id, key);
        if let Some(alert) = closed {
            self.send(&alert).await;
        }
    }

    /// The wallet balance conditions, checked on every leader tick: a warning below the low
    /// level, a critical alert below the minimum (where nothing is sent), each once, with the
    /// number of updates the balance still pays for at the current gas price.
    pub(super) async fn observe_balance(
        &self,
        bot_id: &str,
        state: &OnChainState,
        last_gas_used: Option<u64>,
        policy: &Policy,
    ) {
        let Some(balance) = state.balance_wei else { return };
        let left = state
            .fee
            .map(|fee| {
                let gas = last_gas_used.unwrap_or(DEFAULT_UPDATE_GAS);
                let n = updates_remaining(balance, gas, fee.price_per_gas);
                format!(
                    " It pays for about {n} more updates at the current gas price ({} wei/gas).",
                    fee.price_per_gas
                )
            })
            .unwrap_or_default();
        if balance < policy.low_balance_wei() {
            self.raise(Alert::new(
                Severity::Warning,
                keys::BALANCE_LOW,
                "Updater wallet balance low",
                format!(
                    "Bot {bot_id}: balance {} ETH is below {} ETH; top it up.{left}",
                    eth(balance),
                    eth(policy.low_balance_wei())
                ),
            ))
            .await;
        } else {
            self.resolve(bot_id, keys::BALANCE_LOW).await;
        }
        if balance < policy.min_balance_wei() {
            self.raise(Alert::new(
                Severity::Critical,
                keys::BALANCE_CRITICAL,
                "Updater wallet balance critically low: updates stopped",
                format!(
                    "Bot {bot_id}: balance {} ETH is below {} ETH; no update is sent until it is topped up.{left}",
                    eth(balance),
                    eth(policy.min_balance_wei())
                ),
            ))
            .await;
        } else {
            self.resolve(bot_id, keys::BALANCE_CRITICAL).await;
        }
    }

    /// Sends one alert to every alerter; a failing channel is logged, never fatal. Channels that
    /// deliver over a network are expected to queue (`oracle-alerts`), so this returns at once;
    /// the timeout bounds an alerter that does not.
    pub(super) async fn send(&self, alert: &Alert) {
        let scoped;
        let alert = match &self.scope {
            None => alert,
            Some(target) => {
                scoped = Alert {
                    key: format!("{target}/{}", alert.key),
                    title: format!("[{target}] {}", alert.title),
                    ..alert.clone()
                };
                &scoped
            }
        };
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

/// `wei` as ETH, exactly.
fn eth(wei: U256) -> String {
    crate::Price::new(wei, 18).map(|p| p.to_string()).unwrap_or_else(|_| wei.to_string())
}

/// The leadership event for a change from `was` to `is`, if any.
fn leadership_change(bot_id: &str, was: Option<bool>, is: bool) -> Option<Alert> {
    let (title, body) = match (was, is) {
        (Some(false) | None, true) => (
            format!("Bot {bot_id} became the leader"),
            format!("Bot {bot_id} won the election and now updates the oracle."),
        ),
        (Some(true), false) => (
            format!("Bot {bot_id} is no longer the leader"),
            format!(
                "Bot {bot_id} lost or gave up leadership. If no other bot reports taking over, check the bots and the election backend."
            ),
        ),
        _ => return None,
    };
    Some(Alert::event(Severity::Info, keys::LEADERSHIP, title, body))
}

/// Whether `outcome` proves a condition with `proof` gone.
fn proves(outcome: &TickOutcome, proof: Proof) -> bool {
    match (proof, outcome) {
        (Proof::Explicit, _) => false,
        (_, TickOutcome::Submitted(_)) => true,
        (Proof::Stage(stage), TickOutcome::Skipped(reason)) => stage < reason.stage(),
        // Stage 2 on: `decide` ran, and it held nothing.
        (Proof::NotHeld, TickOutcome::Skipped(reason)) => {
            reason.stage() >= 2 && !matches!(reason, SkipReason::HeldForConfirmation { .. })
        }
        (Proof::NotFailed, TickOutcome::Skipped(_)) => true,
        // A skip at stage 1 or later comes from `decide`, which ran on every feed's observation.
        (Proof::Fetched, TickOutcome::Skipped(reason)) => reason.stage() >= 1,
        (Proof::Fetched, TickOutcome::Failed(f)) => matches!(
            f,
            TickFailure::Simulation(_)
                | TickFailure::Send(_)
                | TickFailure::Wait(_)
                | TickFailure::Reverted { .. }
        ),
        (Proof::ElectionAnswered, TickOutcome::Follower { .. } | TickOutcome::Skipped(_)) => true,
        // These come after a successful election round.
        (Proof::ElectionAnswered, TickOutcome::Failed(f)) => matches!(
            f,
            TickFailure::Source { .. }
                | TickFailure::Simulation(_)
                | TickFailure::Send(_)
                | TickFailure::Wait(_)
                | TickFailure::Reverted { .. }
                | TickFailure::LeaseLost(_)
                | TickFailure::StaleToken { .. }
        ),
        _ => false,
    }
}

/// The alert conditions one outcome shows, each with what proves it gone (`None` for events).
fn conditions(
    bot_id: &str,
    outcome: &TickOutcome,
    status: &EngineStatus,
    rules: &AlertRules,
) -> Vec<(Alert, Option<Proof>)> {
    match outcome {
        TickOutcome::Follower { .. } => Vec::new(),
        TickOutcome::Submitted(landed) => landed
            .review
            .iter()
            .map(|flag| {
                let moved = flag.move_bps.map_or("an unbounded move".to_owned(), format_bps);
                Alert::event(
                    Severity::Warning,
                    format!("{}{}", keys::REVIEW_PREFIX, flag.feed),
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
        TickOutcome::Failed(failure) => failure_alerts(bot_id, failure, status, rules),
        TickOutcome::Skipped(reason) => {
            let proof = match reason {
                SkipReason::HeldForConfirmation { .. } => Proof::NotHeld,
                _ => Proof::Stage(reason.stage()),
            };
            skip_alert(bot_id, reason).map(|a| (a, Some(proof))).into_iter().collect()
        }
    }
}

fn failure_alerts(
    bot_id: &str,
    failure: &TickFailure,
    status: &EngineStatus,
    rules: &AlertRules,
) -> Vec<(Alert, Option<Proof>)> {
    let mut out = Vec::new();
    let failures = status.consecutive_failures;
    if failures >= rules.failure_threshold {
        out.push((
            Alert::new(
                Severity::Critical,
                keys::UPDATE_FAILED,
                "Oracle updates failing",
                format!(
                    "Bot {bot_id}: {failures} ticks failed in a row (alert threshold {}). Last failure ({}): {failure}",
                    rules.failure_threshold,
                    failure.label()
                ),
            ),
            Some(Proof::NotFailed),
        ));
    }
    match failure {
        TickFailure::Election(_) | TickFailure::TimedOut { step: "leader election", .. } => out.push((
            Alert::new(
                Severity::Error,
                keys::ELECTION_UNREACHABLE,
                "Leader election backend unreachable",
                format!(
                    "Bot {bot_id}: the election round failed: {failure}. No bot can take or keep leadership through it; check Redis/etcd or the lock file."
                ),
            ),
            Some(Proof::ElectionAnswered),
        )),
        TickFailure::Source { feed, error: SourceError::Manipulated { .. } } => out.push((
            Alert::new(
                Severity::Error,
                format!("{}{feed}", keys::SOURCE_MANIPULATED_PREFIX),
                format!("{feed} source refused a manipulated-looking price"),
                format!(
                    "Bot {bot_id}: {failure}. Nothing was sent; the oracle keeps its last price until the source looks sound again."
                ),
            ),
            Some(Proof::Fetched),
        )),
        TickFailure::Simulation(SubmitError::InsufficientFunds { .. })
        | TickFailure::Send(SubmitError::InsufficientFunds { .. }) => {
            let balance = status.wallet_balance_wei.map(|b| format!(" Balance: {} ETH.", eth(b))).unwrap_or_default();
            out.push((
                Alert::new(
                    Severity::Critical,
                    keys::INSUFFICIENT_FUNDS,
                    "Updater wallet cannot pay for an update",
                    format!(
                        "Bot {bot_id}: the node refused the update for lack of funds; 0 updates left at the current gas price.{balance} Top up the updater wallet."
                    ),
                ),
                Some(Proof::Landed),
            ));
        }
        TickFailure::Simulation(SubmitError::Rejected(Rejection::PriceDeviationTooLarge)) => {
            out.push((
                Alert::new(
                    Severity::Critical,
                    keys::EXCEEDS_TARGET_DEVIATION,
                    "Price moved beyond the oracle's deviation limit: emergency update needed",
                    format!(
                        "Bot {bot_id}: the oracle refused the update (PriceDeviationTooLarge). If this is a true market move, \
                         the owner must run `oracle-cli emergency-update`; the bot cannot write it."
                    ),
                ),
                Some(Proof::Stage(3)),
            ));
        }
        _ => {}
    }
    out
}

fn skip_alert(bot_id: &str, reason: &SkipReason) -> Option<Alert> {
    let key = match reason {
        SkipReason::HeldForConfirmation { feed, .. } => move_held_key(feed),
        _ => format!("{}{}", keys::SKIP_PREFIX, reason.label()),
    };
    let (severity, title, body) = match reason {
        SkipReason::OutOfBounds { feed, price, min, max } => (
            Severity::Error,
            format!("{feed} price outside the oracle's bounds"),
            format!("Observed {price}, the oracle accepts {min} to {max}. Nothing was sent."),
        ),
        SkipReason::ExceedsTargetDeviation { feed, move_bps, limit_pct } => (
            Severity::Critical,
            format!("{feed} moved beyond the oracle's deviation limit: emergency update needed"),
            format!(
                "{feed} moved {} but the oracle rejects moves over {limit_pct}% within a day, so the bot \
                 cannot write it. If this is a true market move, the owner must run \
                 `oracle-cli emergency-update` (the contract's emergencyPriceUpdate).",
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
                 the on-chain prices are {} old.{}",
                format_duration(*age),
                if *stale_soon {
                    " The heartbeat update is due: raise MAX_GAS_PRICE_GWEI or the price goes stale."
                } else {
                    ""
                }
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

/// The key of a held large move of `feed` ([`keys::MOVE_HELD_PREFIX`]).
pub fn move_held_key(feed: &FeedId) -> String {
    format!("{}{feed}", keys::MOVE_HELD_PREFIX)
}

/// `1234` bps as `12.34%`.
pub(crate) fn format_bps(bps: u64) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlertKind, FeeEstimate, SourceError, test_utils::RecordingAlerter as Recorder};

    fn fanout(rec: &Arc<Recorder>, rules: AlertRules) -> AlertFanout {
        AlertFanout::new(vec![rec.clone()], Duration::from_secs(1), rules, Duration::from_secs(3600))
    }

    fn leader() -> EngineStatus {
        EngineStatus { is_leader: true, ..Default::default() }
    }

    fn failing(n: u32) -> EngineStatus {
        EngineStatus { consecutive_failures: n, ..leader() }
    }

    fn gas(stale_soon: bool) -> TickOutcome {
        TickOutcome::Skipped(SkipReason::GasTooHigh {
            asked_wei: 2,
            cap_wei: 1,
            age: Duration::ZERO,
            stale_soon,
        })
    }

    #[tokio::test]
    async fn conditions_alert_once_and_recover_once() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default());
        let status = leader();
        let low = TickOutcome::Skipped(SkipReason::ExceedsTargetDeviation {
            feed: crate::FeedId::ETH_USD,
            move_bps: 6_000,
            limit_pct: 50,
        });
        for _ in 0..3 {
            fanout.observe("b", &low, &status).await;
        }
        fanout.observe("b", &TickOutcome::Follower { leader: None }, &EngineStatus::default()).await;
        // A quiet tick stops before the deviation check: it proves nothing about it.
        let quiet = TickOutcome::Skipped(SkipReason::TooSoon {
            age: Duration::ZERO,
            min_interval: Duration::from_secs(60),
        });
        fanout.observe("b", &quiet, &status).await;
        assert_eq!(rec.alerts().len(), 1, "no recovery from a tick that did not check");
        // A gas skip comes after the deviation check: the move is acceptable now.
        fanout.observe("b", &gas(false), &status).await;
        fanout.observe("b", &gas(false), &status).await;
        let sent = rec.alerts();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[0].severity, Severity::Critical);
        assert!(sent[0].body.contains("oracle-cli emergency-update"), "{}", sent[0].body);
        assert_eq!(sent[1].severity, Severity::Info);
        assert_eq!(sent[0].key, sent[1].key);
        assert!(sent[1].title.starts_with("Resolved"));
        assert!(
            matches!(sent[1].kind, AlertKind::Resolved { was: Severity::Critical, lasted: Some(_) }),
            "{:?}",
            sent[1].kind
        );
        assert_eq!(
            (sent[2].severity, sent[2].key.as_str()),
            (Severity::Warning, keys::GAS_TOO_HIGH),
            "raised once"
        );
    }

    #[tokio::test]
    async fn a_condition_that_gets_worse_is_sent_again_at_its_new_severity() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default());
        for outcome in [gas(false), gas(false), gas(true), gas(true), gas(false)] {
            fanout.observe("b", &outcome, &leader()).await;
        }
        assert_eq!(
            rec.keys(),
            vec![
                (Severity::Warning, keys::GAS_TOO_HIGH.to_owned()),
                (Severity::Error, keys::GAS_TOO_HIGH.to_owned())
            ]
        );
        assert!(rec.alerts()[1].body.contains("MAX_GAS_PRICE_GWEI"));
    }

    #[tokio::test]
    async fn failures_alert_at_the_threshold_once_and_recover() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default().failure_threshold(3));
        let failed =
            TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(Rejection::NotAuthorized)));
        for n in 1..=5 {
            fanout.observe("b", &failed, &failing(n)).await;
        }
        assert_eq!(rec.keys(), vec![(Severity::Critical, keys::UPDATE_FAILED.to_owned())]);
        assert!(rec.alerts()[0].body.contains("3 ticks failed in a row"), "{}", rec.alerts()[0].body);
        assert!(rec.alerts()[0].body.contains("NotAuthorized"), "{}", rec.alerts()[0].body);
        fanout.observe("b", &TickOutcome::Follower { leader: None }, &EngineStatus::default()).await;
        assert_eq!(rec.alerts().len(), 1, "a follower tick proves nothing");
        let quiet = TickOutcome::Skipped(SkipReason::TooSoon {
            age: Duration::ZERO,
            min_interval: Duration::from_secs(60),
        });
        fanout.observe("b", &quiet, &leader()).await;
        assert_eq!(
            rec.keys(),
            vec![
                (Severity::Critical, keys::UPDATE_FAILED.to_owned()),
                (Severity::Info, keys::UPDATE_FAILED.to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn specific_failures_have_their_own_keys() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default());
        let election = TickOutcome::Failed(TickFailure::Election(crate::ElectionError::Unavailable {
            backend: "redis",
            reason: "connection refused".into(),
        }));
        let manipulated = TickOutcome::Failed(TickFailure::Source {
            feed: FeedId::ELIZAOS_USD,
            error: SourceError::Manipulated {
                source_name: "uniswap".into(),
                feed: FeedId::ELIZAOS_USD,
                reason: "spot 30% from the TWAP".into(),
            },
        });
        let broke =
            TickOutcome::Failed(TickFailure::Send(SubmitError::InsufficientFunds { message: "x".into() }));
        fanout.observe("b", &election, &EngineStatus { consecutive_failures: 1, ..Default::default() }).await;
        fanout.observe("b", &manipulated, &failing(2)).await;
        fanout.observe("b", &broke, &failing(3)).await;
        fanout.observe("b", &gas(false), &leader()).await;
        let manipulated_key = format!("{}{}", keys::SOURCE_MANIPULATED_PREFIX, FeedId::ELIZAOS_USD);
        assert_eq!(
            rec.keys(),
            vec![
                (Severity::Error, keys::ELECTION_UNREACHABLE.to_owned()),
                (Severity::Info, keys::ELECTION_UNREACHABLE.to_owned()),
                (Severity::Error, manipulated_key.clone()),
                // Sending comes after every feed was fetched; funds need a landing to clear.
                (Severity::Info, manipulated_key),
                (Severity::Critical, keys::INSUFFICIENT_FUNDS.to_owned()),
                (Severity::Warning, keys::GAS_TOO_HIGH.to_owned()),
            ],
            "{:#?}",
            rec.alerts()
        );
    }

    #[tokio::test]
    async fn leadership_changes_are_events_when_asked_for() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default().leadership(true));
        let follower = TickOutcome::Follower { leader: Some("a".into()) };
        fanout.observe("b", &follower, &EngineStatus::default()).await;
        fanout.observe("b", &gas(false), &leader()).await;
        fanout.observe("b", &gas(false), &leader()).await;
        fanout.observe("b", &follower, &EngineStatus::default()).await;
        let kinds: Vec<(String, AlertKind)> = rec.alerts().into_iter().map(|a| (a.key, a.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (keys::GAS_TOO_HIGH.to_owned(), AlertKind::Raised),
                (keys::LEADERSHIP.to_owned(), AlertKind::Event),
                (keys::LEADERSHIP.to_owned(), AlertKind::Event),
            ]
        );
        assert!(rec.alerts()[1].title.contains("became the leader"));
        assert!(rec.alerts()[2].title.contains("no longer the leader"));

        let quiet = Arc::new(Recorder::default());
        let off = super::tests::fanout(&quiet, AlertRules::default());
        off.observe("b", &follower, &leader()).await;
        off.observe("b", &follower, &EngineStatus::default()).await;
        assert!(quiet.alerts().is_empty(), "off by default");
    }

    #[tokio::test]
    async fn stale_data_seen_by_the_leader_alerts_until_it_is_fresh() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default().stale_after(Duration::from_secs(100)));
        let at = |age: u64| {
            let now = SystemTime::now();
            EngineStatus {
                is_leader: true,
                last_update: now.checked_sub(Duration::from_secs(age)),
                last_report: Some(super::super::TickReport {
                    started_at: now,
                    took: Duration::ZERO,
                    token: None,
                    outcome: TickOutcome::Failed(TickFailure::TimedOut { step: "x", after: Duration::ZERO }),
                }),
                ..Default::default()
            }
        };
        let failed = TickOutcome::Failed(TickFailure::TimedOut { step: "x", after: Duration::ZERO });
        fanout.observe("b", &failed, &at(50)).await;
        fanout.observe("b", &failed, &at(150)).await;
        fanout.observe("b", &failed, &at(160)).await;
        // A follower is not responsible for the data.
        fanout.observe("b", &TickOutcome::Follower { leader: None }, &EngineStatus::default()).await;
        fanout.observe("b", &failed, &at(5)).await;
        assert_eq!(
            rec.keys(),
            vec![
                (Severity::Critical, keys::PRICE_STALE.to_owned()),
                (Severity::Info, keys::PRICE_STALE.to_owned())
            ]
        );
    }

    #[test]
    fn bps_format() {
        assert_eq!(format_bps(1234), "12.34%");
        assert_eq!(format_bps(5), "0.05%");
    }

    #[tokio::test]
    async fn balance_alerts_fire_once_each_and_recover_with_the_updates_left() {
        let rec = Arc::new(Recorder::default());
        let fanout = fanout(&rec, AlertRules::default());
        let policy = Policy::default();
        let milli = |m: u64| Some(U256::from(m) * U256::from(1_000_000_000_000_000u64));
        for balance in [milli(5), milli(5), U256::from(1u8).into(), Some(U256::ZERO), milli(20), milli(20)] {
            let state = OnChainState {
                feeds: Vec::new(),
                last_update: SystemTime::UNIX_EPOCH,
                deviation_rule: None,
                // 1 gwei, 50 000 gas: 0.00005 ETH per update.
                fee: Some(FeeEstimate { price_per_gas: 1_000_000_000, priority_fee_per_gas: 0 }),
                balance_wei: balance,
                block: None,
                chain_time: None,
            };
            fanout.observe_balance("b", &state, Some(50_000), &policy).await;
        }
        assert_eq!(
            rec.keys(),
            vec![
                (Severity::Warning, keys::BALANCE_LOW.to_owned()),
                (Severity::Critical, keys::BALANCE_CRITICAL.to_owned()),
                (Severity::Info, keys::BALANCE_LOW.to_owned()),
                (Severity::Info, keys::BALANCE_CRITICAL.to_owned()),
            ]
        );
        assert!(rec.alerts()[0].body.contains("about 100 more updates"), "{}", rec.alerts()[0].body);
    }
}
