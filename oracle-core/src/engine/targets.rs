//! Many targets in one process, ticked together in rounds; see [`Targets`].

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{Engine, TickReport, tick_scope};

/// Many targets in one process: each target is an [`Engine`] of its own (its submitter and
/// chain, its elector and election key, its policy), and [`Targets`] ticks them together, in
/// rounds. A source shared by several targets and wrapped in `oracle_sources::OncePerTick` is
/// then read once per round for all of them: one Chainlink round per feed per round, whatever the
/// number of targets that store it.
///
/// ```no_run
/// use std::{sync::Arc, time::Duration};
/// use oracle_core::{AlwaysLeader, Engine, EngineError, FeedId, LogAlerter, PriceSource, Submitter, Targets};
/// use tokio_util::sync::CancellationToken;
///
/// // `eth`: one source (wrapped in `OncePerTick`), shared; one submitter per target contract.
/// async fn run(eth: Arc<dyn PriceSource>, jeju: Arc<dyn Submitter>, base: Arc<dyn Submitter>) -> Result<(), EngineError> {
///     let mut targets = Targets::new(Duration::from_secs(30));
///     for (name, submitter) in [("jeju", jeju), ("base", base)] {
///         let engine = Engine::builder()
///             .target(name) // every metric series gets `target="<name>"`
///             .source(FeedId::ETH_USD, eth.clone())
///             .elector(Arc::new(AlwaysLeader::new("bot-1")))
///             .submitter(submitter)
///             .alerter(Arc::new(LogAlerter))
///             .build()?;
///         targets = targets.target(name, Arc::new(engine));
///     }
///     targets.run(CancellationToken::new()).await;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Targets {
    engines: Vec<(String, Arc<Engine>)>,
    interval: Duration,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.engines.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Targets").field("targets", &names).field("interval", &self.interval).finish()
    }
}

impl Targets {
    /// No targets yet, ticked every `interval` by [`run`](Self::run).
    pub fn new(interval: Duration) -> Self {
        Self { engines: Vec::new(), interval }
    }

    /// Adds a target named `name`, driven by `engine` (build it with
    /// [`EngineBuilder::target`](super::EngineBuilder::target) so its metrics are labelled).
    pub fn target(mut self, name: impl Into<String>, engine: Arc<Engine>) -> Self {
        self.engines.push((name.into(), engine));
        self
    }

    /// The targets, in the order they were added.
    pub fn engines(&self) -> impl Iterator<Item = (&str, &Arc<Engine>)> {
        self.engines.iter().map(|(n, e)| (n.as_str(), e))
    }

    /// One round: every target's tick, concurrently, in one tick scope (shared sources are read
    /// once). The reports in the order the targets were added.
    pub async fn tick(&self) -> Vec<(String, TickReport)> {
        let ticks =
            self.engines.iter().map(|(name, engine)| async move { (name.clone(), engine.tick().await) });
        tick_scope(futures_util::future::join_all(ticks)).await
    }

    /// Rounds every interval until `cancel`; then lets the round in progress finish (within each
    /// engine's shutdown grace, as [`Engine::run`] does) and releases every target's leadership.
    pub async fn run(&self, cancel: CancellationToken) {
        tracing::info!(targets = self.engines.len(), interval = ?self.interval, "targets started");
        let new_ticker = |every: Duration| {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        };
        let mut ticker = new_ticker(self.interval);
        // A reload reconfigures every engine alike ([`Engine::reconfigure`]): the rounds follow
        // the first engine's interval from then on, as a single engine's `run` follows its own.
        let mut intervals = match self.engines.first() {
            Some((_, e)) => e.interval.subscribe(),
            None => tokio::sync::watch::channel(self.interval).1,
        };
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Ok(()) = intervals.changed() => {
                    // The first round of a new interval comes one interval from now.
                    let every = *intervals.borrow_and_update();
                    tracing::info!(interval = ?every, "new round interval");
                    ticker = new_ticker(every);
                    ticker.reset();
                    continue;
                }
                _ = ticker.tick() => {}
            }
            let round = self.tick();
            tokio::pin!(round);
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    let grace = self.engines.iter().map(|(_, e)| e.shutdown_grace).max().unwrap_or_default();
                    if tokio::time::timeout(grace, &mut round).await.is_err() {
                        tracing::warn!(grace = ?grace, "the round in progress did not finish within the shutdown grace; stopping anyway");
                    }
                    break;
                }
                _ = &mut round => {}
            }
        }
        futures_util::future::join_all(self.engines.iter().map(|(_, e)| e.shutdown())).await;
        tracing::info!("targets stopped");
    }
}
