//! A source that always answers the same configured price.

use std::time::SystemTime;

use async_trait::async_trait;
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError};

/// Always answers one configured price for one feed, observed "now".
///
/// For tests, and for a feed with no live source yet; its name (`fixed:<feed>`) appears in
/// every observation, log line and alert.
#[derive(Debug, Clone)]
pub struct FixedPriceSource {
    feed: FeedId,
    price: Price,
    name: String,
}

impl FixedPriceSource {
    /// A fixed `price` for `feed`.
    pub fn new(feed: FeedId, price: Price) -> Self {
        let name = format!("fixed:{feed}");
        Self { feed, price, name }
    }
}

#[async_trait]
impl PriceSource for FixedPriceSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        if self.price.is_zero() {
            return Err(SourceError::NonPositive {
                source_name: self.name.clone(),
                feed: feed.clone(),
                answer: self.price.to_string(),
            });
        }
        Ok(Observation::new(feed.clone(), self.price, SystemTime::now(), &self.name))
    }
}
