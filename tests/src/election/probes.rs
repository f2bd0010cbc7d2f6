//! `elector-probe` processes whose stdout lines the tests await, merged into one stream of events,
//! and in-process electors.

use std::{
    fs::File,
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::mpsc,
};

use super::*;

/// One line a probe printed, with when the test read it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The probe's index in its [`Probes`].
    pub probe: usize,
    /// When the line was read.
    pub at: Instant,
    /// The line.
    pub line: String,
}

impl Event {
    /// The first word: `LEADER`, `FOLLOWER`, `ACTED`, `FENCED`, `REFUSED`, `RELEASED`, `ERROR`,
    /// `STOPPED`, ...
    pub fn kind(&self) -> &str {
        self.line.split(' ').next().unwrap_or_default()
    }

    /// The token of a `LEADER`, `ACTED`, `FENCED`, `REFUSED` or `RELEASED` line.
    pub fn token(&self) -> Option<u64> {
        self.line.split(' ').nth(1)?.parse().ok()
    }
}

/// A running `elector-probe`.
pub struct Probe {
    /// The bot id.
    pub id: String,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    log: PathBuf,
}

impl Probe {
    /// The probe's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the probe runs")
    }

    /// SIGKILL: no release, no last words.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGSTOP.
    pub fn pause(&self) {
        signal(self.pid(), rustix::process::Signal::STOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), rustix::process::Signal::CONT);
    }

    /// Sends a command line (`release`, `stale`, `stop`).
    pub async fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write to the probe");
        stdin.flush().await.expect("flush the probe's stdin");
    }

    /// The probe's log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Several probes sharing one fenced target, with their lines merged into one stream of events.
pub struct Probes {
    /// The probes, by index.
    pub probes: Vec<Probe>,
    /// The shared target.
    pub target: FencedTarget,
    events: mpsc::UnboundedReceiver<Event>,
    sender: mpsc::UnboundedSender<Event>,
    /// Every event received so far.
    pub seen: Vec<Event>,
    dir: TempDir,
}

/// How probes are configured: environment variables for the elector (the bot's own, read by
/// `ElectorConfig::from_env`) and probe flags.
#[derive(Debug, Clone, Default)]
pub struct ProbeConfig {
    /// Environment variables (`LEADER_ELECTION_BACKEND`, `REDIS_URL`, `LEADER_LEASE_MS`, ...).
    pub env: Vec<(String, String)>,
    /// Extra flags (`--hold-ms 600`, ...).
    pub args: Vec<String>,
}

impl ProbeConfig {
    /// A configuration with the election variables `env` and lease timing in milliseconds.
    pub fn new(
        env: &[(&str, String)],
        lease_ms: u64,
        renew_interval_ms: u64,
        renew_deadline_ms: u64,
    ) -> Self {
        let mut all: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        all.push(("LEADER_LEASE_MS".into(), lease_ms.to_string()));
        all.push(("LEADER_RENEW_INTERVAL_MS".into(), renew_interval_ms.to_string()));
        all.push(("LEADER_RENEW_DEADLINE_MS".into(), renew_deadline_ms.to_string()));
        Self { env: all, args: Vec::new() }
    }

    /// Probes electing through the lock file at `path`: 1.5 s leases, renewed every 200 ms, 1 s
    /// deadline.
    pub fn file(path: &std::path::Path) -> Self {
        Self::new(
            &[("LEADER_ELECTION_BACKEND", "file".into()), ("LEADER_LOCK_PATH", path.display().to_string())],
            1500,
            200,
            1000,
        )
    }

    /// Probes electing through Redis at `url` (key prefix `probe-test`), with the file probes'
    /// leases.
    pub fn redis(url: &str) -> Self {
        Self::new(
            &[
                ("LEADER_ELECTION_BACKEND", "redis".into()),
                ("REDIS_URL", url.into()),
                ("LEADER_REDIS_KEY_PREFIX", "probe-test".into()),
            ],
            1500,
            200,
            1000,
        )
    }

    /// Probes electing through etcd at `endpoint` (election `probe-test/leader`): 2 s leases
    /// (etcd's TTLs are whole seconds), renewed every 200 ms, 1.2 s deadline.
    pub fn etcd(endpoint: &str) -> Self {
        Self::new(
            &[
                ("LEADER_ELECTION_BACKEND", "etcd".into()),
                ("ETCD_ENDPOINTS", endpoint.into()),
                ("LEADER_ETCD_ELECTION", "probe-test/leader".into()),
            ],
            2000,
            200,
            1200,
        )
    }

    /// Adds probe flags.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
}

impl Probes {
    /// Starts `n` probes (`bot-0`, `bot-1`, ...) with `config`.
    pub fn start(probe_bin: &str, n: usize, config: &ProbeConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = FencedTarget::new(dir.path().join("actions.log"));
        let (sender, events) = mpsc::unbounded_channel();
        let mut set = Self { probes: Vec::new(), target, events, sender, seen: Vec::new(), dir };
        for i in 0..n {
            set.spawn(probe_bin, &format!("bot-{i}"), config);
        }
        set
    }

    /// Starts one more probe with bot id `id`; returns its index.
    pub fn spawn(&mut self, probe_bin: &str, id: &str, config: &ProbeConfig) -> usize {
        let index = self.probes.len();
        let log = self.dir.path().join(format!("{id}.{index}.log"));
        let stderr = File::create(&log).expect("create the probe log");
        let mut cmd = tokio::process::Command::new(probe_bin);
        cmd.arg("--id")
            .arg(id)
            .arg("--action-log")
            .arg(&self.target.path)
            .args(&config.args)
            .env_remove("RUST_LOG")
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start elector-probe");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if sender.send(Event { probe: index, at: Instant::now(), line }).is_err() {
                    break;
                }
            }
        });
        self.probes.push(Probe { id: id.to_owned(), child, stdin, log });
        index
    }

    /// The next event from any probe.
    pub async fn next(&mut self) -> Event {
        match tokio::time::timeout(HANG_GUARD, self.events.recv()).await {
            Ok(Some(e)) => {
                self.seen.push(e.clone());
                e
            }
            Ok(None) => panic!("all probes closed their output\n{}", self.logs()),
            Err(_) => panic!("no probe printed anything for {HANG_GUARD:?}\n{}", self.logs()),
        }
    }

    /// Waits for the first event that matches `pred`.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let start = Instant::now();
        loop {
            let e = self.next().await;
            if pred(&e) {
                return e;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "still waiting for {what} after {HANG_GUARD:?}\n{}",
                self.logs()
            );
        }
    }

    /// Waits until every predicate of `wanted` has matched an event, in whatever order the events
    /// arrive; returns the matching events in the order of `wanted`. Each event satisfies at most
    /// one predicate (the first unmatched one it fits).
    ///
    /// Use it for events of different probes whose order nothing guarantees: a sub-millisecond
    /// handover can print the new leader's `ACTED` before the old leader's `RELEASED` reaches
    /// the test, and waiting for one then the other would consume the first and hang.
    pub async fn until_each(&mut self, what: &str, wanted: &[&dyn Fn(&Event) -> bool]) -> Vec<Event> {
        let start = Instant::now();
        let mut found: Vec<Option<Event>> = vec![None; wanted.len()];
        while found.iter().any(Option::is_none) {
            let e = self.next().await;
            if let Some(i) = (0..wanted.len()).find(|&i| found[i].is_none() && wanted[i](&e)) {
                found[i] = Some(e);
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "still waiting for {what} after {HANG_GUARD:?}\n{}",
                self.logs()
            );
        }
        found.into_iter().flatten().collect()
    }

    /// Waits for some probe to lead and act; returns its `ACTED` event.
    pub async fn until_acted(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        self.until(what, |e| e.kind() == "ACTED" && pred(e)).await
    }

    /// The bot id of probe `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.probes[i].id
    }

    /// Stops every running probe with `stop` (release, then exit) and waits for their `STOPPED`.
    pub async fn stop_all(&mut self, skip: &[usize]) {
        let mut waiting = Vec::new();
        for (i, p) in self.probes.iter_mut().enumerate() {
            if !skip.contains(&i) {
                p.send("stop").await;
                waiting.push(i);
            }
        }
        while !waiting.is_empty() {
            let e = self.next().await;
            if e.kind() == "STOPPED" {
                waiting.retain(|i| *i != e.probe);
            }
        }
    }

    /// Every probe's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in &self.probes {
            out.push_str(&format!("---- {} ----\n{}\n", p.id, tail(&p.log, 3000)));
        }
        out.push_str("---- events ----\n");
        for e in self.seen.iter().rev().take(40).rev() {
            out.push_str(&format!("{}: {}\n", self.probes[e.probe].id, e.line));
        }
        out
    }
}

/// Shared handle for in-process electors in tests.
pub type SharedElector = Arc<dyn oracle_election::Elector>;
/// Acquires leadership with `e` once the election is free, waiting out whatever holds it (a
/// fresh Redis grants nobody leadership for one lease, in case it lost a leader's record).
pub async fn lead(e: &SharedElector) -> oracle_core::Lease {
    let mut wake = e.watch();
    let start = Instant::now();
    loop {
        match e.acquire_or_renew().await {
            Ok(oracle_core::Leadership::Leader(lease)) => return lease,
            Ok(oracle_core::Leadership::Follower { leader: None }) => {}
            Ok(other) => panic!("{} cannot lead: {other:?}", e.id()),
            Err(oracle_core::ElectionError::Unavailable { .. }) => {} // still connecting
            Err(other) => panic!("{} cannot lead: {other}", e.id()),
        }
        assert!(start.elapsed() < HANG_GUARD, "{} never led", e.id());
        match wake.as_mut() {
            Some(w) => {
                let _ = tokio::time::timeout(Duration::from_millis(100), w.changed()).await;
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
