//! What a tick did, as data: the same facts feed logs, metrics, alerts, `/health` and the CLI.

use std::time::{Duration, SystemTime};

use alloy_primitives::{B256, U256};

use crate::{
    ElectionError, FeedId, FencingToken, LeaseLost, Price, ReviewFlag, SkipReason, SourceError, SubmitError,
    SubmitReason,
};

/// Why a tick failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TickFailure {
    /// The election round failed; the bot does not act without a lease.
    #[error("leader election failed: {0}")]
    Election(ElectionError),
    /// The target's state could not be read.
    #[error("reading the target failed: {0}")]
    ReadState(SubmitError),
    /// A source refused or could not be reached.
    #[error("source for {feed} failed: {error}")]
    Source {
        /// The feed.
        feed: FeedId,
        /// The refusal.
        error: SourceError,
    },
    /// Simulation said the update would fail; nothing was sent.
    #[error("simulation failed, nothing sent: {0}")]
    Simulation(SubmitError),
    /// Signing or broadcasting failed.
    #[error("sending failed: {0}")]
    Send(SubmitError),
    /// The sent update's outcome could not be established.
    #[error("waiting for the receipt failed: {0}")]
    Wait(SubmitError),
    /// The update was mined but reverted.
    #[error("transaction {tx_hash} reverted in block {block}")]
    Reverted {
        /// The transaction.
        tx_hash: B256,
        /// Its block.
        block: u64,
    },
    /// Leadership ran out before the update could be sent; nothing was sent.
    #[error(transparent)]
    LeaseLost(#[from] LeaseLost),
    /// The term's fencing token is below the highest the (fenced) target already accepted, so the
    /// target would refuse its every update. The engine gave the term up.
    #[error(
        "this term's fencing token {token} is below {highest}, the highest the target accepted: {}",
        if *can_raise {
            "gave up the term; the next one gets a larger token"
        } else {
            "this elector cannot issue larger tokens, so this bot will not lead (use an elector that can, or have the oracle's owner lower its highest token with setHighestFencingToken)"
        }
    )]
    StaleToken {
        /// The term's token.
        token: FencingToken,
        /// The target's highest accepted token.
        highest: FencingToken,
        /// Whether the elector promised larger tokens from now on.
        can_raise: bool,
    },
    /// A step ran past the engine's step timeout.
    #[error("{step} timed out after {after:?}")]
    TimedOut {
        /// The step.
        step: &'static str,
        /// The limit.
        after: Duration,
    },
}

impl TickFailure {
    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Election(_) => "election",
            Self::ReadState(_) => "read_state",
            Self::Source { .. } => "source",
            Self::Simulation(_) => "simulation",
            Self::Send(_) => "send",
            Self::Wait(_) => "wait",
            Self::Reverted { .. } => "reverted",
            Self::LeaseLost(_) => "lease_lost",
            Self::StaleToken { .. } => "stale_token",
            Self::TimedOut { .. } => "timed_out",
        }
    }
}

/// A landed update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Fee per gas paid, in wei.
    pub effective_gas_price: u128,
    /// The prices written.
    pub prices: Vec<(FeedId, Price)>,
    /// Why the tick submitted.
    pub reasons: Vec<SubmitReason>,
    /// Large moves flagged for review.
    pub review: Vec<ReviewFlag>,
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// Another bot leads; nothing was done.
    Follower {
        /// Who leads, if known.
        leader: Option<String>,
    },
    /// The tick decided not to submit.
    Skipped(SkipReason),
    /// An update landed.
    Submitted(Box<Landed>),
    /// The tick failed.
    Failed(TickFailure),
}

impl TickOutcome {
    /// A short stable label for metrics: `follower`, `skipped`, `submitted`, `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Follower { .. } => "follower",
            Self::Skipped(_) => "skipped",
            Self::Submitted(_) => "submitted",
            Self::Failed(_) => "failed",
        }
    }
}

/// One tick's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// When the tick started.
    pub started_at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// The fencing token it acted under, when it led.
    pub token: Option<FencingToken>,
    /// What it did.
    pub outcome: TickOutcome,
}

/// The engine's running totals, published after every tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStatus {
    /// This bot's id.
    pub bot_id: String,
    /// Ticks run.
    pub ticks: u64,
    /// Whether this bot led in its last tick.
    pub is_leader: bool,
    /// The token of the current term, when leading.
    pub token: Option<FencingToken>,
    /// Failed ticks in a row (reset by any tick that does not fail).
    pub consecutive_failures: u32,
    /// Updates this bot landed (once per landed transaction).
    pub total_updates: u64,
    /// Ticks that failed.
    pub update_failures: u64,
    /// The target's last update time, as last read.
    pub last_update: Option<SystemTime>,
    /// The target chain's latest block time, as last read (a chain's clock may run ahead of the
    /// host's: ages are measured from the later of the two).
    pub chain_time: Option<SystemTime>,
    /// The target's stored prices, as last read or written.
    pub prices: Vec<(FeedId, Price)>,
    /// The updater wallet's balance, as last read.
    pub wallet_balance_wei: Option<U256>,
    /// The network's fee ask, as last read, in wei per gas.
    pub gas_price_wei: Option<u128>,
    /// Gas the last landed update used.
    pub last_gas_used: Option<u64>,
    /// The last tick's record.
    pub last_report: Option<TickReport>,
    /// The last tick could not reach the target chain (every endpoint down), leader or follower.
    pub target_unreachable: bool,
    /// The health gate keeps this bot a follower for now (it gave up leadership after failing
    /// against the target).
    pub backing_off: bool,
}

impl EngineStatus {
    /// When the last tick finished, by the host clock: its start plus its duration (`None`
    /// before the first tick).
    ///
    /// Derived rather than stored: a watcher (`/health`) tells a loop that stopped ticking from
    /// one that ticks with this and the configured interval.
    pub fn last_tick_finished_at(&self) -> Option<SystemTime> {
        let report = self.last_report.as_ref()?;
        report.started_at.checked_add(report.took)
    }

    /// How old the target's data was at the end of the last tick that knew it (`None` when no
    /// tick has read the target).
    ///
    /// When the tick decided on it, this is the age the decision used (judged with the later of
    /// the chain's and the host's clock: `decide` reports it in its skip reasons); otherwise the
    /// later of the host's time at the end of the tick and the chain's last block time, from the
    /// last known update. A tick that landed an
    /// update reports that update's age (about the tick's duration).
    pub fn data_age_at_last_tick(&self) -> Option<Duration> {
        let report = self.last_report.as_ref()?;
        if let TickOutcome::Skipped(
            SkipReason::GasTooHigh { age, .. }
            | SkipReason::WithinThreshold { age, .. }
            | SkipReason::TooSoon { age, .. },
        ) = &report.outcome
        {
            return Some(*age);
        }
        let finished = self.last_tick_finished_at()?;
        let now = self.chain_time.map_or(finished, |chain| chain.max(finished));
        Some(now.duration_since(self.last_update?).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(outcome: TickOutcome, last_update: Option<SystemTime>) -> EngineStatus {
        EngineStatus {
            last_update,
            last_report: Some(TickReport {
                started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(10_000),
                took: Duration::from_secs(5),
                token: None,
                outcome,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_last_tick_and_the_data_age_are_derived_from_the_report() {
        assert_eq!(EngineStatus::default().last_tick_finished_at(), None);
        assert_eq!(EngineStatus::default().data_age_at_last_tick(), None);

        let written = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(6_000));
        let s =
            status(TickOutcome::Failed(TickFailure::TimedOut { step: "x", after: Duration::ZERO }), written);
        assert_eq!(s.last_tick_finished_at(), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(10_005)));
        assert_eq!(
            s.data_age_at_last_tick(),
            Some(Duration::from_secs(4_005)),
            "host time to the tick's end"
        );

        // The decision's own age wins: it used the chain's clock, which may run ahead.
        let skipped = TickOutcome::Skipped(SkipReason::GasTooHigh {
            asked_wei: 2,
            cap_wei: 1,
            age: Duration::from_secs(9_000),
            stale_soon: true,
        });
        assert_eq!(status(skipped, written).data_age_at_last_tick(), Some(Duration::from_secs(9_000)));

        let follower = TickOutcome::Follower { leader: None };
        assert_eq!(status(follower.clone(), None).data_age_at_last_tick(), None, "never read");
        let future = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(20_000));
        assert_eq!(status(follower, future).data_age_at_last_tick(), Some(Duration::ZERO), "clock skew");
    }
}
