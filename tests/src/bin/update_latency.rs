//! Benchmark: time from a source price move to the oracle update being mined, on anvil chains
//! with 1-second blocks, over many moves.
//!
//! `cargo run -p oracle-tests --bin update_latency [-- MOVES]` (default 40 moves). Prints p50,
//! p99, min, max and mean, then the same as one `BENCH {json}` line that `scripts/bench.sh`
//! collects into docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use oracle_core::{Engine, FeedId, Policy, Price};
use oracle_sources::{ChainlinkSource, FixedPriceSource};
use oracle_tests::{Deployment, START_ELIZA, START_ETH, anvil_with_block_time, parts::FixedLeader};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moves: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let d = Deployment::with_target(anvil_with_block_time(420_691, 1)).await;
    let tick_interval = Duration::from_millis(250);
    let engine = Arc::new(
        Engine::builder()
            .source(
                FeedId::ETH_USD,
                Arc::new(ChainlinkSource::new(
                    d.source_provider(),
                    d.aggregator,
                    FeedId::ETH_USD,
                    Duration::from_secs(3600),
                )),
            )
            .source(
                FeedId::ELIZAOS_USD,
                Arc::new(FixedPriceSource::new(
                    FeedId::ELIZAOS_USD,
                    Price::from_u128(START_ELIZA, 8).unwrap(),
                )),
            )
            .elector(Arc::new(FixedLeader::new("bench", 1)))
            .submitter(Arc::new(d.submitter(1).await))
            // No minimum interval: every move is measured, not held back by the previous one.
            .policy(Policy::builder().min_interval(Duration::ZERO).build().unwrap())
            .interval(tick_interval)
            .build()
            .unwrap(),
    );
    let cancel = CancellationToken::new();
    let runner = tokio::spawn({
        let (engine, cancel) = (engine.clone(), cancel.clone());
        async move { engine.run(cancel).await }
    });
    let mut status = engine.status();

    let mut latencies = Vec::with_capacity(moves);
    for i in 0..moves {
        let updates_before = status.borrow().total_updates;
        // Alternate +2% and back: every move crosses the 1% threshold.
        let answer = if i % 2 == 0 { START_ETH * 102 / 100 } else { START_ETH };
        d.set_eth(answer as i128).await;
        let moved = Instant::now();
        status.wait_for(|s| s.total_updates > updates_before).await.unwrap();
        latencies.push(moved.elapsed());
    }
    cancel.cancel();
    runner.await.unwrap();

    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "update latency over {moves} moves (target: 1 s blocks, tick every {tick_interval:?}): \
         p50 {:?}, p99 {:?}, min {:?}, max {:?}, mean {mean:?}",
        pct(50),
        pct(99),
        latencies[0],
        latencies[latencies.len() - 1]
    );
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let json = serde_json::json!({
        "bench": "update_latency",
        "moves": moves,
        "tick_ms": tick_interval.as_millis() as u64,
        "block_s": 1,
        "p50_ms": ms(pct(50)),
        "p99_ms": ms(pct(99)),
        "min_ms": ms(latencies[0]),
        "max_ms": ms(latencies[latencies.len() - 1]),
        "mean_ms": ms(mean),
    });
    println!("BENCH {json}");
}
