//! Property tests of [`Price`]: any text parses to a price or a typed error, never a panic;
//! display and parse round-trip exactly; conversions are floors and monotonic; arithmetic at the
//! `U256` edges overflows into an error, never a panic.
//!
//! Cases per property: `PROPTEST_CASES` (default below); see docs/benchmarks.md.

use alloy_primitives::Uint;
use proptest::prelude::*;

use super::*;
use crate::proptest_config as config;

type U1024 = Uint<1024, 16>;

fn wide(v: U256) -> U1024 {
    U1024::from(v)
}

fn pow10_1024(exp: u32) -> U1024 {
    U1024::from(10u8).pow(U1024::from(exp))
}

/// Mantissas that favour the edges: zero, one, `U256::MAX` and its neighbours, powers of ten
/// and their neighbours, and anything else.
fn mantissa() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::from(1u8)),
        Just(U256::MAX),
        Just(U256::MAX - U256::from(1u8)),
        (0u8..=77, -1i8..=1).prop_map(|(e, d)| {
            let p = U256::from(10u8).pow(U256::from(e));
            match d {
                -1 => p - U256::from(1u8),
                0 => p,
                _ => p + U256::from(1u8),
            }
        }),
        any::<u64>().prop_map(U256::from),
        any::<u128>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256::from_limbs),
    ]
}

fn decimals() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..=MAX_DECIMALS, Just(MAX_DECIMALS), any::<u8>()]
}

fn price() -> impl Strategy<Value = Price> {
    (mantissa(), 0u8..=MAX_DECIMALS).prop_map(|(m, d)| Price { mantissa: m, decimals: d })
}

/// Text shaped like a number, with everything a hostile source could put in: signs, exponents,
/// several dots, whitespace, non-ASCII digits (Arabic-Indic, fullwidth, Devanagari, superscript),
/// and up to thousands of digits.
fn numberish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => "[0-9]{1,12}",
        1 => "0{0,3000}[1-9]?",
        1 => "[0-9]{70,90}",
        2 => Just(".".to_owned()),
        1 => "[+-]",
        1 => "[eE][+-]?[0-9]{0,4}",
        1 => "[ \t\n]",
        1 => "[٠-٩０-９०-९²³¹]{1,3}",
        1 => "_|,|x|0x|∞|NaN|inf",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_parses_or_is_a_typed_error(text in prop_oneof![numberish(), "\\PC{0,64}", ".*"], d in decimals()) {
        match Price::parse(&text, d) {
            Ok(p) => {
                prop_assert_eq!(p.decimals(), d);
                // Whatever was accepted prints back to the same value.
                prop_assert_eq!(Price::parse(&p.to_string(), d), Ok(p));
                prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{text:?}");
            }
            Err(PriceError::TooManyDecimals { decimals }) => prop_assert!(decimals > MAX_DECIMALS && decimals == d),
            Err(PriceError::Parse { input, decimals, reason }) => {
                prop_assert_eq!(&input, &text);
                prop_assert_eq!(decimals, d);
                prop_assert!(!reason.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?} for {text:?}"),
        }
        // `<value>@<decimals>` never panics either.
        let _ = format!("{text}@{d}").parse::<Price>();
        let _ = text.parse::<Price>();
    }

    #[test]
    fn non_ascii_digits_are_refused(digit in "[٠-٩０-９०-९²³¹]", d in 0u8..=MAX_DECIMALS) {
        let err = Price::parse(&format!("1{digit}"), d);
        prop_assert!(matches!(err, Err(PriceError::Parse { .. })), "{err:?}");
    }

    #[test]
    fn display_and_parse_round_trip(p in price()) {
        prop_assert_eq!(Price::parse(&p.to_string(), p.decimals()), Ok(p));
        prop_assert_eq!(format!("{p}@{}", p.decimals()).parse::<Price>(), Ok(p));
    }

    #[test]
    fn parse_is_exact(whole in "[0-9]{0,40}", frac in "[0-9]{0,36}", extra_zeros in 0usize..40, d in 0u8..=MAX_DECIMALS) {
        let text = format!("{whole}.{frac}{}", "0".repeat(extra_zeros));
        let result = Price::parse(&text, d);
        let frac_kept = frac.trim_end_matches('0');
        if (whole.is_empty() && frac.is_empty() && extra_zeros == 0) || frac_kept.len() > usize::from(d) {
            prop_assert!(matches!(result, Err(PriceError::Parse { .. })), "{text:?} {result:?}");
        } else {
            let digits = |s: &str| if s.is_empty() { U1024::ZERO } else { s.parse::<U1024>().unwrap_or_default() };
            let fd = u32::try_from(frac_kept.len()).unwrap_or(0);
            let exact = digits(&whole) * pow10_1024(u32::from(d)) + digits(frac_kept) * pow10_1024(u32::from(d) - fd);
            match result {
                Ok(p) => prop_assert_eq!(wide(p.mantissa()), exact),
                Err(e) => prop_assert!(exact > wide(U256::MAX), "{text:?}: {e}"),
            }
        }
    }

    #[test]
    fn huge_digit_counts_are_refused_not_panicked(zeros in 0usize..5000, digits in "[1-9][0-9]{0,100}", d in 0u8..=MAX_DECIMALS) {
        let text = format!("{}{digits}", "0".repeat(zeros));
        match Price::parse(&text, d) {
            Ok(p) => prop_assert_eq!(p.rescale(0).map(|p| p.mantissa().to_string()), Ok(digits.clone())),
            Err(e) => prop_assert!(digits.len() + usize::from(d) > 77, "{e}"),
        }
    }

    #[test]
    fn rescaling_up_is_exact_and_down_is_a_floor(p in price(), to in decimals()) {
        match p.rescale(to) {
            Err(PriceError::TooManyDecimals { .. }) => prop_assert!(to > MAX_DECIMALS),
            Err(PriceError::Overflow) => prop_assert!(to > p.decimals()),
            Err(e) => prop_assert!(false, "{e}"),
            Ok(q) if to >= p.decimals() => {
                prop_assert_eq!(q.cmp_value(&p), Ordering::Equal);
                prop_assert_eq!(q.rescale(p.decimals()), Ok(p), "back down is the original");
            }
            Ok(q) => {
                let k = u32::from(p.decimals() - to);
                prop_assert_eq!(wide(q.mantissa()), wide(p.mantissa()) / pow10_1024(k));
                prop_assert!(q.cmp_value(&p).is_le());
            }
        }
    }

    #[test]
    fn conversions_are_monotonic(a in price(), b in price(), to in 0u8..=MAX_DECIMALS) {
        if let (Ok(x), Ok(y)) = (a.rescale(to), b.rescale(to))
            && a.cmp_value(&b).is_le()
        {
            prop_assert!(x.cmp_value(&y).is_le(), "{a:?} <= {b:?} but {x:?} > {y:?}");
        }
    }

    #[test]
    fn comparison_is_an_order(a in price(), b in price()) {
        prop_assert_eq!(a.cmp_value(&b), b.cmp_value(&a).reverse());
        let d = a.decimals().max(b.decimals());
        let scale = |p: &Price| wide(p.mantissa()) * pow10_1024(u32::from(d - p.decimals()));
        prop_assert_eq!(a.cmp_value(&b), scale(&a).cmp(&scale(&b)));
    }

    #[test]
    fn multiplication_is_a_floor_or_an_overflow(a in price(), b in price(), d in decimals()) {
        let exact_num = wide(a.mantissa()) * wide(b.mantissa()) * pow10_1024(u32::from(d.min(MAX_DECIMALS)));
        let exact_den = pow10_1024(u32::from(a.decimals()) + u32::from(b.decimals()));
        match a.checked_mul(&b, d) {
            Ok(r) => {
                prop_assert!(wide(r.mantissa()) * exact_den <= exact_num);
                prop_assert!((wide(r.mantissa()) + U1024::from(1u8)) * exact_den > exact_num);
            }
            Err(PriceError::Overflow) => prop_assert!(exact_num / exact_den > wide(U256::MAX)),
            Err(PriceError::TooManyDecimals { .. }) => prop_assert!(d > MAX_DECIMALS),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn division_is_a_floor_or_an_error(a in price(), b in price(), d in decimals()) {
        // value = (ma / 10^da) / (mb / 10^db); mantissa = floor(ma · 10^(d + db) / (mb · 10^da)).
        let dd = u32::from(d.min(MAX_DECIMALS));
        let num = wide(a.mantissa()) * pow10_1024(dd + u32::from(b.decimals()));
        let den = wide(b.mantissa()) * pow10_1024(u32::from(a.decimals()));
        match a.checked_div(&b, d) {
            Ok(r) => {
                prop_assert!(!den.is_zero());
                prop_assert!(wide(r.mantissa()) * den <= num);
                prop_assert!((wide(r.mantissa()) + U1024::from(1u8)) * den > num);
            }
            Err(PriceError::DivisionByZero) => prop_assert!(b.is_zero()),
            Err(PriceError::Overflow) => prop_assert!(num / den > wide(U256::MAX)),
            Err(PriceError::TooManyDecimals { .. }) => prop_assert!(d > MAX_DECIMALS),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn basis_point_moves_agree_with_each_other(old in price(), new in price(), bps in any::<u64>()) {
        match old.change_bps(&new) {
            None => prop_assert!(old.is_zero()),
            Some(moved) => {
                prop_assert!(old.moved_at_least(&new, moved), "{old:?} -> {new:?}: {moved}");
                if moved < u64::MAX {
                    prop_assert!(!old.moved_at_least(&new, moved + 1));
                }
                prop_assert_eq!(old.moved_at_least(&new, bps), moved >= bps);
                if old.cmp_value(&new).is_eq() {
                    prop_assert_eq!(moved, 0);
                }
            }
        }
    }
}

/// Regression: a string of a million zeros is a parse of zero, not a hang or an allocation per
/// digit of the value.
#[test]
fn a_million_zeros_parse_as_zero() {
    let text = "0".repeat(1_000_000);
    assert_eq!(Price::parse(&text, 8), Ok(Price { mantissa: U256::ZERO, decimals: 8 }));
    let text = format!("0.{}", "0".repeat(1_000_000));
    assert_eq!(Price::parse(&text, 8), Ok(Price { mantissa: U256::ZERO, decimals: 8 }));
}
