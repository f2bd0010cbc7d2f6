//! `set-updater`: the owner rotates the updater key (`setPriceUpdater`).

use alloy::{primitives::Address, sol_types::SolCall as _};
use clap::Args;
use oracle_core::evm::bindings::ManualPriceOracle;
use serde_json::json;

use crate::{
    CliError, KeyArgs, Report, TxArgs,
    chain::{self, TxPlan},
    keys,
    output::pairs,
    settings::{Needs, Settings},
};

/// `set-updater` flags.
#[derive(Debug, Clone, Args)]
pub struct SetUpdaterArgs {
    /// The new updater's address (the bots' new PRICE_UPDATER_PRIVATE_KEY's address).
    #[arg(value_name = "ADDRESS")]
    pub updater: String,
    /// The owner's key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Simulate-confirm-send switches.
    #[command(flatten)]
    pub tx: TxArgs,
}

/// Runs `set-updater`.
pub(crate) async fn run(args: &SetUpdaterArgs) -> Result<Report, CliError> {
    let new: Address = args.updater.parse().map_err(|_| {
        CliError::Usage(format!(
            "{:?} is not an address: give the new updater as 0x followed by 40 hex digits",
            args.updater
        ))
    })?;
    if new.is_zero() {
        return Err(CliError::Refused(
            "the zero address cannot be the updater (the contract refuses it): give the new updater's address".into(),
        ));
    }
    let settings = Settings::load(Needs::default())?;
    let p = settings.jeju()?;
    let oracle = settings.bot.oracle_address;
    let before = chain::read_oracle(&p, oracle).await?;
    let signer = keys::signer(&args.key).await?;
    if signer.address() != before.owner {
        return Err(CliError::NotOwner {
            signer: signer.address(),
            owner: before.owner,
            action: "change the updater",
        });
    }
    if before.updater == new {
        return Err(CliError::Refused(format!("{new} already is the updater: nothing to do")));
    }
    let plan = TxPlan {
        action: format!("setPriceUpdater({new})"),
        to: Some(oracle),
        input: ManualPriceOracle::setPriceUpdaterCall { updater: new }.abi_encode().into(),
        rows: vec![("oracle", oracle.to_string()), ("updater", format!("{} -> {new}", before.updater))],
        json: json!({
            "command": "set-updater",
            "oracle": oracle.to_string(),
            "oldUpdater": before.updater.to_string(),
            "newUpdater": new.to_string(),
        }),
    };
    let outcome = chain::execute(
        &p,
        &signer,
        plan,
        &args.tx,
        settings.bot.policy.max_fee_per_gas(),
        settings.bot.receipt_timeout,
    )
    .await?;
    if outcome.mined.is_none() {
        return Ok(Report { json: outcome.json, human: outcome.human });
    }
    let after = chain::read_oracle(&p, oracle).await?;
    let mut json = outcome.json;
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("after".into(), after.to_json());
    }
    let human = format!(
        "{}{}",
        outcome.human,
        pairs(&[
            ("updater now", after.updater.to_string()),
            (
                "next",
                "restart the bots with the new PRICE_UPDATER_PRIVATE_KEY; the old key can no longer update"
                    .into()
            ),
        ])
    );
    Ok(Report { json, human })
}
