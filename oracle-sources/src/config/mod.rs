//! Declarative feed configuration: which sources price which feed, in TOML.
//!
//! A [`SourceConfig`] maps feed ids to a source description; [`SourceConfig::build`] turns each
//! into an `Arc<dyn PriceSource>` with the chains' providers. Sources nest: a `composite`
//! multiplies two legs, each a source asked for its own feed; a `median` takes several sources
//! of the same feed. Every key not listed here is an error (typos must not silently fall back to
//! a default).
//!
//! | `kind` | keys (defaults) |
//! |---|---|
//! | `chainlink` | `address`, `max_age_s` (3600), `sequencer_uptime_feed` (none), `grace_period_s` (3600), `chain` |
//! | `uniswap_v3` | `factory` **or** `pool`, `token`, `quote` (required with `factory`), `fee_tiers` ([500, 3000, 10000]), `window_s` (1800), `mode` (`"twap"` or `"spot"`, `"twap"`), `min_depth` (**required**: the pools' least in-range liquidity in whole quote tokens, time-weighted over the window, e.g. `50` for 50 WETH; integer or decimal string), `max_divergence_bps` (1000), `decimals` (18), `block_time_ms` (2000), `chain` |
//! | `composite` | `a`, `b` (tables: `feed` plus a source), `decimals` (18) |
//! | `median` | `sources` (array of sources), `min_sources` (a majority), `max_spread_bps` (200) |
//! | `http_json` | `url`, `pointer` (`""`), `decimals` (8), `timeout_s` (10) |
//! | `fixed` | `price` (decimal string), `decimals` (8) |
//!
//! `chain` names a provider given to [`Providers::with_chain`]; without it the default provider
//! is used. A sample, parsed by this crate's tests, is `oracle-sources/examples/feeds.toml`:
//!
//! ```toml
#![doc = include_str!("../../examples/feeds.toml")]
//! ```

mod build;
mod jeju;

use std::{collections::BTreeMap, fmt, path::Path};

use alloy::primitives::Address;
use oracle_core::{FeedId, Price};
use serde::{Deserialize, Serialize};

pub use self::{
    build::Providers,
    jeju::{
        BASE_CHAINLINK_ETH_USD, BASE_SEQUENCER_UPTIME_FEED, BASE_UNISWAP_V3_FACTORY, BASE_WETH,
        DEFAULT_ELIZAOS_MIN_DEPTH_WETH, ELIZAOS_WETH, JejuDefaults, jeju_defaults,
    },
};
use crate::{Error, uniswap::PriceMode};

/// Feeds and the sources that price them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// One source description per feed id (`"ETH/USD"`, `"ELIZAOS/USD"`).
    #[serde(default)]
    pub feeds: BTreeMap<FeedId, SourceSpec>,
}

impl SourceConfig {
    /// Parses TOML; the error names the line and the key.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        toml::from_str(text)
            .map_err(|e| Error::Parse { origin: "feed configuration".into(), reason: toml_error(text, &e) })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::ReadFile { path: path.to_owned(), reason: e.to_string() })?;
        toml::from_str(&text)
            .map_err(|e| Error::Parse { origin: path.display().to_string(), reason: toml_error(&text, &e) })
    }

    /// The configuration as TOML.
    pub fn to_toml_string(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::Write { reason: e.to_string() })
    }
}

/// A TOML error as `line L, column C: message`, without the quoted source line `toml` prints by
/// default (that line may hold an API key in a URL), and with any URL in the message reduced to
/// its scheme, host and port.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    format!("{}{}", at.unwrap_or_default(), oracle_core::secret::redact_urls(e.message().trim()))
}

/// One source, by kind.
// Deserialized by hand (`spec_from_table`): serde's internally tagged enums buffer their content
// and lose the key name in errors ("invalid string length" instead of "... in `token`").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceSpec {
    /// A Chainlink aggregator.
    Chainlink(ChainlinkSpec),
    /// A Uniswap V3 pool (TWAP or spot).
    UniswapV3(UniswapV3Spec),
    /// The product of two legs.
    Composite(CompositeSpec),
    /// The median of several sources.
    Median(MedianSpec),
    /// An HTTP JSON API.
    HttpJson(HttpJsonSpec),
    /// A fixed price.
    Fixed(FixedSpec),
}

/// `kind = "chainlink"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainlinkSpec {
    /// The provider to read with (default: the default provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// The aggregator.
    pub address: Address,
    /// The oldest round accepted, in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_s: Option<u64>,
    /// Chainlink's L2 sequencer-uptime feed on the same chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer_uptime_feed: Option<Address>,
    /// Seconds after the sequencer comes back up during which prices are refused (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_s: Option<u64>,
}

/// `kind = "uniswap_v3"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniswapV3Spec {
    /// The provider to read with (default: the default provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Find the pool through this factory (exclusive with `pool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<Address>,
    /// Use this pool (exclusive with `factory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Address>,
    /// The priced token.
    pub token: Address,
    /// The token it is priced in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Address>,
    /// Fee tiers searched through the factory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_tiers: Option<Vec<u32>>,
    /// The TWAP window in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u32>,
    /// `"twap"` (default) or `"spot"`.
    #[serde(default)]
    pub mode: PriceMode,
    /// Required: the least depth of the pools, in whole quote tokens, time-weighted over the
    /// window (e.g. `50` for 50 WETH); shallower pools are refused as manipulable.
    pub min_depth: Option<Depth>,
    /// The largest spot-versus-TWAP gap in basis points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_divergence_bps: Option<u64>,
    /// Decimals of the answered price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// The chain's block time in milliseconds, for the cardinality hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_time_ms: Option<u64>,
}

/// `kind = "composite"`: `a × b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeSpec {
    /// The first factor.
    pub a: Box<LegSpec>,
    /// The second factor.
    pub b: Box<LegSpec>,
    /// Decimals of the product (default 18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

/// One factor of a composite: the feed asked and the source asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegSpec {
    /// The feed the leg prices (e.g. `"ELIZAOS/WETH"`).
    pub feed: FeedId,
    /// The source (its `kind` and keys sit in the same table as `feed`).
    #[serde(flatten)]
    pub source: SourceSpec,
}

/// `kind = "median"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedianSpec {
    /// The sources, all asked for the median's feed.
    pub sources: Vec<SourceSpec>,
    /// The fewest answering and agreeing sources (default: a majority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sources: Option<usize>,
    /// The largest gap from the median for a source to agree, in basis points (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spread_bps: Option<u64>,
}

/// `kind = "http_json"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpJsonSpec {
    /// The URL (may carry an API key; never printed in full).
    pub url: String,
    /// RFC 6901 pointer to the value (default `""`).
    #[serde(default)]
    pub pointer: String,
    /// Decimals the value is parsed into (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Request timeout in seconds (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
}

impl fmt::Debug for HttpJsonSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJsonSpec")
            .field("url", &crate::http_json::shown_text(&self.url))
            .field("pointer", &self.pointer)
            .field("decimals", &self.decimals)
            .field("timeout_s", &self.timeout_s)
            .finish()
    }
}

/// `kind = "fixed"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedSpec {
    /// The price as a decimal string, e.g. `"0.10"`.
    pub price: String,
    /// Its decimals (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

/// The `kind`s of [`SourceSpec`].
const KINDS: &[&str] = &["chainlink", "uniswap_v3", "composite", "median", "http_json", "fixed"];

/// A source from its table: `kind` picks the variant, the other keys are its fields.
fn spec_from_table(mut table: toml::Table) -> Result<SourceSpec, String> {
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        Some(other) => return Err(format!("`kind` must be a string, got {other}")),
        None => return Err(format!("missing `kind` (one of {})", KINDS.join(", "))),
    };
    let rest = toml::Value::Table(table);
    // toml's messages end with "in `key`" on a new line: keep them on one line.
    let fields = |e: toml::de::Error| format!("{kind} source: {}", e.to_string().trim().replace('\n', " "));
    match kind.as_str() {
        "chainlink" => rest.try_into().map(SourceSpec::Chainlink).map_err(fields),
        "uniswap_v3" => rest.try_into().map(SourceSpec::UniswapV3).map_err(fields),
        "composite" => rest.try_into().map(SourceSpec::Composite).map_err(fields),
        "median" => rest.try_into().map(SourceSpec::Median).map_err(fields),
        "http_json" => rest.try_into().map(SourceSpec::HttpJson).map_err(fields),
        "fixed" => rest.try_into().map(SourceSpec::Fixed).map_err(fields),
        other => Err(format!("unknown source kind {other:?}, expected one of {}", KINDS.join(", "))),
    }
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        spec_from_table(toml::Table::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for LegSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let feed = match table.remove("feed") {
            Some(toml::Value::String(feed)) => FeedId::new(feed),
            Some(other) => {
                return Err(serde::de::Error::custom(format!("`feed` must be a string, got {other}")));
            }
            None => return Err(serde::de::Error::custom("a composite leg needs `feed` (e.g. \"ETH/USD\")")),
        };
        let source = spec_from_table(table).map_err(serde::de::Error::custom)?;
        Ok(Self { feed, source })
    }
}

/// A pool depth in whole quote tokens (`min_depth = 50` or `min_depth = "0.5"`): read into a
/// [`Price`] with up to 18 decimals, exactly (never through a float). Equal by value: `50` and
/// `50.0` are one depth.
#[derive(Debug, Clone, Copy)]
pub struct Depth(pub Price);

impl PartialEq for Depth {
    fn eq(&self, other: &Self) -> bool {
        self.0.cmp_value(&other.0).is_eq()
    }
}

impl Eq for Depth {}

/// The decimals a depth is read with.
const DEPTH_DECIMALS: u8 = 18;

impl Serialize for Depth {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Depth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Depth;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a depth in whole quote tokens: a non-negative integer, or a decimal string like \"0.5\"",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Depth, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Depth, E> {
                if v < 0 {
                    return Err(E::custom("a depth cannot be negative"));
                }
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Depth, E> {
                Price::parse(v.trim(), DEPTH_DECIMALS)
                    .map(Depth)
                    .map_err(|e| E::custom(format!("{v:?} is not a depth in quote tokens: {e}")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests;

/// Found by `config::props`: a key alone as an HTTP source's `url` (no scheme, so no URL for
/// `redact_urls` to recognise) was printed whole by the spec's `Debug`.
#[cfg(test)]
#[test]
fn a_bare_key_as_the_url_is_not_shown_by_debug() {
    let spec = HttpJsonSpec {
        url: "zX9-secret-key-77".into(),
        pointer: String::new(),
        decimals: None,
        timeout_s: None,
    };
    let shown = format!("{spec:?}");
    assert!(!shown.contains("secret") && shown.contains("<not a URL>"), "{shown}");
}

#[cfg(test)]
mod props;
