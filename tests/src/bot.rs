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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
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
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line it printed so far (stdout and stderr), for failure messages.
    seen: Vec<String>,
}

impl BotProcess {
    /// Starts `bin` with exactly `env` (nothing inherited).
    pub fn spawn(bin: impl AsRef<Path>, env: &HashMap<String, String>) -> Self {
        let mut child = Command::new(PathBuf::from(bin.as_ref()))
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
        Self { id, child, lines, seen: Vec::new() }
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

    fn pid(&self) -> u32 {
        self.child.id().expect("the bot runs")
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
