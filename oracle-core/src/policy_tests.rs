//! Table tests of [`decide`]: every skip reason and every submit reason.

use super::*;
use crate::{DeviationRule, FeeEstimate, FeedState, PriceBounds};

const T0: u64 = 1_700_000_000;

fn p8(s: &str) -> Price {
    Price::parse(s, 8).unwrap()
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// The Jeju contract's shape: ETH 3000, elizaOS 0.10, updated at T0.
fn state() -> OnChainState {
    OnChainState {
        feeds: vec![
            FeedState {
                feed: FeedId::ETH_USD,
                price: p8("3000"),
                bounds: Some(PriceBounds { min: p8("500"), max: p8("10000") }),
            },
            FeedState {
                feed: FeedId::ELIZAOS_USD,
                price: p8("0.1"),
                bounds: Some(PriceBounds { min: p8("0.000001"), max: p8("10000") }),
            },
        ],
        last_update: at(T0),
        deviation_rule: Some(DeviationRule { max_pct: 50, bypass_after: Duration::from_secs(86_400) }),
        fee: Some(FeeEstimate { price_per_gas: 10 * GWEI, priority_fee_per_gas: GWEI }),
        balance_wei: Some(U256::from(10u128.pow(18))),
        block: Some(1),
        chain_time: None,
    }
}

fn obs(eth: Price, eliza: Price) -> HashMap<FeedId, Observation> {
    [(FeedId::ETH_USD, eth), (FeedId::ELIZAOS_USD, eliza)]
        .into_iter()
        .map(|(f, p)| (f.clone(), Observation::new(f, p, at(T0), "test")))
        .collect()
}

struct Case {
    name: &'static str,
    state: OnChainState,
    observations: HashMap<FeedId, Observation>,
    now: SystemTime,
    expect: fn(&Decision) -> bool,
}

fn case(name: &'static str, eth: &str, now_offset: u64, expect: fn(&Decision) -> bool) -> Case {
    Case { name, state: state(), observations: obs(p8(eth), p8("0.1")), now: at(T0 + now_offset), expect }
}

fn is_skip(d: &Decision, label: &str) -> bool {
    matches!(d, Decision::Skip(r) if r.label() == label)
}

fn submit_reasons(d: &Decision) -> Option<&[SubmitReason]> {
    match d {
        Decision::Submit(plan) => Some(&plan.reasons),
        Decision::Skip(_) => None,
    }
}

#[test]
fn every_rule_of_the_decision() {
    let mut cases = vec![
        case("0.5% move is within the threshold", "3015", 120, |d| {
            matches!(
                d,
                Decision::Skip(SkipReason::WithinThreshold { largest_move_bps: 50, threshold_bps: 100, .. })
            )
        }),
        case("a 2% move submits", "3060", 120, |d| {
            submit_reasons(d)
                == Some(&[SubmitReason::Deviation { feed: FeedId::ETH_USD, move_bps: Some(200) }])
        }),
        case("exactly 1% submits", "2970", 120, |d| {
            matches!(submit_reasons(d), Some([SubmitReason::Deviation { move_bps: Some(100), .. }]))
        }),
        case("just under 1% does not", "2970.00000001", 120, |d| is_skip(d, "within_threshold")),
        case(
            "a 2% move within the minimum interval waits",
            "3060",
            59,
            |d| matches!(d, Decision::Skip(SkipReason::TooSoon { age, .. }) if age.as_secs() == 59),
        ),
        case(
            "the heartbeat refreshes an unchanged price",
            "3000",
            3300,
            |d| matches!(submit_reasons(d), Some([SubmitReason::Heartbeat { age }]) if age.as_secs() == 3300),
        ),
        case("just before the heartbeat nothing happens", "3000", 3299, |d| is_skip(d, "within_threshold")),
        case("a 20% move submits and is flagged for review", "3600", 120, |d| match d {
            Decision::Submit(plan) => plan.review.len() == 1 && plan.review[0].move_bps == Some(2000),
            Decision::Skip(_) => false,
        }),
        case(
            "a 9% move is not flagged",
            "3270",
            120,
            |d| matches!(d, Decision::Submit(plan) if plan.review.is_empty()),
        ),
        case("a 60% move the contract would revert is skipped", "4800", 120, |d| {
            matches!(
                d,
                Decision::Skip(SkipReason::ExceedsTargetDeviation { move_bps: 6000, limit_pct: 50, .. })
            )
        }),
        case("a 50.9% move the contract rounds to 50 is sent", "4527", 120, |d| {
            matches!(d, Decision::Submit(_))
        }),
        case("a 60% move after a day of silence is sent", "4800", 86_401, |d| match d {
            Decision::Submit(plan) => plan.reasons.len() == 2 && plan.review.len() == 1,
            Decision::Skip(_) => false,
        }),
        case(
            "a price below the contract's minimum is never sent",
            "499.99999999",
            120,
            |d| matches!(d, Decision::Skip(SkipReason::OutOfBounds { feed, .. }) if *feed == FeedId::ETH_USD),
        ),
        case("a price above the contract's maximum is never sent", "10000.00000001", 86_401, |d| {
            is_skip(d, "out_of_bounds")
        }),
        case(
            "a zero observation is refused",
            "0",
            120,
            |d| matches!(d, Decision::Skip(SkipReason::ZeroPrice { source, .. }) if source == "test"),
        ),
    ];

    let mut c = case(
        "a missing observation skips",
        "3060",
        120,
        |d| matches!(d, Decision::Skip(SkipReason::MissingObservation { feed }) if *feed == FeedId::ELIZAOS_USD),
    );
    c.observations.remove(&FeedId::ELIZAOS_USD);
    cases.push(c);

    let mut c = case("an observation too large for the target's decimals skips", "3060", 120, |d| {
        matches!(d, Decision::Skip(SkipReason::Unrepresentable { error: PriceError::Overflow, .. }))
    });
    c.observations.get_mut(&FeedId::ETH_USD).unwrap().price = Price::new(U256::MAX, 0).unwrap();
    cases.push(c);

    let mut c =
        case("a balance under the minimum does not send", "3060", 120, |d| is_skip(d, "balance_too_low"));
    c.state.balance_wei = Some(U256::from(999_999_999_999_999u128));
    cases.push(c);

    let mut c = case("gas above the cap does not send", "3060", 120, |d| {
        matches!(d, Decision::Skip(SkipReason::GasTooHigh { asked_wei, cap_wei, .. })
            if *asked_wei == 100 * GWEI + 1 && *cap_wei == 100 * GWEI)
    });
    c.state.fee = Some(FeeEstimate { price_per_gas: 100 * GWEI + 1, priority_fee_per_gas: GWEI });
    cases.push(c);

    let mut c = case("gas exactly at the cap sends", "3060", 120, |d| matches!(d, Decision::Submit(_)));
    c.state.fee = Some(FeeEstimate { price_per_gas: 100 * GWEI, priority_fee_per_gas: GWEI });
    cases.push(c);

    let mut c = case(
        "a last update in the future counts as just now",
        "3060",
        0,
        |d| matches!(d, Decision::Skip(SkipReason::TooSoon { age, .. }) if age.is_zero()),
    );
    c.state.last_update = at(T0 + 500);
    cases.push(c);

    let mut c = case("a zero on-chain price is replaced", "3000", 120, |d| {
        matches!(submit_reasons(d), Some([SubmitReason::Deviation { move_bps: None, .. }]))
    });
    c.state.feeds[0].price = Price::zero(8).unwrap();
    c.state.deviation_rule = None;
    cases.push(c);

    let mut c = case("an observation with more decimals is rounded down", "3060", 120, |d| match d {
        Decision::Submit(plan) => plan.update.price(&FeedId::ETH_USD) == Some(&p8("3060.12345678")),
        Decision::Skip(_) => false,
    });
    c.observations.get_mut(&FeedId::ETH_USD).unwrap().price = Price::parse("3060.123456789", 18).unwrap();
    cases.push(c);

    let policy = Policy::default();
    for c in cases {
        let decision = decide(&c.state, &c.observations, &policy, c.now);
        assert!((c.expect)(&decision), "{}: got {decision:?}", c.name);
    }
}

#[test]
fn submit_carries_the_fee_cap_and_target_order() {
    let policy = Policy::builder().max_fee_per_gas(7 * GWEI).build().unwrap();
    let mut s = state();
    s.fee = None;
    let Decision::Submit(plan) = decide(&s, &obs(p8("3060"), p8("0.12")), &policy, at(T0 + 120)) else {
        panic!("expected a submission");
    };
    assert_eq!(plan.update.max_fee_per_gas, 7 * GWEI);
    let feeds: Vec<_> = plan.update.prices.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(feeds, vec![FeedId::ETH_USD, FeedId::ELIZAOS_USD]);
    assert_eq!(plan.reasons.len(), 2, "both feeds moved: {:?}", plan.reasons);
}

#[test]
fn policy_validation_names_the_problem() {
    let err = Policy::builder().min_interval(Duration::from_secs(4000)).build().unwrap_err();
    assert!(err.to_string().contains("minimum interval"), "{err}");
    assert!(Policy::builder().deviation_threshold_bps(0).build().is_err());
    assert!(Policy::builder().heartbeat(Duration::ZERO).build().is_err());
    assert!(Policy::builder().max_fee_per_gas(0).build().is_err());
}
