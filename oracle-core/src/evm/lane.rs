//! One nonce stream per key and chain, for the submitters of one process that share them.
//!
//! A submitter sends a new update at the account's lowest unmined nonce and replaces whatever is
//! pending there (see `tx.rs`): one update per nonce is what makes a duplicate impossible. Two
//! targets on one chain sending with one key would therefore replace each other's transactions.
//! A [`NonceLane`] shared by those submitters keeps one update in flight per key: a submitter
//! enters the lane before it picks a nonce and leaves it when its transaction is resolved
//! (mined, reverted, or its nonce used); the others wait for it, then send at the next nonce.
//!
//! A waiter does not depend on the holder to leave: once the chain shows the holder's nonce used
//! (the holder stopped following it, for instance after losing its election), the waiter takes
//! the lane over. It waits at most the lane's limit, then fails its send with a reason naming
//! the nonce in flight; its engine tries again next tick.
//!
//! Why serialize rather than hand out nonces n, n+1, ...: a stuck transaction at n holds back
//! everything after it, and the replacement rule (take the lowest unmined nonce) would then
//! replace a sibling's update rather than the stuck one. One in flight keeps both rules simple and
//! true; the cost is one block per update when several targets of one key move in the same round
//! (docs/architecture.md). Targets that must land in the same block take keys of their own.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use crate::SubmitError;

/// The default longest wait for the lane: about one stuck threshold, after which the holder's
/// transaction is being replaced and a waiter is better off trying again next tick.
pub const DEFAULT_LANE_WAIT: Duration = Duration::from_secs(30);

/// One nonce stream for every submitter given a clone of it: build one per (chain, key) and hand
/// it to each [`ManualOracleSubmitterBuilder::nonce_lane`](super::ManualOracleSubmitterBuilder::nonce_lane)
/// of the targets on that chain that send with that key. Cheap to clone (shared state).
///
/// ```
/// use oracle_core::evm::NonceLane;
///
/// let jeju_updater = NonceLane::new();
/// // builder_a.nonce_lane(jeju_updater.clone()); builder_b.nonce_lane(jeju_updater.clone());
/// # drop(jeju_updater);
/// ```
#[derive(Clone, Default)]
pub struct NonceLane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NonceLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceLane").field("holder", &*self.inner.lock()).finish()
    }
}

#[derive(Default)]
struct Inner {
    holder: Mutex<Option<Holder>>,
    released: Notify,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Holder>> {
        self.holder.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Who is in the lane, and the nonce of its transaction once sent.
#[derive(Debug, Clone)]
struct Holder {
    owner: u64,
    name: String,
    nonce: Option<u64>,
}

/// A submitter's place in a lane.
#[derive(Debug)]
pub(crate) struct LaneSeat {
    lane: NonceLane,
    owner: u64,
    name: String,
    wait: Duration,
}

impl NonceLane {
    /// A lane of its own (what every submitter has unless given a shared one).
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn seat(&self, name: &str, wait: Duration) -> LaneSeat {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        LaneSeat {
            lane: self.clone(),
            owner: NEXT.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            wait,
        }
    }
}

impl LaneSeat {
    /// Enters the lane before a new update: at once when it is free (or already this seat's),
    /// else when its holder leaves or the chain shows the holder's nonce used (`mined` answers
    /// the account's mined transaction count), within the seat's wait.
    pub(crate) async fn enter<F, Fut>(&self, mined: F) -> Result<(), SubmitError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<u64, SubmitError>>,
    {
        let started = Instant::now();
        loop {
            let released = self.lane.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let busy = {
                let mut holder = self.lane.inner.lock();
                match &*holder {
                    Some(h) if h.owner != self.owner => Some(h.clone()),
                    _ => {
                        *holder = Some(Holder { owner: self.owner, name: self.name.clone(), nonce: None });
                        None
                    }
                }
            };
            let Some(busy) = busy else { return Ok(()) };
            if let Some(nonce) = busy.nonce
                && mined().await? > nonce
            {
                let mut holder = self.lane.inner.lock();
                // Still the same holder and nonce: its transaction is resolved on chain.
                if holder.as_ref().is_some_and(|h| h.owner == busy.owner && h.nonce == busy.nonce) {
                    tracing::info!(
                        target_name = %self.name, previous = %busy.name, nonce,
                        "nonce {nonce} of the shared key is used: taking the nonce lane over"
                    );
                    *holder = Some(Holder { owner: self.owner, name: self.name.clone(), nonce: None });
                    return Ok(());
                }
                continue;
            }
            let Some(left) = self.wait.checked_sub(started.elapsed()).filter(|l| !l.is_zero()) else {
                return Err(SubmitError::Refused {
                    reason: format!(
                        "the updater key is busy: {}'s update{} has been in flight longer than {:?}",
                        busy.name,
                        busy.nonce.map(|n| format!(" at nonce {n}")).unwrap_or_default(),
                        self.wait
                    ),
                });
            };
            // Woken by a release, or after a second to look at the chain again.
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), released).await;
        }
    }

    /// Records the nonce of the transaction this seat sent (it holds the lane).
    pub(crate) fn sent(&self, nonce: u64) {
        let mut holder = self.lane.inner.lock();
        match &mut *holder {
            Some(h) if h.owner == self.owner => h.nonce = Some(nonce),
            // Taken over meanwhile, or recovered after a restart: this transaction is in flight.
            _ => *holder = Some(Holder { owner: self.owner, name: self.name.clone(), nonce: Some(nonce) }),
        }
    }

    /// Leaves the lane (nothing of this seat is in flight any more); the next waiter goes.
    pub(crate) fn leave(&self) {
        let mut holder = self.lane.inner.lock();
        if holder.as_ref().is_some_and(|h| h.owner == self.owner) {
            *holder = None;
            drop(holder);
            self.lane.inner.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn one_update_in_flight_per_lane_and_the_next_goes_when_it_resolves() {
        let lane = NonceLane::new();
        let (a, b) = (lane.seat("a", WAIT), lane.seat("b", WAIT));
        a.enter(|| async { Ok(0) }).await.unwrap();
        a.sent(0);
        let waiting = tokio::spawn(async move {
            b.enter(|| async { Ok(0) }).await.unwrap();
            b
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "b waits while a's nonce 0 is in flight");
        a.leave();
        let b = waiting.await.unwrap();
        assert!(format!("{lane:?}").contains("\"b\""), "{lane:?}");
        b.leave();
        assert!(format!("{lane:?}").contains("None"), "{lane:?}");
    }

    #[tokio::test]
    async fn a_holder_whose_nonce_is_used_is_taken_over() {
        let lane = NonceLane::new();
        let (a, b) = (lane.seat("a", WAIT), lane.seat("b", WAIT));
        a.enter(|| async { Ok(4) }).await.unwrap();
        a.sent(4);
        // a never leaves (it stopped following), but nonce 4 is mined.
        b.enter(|| async { Ok(5) }).await.unwrap();
        assert!(format!("{lane:?}").contains("\"b\""), "{lane:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gives_up_after_its_wait_naming_the_nonce_in_flight() {
        let lane = NonceLane::new();
        let (a, b) = (lane.seat("jeju-eth", WAIT), lane.seat("jeju-btc", Duration::from_secs(3)));
        a.enter(|| async { Ok(7) }).await.unwrap();
        a.sent(7);
        let e = b.enter(|| async { Ok(7) }).await.unwrap_err().to_string();
        assert!(e.contains("jeju-eth") && e.contains("nonce 7"), "{e}");
    }
}
