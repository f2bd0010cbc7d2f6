//! Transactions of the [`ManualOracleSubmitter`]: simulate, sign and send with capped fees,
//! replace a stuck transaction at the same nonce, and follow every hash of a nonce to an outcome.
//!
//! Nonces are never cached. A new update always takes the account's lowest unmined nonce (the
//! `latest` count): the engine only sends when it follows nothing, so anything pending there was
//! sent by a process that is gone (a restart without its journal) or by another bot with the same
//! key, and one update per nonce is the rule that makes a duplicate impossible. Taking it over
//! means outbidding what is pending, bump by bump, within the fee cap.
//!
//! Every transaction is written to the journal (when there is one) after signing and before its
//! broadcast, and a broadcast whose answer was lost (a timeout, a dropped connection) counts as
//! sent: the node may well have it, so it is followed, and replaced if it never shows up.

use std::{
    sync::atomic::Ordering,
    time::{Instant, SystemTime},
};

use alloy::{
    consensus::TxEnvelope,
    network::{NetworkTransactionBuilder, TransactionBuilder},
    primitives::{B256, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};

use super::{
    ORACLE_DECIMALS,
    bindings::{FencedPriceOracle, ManualPriceOracle},
    errors::from_transport,
    submitter::{ManualOracleSubmitter, Shape},
};
use crate::{FeedId, Fence, PendingUpdate, PriceUpdate, SubmitError, UpdateOutcome};

/// The smallest bump nodes accept for a replacement: +10% and 1 wei (geth's default price bump).
fn bump(fee: u128) -> u128 {
    fee.saturating_add(fee / 10).saturating_add(1)
}

impl ManualOracleSubmitter {
    /// The contract's two prices as `uint256` at 8 decimals, in argument order.
    fn arguments(&self, update: &PriceUpdate) -> Result<(U256, U256), SubmitError> {
        let arg = |feed: &FeedId| -> Result<U256, SubmitError> {
            let price = update.price(feed).ok_or_else(|| SubmitError::InvalidResponse {
                reason: format!("the update has no {feed} price"),
            })?;
            let price = price
                .rescale(ORACLE_DECIMALS)
                .map_err(|e| SubmitError::InvalidResponse { reason: format!("{feed}: {e}") })?;
            Ok(price.mantissa())
        };
        match &self.shape {
            Shape::Manual { feeds, .. } => Ok((arg(&feeds[0])?, arg(&feeds[1])?)),
            Shape::Generic { .. } => Err(SubmitError::InvalidResponse {
                reason: "a generic target has no ManualPriceOracle arguments".into(),
            }),
        }
    }

    /// The call data: the fenced update with the leader's token where the target takes one.
    fn calldata(&self, update: &PriceUpdate, fence: &Fence) -> Result<Bytes, SubmitError> {
        use alloy::sol_types::SolCall;
        if let Shape::Generic { target, round } = &self.shape {
            let stored_round = *round.lock().unwrap_or_else(|p| p.into_inner());
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            return target.calldata(update, fence, now, stored_round);
        }
        let (eth, eliza) = self.arguments(update)?;
        Ok(if self.fenced.load(Ordering::Relaxed) {
            FencedPriceOracle::updatePricesFencedCall {
                newEthPrice: eth,
                newElizaPrice: eliza,
                fencingToken: U256::from(fence.token().0),
            }
            .abi_encode()
            .into()
        } else {
            ManualPriceOracle::updatePricesCall { newEthPrice: eth, newElizaPrice: eliza }.abi_encode().into()
        })
    }

    fn call_request(&self, input: Bytes) -> TransactionRequest {
        TransactionRequest::default().with_from(self.from).with_to(self.oracle_address()).with_input(input)
    }

    /// The fees to offer now: the network's EIP-1559 suggestion times the multiplier, never
    /// below what the network asks and never above the cap.
    async fn fees(&self, cap: u128) -> Result<(u128, u128), SubmitError> {
        let ask = self.provider.get_gas_price().await.map_err(|e| from_transport(&e))?;
        if ask > cap {
            return Err(SubmitError::FeeAboveCap { asked_wei: ask, cap_wei: cap });
        }
        let est = self.provider.estimate_eip1559_fees().await.map_err(|e| from_transport(&e))?;
        let scale = |v: u128| v.saturating_mul(u128::from(self.fee_multiplier_permille)) / 1_000;
        let max_fee = scale(est.max_fee_per_gas).max(ask).min(cap);
        let priority = scale(est.max_priority_fee_per_gas).min(max_fee);
        Ok((max_fee, priority))
    }

    /// Runs the update with `eth_call` from the updater's address.
    pub(super) async fn simulate_update(
        &self,
        update: &PriceUpdate,
        fence: &Fence,
    ) -> Result<(), SubmitError> {
        let input = self.calldata(update, fence)?;
        self.provider.call(self.call_request(input)).await.map_err(|e| from_transport(&e))?;
        Ok(())
    }

    /// Estimates gas (which executes the call again at the latest state: a second simulation),
    /// checks the fence and signs at `nonce`. Returns the signed transaction and its hash.
    async fn sign(
        &self,
        input: Bytes,
        nonce: u64,
        (max_fee, priority): (u128, u128),
        fence: &Fence,
    ) -> Result<(TxEnvelope, B256), SubmitError> {
        let gas = self
            .provider
            .estimate_gas(self.call_request(input.clone()))
            .await
            .map_err(|e| from_transport(&e))?;
        let tx = self
            .call_request(input)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            // 20% headroom: state can change between estimation and inclusion.
            .with_gas_limit(gas.saturating_mul(6) / 5)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(priority);
        fence.check()?;
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| SubmitError::Refused { reason: format!("signing failed: {e}") })?;
        let hash = *envelope.tx_hash();
        Ok((envelope, hash))
    }

    /// Journals `pending` (whose latest hash is `envelope`'s), checks the fence, broadcasts.
    ///
    /// A definite refusal by the node means nothing was sent: the journal goes back to `before`
    /// and the refusal is returned. Any other failure (no answer, a dropped connection, garbage)
    /// leaves it unknown whether the node took the transaction, so it counts as sent and is
    /// followed: sending the update again could land it twice.
    async fn broadcast(
        &self,
        envelope: TxEnvelope,
        pending: &PendingUpdate,
        before: Option<&PendingUpdate>,
        fence: &Fence,
    ) -> Result<(), SubmitError> {
        self.journal_store(pending);
        let refused = |e: SubmitError| {
            match before {
                Some(p) => self.journal_store(p),
                None => self.journal_clear(pending.nonce),
            }
            Err(e)
        };
        if let Err(lost) = fence.check() {
            return refused(lost.into());
        }
        match self.provider.send_tx_envelope(envelope).await {
            Ok(_) => Ok(()),
            Err(e) => match from_transport(&e) {
                // The node already holds exactly this transaction (a resend after a lost answer).
                SubmitError::AlreadyKnown => Ok(()),
                ambiguous if ambiguous.is_unreachable() => {
                    tracing::warn!(
                        tx_hash = %pending.tx_hash, nonce = pending.nonce, error = %ambiguous,
                        "the broadcast got no clear answer: following the transaction as sent"
                    );
                    Ok(())
                }
                other => refused(other),
            },
        }
    }

    fn journal_store(&self, pending: &PendingUpdate) {
        if let Some(j) = &self.journal
            && let Err(e) = j.store(pending)
        {
            tracing::error!(error = %e, "cannot journal the update being sent; a restart would not know its fees");
        }
    }

    fn journal_clear(&self, nonce: u64) {
        if let Some(j) = &self.journal
            && let Err(e) = j.clear(nonce)
        {
            tracing::error!(error = %e, "cannot clear the in-flight journal");
        }
    }

    pub(super) async fn send_update(
        &self,
        update: &PriceUpdate,
        fence: &Fence,
    ) -> Result<PendingUpdate, SubmitError> {
        fence.check()?;
        let input = self.calldata(update, fence)?;
        let transport = |e: alloy::transports::TransportError| from_transport(&e);
        let (mined, pending_count, mut fees) = tokio::try_join!(
            async { self.provider.get_transaction_count(self.from).latest().await.map_err(transport) },
            async { self.provider.get_transaction_count(self.from).pending().await.map_err(transport) },
            self.fees(update.max_fee_per_gas),
        )?;
        // The lowest unmined nonce, always (see the module docs).
        let nonce = mined;
        let takeover = pending_count > mined;
        if takeover {
            tracing::warn!(
                nonce, pending = pending_count, from = %self.from,
                "a transaction this bot does not track is pending at nonce {nonce} (sent before a restart, or by another bot with this key): replacing it with this update"
            );
        }
        // Outbidding an unknown pending transaction: +10% and more per refusal, within the cap.
        for _ in 0..32 {
            let (envelope, tx_hash) = self.sign(input.clone(), nonce, fees, fence).await?;
            let now = SystemTime::now();
            let pending = PendingUpdate {
                tx_hash,
                replaced: Vec::new(),
                nonce,
                update: update.clone(),
                max_fee_per_gas: fees.0,
                max_priority_fee_per_gas: fees.1,
                first_sent_at: now,
                sent_at: now,
            };
            match self.broadcast(envelope, &pending, None, fence).await {
                Ok(()) => return Ok(pending),
                Err(SubmitError::ReplacementUnderpriced { .. }) if takeover => {
                    let max_fee = bump(fees.0);
                    if max_fee > update.max_fee_per_gas {
                        return Err(SubmitError::FeeAboveCap {
                            asked_wei: max_fee,
                            cap_wei: update.max_fee_per_gas,
                        });
                    }
                    fees = (max_fee, bump(fees.1).min(max_fee));
                }
                Err(e) => return Err(e),
            }
        }
        Err(SubmitError::Refused {
            reason: format!("nonce {nonce}: the pending transaction there could not be outbid in 32 bumps"),
        })
    }

    pub(super) async fn replace_update(
        &self,
        pending: &PendingUpdate,
        update: &PriceUpdate,
        fence: &Fence,
    ) -> Result<PendingUpdate, SubmitError> {
        // A replacement is a new transaction: it is simulated like any other.
        self.simulate_update(update, fence).await?;
        let cap = update.max_fee_per_gas;
        let (max_now, priority_now) = self.fees(cap).await?;
        let max_fee = bump(pending.max_fee_per_gas).max(max_now);
        let priority = bump(pending.max_priority_fee_per_gas).max(priority_now);
        if max_fee > cap {
            return Err(SubmitError::FeeAboveCap { asked_wei: max_fee, cap_wei: cap });
        }
        let priority = priority.min(max_fee);
        let input = self.calldata(update, fence)?;
        let (envelope, tx_hash) = self.sign(input, pending.nonce, (max_fee, priority), fence).await?;
        let mut replaced = pending.replaced.clone();
        replaced.push(pending.tx_hash);
        let next = PendingUpdate {
            tx_hash,
            replaced,
            nonce: pending.nonce,
            update: update.clone(),
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            first_sent_at: pending.first_sent_at,
            sent_at: SystemTime::now(),
        };
        self.broadcast(envelope, &next, Some(pending), fence).await?;
        Ok(next)
    }

    /// The outcome of any hash of the nonce that has a receipt.
    async fn mined_outcome(&self, pending: &PendingUpdate) -> Result<Option<UpdateOutcome>, SubmitError> {
        for hash in pending.hashes() {
            let receipt =
                self.provider.get_transaction_receipt(*hash).await.map_err(|e| from_transport(&e))?;
            if let Some(r) = receipt {
                let block = r.block_number.unwrap_or_default();
                return Ok(Some(if r.status() {
                    UpdateOutcome::Mined {
                        tx_hash: *hash,
                        block,
                        gas_used: r.gas_used,
                        effective_gas_price: r.effective_gas_price,
                    }
                } else {
                    UpdateOutcome::Reverted { tx_hash: *hash, block }
                }));
            }
        }
        Ok(None)
    }

    /// Polls until a hash of the nonce is mined, the nonce is used by a transaction that is none
    /// of ours, or the stuck threshold passes. Node errors while polling are logged and polling
    /// goes on (a failing endpoint mid-wait is not a failed transaction).
    pub(super) async fn wait_update(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        let started = Instant::now();
        let mut first_block = None;
        let mut ticker = tokio::time::interval(self.poll_interval);
        loop {
            ticker.tick().await;
            match self.poll_once(pending, &mut first_block).await {
                Ok(Some(outcome)) => {
                    // Resolved: nothing of this nonce can land any more.
                    self.journal_clear(pending.nonce);
                    return Ok(outcome);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(tx_hash = %pending.tx_hash, error = %e, "receipt poll failed"),
            }
            // An endpoint within the allowed lag may answer an older block than before.
            let blocks_waited = first_block.map_or(0, |(first, latest)| latest.saturating_sub(first));
            if started.elapsed() >= self.stuck_after || blocks_waited >= self.stuck_blocks {
                let waited = SystemTime::now().duration_since(pending.first_sent_at).unwrap_or_default();
                return Ok(UpdateOutcome::Stuck { waited });
            }
        }
    }

    async fn poll_once(
        &self,
        pending: &PendingUpdate,
        blocks: &mut Option<(u64, u64)>,
    ) -> Result<Option<UpdateOutcome>, SubmitError> {
        if let Some(outcome) = self.mined_outcome(pending).await? {
            return Ok(Some(outcome));
        }
        let (mined_nonce, block) = tokio::try_join!(
            async { self.provider.get_transaction_count(self.from).await.map_err(|e| from_transport(&e)) },
            async { self.provider.get_block_number().await.map_err(|e| from_transport(&e)) },
        )?;
        *blocks = Some((blocks.map_or(block, |(first, _)| first), block));
        if mined_nonce > pending.nonce {
            // The nonce is used. A receipt may have appeared since the first look: look again
            // before concluding the transaction that used it was not ours.
            if let Some(outcome) = self.mined_outcome(pending).await? {
                return Ok(Some(outcome));
            }
            return Ok(Some(UpdateOutcome::LandedElsewhere { nonce: pending.nonce }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_clear_the_nodes_minimum() {
        assert_eq!(bump(100), 111);
        assert_eq!(bump(0), 1);
        assert_eq!(bump(1_000_000_000), 1_100_000_001);
        assert_eq!(bump(u128::MAX), u128::MAX);
    }
}
