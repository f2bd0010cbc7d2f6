//! A custom `Submitter` for an arbitrary contract, written directly against alloy.
//!
//! `cargo run -p oracle-examples --example custom_submitter` (needs `anvil`: `scripts/setup.sh`
//! installs it into `.tools/bin`, or set `ANVIL`).
//!
//! The contract is `contracts/test-helpers/RoundPriceFeed.sol` (numbered rounds, signed
//! 18-decimal prices, BTC before ETH, the observation time as an argument). The submitter reads
//! `latest()`, simulates `submit(...)` with `eth_call` as the reporter before anything is signed,
//! sends with the policy's fee cap, and polls for the receipt within a bound. The example lands
//! one round, checks it on chain, then shows the simulation stopping an update from a key the
//! contract refuses (nothing is sent); it exits non-zero if any of that does not happen.
//!
//! What this leaves out, and the built-in EVM submitter (`oracle_core::evm`) has: replacement of
//! a stuck transaction with higher fees (`replace` is the trait's default, which refuses), the
//! in-flight journal that lets a restarted bot follow what it sent (`recover`), the rule that a
//! new update takes the lowest unmined nonce, checking the fence separately before signing and
//! before broadcasting (here the wallet signs inside `send_transaction`, so there is one check),
//! RPC failover and decoded node refusals for every step. For a contract of this shape ("one
//! function, N prices") prefer `GenericTarget` with the built-in submitter: see
//! `examples/generic_target.rs`, which drives this same contract with none of the code below.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    node_bindings::Anvil,
    primitives::{Address, I256, U256, aliases::U80},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use async_trait::async_trait;
use oracle_core::{
    AlwaysLeader, Engine, FeeEstimate, FeedId, FeedState, Fence, LogAlerter, OnChainState, PendingUpdate,
    Policy, Price, PriceUpdate, Rejection, SubmitError, Submitter, TickFailure, TickOutcome, UpdateOutcome,
    evm::classify_transport_error,
};
use oracle_sources::FixedPriceSource;

sol!(
    #[sol(rpc)]
    RoundPriceFeed,
    "../contracts/artifacts/RoundPriceFeed.json"
);

type Error = Box<dyn std::error::Error + Send + Sync>;

fn btc() -> FeedId {
    FeedId::new("BTC/USD")
}

/// `RoundPriceFeed` as a target: BTC/USD and ETH/USD at 18 decimals.
struct RoundFeedSubmitter {
    provider: DynProvider,
    contract: RoundPriceFeed::RoundPriceFeedInstance<DynProvider>,
    from: Address,
    receipt_timeout: Duration,
}

/// A contract call's failure: a decoded revert becomes a `Rejection`, the rest as the node said.
fn call_error(e: alloy::contract::Error) -> SubmitError {
    use RoundPriceFeed::RoundPriceFeedErrors as E;
    match e.as_decoded_interface_error::<E>() {
        Some(E::NotReporter(_)) => Rejection::NotAuthorized.into(),
        Some(E::WrongRound(r)) => {
            Rejection::Reverted { reason: format!("WrongRound: expected {}, got {}", r.expected, r.got) }
                .into()
        }
        Some(E::NotAPrice(_)) => {
            Rejection::Reverted { reason: "NotAPrice: a price is not positive".into() }.into()
        }
        Some(E::FromTheFuture(f)) => Rejection::Reverted {
            reason: format!("FromTheFuture: observed {} after block time {}", f.observedAt, f.blockTime),
        }
        .into(),
        None => match e {
            alloy::contract::Error::TransportError(t) => classify_transport_error(&t),
            other => SubmitError::InvalidResponse { reason: other.to_string() },
        },
    }
}

fn to_price(raw: I256) -> Result<Price, SubmitError> {
    let bad = |reason: String| SubmitError::InvalidResponse { reason };
    if raw.is_negative() {
        return Err(bad(format!("latest() holds a negative price {raw}")));
    }
    Price::new(raw.into_raw(), 18).map_err(|e| bad(e.to_string()))
}

impl RoundFeedSubmitter {
    /// The `submit` call for `update`, as the next round.
    async fn submit_call(
        &self,
        update: &PriceUpdate,
    ) -> Result<alloy::contract::SolCallBuilder<&DynProvider, RoundPriceFeed::submitCall>, SubmitError> {
        let round = self.contract.latest().call().await.map_err(call_error)?._0;
        let at_18 = |feed: &FeedId| -> Result<I256, SubmitError> {
            let price = update
                .price(feed)
                .ok_or_else(|| SubmitError::Refused { reason: format!("no {feed} price") })?;
            let mantissa =
                price.rescale(18).map_err(|e| SubmitError::Refused { reason: e.to_string() })?.mantissa();
            I256::try_from(mantissa).map_err(|e| SubmitError::Refused { reason: e.to_string() })
        };
        let observed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|e| SubmitError::Refused { reason: format!("the host clock: {e}") })?
            .as_secs();
        Ok(self
            .contract
            .submit(round + U80::from(1u8), at_18(&btc())?, at_18(&FeedId::ETH_USD)?, observed)
            .from(self.from))
    }
}

#[async_trait]
impl Submitter for RoundFeedSubmitter {
    fn name(&self) -> &str {
        "RoundPriceFeed"
    }

    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        let transport = |e| classify_transport_error(&e);
        let latest = self.contract.latest().call().await.map_err(call_error)?;
        let fees = self.provider.estimate_eip1559_fees().await.map_err(transport)?;
        Ok(OnChainState {
            feeds: vec![
                FeedState { feed: btc(), price: to_price(latest._1)?, bounds: None },
                FeedState { feed: FeedId::ETH_USD, price: to_price(latest._2)?, bounds: None },
            ],
            last_update: SystemTime::UNIX_EPOCH + Duration::from_secs(latest._3),
            deviation_rule: None,
            fee: Some(FeeEstimate {
                price_per_gas: self.provider.get_gas_price().await.map_err(transport)?,
                priority_fee_per_gas: fees.max_priority_fee_per_gas,
            }),
            balance_wei: Some(self.provider.get_balance(self.from).await.map_err(transport)?),
            block: Some(self.provider.get_block_number().await.map_err(transport)?),
            chain_time: None,
        })
    }

    async fn simulate(&self, update: &PriceUpdate, _fence: &Fence) -> Result<(), SubmitError> {
        // eth_call from the reporter: a revert comes back decoded, nothing is signed.
        self.submit_call(update).await?.call().await.map_err(call_error)?;
        Ok(())
    }

    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        fence.check()?;
        let transport = |e| classify_transport_error(&e);
        let cap = update.max_fee_per_gas;
        // What a transaction pays now (base fee and tip): above the cap, nothing is sent.
        let asked = self.provider.get_gas_price().await.map_err(transport)?;
        if asked > cap {
            return Err(SubmitError::FeeAboveCap { asked_wei: asked, cap_wei: cap });
        }
        let tip =
            self.provider.estimate_eip1559_fees().await.map_err(transport)?.max_priority_fee_per_gas.min(cap);
        let nonce = self.provider.get_transaction_count(self.from).pending().await.map_err(transport)?;
        let tx = self
            .submit_call(update)
            .await?
            .into_transaction_request()
            .with_nonce(nonce)
            .with_max_fee_per_gas(cap)
            .with_max_priority_fee_per_gas(tip);
        // The lease must still hold as the transaction leaves (gas is estimated, and it is
        // signed, inside `send_transaction`).
        fence.check()?;
        let sent = self.provider.send_transaction(tx).await.map_err(transport)?;
        let mut pending = PendingUpdate::new(*sent.tx_hash(), nonce, update.clone());
        pending.max_fee_per_gas = cap;
        pending.max_priority_fee_per_gas = tip;
        Ok(pending)
    }

    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        let started = Instant::now();
        loop {
            let receipt = self
                .provider
                .get_transaction_receipt(pending.tx_hash)
                .await
                .map_err(|e| classify_transport_error(&e))?;
            if let Some(r) = receipt {
                let block = r.block_number.unwrap_or_default();
                // A receipt can show before the node answers `latest` from its block; returning
                // then would let the next `read_state` see the round before this one.
                let latest =
                    self.provider.get_block_number().await.map_err(|e| classify_transport_error(&e))?;
                if latest >= block {
                    return Ok(if r.status() {
                        UpdateOutcome::Mined {
                            tx_hash: r.transaction_hash,
                            block,
                            gas_used: r.gas_used,
                            effective_gas_price: r.effective_gas_price,
                        }
                    } else {
                        UpdateOutcome::Reverted { tx_hash: r.transaction_hash, block }
                    });
                }
            }
            if started.elapsed() > self.receipt_timeout {
                return Ok(UpdateOutcome::Stuck { waited: started.elapsed() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn engine(submitter: RoundFeedSubmitter, btc_usd: &str, eth_usd: &str) -> Result<Engine, Error> {
    Ok(Engine::builder()
        .source(btc(), Arc::new(FixedPriceSource::new(btc(), Price::parse(btc_usd, 8)?)))
        .source(FeedId::ETH_USD, Arc::new(FixedPriceSource::new(FeedId::ETH_USD, Price::parse(eth_usd, 8)?)))
        .elector(Arc::new(AlwaysLeader::new("custom-submitter")))
        .submitter(Arc::new(submitter))
        .alerter(Arc::new(LogAlerter))
        // The contract was deployed a moment ago: allow an update at once.
        .policy(Policy::builder().min_interval(Duration::ZERO).build()?)
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let anvil_bin =
        std::env::var_os("ANVIL").map(PathBuf::from).unwrap_or_else(|| repo.join(".tools/bin/anvil"));
    let anvil = Anvil::at(anvil_bin).try_spawn()?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let reporter = PrivateKeySigner::from(anvil.keys()[1].clone());
    let connect = |signer: &PrivateKeySigner| {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer.clone()))
            .connect_http(anvil.endpoint_url())
            .erased()
    };
    let submitter = |signer: &PrivateKeySigner, address: Address| {
        let provider = connect(signer);
        RoundFeedSubmitter {
            contract: RoundPriceFeed::new(address, provider.clone()),
            provider,
            from: signer.address(),
            receipt_timeout: Duration::from_secs(30),
        }
    };

    let e18 = U256::from(10u8).pow(U256::from(18u8));
    let (btc0, eth0) =
        (I256::try_from(U256::from(95_000u64) * e18)?, I256::try_from(U256::from(3_000u64) * e18)?);
    let owner_provider = connect(&owner);
    let feed = *RoundPriceFeed::deploy(&owner_provider, reporter.address(), btc0, eth0).await?.address();
    println!("RoundPriceFeed at {feed}, reporter {}", reporter.address());

    let engine = engine(submitter(&reporter, feed), "97000.5", "3100")?;
    let report = engine.tick().await;
    let TickOutcome::Submitted(landed) = &report.outcome else {
        return Err(format!("expected round 1 to land, got {:?}", report.outcome).into());
    };
    // Read at the receipt's block, whatever `latest` is by now.
    let stored =
        RoundPriceFeed::new(feed, owner_provider.clone()).latest().block(landed.block.into()).call().await?;
    println!(
        "round {} in block {}: BTC {} ETH {} (tx {})",
        stored._0, landed.block, stored._1, stored._2, landed.tx_hash
    );
    let as_e18 = |q: &str| -> Result<I256, Error> { Ok(I256::try_from(Price::parse(q, 18)?.mantissa())?) };
    if stored._0 != U80::from(1u8) || stored._1 != as_e18("97000.5")? || stored._2 != as_e18("3100")? {
        return Err("the contract does not hold round 1 with the sources' prices".into());
    }
    let again = engine.tick().await;
    println!("same prices again: {}", again.outcome.label());
    if !matches!(again.outcome, TickOutcome::Skipped(_)) {
        return Err(format!("read_state should show the landed round, got {:?}", again.outcome).into());
    }

    // The owner is not the reporter: the simulation refuses, and nothing is signed or sent.
    let nonce_before = owner_provider.get_transaction_count(owner.address()).await?;
    let report = engine_with_owner(submitter(&owner, feed))?.tick().await;
    println!("from the owner's key: {}", report.outcome.label());
    let nonce_after = owner_provider.get_transaction_count(owner.address()).await?;
    match &report.outcome {
        TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(Rejection::NotAuthorized)))
            if nonce_after == nonce_before =>
        {
            println!("simulation refused it: NotAuthorized, nothing sent");
        }
        other => {
            return Err(format!("expected a refused simulation and no transaction, got {other:?}").into());
        }
    }
    Ok(())
}

fn engine_with_owner(submitter: RoundFeedSubmitter) -> Result<Engine, Error> {
    // A fresh move (ETH 3100 → 3200), so that the engine decides to submit.
    engine(submitter, "97000.5", "3200")
}
