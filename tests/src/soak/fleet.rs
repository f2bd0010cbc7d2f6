//! The soak's fleet: three `oracle-bot` processes, each behind proxies of its own (two target
//! endpoints, so one can fail over, and the source) that a fault can cut, stall, put behind the
//! chain or make answer garbage; and the coordination server they elect through.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use tempfile::TempDir;

use super::{
    BOTS, Elector, MIN_INTERVAL, TICK,
    record::{Ending, Incarnation, Journal},
};
use crate::{
    Deployment,
    bot::{BotProcess, env_for, http_get, with_etcd_election, with_file_election, with_redis_election},
    election::{EtcdServer, RedisServer},
    proxy::{RpcProxy, Verdict},
};

/// How a proxied endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointMode {
    /// Forwards everything.
    Healthy,
    /// Answers 502 at once: the endpoint is down.
    Dead,
    /// Forwards and never answers: the client waits for its timeout.
    Hanging,
    /// Answers `eth_blockNumber` 1,000 blocks below the chain: the node fell behind.
    Behind,
    /// Answers bytes that are not JSON.
    Garbage,
}

impl EndpointMode {
    const ALL: [EndpointMode; 5] = [
        EndpointMode::Healthy,
        EndpointMode::Dead,
        EndpointMode::Hanging,
        EndpointMode::Behind,
        EndpointMode::Garbage,
    ];

    fn verdict(self) -> Verdict {
        match self {
            EndpointMode::Healthy => Verdict::Forward,
            EndpointMode::Dead => Verdict::Fail,
            EndpointMode::Hanging => Verdict::ForwardThenHang,
            EndpointMode::Behind => Verdict::BehindBlocks(1_000),
            EndpointMode::Garbage => Verdict::Garbage,
        }
    }
}

/// A proxy whose behaviour a fault switches.
#[derive(Clone)]
pub struct Endpoint {
    proxy: RpcProxy,
    mode: Arc<AtomicU8>,
}

impl Endpoint {
    async fn start(upstream: &str) -> Self {
        let mode = Arc::new(AtomicU8::new(0));
        let read = Arc::clone(&mode);
        let proxy = RpcProxy::start(upstream, move |_| {
            let i = usize::from(read.load(Ordering::Relaxed));
            EndpointMode::ALL.get(i).copied().unwrap_or(EndpointMode::Healthy).verdict()
        })
        .await;
        Self { proxy, mode }
    }

    /// Switches the endpoint's behaviour.
    pub fn set(&self, mode: EndpointMode) {
        let i = EndpointMode::ALL.iter().position(|m| *m == mode).unwrap_or(0);
        self.mode.store(u8::try_from(i).unwrap_or(0), Ordering::Relaxed);
    }
}

/// The election backend's server (or lock file), which a fault can kill and restart.
pub enum Coordinator {
    /// A lock file in a directory of its own.
    File(TempDir),
    /// Redis with an append-only file.
    Redis(RedisServer),
    /// etcd.
    Etcd(EtcdServer),
}

impl Coordinator {
    /// Starts the backend's server.
    pub async fn start(elector: Elector) -> Self {
        match elector {
            Elector::File => Coordinator::File(tempfile::tempdir().expect("a lock directory")),
            Elector::Redis => Coordinator::Redis(RedisServer::start_durable().await),
            Elector::Etcd => Coordinator::Etcd(EtcdServer::start().await),
        }
    }

    /// Points a bot's environment at the backend, with the harness's short leases.
    fn configure(&self, env: &mut HashMap<String, String>) {
        match self {
            Coordinator::File(dir) => with_file_election(env, &dir.path().join("leader.lock")),
            Coordinator::Redis(r) => with_redis_election(env, &r.url()),
            Coordinator::Etcd(e) => with_etcd_election(env, &e.endpoint()),
        }
    }

    /// SIGKILL of the server (nothing for the lock file, which has no server).
    pub fn kill(&mut self) {
        match self {
            Coordinator::File(_) => {}
            Coordinator::Redis(r) => r.kill(),
            Coordinator::Etcd(e) => e.kill(),
        }
    }

    /// Starts the server again, with its data or without.
    pub async fn restart(&mut self, with_data: bool) {
        match (self, with_data) {
            (Coordinator::File(_), _) => {}
            (Coordinator::Redis(r), true) => r.restart().await,
            (Coordinator::Redis(r), false) => r.restart_without_data().await,
            (Coordinator::Etcd(e), true) => e.restart().await,
            (Coordinator::Etcd(e), false) => e.restart_without_data().await,
        }
    }
}

/// One bot: its environment, its current process, its endpoints.
pub struct Member {
    /// The bot's id.
    pub id: String,
    env: HashMap<String, String>,
    process: Option<BotProcess>,
    /// `http://127.0.0.1:PORT` of its `/health`, while it runs.
    pub url: Option<String>,
    /// Its preferred target endpoint.
    pub primary: Endpoint,
    /// Its second target endpoint.
    pub secondary: Endpoint,
    /// Processes that ended.
    ended: Vec<Incarnation>,
}

/// The three bots.
pub struct Fleet {
    /// The bots, in [`BOTS`] order.
    pub members: Vec<Member>,
    bin: PathBuf,
}

impl Fleet {
    /// Starts the three bots, each its own state directory and proxies.
    pub async fn start(
        d: &Deployment,
        coordinator: &Coordinator,
        bin: &Path,
        _journal: Arc<Journal>,
    ) -> Self {
        let mut members = Vec::new();
        for id in BOTS {
            let primary = Endpoint::start(&d.target.endpoint()).await;
            let secondary = Endpoint::start(&d.target.endpoint()).await;
            let mut env = env_for(d, id);
            env.remove("JEJU_RPC_URL");
            coordinator.configure(&mut env);
            for (k, v) in [
                ("JEJU_RPC_URLS", format!("{},{}", primary.proxy.url, secondary.proxy.url)),
                ("UPDATE_INTERVAL_MS", TICK.as_millis().to_string()),
                ("MIN_UPDATE_INTERVAL_S", MIN_INTERVAL.as_secs().to_string()),
                // Quick enough that an endpoint fault of a few seconds is noticed and alerted.
                ("RPC_TIMEOUT_MS", "2000".into()),
                ("RPC_TOTAL_TIMEOUT_MS", "4000".into()),
                ("RPC_PROBE_INTERVAL_MS", "500".into()),
                // A leader that stepped down (partitioned) is back in the running soon.
                ("LEADER_BACKOFF_MS", "5000".into()),
            ] {
                env.insert(k.into(), v);
            }
            let mut m = Member {
                id: id.into(),
                env,
                process: None,
                url: None,
                primary,
                secondary,
                ended: Vec::new(),
            };
            m.spawn(bin).await;
            members.push(m);
        }
        Self { members, bin: bin.to_path_buf() }
    }

    /// The bots that say they lead, from their `/health`, and how many running bots did not
    /// answer within a second (a paused one, one starting).
    pub async fn leaders(&self) -> (Vec<usize>, usize) {
        let mut leaders = Vec::new();
        let mut silent = 0;
        for (i, m) in self.members.iter().enumerate() {
            let Some(url) = &m.url else { continue };
            let answer =
                tokio::time::timeout(Duration::from_secs(1), http_get(format!("{url}/health"))).await;
            let health = answer
                .ok()
                .flatten()
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
            match health {
                Some(h) if h["isLeader"] == true => leaders.push(i),
                Some(_) => {}
                None => silent += 1,
            }
        }
        (leaders, silent)
    }

    /// Waits until exactly one bot leads and every running bot answers; its index. A fleet that
    /// does not settle within the guard is recorded as a violation (`None`).
    pub async fn await_one_leader(&self, journal: &Journal, what: &str) -> Option<usize> {
        let started = tokio::time::Instant::now();
        loop {
            let (leaders, silent) = self.leaders().await;
            if leaders.len() == 1 && silent == 0 {
                return Some(leaders[0]);
            }
            if started.elapsed() > SETTLE_GUARD {
                journal.violation(format!(
                    "{what}: the fleet had no single leader within {SETTLE_GUARD:?} (leading: {leaders:?}, silent: {silent})"
                ));
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL of bot `i`.
    pub async fn kill(&mut self, i: usize) {
        let m = &mut self.members[i];
        if let Some(mut p) = m.process.take() {
            p.kill9().await;
            m.ended.push(incarnation(&m.id, &mut p, Ending::Killed).await);
        }
        m.url = None;
    }

    /// SIGTERM of bot `i`, waiting for it to exit.
    pub async fn stop(&mut self, i: usize) {
        let m = &mut self.members[i];
        if let Some(mut p) = m.process.take() {
            p.term();
            let code = p.wait().await;
            m.ended.push(incarnation(&m.id, &mut p, Ending::Stopped(code)).await);
        }
        m.url = None;
    }

    /// Starts bot `i` again (same id, state directory and endpoints).
    pub async fn respawn(&mut self, i: usize) {
        let bin = self.bin.clone();
        self.members[i].spawn(&bin).await;
    }

    /// SIGSTOP / SIGCONT of bot `i`.
    pub fn pause(&self, i: usize, paused: bool) {
        if let Some(p) = &self.members[i].process {
            if paused { p.pause() } else { p.resume() }
        }
    }

    /// Processes that exited on their own since the last look: recorded as crashes and started
    /// again, so one crash does not end the run.
    pub async fn reap_crashes(&mut self) -> Vec<String> {
        let mut crashed = Vec::new();
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            let Some(p) = m.process.as_mut() else { continue };
            if let Some(code) = p.exited() {
                let mut p = m.process.take().expect("checked above");
                m.ended.push(incarnation(&m.id, &mut p, Ending::Crashed(code)).await);
                crashed.push(format!("{} exited on its own (code {code:?})", m.id));
                self.respawn(i).await;
            }
        }
        crashed
    }

    /// Every running bot's `/metrics`.
    pub async fn metrics(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for m in &self.members {
            if let Some(url) = &m.url
                && let Some((200, text)) = http_get(format!("{url}/metrics")).await
            {
                out.push((m.id.clone(), text));
            }
        }
        out
    }

    /// SIGTERM to every bot; every process the run had, with how it ended.
    pub async fn stop_all(&mut self) -> Vec<Incarnation> {
        for i in 0..self.members.len() {
            // A crash right at the end is still a crash.
            let _ = self.reap_crashes().await;
            self.stop(i).await;
        }
        self.members.iter_mut().flat_map(|m| std::mem::take(&mut m.ended)).collect()
    }
}

/// How long the fleet may take to have one leader again after a fault is healed before the run
/// records it as a violation: a hang guard, far above any lease.
pub const SETTLE_GUARD: Duration = Duration::from_secs(90);

impl Member {
    async fn spawn(&mut self, bin: &Path) {
        let mut p = BotProcess::spawn_with_args(bin, &self.env, &["--log-format", "json"]);
        self.url = Some(p.endpoints().await);
        self.process = Some(p);
    }
}

async fn incarnation(id: &str, p: &mut BotProcess, ending: Ending) -> Incarnation {
    let lines = p.final_log().await.lines().map(str::to_owned).collect();
    Incarnation { bot: id.to_owned(), pid: p.started_pid(), lines, ending }
}

/// The processes of `incarnations` still alive after they were stopped or killed.
pub fn leaked(incarnations: &[Incarnation]) -> Vec<String> {
    incarnations
        .iter()
        .filter(|i| i.pid != 0 && Path::new(&format!("/proc/{}", i.pid)).exists() && !is_zombie(i.pid))
        .map(|i| format!("{} (pid {})", i.bot, i.pid))
        .collect()
}

/// A process that exited but was not reaped yet is not a leak.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}
