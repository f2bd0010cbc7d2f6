//! The demo behind `scripts/demo.sh`: a local "Base" with Chainlink's own `MockV3Aggregator` and
//! the real Uniswap V3 factory with an elizaOS/WETH pool, a local "Jeju" with our
//! `ManualPriceOracle`, two `oracle-bot` processes electing a leader through the file backend,
//! configured only through the old bot's environment variables. It moves the prices (Chainlink
//! answers, swaps in the pool), shows the bots' log lines and the oracle's on-chain values, stops
//! the leader part way, and shows the follower taking over on chain.
//!
//! `cargo run -p oracle-tests --bin demo -- <path to oracle-bot>`
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_000_00000000` is $3000).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{path::PathBuf, process::Stdio, time::Duration};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
};
use oracle_core::evm::bindings::ManualPriceOracle;
use oracle_tests::{
    anvil, deploy_aggregator, deploy_oracle, key_hex, lagging_anvil, set_answer, set_updater,
    uniswap::{ElizaPool, UniswapChain},
    wallet_provider,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The TWAP window the demo's bots use: short, so that a swap shows within a minute.
const WINDOW_S: u64 = 120;

fn say(text: &str) {
    println!("\n==> {text}");
}

/// Starts one bot with the old bot's variables; its log lines are printed with a prefix.
fn start_bot(bot: &str, env: &[(&str, String)]) -> Child {
    let bin = std::env::args().nth(1).map(PathBuf::from).expect("usage: demo <path to oracle-bot>");
    let mut child = Command::new(bin)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("BOT_ID", bot)
        .env("HEALTH_CHECK_PORT", "0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("oracle-bot starts");
    let stdout = child.stdout.take().expect("piped");
    let prefix = format!("    [{bot}] ");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // The quiet ticks are many; the demo shows what matters.
            if line.contains("update skipped: last update") || line.contains("is follower, skipping update") {
                continue;
            }
            println!(
                "{prefix}{}",
                line.split_once("  INFO ").or(line.split_once("  WARN ")).map_or(line.as_str(), |(_, l)| l)
            );
        }
    });
    child
}

async fn show(target: &DynProvider, oracle: Address) -> (U256, U256) {
    let p = ManualPriceOracle::new(oracle, target.clone()).getPrices().call().await.unwrap();
    let usd = |v: U256| oracle_core::Price::new(v, 8).unwrap().to_string();
    println!(
        "    on chain: ethUsdPrice={} (${}) elizaUsdPrice={} (${}) lastUpdateTime={} fresh={}",
        p.ethUsd,
        usd(p.ethUsd),
        p.elizaUsd,
        usd(p.elizaUsd),
        p.lastUpdate,
        p.fresh
    );
    (p.ethUsd, p.elizaUsd)
}

/// Waits (at most `secs`) for the oracle to change from `before`, then shows it.
async fn await_change(
    target: &DynProvider,
    oracle: Address,
    before: (U256, U256),
    secs: u64,
) -> (U256, U256) {
    for _ in 0..secs * 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let p = ManualPriceOracle::new(oracle, target.clone()).getPrices().call().await.unwrap();
        if (p.ethUsd, p.elizaUsd) != before {
            break;
        }
    }
    show(target, oracle).await
}

fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    say("starting local chains: Base (8453) and Jeju (420691)");
    // Base's clock starts 20 minutes behind the host, so the pool can be given a TWAP history
    // (by moving Base's time forward) without Chainlink's rounds ever being in the future.
    let base = UniswapChain::on(lagging_anvil(8453, 1200)).await;
    let jeju_node = anvil(420_691);
    let jeju = wallet_provider(&jeju_node, 0);

    say(
        "deploying Chainlink's MockV3Aggregator (ETH/USD = 3000), Uniswap V3 (factory, elizaOS/WETH pool) and the oracle",
    );
    let aggregator = deploy_aggregator(&base.admin, 8, 3_000_00000000).await;
    let ElizaPool { weth, eliza, pool } = base.elizaos_pool().await;
    let eliza_is_token0 = eliza < weth;
    base.advance(WINDOW_S + 60).await;
    let oracle = deploy_oracle(&jeju, jeju_node.addresses()[0], 3_000_00000000, 10_000_000).await;
    let updater = jeju_node.addresses()[1];
    set_updater(&jeju, oracle, updater).await;
    println!(
        "    aggregator {aggregator}, factory {}, pool {pool} (elizaOS {eliza}, WETH {weth}), oracle {oracle}",
        base.factory
    );
    show(&jeju, oracle).await;

    let sequencer = oracle_tests::deploy_sequencer_feed(&base.admin, 7200).await;
    let lock = tempfile::tempdir().unwrap();
    let env = vec![
        ("CHAINLINK_SEQUENCER_UPTIME_FEED", sequencer.to_string()),
        ("BASE_RPC_URLS", base.anvil.endpoint()),
        ("JEJU_RPC_URLS", jeju_node.endpoint()),
        ("ORACLE_ADDRESS", oracle.to_string()),
        ("PRICE_UPDATER_PRIVATE_KEY", key_hex(&jeju_node, 1)),
        ("CHAINLINK_ETH_USD_ADDRESS", aggregator.to_string()),
        ("ELIZAOS_TOKEN_BASE", eliza.to_string()),
        ("UNISWAP_V3_FACTORY", base.factory.to_string()),
        ("WETH_ADDRESS", weth.to_string()),
        ("UNISWAP_TWAP_WINDOW_S", WINDOW_S.to_string()),
        ("UPDATE_INTERVAL_MS", "2000".into()),
        ("MIN_UPDATE_INTERVAL_S", "5".into()),
        ("LEADER_ELECTION_ENABLED", "true".into()),
        ("LEADER_ELECTION_BACKEND", "file".into()),
        ("LEADER_LOCK_PATH", lock.path().join("oracle-bot-leader.lock").display().to_string()),
        // This run's own in-flight journal (the default directory outlives the demo's chains).
        ("STATE_DIR", lock.path().join("state").display().to_string()),
    ];
    say("starting two oracle-bots (ticks every 2 s, minimum interval 5 s), electing through a lock file");
    let first = start_bot("demo-bot-1", &env);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = start_bot("demo-bot-2", &env);

    let aggregator_move = |answer: u128| {
        let admin = base.admin.clone();
        async move { set_answer(&admin, aggregator, answer as i128).await }
    };

    tokio::time::sleep(Duration::from_secs(6)).await;
    say("Chainlink ETH/USD moves to 3012 (+0.4%: under the 1% threshold, nothing is sent)");
    aggregator_move(3_012_00000000).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut state = show(&jeju, oracle).await;

    say("Chainlink ETH/USD moves to 3075 (+2.5%)");
    aggregator_move(3_075_00000000).await;
    state = await_change(&jeju, oracle, state, 15).await;

    say(
        "someone buys elizaOS in the pool (spot +6%); Base's clock moves 60 s, so the 120-s TWAP follows half way",
    );
    base.swap_fraction(pool, !eliza_is_token0, 300).await;
    base.advance(60).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    state = await_change(&jeju, oracle, state, 15).await;

    say("stopping the leader (SIGTERM): it releases the lock, the follower takes over at once");
    let (leader, follower) = (first, second);
    terminate(&leader);
    tokio::time::sleep(Duration::from_secs(3)).await;

    say("Chainlink ETH/USD moves to 3200 (+4%): the new leader updates the oracle");
    aggregator_move(3_200_00000000).await;
    state = await_change(&jeju, oracle, state, 20).await;

    say("Chainlink ETH/USD moves to 2950 (-7.8%)");
    tokio::time::sleep(Duration::from_secs(5)).await;
    aggregator_move(2_950_00000000).await;
    await_change(&jeju, oracle, state, 20).await;

    say("stopping");
    terminate(&follower);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let updates = jeju.get_transaction_count(updater).await.unwrap();
    println!("\n==> done: {updates} transactions by the updater key; final state:");
    show(&jeju, oracle).await;
}
