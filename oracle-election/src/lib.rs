//! Leader electors for oracle-updater: file, Redis and etcd backends of
//! [`oracle_core::LeaderElector`], with fencing tokens that only grow, renew deadlines that stop
//! a leader before anyone else can take over, and instant handover on release.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use oracle_election::{ElectionAdmin, ElectorConfig, LeaderElector, Leadership, LeaseConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), oracle_election::ElectionError> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("leader.lock");
//! let lease = LeaseConfig::builder()
//!     .duration(Duration::from_secs(15))
//!     .renew_interval(Duration::from_secs(2))
//!     .renew_deadline(Duration::from_secs(10))
//!     .build()?;
//! // Or from LEADER_ELECTION_BACKEND, LEADER_LOCK_PATH, REDIS_URL, ETCD_ENDPOINTS, ...:
//! // let config = ElectorConfig::from_env(|k| std::env::var(k).ok())?;
//! let config = ElectorConfig::File { path };
//! let elector = config.connect("bot-1", lease).await?;
//!
//! let Leadership::Leader(lease) = elector.acquire_or_renew().await? else { panic!("alone, so leader") };
//! assert_eq!(lease.holder, "bot-1");
//! assert_eq!(elector.current_leader().await?.map(|l| l.token), Some(lease.token));
//!
//! // The engine takes it as its elector.
//! let for_engine: Arc<dyn LeaderElector> = elector.clone();
//! for_engine.release().await?;
//! assert_eq!(elector.current_leader().await?, None);
//! # Ok(()) }
//! ```
//!
//! # The model (Kubernetes' leader election)
//!
//! Timing comes from a [`LeaseConfig`]: a lease `duration` on the backend, a `renew_interval`
//! and a `renew_deadline` with `renew_interval < renew_deadline < duration`.
//!
//! - While it leads, an elector renews in a background task every renew interval, so
//!   leadership does not depend on how often the engine ticks. `acquire_or_renew` returns the
//!   current state, and tries to acquire when the bot is not leading.
//! - [`Lease::valid_until`] is the monotonic instant at which the last successful renewal
//!   *started*, plus the renew deadline. The backend's lease runs at least `duration` from that
//!   start, so the leader stops acting `duration - renew_deadline` before anyone else can take
//!   over. When renewals fail past the deadline the elector steps down on its own (fail closed)
//!   and, if the record turns out to be still its own once the backend answers again, resumes
//!   the same term.
//! - Every acquisition gets a [`FencingToken`] above all earlier ones, by any bot: a counter in
//!   the file, `INCR` on a Redis key, the create revision of etcd's election key.
//! - [`LeaderElector::release`] removes the record only if it is still ours and tells the
//!   followers, whose [`LeaderElector::watch`] channel changes so they try at once. The channel
//!   also changes when the current leader's lease runs out, so a crashed leader is replaced
//!   within one lease duration without waiting for the followers' next round.
//! - When a bot takes over a lease that ran out without a release it logs
//!   `Previous leader <id> is dead, taking over` (info, with both ids and the new token).
//!
//! Operators use [`ElectionAdmin`]: who leads, and forcing the leader to step down.
//!
//! # Backends
//!
//! - [`file`](mod@file): one host only (read its docs for where it cannot work).
//! - [`redis`]: any number of hosts, one Redis (read its docs for Redis's limits).
//! - `etcd` (feature `etcd`, needs `protoc` to build): a consensus store; the safest choice.

mod config;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod file;
mod lease;
pub mod redis;
mod state;

use async_trait::async_trait;
pub use oracle_core::{
    AlwaysLeader, ElectionError, Fence, FencingToken, LeaderElector, LeaderInfo, Leadership, Lease, LeaseLost,
};

#[cfg(feature = "etcd")]
pub use crate::etcd::EtcdElector;
pub use crate::{
    config::{DEFAULT_ETCD_ELECTION, ElectorConfig, EtcdAuth, EtcdConfig, EtcdTls, Secret, env},
    file::FileElector,
    lease::{LeaseConfig, LeaseConfigBuilder},
    redis::{RedisElector, RedisUrl},
};

/// What an operator can do with an election, whichever the backend.
#[async_trait]
pub trait ElectionAdmin: Send + Sync {
    /// Who leads now, if anyone.
    async fn current_leader(&self) -> Result<Option<LeaderInfo>, ElectionError>;

    /// Removes the current leader's record, whoever holds it, so the next acquisition elects
    /// anew (with a larger token). The deposed leader learns it at its next renewal and stops.
    /// Returns who was deposed.
    async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError>;
}

/// An elector the engine can use and an operator can administer; what
/// [`ElectorConfig::connect`] returns.
pub trait Elector: LeaderElector + ElectionAdmin + std::fmt::Debug {}

impl<T: LeaderElector + ElectionAdmin + std::fmt::Debug> Elector for T {}

/// Implements [`LeaderElector`] and [`ElectionAdmin`] for a type with a `core: Core<_>` field.
macro_rules! delegate_elector {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl oracle_core::LeaderElector for $ty {
            fn id(&self) -> &str {
                self.core.id()
            }

            async fn acquire_or_renew(&self) -> Result<oracle_core::Leadership, oracle_core::ElectionError> {
                self.core.acquire_or_renew().await
            }

            async fn release(&self) -> Result<(), oracle_core::ElectionError> {
                self.core.release().await
            }

            async fn leader(&self) -> Result<Option<oracle_core::LeaderInfo>, oracle_core::ElectionError> {
                self.core.leader().await
            }

            fn watch(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
                Some(self.core.watch())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ElectionAdmin for $ty {
            async fn current_leader(
                &self,
            ) -> Result<Option<oracle_core::LeaderInfo>, oracle_core::ElectionError> {
                self.core.leader().await
            }

            async fn force_step_down(
                &self,
            ) -> Result<Option<oracle_core::LeaderInfo>, oracle_core::ElectionError> {
                self.core.force_step_down().await
            }
        }
    };
}
pub(crate) use delegate_elector;
