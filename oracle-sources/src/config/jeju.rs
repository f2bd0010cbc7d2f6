//! The Jeju oracle's default feeds, from the old bot's inputs.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use alloy::primitives::{Address, address};
use oracle_core::{FeedId, Price, PriceSource};

use super::{
    ChainlinkSpec, CompositeSpec, Depth, LegSpec, Providers, SourceConfig, SourceSpec, UniswapV3Spec,
};
use crate::{Error, uniswap::PriceMode};

/// Uniswap V3's factory on Base.
pub const BASE_UNISWAP_V3_FACTORY: Address = address!("33128a8fC17869897dcE68Ed026d694621f6FDfD");
/// WETH on Base (and every OP-stack chain).
pub const BASE_WETH: Address = address!("4200000000000000000000000000000000000006");
/// Chainlink's L2 sequencer-uptime feed on Base mainnet (answer 0: up, 1: down). Source:
/// Chainlink's documentation, "L2 Sequencer Uptime Feeds", Available networks, "BASE mainnet"
/// (docs.chain.link/data-feeds/l2-sequencer-feeds; smartcontractkit/documentation,
/// `src/content/data-feeds/l2-sequencer-feeds.mdx`).
pub const BASE_SEQUENCER_UPTIME_FEED: Address = address!("BCF85224fc0756B9Fa45aA7892530B47e10b6433");

/// Chainlink's ETH/USD aggregator on Base.
pub const BASE_CHAINLINK_ETH_USD: Address = address!("71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70");
/// The default depth floor of the elizaOS/WETH pools: 50 WETH of in-range liquidity,
/// time-weighted over the TWAP window. Holding a pool's price off its market for a whole window
/// against arbitrage costs a multiple of its depth; at 50 WETH (about $150k at $3000) that is far
/// more than a paymaster's conversions at a skewed rate could pay back in one 50% step.
pub const DEFAULT_ELIZAOS_MIN_DEPTH_WETH: u64 = 50;

fn default_min_depth() -> Price {
    Price::whole(DEFAULT_ELIZAOS_MIN_DEPTH_WETH)
}

/// The intermediate feed of the default elizaOS/USD composite: WETH per elizaOS, from the pool.
pub const ELIZAOS_WETH: FeedId = FeedId::from_static("ELIZAOS/WETH");

/// The Jeju default feeds for an elizaOS token on Base; see [`jeju_defaults`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct JejuDefaults {
    elizaos_token: Address,
    factory: Address,
    weth: Address,
    chainlink_eth_usd: Address,
    chainlink_max_age: Duration,
    sequencer: Option<(Address, Duration)>,
    window: Option<Duration>,
    mode: PriceMode,
    min_depth: Price,
    max_divergence_bps: Option<u64>,
}

/// The Jeju default feeds, from the old bot's inputs (`ELIZAOS_TOKEN_BASE`, the Chainlink
/// aggregator and its maximum age):
///
/// - `ETH/USD`: Chainlink's aggregator on Base (default [`BASE_CHAINLINK_ETH_USD`]);
/// - `ELIZAOS/USD` = `ELIZAOS/WETH` × `ETH/USD`: the 30-minute TWAP of the elizaOS/WETH pools at
///   fee tiers 500, 3000 and 10000 of the Uniswap V3 factory ([`BASE_UNISWAP_V3_FACTORY`], WETH
///   [`BASE_WETH`]), weighted by the liquidity each held over the window, refused below
///   [`DEFAULT_ELIZAOS_MIN_DEPTH_WETH`] WETH of depth; times the same Chainlink feed, read once
///   per tick for both feeds;
/// - Chainlink gated on Base's sequencer-uptime feed ([`BASE_SEQUENCER_UPTIME_FEED`]).
///
/// ```
/// use oracle_core::FeedId;
/// let config = oracle_sources::jeju_defaults("0x000000000000000000000000000000000000e1a0".parse().unwrap()).config();
/// assert!(config.feeds.contains_key(&FeedId::ETH_USD));
/// assert!(config.feeds.contains_key(&FeedId::ELIZAOS_USD));
/// ```
pub fn jeju_defaults(elizaos_token: Address) -> JejuDefaults {
    JejuDefaults {
        elizaos_token,
        factory: BASE_UNISWAP_V3_FACTORY,
        weth: BASE_WETH,
        chainlink_eth_usd: BASE_CHAINLINK_ETH_USD,
        chainlink_max_age: Duration::from_secs(3600),
        // On by default: Chainlink's answers on an L2 are stale-but-fresh-looking while its
        // sequencer is down, and for a while after it comes back.
        sequencer: Some((BASE_SEQUENCER_UPTIME_FEED, crate::DEFAULT_SEQUENCER_GRACE_PERIOD)),
        window: None,
        mode: PriceMode::Twap,
        min_depth: default_min_depth(),
        max_divergence_bps: None,
    }
}

impl JejuDefaults {
    /// Another Uniswap V3 factory (tests, other chains).
    pub fn factory(mut self, factory: Address) -> Self {
        self.factory = factory;
        self
    }

    /// Another WETH.
    pub fn weth(mut self, weth: Address) -> Self {
        self.weth = weth;
        self
    }

    /// Another ETH/USD aggregator.
    pub fn chainlink_eth_usd(mut self, aggregator: Address) -> Self {
        self.chainlink_eth_usd = aggregator;
        self
    }

    /// The oldest ETH/USD round accepted (default 1 hour).
    pub fn chainlink_max_age(mut self, max_age: Duration) -> Self {
        self.chainlink_max_age = max_age;
        self
    }

    /// Gates Chainlink on this L2 sequencer-uptime feed (default: Base's,
    /// [`BASE_SEQUENCER_UPTIME_FEED`], with the default grace period).
    pub fn sequencer_uptime_feed(mut self, feed: Address, grace_period: Duration) -> Self {
        self.sequencer = Some((feed, grace_period));
        self
    }

    /// Turns the sequencer check off: only for a chain without a sequencer (an L1, a test chain).
    pub fn without_sequencer_check(mut self) -> Self {
        self.sequencer = None;
        self
    }

    /// The TWAP window (default 30 minutes).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// TWAP (default) or, explicitly, spot.
    pub fn mode(mut self, mode: PriceMode) -> Self {
        self.mode = mode;
        self
    }

    /// The pools' least depth in WETH, time-weighted over the window (default
    /// [`DEFAULT_ELIZAOS_MIN_DEPTH_WETH`]).
    pub fn min_depth(mut self, floor: Price) -> Self {
        self.min_depth = floor;
        self
    }

    /// The largest spot-versus-TWAP gap.
    pub fn max_divergence_bps(mut self, bps: u64) -> Self {
        self.max_divergence_bps = Some(bps);
        self
    }

    /// The configuration, to inspect, print as TOML or adjust.
    pub fn config(&self) -> SourceConfig {
        let eth_usd = SourceSpec::Chainlink(ChainlinkSpec {
            chain: None,
            address: self.chainlink_eth_usd,
            max_age_s: Some(self.chainlink_max_age.as_secs()),
            sequencer_uptime_feed: self.sequencer.map(|(feed, _)| feed),
            grace_period_s: self.sequencer.map(|(_, grace)| grace.as_secs()),
        });
        let pool = SourceSpec::UniswapV3(UniswapV3Spec {
            chain: None,
            factory: Some(self.factory),
            pool: None,
            token: self.elizaos_token,
            quote: Some(self.weth),
            fee_tiers: None,
            window_s: self.window.map(|w| u32::try_from(w.as_secs()).unwrap_or(u32::MAX)),
            mode: self.mode,
            min_depth: Some(Depth(self.min_depth)),
            max_divergence_bps: self.max_divergence_bps,
            decimals: None,
            block_time_ms: None,
        });
        let eliza_usd = SourceSpec::Composite(CompositeSpec {
            a: Box::new(LegSpec { feed: ELIZAOS_WETH, source: pool }),
            b: Box::new(LegSpec { feed: FeedId::ETH_USD, source: eth_usd.clone() }),
            decimals: None,
        });
        SourceConfig { feeds: BTreeMap::from([(FeedId::ETH_USD, eth_usd), (FeedId::ELIZAOS_USD, eliza_usd)]) }
    }

    /// Builds the two feeds' sources.
    pub fn build(&self, providers: &Providers) -> Result<BTreeMap<FeedId, Arc<dyn PriceSource>>, Error> {
        self.config().build(providers)
    }
}
