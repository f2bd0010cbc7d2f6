//! Configuring a [`UniswapV3Source`]: which pool, which tokens, TWAP or spot, and the guards.

use std::time::Duration;

use alloy::{primitives::Address, providers::DynProvider};
use oracle_core::{FeedId, MAX_DECIMALS, Price};

use super::UniswapV3Source;
use crate::Error;

/// The fee tiers searched by default (0.05%, 0.3%, 1%), in hundredths of a basis point.
pub const DEFAULT_FEE_TIERS: [u32; 3] = [500, 3000, 10_000];
/// The default TWAP window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 60);
/// The default largest gap between spot and TWAP before a pool is suspected of manipulation.
pub const DEFAULT_MAX_DIVERGENCE_BPS: u64 = 1_000;
/// The default number of decimals of the prices a pool source answers.
pub const DEFAULT_DECIMALS: u8 = 18;
/// The default block time used to suggest an observation cardinality (Base and other OP-stack
/// chains make a block every 2 s).
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(2);

/// Fees at or above 100% are not fee tiers (`uint24`, hundredths of a basis point).
const MAX_FEE: u32 = 1_000_000;

/// Which price of the pool is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceMode {
    /// The time-weighted average over the window, from `observe([window, 0])`; refused when the
    /// pool's history does not cover the window, and when spot has run away from it.
    #[default]
    Twap,
    /// The current `slot0` price, which a single swap can move. Only for pools without enough
    /// observation history, and only when chosen explicitly; the divergence guard is not applied.
    Spot,
}

/// Where the pool comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolLocator {
    /// Every pool of the pair at these fee tiers; the one with the most in-range liquidity wins.
    Factory { factory: Address, fee_tiers: Vec<u32> },
    /// One configured pool.
    Pool(Address),
}

/// Builds a [`UniswapV3Source`]; see [`UniswapV3Source::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct UniswapV3SourceBuilder {
    provider: DynProvider,
    feed: FeedId,
    factory: Option<Address>,
    pool: Option<Address>,
    token: Option<Address>,
    quote: Option<Address>,
    fee_tiers: Vec<u32>,
    window: Duration,
    mode: PriceMode,
    min_depth: Option<Price>,
    max_divergence_bps: u64,
    decimals: u8,
    block_time: Duration,
}

impl UniswapV3SourceBuilder {
    pub(crate) fn new(provider: DynProvider, feed: FeedId) -> Self {
        Self {
            provider,
            feed,
            factory: None,
            pool: None,
            token: None,
            quote: None,
            fee_tiers: DEFAULT_FEE_TIERS.to_vec(),
            window: DEFAULT_WINDOW,
            mode: PriceMode::Twap,
            min_depth: None,
            max_divergence_bps: DEFAULT_MAX_DIVERGENCE_BPS,
            decimals: DEFAULT_DECIMALS,
            block_time: DEFAULT_BLOCK_TIME,
        }
    }

    /// Finds the pool through this factory's `getPool` (needs [`quote`](Self::quote)).
    pub fn factory(mut self, factory: Address) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Uses this pool; [`token`](Self::token) must be one of its tokens.
    pub fn pool(mut self, pool: Address) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The token priced (the base).
    pub fn token(mut self, token: Address) -> Self {
        self.token = Some(token);
        self
    }

    /// The token it is priced in (WETH for elizaOS). Required with a factory; with a pool, when
    /// given, it must be the pool's other token.
    pub fn quote(mut self, quote: Address) -> Self {
        self.quote = Some(quote);
        self
    }

    /// The fee tiers searched through the factory (default [`DEFAULT_FEE_TIERS`]).
    pub fn fee_tiers(mut self, tiers: impl IntoIterator<Item = u32>) -> Self {
        self.fee_tiers = tiers.into_iter().collect();
        self
    }

    /// The TWAP window, whole seconds (default [`DEFAULT_WINDOW`]).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// TWAP (default) or spot.
    pub fn mode(mut self, mode: PriceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Required: the least depth the pools may have, in whole quote tokens (e.g. `50` for "50
    /// WETH"): the quote token's virtual reserve of the pools' in-range liquidity, time-weighted
    /// over the window in TWAP mode (the liquidity's harmonic mean at each pool's mean tick,
    /// summed over the pools), at the current block in spot mode. Shallower pools are refused as
    /// `Manipulated`. There is no default: what is deep enough depends on the quote token's value;
    /// `Price::zero(0)` says "any depth" explicitly.
    pub fn min_depth(mut self, floor: Price) -> Self {
        self.min_depth = Some(floor);
        self
    }

    /// Refuse (`Manipulated`) when spot and TWAP are more than this many basis points apart
    /// (TWAP mode only; default [`DEFAULT_MAX_DIVERGENCE_BPS`]).
    pub fn max_divergence_bps(mut self, bps: u64) -> Self {
        self.max_divergence_bps = bps;
        self
    }

    /// Decimals of the answered price (default [`DEFAULT_DECIMALS`]).
    pub fn decimals(mut self, decimals: u8) -> Self {
        self.decimals = decimals;
        self
    }

    /// The chain's block time, used only to suggest an observation cardinality when the
    /// history is too short (default [`DEFAULT_BLOCK_TIME`]).
    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.block_time = block_time;
        self
    }

    /// Checks the settings and builds the source. Nothing is read from the chain yet.
    pub fn build(self) -> Result<UniswapV3Source, Error> {
        let feed = &self.feed;
        let config = |setting: &'static str, msg: String| Error::invalid("uniswap_v3", feed, setting, msg);
        let token = self.token.ok_or_else(|| config("token", "the priced token is not set".into()))?;
        let locator = match (self.factory, self.pool) {
            (Some(_), Some(_)) => {
                return Err(config("pool", "set either a factory or a pool, not both".into()));
            }
            (None, None) => return Err(config("pool", "set a factory (with fee tiers) or a pool".into())),
            (None, Some(pool)) => PoolLocator::Pool(pool),
            (Some(factory), None) => {
                if self.quote.is_none() {
                    return Err(config("quote", "a factory needs the quote token (e.g. WETH)".into()));
                }
                let mut fee_tiers = Vec::with_capacity(self.fee_tiers.len());
                for fee in self.fee_tiers {
                    if fee == 0 || fee >= MAX_FEE {
                        return Err(config(
                            "fee_tiers",
                            format!("fee tier {fee} is not a fee (1..{MAX_FEE})"),
                        ));
                    }
                    if !fee_tiers.contains(&fee) {
                        fee_tiers.push(fee);
                    }
                }
                if fee_tiers.is_empty() {
                    return Err(config("fee_tiers", "no fee tiers to search".into()));
                }
                PoolLocator::Factory { factory, fee_tiers }
            }
        };
        if self.quote == Some(token) {
            return Err(config("quote", format!("token and quote are the same address {token}")));
        }
        if self.window.subsec_nanos() != 0 || self.window.is_zero() {
            return Err(config(
                "window_s",
                format!("the TWAP window must be whole seconds ≥ 1, got {:?}", self.window),
            ));
        }
        let window_secs = u32::try_from(self.window.as_secs()).map_err(|_| {
            config("window_s", format!("the TWAP window {}s is too long", self.window.as_secs()))
        })?;
        if self.decimals > MAX_DECIMALS {
            return Err(config("decimals", format!("{} decimals, at most {MAX_DECIMALS}", self.decimals)));
        }
        if self.block_time.is_zero() {
            return Err(config("block_time_ms", "the block time must be positive".into()));
        }
        let min_depth = self.min_depth.ok_or_else(|| {
            config(
                "min_depth",
                "set min_depth: the least in-range liquidity, in quote tokens (time-weighted over the \
                 window), below which the price is refused (e.g. 50 for a WETH quote)"
                    .into(),
            )
        })?;
        Ok(UniswapV3Source::from_parts(super::Settings {
            provider: self.provider,
            feed: self.feed,
            locator,
            token,
            quote: self.quote,
            window_secs,
            mode: self.mode,
            min_depth,
            max_divergence_bps: self.max_divergence_bps,
            decimals: self.decimals,
            block_time: self.block_time,
        }))
    }
}
