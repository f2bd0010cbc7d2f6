//! Benchmark: RPC round trips (HTTP requests) and JSON-RPC calls per quiet tick and per
//! submitting tick for the Jeju default feeds, and the time of one source read, on local anvil
//! chains with the real Uniswap V3 contracts.
//!
//! `cargo run -p oracle-tests --bin rpc_cost [-- READS]` (default 50 timed reads).
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
}
