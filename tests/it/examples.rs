//! The examples run here as tests: each is the built example binary, run as a user would run it
//! (with the tools' paths and a PostgreSQL URL in its environment), and must exit 0 having
//! printed what it promises. `cargo test --workspace` builds them; for this module alone,
//! `cargo build -p oracle-examples --examples` first.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

/// `target/<profile>/examples/<name>`, next to this test binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps/<test>");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build -p oracle-examples --examples`", path.display());
    path
}

async fn run(name: &str) -> String {
    run_with(name, &[]).await
}

async fn run_with(name: &str, env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(example(name))
        .env("ANVIL", oracle_tests::tool("anvil"))
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn generic_target_pushes_two_rounds_to_a_differently_shaped_contract() {
    let out = run("generic_target").await;
    assert!(out.contains("round 1 in block"), "{out}");
    assert!(out.contains("round 2 in block"), "{out}");
    assert!(out.contains("two rounds pushed"), "{out}");
}

#[tokio::test]
async fn embed_engine_runs_to_its_end() {
    run("embed_engine").await;
}

#[tokio::test]
async fn embed_axum_serves_the_updaters_endpoints_from_the_services_router() {
    let out = run("embed_axum").await;
    assert!(out.contains("GET /oracle/health: 200"), "{out}");
    assert!(out.contains("oracle_total_updates 1"), "{out}");
    assert!(out.contains("service and updater stopped together"), "{out}");
}

#[tokio::test]
async fn custom_source_sits_in_a_median_that_absorbs_a_lie() {
    let out = run("custom_source").await;
    assert!(out.contains("median of four, one lying: 3005.10000000"), "{out}");
    assert!(out.contains("looks manipulated"), "{out}");
    assert!(out.contains("HTTP 503"), "{out}");
}

#[tokio::test]
async fn custom_submitter_lands_a_round_and_simulation_stops_a_refused_one() {
    let out = run("custom_submitter").await;
    assert!(out.contains("round 1 in block"), "{out}");
    assert!(out.contains("simulation refused it: NotAuthorized, nothing sent"), "{out}");
}

#[tokio::test]
async fn custom_alerter_delivers_an_alert_and_its_recovery() {
    let out = run("custom_alerter").await;
    assert!(out.contains("(`update-failed`)"), "{out}");
    assert!(out.contains("the webhook received the alert and its recovery"), "{out}");
}

#[tokio::test]
async fn custom_elector_hands_leadership_over_with_a_larger_token() {
    let pg = Postgres::start();
    let out = run_with("custom_elector", &[("PG_URL", &pg.url())]).await;
    assert!(out.contains("bot-b follows bot-a"), "{out}");
    assert!(out.contains("leadership moved from bot-a"), "{out}");
}

/// A throwaway PostgreSQL server on a free loopback port, its data in a temporary directory,
/// stopped when dropped. PostgreSQL refuses to run as root: as root it runs as `postgres`.
struct Postgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
}

impl Postgres {
    fn start() -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary directory");
        if rustix::process::geteuid().is_root() {
            run_ok(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = oracle_tests::election::free_port();
        let pg = Self { bin, dir, port };
        let data = pg.dir.path().join("data");
        run_ok(pg.command("initdb").args(["-A", "trust", "-U", "postgres", "-D"]).arg(&data));
        // `-w`: returns once the server accepts connections (or fails with its log).
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", pg.dir.path().display());
        let log = pg.dir.path().join("log");
        let started = pg
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "start"])
            .output();
        if !started.is_ok_and(|out| out.status.success()) {
            panic!("postgres did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `program` from PostgreSQL's bin directory, run as `postgres` when this process is root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if rustix::process::geteuid().is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The `postgres` user may not be able to enter the test's working directory.
        cmd.current_dir(self.dir.path());
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.command("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "stop"]).output();
    }
}

/// The newest PostgreSQL's bin directory (`PG_BIN`, or Debian's `/usr/lib/postgresql/<v>/bin`).
fn postgres_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed: run scripts/setup.sh (or set PG_BIN)")
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_targets_are_shared_by_a_fleet_and_a_dead_bots_share_moves() {
    let redis = oracle_tests::election::RedisServer::start().await;
    let out = run_with("many_targets", &[("REDIS_URL", &redis.url())]).await;
    assert!(out.contains("a move to $3100: 6 updates"), "{out}");
    assert!(out.contains("only bot-c's targets moved"), "{out}");
}
