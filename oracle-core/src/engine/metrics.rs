//! The engine's metrics, through the `metrics` facade: the embedder installs the recorder.
//!
//! Names keep the old bot's series (`oracle_total_updates`, `oracle_last_update_timestamp` in
//! **seconds**, ...); the bot adds the `bot_id` label globally. An engine built with
//! [`EngineBuilder::target`](super::EngineBuilder::target) adds a `target` label to every series
//! (many targets in one process), and [`EngineBuilder::chain`](super::EngineBuilder::chain) a
//! `chain` label; without them the series are the old bot's, unlabelled. Gauges are floats by nature: the
//! conversions here are for display only and never feed back into a price path.

use std::time::SystemTime;

use alloy_primitives::U256;
use metrics::{Label, counter, gauge};

use super::report::{EngineStatus, Landed, TickOutcome, TickReport};
use crate::{FeedId, FencingToken, OnChainState, Price};

/// Updates landed by this bot.
pub const TOTAL_UPDATES: &str = "oracle_total_updates";
/// Ticks that failed.
pub const UPDATE_FAILURES: &str = "oracle_update_failures_total";
/// Failed ticks in a row.
pub const CONSECUTIVE_FAILURES: &str = "oracle_consecutive_failures";
/// The target's last update, unix seconds.
pub const LAST_UPDATE_TIMESTAMP: &str = "oracle_last_update_timestamp";
/// 1 while this bot leads.
pub const IS_LEADER: &str = "oracle_is_leader";
/// The fencing token of the current term.
pub const LEADER_EPOCH: &str = "oracle_leader_epoch";
/// Election rounds that failed (the backend could not be reached or answered garbage).
pub const LEADER_ELECTION_FAILURES: &str = "oracle_leader_election_failures_total";
/// Times this bot became or stopped being the leader.
pub const LEADER_CHANGES: &str = "oracle_leader_changes_total";
/// Ticks by outcome (`follower`, `skipped`, `submitted`, `failed`) and reason.
pub const TICKS: &str = "oracle_ticks_total";
/// Stored price per feed.
pub const FEED_PRICE: &str = "oracle_feed_price";
/// The updater wallet's balance in ETH.
pub const WALLET_BALANCE_ETH: &str = "oracle_wallet_balance_eth";
/// The network's fee ask in gwei.
pub const GAS_PRICE_GWEI: &str = "oracle_gas_price_gwei";
/// Gas used by landed updates.
pub const GAS_USED: &str = "oracle_gas_used_total";
/// Fees paid for landed updates, in gwei.
pub const FEES_PAID_GWEI: &str = "oracle_fees_paid_gwei_total";
/// The fee per gas the last landed update paid, in gwei.
pub const EFFECTIVE_GAS_PRICE_GWEI: &str = "oracle_effective_gas_price_gwei";
/// How many more updates the wallet balance pays for at the current gas price.
pub const UPDATES_REMAINING: &str = "oracle_updates_remaining";

/// Gives every series above its `# HELP` text and unit (the Prometheus exporter writes them with
/// the `# TYPE` line). Call once after installing the recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(TOTAL_UPDATES, Unit::Count, "Oracle updates this bot landed on chain.");
    describe_counter!(UPDATE_FAILURES, Unit::Count, "Ticks that failed (any stage).");
    describe_gauge!(
        CONSECUTIVE_FAILURES,
        Unit::Count,
        "Failed ticks in a row; 0 after any tick that did not fail."
    );
    describe_gauge!(
        LAST_UPDATE_TIMESTAMP,
        Unit::Seconds,
        "The oracle's last update time in unix seconds, as this bot last read it (leaders and followers alike)."
    );
    describe_gauge!(IS_LEADER, "1 while this bot leads, 0 otherwise.");
    describe_gauge!(LEADER_EPOCH, "The fencing token of this bot's current or last term.");
    describe_counter!(
        LEADER_ELECTION_FAILURES,
        Unit::Count,
        "Election rounds that failed (backend unreachable or answering garbage)."
    );
    describe_counter!(LEADER_CHANGES, Unit::Count, "Times this bot became or stopped being the leader.");
    describe_counter!(
        TICKS,
        Unit::Count,
        "Ticks by outcome (follower, skipped, submitted, failed) and reason."
    );
    describe_gauge!(FEED_PRICE, "The oracle's stored price per feed, in dollars.");
    describe_gauge!(
        "oracle_eth_usd_price",
        "The oracle's stored ETH/USD price, in dollars (the old bot's series)."
    );
    describe_gauge!(
        "oracle_eliza_usd_price",
        "The oracle's stored elizaOS/USD price, in dollars (the old bot's series)."
    );
    describe_gauge!(WALLET_BALANCE_ETH, "The updater wallet's balance, in ETH.");
    describe_gauge!(GAS_PRICE_GWEI, "The target chain's gas price (eth_gasPrice), in gwei.");
    describe_counter!(GAS_USED, Unit::Count, "Gas used by the updates this bot landed.");
    describe_counter!(FEES_PAID_GWEI, Unit::Count, "Fees paid for the updates this bot landed, in gwei.");
    describe_gauge!(EFFECTIVE_GAS_PRICE_GWEI, "The fee per gas the last landed update paid, in gwei.");
    describe_gauge!(
        UPDATES_REMAINING,
        Unit::Count,
        "Updates the wallet balance still pays for at the current gas price."
    );
}

/// Gas one update is assumed to use before the first one lands (a `ManualPriceOracle` update
/// uses about 39 000).
pub(super) const DEFAULT_UPDATE_GAS: u64 = 60_000;

/// The old bot's per-feed gauge names, kept for existing dashboards.
fn legacy_price_gauge(feed: &FeedId) -> Option<&'static str> {
    if *feed == FeedId::ETH_USD {
        Some("oracle_eth_usd_price")
    } else if *feed == FeedId::ELIZAOS_USD {
        Some("oracle_eliza_usd_price")
    } else {
        None
    }
}

fn display_f64(price: &Price) -> f64 {
    price.to_string().parse().unwrap_or(f64::NAN)
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as f64).unwrap_or(0.0)
}

fn wei_to(wei: U256, per_unit: u64) -> f64 {
    // Whole units plus the remainder, so large balances keep their precision.
    let unit = U256::from(per_unit);
    let whole: f64 = (wei / unit).to_string().parse().unwrap_or(f64::NAN);
    let rest = (wei % unit).to::<u64>() as f64 / per_unit as f64;
    whole + rest
}

pub(super) fn set_leader(l: &[Label], is_leader: bool, token: Option<FencingToken>) {
    gauge!(IS_LEADER, l.to_vec()).set(if is_leader { 1.0 } else { 0.0 });
    if let Some(t) = token {
        gauge!(LEADER_EPOCH, l.to_vec()).set(t.0 as f64);
    }
}

pub(super) fn record_tick(l: &[Label], report: &TickReport, is_leader: bool, was_leader: bool) {
    set_leader(l, is_leader, report.token);
    if is_leader != was_leader {
        counter!(LEADER_CHANGES, l.to_vec()).increment(1);
    }
    if matches!(report.outcome, TickOutcome::Failed(super::TickFailure::Election(_))) {
        counter!(LEADER_ELECTION_FAILURES, l.to_vec()).increment(1);
    }
    let reason = match &report.outcome {
        TickOutcome::Skipped(r) => r.label(),
        TickOutcome::Failed(f) => f.label(),
        TickOutcome::Follower { .. } | TickOutcome::Submitted(_) => "",
    };
    counter!(TICKS, with(l, [("outcome", report.outcome.label()), ("reason", reason)])).increment(1);
    match &report.outcome {
        TickOutcome::Submitted(_) => counter!(TOTAL_UPDATES, l.to_vec()).increment(1),
        TickOutcome::Failed(_) => counter!(UPDATE_FAILURES, l.to_vec()).increment(1),
        _ => {}
    }
}

/// How many more updates `balance` pays for, at `gas_per_update` gas and `price_per_gas` wei.
pub(super) fn updates_remaining(balance: U256, gas_per_update: u64, price_per_gas: u128) -> U256 {
    let cost = U256::from(gas_per_update.max(1)) * U256::from(price_per_gas.max(1));
    balance / cost
}

pub(super) fn record_state(l: &[Label], state: &OnChainState, last_gas_used: Option<u64>) {
    gauge!(LAST_UPDATE_TIMESTAMP, l.to_vec()).set(unix_secs(state.last_update));
    for f in &state.feeds {
        record_price(l, &f.feed, &f.price);
    }
    if let Some(b) = state.balance_wei {
        gauge!(WALLET_BALANCE_ETH, l.to_vec()).set(wei_to(b, 1_000_000_000_000_000_000));
    }
    if let Some(fee) = state.fee {
        gauge!(GAS_PRICE_GWEI, l.to_vec()).set(wei_to(U256::from(fee.price_per_gas), 1_000_000_000));
    }
    if let (Some(balance), Some(fee)) = (state.balance_wei, state.fee) {
        let left = updates_remaining(balance, last_gas_used.unwrap_or(DEFAULT_UPDATE_GAS), fee.price_per_gas);
        gauge!(UPDATES_REMAINING, l.to_vec()).set(wei_to(left, 1));
    }
}

pub(super) fn record_landed(l: &[Label], landed: &Landed, at: SystemTime) {
    gauge!(LAST_UPDATE_TIMESTAMP, l.to_vec()).set(unix_secs(at));
    counter!(GAS_USED, l.to_vec()).increment(landed.gas_used);
    let fee_wei = U256::from(landed.gas_used) * U256::from(landed.effective_gas_price);
    counter!(FEES_PAID_GWEI, l.to_vec())
        .increment((fee_wei / U256::from(1_000_000_000u64)).saturating_to::<u64>());
    gauge!(EFFECTIVE_GAS_PRICE_GWEI, l.to_vec())
        .set(wei_to(U256::from(landed.effective_gas_price), 1_000_000_000));
    for (feed, price) in &landed.prices {
        record_price(l, feed, price);
    }
}

fn record_price(l: &[Label], feed: &FeedId, price: &Price) {
    let v = display_f64(price);
    gauge!(FEED_PRICE, with(l, [("feed", feed.to_string())])).set(v);
    if let Some(name) = legacy_price_gauge(feed) {
        gauge!(name, l.to_vec()).set(v);
    }
}

/// The engine's labels and `extra`.
fn with<V: Into<metrics::SharedString>>(
    l: &[Label],
    extra: impl IntoIterator<Item = (&'static str, V)>,
) -> Vec<Label> {
    let mut all = l.to_vec();
    all.extend(extra.into_iter().map(|(k, v)| Label::new(k, v)));
    all
}

pub(super) fn record_totals(l: &[Label], status: &EngineStatus) {
    gauge!(CONSECUTIVE_FAILURES, l.to_vec()).set(f64::from(status.consecutive_failures));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_updates_round_down() {
        let one_eth = U256::from(10u128.pow(18));
        assert_eq!(updates_remaining(one_eth, 40_000, 1_000_000_000), U256::from(25_000u64));
        assert_eq!(updates_remaining(U256::from(79_999u64), 40_000, 2), U256::ZERO);
        assert_eq!(updates_remaining(one_eth, 0, 0), one_eth, "no division by zero");
    }

    #[test]
    fn wei_conversions_keep_precision() {
        assert_eq!(wei_to(U256::from(1_500_000_000_000_000_000u128), 1_000_000_000_000_000_000), 1.5);
        assert_eq!(wei_to(U256::from(2_000_000_001u64), 1_000_000_000), 2.000000001);
    }
}
