//! The Redis elector end to end on a real `redis-server` (no persistence) started by each test:
//! probes in separate processes, and in-process electors for the operator's calls and auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use oracle_election::{ElectionError, ElectorConfig, FencingToken, LeaseConfig, RedisUrl};
use oracle_tests::election::{ProbeConfig, RedisServer, lead, scenarios, serial};

const PROBE: &str = env!("CARGO_BIN_EXE_elector-probe");
const LEASE: Duration = Duration::from_millis(1500);
const DEADLINE: Duration = Duration::from_secs(1);

fn lease() -> LeaseConfig {
    LeaseConfig::new(LEASE, Duration::from_millis(200), DEADLINE).unwrap()
}

fn probes(url: &str) -> ProbeConfig {
    ProbeConfig::redis(url)
}

async fn elector(url: &str, id: &str) -> std::sync::Arc<dyn oracle_election::Elector> {
    let config = ElectorConfig::Redis { url: RedisUrl::parse(url).unwrap(), key_prefix: "admin-test".into() };
    config.connect(id, lease()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_across_many_rounds() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    scenarios::one_leader_at_a_time(PROBE, &probes(&redis.url()), 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_by_a_follower() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    scenarios::killed_leader_is_replaced(PROBE, &probes(&redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_hands_over_at_once() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    scenarios::release_hands_over_at_once(PROBE, &probes(&redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_stops_before_acting_and_its_token_is_refused() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    scenarios::paused_leader_does_not_act(PROBE, &probes(&redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_without_data() {
    let _serial = serial().await;
    let mut redis = RedisServer::start().await;
    let config = probes(&redis.url());
    scenarios::server_restart(PROBE, &config, &mut redis, DEADLINE, LEASE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_can_force_the_leader_to_step_down() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    let url = redis.url();
    let (a, b, cli) =
        (elector(&url, "bot-a").await, elector(&url, "bot-b").await, elector(&url, "cli").await);
    scenarios::force_step_down(a, b, cli).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keep_growing_when_redis_loses_its_data() {
    let _serial = serial().await;
    let mut redis = RedisServer::start().await;
    let a = elector(&redis.url(), "bot-a").await;
    let first = lead(&a).await;
    a.release().await.unwrap();
    redis.kill();
    redis.restart().await;
    // A fresh elector remembers nothing: the counter restarts from Redis's clock.
    let b = elector(&redis.url(), "bot-b").await;
    let second = lead(&b).await;
    assert!(second.token > first.token, "{} after {}", second.token, first.token);
    assert!(first.token > FencingToken(1_600_000_000_000), "tokens start from the server's clock in ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_show_in_errors_logs_or_debug() {
    let _serial = serial().await;
    let redis = RedisServer::start_with_password("s3cret-pw").await;
    let good = redis.url();
    assert!(good.contains("s3cret-pw"));
    let a = elector(&good, "bot-a").await;
    lead(&a).await;
    assert!(!format!("{a:?}").contains("s3cret-pw"), "{a:?}");

    let bad = format!("redis://:wrong-pw-123@127.0.0.1:{}", redis.port());
    let b = elector(&bad, "bot-b").await;
    let err = b.acquire_or_renew().await.unwrap_err();
    assert!(matches!(err, ElectionError::Unavailable { backend: "redis", .. }), "{err:?}");
    eprintln!("with a wrong password: {err}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{b:?}")] {
        assert!(!shown.contains("wrong-pw-123") && !shown.contains("s3cret-pw"), "{shown}");
    }
    assert!(err.to_string().contains(&format!("redis://127.0.0.1:{}", redis.port())), "{err}");

    // The probe logs where it connects, without the password.
    let mut p = oracle_tests::election::Probes::start(PROBE, 1, &probes(&good));
    p.until_acted("the probe leads", |_| true).await;
    p.stop_all(&[]).await;
    let log = p.probes[0].log();
    assert!(log.contains(&format!("redis at redis://127.0.0.1:{}", redis.port())), "{log}");
    assert!(!log.contains("s3cret-pw"), "{log}");
}
