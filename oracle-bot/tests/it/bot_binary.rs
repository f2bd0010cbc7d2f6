//! The `oracle-bot` binary against real anvil chains, configured only through the old bot's
//! environment variables.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{collections::HashMap, process::Stdio};

use alloy::primitives::U256;
use oracle_core::evm::bindings::ManualPriceOracle;
use oracle_tests::{
    Deployment, deploy_aggregator,
    fake_rpc::{HTML_PAGE_MARKER, dead_url, html_url},
    key_hex,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

fn bot_command(env: &HashMap<&str, String>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oracle-bot"));
    cmd.env_clear()
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn env_for(d: &Deployment) -> HashMap<&'static str, String> {
    HashMap::from([
        // The first Base endpoint is dead: every run exercises the failover.
        ("BASE_RPC_URLS", format!("{},{}", dead_url(), d.source.endpoint())),
        ("JEJU_RPC_URL", d.target.endpoint()),
        ("ORACLE_ADDRESS", d.oracle.to_string()),
        ("PRICE_UPDATER_PRIVATE_KEY", key_hex(&d.target, 1)),
        ("CHAINLINK_ETH_USD_ADDRESS", d.aggregator.to_string()),
        ("CHAINLINK_SEQUENCER_UPTIME_FEED", d.sequencer_feed.to_string()),
        ("ELIZAOS_FIXED_PRICE_USD", "0.10".into()),
        ("UPDATE_INTERVAL_MS", "200".into()),
        ("HEALTH_CHECK_PORT", "0".into()),
        ("BOT_ID", "e2e-bot".into()),
        ("STATE_DIR", oracle_tests::bot::test_state_dir(d, "e2e-bot")),
    ])
}

/// Reads the bot's log until a line contains `needle`; returns that line. Fails if the bot exits.
async fn await_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    needle: &str,
) -> String {
    while let Some(line) = lines.next_line().await.expect("reading the bot's stdout") {
        // Shown when the test fails: what the bot said on the way.
        println!("{line}");
        if line.contains(needle) {
            return line;
        }
    }
    panic!("the bot exited before logging {needle:?}");
}

/// Runs a bot that must fail at start-up; returns (exit code, stderr + stdout).
async fn start_failure(env: &HashMap<&str, String>) -> (i32, String) {
    let out = bot_command(env).output().await.expect("the bot runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert!(!text.contains("panicked"), "the bot panicked instead of explaining: {text}");
    (out.status.code().expect("exited, not killed"), text)
}

/// Reads the bot's log up to the line saying where `/health` is served; returns the port.
async fn health_port(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    let serving = await_line(lines, "serving /health and /metrics").await;
    let addr =
        serving.split("bound=").nth(1).and_then(|s| s.split_whitespace().next()).expect("the bound address");
    addr.rsplit(':').next().expect("a port").to_owned()
}

/// `GET /health` of the bot on `port`: the status code and the JSON body.
async fn health(port: &str) -> (u16, serde_json::Value) {
    let (code, body) = http_get(format!("http://127.0.0.1:{port}/health")).await;
    (code, serde_json::from_str(&body).expect("health is JSON"))
}

async fn http_get(url: String) -> (u16, String) {
    let resp = alloy::transports::http::reqwest::get(url).await.expect("the health server answers");
    let code = resp.status().as_u16();
    (code, resp.text().await.expect("a body"))
}

fn terminate(child: &Child) {
    let pid = child.id().expect("the bot is running").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_updates_the_oracle_and_reports_it() {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;

    let mut child = bot_command(&env_for(&d)).spawn().expect("the bot starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let port = health_port(&mut lines).await;
    let failed = await_line(&mut lines, "Base RPC 0 failed").await;
    assert!(failed.contains("trying fallback..."), "{failed}");
    await_line(&mut lines, "Base switched to RPC 1").await;
    await_line(&mut lines, "Oracle updated successfully").await;

    let (eth, eliza, _) = d.prices().await;
    assert_eq!(eth, U256::from(3_100_00000000u128));
    assert_eq!(eliza, U256::from(10_000_000u128));

    let (code, body) = http_get(format!("http://127.0.0.1:{port}/health")).await;
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["botId"], "e2e-bot");
    assert_eq!(health["isLeader"], true);
    assert_eq!(health["totalUpdates"], 1);
    assert_eq!(health["ethPrice"], 3100.0);
    assert!(health["rpcFailovers"].as_u64().unwrap() >= 1, "the dead Base endpoint was failed over");

    let (code, metrics) = http_get(format!("http://127.0.0.1:{port}/metrics")).await;
    assert_eq!(code, 200);
    for series in [
        "oracle_total_updates{bot_id=\"e2e-bot\"} 1",
        "oracle_is_leader{bot_id=\"e2e-bot\"} 1",
        "oracle_eth_usd_price{bot_id=\"e2e-bot\"} 3100",
        "chain=\"Jeju\"} 0",
        "oracle_last_update_timestamp{bot_id=\"e2e-bot\"}",
        "oracle_uptime_seconds{bot_id=\"e2e-bot\"}",
        "oracle_updates_remaining{bot_id=\"e2e-bot\"}",
        "oracle_fees_paid_gwei_total{bot_id=\"e2e-bot\"}",
        "oracle_leader_election_failures_total{bot_id=\"e2e-bot\"} 0",
    ] {
        assert!(metrics.contains(series), "missing {series} in:\n{metrics}");
    }
    let secrets = key_hex(&d.target, 1);
    assert!(!metrics.contains(&secrets[2..]) && !body.contains(&secrets[2..]));

    terminate(&child);
    await_line(&mut lines, "engine stopped").await;
    let status = child.wait().await.expect("the bot exits");
    assert!(status.success(), "a SIGTERM stop is clean: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_are_clear_messages() {
    let d = Deployment::start().await;

    let mut env = env_for(&d);
    env.insert("PRICE_UPDATER_PRIVATE_KEY", "0x1234deadbeef".into());
    let (code, text) = start_failure(&env).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("PRICE_UPDATER_PRIVATE_KEY is invalid") && text.contains("64 hex digits"),
        "{text}"
    );
    assert!(!text.contains("1234deadbeef"), "the key is not echoed: {text}");

    let mut env = env_for(&d);
    env.remove("PRICE_UPDATER_PRIVATE_KEY");
    let (code, text) = start_failure(&env).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("PRICE_UPDATER_PRIVATE_KEY is required"), "{text}");

    let mut env = env_for(&d);
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.insert("JEJU_RPC_URL", format!("http://127.0.0.1:{port}/SECRETKEY"));
    let (code, text) = start_failure(&env).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cannot reach the Jeju RPC endpoint"), "{text}");
    assert!(!text.contains("SECRETKEY"), "the URL's key is not printed: {text}");

    let mut env = env_for(&d);
    env.insert("ORACLE_ADDRESS", "0x000000000000000000000000000000000000dEaD".into());
    let (code, text) = start_failure(&env).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no contract is deployed at 0x000000000000000000000000000000000000dEaD"), "{text}");

    let not_an_oracle = deploy_aggregator(&d.target_admin, 8, 1).await;
    let mut env = env_for(&d);
    env.insert("ORACLE_ADDRESS", not_an_oracle.to_string());
    let (code, text) = start_failure(&env).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("does not behave like a ManualPriceOracle"), "{text}");
}

/// `JEJU_RPC_URL` pointed at a plain web server: the bot stops with one short line that names
/// the endpoint (without its key), what it answered and what was expected, and no log line
/// carries the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_endpoint_stops_the_bot_with_one_short_line() {
    let d = Deployment::start().await;
    let html = html_url().await;
    let mut env = env_for(&d);
    env.insert("JEJU_RPC_URL", format!("{html}/v2/SECRETKEY"));
    let out = bot_command(&env).output().await.expect("the bot runs");
    let (stderr, stdout) = (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    );
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.len() < 400, "short: {stderr}");
    for part in [
        "cannot reach the Jeju RPC endpoint",
        html.as_str(),
        "answered HTTP 200 (text/html",
        "instead of a JSON-RPC response",
        "<!DOCTYPE html>",
    ] {
        assert!(stderr.contains(part), "{part:?} missing: {stderr}");
    }
    for text in [&stderr, &stdout] {
        assert!(!text.contains("SECRETKEY"), "the URL's key is not printed: {text}");
        assert!(!text.contains(HTML_PAGE_MARKER), "the page is not printed whole: {text}");
    }
    assert!(stdout.lines().all(|l| l.len() < 600), "log lines stay short: {stdout}");
}

/// Election through the file backend (no `LEADER_ELECTION_BACKEND`) in a Kubernetes pod: the
/// lock file is not shared with the other pods' bots, and the start-up log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_backend_in_a_pod_is_warned_about_at_start_up() {
    let d = Deployment::start().await;
    let lock = tempfile::tempdir().unwrap();
    let mut env = env_for(&d);
    env.extend([
        ("LEADER_ELECTION_ENABLED", "true".to_owned()),
        ("LEADER_LOCK_PATH", lock.path().join("leader.lock").display().to_string()),
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1".to_owned()),
    ]);
    let mut child = bot_command(&env).spawn().expect("the bot starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    // The warning comes with the start-up lines, before the engine starts.
    let mut start_up = Vec::new();
    loop {
        let line = lines.next_line().await.unwrap().expect("the bot runs");
        println!("{line}");
        if line.contains("engine started") {
            break;
        }
        start_up.push(line);
    }
    let warning = start_up
        .iter()
        .find(|l| l.contains("the file backend only coordinates bots on one host"))
        .unwrap_or_else(|| panic!("no warning about the file backend in: {start_up:#?}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("KUBERNETES_SERVICE_HOST") && warning.contains("redis or etcd"), "{warning}");
    terminate(&child);
    await_line(&mut lines, "engine stopped").await;
    assert!(child.wait().await.unwrap().success());
}

/// The reproduced incident: gas above `MAX_GAS_PRICE_GWEI` and the oracle's data 4000 s old
/// (`isPriceFresh()` false). Every tick is skipped and none fails, yet the leader's `/health`
/// answers 503 naming the `stale` rule; a follower stays 200 and says the data is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lets_the_data_go_stale_is_unhealthy_and_a_follower_is_not() {
    let d = Deployment::start().await;
    d.advance_target(4_000).await;
    let oracle = ManualPriceOracle::new(d.oracle, d.target_admin.clone());
    assert!(!oracle.isPriceFresh().call().await.unwrap(), "the contract calls the data stale");
    let lock = tempfile::tempdir().unwrap();
    let mut env = env_for(&d);
    env.extend([
        // anvil asks at least 1 gwei (its base fee plus a 1 gwei tip).
        ("MAX_GAS_PRICE_GWEI", "0.5".to_owned()),
        ("LEADER_ELECTION_ENABLED", "true".to_owned()),
        ("LEADER_LOCK_PATH", lock.path().join("leader.lock").display().to_string()),
        ("LEADER_LEASE_MS", "1500".to_owned()),
        ("LEADER_RENEW_INTERVAL_MS", "200".to_owned()),
        ("LEADER_RENEW_DEADLINE_MS", "1000".to_owned()),
    ]);
    let mut env_a = env.clone();
    env_a.insert("BOT_ID", "bot-a".into());
    let mut env_b = env;
    env_b.insert("BOT_ID", "bot-b".into());

    let mut a = bot_command(&env_a).spawn().expect("bot a starts");
    let mut a_lines = BufReader::new(a.stdout.take().unwrap()).lines();
    let a_port = health_port(&mut a_lines).await;
    await_line(&mut a_lines, "Bot bot-a became leader").await;
    let skipped = await_line(&mut a_lines, "update skipped").await;
    assert!(skipped.contains("gas_too_high"), "{skipped}");
    // A tick records its status before the next tick starts: after the second skip, the first
    // is in the status.
    await_line(&mut a_lines, "update skipped").await;
    let (code, h) = health(&a_port).await;
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["status"], "unhealthy", "{h}");
    assert_eq!(h["reasons"], serde_json::json!(["stale"]), "{h}");
    assert_eq!(h["consecutiveFailures"], 0, "skipped ticks are not failures: {h}");
    assert_eq!((h["isLeader"].clone(), h["dataStale"].clone()), (true.into(), true.into()), "{h}");
    assert!(h["dataAgeSeconds"].as_u64().unwrap() >= 4_000, "{h}");
    assert!(h["lastTickAt"].as_u64().is_some() && h["lastUpdate"].as_u64().is_some(), "{h}");

    let mut b = bot_command(&env_b).spawn().expect("bot b starts");
    let mut b_lines = BufReader::new(b.stdout.take().unwrap()).lines();
    let b_port = health_port(&mut b_lines).await;
    await_line(&mut b_lines, "Bot bot-b is follower, skipping update").await;
    let noticed = await_line(&mut b_lines, "oracle data is stale").await;
    assert!(noticed.contains("bot-a"), "it names the leader: {noticed}");
    let (code, h) = health(&b_port).await;
    assert_eq!(code, 200, "the leader is responsible, not the follower: {h}");
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["reasons"], serde_json::json!([]), "{h}");
    assert_eq!((h["isLeader"].clone(), h["dataStale"].clone()), (false.into(), true.into()), "{h}");
    assert!(h["dataAgeSeconds"].as_u64().unwrap() >= 4_000, "{h}");

    terminate(&b);
    await_line(&mut b_lines, "engine stopped").await;
    assert!(b.wait().await.unwrap().success());
    terminate(&a);
    await_line(&mut a_lines, "released leadership").await;
    assert!(a.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_elect_one_leader_and_the_follower_takes_over_when_it_dies() {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let lock = tempfile::tempdir().unwrap();
    let mut env = env_for(&d);
    env.extend([
        ("LEADER_ELECTION_ENABLED", "true".to_owned()),
        ("LEADER_ELECTION_BACKEND", "file".to_owned()),
        ("LEADER_LOCK_PATH", lock.path().join("leader.lock").display().to_string()),
        ("LEADER_LEASE_MS", "1500".to_owned()),
        ("LEADER_RENEW_INTERVAL_MS", "200".to_owned()),
        ("LEADER_RENEW_DEADLINE_MS", "1000".to_owned()),
        ("MIN_UPDATE_INTERVAL_S", "0".to_owned()),
    ]);
    let mut env_a = env.clone();
    env_a.insert("BOT_ID", "bot-a".into());
    let mut env_b = env.clone();
    env_b.insert("BOT_ID", "bot-b".into());

    let mut a = bot_command(&env_a).spawn().expect("bot a starts");
    let mut a_lines = BufReader::new(a.stdout.take().unwrap()).lines();
    await_line(&mut a_lines, "Bot bot-a became leader").await;
    let mut b = bot_command(&env_b).spawn().expect("bot b starts");
    let mut b_lines = BufReader::new(b.stdout.take().unwrap()).lines();
    await_line(&mut b_lines, "Bot bot-b is follower, skipping update").await;

    d.set_eth(3_100_00000000).await;
    await_line(&mut a_lines, "Oracle updated successfully").await;
    assert_eq!(d.prices().await.0, U256::from(3_100_00000000u128));

    // The leader dies without releasing: the follower takes over once the lease runs out.
    a.kill().await.unwrap();
    d.set_eth(3_200_00000000).await;
    await_line(&mut b_lines, "Previous leader bot-a is dead, taking over").await;
    await_line(&mut b_lines, "Bot bot-b became leader").await;
    let landed = await_line(&mut b_lines, "Oracle updated successfully").await;
    assert!(landed.contains("token=Some(FencingToken(2))"), "a new term, a larger token: {landed}");
    assert_eq!(d.prices().await.0, U256::from(3_200_00000000u128));

    terminate(&b);
    await_line(&mut b_lines, "released leadership").await;
    assert!(b.wait().await.unwrap().success());
}
