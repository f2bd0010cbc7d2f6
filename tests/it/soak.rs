//! The short soak of the suite: for each elector, three real `oracle-bot` processes on the fenced
//! oracle under a seeded run of faults (see `oracle_tests::soak`), failing on any broken promise.
//! The seed is fixed so a failure replays with
//! `cargo run -p oracle-tests --bin soak -- --elector <e> --seed <seed> --duration <d>`; the long
//! run is the same command with a longer duration (docs/benchmarks.md, "Soak").
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use oracle_tests::{
    cli::workspace_bin,
    election::serial,
    soak::{self, Elector, OracleKind, SoakConfig},
};

/// The suite's seed (any seed must pass; this one is the suite's).
const SEED: u64 = 20_261_130;
/// How long faults are injected per elector in the suite.
const SHORT: Duration = Duration::from_secs(60);

async fn short_soak(elector: Elector, oracle: OracleKind) {
    // One fleet at a time: three bots and a 1-second chain each is what two cores carry.
    let _one = serial().await;
    oracle_tests::init_tracing();
    let config =
        SoakConfig { elector, oracle, seed: SEED, duration: SHORT, bot_bin: workspace_bin("oracle-bot") };
    let report = soak::run(&config).await;
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(!report.faults.is_empty(), "the run injected faults");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_file_elector_fenced() {
    short_soak(Elector::File, OracleKind::Fenced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_redis_elector_fenced() {
    short_soak(Elector::Redis, OracleKind::Fenced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_etcd_elector_fenced() {
    short_soak(Elector::Etcd, OracleKind::Fenced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_plain_oracle_reports_its_duplicates() {
    short_soak(Elector::Redis, OracleKind::Plain).await;
}
