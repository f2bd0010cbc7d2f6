//! The real `oracle-cli` binary, run with an exact environment, its output and exit code kept.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

use crate::{Deployment, bot::HANG_GUARD, key_hex};

/// A binary of this workspace, next to the test executable (`target/<profile>/<name>`).
/// `cargo test --workspace` builds `oracle-cli` and `oracle-bot` (each has integration tests);
/// a single `cargo test -p oracle-tests` needs `cargo build -p oracle-cli -p oracle-bot` first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p oracle-cli -p oracle-bot` (or the whole `cargo test --workspace`)",
        path.display()
    );
    path
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct CliOutput {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Standard output as JSON (fails with the output when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }

    /// Fails unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// A running `oracle-cli`, for commands that wait on something the test then does (a drill
/// waiting for the operator to stop the leader).
pub struct CliProcess {
    child: tokio::process::Child,
    stderr: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    seen: Vec<String>,
}

impl CliProcess {
    /// Starts `oracle-cli` with exactly `env` (nothing inherited) and `args`, feeding `stdin`.
    pub async fn spawn(env: &HashMap<String, String>, args: &[&str], stdin: &str) -> Self {
        let mut child = Command::new(workspace_bin("oracle-cli"))
            .env_clear()
            .envs(env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("oracle-cli starts");
        let mut input = child.stdin.take().expect("piped stdin");
        let _ = input.write_all(stdin.as_bytes()).await;
        drop(input);
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        Self { child, stderr, seen: Vec::new() }
    }

    /// Waits for a line on stderr containing `needle`.
    pub async fn await_stderr(&mut self, needle: &str) -> String {
        let wait = async {
            while let Ok(Some(line)) = self.stderr.next_line().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        match tokio::time::timeout(HANG_GUARD, wait).await {
            Ok(Some(line)) => line,
            _ => panic!("oracle-cli did not print {needle:?}; stderr so far:\n{}", self.seen.join("\n")),
        }
    }

    /// Waits for the process to end; returns its output.
    pub async fn finish(mut self) -> CliOutput {
        let mut stdout = String::new();
        let mut out = self.child.stdout.take().expect("piped stdout");
        let read = async {
            let _ = out.read_to_string(&mut stdout).await;
            while let Ok(Some(line)) = self.stderr.next_line().await {
                self.seen.push(line);
            }
            self.child.wait().await
        };
        let status = tokio::time::timeout(HANG_GUARD, read)
            .await
            .unwrap_or_else(|_| panic!("oracle-cli did not finish within {HANG_GUARD:?}"))
            .expect("oracle-cli runs");
        CliOutput { code: status.code().unwrap_or(-1), stdout, stderr: self.seen.join("\n") }
    }
}

/// Runs `oracle-cli` with exactly `env` (nothing inherited) and `args`, feeding `stdin`.
pub async fn run_cli(env: &HashMap<String, String>, args: &[&str], stdin: &str) -> CliOutput {
    CliProcess::spawn(env, args, stdin).await.finish().await
}

/// The bot's variables for `d` (as [`crate::bot::env_for`]) plus the owner's key (target
/// account 0) in `ORACLE_CLI_PRIVATE_KEY`.
pub fn cli_env(d: &Deployment) -> HashMap<String, String> {
    let mut env = crate::bot::env_for(d, "cli");
    env.insert("ORACLE_CLI_PRIVATE_KEY".into(), key_hex(&d.target, 0));
    env.insert("RUST_LOG".into(), "warn".into());
    env
}
