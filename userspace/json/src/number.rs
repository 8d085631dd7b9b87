//! Number tokens to machine numbers, without allocation and without core's float parser.
//!
//! The input is always a number token the reader accepted (`-? int frac? exp?`). JSON does not
//! distinguish integers from other numbers, so an integer is recognised by its *value*: `100`,
//! `1e2`, `100.0` and `1000e-1` are all the integer 100.
//!
//! Invariants:
//! - [`integer_value`] is exact: it answers `Some` exactly when the number is an integer whose
//!   magnitude fits in a `u64`, whatever the spelling and however long the token.
//! - [`approximate_f64`] is correctly rounded when the number has at most 15 significant digits
//!   and a decimal exponent within ±22 (one exact multiplication or division), and otherwise
//!   within a few units in the last place; out-of-range magnitudes become infinity or zero. It
//!   exists because core's exact parser (Eisel–Lemire with its tables) would be several times
//!   the size of this whole crate in a wasm program; [`Value`](crate::Value) uses the exact one.

/// A number token taken apart.
struct Decimal<'a> {
    negative: bool,
    /// The digits before the point (ASCII).
    int_digits: &'a [u8],
    /// The digits after the point (ASCII), possibly none.
    frac_digits: &'a [u8],
    /// The exponent after `e`, saturated at the `i64` range (far beyond any real document).
    exponent: i64,
}

impl<'a> Decimal<'a> {
    fn split(token: &'a str) -> Self {
        let bytes = token.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let (int_digits, rest) = split_digits(rest);
        let (frac_digits, rest) = match rest.split_first() {
            Some((b'.', rest)) => split_digits(rest),
            _ => (&[][..], rest),
        };
        let exponent = match rest.split_first() {
            Some((b'e' | b'E', rest)) => {
                let (negative_exponent, rest) = match rest.split_first() {
                    Some((b'-', rest)) => (true, rest),
                    Some((b'+', rest)) => (false, rest),
                    _ => (false, rest),
                };
                let magnitude = rest.iter().fold(0i64, |acc, &digit| {
                    acc.saturating_mul(10)
                        .saturating_add(i64::from(digit_value(digit)))
                });
                if negative_exponent {
                    -magnitude
                } else {
                    magnitude
                }
            }
            _ => 0,
        };
        Self {
            negative,
            int_digits,
            frac_digits,
            exponent,
        }
    }

    /// All digits, point dropped, as values 0–9.
    fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.int_digits
            .iter()
            .chain(self.frac_digits)
            .map(|&digit| digit_value(digit))
    }

    fn digit_count(&self) -> usize {
        self.int_digits.len() + self.frac_digits.len()
    }

    fn leading_zeros(&self) -> usize {
        self.digits().take_while(|&digit| digit == 0).count()
    }

    fn trailing_zeros(&self) -> usize {
        let reversed = self
            .frac_digits
            .iter()
            .rev()
            .chain(self.int_digits.iter().rev());
        reversed.take_while(|&&digit| digit == b'0').count()
    }

    /// The power of ten of the last digit: the number is `digits × 10^scale`.
    fn scale(&self) -> i64 {
        self.exponent
            .saturating_sub(i64::try_from(self.frac_digits.len()).unwrap_or(i64::MAX))
    }
}

fn split_digits(bytes: &[u8]) -> (&[u8], &[u8]) {
    let count = bytes
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    bytes.split_at_checked(count).unwrap_or((bytes, &[]))
}

fn digit_value(digit: u8) -> u8 {
    digit.wrapping_sub(b'0')
}

fn count_to_i64(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The number as a sign and an exact `u64` magnitude, if it is an integer that fits. `-0` is
/// `(true, 0)`.
pub(crate) fn integer_value(token: &str) -> Option<(bool, u64)> {
    let decimal = Decimal::split(token);
    let leading = decimal.leading_zeros();
    if leading == decimal.digit_count() {
        return Some((decimal.negative, 0));
    }
    let trailing = decimal.trailing_zeros();
    let significant = decimal.digit_count() - leading - trailing;
    // The number is `significant digits × 10^power`, the last significant digit non-zero, so
    // it is an integer exactly when `power >= 0`.
    let power = decimal.scale().saturating_add(count_to_i64(trailing));
    if power < 0 || count_to_i64(significant).saturating_add(power) > 20 {
        // Fractional, or more than the 20 digits of `u64::MAX`.
        return None;
    }
    let mut magnitude = decimal
        .digits()
        .skip(leading)
        .take(significant)
        .try_fold(0u64, |acc, digit| {
            acc.checked_mul(10)?.checked_add(u64::from(digit))
        })?;
    for _ in 0..power {
        magnitude = magnitude.checked_mul(10)?;
    }
    Some((decimal.negative, magnitude))
}

/// The number as an `i64`, if it is an integer in range.
pub(crate) fn as_i64(token: &str) -> Option<i64> {
    match integer_value(token)? {
        (true, magnitude) => 0i64.checked_sub_unsigned(magnitude),
        (false, magnitude) => i64::try_from(magnitude).ok(),
    }
}

/// The number as a `u64`, if it is a non-negative integer in range (`-0` is 0).
pub(crate) fn as_u64(token: &str) -> Option<u64> {
    match integer_value(token)? {
        (true, 0) => Some(0),
        (true, _) => None,
        (false, magnitude) => Some(magnitude),
    }
}

/// Powers of ten that are exact in an `f64` (10^22 < 2^53 × 2^22 is the last).
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
const LARGEST_EXACT_POWER: u64 = 22;

/// The number as an `f64`, correctly rounded in the common cases (see the module doc).
pub(crate) fn approximate_f64(token: &str) -> f64 {
    let decimal = Decimal::split(token);
    let leading = decimal.leading_zeros();
    // The first 19 significant digits always fit in a u64; later ones only move the exponent.
    let significant = decimal.digit_count() - leading;
    let kept = significant.min(19);
    let mantissa = decimal
        .digits()
        .skip(leading)
        .take(kept)
        .fold(0u64, |acc, digit| {
            acc.wrapping_mul(10).wrapping_add(u64::from(digit))
        });
    let power = decimal
        .scale()
        .saturating_add(count_to_i64(significant - kept));
    let magnitude = scale_by_power_of_ten(mantissa, power);
    if decimal.negative {
        -magnitude
    } else {
        magnitude
    }
}

fn power_of_ten(exponent: u64) -> f64 {
    let index = usize::try_from(exponent.min(LARGEST_EXACT_POWER)).unwrap_or(0);
    EXACT_POWERS_OF_TEN.get(index).copied().unwrap_or(1.0)
}

/// `mantissa × 10^power`.
fn scale_by_power_of_ten(mantissa: u64, power: i64) -> f64 {
    // `as` is the intended conversion: exact below 2^53, nearest above.
    let mut value = mantissa as f64;
    if mantissa == 0 {
        return 0.0;
    }
    if mantissa < 1 << 53 && power.unsigned_abs() <= LARGEST_EXACT_POWER {
        // Both operands exact, so one IEEE operation rounds correctly.
        let factor = power_of_ten(power.unsigned_abs());
        return if power >= 0 {
            value * factor
        } else {
            value / factor
        };
    }
    // Steps of at most 10^22; each may round, hence "approximate". The loops end within a few
    // dozen steps, as the value reaches infinity or zero.
    let mut remaining = power;
    while remaining > 0 && value.is_finite() {
        let step = remaining.unsigned_abs().min(LARGEST_EXACT_POWER);
        value *= power_of_ten(step);
        remaining = remaining.saturating_sub_unsigned(step);
    }
    while remaining < 0 && value != 0.0 {
        let step = remaining.unsigned_abs().min(LARGEST_EXACT_POWER);
        value /= power_of_ten(step);
        remaining = remaining.saturating_add_unsigned(step);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_recognised_by_value_whatever_the_spelling() {
        let cases: &[(&str, Option<(bool, u64)>)] = &[
            ("0", Some((false, 0))),
            ("-0", Some((true, 0))),
            ("0.000e5", Some((false, 0))),
            ("0e99999999999999999999999", Some((false, 0))),
            ("42", Some((false, 42))),
            ("-42", Some((true, 42))),
            ("1e2", Some((false, 100))),
            ("100.0", Some((false, 100))),
            ("1000e-1", Some((false, 100))),
            ("1.5e1", Some((false, 15))),
            ("1.5", None),
            ("1e-1", None),
            ("123.456e2", None),
            ("123.456e3", Some((false, 123_456))),
            ("18446744073709551615", Some((false, u64::MAX))),
            ("18446744073709551616", None),
            ("1.8446744073709551615e19", Some((false, u64::MAX))),
            ("1e19", Some((false, 10_000_000_000_000_000_000))),
            ("1e20", None),
            ("00000000000000000000000000001", Some((false, 1))), // not a token, but harmless
            ("1e99999999999999999999999", None),
            ("1e-99999999999999999999999", None),
        ];
        for &(token, expected) in cases {
            assert_eq!(integer_value(token), expected, "{token}");
        }
        assert_eq!(as_i64("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(as_i64("-9223372036854775809"), None);
        assert_eq!(as_i64("9223372036854775807"), Some(i64::MAX));
        assert_eq!(as_i64("9223372036854775808"), None);
        assert_eq!(as_u64("9223372036854775808"), Some(1 << 63));
        assert_eq!(as_u64("-1"), None);
        assert_eq!(as_u64("-0"), Some(0));
    }

    #[test]
    fn short_numbers_convert_exactly_long_ones_closely() {
        let exact = [
            "0",
            "-0",
            "1",
            "0.1",
            "0.3",
            "-2.5",
            "3.14159",
            "1e22",
            "1e-22",
            "123456789012345",
            "9007199254740991",
            "5e-5",
            "-1.25e-3",
        ];
        for token in exact {
            let expected: f64 = token.parse().unwrap();
            assert_eq!(
                approximate_f64(token).to_bits(),
                expected.to_bits(),
                "{token}"
            );
        }
        let close = [
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "12345678901234567890123456789",
            "0.000000000000000000000000000123456789",
            "6.02214076e23",
            "1.6e-35",
            "4.9406564584124654e-300",
            "1.7976931348623157e30",
            "2.2250738585072014e-5",
        ];
        for token in close {
            let expected: f64 = token.parse().unwrap();
            let got = approximate_f64(token);
            assert!(
                ((got - expected) / expected).abs() < 1e-14,
                "{token}: {got} vs {expected}"
            );
        }
        assert_eq!(approximate_f64("1e400"), f64::INFINITY);
        assert_eq!(approximate_f64("-1e400"), f64::NEG_INFINITY);
        assert_eq!(approximate_f64("1e-400"), 0.0);
        assert_eq!(approximate_f64("1e-99999999999999999999999"), 0.0);
        assert_eq!(approximate_f64("1e99999999999999999999999"), f64::INFINITY);
    }
}
