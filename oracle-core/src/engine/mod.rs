//! The update engine: one tick reads, decides and (as leader) submits; [`Engine::run`] ticks
//! until cancelled.

mod alerting;
mod landing;
pub mod metrics;
mod report;
mod targets;

use std::{
    collections::HashMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

pub(crate) use self::alerting::format_bps;
pub use self::alerting::{AlertRules, DEFAULT_FAILURE_THRESHOLD, keys as alert_keys, move_held_key};
pub use self::report::{EngineStatus, Landed, TickFailure, TickOutcome, TickReport};
pub use self::targets::Targets;
use self::{alerting::AlertFanout, metrics as m};
use crate::{
    Alerter, Decision, FeedId, Fence, FencingToken, Holds, LeaderElector, Leadership, Lease, Observation,
    OnChainState, PendingUpdate, Policy, PriceSource, Rejection, SourceError, SubmitError, SubmitPlan,
    Submitter, confirm, decide,
};

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A required part was not given.
    #[error("the engine needs {0}")]
    Missing(&'static str),
    /// Two sources were given for one feed (aggregate them into one source instead).
    #[error("feed {0} has two sources; combine them with an aggregating source")]
    DuplicateFeed(FeedId),
    /// A duration knob is out of range.
    #[error("invalid engine setting: {0}")]
    Invalid(String),
}

/// Composes sources, an elector, a submitter and alerters into an [`Engine`].
///
/// ```
/// use std::time::Duration;
/// use oracle_core::{AlwaysLeader, Engine, FeedId, LogAlerter, Policy};
/// # fn parts() -> (std::sync::Arc<dyn oracle_core::PriceSource>, std::sync::Arc<dyn oracle_core::Submitter>) { unimplemented!() }
/// # fn demo() -> Result<(), oracle_core::EngineError> {
/// let (eth_source, submitter) = parts();
/// let engine = Engine::builder()
///     .source(FeedId::ETH_USD, eth_source)
///     .elector(std::sync::Arc::new(AlwaysLeader::new("bot-1")))
///     .submitter(submitter)
///     .alerter(std::sync::Arc::new(LogAlerter))
///     .policy(Policy::default())
///     .interval(Duration::from_secs(300))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct EngineBuilder {
    sources: Vec<(FeedId, Arc<dyn PriceSource>)>,
    elector: Option<Arc<dyn LeaderElector>>,
    submitter: Option<Arc<dyn Submitter>>,
    alerters: Vec<Arc<dyn Alerter>>,
    policy: Policy,
    interval: Option<Duration>,
    lease_margin: Option<Duration>,
    step_timeout: Option<Duration>,
    retries: Option<(usize, Duration)>,
    receipt_timeout: Option<Duration>,
    health_gate: Option<(u32, Duration)>,
    alert_rules: AlertRules,
    shutdown_grace: Option<Duration>,
    target: Option<String>,
    chain: Option<String>,
}

// By hand: the parts are trait objects, shown by name.
impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("sources", &self.sources.iter().map(|(feed, s)| (feed, s.name())).collect::<Vec<_>>())
            .field("elector", &self.elector.as_ref().map(|e| e.id()))
            .field("submitter", &self.submitter.as_ref().map(|s| s.name()))
            .field("alerters", &self.alerters.iter().map(|a| a.name()).collect::<Vec<_>>())
            .field("policy", &self.policy)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// How long [`Engine::run`] lets the tick in progress finish once cancelled, by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

impl EngineBuilder {
    /// The source of `feed`. One source per feed; aggregate several in an aggregating source.
    pub fn source(mut self, feed: FeedId, source: Arc<dyn PriceSource>) -> Self {
        self.sources.push((feed, source));
        self
    }

    /// Sources for several feeds at once (as a source configuration builds them).
    pub fn sources(mut self, sources: impl IntoIterator<Item = (FeedId, Arc<dyn PriceSource>)>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// The leader elector (required; [`crate::AlwaysLeader`] for a single bot).
    pub fn elector(mut self, elector: Arc<dyn LeaderElector>) -> Self {
        self.elector = Some(elector);
        self
    }

    /// The submitter (required).
    pub fn submitter(mut self, submitter: Arc<dyn Submitter>) -> Self {
        self.submitter = Some(submitter);
        self
    }

    /// Adds an alerter; alerts go to every one.
    pub fn alerter(mut self, alerter: Arc<dyn Alerter>) -> Self {
        self.alerters.push(alerter);
        self
    }

    /// The update policy (default [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Time between ticks (default 300 s, the old bot's `UPDATE_INTERVAL_MS`).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// How much lease validity must remain before each step that acts (default 2 s).
    pub fn lease_margin(mut self, margin: Duration) -> Self {
        self.lease_margin = Some(margin);
        self
    }

    /// The limit for each read step: election, state read, source fetch (default 30 s).
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    /// Retries of a read that failed because a node or source was unreachable, within one tick:
    /// how many, and the pause between them (default 3 × 5 s, the old bot's `MAX_RETRIES` and
    /// `RETRY_DELAY_MS`). Refusals (a stale or wrong price, a revert) are never retried.
    pub fn retries(mut self, max: usize, delay: Duration) -> Self {
        self.retries = Some((max, delay));
        self
    }

    /// How long one update may take from broadcast to receipt, replacements included, before the
    /// tick gives up (the update is still followed by the next tick) (default 120 s).
    pub fn receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = Some(timeout);
        self
    }

    /// Names this engine's target, for a process that drives several ([`Targets`]): every metric
    /// series then carries a `target` label with it, every log line of its ticks a `tick` span
    /// with `target` (and `chain`, see [`chain`](Self::chain)), and every alert the name in its
    /// key (`<target>/<key>`, so alerters shared by many targets deduplicate and resolve each
    /// target's conditions apart) and title (`[<target>] ...`). Default: none, the old bot's
    /// unlabelled series, lines and alerts.
    pub fn target(mut self, name: impl Into<String>) -> Self {
        self.target = Some(name.into());
        self
    }

    /// Names the chain this engine's target is on, for a process that drives targets on several
    /// chains: every metric series then carries a `chain` label with it, as [`target`](Self::target)
    /// adds `target` (default: none).
    pub fn chain(mut self, name: impl Into<String>) -> Self {
        self.chain = Some(name.into());
        self
    }

    /// How long [`Engine::run`] lets the tick in progress finish once cancelled (default
    /// [`DEFAULT_SHUTDOWN_GRACE`]). An update in flight is then followed to its receipt, logged
    /// and counted, or carried (journaled) to the next start, instead of being dropped unseen.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// Health-gated leadership: after `max_failures` consecutive leader ticks that could not
    /// reach the target or could not submit, give up leadership and stay a follower for
    /// `backoff`, so a healthy bot takes over (off by default: a single bot has no one to hand
    /// over to).
    pub fn health_gate(mut self, max_failures: u32, backoff: Duration) -> Self {
        self.health_gate = Some((max_failures.max(1), backoff));
        self
    }

    /// What raises alerts beyond each tick's outcome: the failure threshold, the stale limit,
    /// leadership changes (default [`AlertRules::default`]).
    pub fn alert_rules(mut self, rules: AlertRules) -> Self {
        self.alert_rules = rules;
        self
    }

    /// Validates and builds the engine.
    pub fn build(self) -> Result<Engine, EngineError> {
        let elector = self.elector.ok_or(EngineError::Missing("a leader elector"))?;
        let submitter = self.submitter.ok_or(EngineError::Missing("a submitter"))?;
        let mut sources = HashMap::new();
        for (feed, source) in self.sources {
            if sources.insert(feed.clone(), source).is_some() {
                return Err(EngineError::DuplicateFeed(feed));
            }
        }
        if sources.is_empty() {
            return Err(EngineError::Missing("at least one price source"));
        }
        let interval = self.interval.unwrap_or(Duration::from_secs(300));
        if interval.is_zero() {
            return Err(EngineError::Invalid("the tick interval must be above zero".into()));
        }
        let step_timeout = self.step_timeout.unwrap_or(Duration::from_secs(30));
        if step_timeout.is_zero() {
            return Err(EngineError::Invalid("the step timeout must be above zero".into()));
        }
        let bot_id = elector.id().to_owned();
        // A heartbeat update is due at the first tick at or after the heartbeat age.
        let stale_after = self.policy.heartbeat().saturating_add(interval);
        let (status, _) = watch::channel(EngineStatus { bot_id: bot_id.clone(), ..Default::default() });
        Ok(Engine {
            bot_id,
            sources,
            elector,
            submitter,
            alerts: AlertFanout::new(self.alerters, step_timeout, self.alert_rules, stale_after)
                .scoped(self.target.clone()),
            policy: std::sync::RwLock::new(self.policy),
            interval: watch::channel(interval).0,
            lease_margin: self.lease_margin.unwrap_or(Duration::from_secs(2)),
            step_timeout,
            retries: self.retries.unwrap_or((3, Duration::from_secs(5))),
            receipt_timeout: self.receipt_timeout.unwrap_or(Duration::from_secs(120)),
            outstanding: Mutex::new(None),
            floor: std::sync::Mutex::new(None),
            holds: std::sync::Mutex::new(Holds::default()),
            health_gate: self.health_gate,
            shutdown_grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            metric_labels: [("target", &self.target), ("chain", &self.chain)]
                .into_iter()
                .filter_map(|(k, v)| v.clone().map(|v| ::metrics::Label::new(k, v)))
                .collect(),
            span_fields: self.target.map(|t| (t, self.chain.unwrap_or_default())),
            target_failures: std::sync::atomic::AtomicU32::new(0),
            backoff_until: std::sync::Mutex::new(None),
            status,
            tick_lock: Mutex::new(()),
        })
    }
}

/// Drives sources, elector, submitter and alerters: one [`tick`](Engine::tick) at a time.
pub struct Engine {
    bot_id: String,
    sources: HashMap<FeedId, Arc<dyn PriceSource>>,
    elector: Arc<dyn LeaderElector>,
    submitter: Arc<dyn Submitter>,
    alerts: AlertFanout,
    /// The update policy: replaced whole by [`Engine::reconfigure`], read once per use.
    policy: std::sync::RwLock<Policy>,
    /// Time between ticks; [`Engine::run`] follows changes.
    interval: watch::Sender<Duration>,
    lease_margin: Duration,
    step_timeout: Duration,
    retries: (usize, Duration),
    receipt_timeout: Duration,
    /// An update sent by an earlier tick and not yet resolved, with the plan it came from.
    outstanding: Mutex<Option<(PendingUpdate, SubmitPlan)>>,
    /// The target's highest accepted fencing token: `None` until read (at the first tick, and
    /// again after the target refused a token as stale), then `Some(None)` for a target without
    /// a fence.
    floor: std::sync::Mutex<Option<Option<FencingToken>>>,
    /// Large moves seen on the last ticks and not yet confirmed.
    holds: std::sync::Mutex<Holds>,
    health_gate: Option<(u32, Duration)>,
    shutdown_grace: Duration,
    /// Labels every metric series of this engine carries (`target` and `chain`, when named).
    metric_labels: Vec<::metrics::Label>,
    /// A named target's name and chain: each tick then runs in a `tick` span carrying both, so
    /// every log line of a process driving many targets says which one it is about.
    span_fields: Option<(String, String)>,
    /// Consecutive leader ticks that failed against the target.
    target_failures: std::sync::atomic::AtomicU32,
    /// While set and in the future (or `Some(None)`: past the clock's range), this bot does not
    /// try to lead.
    backoff_until: std::sync::Mutex<Option<Option<Instant>>>,
    status: watch::Sender<EngineStatus>,
    /// Ticks never overlap, even when an embedder calls `tick` while `run` is going.
    tick_lock: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("bot_id", &self.bot_id)
            .field("feeds", &self.sources.keys().collect::<Vec<_>>())
            .field("submitter", &self.submitter.name())
            .field("policy", &self.policy())
            .field("interval", &*self.interval.borrow())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// This bot's id.
    pub fn bot_id(&self) -> &str {
        &self.bot_id
    }

    /// The running totals, updated after every tick; await `changed()` to follow ticks.
    pub fn status(&self) -> watch::Receiver<EngineStatus> {
        self.status.subscribe()
    }

    /// The update policy in force.
    pub fn policy(&self) -> Policy {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The time between ticks in force.
    pub fn interval(&self) -> Duration {
        *self.interval.borrow()
    }

    /// Replaces the policy and the tick interval of a running engine (a configuration reload):
    /// the next decision uses the new policy, and [`run`](Self::run) ticks at the new interval
    /// from its next tick on. A zero interval is refused.
    pub fn reconfigure(&self, policy: Policy, interval: Duration) -> Result<(), EngineError> {
        if interval.is_zero() {
            return Err(EngineError::Invalid("the tick interval must be above zero".into()));
        }
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        self.interval.send_if_modified(|i| std::mem::replace(i, interval) != interval);
        Ok(())
    }

    /// Ticks every interval until `cancel` fires, then releases leadership.
    pub async fn run(&self, cancel: CancellationToken) {
        tracing::info!(bot_id = %self.bot_id, interval = ?self.interval(), submitter = self.submitter.name(), "engine started");
        let mut intervals = self.interval.subscribe();
        let new_ticker = |every: Duration| {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        };
        let mut ticker = new_ticker(self.interval());
        let mut wake = self.elector.watch();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Ok(()) = intervals.changed() => {
                    // The first tick of a new interval comes one interval from now.
                    let every = *intervals.borrow_and_update();
                    ticker = new_ticker(every);
                    ticker.reset();
                    continue;
                }
                _ = ticker.tick() => {}
                // A follower is woken when leadership frees up, instead of waiting a whole interval.
                Some(()) = changed(&mut wake), if !self.status.borrow().is_leader => {}
            }
            let tick = self.tick();
            tokio::pin!(tick);
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    // Dropping the tick here would drop an update in flight unlogged and
                    // uncounted (found by the soak: a graceful restart's last update landed
                    // without a line). Let it finish: it lands, or times out and is carried.
                    if tokio::time::timeout(self.shutdown_grace, &mut tick).await.is_err() {
                        tracing::warn!(bot_id = %self.bot_id, grace = ?self.shutdown_grace, "the tick in progress did not finish within the shutdown grace; stopping anyway");
                    }
                    break;
                }
                _ = &mut tick => {}
            }
        }
        self.shutdown().await;
    }

    /// Releases leadership, so a follower can take over at once.
    pub(super) async fn shutdown(&self) {
        if self.status.borrow().is_leader {
            match tokio::time::timeout(self.step_timeout, self.elector.release()).await {
                Ok(Ok(())) => tracing::info!(bot_id = %self.bot_id, "released leadership"),
                Ok(Err(e)) => {
                    tracing::warn!(bot_id = %self.bot_id, error = %e, "releasing leadership failed")
                }
                Err(_) => tracing::warn!(bot_id = %self.bot_id, "releasing leadership timed out"),
            }
        }
        m::set_leader(&self.metric_labels, false, None);
        self.status.send_modify(|s| {
            s.is_leader = false;
            s.token = None;
        });
        tracing::info!(bot_id = %self.bot_id, "engine stopped");
    }

    /// Runs one tick now and returns its record.
    pub async fn tick(&self) -> TickReport {
        match &self.span_fields {
            None => self.tick_unlabelled().await,
            Some((target, chain)) => {
                use tracing::Instrument as _;
                let span = tracing::info_span!("tick", target = %target, chain = %chain);
                self.tick_unlabelled().instrument(span).await
            }
        }
    }

    async fn tick_unlabelled(&self) -> TickReport {
        let _guard = self.tick_lock.lock().await;
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let mut seen = Seen::default();
        // Every read of this tick runs inside its scope: sources shared by several feeds answer
        // them all from one read (one Chainlink round per tick).
        // Inside a round of several engines ([`Targets`]) the round's id is kept, so a source
        // shared between them (`OncePerTick`) is read once for all of them.
        let id = current_tick().unwrap_or_else(next_tick_id);
        let outcome = TICK.scope(id, self.tick_inner(&mut seen)).await;
        let report = TickReport {
            started_at,
            took: clock.elapsed(),
            token: seen.lease.as_ref().map(|l| l.token),
            outcome,
        };
        let is_leader = seen.lease.is_some();
        if is_leader && !self.status.borrow().is_leader {
            tracing::info!(bot_id = %self.bot_id, token = ?report.token, "Bot {} became leader", self.bot_id);
        }
        self.log(&report);
        self.record(&report, seen);
        if let Some(highest) = stale_token(&report.outcome) {
            self.step_down_from_stale_term(highest).await;
        } else if is_leader {
            self.gate_on_target_health(&report.outcome).await;
        }
        let status = self.status.borrow().clone();
        self.alerts.observe(&self.bot_id, &report.outcome, &status).await;
        report
    }

    /// Counts leader ticks that failed against the target; at the gate's limit, gives up
    /// leadership and backs off.
    async fn gate_on_target_health(&self, outcome: &TickOutcome) {
        use std::sync::atomic::Ordering;
        let Some((max, backoff)) = self.health_gate else { return };
        let target_failure = match outcome {
            TickOutcome::Failed(TickFailure::ReadState(e)) => e.is_unreachable(),
            // A term the target refuses cannot update it: let a bot that can take over.
            TickOutcome::Failed(TickFailure::StaleToken { .. }) => true,
            TickOutcome::Failed(
                TickFailure::TimedOut { .. } | TickFailure::Send(_) | TickFailure::Wait(_),
            ) => true,
            _ => false,
        };
        if !target_failure {
            if !matches!(outcome, TickOutcome::Failed(_)) {
                self.target_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let failures = self.target_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < max {
            return;
        }
        self.target_failures.store(0, Ordering::Relaxed);
        tracing::warn!(
            bot_id = %self.bot_id, failures, backoff = ?backoff,
            "Bot {} gives up leadership after {failures} ticks that could not reach or submit to the target", self.bot_id
        );
        // A backoff too long to represent is as good as "until restarted".
        let until = Instant::now().checked_add(backoff);
        *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
        self.give_up_leadership().await;
    }

    /// Releases leadership now (the term is not ours to use any more), so another bot, or this
    /// one with a new term, can lead.
    async fn give_up_leadership(&self) {
        if let Err(e) = self
            .step("releasing leadership", self.elector.release())
            .await
            .and_then(|r| r.map_err(TickFailure::Election))
        {
            tracing::warn!(bot_id = %self.bot_id, error = %e, "releasing leadership failed; the lease runs out instead");
        }
        m::set_leader(&self.metric_labels, false, None);
        self.status.send_modify(|s| {
            s.is_leader = false;
            s.token = None;
        });
    }

    /// The target refused this term's token: a term with a larger token has written. Learn the
    /// floor, make the elector issue tokens above it, and give up this term so the next one
    /// (this bot's or another's) can write.
    async fn step_down_from_stale_term(&self, highest: FencingToken) {
        *self.floor.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let raised = self.elector.raise_floor(highest);
        tracing::warn!(
            bot_id = %self.bot_id, highest = %highest, elector_raised_its_floor = raised,
            "the target refused this term's fencing token: giving up the term"
        );
        self.target_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.give_up_leadership().await;
    }

    /// The target's highest accepted fencing token (read once, and again after a stale-token
    /// refusal), handed to the elector so new terms get larger tokens.
    async fn fencing_floor(&self) -> Result<Option<FencingToken>, TickFailure> {
        if let Some(known) = *self.floor.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(known);
        }
        let read = || self.submitter.fencing_floor();
        let floor = match self
            .read_step("reading the target's fencing token", read, SubmitError::is_unreachable)
            .await
        {
            Ok(Ok(floor)) => floor,
            Ok(Err(e)) => return Err(TickFailure::ReadState(e)),
            Err(timeout) => return Err(timeout),
        };
        if let Some(highest) = floor {
            let raised = self.elector.raise_floor(highest);
            tracing::info!(bot_id = %self.bot_id, highest = %highest, elector_raised_its_floor = raised, "fenced target: new terms get tokens above its highest");
        }
        *self.floor.lock().unwrap_or_else(|p| p.into_inner()) = Some(floor);
        Ok(floor)
    }

    async fn tick_inner(&self, seen: &mut Seen) -> TickOutcome {
        let backing_off = {
            let mut until = self.backoff_until.lock().unwrap_or_else(|p| p.into_inner());
            match *until {
                // `None` inside: a backoff too long for the clock, which never ends.
                Some(None) => true,
                Some(Some(t)) if Instant::now() < t => true,
                Some(_) => {
                    *until = None;
                    false
                }
                None => false,
            }
        };
        if backing_off {
            seen.backing_off = true;
            self.observe_target(seen).await;
            return TickOutcome::Follower { leader: None };
        }
        // Before the first election round: an elector told the target's floor issues a token
        // above it at once.
        let floor = match self.fencing_floor().await {
            Ok(floor) => floor,
            Err(failure) => return TickOutcome::Failed(failure),
        };
        let lease = match self.step("leader election", self.elector.acquire_or_renew()).await {
            Ok(Ok(Leadership::Leader(lease))) => lease,
            Ok(Ok(Leadership::Follower { leader })) => {
                self.observe_target(seen).await;
                return TickOutcome::Follower { leader };
            }
            Ok(Err(e)) => return TickOutcome::Failed(TickFailure::Election(e)),
            Err(timeout) => return TickOutcome::Failed(timeout),
        };
        // Equal is this term's own token: the target accepts a term's repeated updates.
        if let Some(highest) = floor
            && lease.token < highest
        {
            // The target would refuse every update of this term: do not act on it.
            let can_raise = self.elector.raise_floor(highest);
            self.give_up_leadership().await;
            return TickOutcome::Failed(TickFailure::StaleToken { token: lease.token, highest, can_raise });
        }
        // Live: every check reads the term as the background renewals keep it, not this copy.
        let fence = Fence::live(Arc::clone(&self.elector), lease.clone(), self.lease_margin);
        if let Err(lost) = fence.check() {
            return TickOutcome::Failed(lost.into());
        }
        seen.lease = Some(lease);

        let read = || self.submitter.read_state();
        let state = match self.read_step("reading the target", read, SubmitError::is_unreachable).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => return TickOutcome::Failed(TickFailure::ReadState(e)),
            Err(timeout) => return TickOutcome::Failed(timeout),
        };
        seen.state = Some(state.clone());

        let last_gas_used = self.status.borrow().last_gas_used;
        self.alerts.observe_balance(&self.bot_id, &state, last_gas_used, &self.policy()).await;

        // An update still in flight is followed before anything new is sent: one an earlier tick
        // left, or one the submitter remembers from before a restart or another bot's term.
        let outstanding = match self.outstanding.lock().await.take() {
            Some(o) => Some(o),
            None => self.recover().await,
        };
        if let Some((pending, plan)) = outstanding {
            tracing::info!(bot_id = %self.bot_id, nonce = pending.nonce, tx_hash = %pending.tx_hash, "following the update still in flight");
            return self.follow(pending, &fence, plan).await;
        }

        let observations = match self.fetch_all(&state).await {
            Ok(obs) => obs,
            Err(failure) => return TickOutcome::Failed(failure),
        };
        let policy = self.policy();
        let decision = decide(&state, &observations, &policy, Self::decision_time(&state));
        // Large moves wait for confirming ticks (pure: what was seen goes in, the next state out).
        let decision = {
            let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
            let (decision, next) = confirm(decision, &holds, &policy);
            *holds = next;
            decision
        };
        let plan = match decision {
            Decision::Skip(reason) => return TickOutcome::Skipped(reason),
            Decision::Submit(plan) => plan,
        };
        self.land(&observations, plan, &fence).await
    }

    /// A follower's one read of the target (a single attempt, no retries): every bot exports the
    /// oracle's state, so when the leader dies the series an `OraclePriceStale` rule needs do not
    /// vanish with it, and `/health` and `/ready` judge the data and the target from each bot.
    async fn observe_target(&self, seen: &mut Seen) {
        match self.step("reading the target", self.submitter.read_state()).await {
            Ok(Ok(state)) => seen.state = Some(state),
            Ok(Err(e)) => {
                tracing::warn!(bot_id = %self.bot_id, error = %e, "follower could not read the target");
                seen.target_unreachable = e.is_unreachable();
            }
            Err(e) => {
                tracing::warn!(bot_id = %self.bot_id, error = %e, "follower could not read the target");
                seen.target_unreachable = true;
            }
        }
    }

    /// An unresolved update the submitter remembers (its journal), with a plan to follow it by.
    async fn recover(&self) -> Option<(PendingUpdate, SubmitPlan)> {
        match self.step("recovering in-flight updates", self.submitter.recover()).await {
            Ok(Ok(Some(pending))) => {
                tracing::warn!(
                    bot_id = %self.bot_id, nonce = pending.nonce, tx_hash = %pending.tx_hash,
                    "found an update sent earlier and not yet resolved: following it"
                );
                let plan =
                    SubmitPlan { update: pending.update.clone(), reasons: Vec::new(), review: Vec::new() };
                Some((pending, plan))
            }
            Ok(Ok(None)) => None,
            // Sending stays safe without it: a new update takes the lowest pending nonce.
            Ok(Err(e)) => {
                tracing::error!(bot_id = %self.bot_id, error = %e, "cannot read the in-flight journal");
                None
            }
            Err(e) => {
                tracing::error!(bot_id = %self.bot_id, error = %e, "cannot read the in-flight journal");
                None
            }
        }
    }

    /// Fetches every feed the target stores, concurrently.
    async fn fetch_all(&self, state: &OnChainState) -> Result<HashMap<FeedId, Observation>, TickFailure> {
        let fetches = state.feeds.iter().map(|stored| async move {
            let feed = &stored.feed;
            let Some(source) = self.sources.get(feed) else {
                return Ok(None);
            };
            let fetch = || source.fetch(feed);
            match self.read_step("fetching a price", fetch, SourceError::is_unreachable).await {
                Ok(Ok(obs)) => Ok(Some((feed.clone(), obs))),
                Ok(Err(error)) => Err(TickFailure::Source { feed: feed.clone(), error }),
                Err(timeout) => Err(timeout),
            }
        });
        let results = futures_util::future::join_all(fetches).await;
        let mut out = HashMap::new();
        for r in results {
            if let Some((feed, obs)) = r? {
                out.insert(feed, obs);
            }
        }
        Ok(out)
    }

    /// Runs a read, retrying while `transient` says the failure is a node or source being down.
    /// The step is bounded by one step timeout per attempt plus the pauses between attempts.
    async fn read_step<T, E, Fut>(
        &self,
        step: &'static str,
        op: impl FnMut() -> Fut,
        transient: fn(&E) -> bool,
    ) -> Result<Result<T, E>, TickFailure>
    where
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        use backon::{ConstantBuilder, Retryable};
        let (times, delay) = self.retries;
        let attempts = u32::try_from(times).unwrap_or(u32::MAX).saturating_add(1);
        let bound =
            self.step_timeout.saturating_mul(attempts).saturating_add(delay.saturating_mul(attempts - 1));
        let retried = op
            .retry(ConstantBuilder::default().with_delay(delay).with_max_times(times))
            .when(transient)
            .notify(|e, after| tracing::warn!(bot_id = %self.bot_id, step, error = %e, retry_in = ?after, "read failed, retrying"));
        tokio::time::timeout(bound, retried).await.map_err(|_| TickFailure::TimedOut { step, after: bound })
    }

    async fn step<T>(&self, step: &'static str, fut: impl Future<Output = T>) -> Result<T, TickFailure> {
        tokio::time::timeout(self.step_timeout, fut)
            .await
            .map_err(|_| TickFailure::TimedOut { step, after: self.step_timeout })
    }

    fn log(&self, report: &TickReport) {
        let id = &self.bot_id;
        match &report.outcome {
            TickOutcome::Follower { leader } => {
                tracing::info!(bot_id = %id, outcome = report.outcome.label(), leader = leader.as_deref().unwrap_or("unknown"), "Bot {id} is follower, skipping update");
            }
            TickOutcome::Skipped(reason) => {
                if reason.is_problem() {
                    tracing::warn!(bot_id = %id, outcome = report.outcome.label(), reason = reason.label(), "update skipped: {reason}");
                } else {
                    tracing::info!(bot_id = %id, outcome = report.outcome.label(), reason = reason.label(), "update skipped: {reason}");
                }
            }
            TickOutcome::Submitted(landed) => {
                let prices: Vec<String> = landed.prices.iter().map(|(f, p)| format!("{f}={p}")).collect();
                tracing::info!(
                    bot_id = %id,
                    outcome = report.outcome.label(),
                    tx_hash = %landed.tx_hash,
                    block = landed.block,
                    gas_used = landed.gas_used,
                    token = ?report.token,
                    prices = %prices.join(" "),
                    reasons = ?landed.reasons,
                    "Oracle updated successfully"
                );
            }
            TickOutcome::Failed(failure) => {
                tracing::error!(bot_id = %id, outcome = report.outcome.label(), stage = failure.label(), error = %failure, "Oracle update failed");
            }
        }
    }

    fn record(&self, report: &TickReport, seen: Seen) {
        let was_leader = self.status.borrow().is_leader;
        let is_leader = seen.lease.is_some();
        m::record_tick(&self.metric_labels, report, is_leader, was_leader);
        let target_unreachable = seen.target_unreachable
            || matches!(&report.outcome, TickOutcome::Failed(TickFailure::ReadState(e)) if e.is_unreachable());
        self.status.send_modify(|s| {
            s.ticks += 1;
            s.is_leader = is_leader;
            s.token = report.token;
            s.backing_off = seen.backing_off;
            s.target_unreachable = target_unreachable;
            if let Some(state) = &seen.state {
                s.last_update = Some(state.last_update);
                s.chain_time = state.chain_time;
                s.prices = state.feeds.iter().map(|f| (f.feed.clone(), f.price)).collect();
                s.wallet_balance_wei = state.balance_wei;
                s.gas_price_wei = state.fee.map(|f| f.price_per_gas);
                m::record_state(&self.metric_labels, state, s.last_gas_used);
            }
            match &report.outcome {
                TickOutcome::Failed(_) => {
                    s.consecutive_failures += 1;
                    s.update_failures += 1;
                }
                TickOutcome::Submitted(landed) => {
                    s.consecutive_failures = 0;
                    s.total_updates += 1;
                    s.last_update = Some(report.started_at);
                    s.prices = landed.prices.clone();
                    s.last_gas_used = Some(landed.gas_used);
                    m::record_landed(&self.metric_labels, landed, report.started_at);
                }
                TickOutcome::Skipped(_) | TickOutcome::Follower { .. } => s.consecutive_failures = 0,
            }
            m::record_totals(&self.metric_labels, s);
            s.last_report = Some(report.clone());
        });
    }
}

/// What a tick saw on its way, for the status even when it failed later.
#[derive(Default)]
struct Seen {
    lease: Option<Lease>,
    state: Option<OnChainState>,
    /// The last read of the target failed because no endpoint answered.
    target_unreachable: bool,
    /// The health gate keeps this bot from leading.
    backing_off: bool,
}

tokio::task_local! {
    /// The id of the engine tick the current task runs, if any.
    static TICK: u64;
}

/// Tick ids, unique within the process (across engines).
static TICK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_tick_id() -> u64 {
    TICK_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs `fut` as one tick of reads: shared sources (`oracle_sources::OncePerTick`) answer each feed
/// once inside it, as they do within an engine tick. For tools that read several feeds outside
/// an engine (a CLI showing prices) and want them as consistent as one tick's.
pub async fn tick_scope<F: Future>(fut: F) -> F::Output {
    TICK.scope(next_tick_id(), fut).await
}

/// The id of the engine tick the calling task runs inside, or `None` outside any tick (a CLI
/// reading prices, a test calling a source directly).
///
/// Sources use it to read once per tick: see `oracle_sources::OncePerTick`. Reads spawned onto
/// other tasks are outside the tick.
pub fn current_tick() -> Option<u64> {
    TICK.try_with(|t| *t).ok()
}

/// The highest token of a stale-token refusal in `outcome`, if that is why the tick failed.
fn stale_token(outcome: &TickOutcome) -> Option<FencingToken> {
    match outcome {
        TickOutcome::Failed(
            TickFailure::Simulation(SubmitError::Rejected(Rejection::StaleFencingToken { highest, .. }))
            | TickFailure::Send(SubmitError::Rejected(Rejection::StaleFencingToken { highest, .. })),
        ) => Some(FencingToken(*highest)),
        _ => None,
    }
}

/// Waits for the elector's wake-up channel; never resolves when there is none or it closed.
async fn changed(rx: &mut Option<watch::Receiver<u64>>) -> Option<()> {
    match rx {
        Some(r) => match r.changed().await {
            Ok(()) => Some(()),
            Err(_) => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
