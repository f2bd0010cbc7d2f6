//! Test doubles for the four traits, for embedders' tests and examples (feature `test-utils`).
//!
//! - [`ScriptedSource`]: a [`PriceSource`] that answers from a script, repeating its last entry.
//! - [`MemoryTarget`]: a [`Submitter`] over an in-memory [`OnChainState`]: records what is sent,
//!   lands it at once, can be fenced like `FencedPriceOracle`, and can be told to fail a step.
//! - [`RecordingAlerter`]: an [`Alerter`] that keeps every alert.
//! - [`FixedLeader`]: a [`LeaderElector`] that always leads with a chosen fencing token; two of
//!   them with different tokens are two bots that both believe they lead.
//!
//! ```
//! use std::{sync::Arc, time::{Duration, SystemTime}};
//! use oracle_core::{Engine, FeedId, Price, TickOutcome, test_utils::*};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let target = Arc::new(MemoryTarget::holding(
//!     FeedId::ETH_USD,
//!     Price::parse("3000", 8)?,
//!     SystemTime::now() - Duration::from_secs(600),
//! ));
//! let engine = Engine::builder()
//!     .source(FeedId::ETH_USD, Arc::new(ScriptedSource::prices(8, &["3100"])?))
//!     .elector(Arc::new(FixedLeader::new("bot-1", 7)))
//!     .submitter(target.clone())
//!     .alerter(Arc::new(RecordingAlerter::default()))
//!     .build()?;
//! assert!(matches!(engine.tick().await.outcome, TickOutcome::Submitted(_)));
//! assert_eq!(target.sent().len(), 1);
//! assert_eq!(target.state().feeds[0].price, Price::parse("3100", 8)?);
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use async_trait::async_trait;

use crate::{
    Alert, AlertError, Alerter, B256, BootInstant, ElectionError, FeedId, FeedState, Fence, FencingToken,
    LeaderElector, LeaderInfo, Leadership, Lease, Observation, OnChainState, PendingUpdate, Price,
    PriceError, PriceSource, PriceUpdate, Rejection, Severity, SourceError, SubmitError, Submitter,
    UpdateOutcome,
};

/// A test double's state stays usable after a panicking test thread poisoned its lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A source that answers from a script of results, one per call, repeating the last.
#[derive(Debug)]
pub struct ScriptedSource {
    results: Vec<Result<Price, SourceError>>,
    calls: AtomicUsize,
}

impl ScriptedSource {
    /// A source answering `results` in turn (the last one for ever after).
    pub fn new(results: impl IntoIterator<Item = Result<Price, SourceError>>) -> Self {
        Self { results: results.into_iter().collect(), calls: AtomicUsize::new(0) }
    }

    /// A source answering `prices` (decimal strings at `decimals`) in turn.
    pub fn prices(decimals: u8, prices: &[&str]) -> Result<Self, PriceError> {
        let prices =
            prices.iter().map(|p| Price::parse(p, decimals).map(Ok)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(prices))
    }

    /// How many times it was asked.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PriceSource for ScriptedSource {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn fetch(&self, feed: &FeedId) -> Result<Observation, SourceError> {
        let i = self.calls.fetch_add(1, Ordering::SeqCst).min(self.results.len().saturating_sub(1));
        match self.results.get(i) {
            Some(Ok(price)) => Ok(Observation::new(feed.clone(), *price, SystemTime::now(), "scripted")),
            Some(Err(e)) => Err(e.clone()),
            None => Err(SourceError::Unreachable {
                source_name: "scripted".into(),
                reason: "empty script".into(),
            }),
        }
    }
}

/// A step of a [`Submitter`], for [`MemoryTarget::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetStep {
    /// [`Submitter::read_state`].
    ReadState,
    /// [`Submitter::simulate`].
    Simulate,
    /// [`Submitter::send`].
    Send,
    /// [`Submitter::wait`].
    Wait,
}

/// A target in memory: stores an [`OnChainState`], records every update sent and (unless
/// [`without_landing`](Self::without_landing)) lands it at once: the stored prices become the
/// update's, last updated now.
///
/// [`fenced`](Self::fenced) makes it refuse fencing tokens below the highest it accepted, as
/// `FencedPriceOracle` does; [`fail`](Self::fail) makes a step fail until
/// [`succeed`](Self::succeed).
#[derive(Debug)]
pub struct MemoryTarget {
    state: Mutex<OnChainState>,
    sent: Mutex<Vec<PriceUpdate>>,
    highest: Mutex<Option<u64>>,
    failures: Mutex<HashMap<TargetStep, SubmitError>>,
    lands: bool,
    floor_reads: AtomicUsize,
}

impl MemoryTarget {
    /// A target holding `state`.
    pub fn new(state: OnChainState) -> Self {
        Self {
            state: Mutex::new(state),
            sent: Mutex::default(),
            highest: Mutex::default(),
            failures: Mutex::default(),
            lands: true,
            floor_reads: AtomicUsize::new(0),
        }
    }

    /// A target holding one feed at `price`, last updated at `last_update`, with no bounds, no
    /// deviation rule, no fee and no balance to check.
    pub fn holding(feed: FeedId, price: Price, last_update: SystemTime) -> Self {
        Self::new(OnChainState {
            feeds: vec![FeedState { feed, price, bounds: None }],
            last_update,
            deviation_rule: None,
            fee: None,
            balance_wei: None,
            block: None,
            chain_time: None,
        })
    }

    /// Refuses fencing tokens below the highest accepted, starting from `highest`.
    pub fn fenced(self, highest: u64) -> Self {
        *lock(&self.highest) = Some(highest);
        self
    }

    /// Records updates but never changes the stored state: every tick sees the same target.
    pub fn without_landing(mut self) -> Self {
        self.lands = false;
        self
    }

    /// Makes `step` fail with `error` until [`succeed`](Self::succeed).
    pub fn fail(&self, step: TargetStep, error: SubmitError) {
        lock(&self.failures).insert(step, error);
    }

    /// Lets `step` succeed again.
    pub fn succeed(&self, step: TargetStep) {
        lock(&self.failures).remove(&step);
    }

    /// The highest fencing token accepted (`None` when not fenced).
    pub fn highest_token(&self) -> Option<u64> {
        *lock(&self.highest)
    }

    /// Raises the fence to `highest`, as another fleet writing with a larger token would.
    pub fn raise_floor(&self, highest: u64) {
        let mut h = lock(&self.highest);
        *h = Some(h.map_or(highest, |h| h.max(highest)));
    }

    /// Every update sent so far.
    pub fn sent(&self) -> Vec<PriceUpdate> {
        lock(&self.sent).clone()
    }

    /// The stored state.
    pub fn state(&self) -> OnChainState {
        lock(&self.state).clone()
    }

    /// How many times the engine read the fencing floor.
    pub fn floor_reads(&self) -> usize {
        self.floor_reads.load(Ordering::SeqCst)
    }

    fn scripted(&self, step: TargetStep) -> Result<(), SubmitError> {
        lock(&self.failures).get(&step).cloned().map_or(Ok(()), Err)
    }

    fn check_token(&self, fence: &Fence) -> Result<(), SubmitError> {
        match *lock(&self.highest) {
            Some(h) if fence.token().0 < h => {
                Err(Rejection::StaleFencingToken { token: fence.token().0, highest: h }.into())
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Submitter for MemoryTarget {
    fn name(&self) -> &str {
        "memory"
    }

    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        self.scripted(TargetStep::ReadState)?;
        Ok(self.state())
    }

    async fn simulate(&self, _: &PriceUpdate, fence: &Fence) -> Result<(), SubmitError> {
        self.scripted(TargetStep::Simulate)?;
        self.check_token(fence)
    }

    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        self.scripted(TargetStep::Send)?;
        fence.check()?;
        self.check_token(fence)?;
        if let Some(h) = lock(&self.highest).as_mut() {
            *h = fence.token().0;
        }
        let mut sent = lock(&self.sent);
        sent.push(update.clone());
        // The nonce and hash count the updates, so each pending update is told apart.
        let nonce = sent.len() as u64 - 1;
        Ok(PendingUpdate::new(B256::left_padding_from(&nonce.to_be_bytes()), nonce, update.clone()))
    }

    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        self.scripted(TargetStep::Wait)?;
        if self.lands {
            let mut state = lock(&self.state);
            for (feed, price) in &pending.update.prices {
                if let Some(stored) = state.feeds.iter_mut().find(|f| &f.feed == feed) {
                    stored.price = *price;
                }
            }
            state.last_update = SystemTime::now();
        }
        Ok(UpdateOutcome::Mined {
            tx_hash: pending.tx_hash,
            block: pending.nonce + 1,
            gas_used: 21_000,
            effective_gas_price: 1,
        })
    }

    async fn fencing_floor(&self) -> Result<Option<FencingToken>, SubmitError> {
        self.floor_reads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.highest).map(FencingToken))
    }
}

/// Records every alert it is sent.
#[derive(Debug, Default)]
pub struct RecordingAlerter(Mutex<Vec<Alert>>);

impl RecordingAlerter {
    /// Every alert so far.
    pub fn alerts(&self) -> Vec<Alert> {
        lock(&self.0).clone()
    }

    /// Every alert so far, as `(severity, key)`.
    pub fn keys(&self) -> Vec<(Severity, String)> {
        lock(&self.0).iter().map(|a| (a.severity, a.key.clone())).collect()
    }

    /// How many alerts had `key` (any severity).
    pub fn count(&self, key: &str) -> usize {
        lock(&self.0).iter().filter(|a| a.key == key).count()
    }
}

#[async_trait]
impl Alerter for RecordingAlerter {
    fn name(&self) -> &str {
        "recording"
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        lock(&self.0).push(alert.clone());
        Ok(())
    }
}

/// An elector that always leads with a fixed token, which it cannot raise (as a custom elector
/// without floors). Each round grants [`granted`](Self::granted) of validity (an hour by
/// default); with [`renewed`](Self::renewed), background renewals keep the live term that far
/// ahead of now. Counts releases.
#[derive(Debug)]
pub struct FixedLeader {
    id: String,
    token: FencingToken,
    granted: Duration,
    renewed: Option<Duration>,
    releases: AtomicUsize,
}

impl FixedLeader {
    /// Leader `id` holding `token`.
    pub fn new(id: impl Into<String>, token: u64) -> Self {
        Self {
            id: id.into(),
            token: FencingToken(token),
            granted: Duration::from_secs(3600),
            renewed: None,
            releases: AtomicUsize::new(0),
        }
    }

    /// Each round's lease lasts `granted`.
    pub fn granted(mut self, granted: Duration) -> Self {
        self.granted = granted;
        self
    }

    /// The live term is renewed in the background to `renewed` ahead of now.
    pub fn renewed(mut self, renewed: Duration) -> Self {
        self.renewed = Some(renewed);
        self
    }

    /// How many times leadership was released.
    pub fn releases(&self) -> usize {
        self.releases.load(Ordering::SeqCst)
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
            valid_until: BootInstant::now().saturating_add(self.granted),
        }))
    }

    async fn release(&self) -> Result<(), ElectionError> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, ElectionError> {
        Ok(Some(LeaderInfo {
            holder: self.id.clone(),
            token: self.token,
            expires_at: SystemTime::now() + self.granted,
        }))
    }

    fn live_deadline(&self, lease: &Lease) -> Option<BootInstant> {
        Some(self.renewed.map_or(lease.valid_until, |r| BootInstant::now().saturating_add(r)))
    }
}
