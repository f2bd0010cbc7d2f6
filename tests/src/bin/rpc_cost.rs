//! Benchmark: RPC round trips (HTTP requests) and JSON-RPC calls per quiet tick and per
//! submitting tick for the Jeju default feeds, and the time of one source read, on local anvil
//! chains with the real Uniswap V3 contracts.
//!
//! `cargo run -p oracle-tests --bin rpc_cost [-- READS]` (default 50 timed reads). The last line
//! is the same as one `BENCH {json}` line that `scripts/bench.sh` collects into
//! docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let reads: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let c = oracle_tests::costs::jeju_tick_costs(reads).await;
    let (qb, qbc, qj, qjc) = c.quiet;
    let (sb, sbc, sj, sjc) = c.submitting;
    println!(
        "quiet tick:      {} round trips ({} calls): Base {qb} ({qbc}), Jeju {qj} ({qjc})",
        qb + qj,
        qbc + qjc
    );
    println!(
        "submitting tick: {} round trips ({} calls): Base {sb} ({sbc}), Jeju {sj} ({sjc})",
        sb + sj,
        sbc + sjc
    );
    println!("one ELIZAOS/USD read (TWAP x Chainlink), mean of {reads}: {:?}", c.per_read);
    let tick = |base: u64, base_calls: u64, jeju: u64, jeju_calls: u64| serde_json::json!({"base_rt": base, "base_calls": base_calls, "jeju_rt": jeju, "jeju_calls": jeju_calls});
    let json = serde_json::json!({
        "bench": "rpc_cost",
        "quiet": tick(qb, qbc, qj, qjc),
        "submitting": tick(sb, sbc, sj, sjc),
        "reads": reads,
        "read_ms": (c.per_read.as_secs_f64() * 1e5).round() / 100.0,
    });
    println!("BENCH {json}");
}
