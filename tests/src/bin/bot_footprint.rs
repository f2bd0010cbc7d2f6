//! Benchmark: resident memory, CPU and start-up time of one `oracle-bot` on the Jeju default
//! feeds (Chainlink ETH/USD; elizaOS/USD = Uniswap V3 30-minute TWAP × Chainlink) on local anvil
//! chains running the real Uniswap V3 contracts.
//!
//! ```sh
//! cargo build --release -p oracle-bot
//! ORACLE_BOT_BIN=target/release/oracle-bot cargo run -p oracle-tests --bin bot_footprint [-- SECONDS]
//! ```
//!
//! The bot ticks every 100 ms for SECONDS (default 120) after it is ready: many more ticks than a
//! production hour (the default interval is 300 s, 12 ticks an hour), so a steady state and any
//! growth show in minutes. The ETH/USD answer moves ±2 % every 10 s (minimum interval 0) so some
//! ticks submit. Every second it samples `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/stat`
//! (utime + stime). Start-up is the time from spawn to the first 200 from `/ready`.
//!
//! The bot is `ORACLE_BOT_BIN` when set, else `oracle-bot` in the target directory's release/. Prints the figures, then
//! one `BENCH {json}` line.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use oracle_tests::{
    START_ETH, anvil,
    bot::{BotProcess, http_get},
    deploy_aggregator, deploy_oracle, deploy_sequencer_feed, key_hex, lagging_anvil, set_answer, set_updater,
    uniswap::{ElizaPool, UniswapChain},
    wallet_provider,
};

const TICK_MS: u64 = 100;
/// The production default `UPDATE_INTERVAL_MS`, for the "hours of ticks" comparison.
const DEFAULT_TICK_S: f64 = 300.0;
const MOVE_EVERY: Duration = Duration::from_secs(10);

fn bot_bin() -> PathBuf {
    std::env::var_os("ORACLE_BOT_BIN").map_or_else(
        || {
            // This executable is target/<profile>/bot_footprint; the bot is target/release/.
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(Path::parent).unwrap().join("release/oracle-bot")
        },
        PathBuf::from,
    )
}

/// The pid of the process running `exe` with `BOT_ID=bot_id` in its environment.
fn find_pid(exe: &Path, bot_id: &str) -> Option<u32> {
    let want_env = format!("BOT_ID={bot_id}");
    let exe = exe.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let dir = entry.path();
        (std::fs::read_link(dir.join("exe")).ok()? == exe
            && std::fs::read(dir.join("environ"))
                .ok()?
                .split(|b| *b == 0)
                .any(|kv| kv == want_env.as_bytes()))
        .then_some(pid)
    })
}

/// VmRSS in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed: utime and
    // stime are fields 14 and 15, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The sum of every `series` sample in a Prometheus text exposition.
fn sum_of(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series) && l[series.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(120);
    let bin = bot_bin();
    assert!(bin.exists(), "{} is missing: run `cargo build --release -p oracle-bot` first", bin.display());

    // As rpc_cost sets up the Jeju defaults: Base's clock starts 40 minutes behind, so the pool's
    // 30-minute TWAP history fits before "now".
    let base = UniswapChain::on(lagging_anvil(8453, 2400)).await;
    let aggregator = deploy_aggregator(&base.admin, 8, START_ETH as i128).await;
    let ElizaPool { weth, eliza, .. } = base.elizaos_pool().await;
    base.advance(1900).await;
    let sequencer = deploy_sequencer_feed(&base.admin, 7200).await;
    let jeju = anvil(420_691);
    let jeju_admin = wallet_provider(&jeju, 0);
    let oracle = deploy_oracle(&jeju_admin, jeju.addresses()[0], START_ETH, 10_000_000).await;
    set_updater(&jeju_admin, oracle, jeju.addresses()[1]).await;

    let state = tempfile::tempdir().unwrap();
    let bot_id = format!("footprint-{}", std::process::id());
    let env = [
        ("BASE_RPC_URLS", base.anvil.endpoint()),
        ("JEJU_RPC_URLS", jeju.endpoint()),
        ("ORACLE_ADDRESS", oracle.to_string()),
        ("PRICE_UPDATER_PRIVATE_KEY", key_hex(&jeju, 1)),
        ("CHAINLINK_ETH_USD_ADDRESS", aggregator.to_string()),
        ("CHAINLINK_SEQUENCER_UPTIME_FEED", sequencer.to_string()),
        ("ELIZAOS_TOKEN_BASE", eliza.to_string()),
        ("UNISWAP_V3_FACTORY", base.factory.to_string()),
        ("WETH_ADDRESS", weth.to_string()),
        ("UPDATE_INTERVAL_MS", TICK_MS.to_string()),
        // Each move lands (the default 60 s would hold most of them back).
        ("MIN_UPDATE_INTERVAL_S", "0".into()),
        ("HEALTH_CHECK_PORT", "0".into()),
        ("BOT_ID", bot_id.clone()),
        ("RUST_LOG", "info".into()),
        ("STATE_DIR", state.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let spawned = Instant::now();
    let mut bot = BotProcess::spawn(&bin, &env);
    let url = bot.endpoints().await;
    let startup = loop {
        if matches!(http_get(format!("{url}/ready")).await, Some((200, _))) {
            break spawned.elapsed();
        }
        assert!(spawned.elapsed() < Duration::from_secs(60), "not ready within 60 s:\n{}", bot.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let pid = find_pid(&bin, &bot_id).expect("the bot's pid");
    let hz = clock_ticks_per_second();
    let rss_ready = rss_kib(pid).unwrap();
    let cpu_at_ready = cpu_ticks(pid).unwrap();
    let ticks_at_ready = sum_of(&http_get(format!("{url}/metrics")).await.unwrap().1, "oracle_ticks_total");

    let started = Instant::now();
    let mut peak = rss_ready;
    let mut samples = Vec::new();
    let mut next_move = MOVE_EVERY;
    let mut moves = 0u32;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_kib(pid).expect("the bot runs");
        peak = peak.max(rss);
        samples.push(rss);
        if started.elapsed() >= next_move {
            moves += 1;
            let answer = if moves % 2 == 1 { START_ETH * 102 / 100 } else { START_ETH };
            set_answer(&base.admin, aggregator, answer as i128).await;
            next_move += MOVE_EVERY;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let metrics = http_get(format!("{url}/metrics")).await.unwrap().1;
    let ticks = sum_of(&metrics, "oracle_ticks_total") - ticks_at_ready;
    let updates = sum_of(&metrics, "oracle_total_updates");
    let failures = sum_of(&metrics, "oracle_update_failures_total");
    let cpu_s = (cpu_ticks(pid).unwrap() - cpu_at_ready) as f64 / hz;
    let cpu_total_s = cpu_ticks(pid).unwrap() as f64 / hz;
    let rss_final = rss_kib(pid).unwrap();
    peak = peak.max(rss_final);
    bot.term();
    bot.wait().await;

    let hours = ticks * DEFAULT_TICK_S / 3600.0;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("bot: {}", bin.display());
    println!("start-up to a 200 from /ready: {startup:?}");
    println!(
        "{ticks} ticks in {wall:.0} s (every {TICK_MS} ms; {hours:.0} h of ticks at the default 300 s), \
         {moves} moves, {updates} updates landed, {failures} failed ticks"
    );
    println!(
        "VmRSS: at ready {:.1} MiB, peak {:.1} MiB, final {:.1} MiB",
        mib(rss_ready),
        mib(peak),
        mib(rss_final)
    );
    println!(
        "CPU: {cpu_s:.2} s over {wall:.0} s after ready ({:.1} % of one core); {cpu_total_s:.2} s since spawn",
        cpu_s / wall * 100.0
    );
    let round = |x: f64, d: f64| (x * d).round() / d;
    let json = serde_json::json!({
        "bench": "bot_footprint",
        "bot_build": if bin.components().any(|c| c.as_os_str() == "release") { "release" } else { "debug" },
        "tick_ms": TICK_MS,
        "seconds": round(wall, 1.0),
        "ticks": ticks,
        "default_tick_hours": round(hours, 10.0),
        "moves": moves,
        "updates": updates,
        "failed_ticks": failures,
        "startup_ms": round(startup.as_secs_f64() * 1000.0, 1.0),
        "rss_ready_kib": rss_ready,
        "rss_peak_kib": peak,
        "rss_final_kib": rss_final,
        "rss_samples": samples.len(),
        // A leak shows as a rise from quarter to quarter; a steady state as a flat line.
        "rss_quarters_kib": (1..=4).map(|q| samples.get((samples.len() * q / 4).saturating_sub(1)).copied()).collect::<Vec<_>>(),
        "cpu_s": round(cpu_s, 100.0),
        "cpu_pct": round(cpu_s / wall * 100.0, 100.0),
        "cpu_since_spawn_s": round(cpu_total_s, 100.0),
    });
    println!("BENCH {json}");
}
