//! Failover benchmark: three electors per backend on real servers, measuring the gap between the
//! old leader's last fenced action and the new leader's first, after a crash (the leader stops
//! renewing and never releases) and after a graceful release.
//!
//! ```sh
//! cargo run --release -p oracle-election --example failover_bench --features etcd [-- ROUNDS]
//! ```
//!
//! Needs `redis-server` and `etcd` on the PATH (`scripts/setup.sh` installs them). Each bot runs
//! as a task that ticks every 10 ms and wakes at once on the elector's watch channel; a crash is
//! simulated by aborting the leader's task and dropping its elector (its background renewal
//! stops, its connections close, nothing is released), which is what the coordination server
//! sees of a killed process. Leases: 1.5 s / 200 ms / 1 s (file, Redis) and 2 s / 200 ms /
//! 1.2 s (etcd, whose leases are whole seconds).
// An example links every dependency of the package; it uses the library's electors only.
#![allow(unused_crate_dependencies)]

use std::{
    error::Error,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use oracle_election::{Elector, ElectorConfig, Fence, Leadership, LeaseConfig, RedisUrl};
use tokio::task::JoinHandle;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_until(what: &str, ready: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what} did not become ready").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn start_redis() -> Result<(Server, String)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server { child, _dir: dir };
    wait_until("redis-server", || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    })
    .await?;
    Ok((server, format!("redis://127.0.0.1:{port}")))
}

#[cfg(feature = "etcd")]
async fn start_etcd() -> Result<(Server, String)> {
    let dir = tempfile::tempdir()?;
    let (client, peer) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new("etcd")
        .args(["--name", "n0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("n0={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server { child, _dir: dir };
    wait_until("etcd", || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", client)) else { return false };
        let req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut body = String::new();
        s.write_all(req.as_bytes()).is_ok()
            && s.read_to_string(&mut body).is_ok()
            && body.contains("\"health\":\"true\"")
    })
    .await?;
    Ok((server, client_url))
}

/// (bot, token, when) of every fenced action.
type ActionLog = Arc<Mutex<Vec<(usize, u64, Instant)>>>;

struct Bot {
    elector: Arc<dyn Elector>,
    task: JoinHandle<()>,
}

fn spawn_bot(index: usize, elector: Arc<dyn Elector>, log: ActionLog) -> Bot {
    let e = Arc::clone(&elector);
    let task = tokio::spawn(async move {
        let mut wake = e.watch();
        let mut leading = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                Some(()) = async { match wake.as_mut() { Some(w) => w.changed().await.ok(), None => None } }, if !leading => {}
            }
            leading = false;
            if let Ok(Leadership::Leader(lease)) = e.acquire_or_renew().await
                && Fence::new(&lease, Duration::from_millis(50)).check().is_ok()
            {
                leading = true;
                if let Ok(mut log) = log.lock() {
                    log.push((index, lease.token.0, Instant::now()));
                }
            }
        }
    });
    Bot { elector, task }
}

fn last_action(log: &ActionLog) -> Option<(usize, u64, Instant)> {
    log.lock().ok().and_then(|l| l.last().copied())
}

/// Runs `rounds` crashes and `rounds` releases with three bots; returns the gaps.
async fn bench(
    config: &ElectorConfig,
    lease: LeaseConfig,
    rounds: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let log: ActionLog = Arc::default();
    let mut bots = Vec::new();
    let mut next_id = 0;
    for _ in 0..3 {
        let elector = config.connect(&format!("bench-{next_id}"), lease).await?;
        bots.push(spawn_bot(next_id, elector, Arc::clone(&log)));
        next_id += 1;
    }
    let (mut crash, mut release) = (Vec::new(), Vec::new());
    for round in 0..rounds * 2 {
        let graceful = round % 2 == 1;
        // Wait for a leader that has acted for a while (a few renewals).
        let (leader, token) = loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some((bot, token, _)) = last_action(&log) {
                let first = log.lock().map_err(|_| "poisoned")?.iter().find(|a| a.1 == token).map(|a| a.2);
                if first.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                    break (bot, token);
                }
            }
        };
        let slot = bots
            .iter()
            .position(|b| b.elector.id() == format!("bench-{leader}"))
            .ok_or("leader not found")?;
        let Bot { elector: old, task } = bots.swap_remove(slot);
        task.abort();
        let _ = task.await;
        if graceful {
            old.release().await?;
        }
        // A crash: the elector goes without a release (its renewals stop, its connections close).
        drop(old);
        // The new leader's first action with a newer token.
        let gap = loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let l = log.lock().map_err(|_| "poisoned")?;
            let last_old = l.iter().filter(|a| a.1 == token).map(|a| a.2).max();
            if let (Some(last_old), Some(first_new)) = (last_old, l.iter().find(|a| a.1 > token).map(|a| a.2))
            {
                break first_new - last_old;
            }
        };
        if graceful {
            release.push(gap)
        } else {
            crash.push(gap)
        }
        let elector = config.connect(&format!("bench-{next_id}"), lease).await?;
        bots.push(spawn_bot(next_id, elector, Arc::clone(&log)));
        next_id += 1;
    }
    for b in bots {
        b.task.abort();
        let _ = b.task.await;
        let _ = b.elector.release().await;
    }
    Ok((crash, release))
}

fn stats(gaps: &mut [Duration]) -> (Duration, Duration) {
    gaps.sort();
    let median = gaps.get(gaps.len() / 2).copied().unwrap_or_default();
    (median, gaps.last().copied().unwrap_or_default())
}

fn report(backend: &str, lease: &LeaseConfig, mut crash: Vec<Duration>, mut release: Vec<Duration>) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = crash.len();
    let (cm, cx) = stats(&mut crash);
    let (rm, rx) = stats(&mut release);
    println!(
        "{backend:<6} lease {:>6.0} ms   crash: median {:>7.1} ms, max {:>7.1} ms   release: median {:>5.1} ms, max {:>5.1} ms   ({n} rounds each)",
        ms(lease.duration()),
        ms(cm),
        ms(cx),
        ms(rm),
        ms(rx)
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|r| r.parse()).transpose()?.unwrap_or(5);
    let short =
        LeaseConfig::new(Duration::from_millis(1500), Duration::from_millis(200), Duration::from_secs(1))?;

    let dir = tempfile::tempdir()?;
    let file = ElectorConfig::File { path: dir.path().join("leader.lock") };
    let (crash, release) = bench(&file, short, rounds).await?;
    report("file", &short, crash, release);

    let (_redis, url) = start_redis().await?;
    let redis = ElectorConfig::Redis { url: RedisUrl::parse(&url)?, key_prefix: "bench".into() };
    let (crash, release) = bench(&redis, short, rounds).await?;
    report("redis", &short, crash, release);

    #[cfg(feature = "etcd")]
    {
        let etcd_lease = LeaseConfig::new(
            Duration::from_secs(2),
            Duration::from_millis(200),
            Duration::from_millis(1200),
        )?;
        let (_etcd, endpoint) = start_etcd().await?;
        let etcd = ElectorConfig::Etcd(oracle_election::EtcdConfig::new([endpoint]));
        let (crash, release) = bench(&etcd, etcd_lease, rounds).await?;
        report("etcd", &etcd_lease, crash, release);
    }
    #[cfg(not(feature = "etcd"))]
    println!("etcd   skipped: run with --features etcd");
    Ok(())
}
