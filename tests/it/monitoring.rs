//! The monitoring of `deploy/` against real bots: two `oracle-bot` processes on anvil, electing
//! through a lock file, alerting to local Telegram and Discord servers, scraped by a real
//! Prometheus (Debian's) on loopback with the shipped alert rules (a test copy with short `for:`).
//!
//! - every metric the rules and the dashboard name is one the bots export;
//! - Prometheus's `/api/v1/query` returns each of those series with the bots' `bot_id` labels, and
//!   every dashboard query returns data;
//! - a large move is held and `OracleLargeMoveHeld` fires; the leader is killed and
//!   `OracleBotDown` fires for its target, both seen in `/api/v1/alerts`;
//! - each bot's resident memory is printed (the figure behind the Kubernetes requests,
//!   docs/benchmarks.md).
//!
//! Everything is awaited by polling, never slept on.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::BTreeSet;

use alloy::primitives::U256;
use oracle_tests::{
    Deployment,
    bot::{BotProcess, env_for, eventually, http_get, metric, with_file_election},
    chat_servers::{ChatServer, with_chat_alerts},
    cli::workspace_bin,
    election::free_port,
    prometheus::{
        PrometheusServer, alert_names, dashboard_exprs, deploy_file, exported_names, metric_names,
        rss_kib_of_bot, rule_exprs,
    },
};

/// Series only a bot that led (and landed an update) has.
const LEADER_ONLY: &[&str] = &[
    "oracle_effective_gas_price_gwei",
    "oracle_fees_paid_gwei_total",
    "oracle_gas_used_total",
    "oracle_leader_epoch",
];

/// The shipped rules with every `for:` shortened to 2 s, so an alert fires within the test.
fn test_rules() -> String {
    let rules = std::fs::read_to_string(deploy_file("prometheus/oracle-rules.yml")).unwrap();
    rules
        .lines()
        .map(|l| match l.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}for: 2s"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn every_metric_used() -> (BTreeSet<String>, BTreeSet<String>, Vec<String>) {
    let rules = std::fs::read_to_string(deploy_file("prometheus/oracle-rules.yml")).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy_file("grafana/oracle-bot.json")).unwrap())
            .expect("the dashboard is JSON");
    let rule_names: BTreeSet<String> = rule_exprs(&rules).iter().flat_map(|e| metric_names(e)).collect();
    let dash_exprs = dashboard_exprs(&dashboard);
    let dash_names: BTreeSet<String> = dash_exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(rule_names.len() >= 10, "the rules name metrics: {rule_names:?}");
    assert!(dash_exprs.len() >= 15, "the dashboard has queries: {dash_exprs:?}");
    (rule_names, dash_names, dash_exprs)
}

/// A bot's `bot_id` labels in a query result.
fn bot_ids(result: &[serde_json::Value]) -> BTreeSet<String> {
    result.iter().filter_map(|s| s["metric"]["bot_id"].as_str().map(str::to_owned)).collect()
}

async fn firing(prom: &PrometheusServer, alert: &str, label: (&str, &str)) -> Option<serde_json::Value> {
    prom.alerts().await.into_iter().find(|a| {
        a["labels"]["alertname"] == alert && a["labels"][label.0] == label.1 && a["state"] == "firing"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_two_bots_and_the_rules_fire() {
    // ORACLE_BOT_BIN measures another build (a release binary for docs/benchmarks.md).
    let bin = std::env::var_os("ORACLE_BOT_BIN").map_or_else(|| workspace_bin("oracle-bot"), Into::into);
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let tg = ChatServer::telegram().await;
    let dc = ChatServer::discord().await;
    let lock_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dead_port = free_port();
    let env = |id: &str| {
        let mut env = env_for(&d, id);
        with_file_election(&mut env, &lock_dir.path().join("leader.lock"));
        env.insert("MIN_UPDATE_INTERVAL_S".into(), "0".into());
        // Jeju's preferred endpoint refuses connections: the RPC error, failover and endpoint
        // health series get values on every bot (followers read Jeju too; requests go on through
        // the second endpoint, anvil).
        env.insert("JEJU_RPC_URLS".into(), format!("http://127.0.0.1:{dead_port},{}", d.target.endpoint()));
        env.insert("RPC_PROBE_INTERVAL_MS".into(), "500".into());
        env.insert("STATE_DIR".into(), state.path().join(id).display().to_string());
        // The alert channels on (their series exist from start-up), at local servers.
        with_chat_alerts(&mut env, &tg, &dc);
        env
    };
    let ids = ["mon-a", "mon-b"];
    let mut bots: Vec<(BotProcess, String)> = Vec::new();
    for id in ids {
        let mut p = BotProcess::spawn(&bin, &env(id));
        let url = p.endpoints().await;
        bots.push((p, url));
    }
    let urls: Vec<String> = bots.iter().map(|(_, u)| u.clone()).collect();
    let metrics_of = |i: usize| {
        let url = urls[i].clone();
        async move { http_get(format!("{url}/metrics")).await.map(|(_, body)| body) }
    };
    // Which bot leads (by its own /metrics).
    let leader = eventually("one bot leads", || async {
        let mut leaders = Vec::new();
        for i in 0..bots.len() {
            let m = metrics_of(i).await?;
            if metric(&m, "oracle_is_leader")? == 1.0 {
                leaders.push(i);
            }
        }
        (leaders.len() == 1).then(|| leaders[0])
    })
    .await;

    // An ordinary move lands (gas, fee and price series), then a large one is held first.
    d.set_eth(3_100_00000000).await;
    eventually("the move on chain", || async {
        (d.prices().await.0 == U256::from(3_100_00000000u128)).then_some(())
    })
    .await;

    let targets: Vec<String> =
        urls.iter().map(|u| format!("\"{}\"", u.trim_start_matches("http://"))).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
         scrape_configs:\n  - job_name: oracle-bot\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    let prom = PrometheusServer::start(&config, Some(&test_rules())).await;

    // Every metric the rules and the dashboard name is exported by the bots.
    let (rule_names, dash_names, dash_exprs) = every_metric_used();
    let used: BTreeSet<String> = rule_names.union(&dash_names).cloned().collect();
    let mut missing = Vec::new();
    let all_exported = async || {
        let mut exported = BTreeSet::from(["up".to_owned()]);
        for i in 0..bots.len() {
            exported.extend(exported_names(&metrics_of(i).await?));
        }
        Some(used.iter().filter(|n| !exported.contains(*n)).cloned().collect::<Vec<_>>())
    };
    // The probe's series come with its first round; poll until nothing is missing (or fail
    // naming what is).
    for _ in 0..200 {
        missing = all_exported().await.expect("/metrics answers");
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(missing.is_empty(), "named in the rules or the dashboard but not exported: {missing:?}");

    // The large move: held on the first tick that sees it (MAX_PRICE_DEVIATION_PCT 10), then sent.
    d.set_eth(3_600_00000000).await;
    eventually("the held move lands", || async {
        (d.prices().await.0 == U256::from(3_600_00000000u128)).then_some(())
    })
    .await;
    let leader_id = ids[leader];
    eventually("OracleLargeMoveHeld fires in Prometheus", || {
        firing(&prom, "OracleLargeMoveHeld", ("bot_id", leader_id))
    })
    .await;

    // Prometheus has every series the rules and the dashboard use, with both bots' labels.
    let all_bots: BTreeSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let series_state = async || {
        let mut short = Vec::new();
        for name in &used {
            let q = format!("{{__name__=\"{name}\",job=\"oracle-bot\"}}");
            let want: BTreeSet<String> = if LEADER_ONLY.contains(&name.as_str()) {
                BTreeSet::from([leader_id.to_owned()])
            } else {
                all_bots.clone()
            };
            let result = prom.query(&q).await;
            if name == "up" {
                // Prometheus's own series: one per target, by instance.
                if result.len() != bots.len() {
                    short.push(format!("up: {result:?}"));
                }
                continue;
            }
            for s in &result {
                assert!(s["metric"]["bot_id"].is_string(), "{name}: every series has bot_id: {s}");
            }
            let got = bot_ids(&result);
            if !want.is_subset(&got) {
                short.push(format!("{name}: from {got:?}, want {want:?}"));
            }
        }
        short
    };
    let mut short = Vec::new();
    for _ in 0..300 {
        short = series_state().await;
        if short.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(short.is_empty(), "series missing in Prometheus: {short:#?}");
    // The held move's own series.
    let held = prom
        .query(r#"oracle_ticks_total{job="oracle-bot",outcome="skipped",reason="held_for_confirmation"}"#)
        .await;
    assert_eq!(bot_ids(&held), BTreeSet::from([leader_id.to_owned()]), "the leader held the move: {held:?}");
    // Every dashboard query returns data.
    for expr in &dash_exprs {
        eventually(&format!("the dashboard query {expr} returns data"), || async {
            (!prom.query(expr).await.is_empty()).then_some(())
        })
        .await;
    }

    // The resident memory of each bot (docs/benchmarks.md).
    for id in ids {
        let rss = rss_kib_of_bot(&bin, id).expect("the bot's /proc status");
        eprintln!("memory: {id} VmRSS {rss} KiB ({:.1} MiB)", rss as f64 / 1024.0);
        assert!(rss < 128 * 1024, "{id}: {rss} KiB is within the Kubernetes limit of 128 MiB");
    }

    // Kill the leader: its target goes down and OracleBotDown fires for it; the other takes over.
    let leader_target = urls[leader].trim_start_matches("http://").to_owned();
    bots[leader].0.kill9().await;
    let alert = eventually("OracleBotDown fires for the killed leader", || {
        firing(&prom, "OracleBotDown", ("instance", leader_target.as_str()))
    })
    .await;
    assert_eq!(alert["labels"]["severity"], "warning", "{alert}");
    let survivor = 1 - leader;
    eventually("the survivor leads in Prometheus", || async {
        let r = prom.query(r#"oracle_is_leader{job="oracle-bot"} == 1"#).await;
        (bot_ids(&r) == BTreeSet::from([ids[survivor].to_owned()])).then_some(())
    })
    .await;
    // A single bot is left: the standby alert fires too, and no alert of a broken fleet does.
    eventually("OracleSingleBotRunning fires", || {
        firing(&prom, "OracleSingleBotRunning", ("job", "oracle-bot"))
    })
    .await;
    let names: BTreeSet<String> = prom
        .alerts()
        .await
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
        .collect();
    for never in ["AllOracleBotsDown", "OraclePriceStale", "OracleTwoLeaders", "OracleLowWalletBalance"] {
        assert!(!names.contains(never), "{never} fired: {names:?}");
    }
    let known: BTreeSet<String> =
        alert_names(&std::fs::read_to_string(deploy_file("prometheus/oracle-rules.yml")).unwrap())
            .into_iter()
            .collect();
    assert!(names.is_subset(&known), "{names:?}");
}
