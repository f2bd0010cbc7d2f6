//! Building the engine from a [`BotConfig`]: the same library pieces an embedder would use.

use std::sync::Arc;

use oracle_core::{
    AlwaysLeader, Engine, FeedId, LogAlerter,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, connect_failover},
};
use oracle_core::{LeaderElector, PriceSource};
use oracle_sources::{ChainlinkSource, FixedPriceSource, Providers};

use crate::{BotConfig, BotError, config::Feeds};

/// The composed bot: the engine and the RPC transports whose counters `/health` reports.
#[derive(Debug)]
pub struct Composed {
    /// The engine.
    pub engine: Engine,
    /// The source chain's and the target chain's transports.
    pub rpc: Vec<FailoverTransport>,
    /// The target chain's transport (also in `rpc`), for reads outside the engine.
    pub target_rpc: FailoverTransport,
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
        .journal_dir(&config.state_dir)
        .connect()
        .await?;

    let sources = match &config.feeds {
        Feeds::File { path, config: feeds } => {
            tracing::info!(path = %path.display(), "feeds from FEEDS_CONFIG");
            feeds.build(&Providers::new(base))?
        }
        Feeds::JejuDefaults(defaults) => defaults.build(&Providers::new(base))?,
        Feeds::FixedEliza { chainlink, max_age, sequencer, price } => {
            tracing::warn!(price = %price, "elizaOS/USD comes from ELIZAOS_FIXED_PRICE_USD, a fixed value, not a market price");
            let mut eth = ChainlinkSource::new(base, *chainlink, FeedId::ETH_USD, *max_age);
            if let Some((feed, grace)) = sequencer {
                eth = eth.with_sequencer_uptime_feed(*feed, *grace);
            }
            let eth: Arc<dyn PriceSource> = Arc::new(eth);
            let eliza: Arc<dyn PriceSource> = Arc::new(FixedPriceSource::new(FeedId::ELIZAOS_USD, *price));
            [(FeedId::ETH_USD, eth), (FeedId::ELIZAOS_USD, eliza)].into_iter().collect()
        }
    };
    for feed in [FeedId::ETH_USD, FeedId::ELIZAOS_USD] {
        if !sources.contains_key(&feed) {
            return Err(BotError::Config(crate::ConfigError::Invalid {
                var: "FEEDS_CONFIG",
                reason: format!("the oracle stores {feed}, but no source for it is configured"),
            }));
        }
    }

    let mut builder = Engine::builder();
    let elector: Arc<dyn LeaderElector> = match &config.election {
        None => Arc::new(AlwaysLeader::new(config.bot_id.clone())),
        Some(election) => {
            tracing::info!(backend = %election.elector.describe(), lease = ?election.lease, "leader election on");
            builder = builder
                .health_gate(election.max_target_failures, election.backoff)
                .lease_margin(election.lease.action_margin());
            election.elector.connect(&config.bot_id, election.lease).await?
        }
    };
    let engine = builder
        .sources(sources)
        .elector(elector)
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        .policy(config.policy.clone())
        .interval(config.update_interval)
        .retries(config.max_retries as usize, config.retry_delay)
        .receipt_timeout(config.receipt_timeout)
        .build()?;
    Ok(Composed { engine, target_rpc: jeju_rpc.clone(), rpc: vec![base_rpc, jeju_rpc] })
}
