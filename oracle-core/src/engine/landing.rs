//! Landing an update exactly once: re-decide on a fresh read right before sending, then follow
//! the nonce to an outcome, replacing a stuck transaction with fresh prices and bumped fees
//! within the cap. An update still in flight when the tick gives up is carried to the next tick.

use std::time::{Instant, SystemTime};

use super::{Engine, Landed, TickFailure, TickOutcome};
use crate::{
    Alert, Decision, Fence, OnChainState, PendingUpdate, PriceUpdate, Severity, SkipReason, SubmitError,
    SubmitPlan, UpdateOutcome, decide,
};

/// The alert key of a transaction stuck with its fees at the cap.
use super::alerting::keys::STUCK_AT_CAP as KEY_STUCK_AT_CAP;

impl Engine {
    /// The time `decide` judges ages with: the later of the chain's latest block and the host's
    /// clock. An idle chain's latest block lags the host, and a test chain may run ahead; an
    /// update is mined no earlier than either.
    pub(super) fn decision_time(state: &OnChainState) -> SystemTime {
        let host_now = SystemTime::now();
        state.chain_time.map_or(host_now, |chain| chain.max(host_now))
    }

    /// Simulates, re-reads the target and decides again (another bot may have updated since the
    /// tick's first read), then sends and follows the transaction.
    pub(super) async fn land(
        &self,
        observations: &std::collections::HashMap<crate::FeedId, crate::Observation>,
        plan: SubmitPlan,
        fence: &Fence,
    ) -> TickOutcome {
        if let Err(lost) = fence.check() {
            return TickOutcome::Failed(lost.into());
        }
        if let Err(e) = self.submitter.simulate(&plan.update, fence).await {
            return TickOutcome::Failed(TickFailure::Simulation(e));
        }
        let fresh = match self.step("re-reading the target", self.submitter.read_state()).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => return TickOutcome::Failed(TickFailure::ReadState(e)),
            Err(timeout) => return TickOutcome::Failed(timeout),
        };
        let plan = match decide(&fresh, observations, &self.policy(), Self::decision_time(&fresh)) {
            Decision::Skip(reason) => return TickOutcome::Skipped(reason),
            Decision::Submit(plan) => plan,
        };
        if let Err(lost) = fence.check() {
            return TickOutcome::Failed(lost.into());
        }
        let pending = match self.submitter.send(&plan.update, fence).await {
            Ok(p) => p,
            Err(SubmitError::LeaseLost(lost)) => return TickOutcome::Failed(lost.into()),
            Err(e) => return TickOutcome::Failed(TickFailure::Send(e)),
        };
        tracing::info!(
            bot_id = %self.bot_id, tx_hash = %pending.tx_hash, nonce = pending.nonce,
            max_fee_per_gas = pending.max_fee_per_gas, "update sent, waiting for receipt"
        );
        self.follow(pending, fence, plan).await
    }

    /// Follows a sent update until it is mined, reverted, landed elsewhere or the receipt
    /// timeout passes, replacing it when stuck.
    pub(super) async fn follow(
        &self,
        mut pending: PendingUpdate,
        fence: &Fence,
        plan: SubmitPlan,
    ) -> TickOutcome {
        // A timeout too long for the clock means "no limit".
        let deadline = Instant::now().checked_add(self.receipt_timeout);
        let mut capped = false;
        loop {
            // The submitter's wait ends at its stuck threshold; the receipt timeout bounds it too.
            let waited = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    tokio::time::timeout(left, self.submitter.wait(&pending)).await.ok()
                }
                None => Some(self.submitter.wait(&pending).await),
            };
            let outcome = match waited {
                Some(Ok(outcome)) => outcome,
                Some(Err(e)) => {
                    self.keep_outstanding(pending, plan).await;
                    return TickOutcome::Failed(TickFailure::Wait(e));
                }
                None => return self.give_up_waiting(pending, plan).await,
            };
            match outcome {
                UpdateOutcome::Mined { tx_hash, block, gas_used, effective_gas_price } => {
                    self.alerts.resolve(&self.bot_id, KEY_STUCK_AT_CAP).await;
                    // The mined transaction may be an earlier one of the nonce, with older prices.
                    let prices =
                        if tx_hash == pending.tx_hash { pending.update.prices } else { plan.update.prices };
                    return TickOutcome::Submitted(Box::new(Landed {
                        tx_hash,
                        block,
                        gas_used,
                        effective_gas_price,
                        prices,
                        reasons: plan.reasons,
                        review: plan.review,
                    }));
                }
                UpdateOutcome::Reverted { tx_hash, block } => {
                    self.alerts.resolve(&self.bot_id, KEY_STUCK_AT_CAP).await;
                    return TickOutcome::Failed(TickFailure::Reverted { tx_hash, block });
                }
                UpdateOutcome::LandedElsewhere { nonce } => {
                    self.alerts.resolve(&self.bot_id, KEY_STUCK_AT_CAP).await;
                    tracing::warn!(bot_id = %self.bot_id, nonce, "nonce used by a transaction that is not ours: someone else updated");
                    return TickOutcome::Skipped(SkipReason::LandedElsewhere { nonce });
                }
                UpdateOutcome::Stuck { waited } => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return self.give_up_waiting(pending, plan).await;
                    }
                    if capped {
                        continue;
                    }
                    let update = self.fresh_update(&pending).await;
                    match self.submitter.replace(&pending, &update, fence).await {
                        Ok(next) => {
                            tracing::warn!(
                                bot_id = %self.bot_id, nonce = next.nonce, old = %pending.tx_hash, new = %next.tx_hash,
                                max_fee_per_gas = next.max_fee_per_gas, waited = ?waited,
                                "replaced stuck transaction with fresh prices and higher fees"
                            );
                            pending = next;
                        }
                        Err(SubmitError::FeeAboveCap { asked_wei, cap_wei }) => {
                            capped = true;
                            tracing::error!(bot_id = %self.bot_id, nonce = pending.nonce, asked_wei, cap_wei, "stuck transaction cannot be bumped past the gas cap");
                            self.alerts
                                .raise(Alert::new(
                                    Severity::Error,
                                    KEY_STUCK_AT_CAP,
                                    "Stuck update at the gas price cap",
                                    format!(
                                        "Bot {}: transaction {} (nonce {}) has waited {}s; a replacement needs {asked_wei} wei/gas, above the cap of {cap_wei}. Waiting without further bumps.",
                                        self.bot_id,
                                        pending.tx_hash,
                                        pending.nonce,
                                        waited.as_secs()
                                    ),
                                ))
                                .await;
                        }
                        Err(SubmitError::LeaseLost(lost)) => {
                            self.keep_outstanding(pending, plan).await;
                            return TickOutcome::Failed(lost.into());
                        }
                        // Nonce too low: something of this nonce was mined meanwhile; the next
                        // wait says what. Anything else: keep waiting on what was sent.
                        Err(e) => {
                            tracing::warn!(bot_id = %self.bot_id, nonce = pending.nonce, error = %e, "replacement not sent")
                        }
                    }
                }
            }
        }
    }

    /// The update a replacement carries: the newest prices when they can be read and still pass
    /// the rules, otherwise the stuck update's own.
    async fn fresh_update(&self, pending: &PendingUpdate) -> PriceUpdate {
        let Ok(Ok(state)) = self.step("reading the target", self.submitter.read_state()).await else {
            return pending.update.clone();
        };
        let Ok(observations) = self.fetch_all(&state).await else {
            return pending.update.clone();
        };
        match decide(&state, &observations, &self.policy(), Self::decision_time(&state)) {
            Decision::Submit(plan) => plan.update,
            Decision::Skip(_) => pending.update.clone(),
        }
    }

    /// The receipt timeout passed: the tick ends, the update is still followed by the next one.
    async fn give_up_waiting(&self, pending: PendingUpdate, plan: SubmitPlan) -> TickOutcome {
        let after = self.receipt_timeout;
        let what = format!("nonce {} ({} transactions)", pending.nonce, pending.replaced.len() + 1);
        self.keep_outstanding(pending, plan).await;
        TickOutcome::Failed(TickFailure::Wait(SubmitError::Timeout { what, after }))
    }

    async fn keep_outstanding(&self, pending: PendingUpdate, plan: SubmitPlan) {
        tracing::warn!(bot_id = %self.bot_id, nonce = pending.nonce, tx_hash = %pending.tx_hash, "update still in flight: the next tick follows it before sending anything new");
        *self.outstanding.lock().await = Some((pending, plan));
    }
}
