//! Three `oracle-bot` processes against anvil, electing through the file lock, Redis and etcd:
//! only the leader submits, `kill -9` of the leader hands over and the oracle keeps updating, the
//! old leader restarted stays a follower, and each bot's `/health`, `/ready` and `/metrics` tell
//! the truth at each step. Counted on chain.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::HashMap;

use alloy::primitives::U256;
use oracle_tests::{
    Deployment,
    bot::{
        BotProcess, env_for, eventually, http_get, metric, with_etcd_election, with_file_election,
        with_redis_election,
    },
    chain::updates,
    election::{EtcdServer, RedisServer},
};

const BOT: &str = env!("CARGO_BIN_EXE_oracle-bot");

/// A bot of the fleet and its endpoints.
struct Member {
    process: BotProcess,
    url: String,
}

/// What one bot's endpoints say.
#[derive(Debug)]
struct View {
    health: (u16, serde_json::Value),
    ready: (u16, serde_json::Value),
    metrics: String,
}

impl Member {
    async fn start(env: &HashMap<String, String>) -> Self {
        let mut process = BotProcess::spawn(BOT, env);
        let url = process.endpoints().await;
        Self { process, url }
    }

    /// The three endpoints, or `None` while one does not answer.
    async fn view(&self) -> Option<View> {
        let (hc, hb) = http_get(format!("{}/health", self.url)).await?;
        let (rc, rb) = http_get(format!("{}/ready", self.url)).await?;
        let (mc, metrics) = http_get(format!("{}/metrics", self.url)).await?;
        assert_eq!(mc, 200, "/metrics answers 200");
        Some(View {
            health: (hc, serde_json::from_str(&hb).expect("/health is JSON")),
            ready: (rc, serde_json::from_str(&rb).expect("/ready is JSON")),
            metrics,
        })
    }
}

/// Waits until exactly one of `bots` says it leads (and the others that it follows), every one
/// healthy and ready; returns the leader's index and every view.
async fn one_leader(bots: &[&Member]) -> (usize, Vec<View>) {
    eventually("exactly one leader, every bot healthy and ready", || async {
        let mut views = Vec::new();
        for b in bots {
            views.push(b.view().await?);
        }
        let leaders: Vec<usize> = views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.health.1["isLeader"] == true)
            .map(|(i, _)| i)
            .collect();
        let settled = leaders.len() == 1
            && views.iter().all(|v| v.health.0 == 200 && v.ready.0 == 200)
            && views.iter().all(|v| metric(&v.metrics, "oracle_is_leader").is_some());
        settled.then(|| (leaders[0], views))
    })
    .await
}

/// Three bots electing through `elect`; the scenario of the module docs.
async fn three_bots(elect: impl Fn(&mut HashMap<String, String>)) {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    // Each bot its own state directory, as on its own host.
    let state = tempfile::tempdir().unwrap();
    let env = |id: &str| {
        let mut env = env_for(&d, id);
        elect(&mut env);
        env.insert("MIN_UPDATE_INTERVAL_S".into(), "0".into());
        env.insert("STATE_DIR".into(), state.path().join(id).display().to_string());
        env
    };
    let ids = ["fleet-a", "fleet-b", "fleet-c"];
    let mut bots = Vec::new();
    for id in ids {
        bots.push(Member::start(&env(id)).await);
    }

    // One leader; only it submits.
    let (leader, _) = one_leader(&bots.iter().collect::<Vec<_>>()).await;
    d.set_eth(3_100_00000000).await;
    eventually("the first move on chain", || async {
        (d.prices().await.0 == U256::from(3_100_00000000u128)).then_some(())
    })
    .await;
    let on_chain = updates(&d).await;
    assert_eq!(on_chain.len(), 1, "one move, one update: {on_chain:?}");
    let written = on_chain[0].timestamp as f64;
    // Every bot, followers too, reads the oracle each tick: all export its last update.
    let (_, views) = eventually("every bot sees the update", || async {
        let (l, views) = one_leader(&bots.iter().collect::<Vec<_>>()).await;
        // The leader's own update counts from its tick's start until its next tick reads the
        // oracle back: wait for that read.
        views
            .iter()
            .all(|v| {
                metric(&v.metrics, "oracle_last_update_timestamp") == Some(written)
                    && v.health.1["lastUpdate"] == on_chain[0].timestamp * 1000
            })
            .then_some((l, views))
    })
    .await;
    for (i, v) in views.iter().enumerate() {
        let landed = metric(&v.metrics, "oracle_total_updates").unwrap();
        assert_eq!(landed, if i == leader { 1.0 } else { 0.0 }, "{}: only the leader submitted", ids[i]);
        assert_eq!(v.health.1["isLeader"], i == leader, "{}: /health leader flag", ids[i]);
        assert_eq!(v.ready.1["isLeader"], i == leader, "{}: /ready leader flag", ids[i]);
        assert_eq!(v.health.1["lastUpdate"], on_chain[0].timestamp * 1000, "{}: /health lastUpdate", ids[i]);
        assert_eq!(metric(&v.metrics, "oracle_eth_usd_price"), Some(3100.0), "{}: price in dollars", ids[i]);
        let failures = metric(&v.metrics, "oracle_update_failures_total");
        if failures != Some(0.0) {
            let log = bots[i].process.log();
            let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed")).collect();
            panic!("{}: {failures:?} failed ticks:\n{}", ids[i], failed.join("\n"));
        }
        assert!(v.metrics.contains("# HELP oracle_last_update_timestamp"), "HELP for every series");
        assert!(v.metrics.contains("# TYPE oracle_total_updates counter"));
    }

    // kill -9 of the leader: another takes over and the oracle keeps updating.
    bots[leader].process.kill9().await;
    let killed = bots.remove(leader);
    d.set_eth(3_200_00000000).await;
    let (new_leader, _) = one_leader(&bots.iter().collect::<Vec<_>>()).await;
    eventually("the second move on chain", || async {
        (d.prices().await.0 == U256::from(3_200_00000000u128)).then_some(())
    })
    .await;
    let views = eventually("the new leader counts its update", || async {
        let (l, views) = one_leader(&bots.iter().collect::<Vec<_>>()).await;
        (l == new_leader && metric(&views[l].metrics, "oracle_total_updates") == Some(1.0)).then_some(views)
    })
    .await;
    assert_eq!(
        metric(&views[1 - new_leader].metrics, "oracle_total_updates"),
        Some(0.0),
        "the follower sent nothing"
    );

    // The old leader restarted stays a follower.
    let old_id = killed.process.id.clone();
    drop(killed);
    let mut restarted = Member::start(&env(&old_id)).await;
    restarted.process.await_line(&format!("Bot {old_id} is follower, skipping update")).await;
    bots.push(restarted);
    let (leader_now, views) = one_leader(&bots.iter().collect::<Vec<_>>()).await;
    assert_eq!(leader_now, new_leader, "the restarted bot did not take leadership back");
    assert_eq!(views[2].health.1["isLeader"], false);

    let on_chain = updates(&d).await;
    assert_eq!(on_chain.len(), 2, "two moves, two updates, no duplicates: {on_chain:?}");
    assert_eq!(
        (on_chain[0].eth, on_chain[1].eth),
        (U256::from(3_100_00000000u128), U256::from(3_200_00000000u128))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_on_one_host_elect_through_the_file_lock() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("leader.lock");
    three_bots(|env| with_file_election(env, &lock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_elect_through_redis() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    three_bots(|env| with_redis_election(env, &url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_elect_through_etcd() {
    let etcd = EtcdServer::start().await;
    let endpoint = etcd.endpoint();
    three_bots(|env| with_etcd_election(env, &endpoint)).await;
}
