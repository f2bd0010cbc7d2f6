//! Real `redis-server` and `etcd` processes on free loopback ports in temporary directories:
//! started, killed, paused, resumed and restarted (with their data or without).

use std::{
    fs::OpenOptions,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use super::*;

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
