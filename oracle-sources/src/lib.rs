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
//!
//! The common path, as the bot takes it: feeds from TOML, built over the source chain's provider
//! (`Providers::new(provider)`; a configuration of off-chain sources needs none), then handed to
//! the engine with `EngineBuilder::sources`.
//!
//! ```
//! use oracle_core::FeedId;
//! use oracle_sources::{Providers, SourceConfig};
//!
//! let config = SourceConfig::from_toml_str(r#"
//!     [feeds."ELIZAOS/USD"]
//!     kind = "fixed"
//!     price = "0.10"
//! "#)?;
//! let sources = config.build(&Providers::none())?;
//! assert!(sources.contains_key(&FeedId::ELIZAOS_USD));
//! # Ok::<(), oracle_sources::Error>(())
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

use oracle_core::FeedId;

/// Why a source could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The feed configuration file cannot be read.
    #[error("cannot read {}: {reason}", path.display())]
    ReadFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The feed configuration is not valid TOML, or has an unknown, missing or mistyped key.
    #[error("{origin}: {reason}")]
    Parse {
        /// `feed configuration`, or the file's path.
        origin: String,
        /// The line and the key (secrets in URLs redacted).
        reason: String,
    },
    /// The feed configuration cannot be written as TOML.
    #[error("cannot write the feed configuration: {reason}")]
    Write {
        /// Why.
        reason: String,
    },
    /// An on-chain source names no chain, and no default provider was given.
    #[error("{feed}: an on-chain source needs a provider, and none was given")]
    MissingProvider {
        /// The feed.
        feed: FeedId,
    },
    /// An on-chain source names a chain no provider was given for.
    #[error("{feed}: no provider for chain {chain:?} (known: {known:?})")]
    UnknownChain {
        /// The feed.
        feed: FeedId,
        /// The chain named.
        chain: String,
        /// The chains with a provider.
        known: Vec<String>,
    },
    /// A source's setting is missing, out of range, or contradicts another.
    #[error("{kind} source for {feed}: {setting}: {problem}")]
    InvalidSetting {
        /// The source's kind, as in the feed configuration (`chainlink`, `uniswap_v3`, ...).
        kind: &'static str,
        /// The feed.
        feed: FeedId,
        /// The setting, by its key in the feed configuration (`max_age_s`, `min_sources`, ...).
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A source's HTTP client could not be built (its TLS backend failed to load).
    #[error("{kind} source for {feed}: cannot build the HTTP client: {reason}")]
    HttpClient {
        /// The source's kind.
        kind: &'static str,
        /// The feed.
        feed: FeedId,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// An [`Error::InvalidSetting`].
    pub(crate) fn invalid(
        kind: &'static str,
        feed: &FeedId,
        setting: &'static str,
        problem: impl Into<String>,
    ) -> Self {
        Self::InvalidSetting { kind, feed: feed.clone(), setting, problem: problem.into() }
    }
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
