//! Price sources for oracle-updater.
//!
//! Each source implements [`oracle_core::PriceSource`] and refuses, with a typed
//! [`SourceError`](oracle_core::SourceError), a price it cannot vouch for.
//!
//! - [`ChainlinkSource`]: a Chainlink aggregator (`latestRoundData`, `decimals`), optionally
//!   gated by an L2 sequencer-uptime feed.
//! - [`UniswapV3Source`]: a Uniswap V3 pool's TWAP (or, explicitly, spot), with a liquidity floor
//!   and a spot-versus-TWAP divergence guard ([`uniswap`]).
//! - [`CompositeSource`]: the product of two feeds (elizaOS/USD = WETH per elizaOS × ETH/USD).
//! - [`MedianSource`]: the median of several sources of one feed, refused when too few agree.
//! - [`HttpJsonSource`]: a value at a JSON pointer in an HTTP API's answer, parsed exactly.
//! - [`FixedPriceSource`]: a configured constant, for tests and for a feed that has no live
//!   source yet. It says so in its name, so nobody mistakes it for a market price.
//!
//! [`SourceConfig`] describes feeds and their sources declaratively (TOML) and builds them;
//! [`jeju_defaults`] is the Jeju oracle's default configuration from the old bot's inputs.
//!
//! Every price is an exact [`oracle_core::Price`]; every lossy step rounds down, once.
//!
//! ```
//! use oracle_core::{FeedId, Price, PriceSource};
//! use oracle_sources::FixedPriceSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let source = FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::parse("0.10", 8).unwrap());
//! let obs = source.fetch(&FeedId::ELIZAOS_USD).await.unwrap();
//! assert_eq!(obs.price.to_string(), "0.10000000");
//! assert_eq!(obs.source, "fixed:ELIZAOS/USD");
//! # }
//! ```

mod bps;
mod chainlink;
mod composite;
pub mod config;
mod fixed;
mod http_json;
mod median;
mod once_per_tick;
pub mod uniswap;

pub use self::{
    chainlink::{ChainlinkSource, DEFAULT_SEQUENCER_GRACE_PERIOD},
    composite::{CompositeSource, DEFAULT_COMPOSITE_DECIMALS, Leg},
    config::{
        BASE_SEQUENCER_UPTIME_FEED, DEFAULT_ELIZAOS_MIN_DEPTH_WETH, JejuDefaults, Providers, SourceConfig,
        SourceSpec, jeju_defaults,
    },
    fixed::FixedPriceSource,
    http_json::{DEFAULT_HTTP_DECIMALS, DEFAULT_HTTP_TIMEOUT, HttpJsonSource, HttpJsonSourceBuilder},
    median::{DEFAULT_MAX_SPREAD_BPS, MedianSource, MedianSourceBuilder},
    once_per_tick::OncePerTick,
    uniswap::{PriceMode, UniswapV3Source, UniswapV3SourceBuilder},
};

/// Why a source could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong; the message names it.
    #[error("{0}")]
    Config(String),
}

/// The property tests' settings: `PROPTEST_CASES` cases (256 by default), no regression files
/// (a failure found becomes a named regression test instead).
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
