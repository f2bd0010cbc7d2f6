//! `paused`, `pause`, `unpause`: the old runbook calls them; the deployed contract has none. The
//! command finds out from the contract itself (its code and a call) and says so plainly, with
//! what the contract offers instead; it never prints a raw revert.

use alloy::{
    primitives::{Address, Bytes, keccak256},
    providers::{DynProvider, Provider as _},
    rpc::types::TransactionRequest,
};
use serde_json::json;

use crate::{
    CliError, Report,
    settings::{Needs, Settings},
};

/// Which of the three was asked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Asked {
    Paused,
    Pause,
    Unpause,
}

impl Asked {
    fn signature(self) -> &'static str {
        match self {
            Self::Paused => "paused()",
            Self::Pause => "pause()",
            Self::Unpause => "unpause()",
        }
    }
}

const INSTEAD: &str = "what it offers instead: to stop the bots' updates, rotate the updater to a key no bot holds \
(`oracle-cli set-updater ADDRESS`) or stop the bots; to correct a price, `oracle-cli emergency-update`; \
readers can check freshness with getPrices()/isPriceFresh() (`oracle-cli status`)";

/// Whether the contract's code dispatches on `signature`'s selector (a `PUSH4 selector` in its
/// dispatcher), and what a call of it answers.
async fn has_function(
    p: &DynProvider,
    oracle: Address,
    signature: &str,
) -> Result<(bool, Option<Bytes>), CliError> {
    let selector = &keccak256(signature.as_bytes())[..4];
    let code = p.get_code_at(oracle).await.map_err(|e| CliError::rpc("cannot read the oracle's code", e))?;
    if code.is_empty() {
        return Err(CliError::Usage(format!(
            "no contract at {oracle}: check ORACLE_ADDRESS and JEJU_RPC_URLS"
        )));
    }
    let mut push4 = vec![0x63u8];
    push4.extend_from_slice(selector);
    let in_code = code.windows(push4.len()).any(|w| w == push4.as_slice());
    let req = TransactionRequest::default().to(oracle).input(Bytes::copy_from_slice(selector).into());
    let answer = p.call(req).await.ok();
    Ok((in_code, answer))
}

/// Runs `paused`, `pause` or `unpause`.
pub(crate) async fn run(asked: Asked) -> Result<Report, CliError> {
    let settings = Settings::load(Needs::default())?;
    let p = settings.jeju()?;
    let oracle = settings.bot.oracle_address;
    let signature = asked.signature();
    let (in_code, answer) = has_function(&p, oracle, signature).await?;
    match (asked, in_code, answer) {
        (Asked::Paused, true, Some(data)) if data.len() == 32 => {
            let paused = data.iter().any(|b| *b != 0);
            Ok(Report {
                json: json!({ "command": "paused", "oracle": oracle.to_string(), "function": signature, "exists": true, "paused": paused }),
                human: format!("{oracle} paused(): {paused}\n"),
            })
        }
        (_, true, _) => Err(CliError::Unsupported(format!(
            "the oracle at {oracle} seems to have {signature}, but this tool does not send it: it is not part of \
             the ManualPriceOracle interface this project drives; {INSTEAD}"
        ))),
        _ => Err(CliError::Unsupported(format!(
            "the oracle at {oracle} has no {signature} function: this contract (ManualPriceOracle) cannot be paused \
             or unpaused, whatever the old runbook says; {INSTEAD}"
        ))),
    }
}
