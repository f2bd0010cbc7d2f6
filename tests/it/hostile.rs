//! The real engine against hostile JSON-RPC endpoints: a proxy ([`HostileProxy`]) in front of
//! each anvil chain spoils a seeded fraction of the answers (truncated, wrong shape, wrong type,
//! 24 MB, trickled, bad batch ids, odd errors, a block number going backwards, a changed chain
//! id), while the ETH/USD answer moves every tick. Through a few hundred ticks: no panic, memory
//! bounded, every bad answer counted as that endpoint's failure (and nothing else counted), and
//! every update that lands carries a price the source really had, each exactly once.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{collections::HashSet, sync::Arc, time::Duration};

use alloy::{primitives::U256, providers::Provider};
use oracle_core::{
    AlwaysLeader, FeedId, Policy, Price, TickOutcome,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, RpcUrl},
};
use oracle_sources::{ChainlinkSource, FixedPriceSource};
use oracle_tests::{
    Deployment, START_ELIZA, START_ETH, chain,
    hostile::{Fault, HostileProxy},
    init_tracing, signer,
};

const TICKS: usize = 200;
/// Faults per thousand requests.
const PER_MILLE: u64 = 80;

fn transport(proxy: &HostileProxy, chain: &str, chain_id: u64) -> FailoverTransport {
    let config = FailoverConfig {
        request_timeout: Duration::from_millis(800),
        total_timeout: Duration::from_secs(3),
        // No background probes: every request the proxy sees comes from the engine, so the
        // endpoint's error counter can be matched against the faults the proxy injected.
        probe_interval: Duration::from_secs(3600),
        chain_id: Some(chain_id),
        ..FailoverConfig::new(chain)
    };
    FailoverTransport::new(&[RpcUrl::parse(&proxy.url).unwrap()], config).unwrap()
}

/// Peak resident memory of this process in kB (`VmHWM`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A walk of distinct 8-decimal ETH prices, each 1.5% to 4% from the previous, within the
/// oracle's bounds and the 50% rule.
fn walk(seed: u64, n: usize) -> Vec<u128> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut price = START_ETH;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let permille = 15 + u128::from(next() % 26);
        let up = price < 2_000_00000000 || (price <= 4_500_00000000 && next() % 2 == 0);
        let step = price * permille / 1000;
        price = if up { price + step } else { price - step } + u128::from(next() % 100);
        if seen.insert(price) {
            out.push(price);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_survives_hostile_rpc_endpoints_and_lands_each_price_once() {
    init_tracing();
    let d = Deployment::start().await;
    let base_proxy = HostileProxy::start(&d.source.endpoint(), 0xBA5E, PER_MILLE).await;
    let jeju_proxy = HostileProxy::start(&d.target.endpoint(), 0x1E1E, PER_MILLE).await;
    let base = transport(&base_proxy, "Base", 8453);
    let jeju = transport(&jeju_proxy, "Jeju", 420_691);

    // Connecting reads the contract's limits: retried until a round goes through unspoiled.
    let mut attempts = 0;
    let submitter = loop {
        attempts += 1;
        let built = ManualOracleSubmitter::builder()
            .provider(jeju.provider())
            .oracle(d.oracle)
            .signer(signer(&d.target, 1))
            .poll_interval(Duration::from_millis(50))
            .stuck_after(Duration::from_secs(5))
            .connect()
            .await;
        match built {
            Ok(s) => break s,
            Err(e) => {
                assert!(attempts < 50, "the submitter never connected: {e}");
                eprintln!("connect attempt {attempts}: {e}");
            }
        }
    };
    let eth = ChainlinkSource::new(base.provider(), d.aggregator, FeedId::ETH_USD, Duration::from_secs(3600));
    let eliza = FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::from_u128(START_ELIZA, 8).unwrap());
    let policy = Policy::builder().min_interval(Duration::ZERO).build().unwrap();
    let engine = oracle_core::Engine::builder()
        .source(FeedId::ETH_USD, Arc::new(eth))
        .source(FeedId::ELIZAOS_USD, Arc::new(eliza))
        .elector(Arc::new(AlwaysLeader::new("hostile-test")))
        .submitter(Arc::new(submitter))
        .policy(policy)
        .retries(0, Duration::ZERO)
        .build()
        .unwrap();

    let prices = walk(0x5EED, TICKS);
    let mut reported = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for (i, price) in prices.iter().enumerate() {
        d.set_eth(i128::try_from(*price).unwrap()).await;
        // A batch through each transport every few ticks: the engine itself sends none.
        if i % 4 == 0 {
            for t in [&base, &jeju] {
                let client = alloy::rpc::client::RpcClient::new(t.clone(), true);
                let mut batch = client.new_batch();
                let a = batch.add_call::<_, alloy::primitives::U64>("eth_blockNumber", &()).unwrap();
                let b = batch.add_call::<_, alloy::primitives::U64>("eth_chainId", &()).unwrap();
                if batch.send().await.is_ok() {
                    let _ = (a.await, b.await);
                }
                // And single reads of the block number and chain id, which the proxy may turn
                // back or change.
                let p = t.provider();
                let _ = (p.get_block_number().await, p.get_chain_id().await);
            }
        }
        let report = engine.tick().await;
        *outcomes.entry(report.outcome.label()).or_default() += 1;
        if let TickOutcome::Submitted(landed) = &report.outcome {
            reported.push((landed.tx_hash, landed.prices.clone()));
        }
    }
    eprintln!("outcomes over {TICKS} ticks: {outcomes:?}");

    // Every update on chain: a price of the walk, each at most once, elizaOS untouched.
    base_proxy.set_enabled(false);
    jeju_proxy.set_enabled(false);
    let landed = chain::updates(&d).await;
    let walked: HashSet<U256> = prices.iter().map(|p| U256::from(*p)).collect();
    let mut seen = HashSet::new();
    for u in &landed {
        assert!(walked.contains(&u.eth), "{} was never the source's price", u.eth);
        assert!(seen.insert(u.eth), "{} landed twice", u.eth);
        assert_eq!(u.eliza, U256::from(START_ELIZA));
    }
    // Everything the engine reported as landed is on chain with the prices it reported.
    for (tx, prices) in &reported {
        let on_chain =
            landed.iter().find(|u| u.tx_hash == *tx).unwrap_or_else(|| panic!("{tx} not on chain"));
        assert_eq!(prices[0].1.mantissa(), on_chain.eth, "{tx}");
    }
    assert!(
        landed.len() >= TICKS / 4,
        "only {} of {TICKS} ticks landed an update: {outcomes:?}",
        landed.len()
    );
    let mined = d.target_admin.get_transaction_count(d.updater).await.unwrap();
    assert_eq!(mined as usize, landed.len(), "every mined transaction is one update");

    // Every injected fault is the endpoint's failure, and nothing else is.
    let mut all_kinds = HashSet::new();
    for (name, proxy, t) in [("Base", &base_proxy, &base), ("Jeju", &jeju_proxy, &jeju)] {
        let faults = proxy.faults();
        let errors = t.stats()[0].errors;
        let backwards = faults.iter().filter(|(_, f)| *f == Fault::BlockBackwards).count() as u64;
        let kinds: HashSet<Fault> = faults.iter().map(|(_, f)| *f).collect();
        eprintln!(
            "{name}: {} requests, {} faults ({kinds:?}), {errors} counted as endpoint errors",
            proxy.requests(),
            faults.len()
        );
        let total = faults.len() as u64;
        assert!(errors <= total, "{name}: {errors} errors for {total} faults: a good answer was refused");
        // A fault on a request whose sibling failed first is dropped unread (try_join); a block
        // number a little back may be no lower than what the client had seen yet.
        let slack = backwards + total / 10 + 2;
        assert!(
            errors + slack >= total,
            "{name}: {errors} errors for {total} faults: bad answers went uncounted"
        );
        all_kinds.extend(kinds);
    }
    for kind in [
        Fault::Truncated,
        Fault::WrongShape,
        Fault::WrongType,
        Fault::Huge,
        Fault::Trickle,
        Fault::BatchIds,
        Fault::OddError,
        Fault::BlockBackwards,
        Fault::ChainIdChanged,
    ] {
        assert!(all_kinds.contains(&kind), "no {kind:?} fault was injected: {all_kinds:?}");
    }
    let peak = peak_rss_kb();
    eprintln!("peak RSS {peak} kB");
    assert!(peak < 1_024 * 1_024, "peak RSS {peak} kB");
}
