//! From a pool's sqrt price or tick cumulatives to a [`Price`], in exact integer arithmetic.
//!
//! A pool's `sqrtPriceX96² / 2^192` is the price of one raw unit of token0 in raw units of token1.
//! The price of one whole base token in whole quote tokens is that times `10^(decimals0 -
//! decimals1)` when the base is token0, and the reciprocal (with `10^(decimals1 - decimals0)`)
//! when the base is token1. The old bot inverted in the wrong case; here both orders are one
//! formula each, computed as a single fraction and floored once.

use alloy::primitives::{U256, U512};
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
    // The denominator is at most 2^322 · 10^36 < 2^442.
    let denominator = denominator * pow10(down);
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
