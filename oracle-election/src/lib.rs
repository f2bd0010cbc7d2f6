//! Leader electors for oracle-updater: file, Redis and etcd backends of
//! [`oracle_core::LeaderElector`], with fencing tokens that only grow, renew deadlines that stop
//! a leader before anyone else can take over, and instant handover on release.
//!
//! This release has no backend yet: a single bot runs with [`oracle_core::AlwaysLeader`]. The
//! file, Redis and etcd electors arrive in the next releases; this crate re-exports the trait so
//! embedders can depend on it now.
//!
//! ```
//! use oracle_election::{AlwaysLeader, LeaderElector};
//! let elector = AlwaysLeader::new("bot-1");
//! assert_eq!(elector.id(), "bot-1");
//! ```

pub use oracle_core::{AlwaysLeader, ElectionError, FencingToken, LeaderElector, Leadership, Lease};
