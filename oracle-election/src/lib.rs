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
//! - [`Lease::valid_until`] is the instant at which the last successful renewal *started*, plus
//!   the renew deadline, on the boot-time clock ([`oracle_core::BootInstant`], which keeps
//!   counting while the machine is suspended). The backend's lease runs at least `duration` from
//!   that start, so the leader stops acting `duration - renew_deadline` before anyone else can
//!   take over. The engine's fence reads the live deadline ([`LeaderElector::live_deadline`]) at
//!   every check, so renewals during a long tick keep it acting. When renewals fail past the
//!   deadline the elector steps down on its own (fail closed) and, if the record turns out to be
//!   still its own once the backend answers again, resumes the same term.
//! - Every acquisition gets a [`FencingToken`] above all earlier ones, by any bot, and above the
//!   floor the engine reads from a fenced target ([`LeaderElector::raise_floor`]): a counter in
//!   the file, `INCR` on a Redis key, the create revision of etcd's election key plus an offset
//!   kept in etcd. So tokens never go backwards, even after the backend lost its data or the
//!   fleet moved to another backend.
//! - [`LeaderElector::release`] removes the record only if it is still ours and tells the
//!   followers, whose [`LeaderElector::watch`] channel changes so they try at once. The channel
//!   also changes when the current leader's lease runs out, so a crashed leader is replaced
//!   within one lease duration without waiting for the followers' next round.
//! - A forced step-down ([`ElectionAdmin::force_step_down`]) *deposes* the leader without
//!   freeing the record: nobody else may lead until the deposed leader learns it at its next
//!   renewal (and lets go at once) or its lease runs out. A backend that lost its data (a Redis
//!   restarted without persistence, a new etcd cluster) likewise grants nobody leadership for
//!   one lease duration, since a leader it forgot may still be acting. There is never a moment
//!   in which two bots may act.
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

// A dev-dependency of the failover benchmark example, not of the unit tests.
#[cfg(test)]
use tempfile as _;

mod config;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod file;
mod lease;
#[cfg(test)]
mod props;
pub mod redis;
pub mod share;
mod state;

/// The most characters of a value read back from a backend that an error quotes.
const QUOTED_CHARS: usize = 40;

/// `value` quoted and escaped, cut to [`QUOTED_CHARS`] characters inside the quotes (the cut marked with `…`): what
/// another process wrote into a lock file or key may be megabytes long.
pub(crate) fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    let mut shown = 0usize;
    for c in value.chars() {
        // Escaped, a control character takes several characters: count what is shown.
        let escaped: String = c.escape_debug().collect();
        shown = shown.saturating_add(escaped.chars().count());
        if shown > QUOTED_CHARS {
            out.push_str("\"…");
            return out;
        }
        out.push_str(&escaped);
    }
    out.push('"');
    out
}

use async_trait::async_trait;
/// The workspace's one secret type (the etcd password), re-exported for convenience.
pub use oracle_core::secret::Secret;
pub use oracle_core::{
    AlwaysLeader, ElectionError, Fence, FencingToken, LeaderElector, LeaderInfo, Leadership, Lease, LeaseLost,
};

#[cfg(feature = "etcd")]
pub use crate::etcd::EtcdElector;
pub use crate::{
    config::{DEFAULT_ETCD_ELECTION, ElectorConfig, EtcdAuth, EtcdConfig, EtcdTls, env},
    file::FileElector,
    lease::{LeaseConfig, LeaseConfigBuilder},
    redis::{RedisElector, RedisUrl},
};

/// What an operator can do with an election, whichever the backend.
#[async_trait]
pub trait ElectionAdmin: Send + Sync {
    /// Who leads now, if anyone.
    async fn current_leader(&self) -> Result<Option<LeaderInfo>, ElectionError>;

    /// Deposes the current leader, whoever it is. It learns at its next renewal, stops acting and
    /// lets go of the record, and only then (or when its lease runs out, if it is dead or cut
    /// off) is a new leader elected, with a larger token: no second bot acts while the deposed
    /// one might. Returns who was deposed.
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

            fn live_deadline(&self, lease: &oracle_core::Lease) -> Option<oracle_core::BootInstant> {
                self.core.live_deadline(lease)
            }

            fn raise_floor(&self, floor: oracle_core::FencingToken) -> bool {
                self.core.raise_floor(floor)
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
