//! Many targets in one bot (the file's `[[chains]]` and `[[targets]]`): one failover transport per
//! chain, shared by its targets; the price sources shared by every target through `OncePerTick`
//! (a price read once per round serves them all); one engine per target, labelled with its
//! `target` and `chain`, electing under its own key within the bot's fair share of the fleet
//! (`oracle_election::share`); all of them ticked together by `oracle_core::Targets`.
//!
//! The wiring is the one `examples/many_targets.rs` shows, composed from the configuration.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::Arc,
};

use alloy::primitives::Address;
use oracle_alerts::AlertLayer;
use oracle_core::{
    Alerter, AlwaysLeader, Engine, FeedId, LeaderElector, PriceSource, Targets,
    engine::AlertRules,
    evm::{FailoverTransport, ManualOracleSubmitter, NonceLane, connect_failover},
};
use oracle_election::{
    ElectorConfig,
    share::{Membership, Share, SharedElector},
};
use oracle_sources::OncePerTick;

use crate::{
    BotConfig, BotError, ConfigError, ElectionSettings,
    compose::{Alerters, alerters, check_chain_id, failover_config, sources},
    targets::{PolicyOverrides, TargetsConfig},
};

/// One target's engine and what the bot keeps of its configuration.
#[derive(Debug, Clone)]
pub struct TargetEngine {
    /// The target's name.
    pub name: String,
    /// Its chain's name.
    pub chain: String,
    /// Its engine.
    pub engine: Arc<Engine>,
    /// Its policy overrides, applied again over the bot's policy on reload.
    pub overrides: PolicyOverrides,
}

/// The composed targets.
pub struct ComposedTargets {
    /// Every target's engine, ticked together.
    pub targets: Targets,
    /// The same engines, in the file's order, with their names and chains.
    pub engines: Vec<TargetEngine>,
    /// The source chain's transport, then one per chain in the file's order.
    pub rpc: Vec<FailoverTransport>,
    /// The bot's share of the fleet, when election is on.
    pub share: Option<Arc<Share>>,
    /// The alerters every engine sends to.
    pub alerters: Vec<Arc<dyn Alerter>>,
    /// The Telegram/Discord layer, when a channel is on.
    pub alert_layer: Option<Arc<AlertLayer>>,
}

impl std::fmt::Debug for ComposedTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposedTargets")
            .field("targets", &self.targets)
            .field("rpc", &self.rpc)
            .finish_non_exhaustive()
    }
}

/// The election key of target `name` under the bot's backend, and the fleet's membership.
///
/// Keys are derived from the configured ones so that fleets sharing a backend stay apart as
/// they do with one target: Redis `<prefix>:target:<name>` and `<prefix>:fleet`, etcd
/// `<election>/target/<name>` and `<election>/fleet`, lock files `<path>.<name>` and the
/// membership directory `<path>.fleet`. The `target`/`fleet` infixes keep a target named
/// `member` or `fleet` from colliding with the membership keys.
fn target_elector(config: &ElectorConfig, name: &str) -> Result<ElectorConfig, BotError> {
    Ok(match config {
        ElectorConfig::File { path } => ElectorConfig::File { path: suffixed(path, name) },
        ElectorConfig::Redis { url, key_prefix } => {
            ElectorConfig::Redis { url: url.clone(), key_prefix: format!("{key_prefix}:target:{name}") }
        }
        ElectorConfig::Etcd(etcd) => {
            let mut etcd = etcd.clone();
            etcd.election = format!("{}/target/{name}", etcd.election);
            ElectorConfig::Etcd(etcd)
        }
        other => return Err(unsupported(other)),
    })
}

fn membership(election: &ElectionSettings, bot_id: &str) -> Result<Membership, BotError> {
    let ttl = election.lease.duration();
    Ok(match &election.elector {
        ElectorConfig::File { path } => Membership::file(suffixed(path, "fleet"), bot_id, ttl),
        ElectorConfig::Redis { url, key_prefix } => {
            Membership::redis(url, &format!("{key_prefix}:fleet"), bot_id, ttl)?
        }
        // The same endpoints, user and TLS as the elector's.
        ElectorConfig::Etcd(etcd) => {
            Membership::etcd_with(etcd, &format!("{}/fleet", etcd.election), bot_id, ttl)?
        }
        other => return Err(unsupported(other)),
    })
}

fn suffixed(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

fn unsupported(config: &ElectorConfig) -> BotError {
    BotError::Config(ConfigError::Invalid {
        var: "LEADER_ELECTION_BACKEND",
        reason: format!("{} cannot elect per target", config.describe()),
    })
}

/// Connects every chain, checks every oracle, and composes one engine per target.
///
/// Fails before any tick when no endpoint of a chain answers, a chain serves another chain id
/// than pinned, or an address holds no oracle.
pub async fn build_targets(config: &BotConfig, targets: &TargetsConfig) -> Result<ComposedTargets, BotError> {
    let (base, base_rpc) = connect_failover(&config.base_rpc_urls, failover_config(config, "Base"))?;
    check_chain_id("Base", &base, config.base_chain_id, "BASE_CHAIN_ID").await?;
    let mut rpc = vec![base_rpc];
    // One transport (and provider) per chain: its targets share its endpoints' health and
    // failover state, and the chain is probed once, not once per target.
    let mut providers = BTreeMap::new();
    for chain in &targets.chains {
        let (provider, transport) = connect_failover(&chain.rpc_urls, failover_config(config, &chain.name))?;
        check_chain_id(&chain.name, &provider, chain.chain_id, "[[chains]] chain_id").await?;
        tracing::info!(chain = %chain.name, endpoints = chain.rpc_urls.len(), "RPC endpoints");
        providers.insert(chain.name.clone(), provider);
        rpc.push(transport);
    }

    let needed: BTreeSet<FeedId> = targets.targets.iter().flat_map(|t| t.feeds.iter().cloned()).collect();
    let needed: Vec<FeedId> = needed.into_iter().collect();
    // One `OncePerTick` per feed, shared by every target that stores it: a round reads each
    // feed once, whatever the number of targets.
    let shared: BTreeMap<FeedId, Arc<dyn PriceSource>> = sources(config, base, &needed)?
        .into_iter()
        .map(|(feed, source)| (feed, Arc::new(OncePerTick::new(source)) as Arc<dyn PriceSource>))
        .collect();

    let share = match &config.election {
        None => None,
        Some(election) => {
            tracing::info!(
                backend = %election.elector.describe(), lease = ?election.lease, targets = targets.targets.len(),
                slack = targets.fleet_slack, "leader election per target, within the bot's fair share"
            );
            let members = membership(election, &config.bot_id)?;
            // The fair share counts election units: a key shared on a chain is one unit.
            let units = election_units(targets).values().collect::<BTreeSet<_>>().len();
            Some(Share::new(Arc::new(members), units, targets.fleet_slack))
        }
    };
    let lanes = nonce_lanes(targets);
    let units = election_units(targets);
    let mut unit_electors: BTreeMap<String, Arc<dyn LeaderElector>> = BTreeMap::new();

    let Alerters { all: alerters, layer: alert_layer } = alerters(config)?;
    let rules = AlertRules::default()
        .failure_threshold(config.alerts.failure_threshold)
        .leadership(config.election.is_some());
    let mut all = Targets::new(config.update_interval);
    let mut engines = Vec::new();
    for t in &targets.targets {
        let provider = providers.get(&t.chain).cloned().ok_or_else(|| {
            BotError::Config(ConfigError::Invalid {
                var: "[[targets]]",
                reason: format!("target {:?} names no configured chain", t.name),
            })
        })?;
        // One nonce lane per (chain, key): targets sharing a key never replace each other's
        // transactions (oracle_core::evm::NonceLane).
        let lane =
            lanes.get(&(t.chain.clone(), t.updater_key.signer().address())).cloned().unwrap_or_default();
        let mut submitter = ManualOracleSubmitter::builder()
            .nonce_lane(lane)
            .provider(provider)
            .chain_name(t.chain.clone())
            .oracle(t.oracle_address)
            .signer(t.updater_key.signer().clone());
        submitter = match (&t.generic, t.feeds.as_slice()) {
            (Some(generic), _) => submitter.generic(generic.clone()),
            (None, [eth, eliza]) => submitter.feeds(eth.clone(), eliza.clone()),
            // The configuration reader gives a ManualPriceOracle exactly two feeds.
            (None, other) => {
                return Err(BotError::Config(ConfigError::Invalid {
                    var: "[[targets]]",
                    reason: format!(
                        "target {:?}: a ManualPriceOracle stores two feeds, not {}",
                        t.name,
                        other.len()
                    ),
                }));
            }
        };
        let submitter = submitter
            .fee_multiplier_permille(config.gas_price_multiplier_permille)
            .stuck_after(config.stuck_after)
            .stuck_blocks(config.stuck_blocks)
            // One directory for all: each journal is named by chain id, updater and oracle.
            .journal_dir(&config.state_dir)
            .connect()
            .await?;
        let mut builder = Engine::builder().target(t.name.clone()).chain(t.chain.clone());
        let elector: Arc<dyn LeaderElector> = match (&config.election, &share) {
            (Some(election), Some(share)) => {
                builder = builder
                    .health_gate(election.max_target_failures, election.backoff)
                    .lease_margin(election.lease.action_margin());
                let unit = units.get(&t.name).cloned().unwrap_or_else(|| t.name.clone());
                match unit_electors.get(&unit) {
                    Some(elector) => Arc::clone(elector),
                    None => {
                        let inner = target_elector(&election.elector, &unit)?
                            .connect(&config.bot_id, election.lease)
                            .await?;
                        let elector: Arc<dyn LeaderElector> =
                            Arc::new(SharedElector::new(Arc::clone(share), unit.clone(), inner));
                        unit_electors.insert(unit, Arc::clone(&elector));
                        elector
                    }
                }
            }
            _ => Arc::new(AlwaysLeader::new(config.bot_id.clone())),
        };
        for feed in &t.feeds {
            if let Some(source) = shared.get(feed) {
                builder = builder.source(feed.clone(), Arc::clone(source));
            }
        }
        for alerter in &alerters {
            builder = builder.alerter(Arc::clone(alerter));
        }
        let engine = builder
            .elector(elector)
            .submitter(Arc::new(submitter))
            .alert_rules(rules.clone())
            .policy(t.policy.clone())
            .interval(config.update_interval)
            .retries(config.max_retries as usize, config.retry_delay)
            .receipt_timeout(config.receipt_timeout)
            .build()?;
        let engine = Arc::new(engine);
        all = all.target(t.name.clone(), Arc::clone(&engine));
        engines.push(TargetEngine {
            name: t.name.clone(),
            chain: t.chain.clone(),
            engine,
            overrides: t.overrides.clone(),
        });
    }
    Ok(ComposedTargets { targets: all, engines, rpc, share, alerters, alert_layer })
}

/// The election unit of each target (by name): the target itself, or, for targets on one chain
/// sharing an updater key, one unit for all of them (`<chain>.<address>`), so that one bot leads
/// them together. Two bots sending with one key would each take the lowest unmined nonce and
/// replace each other's transactions; inside one bot, the key's [`NonceLane`] makes them take
/// turns.
fn election_units(targets: &TargetsConfig) -> BTreeMap<String, String> {
    let mut by_key: BTreeMap<(String, Address), Vec<&str>> = BTreeMap::new();
    for t in &targets.targets {
        by_key.entry((t.chain.clone(), t.updater_key.signer().address())).or_default().push(&t.name);
    }
    let mut units = BTreeMap::new();
    for ((chain, updater), names) in by_key {
        let shared = names.len() > 1;
        for name in names {
            let unit = if shared { format!("{chain}.{updater:#x}") } else { name.to_owned() };
            units.insert(name.to_owned(), unit);
        }
    }
    units
}

/// One [`NonceLane`] per (chain, updater key): targets on one chain that send with one key
/// take turns, one update in flight at a time, so none replaces another's transaction. Said at
/// start-up, since updates of those targets that move together land one block apart.
fn nonce_lanes(targets: &TargetsConfig) -> BTreeMap<(String, Address), NonceLane> {
    let mut by_key: BTreeMap<(String, Address), Vec<&str>> = BTreeMap::new();
    for t in &targets.targets {
        by_key.entry((t.chain.clone(), t.updater_key.signer().address())).or_default().push(&t.name);
    }
    for ((chain, updater), names) in by_key.iter().filter(|(_, n)| n.len() > 1) {
        tracing::info!(
            %chain, %updater, targets = %names.join(", "),
            "several targets on one chain share an updater key: one bot leads them together and they send in turn through one nonce lane (one update in flight; give a target its own key to send in parallel)"
        );
    }
    by_key.into_keys().map(|k| (k, NonceLane::new())).collect()
}

/// Runs the targets until `cancel` fires: composes them, serves the endpoints, and ticks them
/// in rounds; on cancellation every target's leadership is released.
pub(crate) async fn run(
    config: &BotConfig,
    targets: &TargetsConfig,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    cancel: tokio_util::sync::CancellationToken,
    slot: Arc<tokio::sync::OnceCell<crate::Running>>,
) -> Result<(), BotError> {
    use tracing::Instrument as _;
    for line in targets.describe() {
        tracing::info!("{line}");
    }
    let composed = build_targets(config, targets).await?;
    let _ = slot.set(crate::Running {
        engines: composed.engines.iter().map(|t| (Arc::clone(&t.engine), t.overrides.clone())).collect(),
        alert_layer: composed.alert_layer.clone(),
    });
    tokio::spawn(crate::rpc_alerts::watch(
        composed.rpc.clone(),
        composed.alerters.clone(),
        config.bot_id.clone(),
        config.rpc_probe_interval,
        cancel.clone(),
    ));
    let base_rules = crate::health::HealthRules::from_config(config);
    let mut sources = Vec::new();
    for (t, engine) in targets.targets.iter().zip(&composed.engines) {
        // The target's own heartbeat (an override) sets its stale limit.
        let rules = crate::health::HealthRules {
            stale_after: t.policy.heartbeat().saturating_add(config.update_interval),
            ..base_rules
        };
        let span = tracing::info_span!("target", target = %engine.name, chain = %engine.chain);
        tokio::spawn(
            crate::health::log_follower_staleness(engine.engine.status(), rules.stale_after).instrument(span),
        );
        sources.push(crate::health_targets::TargetSource {
            name: engine.name.clone(),
            chain: engine.chain.clone(),
            status: engine.engine.status(),
            rules,
        });
    }
    let server = if config.enable_health_check {
        let addr = std::net::SocketAddr::new(config.health_bind_addr, config.health_check_port);
        let router =
            crate::health_targets::router(config.bot_id.clone(), sources, composed.rpc.clone(), metrics);
        let (bound, task) = crate::http::serve(addr, router, cancel.clone())
            .await
            .map_err(|e| BotError::Health { addr, reason: e.to_string() })?;
        tracing::info!(%bound, targets = composed.engines.len(), "serving /health and /metrics (and /ready)");
        Some(task)
    } else {
        None
    };
    composed.targets.run(cancel.clone()).await;
    cancel.cancel();
    if let Some(task) = server {
        let _ = task.await;
    }
    Ok(())
}
