//! RPC failover against real misbehaving endpoints: a dead one (connection refused), a hanging
//! one (accepts TCP, never answers), one that answers garbage, and one that lags (a second anvil
//! held behind); the source still answers, the logs and counters say what happened, and a
//! recovered preferred endpoint is used again; JSON-RPC error answers that mean "this endpoint
//! cannot serve" (rate limits, missing blocks or methods) fail over too, reverts and broadcasts do
//! not; an HTML page is quoted in one short line. Plus the number of RPC round trips of a quiet
//! tick.

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
    fake_rpc::{
        HTML_PAGE_MARKER, dead_url, error_url, garbage_url, hanging_url, html_url, refusing_proxy_url,
    },
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

/// An endpoint that answers HTTP 200 with a JSON-RPC error saying it cannot serve (rate limited,
/// not synced, method missing) is failed over like a dead one; the read lands on the next.
#[tokio::test(flavor = "current_thread")]
async fn error_answers_that_mean_unusable_move_reads_to_the_next_endpoint() {
    let (logs, _guard) = LogCapture::start();
    let d = Deployment::start().await;
    let cases: [(&str, i64, &'static str); 5] = [
        ("RateA", -32005, "limit exceeded"),
        ("RateB", 429, "Too Many Requests"),
        ("RateC", -32000, "daily request count exceeded, request rate limited"),
        ("Unsynced", -32000, "header not found"),
        ("NoMethod", -32601, "the method eth_blockNumber does not exist/is not available"),
    ];
    for (chain, code, message) in cases {
        let list = [error_url(code, message).await, d.source.endpoint()];
        let (provider, transport) = connect_failover(&urls(&list), fast(chain)).unwrap();
        let block = provider.get_block_number().await;
        assert!(block.is_ok(), "{chain} ({code} {message:?}): {block:?}");
        let stats = transport.stats();
        assert_eq!(stats.iter().map(|s| s.errors).collect::<Vec<_>>(), vec![1, 0], "{chain}");
        assert_eq!(stats.iter().map(|s| s.healthy).collect::<Vec<_>>(), vec![false, true], "{chain}");
        assert_eq!(transport.failovers(), 1, "{chain}");
        for line in
            [format!("{chain} RPC 0 failed, trying fallback..."), format!("{chain} switched to RPC 1")]
        {
            assert!(logs.contains(&line), "missing {line:?} in:\n{}", logs.text());
        }
    }
}

/// A revert is the node's real answer, not an endpoint failure: it is not asked elsewhere. And an
/// unusable-endpoint error to a broadcast is passed on, never re-sent to another endpoint.
#[tokio::test(flavor = "current_thread")]
async fn reverts_and_broadcasts_are_not_failed_over_on_error_answers() {
    // A subscriber on this thread too: a thread without one that first hits a log line shared
    // with other tests can make tracing cache that line as disabled for all of them.
    let (_logs, _guard) = LogCapture::start();
    let d = Deployment::start().await;
    let list = [error_url(3, "execution reverted: nope").await, d.source.endpoint()];
    let (provider, transport) = connect_failover(&urls(&list), fast("Revert")).unwrap();
    let err = provider.get_block_number().await.unwrap_err().to_string();
    assert!(err.contains("execution reverted"), "{err}");
    let stats = transport.stats();
    assert_eq!(stats.iter().map(|s| (s.requests, s.errors)).collect::<Vec<_>>(), vec![(1, 0), (0, 0)]);

    let list = [error_url(-32005, "limit exceeded").await, d.source.endpoint()];
    let (provider, transport) = connect_failover(&urls(&list), fast("Broadcast")).unwrap();
    let err = provider.send_raw_transaction(&[0x02, 0x01]).await.unwrap_err().to_string();
    assert!(err.contains("limit exceeded"), "{err}");
    assert_eq!(transport.stats()[1].requests, 0, "the transaction was not sent to a second endpoint");
    assert_eq!(transport.stats()[0].errors, 1, "but the refusal counts against the first");
}

/// A node without `eth_maxPriorityFeePerGas` (or refusing it) still serves the state read: the
/// tip is optional. With a second endpoint that has it, the batch moves there.
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

    let (both, transport) = connect_failover(&urls(&[proxy, d.target.endpoint()]), fast("Jeju2")).unwrap();
    let state = submitter(both).await.unwrap().read_state().await.unwrap();
    assert!(state.fee.unwrap().priority_fee_per_gas > 0, "anvil suggests a tip: {:?}", state.fee);
    assert!(transport.stats()[1].requests > 0);
}

/// An endpoint that is a plain web server: the error quotes one short line of its page with
/// the status and content type, names the endpoint without its key, and says what was expected;
/// the log lines stay short too.
#[tokio::test(flavor = "current_thread")]
async fn an_html_page_is_quoted_in_one_short_line() {
    let (logs, _guard) = LogCapture::start();
    let html = html_url().await;
    let endpoint = html.clone();
    let with_key = format!("{html}/v2/SECRETKEY");
    let (provider, _) = connect_failover(&urls(std::slice::from_ref(&with_key)), fast("Html")).unwrap();
    let plain =
        oracle_core::evm::connect(&RpcUrl::parse(&with_key).unwrap(), Duration::from_secs(10)).unwrap();
    for err in [
        provider.get_block_number().await.unwrap_err().to_string(),
        plain.get_block_number().await.unwrap_err().to_string(),
    ] {
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(err.chars().count() < 300, "short: {err}");
        for part in
            [endpoint.as_str(), "HTTP 200", "text/html", "instead of a JSON-RPC response", "<!DOCTYPE html>"]
        {
            assert!(err.contains(part), "{part:?} missing: {err}");
        }
        assert!(!err.contains("SECRETKEY"), "the key is not quoted: {err}");
        assert!(!err.contains(HTML_PAGE_MARKER), "the page is not quoted whole: {err}");
    }
    let text = logs.text();
    assert!(text.contains("Html RPC 0 failed"), "{text}");
    assert!(!text.contains(HTML_PAGE_MARKER) && !text.contains("SECRETKEY"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() < 500), "{text}");
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
    // Base's side of a submitting tick is fixed (the tick's reads and the re-read before sending);
    // Jeju's also counts receipt polls, whose number depends on how busy the machine is.
    let (base, _, _, _) = costs.submitting;
    assert!(base <= 12, "a submitting tick reads Base at most twice over: {costs:?}");
}
