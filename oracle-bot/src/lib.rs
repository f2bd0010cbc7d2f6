//! The oracle-updater daemon, as a library: configuration from the old bot's environment
//! variables, the engine composed from the workspace's crates, and the `/health` and `/metrics`
//! endpoints. The `oracle-bot` binary is a thin `main` around [`run`].
//!
//! ```no_run
//! use oracle_bot::{BotConfig, run};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), oracle_bot::BotError> {
//! let config = BotConfig::from_env()?;
//! let cancel = CancellationToken::new();
//! run(config, cancel).await
//! # }
//! ```

// Dev-dependencies of the integration tests (tests/it), not of the unit tests.
#[cfg(test)]
use proptest as _;

mod compose;
mod config;
pub mod daemon;
pub mod fleet;
pub mod health;
pub mod health_targets;
pub mod http;
mod lock_scope;
pub mod online;
mod rpc_alerts;
pub mod settings;
pub mod targets;

use std::{net::SocketAddr, sync::Arc};

use metrics_exporter_prometheus::PrometheusBuilder;
use tokio_util::sync::CancellationToken;

pub use self::{
    compose::{Composed, alerters, build_engine},
    config::{
        AlertSettings, BASE_CHAINLINK_ETH_USD, BotConfig, ConfigError, DEFAULT_STATE_DIR, ElectionSettings,
        Feeds, Secret, UpdaterKey,
    },
    lock_scope::{file_election_warning, file_lock_isolation},
};

/// Why the bot could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The configuration is wrong.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The target chain or contract is unusable.
    #[error("{0}")]
    Target(#[from] oracle_core::evm::EvmError),
    /// The leader elector could not be set up.
    #[error("leader election: {0}")]
    Election(#[from] oracle_election::ElectionError),
    /// A price source could not be built.
    #[error("sources: {0}")]
    Sources(#[from] oracle_sources::Error),
    /// The engine could not be composed.
    #[error("engine: {0}")]
    Engine(#[from] oracle_core::EngineError),
    /// An alert channel could not be set up.
    #[error("alerts: {0}")]
    Alerts(#[from] oracle_alerts::Error),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The endpoints' address could not be bound.
    #[error("cannot serve /health on {addr}: {reason}")]
    Health {
        /// The address (`HEALTH_BIND_ADDR`, `HEALTH_CHECK_PORT`).
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Runs the bot until `cancel` fires: composes the engine, serves `/health`, `/ready` and
/// `/metrics`, and ticks; on cancellation it releases leadership and stops the server.
pub async fn run(config: BotConfig, cancel: CancellationToken) -> Result<(), BotError> {
    run_with(config, cancel, Arc::new(tokio::sync::OnceCell::new())).await
}

/// The parts of a running bot a configuration reload changes.
#[derive(Debug, Clone)]
pub struct Running {
    /// The engines (policy and interval): the single target's, or one per target with its
    /// policy overrides (applied again over the reloaded policy).
    pub engines: Vec<(Arc<oracle_core::Engine>, targets::PolicyOverrides)>,
    /// The alert layer (each channel's routing), when a channel is on.
    pub alert_layer: Option<Arc<oracle_alerts::AlertLayer>>,
}

/// [`run`], handing the engine to `engine` once composed (for configuration reloads).
pub async fn run_with(
    config: BotConfig,
    cancel: CancellationToken,
    engine_slot: Arc<tokio::sync::OnceCell<Running>>,
) -> Result<(), BotError> {
    match &config.targets {
        None => {
            tracing::info!(bot_id = %config.bot_id, oracle = %config.oracle_address, updater = %config.updater_key.signer().address(), "starting oracle bot")
        }
        Some(t) => {
            tracing::info!(bot_id = %config.bot_id, targets = t.targets.len(), chains = t.chains.len(), "starting oracle bot")
        }
    }
    // This process's own facts (its environment, mounts and files), whatever the configuration
    // was read from.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok();
    if let Some(warning) =
        file_election_warning(&config, &|k| std::env::var(k).ok(), mountinfo.as_deref(), &|p| p.exists())
    {
        tracing::warn!(bot_id = %config.bot_id, "{warning}");
    }
    let metrics = PrometheusBuilder::new()
        .add_global_label("bot_id", config.bot_id.clone())
        .install_recorder()
        .map_err(|e| BotError::Metrics(e.to_string()))?;
    // Series the old dashboards expect exist from the start, even before their first event.
    let chains: Vec<String> = match &config.targets {
        None => vec!["Jeju".to_owned()],
        Some(t) => t.chains.iter().map(|c| c.name.clone()).collect(),
    };
    for chain in std::iter::once("Base".to_owned()).chain(chains) {
        metrics::counter!("oracle_rpc_failover_total", "chain" => chain).absolute(0);
    }
    metrics::counter!(oracle_core::engine::metrics::TOTAL_UPDATES).absolute(0);
    metrics::counter!(oracle_core::engine::metrics::UPDATE_FAILURES).absolute(0);
    metrics::counter!(oracle_core::engine::metrics::LEADER_ELECTION_FAILURES).absolute(0);
    metrics::counter!(oracle_core::engine::metrics::LEADER_CHANGES).absolute(0);
    oracle_core::engine::metrics::describe();
    oracle_core::evm::describe_metrics();
    oracle_alerts::describe_metrics();

    if let Some(targets) = &config.targets {
        return fleet::run(&config, targets, metrics, cancel, engine_slot).await;
    }
    let Composed { engine, rpc, alerters, alert_layer, .. } = build_engine(&config).await?;
    let engine = Arc::new(engine);
    let _ = engine_slot.set(Running {
        engines: vec![(Arc::clone(&engine), targets::PolicyOverrides::default())],
        alert_layer,
    });
    // Every endpoint of a chain down, and failovers, are seen by the transports, not by ticks.
    tokio::spawn(rpc_alerts::watch(
        rpc.clone(),
        alerters,
        config.bot_id.clone(),
        config.rpc_probe_interval,
        cancel.clone(),
    ));
    let rules = health::HealthRules::from_config(&config);
    tokio::spawn(health::log_follower_staleness(engine.status(), rules.stale_after));
    let server = if config.enable_health_check {
        let source = health::HealthSource { status: engine.status(), rules };
        let addr = SocketAddr::new(config.health_bind_addr, config.health_check_port);
        let router = health::router(source, rpc, metrics);
        let (bound, task) = http::serve(addr, router, cancel.clone())
            .await
            .map_err(|e| BotError::Health { addr, reason: e.to_string() })?;
        tracing::info!(%bound, "serving /health and /metrics (and /ready)");
        Some(task)
    } else {
        None
    };
    engine.run(cancel.clone()).await;
    cancel.cancel();
    if let Some(task) = server {
        let _ = task.await;
    }
    Ok(())
}
