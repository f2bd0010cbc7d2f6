//! Building the engine from a [`BotConfig`]: the same library pieces an embedder would use.

use std::sync::Arc;

use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, connect_failover},
};
use oracle_sources::{ChainlinkSource, FixedPriceSource};

use crate::{BotConfig, BotError};

/// The composed bot: the engine and the RPC transports whose counters `/health` reports.
#[derive(Debug)]
pub struct Composed {
    /// The engine.
    pub engine: Engine,
    /// The source chain's and the target chain's transports.
    pub rpc: Vec<FailoverTransport>,
}

/// Connects to both chains (each through its ordered endpoint list, failing over), checks the
/// oracle, and composes the engine.
///
/// Fails before any tick when no endpoint of a chain answers or the oracle address holds no
/// oracle.
pub async fn build_engine(config: &BotConfig) -> Result<Composed, BotError> {
    let failover = |chain: &str| FailoverConfig {
        request_timeout: config.rpc_timeout,
        total_timeout: config.rpc_total_timeout,
        max_lag_blocks: config.rpc_max_lag_blocks,
        probe_interval: config.rpc_probe_interval,
        ..FailoverConfig::new(chain)
    };
    let (base, base_rpc) = connect_failover(&config.base_rpc_urls, failover("Base"))?;
    let (jeju, jeju_rpc) = connect_failover(&config.jeju_rpc_urls, failover("Jeju"))?;
    tracing::info!(
        base_endpoints = config.base_rpc_urls.len(),
        jeju_endpoints = config.jeju_rpc_urls.len(),
        "RPC endpoints"
    );

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
    let engine = Engine::builder()
        .source(FeedId::ETH_USD, Arc::new(eth_source))
        .source(FeedId::ELIZAOS_USD, Arc::new(eliza_source))
        .elector(Arc::new(AlwaysLeader::new(config.bot_id.clone())))
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(config.policy.clone())
        .interval(config.update_interval)
        .retries(config.max_retries as usize, config.retry_delay)
        .receipt_timeout(config.receipt_timeout)
        .build()?;
    Ok(Composed { engine, rpc: vec![base_rpc, jeju_rpc] })
}
