//! RPC failover against real misbehaving endpoints: a dead one (connection refused), a hanging
//! one (accepts TCP, never answers), one that answers garbage, and one that lags (a second anvil
//! held behind); the source still answers, the logs and counters say what happened, and a
//! recovered preferred endpoint is used again; a node without `eth_maxPriorityFeePerGas` still
//! serves the state read. Plus the number of RPC round trips of a quiet tick.

// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{sync::Arc, time::Duration};

use alloy::{
    node_bindings::Anvil,
    providers::{Provider, ext::AnvilApi},
};
use oracle_core::{
    FeedId, Policy, PriceSource, SkipReason, Submitter, TickOutcome,
    evm::{FailoverConfig, ManualOracleSubmitter, RpcUrl, connect_failover},
};
use oracle_sources::ChainlinkSource;
use oracle_tests::{
    Deployment, START_ETH,
    capture::LogCapture,
    fake_rpc::{dead_url, garbage_url, hanging_url, refusing_proxy_url},
    parts::FixedLeader,
    signer, tool,
};

fn urls(list: &[String]) -> Vec<RpcUrl> {
    list.iter().map(|u| RpcUrl::parse(u).unwrap()).collect()
}

fn fast(chain: &str) -> FailoverConfig {
    FailoverConfig {
        request_timeout: Duration::from_millis(300),
        total_timeout: Duration::from_secs(10),
        // Probes are driven by the tests (`probe_now`), not by the clock.
        probe_interval: Duration::from_secs(3600),
        ..FailoverConfig::new(chain)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn dead_hanging_and_garbage_endpoints_fail_over_to_the_healthy_one() {
    let (logs, _guard) = LogCapture::start();
    let d = Deployment::start().await;
    let list = [dead_url(), hanging_url().await, garbage_url().await, d.source.endpoint()];
    let (provider, transport) = connect_failover(&urls(&list), fast("Base")).unwrap();

    let block = provider.get_block_number().await.unwrap();
    assert!(block > 0);
    for line in [
        "Base RPC 0 failed, trying fallback...",
        "Base RPC 1 failed, trying fallback...",
        "Base RPC 2 failed, trying fallback...",
        "Base switched to RPC 3",
    ] {
        assert!(logs.contains(line), "missing {line:?} in:\n{}", logs.text());
    }
    assert_eq!(transport.failovers(), 1, "one switch, from RPC 0 to RPC 3");
    let stats = transport.stats();
    assert_eq!(stats.iter().map(|s| s.errors).collect::<Vec<_>>(), vec![1, 1, 1, 0]);
    assert_eq!(stats.iter().map(|s| s.healthy).collect::<Vec<_>>(), vec![false, false, false, true]);

    // The source answers through the failover, and failed endpoints are not tried again first.
    let source = ChainlinkSource::new(provider, d.aggregator, FeedId::ETH_USD, Duration::from_secs(3600));
    let obs = source.fetch(&FeedId::ETH_USD).await.unwrap();
    assert_eq!(obs.price.mantissa().to::<u128>(), START_ETH);
    assert_eq!(transport.failovers(), 1, "healthy endpoints are tried first now");
    assert_eq!(transport.stats()[0].requests, 1);
}

/// A node without `eth_maxPriorityFeePerGas` (or refusing it) still serves the state read: the
/// tip is optional.
#[tokio::test(flavor = "current_thread")]
async fn a_node_without_the_priority_fee_method_still_serves_the_state() {
    // A subscriber on this thread too: a thread without one that first hits a log line shared
    // with other tests can make tracing cache that line as disabled for all of them.
    let (_logs, _guard) = LogCapture::start();
    let d = Deployment::start().await;
    let proxy = refusing_proxy_url(d.target.endpoint(), "eth_maxPriorityFeePerGas").await;
    let (alone, _) = connect_failover(&urls(std::slice::from_ref(&proxy)), fast("Jeju")).unwrap();
    let refused = alone.get_max_priority_fee_per_gas().await.unwrap_err().to_string();
    assert!(refused.contains("does not exist/is not available"), "the proxy refuses it: {refused}");

    let submitter = |provider| {
        ManualOracleSubmitter::builder()
            .provider(provider)
            .oracle(d.oracle)
            .signer(signer(&d.target, 1))
            .connect()
    };
    let state = submitter(alone).await.unwrap().read_state().await.unwrap();
    let fee = state.fee.unwrap();
    assert!(fee.price_per_gas > 0, "{fee:?}");
    assert_eq!(fee.priority_fee_per_gas, 0, "no suggestion from this node");
    assert_eq!(state.feeds[0].price.mantissa().to::<u128>(), START_ETH);

    // The same through a plain connection (no failover).
    let plain = oracle_core::evm::connect(&RpcUrl::parse(&proxy).unwrap(), Duration::from_secs(10)).unwrap();
    submitter(plain).await.unwrap().read_state().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_lagging_endpoint_is_avoided_and_a_recovered_preferred_one_is_used_again() {
    let (logs, _guard) = LogCapture::start();
    let d = Deployment::start().await;
    // A second node that follows the source chain but is held behind: a fork at the current
    // block, which then sees nothing of what the source chain does next.
    let behind = Anvil::at(tool("anvil"))
        .fork(d.source.endpoint())
        .fork_block_number(d.source_admin.get_block_number().await.unwrap())
        .spawn();
    d.set_eth(3_100_00000000).await;
    for _ in 0..10 {
        d.source_admin.evm_mine(None).await.unwrap();
    }

    let (provider, transport) =
        connect_failover(&urls(&[behind.endpoint(), d.source.endpoint()]), fast("Base")).unwrap();
    let source = ChainlinkSource::new(provider, d.aggregator, FeedId::ETH_USD, Duration::from_secs(3600));
    assert_eq!(
        source.fetch(&FeedId::ETH_USD).await.unwrap().price.mantissa().to::<u128>(),
        START_ETH,
        "the stale node answers first"
    );

    transport.probe_now().await;
    assert!(logs.contains("Base RPC 0 is lagging"), "{}", logs.text());
    assert_eq!(source.fetch(&FeedId::ETH_USD).await.unwrap().price.mantissa().to::<u128>(), 3_100_00000000);
    assert!(logs.contains("Base switched to RPC 1"), "{}", logs.text());

    // The lagging node catches up (here: mines past the lag), proves healthy twice, and is
    // preferred again.
    let behind_node = alloy::providers::ProviderBuilder::new().connect_http(behind.endpoint_url());
    behind_node.anvil_mine(Some(20), None).await.unwrap();
    transport.probe_now().await;
    assert!(!transport.stats()[0].healthy, "one good probe is not enough");
    transport.probe_now().await;
    assert!(transport.stats()[0].healthy, "{:?}", transport.stats());
    assert!(logs.contains("Base RPC 0 is healthy again"));
    source.fetch(&FeedId::ETH_USD).await.unwrap();
    assert!(logs.contains("Base switched to RPC 0"), "{}", logs.text());
}

#[tokio::test(flavor = "current_thread")]
async fn a_quiet_tick_costs_two_round_trips() {
    let d = Deployment::start().await;
    let (base, base_rpc) = connect_failover(&urls(&[d.source.endpoint()]), fast("Base")).unwrap();
    let (jeju, jeju_rpc) = connect_failover(&urls(&[d.target.endpoint()]), fast("Jeju")).unwrap();
    let submitter = ManualOracleSubmitter::builder()
        .provider(jeju)
        .oracle(d.oracle)
        .signer(signer(&d.target, 1))
        .connect()
        .await
        .unwrap();
    let engine = oracle_core::Engine::builder()
        .source(
            FeedId::ETH_USD,
            Arc::new(ChainlinkSource::new(base, d.aggregator, FeedId::ETH_USD, Duration::from_secs(3600))),
        )
        .source(
            FeedId::ELIZAOS_USD,
            Arc::new(oracle_sources::FixedPriceSource::new(
                FeedId::ELIZAOS_USD,
                oracle_core::Price::from_u128(oracle_tests::START_ELIZA, 8).unwrap(),
            )),
        )
        .elector(Arc::new(FixedLeader::new("a", 1)))
        .submitter(Arc::new(submitter))
        .policy(Policy::default())
        .build()
        .unwrap();

    let round_trips = || base_rpc.stats()[0].requests + jeju_rpc.stats()[0].requests;
    engine.tick().await; // the first tick also reads the aggregator's decimals, once
    let before = round_trips();
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::TooSoon { .. })), "{report:?}");
    assert_eq!(round_trips() - before, 2, "one batched read of the oracle, one aggregator read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jeju_default_feeds_cost_a_handful_of_round_trips_per_tick() {
    let costs = oracle_tests::costs::jeju_tick_costs(1).await;
    let (base, _, jeju, jeju_calls) = costs.quiet;
    assert_eq!(jeju, 1, "the oracle's state is one batched round trip ({jeju_calls} calls)");
    assert!(base <= 6, "Base: Chainlink, the pool (liquidity, observe, slot0) and Chainlink again: {base}");
    let (base, _, jeju, _) = costs.submitting;
    assert!(base + jeju <= 16, "a submitting tick stays bounded: {costs:?}");
}
