//! `emergency-update`: the owner's bypass of the deviation rule, optionally under the election
//! lease so no running bot writes in the same moment.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, U256},
    sol_types::SolCall as _,
};
use clap::Args;
use oracle_core::{
    Leadership,
    evm::bindings::{FencedPriceOracle, ManualPriceOracle},
};
use oracle_election::Elector;
use serde_json::json;

use crate::{
    CliError, KeyArgs, Report, TxArgs,
    chain::{self, TxPlan},
    keys,
    output::{change_pct, dollars, pairs},
    settings::{Needs, Settings},
};

/// `emergency-update` flags.
#[derive(Debug, Clone, Args)]
pub struct EmergencyArgs {
    /// The new ETH/USD price in dollars (e.g. 3245.67), converted exactly to 8 decimals.
    #[arg(long, value_name = "USD", requires = "elizaos", conflicts_with = "from_sources")]
    pub eth: Option<String>,
    /// The new elizaOS/USD price in dollars (e.g. 0.0842), converted exactly to 8 decimals.
    #[arg(long, value_name = "USD", requires = "eth", conflicts_with = "from_sources")]
    pub elizaos: Option<String>,
    /// Take both prices from the configured sources, as the bot would read them now.
    #[arg(long)]
    pub from_sources: bool,
    /// Take the election lease first (deposing the current leader), so running bots cannot write
    /// in the same moment; released afterwards.
    #[arg(long)]
    pub hold_lease: bool,
    /// On the fenced oracle: first raise its highest fencing token above the current leader's
    /// term (`setHighestFencingToken`), so that term's updates revert; the bots' next term
    /// starts above it.
    #[arg(long)]
    pub raise_fence: bool,
    /// How long to wait for the lease before giving up, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub lease_wait_s: u64,
    /// The owner's key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Simulate-confirm-send switches.
    #[command(flatten)]
    pub tx: TxArgs,
}

/// The id the CLI campaigns under.
pub(crate) fn cli_id() -> String {
    format!("oracle-cli-{}", std::process::id())
}

/// Takes the lease: deposes whoever leads and campaigns until this process leads or `wait` ends.
pub(crate) async fn take_lease(
    settings: &Settings,
    wait: Duration,
) -> Result<(Arc<dyn Elector>, oracle_core::Lease), CliError> {
    let election = settings.election()?;
    let elector = election.elector.connect(&cli_id(), election.lease).await?;
    let deadline = crate::output::deadline(wait);
    let mut changes = elector.watch();
    loop {
        if let Leadership::Leader(lease) = elector.acquire_or_renew().await? {
            return Ok((elector, lease));
        }
        if let Some(leader) = elector.current_leader().await?
            && leader.holder != elector.id()
        {
            elector.force_step_down().await?;
        }
        super::leader::next_change(&mut changes).await;
        if tokio::time::Instant::now() >= deadline {
            let _ = elector.release().await;
            return Err(CliError::Refused(format!(
                "could not take the election lease within {}s (another bot kept winning it); nothing was sent: run again, or without --hold-lease",
                wait.as_secs()
            )));
        }
    }
}

/// Runs `emergency-update`.
pub(crate) async fn run(args: &EmergencyArgs) -> Result<Report, CliError> {
    let (eth, eliza, origin) = match (&args.eth, &args.elizaos, args.from_sources) {
        (Some(eth), Some(eliza), false) => {
            (chain::parse_price("--eth", eth)?, chain::parse_price("--elizaos", eliza)?, "command line")
        }
        (None, None, true) => {
            let settings = Settings::load(Needs { sources: true, ..Needs::default() })?;
            let (eth, eliza) = super::prices::current(&settings).await?;
            (eth, eliza, "sources")
        }
        _ => {
            return Err(CliError::Usage("give both --eth USD and --elizaos USD, or --from-sources".into()));
        }
    };
    // Refused locally, before any key is loaded or anything is read: the deployed contract's
    // bounds; then again against the bounds the oracle itself reports.
    chain::Bounds::jeju().check(eth, eliza)?;
    let signer = keys::signer(&args.key).await?;
    let settings = Settings::load(Needs::default())?;
    let p = settings.jeju()?;
    let oracle = settings.bot.oracle_address;
    let before = chain::read_oracle(&p, oracle).await?;
    before.bounds.check(eth, eliza)?;
    if signer.address() != before.owner {
        return Err(CliError::NotOwner {
            signer: signer.address(),
            owner: before.owner,
            action: "send an emergency update",
        });
    }
    if args.hold_lease {
        settings.election()?;
    }
    let cap = settings.bot.policy.max_fee_per_gas();
    let fence = match (args.raise_fence, before.fenced) {
        (false, _) => None,
        (true, None) => {
            return Err(CliError::Refused(format!(
                "{oracle} is the plain oracle, it has no fencing token to raise: use --hold-lease to hold the bots off"
            )));
        }
        (true, Some(highest)) => {
            let target = fence_target(&settings, highest, None).await;
            // Simulated now with the value it would have now; sent with the value at send time.
            chain::prepare(&p, signer.address(), fence_plan(oracle, highest, target), &args.tx, cap).await?;
            Some(highest)
        }
    };
    let mut plan = plan(oracle, &before, eth, eliza, origin);
    if let Some(highest) = fence {
        plan.rows.insert(
            0,
            (
                "first",
                format!("setHighestFencingToken above {highest} (the current term's updates then revert)"),
            ),
        );
    }
    let prepared = chain::prepare(&p, signer.address(), plan, &args.tx, cap).await?;
    if args.tx.dry_run {
        let mut outcome = prepared.dry_run();
        if let serde_json::Value::Object(map) = &mut outcome.json {
            map.insert("leaseHeld".into(), json!(false));
        }
        return Ok(Report { json: outcome.json, human: outcome.human });
    }
    prepared.confirm(args.tx.yes)?;

    let lease = if args.hold_lease {
        let (elector, lease) = take_lease(&settings, Duration::from_secs(args.lease_wait_s)).await?;
        eprintln!(
            "holding the election lease (token {}): no bot can write until it is released",
            lease.token
        );
        Some((elector, lease))
    } else {
        None
    };
    let mut raised = None;
    if let Some(highest) = fence {
        let target = fence_target(&settings, highest, lease.as_ref().map(|(_, l)| l.token.0)).await;
        let yes = TxArgs { yes: true, dry_run: false, ..args.tx.clone() };
        let step = chain::prepare(&p, signer.address(), fence_plan(oracle, highest, target), &yes, cap).await;
        let step = match step {
            Ok(step) => step.send(&p, &signer, settings.bot.receipt_timeout).await,
            Err(e) => Err(e),
        };
        if let Err(e) = step {
            if let Some((elector, _)) = &lease {
                let _ = elector.release().await;
            }
            return Err(e);
        }
        eprintln!("raised the oracle's highest fencing token from {highest} to {target}");
        raised = Some((highest, target));
    }
    let sent = prepared.send(&p, &signer, settings.bot.receipt_timeout).await;
    let released = match &lease {
        Some((elector, _)) => Some(elector.release().await.is_ok()),
        None => None,
    };
    let outcome = sent?;
    let after = chain::read_oracle(&p, oracle).await?;
    let mut json = outcome.json;
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("leaseHeld".into(), json!(lease.is_some()));
        map.insert("leaseToken".into(), json!(lease.as_ref().map(|(_, l)| l.token.0)));
        map.insert("leaseReleased".into(), json!(released));
        map.insert(
            "fenceRaised".into(),
            raised.map_or(
                serde_json::Value::Null,
                |(from, to)| json!({ "from": from.to_string(), "to": to.to_string() }),
            ),
        );
        map.insert("after".into(), after.to_json());
    }
    let lease_row = match (&lease, released) {
        (Some((_, l)), Some(true)) => format!("held (token {}) while sending, then released", l.token),
        (Some((_, l)), _) => format!("held (token {}); releasing failed, it runs out on its own", l.token),
        (None, _) => "not taken (running bots may write too; use --hold-lease to hold them off)".into(),
    };
    let fence_row = match raised {
        Some((from, to)) => format!("raised from {from} to {to}: the old term's updates revert"),
        None if before.fenced.is_some() => "not raised (--raise-fence raises it)".into(),
        None => "n/a (plain oracle)".into(),
    };
    let human = format!(
        "{}{}\nOn chain now:\n{}",
        outcome.human,
        pairs(&[("election lease", lease_row), ("fencing token", fence_row)]),
        pairs(&after.rows())
    );
    Ok(Report { json, human })
}

/// The token to raise the fence to: above what the oracle accepted, above the term the backend
/// shows now, and at least the CLI's own lease token.
async fn fence_target(settings: &Settings, highest: U256, lease_token: Option<u64>) -> U256 {
    let mut target = highest.saturating_add(U256::from(1u8));
    if settings.bot.election.is_some()
        && let Ok(admin) = super::leader::admin(settings).await
        && let Ok(Some(leader)) = admin.current_leader().await
    {
        target = target.max(U256::from(leader.token.0).saturating_add(U256::from(1u8)));
    }
    if let Some(token) = lease_token {
        target = target.max(U256::from(token));
    }
    target
}

fn fence_plan(oracle: Address, highest: U256, target: U256) -> TxPlan {
    TxPlan {
        action: format!("setHighestFencingToken({target})"),
        to: Some(oracle),
        input: FencedPriceOracle::setHighestFencingTokenCall { highest: target }.abi_encode().into(),
        rows: vec![("fencing token", format!("{highest} -> {target}"))],
        json: json!({}),
    }
}

fn plan(oracle: Address, before: &chain::OracleState, eth: U256, eliza: U256, origin: &str) -> TxPlan {
    let call = ManualPriceOracle::emergencyPriceUpdateCall { newEthPrice: eth, newElizaPrice: eliza };
    let rows = vec![
        ("oracle", oracle.to_string()),
        ("prices from", origin.to_owned()),
        (
            "ETH/USD",
            format!(
                "${} -> ${}  ({})  raw {} -> {}",
                dollars(before.eth),
                dollars(eth),
                change_pct(before.eth, eth),
                before.eth,
                eth
            ),
        ),
        (
            "elizaOS/USD",
            format!(
                "${} -> ${}  ({})  raw {} -> {}",
                dollars(before.eliza),
                dollars(eliza),
                change_pct(before.eliza, eliza),
                before.eliza,
                eliza
            ),
        ),
    ];
    let json = json!({
        "command": "emergency-update",
        "oracle": oracle.to_string(),
        "pricesFrom": origin,
        "ethUsd": { "old": before.eth.to_string(), "new": eth.to_string(), "newDollars": dollars(eth), "change": change_pct(before.eth, eth) },
        "elizaUsd": { "old": before.eliza.to_string(), "new": eliza.to_string(), "newDollars": dollars(eliza), "change": change_pct(before.eliza, eliza) },
    });
    TxPlan {
        action: format!("emergencyPriceUpdate({eth}, {eliza})"),
        to: Some(oracle),
        input: call.abi_encode().into(),
        rows,
        json,
    }
}
