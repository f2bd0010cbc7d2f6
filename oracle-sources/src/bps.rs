//! Exact "more than N basis points apart" comparisons between prices of any decimals.
//!
//! `Price::moved_at_least` answers "at least"; guards here refuse only when a gap is strictly
//! *more* than the configured maximum, so that a limit of 500 bps accepts a gap of exactly 5%.

use std::cmp::Ordering;

use alloy::primitives::U512;
use oracle_core::{BPS_PER_WHOLE, Price};

/// Both mantissas at the larger scale, widened so nothing overflows (36 decimals at most).
fn common_scale(a: &Price, b: &Price) -> (U512, U512) {
    let d = a.decimals().max(b.decimals());
    let scale = |p: &Price| U512::from(p.mantissa()) * U512::from(10u8).pow(U512::from(d - p.decimals()));
    (scale(a), scale(b))
}

/// Whether `|value - reference| / reference > max_bps / 10000`, decided without rounding.
///
/// A zero reference is exceeded by any non-zero value.
pub(crate) fn exceeds_bps(reference: &Price, value: &Price, max_bps: u64) -> bool {
    let (r, v) = common_scale(reference, value);
    let diff = if v >= r { v - r } else { r - v };
    diff * U512::from(BPS_PER_WHOLE) > U512::from(max_bps) * r
}

/// `|value - reference| / reference` in basis points, rounded down, for messages.
pub(crate) fn gap_bps(reference: &Price, value: &Price) -> String {
    match reference.change_bps(value) {
        Some(bps) => bps.to_string(),
        None => "unbounded".to_owned(),
    }
}

/// Orders prices by value across decimals (for sorting).
pub(crate) fn by_value(a: &Price, b: &Price) -> Ordering {
    a.cmp_value(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, d: u8) -> Price {
        Price::parse(s, d).unwrap()
    }

    #[test]
    fn strictly_more_than() {
        let twap = p("100", 8);
        assert!(!exceeds_bps(&twap, &p("105", 8), 500), "exactly 5% is allowed");
        assert!(exceeds_bps(&twap, &p("105.00000001", 8), 500));
        assert!(!exceeds_bps(&twap, &p("95", 18), 500), "across decimals");
        assert!(exceeds_bps(&twap, &p("94.999999999999999999", 18), 500));
        assert!(exceeds_bps(&p("0", 8), &p("1", 8), 500));
        assert!(!exceeds_bps(&p("0", 8), &p("0", 8), 0));
        assert_eq!(gap_bps(&twap, &p("110", 8)), "1000");
        assert_eq!(gap_bps(&p("0", 8), &p("1", 8)), "unbounded");
        assert_eq!(by_value(&p("1.5", 1), &p("1.50", 2)), Ordering::Equal);
    }
}
