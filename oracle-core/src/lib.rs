//! The core of oracle-updater: fixed-point prices, feeds and observations, the four traits the
//! updater is built from, and the engine that drives them.
//!
//! - [`Price`]: an integer mantissa with decimals; exact conversions, one rounding rule (down).
//! - [`PriceSource`]: where observations come from, with typed refusals ([`SourceError`]).
//! - [`LeaderElector`]: who may submit; leases with fencing tokens ([`Lease`], [`Fence`]).
//! - [`Submitter`]: reads a target's [`OnChainState`], simulates, sends, and follows an update.
//! - [`Alerter`]: delivers [`Alert`]s.
//! - [`decide`]: the pure decision of a tick, from state, observations, [`Policy`] and time.
//! - [`Engine`]: composes the above and ticks until cancelled, recording a [`TickReport`] per tick.
//! - [`secret`]: [`Secret`](secret::Secret) and URL redaction, shared by every crate.
//! - `test_utils` (feature `test-utils`): in-memory doubles of the four traits for tests.
//! - [`evm`] (feature `evm`, on by default): the submitter for `ManualPriceOracle` on alloy.
//!
//! # Example
//!
//! An engine with a fixed source and a submitter of your own, ticked once:
//!
//! ```
//! use std::{sync::Arc, time::{Duration, SystemTime}};
//! use async_trait::async_trait;
//! use oracle_core::*;
//!
//! struct Fixed;
//! #[async_trait]
//! impl PriceSource for Fixed {
//!     fn name(&self) -> &str { "fixed" }
//!     async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
//!         Ok(Observation::new(feed.clone(), Price::parse("3100", 8).unwrap(), SystemTime::now(), "fixed"))
//!     }
//! }
//!
//! /// A target that stores ETH/USD = 3000, updated two minutes ago, and refuses every update.
//! struct ReadOnly;
//! #[async_trait]
//! impl Submitter for ReadOnly {
//!     fn name(&self) -> &str { "read-only" }
//!     async fn read_state(&self) -> Result<OnChainState, SubmitError> {
//!         Ok(OnChainState {
//!             feeds: vec![FeedState { feed: FeedId::ETH_USD, price: Price::parse("3000", 8).unwrap(), bounds: None }],
//!             last_update: SystemTime::now() - Duration::from_secs(120),
//!             deviation_rule: None, fee: None, balance_wei: None, block: None, chain_time: None,
//!         })
//!     }
//!     async fn simulate(&self, _: &PriceUpdate, _: &Fence) -> Result<(), SubmitError> {
//!         Err(Rejection::NotAuthorized.into())
//!     }
//!     async fn send(&self, _: &PriceUpdate, _: &Fence) -> Result<PendingUpdate, SubmitError> {
//!         unreachable!("never sent: simulation fails")
//!     }
//!     async fn wait(&self, _: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
//!         unreachable!()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), EngineError> {
//! let engine = Engine::builder()
//!     .source(FeedId::ETH_USD, Arc::new(Fixed))
//!     .elector(Arc::new(AlwaysLeader::new("bot-1")))
//!     .submitter(Arc::new(ReadOnly))
//!     .alerter(Arc::new(LogAlerter))
//!     .build()?;
//! let report = engine.tick().await;
//! // A 3.3% move is worth submitting, but the target refuses: nothing is sent.
//! assert!(matches!(
//!     report.outcome,
//!     TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(Rejection::NotAuthorized)))
//! ));
//! # Ok(()) }
//! ```

// Dev-dependencies of the `evm` module's tests (keystores, journals): unused without it.
#[cfg(all(test, not(feature = "evm")))]
use {rand as _, tempfile as _};

mod alert;
mod clock;
pub mod confirm;
mod election;
pub mod engine;
#[cfg(feature = "evm")]
pub mod evm;
mod feed;
mod policy;
mod price;
pub mod secret;
mod source;
mod submit;
// Compiled for this crate's own tests too: one set of doubles, not a copy per test module.
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use alloy_primitives::{Address, B256, U256};

pub use crate::{
    alert::{Alert, AlertError, AlertKind, Alerter, LogAlerter, Severity, format_duration},
    clock::{BootInstant, unix_time},
    confirm::{Holds, confirm},
    election::{
        AlwaysLeader, ElectionError, Fence, FencingToken, LeaderElector, LeaderInfo, Leadership, Lease,
        LeaseLost,
    },
    engine::{
        Engine, EngineBuilder, EngineError, EngineStatus, Landed, Targets, TickFailure, TickOutcome,
        TickReport, current_tick, tick_scope,
    },
    feed::{FeedId, Observation},
    policy::{
        Decision, GWEI, Policy, PolicyBuilder, PolicyError, ReviewFlag, SkipReason, SubmitPlan, SubmitReason,
        decide,
    },
    price::{BPS_PER_WHOLE, MAX_DECIMALS, Price, PriceError},
    source::{PriceSource, SourceError},
    submit::{
        DeviationRule, FeeEstimate, FeedState, OnChainState, PendingUpdate, PriceBounds, PriceUpdate,
        Rejection, SubmitError, Submitter, UpdateOutcome,
    },
};

/// The property tests' settings: `PROPTEST_CASES` cases (256 by default), no regression files
/// (a failure found becomes a named regression test instead).
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
