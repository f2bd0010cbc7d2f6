//! `leader status` and `leader resign`: the runbook's "force a leadership change" through the
//! election backend (file, Redis or etcd), without ssh and `rm`; split brain diagnosed from the
//! backend and each bot's own view.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use clap::Args;
use oracle_core::LeaderInfo;
use oracle_election::Elector;
use serde_json::{Value, json};

use super::bots::{self, BotView};
use crate::{
    BotsArgs, CliError, Report,
    output::{grid, pairs},
    settings::{Needs, Settings},
};

/// `leader resign` flags.
#[derive(Debug, Clone, Args)]
pub struct ResignArgs {
    /// Wait until another bot leads (up to this many seconds) and report it; 0: do not wait.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait_s: u64,
}

/// Waits until the election changes (the elector's watch channel fires) or 100 ms pass.
pub(crate) async fn next_change(changes: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    let pause = tokio::time::sleep(Duration::from_millis(100));
    match changes.as_mut() {
        Some(rx) => {
            tokio::select! {
                _ = rx.changed() => {}
                _ = pause => {}
            }
        }
        None => pause.await,
    }
}

/// An elector connected for administration only: it never campaigns.
pub(crate) async fn admin(settings: &Settings) -> Result<Arc<dyn Elector>, CliError> {
    let election = settings.election()?;
    Ok(election.elector.connect(&format!("oracle-cli-admin-{}", std::process::id()), election.lease).await?)
}

pub(crate) fn leader_json(leader: Option<&LeaderInfo>) -> Value {
    match leader {
        None => Value::Null,
        Some(l) => json!({
            "id": l.holder,
            "fencingToken": l.token.0,
            "expiresAtUnixMs": unix_ms(l.expires_at),
            "expiresInMs": l.expires_at.duration_since(SystemTime::now()).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0),
        }),
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn leader_rows(backend: &str, leader: Option<&LeaderInfo>) -> Vec<(&'static str, String)> {
    let mut rows = vec![("backend", backend.to_owned())];
    match leader {
        None => rows.push(("leader", "nobody leads now".into())),
        Some(l) => {
            let left = l.expires_at.duration_since(SystemTime::now()).unwrap_or_default();
            rows.push(("leader", l.holder.clone()));
            rows.push(("fencing token", l.token.to_string()));
            rows.push(("lease expires", format!("in {} ms unless renewed", left.as_millis())));
        }
    }
    rows
}

/// What the backend and the bots say together: none, one, or several leaders.
pub(crate) fn diagnose(leader: Option<&LeaderInfo>, views: &[BotView]) -> (String, Vec<String>) {
    let claimants: Vec<String> = views
        .iter()
        .filter(|v| v.is_leader() == Some(true))
        .map(|v| v.bot_id().unwrap_or_else(|| v.url.clone()))
        .collect();
    let verdict = match (leader, claimants.len()) {
        (_, n) if n > 1 => format!(
            "SPLIT BRAIN: {n} bots say they lead ({}): run `oracle-cli leader resign` and check that every bot uses the same LEADER_ELECTION_BACKEND",
            claimants.join(", ")
        ),
        (Some(l), 1) if claimants[0] != l.holder => format!(
            "DISAGREEMENT: the backend names {} but {} says it leads: it should step down at its next renewal; if it persists, restart it",
            l.holder, claimants[0]
        ),
        (Some(l), 0)
            if !views.is_empty()
                && !views.iter().any(|v| v.bot_id().as_deref() == Some(l.holder.as_str())) =>
        {
            format!("the leader {} is none of the bots given (--bot): a bot not listed leads", l.holder)
        }
        (None, 0) if !views.is_empty() => "nobody leads: the bots are electing, or none is running".into(),
        _ => "consistent: one leader".into(),
    };
    (verdict, claimants)
}

/// Runs `leader status`.
pub(crate) async fn status(args: &BotsArgs) -> Result<Report, CliError> {
    let settings = Settings::load(Needs::default())?;
    let elector = admin(&settings).await?;
    let backend = settings.election()?.elector.describe();
    let leader = elector.current_leader().await?;
    let views = bots::probe_all(&Settings::bot_urls(&args.bots), settings.bot.rpc_timeout).await;
    let (verdict, claimants) = diagnose(leader.as_ref(), &views);
    let json = json!({
        "command": "leader status",
        "backend": backend,
        "leader": leader_json(leader.as_ref()),
        "bots": views.iter().map(BotView::to_json).collect::<Vec<_>>(),
        "claimants": claimants,
        "verdict": verdict,
    });
    let mut human = pairs(&leader_rows(&backend, leader.as_ref()));
    if !views.is_empty() {
        human.push('\n');
        human.push_str(&grid(&bots::HEADERS, &views.iter().map(BotView::row).collect::<Vec<_>>()));
    }
    human.push_str(&format!("\n{verdict}\n"));
    Ok(Report { json, human })
}

/// Runs `leader resign`.
pub(crate) async fn resign(args: &ResignArgs) -> Result<Report, CliError> {
    let settings = Settings::load(Needs::default())?;
    let elector = admin(&settings).await?;
    let backend = settings.election()?.elector.describe();
    let Some(deposed) = elector.force_step_down().await? else {
        return Err(CliError::Refused(
            "nobody leads now: there is no leader to resign; check `oracle-cli leader status`".into(),
        ));
    };
    let mut successor = None;
    if args.wait_s > 0 {
        let deadline = crate::output::deadline(Duration::from_secs(args.wait_s));
        let mut changes = elector.watch();
        while tokio::time::Instant::now() < deadline {
            if let Some(l) = elector.current_leader().await?
                && l.holder != deposed.holder
            {
                successor = Some(l);
                break;
            }
            next_change(&mut changes).await;
        }
        if successor.is_none() {
            return Err(CliError::Failed(format!(
                "{} was deposed but no other bot took over within {}s: check that another bot runs (`oracle-cli leader status`)",
                deposed.holder, args.wait_s
            )));
        }
    }
    let json = json!({
        "command": "leader resign",
        "backend": backend,
        "deposed": leader_json(Some(&deposed)),
        "successor": leader_json(successor.as_ref()),
    });
    let mut rows =
        vec![("backend", backend), ("deposed", format!("{} (token {})", deposed.holder, deposed.token))];
    rows.push(match &successor {
        Some(s) => ("new leader", format!("{} (token {})", s.holder, s.token)),
        None => (
            "next",
            "the deposed bot stops at its next renewal and hands over; another bot takes over (see `oracle-cli leader status`)"
                .into(),
        ),
    });
    Ok(Report { json, human: pairs(&rows) })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use oracle_core::{FencingToken, LeaderInfo};
    use serde_json::json;

    use super::{BotView, diagnose};

    fn bot(id: &str, leads: bool) -> BotView {
        BotView {
            url: format!("http://{id}:3000"),
            health_status: Some(200),
            health: Some(json!({ "botId": id, "isLeader": leads })),
            ..BotView::default()
        }
    }

    #[test]
    fn split_brain_and_disagreement_are_named() {
        let leader = LeaderInfo {
            holder: "a".into(),
            token: FencingToken(7),
            expires_at: SystemTime::now() + Duration::from_secs(10),
        };
        let (verdict, _) = diagnose(Some(&leader), &[bot("a", true), bot("b", false)]);
        assert!(verdict.starts_with("consistent"), "{verdict}");
        let (verdict, claimants) = diagnose(Some(&leader), &[bot("a", true), bot("b", true)]);
        assert!(verdict.starts_with("SPLIT BRAIN"), "{verdict}");
        assert_eq!(claimants, ["a", "b"]);
        let (verdict, _) = diagnose(Some(&leader), &[bot("a", false), bot("b", true)]);
        assert!(verdict.starts_with("DISAGREEMENT"), "{verdict}");
        let (verdict, _) = diagnose(None, &[bot("a", false), bot("b", false)]);
        assert!(verdict.starts_with("nobody leads"), "{verdict}");
    }
}
