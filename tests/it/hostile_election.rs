//! Garbage written by "another process" into what the electors share, while bots run: the file
//! elector's lock file, the Redis leader key, the etcd token offset. Every bot either refuses to
//! lead with a clear error naming what is wrong and where, or keeps a lease it really holds; none
//! panics, no new term starts while the garbage is there, and once it is removed the bots elect
//! a leader again with a larger token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use oracle_tests::election::{EtcdServer, Event, ProbeConfig, Probes, RedisServer, serial};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROBE: &str = env!("CARGO_BIN_EXE_elector-probe");

/// Bytes no elector wrote: a truncated record with a NUL and an invalid UTF-8 byte.
const GARBAGE: &[u8] = b"{\"botId\":\"\x00intruder\xff\",\"timestamp\":";

fn is_error_with(e: &Event, probe: usize, needle: &str) -> bool {
    e.probe == probe && e.kind() == "ERROR" && e.line.contains(needle)
}

/// What the leader of the moment does with the garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaderThen {
    /// Its renewals read the garbage: it refuses too.
    Refuses,
    /// Its lease does not depend on what was spoiled: it keeps leading until told to release,
    /// after the cleanup.
    Survives,
    /// It is told to release at once; then it meets the garbage when it campaigns again.
    Released,
}

/// Two probes; one leads; `spoil` writes garbage; the leader (unless it `Survives`) and a
/// candidate started then report an error containing `needle`; no new term starts; `clean`
/// removes the garbage; a new term starts, with a larger token where the counter survived.
async fn garbage_is_refused_then_recovered<S, C>(
    config: &ProbeConfig,
    needle: &str,
    spoil: impl FnOnce() -> S,
    clean: impl FnOnce() -> C,
    leader_then: LeaderThen,
) where
    S: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let mut probes = Probes::start(PROBE, 2, config);
    let first = probes.until_acted("a first leader", |_| true).await;
    let (leader, token) = (first.probe, first.token().unwrap());
    let seen_before = probes.seen.len();
    spoil().await;
    if leader_then == LeaderThen::Released {
        probes.probes[leader].send("release").await;
    }
    // A candidate that starts now meets the garbage at its first round. (The running follower
    // may already be in an error state, e.g. a campaign that timed out, and a probe prints an
    // error only when it enters that state.)
    let late = probes.spawn(PROBE, "bot-late", config);
    if leader_then == LeaderThen::Survives {
        probes.until("a new candidate refuses", |e| is_error_with(e, late, needle)).await;
    } else {
        probes
            .until_each(
                "the leader and a new candidate refuse",
                &[&|e: &Event| is_error_with(e, leader, needle), &|e: &Event| is_error_with(e, late, needle)],
            )
            .await;
    }
    let new_terms: Vec<&Event> = probes.seen[seen_before..]
        .iter()
        .filter(|e| e.kind() == "ACTED" && e.token() != Some(token))
        .collect();
    assert!(new_terms.is_empty(), "a term started on garbage: {new_terms:?}\n{}", probes.logs());
    clean().await;
    if leader_then == LeaderThen::Survives {
        probes.probes[leader].send("release").await;
    }
    // Deleting the lock file deletes its token counter (the module docs say not to do that while
    // bots run): a bot that never read the old token may issue it again. The engine raises its
    // floor from the fenced oracle's highest token before leading, which is what protects then.
    let grows = !config.env.iter().any(|(k, v)| k == "LEADER_ELECTION_BACKEND" && v == "file");
    let next = probes
        .until_acted("a leader after the cleanup", |e| e.token().is_some_and(|t| t > token || !grows))
        .await;
    eprintln!(
        "led by probe {} with token {token}, then by probe {} with {}",
        leader,
        next.probe,
        next.token().unwrap()
    );
    probes.stop_all(&[]).await;
    let logs = probes.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    let errors: Vec<&str> =
        probes.seen.iter().filter(|e| e.kind() == "ERROR").map(|e| e.line.as_str()).collect();
    for line in &errors {
        assert!(line.len() < 400, "one short line: {line}");
    }
    eprintln!("errors seen: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_lock_file_is_refused_with_its_path_and_then_recovered() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leader.lock");
    let config = ProbeConfig::file(&path);
    // The first read may catch the file half written ("empty") or whole ("not JSON"): either way
    // the message names the file.
    let needle = format!("unreadable leadership record: {}: ", path.display());
    let spoiled = path.clone();
    garbage_is_refused_then_recovered(
        &config,
        &needle,
        || async move { std::fs::write(&spoiled, GARBAGE).unwrap() },
        || async move { std::fs::remove_file(&path).unwrap() },
        LeaderThen::Refuses,
    )
    .await;
}

/// One Redis command over RESP, its reply as text.
async fn redis(port: u16, args: &[&[u8]]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut command = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        command.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        command.extend_from_slice(a);
        command.extend_from_slice(b"\r\n");
    }
    stream.write_all(&command).await.unwrap();
    let mut reply = vec![0u8; 512];
    let n = stream.read(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

/// Found by this test: bytes that are not UTF-8 in the leader key made every round fail as
/// "backend unavailable: Incompatible type - Cannot convert from UTF-8", as if Redis were down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_utf8_redis_leader_value_is_refused_as_unreadable_and_then_recovered() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let config = ProbeConfig::redis(&server.url());
    let port = server.port();
    // No expiry: it stays until someone removes it.
    garbage_is_refused_then_recovered(
        &config,
        "unreadable leadership record: key {probe-test}:leader",
        || async move {
            assert!(redis(port, &[b"SET", b"{probe-test}:leader", GARBAGE]).await.starts_with("+OK"))
        },
        || async move {
            redis(port, &[b"DEL", b"{probe-test}:leader"]).await;
        },
        LeaderThen::Refuses,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_etcd_token_offset_is_refused_by_candidates_while_the_leader_keeps_its_lease() {
    let _serial = serial().await;
    let server = EtcdServer::start().await;
    let endpoint = server.endpoint();
    let config = ProbeConfig::etcd(&endpoint);
    let key = "probe-test/leader.epoch";
    let (put_at, del_at) = (endpoint.clone(), endpoint);
    garbage_is_refused_then_recovered(
        &config,
        "must hold a decimal token offset",
        || async move {
            let mut client = etcd_client::Client::connect([put_at], None).await.unwrap();
            client.put(key, GARBAGE, None).await.unwrap();
        },
        || async move {
            let mut client = etcd_client::Client::connect([del_at], None).await.unwrap();
            client.delete(key, None).await.unwrap();
        },
        LeaderThen::Survives,
    )
    .await;
}

/// Found by this test: a non-numeric token counter made Redis's `INCR` fail inside the script,
/// which surfaced as "backend unavailable: ... ERR value is not an integer" on every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_numeric_redis_token_counter_is_refused_as_unreadable_and_then_recovered() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let config = ProbeConfig::redis(&server.url());
    let port = server.port();
    garbage_is_refused_then_recovered(
        &config,
        "unreadable leadership record: key {probe-test}:epoch",
        || async move { assert!(redis(port, &[b"SET", b"{probe-test}:epoch", GARBAGE]).await.starts_with("+OK")) },
        || async move {
            redis(port, &[b"DEL", b"{probe-test}:epoch"]).await;
        },
        LeaderThen::Released,
    )
    .await;
}
