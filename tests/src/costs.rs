//! What a tick costs in RPC round trips and calls for the Jeju default feeds (Chainlink ETH/USD;
//! elizaOS/USD = Uniswap V3 TWAP × Chainlink), counted by the failover transport, on local
//! anvil chains with the real Uniswap V3 contracts. Used by a test and by the `rpc_cost` benchmark.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use oracle_core::{
    Engine, FeedId, Policy, TickOutcome,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, RpcUrl, connect_failover},
};
use oracle_sources::{Providers, jeju_defaults};

use crate::{
    advance_time, anvil, deploy_aggregator, deploy_oracle, lagging_anvil,
    parts::FixedLeader,
    set_answer, set_updater, signer,
    uniswap::{ElizaPool, UniswapChain},
    wallet_provider,
};

fn totals(t: &FailoverTransport) -> (u64, u64) {
    t.stats().iter().fold((0, 0), |(r, c), s| (r + s.requests, c + s.calls))
}

/// What one quiet and one submitting tick of the Jeju default feeds cost, and one source read.
#[derive(Debug, Clone, Copy)]
pub struct TickCosts {
    /// Quiet tick: (Base round trips, Base calls, Jeju round trips, Jeju calls).
    pub quiet: (u64, u64, u64, u64),
    /// Submitting tick: the same.
    pub submitting: (u64, u64, u64, u64),
    /// Mean time of one ELIZAOS/USD read.
    pub per_read: Duration,
}

/// Sets up both chains with the real Uniswap V3 contracts and measures [`TickCosts`] over
/// `reads` timed source reads.
pub async fn jeju_tick_costs(reads: u32) -> TickCosts {
    // Base's clock starts 40 minutes behind, so a 30-minute TWAP history fits before "now".
    let base = UniswapChain::on(lagging_anvil(8453, 2400)).await;
    let aggregator = deploy_aggregator(&base.admin, 8, 3_000_00000000).await;
    let ElizaPool { weth, eliza, .. } = base.elizaos_pool().await;
    base.advance(1900).await;
    let jeju_node = anvil(420_691);
    let jeju_admin = wallet_provider(&jeju_node, 0);
    let oracle = deploy_oracle(&jeju_admin, jeju_node.addresses()[0], 3_000_00000000, 10_000_000).await;
    set_updater(&jeju_admin, oracle, jeju_node.addresses()[1]).await;

    let config = |chain: &str| FailoverConfig {
        probe_interval: Duration::from_secs(3600),
        ..FailoverConfig::new(chain)
    };
    let (base_p, base_rpc) =
        connect_failover(&[RpcUrl::parse(&base.anvil.endpoint()).unwrap()], config("Base")).unwrap();
    let (jeju_p, jeju_rpc) =
        connect_failover(&[RpcUrl::parse(&jeju_node.endpoint()).unwrap()], config("Jeju")).unwrap();
    let sequencer = crate::deploy_sequencer_feed(&base.admin, 7200).await;
    let sources = jeju_defaults(eliza)
        .factory(base.factory)
        .weth(weth)
        .chainlink_eth_usd(aggregator)
        .sequencer_uptime_feed(sequencer, oracle_sources::DEFAULT_SEQUENCER_GRACE_PERIOD)
        .build(&Providers::new(base_p))
        .unwrap();
    let eliza_source = sources[&FeedId::ELIZAOS_USD].clone();
    let submitter = ManualOracleSubmitter::builder()
        .provider(jeju_p)
        .oracle(oracle)
        .signer(signer(&jeju_node, 1))
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let engine = Engine::builder()
        .sources(sources)
        .elector(Arc::new(FixedLeader::new("bench", 1)))
        .submitter(Arc::new(submitter))
        .policy(Policy::builder().min_interval(Duration::ZERO).build().unwrap())
        .build()
        .unwrap();

    // Warm-up: pool discovery and decimals are read once per source.
    engine.tick().await;
    let cost = |before: ((u64, u64), (u64, u64))| {
        let (b, j) = (totals(&base_rpc), totals(&jeju_rpc));
        (b.0 - before.0.0, b.1 - before.0.1, j.0 - before.1.0, j.1 - before.1.1)
    };

    let before = (totals(&base_rpc), totals(&jeju_rpc));
    let quiet = engine.tick().await;
    assert!(matches!(quiet.outcome, TickOutcome::Skipped(_)), "{quiet:?}");
    let (qb, qbc, qj, qjc) = cost(before);

    set_answer(&base.admin, aggregator, 3_100_00000000).await;
    advance_time(&jeju_admin, 1).await;
    let before = (totals(&base_rpc), totals(&jeju_rpc));
    let submitting = engine.tick().await;
    assert!(matches!(submitting.outcome, TickOutcome::Submitted(_)), "{submitting:?}");
    let (sb, sbc, sj, sjc) = cost(before);

    let started = Instant::now();
    for _ in 0..reads {
        eliza_source.fetch(&FeedId::ELIZAOS_USD).await.unwrap();
    }
    let per_read = started.elapsed() / reads;

    TickCosts { quiet: (qb, qbc, qj, qjc), submitting: (sb, sbc, sj, sjc), per_read }
}
