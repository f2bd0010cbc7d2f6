//! `oracle-bot --check-config --online`: what can only be checked by connecting. Reads only;
//! sends nothing and takes no lease.

use alloy::providers::Provider;
use oracle_core::evm::{FailoverConfig, bindings::ManualPriceOracle, connect_failover};

use crate::BotConfig;

/// Why an online check failed: the check and what was found, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
#[error("{check}: {problem}")]
pub struct OnlineCheckError {
    /// The check (`source chain`, `target chain`, `oracle`, `updater key`, `election backend`).
    pub check: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

fn fail(check: &'static str, problem: impl Into<String>) -> OnlineCheckError {
    OnlineCheckError { check, problem: problem.into() }
}

/// Runs the checks in order and returns one line per check passed; stops at the first failure.
pub async fn check(config: &BotConfig) -> Result<Vec<String>, OnlineCheckError> {
    let mut passed = Vec::new();
    let failover = |chain: &str| FailoverConfig {
        request_timeout: config.rpc_timeout,
        total_timeout: config.rpc_total_timeout,
        ..FailoverConfig::new(chain)
    };
    for (check, urls, expected, chain) in [
        ("source chain", &config.base_rpc_urls, config.base_chain_id, "Base"),
        ("target chain", &config.jeju_rpc_urls, config.jeju_chain_id, "Jeju"),
    ] {
        let (provider, _) =
            connect_failover(urls, failover(chain)).map_err(|e| fail(check, e.to_string()))?;
        let id = provider.get_chain_id().await.map_err(|e| {
            fail(check, format!("no endpoint answered: {}", oracle_core::secret::redact_urls(&e.to_string())))
        })?;
        match expected {
            Some(want) if want != id => {
                return Err(fail(
                    check,
                    format!(
                        "the endpoints serve chain id {id}, but the configuration expects {want}: check the RPC URLs"
                    ),
                ));
            }
            Some(_) => passed.push(format!("{check}: chain id {id} as configured")),
            None => passed
                .push(format!("{check}: chain id {id} (not pinned; set the chain id setting to check it)")),
        }
    }
    let (target, _) = connect_failover(&config.jeju_rpc_urls, failover("Jeju"))
        .map_err(|e| fail("target chain", e.to_string()))?;
    let oracle = ManualPriceOracle::new(config.oracle_address, target);
    let prices = oracle.getPrices().call().await.map_err(|e| {
        fail(
            "oracle",
            format!(
                "{} does not answer getPrices() as a ManualPriceOracle: {}",
                config.oracle_address,
                oracle_core::secret::redact_urls(&e.to_string())
            ),
        )
    })?;
    passed.push(format!(
        "oracle: {} answers getPrices() (ETH/USD {}, elizaOS/USD {}, last update {})",
        config.oracle_address, prices.ethUsd, prices.elizaUsd, prices.lastUpdate
    ));
    let updater = oracle.priceUpdater().call().await.map_err(|e| {
        fail("oracle", format!("priceUpdater() failed: {}", oracle_core::secret::redact_urls(&e.to_string())))
    })?;
    let ours = config.updater_key.signer().address();
    if updater != ours {
        return Err(fail(
            "updater key",
            format!(
                "the oracle's priceUpdater is {updater}, but the configured key is {ours}: the bot's updates would revert; have the owner run setPriceUpdater({ours}) or configure that key"
            ),
        ));
    }
    passed.push(format!("updater key: {ours} is the oracle's priceUpdater"));
    match &config.election {
        None => passed.push("election backend: election off (a single bot)".into()),
        Some(election) => {
            let probe = format!("{}-check-config", config.bot_id);
            let elector = election
                .elector
                .connect(&probe, election.lease)
                .await
                .map_err(|e| fail("election backend", e.to_string()))?;
            let leader =
                elector.current_leader().await.map_err(|e| fail("election backend", e.to_string()))?;
            passed.push(format!(
                "election backend: {} answers; leader now: {}",
                election.elector.describe(),
                leader.map_or_else(|| "none".to_owned(), |l| format!("{l:?}"))
            ));
        }
    }
    Ok(passed)
}
