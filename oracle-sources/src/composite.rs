//! A feed that is the product of two others: elizaOS/USD = (WETH per elizaOS) × (USD per ETH).

use std::sync::Arc;

use async_trait::async_trait;
use oracle_core::{FeedId, MAX_DECIMALS, Observation, PriceSource, SourceError};

use crate::Error;

/// The default decimals of a product: enough that flooring once here and again when the target
/// rescales to its own decimals equals flooring once at the target's decimals.
pub const DEFAULT_COMPOSITE_DECIMALS: u8 = 18;

/// One factor of a [`CompositeSource`]: a source and the feed asked of it.
#[derive(Clone)]
pub struct Leg {
    /// The feed the leg's source is asked for (e.g. `ELIZAOS/WETH`).
    pub feed: FeedId,
    /// The source.
    pub source: Arc<dyn PriceSource>,
}

impl Leg {
    /// A leg asking `source` for `feed`.
    pub fn new(feed: FeedId, source: Arc<dyn PriceSource>) -> Self {
        Self { feed, source }
    }
}

impl std::fmt::Debug for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leg({} from {})", self.feed, self.source.name())
    }
}

/// Answers `feed = a × b` in fixed point (one floor, through `Price::checked_mul`).
///
/// Both legs are read concurrently. The observation is as old as the older leg. A leg's refusal
/// is passed through unchanged, naming that leg's source, so the engine and the alerts can tell
/// which one failed; when both refuse, a refusal about the data (stale, manipulated, ...) wins
/// over an unreachable one, because retrying will not fix it.
///
/// ```
/// use std::sync::Arc;
/// use oracle_core::{FeedId, Price, PriceSource};
/// use oracle_sources::{CompositeSource, FixedPriceSource, Leg};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let weth_per_token = FeedId::new("ELIZAOS/WETH");
/// let a = Leg::new(weth_per_token.clone(), Arc::new(FixedPriceSource::new(weth_per_token, Price::parse("0.00003", 18)?)));
/// let b = Leg::new(FeedId::ETH_USD, Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::parse("3000", 8)?)));
/// let eliza = CompositeSource::new(FeedId::ELIZAOS_USD, a, b).with_decimals(8)?;
/// assert_eq!(eliza.fetch(&FeedId::ELIZAOS_USD).await?.price.to_string(), "0.09000000");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CompositeSource {
    feed: FeedId,
    a: Leg,
    b: Leg,
    decimals: u8,
    name: String,
}

impl CompositeSource {
    /// `feed = a × b`, with [`DEFAULT_COMPOSITE_DECIMALS`] decimals.
    pub fn new(feed: FeedId, a: Leg, b: Leg) -> Self {
        let name = format!("composite:{feed}");
        Self { feed, a, b, decimals: DEFAULT_COMPOSITE_DECIMALS, name }
    }

    /// The decimals of the product (at most 36).
    pub fn with_decimals(mut self, decimals: u8) -> Result<Self, Error> {
        if decimals > MAX_DECIMALS {
            return Err(Error::invalid(
                "composite",
                &self.feed,
                "decimals",
                format!("{decimals} decimals, at most {MAX_DECIMALS}"),
            ));
        }
        self.decimals = decimals;
        Ok(self)
    }
}

#[async_trait]
impl PriceSource for CompositeSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        let (a, b) = tokio::join!(self.a.source.fetch(&self.a.feed), self.b.source.fetch(&self.b.feed));
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(ea), Err(eb)) => {
                let (first, second) =
                    if ea.is_unreachable() && !eb.is_unreachable() { (eb, ea) } else { (ea, eb) };
                tracing::warn!(source = %self.name, error = %second, "the other leg failed too");
                return Err(first);
            }
        };
        let price = a.price.checked_mul(&b.price, self.decimals).map_err(|e| SourceError::Invalid {
            source_name: self.name.clone(),
            feed: feed.clone(),
            check: "composite product",
            detail: format!("{} × {}: {e}", a.price, b.price),
        })?;
        if price.is_zero() {
            return Err(SourceError::NonPositive {
                source_name: self.name.clone(),
                feed: feed.clone(),
                answer: format!("{} × {} = {price} at {} decimals", a.price, b.price, self.decimals),
            });
        }
        let observed_at = a.observed_at.min(b.observed_at);
        let mut obs = Observation::new(feed.clone(), price, observed_at, &self.name);
        obs.source = format!("{} ({} × {})", self.name, a.source, b.source);
        Ok(obs)
    }
}
