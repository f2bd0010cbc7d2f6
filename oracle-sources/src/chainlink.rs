//! A Chainlink aggregator: `latestRoundData()` normalized by `decimals()`.

use std::time::{Duration, SystemTime};

use alloy::{
    primitives::{Address, I256, U256},
    providers::DynProvider,
};
use async_trait::async_trait;
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError, evm::redact_urls};
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

/// Reads one feed from a Chainlink aggregator and refuses a round that is not positive, not
/// complete, from the future or older than `max_age`.
#[derive(Debug)]
pub struct ChainlinkSource {
    aggregator: AggregatorV3Interface::AggregatorV3InterfaceInstance<DynProvider>,
    feed: FeedId,
    max_age: Duration,
    decimals: OnceCell<u8>,
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
            name,
        }
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
        let (decimals, round) = tokio::try_join!(self.decimals(), async {
            self.aggregator.latestRoundData().call().await.map_err(|e| self.unreachable(&e))
        })?;
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
        let updated_at = SystemTime::UNIX_EPOCH + Duration::from_secs(updated_secs);
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
