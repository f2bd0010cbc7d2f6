//! Price sources for oracle-updater.
//!
//! Each source implements [`oracle_core::PriceSource`] and refuses, with a typed
//! [`SourceError`](oracle_core::SourceError), a price it cannot vouch for.
//!
//! - [`ChainlinkSource`]: a Chainlink aggregator (`latestRoundData`, `decimals`).
//! - [`FixedPriceSource`]: a configured constant, for tests and for a feed that has no live
//!   source yet. It says so in its name, so nobody mistakes it for a market price.
//!
//! The Uniswap V3 TWAP source, composite and median feeds and the HTTP JSON source arrive in
//! later releases.
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

mod chainlink;
mod fixed;

pub use self::{chainlink::ChainlinkSource, fixed::FixedPriceSource};

/// Why a source could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong; the message names it.
    #[error("{0}")]
    Config(String),
}
