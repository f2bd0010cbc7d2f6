//! A Chainlink aggregator: `latestRoundData()` normalized by `decimals()`, optionally gated by an
//! L2 sequencer-uptime feed.

use std::time::{Duration, SystemTime};

use alloy::{
    primitives::{Address, I256, U256},
    providers::DynProvider,
};
use async_trait::async_trait;
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError, secret::redact_urls};
use tokio::sync::OnceCell;

alloy::sol! {
    /// The read side of Chainlink's `AggregatorV3Interface`.
    #[sol(rpc)]
    #[allow(missing_docs)]
    interface AggregatorV3Interface {
        function decimals() external view returns (uint8);
        function latestRoundData() external view returns (
            uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound
        );
    }
}

/// How far in the future a round's `updatedAt` may be before it is refused: chain and host
/// clocks drift, but not by minutes.
const FUTURE_TOLERANCE: Duration = Duration::from_secs(60);

/// The grace period Chainlink recommends after an L2 sequencer comes back up: prices that were
/// stale while it was down get time to update before they are trusted again.
pub const DEFAULT_SEQUENCER_GRACE_PERIOD: Duration = Duration::from_secs(3600);

type Aggregator = AggregatorV3Interface::AggregatorV3InterfaceInstance<DynProvider>;

/// An L2 sequencer-uptime feed (answer 0 = up, 1 = down; `startedAt` = when that status began).
#[derive(Debug)]
struct SequencerCheck {
    feed: Aggregator,
    grace_period: Duration,
}

/// Reads one feed from a Chainlink aggregator and refuses a round that is not positive, not
/// complete, from the future or older than `max_age`; with
/// [`with_sequencer_uptime_feed`](Self::with_sequencer_uptime_feed), also any round while the L2
/// sequencer is down or within the grace period after it came back.
#[derive(Debug)]
pub struct ChainlinkSource {
    aggregator: Aggregator,
    feed: FeedId,
    max_age: Duration,
    decimals: OnceCell<u8>,
    sequencer: Option<SequencerCheck>,
    name: String,
}

impl ChainlinkSource {
    /// A source for `feed` from the aggregator at `address`, refusing rounds older than `max_age`.
    pub fn new(provider: DynProvider, address: Address, feed: FeedId, max_age: Duration) -> Self {
        let name = format!("chainlink:{feed}");
        Self {
            aggregator: AggregatorV3Interface::new(address, provider),
            feed,
            max_age,
            decimals: OnceCell::new(),
            sequencer: None,
            name,
        }
    }

    /// Also checks Chainlink's L2 sequencer-uptime feed at `address` (on the same chain): refuses
    /// with `Invalid { check: "sequencer uptime" }` while it reports the sequencer down, and for
    /// `grace_period` after it reports it back up.
    ///
    /// While an L2 sequencer is down, its aggregators cannot update and look fresher than the
    /// market they report; after it restarts they need a moment to catch up.
    #[must_use]
    pub fn with_sequencer_uptime_feed(mut self, address: Address, grace_period: Duration) -> Self {
        let provider = self.aggregator.provider().clone();
        self.sequencer =
            Some(SequencerCheck { feed: AggregatorV3Interface::new(address, provider), grace_period });
        self
    }

    fn unreachable(&self, e: &alloy::contract::Error) -> SourceError {
        SourceError::Unreachable {
            source_name: self.name.clone(),
            reason: format!("aggregator {}: {}", self.aggregator.address(), redact_urls(&e.to_string())),
        }
    }

    fn invalid(&self, check: &'static str, detail: String) -> SourceError {
        SourceError::Invalid { source_name: self.name.clone(), feed: self.feed.clone(), check, detail }
    }

    /// Refuses while the sequencer is down or within the grace period after it came back up.
    async fn check_sequencer(&self, check: &SequencerCheck, now: SystemTime) -> Result<(), SourceError> {
        const CHECK: &str = "sequencer uptime";
        let address = *check.feed.address();
        let round = check.feed.latestRoundData().call().await.map_err(|e| SourceError::Unreachable {
            source_name: self.name.clone(),
            reason: format!("sequencer uptime feed {address}: {}", redact_urls(&e.to_string())),
        })?;
        if round.answer == I256::ONE {
            return Err(self.invalid(
                CHECK,
                format!("feed {address} reports the L2 sequencer down (answer 1) since {}", round.startedAt),
            ));
        }
        if !round.answer.is_zero() {
            return Err(self.invalid(
                CHECK,
                format!("feed {address} answered {}, expected 0 (up) or 1 (down)", round.answer),
            ));
        }
        // startedAt = 0 means the uptime round was never set: the status is unknown.
        let started = u64::try_from(round.startedAt).ok().filter(|s| *s > 0).ok_or_else(|| {
            self.invalid(CHECK, format!("feed {address} has startedAt {}", round.startedAt))
        })?;
        let up_since = oracle_core::unix_time(started).ok_or_else(|| {
            self.invalid(
                CHECK,
                format!("feed {address} has startedAt {started}, past any representable time"),
            )
        })?;
        let up_for = now.duration_since(up_since).unwrap_or(Duration::ZERO);
        if up_for <= check.grace_period {
            return Err(self.invalid(
                CHECK,
                format!(
                    "feed {address}: the L2 sequencer has been up for {}s (since {started}), within the {}s \
                     grace period",
                    up_for.as_secs(),
                    check.grace_period.as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// The aggregator's decimals, read once: they never change for a deployed aggregator.
    async fn decimals(&self) -> Result<u8, SourceError> {
        self.decimals
            .get_or_try_init(|| async {
                self.aggregator.decimals().call().await.map_err(|e| self.unreachable(&e))
            })
            .await
            .copied()
    }
}

#[async_trait]
impl PriceSource for ChainlinkSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        let (decimals, round, ()) = tokio::try_join!(
            self.decimals(),
            async { self.aggregator.latestRoundData().call().await.map_err(|e| self.unreachable(&e)) },
            async {
                match &self.sequencer {
                    Some(check) => self.check_sequencer(check, SystemTime::now()).await,
                    None => Ok(()),
                }
            },
        )?;
        if round.answer <= I256::ZERO {
            return Err(SourceError::NonPositive {
                source_name: self.name.clone(),
                feed: feed.clone(),
                answer: round.answer.to_string(),
            });
        }
        if round.updatedAt.is_zero() {
            return Err(self.invalid("complete round", format!("round {} has no updatedAt", round.roundId)));
        }
        if round.answeredInRound < round.roundId {
            return Err(self.invalid(
                "complete round",
                format!("round {} was answered in earlier round {}", round.roundId, round.answeredInRound),
            ));
        }
        let updated_secs = u64::try_from(round.updatedAt)
            .map_err(|_| self.invalid("timestamp", format!("updatedAt {} is not a time", round.updatedAt)))?;
        let updated_at = oracle_core::unix_time(updated_secs).ok_or_else(|| {
            self.invalid("timestamp", format!("updatedAt {updated_secs} is past any representable time"))
        })?;
        let now = SystemTime::now();
        match now.duration_since(updated_at) {
            Ok(age) if age > self.max_age => {
                return Err(SourceError::Stale {
                    source_name: self.name.clone(),
                    feed: feed.clone(),
                    age,
                    max_age: self.max_age,
                });
            }
            Ok(_) => {}
            Err(ahead) if ahead.duration() > FUTURE_TOLERANCE => {
                return Err(self.invalid(
                    "timestamp",
                    format!("updatedAt is {}s in the future", ahead.duration().as_secs()),
                ));
            }
            Err(_) => {}
        }
        let mantissa = U256::try_from(round.answer).map_err(|_| SourceError::NonPositive {
            source_name: self.name.clone(),
            feed: feed.clone(),
            answer: round.answer.to_string(),
        })?;
        let price = Price::new(mantissa, decimals)
            .map_err(|e| self.invalid("decimals", format!("decimals() = {decimals}: {e}")))?;
        Ok(Observation::new(feed.clone(), price, updated_at, &self.name))
    }
}
