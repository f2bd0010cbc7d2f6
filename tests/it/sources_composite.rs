//! `CompositeSource`: an exact product of a fixed leg and Chainlink's real `MockV3Aggregator`
//! on anvil, the older timestamp, and a failing leg's refusal passed through unchanged.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{sync::Arc, time::Duration};

use oracle_core::{
    FeedId, Price, PriceSource, SourceError,
    evm::{RpcUrl, connect},
};
use oracle_sources::{ChainlinkSource, CompositeSource, FixedPriceSource, Leg};
use oracle_tests::{advance_time, anvil, deploy_aggregator, init_tracing, set_answer, wallet_provider};

const ELIZAOS_WETH: FeedId = FeedId::from_static("ELIZAOS/WETH");

#[tokio::test]
async fn the_product_is_exact_and_a_failing_leg_passes_through() {
    init_tracing();
    let chain = anvil(8453);
    let admin = wallet_provider(&chain, 0);
    let aggregator = deploy_aggregator(&admin, 8, 3_000_12345678).await;
    let reader = connect(&RpcUrl::parse(&chain.endpoint()).unwrap(), Duration::from_secs(10)).unwrap();
    let eth = Arc::new(ChainlinkSource::new(reader, aggregator, FeedId::ETH_USD, Duration::from_secs(3600)));
    let weth_per_eliza = Price::parse("0.000030000000000007", 18).unwrap();
    let pool = Arc::new(FixedPriceSource::new(ELIZAOS_WETH, weth_per_eliza));
    let a = Leg::new(ELIZAOS_WETH, pool);
    let b = Leg::new(FeedId::ETH_USD, eth.clone());

    // 0.000030000000000007 × 3000.12345678 = 0.09000370370342100086419746 exactly: floored once.
    let at18 = CompositeSource::new(FeedId::ELIZAOS_USD, a.clone(), b.clone());
    let obs = at18.fetch(&FeedId::ELIZAOS_USD).await.unwrap();
    assert_eq!(obs.price.to_string(), "0.090003703703421000");
    assert_eq!(obs.source, "composite:ELIZAOS/USD (fixed:ELIZAOS/WETH × chainlink:ETH/USD)");
    let at8 = CompositeSource::new(FeedId::ELIZAOS_USD, a.clone(), b.clone()).with_decimals(8).unwrap();
    assert_eq!(at8.fetch(&FeedId::ELIZAOS_USD).await.unwrap().price.to_string(), "0.09000370");

    // Observed at the older leg's time: the aggregator's round (the fixed leg is "now").
    let eth_obs = eth.fetch(&FeedId::ETH_USD).await.unwrap();
    assert_eq!(obs.observed_at, eth_obs.observed_at);

    // The Chainlink leg refuses (a round from two hours ahead of the host's clock): its own
    // refusal comes out, naming the Chainlink source.
    advance_time(&admin, 7200).await;
    set_answer(&admin, aggregator, 3_000_00000000).await;
    let leg_error = eth.fetch(&FeedId::ETH_USD).await.unwrap_err();
    let error = at18.fetch(&FeedId::ELIZAOS_USD).await.unwrap_err();
    assert_eq!(error, leg_error);
    assert!(
        matches!(&error, SourceError::Invalid { source_name, check: "timestamp", .. } if source_name == "chainlink:ETH/USD"),
        "{error}"
    );

    // When both legs fail, the refusal about the data wins over an unreachable one.
    let unreachable: Arc<dyn PriceSource> = Arc::new(ChainlinkSource::new(
        connect(&RpcUrl::parse("http://127.0.0.1:1").unwrap(), Duration::from_secs(2)).unwrap(),
        aggregator,
        ELIZAOS_WETH,
        Duration::from_secs(3600),
    ));
    let both = CompositeSource::new(FeedId::ELIZAOS_USD, Leg::new(ELIZAOS_WETH, unreachable), b);
    assert_eq!(both.fetch(&FeedId::ELIZAOS_USD).await.unwrap_err(), leg_error);
    assert!(matches!(at18.fetch(&FeedId::ETH_USD).await, Err(SourceError::UnsupportedFeed { .. })));
    assert!(CompositeSource::new(FeedId::ELIZAOS_USD, a.clone(), a).with_decimals(37).is_err());
}
