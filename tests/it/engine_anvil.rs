//! The engine end to end on two real anvil chains: Chainlink's own aggregator on the source, our
//! oracle on the target, real transactions.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use alloy::primitives::U256;
use oracle_core::{
    Policy, Rejection, SkipReason, SourceError, SubmitError, SubmitReason, TickFailure, TickOutcome,
};
use oracle_tests::{Deployment, START_ELIZA, START_ETH, init_tracing, lagging_anvil};

/// 8-decimal dollars.
const fn usd(dollars: u128, cents: u128) -> u128 {
    dollars * 100_000_000 + cents * 1_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_moves_skip_and_large_moves_land_exactly() {
    init_tracing();
    let d = Deployment::start().await;
    let engine = d.engine(1, Policy::default()).await;
    d.advance_target(120).await;

    // +0.5%: under the 1% threshold, nothing is sent.
    d.set_eth(usd(3015, 0) as i128).await;
    let report = engine.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Skipped(SkipReason::WithinThreshold { largest_move_bps: 50, .. })
        ),
        "{report:?}"
    );
    assert_eq!(d.nonce(d.updater).await, 0, "no transaction for a skipped tick");

    // +2% with every decimal used: lands with the exact 8-decimal value.
    let moved = 3_060_12345678u128;
    d.set_eth(moved as i128).await;
    let report = engine.tick().await;
    let TickOutcome::Submitted(landed) = &report.outcome else {
        panic!("expected a landed update: {report:?}")
    };
    assert!(landed.reasons.iter().any(|r| matches!(r, SubmitReason::Deviation { move_bps: Some(200), .. })));
    let (eth, eliza, _) = d.prices().await;
    assert_eq!(eth, U256::from(moved));
    assert_eq!(eliza, U256::from(START_ELIZA));
    assert_eq!(d.nonce(d.updater).await, 1, "exactly one transaction");

    // Right after an update the minimum interval holds further moves back.
    d.set_eth(usd(3300, 0) as i128).await;
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::TooSoon { .. })), "{report:?}");

    let status = engine.status().borrow().clone();
    assert_eq!((status.total_updates, status.update_failures, status.ticks), (1, 0, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_price_is_refreshed_at_the_heartbeat() {
    init_tracing();
    let d = Deployment::start().await;
    let engine = d.engine(1, Policy::default()).await;
    let (_, _, before) = d.prices().await;

    // Well below the 3300 s heartbeat: the decision's clock is the later of the chain's and the
    // host's, and the host's seconds run on between the deployment's block and the tick.
    d.advance_target(3_200).await;
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::WithinThreshold { .. })), "{report:?}");

    d.advance_target(100).await;
    let report = engine.tick().await;
    let TickOutcome::Submitted(landed) = &report.outcome else {
        panic!("expected a heartbeat update: {report:?}")
    };
    assert!(matches!(landed.reasons.as_slice(), [SubmitReason::Heartbeat { .. }]), "{:?}", landed.reasons);
    let (eth, _, after) = d.prices().await;
    assert_eq!(eth, U256::from(START_ETH), "unchanged price rewritten");
    assert!(after >= before + U256::from(3_300u64), "lastUpdateTime moved from {before} to {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_key_is_refused_before_anything_is_sent() {
    init_tracing();
    let d = Deployment::start().await;
    let stranger = d.target.addresses()[5];
    let engine = d.engine(5, Policy::default()).await;
    d.advance_target(120).await;
    d.set_eth(usd(3100, 0) as i128).await;

    let report = engine.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Failed(TickFailure::Simulation(SubmitError::Rejected(Rejection::NotAuthorized)))
        ),
        "{report:?}"
    );
    assert_eq!(d.nonce(stranger).await, 0, "no transaction was sent");
    assert_eq!(d.prices().await.0, U256::from(START_ETH));
    assert_eq!(engine.status().borrow().consecutive_failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_the_contract_would_refuse_are_never_sent() {
    init_tracing();
    let d = Deployment::start().await;
    let engine = d.engine(1, Policy::default()).await;
    d.advance_target(120).await;

    // Below MIN_ETH_PRICE ($500).
    d.set_eth(usd(499, 99) as i128).await;
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::OutOfBounds { .. })), "{report:?}");

    // +60% within a day: the contract's 50% rule would revert; it needs the emergency update.
    d.set_eth(usd(4800, 0) as i128).await;
    let report = engine.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Skipped(SkipReason::ExceedsTargetDeviation { limit_pct: 50, .. })
        ),
        "{report:?}"
    );

    // A zero answer is refused by the source itself.
    d.set_eth(0).await;
    let report = engine.tick().await;
    assert!(
        matches!(
            report.outcome,
            TickOutcome::Failed(TickFailure::Source { error: SourceError::NonPositive { .. }, .. })
        ),
        "{report:?}"
    );

    assert_eq!(d.nonce(d.updater).await, 0, "nothing was ever sent");
    assert_eq!(d.prices().await.0, U256::from(START_ETH));
}

/// A move above the review threshold (10%) is held on the tick that first sees it and sent on
/// the next one that still sees it, flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_move_is_held_for_a_tick_then_lands_flagged() {
    init_tracing();
    let d = Deployment::start().await;
    let engine = d.engine(1, Policy::default()).await;
    d.advance_target(120).await;
    d.set_eth(usd(3600, 0) as i128).await; // +20%: above the 10% review threshold, below 50%.

    let held = engine.tick().await;
    assert!(
        matches!(
            &held.outcome,
            TickOutcome::Skipped(SkipReason::HeldForConfirmation {
                move_bps: Some(2_000),
                seen: 1,
                needed: 2,
                ..
            })
        ),
        "{held:?}"
    );
    assert_eq!(d.nonce(d.updater).await, 0, "nothing sent while held");

    let report = engine.tick().await;
    let TickOutcome::Submitted(landed) = &report.outcome else {
        panic!("expected a landed update: {report:?}")
    };
    assert_eq!(landed.review.len(), 1, "{:?}", landed.review);
    assert_eq!(landed.review[0].move_bps, Some(2_000));
    assert_eq!(d.prices().await.0, U256::from(usd(3600, 0)));
}

/// A large move that reverts within the hold is never sent: the glitch (a manipulated pool, a
/// bad round) costs nothing on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_move_that_reverts_within_the_hold_is_never_sent() {
    init_tracing();
    let d = Deployment::start().await;
    let engine = d.engine(1, Policy::builder().confirm_ticks(3).build().unwrap()).await;
    d.advance_target(120).await;
    d.set_eth(usd(3600, 0) as i128).await;
    for seen in 1..=2 {
        let report = engine.tick().await;
        assert!(
            matches!(&report.outcome, TickOutcome::Skipped(SkipReason::HeldForConfirmation { seen: s, needed: 3, .. }) if *s == seen),
            "{report:?}"
        );
    }
    // Back to where it was before the third tick confirms it.
    d.set_eth(START_ETH as i128).await;
    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Skipped(SkipReason::WithinThreshold { .. })), "{report:?}");
    // And a new jump starts a new count.
    d.set_eth(usd(3600, 0) as i128).await;
    let report = engine.tick().await;
    assert!(
        matches!(&report.outcome, TickOutcome::Skipped(SkipReason::HeldForConfirmation { seen: 1, .. })),
        "{report:?}"
    );
    assert_eq!(d.nonce(d.updater).await, 0, "the reverted move was never sent");
    assert_eq!(d.prices().await.0, U256::from(START_ETH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_chain_whose_clock_lags_does_not_freeze_updates() {
    init_tracing();
    // The target's latest block is 600 s behind the host, as on a chain that mines only on demand:
    // the next block will carry the host's time, so the last update is already 600 s old.
    let d = Deployment::with_target(lagging_anvil(420_691, 600)).await;
    let engine = d.engine(1, Policy::default()).await;
    d.set_eth(usd(3100, 0) as i128).await;

    let report = engine.tick().await;
    assert!(matches!(report.outcome, TickOutcome::Submitted(_)), "{report:?}");
    assert_eq!(d.prices().await.0, U256::from(usd(3100, 0)));
}
