//! The `oracle-bot` process as an operator runs it: the configuration file and `--check-config`
//! (offline and `--online` against anvil), keys from files and keystores, SIGHUP reloads, and the
//! HTTP endpoints under abuse.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{
    collections::HashMap,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use alloy::primitives::U256;
use oracle_tests::{
    Deployment,
    bot::{BotProcess, env_for, eventually, http_get},
    chain::updates,
    key_hex, repo_root, tool,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BOT: &str = env!("CARGO_BIN_EXE_oracle-bot");

/// Runs `oracle-bot ARGS` to completion with exactly `env`: (exit code, stdout, stderr).
async fn run(env: &HashMap<String, String>, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(BOT)
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .await
        .expect("oracle-bot runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stderr.contains("panicked") && !stdout.contains("panicked"),
        "a panic instead of an error: {stderr}"
    );
    (out.status.code().expect("exited, not killed"), stdout, stderr)
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The annotated example with its key file pointing at `key_file`.
fn example_with_key(dir: &Path, key_file: &Path) -> PathBuf {
    let example = std::fs::read_to_string(repo_root().join("deploy/oracle-bot.example.toml")).unwrap();
    assert!(example.contains("/run/secrets/oracle-updater-key"), "the example names its key file");
    let text = example.replace("/run/secrets/oracle-updater-key", &key_file.display().to_string());
    write(dir, "bot.toml", &text, 0o644)
}

const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[tokio::test]
async fn the_annotated_example_checks_and_every_value_names_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "key", &format!("{KEY}\n"), 0o600);
    let config = example_with_key(dir.path(), &key);
    let env = HashMap::from([("DEVIATION_THRESHOLD_PCT".to_owned(), "0.5".to_owned())]);
    let config_arg = config.display().to_string();
    let (code, out, err) = run(
        &env,
        &["--check-config", "-c", &config_arg, "--set", "HEARTBEAT_S=3000", "--bot-id", "from-flag"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration valid"), "{out}");
    let line = |var: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{var} ")))
            .unwrap_or_else(|| panic!("{var} in {out}"))
            .to_owned()
    };
    assert!(
        line("DEVIATION_THRESHOLD_PCT").ends_with("env"),
        "env beats the file: {}",
        line("DEVIATION_THRESHOLD_PCT")
    );
    assert!(line("HEARTBEAT_S").contains("3000") && line("HEARTBEAT_S").ends_with("flag"));
    assert!(line("BOT_ID").contains("from-flag") && line("BOT_ID").ends_with("flag"));
    assert!(line("MIN_UPDATE_INTERVAL_S").contains("key policy.min_update_interval_s"));
    assert!(line("ALERT_QUEUE_CAPACITY").ends_with("default"));
    assert!(line("PRICE_UPDATER_PRIVATE_KEY").contains("<redacted>"));
    assert!(line("PRICE_UPDATER_PRIVATE_KEY").contains("target.private_key_file"));
    assert!(!out.contains(&KEY[..16]) && !err.contains(&KEY[..16]), "the key never shows");
    // And `--help`, `--version` as a person expects.
    let (code, help, _) = run(&HashMap::new(), &["--help"]).await;
    assert_eq!(code, 0);
    assert!(help.contains("--check-config") && help.contains("--config"), "{help}");
    let (code, version, _) = run(&HashMap::new(), &["--version"]).await;
    assert_eq!((code, version.trim()), (0, format!("oracle-bot {}", env!("CARGO_PKG_VERSION")).as_str()));
}

#[tokio::test]
async fn configuration_errors_name_the_setting_and_where_it_was_set() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "key", KEY, 0o600);
    let base = std::fs::read_to_string(example_with_key(dir.path(), &key)).unwrap();
    let check = |text: String, env: Vec<(&'static str, &'static str)>, args: Vec<&'static str>| {
        let dir = dir.path().to_owned();
        async move {
            let path = write(&dir, "case.toml", &text, 0o644);
            let env: HashMap<String, String> =
                env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let mut all = vec!["--check-config".to_owned(), "-c".to_owned(), path.display().to_string()];
            all.extend(args.into_iter().map(str::to_owned));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let (code, out, err) = run(&env, &all).await;
            assert_eq!(code, 2, "an invalid configuration exits 2: {out}{err}");
            (err, path.display().to_string())
        }
    };
    // A typo in the file: the key, the file and the nearest known key.
    let (err, path) =
        check(base.replace("heartbeat_s = 3300", "heartbeat_secs = 3300"), vec![], vec![]).await;
    assert!(
        err.contains("heartbeat_secs")
            && err.contains(&path)
            && err.contains("did you mean policy.heartbeat_s"),
        "{err}"
    );
    // A bad value in the file: the variable, and the file's key.
    let (err, path) =
        check(base.replace("heartbeat_s = 3300", "heartbeat_s = \"soon\""), vec![], vec![]).await;
    assert!(
        err.contains("HEARTBEAT_S") && err.contains(&format!("file {path} key policy.heartbeat_s")),
        "{err}"
    );
    // A typo in the environment.
    let (err, _) = check(base.clone(), vec![("DEVIATON_THRESHOLD_PCT", "2")], vec![]).await;
    assert!(
        err.contains("DEVIATON_THRESHOLD_PCT") && err.contains("did you mean DEVIATION_THRESHOLD_PCT"),
        "{err}"
    );
    // A bad flag value says so.
    let (err, _) = check(base.clone(), vec![], vec!["--set", "MIN_UPDATE_INTERVAL_S=-1"]).await;
    assert!(err.contains("MIN_UPDATE_INTERVAL_S") && err.contains("set by flag"), "{err}");
    // Secrets: never in the file, never a flag.
    let (err, _) = check(format!("{base}\n[extra]\nsetting = 1\n"), vec![], vec![]).await;
    assert!(err.contains("extra"), "{err}");
    let in_file = base
        .replace(&format!("private_key_file = \"{}\"", key.display()), &format!("private_key = \"{KEY}\""));
    let (err, _) = check(in_file, vec![], vec![]).await;
    assert!(err.contains("target.private_key is a secret") && !err.contains(&KEY[..16]), "{err}");
    let (err, _) = check(base.clone(), vec![], vec!["--set", "TELEGRAM_BOT_TOKEN=123:abc"]).await;
    assert!(
        err.contains("TELEGRAM_BOT_TOKEN")
            && err.contains("cannot be given as a flag")
            && !err.contains("123:abc"),
        "{err}"
    );
}

#[tokio::test]
async fn key_files_readable_by_others_are_refused_and_keystores_need_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = Deployment::start().await;
    let mut env = env_for(&d, "keys-bot");
    env.remove("PRICE_UPDATER_PRIVATE_KEY");
    let key = key_hex(&d.target, 1);

    let open = write(dir.path(), "open-key", &key, 0o644);
    env.insert("PRICE_UPDATER_PRIVATE_KEY_FILE".into(), open.display().to_string());
    let (code, _, err) = run(&env, &["--check-config"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("readable by other users") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains(&key[2..18]), "the key never shows: {err}");

    let private = write(dir.path(), "key", &key, 0o600);
    env.insert("PRICE_UPDATER_PRIVATE_KEY_FILE".into(), private.display().to_string());
    let (code, out, err) = run(&env, &["--check-config"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let updater = d.target.addresses()[1].to_string();
    assert!(out.contains(&updater), "{out}");

    // A keystore written by Foundry's `cast wallet import`, its password in an owner-only file.
    env.remove("PRICE_UPDATER_PRIVATE_KEY_FILE");
    let keystores = dir.path().join("keystores");
    std::fs::create_dir(&keystores).unwrap();
    let status = std::process::Command::new(tool("cast"))
        .args([
            "wallet",
            "import",
            "updater",
            "--private-key",
            &key,
            "--unsafe-password",
            "correct horse",
            "--keystore-dir",
        ])
        .arg(&keystores)
        .output()
        .expect("cast runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    env.insert("PRICE_UPDATER_KEYSTORE".into(), keystores.join("updater").display().to_string());
    let password = write(dir.path(), "password", "correct horse\n", 0o600);
    env.insert("PRICE_UPDATER_KEYSTORE_PASSWORD_FILE".into(), password.display().to_string());
    let (code, out, err) = run(&env, &["--check-config"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&updater), "the keystore's key is the updater: {out}");
    env.insert("STATE_DIR".into(), dir.path().join("state").display().to_string());
    let mut bot = BotProcess::spawn(BOT, &env);
    bot.await_line(&format!("updater={updater}")).await;
    drop(bot);

    let wrong = write(dir.path(), "wrong", "battery staple\n", 0o600);
    env.insert("PRICE_UPDATER_KEYSTORE_PASSWORD_FILE".into(), wrong.display().to_string());
    let (code, _, err) = run(&env, &["--check-config"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wrong password for the keystore"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_checks_find_a_wrong_chain_and_an_unauthorized_key() {
    let d = Deployment::start().await;
    let env = env_for(&d, "online-bot");
    let (code, out, err) = run(&env, &["--check-config", "--online"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("online checks passed") && out.contains("is the oracle's priceUpdater"), "{out}");

    let mut wrong_chain = env.clone();
    wrong_chain.insert("JEJU_CHAIN_ID".into(), "1".into());
    let (code, out, err) = run(&wrong_chain, &["--check-config", "--online"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("target chain") && err.contains("chain id 420691") && err.contains("expects 1"),
        "{err}"
    );

    let mut stranger = env.clone();
    stranger.insert("PRICE_UPDATER_PRIVATE_KEY".into(), key_hex(&d.target, 2));
    let (code, out, err) = run(&stranger, &["--check-config", "--online"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("updater key") && err.contains("setPriceUpdater"), "{err}");
    assert_eq!(d.nonce(d.target.addresses()[2]).await, 0, "checks send nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_changes_the_deviation_threshold_of_a_running_bot() {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bot.toml",
        "[policy]\ndeviation_threshold_pct = \"5\"\nmin_update_interval_s = 0\n",
        0o644,
    );
    let mut env = env_for(&d, "hup-bot");
    env.insert("STATE_DIR".into(), dir.path().join("state").display().to_string());
    let mut bot = BotProcess::spawn_with_args(BOT, &env, &["-c", &config.display().to_string()]);
    // +2%: below the file's 5%.
    d.set_eth(3_060_00000000).await;
    bot.await_line("largest move 2.00% is below the 5.00% threshold").await;

    std::fs::write(
        &config,
        "[policy]\ndeviation_threshold_pct = \"1\"\nmin_update_interval_s = 0\nheartbeat_s = 3000\n",
    )
    .unwrap();
    bot.hup();
    let reloaded = bot.await_line("configuration reloaded (SIGHUP)").await;
    assert!(
        reloaded.contains("DEVIATION_THRESHOLD_PCT") && reloaded.contains("deviation_threshold_bps=100"),
        "{reloaded}"
    );
    bot.await_line("Oracle updated successfully").await;
    assert_eq!(d.prices().await.0, U256::from(3_060_00000000u128), "the next decision used 1%");
    assert_eq!(updates(&d).await.len(), 1);

    // A setting that needs a restart is named, and a broken file changes nothing.
    std::fs::write(
        &config,
        "[policy]\ndeviation_threshold_pct = \"1\"\nmin_update_interval_s = 0\n[rpc]\ntimeout_ms = 5000\n",
    )
    .unwrap();
    bot.hup();
    let warned = bot.await_line("take effect only after a restart").await;
    assert!(warned.contains("RPC_TIMEOUT_MS"), "{warned}");
    std::fs::write(&config, "[policy\n").unwrap();
    bot.hup();
    bot.await_line("configuration reload refused").await;
    bot.term();
    assert_eq!(bot.wait().await, Some(0), "SIGTERM: a clean exit");
}

/// A connection that sends a request's first bytes and then one byte per 200 ms.
async fn slowloris(url: &str) -> tokio::net::TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_hold_under_abuse_and_the_bot_keeps_ticking() {
    let d = Deployment::start().await;
    let mut env = env_for(&d, "abused-bot");
    let state = tempfile::tempdir().unwrap();
    env.insert("STATE_DIR".into(), state.path().display().to_string());
    let mut bot = BotProcess::spawn(BOT, &env);
    let url = bot.endpoints().await;
    let ticks_total = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("oracle_ticks_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };

    // Slowloris: 300 connections (above the 256 served at once) that never finish their headers.
    let mut slow = Vec::new();
    for _ in 0..300 {
        slow.push(slowloris(&url).await);
    }
    // The server still answers (a slot frees when a slow client's header time runs out) ...
    let (code, _) =
        eventually("/health answers past the slow clients", || http_get(format!("{url}/health"))).await;
    assert_eq!(code, 200);
    // ... and cuts every slow client off instead of waiting for it.
    for mut s in slow {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(oracle_tests::bot::HANG_GUARD, s.read(&mut buf)).await;
        assert!(read.is_ok(), "a slow client was never cut off");
    }

    // Huge requests: a 64 KiB header is refused; a 10 MB body is not read.
    let addr = url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let big = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let _ = s.write_all(big.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer}");
    let client = reqwest_client();
    let resp = client.post(format!("{url}/metrics")).body(vec![b'x'; 10 * 1024 * 1024]).send().await;
    if let Ok(resp) = resp {
        assert!(resp.status().is_client_error(), "a POST changes nothing: {}", resp.status());
    }

    // 1,000 concurrent requests: every one answered.
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        let url = format!("{url}/{}", ["health", "ready", "metrics"][i % 3]);
        tasks.push(tokio::spawn(async move {
            eventually("a concurrent request answered", || http_get(url.clone())).await.0
        }));
    }
    for t in tasks {
        let code = t.await.unwrap();
        assert!(code == 200 || code == 503, "answered: {code}");
    }
    // Unknown paths are 404.
    assert_eq!(http_get(format!("{url}/admin")).await.unwrap().0, 404);

    // The bot kept ticking through all of it.
    let before = ticks_total(&http_get(format!("{url}/metrics")).await.unwrap().1);
    eventually("the bot keeps ticking", || async {
        let now = ticks_total(&http_get(format!("{url}/metrics")).await?.1);
        (now > before).then_some(())
    })
    .await;
    drop(bot);
}

fn reqwest_client() -> alloy::transports::http::reqwest::Client {
    alloy::transports::http::reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_bot_the_outcome_and_the_transaction() {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let mut env = env_for(&d, "json-bot");
    env.insert("MIN_UPDATE_INTERVAL_S".into(), "0".into());
    let mut bot = BotProcess::spawn_with_args(BOT, &env, &["--log-format", "json"]);
    let parse = |line: String| -> serde_json::Value {
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
    };
    let skipped = parse(bot.await_line("update skipped").await);
    assert_eq!(
        (skipped["bot_id"].as_str(), skipped["outcome"].as_str()),
        (Some("json-bot"), Some("skipped")),
        "{skipped}"
    );
    assert!(
        skipped["reason"].is_string() && skipped["level"] == "INFO" && skipped["timestamp"].is_string(),
        "{skipped}"
    );
    d.set_eth(3_100_00000000).await;
    let landed = parse(bot.await_line("Oracle updated successfully").await);
    assert_eq!(landed["outcome"], "submitted", "{landed}");
    let tx = landed["tx_hash"].as_str().expect("the transaction hash");
    assert_eq!(tx, updates(&d).await[0].tx_hash.to_string(), "the hash of the update on chain");
    // Every line is JSON, the banner included.
    for line in bot.log().lines() {
        parse(line.to_owned());
    }
}
