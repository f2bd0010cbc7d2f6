//! The long soak: three `oracle-bot` processes per elector under a seeded sequence of faults,
//! checked against the chain (see `oracle_tests::soak`).
//!
//! ```text
//! cargo build -p oracle-bot && cargo run -p oracle-tests --bin soak -- --duration 10m
//! cargo run -p oracle-tests --bin soak -- --elector etcd --oracle plain --seed 7 --duration 90s
//! ```
//!
//! Prints each run's report (with its seed, to replay it) and one `SOAK {json}` line per run;
//! exits 1 if any run broke a promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use oracle_tests::soak::{self, Elector, OracleKind, SoakConfig};

/// Seeded fault-injection soak of real oracle-bot processes.
#[derive(Debug, Parser)]
struct Args {
    /// `file`, `redis`, `etcd` or `all`.
    #[arg(long, default_value = "all")]
    elector: String,
    /// `fenced`, `plain` or `both`.
    #[arg(long, default_value = "fenced")]
    oracle: String,
    /// The seed (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// How long faults are injected per run: `90s`, `10m`, `1h`.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// The `oracle-bot` binary (default: next to this one; `ORACLE_BOT_BIN` also works).
    #[arg(long, env = "ORACLE_BOT_BIN")]
    bot_bin: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: a number and s, m or h (90s, 10m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{s:?}: the unit is s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    oracle_tests::init_tracing();
    let args = Args::parse();
    let electors: Vec<Elector> = match args.elector.as_str() {
        "all" => Elector::ALL.to_vec(),
        name => match Elector::parse(name) {
            Some(e) => vec![e],
            None => {
                eprintln!("--elector {name}: expected file, redis, etcd or all");
                return ExitCode::from(2);
            }
        },
    };
    let oracles = match args.oracle.as_str() {
        "fenced" => vec![OracleKind::Fenced],
        "plain" => vec![OracleKind::Plain],
        "both" => vec![OracleKind::Fenced, OracleKind::Plain],
        other => {
            eprintln!("--oracle {other}: expected fenced, plain or both");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let bot_bin = args
        .bot_bin
        .unwrap_or_else(|| std::env::current_exe().expect("this binary's path").with_file_name("oracle-bot"));
    if !bot_bin.exists() {
        eprintln!("{} is missing: run `cargo build -p oracle-bot` first", bot_bin.display());
        return ExitCode::from(2);
    }
    println!("soak: seed {seed}, {:?} per run, electors {electors:?}, oracles {oracles:?}", args.duration);
    let mut failed = false;
    for oracle in &oracles {
        for elector in &electors {
            let config = SoakConfig {
                elector: *elector,
                oracle: *oracle,
                seed,
                duration: args.duration,
                bot_bin: bot_bin.clone(),
            };
            let report = soak::run(&config).await;
            println!("{report}");
            println!("SOAK {}", report.json());
            failed |= !report.passed();
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
