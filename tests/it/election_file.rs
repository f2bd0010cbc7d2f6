//! The file elector end to end: probes (separate processes) sharing one lock file, and
//! in-process electors for the record formats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use oracle_election::{ElectionError, ElectorConfig, FencingToken, Leadership, LeaseConfig};
use oracle_tests::election::{ProbeConfig, scenarios, serial};

const PROBE: &str = env!("CARGO_BIN_EXE_elector-probe");
const LEASE: Duration = Duration::from_millis(1500);

fn lease() -> LeaseConfig {
    LeaseConfig::new(LEASE, Duration::from_millis(200), Duration::from_secs(1)).unwrap()
}

fn probes(path: &Path) -> ProbeConfig {
    ProbeConfig::file(path)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn elector(path: &Path, id: &str) -> std::sync::Arc<dyn oracle_election::Elector> {
    ElectorConfig::File { path: path.to_owned() }.connect(id, lease()).await.unwrap()
}

fn record(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_across_many_rounds() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    scenarios::one_leader_at_a_time(PROBE, &probes(&dir.path().join("leader.lock")), 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_by_a_follower() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let config = probes(&dir.path().join("leader.lock"));
    scenarios::killed_leader_is_replaced(PROBE, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_hands_over_at_once() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    scenarios::release_hands_over_at_once(PROBE, &probes(&dir.path().join("leader.lock"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_stops_before_acting_and_its_token_is_refused() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    scenarios::paused_leader_does_not_act(PROBE, &probes(&dir.path().join("leader.lock"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_lock_file_is_reported_and_left_alone() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let a = elector(&path, "bot-a").await;
    let cases: [(&[u8], &str); 4] = [
        (b"{\"botId\": \"old-bot\", \"timest", "not JSON"),
        (b"", "the file is empty"),
        (b"{\"owner\":\"x\",\"since\":5}", "field `botId` is missing"),
        (
            b"{\"botId\":\"x\",\"timestamp\":\"yesterday\"}",
            "field `timestamp` must be a non-negative integer",
        ),
    ];
    for (bytes, what) in cases {
        std::fs::write(&path, bytes).unwrap();
        for err in [a.acquire_or_renew().await.unwrap_err(), a.current_leader().await.unwrap_err()] {
            let ElectionError::Corrupt { backend, detail } = &err else {
                panic!("expected Corrupt, got {err:?}")
            };
            assert_eq!(*backend, "file");
            assert!(detail.contains(&path.display().to_string()) && detail.contains(what), "{detail}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "a corrupt record must not be overwritten");
    }
    // The operator removes it; the next round elects.
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(a.acquire_or_renew().await.unwrap(), Leadership::Leader(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_by_a_dead_process_is_taken_over() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let a = elector(&path, "bot-a").await;

    // A live holder (fresh timestamp) is respected.
    let live = format!(r#"{{"botId":"ghost","timestamp":{},"token":41,"leaseMs":1500}}"#, now_ms());
    std::fs::write(&path, live).unwrap();
    assert_eq!(a.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("ghost".into()) });
    let info = a.current_leader().await.unwrap().unwrap();
    assert_eq!((info.holder.as_str(), info.token), ("ghost", FencingToken(41)));

    // Its timestamp is older than its lease: it died; we take over with the next token.
    let dead = format!(r#"{{"botId":"ghost","timestamp":{},"token":41,"leaseMs":1500}}"#, now_ms() - 1600);
    std::fs::write(&path, dead).unwrap();
    let Leadership::Leader(lease) = a.acquire_or_renew().await.unwrap() else { panic!("should take over") };
    assert_eq!(lease.token, FencingToken(42));
    let r = record(&path);
    assert_eq!(
        (r["botId"].as_str(), r["token"].as_u64(), r["leaseMs"].as_u64()),
        (Some("bot-a"), Some(42), Some(1500))
    );
    assert!(now_ms() - r["timestamp"].as_u64().unwrap() < 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_bots_lock_format_is_read_and_extended() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let a = elector(&path, "bot-a").await;

    // The old bot's record, fresh: the old bot leads (its lease is taken to be ours), token 0.
    std::fs::write(&path, format!(r#"{{"botId":"x","timestamp":{}}}"#, now_ms())).unwrap();
    assert_eq!(a.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("x".into()) });
    assert_eq!(a.current_leader().await.unwrap().unwrap().token, FencingToken(0));

    // Old: taken over with token 1; the new record keeps the old fields and adds ours.
    std::fs::write(&path, format!(r#"{{"botId":"x","timestamp":{}}}"#, now_ms() - 60_000)).unwrap();
    let Leadership::Leader(lease) = a.acquire_or_renew().await.unwrap() else { panic!("should take over") };
    assert_eq!(lease.token, FencingToken(1));
    let r = record(&path);
    assert_eq!(r["botId"], "bot-a");
    assert!(r["timestamp"].is_u64() && r["token"] == 1 && r["leaseMs"] == 1500, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_recognises_its_own_record_and_another_incarnation_does_not() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let a = elector(&path, "bot-a").await;
    let b = elector(&path, "bot-b").await;
    let Leadership::Leader(first) = a.acquire_or_renew().await.unwrap() else { panic!("alone, so leader") };
    // Two lease durations pass: the background renewals keep the term (the old bot stepped down
    // here, not recognising its own lock).
    tokio::time::sleep(LEASE * 2).await;
    let Leadership::Leader(later) = a.acquire_or_renew().await.unwrap() else { panic!("still leader") };
    assert_eq!(later.token, first.token);
    assert!(later.valid_until > first.valid_until);
    assert_eq!(b.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("bot-a".into()) });
    // A second process with the same id is another incarnation: it does not claim the record.
    let twin = elector(&path, "bot-a").await;
    assert_eq!(twin.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("bot-a".into()) });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_can_force_the_leader_to_step_down() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let (a, b, cli) =
        (elector(&path, "bot-a").await, elector(&path, "bot-b").await, elector(&path, "cli").await);
    scenarios::force_step_down(a, b, cli).await;
}
