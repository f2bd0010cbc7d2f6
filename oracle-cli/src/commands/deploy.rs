//! `deploy-oracle`: the runbook's "deploy a new oracle" from the project's own artifacts
//! (`contracts/artifacts`, compiled into `oracle_core::evm::bindings`), without a Foundry script.

use alloy::{
    primitives::Address,
    sol_types::{SolCall as _, SolConstructor as _},
};
use clap::Args;
use oracle_core::evm::bindings::{FencedPriceOracle, ManualPriceOracle};
use serde_json::json;

use crate::{
    CliError, KeyArgs, Report, TxArgs,
    chain::{self, Bounds, TxPlan},
    keys,
    output::{dollars, pairs},
    settings::{Needs, Settings},
};

/// `deploy-oracle` flags.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// The initial ETH/USD price in dollars (e.g. 3245.67).
    #[arg(long, value_name = "USD")]
    pub eth: String,
    /// The initial elizaOS/USD price in dollars (e.g. 0.0842).
    #[arg(long, value_name = "USD")]
    pub elizaos: String,
    /// Deploy the fenced oracle (updates carry the election's fencing token).
    #[arg(long)]
    pub fenced: bool,
    /// The owner (default: the deploying key's address).
    #[arg(long, value_name = "ADDRESS")]
    pub owner: Option<String>,
    /// The updater to set right after deployment (needs the deploying key to be the owner).
    #[arg(long, value_name = "ADDRESS")]
    pub updater: Option<String>,
    /// The deploying key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Simulate-confirm-send switches.
    #[command(flatten)]
    pub tx: TxArgs,
}

fn address(flag: &str, text: &str) -> Result<Address, CliError> {
    text.parse().map_err(|_| {
        CliError::Usage(format!("{flag} {text:?} is not an address: write 0x followed by 40 hex digits"))
    })
}

/// Runs `deploy-oracle`.
pub(crate) async fn run(args: &DeployArgs) -> Result<Report, CliError> {
    let eth = chain::parse_price("--eth", &args.eth)?;
    let eliza = chain::parse_price("--elizaos", &args.elizaos)?;
    Bounds::jeju().check(eth, eliza)?;
    let settings = Settings::load(Needs { oracle_optional: true, ..Needs::default() })?;
    let p = settings.jeju()?;
    let signer = keys::signer(&args.key).await?;
    let owner = args.owner.as_deref().map(|o| address("--owner", o)).transpose()?.unwrap_or(signer.address());
    if owner.is_zero() {
        return Err(CliError::Refused("the zero address cannot own the oracle: give --owner ADDRESS".into()));
    }
    let updater = args.updater.as_deref().map(|u| address("--updater", u)).transpose()?;
    if updater.is_some_and(|u| u.is_zero()) {
        return Err(CliError::Refused(
            "the zero address cannot be the updater: give --updater ADDRESS".into(),
        ));
    }
    if updater.is_some() && owner != signer.address() {
        return Err(CliError::Refused(format!(
            "only the owner can set the updater, and the owner ({owner}) is not the deploying key ({}): deploy without --updater and let the owner run `oracle-cli set-updater`",
            signer.address()
        )));
    }
    let (kind, mut code) = if args.fenced {
        ("FencedPriceOracle", FencedPriceOracle::BYTECODE.to_vec())
    } else {
        ("ManualPriceOracle", ManualPriceOracle::BYTECODE.to_vec())
    };
    code.extend(
        ManualPriceOracle::constructorCall {
            initialEthPrice: eth,
            initialElizaPrice: eliza,
            initialOwner: owner,
        }
        .abi_encode(),
    );
    let plan = TxPlan {
        action: format!("deploy {kind}(${}, ${}, owner {owner})", dollars(eth), dollars(eliza)),
        to: None,
        input: code.into(),
        rows: vec![
            ("contract", kind.to_owned()),
            ("ETH/USD", format!("${}  (raw {eth})", dollars(eth))),
            ("elizaOS/USD", format!("${}  (raw {eliza})", dollars(eliza))),
            ("owner", owner.to_string()),
            (
                "updater",
                updater.map_or("not set (the owner sets it with `oracle-cli set-updater`)".into(), |u| {
                    u.to_string()
                }),
            ),
        ],
        json: json!({
            "command": "deploy-oracle",
            "contract": kind,
            "ethUsd": eth.to_string(),
            "elizaUsd": eliza.to_string(),
            "owner": owner.to_string(),
            "updater": updater.map(|u| u.to_string()),
        }),
    };
    let cap = settings.bot.policy.max_fee_per_gas();
    let outcome = chain::execute(&p, &signer, plan, &args.tx, cap, settings.bot.receipt_timeout).await?;
    let Some(mined) = outcome.mined else {
        return Ok(Report { json: outcome.json, human: outcome.human });
    };
    let oracle = mined.contract.ok_or_else(|| {
        CliError::Transaction(format!("{} deployed nothing (no contract address in the receipt)", mined.hash))
    })?;
    let mut json = outcome.json;
    let mut human = outcome.human;
    if let Some(updater) = updater {
        let set = TxPlan {
            action: format!("setPriceUpdater({updater})"),
            to: Some(oracle),
            input: ManualPriceOracle::setPriceUpdaterCall { updater }.abi_encode().into(),
            rows: vec![("oracle", oracle.to_string())],
            json: json!({}),
        };
        // The deployment was confirmed with the updater in its plan: no second question.
        let yes = crate::TxArgs { yes: true, ..args.tx.clone() };
        let done = chain::execute(&p, &signer, set, &yes, cap, settings.bot.receipt_timeout).await?;
        if let serde_json::Value::Object(map) = &mut json {
            map.insert("setUpdater".into(), done.json);
        }
        human.push_str(&done.human);
    }
    let state = chain::read_oracle(&p, oracle).await?;
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("address".into(), json!(oracle.to_string()));
        map.insert("after".into(), state.to_json());
        map.insert("botSettings".into(), json!({ "ORACLE_ADDRESS": oracle.to_string() }));
    }
    human.push_str(&format!(
        "\nDeployed {kind} at {oracle}.\n\nThe bots need:\n{}",
        pairs(&[
            ("ORACLE_ADDRESS", oracle.to_string()),
            ("JEJU_RPC_URLS", "the endpoints this command used".into()),
            (
                "PRICE_UPDATER_PRIVATE_KEY",
                format!(
                    "the key of {}",
                    if state.updater.is_zero() {
                        "the updater, once set".to_owned()
                    } else {
                        state.updater.to_string()
                    }
                ),
            ),
        ])
    ));
    Ok(Report { json, human })
}
