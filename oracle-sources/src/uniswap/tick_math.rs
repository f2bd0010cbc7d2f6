//! Uniswap V3's `TickMath.getSqrtRatioAtTick`, ported to Rust bit for bit.
//!
//! A pool's price at tick `t` is `1.0001^t`; pools store its square root as a Q64.96 number. The
//! Solidity library does not compute `sqrt(1.0001^t)` exactly: it multiplies precomputed Q128
//! factors for each set bit of `|t|`, shifting after every product, inverts for positive ticks and
//! rounds up to Q64.96. A TWAP must use the very same integer (the mean tick's price is what
//! Uniswap's own `OracleLibrary` would quote), so this is a literal port of that table, not a
//! floating-point or "more exact" approximation.

use alloy::primitives::{U256, uint};

/// The lowest tick a pool can reach: `log_1.0001(2^-128)` rounded toward zero.
pub const MIN_TICK: i32 = -887_272;
/// The highest tick a pool can reach.
pub const MAX_TICK: i32 = -MIN_TICK;
/// `sqrt_ratio_at_tick(MIN_TICK)`, as `TickMath.MIN_SQRT_RATIO`.
pub const MIN_SQRT_RATIO: U256 = uint!(4295128739_U256);
/// `sqrt_ratio_at_tick(MAX_TICK)`, as `TickMath.MAX_SQRT_RATIO`.
pub const MAX_SQRT_RATIO: U256 = uint!(1461446703485210103287273052203988822378723970342_U256);

/// `1 / sqrt(1.0001^(2^i))` in Q128 for bit `i` of `|tick|`, i = 1..=19, copied from TickMath.sol.
/// Bit 0 is the starting value instead (see [`sqrt_ratio_at_tick`]).
const FACTORS: [(u32, u128); 19] = [
    (0x2, 0xfff97272373d413259a46990580e213a),
    (0x4, 0xfff2e50f5f656932ef12357cf3c7fdcc),
    (0x8, 0xffe5caca7e10e4e61c3624eaa0941cd0),
    (0x10, 0xffcb9843d60f6159c9db58835c926644),
    (0x20, 0xff973b41fa98c081472e6896dfb254c0),
    (0x40, 0xff2ea16466c96a3843ec78b326b52861),
    (0x80, 0xfe5dee046a99a2a811c461f1969c3053),
    (0x100, 0xfcbe86c7900a88aedcffc83b479aa3a4),
    (0x200, 0xf987a7253ac413176f2b074cf7815e54),
    (0x400, 0xf3392b0822b70005940c7a398e4b70f3),
    (0x800, 0xe7159475a2c29b7443b29c7fa6e889d9),
    (0x1000, 0xd097f3bdfd2022b8845ad8f792aa5825),
    (0x2000, 0xa9f746462d870fdf8a65dc1f90e061e5),
    (0x4000, 0x70d869a156d2a1b890bb3df62baf32f7),
    (0x8000, 0x31be135f97d08fd981231505542fcfa6),
    (0x10000, 0x9aa508b5b7a84e1c677de54f3e99bc9),
    (0x20000, 0x5d6af8dedb81196699c329225ee604),
    (0x40000, 0x2216e584f5fa1ea926041bedfe98),
    (0x80000, 0x48a170391f7dc42444e8fa2),
];

/// `1 / sqrt(1.0001)` in Q128: the starting value when bit 0 of `|tick|` is set.
const BIT0_FACTOR: u128 = 0xfffcb933bd6fad37aa2d162d1a594001;

/// A tick outside `MIN_TICK..=MAX_TICK` (`TickMath` reverts with `"T"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tick {tick} is outside Uniswap V3's range {MIN_TICK}..={MAX_TICK}")]
pub struct TickOutOfRange {
    /// The tick that was asked for.
    pub tick: i64,
}

/// `sqrt(1.0001^tick) · 2^96`, exactly as `TickMath.getSqrtRatioAtTick` computes it (a `uint160`
/// in a [`U256`]).
///
/// ```
/// use oracle_sources::uniswap::tick_math::{MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK, sqrt_ratio_at_tick};
/// use alloy::primitives::U256;
///
/// assert_eq!(sqrt_ratio_at_tick(0)?, U256::from(1u8) << 96);
/// assert_eq!(sqrt_ratio_at_tick(MIN_TICK)?, MIN_SQRT_RATIO);
/// assert_eq!(sqrt_ratio_at_tick(MAX_TICK)?, MAX_SQRT_RATIO);
/// assert!(sqrt_ratio_at_tick(MAX_TICK + 1).is_err());
/// # Ok::<(), oracle_sources::uniswap::tick_math::TickOutOfRange>(())
/// ```
pub fn sqrt_ratio_at_tick(tick: i32) -> Result<U256, TickOutOfRange> {
    let abs_tick = tick.unsigned_abs();
    if abs_tick > MAX_TICK.unsigned_abs() {
        return Err(TickOutOfRange { tick: i64::from(tick) });
    }
    let mut ratio = if abs_tick & 0x1 != 0 { U256::from(BIT0_FACTOR) } else { U256::from(1u8) << 128 };
    for (bit, factor) in FACTORS {
        if abs_tick & bit != 0 {
            // ratio ≤ 2^128 and factor < 2^128: the product fits in 256 bits, as in Solidity.
            ratio = ratio.wrapping_mul(U256::from(factor)) >> 128;
        }
    }
    if tick > 0 {
        // ratio is never zero: even at MAX_TICK it is about 2^64 (MIN_SQRT_RATIO in Q128.128).
        ratio = U256::MAX / ratio;
    }
    // Q128.128 -> Q64.96, rounding up so that the tick of the result is always `tick` again.
    let round_up = if (ratio & U256::from(u32::MAX)).is_zero() { U256::ZERO } else { U256::from(1u8) };
    Ok((ratio >> 32) + round_up)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_from_uniswaps_tests() {
        assert_eq!(sqrt_ratio_at_tick(MIN_TICK).unwrap(), MIN_SQRT_RATIO);
        assert_eq!(sqrt_ratio_at_tick(MIN_TICK + 1).unwrap(), uint!(4295343490_U256));
        assert_eq!(
            sqrt_ratio_at_tick(MAX_TICK - 1).unwrap(),
            uint!(1461373636630004318706518188784493106690254656249_U256)
        );
        assert_eq!(sqrt_ratio_at_tick(MAX_TICK).unwrap(), MAX_SQRT_RATIO);
        assert_eq!(sqrt_ratio_at_tick(0).unwrap(), U256::from(1u8) << 96);
        assert_eq!(sqrt_ratio_at_tick(MIN_TICK - 1), Err(TickOutOfRange { tick: i64::from(MIN_TICK) - 1 }));
        assert!(sqrt_ratio_at_tick(i32::MIN).is_err());
        assert!(sqrt_ratio_at_tick(i32::MAX).is_err());
    }

    #[test]
    fn strictly_increasing_and_reciprocal() {
        // Every step up in tick is a step up in price, and ticks ±t are reciprocal within rounding.
        let mut previous = U256::ZERO;
        for tick in (MIN_TICK..=MAX_TICK).step_by(4999).chain([MAX_TICK]) {
            let ratio = sqrt_ratio_at_tick(tick).unwrap();
            assert!(ratio > previous, "tick {tick}");
            previous = ratio;
        }
        for tick in [1, 60, 887, 10_000, 200_000] {
            let up = sqrt_ratio_at_tick(tick).unwrap();
            let down = sqrt_ratio_at_tick(-tick).unwrap();
            // up · down ≈ 2^192.
            let product = alloy::primitives::U512::from(up) * alloy::primitives::U512::from(down);
            let one = alloy::primitives::U512::from(1u8) << 192;
            let diff = if product > one { product - one } else { one - product };
            assert!(diff < (one >> 60), "tick {tick}");
        }
    }
}
