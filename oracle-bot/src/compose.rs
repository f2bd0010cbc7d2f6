//! Building the engine from a [`BotConfig`]: the same library pieces an embedder would use.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use oracle_alerts::{
    AlertLayer, Channel, DiscordAlerter, MessageContext, RateLimit, TelegramAlerter, TelegramChat,
};
use oracle_core::{
    Alerter, AlwaysLeader, Engine, FeedId, LogAlerter,
    engine::AlertRules,
    evm::{FailoverConfig, FailoverTransport, ManualOracleSubmitter, connect_failover},
};
use oracle_core::{LeaderElector, PriceSource};
use oracle_sources::{ChainlinkSource, FixedPriceSource, Providers};

use crate::{BotConfig, BotError, config::Feeds};

/// The composed bot: the engine and the RPC transports whose counters `/health` reports.
pub struct Composed {
    /// The engine.
    pub engine: Engine,
    /// The source chain's and the target chain's transports.
    pub rpc: Vec<FailoverTransport>,
    /// The target chain's transport (also in `rpc`), for reads outside the engine.
    pub target_rpc: FailoverTransport,
    /// The alerters the engine sends to (the log, and the Telegram/Discord layer when
    /// configured), for alerts raised outside ticks (RPC endpoints down, failovers).
    pub alerters: Vec<Arc<dyn Alerter>>,
    /// The Telegram/Discord layer, when a channel is on (its routing changes on reload).
    pub alert_layer: Option<Arc<AlertLayer>>,
}

impl std::fmt::Debug for Composed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composed")
            .field("engine", &self.engine)
            .field("rpc", &self.rpc)
            .field("alerters", &self.alerters.iter().map(|a| a.name()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The alerters a bot sends to.
pub struct Alerters {
    /// Every alerter: the log, and the layer when a channel is on.
    pub all: Vec<Arc<dyn Alerter>>,
    /// The Telegram/Discord layer, when a channel is on.
    pub layer: Option<Arc<AlertLayer>>,
}

impl std::fmt::Debug for Alerters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerters")
            .field("all", &self.all.iter().map(|a| a.name()).collect::<Vec<_>>())
            .finish()
    }
}

/// The log, plus one [`AlertLayer`] over Telegram and Discord when their old variables are set.
///
/// Each channel is on only with everything it needs: a Telegram token without a chat id (or the
/// reverse) did nothing in the old bot either, so it is a warning, not a start-up failure.
pub fn alerters(config: &BotConfig) -> Result<Alerters, BotError> {
    let settings = &config.alerts;
    let context = MessageContext::new(config.bot_id.clone());
    let channel = |alerter: Arc<dyn Alerter>, min_severity| {
        Channel::new(alerter)
            .min_severity(min_severity)
            .rate_limit(RateLimit { messages: settings.rate_limit_per_min, per: Duration::from_secs(60) })
            .send_timeout(settings.send_timeout)
            .capacity(settings.queue_capacity)
    };
    let mut layer = AlertLayer::builder().reminder_interval(settings.reminder_interval);
    let mut channels = 0;
    match (&config.telegram_bot_token, &config.telegram_chat_id) {
        (Some(token), Some(chat)) => {
            let chat: TelegramChat = chat.parse()?;
            tracing::info!(%chat, api = %settings.telegram_api_url, min_severity = %settings.telegram_min_severity, "alerts go to Telegram");
            let telegram = TelegramAlerter::builder(token.clone(), chat)
                .api_url(settings.telegram_api_url.clone())
                .context(context.clone())
                .build()?;
            layer = layer.channel(channel(Arc::new(telegram), settings.telegram_min_severity));
            channels += 1;
        }
        (Some(_), None) => {
            tracing::warn!("TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is not: no Telegram alerts")
        }
        (None, Some(_)) => {
            tracing::warn!("TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not: no Telegram alerts")
        }
        (None, None) => {}
    }
    if let Some(url) = &config.discord_webhook_url {
        tracing::info!(api = %settings.discord_api_url, min_severity = %settings.discord_min_severity, "alerts go to Discord");
        let discord = DiscordAlerter::builder(url)?
            .api_url(settings.discord_api_url.clone())
            .context(context)
            .build()?;
        layer = layer.channel(channel(Arc::new(discord), settings.discord_min_severity));
        channels += 1;
    }
    let mut out: Vec<Arc<dyn Alerter>> = vec![Arc::new(LogAlerter)];
    let mut handle = None;
    if channels > 0 {
        let layer = Arc::new(layer.build()?);
        // The series exist from the start, so a dashboard shows 0 rather than nothing.
        for name in layer.channel_names() {
            for series in
                [oracle_alerts::SENT_TOTAL, oracle_alerts::FAILURES_TOTAL, oracle_alerts::DROPPED_TOTAL]
            {
                metrics::counter!(series, "channel" => name.clone()).absolute(0);
            }
        }
        handle = Some(Arc::clone(&layer));
        out.push(layer);
    }
    Ok(Alerters { all: out, layer: handle })
}

/// Connects to both chains (each through its ordered endpoint list, failing over), checks the
/// oracle, and composes the engine.
///
/// Fails before any tick when no endpoint of a chain answers or the oracle address holds no
/// oracle.
pub async fn build_engine(config: &BotConfig) -> Result<Composed, BotError> {
    let failover = |chain: &str| failover_config(config, chain);
    let (base, base_rpc) = connect_failover(&config.base_rpc_urls, failover("Base"))?;
    let (jeju, jeju_rpc) = connect_failover(&config.jeju_rpc_urls, failover("Jeju"))?;
    tracing::info!(
        base_endpoints = config.base_rpc_urls.len(),
        jeju_endpoints = config.jeju_rpc_urls.len(),
        "RPC endpoints"
    );

    for (chain, provider, expected, var) in [
        ("Base", &base, config.base_chain_id, "BASE_CHAIN_ID"),
        ("Jeju", &jeju, config.jeju_chain_id, "JEJU_CHAIN_ID"),
    ] {
        check_chain_id(chain, provider, expected, var).await?;
    }

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

    let sources = sources(config, base, &[FeedId::ETH_USD, FeedId::ELIZAOS_USD])?;

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
    let Alerters { all: alerters, layer: alert_layer } = alerters(config)?;
    for alerter in &alerters {
        builder = builder.alerter(Arc::clone(alerter));
    }
    let rules = AlertRules::default()
        .failure_threshold(config.alerts.failure_threshold)
        // With one bot, leading says nothing; among several, a change of leader is news.
        .leadership(config.election.is_some());
    let engine = builder
        .sources(sources)
        .elector(elector)
        .submitter(Arc::new(submitter))
        .alert_rules(rules)
        .policy(config.policy.clone())
        .interval(config.update_interval)
        .retries(config.max_retries as usize, config.retry_delay)
        .receipt_timeout(config.receipt_timeout)
        .build()?;
    Ok(Composed {
        engine,
        target_rpc: jeju_rpc.clone(),
        rpc: vec![base_rpc, jeju_rpc],
        alerters,
        alert_layer,
    })
}

/// The failover settings of `chain`'s transport.
pub(crate) fn failover_config(config: &BotConfig, chain: &str) -> FailoverConfig {
    FailoverConfig {
        request_timeout: config.rpc_timeout,
        total_timeout: config.rpc_total_timeout,
        max_lag_blocks: config.rpc_max_lag_blocks,
        probe_interval: config.rpc_probe_interval,
        ..FailoverConfig::new(chain)
    }
}

/// Checks `chain`'s id when pinned (`expected`, from the setting `var`): a pinned id guards
/// against endpoints of the wrong network (a testnet URL in prod).
pub(crate) async fn check_chain_id(
    chain: &str,
    provider: &alloy::providers::DynProvider,
    expected: Option<u64>,
    var: &'static str,
) -> Result<(), BotError> {
    let Some(want) = expected else { return Ok(()) };
    use alloy::providers::Provider as _;
    let id = provider.get_chain_id().await.map_err(|e| {
        BotError::Target(oracle_core::evm::EvmError::Unreachable {
            chain: chain.to_owned(),
            reason: oracle_core::secret::redact_urls(&e.to_string()),
        })
    })?;
    if id != want {
        return Err(BotError::Config(crate::ConfigError::Invalid {
            var,
            reason: format!("the {chain} endpoints serve chain id {id}, not {want}: check the RPC URLs"),
        }));
    }
    Ok(())
}

/// The price sources of the configuration, read through the source chain's `base` provider;
/// fails when one of `needed` has none.
pub(crate) fn sources(
    config: &BotConfig,
    base: alloy::providers::DynProvider,
    needed: &[FeedId],
) -> Result<BTreeMap<FeedId, Arc<dyn PriceSource>>, BotError> {
    let sources: BTreeMap<FeedId, Arc<dyn PriceSource>> = match &config.feeds {
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
    for feed in needed {
        if !sources.contains_key(feed) {
            return Err(BotError::Config(crate::ConfigError::Invalid {
                var: "FEEDS_CONFIG",
                reason: format!("the oracle stores {feed}, but no source for it is configured"),
            }));
        }
    }
    Ok(sources)
}
