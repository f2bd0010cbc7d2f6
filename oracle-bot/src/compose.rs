//! Building the engine from a [`BotConfig`]: the same library pieces an embedder would use.

use std::sync::Arc;

use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter,
    evm::{self, ManualOracleSubmitter},
};
use oracle_sources::{ChainlinkSource, FixedPriceSource};

use crate::{BotConfig, BotError};

/// Connects to both chains, checks the oracle, and composes the engine.
///
/// Fails before any tick when a chain is unreachable or the oracle address holds no oracle.
pub async fn build_engine(config: &BotConfig) -> Result<Engine, BotError> {
    // Endpoint failover across the whole list arrives with the RPC layer; until then the first
    // endpoint of each list is used, and the log says so.
    let [base_url, ..] = config.base_rpc_urls.as_slice() else {
        return Err(BotError::Config(crate::ConfigError::Missing {
            var: "BASE_RPC_URLS",
            hint: String::new(),
        }));
    };
    let [jeju_url, ..] = config.jeju_rpc_urls.as_slice() else {
        return Err(BotError::Config(crate::ConfigError::Missing {
            var: "JEJU_RPC_URLS",
            hint: String::new(),
        }));
    };
    let base = evm::connect(base_url, config.rpc_timeout)?;
    let jeju = evm::connect(jeju_url, config.rpc_timeout)?;
    tracing::info!(base = %base_url, jeju = %jeju_url, "RPC endpoints");
    for (chain, urls) in [("Base", &config.base_rpc_urls), ("Jeju", &config.jeju_rpc_urls)] {
        if urls.len() > 1 {
            tracing::warn!(
                chain,
                unused = urls.len() - 1,
                "only the first {chain} RPC endpoint is used in this release"
            );
        }
    }

    let submitter = ManualOracleSubmitter::builder()
        .provider(jeju)
        .chain_name("Jeju")
        .oracle(config.oracle_address)
        .signer(config.updater_key.signer().clone())
        .fee_multiplier_permille(config.gas_price_multiplier_permille)
        .stuck_after(config.stuck_after)
        .stuck_blocks(config.stuck_blocks)
        .connect()
        .await?;

    let eth_source =
        ChainlinkSource::new(base, config.chainlink_eth_usd, FeedId::ETH_USD, config.chainlink_max_age);
    let eliza_price = config.elizaos_fixed_price;
    tracing::warn!(price = %eliza_price, "elizaOS/USD comes from ELIZAOS_FIXED_PRICE_USD, a fixed value, not a market price");
    let eliza_source = FixedPriceSource::new(FeedId::ELIZAOS_USD, eliza_price);

    if config.leader_election_enabled {
        tracing::warn!(
            "LEADER_ELECTION_ENABLED=true, but this release has no elector yet: running as the only leader"
        );
    }
    Ok(Engine::builder()
        .source(FeedId::ETH_USD, Arc::new(eth_source))
        .source(FeedId::ELIZAOS_USD, Arc::new(eliza_source))
        .elector(Arc::new(AlwaysLeader::new(config.bot_id.clone())))
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(config.policy.clone())
        .interval(config.update_interval)
        .retries(config.max_retries as usize, config.retry_delay)
        .receipt_timeout(config.receipt_timeout)
        .build()?)
}
