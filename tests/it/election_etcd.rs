//! The etcd elector end to end on a real single-member etcd cluster started by each test (its
//! data directory survives restarts): probes in separate processes, and in-process electors for
//! the operator's calls and authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use oracle_election::{ElectionError, ElectorConfig, EtcdAuth, EtcdConfig, Leadership, LeaseConfig, Secret};
use oracle_tests::election::{EtcdServer, ProbeConfig, scenarios, serial};

const PROBE: &str = env!("CARGO_BIN_EXE_elector-probe");
/// etcd leases are whole seconds, at least 2 s with etcd's default election timeout.
const LEASE: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_millis(1200);

fn lease() -> LeaseConfig {
    LeaseConfig::new(LEASE, Duration::from_millis(200), DEADLINE).unwrap()
}

fn probes(endpoint: &str) -> ProbeConfig {
    ProbeConfig::etcd(endpoint)
}

async fn elector(config: &EtcdConfig, id: &str) -> std::sync::Arc<dyn oracle_election::Elector> {
    ElectorConfig::Etcd(config.clone()).connect(id, lease()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_across_many_rounds() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    scenarios::one_leader_at_a_time(PROBE, &probes(&etcd.endpoint()), 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_by_a_follower() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    scenarios::killed_leader_is_replaced(PROBE, &probes(&etcd.endpoint())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_hands_over_at_once() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    scenarios::release_hands_over_at_once(PROBE, &probes(&etcd.endpoint())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_stops_before_acting_and_its_token_is_refused() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    scenarios::paused_leader_does_not_act(PROBE, &probes(&etcd.endpoint())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_killed_and_restarted() {
    let _serial = serial().await;
    let mut etcd = EtcdServer::start().await;
    let config = probes(&etcd.endpoint());
    scenarios::server_restart(PROBE, &config, &mut etcd, DEADLINE, LEASE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_can_force_the_leader_to_step_down() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    let config = EtcdConfig::new([etcd.endpoint()]);
    let (a, b, cli) =
        (elector(&config, "bot-a").await, elector(&config, "bot-b").await, elector(&config, "cli").await);
    scenarios::force_step_down(a, b, cli).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_endpoints_and_authentication() {
    let _serial = serial().await;
    let etcd = EtcdServer::start().await;
    // Turn authentication on: a root user with the root role.
    let mut admin = etcd_client::Client::connect([etcd.endpoint()], None).await.unwrap();
    admin.user_add("root", "r00t-pw", None).await.unwrap();
    admin.user_grant_role("root", "root").await.unwrap();
    admin.auth_enable().await.unwrap();

    // A dead endpoint first: the client balances over to the live one.
    let dead = format!("http://127.0.0.1:{}", oracle_tests::election::free_port());
    let mut config = EtcdConfig::new([dead, etcd.endpoint()]);
    config.auth = Some(EtcdAuth { username: "root".into(), password: Secret::new("r00t-pw") });
    let a = elector(&config, "bot-a").await;
    let Leadership::Leader(term) = a.acquire_or_renew().await.unwrap() else { panic!("alone, so leader") };
    assert!(term.token.0 > 0, "the token is the key's create revision");
    assert_eq!(a.current_leader().await.unwrap().unwrap().holder, "bot-a");
    assert!(!format!("{config:?} {a:?}").contains("r00t-pw"));

    // Without credentials, or with wrong ones, nothing works, and the password is never shown.
    let anonymous = EtcdConfig::new([etcd.endpoint()]);
    let b = elector(&anonymous, "bot-b").await;
    let err = b.acquire_or_renew().await.unwrap_err();
    assert!(matches!(err, ElectionError::Unavailable { backend: "etcd", .. }), "{err:?}");
    let mut wrong = config.clone();
    wrong.auth = Some(EtcdAuth { username: "root".into(), password: Secret::new("wr0ng-pw") });
    let err = ElectorConfig::Etcd(wrong).connect("bot-c", lease()).await.unwrap_err();
    eprintln!("with a wrong password: {err}");
    assert!(!err.to_string().contains("wr0ng-pw") && !format!("{err:?}").contains("wr0ng-pw"), "{err}");

    // The fleet's membership (many targets) connects as the elector does: with the user, it
    // counts; without, it is refused; its Debug never shows the password.
    let ttl = std::time::Duration::from_secs(2);
    let members =
        oracle_election::share::Membership::etcd_with(&config, "oracle/fleet", "bot-a", ttl).unwrap();
    assert_eq!(members.heartbeat().await.unwrap(), 1);
    assert!(!format!("{members:?}").contains("r00t-pw"), "{members:?}");
    let plain = oracle_election::share::Membership::etcd(&[etcd.endpoint()], "oracle/fleet", "bot-b", ttl);
    assert!(plain.heartbeat().await.is_err(), "anonymous heartbeats are refused");
    a.release().await.unwrap();
}
