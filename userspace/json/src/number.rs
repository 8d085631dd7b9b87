//! Number tokens to machine numbers, without allocation and without core's float parser.
//!
//! The input is always a number token the reader accepted (`-? int frac? exp?`). JSON does not
//! distinguish integers from other numbers, so an integer is recognised by its *value*: `100`,
//! `1e2`, `100.0` and `1000e-1` are all the integer 100.
//!
//! Invariants:
//! - [`integer_value`] is exact: it answers `Some` exactly when the number is an integer whose
//!   magnitude fits in a `u64`, whatever the spelling and however long the token.
//! - [`to_f64`] is exact: the nearest `f64` (ties to even), bit for bit what core's
//!   `str::parse::<f64>` answers, for any token however long and whatever its exponent;
//!   magnitudes beyond the `f64` range become infinity or (signed) zero. Both
//!   [`Value`](crate::Value) and [`Raw::as_f64`](crate::Raw::as_f64) use it, so they agree.
//!
//! Why not core's parser: its Eisel–Lemire path links a 10 KB table of 128-bit powers of five,
//! about 14 KB in all on the STM32F4 (Thumb, opt-level "z"), too much for the firmware's flash
//! and for the wasm programs. [`to_f64`] takes one exact multiplication or division when that
//! is enough (Clinger's fast path: below 2^53 and 10^±22) and otherwise the "simple decimal
//! conversion" (as in Go's `strconv` and core's own fallback), which needs no tables: about
//! 2 KB of code, slower than core's for long or far-out numbers (at worst some 50 shifts of up
//! to 800 digits), which event payloads rarely hold.

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

/// The number as an `f64`, correctly rounded (to nearest, ties to even); magnitudes beyond
/// the `f64` range become infinity or zero, with the token's sign (`-0` is `-0.0`).
pub(crate) fn to_f64(token: &str) -> f64 {
    let decimal = Decimal::split(token);
    let magnitude = magnitude_f64(&decimal);
    if decimal.negative {
        -magnitude
    } else {
        magnitude
    }
}

fn magnitude_f64(decimal: &Decimal<'_>) -> f64 {
    let leading = decimal.leading_zeros();
    if leading == decimal.digit_count() {
        return 0.0;
    }
    let trailing = decimal.trailing_zeros();
    let significant = decimal.digit_count() - leading - trailing;
    // Fast path (Clinger): the number is `mantissa × 10^power`; with `mantissa < 2^53` and
    // `|power| ≤ 22` both factors are exact in an f64, so one IEEE multiplication or division
    // rounds the product correctly. Trailing zeros only move the power.
    let power = decimal.scale().saturating_add(count_to_i64(trailing));
    if significant <= 19 {
        let mantissa = decimal
            .digits()
            .skip(leading)
            .take(significant)
            .fold(0u64, |acc, digit| acc * 10 + u64::from(digit));
        let exact_power = usize::try_from(power.unsigned_abs())
            .ok()
            .and_then(|index| EXACT_POWERS_OF_TEN.get(index));
        if let Some(&factor) = exact_power
            && mantissa < 1 << 53
        {
            // `as` is exact below 2^53.
            let value = mantissa as f64;
            return if power >= 0 {
                value * factor
            } else {
                value / factor
            };
        }
    }
    // The number is 0.d₁d₂… × 10^point, d₁ ≠ 0.
    let point = count_to_i64(decimal.int_digits.len())
        .saturating_sub(count_to_i64(leading))
        .saturating_add(decimal.exponent);
    if point > 310 {
        // At least 10^310: beyond f64::MAX (1.8 × 10^308).
        return f64::INFINITY;
    }
    let Ok(point @ -330..) = i32::try_from(point) else {
        // Below 10^-331: less than half the smallest subnormal (4.9 × 10^-324).
        return 0.0;
    };
    let mut digits = Digits::new(decimal.digits().skip(leading), point);
    f64::from_bits(digits.float_bits())
}

/// Decimal digits kept by the slow path. Deciding the rounding of an `f64` may take 767
/// significant digits (the longest exact expansion of a halfway point between two doubles);
/// digits dropped beyond the kept ones only set [`Digits::trunc`].
const MAX_DIGITS: usize = 800;
/// The largest binary shift of one step: a digit shifted by it, plus a carry, fits a `u64`.
const MAX_SHIFT: u32 = 60;
/// The binary shift of one scaling step toward [0.5, 1) for a number with `n` digits before
/// the point (or `n` zeros after it): `⌊n·log2 10⌋`, the largest power of two not above 10^n
/// (1 for `n = 0`); 27 for larger `n`, as in Go.
const POWERS_OF_TWO_STEP: [u32; 9] = [1, 3, 6, 9, 13, 16, 19, 23, 26];
/// A number `1.f × 2^exponent` is stored with biased exponent `exponent - BIAS`: normal
/// numbers from `BIAS + 1` (-1022), subnormals with 0 (Go's `bias`).
const BIAS: i32 = -1023;
const MANTISSA_BITS: u32 = 52;
const INFINITY_BITS: u64 = 0x7ff << MANTISSA_BITS;

/// The slow path: a decimal number `0.d₀d₁…d_{nd-1} × 10^dp` scaled by powers of two until its
/// binary exponent is known, then rounded to 53 bits ("simple decimal conversion", Nigel Tao's
/// name for it: Go's `strconv` decimal and `floatBits`, core's `dec2flt` slow path). Exact, and
/// small: no tables beyond [`POWERS_OF_TWO_STEP`].
struct Digits {
    /// Digit values 0–9, most significant first; the first is non-zero and the last too.
    digits: [u8; MAX_DIGITS],
    /// How many of `digits` are used; 0 only for the number 0.
    nd: usize,
    /// The decimal point: the number is `0.d₀d₁… × 10^dp`.
    dp: i32,
    /// Non-zero digits were dropped beyond `digits[..nd]`: the number is a little larger.
    trunc: bool,
}

impl Digits {
    /// `0.d₀d₁… × 10^dp` from digit values, the first non-zero.
    fn new(values: impl Iterator<Item = u8>, dp: i32) -> Self {
        let mut number = Self {
            digits: [0; MAX_DIGITS],
            nd: 0,
            dp,
            trunc: false,
        };
        for value in values {
            number.put(number.nd, value);
            number.nd = (number.nd + 1).min(MAX_DIGITS);
        }
        number.trim();
        number
    }

    /// Digit `index`, 0 beyond the used ones.
    fn digit(&self, index: usize) -> u8 {
        match self.digits.get(index) {
            Some(&digit) if index < self.nd => digit,
            _ => 0,
        }
    }

    /// Stores digit `index`, or records it as dropped if that is beyond the array.
    fn put(&mut self, index: usize, digit: u8) {
        match self.digits.get_mut(index) {
            Some(slot) => *slot = digit,
            None => self.trunc |= digit != 0,
        }
    }

    fn trim(&mut self) {
        while self.nd > 0 && self.digit(self.nd - 1) == 0 {
            self.nd -= 1;
        }
        if self.nd == 0 {
            self.dp = 0;
        }
    }

    /// Multiplies by 2^shift.
    fn shift_left(&mut self, mut shift: u32) {
        while shift > 0 && self.nd > 0 {
            let step = shift.min(MAX_SHIFT);
            self.left_shift(step);
            shift -= step;
        }
    }

    /// Divides by 2^shift (dropping digits beyond the array).
    fn shift_right(&mut self, mut shift: u32) {
        while shift > 0 && self.nd > 0 {
            let step = shift.min(MAX_SHIFT);
            self.right_shift(step);
            shift -= step;
        }
    }

    /// Multiplies by 2^k, k ≤ [`MAX_SHIFT`]: from the last digit up, each digit times 2^k plus
    /// the carry gives a digit (the remainder mod 10) and the next carry.
    fn left_shift(&mut self, k: u32) {
        // The integer N of the nd digits is below 10^nd, so N × 2^k < 10^(nd + k·log10 2)
        // has at most nd + ⌊k·log10 2⌋ + 1 ≤ nd + k/3 + 1 digits (log10 2 < 1/3). Writing
        // the result from there downward never passes the digit being read (the write
        // position stays k/3 + 1 or more above it) and ends at or above 0; the result is
        // then moved to the front. This avoids the table (Go's `leftcheats`) of exact new
        // digit counts. Digits written beyond the array are the least significant ones;
        // at most k/3 + 1 ≤ 21 array slots are wasted, so 779 or more digits are kept
        // (core's `dec2flt` keeps 768).
        let old_nd = self.nd;
        let top = old_nd + k as usize / 3 + 1;
        let mut write = top;
        let mut read = old_nd;
        let mut carry = 0u64;
        while read > 0 || carry > 0 {
            if read > 0 {
                read -= 1;
                carry += u64::from(self.digit(read)) << k;
            }
            write = write.saturating_sub(1);
            // `as`: a remainder mod 10.
            self.put(write, (carry % 10) as u8);
            carry /= 10;
        }
        let end = top.min(MAX_DIGITS);
        let start = write.min(end);
        self.digits.copy_within(start..end, 0);
        self.nd = end - start;
        // The number of new digits, at most k/3 + 1.
        self.dp += i32::try_from(top - start - old_nd).unwrap_or(0);
        self.trim();
    }

    /// Divides by 2^k, k ≤ [`MAX_SHIFT`]: long division from the first digit down.
    fn right_shift(&mut self, k: u32) {
        let mut read = 0;
        let mut remainder = 0u64;
        // Enough leading digits for the first digit of the quotient.
        while remainder >> k == 0 {
            if read >= self.nd && remainder == 0 {
                // Only for 0, which has no digits; never reached.
                self.nd = 0;
                self.dp = 0;
                return;
            }
            remainder = remainder * 10 + u64::from(self.digit(read));
            read += 1;
        }
        self.dp -= i32::try_from(read - 1).unwrap_or(0);
        let mask = (1u64 << k) - 1;
        let mut write = 0;
        // A digit out, a digit in (zeros beyond the end), until the remainder is spent; it
        // ends within k digits past the end, each ×10 adding a zero bit below the mask.
        while read < self.nd || remainder > 0 {
            // `as`: below 10, since remainder < 10 × 2^k.
            let digit = (remainder >> k) as u8;
            remainder &= mask;
            if write < MAX_DIGITS {
                self.put(write, digit);
                write += 1;
            } else {
                self.trunc |= digit != 0;
            }
            remainder = remainder * 10 + u64::from(self.digit(read));
            read += 1;
        }
        self.nd = write;
        self.trim();
    }

    /// The integer part rounded to nearest, ties to even (a tie with dropped non-zero digits
    /// is above the tie, so it rounds up). Needs `dp ≤ 19`.
    fn rounded_integer(&self) -> u64 {
        let Ok(point) = usize::try_from(self.dp) else {
            // Below 0.1.
            return 0;
        };
        let integer = (0..point).fold(0u64, |acc, index| {
            acc.wrapping_mul(10)
                .wrapping_add(u64::from(self.digit(index)))
        });
        let round_up = point < self.nd
            && match self.digit(point) {
                5 if point + 1 == self.nd => self.trunc || integer & 1 == 1,
                next => next >= 5,
            };
        integer + u64::from(round_up)
    }

    /// The bits of the nearest `f64` (positive), or of infinity.
    fn float_bits(&mut self) -> u64 {
        // Into [0.5, 1), remembering the power of two: number = digits × 2^exponent.
        let mut exponent = 0i32;
        while self.dp > 0 {
            let index = usize::try_from(self.dp).unwrap_or(usize::MAX);
            let step = POWERS_OF_TWO_STEP.get(index).copied().unwrap_or(27);
            self.shift_right(step);
            exponent += step.cast_signed();
        }
        while self.nd > 0 && (self.dp < 0 || self.dp == 0 && self.digit(0) < 5) {
            let index = usize::try_from(self.dp.unsigned_abs()).unwrap_or(usize::MAX);
            let step = POWERS_OF_TWO_STEP.get(index).copied().unwrap_or(27);
            self.shift_left(step);
            exponent -= step.cast_signed();
        }
        if self.nd == 0 {
            return 0;
        }
        // [0.5, 1) is 1.f × 2^-1.
        exponent -= 1;
        if exponent < BIAS + 1 {
            // Subnormal: fewer mantissa bits, the exponent of the smallest normal.
            let shift = BIAS + 1 - exponent;
            self.shift_right(shift.unsigned_abs());
            exponent += shift;
        }
        if exponent - BIAS >= 0x7ff {
            return INFINITY_BITS;
        }
        self.shift_left(MANTISSA_BITS + 1);
        let mut mantissa = self.rounded_integer();
        if mantissa == 2 << MANTISSA_BITS {
            // Rounding carried into a 54th bit.
            mantissa >>= 1;
            exponent += 1;
            if exponent - BIAS >= 0x7ff {
                return INFINITY_BITS;
            }
        }
        if mantissa & (1 << MANTISSA_BITS) == 0 {
            // Subnormal (or rounded to 0).
            exponent = BIAS;
        }
        let biased = u64::from((exponent - BIAS).unsigned_abs());
        (mantissa & ((1 << MANTISSA_BITS) - 1)) | (biased << MANTISSA_BITS)
    }
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

    /// `to_f64` agrees with core's parser bit for bit (the sign of zero included).
    fn assert_exact(token: &str) {
        let expected: f64 = token.parse().unwrap();
        assert_eq!(
            to_f64(token).to_bits(),
            expected.to_bits(),
            "{token}: {} vs {expected:e}",
            to_f64(token)
        );
    }

    #[test]
    fn floats_are_correctly_rounded() {
        let cases = [
            "0",
            "-0",
            "-0.0e5",
            "0e99999999999999999999999",
            "1",
            "0.1",
            "0.3",
            "-2.5",
            "3.14159",
            "1e22",
            "1e-22",
            "1e23",
            "123456789012345",
            "9007199254740991",
            "9007199254740992",
            "9007199254740993",
            "9007199254740994",
            "9007199254740995",
            "9007199254740993.0000000000000000000000000000001",
            "9007199254740992.5",
            "18014398509481986",
            "18014398509481990",
            "5e-5",
            "-1.25e-3",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "-1.7976931348623159e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
            "8.98846567431158e307",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "2.2250738585072014e-308",
            "2.225073858507201136057409796709131975934819546351645648e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324",
            "6.631236846766476e-316",
            "3.2378839133029012e-319",
            "1e-400",
            "-1e-400",
            "1e400",
            "-1e400",
            "1e-99999999999999999999999",
            "1e99999999999999999999999",
            "-1e99999999999999999999999",
            "1000000000000000000000000000000",
            "1e30",
            "12345678901234567890123456789",
            "0.000000000000000000000000000123456789",
            "6.02214076e23",
            "1.6e-35",
            "4.9406564584124654e-300",
            "1.7976931348623157e30",
            "2.2250738585072014e-5",
            "0.30000000000000004",
            "7.038531e-26",
        ];
        for token in cases {
            assert_exact(token);
        }
        assert_eq!(to_f64("1e400"), f64::INFINITY);
        assert_eq!(to_f64("-1e400"), f64::NEG_INFINITY);
        assert_eq!(to_f64("-0").to_bits(), (-0.0f64).to_bits());
    }
}
