//! `prices`: what the sources say now, next to the chain, and what the bot would decide. Sends
//! nothing.

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use alloy::primitives::U256;
use oracle_bot::Feeds;
use oracle_core::{
    Decision, FeedId, Holds, Observation, PriceSource, SubmitReason, Submitter, confirm, decide,
    evm::{ManualOracleSubmitter, ORACLE_DECIMALS},
    tick_scope,
};
use oracle_sources::{ChainlinkSource, FixedPriceSource, Providers};
use serde_json::json;

use crate::{
    CliError, Report,
    output::{change_pct, dollars, grid, pairs},
    settings::{Needs, Settings},
};

/// Each feed with its source.
type Sources = Vec<(FeedId, Arc<dyn PriceSource>)>;

/// The bot's sources, composed the bot's way from its configuration.
fn sources(settings: &Settings) -> Result<Sources, CliError> {
    let base = settings.base()?;
    let err = |e: oracle_sources::Error| {
        CliError::Sources(format!("cannot build the price sources: {e}; check the feed settings"))
    };
    Ok(match &settings.bot.feeds {
        Feeds::File { config, .. } => config.build(&Providers::new(base)).map_err(err)?.into_iter().collect(),
        Feeds::JejuDefaults(d) => d.build(&Providers::new(base)).map_err(err)?.into_iter().collect(),
        Feeds::FixedEliza { chainlink, max_age, sequencer, price } => {
            let mut eth = ChainlinkSource::new(base, *chainlink, FeedId::ETH_USD, *max_age);
            if let Some((feed, grace)) = sequencer {
                eth = eth.with_sequencer_uptime_feed(*feed, *grace);
            }
            vec![
                (FeedId::ETH_USD, Arc::new(eth) as Arc<dyn PriceSource>),
                (FeedId::ELIZAOS_USD, Arc::new(FixedPriceSource::new(FeedId::ELIZAOS_USD, *price))),
            ]
        }
    })
}

/// Reads every feed once, as one tick would (one read per shared source).
async fn observe(settings: &Settings) -> Result<HashMap<FeedId, Observation>, CliError> {
    let sources = sources(settings)?;
    tick_scope(async {
        let mut out = HashMap::new();
        for (feed, source) in &sources {
            let obs = source.fetch(feed).await.map_err(|e| {
                CliError::Sources(format!(
                    "{} cannot price {feed}: {e}; check BASE_RPC_URLS and the source settings",
                    source.name()
                ))
            })?;
            out.insert(feed.clone(), obs);
        }
        Ok(out)
    })
    .await
}

fn raw8(obs: &Observation) -> Result<U256, CliError> {
    obs.price
        .rescale(ORACLE_DECIMALS)
        .map(|p| p.mantissa())
        .map_err(|e| CliError::Sources(format!("{} cannot be written with 8 decimals: {e}", obs.feed)))
}

/// Both prices from the sources, at the oracle's 8 decimals.
pub(crate) async fn current(settings: &Settings) -> Result<(U256, U256), CliError> {
    let obs = observe(settings).await?;
    let get = |feed: &FeedId| {
        obs.get(feed).ok_or_else(|| CliError::Sources(format!("no source prices {feed}: check FEEDS_CONFIG")))
    };
    Ok((raw8(get(&FeedId::ETH_USD)?)?, raw8(get(&FeedId::ELIZAOS_USD)?)?))
}

fn reason_text(reason: &SubmitReason) -> String {
    match reason {
        SubmitReason::Deviation { feed, move_bps: Some(bps) } => {
            format!("{feed} moved {}.{:02}%", bps / 100, bps % 100)
        }
        SubmitReason::Deviation { feed, move_bps: None } => format!("{feed} moved from zero"),
        SubmitReason::Heartbeat { age } => format!("the data is {}s old (heartbeat)", age.as_secs()),
    }
}

/// Runs `prices`.
pub(crate) async fn run() -> Result<Report, CliError> {
    let settings = Settings::load(Needs { sources: true, ..Needs::default() })?;
    let observations = observe(&settings).await?;
    // The submitter reads the oracle exactly as the bot's does; it never sends here.
    let submitter = ManualOracleSubmitter::builder()
        .provider(settings.jeju()?)
        .chain_name("Jeju")
        .oracle(settings.bot.oracle_address)
        .signer(settings.bot.updater_key.signer().clone())
        .connect()
        .await
        .map_err(|e| CliError::rpc("cannot read the oracle", e))?;
    let mut state =
        submitter.read_state().await.map_err(|e| CliError::rpc("cannot read the oracle's state", e))?;
    if !settings.has_updater_key {
        // The balance read was the stand-in key's: not the bot's wallet.
        state.balance_wei = None;
    }
    let now = state.chain_time.map_or(SystemTime::now(), |t| t.max(SystemTime::now()));
    let decision = decide(&state, &observations, &settings.bot.policy, now);
    // A move beyond MAX_PRICE_DEVIATION_PCT is held for confirming ticks: what a bot seeing these
    // prices for the first time does.
    let (decision, _) = confirm(decision, &Holds::default(), &settings.bot.policy);

    let mut rows = Vec::new();
    let mut feeds_json = Vec::new();
    for stored in &state.feeds {
        let on_chain = stored.price.mantissa();
        let obs = observations.get(&stored.feed);
        let new = obs.map(raw8).transpose()?;
        let age = obs.and_then(|o| SystemTime::now().duration_since(o.observed_at).ok()).map(|d| d.as_secs());
        rows.push(vec![
            stored.feed.to_string(),
            obs.map_or("-".into(), |o| o.source.clone()),
            new.map_or("-".into(), |n| format!("${}", dollars(n))),
            format!("${}", dollars(on_chain)),
            new.map_or("-".into(), |n| change_pct(on_chain, n)),
            age.map_or("-".into(), |a| format!("{a}s")),
        ]);
        feeds_json.push(json!({
            "feed": stored.feed.to_string(),
            "source": obs.map(|o| o.source.clone()),
            "sourceRaw": new.map(|n| n.to_string()),
            "sourceDollars": new.map(dollars),
            "onChainRaw": on_chain.to_string(),
            "onChainDollars": dollars(on_chain),
            "change": new.map(|n| change_pct(on_chain, n)),
            "observationAgeSeconds": age,
        }));
    }
    let (verdict, reason) = match &decision {
        Decision::Skip(r) => ("skip", r.to_string()),
        Decision::Submit(plan) => {
            ("submit", plan.reasons.iter().map(reason_text).collect::<Vec<_>>().join(", "))
        }
    };
    let json = json!({
        "command": "prices",
        "oracle": settings.bot.oracle_address.to_string(),
        "feeds": feeds_json,
        "decision": { "action": verdict, "reason": reason },
        "sent": false,
    });
    let human = format!(
        "{}\n{}",
        grid(&["feed", "source", "source says", "on chain", "change", "age"], &rows),
        pairs(&[
            ("the bot would", format!("{verdict}: {reason}")),
            ("sent", "nothing (this command never sends)".into())
        ])
    );
    Ok(Report { json, human })
}
