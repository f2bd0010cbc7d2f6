//! Declarative configuration end to end: the sample file parses and builds, and the Jeju
//! defaults price elizaOS/USD from a real Uniswap V3 pool (elizaOS as token1, the order the old
//! bot got wrong) times Chainlink's real `MockV3Aggregator`, exactly.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::time::Duration;

use num_bigint::BigUint;
use oracle_core::{
    FeedId,
    evm::{RpcUrl, connect},
};
use oracle_sources::{Providers, SourceConfig, config::ELIZAOS_WETH, jeju_defaults};
use oracle_tests::{
    deploy_aggregator, init_tracing, repo_root, set_answer,
    uniswap::{LIQUIDITY, UniswapChain, exact},
};

#[test]
fn the_sample_configuration_parses_and_builds() {
    let config = SourceConfig::from_file(&repo_root().join("oracle-sources/examples/feeds.toml")).unwrap();
    let feeds: Vec<_> = config.feeds.keys().map(FeedId::as_str).collect();
    assert_eq!(feeds, ["BTC/USD", "ELIZAOS/USD", "ETH/USD"]);
    // Building reads nothing: a provider for an address nobody listens on is enough.
    let provider = connect(&RpcUrl::parse("http://127.0.0.1:1").unwrap(), Duration::from_secs(1)).unwrap();
    let sources = config.build(&Providers::new(provider)).unwrap();
    assert_eq!(sources[&FeedId::ETH_USD].name(), "chainlink:ETH/USD");
    assert_eq!(sources[&FeedId::ELIZAOS_USD].name(), "composite:ELIZAOS/USD");
    assert_eq!(sources[&FeedId::new("BTC/USD")].name(), "median:BTC/USD");
}

#[tokio::test]
async fn jeju_defaults_price_elizaos_exactly() {
    init_tracing();
    let chain = UniswapChain::start().await;
    // The aggregator's round is stamped with the chain's time: deploy it before the history
    // moves the chain's clock ahead of the host's.
    let aggregator = deploy_aggregator(&chain.admin, 8, 3_000_12345678).await;
    let (eliza, weth) = chain.pair(18, 18, false).await;
    let pool =
        chain.create_pool(eliza, weth, 10_000, exact::sqrt_price_x96_for("0.00003", 18, 18, false)).await;
    chain.grow_observations(pool, 100).await;
    chain.add_liquidity_around(pool, 20_000, LIQUIDITY).await;
    chain.build_history(pool, 6, 400).await;

    let sequencer = oracle_tests::deploy_sequencer_feed(&chain.admin, 7200).await;
    let defaults = jeju_defaults(eliza)
        .factory(chain.factory)
        .weth(weth)
        .chainlink_eth_usd(aggregator)
        .sequencer_uptime_feed(sequencer, oracle_sources::DEFAULT_SEQUENCER_GRACE_PERIOD);
    let sources = defaults.build(&Providers::new(chain.reader())).unwrap();
    let eth = sources[&FeedId::ETH_USD].fetch(&FeedId::ETH_USD).await.unwrap();
    let eliza_usd = sources[&FeedId::ELIZAOS_USD].fetch(&FeedId::ELIZAOS_USD).await.unwrap();
    assert_eq!(eth.price.to_string(), "3000.12345678");

    // Expected: the 30-minute TWAP of elizaOS in WETH at 18 decimals (elizaOS is token1, so the
    // pool price is inverted), times ETH/USD, floored at 18 decimals.
    let (start, end) = chain.tick_cumulatives(pool, 1800).await;
    let ratio = exact::sqrt_ratio_at_tick(exact::mean_tick(start, end, 1800));
    let weth_per_eliza = exact::price(&ratio, 18, 18, false, 18);
    let expected = weth_per_eliza * BigUint::from(3_000_12345678u64) / BigUint::from(100_000_000u64);
    assert_eq!(exact::big(eliza_usd.price.mantissa()), expected, "got {}", eliza_usd.price);
    assert!(eliza_usd.price.to_string().starts_with("0.09"), "about $0.09: {}", eliza_usd.price);
    assert_eq!(eliza_usd.observed_at, eth.observed_at, "as old as the older leg (Chainlink's round)");

    // The same through TOML: the defaults print as a configuration that builds the same feeds.
    let text = defaults.config().to_toml_string().unwrap();
    assert!(text.contains(&ELIZAOS_WETH.to_string()), "{text}");
    let again = SourceConfig::from_toml_str(&text).unwrap().build(&Providers::new(chain.reader())).unwrap();
    let eliza_again = again[&FeedId::ELIZAOS_USD].fetch(&FeedId::ELIZAOS_USD).await.unwrap();
    assert_eq!(eliza_again.price, eliza_usd.price);
}

/// ETH/USD alone and ETH/USD inside the elizaOS/USD composite are one aggregator in the
/// configuration: within one tick both feeds get the same Chainlink round, even when a new round
/// lands between the two reads.
#[tokio::test]
async fn eth_usd_and_the_composite_read_one_chainlink_round_per_tick() {
    init_tracing();
    let chain = UniswapChain::start().await;
    let aggregator = deploy_aggregator(&chain.admin, 8, 3_000_00000000).await;
    let text = format!(
        r#"
[feeds."ETH/USD"]
kind = "chainlink"
address = "{aggregator}"

[feeds."ELIZAOS/USD"]
kind = "composite"
decimals = 8

[feeds."ELIZAOS/USD".a]
feed = "ELIZAOS/WETH"
kind = "fixed"
price = "0.00003"
decimals = 18

[feeds."ELIZAOS/USD".b]
feed = "ETH/USD"
kind = "chainlink"
address = "{aggregator}"
"#
    );
    let sources = SourceConfig::from_toml_str(&text).unwrap().build(&Providers::new(chain.reader())).unwrap();
    let (eth, eliza) = (&sources[&FeedId::ETH_USD], &sources[&FeedId::ELIZAOS_USD]);
    let (eth_price, eliza_price) = oracle_core::tick_scope(async {
        let first = eth.fetch(&FeedId::ETH_USD).await.unwrap();
        // A new round lands between the two feeds' reads.
        set_answer(&chain.admin, aggregator, 3_300_00000000).await;
        let second = eliza.fetch(&FeedId::ELIZAOS_USD).await.unwrap();
        (first.price, second.price)
    })
    .await;
    assert_eq!(eth_price.to_string(), "3000.00000000");
    assert_eq!(eliza_price.to_string(), "0.09000000", "0.00003 × the same round's $3000, not $3300");
    // The next tick reads the new round, for both.
    let next = oracle_core::tick_scope(async { eliza.fetch(&FeedId::ELIZAOS_USD).await.unwrap() }).await;
    assert_eq!(next.price.to_string(), "0.09900000");
}
