//! The real `oracle-cli` binary against the real oracle on anvil, the real coordination servers
//! and real `oracle-bot` processes. Every verdict is read from the chain or the backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3245_67000000` is $3245.67).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{collections::HashMap, os::unix::fs::PermissionsExt as _};

use alloy::primitives::{Address, U256};
use oracle_core::evm::bindings::ManualPriceOracle;
use oracle_tests::{
    Deployment, START_ETH,
    bot::{BotProcess, env_for, with_file_election, with_redis_election},
    chain,
    cli::{CliProcess, cli_env, run_cli, workspace_bin},
    election::{EtcdServer, RedisServer},
    key_hex, tool,
};

const REFUSED: i32 = 3;
const USAGE: i32 = 2;

async fn updater_of(d: &Deployment) -> Address {
    ManualPriceOracle::new(d.oracle, d.target_admin.clone()).priceUpdater().call().await.unwrap()
}

/// A running bot, its base URL and its own state directory (an in-flight journal left by a bot
/// of another test must not be followed).
struct Bot {
    process: BotProcess,
    url: String,
    _state: tempfile::TempDir,
}

impl std::ops::Deref for Bot {
    type Target = BotProcess;
    fn deref(&self) -> &BotProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Bot {
    fn deref_mut(&mut self) -> &mut BotProcess {
        &mut self.process
    }
}

/// Starts a bot with its own `STATE_DIR`.
async fn start_bot(env: &HashMap<String, String>) -> Bot {
    let state = tempfile::tempdir().unwrap();
    let mut env = env.clone();
    env.insert("STATE_DIR".into(), state.path().display().to_string());
    let mut process = BotProcess::spawn(workspace_bin("oracle-bot"), &env);
    let serving = process.await_line("serving /health and /metrics").await;
    let bound = serving.split("bound=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
    let port = bound.rsplit(':').next().unwrap();
    Bot { process, url: format!("http://127.0.0.1:{port}"), _state: state }
}

/// A bot electing through the lock file `lock` with extra settings, its URL, and the CLI's
/// environment with the same election settings.
async fn file_elected_bot(
    d: &Deployment,
    id: &str,
    lock: &std::path::Path,
    extra: &[(&str, &str)],
) -> (Bot, HashMap<String, String>) {
    let mut env = env_for(d, id);
    with_file_election(&mut env, lock);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let bot = start_bot(&env).await;
    let mut cli = cli_env(d);
    cli.extend(env.into_iter().filter(|(k, _)| k.starts_with("LEADER_")));
    (bot, cli)
}

/// A heartbeat of one second: the leader writes about every second, so a gap shows.
const EVERY_SECOND: [(&str, &str); 2] = [("MIN_UPDATE_INTERVAL_S", "0"), ("HEARTBEAT_S", "1")];

#[tokio::test]
async fn emergency_update_lands_the_exact_values_and_dry_run_sends_nothing() {
    let d = Deployment::start().await;
    let env = cli_env(&d);
    let owner = d.target.addresses()[0];

    let nonce = d.nonce(owner).await;
    let dry = run_cli(
        &env,
        &["--json", "emergency-update", "--eth", "3245.67", "--elizaos", "0.0842", "--dry-run"],
        "",
    )
    .await;
    dry.expect_code(0);
    let plan = dry.json();
    assert_eq!(plan["simulated"], true);
    assert_eq!(plan["sent"], false);
    assert_eq!(plan["ethUsd"]["new"], "324567000000");
    assert_eq!(plan["elizaUsd"]["new"], "8420000");
    assert_eq!(d.nonce(owner).await, nonce, "--dry-run must not send");
    assert_eq!(d.prices().await.0, U256::from(START_ETH));

    // Without a terminal and without --yes nothing is sent either.
    let unconfirmed =
        run_cli(&env, &["emergency-update", "--eth", "3245.67", "--elizaos", "0.0842"], "y\n").await;
    unconfirmed.expect_code(REFUSED);
    assert!(unconfirmed.stderr.contains("--yes"), "{}", unconfirmed.stderr);
    assert_eq!(d.nonce(owner).await, nonce);

    let sent = run_cli(
        &env,
        &["--json", "emergency-update", "--eth", "3245.67", "--elizaos", "0.0842", "--yes"],
        "",
    )
    .await;
    sent.expect_code(0);
    let report = sent.json();
    assert_eq!(report["sent"], true);
    assert_eq!(report["leaseHeld"], false);
    let (eth, eliza, _) = d.prices().await;
    assert_eq!(eth, U256::from(3245_67000000u128));
    assert_eq!(eliza, U256::from(8_420_000u128));
    assert_eq!(report["after"]["ethUsd"]["raw"], "324567000000");
    let updates = chain::updates(&d).await;
    let last = updates.last().unwrap();
    assert_eq!(report["txHash"], last.tx_hash.to_string());
    assert_eq!(report["block"], last.block);

    // The human form: aligned rows with old and new values.
    let human =
        run_cli(&env, &["emergency-update", "--eth", "3000", "--elizaos", "0.1", "--dry-run"], "").await;
    human.expect_code(0);
    assert!(human.stdout.contains("$3245.67 -> $3000.00"), "{}", human.stdout);
    assert!(human.stdout.contains("nothing was sent"), "{}", human.stdout);
}

#[tokio::test]
async fn a_non_owner_and_an_out_of_bounds_price_are_refused_before_anything_is_sent() {
    let d = Deployment::start().await;
    let mut env = cli_env(&d);
    env.insert("ORACLE_CLI_PRIVATE_KEY".into(), key_hex(&d.target, 1));
    let updater = d.target.addresses()[1];
    let nonce = d.nonce(updater).await;

    let out = run_cli(&env, &["emergency-update", "--eth", "3100", "--elizaos", "0.1", "--yes"], "").await;
    out.expect_code(REFUSED);
    assert!(out.stderr.contains("is not the oracle's owner"), "{}", out.stderr);
    assert!(out.stderr.contains(&updater.to_string()), "{}", out.stderr);
    assert!(!out.stderr.contains(&key_hex(&d.target, 1)[2..]), "the key must never be printed");
    assert_eq!(d.nonce(updater).await, nonce);

    // Below MIN_ETH_PRICE ($500): refused locally, without a key at all.
    env.remove("ORACLE_CLI_PRIVATE_KEY");
    let out =
        run_cli(&env, &["--json", "emergency-update", "--eth", "499.99", "--elizaos", "0.1", "--yes"], "")
            .await;
    out.expect_code(REFUSED);
    assert_eq!(out.json()["error"]["kind"], "refused");
    assert!(out.stderr.contains("outside the oracle's bounds"), "{}", out.stderr);
    assert_eq!(d.prices().await.0, U256::from(START_ETH));

    // set-updater by a non-owner: refused the same way.
    env.insert("ORACLE_CLI_PRIVATE_KEY".into(), key_hex(&d.target, 1));
    let other = d.target.addresses()[2].to_string();
    let out = run_cli(&env, &["set-updater", &other, "--yes"], "").await;
    out.expect_code(REFUSED);
    assert!(out.stderr.contains("only the owner may change the updater"), "{}", out.stderr);
    assert_eq!(d.nonce(updater).await, nonce);
}

#[tokio::test]
async fn set_updater_rotates_the_key_and_deploy_oracle_deploys_from_the_artifacts() {
    let d = Deployment::start().await;
    let env = cli_env(&d);
    let new = d.target.addresses()[2];
    let out = run_cli(&env, &["--json", "set-updater", &new.to_string(), "--yes"], "").await;
    out.expect_code(0);
    assert_eq!(out.json()["after"]["priceUpdater"], new.to_string());
    assert_eq!(updater_of(&d).await, new);

    for fenced in [false, true] {
        let mut args = vec!["--json", "deploy-oracle", "--eth", "3100.5", "--elizaos", "0.0842", "--yes"];
        let updater = d.target.addresses()[1].to_string();
        args.extend(["--updater", &updater]);
        if fenced {
            args.push("--fenced");
        }
        let mut env = env.clone();
        env.remove("ORACLE_ADDRESS");
        let out = run_cli(&env, &args, "").await;
        out.expect_code(0);
        let report = out.json();
        let address: Address = report["address"].as_str().unwrap().parse().unwrap();
        let o = ManualPriceOracle::new(address, d.target_admin.clone());
        let prices = o.getPrices().call().await.unwrap();
        assert_eq!(prices.ethUsd, U256::from(3100_50000000u128));
        assert_eq!(prices.elizaUsd, U256::from(8_420_000u128));
        assert_eq!(o.owner().call().await.unwrap(), d.target.addresses()[0]);
        assert_eq!(o.priceUpdater().call().await.unwrap(), d.target.addresses()[1]);
        assert_eq!(report["after"]["fenced"], fenced);
        assert_eq!(report["botSettings"]["ORACLE_ADDRESS"], address.to_string());
    }
}

#[tokio::test]
async fn paused_pause_and_unpause_say_plainly_that_the_contract_has_none() {
    let d = Deployment::start().await;
    let env = cli_env(&d);
    for (command, function) in [("paused", "paused()"), ("pause", "pause()"), ("unpause", "unpause()")] {
        let out = run_cli(&env, &[command], "").await;
        out.expect_code(REFUSED);
        assert!(out.stderr.contains(&format!("has no {function} function")), "{}", out.stderr);
        assert!(
            out.stderr.contains("set-updater") && out.stderr.contains("emergency-update"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.to_lowercase().contains("revert"), "no raw revert: {}", out.stderr);
        let json = run_cli(&env, &["--json", command], "").await;
        assert_eq!(json.json()["error"]["kind"], "refused");
    }
}

#[tokio::test]
async fn status_and_prices_report_the_chain_and_json_parses() {
    let d = Deployment::start().await;
    let env = cli_env(&d);
    let out = run_cli(&env, &["--json", "status"], "").await;
    out.expect_code(0);
    let status = out.json();
    assert_eq!(status["oracle"]["ethUsd"]["raw"], START_ETH.to_string());
    assert_eq!(status["oracle"]["ethUsd"]["dollars"], "3000.00");
    assert_eq!(status["oracle"]["elizaUsd"]["dollars"], "0.10");
    assert_eq!(status["oracle"]["owner"], d.target.addresses()[0].to_string());
    assert_eq!(status["oracle"]["priceUpdater"], d.updater.to_string());
    assert_eq!(status["oracle"]["version"], "1.0.0");
    assert_eq!(status["oracle"]["fenced"], false);
    assert_eq!(status["oracle"]["fresh"], true);
    let human = run_cli(&env, &["status"], "").await;
    human.expect_code(0);
    assert!(human.stdout.contains("ETH/USD") && human.stdout.contains("$3000.00"), "{}", human.stdout);

    // The source says $3100 (+3.33%): the bot would submit, once the minimum interval passed.
    d.set_eth(3_100_00000000).await;
    let out = run_cli(&env, &["--json", "prices"], "").await;
    out.expect_code(0);
    let prices = out.json();
    let eth = &prices["feeds"][0];
    assert_eq!(eth["sourceRaw"], "310000000000");
    assert_eq!(eth["onChainRaw"], START_ETH.to_string());
    assert_eq!(eth["change"], "+3.33%");
    assert_eq!(prices["decision"]["action"], "skip", "the deployment is younger than MIN_UPDATE_INTERVAL_S");
    assert_eq!(prices["sent"], false);
    d.advance_target(120).await;
    let out = run_cli(&env, &["--json", "prices"], "").await;
    let submit = out.json();
    assert_eq!(submit["decision"]["action"], "submit", "{submit}");
    assert!(submit["decision"]["reason"].as_str().unwrap().contains("ETH/USD moved 3.33%"), "{submit}");
    // +20%, beyond MAX_PRICE_DEVIATION_PCT (10): the bot holds it for confirming ticks first.
    d.set_eth(3_600_00000000).await;
    let held = run_cli(&env, &["--json", "prices"], "").await.json();
    assert_eq!(held["decision"]["action"], "skip", "{held}");
    assert!(held["decision"]["reason"].as_str().unwrap().contains("held until"), "{held}");
    assert_eq!(d.prices().await.0, U256::from(START_ETH), "prices sends nothing");
}

#[tokio::test]
async fn a_keystore_round_trips_and_a_wrong_password_is_refused() {
    let d = Deployment::start().await;
    let env = cli_env(&d);
    let dir = tempfile::tempdir().unwrap();
    // The keystore as `cast wallet import` writes it (Foundry's own tool).
    let status = std::process::Command::new(tool("cast"))
        .args(["wallet", "import", "owner", "--keystore-dir"])
        .arg(dir.path())
        .args(["--private-key", &key_hex(&d.target, 0), "--unsafe-password", "correct horse"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let keystore = dir.path().join("owner");
    let password = dir.path().join("password");
    std::fs::write(&password, "correct horse\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "battery staple\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut env = env.clone();
    env.remove("ORACLE_CLI_PRIVATE_KEY");
    let keystore_arg = keystore.to_str().unwrap();
    let args = |password: &str| {
        vec![
            "--json".to_owned(),
            "emergency-update".into(),
            "--eth".into(),
            "3300".into(),
            "--elizaos".into(),
            "0.11".into(),
            "--yes".into(),
            "--keystore".into(),
            keystore_arg.into(),
            "--password-file".into(),
            password.into(),
        ]
    };
    let wrong_args = args(wrong.to_str().unwrap());
    let out = run_cli(&env, &wrong_args.iter().map(String::as_str).collect::<Vec<_>>(), "").await;
    out.expect_code(USAGE);
    assert!(out.stderr.contains("wrong password"), "{}", out.stderr);
    assert!(!out.stderr.contains("battery"), "{}", out.stderr);

    let ok_args = args(password.to_str().unwrap());
    let out = run_cli(&env, &ok_args.iter().map(String::as_str).collect::<Vec<_>>(), "").await;
    out.expect_code(0);
    assert_eq!(out.json()["signer"], d.target.addresses()[0].to_string());
    assert_eq!(d.prices().await.0, U256::from(3300_00000000u128));

    // A key file others may read is refused.
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, key_hex(&d.target, 0)).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_cli(
        &env,
        &[
            "emergency-update",
            "--eth",
            "3300",
            "--elizaos",
            "0.11",
            "--yes",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
        "",
    )
    .await;
    out.expect_code(USAGE);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
}

#[tokio::test]
async fn an_emergency_update_under_the_lease_is_not_overwritten_by_a_running_bot() {
    let d = Deployment::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    let (mut bot, cli) = file_elected_bot(&d, "bot-a", &lock, &[("MIN_UPDATE_INTERVAL_S", "600")]).await;
    bot.await_line("became leader").await;

    // The bot reads $3000 from Chainlink: $3245.67 is a 7.6% move it would revert, but for its
    // minimum interval.
    let out = run_cli(
        &cli,
        &["--json", "emergency-update", "--eth", "3245.67", "--elizaos", "0.0842", "--yes", "--hold-lease"],
        "",
    )
    .await;
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["leaseHeld"], true);
    assert_eq!(report["leaseReleased"], true);
    assert!(out.stderr.contains("holding the election lease"), "{}", out.stderr);
    let landed = chain::updates(&d).await.len();

    // The bot takes the lease back and ticks: it skips for its minimum interval.
    let _ = bot.log();
    bot.await_line("became leader").await;
    bot.await_line("too_soon").await;
    bot.await_line("too_soon").await;
    assert_eq!(chain::updates(&d).await.len(), landed, "the bot must not overwrite the emergency price");
    let (eth, eliza, _) = d.prices().await;
    assert_eq!((eth, eliza), (U256::from(3245_67000000u128), U256::from(8_420_000u128)));
}

/// `leader status` and `leader resign` against two running bots electing through `election`
/// (the bots' election variables).
async fn resign_moves_leadership(d: &Deployment, election: &HashMap<String, String>) {
    let bot_env = |id: &str| {
        let mut env = env_for(d, id);
        env.extend(election.clone());
        env
    };
    let mut a = start_bot(&bot_env("bot-a")).await;
    let a_url = a.url.clone();
    a.await_line("became leader").await;
    let mut b = start_bot(&bot_env("bot-b")).await;
    let b_url = b.url.clone();
    b.await_line("is follower").await;

    let mut cli = cli_env(d);
    cli.extend(election.clone());
    let status = run_cli(&cli, &["--json", "leader", "status", "--bot", &a_url, "--bot", &b_url], "").await;
    status.expect_code(0);
    let s = status.json();
    assert_eq!(s["leader"]["id"], "bot-a");
    assert!(s["verdict"].as_str().unwrap().starts_with("consistent"), "{s}");
    // Each bot's own view, from its /health and /metrics.
    assert_eq!(s["claimants"], serde_json::json!(["bot-a"]), "{s}");
    assert_eq!(s["bots"][0]["healthStatus"], 200);
    assert_eq!(s["bots"][1]["isLeader"], false);
    assert_eq!(s["bots"][1]["metricsIsLeader"], false);
    let human = run_cli(&cli, &["leader", "status", "--bot", &a_url, "--bot", &b_url], "").await;
    assert!(human.stdout.contains("LEADER") && human.stdout.contains("follower"), "{}", human.stdout);

    let out = run_cli(&cli, &["--json", "leader", "resign", "--wait-s", "60"], "").await;
    out.expect_code(0);
    let r = out.json();
    assert_eq!(r["deposed"]["id"], "bot-a");
    assert_eq!(r["successor"]["id"], "bot-b");
    assert!(
        r["successor"]["fencingToken"].as_u64().unwrap() > r["deposed"]["fencingToken"].as_u64().unwrap()
    );
    a.await_line("an operator deposed this leader").await;
    b.await_line("became leader").await;

    let status = run_cli(&cli, &["--json", "status", "--bot", &a_url, "--bot", &b_url], "").await;
    status.expect_code(0);
    assert_eq!(status.json()["election"]["leader"]["id"], "bot-b");
}

/// The short leases of the harness's bot helpers (1.5 s, renewed every 200 ms, 1 s deadline).
fn election_env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("LEADER_ELECTION_ENABLED", "true"),
        ("LEADER_LEASE_MS", "1500"),
        ("LEADER_RENEW_INTERVAL_MS", "200"),
        ("LEADER_RENEW_DEADLINE_MS", "1000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

#[tokio::test]
async fn leader_resign_moves_leadership_through_redis() {
    let d = Deployment::start().await;
    let redis = RedisServer::start().await;
    let mut election = HashMap::new();
    with_redis_election(&mut election, &redis.url());
    resign_moves_leadership(&d, &election).await;
}

#[tokio::test]
async fn leader_resign_moves_leadership_through_the_lock_file() {
    let d = Deployment::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut election = HashMap::new();
    with_file_election(&mut election, &dir.path().join("leader.lock"));
    resign_moves_leadership(&d, &election).await;
}

#[tokio::test]
async fn leader_resign_moves_leadership_through_etcd() {
    let d = Deployment::start().await;
    let etcd = EtcdServer::start().await;
    let endpoint = etcd.endpoint();
    let election = election_env(&[
        ("LEADER_ELECTION_BACKEND", "etcd"),
        ("ETCD_ENDPOINTS", &endpoint),
        ("LEADER_LEASE_MS", "2000"),
        ("LEADER_RENEW_DEADLINE_MS", "1200"),
    ]);
    resign_moves_leadership(&d, &election).await;
}

#[tokio::test]
async fn drill_measures_a_real_failover_and_its_figures_agree_with_the_chain() {
    let d = Deployment::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    let (a, cli) = file_elected_bot(&d, "bot-a", &lock, &EVERY_SECOND).await;
    let (b, _) = file_elected_bot(&d, "bot-b", &lock, &EVERY_SECOND).await;
    let urls = [a.url.clone(), b.url.clone()];
    let mut bots = [a, b];
    bots[0].await_line("became leader").await;
    bots[0].await_line("Oracle updated successfully").await;

    let record = dir.path().join("drills.jsonl");
    let out = run_cli(
        &cli,
        &[
            "--json",
            "drill",
            "--resign",
            "--bot",
            &urls[0],
            "--bot",
            &urls[1],
            "--timeout-s",
            "80",
            "--record",
            record.to_str().unwrap(),
        ],
        "",
    )
    .await;
    out.expect_code(0);
    let r = out.json();
    assert_eq!(r["oldLeader"], "bot-a");
    assert_eq!(r["newLeader"], "bot-b");
    assert!(r["vacancyMs"].as_u64().is_some());
    let gap = &r["oracleGap"];
    let before = gap["lastBefore"]["block"].as_u64().unwrap();
    let after = gap["firstAfter"]["block"].as_u64().unwrap();
    // On chain: the two updates are consecutive and the gap is their timestamps' difference.
    let updates = chain::updates(&d).await;
    let i = updates.iter().position(|u| u.block == after).expect("the first update after the takeover");
    assert!(i > 0);
    assert_eq!(updates[i - 1].block, before);
    assert_eq!(gap["seconds"].as_u64().unwrap(), updates[i].timestamp - updates[i - 1].timestamp);
    assert_eq!(gap["firstAfter"]["timestamp"].as_u64().unwrap(), updates[i].timestamp);
    // bot-b wrote it: it leads now, and the backend agrees.
    let lead = run_cli(&cli, &["--json", "leader", "status"], "").await;
    assert_eq!(lead.json()["leader"]["id"], "bot-b");
    // One JSON line in the record, the same as printed.
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(lines.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(line, r);
}

#[tokio::test]
async fn raise_fence_shuts_out_the_running_term_and_the_bots_continue_above_it() {
    let d = Deployment::start_fenced().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    let (mut bot, cli) = file_elected_bot(&d, "bot-a", &lock, &EVERY_SECOND).await;
    bot.await_line("Oracle updated successfully").await;

    let out = run_cli(
        &cli,
        &["--json", "emergency-update", "--eth", "3245.67", "--elizaos", "0.0842", "--raise-fence", "--yes"],
        "",
    )
    .await;
    out.expect_code(0);
    let report = out.json();
    let raised: u64 = report["fenceRaised"]["to"].as_str().unwrap().parse().unwrap();
    let from: u64 = report["fenceRaised"]["from"].as_str().unwrap().parse().unwrap();
    assert!(raised > from, "{report}");
    let emergency_block = report["block"].as_u64().unwrap();

    // The bot's old term is refused on chain; it starts a term above the fence and goes on.
    let _ = bot.log();
    bot.await_line("Oracle updated successfully").await;
    let after: Vec<_> = chain::updates(&d).await.into_iter().filter(|u| u.block > emergency_block).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|u| u.token.unwrap() >= raised), "{after:?}");

    // On the plain oracle there is no fence to raise: refused, nothing sent.
    let plain = Deployment::start().await;
    let out = run_cli(
        &cli_env(&plain),
        &["emergency-update", "--eth", "3000", "--elizaos", "0.1", "--raise-fence", "--yes"],
        "",
    )
    .await;
    out.expect_code(REFUSED);
    assert!(out.stderr.contains("no fencing token"), "{}", out.stderr);
}

#[tokio::test]
async fn drill_measures_a_failover_when_the_operator_kills_the_leader() {
    let d = Deployment::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    let (mut a, cli) = file_elected_bot(&d, "bot-a", &lock, &EVERY_SECOND).await;
    let (_b, _) = file_elected_bot(&d, "bot-b", &lock, &EVERY_SECOND).await;
    a.await_line("Oracle updated successfully").await;
    let urls = [a.url.clone(), _b.url.clone()];

    let mut drill = CliProcess::spawn(
        &cli,
        &["--json", "drill", "--bot", &urls[0], "--bot", &urls[1], "--timeout-s", "80"],
        "",
    )
    .await;
    drill.await_stderr("stop it now").await;
    a.kill9().await;
    let out = drill.finish().await;
    out.expect_code(0);
    let r = out.json();
    assert_eq!(r["method"], "operator-stop");
    assert_eq!(r["oldLeader"], "bot-a");
    assert_eq!(r["newLeader"], "bot-b");
    assert!(r["vacancyMs"].as_u64().is_some(), "{r}");
    let gap = &r["oracleGap"];
    let updates = chain::updates(&d).await;
    let i = updates.iter().position(|u| u.block == gap["firstAfter"]["block"].as_u64().unwrap()).unwrap();
    assert_eq!(updates[i - 1].block, gap["lastBefore"]["block"].as_u64().unwrap());
    assert_eq!(gap["seconds"].as_u64().unwrap(), updates[i].timestamp - updates[i - 1].timestamp);
}
