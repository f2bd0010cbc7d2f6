//! Benchmark: failover of whole `oracle-bot` processes, per elector (lock file, Redis, etcd).
//!
//! ```sh
//! cargo build -p oracle-bot && cargo run -p oracle-tests --bin bot_failover [-- ROUNDS]
//! ```
//!
//! Three bots on a target anvil that mines a block every second, electing through each backend
//! in turn with the harness's short leases (1.5 s file and Redis, 2 s etcd; renewed every 200 ms)
//! and ticking every 200 ms. Each round stops the leader, moves the source price by 2 % at once
//! and measures, from the signal, (a) when the new leader's transaction is first seen in the
//! target's mempool (the takeover: lease expiry or release, then one tick, without the wait for a
//! block) and (b) when the moved price is first seen on chain (both polled every ~50 ms), plus
//! (c) how many 1-s blocks after the signal the update was mined. (The bots' `/health` leader flag
//! is no help here: it is published at the end of the first leading tick, after the receipt.) A crash is SIGKILL (the lease must expire); a
//! graceful stop is SIGTERM (the bot releases its lease). The stopped bot is restarted before the
//! next round. ROUNDS (default 5) of each kind per elector.
//!
//! The bot is `ORACLE_BOT_BIN` when set, else the `oracle-bot` next to this executable (the same
//! profile's build). Prints one line per elector and kind, then one `BENCH {json}` line.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{primitives::U256, providers::Provider};
use oracle_tests::{
    Deployment, START_ETH, anvil_with_block_time,
    bot::{
        BotProcess, env_for, eventually, http_get, with_etcd_election, with_file_election,
        with_redis_election,
    },
    chain::{pending_from, updates},
    election::{EtcdServer, RedisServer},
};

/// The bots' tick (the harness's `UPDATE_INTERVAL_MS`).
const TICK_MS: u64 = 200;
/// How often the measurement polls the bots and the chain.
const POLL: Duration = Duration::from_millis(50);

fn bot_bin() -> PathBuf {
    std::env::var_os("ORACLE_BOT_BIN").map_or_else(
        || {
            // Bins of one profile sit side by side in target/<profile>/.
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().join("oracle-bot")
        },
        PathBuf::from,
    )
}

struct Member {
    process: BotProcess,
    url: String,
}

impl Member {
    async fn start(bin: &PathBuf, env: &HashMap<String, String>) -> Self {
        let mut process = BotProcess::spawn(bin, env);
        let url = process.endpoints().await;
        Self { process, url }
    }
}

/// `Some(true)` when the bot's `/health` says it leads; `None` when it does not answer.
async fn leads(url: &str) -> Option<bool> {
    let (_, body) = http_get(format!("{url}/health")).await?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json["isLeader"].as_bool()
}

/// Waits until every bot is ready and exactly one leads; its index.
async fn one_leader(bots: &[Member]) -> usize {
    eventually("exactly one leader, every bot ready", || async {
        let mut leaders = Vec::new();
        for (i, b) in bots.iter().enumerate() {
            let (code, _) = http_get(format!("{}/ready", b.url)).await?;
            if code != 200 {
                return None;
            }
            if leads(&b.url).await? {
                leaders.push(i);
            }
        }
        (leaders.len() == 1).then(|| leaders[0])
    })
    .await
}

/// One round's figures, in milliseconds (blocks: whole blocks after the signal).
#[derive(Debug, Clone, Copy)]
struct Round {
    to_sent_ms: f64,
    to_mined_ms: f64,
    blocks: u64,
}

/// The median and the worst of `v`.
fn median_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v.get(v.len() / 2).copied().unwrap_or_default(), v.last().copied().unwrap_or_default())
}

fn summary(rounds: &[Round]) -> serde_json::Value {
    let (lm, lx) = median_max(rounds.iter().map(|r| r.to_sent_ms).collect());
    let (mm, mx) = median_max(rounds.iter().map(|r| r.to_mined_ms).collect());
    let (bm, bx) = median_max(rounds.iter().map(|r| r.blocks as f64).collect());
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    serde_json::json!({
        "rounds": rounds.len(),
        "to_sent_median_ms": round1(lm), "to_sent_max_ms": round1(lx),
        "to_mined_median_ms": round1(mm), "to_mined_max_ms": round1(mx),
        "blocks_median": bm, "blocks_max": bx,
        "to_mined_ms": rounds.iter().map(|r| round1(r.to_mined_ms)).collect::<Vec<_>>(),
    })
}

/// Runs `rounds` crashes and `rounds` graceful stops, alternating, with three bots electing
/// through `elect`; returns (crash, graceful).
async fn bench(
    name: &str,
    rounds: usize,
    elect: impl Fn(&mut HashMap<String, String>),
) -> (Vec<Round>, Vec<Round>) {
    let bin = bot_bin();
    let d = Deployment::with_target(anvil_with_block_time(420_691, 1)).await;
    let state = tempfile::tempdir().unwrap();
    let env = |id: &str| {
        let mut env = env_for(&d, id);
        elect(&mut env);
        // Every move counts: the minimum interval would hold the next round's move back.
        env.insert("MIN_UPDATE_INTERVAL_S".into(), "0".into());
        env.insert("STATE_DIR".into(), state.path().join(id).display().to_string());
        env
    };
    let ids = ["bench-a", "bench-b", "bench-c"];
    let mut bots = Vec::new();
    for id in ids {
        bots.push(Member::start(&bin, &env(id)).await);
    }
    let mut price = START_ETH;
    let (mut crash, mut graceful) = (Vec::new(), Vec::new());
    for round in 0..rounds * 2 {
        let kill = round % 2 == 0;
        let leader = one_leader(&bots).await;
        // The oracle holds the current price (the previous round's update has landed).
        eventually("the oracle holds the current price", || async {
            (d.prices().await.0 == U256::from(price)).then_some(())
        })
        .await;
        price = if price == START_ETH { START_ETH * 102 / 100 } else { START_ETH };
        let block_at_stop = d.target_admin.get_block_number().await.unwrap();
        let started = Instant::now();
        if kill {
            bots[leader].process.kill9().await;
        } else {
            bots[leader].process.term();
        }
        d.set_eth(price as i128).await;
        // Every bot signs with the same updater key; nothing of it is pending before the stop
        // (the previous update has been mined and the price had not moved).
        let mut to_sent = None;
        let to_mined = loop {
            if to_sent.is_none() && pending_from(&d.target_admin, d.updater).await > 0 {
                to_sent = Some(started.elapsed());
            }
            if d.prices().await.0 == U256::from(price) {
                break started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{name}: no update within 60 s");
            tokio::time::sleep(POLL).await;
        };
        let update = updates(&d).await.pop().expect("an update");
        let r = Round {
            // Mined between two polls, never seen pending: the mining bounds the sending.
            to_sent_ms: to_sent.unwrap_or(to_mined).as_secs_f64() * 1000.0,
            to_mined_ms: to_mined.as_secs_f64() * 1000.0,
            blocks: update.block.saturating_sub(block_at_stop),
        };
        println!(
            "{name:<5} {:<8} round {:>2}: new leader's transaction sent after {:>7.1} ms, update seen on chain after {:>7.1} ms ({} blocks)",
            if kill { "crash" } else { "graceful" },
            round / 2 + 1,
            r.to_sent_ms,
            r.to_mined_ms,
            r.blocks
        );
        if kill {
            crash.push(r)
        } else {
            graceful.push(r)
        }
        // The stopped bot comes back under its own id and state, as a supervisor would restart it.
        let mut old = bots.swap_remove(leader);
        let id = old.process.id.clone();
        if !kill {
            old.process.wait().await;
        }
        drop(old);
        bots.push(Member::start(&bin, &env(&id)).await);
    }
    for b in &bots {
        b.process.term();
    }
    for b in &mut bots {
        b.process.wait().await;
    }
    (crash, graceful)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bin = bot_bin();
    assert!(bin.exists(), "{} is missing: run `cargo build -p oracle-bot` first", bin.display());
    println!("bot: {}", bin.display());
    let mut electors = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    let results = bench("file", rounds, |env| with_file_election(env, &lock)).await;
    electors.push(("file", 1500, results));

    let redis = RedisServer::start().await;
    let url = redis.url();
    let results = bench("redis", rounds, |env| with_redis_election(env, &url)).await;
    electors.push(("redis", 1500, results));
    drop(redis);

    let etcd = EtcdServer::start().await;
    let endpoint = etcd.endpoint();
    let results = bench("etcd", rounds, |env| with_etcd_election(env, &endpoint)).await;
    electors.push(("etcd", 2000, results));
    drop(etcd);

    let mut rows = Vec::new();
    for (name, lease_ms, (crash, graceful)) in electors {
        for (kind, rounds) in [("crash", &crash), ("graceful", &graceful)] {
            let s = summary(rounds);
            println!(
                "{name:<5} {kind:<8} (lease {lease_ms} ms): transaction sent median {} ms, worst {} ms; \
                 update seen median {} ms, worst {} ms; blocks median {}, worst {}",
                s["to_sent_median_ms"],
                s["to_sent_max_ms"],
                s["to_mined_median_ms"],
                s["to_mined_max_ms"],
                s["blocks_median"],
                s["blocks_max"]
            );
        }
        rows.push(serde_json::json!({
            "name": name, "lease_ms": lease_ms, "crash": summary(&crash), "graceful": summary(&graceful),
        }));
    }
    let release = bin.components().any(|c| c.as_os_str() == "release");
    let json = serde_json::json!({
        "bench": "bot_failover",
        "rounds": rounds,
        "bot_build": if release { "release" } else { "debug" },
        "tick_ms": TICK_MS,
        "block_s": 1,
        "poll_ms": POLL.as_millis() as u64,
        "electors": rows,
    });
    println!("BENCH {json}");
}
