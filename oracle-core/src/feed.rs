//! Feeds and observations: what is priced, at what price, when and according to whom.

use std::{borrow::Cow, fmt, time::SystemTime};

use crate::Price;

/// The name of a priced pair, such as `ETH/USD`.
///
/// Feed ids are compared as written; by convention they are `BASE/QUOTE` in upper case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct FeedId(Cow<'static, str>);

impl FeedId {
    /// ETH priced in USD.
    pub const ETH_USD: FeedId = FeedId::from_static("ETH/USD");
    /// elizaOS priced in USD.
    pub const ELIZAOS_USD: FeedId = FeedId::from_static("ELIZAOS/USD");

    /// A feed id from a static string, usable in `const` items.
    pub const fn from_static(id: &'static str) -> Self {
        Self(Cow::Borrowed(id))
    }

    /// A feed id from any string.
    pub fn new(id: impl Into<String>) -> Self {
        Self(Cow::Owned(id.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// One price reading for one feed, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// What was priced.
    pub feed: FeedId,
    /// The price the source reported.
    pub price: Price,
    /// When the source says the price was current (for Chainlink, the round's `updatedAt`; for
    /// a pool, the block's timestamp). This, not `received_at`, decides staleness.
    pub observed_at: SystemTime,
    /// When this process received the reading.
    pub received_at: SystemTime,
    /// The name of the source that produced it.
    pub source: String,
}

impl Observation {
    /// An observation received now.
    pub fn new(feed: FeedId, price: Price, observed_at: SystemTime, source: impl Into<String>) -> Self {
        Self { feed, price, observed_at, received_at: SystemTime::now(), source: source.into() }
    }
}
