//! `oracle-bot --check-config --online`: what can only be checked by connecting. Reads only;
//! sends nothing and takes no lease.

use alloy::providers::Provider;
use oracle_core::evm::{
    FailoverConfig, ManualOracleSubmitter, bindings::ManualPriceOracle, connect_failover,
};

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

/// A chain's failure: `source chain` and `target chain` keep their names; a configured chain
/// (`chain <name>`) is a `target chain` check naming it in the problem.
fn fail_at(check: &str, problem: impl Into<String>) -> OnlineCheckError {
    match check {
        "source chain" => fail("source chain", problem),
        "target chain" => fail("target chain", problem),
        named => fail("target chain", format!("{named}: {}", problem.into())),
    }
}

/// Runs the checks in order and returns one line per check passed; stops at the first failure.
/// With `[[targets]]`, every chain and every target is checked.
pub async fn check(config: &BotConfig) -> Result<Vec<String>, OnlineCheckError> {
    let mut passed = Vec::new();
    let failover = |chain: &str| FailoverConfig {
        request_timeout: config.rpc_timeout,
        total_timeout: config.rpc_total_timeout,
        ..FailoverConfig::new(chain)
    };
    // (check, chain name, endpoints, expected id) per chain; (label, chain, oracle, key) per target.
    let mut chains =
        vec![("source chain".to_owned(), "Base".to_owned(), &config.base_rpc_urls, config.base_chain_id)];
    let mut targets = Vec::new();
    match &config.targets {
        None => {
            chains.push(("target chain".into(), "Jeju".into(), &config.jeju_rpc_urls, config.jeju_chain_id));
            targets.push((
                String::new(),
                "Jeju".to_owned(),
                config.oracle_address,
                &config.updater_key,
                None,
            ));
        }
        Some(fleet) => {
            for c in &fleet.chains {
                chains.push((format!("chain {}", c.name), c.name.clone(), &c.rpc_urls, c.chain_id));
            }
            for t in &fleet.targets {
                targets.push((
                    format!("target {}: ", t.name),
                    t.chain.clone(),
                    t.oracle_address,
                    &t.updater_key,
                    t.generic.as_ref(),
                ));
            }
        }
    }
    let mut providers = std::collections::HashMap::new();
    for (check, chain, urls, expected) in chains {
        let (provider, _) =
            connect_failover(urls, failover(&chain)).map_err(|e| fail_at(&check, e.to_string()))?;
        let id = provider.get_chain_id().await.map_err(|e| {
            fail_at(
                &check,
                format!("no endpoint answered: {}", oracle_core::secret::redact_urls(&e.to_string())),
            )
        })?;
        match expected {
            Some(want) if want != id => {
                return Err(fail_at(
                    &check,
                    format!(
                        "the endpoints serve chain id {id}, but the configuration expects {want}: check the RPC URLs"
                    ),
                ));
            }
            Some(_) => passed.push(format!("{check}: chain id {id} as configured")),
            None => passed
                .push(format!("{check}: chain id {id} (not pinned; set the chain id setting to check it)")),
        }
        providers.insert(chain, provider);
    }
    for (label, chain, address, key, generic) in targets {
        let Some(provider) = providers.get(&chain).cloned() else {
            return Err(fail("oracle", format!("{label}no chain named {chain:?}")));
        };
        if let Some(generic) = generic {
            // Its getter must answer in its declared shape (what `connect` checks); who may
            // call its update function is the contract's own rule, left to the simulation.
            ManualOracleSubmitter::builder()
                .provider(provider)
                .chain_name(chain.clone())
                .oracle(address)
                .signer(key.signer().clone())
                .generic(generic.clone())
                .connect()
                .await
                .map_err(|e| fail("oracle", format!("{label}{e}")))?;
            passed.push(format!(
                "oracle: {label}{address} answers its getter (generic target, {})",
                generic.function_name()
            ));
            continue;
        }
        let oracle = ManualPriceOracle::new(address, provider);
        let prices = oracle.getPrices().call().await.map_err(|e| {
            fail(
                "oracle",
                format!(
                    "{label}{address} does not answer getPrices() as a ManualPriceOracle: {}",
                    oracle_core::secret::redact_urls(&e.to_string())
                ),
            )
        })?;
        passed.push(format!(
            "oracle: {label}{address} answers getPrices() (ETH/USD {}, elizaOS/USD {}, last update {})",
            prices.ethUsd, prices.elizaUsd, prices.lastUpdate
        ));
        let updater = oracle.priceUpdater().call().await.map_err(|e| {
            fail(
                "oracle",
                format!("{label}priceUpdater() failed: {}", oracle_core::secret::redact_urls(&e.to_string())),
            )
        })?;
        let ours = key.signer().address();
        if updater != ours {
            return Err(fail(
                "updater key",
                format!(
                    "{label}the oracle's priceUpdater is {updater}, but the configured key is {ours}: the bot's updates would revert; have the owner run setPriceUpdater({ours}) or configure that key"
                ),
            ));
        }
        passed.push(format!("updater key: {label}{ours} is the oracle's priceUpdater"));
    }
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
