//! [`OncePerTick`]: a source read at most once per engine tick and feed, however many feeds of
//! the tick use it.
//!
//! The Jeju oracle stores ETH/USD and elizaOS/USD, and elizaOS/USD is elizaOS/WETH × ETH/USD.
//! Read twice, Chainlink can answer two different rounds (a new round lands between the reads),
//! and the two stored prices disagree about ETH. Shared through one `OncePerTick`, both feeds
//! get the same observation: the same round.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use oracle_core::{FeedId, Observation, PriceSource, SourceError, current_tick};
use tokio::sync::OnceCell;

type Cell = Arc<OnceCell<Result<Observation, SourceError>>>;

/// Wraps a source so that, within one engine tick ([`oracle_core::current_tick`]), every fetch of
/// a feed after the first gets the first one's answer, concurrent fetches included. Outside a
/// tick every fetch reads. An answer that says the source was unreachable is not kept, so the
/// engine's in-tick retries read again.
///
/// ```
/// use std::sync::Arc;
/// use oracle_core::{FeedId, Price, PriceSource};
/// use oracle_sources::{FixedPriceSource, OncePerTick};
/// let eth: Arc<dyn PriceSource> =
///     Arc::new(OncePerTick::new(Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::whole(3000)))));
/// // Give the same `Arc` to every feed that needs ETH/USD.
/// # let _ = eth;
/// ```
pub struct OncePerTick {
    inner: Arc<dyn PriceSource>,
    name: String,
    cells: Mutex<HashMap<FeedId, (u64, Cell)>>,
}

impl std::fmt::Debug for OncePerTick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OncePerTick").field("inner", &self.inner.name()).finish_non_exhaustive()
    }
}

impl OncePerTick {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn PriceSource>) -> Self {
        let name = inner.name().to_owned();
        Self { inner, name, cells: Mutex::new(HashMap::new()) }
    }

    /// The tick's cell for `feed`, created by the first fetch of the tick.
    fn cell(&self, tick: u64, feed: &FeedId) -> Cell {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        match cells.get(feed) {
            Some((t, cell)) if *t == tick => Arc::clone(cell),
            _ => {
                let cell = Cell::default();
                cells.insert(feed.clone(), (tick, Arc::clone(&cell)));
                cell
            }
        }
    }

    fn forget(&self, tick: u64, feed: &FeedId) {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        if cells.get(feed).is_some_and(|(t, _)| *t == tick) {
            cells.remove(feed);
        }
    }
}

#[async_trait]
impl PriceSource for OncePerTick {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let Some(tick) = current_tick() else { return self.inner.fetch(feed).await };
        let cell = self.cell(tick, feed);
        let answer = cell.get_or_init(|| self.inner.fetch(feed)).await.clone();
        if answer.as_ref().is_err_and(SourceError::is_unreachable) {
            self.forget(tick, feed);
        }
        answer
    }
}
