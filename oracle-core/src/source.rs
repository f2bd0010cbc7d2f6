//! The [`PriceSource`] trait: where observations come from.

use std::time::Duration;

use async_trait::async_trait;

use crate::{FeedId, Observation};

/// Why a source refused to give an observation.
///
/// The variants separate "this source is wrong" (the price must not be used) from "this source is
/// down" (try again, or use another), so aggregation and alerting can act differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source's own timestamp is older than its allowed age.
    #[error("{source_name}: {feed} is stale: last updated {age:?} ago, allowed {max_age:?}")]
    Stale {
        /// The source.
        source_name: String,
        /// The feed.
        feed: FeedId,
        /// How old the reading is.
        age: Duration,
        /// The largest age allowed.
        max_age: Duration,
    },
    /// The source reported zero or a negative price.
    #[error("{source_name}: {feed} answer {answer} is not a positive price")]
    NonPositive {
        /// The source.
        source_name: String,
        /// The feed.
        feed: FeedId,
        /// The raw answer, as text.
        answer: String,
    },
    /// The reading looks manipulated (thin liquidity, spot far from the average, sources that
    /// disagree).
    #[error("{source_name}: {feed} looks manipulated: {reason}")]
    Manipulated {
        /// The source.
        source_name: String,
        /// The feed.
        feed: FeedId,
        /// What check failed, with the numbers.
        reason: String,
    },
    /// The reading failed a consistency check (an incomplete round, a timestamp in the future).
    #[error("{source_name}: {feed} failed the {check} check: {detail}")]
    Invalid {
        /// The source.
        source_name: String,
        /// The feed.
        feed: FeedId,
        /// The name of the check.
        check: &'static str,
        /// The numbers behind it.
        detail: String,
    },
    /// The source could not be reached or answered garbage: try again later.
    #[error("{source_name}: unreachable: {reason}")]
    Unreachable {
        /// The source.
        source_name: String,
        /// What the transport said (never containing secrets such as RPC keys).
        reason: String,
    },
    /// The source does not price this feed.
    #[error("{source_name} does not price {feed}")]
    UnsupportedFeed {
        /// The source.
        source_name: String,
        /// The feed asked for.
        feed: FeedId,
    },
}

impl SourceError {
    /// Whether the failure is the source being down (retryable) rather than its data being wrong.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// Something that prices feeds: a Chainlink aggregator, a Uniswap pool, an HTTP API, or an
/// aggregate of other sources.
///
/// Implementations do their own validation and return a typed refusal instead of a doubtful
/// price. They must be cheap to call once per tick and must not block.
///
/// ```
/// use async_trait::async_trait;
/// use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError};
///
/// struct Constant(Price);
///
/// #[async_trait]
/// impl PriceSource for Constant {
///     fn name(&self) -> &str {
///         "constant"
///     }
///     async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
///         Ok(Observation::new(feed.clone(), self.0, std::time::SystemTime::now(), self.name()))
///     }
/// }
/// ```
#[async_trait]
pub trait PriceSource: Send + Sync {
    /// A short name for logs, metrics and errors (e.g. `chainlink:ETH/USD`).
    fn name(&self) -> &str;

    /// Reads one observation of `feed`.
    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError>;
}
