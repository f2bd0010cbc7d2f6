//! Benchmark: one process driving 1, 10, 100 and 1,000 targets (`oracle_core::Targets`), each a
//! `ManualPriceOracle` of its own, spread over 2 target chains on anvil, all sharing one
//! Chainlink ETH/USD source (read once per round) on a third. For each size: the time of a quiet
//! round (every target reads its state and decides; nothing is due), the RPC round trips and calls
//! per round on each chain, and the process's resident memory per target.
//!
//! `cargo run -p oracle-tests --bin targets_scale [-- SIZES...]` (default `1 10 100 1000`). Each
//! size runs in a child process of its own, so memory is measured from a clean start. Prints a
//! table and one `BENCH {json}` line that `scripts/bench.sh` collects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter, Price, PriceSource, Targets, TickOutcome,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, RpcUrl, connect_failover},
};
use oracle_sources::{ChainlinkSource, FixedPriceSource, OncePerTick};
use oracle_tests::{
    START_ELIZA, START_ETH, anvil, deploy_aggregator, deploy_oracle, deploy_sequencer_feed, set_updater,
    signer, wallet_provider,
};

/// Quiet rounds measured per size (after one warm-up round).
const ROUNDS: u32 = 5;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn totals(t: &FailoverTransport) -> (u64, u64) {
    t.stats().iter().fold((0, 0), |(r, c), s| (r + s.requests, c + s.calls))
}

/// One size, measured in this process; the JSON of its figures.
async fn one_size(n: usize) -> serde_json::Value {
    let source = anvil(8453);
    let chains = [anvil(420_691), anvil(420_692)];
    let source_admin = wallet_provider(&source, 0);
    let aggregator = deploy_aggregator(&source_admin, 8, START_ETH as i128).await;
    let _sequencer = deploy_sequencer_feed(&source_admin, 7200).await;

    // Deploy the oracles: target i on chain i % 2, updater account 1 of its chain.
    let mut oracles = Vec::with_capacity(n);
    for i in 0..n {
        let chain = &chains[i % 2];
        let admin = wallet_provider(chain, 0);
        let oracle = deploy_oracle(&admin, chain.addresses()[0], START_ETH, START_ELIZA).await;
        set_updater(&admin, oracle, chain.addresses()[1]).await;
        oracles.push((i % 2, oracle));
    }

    let config = |name: &str| FailoverConfig::new(name);
    let (source_provider, source_transport) =
        connect_failover(&[RpcUrl::parse(&source.endpoint()).unwrap()], config("source")).unwrap();
    let connections: Vec<_> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            connect_failover(&[RpcUrl::parse(&c.endpoint()).unwrap()], config(&format!("target{i}"))).unwrap()
        })
        .collect();
    let eth: Arc<dyn PriceSource> = Arc::new(OncePerTick::new(Arc::new(ChainlinkSource::new(
        source_provider,
        aggregator,
        FeedId::ETH_USD,
        Duration::from_secs(3600),
    ))));
    let eliza: Arc<dyn PriceSource> =
        Arc::new(FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::from_u128(START_ELIZA, 8).unwrap()));

    let before = rss_kib();
    let mut targets = Targets::new(Duration::from_secs(1));
    for (i, (chain, oracle)) in oracles.iter().enumerate() {
        let submitter = ManualOracleSubmitter::builder()
            .provider(connections[*chain].0.clone())
            .chain_name(format!("target{chain}"))
            .oracle(*oracle)
            .signer(signer(&chains[*chain], 1))
            .connect()
            .await
            .unwrap();
        let name = format!("t{i}");
        let engine = Engine::builder()
            .target(name.clone())
            .source(FeedId::ETH_USD, eth.clone())
            .source(FeedId::ELIZAOS_USD, eliza.clone())
            .elector(Arc::new(AlwaysLeader::new("bench")))
            .submitter(Arc::new(submitter))
            .alerter(Arc::new(LogAlerter))
            .build()
            .unwrap();
        targets = targets.target(name, Arc::new(engine));
    }
    // Warm-up round: first reads (decimals, the sequencer feed) are not a quiet round's cost.
    let warm = targets.tick().await;
    assert!(warm.iter().all(|(_, r)| matches!(r.outcome, TickOutcome::Skipped(_))), "a quiet round skips");
    let built = rss_kib();

    let count = || {
        let mut v = vec![totals(&source_transport)];
        v.extend(connections.iter().map(|(_, t)| totals(t)));
        v
    };
    let start = count();
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        let round = targets.tick().await;
        times.push(t.elapsed());
        assert_eq!(round.len(), n);
    }
    let end = count();
    let per_round = |i: usize| {
        let (r, c) = (end[i].0 - start[i].0, end[i].1 - start[i].1);
        (r as f64 / f64::from(ROUNDS), c as f64 / f64::from(ROUNDS))
    };
    times.sort();
    let median = times[times.len() / 2];
    let (src, t0, t1) = (per_round(0), per_round(1), per_round(2));
    let per_target_kib = built.saturating_sub(before) as f64 / n as f64;
    serde_json::json!({
        "targets": n,
        "round_ms_median": (median.as_secs_f64() * 1e5).round() / 100.0,
        "round_ms_max": (times[times.len() - 1].as_secs_f64() * 1e5).round() / 100.0,
        "source_rt": src.0, "source_calls": src.1,
        "chain0_rt": t0.0, "chain0_calls": t0.1,
        "chain1_rt": t1.0, "chain1_calls": t1.1,
        "rss_mib": (built as f64 / 1024.0 * 10.0).round() / 10.0,
        "rss_per_target_kib": (per_target_kib * 10.0).round() / 10.0,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice()
        && flag == "--one"
    {
        let json = one_size(n.parse().expect("a number of targets")).await;
        println!("SIZE {json}");
        return;
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![1, 10, 100, 1000]
    } else {
        args.iter().map(|a| a.parse().expect("sizes")).collect()
    };
    let me = std::env::current_exe().expect("this binary");
    println!(
        "| targets | quiet round (median / max) | round trips per round: source, chain 0, chain 1 | calls per round | RSS | RSS per target |"
    );
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for n in sizes {
        let out =
            std::process::Command::new(&me).args(["--one", &n.to_string()]).output().expect("run one size");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("SIZE ")) else {
            eprintln!("{n} targets failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        };
        let v: serde_json::Value = serde_json::from_str(line).expect("the size's JSON");
        println!(
            "| {n} | {} / {} ms | {}, {}, {} | {}, {}, {} | {} MiB | {} KiB |",
            v["round_ms_median"],
            v["round_ms_max"],
            v["source_rt"],
            v["chain0_rt"],
            v["chain1_rt"],
            v["source_calls"],
            v["chain0_calls"],
            v["chain1_calls"],
            v["rss_mib"],
            v["rss_per_target_kib"]
        );
        rows.push(v);
    }
    println!("BENCH {}", serde_json::json!({"bench": "targets_scale", "rounds": ROUNDS, "sizes": rows}));
}
