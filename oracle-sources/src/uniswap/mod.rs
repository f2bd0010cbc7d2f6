//! Uniswap V3 pools as a price source: a TWAP from the pool's own oracle, guarded against thin
//! liquidity and against a spot price that ran away from the average.
//!
//! One fetch reads everything at one block (the latest when the fetch starts), so the price,
//! the guards and the observation time agree:
//!
//! 1. the pool: the configured one, or, through the factory's `getPool` at each fee tier, the
//!    pool with the most in-range `liquidity()` right now (not the first one found);
//! 2. the liquidity floor: less in-range liquidity than the floor is refused as `Manipulated`;
//! 3. the price: by default the TWAP from `observe([window, 0])`: the arithmetic mean tick,
//!    rounded toward negative infinity like Uniswap's `OracleLibrary`, priced with an exact port
//!    of `TickMath` ([`tick_math`]) and exact integer math ([`price_math`]). A pool whose history
//!    does not reach back a whole window is refused with the fix spelled out
//!    (`increaseObservationCardinalityNext`), never silently shortened. Spot (`slot0`) is used
//!    only when [`PriceMode::Spot`] is chosen;
//! 4. the divergence guard (TWAP mode): spot more than `max_divergence_bps` away from the TWAP
//!    is refused as `Manipulated` and logged as "manipulation suspected";
//! 5. the observation time: the block's timestamp.
//!
//! Token order, both tokens' decimals and (with a factory) the pool addresses are read once and
//! cached: they never change for a deployed pool. Pools created after the first fetch are not
//! considered until the source is rebuilt.
//!
//! ```no_run
//! use std::time::Duration;
//! use oracle_core::FeedId;
//! use oracle_sources::uniswap::{PriceMode, UniswapV3Source};
//! # fn demo(provider: alloy::providers::DynProvider) -> Result<(), oracle_sources::Error> {
//! let source = UniswapV3Source::builder(provider, FeedId::new("ELIZAOS/WETH"))
//!     .factory("0x33128a8fC17869897dcE68Ed026d694621f6FDfD".parse().unwrap())
//!     .token("0x000000000000000000000000000000000000e1a0".parse().unwrap())
//!     .quote("0x4200000000000000000000000000000000000006".parse().unwrap())
//!     .window(Duration::from_secs(1800))
//!     .mode(PriceMode::Twap)
//!     .max_divergence_bps(500)
//!     .build()?;
//! # Ok(()) }
//! ```

mod bindings;
mod builder;
mod pool;
pub mod price_math;
#[cfg(test)]
mod props;
pub mod tick_math;
mod twap;

use std::{sync::Mutex, time::Duration};

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
};
use async_trait::async_trait;
use oracle_core::{FeedId, Observation, Price, PriceSource, SourceError, secret::redact_urls};
use tokio::sync::OnceCell;

use self::{bindings::IUniswapV3Pool, builder::PoolLocator, pool::Pair, price_math::price_at_sqrt_ratio};
pub use self::{
    builder::{
        DEFAULT_BLOCK_TIME, DEFAULT_DECIMALS, DEFAULT_FEE_TIERS, DEFAULT_MAX_DIVERGENCE_BPS, DEFAULT_WINDOW,
        PriceMode, UniswapV3SourceBuilder,
    },
    pool::PoolChoice,
};

/// Everything the builder validated.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) provider: DynProvider,
    pub(crate) feed: FeedId,
    pub(crate) locator: PoolLocator,
    pub(crate) token: Address,
    pub(crate) quote: Option<Address>,
    pub(crate) window_secs: u32,
    pub(crate) mode: PriceMode,
    pub(crate) min_depth: Price,
    pub(crate) max_divergence_bps: u64,
    pub(crate) decimals: u8,
    pub(crate) block_time: Duration,
}

/// Prices a token in a quote token (e.g. elizaOS in WETH) from a Uniswap V3 pool; see the
/// [module documentation](self) for what one fetch reads and refuses.
#[derive(Debug)]
pub struct UniswapV3Source {
    settings: Settings,
    name: String,
    pair: OnceCell<Pair>,
    /// With a factory: `(fee, pool)` for every fee tier that has a pool.
    pools: OnceCell<Vec<(u32, Address)>>,
    /// The pool used last, to log when the choice changes.
    last_pool: Mutex<Option<Address>>,
}

/// The block one fetch reads at.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: BlockId,
    number: u64,
    timestamp: u64,
}

impl UniswapV3Source {
    /// Starts configuring a source that answers `feed` (e.g. `ELIZAOS/WETH`).
    pub fn builder(provider: DynProvider, feed: FeedId) -> UniswapV3SourceBuilder {
        UniswapV3SourceBuilder::new(provider, feed)
    }

    pub(crate) fn from_parts(settings: Settings) -> Self {
        let name = format!("uniswap-v3:{}", settings.feed);
        Self { settings, name, pair: OnceCell::new(), pools: OnceCell::new(), last_pool: Mutex::new(None) }
    }

    /// The pool that weighs most in a fetch right now: in TWAP mode the one with the most
    /// in-range liquidity over the window (harmonic mean), in spot mode the one with the most now.
    pub async fn choose_pool(&self) -> Result<PoolChoice, SourceError> {
        let snapshot = self.snapshot().await?;
        let pair = self.pair(snapshot.at).await?;
        match self.settings.mode {
            PriceMode::Spot => self.select_spot_pool(snapshot.at, &pair).await,
            PriceMode::Twap => self.weighted_twap(snapshot, &pair).await.map(|(_, _, dominant, _)| dominant),
        }
    }

    /// Every candidate pool over the TWAP window (its mean tick and harmonic-mean liquidity), and
    /// the weighted mean tick a fetch prices at.
    pub async fn pools_over_window(&self) -> Result<(i32, Vec<PoolChoice>), SourceError> {
        let snapshot = self.snapshot().await?;
        let pair = self.pair(snapshot.at).await?;
        self.weighted_twap(snapshot, &pair).await.map(|(tick, pools, _, _)| (tick, pools))
    }

    fn unreachable(&self, what: &str, error: &dyn std::fmt::Display) -> SourceError {
        SourceError::Unreachable {
            source_name: self.name.clone(),
            reason: format!("{what}: {}", redact_urls(&error.to_string())),
        }
    }

    fn invalid(&self, check: &'static str, detail: String) -> SourceError {
        SourceError::Invalid {
            source_name: self.name.clone(),
            feed: self.settings.feed.clone(),
            check,
            detail,
        }
    }

    fn manipulated(&self, reason: String) -> SourceError {
        SourceError::Manipulated { source_name: self.name.clone(), feed: self.settings.feed.clone(), reason }
    }

    /// The latest block's number and timestamp: every read of one fetch is pinned to it.
    async fn snapshot(&self) -> Result<Snapshot, SourceError> {
        let block = self
            .settings
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.unreachable("reading the latest block", &e))?
            .ok_or_else(|| self.unreachable("reading the latest block", &"the node returned no block"))?;
        let number = block.header.number;
        Ok(Snapshot { at: BlockId::number(number), number, timestamp: block.header.timestamp })
    }

    /// The pool's `slot0` sqrt price at the snapshot.
    async fn sqrt_price(&self, pool: Address, snapshot: Snapshot) -> Result<U256, SourceError> {
        let slot0 = IUniswapV3Pool::new(pool, self.settings.provider.clone())
            .slot0()
            .block(snapshot.at)
            .call()
            .await
            .map_err(|e| self.unreachable(&format!("pool {pool} slot0()"), &e))?;
        Ok(U256::from(slot0.sqrtPriceX96))
    }

    /// The price at a sqrt price, as this source answers it.
    fn price(&self, sqrt_price_x96: U256, pair: &Pair, what: &str) -> Result<Price, SourceError> {
        price_at_sqrt_ratio(sqrt_price_x96, pair.orientation, self.settings.decimals)
            .map_err(|e| self.invalid("pool price", format!("{what}: {e}")))
    }
}

#[async_trait]
impl PriceSource for UniswapV3Source {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        if *feed != self.settings.feed {
            return Err(SourceError::UnsupportedFeed { source_name: self.name.clone(), feed: feed.clone() });
        }
        let snapshot = self.snapshot().await?;
        let pair = self.pair(snapshot.at).await?;
        let (price, choice, spot) = match self.settings.mode {
            PriceMode::Spot => {
                let choice = self.select_spot_pool(snapshot.at, &pair).await?;
                self.check_depth(&[choice], &pair, snapshot.number)?;
                let sqrt = self.sqrt_price(choice.pool, snapshot).await?;
                let spot = self.price(sqrt, &pair, &format!("spot of pool {}", choice.pool))?;
                (spot, choice, spot)
            }
            PriceMode::Twap => {
                let (tick, pools, dominant, sqrt) = self.weighted_twap(snapshot, &pair).await?;
                self.check_depth(&pools, &pair, snapshot.number)?;
                let twap_sqrt = tick_math::sqrt_ratio_at_tick(tick)
                    .map_err(|e| self.invalid("pool observe", format!("weighted mean tick: {e}")))?;
                let twap = self.price(
                    twap_sqrt,
                    &pair,
                    &format!(
                        "{}s TWAP of {} pool(s) (weighted mean tick {tick})",
                        self.settings.window_secs,
                        pools.len()
                    ),
                )?;
                // The guard compares the dominant pool's spot with the weighted TWAP: a thin pool
                // pushed far away cannot veto the feed (it barely weighs), the deep one can.
                let spot = self.price(sqrt, &pair, &format!("spot of pool {}", dominant.pool))?;
                self.check_divergence(
                    dominant.pool,
                    (&spot, sqrt),
                    (&twap, twap_sqrt),
                    &pair,
                    snapshot.number,
                )?;
                (twap, dominant, spot)
            }
        };
        if price.is_zero() {
            return Err(SourceError::NonPositive {
                source_name: self.name.clone(),
                feed: feed.clone(),
                answer: format!(
                    "{price} (pool {}, below one unit at {} decimals)",
                    choice.pool,
                    price.decimals()
                ),
            });
        }
        tracing::debug!(
            source = %self.name, pool = %choice.pool, block = snapshot.number, %price, %spot,
            liquidity = choice.liquidity, "pool price"
        );
        let observed_at = oracle_core::unix_time(snapshot.timestamp).ok_or_else(|| {
            self.invalid(
                "timestamp",
                format!("block {} has timestamp {}", snapshot.number, snapshot.timestamp),
            )
        })?;
        Ok(Observation::new(feed.clone(), price, observed_at, &self.name))
    }
}
