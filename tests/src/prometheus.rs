//! The monitoring files under `deploy/` as data, and a real Prometheus (Debian's `prometheus`) on
//! loopback: the metric names an alert rule or a dashboard query uses, the names a bot's
//! `/metrics` exports, and queries and alerts through Prometheus's HTTP API.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use crate::{
    bot::{eventually, http_get},
    election::free_port,
    repo_root,
};

/// `deploy/<rel>`.
pub fn deploy_file(rel: &str) -> PathBuf {
    repo_root().join("deploy").join(rel)
}

/// A command-line tool: `.tools/bin/<name>` when `scripts/setup.sh` put it there (the PyPI tools),
/// else the system's (Debian packages); fails with the fix when it is nowhere.
pub fn system_tool(name: &str) -> PathBuf {
    let local = repo_root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/bin", "/usr/sbin", "/bin"]) {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/setup.sh")
}

/// Runs `tool args...` in `dir`; its output.
pub fn run_tool(tool: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(system_tool(tool))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
}

/// Fails with the tool's output unless it exited 0.
pub fn expect_success(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout + &stderr
}

/// Every PromQL expression of a rules file (`expr: ...` on one line, or a `|` block).
pub fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let lines: Vec<&str> = yaml.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest == "|" || rest == ">" {
                let indent = line.len() - trimmed.len();
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                exprs.push(block.join(" ").trim().to_owned());
            } else {
                exprs.push(rest.to_owned());
            }
        }
        i += 1;
    }
    exprs
}

/// Every alert name of a rules file.
pub fn alert_names(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:").map(|n| n.trim().to_owned()))
        .collect()
}

/// Every `expr` string of a Grafana dashboard (any depth).
pub fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

/// The metric names a PromQL expression reads: identifiers starting with `oracle_`, and `up`.
/// (Label values are quoted and function names are not metrics: neither starts so.)
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_quotes = false;
    let mut token = String::new();
    let mut flush = |token: &mut String| {
        if token.starts_with("oracle_") || token == "up" {
            names.insert(std::mem::take(token));
        }
        token.clear();
    };
    for c in expr.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            flush(&mut token);
        } else if !in_quotes && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            token.push(c);
        } else {
            flush(&mut token);
        }
    }
    flush(&mut token);
    names
}

/// The series names a Prometheus text exposition offers (from its `# TYPE` lines; a histogram
/// or a summary also offers `_sum`, `_count` and, for a histogram, `_bucket`).
pub fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let mut parts = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            names.insert(name.to_owned());
            if kind == "histogram" || kind == "summary" {
                names.insert(format!("{name}_sum"));
                names.insert(format!("{name}_count"));
            }
            if kind == "histogram" {
                names.insert(format!("{name}_bucket"));
            }
        }
    }
    names
}

/// A Prometheus server on a free loopback port, with its own storage in a temporary directory;
/// killed when dropped.
pub struct PrometheusServer {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus with `config` (YAML) written as `prometheus.yml`, and `rules` (YAML) as
    /// `rules.yml` beside it (name it under `rule_files`). Returns once `/-/ready` answers 200.
    pub async fn start(config: &str, rules: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write prometheus.yml");
        if let Some(rules) = rules {
            std::fs::write(dir.path().join("rules.yml"), rules).expect("write rules.yml");
        }
        let port = free_port();
        let child = Command::new(system_tool("prometheus"))
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus starts");
        let url = format!("http://127.0.0.1:{port}");
        let server = Self { child, url, _dir: dir };
        let ready = format!("{}/-/ready", server.url);
        eventually("Prometheus ready", || {
            let ready = ready.clone();
            async move { (http_get(ready).await?.0 == 200).then_some(()) }
        })
        .await;
        server
    }

    /// `GET /api/v1/<path>?<query>`: the `data` of a successful answer.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/api/v1/{path}", self.url), query).expect("a URL");
        let (_, text) = http_get(url.to_string()).await?;
        let body: serde_json::Value = serde_json::from_str(&text).ok()?;
        assert_eq!(body["status"], "success", "Prometheus refused {path} {query:?}: {body}");
        Some(body["data"].clone())
    }

    /// An instant query: its result vector (`[{metric: {...}, value: [t, "v"]}, ...]`).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let data = self.api("query", &[("query", promql)]).await.expect("Prometheus answers /api/v1/query");
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The alerts Prometheus holds now (`/api/v1/alerts`): pending and firing.
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let data = self.api("alerts", &[]).await.expect("Prometheus answers /api/v1/alerts");
        data["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// The scrape targets and their health (`/api/v1/targets`, active).
    pub async fn targets(&self) -> Vec<serde_json::Value> {
        let data = self.api("targets", &[]).await.expect("Prometheus answers /api/v1/targets");
        data["activeTargets"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory (`VmRSS`, KiB) of the running process whose executable is `exe` and whose
/// environment has `BOT_ID=<bot_id>`; `None` when there is none.
pub fn rss_kib_of_bot(exe: &Path, bot_id: &str) -> Option<u64> {
    let want_env = format!("BOT_ID={bot_id}");
    let exe = exe.canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let proc_dir = Path::new("/proc").join(pid);
        if std::fs::read_link(proc_dir.join("exe")).ok().as_deref() != Some(exe.as_path()) {
            continue;
        }
        let environ = std::fs::read(proc_dir.join("environ")).unwrap_or_default();
        if !environ.split(|b| *b == 0).any(|kv| kv == want_env.as_bytes()) {
            continue;
        }
        let status = std::fs::read_to_string(proc_dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_expressions() {
        let names = metric_names(
            r#"time() - max by (job) (oracle_last_update_timestamp{job="oracle-bot"}) > 3600 or absent(up{job="oracle-bot"})"#,
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["oracle_last_update_timestamp", "up"]);
        let names = metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(oracle_rpc_request_duration_seconds_bucket{reason="oracle_x"}[5m])))"#,
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["oracle_rpc_request_duration_seconds_bucket"]);
    }

    #[test]
    fn block_exprs() {
        let yaml = "      - alert: A\n        expr: |\n          a_metric\n            > 1\n        for: 1m\n      - alert: B\n        expr: up == 0\n";
        assert_eq!(rule_exprs(yaml), ["a_metric > 1", "up == 0"]);
        assert_eq!(alert_names(yaml), ["A", "B"]);
    }
}
