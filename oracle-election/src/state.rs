//! The state machine every backend shares: terms, background renewal, fail-closed deadlines and
//! follower wake-ups. A backend only says how to acquire, renew, release and read one record.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use oracle_core::{BootInstant, ElectionError, FencingToken, LeaderInfo, Leadership, Lease};
use tokio::{sync::watch, task::AbortHandle};

use crate::LeaseConfig;

/// The result of one acquisition attempt on the backend.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The record is now ours with `token`.
    Won {
        /// The new term's token.
        token: FencingToken,
        /// The holder whose lease had run out without a release, when we replaced one.
        replaced_dead: Option<String>,
    },
    /// Someone else holds the record (or won a race for it).
    Lost {
        /// The current holder, when known.
        leader: Option<LeaderInfo>,
    },
    /// Nobody may lead before `until`: a deposed leader's lease still runs (it may still be
    /// acting until its next renewal tells it), or the backend lost its data and waits out any
    /// lease it may have forgotten.
    Held {
        /// When the record frees up at the latest (wall clock).
        until: SystemTime,
    },
}

/// A task that runs until aborted.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What one renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// Extended.
    Renewed,
    /// The record is no longer ours.
    Lost,
    /// The record is still ours but an operator deposed it: not extended. The elector ends the
    /// term, then releases the record, in that order, so nobody else leads while it might act.
    Deposed,
}

/// Bumps the elector's wake-up channel.
#[derive(Debug, Clone)]
pub(crate) struct Waker(Arc<watch::Sender<u64>>);

impl Waker {
    /// Tells followers that leadership may be free.
    pub(crate) fn wake(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// One coordination backend: a single leadership record with a token and an expiry.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// The backend's name in errors and logs.
    const NAME: &'static str;

    /// Takes the record for `id` if nobody holds it (or its holder's lease ran out). `floor` is the
    /// highest token this elector has seen; a new token is always above it.
    async fn try_acquire(&self, id: &str, floor: FencingToken) -> Result<Attempt, ElectionError>;

    /// Extends our term if the record is still `(id, token)` and not deposed. Must not free a
    /// deposed record: the elector does that with [`Backend::release`] once the term is over.
    async fn renew(&self, id: &str, token: FencingToken) -> Result<Renewal, ElectionError>;

    /// Removes the record if it is still `(id, token)` (deposed or not), and tells followers.
    async fn release(&self, id: &str, token: FencingToken) -> Result<(), ElectionError>;

    /// The current holder, if its lease still runs and it was not deposed.
    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError>;

    /// Deposes the current holder, whoever it is: its renewals fail from now on, but nobody else
    /// may acquire until it lets go at its next renewal or its lease runs out (so there is never
    /// a moment with two bots acting). Returns who that was.
    async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError>;

    /// A task that follows release notifications and calls `waker.wake()` for each.
    fn notifier(self: &Arc<Self>, waker: Waker) -> Option<Task>;
}

enum Term {
    /// Not leading.
    Idle,
    /// Leading; `renewed_at` is when the last successful renewal (or the acquisition) started,
    /// on the boot-time clock (which keeps counting through a suspend).
    Leading { token: FencingToken, renewed_at: BootInstant, renewer: AbortHandle },
    /// Renewals failed past the deadline: not acting, but the record may still be ours.
    Lapsed { token: FencingToken },
}

struct Inner<B> {
    backend: Arc<B>,
    id: String,
    lease: LeaseConfig,
    term: Mutex<Term>,
    /// Serialises acquisitions and releases of this elector.
    op: tokio::sync::Mutex<()>,
    waker: Waker,
    /// The highest token this elector has seen (its own and its leaders').
    seen: AtomicU64,
    expiry_timer: Mutex<Option<AbortHandle>>,
    /// After being deposed, this elector stays out of the election until then, so that another
    /// bot takes over (the operator asked for a change of leader).
    benched_until: Mutex<Option<BootInstant>>,
    /// The clock deadlines are measured on: [`BootInstant::now`], or a test's.
    clock: fn() -> BootInstant,
}

/// The elector every backend's public type wraps.
pub(crate) struct Core<B: Backend> {
    inner: Arc<Inner<B>>,
    notifier: Option<AbortHandle>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B: Backend> Core<B> {
    /// Starts an elector for `id` on `backend` (spawns its notifier; needs a tokio runtime).
    pub(crate) fn new(backend: B, id: String, lease: LeaseConfig) -> Result<Self, ElectionError> {
        Self::with_clock(backend, id, lease, BootInstant::now)
    }

    /// [`Core::new`] with another clock, for tests that make time jump as a suspend does.
    pub(crate) fn with_clock(
        backend: B,
        id: String,
        lease: LeaseConfig,
        clock: fn() -> BootInstant,
    ) -> Result<Self, ElectionError> {
        if id.trim().is_empty() {
            return Err(ElectionError::Config("the bot id must not be empty".into()));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ElectionError::Config("electors must be created inside a tokio runtime".into()));
        }
        let backend = Arc::new(backend);
        let (tx, _) = watch::channel(0);
        let waker = Waker(Arc::new(tx));
        let notifier = backend.notifier(waker.clone()).map(|task| tokio::spawn(task).abort_handle());
        let inner = Arc::new(Inner {
            backend,
            id,
            lease,
            term: Mutex::new(Term::Idle),
            op: tokio::sync::Mutex::new(()),
            waker,
            seen: AtomicU64::new(0),
            expiry_timer: Mutex::new(None),
            benched_until: Mutex::new(None),
            clock,
        });
        Ok(Self { inner, notifier })
    }

    pub(crate) fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn lease_config(&self) -> LeaseConfig {
        self.inner.lease
    }

    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.inner.waker.0.subscribe()
    }

    /// Where `lease`'s term stands now: its deadline while this elector still leads with its
    /// token (moved on by each background renewal), `None` once lost, lapsed or released.
    pub(crate) fn live_deadline(&self, lease: &Lease) -> Option<BootInstant> {
        match &*lock(&self.inner.term) {
            Term::Leading { token, renewed_at, .. } if *token == lease.token => {
                Some(renewed_at.saturating_add(self.inner.lease.renew_deadline()))
            }
            _ => None,
        }
    }

    /// Every later acquisition gets a token above `floor`: each backend takes the highest token
    /// this elector has seen as the floor of the next one (see [`Backend::try_acquire`]).
    pub(crate) fn raise_floor(&self, floor: FencingToken) -> bool {
        self.inner.saw(floor);
        true
    }

    pub(crate) async fn acquire_or_renew(&self) -> Result<Leadership, ElectionError> {
        let inner = &self.inner;
        let _op = inner.op.lock().await;
        let lapsed = {
            let mut term = lock(&inner.term);
            match &*term {
                Term::Leading { token, renewed_at, .. } => {
                    let valid_until = renewed_at.saturating_add(inner.lease.renew_deadline());
                    if (inner.clock)() < valid_until {
                        return Ok(Leadership::Leader(inner.lease_of(*token, valid_until)));
                    }
                    let token = *token;
                    inner.lapse(&mut term, token);
                    Some(token)
                }
                Term::Lapsed { token } => Some(*token),
                Term::Idle => None,
            }
        };
        if let Some(token) = lapsed {
            // The record may still be ours (the backend was briefly unreachable): resume the term if
            // it is, with the same token; nobody else can have led in between.
            let started = (inner.clock)();
            match inner.bounded(inner.backend.renew(&inner.id, token)).await? {
                Renewal::Renewed => {
                    tracing::info!(bot_id = %inner.id, backend = B::NAME, %token, "leadership record still ours: resuming the term");
                    let valid_until = Inner::start_term(inner, token, started);
                    return Ok(Leadership::Leader(inner.lease_of(token, valid_until)));
                }
                Renewal::Lost => *lock(&inner.term) = Term::Idle,
                Renewal::Deposed => {
                    *lock(&inner.term) = Term::Idle;
                    Inner::let_go_deposed(inner, token).await;
                }
            }
        }
        let benched = lock(&inner.benched_until).is_some_and(|t| (inner.clock)() < t);
        if benched {
            let leader = inner.bounded(inner.backend.leader()).await?;
            return Ok(Leadership::Follower { leader: leader.map(|l| l.holder) });
        }
        let started = (inner.clock)();
        let floor = FencingToken(inner.seen.load(Ordering::Relaxed));
        match inner.bounded(inner.backend.try_acquire(&inner.id, floor)).await? {
            Attempt::Won { token, replaced_dead } => {
                inner.saw(token);
                if let Some(previous) = replaced_dead {
                    tracing::info!(
                        bot_id = %inner.id,
                        previous = %previous,
                        %token,
                        backend = B::NAME,
                        "Previous leader {previous} is dead, taking over"
                    );
                }
                if let Some(timer) = lock(&inner.expiry_timer).take() {
                    timer.abort();
                }
                let valid_until = Inner::start_term(inner, token, started);
                Ok(Leadership::Leader(inner.lease_of(token, valid_until)))
            }
            Attempt::Lost { leader } => {
                if let Some(info) = &leader {
                    inner.saw(info.token);
                    Inner::wake_at_expiry(inner, info.expires_at);
                }
                Ok(Leadership::Follower { leader: leader.map(|l| l.holder) })
            }
            Attempt::Held { until } => {
                Inner::wake_at_expiry(inner, until);
                Ok(Leadership::Follower { leader: None })
            }
        }
    }

    pub(crate) async fn release(&self) -> Result<(), ElectionError> {
        let inner = &self.inner;
        let _op = inner.op.lock().await;
        let token = {
            let mut term = lock(&inner.term);
            let token = match &*term {
                Term::Leading { token, renewer, .. } => {
                    renewer.abort();
                    Some(*token)
                }
                Term::Lapsed { token } => Some(*token),
                Term::Idle => None,
            };
            *term = Term::Idle;
            token
        };
        match token {
            Some(token) => inner.bounded(inner.backend.release(&inner.id, token)).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let info = self.inner.bounded(self.inner.backend.leader()).await?;
        if let Some(info) = &info {
            self.inner.saw(info.token);
        }
        Ok(info)
    }

    pub(crate) async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        let deposed = self.inner.bounded(self.inner.backend.force_step_down()).await?;
        if let Some(info) = &deposed {
            tracing::warn!(
                bot_id = %self.inner.id,
                deposed = %info.holder,
                token = %info.token,
                backend = B::NAME,
                "forced the leader to step down"
            );
        }
        Ok(deposed)
    }
}

impl<B: Backend> Drop for Core<B> {
    fn drop(&mut self) {
        if let Some(n) = &self.notifier {
            n.abort();
        }
        if let Some(t) = lock(&self.inner.expiry_timer).take() {
            t.abort();
        }
        if let Term::Leading { renewer, .. } = &*lock(&self.inner.term) {
            renewer.abort();
        }
    }
}

impl<B: Backend> Inner<B> {
    fn lease_of(&self, token: FencingToken, valid_until: BootInstant) -> Lease {
        Lease { holder: self.id.clone(), token, valid_until }
    }

    fn saw(&self, token: FencingToken) {
        self.seen.fetch_max(token.0, Ordering::Relaxed);
    }

    /// Bounds one backend call by the renew deadline: an answer later than that is useless.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, ElectionError>>,
    ) -> Result<T, ElectionError> {
        let limit = self.lease.renew_deadline();
        tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
            Err(ElectionError::Unavailable {
                backend: B::NAME,
                reason: format!("no answer within {limit:?}"),
            })
        })
    }

    /// Starts a term that began (was acquired or last renewed) at `started`; returns its deadline.
    fn start_term(this: &Arc<Self>, token: FencingToken, started: BootInstant) -> BootInstant {
        let renewer = tokio::spawn(renew_loop(Arc::downgrade(this), token)).abort_handle();
        let mut term = lock(&this.term);
        if let Term::Leading { renewer: old, .. } = &*term {
            old.abort();
        }
        *term = Term::Leading { token, renewed_at: started, renewer };
        started.saturating_add(this.lease.renew_deadline())
    }

    /// After a deposed term ended: frees the record (followers are told and take it) and stays
    /// out of the election for one lease duration, so another bot becomes leader.
    async fn let_go_deposed(this: &Arc<Self>, token: FencingToken) {
        tracing::warn!(
            bot_id = %this.id, backend = B::NAME, %token,
            "an operator deposed this leader: stopped acting, handing over"
        );
        *lock(&this.benched_until) = Some((this.clock)().saturating_add(this.lease.duration()));
        if let Err(e) = this.bounded(this.backend.release(&this.id, token)).await {
            tracing::warn!(bot_id = %this.id, backend = B::NAME, %token, error = %e, "releasing the deposed record failed; it runs out instead");
        }
        this.waker.wake();
    }

    /// Fails closed: stops claiming leadership of `token`'s term.
    fn lapse(&self, term: &mut Term, token: FencingToken) {
        if let Term::Leading { token: t, renewer, .. } = &*term
            && *t == token
        {
            renewer.abort();
            tracing::warn!(
                bot_id = %self.id,
                backend = B::NAME,
                %token,
                deadline = ?self.lease.renew_deadline(),
                "no successful renewal within the renew deadline: stepping down"
            );
            *term = Term::Lapsed { token };
            self.waker.wake();
        }
    }

    /// Wakes followers shortly after the current leader's lease runs out, so a crashed leader is
    /// replaced without waiting for the embedder's next round.
    fn wake_at_expiry(this: &Arc<Self>, expires_at: SystemTime) {
        let floor = this.lease.renew_interval().min(Duration::from_millis(100));
        let delay = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .max(floor)
            .saturating_add(Duration::from_millis(5));
        let weak = Arc::downgrade(this);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = weak.upgrade() {
                inner.waker.wake();
            }
        })
        .abort_handle();
        if let Some(old) = lock(&this.expiry_timer).replace(timer) {
            old.abort();
        }
    }
}

/// Renews `token`'s term every renew interval until it is lost, lapses or is aborted.
///
/// Timers run on tokio's clock; validity is judged on the elector's (boot-time) clock, so a
/// machine that was suspended past the deadline lapses at its first renewal after waking,
/// whatever tokio's timers believe.
async fn renew_loop<B: Backend>(weak: Weak<Inner<B>>, token: FencingToken) {
    let mut last_attempt = Instant::now();
    loop {
        let Some(interval) = weak.upgrade().map(|i| i.lease.renew_interval()) else { return };
        tokio::time::sleep_until(last_attempt.checked_add(interval).unwrap_or(last_attempt).into()).await;
        let Some(inner) = weak.upgrade() else { return };
        last_attempt = Instant::now();
        let started = (inner.clock)();
        let deadline = match &*lock(&inner.term) {
            Term::Leading { token: t, renewed_at, .. } if *t == token => {
                renewed_at.saturating_add(inner.lease.renew_deadline())
            }
            _ => return,
        };
        let remaining = deadline.saturating_duration_since(started);
        let outcome = if remaining.is_zero() {
            None
        } else {
            tokio::time::timeout(interval.min(remaining), inner.backend.renew(&inner.id, token)).await.ok()
        };
        match outcome {
            Some(Ok(Renewal::Renewed)) => {
                if let Term::Leading { token: t, renewed_at, .. } = &mut *lock(&inner.term)
                    && *t == token
                {
                    *renewed_at = started;
                }
                continue;
            }
            Some(Ok(Renewal::Lost)) => {
                let mut term = lock(&inner.term);
                if matches!(&*term, Term::Leading { token: t, .. } if *t == token) {
                    tracing::warn!(
                        bot_id = %inner.id,
                        backend = B::NAME,
                        %token,
                        "leadership lost: the record is no longer ours"
                    );
                    *term = Term::Idle;
                    inner.waker.wake();
                }
                return;
            }
            Some(Ok(Renewal::Deposed)) => {
                // The term ends first; only then is the record freed for the others.
                let ended = {
                    let mut term = lock(&inner.term);
                    let ours = matches!(&*term, Term::Leading { token: t, .. } if *t == token);
                    if ours {
                        *term = Term::Idle;
                    }
                    ours
                };
                if ended {
                    Inner::let_go_deposed(&inner, token).await;
                }
                return;
            }
            Some(Err(e)) => {
                tracing::warn!(bot_id = %inner.id, backend = B::NAME, %token, error = %e, "renewing leadership failed")
            }
            None => {
                tracing::warn!(bot_id = %inner.id, backend = B::NAME, %token, "renewing leadership timed out")
            }
        }
        if (inner.clock)() >= deadline {
            let mut term = lock(&inner.term);
            inner.lapse(&mut term, token);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A backend in memory that can be taken down and made slow.
    #[derive(Default)]
    struct Fake {
        /// Holder, token, deposed.
        holder: Mutex<Option<(String, u64, bool)>>,
        counter: AtomicU64,
        down: AtomicBool,
        delay_ms: AtomicU64,
        renewals: AtomicU64,
    }

    struct FakeBackend(Arc<Fake>);

    impl FakeBackend {
        async fn pause(&self) -> Result<(), ElectionError> {
            tokio::time::sleep(Duration::from_millis(self.0.delay_ms.load(Ordering::Relaxed))).await;
            if self.0.down.load(Ordering::Relaxed) {
                return Err(ElectionError::Unavailable { backend: "fake", reason: "down".into() });
            }
            Ok(())
        }
    }

    fn info(holder: &(String, u64, bool)) -> LeaderInfo {
        LeaderInfo {
            holder: holder.0.clone(),
            token: FencingToken(holder.1),
            expires_at: SystemTime::now() + Duration::from_millis(300),
        }
    }

    #[async_trait]
    impl Backend for FakeBackend {
        const NAME: &'static str = "fake";

        async fn try_acquire(&self, id: &str, floor: FencingToken) -> Result<Attempt, ElectionError> {
            self.pause().await?;
            let mut h = lock(&self.0.holder);
            if let Some(current) = &*h {
                if current.2 {
                    return Ok(Attempt::Held { until: SystemTime::now() + Duration::from_millis(300) });
                }
                return Ok(Attempt::Lost { leader: Some(info(current)) });
            }
            let token = self.0.counter.fetch_add(1, Ordering::Relaxed).max(floor.0) + 1;
            *h = Some((id.to_owned(), token, false));
            Ok(Attempt::Won { token: FencingToken(token), replaced_dead: None })
        }

        async fn renew(&self, id: &str, token: FencingToken) -> Result<Renewal, ElectionError> {
            self.pause().await?;
            self.0.renewals.fetch_add(1, Ordering::Relaxed);
            Ok(match &*lock(&self.0.holder) {
                Some((h, t, deposed)) if h == id && *t == token.0 => {
                    if *deposed {
                        Renewal::Deposed
                    } else {
                        Renewal::Renewed
                    }
                }
                _ => Renewal::Lost,
            })
        }

        async fn release(&self, id: &str, token: FencingToken) -> Result<(), ElectionError> {
            self.pause().await?;
            let mut h = lock(&self.0.holder);
            if h.as_ref().is_some_and(|(i, t, _)| i == id && *t == token.0) {
                *h = None;
            }
            Ok(())
        }

        async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
            self.pause().await?;
            Ok(lock(&self.0.holder).as_ref().filter(|h| !h.2).map(info))
        }

        async fn force_step_down(&self) -> Result<Option<LeaderInfo>, ElectionError> {
            self.pause().await?;
            let mut holder = lock(&self.0.holder);
            match holder.as_mut() {
                Some(h) if !h.2 => {
                    h.2 = true;
                    Ok(Some(info(h)))
                }
                _ => Ok(None),
            }
        }

        fn notifier(self: &Arc<Self>, _waker: Waker) -> Option<Task> {
            None
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn elector(fake: &Arc<Fake>, id: &str) -> Core<FakeBackend> {
        let lease = LeaseConfig::new(ms(300), ms(20), ms(150)).unwrap();
        Core::new(FakeBackend(Arc::clone(fake)), id.into(), lease).unwrap()
    }

    fn lease_of(l: Leadership) -> Lease {
        match l {
            Leadership::Leader(lease) => lease,
            other => panic!("expected leadership, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn renews_in_the_background_fails_closed_and_resumes() {
        let fake = Arc::new(Fake::default());
        let a = elector(&fake, "a");
        let first = lease_of(a.acquire_or_renew().await.unwrap());
        tokio::time::sleep(ms(100)).await;
        assert!(fake.renewals.load(Ordering::Relaxed) >= 3, "renewals run without rounds");
        let renewed = lease_of(a.acquire_or_renew().await.unwrap());
        assert_eq!(renewed.token, first.token);
        assert!(renewed.valid_until > first.valid_until);

        assert!(a.live_deadline(&first).unwrap() >= renewed.valid_until, "the live deadline moves on");

        fake.down.store(true, Ordering::Relaxed);
        let down_at = BootInstant::now();
        let last = lease_of(a.acquire_or_renew().await.unwrap());
        assert!(
            last.valid_until <= down_at.saturating_add(ms(150)),
            "validity never reaches past the last renewal's deadline"
        );
        let mut wake = a.watch();
        tokio::time::timeout(ms(1000), wake.changed()).await.unwrap().unwrap();
        assert!(BootInstant::now() >= last.valid_until, "stepped down at the deadline, not before");
        assert_eq!(a.live_deadline(&last), None, "a lapsed term has no deadline");
        assert!(matches!(a.acquire_or_renew().await, Err(ElectionError::Unavailable { .. })));

        // Back up, and the record is still ours: the same term resumes.
        fake.down.store(false, Ordering::Relaxed);
        assert_eq!(lease_of(a.acquire_or_renew().await.unwrap()).token, first.token);
    }

    #[tokio::test]
    async fn a_deposed_leader_lets_go_at_its_next_renewal_and_nobody_leads_before() {
        let fake = Arc::new(Fake::default());
        let (a, b) = (elector(&fake, "a"), elector(&fake, "b"));
        let first = lease_of(a.acquire_or_renew().await.unwrap());
        let mut a_wake = a.watch();
        assert_eq!(b.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("a".into()) });
        assert_eq!(b.force_step_down().await.unwrap().unwrap().token, first.token);
        assert_eq!(b.force_step_down().await.unwrap(), None, "already deposed");
        assert_eq!(b.leader().await.unwrap(), None, "nobody leads");
        // Until the deposed leader has learnt it, nobody else may lead.
        assert_eq!(b.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: None });
        tokio::time::timeout(ms(1000), a_wake.changed()).await.unwrap().unwrap();
        assert_eq!(a.live_deadline(&first), None, "the deposed term is over");
        let second = lease_of(b.acquire_or_renew().await.unwrap());
        assert!(second.token > first.token);
        assert_eq!(a.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some("b".into()) });
    }

    /// The offset a test adds to the boot-time clock, as a suspend would.
    static SUSPENDED_MS: AtomicU64 = AtomicU64::new(0);

    fn suspendable_clock() -> BootInstant {
        BootInstant::now().saturating_add(ms(SUSPENDED_MS.load(Ordering::Relaxed)))
    }

    #[tokio::test]
    async fn a_suspended_leader_wakes_up_without_its_lease() {
        let fake = Arc::new(Fake::default());
        let lease = LeaseConfig::new(ms(300), ms(20), ms(150)).unwrap();
        let a =
            Core::with_clock(FakeBackend(Arc::clone(&fake)), "a".into(), lease, suspendable_clock).unwrap();
        let first = lease_of(a.acquire_or_renew().await.unwrap());
        // A suspend: the boot-time clock jumps past the deadline while no timer of this process
        // (tokio's, std's monotonic `Instant`) moves.
        SUSPENDED_MS.store(10_000, Ordering::Relaxed);
        // Either the deadline has passed on the boot-time clock, or the renewer already lapsed
        // the term; never a deadline still ahead.
        let deadline = a.live_deadline(&first);
        assert!(
            deadline.is_none_or(|d| d <= suspendable_clock()),
            "{deadline:?} still ahead after the suspend"
        );
        // The first round after waking lapses the term, then resumes it only because the backend
        // (which did not expire it here) says the record is still ours, with a fresh deadline.
        let resumed = lease_of(a.acquire_or_renew().await.unwrap());
        assert_eq!(resumed.token, first.token);
        assert!(resumed.valid_until > suspendable_clock());
        SUSPENDED_MS.store(0, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn validity_counts_from_the_start_of_the_call() {
        let fake = Arc::new(Fake::default());
        fake.delay_ms.store(60, Ordering::Relaxed);
        let a = elector(&fake, "a");
        let started = BootInstant::now();
        let lease = lease_of(a.acquire_or_renew().await.unwrap());
        let ended = BootInstant::now();
        // The term counts from when the attempt started, not from the answer 60 ms later: the
        // start lies between `started` and 60 ms before `ended` (order only, no slack).
        let attempt_start = lease.valid_until.checked_sub(ms(150)).unwrap();
        assert!(attempt_start >= started, "the term starts before the call");
        assert!(
            ended.saturating_duration_since(attempt_start) >= ms(60),
            "a slow answer extended the lease: the term starts less than 60 ms before the answer"
        );
        a.release().await.unwrap();
        assert_eq!(a.leader().await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_empty_id_is_refused() {
        let fake = Arc::new(Fake::default());
        let lease = LeaseConfig::default();
        assert!(matches!(Core::new(FakeBackend(fake), " ".into(), lease), Err(ElectionError::Config(_))));
    }
}
