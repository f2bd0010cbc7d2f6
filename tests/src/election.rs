//! The leader-election harness: real `redis-server` and `etcd` processes on free loopback ports in
//! temporary directories (kill, pause, resume, restart), `elector-probe` processes whose stdout
//! lines the tests await, and the fenced target the probes act on.
//!
//! Nothing here sleeps to wait for something: servers are ready when a connection answers,
//! probes are followed through the lines they print. Every wait has a hang guard
//! ([`HANG_GUARD`]) that fails the test with the probes' logs instead of hanging CI; it is not a
//! timing assertion.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::{Mutex, MutexGuard, mpsc},
};

/// The longest any single awaited event may take before the test fails as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Serialises the election tests of one test binary: their timing (leases of 1–2 s) should not
/// compete for the machine's two cores with another election test.
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid =
        rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid fits i32")).expect("pid is not 0");
    rustix::process::kill_process(pid, signal).expect("send a signal");
}

/// Microseconds since the unix epoch (the action log's clock).
pub fn unix_micros(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).expect("after 1970").as_micros()).expect("fits u64")
}

fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    text[start..].to_owned()
}

/// A server process that is killed when dropped.
struct Proc {
    child: Option<Child>,
    log: PathBuf,
    program: &'static str,
    args: Vec<String>,
}

impl Proc {
    fn spawn(program: &'static str, args: Vec<String>, log: PathBuf) -> Self {
        let mut p = Self { child: None, log, program, args };
        p.start();
        p
    }

    fn start(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(&self.log).expect("open the server log");
        let child = Command::new(self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; run scripts/setup.sh", self.program));
        self.child = Some(child);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Panics with the log if the process exited.
    fn check_alive(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("poll the server")
        {
            panic!("{} exited ({status}) while starting:\n{}", self.program, tail(&self.log, 4000));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            // A paused process must be resumed to die promptly from SIGKILL's wait.
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(child.id() as i32).expect("pid"),
                rustix::process::Signal::CONT,
            );
        }
        self.kill();
    }
}

/// Retries `ready` (a quick connection attempt) until it succeeds.
async fn await_ready(proc: &mut Proc, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    while !ready() {
        proc.check_alive();
        assert!(
            start.elapsed() < HANG_GUARD,
            "{what} not ready after {HANG_GUARD:?}:\n{}",
            tail(&proc.log, 4000)
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A `redis-server` without persistence on a free port.
pub struct RedisServer {
    proc: Proc,
    port: u16,
    password: Option<String>,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub async fn start() -> Self {
        Self::start_inner(None).await
    }

    /// Starts a server that requires `password` (`requirepass`).
    pub async fn start_with_password(password: &str) -> Self {
        Self::start_inner(Some(password.to_owned())).await
    }

    /// Starts a server that keeps its data across a `kill -9` (append-only file, fsync on every
    /// write), like a production Redis with persistence.
    pub async fn start_durable() -> Self {
        Self::start_with(None, true).await
    }

    async fn start_inner(password: Option<String>) -> Self {
        Self::start_with(password, false).await
    }

    async fn start_with(password: Option<String>, durable: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            if durable { "yes" } else { "no" },
            "--appendfsync",
            "always",
            "--dir",
            &dir.path().join("data").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(p) = &password {
            args.extend(["--requirepass".to_string(), p.clone()]);
        }
        std::fs::create_dir_all(dir.path().join("data")).expect("the data directory");
        let proc = Proc::spawn("redis-server", args, dir.path().join("redis.log"));
        let mut server = Self { proc, port, password, _dir: dir };
        server.await_ready().await;
        server
    }

    async fn await_ready(&mut self) {
        let port = self.port;
        await_ready(&mut self.proc, "redis-server", move || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            if s.write_all(b"PING\r\n").is_err() {
                return false;
            }
            let mut buf = [0u8; 64];
            // `+PONG`, or `-NOAUTH` from a server with a password: either way it serves.
            matches!(s.read(&mut buf), Ok(n) if n > 0 && (buf.starts_with(b"+PONG") || buf.starts_with(b"-NOAUTH")))
        })
        .await;
    }

    /// `redis://[:password@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL: the data (no persistence) is gone.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGSTOP.
    pub fn pause(&self) {
        signal(self.proc.pid(), rustix::process::Signal::STOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.proc.pid(), rustix::process::Signal::CONT);
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)) and waits for it.
    pub async fn restart(&mut self) {
        self.proc.kill();
        self.proc.start();
        self.await_ready().await;
    }

    /// Like [`restart`](Self::restart), with its data directory emptied first: a server that
    /// lost its disk.
    pub async fn restart_without_data(&mut self) {
        self.proc.kill();
        empty_dir(&self._dir.path().join("data"));
        self.proc.start();
        self.await_ready().await;
    }
}

/// Removes everything inside `dir` and leaves it empty.
fn empty_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("recreate the data directory");
}

/// A single-member `etcd` cluster on free ports with its data in a temporary directory (kept
/// across restarts).
pub struct EtcdServer {
    proc: Proc,
    client_port: u16,
    _dir: TempDir,
}

impl EtcdServer {
    /// Starts etcd and waits until `/health` answers healthy.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let client_port = free_port();
        let peer_port = free_port();
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let args: Vec<String> = [
            "--name",
            "n0",
            "--data-dir",
            &dir.path().join("data").display().to_string(),
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("n0={peer}"),
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "oracle-tests",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = Proc::spawn("etcd", args, dir.path().join("etcd.log"));
        let mut server = Self { proc, client_port, _dir: dir };
        server.await_ready().await;
        server
    }

    async fn await_ready(&mut self) {
        let port = self.client_port;
        await_ready(&mut self.proc, "etcd", move || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_err() {
                return false;
            }
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            body.starts_with("HTTP/1.1 200") && body.contains("\"health\":\"true\"")
        })
        .await;
    }

    /// `http://127.0.0.1:<client port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// SIGKILL (the data directory stays).
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGSTOP.
    pub fn pause(&self) {
        signal(self.proc.pid(), rustix::process::Signal::STOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.proc.pid(), rustix::process::Signal::CONT);
    }

    /// Starts etcd again on the same ports and data, and waits for it.
    pub async fn restart(&mut self) {
        self.proc.kill();
        self.proc.start();
        self.await_ready().await;
    }

    /// Like [`restart`](Self::restart), with the data directory gone: a member that lost its
    /// disk comes back as a new cluster, its revisions starting again from 1.
    pub async fn restart_without_data(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_dir_all(self._dir.path().join("data"));
        self.proc.start();
        self.await_ready().await;
    }
}

/// One action on the fenced target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// When, in unix microseconds.
    pub at_micros: u64,
    /// Which bot.
    pub id: String,
    /// With which fencing token.
    pub token: u64,
    /// Whether the target accepted it (it refuses tokens below the highest it accepted).
    pub accepted: bool,
}

/// A target that records actions in a shared file and, like a contract that remembers the
/// highest token, refuses an action whose token is below one it already accepted. Appends are
/// serialised by an exclusive lock on the file, so the file's order is the order in time.
#[derive(Debug, Clone)]
pub struct FencedTarget {
    path: PathBuf,
}

impl FencedTarget {
    /// A target logging to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Acts for `id` with `token`: returns whether the target accepted. Waits at most 2 s for the
    /// log's lock (a probe paused by a test may hold it), then fails with `WouldBlock`.
    pub fn act(&self, id: &str, token: u64) -> std::io::Result<bool> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < Duration::from_secs(2) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "the action log stays locked",
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let highest = parse_actions(&text).iter().filter(|a| a.accepted).map(|a| a.token).max().unwrap_or(0);
        let accepted = token >= highest;
        let verdict = if accepted { "ACCEPT" } else { "REFUSE" };
        let now = unix_micros(SystemTime::now());
        file.write_all(format!("{verdict} {now} {id} {token}\n").as_bytes())?;
        Ok(accepted)
    }

    /// Every action so far, in order.
    pub fn actions(&self) -> Vec<Action> {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.path) {
            f.read_to_string(&mut text).expect("read the action log");
        }
        parse_actions(&text)
    }
}

fn parse_actions(text: &str) -> Vec<Action> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let accepted = match parts.next()? {
                "ACCEPT" => true,
                "REFUSE" => false,
                _ => return None,
            };
            let at_micros = parts.next()?.parse().ok()?;
            let id = parts.next()?.to_owned();
            let token = parts.next()?.parse().ok()?;
            Some(Action { at_micros, id, token, accepted })
        })
        .collect()
}

/// Checks that terms never overlapped: in the order of the log, the accepted actions' tokens never
/// decrease and one token belongs to one bot. Returns the terms `(id, token, first, last)` in
/// order.
pub fn assert_one_leader_at_a_time(actions: &[Action]) -> Vec<(String, u64, u64, u64)> {
    let mut terms: Vec<(String, u64, u64, u64)> = Vec::new();
    for a in actions.iter().filter(|a| a.accepted) {
        match terms.last_mut() {
            Some((id, token, _, last)) if *token == a.token => {
                assert_eq!(id, &a.id, "token {} used by two bots: {id} and {}", a.token, a.id);
                *last = a.at_micros;
            }
            Some((id, token, _, _)) => {
                assert!(
                    a.token > *token,
                    "{} acted with token {} after {id} acted with the larger token {token}",
                    a.id,
                    a.token
                );
                terms.push((a.id.clone(), a.token, a.at_micros, a.at_micros));
            }
            None => terms.push((a.id.clone(), a.token, a.at_micros, a.at_micros)),
        }
    }
    terms
}

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

/// A coordination server the tests can kill and restart.
pub trait Restartable {
    /// SIGKILL.
    fn kill_now(&mut self);
    /// Starts it again and waits until it serves.
    fn start_again(&mut self) -> impl std::future::Future<Output = ()>;
}

impl Restartable for RedisServer {
    fn kill_now(&mut self) {
        self.kill();
    }
    async fn start_again(&mut self) {
        self.restart().await;
    }
}

impl Restartable for EtcdServer {
    fn kill_now(&mut self) {
        self.kill();
    }
    async fn start_again(&mut self) {
        self.restart().await;
    }
}

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

/// The end-to-end scenarios every backend runs, with probes (separate processes).
pub mod scenarios {
    use std::collections::{BTreeSet, HashSet};

    use oracle_election::Leadership;

    use super::*;

    fn summary(terms: &[(String, u64, u64, u64)]) -> String {
        terms.iter().map(|(id, t, _, _)| format!("{id}#{t}")).collect::<Vec<_>>().join(" ")
    }

    /// Three probes that each lead for `hold` and release, until `rounds` terms have acted: the
    /// action log shows one leader at a time, strictly growing tokens, no refusals, and more than
    /// one bot leading.
    pub async fn one_leader_at_a_time(bin: &str, config: &ProbeConfig, rounds: usize) {
        let config = config.clone().args(&["--hold-ms", "600", "--rest-ms", "300"]);
        let mut p = Probes::start(bin, 3, &config);
        let mut tokens = BTreeSet::new();
        while tokens.len() < rounds {
            let e = p.until_acted("the next term", |_| true).await;
            tokens.insert(e.token().expect("ACTED carries a token"));
        }
        p.stop_all(&[]).await;
        let actions = p.target.actions();
        assert!(actions.iter().all(|a| a.accepted), "a fenced action was refused: {actions:?}");
        let terms = assert_one_leader_at_a_time(&actions);
        assert!(terms.len() >= rounds, "{} terms: {}", terms.len(), summary(&terms));
        let leaders: HashSet<&str> = terms.iter().map(|t| t.0.as_str()).collect();
        assert!(leaders.len() >= 2, "only {leaders:?} led: {}", summary(&terms));
        for pair in terms.windows(2) {
            assert!(pair[0].3 <= pair[1].2, "terms overlap: {pair:?}");
        }
        eprintln!("{} terms, {} actions: {}", terms.len(), actions.len(), summary(&terms));
    }

    /// The leader is killed without releasing: another probe takes over the expired lease (it
    /// logs the takeover of a dead leader), with a larger token, and one leader acts at a time.
    /// Returns the failover time (a figure for the benchmark, not asserted: timing on a loaded
    /// machine says nothing about correctness).
    pub async fn killed_leader_is_replaced(bin: &str, config: &ProbeConfig) -> Duration {
        let mut p = Probes::start(bin, 3, config);
        let first = p.until_acted("a first leader", |_| true).await;
        let (old, old_token) = (first.probe, first.token().expect("token"));
        let killed = Instant::now();
        p.probes[old].kill().await;
        let next = p.until("a new leader", |e| e.kind() == "LEADER" && e.probe != old).await;
        let took = next.at - killed;
        let new_token = next.token().expect("token");
        assert!(new_token > old_token, "token {new_token} after {old_token}");
        p.until_acted("the new leader's first action", |e| e.probe == next.probe).await;
        let dead = format!("Previous leader {} is dead, taking over", p.id(old));
        let log = p.probes[next.probe].log();
        assert!(log.contains(&dead), "the new leader did not log {dead:?}:\n{log}");
        p.stop_all(&[old]).await;
        let terms = assert_one_leader_at_a_time(&p.target.actions());
        eprintln!(
            "killed {} (token {old_token}); {} led after {took:?}: {}",
            p.id(old),
            p.id(next.probe),
            summary(&terms)
        );
        took
    }

    /// The leader releases: another probe takes the released record (not an expired one: it does
    /// not log a dead leader's takeover) and acts, with a larger token. Returns the gap between the
    /// old leader's last action and the new leader's first, from the log (a figure, not asserted).
    pub async fn release_hands_over_at_once(bin: &str, config: &ProbeConfig) -> Duration {
        let mut p = Probes::start(bin, 3, config);
        let first = p.until_acted("a first leader", |_| true).await;
        let old = first.probe;
        p.probes[old].send("release").await;
        // The new leader's ACTED may arrive before the old leader's RELEASED: wait for both.
        let events = p
            .until_each(
                "the release and a new leader's action",
                &[&|e: &Event| e.probe == old && e.kind() == "RELEASED", &|e: &Event| {
                    e.probe != old && e.kind() == "ACTED"
                }],
            )
            .await;
        let (released, next) = (&events[0], &events[1]);
        let handover = next.at.saturating_duration_since(released.at);
        assert!(next.token() > first.token());
        p.stop_all(&[]).await;
        let terms = assert_one_leader_at_a_time(&p.target.actions());
        let i = terms.iter().position(|t| t.1 == next.token().expect("token")).expect("the new term acted");
        assert!(i > 0, "the new term is not the second: {}", summary(&terms));
        let gap = Duration::from_micros(terms[i].2.saturating_sub(terms[i - 1].3));
        let log = p.probes[next.probe].log();
        assert!(
            !log.contains("is dead, taking over"),
            "the new leader waited for the lease to expire instead of taking the release:\n{log}"
        );
        eprintln!("release handover: {handover:?} between the lines, {gap:?} between the actions");
        gap
    }

    /// The leader is paused (SIGSTOP) until another probe leads and acts, then resumed: its first
    /// word is not an action (it reports FOLLOWER, or its fence refuses), and the target refuses
    /// its stale token.
    pub async fn paused_leader_does_not_act(bin: &str, config: &ProbeConfig) {
        let mut p = Probes::start(bin, 3, config);
        let first = p.until_acted("a first leader", |_| true).await;
        let (old, old_token) = (first.probe, first.token().expect("token"));
        p.probes[old].pause();
        // The pause may have caught the old leader inside the target's lock, so it is resumed as
        // soon as another probe leads; the newcomer acts once the lock is free.
        let next = p.until("a new leader", |e| e.probe != old && e.kind() == "LEADER").await;
        assert!(next.token().expect("token") > old_token);
        p.probes[old].resume();
        // The resumed probe's next line, and the new leader's first action on the target (so the
        // stale action below meets a target that has seen the newer token), in either order.
        let new_leader = next.probe;
        let seen = p
            .until_each(
                "the resumed probe's next line and the new leader's action",
                &[&|e: &Event| e.probe == old, &|e: &Event| e.probe == new_leader && e.kind() == "ACTED"],
            )
            .await;
        let after = seen[0].clone();
        // REFUSED is possible and is the target's fence at work: the pause can fall between the
        // probe's (live) fence check and its action, the one window no check can close. The
        // chain-level test (`oracle-bot/tests/bot_guarantees.rs`) measures what reaches the chain.
        assert!(
            matches!(after.kind(), "FOLLOWER" | "FENCED" | "ERROR" | "REFUSED"),
            "after the pause the old leader said {:?}\n{}",
            after.line,
            p.logs()
        );
        p.probes[old].send("stale").await;
        let stale = p
            .until("the stale action's verdict", |e| {
                e.probe == old && matches!(e.kind(), "REFUSED" | "STALE_ACCEPTED")
            })
            .await;
        assert_eq!((stale.kind(), stale.token()), ("REFUSED", Some(old_token)), "{}", stale.line);
        p.stop_all(&[]).await;
        let actions = p.target.actions();
        let terms = assert_one_leader_at_a_time(&actions);
        let new_first = terms.iter().find(|t| t.1 == next.token().expect("token")).expect("new term").2;
        // Every attempt after the successor's first action counts: at most the one in flight when
        // the pause hit, and the deliberate stale one; none accepted.
        let late: Vec<&Action> =
            actions.iter().filter(|a| a.token == old_token && a.at_micros > new_first).collect();
        assert!(late.len() <= 2, "the paused leader kept acting after its successor: {late:?}");
        assert!(late.iter().all(|a| !a.accepted), "a late action was accepted: {late:?}");
        assert!(actions.iter().filter(|a| !a.accepted).all(|a| a.token == old_token && a.id == p.id(old)));
        eprintln!("paused {} (token {old_token}): {} then {:?}", p.id(old), after.line, stale.line);
    }

    /// The coordination server is killed: the leader stops acting (its fence refuses, or its
    /// rounds fail) and nobody acts while the server is down (for one lease after the leader's
    /// renew deadline); after the restart a leader acts again with a token no smaller than
    /// before.
    pub async fn server_restart<S: Restartable>(
        bin: &str,
        config: &ProbeConfig,
        server: &mut S,
        deadline: Duration,
        lease: Duration,
    ) {
        let mut p = Probes::start(bin, 3, config);
        let first = p.until_acted("a first leader", |_| true).await;
        let (old, old_token) = (first.probe, first.token().expect("token"));
        let killed_wall = SystemTime::now();
        let killed = Instant::now();
        server.kill_now();
        let down = p
            .until("the leader stepping down", |e| {
                e.probe == old && matches!(e.kind(), "FENCED" | "ERROR" | "FOLLOWER")
            })
            .await;
        let stepped_down = down.at.saturating_duration_since(killed);
        // The outage lasts one more lease: long enough for any lease to have run out.
        tokio::time::sleep(lease).await;
        let restart_wall = SystemTime::now();
        server.start_again().await;
        let again = p.until_acted("a leader after the restart", |_| true).await;
        let new_token = again.token().expect("token");
        assert!(new_token >= old_token, "token {new_token} after {old_token}");
        p.stop_all(&[]).await;
        let actions = p.target.actions();
        assert_one_leader_at_a_time(&actions);
        let (from, to) = (unix_micros(killed_wall + deadline), unix_micros(restart_wall));
        let during: Vec<&Action> =
            actions.iter().filter(|a| a.at_micros > from && a.at_micros < to).collect();
        assert!(during.is_empty(), "acted while the server was down: {during:?}");
        eprintln!(
            "server killed: {} stepped down after {stepped_down:?} ({}); after the restart {} led with token {new_token} (was {old_token})",
            p.id(old),
            down.line,
            p.id(again.probe)
        );
    }

    /// In process: `a` leads, `admin` deposes it, and `b` is elected with a larger token only
    /// after `a`'s term is over (a learnt it at its next renewal and let go): there is no moment
    /// in which `a` may still act and `b` leads.
    pub async fn force_step_down(a: SharedElector, b: SharedElector, admin: SharedElector) {
        let first = lead(&a).await;
        assert_eq!(b.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some(a.id().into()) });
        let mut b_wake = b.watch().unwrap();
        let deposed = admin.force_step_down().await.unwrap().expect("someone led");
        assert_eq!((deposed.holder.as_str(), deposed.token), (a.id(), first.token));
        assert_eq!(admin.current_leader().await.unwrap(), None, "a deposed leader is nobody's leader");
        assert_eq!(admin.force_step_down().await.unwrap(), None, "already deposed");
        let start = Instant::now();
        let second = loop {
            match b.acquire_or_renew().await.unwrap() {
                Leadership::Leader(l) => {
                    assert_eq!(a.live_deadline(&first), None, "b leads while the deposed a may still act");
                    break l;
                }
                Leadership::Follower { leader } => {
                    assert_ne!(
                        leader.as_deref(),
                        Some(a.id()),
                        "the deposed leader is not reported as leading"
                    );
                }
            }
            assert!(start.elapsed() < HANG_GUARD, "b never led after the step-down");
            // Woken by the release (or the expiry); a short poll covers a missed wake-up.
            let _ = tokio::time::timeout(Duration::from_millis(100), b_wake.changed()).await;
        };
        assert!(second.token > first.token);
        assert_eq!(a.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some(b.id().into()) });
        assert_eq!(admin.current_leader().await.unwrap().unwrap().token, second.token);
        b.release().await.unwrap();
    }
}
