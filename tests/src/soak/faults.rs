//! The faults a soak injects, one at a time: drawn from the seed, each held for a seeded time,
//! healed, and followed until the fleet has one leader again and the oracle has caught up.

use std::{sync::Arc, time::Duration};

use alloy::providers::ext::AnvilApi;
use tokio::sync::Notify;

use super::{
    Elector, MIN_INTERVAL, THRESHOLD_BPS,
    fleet::{Coordinator, EndpointMode, Fleet, SETTLE_GUARD},
    record::{FaultRecord, Journal, now_ms},
    script::{JUMP_GUARD, deviation_bps},
};
use crate::{Deployment, rng::Rng};

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `kill -9` of the leader; started again a few seconds later.
    KillLeader,
    /// SIGSTOP of the leader past its lease, then SIGCONT: it wakes up believing it leads.
    PauseLeader,
    /// SIGTERM of the leader (it releases its lease), started again at once.
    RestartLeader,
    /// The coordination server killed and restarted, with its data or without.
    ServerKilled {
        /// Restarted with its data (Redis's append-only file, etcd's data directory).
        with_data: bool,
    },
    /// One bot's preferred target endpoint misbehaves (the bot may lead or follow).
    Endpoint(EndpointMode),
    /// The leader cut from every target endpoint.
    PartitionLeader,
    /// The target stops mining: updates stick in the mempool, then land when it resumes.
    MiningPaused,
}

impl Fault {
    /// The faults that apply to `elector` (the lock file has no server to kill).
    pub fn applicable(elector: Elector) -> Vec<Fault> {
        let mut all = vec![
            Fault::KillLeader,
            Fault::PauseLeader,
            Fault::RestartLeader,
            Fault::Endpoint(EndpointMode::Dead),
            Fault::Endpoint(EndpointMode::Hanging),
            Fault::Endpoint(EndpointMode::Behind),
            Fault::Endpoint(EndpointMode::Garbage),
            Fault::PartitionLeader,
            Fault::MiningPaused,
        ];
        if elector != Elector::File {
            all.extend([Fault::ServerKilled { with_data: true }, Fault::ServerKilled { with_data: false }]);
        }
        all
    }

    /// One of `kinds`, drawn from `rng`.
    pub fn draw(kinds: &[Fault], rng: &mut Rng) -> Fault {
        *rng.pick(kinds)
    }

    /// Whether the fault is done to the leader.
    pub fn hits_leader(self) -> bool {
        matches!(self, Fault::KillLeader | Fault::PauseLeader | Fault::RestartLeader | Fault::PartitionLeader)
    }

    /// A short name for reports.
    pub fn label(self) -> String {
        match self {
            Fault::KillLeader => "kill -9 leader".into(),
            Fault::PauseLeader => "SIGSTOP leader past lease".into(),
            Fault::RestartLeader => "graceful restart of leader".into(),
            Fault::ServerKilled { with_data: true } => "server killed, restarted with data".into(),
            Fault::ServerKilled { with_data: false } => "server killed, restarted without data".into(),
            Fault::Endpoint(mode) => format!("one endpoint {mode:?}").to_lowercase(),
            Fault::PartitionLeader => "leader partitioned from target".into(),
            Fault::MiningPaused => "mining paused".into(),
        }
    }
}

/// Injects `fault`, holds it, heals it, and records it once the fleet has settled.
pub async fn inject(
    fault: Fault,
    rng: &mut Rng,
    d: &Deployment,
    coordinator: &mut Coordinator,
    fleet: &mut Fleet,
    journal: &Arc<Journal>,
    jump_now: &Notify,
) {
    for crash in fleet.reap_crashes().await {
        journal.violation(crash);
    }
    let Some(leader) = fleet.await_one_leader(journal, &format!("before {}", fault.label())).await else {
        return;
    };
    await_caught_up(journal).await;
    let lease = fleet_lease(coordinator);
    let hold = |rng: &mut Rng, lo: u64, hi: u64| Duration::from_millis(rng.between(lo, hi));
    let victim = match fault {
        Fault::Endpoint(_) => usize::try_from(rng.below(fleet.members.len() as u64)).unwrap_or(0),
        _ => leader,
    };
    let bot = (fault.hits_leader() || matches!(fault, Fault::Endpoint(_)))
        .then(|| fleet.members[victim].id.clone());
    let start_ms = now_ms();
    tracing::info!(fault = %fault.label(), bot = ?bot, "soak: injecting");
    match fault {
        Fault::KillLeader => {
            fleet.kill(leader).await;
            jump_now.notify_one();
            tokio::time::sleep(hold(rng, 1_000, 4_000)).await;
            fleet.respawn(leader).await;
        }
        Fault::PauseLeader => {
            fleet.pause(leader, true);
            jump_now.notify_one();
            tokio::time::sleep(lease + hold(rng, 500, 3_000)).await;
            fleet.pause(leader, false);
        }
        Fault::RestartLeader => {
            fleet.stop(leader).await;
            jump_now.notify_one();
            fleet.respawn(leader).await;
        }
        Fault::ServerKilled { with_data } => {
            coordinator.kill();
            jump_now.notify_one();
            tokio::time::sleep(hold(rng, 2_000, 5_000)).await;
            coordinator.restart(with_data).await;
        }
        Fault::Endpoint(mode) => {
            fleet.members[victim].primary.set(mode);
            jump_now.notify_one();
            tokio::time::sleep(hold(rng, 3_000, 6_000)).await;
            fleet.members[victim].primary.set(EndpointMode::Healthy);
        }
        Fault::PartitionLeader => {
            let m = &fleet.members[leader];
            m.primary.set(EndpointMode::Dead);
            m.secondary.set(EndpointMode::Dead);
            jump_now.notify_one();
            tokio::time::sleep(hold(rng, 4_000, 7_000)).await;
            let m = &fleet.members[leader];
            m.primary.set(EndpointMode::Healthy);
            m.secondary.set(EndpointMode::Healthy);
        }
        Fault::MiningPaused => {
            d.target_admin.anvil_set_interval_mining(0).await.expect("pause mining");
            jump_now.notify_one();
            tokio::time::sleep(hold(rng, 3_000, 6_000)).await;
            d.target_admin.anvil_set_interval_mining(1).await.expect("resume mining");
        }
    }
    let healed_ms = now_ms();
    let settled_ms =
        fleet.await_one_leader(journal, &format!("after {}", fault.label())).await.map(|_| now_ms());
    let first_update_ms = await_first_change(journal, start_ms).await;
    if first_update_ms.is_none() {
        journal.violation(format!(
            "{}: the oracle did not change within {JUMP_GUARD:?} although a jump was made at its start",
            fault.label()
        ));
    }
    journal.fault(FaultRecord { fault, bot, start_ms, healed_ms, first_update_ms, settled_ms });
}

/// The lease the fleet runs with.
fn fleet_lease(coordinator: &Coordinator) -> Duration {
    match coordinator {
        Coordinator::Etcd(_) => Elector::Etcd.lease(),
        _ => Elector::File.lease(),
    }
}

/// Waits until the oracle is within the threshold of the source (no jump waits to be pushed) and
/// its last update is older than the minimum interval, so the jump made at the next fault's start
/// is due at once and the failover time measures the fault, not the policy's wait.
async fn await_caught_up(journal: &Journal) {
    let started = tokio::time::Instant::now();
    while started.elapsed() < SETTLE_GUARD {
        if let (Some(src), Some(seen)) = (journal.source(), journal.on_chain())
            && deviation_bps(src, seen.eth) < u128::from(THRESHOLD_BPS)
            && now_ms().saturating_sub(seen.at_ms) > MIN_INTERVAL.as_millis() as u64
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first change of the oracle at or after `start_ms`, waiting up to [`JUMP_GUARD`].
async fn await_first_change(journal: &Journal, start_ms: u64) -> Option<u64> {
    let started = tokio::time::Instant::now();
    while started.elapsed() < JUMP_GUARD {
        if let Some(at) = journal.first_change_after(start_ms) {
            return Some(at);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
