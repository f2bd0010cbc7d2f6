//! The update policy and the pure decision of one tick.
//!
//! [`decide`] takes the on-chain state, the new observations, the policy and the time, and says
//! whether to submit and why, or why not. It does no I/O and reads no clock, so every rule is
//! table-tested below.

use std::{collections::HashMap, time::Duration, time::SystemTime};

use alloy_primitives::U256;

use crate::{FeedId, Observation, OnChainState, Price, PriceError, PriceUpdate};

/// One gwei in wei.
pub const GWEI: u128 = 1_000_000_000;

/// Why a [`Policy`] could not be built: one variant per rule, so a caller (the bot's
/// configuration) can name the setting that broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The deviation threshold is 0 bps: every tick would submit.
    #[error("invalid policy: the deviation threshold must be above 0 bps")]
    ZeroDeviationThreshold,
    /// The heartbeat is zero.
    #[error("invalid policy: the heartbeat must be above 0 s")]
    ZeroHeartbeat,
    /// The minimum interval between updates is longer than the heartbeat.
    #[error(
        "invalid policy: the minimum interval ({min_interval:?}) must not exceed the heartbeat ({heartbeat:?})"
    )]
    MinIntervalAboveHeartbeat {
        /// The minimum interval.
        min_interval: Duration,
        /// The heartbeat.
        heartbeat: Duration,
    },
    /// The low-balance warning level is below the minimum balance.
    #[error("invalid policy: the low-balance warning level must not be below the minimum balance")]
    LowBalanceBelowMinimum {
        /// The warning level, in wei.
        low_balance_wei: U256,
        /// The minimum balance, in wei.
        min_balance_wei: U256,
    },
    /// The gas price cap is zero.
    #[error("invalid policy: the gas price cap must be above 0")]
    ZeroGasPriceCap,
    /// Large moves need zero confirming ticks (1 is the least: it sends at once).
    #[error("invalid policy: large moves need at least 1 confirming tick (1 sends at once)")]
    ZeroConfirmTicks,
}

/// When to update: thresholds, intervals and caps.
///
/// ```
/// use std::time::Duration;
/// use oracle_core::Policy;
///
/// let policy = Policy::builder()
///     .deviation_threshold_bps(50) // 0.5%
///     .heartbeat(Duration::from_secs(1800))
///     .build()?;
/// assert_eq!(policy.min_interval(), Duration::from_secs(60));
/// # Ok::<(), oracle_core::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    deviation_threshold_bps: u64,
    heartbeat: Duration,
    min_interval: Duration,
    review_threshold_bps: u64,
    confirm_ticks: u32,
    max_fee_per_gas: u128,
    min_balance_wei: U256,
    low_balance_wei: U256,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            deviation_threshold_bps: 100,
            // The contract calls data fresh up to 3600 s; refresh with one default tick (300 s) to
            // spare, so a heartbeat update lands before `isPriceFresh()` turns false.
            heartbeat: Duration::from_secs(3300),
            min_interval: Duration::from_secs(60),
            review_threshold_bps: 1_000,
            confirm_ticks: 2,
            max_fee_per_gas: 100 * GWEI,
            // 0.001 ETH: the old bot's "critical, no submission" level.
            min_balance_wei: U256::from(1_000_000_000_000_000u128),
            // 0.01 ETH: the old bot's "low balance" warning level.
            low_balance_wei: U256::from(10_000_000_000_000_000u128),
        }
    }
}

impl Policy {
    /// A builder starting from the defaults.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder(Self::default())
    }

    /// Submit when a price moved by at least this many basis points (default 100 = 1%).
    pub fn deviation_threshold_bps(&self) -> u64 {
        self.deviation_threshold_bps
    }

    /// Submit when the stored data is at least this old (default 3300 s).
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// Never submit sooner than this after the last on-chain update (default 60 s).
    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// Moves at least this large are large: flagged, and sent only once confirmed (default
    /// 1000 = 10%).
    pub fn review_threshold_bps(&self) -> u64 {
        self.review_threshold_bps
    }

    /// A large move is sent only once this many consecutive ticks have seen it, in the same
    /// direction (default 2: the tick that first sees it and the next one). 1 sends at once.
    /// The trade-off: a true crash reaches the chain `confirm_ticks - 1` intervals later; a
    /// manipulated or glitched price that reverts within the hold never does. See
    /// [`crate::confirm`](mod@crate::confirm).
    pub fn confirm_ticks(&self) -> u32 {
        self.confirm_ticks
    }

    /// Never pay more than this per gas, in wei (default 100 gwei).
    pub fn max_fee_per_gas(&self) -> u128 {
        self.max_fee_per_gas
    }

    /// Never submit with a balance below this, in wei (default 0.001 ETH); alert critical.
    pub fn min_balance_wei(&self) -> U256 {
        self.min_balance_wei
    }

    /// Warn when the balance is below this, in wei (default 0.01 ETH).
    pub fn low_balance_wei(&self) -> U256 {
        self.low_balance_wei
    }
}

/// Builds a [`Policy`], validating it.
#[derive(Debug, Clone)]
pub struct PolicyBuilder(Policy);

impl PolicyBuilder {
    /// See [`Policy::deviation_threshold_bps`].
    pub fn deviation_threshold_bps(mut self, bps: u64) -> Self {
        self.0.deviation_threshold_bps = bps;
        self
    }

    /// See [`Policy::heartbeat`].
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.0.heartbeat = heartbeat;
        self
    }

    /// See [`Policy::min_interval`].
    pub fn min_interval(mut self, min_interval: Duration) -> Self {
        self.0.min_interval = min_interval;
        self
    }

    /// See [`Policy::review_threshold_bps`].
    pub fn review_threshold_bps(mut self, bps: u64) -> Self {
        self.0.review_threshold_bps = bps;
        self
    }

    /// See [`Policy::confirm_ticks`].
    pub fn confirm_ticks(mut self, ticks: u32) -> Self {
        self.0.confirm_ticks = ticks;
        self
    }

    /// See [`Policy::max_fee_per_gas`].
    pub fn max_fee_per_gas(mut self, wei: u128) -> Self {
        self.0.max_fee_per_gas = wei;
        self
    }

    /// See [`Policy::min_balance_wei`].
    pub fn min_balance_wei(mut self, wei: U256) -> Self {
        self.0.min_balance_wei = wei;
        self
    }

    /// See [`Policy::low_balance_wei`].
    pub fn low_balance_wei(mut self, wei: U256) -> Self {
        self.0.low_balance_wei = wei;
        self
    }

    /// Validates and returns the policy.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let p = self.0;
        if p.deviation_threshold_bps == 0 {
            return Err(PolicyError::ZeroDeviationThreshold);
        }
        if p.heartbeat.is_zero() {
            return Err(PolicyError::ZeroHeartbeat);
        }
        if p.min_interval > p.heartbeat {
            return Err(PolicyError::MinIntervalAboveHeartbeat {
                min_interval: p.min_interval,
                heartbeat: p.heartbeat,
            });
        }
        if p.low_balance_wei < p.min_balance_wei {
            return Err(PolicyError::LowBalanceBelowMinimum {
                low_balance_wei: p.low_balance_wei,
                min_balance_wei: p.min_balance_wei,
            });
        }
        if p.max_fee_per_gas == 0 {
            return Err(PolicyError::ZeroGasPriceCap);
        }
        if p.confirm_ticks == 0 {
            return Err(PolicyError::ZeroConfirmTicks);
        }
        Ok(p)
    }
}

/// Why a tick submits. A tick may have several reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitReason {
    /// A price moved at least the threshold.
    Deviation {
        /// The feed.
        feed: FeedId,
        /// The move in basis points, rounded down (`None` from a zero on-chain price).
        move_bps: Option<u64>,
    },
    /// The stored data reached the heartbeat age.
    Heartbeat {
        /// Its age.
        age: Duration,
    },
}

/// A large move that is submitted but needs a human look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFlag {
    /// The feed.
    pub feed: FeedId,
    /// The move in basis points (`None` from a zero on-chain price).
    pub move_bps: Option<u64>,
    /// The review threshold it crossed.
    pub threshold_bps: u64,
    /// Whether the price rose (`false`: it fell).
    pub rising: bool,
}

/// Why a tick did not submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// This bot is not the leader.
    NotLeader {
        /// Who leads, if known.
        leader: Option<String>,
    },
    /// No observation for a feed the target stores.
    MissingObservation {
        /// The feed.
        feed: FeedId,
    },
    /// An observation was zero.
    ZeroPrice {
        /// The feed.
        feed: FeedId,
        /// The source.
        source: String,
    },
    /// An observation could not be brought to the target's decimals.
    Unrepresentable {
        /// The feed.
        feed: FeedId,
        /// Why.
        error: PriceError,
    },
    /// An observation is outside the target's bounds: sending it would revert.
    OutOfBounds {
        /// The feed.
        feed: FeedId,
        /// The observed price at the target's decimals.
        price: Price,
        /// The lowest accepted.
        min: Price,
        /// The highest accepted.
        max: Price,
    },
    /// The last on-chain update is younger than the minimum interval.
    TooSoon {
        /// Its age.
        age: Duration,
        /// The minimum interval.
        min_interval: Duration,
    },
    /// Nothing moved enough and the data is not old enough.
    WithinThreshold {
        /// The largest move seen, in basis points.
        largest_move_bps: u64,
        /// The threshold.
        threshold_bps: u64,
        /// The age of the stored data.
        age: Duration,
    },
    /// The target would reject the move (its own deviation limit): an operator must use the
    /// emergency update.
    ExceedsTargetDeviation {
        /// The feed.
        feed: FeedId,
        /// The move in basis points.
        move_bps: u64,
        /// The target's limit in percent.
        limit_pct: u64,
    },
    /// The wallet cannot safely pay for updates.
    BalanceTooLow {
        /// The balance in wei.
        balance_wei: U256,
        /// The minimum in wei.
        min_wei: U256,
    },
    /// The network asks more per gas than the cap.
    GasTooHigh {
        /// What the network asks, in wei per gas.
        asked_wei: u128,
        /// The cap.
        cap_wei: u128,
        /// The age of the stored data, so an alert can say how close it is to going stale.
        age: Duration,
        /// Whether the data is at the heartbeat age: skipping now lets the price go stale.
        stale_soon: bool,
    },
    /// The nonce of a sent update was used by a transaction that is not this bot's (another bot
    /// or an operator with the same key landed something first).
    LandedElsewhere {
        /// The nonce.
        nonce: u64,
    },
    /// A move beyond the review threshold waits until enough consecutive ticks confirm it.
    HeldForConfirmation {
        /// The feed.
        feed: FeedId,
        /// The move in basis points (`None` from a zero on-chain price).
        move_bps: Option<u64>,
        /// Consecutive ticks that have seen it, this one included.
        seen: u32,
        /// Ticks needed before it is sent.
        needed: u32,
    },
}

impl SkipReason {
    /// A short stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotLeader { .. } => "not_leader",
            Self::MissingObservation { .. } => "missing_observation",
            Self::ZeroPrice { .. } => "zero_price",
            Self::Unrepresentable { .. } => "unrepresentable",
            Self::OutOfBounds { .. } => "out_of_bounds",
            Self::TooSoon { .. } => "too_soon",
            Self::WithinThreshold { .. } => "within_threshold",
            Self::ExceedsTargetDeviation { .. } => "exceeds_target_deviation",
            Self::BalanceTooLow { .. } => "balance_too_low",
            Self::GasTooHigh { .. } => "gas_too_high",
            Self::LandedElsewhere { .. } => "landed_elsewhere",
            Self::HeldForConfirmation { .. } => "held_for_confirmation",
        }
    }

    /// Where the check that produced this skip stands in [`decide`]'s order. A tick that skips
    /// at stage `n` proves that every check of a lower stage passed, which is what lets an alert
    /// for an earlier condition be resolved.
    pub fn stage(&self) -> u8 {
        match self {
            Self::NotLeader { .. } => 0,
            Self::MissingObservation { .. }
            | Self::ZeroPrice { .. }
            | Self::Unrepresentable { .. }
            | Self::OutOfBounds { .. } => 1,
            Self::TooSoon { .. } => 2,
            Self::ExceedsTargetDeviation { .. } => 3,
            Self::WithinThreshold { .. } => 4,
            Self::BalanceTooLow { .. } => 5,
            Self::GasTooHigh { .. } => 6,
            // Every check of `decide` passed; only the confirmation holds it.
            Self::HeldForConfirmation { .. } => 7,
            // Found after sending: proves nothing about the checks.
            Self::LandedElsewhere { .. } => 0,
        }
    }

    /// Whether this skip means something is wrong (and is worth an alert), as opposed to a normal
    /// quiet tick.
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Self::NotLeader { .. }
                | Self::TooSoon { .. }
                | Self::WithinThreshold { .. }
                | Self::LandedElsewhere { .. }
        )
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::engine::format_bps;
        match self {
            Self::NotLeader { leader } => {
                write!(f, "not the leader (leader: {})", leader.as_deref().unwrap_or("unknown"))
            }
            Self::MissingObservation { feed } => write!(f, "no observation for {feed}"),
            Self::ZeroPrice { feed, source } => write!(f, "{source} reported a zero {feed} price"),
            Self::Unrepresentable { feed, error } => write!(f, "{feed} price cannot be represented: {error}"),
            Self::OutOfBounds { feed, price, min, max } => {
                write!(f, "{feed} {price} is outside the target's bounds [{min}, {max}]")
            }
            Self::TooSoon { age, min_interval } => {
                write!(f, "last update {}s ago, minimum interval {}s", age.as_secs(), min_interval.as_secs())
            }
            Self::WithinThreshold { largest_move_bps, threshold_bps, age } => write!(
                f,
                "largest move {} is below the {} threshold; data is {}s old",
                format_bps(*largest_move_bps),
                format_bps(*threshold_bps),
                age.as_secs()
            ),
            Self::ExceedsTargetDeviation { feed, move_bps, limit_pct } => write!(
                f,
                "{feed} moved {}, beyond the target's {limit_pct}% limit: needs an emergency update",
                format_bps(*move_bps)
            ),
            Self::BalanceTooLow { balance_wei, min_wei } => {
                write!(f, "wallet balance {balance_wei} wei is below the minimum {min_wei} wei")
            }
            Self::GasTooHigh { asked_wei, cap_wei, age, stale_soon } => write!(
                f,
                "gas price {asked_wei} wei is above the cap {cap_wei} wei; data is {}s old{}",
                age.as_secs(),
                if *stale_soon { " and about to go stale" } else { "" }
            ),
            Self::LandedElsewhere { nonce } => {
                write!(f, "nonce {nonce} was used by another sender's transaction")
            }
            Self::HeldForConfirmation { feed, move_bps, seen, needed } => write!(
                f,
                "{feed} moved {}: held until {needed} consecutive ticks see it ({seen} so far)",
                move_bps.map_or_else(|| "from zero".to_owned(), format_bps)
            ),
        }
    }
}

/// The plan of a submitting tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPlan {
    /// What to write.
    pub update: PriceUpdate,
    /// Why.
    pub reasons: Vec<SubmitReason>,
    /// Large moves to flag.
    pub review: Vec<ReviewFlag>,
}

/// What a tick decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Do not submit, for this reason.
    Skip(SkipReason),
    /// Submit this plan.
    Submit(SubmitPlan),
}

/// Decides one tick: a pure function of the on-chain state, the observations, the policy and
/// the time.
///
/// The rules, in order: every stored feed needs a non-zero observation inside the target's
/// bounds; nothing is sent sooner than the minimum interval; a tick submits when a price moved
/// at least the threshold or the data reached the heartbeat; a move the target's deviation rule
/// would revert is skipped (it needs the emergency update); the balance must cover the minimum
/// and the network's fee must be under the cap. Moves beyond the review threshold are submitted
/// and flagged.
pub fn decide(
    state: &OnChainState,
    observations: &HashMap<FeedId, Observation>,
    policy: &Policy,
    now: SystemTime,
) -> Decision {
    use Decision::Skip;

    // The new prices at the target's decimals, each checked against the target's bounds.
    let mut prices = Vec::with_capacity(state.feeds.len());
    for stored in &state.feeds {
        let feed = &stored.feed;
        let Some(obs) = observations.get(feed) else {
            return Skip(SkipReason::MissingObservation { feed: feed.clone() });
        };
        let price = match obs.price.rescale(stored.price.decimals()) {
            Ok(p) => p,
            Err(error) => return Skip(SkipReason::Unrepresentable { feed: feed.clone(), error }),
        };
        if price.is_zero() {
            return Skip(SkipReason::ZeroPrice { feed: feed.clone(), source: obs.source.clone() });
        }
        if let Some(bounds) = stored.bounds.filter(|b| !b.contains(&price)) {
            return Skip(SkipReason::OutOfBounds {
                feed: feed.clone(),
                price,
                min: bounds.min,
                max: bounds.max,
            });
        }
        prices.push((feed.clone(), price));
    }

    // A last update "in the future" (clock skew) counts as just now: the safe direction.
    let age = now.duration_since(state.last_update).unwrap_or_default();
    if age < policy.min_interval {
        return Skip(SkipReason::TooSoon { age, min_interval: policy.min_interval });
    }

    let mut reasons = Vec::new();
    let mut review = Vec::new();
    let mut largest_move_bps = 0;
    for (stored, (feed, new)) in state.feeds.iter().zip(&prices) {
        let move_bps = stored.price.change_bps(new);
        largest_move_bps = largest_move_bps.max(move_bps.unwrap_or(u64::MAX));
        if stored.price.moved_at_least(new, policy.deviation_threshold_bps) {
            reasons.push(SubmitReason::Deviation { feed: feed.clone(), move_bps });
        }
        if stored.price.moved_at_least(new, policy.review_threshold_bps) {
            review.push(ReviewFlag {
                feed: feed.clone(),
                move_bps,
                threshold_bps: policy.review_threshold_bps,
                rising: new.cmp_value(&stored.price).is_gt(),
            });
        }
        if let Some(rule) = state.deviation_rule
            && !rule.accepts(&stored.price, new, age)
        {
            return Skip(SkipReason::ExceedsTargetDeviation {
                feed: feed.clone(),
                move_bps: move_bps.unwrap_or(u64::MAX),
                limit_pct: rule.max_pct,
            });
        }
    }
    if age >= policy.heartbeat {
        reasons.push(SubmitReason::Heartbeat { age });
    }
    if reasons.is_empty() {
        return Skip(SkipReason::WithinThreshold {
            largest_move_bps,
            threshold_bps: policy.deviation_threshold_bps,
            age,
        });
    }

    if let Some(balance_wei) = state.balance_wei.filter(|b| *b < policy.min_balance_wei) {
        return Skip(SkipReason::BalanceTooLow { balance_wei, min_wei: policy.min_balance_wei });
    }
    if let Some(fee) = state.fee.filter(|f| f.price_per_gas > policy.max_fee_per_gas) {
        return Skip(SkipReason::GasTooHigh {
            asked_wei: fee.price_per_gas,
            cap_wei: policy.max_fee_per_gas,
            age,
            stale_soon: age >= policy.heartbeat,
        });
    }

    Decision::Submit(SubmitPlan {
        update: PriceUpdate { prices, max_fee_per_gas: policy.max_fee_per_gas },
        reasons,
        review,
    })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "policy_props.rs"]
mod props;
