//! Turning a [`SourceConfig`] into sources.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use alloy::providers::DynProvider;
use oracle_core::{FeedId, Price, PriceSource};

use super::{
    ChainlinkSpec, CompositeSpec, FixedSpec, HttpJsonSpec, MedianSpec, SourceConfig, SourceSpec,
    UniswapV3Spec,
};
use crate::{
    ChainlinkSource, CompositeSource, Error, FixedPriceSource, HttpJsonSource, Leg, MedianSource,
    chainlink::DEFAULT_SEQUENCER_GRACE_PERIOD, uniswap::UniswapV3Source,
};

/// The default oldest Chainlink round accepted.
const DEFAULT_CHAINLINK_MAX_AGE_S: u64 = 3600;
/// The default decimals of a fixed price (Chainlink's USD format).
const DEFAULT_FIXED_DECIMALS: u8 = 8;

/// The chains' providers that on-chain sources read with: a default one and named ones (the
/// `chain` key of a source).
#[derive(Clone, Default)]
pub struct Providers {
    default: Option<DynProvider>,
    chains: BTreeMap<String, DynProvider>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("default", &self.default.is_some())
            .field("chains", &self.chains.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Providers {
    /// Providers with `default` for sources that name no chain.
    pub fn new(default: DynProvider) -> Self {
        Self { default: Some(default), chains: BTreeMap::new() }
    }

    /// No provider at all: enough for HTTP and fixed sources only.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a provider for sources with `chain = "<name>"`.
    #[must_use]
    pub fn with_chain(mut self, name: impl Into<String>, provider: DynProvider) -> Self {
        self.chains.insert(name.into(), provider);
        self
    }

    fn get(&self, chain: Option<&str>, feed: &FeedId) -> Result<DynProvider, Error> {
        match chain {
            None => self.default.clone().ok_or_else(|| Error::MissingProvider { feed: feed.clone() }),
            Some(name) => self.chains.get(name).cloned().ok_or_else(|| Error::UnknownChain {
                feed: feed.clone(),
                chain: name.to_owned(),
                known: self.chains.keys().cloned().collect(),
            }),
        }
    }
}

/// Chainlink sources already built, by what they read: one instance per aggregator and feed,
/// shared by every feed that uses it.
#[derive(Default)]
struct Shared(BTreeMap<String, Arc<dyn PriceSource>>);

impl SourceConfig {
    /// Builds one source per feed. Nothing is read from any chain or API yet.
    ///
    /// A Chainlink aggregator used by several feeds (ETH/USD alone and inside the elizaOS/USD
    /// composite) is built once and read once per engine tick ([`crate::OncePerTick`]), so every
    /// feed of a tick sees the same round.
    pub fn build(&self, providers: &Providers) -> Result<BTreeMap<FeedId, Arc<dyn PriceSource>>, Error> {
        let mut shared = Shared::default();
        self.feeds
            .iter()
            .map(|(feed, spec)| Ok((feed.clone(), spec.build_shared(feed, providers, &mut shared)?)))
            .collect()
    }
}

impl SourceSpec {
    /// Builds this source to answer `feed`.
    pub fn build(&self, feed: &FeedId, providers: &Providers) -> Result<Arc<dyn PriceSource>, Error> {
        self.build_shared(feed, providers, &mut Shared::default())
    }

    fn build_shared(
        &self,
        feed: &FeedId,
        providers: &Providers,
        shared: &mut Shared,
    ) -> Result<Arc<dyn PriceSource>, Error> {
        Ok(match self {
            Self::Chainlink(spec) => {
                let key = format!("{feed}|{spec:?}");
                if let Some(source) = shared.0.get(&key) {
                    return Ok(Arc::clone(source));
                }
                let source: Arc<dyn PriceSource> =
                    Arc::new(crate::OncePerTick::new(Arc::new(chainlink(spec, feed, providers)?)));
                shared.0.insert(key, Arc::clone(&source));
                source
            }
            Self::UniswapV3(spec) => Arc::new(uniswap(spec, feed, providers)?),
            Self::Composite(spec) => Arc::new(composite(spec, feed, providers, shared)?),
            Self::Median(spec) => Arc::new(median(spec, feed, providers, shared)?),
            Self::HttpJson(spec) => Arc::new(http_json(spec, feed)?),
            Self::Fixed(spec) => Arc::new(fixed(spec, feed)?),
        })
    }
}

fn chainlink(spec: &ChainlinkSpec, feed: &FeedId, providers: &Providers) -> Result<ChainlinkSource, Error> {
    let provider = providers.get(spec.chain.as_deref(), feed)?;
    let max_age = spec.max_age_s.unwrap_or(DEFAULT_CHAINLINK_MAX_AGE_S);
    if max_age == 0 {
        return Err(Error::invalid("chainlink", feed, "max_age_s", "must be positive"));
    }
    let source = ChainlinkSource::new(provider, spec.address, feed.clone(), Duration::from_secs(max_age));
    Ok(match (spec.sequencer_uptime_feed, spec.grace_period_s) {
        (Some(uptime), grace) => source.with_sequencer_uptime_feed(
            uptime,
            grace.map_or(DEFAULT_SEQUENCER_GRACE_PERIOD, Duration::from_secs),
        ),
        (None, Some(_)) => {
            return Err(Error::invalid("chainlink", feed, "grace_period_s", "needs sequencer_uptime_feed"));
        }
        (None, None) => source,
    })
}

fn uniswap(spec: &UniswapV3Spec, feed: &FeedId, providers: &Providers) -> Result<UniswapV3Source, Error> {
    let mut builder = UniswapV3Source::builder(providers.get(spec.chain.as_deref(), feed)?, feed.clone())
        .token(spec.token)
        .mode(spec.mode);
    if let Some(factory) = spec.factory {
        builder = builder.factory(factory);
    }
    if let Some(pool) = spec.pool {
        builder = builder.pool(pool);
    }
    if let Some(quote) = spec.quote {
        builder = builder.quote(quote);
    }
    if let Some(tiers) = &spec.fee_tiers {
        builder = builder.fee_tiers(tiers.iter().copied());
    }
    if let Some(window) = spec.window_s {
        builder = builder.window(Duration::from_secs(u64::from(window)));
    }
    if let Some(floor) = spec.min_depth {
        builder = builder.min_depth(floor.0);
    }
    if let Some(bps) = spec.max_divergence_bps {
        builder = builder.max_divergence_bps(bps);
    }
    if let Some(decimals) = spec.decimals {
        builder = builder.decimals(decimals);
    }
    if let Some(ms) = spec.block_time_ms {
        builder = builder.block_time(Duration::from_millis(ms));
    }
    builder.build()
}

fn composite(
    spec: &CompositeSpec,
    feed: &FeedId,
    providers: &Providers,
    shared: &mut Shared,
) -> Result<CompositeSource, Error> {
    let a = Leg::new(spec.a.feed.clone(), spec.a.source.build_shared(&spec.a.feed, providers, shared)?);
    let b = Leg::new(spec.b.feed.clone(), spec.b.source.build_shared(&spec.b.feed, providers, shared)?);
    let source = CompositeSource::new(feed.clone(), a, b);
    match spec.decimals {
        Some(decimals) => source.with_decimals(decimals),
        None => Ok(source),
    }
}

fn median(
    spec: &MedianSpec,
    feed: &FeedId,
    providers: &Providers,
    shared: &mut Shared,
) -> Result<MedianSource, Error> {
    let mut builder = MedianSource::builder(feed.clone());
    for source in &spec.sources {
        builder = builder.source(source.build_shared(feed, providers, shared)?);
    }
    if let Some(n) = spec.min_sources {
        builder = builder.min_sources(n);
    }
    if let Some(bps) = spec.max_spread_bps {
        builder = builder.max_spread_bps(bps);
    }
    builder.build()
}

fn http_json(spec: &HttpJsonSpec, feed: &FeedId) -> Result<HttpJsonSource, Error> {
    let mut builder = HttpJsonSource::builder(feed.clone(), spec.url.clone()).pointer(spec.pointer.clone());
    if let Some(decimals) = spec.decimals {
        builder = builder.decimals(decimals);
    }
    if let Some(secs) = spec.timeout_s {
        builder = builder.timeout(Duration::from_secs(secs));
    }
    builder.build()
}

fn fixed(spec: &FixedSpec, feed: &FeedId) -> Result<FixedPriceSource, Error> {
    let decimals = spec.decimals.unwrap_or(DEFAULT_FIXED_DECIMALS);
    let price = Price::parse(&spec.price, decimals)
        .map_err(|e| Error::invalid("fixed", feed, "price", e.to_string()))?;
    if price.is_zero() {
        return Err(Error::invalid("fixed", feed, "price", "must be positive"));
    }
    Ok(FixedPriceSource::new(feed.clone(), price))
}
