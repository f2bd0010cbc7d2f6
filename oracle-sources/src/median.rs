//! Several sources for one feed, answered by their median, refused when too few agree.

use std::{fmt::Write as _, sync::Arc};

use async_trait::async_trait;
use futures_util::future::join_all;
use oracle_core::{FeedId, Observation, PriceSource, SourceError};

use crate::{
    Error,
    bps::{by_value, exceeds_bps, gap_bps},
};

/// The default largest gap from the median, in basis points, for a source to count as agreeing.
pub const DEFAULT_MAX_SPREAD_BPS: u64 = 200;

/// The median of several sources of one feed.
///
/// The rule, in order:
///
/// 1. every source is asked concurrently; a source that refuses (unreachable, stale,
///    manipulated, ...) is left out and logged;
/// 2. fewer than `min_sources` answers: refused. If every missing answer was `Unreachable` the
///    refusal is `Unreachable` too (retrying may help); otherwise `Invalid { check: "median
///    sources" }` listing each refusal;
/// 3. the median of the answers, by value: the middle one, or for an even count the **lower**
///    of the two middle ones (always a price some source really reported; nothing is averaged or
///    rounded);
/// 4. a source *agrees* when it is at most `max_spread_bps` away from the median (`|p − m| ×
///    10000 ≤ max_spread_bps × m`, exactly). Fewer than `min_sources` agreeing: refused as
///    `Manipulated`, naming every source with its gap from the median in bps;
/// 5. otherwise the median is the answer (sources that disagreed are logged), observed at the
///    oldest time among the agreeing sources.
#[derive(Clone)]
pub struct MedianSource {
    feed: FeedId,
    sources: Vec<Arc<dyn PriceSource>>,
    min_sources: usize,
    max_spread_bps: u64,
    name: String,
}

impl std::fmt::Debug for MedianSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedianSource")
            .field("feed", &self.feed)
            .field("sources", &self.sources.iter().map(|s| s.name().to_owned()).collect::<Vec<_>>())
            .field("min_sources", &self.min_sources)
            .field("max_spread_bps", &self.max_spread_bps)
            .finish()
    }
}

/// Builds a [`MedianSource`]; see [`MedianSource::builder`].
#[derive(Clone)]
#[must_use]
pub struct MedianSourceBuilder {
    feed: FeedId,
    sources: Vec<Arc<dyn PriceSource>>,
    min_sources: Option<usize>,
    max_spread_bps: u64,
}

// By hand: the sources are trait objects, shown by name.
impl std::fmt::Debug for MedianSourceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedianSourceBuilder")
            .field("feed", &self.feed)
            .field("sources", &self.sources.iter().map(|s| s.name().to_owned()).collect::<Vec<_>>())
            .field("min_sources", &self.min_sources)
            .field("max_spread_bps", &self.max_spread_bps)
            .finish()
    }
}

impl MedianSourceBuilder {
    /// Adds a source (asked for the same feed).
    pub fn source(mut self, source: Arc<dyn PriceSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds several sources.
    pub fn sources(mut self, sources: impl IntoIterator<Item = Arc<dyn PriceSource>>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// The fewest answering and agreeing sources (default: a majority of the sources).
    pub fn min_sources(mut self, n: usize) -> Self {
        self.min_sources = Some(n);
        self
    }

    /// The largest gap from the median for a source to agree (default
    /// [`DEFAULT_MAX_SPREAD_BPS`]).
    pub fn max_spread_bps(mut self, bps: u64) -> Self {
        self.max_spread_bps = bps;
        self
    }

    /// Checks the settings and builds the source.
    pub fn build(self) -> Result<MedianSource, Error> {
        let n = self.sources.len();
        if n == 0 {
            return Err(Error::invalid("median", &self.feed, "sources", "no sources"));
        }
        let min_sources = self.min_sources.unwrap_or(n / 2 + 1);
        if min_sources == 0 || min_sources > n {
            return Err(Error::invalid(
                "median",
                &self.feed,
                "min_sources",
                format!("min_sources {min_sources} must be between 1 and the {n} source(s)"),
            ));
        }
        let name = format!("median:{}", self.feed);
        Ok(MedianSource {
            feed: self.feed,
            sources: self.sources,
            min_sources,
            max_spread_bps: self.max_spread_bps,
            name,
        })
    }
}

impl MedianSource {
    /// Starts configuring the median of sources for `feed`.
    pub fn builder(feed: FeedId) -> MedianSourceBuilder {
        MedianSourceBuilder {
            feed,
            sources: Vec::new(),
            min_sources: None,
            max_spread_bps: DEFAULT_MAX_SPREAD_BPS,
        }
    }

    fn refusals_text(refusals: &[SourceError]) -> String {
        let mut text = String::new();
        for (i, e) in refusals.iter().enumerate() {
            let _ = write!(text, "{}{e}", if i == 0 { "" } else { "; " });
        }
        text
    }
}

#[async_trait]
impl PriceSource for MedianSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        let results = join_all(self.sources.iter().map(|s| s.fetch(feed))).await;
        let mut answers = Vec::with_capacity(results.len());
        let mut refusals = Vec::new();
        for result in results {
            match result {
                Ok(obs) => answers.push(obs),
                Err(e) => {
                    tracing::warn!(source = %self.name, error = %e, "a median source refused; left out");
                    refusals.push(e);
                }
            }
        }
        if answers.len() < self.min_sources {
            let detail = format!(
                "{} of {} source(s) answered, {} needed: {}",
                answers.len(),
                self.sources.len(),
                self.min_sources,
                Self::refusals_text(&refusals)
            );
            return Err(if refusals.iter().all(SourceError::is_unreachable) {
                SourceError::Unreachable { source_name: self.name.clone(), reason: detail }
            } else {
                SourceError::Invalid {
                    source_name: self.name.clone(),
                    feed: feed.clone(),
                    check: "median sources",
                    detail,
                }
            });
        }
        answers.sort_by(|a, b| by_value(&a.price, &b.price));
        // Lower middle for an even count: index (n - 1) / 2.
        let median = answers[(answers.len() - 1) / 2].clone();
        let (agreeing, disagreeing): (Vec<_>, Vec<_>) =
            answers.iter().partition(|obs| !exceeds_bps(&median.price, &obs.price, self.max_spread_bps));
        let gaps = || {
            answers
                .iter()
                .map(|o| format!("{} = {} ({} bps)", o.source, o.price, gap_bps(&median.price, &o.price)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if agreeing.len() < self.min_sources {
            return Err(SourceError::Manipulated {
                source_name: self.name.clone(),
                feed: feed.clone(),
                reason: format!(
                    "only {} of {} source(s) within {} bps of the median {} ({} needed): {}",
                    agreeing.len(),
                    answers.len(),
                    self.max_spread_bps,
                    median.price,
                    self.min_sources,
                    gaps()
                ),
            });
        }
        if !disagreeing.is_empty() {
            tracing::warn!(
                source = %self.name, median = %median.price, max_spread_bps = self.max_spread_bps,
                "sources outside the spread were outvoted: {}", gaps()
            );
        }
        let observed_at = agreeing.iter().map(|o| o.observed_at).min().unwrap_or(median.observed_at);
        let mut obs = Observation::new(feed.clone(), median.price, observed_at, &self.name);
        obs.source = format!("{} (median: {})", self.name, median.source);
        Ok(obs)
    }
}
