//! `oracle-bot` processes for whole-process tests: spawned with an environment, their log lines
//! awaited (never slept on), killed with SIGKILL, paused with SIGSTOP and resumed.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

use crate::{Deployment, election::signal, key_hex};

/// The longest a test waits for one log line before failing as hung (not a timing assertion).
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// The old bot's variables for `d`, with a fixed elizaOS price and a fast tick.
pub fn env_for(d: &Deployment, bot_id: &str) -> HashMap<String, String> {
    [
        ("BASE_RPC_URLS", d.source.endpoint()),
        ("JEJU_RPC_URL", d.target.endpoint()),
        ("ORACLE_ADDRESS", d.oracle.to_string()),
        ("PRICE_UPDATER_PRIVATE_KEY", key_hex(&d.target, 1)),
        ("CHAINLINK_ETH_USD_ADDRESS", d.aggregator.to_string()),
        ("CHAINLINK_SEQUENCER_UPTIME_FEED", d.sequencer_feed.to_string()),
        ("ELIZAOS_FIXED_PRICE_USD", "0.10".into()),
        ("UPDATE_INTERVAL_MS", "200".into()),
        ("HEALTH_CHECK_PORT", "0".into()),
        ("BOT_ID", bot_id.into()),
        ("RUST_LOG", "info".into()),
        // Its own in-flight journal: the default directory is shared by every bot on the host,
        // and a journal another test left would make this bot follow a transaction on a chain
        // that no longer exists.
        ("STATE_DIR", test_state_dir(d, bot_id)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A state directory of this deployment's bot `bot_id` (a restarted bot finds its journal).
pub fn test_state_dir(d: &Deployment, bot_id: &str) -> String {
    let port = d.target.port();
    std::env::temp_dir().join(format!("oracle-test-state-{port}-{bot_id}")).display().to_string()
}

/// Election on through a lock file at `path`, with short leases (1.5 s, renewed every 200 ms,
/// 1 s deadline) so takeovers happen within a test.
pub fn with_file_election(env: &mut HashMap<String, String>, path: &Path) {
    for (k, v) in [
        ("LEADER_ELECTION_ENABLED", "true".to_owned()),
        ("LEADER_LOCK_PATH", path.display().to_string()),
        ("LEADER_LEASE_MS", "1500".into()),
        ("LEADER_RENEW_INTERVAL_MS", "200".into()),
        ("LEADER_RENEW_DEADLINE_MS", "1000".into()),
    ] {
        env.insert(k.into(), v);
    }
}

/// Election on through Redis at `url`, with the same short leases as [`with_file_election`].
pub fn with_redis_election(env: &mut HashMap<String, String>, url: &str) {
    for (k, v) in [
        ("LEADER_ELECTION_ENABLED", "true"),
        ("LEADER_ELECTION_BACKEND", "redis"),
        ("REDIS_URL", url),
        ("LEADER_LEASE_MS", "1500"),
        ("LEADER_RENEW_INTERVAL_MS", "200"),
        ("LEADER_RENEW_DEADLINE_MS", "1000"),
    ] {
        env.insert(k.into(), v.into());
    }
}

/// A running `oracle-bot`; killed when dropped.
pub struct BotProcess {
    /// Its bot id.
    pub id: String,
    child: Child,
    /// The process id it was started with (kept after it exits, to look for leaks).
    started_pid: u32,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line it printed so far (stdout and stderr), for failure messages.
    seen: Vec<String>,
}

/// Election on through etcd at `endpoint`, with the same short leases as [`with_file_election`].
pub fn with_etcd_election(env: &mut HashMap<String, String>, endpoint: &str) {
    for (k, v) in [
        ("LEADER_ELECTION_ENABLED", "true"),
        ("LEADER_ELECTION_BACKEND", "etcd"),
        ("ETCD_ENDPOINTS", endpoint),
        ("LEADER_LEASE_MS", "2000"),
        ("LEADER_RENEW_INTERVAL_MS", "200"),
        ("LEADER_RENEW_DEADLINE_MS", "1000"),
    ] {
        env.insert(k.into(), v.into());
    }
}

/// Polls `check` every 50 ms until it returns `Some`; fails as hung after [`HANG_GUARD`] (not a
/// timing assertion).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < HANG_GUARD, "{what}: not reached within {HANG_GUARD:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET url`: the status and the body; `None` when nothing answered.
pub async fn http_get(url: String) -> Option<(u16, String)> {
    // One client for every request: building one loads the TLS roots, which costs more than the
    // request itself (1,000 concurrent requests would measure the client, not the server). No
    // idle connections are kept: tests run on runtimes of their own, and a connection is bound to
    // the runtime that opened it.
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    });
    let resp = client.get(url).send().await.ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.text().await.ok()?))
}

/// One series' value in a Prometheus text exposition (the first sample whose name and labels
/// start with `series`).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

impl BotProcess {
    /// Starts `bin` with exactly `env` (nothing inherited).
    pub fn spawn(bin: impl AsRef<Path>, env: &HashMap<String, String>) -> Self {
        Self::spawn_with_args(bin, env, &[])
    }

    /// Starts `bin` with `args` and exactly `env` (nothing inherited).
    pub fn spawn_with_args(bin: impl AsRef<Path>, env: &HashMap<String, String>, args: &[&str]) -> Self {
        let mut child = Command::new(PathBuf::from(bin.as_ref()))
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("oracle-bot starts");
        let (tx, lines) = mpsc::unbounded_channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        for reader in [Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>, Box::new(err)] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let id = env.get("BOT_ID").cloned().unwrap_or_default();
        let started_pid = child.id().unwrap_or(0);
        Self { id, child, started_pid, lines, seen: Vec::new() }
    }

    /// Waits for a line containing `needle`; returns it. Fails if the bot exits first.
    pub async fn await_line(&mut self, needle: &str) -> String {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        let found = tokio::time::timeout(HANG_GUARD, wait).await;
        let id = self.id.clone();
        match found {
            Ok(Some(line)) => line,
            Ok(None) => {
                let log = self.log();
                panic!("{id} exited before logging {needle:?}:\n{log}")
            }
            Err(_) => {
                let log = self.log();
                panic!("{id} did not log {needle:?} within {HANG_GUARD:?}:\n{log}")
            }
        }
    }

    /// Everything printed so far, including lines not yet awaited.
    pub fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    /// Everything it printed, once it has exited: waits for both pipes to close, so the last
    /// lines are not lost to the reader tasks still forwarding them.
    pub async fn final_log(&mut self) -> String {
        let drain = async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line);
            }
        };
        let _ = tokio::time::timeout(HANG_GUARD, drain).await;
        self.seen.join("\n")
    }

    /// Waits for the line saying where the endpoints listen; returns `http://127.0.0.1:PORT`.
    pub async fn endpoints(&mut self) -> String {
        let line = self.await_line("serving /health and /metrics").await;
        // `bound=127.0.0.1:PORT` in text logs, `"bound":"127.0.0.1:PORT"` in JSON logs.
        let port = line
            .split("bound=")
            .nth(1)
            .or_else(|| line.split("\"bound\":\"").nth(1))
            .and_then(|s| s.split([' ', '"']).next())
            .and_then(|addr| addr.rsplit(':').next())
            .unwrap_or_else(|| panic!("no bound address in {line:?}"))
            .to_owned();
        format!("http://127.0.0.1:{port}")
    }

    /// SIGHUP: reload the configuration.
    pub fn hup(&self) {
        signal(self.pid(), rustix::process::Signal::HUP);
    }

    /// SIGTERM: stop gracefully.
    pub fn term(&self) {
        signal(self.pid(), rustix::process::Signal::TERM);
    }

    /// Waits for the process to exit; its exit code (`None`: killed by a signal).
    pub async fn wait(&mut self) -> Option<i32> {
        tokio::time::timeout(HANG_GUARD, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {HANG_GUARD:?}", self.id))
            .expect("waiting for the bot")
            .code()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("SIGKILL the bot");
    }

    /// SIGSTOP.
    pub fn pause(&self) {
        signal(self.pid(), rustix::process::Signal::STOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), rustix::process::Signal::CONT);
    }

    /// The process id it was started with, also after it exited.
    pub fn started_pid(&self) -> u32 {
        self.started_pid
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the bot runs")
    }

    /// `Some(exit code)` once the process has exited (`Some(None)`: killed by a signal), `None`
    /// while it runs.
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        // A paused process must be resumed to die promptly.
        if let Some(pid) = self.child.id() {
            signal(pid, rustix::process::Signal::CONT);
        }
    }
}
