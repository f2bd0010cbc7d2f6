//! Property tests of [`decide`]: any on-chain state, observations, policy and time give a
//! decision (never a panic), and a submitted plan is one the target accepts: every price inside
//! its bounds and, while the target's deviation rule applies, no move beyond it, computed the
//! way `ManualPriceOracle._checkDeviation` computes it (on the raw integers).
//!
//! Cases per property: `PROPTEST_CASES` (default below); see docs/benchmarks.md.

use proptest::prelude::*;

use super::*;
use crate::proptest_config as config;
use crate::{DeviationRule, FeeEstimate, FeedState, PriceBounds};

fn mantissa() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::MAX),
        any::<u64>().prop_map(U256::from),
        (1u64..1_000_000).prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
    ]
}

fn price(decimals: impl Strategy<Value = u8>) -> impl Strategy<Value = Price> {
    (mantissa(), decimals).prop_filter_map("decimals", |(m, d)| Price::new(m, d).ok())
}

/// Prices near a centre (so that threshold and deviation rules are exercised), or anywhere.
fn near(centre: u64) -> impl Strategy<Value = Price> {
    prop_oneof![
        3 => (centre / 3..=centre.saturating_mul(3)).prop_map(|m| Price::from_u128(u128::from(m), 8).unwrap_or(Price::whole(0))),
        1 => price(0u8..=MAX_DECIMALS_TESTED),
    ]
}

const MAX_DECIMALS_TESTED: u8 = crate::MAX_DECIMALS;

fn time() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        (0u64..200_000).prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)),
        any::<u32>().prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(s))),
        Just(SystemTime::UNIX_EPOCH),
    ]
}

fn bounds() -> impl Strategy<Value = Option<PriceBounds>> {
    prop::option::of((price(0u8..=MAX_DECIMALS_TESTED), price(0u8..=MAX_DECIMALS_TESTED)).prop_map(
        |(a, b)| {
            if a.cmp_value(&b).is_le() {
                PriceBounds { min: a, max: b }
            } else {
                PriceBounds { min: b, max: a }
            }
        },
    ))
}

fn feed_state(i: usize) -> impl Strategy<Value = FeedState> {
    let centre = [300_000_000_000u64, 10_000_000, 1_000][i % 3];
    (near(centre), bounds()).prop_map(move |(price, bounds)| FeedState {
        feed: FeedId::new(format!("F{i}/USD")),
        price,
        bounds,
    })
}

fn state() -> impl Strategy<Value = OnChainState> {
    (
        prop::collection::vec(any::<()>(), 0..4)
            .prop_flat_map(|v| (0..v.len()).map(feed_state).collect::<Vec<_>>()),
        time(),
        prop::option::of(
            (0u64..120, 0u64..200_000).prop_map(|(max_pct, secs)| DeviationRule {
                max_pct,
                bypass_after: Duration::from_secs(secs),
            }),
        ),
        prop::option::of(
            (any::<u128>(), any::<u128>())
                .prop_map(|(p, t)| FeeEstimate { price_per_gas: p, priority_fee_per_gas: t }),
        ),
        prop::option::of(mantissa()),
    )
        .prop_map(|(feeds, last_update, deviation_rule, fee, balance_wei)| OnChainState {
            feeds,
            last_update,
            deviation_rule,
            fee,
            balance_wei,
            block: Some(1),
            chain_time: None,
        })
}

fn observations(state: &OnChainState) -> impl Strategy<Value = HashMap<FeedId, Observation>> + use<> {
    let feeds: Vec<(FeedId, u64)> = state
        .feeds
        .iter()
        .map(|f| (f.feed.clone(), u64::try_from(f.price.mantissa()).unwrap_or(1_000).max(3)))
        .collect();
    let per_feed: Vec<_> = feeds
        .into_iter()
        .map(|(feed, centre)| (Just(feed), prop::option::weighted(0.95, near(centre))))
        .collect();
    per_feed.prop_map(|pairs| {
        pairs
            .into_iter()
            .filter_map(|(feed, price)| {
                price.map(|p| (feed.clone(), Observation::new(feed, p, SystemTime::UNIX_EPOCH, "prop")))
            })
            .collect()
    })
}

fn policy() -> impl Strategy<Value = Result<Policy, PolicyError>> {
    (0u64..3_000, 0u64..200_000, 0u64..200_000, 0u64..20_000, 0u32..4, any::<u128>(), mantissa(), mantissa())
        .prop_map(|(dev, hb, min, review, confirm, fee, min_bal, low_bal)| {
            Policy::builder()
                .deviation_threshold_bps(dev)
                .heartbeat(Duration::from_secs(hb))
                .min_interval(Duration::from_secs(min))
                .review_threshold_bps(review)
                .confirm_ticks(confirm)
                .max_fee_per_gas(fee)
                .min_balance_wei(min_bal)
                .low_balance_wei(low_bal)
                .build()
        })
}

/// `ManualPriceOracle._checkDeviation` on raw integers: `diff * 100 / old > max` reverts.
fn contract_accepts_move(old: U256, new: U256, max_pct: u64) -> bool {
    let diff = if new > old { new - old } else { old - new };
    // The contract's `diff * 100` would overflow-revert above 2^256 / 100.
    let Some(scaled) = diff.checked_mul(U256::from(100u8)) else { return false };
    scaled / old <= U256::from(max_pct)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_input_gives_a_decision_and_a_plan_the_target_accepts(
        (state, observations) in state().prop_flat_map(|s| { let o = observations(&s); (Just(s), o) }),
        policy in policy(),
        now in time(),
    ) {
        let Ok(policy) = policy else { return Ok(()) };
        let decision = decide(&state, &observations, &policy, now);
        let Decision::Submit(plan) = decision else { return Ok(()) };
        prop_assert!(!plan.reasons.is_empty());
        prop_assert_eq!(plan.update.max_fee_per_gas, policy.max_fee_per_gas());
        prop_assert_eq!(plan.update.prices.len(), state.feeds.len(), "one price per stored feed, in order");
        let age = now.duration_since(state.last_update).unwrap_or_default();
        prop_assert!(age >= policy.min_interval());
        for (stored, (feed, new)) in state.feeds.iter().zip(&plan.update.prices) {
            prop_assert_eq!(&stored.feed, feed);
            prop_assert_eq!(new.decimals(), stored.price.decimals(), "at the target's decimals");
            prop_assert!(!new.is_zero());
            if let Some(b) = stored.bounds {
                prop_assert!(new.cmp_value(&b.min).is_ge() && new.cmp_value(&b.max).is_le(), "{new:?} outside {b:?}");
            }
            if let Some(rule) = state.deviation_rule
                && age <= rule.bypass_after
                && !stored.price.is_zero()
            {
                prop_assert!(
                    contract_accepts_move(stored.price.mantissa(), new.mantissa(), rule.max_pct),
                    "{:?} -> {:?} beyond {}% at age {age:?}", stored.price, new, rule.max_pct
                );
            }
        }
        if let Some(balance) = state.balance_wei {
            prop_assert!(balance >= policy.min_balance_wei());
        }
        if let Some(fee) = state.fee {
            prop_assert!(fee.price_per_gas <= policy.max_fee_per_gas());
        }
    }

    /// The Jeju contract as deployed: ETH/USD in [500, 10000] and elizaOS/USD in [1e-6, 10000] at
    /// 8 decimals, 50% per update unless the data is older than a day. Observations at any
    /// decimals, anywhere.
    #[test]
    fn the_jeju_contract_never_reverts_a_plan(
        eth in near(300_000_000_000), eliza in near(10_000_000),
        new_eth in near(300_000_000_000), new_eliza in near(10_000_000),
        since in 0u64..200_000,
    ) {
        let p8 = |m: u64| Price::from_u128(u128::from(m), 8).unwrap_or(Price::whole(0));
        let state = OnChainState {
            feeds: vec![
                FeedState { feed: FeedId::ETH_USD, price: eth.rescale(8).unwrap_or(p8(300_000_000_000)), bounds: Some(PriceBounds { min: p8(50_000_000_000), max: p8(1_000_000_000_000) }) },
                FeedState { feed: FeedId::ELIZAOS_USD, price: eliza.rescale(8).unwrap_or(p8(10_000_000)), bounds: Some(PriceBounds { min: p8(100), max: p8(1_000_000_000_000) }) },
            ],
            last_update: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            deviation_rule: Some(DeviationRule { max_pct: 50, bypass_after: Duration::from_secs(86_400) }),
            fee: None,
            balance_wei: None,
            block: Some(1),
            chain_time: None,
        };
        let observations = [(FeedId::ETH_USD, new_eth), (FeedId::ELIZAOS_USD, new_eliza)]
            .into_iter()
            .map(|(f, p)| (f.clone(), Observation::new(f, p, SystemTime::UNIX_EPOCH, "prop")))
            .collect();
        let now = state.last_update + Duration::from_secs(since);
        if let Decision::Submit(plan) = decide(&state, &observations, &Policy::default(), now) {
            let [(_, e), (_, z)] = plan.update.prices.as_slice() else { return Err(TestCaseError::fail("two prices")) };
            let (e, z) = (e.mantissa(), z.mantissa());
            prop_assert!(e >= U256::from(50_000_000_000u64) && e <= U256::from(1_000_000_000_000u64));
            prop_assert!(z >= U256::from(100u64) && z <= U256::from(1_000_000_000_000u64));
            if since <= 86_400 {
                prop_assert!(contract_accepts_move(state.feeds[0].price.mantissa(), e, 50));
                prop_assert!(contract_accepts_move(state.feeds[1].price.mantissa(), z, 50));
            }
        }
    }
}
