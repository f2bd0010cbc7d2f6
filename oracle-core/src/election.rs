//! The [`LeaderElector`] trait, leases with fencing tokens, and the [`Fence`] a submitter checks
//! before it acts.

use std::{
    fmt,
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use tokio::sync::watch;

/// A number that strictly increases with every acquisition of leadership, across all bots.
///
/// A target that records the highest token it has seen can refuse a stale leader's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Leadership held by this bot until `valid_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// This bot's id.
    pub holder: String,
    /// The token of this term of leadership.
    pub token: FencingToken,
    /// The instant after which this bot must not act as leader, measured on this host's monotonic
    /// clock. Electors set it before the lease can expire for the others.
    pub valid_until: Instant,
}

impl Lease {
    /// Whether the lease is still valid `margin` from now.
    pub fn is_valid_for(&self, margin: Duration) -> bool {
        Instant::now().checked_add(margin).is_some_and(|t| t < self.valid_until)
    }
}

/// The answer of one acquire-or-renew round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This bot leads.
    Leader(Lease),
    /// Another bot leads, or nobody does and this bot could not acquire.
    Follower {
        /// Who leads, when known.
        leader: Option<String>,
    },
}

/// Who leads, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaderInfo {
    /// The leader's bot id.
    pub holder: String,
    /// Its fencing token.
    pub token: FencingToken,
    /// When its lease runs out unless renewed (wall clock, for display).
    pub expires_at: SystemTime,
}

/// Why an election round failed. A failed round means "not leader": the engine does not act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElectionError {
    /// The coordination backend could not be reached.
    #[error("{backend} elector: backend unavailable: {reason}")]
    Unavailable {
        /// The backend (`file`, `redis`, `etcd`).
        backend: &'static str,
        /// What went wrong, without credentials.
        reason: String,
    },
    /// The backend holds data this elector does not understand.
    #[error("{backend} elector: unreadable leadership record: {detail}")]
    Corrupt {
        /// The backend.
        backend: &'static str,
        /// What is wrong and where.
        detail: String,
    },
    /// The elector is misconfigured.
    #[error("elector configuration: {0}")]
    Config(String),
}

/// Decides which bot may submit.
///
/// Implementations keep leases with a deadline and hand out fencing tokens that only grow. The
/// engine, not the elector, checks the deadline right before it acts.
#[async_trait]
pub trait LeaderElector: Send + Sync {
    /// This bot's id.
    fn id(&self) -> &str;

    /// Acquires leadership if free, renews it if held, or reports who leads.
    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError>;

    /// Gives up leadership at once, so a follower can take over without waiting for the lease.
    async fn release(&self) -> Result<(), ElectionError>;

    /// Who leads now, if anyone.
    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError>;

    /// A channel that changes when leadership may have become free, so followers can try at once
    /// instead of waiting for their next round. `None` when the backend cannot notify.
    fn watch(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}

/// An elector for a single bot: always the leader, with a constant token.
///
/// Use it when only one updater runs; with two or more, use a real elector.
#[derive(Debug, Clone)]
pub struct AlwaysLeader {
    id: String,
}

impl AlwaysLeader {
    /// How long each "lease" lasts; renewed every round, so it never runs out while ticking.
    const TERM: Duration = Duration::from_secs(3600);

    /// An always-leader elector for bot `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

#[async_trait]
impl LeaderElector for AlwaysLeader {
    fn id(&self) -> &str {
        &self.id
    }

    async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        Ok(Leadership::Leader(Lease {
            holder: self.id.clone(),
            token: FencingToken(1),
            valid_until: Instant::now() + Self::TERM,
        }))
    }

    async fn release(&self) -> Result<(), ElectionError> {
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        Ok(Some(LeaderInfo {
            holder: self.id.clone(),
            token: FencingToken(1),
            expires_at: SystemTime::now() + Self::TERM,
        }))
    }
}

/// The proof of leadership a submitter carries: the token to attach and the deadline to respect.
///
/// A submitter calls [`Fence::check`] right before it signs and again right before it broadcasts.
#[derive(Debug, Clone)]
pub struct Fence {
    token: FencingToken,
    valid_until: Instant,
    margin: Duration,
}

/// Returned by [`Fence::check`] when the lease no longer covers the action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leadership (token {token}) is no longer valid with a margin of {margin:?}: refusing to act")]
pub struct LeaseLost {
    /// The token of the lost term.
    pub token: FencingToken,
    /// The margin that was required.
    pub margin: Duration,
}

impl Fence {
    /// A fence for `lease`, requiring `margin` of validity left at every check.
    pub fn new(lease: &Lease, margin: Duration) -> Self {
        Self { token: lease.token, valid_until: lease.valid_until, margin }
    }

    /// A fence that never expires, for operator actions that are not leader-gated (an emergency
    /// update by the owner).
    pub fn unfenced() -> Self {
        Self {
            token: FencingToken(0),
            valid_until: Instant::now() + Duration::from_secs(365 * 24 * 3600),
            margin: Duration::ZERO,
        }
    }

    /// The token to attach to the update.
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// Succeeds while the lease is valid for at least the margin from now.
    pub fn check(&self) -> Result<(), LeaseLost> {
        match Instant::now().checked_add(self.margin) {
            Some(t) if t < self.valid_until => Ok(()),
            _ => Err(LeaseLost { token: self.token, margin: self.margin }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_refuses_inside_the_margin() {
        let lease = Lease {
            holder: "a".into(),
            token: FencingToken(7),
            valid_until: Instant::now() + Duration::from_secs(5),
        };
        assert!(Fence::new(&lease, Duration::from_secs(1)).check().is_ok());
        let err = Fence::new(&lease, Duration::from_secs(10)).check().unwrap_err();
        assert_eq!(err.token, FencingToken(7));
        assert!(lease.is_valid_for(Duration::from_secs(1)));
        assert!(!lease.is_valid_for(Duration::from_secs(6)));
        let expired = Lease { valid_until: Instant::now(), ..lease };
        assert!(Fence::new(&expired, Duration::ZERO).check().is_err());
    }

    #[tokio::test]
    async fn always_leader_leads() {
        let e = AlwaysLeader::new("bot-1");
        match e.acquire_or_renew().await.unwrap() {
            Leadership::Leader(l) => assert_eq!(l.holder, "bot-1"),
            other => panic!("expected leadership, got {other:?}"),
        }
        assert_eq!(e.leader().await.unwrap().unwrap().holder, "bot-1");
    }
}
