//! The [`LeaderElector`] trait, leases with fencing tokens, and the [`Fence`] a submitter checks
//! before it acts.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::BootInstant;

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
    /// The instant after which this bot must not act as leader, on the boot-time clock (which
    /// keeps counting while the machine is suspended). Electors set it before the lease can
    /// expire for the others. This is the deadline when the round answered; background renewals
    /// move it on, and [`LeaderElector::live_deadline`] reads where it is now.
    pub valid_until: BootInstant,
}

impl Lease {
    /// Whether the lease, as granted, is still valid `margin` from now.
    pub fn is_valid_for(&self, margin: Duration) -> bool {
        BootInstant::now().checked_add(margin).is_some_and(|t| t < self.valid_until)
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

    /// Where the deadline of `lease`'s term stands now, read without I/O: moved on by every
    /// background renewal, `None` once the term was lost, lapsed, deposed or released.
    ///
    /// The engine's [`Fence`] asks at every check, so a tick that waits half a minute for a stuck
    /// transaction is still the leader's tick while the term is renewed, and stops the moment
    /// the term is gone. The default, for electors that do not renew in the background, is the
    /// deadline the lease was granted with.
    fn live_deadline(&self, lease: &Lease) -> Option<BootInstant> {
        Some(lease.valid_until)
    }

    /// Tells the elector that a target has already accepted fencing token `floor`, so every
    /// later term must get a larger token (a target keeps the highest token it accepted and
    /// refuses anything lower, forever). Returns whether this elector can promise that; the
    /// engine refuses to act on a term whose token is not above the floor, and says why.
    ///
    /// Called at start-up with the target's highest token and again whenever the target refuses
    /// a token as stale. Must not block. The default cannot raise its tokens.
    fn raise_floor(&self, floor: FencingToken) -> bool {
        let _ = floor;
        false
    }
}

/// An elector for a single bot: always the leader. Its token starts at 1 and is raised above a
/// fenced target's highest token when the engine reports one ([`LeaderElector::raise_floor`]),
/// so a single bot can feed a fenced oracle that other electors wrote to before.
///
/// Use it when only one updater runs; with two or more, use a real elector.
#[derive(Debug, Clone)]
pub struct AlwaysLeader {
    id: String,
    token: Arc<AtomicU64>,
}

impl AlwaysLeader {
    /// How long each "lease" lasts; renewed every round, so it never runs out while ticking.
    const TERM: Duration = Duration::from_secs(3600);

    /// An always-leader elector for bot `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), token: Arc::new(AtomicU64::new(1)) }
    }

    fn token(&self) -> FencingToken {
        FencingToken(self.token.load(Ordering::Relaxed))
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
            token: self.token(),
            valid_until: BootInstant::now().saturating_add(Self::TERM),
        }))
    }

    async fn release(&self) -> Result<(), ElectionError> {
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        Ok(Some(LeaderInfo {
            holder: self.id.clone(),
            token: self.token(),
            expires_at: SystemTime::now().checked_add(Self::TERM).unwrap_or(SystemTime::now()),
        }))
    }

    fn live_deadline(&self, lease: &Lease) -> Option<BootInstant> {
        // Always leading, but a term is its token: a raised floor ends the old one.
        (lease.token == self.token()).then(|| BootInstant::now().saturating_add(Self::TERM))
    }

    fn raise_floor(&self, floor: FencingToken) -> bool {
        let Some(next) = floor.0.checked_add(1) else { return false };
        self.token.fetch_max(next, Ordering::Relaxed);
        true
    }
}

/// The proof of leadership a submitter carries: the token to attach and the deadline to respect.
///
/// A submitter calls [`Fence::check`] right before it signs and again right before it broadcasts.
/// The engine's fences are *live* ([`Fence::live`]): each check asks the elector where the term
/// stands now, so background renewals keep a long tick (a stuck transaction being replaced)
/// acting, and a term lost or deposed in the middle of a tick stops it at the next check.
#[derive(Clone)]
pub struct Fence {
    token: FencingToken,
    margin: Duration,
    deadline: Deadline,
}

#[derive(Clone)]
enum Deadline {
    /// Asks the elector at every check.
    Live { elector: Arc<dyn LeaderElector>, lease: Lease },
    /// A fixed deadline.
    Fixed(BootInstant),
    /// Never expires.
    Never,
}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.deadline {
            Deadline::Live { .. } => "live",
            Deadline::Fixed(_) => "fixed",
            Deadline::Never => "unfenced",
        };
        f.debug_struct("Fence")
            .field("token", &self.token)
            .field("margin", &self.margin)
            .field("deadline", &kind)
            .finish()
    }
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
    /// A fence that follows `lease`'s term through `elector` ([`LeaderElector::live_deadline`]),
    /// requiring `margin` of validity left at every check. What the engine uses.
    pub fn live(elector: Arc<dyn LeaderElector>, lease: Lease, margin: Duration) -> Self {
        Self { token: lease.token, margin, deadline: Deadline::Live { elector, lease } }
    }

    /// A fence fixed to `lease` as granted (no renewals are seen), requiring `margin` of
    /// validity left at every check. For tests and one-shot tools; the engine uses
    /// [`Fence::live`].
    pub fn new(lease: &Lease, margin: Duration) -> Self {
        Self { token: lease.token, margin, deadline: Deadline::Fixed(lease.valid_until) }
    }

    /// A fence that never expires, for operator actions that are not leader-gated (an emergency
    /// update by the owner).
    pub fn unfenced() -> Self {
        Self { token: FencingToken(0), margin: Duration::ZERO, deadline: Deadline::Never }
    }

    /// The token to attach to the update.
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The term's deadline as it stands now; `None` once the term is gone (and for an unfenced
    /// fence, which has no deadline).
    pub fn deadline(&self) -> Option<BootInstant> {
        match &self.deadline {
            Deadline::Live { elector, lease } => elector.live_deadline(lease),
            Deadline::Fixed(t) => Some(*t),
            Deadline::Never => None,
        }
    }

    /// Succeeds while the term is valid for at least the margin from now.
    pub fn check(&self) -> Result<(), LeaseLost> {
        if matches!(self.deadline, Deadline::Never) {
            return Ok(());
        }
        let lost = LeaseLost { token: self.token, margin: self.margin };
        let deadline = self.deadline().ok_or_else(|| lost.clone())?;
        match BootInstant::now().checked_add(self.margin) {
            Some(t) if t < deadline => Ok(()),
            _ => Err(lost),
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
            valid_until: BootInstant::now().saturating_add(Duration::from_secs(5)),
        };
        assert!(Fence::new(&lease, Duration::from_secs(1)).check().is_ok());
        let err = Fence::new(&lease, Duration::from_secs(10)).check().unwrap_err();
        assert_eq!(err.token, FencingToken(7));
        assert!(lease.is_valid_for(Duration::from_secs(1)));
        assert!(!lease.is_valid_for(Duration::from_secs(6)));
        let expired = Lease { valid_until: BootInstant::now(), ..lease };
        assert!(Fence::new(&expired, Duration::ZERO).check().is_err());
        assert!(Fence::unfenced().check().is_ok());
    }

    /// An elector whose term is renewed and lost by the test. Kept here, not in `test_utils`:
    /// the test moves the live deadline by hand, which no embedder's test needs.
    struct Scripted {
        deadline: std::sync::Mutex<Option<BootInstant>>,
    }

    #[async_trait]
    impl LeaderElector for Scripted {
        fn id(&self) -> &str {
            "scripted"
        }
        async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
            unreachable!("not used")
        }
        async fn release(&self) -> Result<(), ElectionError> {
            Ok(())
        }
        async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
            Ok(None)
        }
        fn live_deadline(&self, _: &Lease) -> Option<BootInstant> {
            *self.deadline.lock().unwrap()
        }
    }

    #[test]
    fn a_live_fence_follows_renewals_and_loss() {
        let now = BootInstant::now();
        let elector = Arc::new(Scripted { deadline: std::sync::Mutex::new(Some(now)) });
        let lease = Lease { holder: "scripted".into(), token: FencingToken(3), valid_until: now };
        let fence = Fence::live(elector.clone(), lease.clone(), Duration::from_secs(1));
        assert!(fence.check().is_err(), "the granted deadline has passed");
        *elector.deadline.lock().unwrap() = Some(now.saturating_add(Duration::from_secs(60)));
        assert!(fence.check().is_ok(), "a background renewal moved the deadline on");
        assert!(Fence::new(&lease, Duration::from_secs(1)).check().is_err(), "a fixed fence does not");
        *elector.deadline.lock().unwrap() = None;
        assert_eq!(fence.check().unwrap_err().token, FencingToken(3), "the term is gone");
    }

    #[tokio::test]
    async fn always_leader_raises_its_token_above_a_floor() {
        let e = AlwaysLeader::new("solo");
        let Leadership::Leader(first) = e.acquire_or_renew().await.unwrap() else { panic!("leads") };
        assert_eq!(first.token, FencingToken(1));
        assert!(e.raise_floor(FencingToken(41)));
        let Leadership::Leader(second) = e.acquire_or_renew().await.unwrap() else { panic!("leads") };
        assert_eq!(second.token, FencingToken(42));
        assert_eq!(e.live_deadline(&first), None, "the old term ended with the floor");
        assert!(e.live_deadline(&second).is_some());
        assert!(!e.raise_floor(FencingToken(u64::MAX)));
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
