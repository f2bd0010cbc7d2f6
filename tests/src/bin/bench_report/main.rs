//! Writes the benchmarks' figures into docs/benchmarks.md: the section between
//! `<!-- bench:begin -->` and `<!-- bench:end -->` is replaced (inserted before the first `## `
//! heading when it is not there yet), everything else is kept.
//!
//! ```sh
//! bench_report DOC MODE LOG...
//! ```
//!
//! `MODE` is `quick` or `full` (said in the section). Each `LOG` is a benchmark's output: its
//! `BENCH {json}` lines are read, and so are the result lines of `oracle-election`'s
//! `failover_bench` example (which prints no JSON: that crate is not this tool's to change).
//! Run by `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod render;

use std::{collections::BTreeMap, path::Path, process::Command};

use serde_json::{Value, json};

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// `doc` with its generated section replaced by `section` (or inserted before the first `## `
/// heading, or appended). Running it again with the same section changes nothing.
fn replace_section(doc: &str, section: &str) -> String {
    let block = format!("{BEGIN}\n{}\n{END}", section.trim_end());
    if let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END))
        && b < e
    {
        return format!("{}{block}{}", &doc[..b], &doc[e + END.len()..]);
    }
    match doc.find("\n## ") {
        Some(at) => format!("{}{block}\n\n{}", &doc[..=at], &doc[at + 1..]),
        None => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

/// One result line of `failover_bench`:
/// `file   lease   1500 ms   crash: median  1407.0 ms, max ... release: median ... (5 rounds each)`.
fn parse_failover_line(line: &str) -> Option<Value> {
    if !(line.contains("crash: median") && line.contains("release: median")) {
        return None;
    }
    let name = line.split_whitespace().next()?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|t| t.trim_matches(|c| c == ',' || c == '(').parse().ok())
        .collect();
    let [lease, cm, cx, rm, rx, rounds] = numbers[..] else { return None };
    Some(json!({
        "name": name, "lease_ms": lease, "rounds": rounds,
        "crash_median_ms": cm, "crash_max_ms": cx, "release_median_ms": rm, "release_max_ms": rx,
    }))
}

/// Every benchmark's result by its `bench` name, from the logs' text.
fn collect(logs: &[String]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut electors = Vec::new();
    for text in logs {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("BENCH ").and_then(|j| serde_json::from_str::<Value>(j).ok())
                && let Some(name) = v["bench"].as_str()
            {
                out.insert(name.to_owned(), v);
            } else if let Some(v) = parse_failover_line(line) {
                electors.push(v);
            }
        }
    }
    if !electors.is_empty() {
        out.insert("failover_electors".into(), json!({ "bench": "failover_electors", "backends": electors }));
    }
    out
}

fn command(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program).args(args).current_dir(dir).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Date, machine and commit, for the section's first lines.
fn provenance(root: &Path) -> render::Provenance {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim()))
        .unwrap_or("unknown CPU")
        .to_owned();
    let mem_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    let commit = command("git", &["rev-parse", "--short", "HEAD"], root).unwrap_or_else(|| "unknown".into());
    // Figures from uncommitted code say so.
    let dirty = command("git", &["status", "--porcelain", "--untracked-files=no"], root)
        .is_some_and(|s| s.lines().any(|l| !l.ends_with("docs/benchmarks.md")));
    render::Provenance {
        date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"], root).unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        memory_gib: mem_kib / 1024.0 / 1024.0,
        os,
        commit: if dirty { format!("{commit} (with uncommitted changes)") } else { commit },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [doc_path, mode, logs @ ..] = &args[..] else {
        eprintln!("usage: bench_report DOC quick|full LOG...");
        std::process::exit(2);
    };
    let logs: Vec<String> =
        logs.iter().map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))).collect();
    let results = collect(&logs);
    for name in render::EXPECTED {
        if !results.contains_key(*name) {
            eprintln!("bench_report: no result from {name} (its rows say so)");
        }
    }
    // The repository is the document's grandparent (docs/benchmarks.md), for `git`.
    let doc_abs = std::fs::canonicalize(doc_path).unwrap_or_else(|e| panic!("{doc_path}: {e}"));
    let root = doc_abs.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    let section = render::section(&results, &provenance(root), mode);
    let doc = std::fs::read_to_string(doc_path).unwrap_or_else(|e| panic!("{doc_path}: {e}"));
    std::fs::write(doc_path, replace_section(&doc, &section)).unwrap();
    println!("{doc_path}: generated section rewritten ({} results)", results.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Benchmarks\n\nIntro.\n\n## Update latency\n\nHand-written.\n";

    #[test]
    fn the_section_is_inserted_after_the_intro_then_replaced_in_place() {
        let once = replace_section(DOC, "## Measured\n\nfirst");
        assert!(once.starts_with("# Benchmarks\n\nIntro.\n\n<!-- bench:begin -->\n## Measured"), "{once}");
        assert!(once.ends_with("<!-- bench:end -->\n\n## Update latency\n\nHand-written.\n"), "{once}");
        assert_eq!(replace_section(&once, "## Measured\n\nfirst"), once, "the same section: no change");
        let twice = replace_section(&once, "## Measured\n\nsecond");
        assert_eq!(twice.matches(BEGIN).count(), 1, "{twice}");
        assert_eq!(twice.matches(END).count(), 1, "{twice}");
        assert!(twice.contains("second") && !twice.contains("first"), "{twice}");
        assert_eq!(twice.replace("second", "first"), once, "only the section changed");
    }

    #[test]
    fn a_document_without_headings_gets_the_section_at_its_end() {
        let out = replace_section("# Title only", "x");
        assert_eq!(out, "# Title only\n\n<!-- bench:begin -->\nx\n<!-- bench:end -->\n");
        assert_eq!(replace_section(&out, "x"), out);
    }

    #[test]
    fn bench_lines_and_failover_bench_lines_are_collected() {
        let log = "noise\nBENCH {\"bench\":\"rpc_cost\",\"reads\":5}\n\
            file   lease   1500 ms   crash: median  1407.0 ms, max  1542.0 ms   release: median   8.5 ms, max  18.3 ms   (5 rounds each)\n";
        let r = collect(&[log.to_owned()]);
        assert_eq!(r["rpc_cost"]["reads"], 5);
        let file = &r["failover_electors"]["backends"][0];
        assert_eq!((file["name"].as_str(), file["crash_max_ms"].as_f64()), (Some("file"), Some(1542.0)));
        assert_eq!(file["rounds"].as_f64(), Some(5.0));
    }

    #[test]
    fn the_rendered_section_has_every_table_even_without_results() {
        let p = render::Provenance { date: "d".into(), cores: 2, ..Default::default() };
        let s = render::section(&BTreeMap::new(), &p, "quick");
        for part in ["### Goals", "### Failover", "### Scale", "no result from `targets_scale`"] {
            assert!(s.contains(part), "{part}: {s}");
        }
        assert!(!s.contains(BEGIN) && !s.contains(END));
    }
}
