//! Engine parts for tests: an engine builder over a [`crate::Deployment`] with every
//! part replaceable. The recording alerter and the leader with a chosen fencing token are
//! oracle-core's (`test_utils`), re-exported here so the tests keep one import path.

use std::{sync::Arc, time::Duration};

pub use oracle_core::test_utils::{FixedLeader, RecordingAlerter};
use oracle_core::{Alerter, Engine, FeedId, LeaderElector, Policy, Price, Submitter};
use oracle_sources::{ChainlinkSource, FixedPriceSource};

use crate::{Deployment, START_ELIZA};

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
