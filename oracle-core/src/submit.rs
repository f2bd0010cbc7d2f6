//! The [`Submitter`] trait: reading a target's on-chain state and landing updates on it.

use std::time::{Duration, SystemTime};

use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;

use crate::{FeedId, Fence, FencingToken, LeaseLost, Price};

/// The prices a target accepts for one feed, inclusive at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBounds {
    /// The smallest accepted price.
    pub min: Price,
    /// The largest accepted price.
    pub max: Price,
}

impl PriceBounds {
    /// Whether `price` is within the bounds (compared by value, whatever its decimals).
    pub fn contains(&self, price: &Price) -> bool {
        price.cmp_value(&self.min).is_ge() && price.cmp_value(&self.max).is_le()
    }
}

/// One feed as the target stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    /// The feed.
    pub feed: FeedId,
    /// The stored price, at the target's decimals.
    pub price: Price,
    /// What the target accepts, when it checks.
    pub bounds: Option<PriceBounds>,
}

/// A target's own limit on how far one update may move a price.
///
/// `ManualPriceOracle`: `|new - old| * 100 / old > 50` reverts, unless the stored data is older
/// than one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviationRule {
    /// The largest accepted move, in whole percent, after integer division.
    pub max_pct: u64,
    /// The rule is not applied when the stored data is older than this.
    pub bypass_after: Duration,
}

impl DeviationRule {
    /// Whether the target would accept a move from `old` to `new` made `age` after the last update,
    /// computed exactly the way the contract does (percent rounded down, then compared).
    ///
    /// The contract computes `|new - old| * 100 / old` on its stored integers, so a zero `old`
    /// (a division by zero) and a difference whose hundredfold exceeds 256 bits (an overflow)
    /// revert: both are refused here too.
    pub fn accepts(&self, old: &Price, new: &Price, age: Duration) -> bool {
        if age > self.bypass_after {
            return true;
        }
        if old.decimals() == new.decimals() {
            let (a, b) = (old.mantissa(), new.mantissa());
            let diff = if a > b { a - b } else { b - a };
            if diff.checked_mul(U256::from(100u8)).is_none() {
                return false;
            }
        }
        match old.change_bps(new) {
            None => false,
            Some(bps) => bps / 100 <= self.max_pct,
        }
    }
}

/// What a fee market asks now, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeEstimate {
    /// What a transaction pays per gas if sent now (base fee plus tip, `eth_gasPrice`): the
    /// figure compared with the cap.
    pub price_per_gas: u128,
    /// The suggested priority fee (tip) per gas.
    pub priority_fee_per_gas: u128,
}

/// Everything a tick's decision needs to know about the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChainState {
    /// The stored prices, in the order the target's update takes them.
    pub feeds: Vec<FeedState>,
    /// When the stored prices were last written (block time).
    pub last_update: SystemTime,
    /// The target's own deviation limit, if it has one.
    pub deviation_rule: Option<DeviationRule>,
    /// The fee the network asks now, if the target has a fee market.
    pub fee: Option<FeeEstimate>,
    /// The updater wallet's balance in wei, if known.
    pub balance_wei: Option<U256>,
    /// The block the state was read at.
    pub block: Option<u64>,
    /// The timestamp of that block. The target judges freshness by block time; the engine decides
    /// with the later of this and the host's clock (an update is mined no earlier than either).
    pub chain_time: Option<SystemTime>,
}

/// The prices to write, in the target's order, and the most the sender may pay per gas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceUpdate {
    /// `(feed, price)` at the target's decimals.
    pub prices: Vec<(FeedId, Price)>,
    /// The fee cap in wei per gas; a submitter never offers more.
    pub max_fee_per_gas: u128,
}

impl PriceUpdate {
    /// The price of `feed` in this update.
    pub fn price(&self, feed: &FeedId) -> Option<&Price> {
        self.prices.iter().find(|(f, _)| f == feed).map(|(_, p)| p)
    }
}

/// An update that was broadcast and is not yet known to be mined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpdate {
    /// The latest transaction sent for this nonce.
    pub tx_hash: B256,
    /// Earlier transactions for the same nonce that it replaced; any of them may still be mined.
    pub replaced: Vec<B256>,
    /// The sender's nonce.
    pub nonce: u64,
    /// The update the latest transaction carries.
    pub update: PriceUpdate,
    /// The max fee per gas of the latest transaction, in wei.
    pub max_fee_per_gas: u128,
    /// The priority fee per gas of the latest transaction, in wei.
    pub max_priority_fee_per_gas: u128,
    /// When the first transaction for this nonce was broadcast.
    pub first_sent_at: SystemTime,
    /// When the latest one was broadcast.
    pub sent_at: SystemTime,
}

impl PendingUpdate {
    /// A pending update for a first transaction, for submitters without fee markets.
    pub fn new(tx_hash: B256, nonce: u64, update: PriceUpdate) -> Self {
        let now = SystemTime::now();
        Self {
            tx_hash,
            replaced: Vec::new(),
            nonce,
            update,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            first_sent_at: now,
            sent_at: now,
        }
    }

    /// Every transaction hash sent for this nonce, newest first.
    pub fn hashes(&self) -> impl Iterator<Item = &B256> {
        std::iter::once(&self.tx_hash).chain(self.replaced.iter().rev())
    }
}

/// What became of a sent update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Mined and succeeded.
    Mined {
        /// The transaction (one of the pending update's hashes).
        tx_hash: B256,
        /// Its block.
        block: u64,
        /// Gas it used.
        gas_used: u64,
        /// The fee per gas it paid, in wei.
        effective_gas_price: u128,
    },
    /// Mined but reverted: the fee was paid, nothing was written.
    Reverted {
        /// The transaction.
        tx_hash: B256,
        /// Its block.
        block: u64,
    },
    /// Not mined within the submitter's stuck threshold: replace it, or keep waiting.
    Stuck {
        /// How long since the first transaction for this nonce was sent.
        waited: Duration,
    },
    /// The nonce was used by a transaction that is none of ours (another bot or an operator
    /// with the same key): someone else landed something; ours can never be mined.
    LandedElsewhere {
        /// The nonce.
        nonce: u64,
    },
}

/// Why a target refused an update, decoded from its revert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The sender is neither the price updater nor the owner.
    #[error("NotAuthorized: the sender is neither the oracle's priceUpdater nor its owner")]
    NotAuthorized,
    /// A price is outside the contract's bounds.
    #[error("PriceOutOfBounds: a price is outside the contract's bounds")]
    PriceOutOfBounds,
    /// A price moved more than the contract allows in one update.
    #[error("PriceDeviationTooLarge: a price moved more than the contract allows; use an emergency update")]
    PriceDeviationTooLarge,
    /// An owner-only function was called by another account.
    #[error("OwnableUnauthorizedAccount({account}): only the owner may do this")]
    OwnerOnly {
        /// The caller.
        account: Address,
    },
    /// The zero address was given where an account is required.
    #[error("InvalidAddress: the zero address is not allowed")]
    InvalidAddress,
    /// A fenced update carried a lower token than one the target already accepted: a newer
    /// leader has written since.
    #[error("StaleFencingToken({token}, highest {highest}): a newer leader has updated the oracle")]
    StaleFencingToken {
        /// The token sent.
        token: u64,
        /// The highest token the target has accepted.
        highest: u64,
    },
    /// The unfenced update was sent to a fenced target.
    #[error("FencingTokenRequired: the oracle only accepts fenced updates")]
    FencingTokenRequired,
    /// The function does not exist on the target.
    #[error("the contract has no function {function}")]
    MissingFunction {
        /// The function's signature.
        function: String,
    },
    /// A revert this crate does not recognise.
    #[error("execution reverted: {reason}")]
    Reverted {
        /// The revert data or message.
        reason: String,
    },
}

/// Why reading the target or landing an update failed.
///
/// Each variant has one action, applied in one place (the engine):
///
/// | variant | meaning | action |
/// |---|---|---|
/// | `Rejected` | execution reverted (decoded custom error) | nothing sent; alert |
/// | `FeeAboveCap` | the network or a needed bump asks more than the cap | skip or stop bumping; alert |
/// | `NonceTooLow` | the nonce was already used | re-read the nonce; check what landed |
/// | `ReplacementUnderpriced` | a transaction at this nonce pays more | bump further, within the cap |
/// | `AlreadyKnown` | this exact transaction is already in the pool | treat as sent; wait |
/// | `InsufficientFunds` | the wallet cannot pay | no send; critical alert |
/// | `FeeCapBelowBaseFee` | the max fee is under the base fee | re-estimate next time |
/// | `LeaseLost` | leadership ran out before broadcasting | nothing sent |
/// | `Timeout` | a wait ran past its limit | keep tracking the nonce next tick |
/// | `Unreachable` | transport failure | retry reads; next tick for sends |
/// | `InvalidResponse` | garbage from the node | as unreachable |
/// | `Refused` | any other node refusal | fail the tick; alert |
/// | `Journal` | the in-flight journal is unreadable | log; the chain-side nonce rule still holds |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The target refused the update (found by simulation, or by a mined revert).
    #[error("the target rejected the update: {0}")]
    Rejected(#[from] Rejection),
    /// The network asks more per gas than the cap.
    #[error("the network asks {asked_wei} wei/gas, above the cap of {cap_wei} wei/gas")]
    FeeAboveCap {
        /// What the network (or a replacement) needs.
        asked_wei: u128,
        /// The cap.
        cap_wei: u128,
    },
    /// The node says the nonce was already used.
    #[error("nonce too low: {message}")]
    NonceTooLow {
        /// The node's message.
        message: String,
    },
    /// The node refuses a replacement that does not pay enough more than the transaction it
    /// would replace.
    #[error("replacement transaction underpriced: {message}")]
    ReplacementUnderpriced {
        /// The node's message.
        message: String,
    },
    /// The node already has this exact transaction.
    #[error("transaction already known to the node")]
    AlreadyKnown,
    /// The wallet cannot pay for the transaction.
    #[error("insufficient funds: {message}")]
    InsufficientFunds {
        /// The node's message.
        message: String,
    },
    /// The transaction's max fee is below the block's base fee.
    #[error("max fee per gas below the base fee: {message}")]
    FeeCapBelowBaseFee {
        /// The node's message.
        message: String,
    },
    /// Leadership ran out before the update could be sent; nothing was broadcast.
    #[error(transparent)]
    LeaseLost(#[from] LeaseLost),
    /// A wait ran past its limit.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        after: Duration,
    },
    /// The target's node could not be reached.
    #[error("target unreachable: {reason}")]
    Unreachable {
        /// What the transport said (never an RPC URL with its key).
        reason: String,
    },
    /// The node answered something that makes no sense for this target.
    #[error("invalid response from the target: {reason}")]
    InvalidResponse {
        /// What was wrong.
        reason: String,
    },
    /// The node refused the transaction for another reason.
    #[error("the node refused the transaction: {reason}")]
    Refused {
        /// The node's message.
        reason: String,
    },
    /// The submitter's record of what it sent could not be read or written.
    #[error("{reason}")]
    Journal {
        /// Which file, and what went wrong.
        reason: String,
    },
}

impl SubmitError {
    /// Whether this failure means the target chain could not be reached (as opposed to the
    /// update being wrong), which is what health-gated leadership counts.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. } | Self::InvalidResponse { .. })
    }
}

/// Reads a target's state and lands price updates on it.
///
/// The engine calls, in order: [`read_state`](Submitter::read_state) every tick;
/// [`simulate`](Submitter::simulate) before anything is signed; [`send`](Submitter::send) with the
/// leader's [`Fence`], which the submitter checks right before signing and right before
/// broadcasting; then [`wait`](Submitter::wait) for the outcome.
#[async_trait]
pub trait Submitter: Send + Sync {
    /// A short name for logs (e.g. `jeju:ManualPriceOracle@0x…`).
    fn name(&self) -> &str;

    /// Reads the stored prices, bounds, fees and balance.
    async fn read_state(&self) -> Result<OnChainState, SubmitError>;

    /// Runs the update (as `fence`'s holder would send it) without sending it; fails with the
    /// decoded [`Rejection`] if it would revert.
    async fn simulate(&self, update: &PriceUpdate, fence: &Fence) -> Result<(), SubmitError>;

    /// Signs and broadcasts the update, carrying `fence`'s token where the target takes one.
    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError>;

    /// Follows a sent update until it is mined, found stuck, or its nonce is used by someone
    /// else. Returns [`UpdateOutcome::Stuck`] so the engine can decide on a replacement.
    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError>;

    /// Replaces a stuck update at the same nonce with `update` (fresh prices) and higher fees.
    /// Fails with [`SubmitError::FeeAboveCap`] when the smallest accepted bump would pass the
    /// update's fee cap. The default refuses: targets without a mempool have nothing to replace.
    async fn replace(
        &self,
        pending: &PendingUpdate,
        update: &PriceUpdate,
        fence: &Fence,
    ) -> Result<PendingUpdate, SubmitError> {
        let _ = (pending, update, fence);
        Err(SubmitError::Refused { reason: format!("{} cannot replace transactions", self.name()) })
    }

    /// The highest fencing token the target has accepted, for a target that checks tokens;
    /// `None` for a target without a fence (the default).
    ///
    /// The engine reads it before its first election round and again after the target refused
    /// a token as stale, and hands it to the elector ([`crate::LeaderElector::raise_floor`]), so
    /// tokens never go backwards across restarts, lost coordination data or a change of backend.
    /// An unreachable target is an error (retried), never "no fence".
    async fn fencing_floor(&self) -> Result<Option<FencingToken>, SubmitError> {
        Ok(None)
    }

    /// An update this submitter sent earlier and has not seen resolved (mined, reverted or its
    /// nonce used), remembered across restarts; `None` when there is none (the default keeps
    /// nothing). The engine follows it before sending anything new, so a restart or a new
    /// leader with the same key never leaves a stuck transaction behind or sends a duplicate.
    async fn recover(&self) -> Result<Option<PendingUpdate>, SubmitError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_rule_matches_the_contract() {
        let rule = DeviationRule { max_pct: 50, bypass_after: Duration::from_secs(86_400) };
        let old = Price::from_u128(100_000_000, 8).unwrap();
        let fresh = Duration::from_secs(10);
        assert!(rule.accepts(&old, &Price::from_u128(150_000_000, 8).unwrap(), fresh));
        // 50.9% rounds down to 50 in the contract's integer division: accepted.
        assert!(rule.accepts(&old, &Price::from_u128(150_900_000, 8).unwrap(), fresh));
        assert!(!rule.accepts(&old, &Price::from_u128(151_000_000, 8).unwrap(), fresh));
        assert!(!rule.accepts(&old, &Price::from_u128(49_000_000, 8).unwrap(), fresh));
        // Exactly one day old still applies the rule; older bypasses it.
        let day = Duration::from_secs(86_400);
        assert!(!rule.accepts(&old, &Price::from_u128(151_000_000, 8).unwrap(), day));
        assert!(rule.accepts(&old, &Price::from_u128(151_000_000, 8).unwrap(), day + Duration::from_secs(1)));
    }

    /// Found by `policy::props`: a stored zero made the contract divide by zero, and the rule
    /// said "accepted".
    #[test]
    fn deviation_rule_refuses_a_move_from_a_stored_zero() {
        let rule = DeviationRule { max_pct: 50, bypass_after: Duration::from_secs(86_400) };
        let zero = Price::zero(8).unwrap();
        assert!(!rule.accepts(&zero, &Price::from_u128(1, 8).unwrap(), Duration::from_secs(60)));
        assert!(rule.accepts(&zero, &Price::from_u128(1, 8).unwrap(), Duration::from_secs(86_401)));
    }

    /// Found by `policy::props`: `diff * 100` past 2^256 reverts in the contract (checked
    /// arithmetic) even when the move is small in percent.
    #[test]
    fn deviation_rule_refuses_a_move_whose_hundredfold_overflows() {
        let rule = DeviationRule { max_pct: 50, bypass_after: Duration::from_secs(86_400) };
        let old = Price::new(U256::MAX >> 1, 0).unwrap();
        let new = Price::new((U256::MAX >> 1) + (U256::MAX >> 4), 0).unwrap();
        assert_eq!(old.change_bps(&new).map(|bps| bps / 100), Some(12), "a 12% move");
        assert!(!rule.accepts(&old, &new, Duration::from_secs(60)));
    }

    #[test]
    fn bounds_are_inclusive() {
        let b =
            PriceBounds { min: Price::from_u128(100, 8).unwrap(), max: Price::from_u128(1_000, 8).unwrap() };
        assert!(b.contains(&Price::from_u128(100, 8).unwrap()));
        assert!(b.contains(&Price::from_u128(1_000, 8).unwrap()));
        assert!(!b.contains(&Price::from_u128(99, 8).unwrap()));
        assert!(!b.contains(&Price::from_u128(1_001, 8).unwrap()));
    }
}
