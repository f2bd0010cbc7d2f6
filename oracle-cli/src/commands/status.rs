//! `status`: the oracle on chain, each bot's own view, and who leads.

use serde_json::{Value, json};

use super::{bots, leader};
use crate::{
    BotsArgs, CliError, Report, chain,
    output::{grid, pairs},
    settings::{Needs, Settings},
};

/// Runs `status`.
pub(crate) async fn run(args: &BotsArgs) -> Result<Report, CliError> {
    let settings = Settings::load(Needs::default())?;
    let p = settings.jeju()?;
    let state = chain::read_oracle(&p, settings.bot.oracle_address).await?;
    let views = bots::probe_all(&Settings::bot_urls(&args.bots), settings.bot.rpc_timeout).await;

    let mut human = pairs(&state.rows());
    let mut election = Value::Null;
    if settings.bot.election.is_some() {
        let backend = settings.election()?.elector.describe();
        // The chain's state is shown even when the backend cannot be reached.
        match leader::admin(&settings).await {
            Ok(admin) => match admin.current_leader().await {
                Ok(l) => {
                    let (verdict, _) = leader::diagnose(l.as_ref(), &views);
                    human.push('\n');
                    human.push_str(&pairs(&leader::leader_rows(&backend, l.as_ref())));
                    human.push_str(&format!("{verdict}\n"));
                    election = json!({ "backend": backend, "leader": leader::leader_json(l.as_ref()), "verdict": verdict });
                }
                Err(e) => {
                    human.push_str(&format!("\nelection: cannot read {backend}: {e}\n"));
                    election = json!({ "backend": backend, "error": e.to_string() });
                }
            },
            Err(e) => {
                human.push_str(&format!("\nelection: cannot reach {backend}: {e}\n"));
                election = json!({ "backend": backend, "error": e.to_string() });
            }
        }
    } else {
        human.push_str("\nelection: off (LEADER_ELECTION_ENABLED is not true)\n");
    }
    if views.is_empty() {
        human.push_str("bots: none given (--bot URL or ORACLE_BOT_URLS)\n");
    } else {
        human.push('\n');
        human.push_str(&grid(&bots::HEADERS, &views.iter().map(bots::BotView::row).collect::<Vec<_>>()));
    }
    let json = json!({
        "command": "status",
        "oracle": state.to_json(),
        "election": election,
        "bots": views.iter().map(bots::BotView::to_json).collect::<Vec<_>>(),
    });
    Ok(Report { json, human })
}
