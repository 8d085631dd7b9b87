//! Fuzz target `json`: the JSON reader of event payloads (`zb_json`): `validate`, `Raw`, `get`
//! and `Value::parse`, and the writer `write_escaped`.
//!
//! The input is UTF-8 text, read as a document. Beyond "never panics" it asserts:
//! - one grammar: `validate`, `Raw::parse` and `Value::parse` accept the same documents, except
//!   that `Value::parse` may refuse duplicate keys and numbers beyond the `f64` range;
//! - the borrowing reader and the tree agree: walking the `Raw` (members, elements, strings
//!   unescaped, integers exact, floats bit for bit) gives the parsed `Value`, and `get` finds
//!   each member of an object;
//! - the crate's float converter is exact: for every number token of an accepted document
//!   (whether or not `Value::parse` accepts it), `Raw::as_f64` is core's `str::parse::<f64>`
//!   bit for bit (infinities, zeros and the sign of zero included);
//! - `Display` of a parsed value parses back to an equal value, and is a fixed point;
//! - error offsets lie inside the document;
//! - `write_escaped` of any text is a JSON string whose value is that text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_json::{Kind, MAX_DEPTH, Number, Raw, Value, get, validate, write_escaped};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_escape(text);

    let valid = validate(text);
    let raw = Raw::parse(text);
    assert_eq!(valid.is_ok(), raw.is_ok());
    if let Err(e) = valid {
        assert!(e.offset <= text.len(), "{e} beyond {}", text.len());
    }
    if let Ok(raw) = &raw {
        check_floats(raw, 0);
    }
    let value = Value::parse(text);
    match (&raw, &value) {
        (Ok(raw), Ok(value)) => {
            assert_eq!(raw.raw(), text.trim_matches([' ', '\t', '\n', '\r']));
            same(raw, value, 0);
            round_trip(value);
            if let Value::Object(members) = value {
                for (key, member) in members {
                    let found = get(text, key).expect("get on a parsed object");
                    same(&found.expect("member found"), member, 1);
                }
            } else {
                assert!(get(text, "k").is_err(), "get needs an object");
            }
        }
        (Ok(_), Err(e)) => {
            assert!(
                matches!(e.reason, "duplicate key" | "number out of range"),
                "Value::parse refuses what validate accepts: {e}"
            );
            assert!(e.offset <= text.len());
        }
        (Err(_), Ok(v)) => panic!("Value::parse accepts what validate refuses: {v}"),
        (Err(_), Err(e)) => assert!(e.offset <= text.len()),
    }
});

/// The reader's view of `raw` is the tree's `value`.
fn same(raw: &Raw<'_>, value: &Value, depth: usize) {
    assert!(depth <= MAX_DEPTH);
    assert_eq!(raw.kind(), value.kind(), "{} vs {value}", raw.raw());
    match value {
        Value::Null => assert!(raw.is_null()),
        Value::Bool(b) => assert_eq!(raw.as_bool(), Some(*b)),
        Value::String(s) => {
            assert_eq!(raw.as_string().as_deref(), Some(s.as_str()));
            assert!(raw.str_eq(s));
            if let Some(plain) = raw.as_plain_str() {
                assert_eq!(plain, s);
            }
        }
        Value::Number(n) => same_number(raw, n),
        Value::Array(elements) => {
            let raws: Vec<Raw<'_>> = raw.elements().collect();
            assert_eq!(raws.len(), elements.len());
            for (r, v) in raws.iter().zip(elements) {
                same(r, v, depth + 1);
            }
        }
        Value::Object(members) => {
            let raws: Vec<(Raw<'_>, Raw<'_>)> = raw.members().collect();
            assert_eq!(raws.len(), members.len());
            for ((rk, rv), (k, v)) in raws.iter().zip(members) {
                assert_eq!(rk.kind(), Kind::String);
                assert!(rk.str_eq(k));
                same(rv, v, depth + 1);
                same(
                    &raw.get(k).expect("Raw::get").expect("member"),
                    v,
                    depth + 1,
                );
            }
        }
    }
}

fn same_number(raw: &Raw<'_>, n: &Number) {
    match *n {
        // Integers are exact on both sides, whatever the spelling.
        Number::Int(i) => {
            assert_eq!(raw.as_i64(), Some(i), "{}", raw.raw());
            assert_eq!(raw.as_u64(), u64::try_from(i).ok(), "{}", raw.raw());
        }
        Number::UInt(u) => {
            assert_eq!(raw.as_u64(), Some(u), "{}", raw.raw());
            assert_eq!(raw.as_i64(), None);
        }
        // One converter behind both.
        Number::Float(f) => {
            let converted = raw.as_f64().expect("a number");
            assert_eq!(converted.to_bits(), f.to_bits(), "{}", raw.raw());
        }
    }
    // The nearest f64 of an exact integer is the correctly rounded float of its token (equal,
    // not bit for bit: `-0` is `Int(0)`).
    assert_eq!(raw.as_f64(), Some(n.as_f64()), "{}", raw.raw());
}

/// Every number token inside `raw` converts as core's exact parser does, bit for bit.
fn check_floats(raw: &Raw<'_>, depth: usize) {
    assert!(depth <= MAX_DEPTH);
    match raw.kind() {
        Kind::Number => {
            let token = raw.raw();
            let expected: f64 = token.parse().expect("a JSON number is a Rust float");
            let converted = raw.as_f64().expect("a number");
            assert_eq!(
                converted.to_bits(),
                expected.to_bits(),
                "{token}: {converted:e} vs core's {expected:e}"
            );
        }
        Kind::Array => raw
            .elements()
            .for_each(|element| check_floats(&element, depth + 1)),
        Kind::Object => raw
            .members()
            .for_each(|(_, member)| check_floats(&member, depth + 1)),
        Kind::Null | Kind::Bool | Kind::String => {}
    }
}

fn round_trip(value: &Value) {
    let text = value.to_string();
    let again = Value::parse(&text).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
    assert_eq!(&again, value, "{text}");
    assert_eq!(again.to_string(), text, "Display is a fixed point");
}

fn check_escape(s: &str) {
    let mut out = String::new();
    write_escaped(&mut out, s).expect("String never fails");
    let parsed = Value::parse(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"));
    assert_eq!(parsed.as_str(), Some(s));
}
