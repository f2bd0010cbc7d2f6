//! Human tables and JSON reports.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use alloy::primitives::U256;
use oracle_core::Price;
use serde_json::Value;

use crate::CliError;

/// What a command produced: a JSON value for `--json`, and the same for humans.
#[derive(Debug)]
pub struct Report {
    /// The machine-readable form.
    pub json: Value,
    /// The human form (aligned tables).
    pub human: String,
}

/// Key/value rows, the keys aligned.
pub(crate) fn pairs(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    out
}

/// A table with a header row; every column as wide as its widest cell.
pub(crate) fn grid(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// An 8-decimal raw price in dollars, e.g. `3245.67`.
pub(crate) fn dollars(raw: U256) -> String {
    Price::new(raw, oracle_core::evm::ORACLE_DECIMALS)
        .map_or_else(|_| raw.to_string(), |p| trim(&p.to_string(), 2))
}

/// Drops trailing fractional zeros, keeping at least `keep` fractional digits.
fn trim(text: &str, keep: usize) -> String {
    let Some((whole, frac)) = text.split_once('.') else {
        return if keep == 0 { text.to_owned() } else { format!("{text}.{}", "0".repeat(keep)) };
    };
    let mut frac = frac.trim_end_matches('0').to_owned();
    while frac.len() < keep {
        frac.push('0');
    }
    if frac.is_empty() { whole.to_owned() } else { format!("{whole}.{frac}") }
}

/// The relative change from `old` to `new` in percent with two decimals, exact (`+1.23%`).
pub(crate) fn change_pct(old: U256, new: U256) -> String {
    if old.is_zero() {
        return "n/a".into();
    }
    let (sign, diff) = if new >= old { ("+", new - old) } else { ("-", old - new) };
    // Basis points of a hundredth of a percent, rounded down: diff * 10000 / old.
    match diff.checked_mul(U256::from(10_000u64)) {
        Some(scaled) => {
            let bps = scaled / old;
            let whole = bps / U256::from(100u64);
            let frac = bps % U256::from(100u64);
            format!("{sign}{whole}.{frac:0>2}%")
        }
        None => format!("{sign}>1e70%"),
    }
}

/// Wei per gas as gwei text, exact.
pub(crate) fn gwei(wei: u128) -> String {
    Price::from_u128(wei, 9).map_or_else(|_| format!("{wei} wei"), |p| trim(&p.to_string(), 0))
}

/// A duration in seconds as `1h 02m 03s`.
pub(crate) fn age(secs: u64) -> String {
    oracle_core::format_duration(std::time::Duration::from_secs(secs))
}

/// `wait` from now; a wait too long for the clock is a day (a deadline nobody waits out).
pub(crate) fn deadline(wait: std::time::Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(wait).unwrap_or_else(|| now + std::time::Duration::from_secs(86_400))
}

/// Asks for confirmation on the terminal. `yes` skips the question; without a terminal and
/// without `yes` the action is refused (scripts must say `--yes`).
pub(crate) fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Refused(
            "no terminal to confirm on: review the plan with --dry-run, then run again with --yes".into(),
        ));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Refused(format!("cannot read the answer: {e}")))?;
    match answer.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => Err(CliError::Declined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_exact() {
        assert_eq!(change_pct(U256::from(100u64), U256::from(101u64)), "+1.00%");
        assert_eq!(change_pct(U256::from(300_000_000_000u64), U256::from(150_000_000_000u64)), "-50.00%");
        assert_eq!(change_pct(U256::from(3u64), U256::from(4u64)), "+33.33%");
        assert_eq!(change_pct(U256::ZERO, U256::from(4u64)), "n/a");
    }

    #[test]
    fn tables_align() {
        let t = grid(&["a", "bb"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "a     bb\nlong  x\n");
        assert_eq!(pairs(&[("k", "1".into()), ("key", "2".into())]), "k    1\nkey  2\n");
        assert_eq!(dollars(U256::from(324_567_000_000u64)), "3245.67");
        assert_eq!(gwei(1_500_000_000), "1.5");
        assert_eq!(gwei(100_000_000_000), "100");
        assert_eq!(dollars(U256::from(8_420_000u64)), "0.0842");
        assert_eq!(dollars(U256::from(300_000_000_000u64)), "3000.00");
    }
}
