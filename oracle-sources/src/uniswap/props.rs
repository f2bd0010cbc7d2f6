//! Property tests of the Uniswap math: any input gives a value or a typed error, never a panic;
//! `sqrt_ratio_at_tick` is strictly increasing over the whole tick range and within 1e-11 (plus the last unit) of
//! `sqrt(1.0001^t)·2^96`; mean ticks are floors; prices are single floors of the exact fraction;
//! quotes grow with the amount and (for token0) with the tick.
//!
//! Cases per property: `PROPTEST_CASES` (default 256); see docs/benchmarks.md.

use alloy::primitives::{Address, I256, U256, Uint};
use proptest::prelude::*;

use super::{price_math::*, tick_math::*};
use crate::proptest_config as config;

type U1024 = Uint<1024, 16>;

fn tick() -> impl Strategy<Value = i32> {
    prop_oneof![MIN_TICK..=MAX_TICK, Just(MIN_TICK), Just(MAX_TICK), -1000i32..1000]
}

fn any_tick() -> impl Strategy<Value = i32> {
    prop_oneof![tick(), any::<i32>(), Just(MIN_TICK - 1), Just(MAX_TICK + 1)]
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::MAX),
        Just(MIN_SQRT_RATIO),
        Just(MAX_SQRT_RATIO),
        (MIN_TICK..=MAX_TICK).prop_map(|t| sqrt_ratio_at_tick(t).unwrap_or_default()),
        (0usize..256).prop_map(|k| U256::from(1u8) << k),
        (240usize..256).prop_map(|k| U256::from(1u8) << k),
        any::<u128>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
    ]
}

fn pair() -> impl Strategy<Value = PairOrientation> {
    (
        prop_oneof![9 => 0u8..=36, 1 => any::<u8>()],
        prop_oneof![9 => 0u8..=36, 1 => any::<u8>()],
        any::<bool>(),
    )
        .prop_map(|(decimals0, decimals1, base_is_token0)| PairOrientation {
            decimals0,
            decimals1,
            base_is_token0,
        })
}

fn pow10(exp: u32) -> U1024 {
    U1024::from(10u8).pow(U1024::from(exp))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sqrt_ratio_is_in_range_increasing_and_close_to_the_real_root(t in any_tick()) {
        match sqrt_ratio_at_tick(t) {
            Err(e) => prop_assert!(!(MIN_TICK..=MAX_TICK).contains(&t) && e.tick == i64::from(t)),
            Ok(r) => {
                prop_assert!((MIN_TICK..=MAX_TICK).contains(&t));
                prop_assert!(r >= MIN_SQRT_RATIO && r <= MAX_SQRT_RATIO);
                if t < MAX_TICK {
                    prop_assert!(sqrt_ratio_at_tick(t + 1).is_ok_and(|next| next > r), "tick {t}");
                }
                // sqrt(1.0001^t) · 2^96 in floating point: relative error ~1e-14 at the ends.
                let reference = (f64::from(t) * 1.0001f64.ln() / 2.0).exp() * 2f64.powi(96);
                let got: f64 = r.to_string().parse().unwrap_or(f64::NAN);
                // Q64.96 rounds up by at most one unit, which matters near MIN_TICK (~4.3e9).
                prop_assert!((got - reference).abs() <= 2.0 + reference * 1e-11, "tick {t}: {got} vs {reference}");
            }
        }
    }

    #[test]
    fn mean_tick_is_the_floor_of_the_mean(start in any::<i64>(), end in any::<i64>(), window in prop_oneof![Just(0u32), 1u32..4000, any::<u32>()]) {
        let result = mean_tick(start, end, window);
        if window == 0 {
            prop_assert_eq!(result, Err(PoolMathError::EmptyWindow));
            return Ok(());
        }
        let delta = i128::from(end) - i128::from(start);
        let w = i128::from(window);
        let mut floor = delta / w;
        if delta % w != 0 && delta < 0 {
            floor -= 1;
        }
        match result {
            Ok(t) => prop_assert_eq!(i128::from(t), floor),
            Err(PoolMathError::Tick(_)) => prop_assert!(floor < i128::from(MIN_TICK) || floor > i128::from(MAX_TICK)),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn mean_tick_of_a_real_history_is_in_range(t in tick(), window in 1u32..100_000, base in -(1i64 << 50)..(1i64 << 50)) {
        let end = base + i64::from(t) * i64::from(window);
        prop_assert_eq!(mean_tick(base, end, window), Ok(t));
    }

    #[test]
    fn price_is_one_floor_of_the_exact_fraction(sqrt in u256(), pair in pair(), decimals in prop_oneof![9 => 0u8..=36, 1 => any::<u8>()]) {
        let result = price_at_sqrt_ratio(sqrt, pair, decimals);
        if [pair.decimals0, pair.decimals1, decimals].iter().any(|d| *d > 36) {
            prop_assert!(matches!(result, Err(PoolMathError::TooManyDecimals { .. })), "{result:?}");
            return Ok(());
        }
        if sqrt.is_zero() {
            prop_assert_eq!(result, Err(PoolMathError::ZeroSqrtPrice));
            return Ok(());
        }
        // Exact: base0: s²·10^(d+b-q) / 2^192; base1: 2^192·10^(d+b-q) / s², b and q the
        // base and quote decimals.
        let (b, q) = if pair.base_is_token0 { (pair.decimals0, pair.decimals1) } else { (pair.decimals1, pair.decimals0) };
        let e = i32::from(decimals) + i32::from(b) - i32::from(q);
        let s2 = U1024::from(sqrt) * U1024::from(sqrt);
        let q192 = U1024::from(1u8) << 192;
        let (mut num, mut den) = if pair.base_is_token0 { (s2, q192) } else { (q192, s2) };
        if e >= 0 { num *= pow10(e.unsigned_abs()) } else { den *= pow10(e.unsigned_abs()) }
        let exact = num / den;
        match result {
            Ok(p) => {
                prop_assert_eq!(U1024::from(p.mantissa()), exact);
                prop_assert_eq!(p.decimals(), decimals);
            }
            Err(PoolMathError::Overflow { .. }) => prop_assert!(exact > U1024::from(U256::MAX)),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn quotes_grow_with_the_amount_and_the_tick(t in tick(), a in any::<u128>(), b in any::<u128>(), token0_is_base in any::<bool>()) {
        let (x, y) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let (base, quote) = if token0_is_base { (x, y) } else { (y, x) };
        let (lo, hi) = (a.min(b), a.max(b));
        let q_lo = quote_at_tick(t, lo, base, quote);
        let q_hi = quote_at_tick(t, hi, base, quote);
        prop_assert!(q_lo.is_ok() && q_hi.is_ok(), "{q_lo:?} {q_hi:?}");
        let here = q_hi.unwrap_or_default();
        prop_assert!(q_lo.unwrap_or_default() <= here);
        if t < MAX_TICK {
            let next = quote_at_tick(t + 1, hi, base, quote).unwrap_or_default();
            if token0_is_base { prop_assert!(next >= here) } else { prop_assert!(next <= here) }
        }
    }

    #[test]
    fn any_tick_and_liquidity_give_a_quote_or_an_error(t in any_tick(), amount in any::<u128>(), liquidity in any::<u128>(), order in any::<bool>()) {
        let (x, y) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let in_range = (MIN_TICK..=MAX_TICK).contains(&t);
        prop_assert_eq!(quote_at_tick(t, amount, x, y).is_ok(), in_range);
        prop_assert_eq!(quote_at_tick(t, amount, y, x).is_ok(), in_range);
        prop_assert_eq!(quote_reserve(liquidity, t, order).is_ok(), in_range);
        let _ = price_at_tick(t, PairOrientation { decimals0: 18, decimals1: 6, base_is_token0: order }, 18);
    }

    #[test]
    fn harmonic_mean_never_panics(a in u256(), b in u256(), window in any::<u32>()) {
        match harmonic_mean_liquidity(a, b, window) {
            Ok(_) => prop_assert!(window > 0),
            Err(PoolMathError::EmptyWindow) => prop_assert_eq!(window, 0),
            Err(PoolMathError::NoSecondsPerLiquidity) => {
                let mask: U256 = (U256::from(1u8) << 160) - U256::from(1u8);
                prop_assert!((b.wrapping_sub(a) & mask).is_zero());
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn weighted_mean_tick_is_the_floor_of_the_weighted_mean(ticks in prop::collection::vec((any_tick(), prop_oneof![Just(0u128), any::<u128>(), 1u128..1000]), 0..8)) {
        let num: I256 = ticks.iter().map(|(t, w)| I256::try_from(*t).unwrap_or_default() * I256::from_raw(U256::from(*w))).fold(I256::ZERO, |a, b| a + b);
        let den: U256 = ticks.iter().map(|(_, w)| U256::from(*w)).fold(U256::ZERO, |a, b| a + b);
        match weighted_arithmetic_mean_tick(&ticks) {
            Ok(mean) => {
                let den = I256::from_raw(den);
                let m = I256::try_from(i64::from(mean)).unwrap_or_default();
                prop_assert!(m * den <= num && num < (m + I256::ONE) * den, "{ticks:?} -> {mean}");
            }
            Err(PoolMathError::NoWeight) => prop_assert!(den.is_zero()),
            Err(PoolMathError::Tick(_)) => prop_assert!(ticks.iter().any(|(t, w)| *w > 0 && !(MIN_TICK..=MAX_TICK).contains(t))),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
