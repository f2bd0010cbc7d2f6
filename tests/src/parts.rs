//! Engine parts for tests: an alerter that records, an elector with a chosen fencing token, and
//! an engine builder over a [`Deployment`](crate::Deployment) with every part replaceable.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{
    Alert, AlertError, Alerter, ElectionError, Engine, FeedId, FencingToken, LeaderElector, LeaderInfo,
    Leadership, Lease, Policy, Price, Severity, Submitter,
};
use oracle_sources::{ChainlinkSource, FixedPriceSource};

use crate::{Deployment, START_ELIZA};

/// Records every alert it is sent.
#[derive(Debug, Default)]
pub struct RecordingAlerter(Mutex<Vec<Alert>>);

impl RecordingAlerter {
    /// Every alert so far, as `(severity, key)`.
    pub fn keys(&self) -> Vec<(Severity, String)> {
        self.0.lock().unwrap().iter().map(|a| (a.severity, a.key.clone())).collect()
    }

    /// How many alerts had `key` (any severity).
    pub fn count(&self, key: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|a| a.key == key).count()
    }
}

#[async_trait]
impl Alerter for RecordingAlerter {
    fn name(&self) -> &str {
        "recording"
    }
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

/// An elector that always answers "leader" with a fixed token: two of them with different
/// tokens are two bots that both believe they lead.
#[derive(Debug)]
pub struct FixedLeader {
    id: String,
    token: FencingToken,
}

impl FixedLeader {
    /// Leader `id` holding `token`.
    pub fn new(id: &str, token: u64) -> Self {
        Self { id: id.to_owned(), token: FencingToken(token) }
    }
}

#[async_trait]
impl LeaderElector for FixedLeader {
    fn id(&self) -> &str {
        &self.id
    }
    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        Ok(Leadership::Leader(Lease {
            holder: self.id.clone(),
            token: self.token,
            valid_until: oracle_core::BootInstant::now().saturating_add(Duration::from_secs(3600)),
        }))
    }
    async fn release(&self) -> Result<(), ElectionError> {
        Ok(())
    }
    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        Ok(Some(LeaderInfo {
            holder: self.id.clone(),
            token: self.token,
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        }))
    }
}

/// The bot's sources over `d`: Chainlink ETH/USD on the source chain, a fixed elizaOS/USD of
/// $0.10.
pub fn sources(d: &Deployment) -> Vec<(FeedId, Arc<dyn oracle_core::PriceSource>)> {
    let eth =
        ChainlinkSource::new(d.source_provider(), d.aggregator, FeedId::ETH_USD, Duration::from_secs(3600));
    let eliza = FixedPriceSource::new(FeedId::ELIZAOS_USD, Price::from_u128(START_ELIZA, 8).unwrap());
    vec![(FeedId::ETH_USD, Arc::new(eth)), (FeedId::ELIZAOS_USD, Arc::new(eliza))]
}

/// An engine like the bot's over `d`, with the elector, submitter, alerter and policy given.
/// Retries are off, so failures show at once.
pub fn engine_with(
    d: &Deployment,
    elector: Arc<dyn LeaderElector>,
    submitter: Arc<dyn Submitter>,
    alerter: Arc<dyn Alerter>,
    policy: Policy,
) -> Engine {
    engine_builder(d, elector, submitter).alerter(alerter).policy(policy).build().unwrap()
}

/// The builder behind [`engine_with`]: the bot's sources over `d`, `elector`, `submitter`, no
/// in-tick retries; add what a test needs.
pub fn engine_builder(
    d: &Deployment,
    elector: Arc<dyn LeaderElector>,
    submitter: Arc<dyn Submitter>,
) -> oracle_core::EngineBuilder {
    Engine::builder().sources(sources(d)).elector(elector).submitter(submitter).retries(0, Duration::ZERO)
}
