//! `drill`: the monthly failover drill. Watches the bots' `/health` and the contract while the
//! leader is stopped (by the operator, or asked to resign through the backend with `--resign`),
//! and reports who took over, how long leadership was vacant and how long the oracle went
//! without an update, as a table and as one JSON line to append to a record.

use std::{
    io::Write as _,
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use alloy::{
    primitives::Address,
    providers::{DynProvider, Provider as _},
    rpc::types::Filter,
    sol_types::SolEvent as _,
};
use clap::Args;
use oracle_core::evm::bindings::ManualPriceOracle;
use serde_json::{Value, json};

use super::{bots, leader};
use crate::{
    CliError, Report,
    output::pairs,
    settings::{Needs, Settings},
};

/// `drill` flags.
#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    /// A bot's base URL; repeat for each bot (at least two). Default: ORACLE_BOT_URLS.
    #[arg(long = "bot", value_name = "URL")]
    pub bots: Vec<String>,
    /// Ask the leader to resign through the election backend instead of waiting for the operator
    /// to stop it.
    #[arg(long)]
    pub resign: bool,
    /// Give up after this many seconds without a takeover and a new on-chain update.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout_s: u64,
    /// How often to look, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub poll_ms: u64,
    /// Append the result as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// One `PricesUpdated` as the chain recorded it.
#[derive(Debug, Clone, Copy)]
struct Update {
    block: u64,
    timestamp: u64,
}

async fn updates_since(p: &DynProvider, oracle: Address, from_block: u64) -> Result<Vec<Update>, CliError> {
    let filter = Filter::new()
        .address(oracle)
        .event_signature(ManualPriceOracle::PricesUpdated::SIGNATURE_HASH)
        .from_block(from_block);
    let logs = p.get_logs(&filter).await.map_err(|e| CliError::rpc("cannot read the oracle's events", e))?;
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        let Ok(event) = ManualPriceOracle::PricesUpdated::decode_log_data(log.data()) else { continue };
        out.push(Update {
            block: log.block_number.unwrap_or_default(),
            timestamp: u64::try_from(event.timestamp).unwrap_or(u64::MAX),
        });
    }
    Ok(out)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `drill`.
pub(crate) async fn run(args: &DrillArgs) -> Result<Report, CliError> {
    let settings = Settings::load(Needs::default())?;
    let urls = Settings::bot_urls(&args.bots);
    if urls.len() < 2 {
        return Err(CliError::Usage(
            "a failover drill needs at least two bots: give each with --bot URL (or ORACLE_BOT_URLS)".into(),
        ));
    }
    let p = settings.jeju()?;
    let oracle = settings.bot.oracle_address;
    let timeout = settings.bot.rpc_timeout;
    let poll = Duration::from_millis(args.poll_ms.max(10));

    let views = bots::probe_all(&urls, timeout).await;
    let leaders: Vec<String> =
        views.iter().filter(|v| v.is_leader() == Some(true)).filter_map(|v| v.bot_id()).collect();
    let old_leader = match leaders.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(CliError::Refused(
                "no bot leads now: a drill starts from a running leader; check `oracle-cli status`".into(),
            ));
        }
        many => {
            return Err(CliError::Refused(format!(
                "several bots say they lead ({}): fix that first (`oracle-cli leader status`)",
                many.join(", ")
            )));
        }
    };
    let start_block =
        p.get_block_number().await.map_err(|e| CliError::rpc("cannot read the block number", e))?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let deadline = crate::output::deadline(Duration::from_secs(args.timeout_s));

    if args.resign {
        let admin = leader::admin(&settings).await?;
        admin.force_step_down().await?;
        eprintln!("asked {old_leader} to resign through the election backend; watching");
    } else {
        eprintln!("{old_leader} leads: stop it now (e.g. `systemctl stop oracle-bot` on its host); watching");
    }

    // Leadership: when the old leader stopped claiming it, and when another bot first did.
    let mut vacant_since: Option<Instant> = None;
    let mut takeover: Option<(Instant, String)> = None;
    // The chain: the latest update seen when the takeover was observed, then the first after it.
    let mut last_before_takeover: Option<u64> = None;
    let mut first_after: Option<Update> = None;
    loop {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let views = bots::probe_all(&urls, timeout).await;
        let now = Instant::now();
        let claimants: Vec<String> =
            views.iter().filter(|v| v.is_leader() == Some(true)).filter_map(|v| v.bot_id()).collect();
        if takeover.is_none() {
            if vacant_since.is_none() && !claimants.contains(&old_leader) {
                vacant_since = Some(now);
            }
            if let Some(new) = claimants.iter().find(|c| **c != old_leader) {
                vacant_since.get_or_insert(now);
                takeover = Some((now, new.clone()));
                let state = crate::chain::read_oracle(&p, oracle).await?;
                last_before_takeover = Some(state.last_update);
            }
        }
        if let Some(before) = last_before_takeover {
            let updates = updates_since(&p, oracle, start_block).await?;
            if let Some(u) = updates.iter().find(|u| u.timestamp > before) {
                first_after = Some(*u);
                break;
            }
        }
        tokio::time::sleep(poll).await;
    }

    let Some((taken_at, new_leader)) = takeover else {
        return Err(CliError::Drill(format!(
            "no other bot took over within {}s of {old_leader} {}: the standby is not working; check each bot's /health and the election backend (`oracle-cli leader status`)",
            args.timeout_s,
            if args.resign { "resigning" } else { "being stopped" }
        )));
    };
    let vacancy = taken_at.saturating_duration_since(vacant_since.unwrap_or(taken_at));
    // The oracle's gap: from the last update before the new leader's first one, to that one
    // (block timestamps, as the chain recorded them).
    let all = updates_since(&p, oracle, 0).await?;
    let gap = first_after.and_then(|after| {
        let prev = all.iter().rfind(|u| u.block < after.block).copied();
        prev.map(|prev| (prev, after, after.timestamp.saturating_sub(prev.timestamp)))
    });
    let json = json!({
        "command": "drill",
        "startedAtUnixMs": started_at.duration_since(SystemTime::UNIX_EPOCH).map(millis).unwrap_or(0),
        "oracle": oracle.to_string(),
        "method": if args.resign { "resign" } else { "operator-stop" },
        "oldLeader": old_leader,
        "newLeader": new_leader,
        "takeoverAfterMs": millis(taken_at.saturating_duration_since(start)),
        "vacancyMs": millis(vacancy),
        "oracleGap": gap.map(|(prev, after, secs)| json!({
            "seconds": secs,
            "lastBefore": { "block": prev.block, "timestamp": prev.timestamp },
            "firstAfter": { "block": after.block, "timestamp": after.timestamp },
        })),
    });
    let mut rows = vec![
        ("old leader", old_leader.clone()),
        ("new leader", new_leader.clone()),
        ("takeover after", format!("{} ms", millis(taken_at.saturating_duration_since(start)))),
        ("leadership vacant", format!("{} ms (at {} ms polling)", millis(vacancy), poll.as_millis())),
    ];
    rows.push(match gap {
        Some((prev, after, secs)) => (
            "oracle without update",
            format!(
                "{secs} s (block {} at {} -> block {} at {})",
                prev.block, prev.timestamp, after.block, after.timestamp
            ),
        ),
        None => ("oracle without update", format!("no update by the new leader within {}s", args.timeout_s)),
    });
    let line = json.to_string();
    if let Some(path) = &args.record {
        let file_err = |e: std::io::Error| CliError::File { path: path.clone(), reason: e.to_string() };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(file_err)?;
        writeln!(f, "{line}").map_err(file_err)?;
    }
    let human = format!("{}\nrecord line:\n{line}\n", pairs(&rows));
    Ok(Report { json: Value::clone(&json), human })
}
