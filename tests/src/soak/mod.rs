//! The soak: three real `oracle-bot` processes electing through one backend (a lock file, Redis
//! or etcd), a target anvil mining a block every second, a seeded script of price moves on the
//! source chain, and a seeded sequence of faults: `kill -9` of the leader, SIGSTOP of the leader
//! past its lease, a graceful restart, the coordination server killed and restarted with and
//! without its data, one bot's RPC endpoint dead, hanging, behind the chain or answering garbage,
//! the leader partitioned from the target chain, and mining paused so updates stick.
//!
//! At the end a checker ([`check`]) reads the chain and every bot's logs and metrics and reports
//! duplicates (two updates inside the minimum interval), the longest time an update was due and
//! missing, each fault's failover time, moves never pushed, values the source never held or held
//! only before the previous update, panics, crashes, leaked processes, and alerts missing for a
//! cause or fired without one. Everything random comes from one seed, printed with the report so a
//! failure can be replayed:
//!
//! ```text
//! cargo run -p oracle-tests --bin soak -- --elector etcd --seed 42 --duration 10m
//! ```
//!
//! The suite runs a short seeded run per elector (`tests/it/soak.rs`); the long run is the
//! command above (docs/benchmarks.md, "Soak").

pub mod check;
pub mod faults;
pub mod fleet;
pub mod record;
pub mod script;

use std::{path::PathBuf, sync::Arc, time::Duration};

pub use check::{Report, Violation};
pub use faults::Fault;
use fleet::{Coordinator, Fleet};
pub use record::{FaultRecord, Incarnation, Move};
use record::{Journal, now_ms};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Deployment, anvil_with_block_time, chain::updates, rng::Rng};

/// The election backend the fleet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elector {
    /// A lock file on one host.
    File,
    /// `redis-server` with persistence.
    Redis,
    /// A single-member etcd cluster.
    Etcd,
}

impl Elector {
    /// Every backend.
    pub const ALL: [Elector; 3] = [Elector::File, Elector::Redis, Elector::Etcd];

    /// `file`, `redis` or `etcd`.
    pub fn name(self) -> &'static str {
        match self {
            Elector::File => "file",
            Elector::Redis => "redis",
            Elector::Etcd => "etcd",
        }
    }

    /// The backend named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The lease the harness gives the bots (etcd's leases are whole seconds).
    pub fn lease(self) -> Duration {
        match self {
            Elector::Etcd => Duration::from_secs(2),
            _ => Duration::from_millis(1500),
        }
    }
}

/// Which oracle the fleet updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OracleKind {
    /// `FencedPriceOracle`: updates carry the fencing token; a stale term is refused on chain.
    Fenced,
    /// `ManualPriceOracle`, Jeju's contract: no fence, only the bots' own checks.
    Plain,
}

impl OracleKind {
    /// `fenced` or `plain`.
    pub fn name(self) -> &'static str {
        match self {
            OracleKind::Fenced => "fenced",
            OracleKind::Plain => "plain",
        }
    }
}

/// One soak run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The election backend.
    pub elector: Elector,
    /// The oracle contract.
    pub oracle: OracleKind,
    /// Everything random (faults, their targets and lengths, price moves) comes from it.
    pub seed: u64,
    /// How long new faults keep being started; the run then settles and is checked.
    pub duration: Duration,
    /// The `oracle-bot` binary.
    pub bot_bin: PathBuf,
}

/// The bots' tick interval.
pub const TICK: Duration = Duration::from_millis(200);
/// The bots' minimum interval between updates (`MIN_UPDATE_INTERVAL_S`): two updates closer than
/// this on chain are a duplicate.
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// The bots' deviation threshold (`DEVIATION_THRESHOLD_PCT`, default 1 %), in basis points.
pub const THRESHOLD_BPS: u64 = 100;
/// The ids of the three bots.
pub const BOTS: [&str; 3] = ["soak-a", "soak-b", "soak-c"];

/// Runs the soak described by `config` and returns the checker's report.
pub async fn run(config: &SoakConfig) -> Report {
    let started_ms = now_ms();
    let target = anvil_with_block_time(420_691, 1);
    let d = Deployment::build(target, config.oracle == OracleKind::Fenced).await;
    let journal = Arc::new(Journal::default());
    let mut coordinator = Coordinator::start(config.elector).await;
    let mut fleet = Fleet::start(&d, &coordinator, &config.bot_bin, Arc::clone(&journal)).await;
    fleet.await_one_leader(&journal, "the fleet's first leader").await;

    // Everything below runs until `stop`: the observer of the chain, the price script, and the
    // faults (this task).
    let stop = CancellationToken::new();
    let observer = tokio::spawn(record::observe_chain(
        d.target_provider(),
        d.oracle,
        Arc::clone(&journal),
        stop.clone(),
    ));
    let jump_now = Arc::new(Notify::new());
    let mut rng = Rng::new(config.seed);
    let script = tokio::spawn(script::run(
        d.source_admin.clone(),
        d.aggregator,
        Rng::new(config.seed ^ 0x5eed_0f9e_1ce5),
        Arc::clone(&journal),
        Arc::clone(&jump_now),
        stop.clone(),
    ));

    let deadline = tokio::time::Instant::now() + config.duration;
    let kinds = Fault::applicable(config.elector);
    while tokio::time::Instant::now() < deadline {
        let fault = Fault::draw(&kinds, &mut rng);
        faults::inject(fault, &mut rng, &d, &mut coordinator, &mut fleet, &journal, &jump_now).await;
    }

    stop.cancel();
    let _ = script.await;
    let _ = observer.await;
    // The last word: a move every bot must push once everything is healed.
    script::final_move(&d, &journal).await;
    let metrics = fleet.metrics().await;
    let incarnations = fleet.stop_all().await;
    let leaked = fleet::leaked(&incarnations);
    let logs = record::keep_logs(config, &incarnations);
    let on_chain = updates(&d).await;
    check::check(check::Inputs {
        config: config.clone(),
        started_ms,
        journal: journal.take(),
        on_chain,
        incarnations,
        metrics,
        leaked,
        logs,
    })
}
