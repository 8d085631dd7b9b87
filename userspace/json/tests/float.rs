//! The float converter (behind `Raw::as_f64` and `Value::parse`) against core's correctly
//! rounded parser, bit for bit: hard cases, halfway points written out in full, and a seeded
//! stream of random number tokens.

use zb_json::{Number, Raw, Value};

mod common;
use common::Rng;

/// Both of the crate's views of the number token `token` agree with core's parser: `Raw::as_f64`
/// bit for bit, and `Value::parse` refuses exactly the numbers that overflow, keeping the
/// others with the same value (as an `f64`: integers are kept exactly, so `-0` is `Int(0)`).
fn assert_exact(token: &str) {
    let expected: f64 = token.parse().unwrap();
    let raw = Raw::parse(token).unwrap_or_else(|e| panic!("{token}: {e}"));
    let got = raw.as_f64().unwrap();
    assert_eq!(
        got.to_bits(),
        expected.to_bits(),
        "{token}: {got:e} vs {expected:e}"
    );
    match Value::parse(token) {
        Ok(Value::Number(Number::Float(value))) => {
            assert_eq!(value.to_bits(), expected.to_bits(), "{token}");
        }
        Ok(Value::Number(number)) => assert_eq!(number.as_f64(), expected, "{token}"),
        Ok(other) => panic!("{token}: {other:?}"),
        Err(e) => {
            assert!(expected.is_infinite(), "{token}: {e}");
            assert_eq!(e.reason, "number out of range");
        }
    }
}

/// 2^-1075 in full: halfway between 0 and the smallest subnormal.
const TINY_HALF: &str = "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125";

#[test]
fn hard_cases() {
    let cases = [
        "-0",
        "-0.0e5",
        "0.0",
        "9007199254740993",
        "9007199254740992.5",
        "9007199254740993.5",
        "-9007199254740995",
        "2.2250738585072011e-308",
        "2.2250738585072014e-308",
        "4.9406564584124654e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "0.1",
        "1e23",
        "8.98846567431158e307",
        "1e-400",
        "1E+400",
        "1e-99999999999999999999999",
        "1e99999999999999999999999",
        "1000000000000000000000000000000",
        "1e30",
    ];
    for token in cases {
        assert_exact(token);
    }
    // The point far from the only non-zero digit: 10^-600.
    assert_exact(&format!("0.{}1e400", "0".repeat(999)));
    assert_exact(&format!("0.{}1e-400", "0".repeat(999)));
    assert_exact(&format!("1{}e-1000", "0".repeat(1000)));
    // The tie between 0 and the smallest subnormal rounds to even (0); anything above it,
    // even beyond the 800 digits kept, rounds up; anything below, down.
    let tie = format!("{TINY_HALF}e-324");
    assert_exact(&tie);
    assert_eq!(Raw::parse(&tie).unwrap().as_f64(), Some(0.0));
    let above = format!("{TINY_HALF}{}1e-324", "0".repeat(500));
    assert_exact(&above);
    assert_eq!(Raw::parse(&above).unwrap().as_f64(), Some(5e-324));
    let below = format!(
        "{}4{}e-324",
        &TINY_HALF[..TINY_HALF.len() - 1],
        "9".repeat(500)
    );
    assert_exact(&below);
    assert_eq!(Raw::parse(&below).unwrap().as_f64(), Some(0.0));
}

/// Multiplies a little-endian decimal digit vector by `factor`.
fn multiply(digits: &mut Vec<u8>, factor: u64) {
    let mut carry = 0u64;
    for digit in digits.iter_mut() {
        let product = u64::from(*digit) * factor + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    while carry > 0 {
        digits.push((carry % 10) as u8);
        carry /= 10;
    }
}

/// `mantissa × 2^exponent` exactly, as significant digits and a power of ten.
fn exact_decimal(mantissa: u64, exponent: i32) -> (String, i32) {
    let mut digits: Vec<u8> = mantissa
        .to_string()
        .bytes()
        .rev()
        .map(|b| b - b'0')
        .collect();
    // 2^-n = 5^n × 10^-n. Steps of 2^30 or 5^13, which keep the products in a u64.
    let (factor, step, mut count) = if exponent >= 0 {
        (2u64, 30, exponent.unsigned_abs())
    } else {
        (5u64, 13, exponent.unsigned_abs())
    };
    while count > 0 {
        let n = count.min(step);
        multiply(&mut digits, factor.pow(n));
        count -= n;
    }
    let text: String = digits.iter().rev().map(|&d| char::from(b'0' + d)).collect();
    (text, exponent.min(0))
}

/// `digits × 10^scale` as a JSON token, the point after the first digit.
fn token(negative: bool, digits: &str, scale: i32) -> String {
    let sign = if negative { "-" } else { "" };
    let exponent = scale + digits.len() as i32 - 1;
    match digits.len() {
        1 => format!("{sign}{digits}e{exponent}"),
        _ => format!("{sign}{}.{}e{exponent}", &digits[..1], &digits[1..]),
    }
}

#[test]
fn halfway_points_written_out_in_full() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..1_500 {
        // A random finite double, its mantissa and exponent as an integer times 2^e; every
        // few cases one near the subnormal range or near the top.
        let biased = match case % 8 {
            0 => rng.below(3),
            1 => 2046 - rng.below(3),
            _ => rng.below(2047),
        };
        let fraction = rng.next() & ((1 << 52) - 1);
        let (mantissa, exponent) = match biased {
            0 => (fraction, -1074),
            _ => (fraction | 1 << 52, biased as i32 - 1075),
        };
        let negative = rng.chance(2);
        // The double itself, exactly.
        let (digits, scale) = exact_decimal(mantissa, exponent);
        assert_exact(&token(negative, &digits, scale));
        // Halfway to the next one up: ties to even.
        let (half, half_scale) = exact_decimal(2 * mantissa + 1, exponent - 1);
        assert_exact(&token(negative, &half, half_scale));
        // Just above (a 1 far out: near the end of the 800 digits kept, where shifts drop it,
        // or beyond them) and just below.
        let zeros = match rng.below(3) {
            0 => rng.below(40),
            1 => rng.range(300, 800),
            _ => rng.range(800, 1200),
        } as usize;
        let above = format!("{half}{}1", "0".repeat(zeros));
        assert_exact(&token(negative, &above, half_scale - zeros as i32 - 1));
        let below = format!("{}4{}", &half[..half.len() - 1], "9".repeat(zeros + 1));
        assert_exact(&token(negative, &below, half_scale - zeros as i32 - 1));
        // Cut short (rounded down to fewer digits).
        let kept = rng.range(1, half.len() as u64) as usize;
        assert_exact(&token(
            negative,
            &half[..kept],
            half_scale + (half.len() - kept) as i32,
        ));
    }
}

/// A random valid JSON number token.
fn random_token(rng: &mut Rng) -> String {
    let count = if rng.chance(40) {
        rng.range(100, 900)
    } else {
        rng.range(1, 40)
    } as usize;
    // Runs of zeros and nines make ties and carries likely.
    let style = rng.below(4);
    let digits: String = (0..count)
        .map(|_| {
            let digit = match style {
                0 if rng.chance(2) => 0,
                1 if rng.chance(2) => 9,
                _ => rng.below(10),
            };
            char::from(b'0' + digit as u8)
        })
        .collect();
    let mut token = String::new();
    if rng.chance(2) {
        token.push('-');
    }
    // The point anywhere (or nowhere); the integer part has no leading zero.
    let point = rng.below(count as u64 + 1) as usize;
    let (int_part, frac_part) = digits.split_at(point);
    let int_part = int_part.trim_start_matches('0');
    if int_part.is_empty() {
        token.push('0');
    } else {
        token.push_str(int_part);
    }
    if !frac_part.is_empty() {
        token.push('.');
        token.push_str(frac_part);
    }
    if rng.chance(3) {
        token.push(if rng.chance(2) { 'e' } else { 'E' });
        match rng.below(3) {
            0 => token.push('-'),
            1 => token.push('+'),
            _ => {}
        }
        token.push_str(&rng.below(401).to_string());
    }
    token
}

#[test]
fn random_tokens_agree_with_core() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut finite = 0;
    for _ in 0..200_000 {
        let token = random_token(&mut rng);
        assert_exact(&token);
        finite += usize::from(token.parse::<f64>().unwrap().is_finite());
    }
    // Most tokens are in range: the stream is not all infinities and zeros.
    assert!(finite > 150_000, "{finite}");
}
