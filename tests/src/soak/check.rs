//! The soak's checker: reads what reached the chain, the script's moves, the faults and every
//! bot's log lines and metrics, and reports what the project promises and what broke it.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde_json::{Value, json};

use super::{
    MIN_INTERVAL, OracleKind, SoakConfig, TICK,
    faults::Fault,
    record::{Ending, FaultRecord, Incarnation, Recorded, rfc3339_ms},
    script::dollars,
};
use crate::{START_ELIZA, chain::OnChainUpdate};

/// After a fault is healed and the fleet settled, alerts it caused may still arrive for this long
/// (reminders, recoveries, a probe's next round).
const ALERT_GRACE: Duration = Duration::from_secs(15);
/// The target's block time: an update sent waits for the next block.
const BLOCK: Duration = Duration::from_secs(1);

/// What the checker reads.
#[derive(Debug)]
pub struct Inputs {
    /// The run's configuration.
    pub config: SoakConfig,
    /// When the run started (unix ms).
    pub started_ms: u64,
    /// What the run recorded.
    pub journal: Recorded,
    /// Every update on chain.
    pub on_chain: Vec<OnChainUpdate>,
    /// Every bot process the run had.
    pub incarnations: Vec<Incarnation>,
    /// Each running bot's `/metrics` at the end.
    pub metrics: Vec<(String, String)>,
    /// Bot processes alive after they were stopped.
    pub leaked: Vec<String>,
    /// Where the bots' logs were kept.
    pub logs: String,
}

/// A broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind (`duplicate`, `wrong value`, `panic`, ...).
    pub kind: &'static str,
    /// What happened, with times, bots and values.
    pub detail: String,
}

/// One alert a bot logged.
#[derive(Debug, Clone)]
struct Fired {
    bot: String,
    /// When the process that fired it printed its first line: a bot killed and started again
    /// keeps its id, and its new process may be the one that takes over.
    started_ms: u64,
    at_ms: u64,
    key: String,
}

/// The checker's findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// `file`, `redis` or `etcd`.
    pub elector: &'static str,
    /// `fenced` or `plain`.
    pub oracle: &'static str,
    /// The seed that replays the run.
    pub seed: u64,
    /// How long the run took.
    pub took: Duration,
    /// Updates on chain.
    pub updates: usize,
    /// Source moves (jumps among them).
    pub moves: (usize, usize),
    /// The faults, in order, with their failover times.
    pub faults: Vec<FaultRecord>,
    /// Duplicates (two updates inside the minimum interval), each with its cause.
    pub duplicates: Vec<String>,
    /// The longest an update was due and missing, and what was going on.
    pub longest_due: (Duration, String),
    /// The promised bound: lease + one tick, plus the one block an update waits to be mined.
    pub bound: Duration,
    /// Alerts fired, by key.
    pub alerts: BTreeMap<String, usize>,
    /// Updates each bot's logs claim, summed over its processes.
    pub claimed: BTreeMap<String, usize>,
    /// Findings that are reported but break no promise (a plain oracle's duplicates, a stale
    /// value that landed while mining was paused).
    pub notes: Vec<String>,
    /// Broken promises: the run fails on any.
    pub violations: Vec<Violation>,
    /// Where every bot process's log lines were kept.
    pub logs: String,
}

impl Report {
    /// No promise broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The report as one JSON object (the long run prints it; benchmarks read it).
    pub fn json(&self) -> Value {
        let ms = |d: Duration| d.as_millis() as u64;
        let faults: Vec<Value> = self
            .faults
            .iter()
            .map(|f| {
                json!({"fault": f.fault.label(), "bot": f.bot, "failover_ms": f.failover().map(ms),
                       "held_ms": f.healed_ms.saturating_sub(f.start_ms)})
            })
            .collect();
        json!({
            "elector": self.elector, "oracle": self.oracle, "seed": self.seed, "took_s": self.took.as_secs(),
            "updates": self.updates, "moves": self.moves.0, "jumps": self.moves.1,
            "duplicates": self.duplicates.len(), "longest_due_ms": ms(self.longest_due.0),
            "bound_ms": ms(self.bound), "faults": faults, "alerts": self.alerts,
            "violations": self.violations.iter().map(|v| format!("{}: {}", v.kind, v.detail)).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: elector {} oracle {} seed {} ({} s): {} updates, {} moves ({} jumps), {} faults",
            self.elector,
            self.oracle,
            self.seed,
            self.took.as_secs(),
            self.updates,
            self.moves.0,
            self.moves.1,
            self.faults.len()
        )?;
        writeln!(
            f,
            "  faults (failover = fault start to the oracle's next update; bound lease + tick + block = {:?}):",
            self.bound
        )?;
        for r in &self.faults {
            let failover = r.failover().map_or("none".into(), |d| format!("{:.2} s", d.as_secs_f64()));
            let within = r.failover().is_some_and(|d| d <= self.bound);
            writeln!(
                f,
                "    {:<40} {:<8} held {:>5.1} s  failover {failover:>8}{}",
                r.fault.label(),
                r.bot.as_deref().unwrap_or("-"),
                r.healed_ms.saturating_sub(r.start_ms) as f64 / 1000.0,
                if within { "" } else { "  (over the bound)" }
            )?;
        }
        writeln!(f, "  duplicates: {}", self.duplicates.len())?;
        for d in &self.duplicates {
            writeln!(f, "    {d}")?;
        }
        writeln!(
            f,
            "  longest time an update was due: {:.2} s ({})",
            self.longest_due.0.as_secs_f64(),
            self.longest_due.1
        )?;
        writeln!(f, "  updates claimed in logs: {:?}", self.claimed)?;
        writeln!(f, "  alerts: {:?}", self.alerts)?;
        writeln!(f, "  bot logs: {}", self.logs)?;
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.violations.is_empty() {
            writeln!(f, "  PASSED: no violation (replay: --seed {})", self.seed)
        } else {
            for v in &self.violations {
                writeln!(f, "  VIOLATION {}: {}", v.kind, v.detail)?;
            }
            writeln!(f, "  FAILED: {} violation(s) (replay: --seed {})", self.violations.len(), self.seed)
        }
    }
}

/// Checks a finished run.
pub fn check(inputs: Inputs) -> Report {
    let Inputs { config, started_ms, journal, on_chain, incarnations, metrics, leaked, logs } = inputs;
    let mut violations: Vec<Violation> =
        journal.violations.iter().map(|d| Violation { kind: "run", detail: d.clone() }).collect();
    let mut notes = Vec::new();
    let lease = config.elector.lease();
    let windows: Vec<Window> = journal.faults.iter().map(Window::of).collect();
    let during = |ms: u64| windows.iter().filter(|w| w.covers(ms)).map(|w| w.label()).collect::<Vec<_>>();

    // Processes: panics, crashes, leaks.
    for inc in &incarnations {
        if let Some(line) = inc.lines.iter().find(|l| l.contains("panicked at")) {
            violations
                .push(Violation { kind: "panic", detail: format!("{} (pid {}): {line}", inc.bot, inc.pid) });
        }
        match inc.ending {
            Ending::Crashed(code) => violations.push(Violation {
                kind: "crash",
                detail: format!("{} (pid {}) exited on its own, code {code:?}", inc.bot, inc.pid),
            }),
            Ending::Stopped(code) if code != Some(0) => violations.push(Violation {
                kind: "crash",
                detail: format!(
                    "{} (pid {}) exited with {code:?} after SIGTERM (expected 0)",
                    inc.bot, inc.pid
                ),
            }),
            _ => {}
        }
    }
    for l in leaked {
        violations.push(Violation { kind: "leaked process", detail: l });
    }

    // Who claims which update, and the alerts.
    let mut claims: BTreeMap<String, Vec<(String, u32, Option<String>)>> = BTreeMap::new();
    let mut fired = Vec::new();
    for inc in &incarnations {
        let started_ms = inc
            .lines
            .iter()
            .find_map(|l| serde_json::from_str::<Value>(l).ok()?["timestamp"].as_str().and_then(rfc3339_ms))
            .unwrap_or(0);
        for v in inc.lines.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            let message = v["message"].as_str().unwrap_or_default();
            if message == "Oracle updated successfully"
                && let Some(tx) = v["tx_hash"].as_str()
            {
                let token = v["token"].as_str().map(str::to_owned);
                claims.entry(tx.to_owned()).or_default().push((inc.bot.clone(), inc.pid, token));
            }
            if let (Some(title), Some(key)) = (message.strip_prefix("ALERT "), v["key"].as_str()) {
                let raised = v["level"] != "INFO" || is_event(key);
                if raised && !title.is_empty() {
                    let at_ms = v["timestamp"].as_str().and_then(rfc3339_ms).unwrap_or(0);
                    fired.push(Fired { bot: inc.bot.clone(), started_ms, at_ms, key: key.to_owned() });
                }
            }
        }
    }
    let mut claimed = BTreeMap::new();
    for (tx, who) in &claims {
        let pids: std::collections::BTreeSet<u32> = who.iter().map(|w| w.1).collect();
        if pids.len() > 1 {
            violations.push(Violation { kind: "claimed twice", detail: format!("{tx} claimed by {who:?}") });
        }
        for w in who {
            *claimed.entry(w.0.clone()).or_insert(0) += 1;
        }
    }
    for u in &on_chain {
        if !claims.contains_key(&u.tx_hash.to_string()) {
            let at = u.timestamp * 1000;
            let faults = during(at);
            let detail =
                format!("update {} in block {} (ETH {}) claimed by no bot's log", u.tx_hash, u.block, u.eth);
            if faults.is_empty() {
                violations.push(Violation { kind: "unclaimed update", detail });
            } else {
                notes.push(format!("{detail}, during {faults:?}"));
            }
        }
    }

    // Duplicates: two updates closer than the minimum interval.
    let mut duplicates = Vec::new();
    for pair in on_chain.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.timestamp.saturating_sub(a.timestamp) < MIN_INTERVAL.as_secs() {
            let who = |u: &OnChainUpdate| claims.get(&u.tx_hash.to_string()).cloned().unwrap_or_default();
            let cause = format!(
                "blocks {} and {} ({} s apart): {} by {:?} (token {:?}), then {} by {:?} (token {:?}); faults: {:?}",
                a.block,
                b.block,
                b.timestamp.saturating_sub(a.timestamp),
                a.tx_hash,
                who(a),
                a.token,
                b.tx_hash,
                who(b),
                b.token,
                during(b.timestamp * 1000)
            );
            if config.oracle == OracleKind::Fenced {
                violations.push(Violation { kind: "duplicate", detail: cause.clone() });
            }
            duplicates.push(cause);
        }
    }

    // Values: each update carries a value the source held since about the previous update.
    let moves = &journal.moves;
    let held = |from_ms: u64, to_ms: u64| -> Vec<u128> {
        // The value current at `from_ms` and every value set up to `to_ms`.
        let mut out: Vec<u128> =
            moves.iter().rev().find(|m| m.at_ms <= from_ms).map(|m| vec![m.eth]).unwrap_or_default();
        out.extend(moves.iter().filter(|m| m.at_ms > from_ms && m.at_ms <= to_ms).map(|m| m.eth));
        out
    };
    // Block timestamps are whole seconds of a clock that may run up to a second from the host's.
    let slack_ms = 2_000;
    let mut prev_ms = started_ms;
    for u in &on_chain {
        let at = u.timestamp * 1000;
        let eth = u128::try_from(u.eth).unwrap_or(u128::MAX);
        if u.eliza != alloy::primitives::U256::from(START_ELIZA) {
            violations.push(Violation {
                kind: "wrong value",
                detail: format!("{} wrote elizaOS {}", u.tx_hash, u.eliza),
            });
        }
        if !held(prev_ms.saturating_sub(slack_ms), at + slack_ms).contains(&eth) {
            let ever = moves.iter().any(|m| m.eth == eth);
            let faults = during(at);
            let detail = format!(
                "{} in block {} wrote {}, which the source {} between the previous update and it",
                u.tx_hash,
                u.block,
                dollars(eth),
                if ever { "held only before, not" } else { "never held, not even" }
            );
            if !ever || faults.is_empty() {
                violations.push(Violation { kind: if ever { "stale value" } else { "wrong value" }, detail });
            } else {
                notes.push(format!("{detail} (during {faults:?})"));
            }
        }
        prev_ms = at;
    }

    // How long an update was due and missing: from a move past the threshold (or the minimum
    // interval's end, if later) to the oracle's next change.
    let longest_due = longest_due(&journal, &windows);

    // Alerts: each fired one explained by a fault (or the script), each fault's alert fired.
    let mut alerts = BTreeMap::new();
    for a in &fired {
        *alerts.entry(a.key.clone()).or_insert(0) += 1;
        if !explained(a, &windows, config.elector) {
            violations.push(Violation {
                kind: "alert without cause",
                detail: format!(
                    "{} fired {} at {} ms into the run; faults then: {:?}",
                    a.bot,
                    a.key,
                    a.at_ms.saturating_sub(started_ms),
                    during(a.at_ms)
                ),
            });
        }
    }
    for w in &windows {
        if let Fault::Endpoint(_) = w.record.fault
            && let Some(bot) = &w.record.bot
            && active_endpoint_at(&incarnations, bot, w.record.start_ms) != 0
        {
            // Its requests were on the fallback already when the preferred endpoint failed
            // again: nothing moved, and a failover alert would be wrong.
            continue;
        }
        if let Some(missing) = w.missing_alert(&fired) {
            violations.push(Violation { kind: "alert missing", detail: missing });
        }
    }

    // Metrics at the end: every bot that runs exports its counters.
    for (bot, text) in &metrics {
        if crate::bot::metric(text, "oracle_total_updates").is_none() {
            violations.push(Violation {
                kind: "metrics",
                detail: format!("{bot}: no oracle_total_updates at the end"),
            });
        }
    }

    Report {
        elector: config.elector.name(),
        oracle: config.oracle.name(),
        seed: config.seed,
        took: Duration::from_millis(super::record::now_ms().saturating_sub(started_ms)),
        updates: on_chain.len(),
        moves: (moves.len(), moves.iter().filter(|m| m.jump).count()),
        faults: journal.faults.clone(),
        duplicates,
        longest_due,
        bound: lease + TICK + BLOCK,
        alerts,
        claimed,
        notes,
        violations,
        logs,
    }
}

/// Alert keys that are one-off events (logged at info level like a recovery).
fn is_event(key: &str) -> bool {
    key == "leadership" || key.starts_with("rpc-failover:") || key.starts_with("review:")
}

/// A fault's time span for attributing alerts, from its start to the fleet settling plus
/// [`ALERT_GRACE`].
#[derive(Debug)]
struct Window {
    record: FaultRecord,
    from_ms: u64,
    to_ms: u64,
}

impl Window {
    fn of(r: &FaultRecord) -> Self {
        let end = r.settled_ms.unwrap_or(r.healed_ms).max(r.first_update_ms.unwrap_or(0)).max(r.healed_ms);
        Self {
            record: r.clone(),
            from_ms: r.start_ms.saturating_sub(500),
            to_ms: end + ALERT_GRACE.as_millis() as u64,
        }
    }

    fn covers(&self, ms: u64) -> bool {
        (self.from_ms..=self.to_ms).contains(&ms)
    }

    fn label(&self) -> String {
        format!("{} ({})", self.record.fault.label(), self.record.bot.as_deref().unwrap_or("-"))
    }

    /// Whether this fault can cause alert `key` from `bot`.
    fn causes(&self, bot: &str, key: &str, elector: super::Elector) -> bool {
        let on_bot = self.record.bot.as_deref() == Some(bot);
        let fault = self.record.fault;
        if key.starts_with("rpc-failover:") || key.starts_with("rpc-down:") {
            // A paused process's requests time out when it wakes: its endpoints look failed.
            return on_bot
                && matches!(fault, Fault::Endpoint(_) | Fault::PartitionLeader | Fault::PauseLeader);
        }
        match key {
            // The lock file's critical section is guarded by `flock`: a bot frozen inside it
            // holds the lock until it resumes, and the others cannot elect meanwhile.
            "election-unreachable" => {
                matches!(fault, Fault::ServerKilled { .. })
                    || (elector == super::Elector::File && fault == Fault::PauseLeader)
            }
            // Any fault can fail ticks in a row, or stall a transaction.
            "update-failed" | "stuck-at-cap" | "skip:gas_too_high" => true,
            _ => false,
        }
    }

    /// The alert this fault must have raised, if it was not.
    fn missing_alert(&self, fired: &[Fired]) -> Option<String> {
        let r = &self.record;
        let bot = r.bot.as_deref().unwrap_or_default();
        let seen = |pred: &dyn Fn(&Fired) -> bool| fired.iter().any(|a| self.covers(a.at_ms) && pred(a));
        let (ok, wanted) = match r.fault {
            Fault::ServerKilled { .. } => {
                (seen(&|a| a.key == "election-unreachable"), "election-unreachable from a bot")
            }
            Fault::PartitionLeader => (
                seen(&|a| a.bot == bot && a.key.starts_with("rpc-down:")),
                "rpc-down from the partitioned bot",
            ),
            Fault::Endpoint(_) => (
                seen(&|a| a.bot == bot && a.key.starts_with("rpc-failover:")),
                "rpc-failover from the bot whose endpoint failed",
            ),
            // The killed bot started again can win first (the file elector sees its own dead
            // predecessor's lock and takes over at once): its new process counts.
            Fault::KillLeader | Fault::RestartLeader => (
                seen(&|a| a.key == "leadership" && (a.bot != bot || a.started_ms >= r.start_ms)),
                "leadership from the bot that took over",
            ),
            Fault::PauseLeader => {
                (seen(&|a| a.bot != bot && a.key == "leadership"), "leadership from the bot that took over")
            }
            Fault::MiningPaused => (true, ""),
        };
        (!ok).then(|| format!("{}: expected {wanted}", self.label()))
    }
}

fn explained(a: &Fired, windows: &[Window], elector: super::Elector) -> bool {
    // Leadership changes are facts the bot reports, at start-up too; large moves come from the
    // script.
    if a.key == "leadership" || a.key.starts_with("review:") || a.key.starts_with("move-held:") {
        return true;
    }
    windows.iter().any(|w| w.covers(a.at_ms) && w.causes(&a.bot, &a.key, elector))
}

/// The longest time an update was due (the source past the threshold from the oracle's value,
/// the minimum interval over) until the oracle changed, and the faults during it.
fn longest_due(journal: &Recorded, windows: &[Window]) -> (Duration, String) {
    #[derive(Clone, Copy)]
    enum Ev {
        Source(u128),
        Chain(u128),
    }
    let mut events: Vec<(u64, Ev)> = journal.moves.iter().map(|m| (m.at_ms, Ev::Source(m.eth))).collect();
    events.extend(journal.seen.iter().map(|s| (s.at_ms, Ev::Chain(s.eth))));
    events.sort_by_key(|e| e.0);
    let (mut src, mut chain, mut last_change) = (None, None, 0u64);
    let mut due_since: Option<u64> = None;
    let mut longest = (0u64, String::from("no update was ever due"));
    for (at, ev) in events {
        match ev {
            Ev::Source(v) => src = Some(v),
            Ev::Chain(v) => {
                if let Some(since) = due_since.take() {
                    let gap = at.saturating_sub(since);
                    if gap > longest.0 {
                        let faults: Vec<String> = windows
                            .iter()
                            .filter(|w| w.covers(since) || w.covers(at))
                            .map(Window::label)
                            .collect();
                        longest =
                            (gap, if faults.is_empty() { "no fault".into() } else { faults.join(", ") });
                    }
                }
                chain = Some(v);
                last_change = at;
            }
        }
        if let (Some(s), Some(c)) = (src, chain) {
            let due = super::script::deviation_bps(s, c) >= u128::from(super::THRESHOLD_BPS);
            if due && due_since.is_none() {
                due_since = Some(at.max(last_change + MIN_INTERVAL.as_millis() as u64));
            } else if !due {
                due_since = None;
            }
        }
    }
    (Duration::from_millis(longest.0), longest.1)
}

/// The target endpoint `bot`'s requests went to at `ms`: the last "switched to RPC <i>" its
/// process then running logged before `ms` (0, the preferred one, from each start).
fn active_endpoint_at(incarnations: &[Incarnation], bot: &str, ms: u64) -> usize {
    let stamp = |v: &Value| v["timestamp"].as_str().and_then(rfc3339_ms).unwrap_or(0);
    for inc in incarnations.iter().filter(|i| i.bot == bot) {
        let lines: Vec<Value> = inc.lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let (Some(first), Some(last)) = (lines.first().map(stamp), lines.last().map(stamp)) else { continue };
        if !(first..=last).contains(&ms) {
            continue;
        }
        return lines
            .iter()
            .filter(|v| stamp(v) < ms)
            .filter_map(|v| v["message"].as_str()?.split("switched to RPC ").nth(1)?.parse().ok())
            .next_back()
            .unwrap_or(0);
    }
    0
}
