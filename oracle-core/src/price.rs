//! Fixed-point prices: an integer mantissa and a number of decimals.
//!
//! A [`Price`] is exactly `mantissa / 10^decimals`. Every operation is integer arithmetic; nothing
//! in a price path touches `f64`.
//!
//! **Rounding rule.** Prices are never negative, and every operation that cannot be exact rounds
//! **down** (toward zero): reducing decimals, multiplying, dividing and measuring a move in basis
//! points. Operations that can be exact (parsing, adding decimals) either are exact or fail.

use std::{cmp::Ordering, fmt, str::FromStr};

use alloy_primitives::{U256, U512};

/// The largest number of decimals a [`Price`] may carry.
///
/// `10^36` squared still fits in the 512-bit intermediate that multiplication uses.
pub const MAX_DECIMALS: u8 = 36;

/// Basis points in one whole (100%).
pub const BPS_PER_WHOLE: u64 = 10_000;

/// What went wrong with a price operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// More decimals than [`MAX_DECIMALS`] were asked for.
    #[error("{decimals} decimals requested, at most {MAX_DECIMALS} are supported")]
    TooManyDecimals {
        /// The number asked for.
        decimals: u8,
    },
    /// The result does not fit in 256 bits.
    #[error("price arithmetic overflowed 256 bits")]
    Overflow,
    /// Division by a zero price.
    #[error("division by a zero price")]
    DivisionByZero,
    /// A decimal string could not be parsed exactly.
    #[error("cannot parse {input:?} as a price with {decimals} decimals: {reason}")]
    Parse {
        /// The text that was given.
        input: String,
        /// The decimals it was parsed into.
        decimals: u8,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A non-negative fixed-point price: `mantissa / 10^decimals`.
///
/// Equality and hashing are structural (`1.0` with 1 decimal is not `==` to `1.00` with 2);
/// compare values across scales with [`Price::cmp_value`].
///
/// ```
/// use oracle_core::Price;
///
/// let eth = Price::parse("3245.67", 8)?;
/// assert_eq!(eth.mantissa().to::<u128>(), 324_567_000_000);
/// assert_eq!(eth.to_string(), "3245.67000000");
///
/// // Rescaling down rounds toward zero; rescaling up is exact.
/// assert_eq!(Price::parse("0.123456789", 9)?.rescale(8)?.to_string(), "0.12345678");
/// # Ok::<(), oracle_core::PriceError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    mantissa: U256,
    decimals: u8,
}

fn pow10(exp: u8) -> U256 {
    U256::from(10u8).pow(U256::from(exp))
}

fn pow10_wide(exp: u32) -> U512 {
    U512::from(10u8).pow(U512::from(exp))
}

fn narrow(value: U512) -> Result<U256, PriceError> {
    if value > U512::from(U256::MAX) {
        return Err(PriceError::Overflow);
    }
    Ok(U256::from_limbs_slice(&value.as_limbs()[..4]))
}

fn check_decimals(decimals: u8) -> Result<(), PriceError> {
    if decimals > MAX_DECIMALS {
        return Err(PriceError::TooManyDecimals { decimals });
    }
    Ok(())
}

impl Price {
    /// A price from its raw mantissa and decimals.
    pub fn new(mantissa: U256, decimals: u8) -> Result<Self, PriceError> {
        check_decimals(decimals)?;
        Ok(Self { mantissa, decimals })
    }

    /// A price from a `u128` mantissa, for literals and tests.
    pub fn from_u128(mantissa: u128, decimals: u8) -> Result<Self, PriceError> {
        Self::new(U256::from(mantissa), decimals)
    }

    /// A whole number of units with no decimals (`Price::whole(50)` is 50); cannot fail.
    pub const fn whole(units: u64) -> Self {
        Self { mantissa: U256::from_limbs([units, 0, 0, 0]), decimals: 0 }
    }

    /// Zero with the given decimals.
    pub fn zero(decimals: u8) -> Result<Self, PriceError> {
        Self::new(U256::ZERO, decimals)
    }

    /// The raw integer: the price times `10^decimals`.
    pub const fn mantissa(&self) -> U256 {
        self.mantissa
    }

    /// The number of decimals of the mantissa.
    pub const fn decimals(&self) -> u8 {
        self.decimals
    }

    /// Whether the price is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa.is_zero()
    }

    /// Parses a human decimal string (`"3245.67"`, `"0.1"`, `"42"`) exactly.
    ///
    /// Fails, rather than rounding, when the text has more significant fractional digits than
    /// `decimals`; trailing zeros beyond them are accepted.
    pub fn parse(input: &str, decimals: u8) -> Result<Self, PriceError> {
        check_decimals(decimals)?;
        let err = |reason| PriceError::Parse { input: input.to_owned(), decimals, reason };
        let text = input.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(err("no digits"));
        }
        if text.starts_with('-') {
            return Err(err("prices cannot be negative"));
        }
        if !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(err("only digits and one '.' are allowed"));
        }
        let kept = frac.len().min(usize::from(decimals));
        if frac[kept..].bytes().any(|b| b != b'0') {
            return Err(err("more fractional digits than the price's decimals"));
        }
        let mut digits = String::with_capacity(whole.len() + usize::from(decimals));
        digits.push_str(whole);
        digits.push_str(&frac[..kept]);
        digits.extend(std::iter::repeat_n('0', usize::from(decimals) - kept));
        let digits = digits.trim_start_matches('0');
        let mantissa = if digits.is_empty() {
            U256::ZERO
        } else {
            U256::from_str_radix(digits, 10).map_err(|_| err("too large for 256 bits"))?
        };
        Ok(Self { mantissa, decimals })
    }

    /// The same value with `decimals` decimals: exact when adding decimals (or failing on
    /// overflow), rounded down when removing them.
    pub fn rescale(&self, decimals: u8) -> Result<Self, PriceError> {
        check_decimals(decimals)?;
        let mantissa = match decimals.cmp(&self.decimals) {
            Ordering::Equal => self.mantissa,
            Ordering::Greater => {
                self.mantissa.checked_mul(pow10(decimals - self.decimals)).ok_or(PriceError::Overflow)?
            }
            Ordering::Less => self.mantissa / pow10(self.decimals - decimals),
        };
        Ok(Self { mantissa, decimals })
    }

    /// `self × other`, with `decimals` decimals, rounded down.
    ///
    /// ```
    /// use oracle_core::Price;
    /// // WETH per token × USD per ETH = USD per token.
    /// let weth_per_token = Price::parse("0.00003", 18)?;
    /// let usd_per_eth = Price::parse("3000", 8)?;
    /// assert_eq!(weth_per_token.checked_mul(&usd_per_eth, 8)?.to_string(), "0.09000000");
    /// # Ok::<(), oracle_core::PriceError>(())
    /// ```
    pub fn checked_mul(&self, other: &Price, decimals: u8) -> Result<Self, PriceError> {
        check_decimals(decimals)?;
        let product = U512::from(self.mantissa) * U512::from(other.mantissa);
        let scale = u32::from(self.decimals) + u32::from(other.decimals);
        let out = u32::from(decimals);
        let mantissa = if out >= scale {
            product.checked_mul(pow10_wide(out - scale)).ok_or(PriceError::Overflow)?
        } else {
            product / pow10_wide(scale - out)
        };
        Ok(Self { mantissa: narrow(mantissa)?, decimals })
    }

    /// `self ÷ other`, with `decimals` decimals, rounded down.
    ///
    /// ```
    /// use oracle_core::Price;
    /// let eth = Price::parse("3000", 8)?;
    /// let token = Price::parse("0.09", 8)?;
    /// // Tokens per ETH, as the contract's getElizaOSPerETH computes it.
    /// assert_eq!(eth.checked_div(&token, 18)?.to_string(), "33333.333333333333333333");
    /// # Ok::<(), oracle_core::PriceError>(())
    /// ```
    pub fn checked_div(&self, other: &Price, decimals: u8) -> Result<Self, PriceError> {
        check_decimals(decimals)?;
        if other.is_zero() {
            return Err(PriceError::DivisionByZero);
        }
        // value = (a / 10^da) / (b / 10^db); mantissa = a * 10^(out + db - da) / b.
        let up = u32::from(decimals) + u32::from(other.decimals);
        let down = u32::from(self.decimals);
        let numerator = U512::from(self.mantissa);
        let denominator = U512::from(other.mantissa);
        let mantissa = if up >= down {
            numerator.checked_mul(pow10_wide(up - down)).ok_or(PriceError::Overflow)? / denominator
        } else {
            numerator / (denominator * pow10_wide(down - up))
        };
        Ok(Self { mantissa: narrow(mantissa)?, decimals })
    }

    /// Compares the values of two prices exactly, whatever their decimals.
    pub fn cmp_value(&self, other: &Price) -> Ordering {
        let (a, b) = self.common_scale(other);
        a.cmp(&b)
    }

    /// Both mantissas at the larger of the two scales, widened so this cannot overflow.
    fn common_scale(&self, other: &Price) -> (U512, U512) {
        let d = self.decimals.max(other.decimals);
        let a = U512::from(self.mantissa) * pow10_wide(u32::from(d - self.decimals));
        let b = U512::from(other.mantissa) * pow10_wide(u32::from(d - other.decimals));
        (a, b)
    }

    /// The relative move from `self` (old) to `new`, in basis points, rounded down.
    ///
    /// `None` when `self` is zero (any move from zero is unbounded). Saturates at `u64::MAX`.
    ///
    /// ```
    /// use oracle_core::Price;
    /// let old = Price::parse("3000", 8)?;
    /// assert_eq!(old.change_bps(&Price::parse("3060", 8)?), Some(200)); // +2%
    /// assert_eq!(old.change_bps(&Price::parse("2999.99", 8)?), Some(0)); // rounds down
    /// # Ok::<(), oracle_core::PriceError>(())
    /// ```
    pub fn change_bps(&self, new: &Price) -> Option<u64> {
        let (diff, old) = self.abs_diff_scaled(new)?;
        let bps = diff * U512::from(BPS_PER_WHOLE) / old;
        Some(if bps > U512::from(u64::MAX) { u64::MAX } else { bps.to::<u64>() })
    }

    /// Whether the move from `self` (old) to `new` is at least `bps` basis points, decided exactly
    /// (no rounding): `|new - old| × 10000 >= bps × old`. A move from zero to non-zero counts as
    /// unbounded.
    pub fn moved_at_least(&self, new: &Price, bps: u64) -> bool {
        match self.abs_diff_scaled(new) {
            None => !new.is_zero() || bps == 0,
            Some((diff, old)) => diff * U512::from(BPS_PER_WHOLE) >= U512::from(bps) * old,
        }
    }

    /// `(|new - old|, old)` at a common scale; `None` when old is zero.
    fn abs_diff_scaled(&self, new: &Price) -> Option<(U512, U512)> {
        if self.is_zero() {
            return None;
        }
        let (old, new) = self.common_scale(new);
        let diff = if new >= old { new - old } else { old - new };
        Some((diff, old))
    }
}

impl fmt::Display for Price {
    /// The exact decimal value with all of its decimals: `3245.67000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let d = usize::from(self.decimals);
        if d == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > d {
            let (whole, frac) = digits.split_at(digits.len() - d);
            write!(f, "{whole}.{frac}")
        } else {
            write!(f, "0.{}{digits}", "0".repeat(d - digits.len()))
        }
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self} @{})", self.decimals)
    }
}

/// Parses `"<decimal>@<decimals>"`, e.g. `"3245.67@8"`; the inverse of `Debug` minus the wrapper.
impl FromStr for Price {
    type Err = PriceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PriceError::Parse { input: s.to_owned(), decimals: 0, reason };
        let (value, decimals) = s.split_once('@').ok_or(err("expected <value>@<decimals>"))?;
        let decimals = decimals.trim().parse::<u8>().map_err(|_| err("bad decimals after '@'"))?;
        Price::parse(value, decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, d: u8) -> Price {
        Price::parse(s, d).unwrap()
    }

    #[test]
    fn parse_is_exact() {
        assert_eq!(p("3245.67", 8).mantissa(), U256::from(324_567_000_000u64));
        assert_eq!(p("0.1", 8).mantissa(), U256::from(10_000_000u64));
        assert_eq!(p("42", 0).mantissa(), U256::from(42u8));
        assert_eq!(p(".5", 1).mantissa(), U256::from(5u8));
        assert_eq!(p("7.", 2).mantissa(), U256::from(700u16));
        assert_eq!(p("1.230000", 2).mantissa(), U256::from(123u8), "trailing zeros are exact");
        assert_eq!(p("000", 8), Price::zero(8).unwrap());
    }

    #[test]
    fn parse_rejects_what_it_cannot_represent() {
        for (input, reason) in [
            ("1.234", "more fractional digits"),
            ("-1", "negative"),
            ("1e5", "only digits"),
            ("1.2.3", "only digits"),
            ("", "no digits"),
            (".", "no digits"),
            ("0x10", "only digits"),
        ] {
            match Price::parse(input, 2) {
                Err(PriceError::Parse { reason: r, .. }) => assert!(r.contains(reason), "{input}: {r}"),
                other => panic!("{input}: expected a parse error, got {other:?}"),
            }
        }
        let huge = "1".repeat(80);
        assert!(matches!(Price::parse(&huge, 0), Err(PriceError::Parse { .. })));
        assert_eq!(Price::parse("1", 37), Err(PriceError::TooManyDecimals { decimals: 37 }));
    }

    #[test]
    fn display_round_trips() {
        for (s, d) in [("3245.67000000", 8), ("0.00000001", 8), ("0.10000000", 8), ("12", 0)] {
            assert_eq!(p(s, d).to_string(), s);
        }
        assert_eq!("3245.67@8".parse::<Price>().unwrap(), p("3245.67", 8));
        assert!("3245.67".parse::<Price>().is_err());
    }

    #[test]
    fn rescale_rounds_down_and_up_is_exact() {
        assert_eq!(p("1.999999999", 9).rescale(8).unwrap(), p("1.99999999", 8));
        assert_eq!(p("1.5", 1).rescale(0).unwrap(), p("1", 0));
        assert_eq!(p("1.5", 1).rescale(18).unwrap().mantissa(), U256::from(15u128 * 10u128.pow(17)));
        let max = Price::new(U256::MAX, 0).unwrap();
        assert_eq!(max.rescale(1), Err(PriceError::Overflow));
    }

    #[test]
    fn mul_and_div_round_down() {
        // 1/3 at 8 decimals, times 3, is 0.99999999: rounding happens once, downward.
        let third = p("1", 8).checked_div(&p("3", 8), 8).unwrap();
        assert_eq!(third, p("0.33333333", 8));
        assert_eq!(third.checked_mul(&p("3", 0), 8).unwrap(), p("0.99999999", 8));
        // Mixed decimals (6 and 18) into 8.
        let usdc_per_token = p("0.123456", 6);
        let eth_per_usdc = p("0.000333333333333333", 18);
        assert_eq!(usdc_per_token.checked_mul(&eth_per_usdc, 8).unwrap(), p("0.00004115", 8));
        assert_eq!(p("1", 8).checked_div(&Price::zero(8).unwrap(), 8), Err(PriceError::DivisionByZero));
        // Dividing a large-scale numerator by a small-scale denominator into few decimals.
        assert_eq!(p("10", 36).checked_div(&p("4", 0), 0).unwrap(), p("2", 0));
        let max = Price::new(U256::MAX, 0).unwrap();
        assert_eq!(max.checked_mul(&p("2", 0), 0), Err(PriceError::Overflow));
    }

    #[test]
    fn moves_are_measured_exactly() {
        let old = p("3000", 8);
        assert_eq!(old.change_bps(&p("3030", 8)), Some(100));
        assert_eq!(old.change_bps(&p("2970", 8)), Some(100));
        assert!(old.moved_at_least(&p("3030", 8), 100));
        assert!(!old.moved_at_least(&p("3029.99999999", 8), 100));
        assert!(old.moved_at_least(&p("2970", 8), 100));
        // Across scales.
        assert!(old.moved_at_least(&p("3030", 18), 100));
        assert_eq!(Price::zero(8).unwrap().change_bps(&old), None);
        assert!(Price::zero(8).unwrap().moved_at_least(&old, 100));
        assert!(!Price::zero(8).unwrap().moved_at_least(&Price::zero(8).unwrap(), 100));
        assert_eq!(p("1", 0).change_bps(&Price::new(U256::MAX, 0).unwrap()), Some(u64::MAX));
    }

    #[test]
    fn compare_across_scales() {
        assert_eq!(p("1.5", 1).cmp_value(&p("1.50", 2)), Ordering::Equal);
        assert_eq!(p("1.5", 1).cmp_value(&p("1.51", 2)), Ordering::Less);
        assert_ne!(p("1.5", 1), p("1.50", 2), "equality is structural");
    }
}

#[cfg(test)]
#[path = "price_props.rs"]
mod props;
