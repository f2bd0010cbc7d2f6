//! From a pool's sqrt price or tick cumulatives to a [`Price`], in exact integer arithmetic.
//!
//! A pool's `sqrtPriceX96² / 2^192` is the price of one raw unit of token0 in raw units of token1.
//! The price of one whole base token in whole quote tokens is that times `10^(decimals0 -
//! decimals1)` when the base is token0, and the reciprocal (with `10^(decimals1 - decimals0)`)
//! when the base is token1. The old bot inverted in the wrong case; here both orders are one
//! formula each, computed as a single fraction and floored once.

use alloy::primitives::{Address, U256, U512};
use oracle_core::{MAX_DECIMALS, Price};

use super::tick_math::{MAX_TICK, MIN_TICK, TickOutOfRange, sqrt_ratio_at_tick};

/// Why a pool's numbers could not be turned into a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolMathError {
    /// The sqrt price is zero: the pool was never initialized.
    #[error("sqrtPriceX96 is zero (the pool is not initialized)")]
    ZeroSqrtPrice,
    /// A token or the output has more decimals than supported.
    #[error("{decimals} decimals are more than the {MAX_DECIMALS} supported")]
    TooManyDecimals {
        /// The offending number of decimals.
        decimals: u8,
    },
    /// The price does not fit a 256-bit mantissa at the asked decimals.
    #[error("the price does not fit 256 bits at {decimals} decimals")]
    Overflow {
        /// The decimals asked for.
        decimals: u8,
    },
    /// The TWAP window is zero seconds.
    #[error("a TWAP window must be at least one second")]
    EmptyWindow,
    /// A tick outside the pool's range.
    #[error(transparent)]
    Tick(#[from] TickOutOfRange),
    /// Nothing to weigh: no pool, or no liquidity in any over the window.
    #[error("no liquidity to weigh the pools' ticks by")]
    NoWeight,
    /// The seconds-per-liquidity cumulative did not move over the window (liquidity beyond what
    /// a pool can hold, or a pool that returned garbage).
    #[error("secondsPerLiquidityCumulativeX128 did not change over the window")]
    NoSecondsPerLiquidity,
}

/// The two tokens of a pool as a price reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairOrientation {
    /// `decimals()` of the pool's token0.
    pub decimals0: u8,
    /// `decimals()` of the pool's token1.
    pub decimals1: u8,
    /// Whether the priced (base) token is token0; if not, it is token1 and the pool price is
    /// inverted.
    pub base_is_token0: bool,
}

fn pow10(exp: u32) -> U512 {
    U512::from(10u8).pow(U512::from(exp))
}

/// The price of one whole base token in whole quote tokens at `sqrt_price_x96`, with `decimals`
/// decimals, rounded down once.
///
/// ```
/// use alloy::primitives::U256;
/// use oracle_sources::uniswap::price_math::{PairOrientation, price_at_sqrt_ratio};
///
/// // sqrtPriceX96 = 2^96: one raw token0 is worth one raw token1.
/// let one = U256::from(1u8) << 96;
/// // token0 has 6 decimals, token1 18: one whole token0 (1e6 raw) buys 1e6 raw token1 = 1e-12.
/// let base0 = PairOrientation { decimals0: 6, decimals1: 18, base_is_token0: true };
/// assert_eq!(price_at_sqrt_ratio(one, base0, 18)?.to_string(), "0.000000000001000000");
/// // The other way round: one whole token1 is 1e12 whole token0.
/// let base1 = PairOrientation { base_is_token0: false, ..base0 };
/// assert_eq!(price_at_sqrt_ratio(one, base1, 0)?.to_string(), "1000000000000");
/// # Ok::<(), oracle_sources::uniswap::price_math::PoolMathError>(())
/// ```
pub fn price_at_sqrt_ratio(
    sqrt_price_x96: U256,
    pair: PairOrientation,
    decimals: u8,
) -> Result<Price, PoolMathError> {
    for d in [pair.decimals0, pair.decimals1, decimals] {
        if d > MAX_DECIMALS {
            return Err(PoolMathError::TooManyDecimals { decimals: d });
        }
    }
    if sqrt_price_x96.is_zero() {
        return Err(PoolMathError::ZeroSqrtPrice);
    }
    let overflow = PoolMathError::Overflow { decimals };
    // sqrtPriceX96 < 2^161, so its square < 2^322: the U512 product cannot overflow.
    let squared = U512::from(sqrt_price_x96) * U512::from(sqrt_price_x96);
    let q192 = U512::from(1u8) << 192;
    let (base_decimals, quote_decimals) =
        if pair.base_is_token0 { (pair.decimals0, pair.decimals1) } else { (pair.decimals1, pair.decimals0) };
    // mantissa = ratio_of_base_in_quote_raw · 10^(decimals + base_decimals - quote_decimals), where
    // ratio_raw = squared / 2^192 for base = token0 and 2^192 / squared for base = token1. The power
    // of ten goes to the numerator or the denominator, whichever keeps it a whole number.
    let exponent = i32::from(decimals) + i32::from(base_decimals) - i32::from(quote_decimals);
    let (up, down) = if exponent >= 0 { (exponent.unsigned_abs(), 0) } else { (0, exponent.unsigned_abs()) };
    let (numerator, denominator) = if pair.base_is_token0 { (squared, q192) } else { (q192, squared) };
    // Exponents are at most 72 (10^72 < 2^240). The numerator can only overflow when it is
    // squared · 10^up ≥ 2^512, and then the quotient by 2^192 is ≥ 2^320: too large anyway.
    let numerator = numerator.checked_mul(pow10(up)).ok_or(overflow.clone())?;
    // A sqrt price read from outside may be any 256-bit number: its square times 10^down can pass
    // 2^512 (and wrap, or wrap to zero and divide by it). That only happens with the base as
    // token1 and `down > 0`, where the numerator is 2^192: the price floors to zero.
    let Some(denominator) = denominator.checked_mul(pow10(down)) else {
        return Price::new(U256::ZERO, decimals).map_err(|_| PoolMathError::TooManyDecimals { decimals });
    };
    let mantissa = numerator / denominator;
    if mantissa > U512::from(U256::MAX) {
        return Err(overflow);
    }
    let mantissa = U256::from_limbs_slice(&mantissa.as_limbs()[..4]);
    Price::new(mantissa, decimals).map_err(|_| PoolMathError::TooManyDecimals { decimals })
}

/// The arithmetic mean tick between two tick cumulatives `window_secs` apart, rounded toward
/// negative infinity exactly as Uniswap's `OracleLibrary.consult` does.
///
/// ```
/// use oracle_sources::uniswap::price_math::mean_tick;
/// assert_eq!(mean_tick(0, 3_000, 10)?, 300);
/// assert_eq!(mean_tick(0, -3_005, 10)?, -301); // -300.5 rounds down, not toward zero
/// # Ok::<(), oracle_sources::uniswap::price_math::PoolMathError>(())
/// ```
pub fn mean_tick(cumulative_start: i64, cumulative_end: i64, window_secs: u32) -> Result<i32, PoolMathError> {
    if window_secs == 0 {
        return Err(PoolMathError::EmptyWindow);
    }
    // Cumulatives are int56: their difference fits in i64 (checked anyway, the data is external).
    let delta = i128::from(cumulative_end) - i128::from(cumulative_start);
    let window = i128::from(window_secs);
    let mean = delta.div_euclid(window);
    let tick = i32::try_from(mean).map_err(|_| TickOutOfRange { tick: clamp_to_i64(mean) })?;
    if !(MIN_TICK..=MAX_TICK).contains(&tick) {
        return Err(TickOutOfRange { tick: i64::from(tick) }.into());
    }
    Ok(tick)
}

fn clamp_to_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// The harmonic-mean in-range liquidity over a window, from two `secondsPerLiquidityCumulativeX128`
/// values `window_secs` apart, computed as Uniswap's `OracleLibrary.consult` does:
/// `window · (2^160 − 1) / (Δ << 32)`.
///
/// A pool adds `seconds · 2^128 / liquidity` to the cumulative every second (with liquidity 0
/// counted as 1), so a pool that was empty for most of the window has a tiny harmonic mean even
/// if a huge position was minted just before the read: this is what makes the weight of a pool
/// expensive to fake. `Δ` wraps modulo 2^160 like the pool's `uint160`. Where Solidity would
/// truncate a result past 2^128 to its low bits (liquidity no pool can hold), this saturates.
///
/// ```
/// use alloy::primitives::U256;
/// use oracle_sources::uniswap::price_math::harmonic_mean_liquidity;
/// // A constant liquidity L over 100 s adds 100 · 2^128 / L.
/// let l = 1_000_000_000_000u128;
/// let delta = (U256::from(100u8) << 128) / U256::from(l);
/// let h = harmonic_mean_liquidity(U256::ZERO, delta, 100)?;
/// assert!(h.abs_diff(l) <= l / 1_000_000);
/// # Ok::<(), oracle_sources::uniswap::price_math::PoolMathError>(())
/// ```
pub fn harmonic_mean_liquidity(
    seconds_per_liquidity_start: U256,
    seconds_per_liquidity_end: U256,
    window_secs: u32,
) -> Result<u128, PoolMathError> {
    if window_secs == 0 {
        return Err(PoolMathError::EmptyWindow);
    }
    let mask = (U256::from(1u8) << 160) - U256::from(1u8);
    let delta: U256 = seconds_per_liquidity_end.wrapping_sub(seconds_per_liquidity_start) & mask;
    if delta.is_zero() {
        return Err(PoolMathError::NoSecondsPerLiquidity);
    }
    // window < 2^32 and 2^160 − 1 < 2^160: the product is < 2^192, as `uint192` in Solidity.
    let numerator = U256::from(window_secs) * mask;
    let denominator = delta << 32;
    let mean = numerator / denominator;
    Ok(u128::try_from(mean).unwrap_or(u128::MAX))
}

/// The mean of the pools' ticks weighted by their liquidity, rounded toward negative infinity:
/// an exact port of `OracleLibrary.getWeightedArithmeticMeanTick` (`Σ tick·weight / Σ weight`).
///
/// ```
/// use oracle_sources::uniswap::price_math::weighted_arithmetic_mean_tick;
/// // A deep pool at tick 100 and a pool 1000× thinner at tick 50_000: the thin one barely moves it.
/// assert_eq!(weighted_arithmetic_mean_tick(&[(100, 1_000_000), (50_000, 1_000)])?, 149);
/// assert_eq!(weighted_arithmetic_mean_tick(&[(-3, 1), (-2, 1)])?, -3); // -2.5 rounds down
/// # Ok::<(), oracle_sources::uniswap::price_math::PoolMathError>(())
/// ```
pub fn weighted_arithmetic_mean_tick(ticks: &[(i32, u128)]) -> Result<i32, PoolMathError> {
    use alloy::primitives::I256;
    let mut numerator = I256::ZERO;
    let mut denominator = U256::ZERO;
    for &(tick, weight) in ticks {
        // |tick| < 2^20 and weight < 2^128: each product < 2^148, the sums far below 2^255.
        let weight = U256::from(weight);
        numerator += I256::try_from(tick).unwrap_or(I256::ZERO) * I256::from_raw(weight);
        denominator += weight;
    }
    if denominator.is_zero() {
        return Err(PoolMathError::NoWeight);
    }
    let denominator = I256::from_raw(denominator);
    let mut mean = numerator / denominator;
    // Solidity's division truncates toward zero; OracleLibrary then rounds negatives down.
    if numerator.is_negative() && !(numerator % denominator).is_zero() {
        mean -= I256::ONE;
    }
    let mean = i64::try_from(mean).map_err(|_| TickOutOfRange { tick: i64::MAX })?;
    let tick = i32::try_from(mean).map_err(|_| TickOutOfRange { tick: mean })?;
    if !(MIN_TICK..=MAX_TICK).contains(&tick) {
        return Err(TickOutOfRange { tick: mean }.into());
    }
    Ok(tick)
}

/// How many raw units of `quote_token` `base_amount` raw units of `base_token` buy at `tick`: an
/// exact port of `OracleLibrary.getQuoteAtTick` (including its two branches around
/// `sqrtRatioX96 ≤ 2^128`, which round differently).
pub fn quote_at_tick(
    tick: i32,
    base_amount: u128,
    base_token: Address,
    quote_token: Address,
) -> Result<U256, PoolMathError> {
    let sqrt = sqrt_ratio_at_tick(tick)?;
    let base = U512::from(base_amount);
    let mul_div = |a: U512, b: U512, d: U512| -> Result<U256, PoolMathError> {
        let q = (a * b) / d;
        if q > U512::from(U256::MAX) {
            return Err(PoolMathError::Overflow { decimals: 0 });
        }
        Ok(U256::from_limbs_slice(&q.as_limbs()[..4]))
    };
    let sqrt = U512::from(sqrt);
    if sqrt <= U512::from(u128::MAX) {
        let ratio_x192 = sqrt * sqrt;
        let one_x192 = U512::from(1u8) << 192;
        if base_token < quote_token {
            mul_div(ratio_x192, base, one_x192)
        } else {
            mul_div(one_x192, base, ratio_x192)
        }
    } else {
        // FullMath.mulDiv(sqrt, sqrt, 1 << 64): floored once here, as in Solidity.
        let ratio_x128 = (sqrt * sqrt) >> 64;
        let one_x128 = U512::from(1u8) << 128;
        if base_token < quote_token {
            mul_div(ratio_x128, base, one_x128)
        } else {
            mul_div(one_x128, base, ratio_x128)
        }
    }
}

/// The quote token's virtual reserve of `liquidity` at `tick`, in raw units: `L·√P` when the
/// quote is token1, `L/√P` when it is token0 (√P = `sqrtPriceX96 / 2^96`). This is the depth a
/// liquidity floor is stated in: "at least 50 WETH of in-range liquidity".
pub fn quote_reserve(liquidity: u128, tick: i32, quote_is_token0: bool) -> Result<U256, PoolMathError> {
    let sqrt = U512::from(sqrt_ratio_at_tick(tick)?);
    let l = U512::from(liquidity);
    let raw: U512 = if quote_is_token0 { (l << 96usize) / sqrt } else { (l * sqrt) >> 96usize };
    if raw > U512::from(U256::MAX) {
        return Err(PoolMathError::Overflow { decimals: 0 });
    }
    Ok(U256::from_limbs_slice(&raw.as_limbs()[..4]))
}

/// The price at `tick` (via [`sqrt_ratio_at_tick`]), with `decimals` decimals, rounded down once.
pub fn price_at_tick(tick: i32, pair: PairOrientation, decimals: u8) -> Result<Price, PoolMathError> {
    price_at_sqrt_ratio(sqrt_ratio_at_tick(tick)?, pair, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uniswap::tick_math::{MAX_SQRT_RATIO, MIN_SQRT_RATIO};

    const BASE0_18_18: PairOrientation =
        PairOrientation { decimals0: 18, decimals1: 18, base_is_token0: true };

    #[test]
    fn mean_tick_rounds_toward_negative_infinity() {
        assert_eq!(mean_tick(100, 100, 1800).unwrap(), 0);
        assert_eq!(mean_tick(0, 1799, 1800).unwrap(), 0);
        assert_eq!(mean_tick(0, -1, 1800).unwrap(), -1);
        assert_eq!(mean_tick(0, -1800, 1800).unwrap(), -1);
        assert_eq!(mean_tick(0, -1801, 1800).unwrap(), -2);
        assert_eq!(mean_tick(-10, 10, 20).unwrap(), 1);
        assert_eq!(mean_tick(0, 0, 0), Err(PoolMathError::EmptyWindow));
        let beyond = i64::from(MAX_TICK + 1) * 10;
        assert!(matches!(mean_tick(0, beyond, 10), Err(PoolMathError::Tick(_))));
        assert!(matches!(mean_tick(i64::MIN, i64::MAX, 1), Err(PoolMathError::Tick(_))));
    }

    #[test]
    fn weighted_mean_matches_oracle_library_rounding() {
        assert_eq!(weighted_arithmetic_mean_tick(&[(10, 3)]).unwrap(), 10);
        assert_eq!(weighted_arithmetic_mean_tick(&[(-10, 1), (11, 1)]).unwrap(), 0);
        assert_eq!(weighted_arithmetic_mean_tick(&[(-11, 1), (10, 1)]).unwrap(), -1);
        assert_eq!(
            weighted_arithmetic_mean_tick(&[(MIN_TICK, u128::MAX), (MAX_TICK, u128::MAX)]).unwrap(),
            0
        );
        assert_eq!(weighted_arithmetic_mean_tick(&[(MIN_TICK, u128::MAX)]).unwrap(), MIN_TICK);
        assert_eq!(weighted_arithmetic_mean_tick(&[]), Err(PoolMathError::NoWeight));
        assert_eq!(weighted_arithmetic_mean_tick(&[(5, 0)]), Err(PoolMathError::NoWeight));
        // Zero weight counts for nothing.
        assert_eq!(weighted_arithmetic_mean_tick(&[(5, 0), (-7, 2)]).unwrap(), -7);
    }

    #[test]
    fn harmonic_mean_wraps_and_refuses_no_movement() {
        let max160 = (U256::from(1u8) << 160) - U256::from(1u8);
        // The cumulative wrapped past 2^160 between the two reads.
        let h = harmonic_mean_liquidity(max160, U256::from(9u8), 10).unwrap();
        assert_eq!(h, harmonic_mean_liquidity(U256::ZERO, U256::from(10u8), 10).unwrap());
        assert_eq!(
            harmonic_mean_liquidity(U256::from(5u8), U256::from(5u8), 10),
            Err(PoolMathError::NoSecondsPerLiquidity)
        );
        assert_eq!(harmonic_mean_liquidity(U256::ZERO, U256::from(1u8), 0), Err(PoolMathError::EmptyWindow));
        // Δ = 1 over a long window: past 2^128, saturated rather than truncated.
        assert_eq!(harmonic_mean_liquidity(U256::ZERO, U256::from(1u8), u32::MAX).unwrap(), u128::MAX);
    }

    #[test]
    fn quotes_in_both_orders_and_both_branches() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        assert_eq!(quote_at_tick(0, 1_000, a, b).unwrap(), U256::from(1_000u64));
        assert_eq!(quote_at_tick(0, 1_000, b, a).unwrap(), U256::from(1_000u64));
        // Tick 6932 ≈ price 2 (1.0001^6932 = 2.00004).
        let up = quote_at_tick(6_932, 1_000_000, a, b).unwrap();
        let down = quote_at_tick(6_932, 1_000_000, b, a).unwrap();
        assert!(up > U256::from(1_999_000u64) && up < U256::from(2_001_000u64), "{up}");
        assert!(down > U256::from(499_000u64) && down < U256::from(501_000u64), "{down}");
        // Above 2^128 the second branch: extreme ticks do not overflow.
        assert!(quote_at_tick(MAX_TICK, u128::MAX, a, b).unwrap() > U256::from(u128::MAX));
        assert!(quote_at_tick(MAX_TICK, 1, b, a).unwrap().is_zero());
        assert!(quote_at_tick(MIN_TICK, 1, a, b).unwrap().is_zero());
    }

    #[test]
    fn quote_reserves_are_virtual_reserves() {
        // At tick 0 (price 1) both virtual reserves equal the liquidity.
        assert_eq!(quote_reserve(1_000_000, 0, false).unwrap(), U256::from(1_000_000u64));
        assert_eq!(quote_reserve(1_000_000, 0, true).unwrap(), U256::from(1_000_000u64));
        // At price ~4 (tick 13863), token1 holds 2L, token0 L/2.
        let t1 = quote_reserve(1_000_000, 13_863, false).unwrap();
        let t0 = quote_reserve(1_000_000, 13_863, true).unwrap();
        assert!(t1 > U256::from(1_999_000u64) && t1 < U256::from(2_001_000u64), "{t1}");
        assert!(t0 > U256::from(499_000u64) && t0 < U256::from(501_000u64), "{t0}");
        assert!(quote_reserve(u128::MAX, MAX_TICK, false).is_ok());
    }

    #[test]
    fn orientation_and_decimals() {
        let one = U256::from(1u8) << 96;
        assert_eq!(price_at_sqrt_ratio(one, BASE0_18_18, 8).unwrap().to_string(), "1.00000000");
        // sqrt price 2·2^96: token0 is worth 4 token1; token1 is worth 0.25 token0.
        let two = U256::from(2u8) << 96;
        assert_eq!(price_at_sqrt_ratio(two, BASE0_18_18, 8).unwrap().to_string(), "4.00000000");
        let base1 = PairOrientation { base_is_token0: false, ..BASE0_18_18 };
        assert_eq!(price_at_sqrt_ratio(two, base1, 8).unwrap().to_string(), "0.25000000");
        // USDC (6) as token0 at raw ratio 1e12·... : 1 USDC = 1/3000 ETH when raw ratio is 1e12/3000.
        // Use tick 0 with 6/18: one whole token0 = 1e-12 whole token1; token1 = 1e12 token0.
        let d6_18 = PairOrientation { decimals0: 6, decimals1: 18, base_is_token0: true };
        assert_eq!(price_at_sqrt_ratio(one, d6_18, 18).unwrap().mantissa(), U256::from(1_000_000u64));
        let d6_18_inv = PairOrientation { base_is_token0: false, ..d6_18 };
        assert_eq!(price_at_sqrt_ratio(one, d6_18_inv, 0).unwrap().mantissa(), U256::from(10u64.pow(12)));
    }

    #[test]
    fn floors_once() {
        // sqrt = 2^96 + 1: the exact price is 1 + 2^-95 + 2^-192, which floors to 1 at 18 decimals.
        let s = (U256::from(1u8) << 96) + U256::from(1u8);
        assert_eq!(price_at_sqrt_ratio(s, BASE0_18_18, 18).unwrap().to_string(), "1.000000000000000000");
        // Its reciprocal is just below 1: floors to 0.999…9.
        let base1 = PairOrientation { base_is_token0: false, ..BASE0_18_18 };
        assert_eq!(price_at_sqrt_ratio(s, base1, 18).unwrap().to_string(), "0.999999999999999999");
    }

    /// Found by `uniswap::props`: sqrtPriceX96 = 2^255 with the base as token1 and the quote
    /// with 2 more decimals than base and output: (2^255)² · 10^2 is 25 · 2^512, which wrapped
    /// to zero in 512 bits and divided by it.
    #[test]
    fn sqrt_price_2_pow_255_base_token1_quote_2_decimals_is_zero_not_a_division_by_zero() {
        let pair = PairOrientation { decimals0: 2, decimals1: 0, base_is_token0: false };
        let price = price_at_sqrt_ratio(U256::from(1u8) << 255, pair, 0).unwrap();
        assert!(price.is_zero());
    }

    #[test]
    fn extreme_ticks_do_not_overflow_the_intermediates() {
        // At MAX_SQRT_RATIO, token0 is worth ~2^128 token1 (3.4e38): fits at 18 decimals? 3.4e56 < 1.1e77.
        let max = price_at_sqrt_ratio(MAX_SQRT_RATIO, BASE0_18_18, 18).unwrap();
        assert!(max.mantissa() > U256::from(10u8).pow(U256::from(56u8)));
        // Inverted it is ~2.9e-39: zero at 36 decimals, not a panic.
        let base1 = PairOrientation { base_is_token0: false, ..BASE0_18_18 };
        assert!(price_at_sqrt_ratio(MAX_SQRT_RATIO, base1, 36).unwrap().is_zero());
        assert!(price_at_sqrt_ratio(MIN_SQRT_RATIO, BASE0_18_18, 36).unwrap().is_zero());
        // The most extreme scaling: 36-decimal base, 0-decimal quote, 36-decimal output at MAX:
        // 2^128 · 10^72 overflows 256 bits and says so.
        let wide = PairOrientation { decimals0: 36, decimals1: 0, base_is_token0: true };
        assert_eq!(
            price_at_sqrt_ratio(MAX_SQRT_RATIO, wide, 36),
            Err(PoolMathError::Overflow { decimals: 36 })
        );
        let wide_inv = PairOrientation { decimals0: 0, decimals1: 36, base_is_token0: false };
        assert_eq!(
            price_at_sqrt_ratio(MIN_SQRT_RATIO, wide_inv, 36),
            Err(PoolMathError::Overflow { decimals: 36 })
        );
        assert!(price_at_tick(MIN_TICK, BASE0_18_18, 18).is_ok());
        assert!(price_at_tick(MAX_TICK, base1, 18).is_ok());
        assert_eq!(price_at_sqrt_ratio(U256::ZERO, BASE0_18_18, 8), Err(PoolMathError::ZeroSqrtPrice));
        let too_many = PairOrientation { decimals0: 37, ..BASE0_18_18 };
        assert_eq!(
            price_at_sqrt_ratio(MAX_SQRT_RATIO, too_many, 8),
            Err(PoolMathError::TooManyDecimals { decimals: 37 })
        );
    }
}
