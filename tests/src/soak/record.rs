//! What a soak run records while it runs: the source's moves, the oracle's value as seen every
//! 100 ms, the faults, and what went wrong on the way. Times are the host's unix milliseconds, the
//! clock the bots' log lines carry too.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{primitives::Address, providers::DynProvider};
use oracle_core::evm::bindings::ManualPriceOracle;
use tokio_util::sync::CancellationToken;

use super::faults::Fault;

/// The host's clock in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One move of the source's ETH/USD answer, once a read at `latest` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// When it became visible.
    pub at_ms: u64,
    /// The new answer (8 decimals).
    pub eth: u128,
    /// A jump (above the threshold, awaited on chain) rather than a calm move.
    pub jump: bool,
}

/// The oracle's stored value changed, as seen by the observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When the observer first saw it.
    pub at_ms: u64,
    /// The stored ETH/USD.
    pub eth: u128,
    /// The stored `lastUpdate` (block timestamp, seconds).
    pub last_update: u64,
}

/// One injected fault and what followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    /// What was done.
    pub fault: Fault,
    /// The bot it was done to, if any.
    pub bot: Option<String>,
    /// When it started.
    pub start_ms: u64,
    /// When it was healed (the process resumed or restarted, the server back, mining on).
    pub healed_ms: u64,
    /// The first change of the oracle after the fault started (a jump is made at its start, so
    /// an update is due from then): the fault's failover time is `first_update_ms - start_ms`.
    pub first_update_ms: Option<u64>,
    /// When the fleet had one leader again after healing.
    pub settled_ms: Option<u64>,
}

impl FaultRecord {
    /// The fault's failover time: from its start to the oracle's next change.
    pub fn failover(&self) -> Option<Duration> {
        self.first_update_ms.map(|u| Duration::from_millis(u.saturating_sub(self.start_ms)))
    }
}

/// One process of one bot, from spawn to exit.
#[derive(Debug, Clone)]
pub struct Incarnation {
    /// The bot's id.
    pub bot: String,
    /// Its process id.
    pub pid: u32,
    /// Every line it printed.
    pub lines: Vec<String>,
    /// How it ended.
    pub ending: Ending,
}

/// How a bot's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The soak killed it with SIGKILL.
    Killed,
    /// The soak sent SIGTERM; the exit code it gave.
    Stopped(Option<i32>),
    /// It exited on its own (a crash): the exit code, `None` for a signal.
    Crashed(Option<i32>),
}

/// Everything recorded during a run, shared by the tasks that record it.
#[derive(Debug, Default)]
pub struct Journal(Mutex<Recorded>);

/// The recorded data, taken out at the end.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// The source's moves, in order.
    pub moves: Vec<Move>,
    /// The oracle's changes, in order.
    pub seen: Vec<Seen>,
    /// The faults, in order.
    pub faults: Vec<FaultRecord>,
    /// What went wrong while running (a jump never pushed, a fleet that never settled).
    pub violations: Vec<String>,
}

impl Journal {
    fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a move of the source.
    pub fn moved(&self, m: Move) {
        self.with(|r| r.moves.push(m));
    }

    /// The source's current answer.
    pub fn source(&self) -> Option<u128> {
        self.with(|r| r.moves.last().map(|m| m.eth))
    }

    /// The oracle's last seen value and when it changed.
    pub fn on_chain(&self) -> Option<Seen> {
        self.with(|r| r.seen.last().cloned())
    }

    /// The first change of the oracle seen at or after `ms`.
    pub fn first_change_after(&self, ms: u64) -> Option<u64> {
        self.with(|r| r.seen.iter().skip(1).find(|s| s.at_ms >= ms).map(|s| s.at_ms))
    }

    /// Records a fault.
    pub fn fault(&self, f: FaultRecord) {
        self.with(|r| r.faults.push(f));
    }

    /// Records a violation found while running.
    pub fn violation(&self, what: String) {
        tracing::error!("soak violation: {what}");
        self.with(|r| r.violations.push(what));
    }

    /// Everything recorded.
    pub fn take(&self) -> Recorded {
        self.with(|r| r.clone())
    }
}

/// Reads the oracle every 100 ms until `stop` and records each change of its value or time.
pub async fn observe_chain(
    provider: DynProvider,
    oracle: Address,
    journal: std::sync::Arc<Journal>,
    stop: CancellationToken,
) {
    let oracle = ManualPriceOracle::new(oracle, provider);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Ok(p) = oracle.getPrices().call().await else { continue };
        let (Ok(eth), Ok(last_update)) = (u128::try_from(p.ethUsd), u64::try_from(p.lastUpdate)) else {
            continue;
        };
        let changed = journal.on_chain().is_none_or(|s| s.eth != eth || s.last_update != last_update);
        if changed {
            journal.with(|r| r.seen.push(Seen { at_ms: now_ms(), eth, last_update }));
        }
    }
}

/// Writes every process's lines to `<tmp>/oracle-soak/<elector>-<oracle>-<seed>/<bot>-<pid>.log`
/// for a post-mortem; the directory, or why there is none.
pub fn keep_logs(config: &super::SoakConfig, incarnations: &[Incarnation]) -> String {
    let dir = std::env::temp_dir().join("oracle-soak").join(format!(
        "{}-{}-{}",
        config.elector.name(),
        config.oracle.name(),
        config.seed
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        incarnations.iter().try_for_each(|i| {
            std::fs::write(dir.join(format!("{}-{}.log", i.bot, i.pid)), i.lines.join("\n"))
        })
    });
    match written {
        Ok(()) => dir.display().to_string(),
        Err(e) => format!("(not kept: {e})"),
    }
}

/// The unix milliseconds of an RFC 3339 UTC timestamp as `tracing`'s JSON logs write it
/// (`2026-11-30T23:59:59.123456Z`).
pub fn rfc3339_ms(ts: &str) -> Option<u64> {
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + millis).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_timestamps_read_as_unix_milliseconds() {
        assert_eq!(super::rfc3339_ms("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(super::rfc3339_ms("2026-11-30T23:54:31.5Z"), Some(1_796_082_871_500));
        assert_eq!(super::rfc3339_ms("2000-02-29T12:00:00Z"), Some(951_825_600_000));
        assert_eq!(super::rfc3339_ms("garbage"), None);
    }
}
