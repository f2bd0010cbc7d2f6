//! The fenced target the probes act on: an append-only action log that refuses a token below one
//! it accepted, like the fenced oracle, and the check that terms never overlapped.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use super::*;

/// One action on the fenced target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// When, in unix microseconds.
    pub at_micros: u64,
    /// Which bot.
    pub id: String,
    /// With which fencing token.
    pub token: u64,
    /// Whether the target accepted it (it refuses tokens below the highest it accepted).
    pub accepted: bool,
}

/// A target that records actions in a shared file and, like a contract that remembers the
/// highest token, refuses an action whose token is below one it already accepted. Appends are
/// serialised by an exclusive lock on the file, so the file's order is the order in time.
#[derive(Debug, Clone)]
pub struct FencedTarget {
    pub(super) path: PathBuf,
}

impl FencedTarget {
    /// A target logging to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Acts for `id` with `token`: returns whether the target accepted. Waits at most 2 s for the
    /// log's lock (a probe paused by a test may hold it), then fails with `WouldBlock`.
    pub fn act(&self, id: &str, token: u64) -> std::io::Result<bool> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < Duration::from_secs(2) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "the action log stays locked",
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let highest = parse_actions(&text).iter().filter(|a| a.accepted).map(|a| a.token).max().unwrap_or(0);
        let accepted = token >= highest;
        let verdict = if accepted { "ACCEPT" } else { "REFUSE" };
        let now = unix_micros(SystemTime::now());
        file.write_all(format!("{verdict} {now} {id} {token}\n").as_bytes())?;
        Ok(accepted)
    }

    /// Every action so far, in order.
    pub fn actions(&self) -> Vec<Action> {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.path) {
            f.read_to_string(&mut text).expect("read the action log");
        }
        parse_actions(&text)
    }
}

fn parse_actions(text: &str) -> Vec<Action> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let accepted = match parts.next()? {
                "ACCEPT" => true,
                "REFUSE" => false,
                _ => return None,
            };
            let at_micros = parts.next()?.parse().ok()?;
            let id = parts.next()?.to_owned();
            let token = parts.next()?.parse().ok()?;
            Some(Action { at_micros, id, token, accepted })
        })
        .collect()
}

/// Checks that terms never overlapped: in the order of the log, the accepted actions' tokens never
/// decrease and one token belongs to one bot. Returns the terms `(id, token, first, last)` in
/// order.
pub fn assert_one_leader_at_a_time(actions: &[Action]) -> Vec<(String, u64, u64, u64)> {
    let mut terms: Vec<(String, u64, u64, u64)> = Vec::new();
    for a in actions.iter().filter(|a| a.accepted) {
        match terms.last_mut() {
            Some((id, token, _, last)) if *token == a.token => {
                assert_eq!(id, &a.id, "token {} used by two bots: {id} and {}", a.token, a.id);
                *last = a.at_micros;
            }
            Some((id, token, _, _)) => {
                assert!(
                    a.token > *token,
                    "{} acted with token {} after {id} acted with the larger token {token}",
                    a.id,
                    a.token
                );
                terms.push((a.id.clone(), a.token, a.at_micros, a.at_micros));
            }
            None => terms.push((a.id.clone(), a.token, a.at_micros, a.at_micros)),
        }
    }
    terms
}
