//! Transactions that land exactly once, on real anvil chains: stuck transactions replaced with
//! fresh prices, the gas cap, balance alerts, a nonce taken by another sender, two bots that
//! both believe they lead (plain and fenced oracle), and every classified node error.

// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{sync::Arc, time::Duration};

use alloy::{
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use async_trait::async_trait;
use oracle_core::{
    Fence, OnChainState, PendingUpdate, Policy, PriceUpdate, Rejection, Severity, SkipReason, SubmitError,
    Submitter, TickFailure, TickOutcome, UpdateOutcome,
    evm::{
        bindings::{FencedPriceOracle, ManualPriceOracle},
        classify_transport_error,
    },
};
use oracle_tests::{
    Deployment, START_ELIZA,
    chain::{await_pending_with_price, update_events},
    init_tracing,
    parts::{FixedLeader, RecordingAlerter, engine_with},
    signer,
};
use tokio::sync::Notify;

const GWEI: u128 = 1_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_fresh_prices_and_lands_once() {
    init_tracing();
    let d = Deployment::start().await;
    d.advance_target(120).await;
    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    let submitter =
        d.submitter_with(1, |b| b.stuck_after(Duration::from_millis(400)).stuck_blocks(1_000)).await;
    let alerts = Arc::new(RecordingAlerter::default());
    let engine = Arc::new(engine_with(
        &d,
        Arc::new(FixedLeader::new("a", 1)),
        Arc::new(submitter),
        alerts,
        Policy::default(),
    ));

    d.set_eth(3_100_00000000).await;
    let tick = tokio::spawn({
        let engine = engine.clone();
        async move { engine.tick().await }
    });
    let (first, first_max, first_tip) =
        await_pending_with_price(&d.target_admin, d.updater, 3_100_00000000).await;
    // The market moves while the transaction sits in the pool: the replacement carries the
    // newest price, not the stale one.
    d.set_eth(3_200_00000000).await;
    let (replacement, max, tip) = await_pending_with_price(&d.target_admin, d.updater, 3_200_00000000).await;
    assert_ne!(first, replacement);
    // Both fee fields rise by at least the 10% + 1 wei nodes require of a replacement.
    assert!(max > first_max + first_max / 10, "max fee {first_max} -> {max}");
    assert!(tip > first_tip + first_tip / 10, "tip {first_tip} -> {tip}");

    d.target_admin.anvil_set_auto_mine(true).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    let report = tick.await.unwrap();
    let TickOutcome::Submitted(landed) = &report.outcome else {
        panic!("expected a landed update: {report:?}")
    };
    assert_eq!(landed.tx_hash.to_string(), replacement);
    assert_eq!(d.prices().await.0, U256::from(3_200_00000000u128));
    assert_eq!(d.nonce(d.updater).await, 1, "one nonce used");
    assert_eq!(update_events(&d).await, 1, "exactly one update landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gas_above_the_cap_skips_with_one_alert_and_sends_once_it_drops() {
    init_tracing();
    let d = Deployment::start().await;
    let alerts = Arc::new(RecordingAlerter::default());
    let engine = engine_with(
        &d,
        Arc::new(FixedLeader::new("a", 1)),
        Arc::new(d.submitter(1).await),
        alerts.clone(),
        Policy::default(),
    );
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;

    d.target_admin.anvil_set_next_block_base_fee_per_gas(300 * GWEI).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    for _ in 0..2 {
        let report = engine.tick().await;
        assert!(
            matches!(report.outcome, TickOutcome::Skipped(SkipReason::GasTooHigh { asked_wei, cap_wei, .. })
                if asked_wei > cap_wei && cap_wei == 100 * GWEI),
            "{report:?}"
        );
    }
    assert_eq!(d.nonce(d.updater).await, 0, "nothing sent above the cap");
    assert_eq!(alerts.count("skip:gas_too_high"), 1, "one alert, not one per tick: {:?}", alerts.keys());

    d.target_admin.anvil_set_next_block_base_fee_per_gas(GWEI).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(alerts.count("skip:gas_too_high"), 2, "and one recovery: {:?}", alerts.keys());
    assert!(alerts.keys().contains(&(Severity::Info, "skip:gas_too_high".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_balance_alerts_once_per_level_and_nothing_is_sent_below_the_minimum() {
    init_tracing();
    let d = Deployment::start().await;
    let alerts = Arc::new(RecordingAlerter::default());
    let engine = engine_with(
        &d,
        Arc::new(FixedLeader::new("a", 1)),
        Arc::new(d.submitter(1).await),
        alerts.clone(),
        Policy::default(),
    );
    let milli_eth = |m: u64| U256::from(m) * U256::from(1_000_000_000_000_000u64);

    d.target_admin.anvil_set_balance(d.updater, milli_eth(5)).await.unwrap();
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "0.005 ETH still pays: {report:?}");
    engine.tick().await;
    assert_eq!(alerts.count("balance-low"), 1, "{:?}", alerts.keys());

    d.target_admin.anvil_set_balance(d.updater, milli_eth(1) / U256::from(2u8)).await.unwrap();
    d.advance_target(120).await;
    d.set_eth(3_200_00000000).await;
    for _ in 0..2 {
        let report = engine.tick().await;
        assert!(
            matches!(report.outcome, TickOutcome::Skipped(SkipReason::BalanceTooLow { .. })),
            "{report:?}"
        );
    }
    assert_eq!(d.nonce(d.updater).await, 1, "no send below the minimum");
    assert_eq!(alerts.count("balance-critical"), 1, "{:?}", alerts.keys());
    assert_eq!(alerts.count("balance-low"), 1, "still one warning: {:?}", alerts.keys());
    assert!(alerts.keys().contains(&(Severity::Critical, "balance-critical".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sender_taking_the_nonce_is_recognised_and_not_repeated() {
    init_tracing();
    let d = Deployment::start().await;
    d.advance_target(120).await;
    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    let submitter =
        d.submitter_with(1, |b| b.stuck_after(Duration::from_millis(300)).stuck_blocks(1_000)).await;
    let engine = Arc::new(engine_with(
        &d,
        Arc::new(FixedLeader::new("a", 1)),
        Arc::new(submitter),
        Arc::new(RecordingAlerter::default()),
        Policy::default(),
    ));
    d.set_eth(3_100_00000000).await;
    let tick = tokio::spawn({
        let engine = engine.clone();
        async move { engine.tick().await }
    });
    await_pending_with_price(&d.target_admin, d.updater, 3_100_00000000).await;

    // An operator with the same key sends its own update at the same nonce, paying far more.
    let operator = oracle_tests::wallet_provider(&d.target, 1);
    let _pending = ManualPriceOracle::new(d.oracle, operator)
        .updatePrices(U256::from(3_150_00000000u128), U256::from(START_ELIZA))
        .nonce(0)
        .gas(200_000)
        .max_fee_per_gas(90 * GWEI)
        .max_priority_fee_per_gas(80 * GWEI)
        .send()
        .await
        .unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    d.target_admin.anvil_set_auto_mine(true).await.unwrap();

    let report = tick.await.unwrap();
    assert_eq!(report.outcome, TickOutcome::Skipped(SkipReason::LandedElsewhere { nonce: 0 }), "{report:?}");
    assert_eq!(d.prices().await.0, U256::from(3_150_00000000u128), "the operator's update stands");

    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::TooSoon { .. })), "{report:?}");
    assert_eq!(update_events(&d).await, 1, "no second update within the minimum interval");
    assert_eq!(d.nonce(d.updater).await, 1);
}

/// A submitter that holds its simulation until released: lets a test put another bot's update
/// between this bot's first read and its send.
struct Gated<S> {
    inner: S,
    gate: Arc<Notify>,
    reached: Arc<Notify>,
}

#[async_trait]
impl<S: Submitter> Submitter for Gated<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_state(&self) -> Result<OnChainState, SubmitError> {
        self.inner.read_state().await
    }
    async fn simulate(&self, update: &PriceUpdate, fence: &Fence) -> Result<(), SubmitError> {
        self.reached.notify_one();
        self.gate.notified().await;
        self.inner.simulate(update, fence).await
    }
    async fn send(&self, update: &PriceUpdate, fence: &Fence) -> Result<PendingUpdate, SubmitError> {
        self.inner.send(update, fence).await
    }
    async fn wait(&self, pending: &PendingUpdate) -> Result<UpdateOutcome, SubmitError> {
        self.inner.wait(pending).await
    }
}

/// Bot B decides to submit, then bot A lands an update, then B goes on: the outcome of B.
async fn race_two_leaders(d: &Deployment, token_a: u64, token_b: u64) -> TickOutcome {
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;
    let (gate, reached) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b_submitter = Gated { inner: d.submitter(0).await, gate: gate.clone(), reached: reached.clone() };
    let a = engine_with(
        d,
        Arc::new(FixedLeader::new("a", token_a)),
        Arc::new(d.submitter(1).await),
        Arc::new(RecordingAlerter::default()),
        Policy::default(),
    );
    let b = Arc::new(engine_with(
        d,
        Arc::new(FixedLeader::new("b", token_b)),
        Arc::new(b_submitter),
        Arc::new(RecordingAlerter::default()),
        Policy::default(),
    ));
    let b_tick = tokio::spawn({
        let b = b.clone();
        async move { b.tick().await }
    });
    reached.notified().await;
    let report = a.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    gate.notify_one();
    b_tick.await.unwrap().outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_on_the_plain_oracle_land_one_update_per_interval() {
    init_tracing();
    let d = Deployment::start().await;
    let outcome = race_two_leaders(&d, 1, 1).await;
    assert!(matches!(outcome, TickOutcome::Skipped(SkipReason::TooSoon { .. })), "{outcome:?}");
    assert_eq!(update_events(&d).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leaders_on_the_fenced_oracle_the_stale_token_is_refused_on_chain() {
    init_tracing();
    let d = Deployment::start_fenced().await;
    let outcome = race_two_leaders(&d, 5, 3).await;
    assert!(
        matches!(
            outcome,
            TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(
                Rejection::StaleFencingToken { token: 3, highest: 5 }
            )))
        ),
        "{outcome:?}"
    );
    assert_eq!(update_events(&d).await, 1);

    // Sent without simulation, the stale update is mined and reverted by the contract itself.
    let stale = FencedPriceOracle::new(d.oracle, oracle_tests::wallet_provider(&d.target, 1));
    let receipt = stale
        .updatePricesFenced(U256::from(3_300_00000000u128), U256::from(START_ELIZA), U256::from(3u8))
        .gas(200_000)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!receipt.status(), "the chain refuses the stale token");
    assert_eq!(d.prices().await.0, U256::from(3_100_00000000u128));
}

/// Signs `tx` with `key` and broadcasts it raw; returns the node's refusal, classified.
async fn send_raw(
    provider: &DynProvider,
    key: &PrivateKeySigner,
    tx: TransactionRequest,
) -> Result<(), SubmitError> {
    let envelope = tx.build(&EthereumWallet::from(key.clone())).await.unwrap();
    let raw = alloy::eips::Encodable2718::encoded_2718(&envelope);
    provider.send_raw_transaction(&raw).await.map(|_| ()).map_err(|e| classify_transport_error(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_refusals_are_classified_from_real_anvil_answers() {
    init_tracing();
    let d = Deployment::start().await;
    let key = signer(&d.target, 1);
    let p = &d.target_admin;
    let chain_id = p.get_chain_id().await.unwrap();
    let tx = |nonce: u64, max_fee: u128, value: u64| {
        TransactionRequest::default()
            .with_from(key.address())
            .with_to(Address::with_last_byte(0xee))
            .with_value(U256::from(value))
            .with_nonce(nonce)
            .with_chain_id(chain_id)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(1)
    };

    send_raw(p, &key, tx(0, 10 * GWEI, 1)).await.unwrap();
    // Automine mines on its own schedule: wait until the nonce is used before reusing it.
    while p.get_transaction_count(key.address()).await.unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = send_raw(p, &key, tx(0, 10 * GWEI, 2)).await.unwrap_err();
    assert!(matches!(err, SubmitError::NonceTooLow { .. }), "{err:?}");

    p.anvil_set_auto_mine(false).await.unwrap();
    send_raw(p, &key, tx(1, 10 * GWEI, 1)).await.unwrap();
    let err = send_raw(p, &key, tx(1, 10 * GWEI, 2)).await.unwrap_err();
    assert!(matches!(err, SubmitError::ReplacementUnderpriced { .. }), "{err:?}");
    let err = send_raw(p, &key, tx(1, 10 * GWEI, 1)).await.unwrap_err();
    assert!(matches!(err, SubmitError::AlreadyKnown), "{err:?}");
    p.anvil_set_auto_mine(true).await.unwrap();
    p.evm_mine(None).await.unwrap();

    let err = send_raw(p, &key, tx(2, 1, 1)).await.unwrap_err();
    assert!(matches!(err, SubmitError::FeeCapBelowBaseFee { .. }), "{err:?}");

    let pauper = PrivateKeySigner::random();
    let poor_tx = tx(0, 10 * GWEI, 1).with_from(pauper.address());
    let err = send_raw(p, &pauper, poor_tx).await.unwrap_err();
    assert!(matches!(err, SubmitError::InsufficientFunds { .. }), "{err:?}");

    // A revert, decoded to the contract's custom error (an unauthorized caller).
    let call = ManualPriceOracle::updatePricesCall {
        newEthPrice: U256::from(3_100_00000000u128),
        newElizaPrice: U256::from(START_ELIZA),
    };
    let req = TransactionRequest::default()
        .with_from(pauper.address())
        .with_to(d.oracle)
        .with_input(call.abi_encode());
    let err = classify_transport_error(&p.call(req).await.unwrap_err());
    assert_eq!(err, SubmitError::Rejected(Rejection::NotAuthorized));
}
