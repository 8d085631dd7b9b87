//! The RFC 8259 grammar: tables of valid and invalid documents (with the exact error), deep
//! nesting, and a deterministic mutation loop checking that no input panics and that every
//! entry point agrees on what is JSON.

// Value and Schema (and the round trips through them) need the `alloc` feature.
#![cfg(feature = "alloc")]

mod common;
use common::Rng;
use zb_json::{JsonError, MAX_DEPTH, Number, Raw, Value, get, validate};

const VALID: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "7",
    "-7",
    "0.5",
    "-0.5",
    "10.25",
    "1e5",
    "1E5",
    "1e+5",
    "1e-5",
    "0e0",
    "-0.0e-0",
    "1.5E+10",
    "123456789012345678901234567890",
    "-123456789012345678901234567890.123456789e-30",
    // The grammar has no range: this is JSON (Value::parse refuses it as out of range).
    "1e400",
    "\"\"",
    "\"abc\"",
    r#""\" \\ \/ \b \f \n \r \t""#,
    r#""\u0041\u00e9\u00E9""#,
    r#""\u0000""#,
    r#""\uD83D\uDE00""#,
    r#""\ud83d\ude00""#,
    "\"é日本😀\"",
    "\"\u{7f}\"",
    "[]",
    "{}",
    "[1,2,3]",
    "[[],{},[[]]]",
    r#"{"a":1}"#,
    r#"{"":""}"#,
    r#"{"a":{"b":[true,false,null]}}"#,
    " \t\r\n[ 1 , { \"a\" : [ ] } ]\n ",
    "\n\"x\"\n",
];

/// (document, offset, reason)
const INVALID: &[(&str, usize, &str)] = &[
    ("", 0, "unexpected end of input"),
    ("   ", 3, "unexpected end of input"),
    ("01", 1, "leading zeros are not allowed"),
    ("-01", 2, "leading zeros are not allowed"),
    ("00", 1, "leading zeros are not allowed"),
    ("1.", 2, "expected a digit after '.'"),
    ("1.e5", 2, "expected a digit after '.'"),
    (".5", 0, "expected a value"),
    ("-", 1, "expected a digit"),
    ("-a", 1, "expected a digit"),
    ("1e", 2, "expected a digit in the exponent"),
    ("1e+", 3, "expected a digit in the exponent"),
    ("1E-x", 3, "expected a digit in the exponent"),
    ("+1", 0, "expected a value"),
    ("0x10", 1, "unexpected data after the value"),
    ("1 2", 2, "unexpected data after the value"),
    ("NaN", 0, "expected a value"),
    ("Infinity", 0, "expected a value"),
    ("-Infinity", 1, "expected a digit"),
    ("[1,]", 3, "expected a value"),
    ("[,1]", 1, "expected a value"),
    (r#"{"a":1,}"#, 7, "expected a string key"),
    ("[1 2]", 3, "expected ',' or ']'"),
    ("[1}", 2, "expected ',' or ']'"),
    (r#"{"a":1]"#, 6, "expected ',' or '}'"),
    (r#"{"a" 1}"#, 5, "expected ':'"),
    (r#"{"a":1 "b":2}"#, 7, "expected ',' or '}'"),
    ("{a:1}", 1, "expected a string key"),
    ("{'a':1}", 1, "expected a string key"),
    (r#"{"a"}"#, 4, "expected ':'"),
    (r#"{"a":}"#, 5, "expected a value"),
    ("[1]]", 3, "unexpected data after the value"),
    ("[", 1, "unexpected end of input"),
    ("{", 1, "unexpected end of input"),
    ("[1,", 3, "unexpected end of input"),
    ("[1", 2, "unexpected end of input"),
    (r#"{"a":"#, 5, "unexpected end of input"),
    (r#"{"a""#, 4, "unexpected end of input"),
    ("\"abc", 0, "unterminated string"),
    (r#""a\""#, 0, "unterminated string"),
    (r#""a\"#, 0, "unterminated string"),
    (r#""\x""#, 1, "invalid escape sequence"),
    (r#""\'""#, 1, "invalid escape sequence"),
    (r#""\u12""#, 1, "invalid \\u escape (needs 4 hex digits)"),
    (r#""\u12G4""#, 1, "invalid \\u escape (needs 4 hex digits)"),
    (r#""\u+123""#, 1, "invalid \\u escape (needs 4 hex digits)"),
    (r#""\U0041""#, 1, "invalid escape sequence"),
    (r#""\uD800""#, 1, "unpaired surrogate in \\u escape"),
    (r#""\uDC00""#, 1, "unpaired surrogate in \\u escape"),
    (r#""\uDBFF\u0041""#, 1, "unpaired surrogate in \\u escape"),
    (r#""\uD800\n""#, 1, "unpaired surrogate in \\u escape"),
    (r#""\uD800\uD800""#, 1, "unpaired surrogate in \\u escape"),
    (r#""x\uDE00\uD83D""#, 2, "unpaired surrogate in \\u escape"),
    (
        "\"a\nb\"",
        2,
        "control character in string (must be escaped)",
    ),
    ("\"\t\"", 1, "control character in string (must be escaped)"),
    (
        "\"\u{0}\"",
        1,
        "control character in string (must be escaped)",
    ),
    ("\u{feff}{}", 0, "expected a value"),
    ("{} x", 3, "unexpected data after the value"),
    ("{}\u{0}", 2, "unexpected data after the value"),
    ("// comment\n1", 0, "expected a value"),
    ("/* c */ 1", 0, "expected a value"),
    ("[1]/**/", 3, "unexpected data after the value"),
    ("[1,/*c*/2]", 3, "expected a value"),
    ("tru", 0, "expected true, false or null"),
    ("nul", 0, "expected true, false or null"),
    ("True", 0, "expected a value"),
    ("truex", 4, "unexpected data after the value"),
    ("[true false]", 6, "expected ',' or ']'"),
    ("\u{a0}1", 0, "expected a value"),
    ("\u{b}1", 0, "expected a value"),
    ("\u{c}1", 0, "expected a value"),
    ("'a'", 0, "expected a value"),
    ("undefined", 0, "expected a value"),
];

#[test]
fn valid_documents_are_accepted_by_every_entry_point() {
    for document in VALID {
        assert_eq!(validate(document), Ok(()), "{document:?}");
        let raw = Raw::parse(document).unwrap();
        assert_eq!(
            raw.raw(),
            document.trim_matches([' ', '\t', '\r', '\n']),
            "{document:?}"
        );
        if *document != "1e400" {
            Value::parse(document).unwrap_or_else(|e| panic!("{document:?}: {e}"));
        }
    }
}

#[test]
fn invalid_documents_are_refused_with_the_place_and_reason() {
    for &(document, offset, reason) in INVALID {
        let expected = Err(JsonError { offset, reason });
        assert_eq!(validate(document), expected, "{document:?}");
        assert_eq!(Raw::parse(document).map(|_| ()), expected, "{document:?}");
        assert_eq!(Value::parse(document).map(|_| ()), expected, "{document:?}");
    }
}

#[test]
fn errors_display_the_offset_and_reason() {
    let error = validate(r#"{"amount" 3}"#).unwrap_err();
    assert_eq!(error.to_string(), "at byte 10: expected ':'");
}

fn nested_arrays(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[test]
fn nesting_is_limited_without_recursion() {
    let too_deep = JsonError {
        offset: MAX_DEPTH,
        reason: "nesting deeper than 32 levels",
    };
    assert_eq!(validate(&nested_arrays(MAX_DEPTH)), Ok(()));
    assert_eq!(validate(&nested_arrays(MAX_DEPTH + 1)), Err(too_deep));
    assert_eq!(
        Value::parse(&nested_arrays(MAX_DEPTH + 1)).map(|_| ()),
        Err(too_deep)
    );
    assert_eq!(validate(&nested_objects(MAX_DEPTH)), Ok(()));
    let object_error = validate(&nested_objects(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(object_error.offset, MAX_DEPTH * 5);
    let parsed = Value::parse(&nested_objects(MAX_DEPTH)).unwrap();
    assert_eq!(parsed.to_string(), nested_objects(MAX_DEPTH));
    // Far deeper than any stack could recurse: refused at the limit, not a crash.
    let abyss = "[".repeat(1_000_000);
    assert_eq!(validate(&abyss), Err(too_deep));
    assert_eq!(Value::parse(&abyss).map(|_| ()), Err(too_deep));
    // `{"a":[` opens two levels in 6 bytes: the 33rd level opens at byte 16 × 6.
    let abyss_of_objects = "{\"a\":[".repeat(100_000);
    let error = JsonError {
        offset: 96,
        reason: too_deep.reason,
    };
    assert_eq!(get(&abyss_of_objects, "a").map(|_| ()), Err(error));
}

#[test]
fn big_numbers_are_grammatical_and_kept_exact_when_integers() {
    let big = "1".repeat(5000);
    assert_eq!(validate(&big), Ok(()));
    assert!(matches!(
        Value::parse(&big),
        Err(JsonError {
            reason: "number out of range",
            ..
        })
    ));
    assert!(matches!(
        Value::parse("-1e400"),
        Err(JsonError { offset: 0, .. })
    ));
    assert_eq!(
        Value::parse("[1e400]").unwrap_err(),
        JsonError {
            offset: 1,
            reason: "number out of range"
        }
    );
    let tiny = format!("0.{}1", "0".repeat(5000));
    assert_eq!(Value::parse(&tiny).unwrap().as_f64(), Some(0.0));
    assert_eq!(
        Value::parse("18446744073709551615").unwrap().as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(
        Value::parse("-9223372036854775808").unwrap().as_i64(),
        Some(i64::MIN)
    );
    assert_eq!(Value::parse("1e2").unwrap().as_i64(), Some(100));
}

const SAMPLES: &[&str] = &[
    r#"{"from":"alice","to":"bob","amount":5,"memo":null,"tags":["rent","may"]}"#,
    r#"{"a":[1,-2.5e3,{"b":"\u00e9\ud83d\ude00\n"}],"c":true,"d":false,"e":{}}"#,
    r#"[0,1e10,-0.0,"x\\y\"z",[[[]]],{"k":{"k":{"k":[null]}}}]"#,
    r#"{"esc\"aped":"tab\there","n":18446744073709551615,"m":-9223372036854775808}"#,
    " [ \"spaced\" , 1 , { \"k\" : 2 } ] ",
    "\"just a string with ünïcödé\"",
];

/// Pieces a mutation inserts: JSON punctuation and the starts of tokens, so mutants stay close
/// to the grammar and reach deep into it.
const PIECES: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\uD800", "\\uDC00", "0", "1", "-", ".", "e",
    "+", " ", "\n", "null", "true", "fals", "é", "😀", "\u{0}", "1e400", "\"k\":", "[[[[",
];

fn mutate(rng: &mut Rng, sample: &str) -> String {
    let mut chars: Vec<char> = sample.chars().collect();
    for _ in 0..1 + rng.index(4) {
        let at = rng.index(chars.len() + 1);
        match rng.index(5) {
            0 if !chars.is_empty() => {
                chars.remove(at.min(chars.len() - 1));
            }
            1 if !chars.is_empty() => {
                let end = (at + rng.index(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            2 if at < chars.len() => {
                let end = (at + rng.index(12)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                let to = rng.index(chars.len() + 1);
                chars.splice(to..to, copy);
            }
            3 if !chars.is_empty() => {
                let keep = rng.index(chars.len());
                chars.truncate(keep);
            }
            _ => {
                let piece = PIECES[rng.index(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
        }
    }
    chars.into_iter().collect()
}

/// Walks a raw value and the parsed value of the same document side by side: both views of
/// a document must agree.
fn assert_same(raw: Raw<'_>, value: &Value, document: &str) {
    assert_eq!(raw.kind(), value.kind(), "{document:?}");
    match value {
        Value::Null => assert!(raw.is_null()),
        Value::Bool(b) => assert_eq!(raw.as_bool(), Some(*b)),
        Value::Number(number) => {
            match number {
                Number::Int(_) | Number::UInt(_) => {
                    assert_eq!(raw.as_i64(), number.as_i64(), "{document:?}: {}", raw.raw());
                    assert_eq!(raw.as_u64(), number.as_u64(), "{document:?}: {}", raw.raw());
                }
                // Not an integer in range when read exactly (a float may still round to one:
                // `18446744073795516.15` has more digits than an f64 keeps).
                Number::Float(_) => assert_eq!((raw.as_i64(), raw.as_u64()), (None, None)),
            }
            // One correctly rounded converter behind both, and the nearest f64 of an exact
            // integer is the same number: equal (bit for bit, but for `-0`, which is `Int(0)`).
            let raw_float = raw.as_f64().unwrap();
            assert_eq!(raw_float, number.as_f64(), "{document:?}: {}", raw.raw());
            if let Number::Float(float) = number {
                assert_eq!(raw_float.to_bits(), float.to_bits(), "{document:?}");
            }
        }
        Value::String(s) => {
            assert_eq!(raw.as_string().as_deref(), Some(s.as_str()));
            assert!(raw.str_eq(s));
            let mut written = String::new();
            raw.write_str_unescaped(&mut written).unwrap();
            assert_eq!(&written, s);
        }
        Value::Array(elements) => {
            assert_eq!(raw.elements().count(), elements.len(), "{document:?}");
            for (raw_element, element) in raw.elements().zip(elements) {
                assert_same(raw_element, element, document);
            }
        }
        Value::Object(members) => {
            assert_eq!(raw.members().count(), members.len(), "{document:?}");
            for ((raw_key, raw_value), (key, value)) in raw.members().zip(members) {
                assert!(raw_key.str_eq(key));
                assert_same(raw_value, value, document);
                let found = raw.get(key).unwrap().unwrap();
                assert_eq!(found.offset(), raw_value.offset());
            }
        }
    }
    assert!(document[raw.offset()..].starts_with(raw.raw()));
}

#[test]
fn mutated_documents_never_panic_and_every_entry_point_agrees() {
    let schema = zb_json::Schema::parse(
        r#"{"type":["object","array","string"],"required":["from"],
            "properties":{"amount":{"type":"integer","minimum":0},"tags":{"items":{"maxLength":3}}},
            "additionalProperties":{"type":["string","number","null","array","object"]},
            "items":{"enum":[0,1,"x"]},"minLength":2}"#,
    )
    .unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..6000 {
        let sample = SAMPLES[case % SAMPLES.len()];
        let document = mutate(&mut rng, sample);
        let validated = validate(&document);
        assert_eq!(Raw::parse(&document).map(|_| ()), validated, "{document:?}");
        let parsed = Value::parse(&document);
        match (&validated, &parsed) {
            (Err(error), _) => {
                invalid += 1;
                assert!(error.offset <= document.len(), "{document:?}: {error}");
                // The same error, unless Value::parse met one of its own refusals first.
                let parse_error = parsed.as_ref().unwrap_err();
                assert!(
                    parse_error == error
                        || (matches!(parse_error.reason, "duplicate key" | "number out of range")
                            && parse_error.offset <= error.offset),
                    "{document:?}: {parse_error} vs {error}"
                );
            }
            (Ok(()), Err(error)) => {
                assert!(
                    matches!(error.reason, "duplicate key" | "number out of range"),
                    "{document:?}: {error}"
                );
            }
            (Ok(()), Ok(value)) => {
                valid += 1;
                assert_same(Raw::parse(&document).unwrap(), value, &document);
                let written = value.to_string();
                assert_eq!(
                    &Value::parse(&written).unwrap(),
                    value,
                    "{document:?} -> {written}"
                );
            }
        }
        let _ = get(&document, "from");
        let _ = get(&document, "esc\"aped");
        let _ = schema
            .validate_text(&document)
            .map_err(|violation| violation.to_string());
    }
    // Both sides of the grammar were exercised.
    assert!(
        valid > 600 && invalid > 600,
        "valid {valid}, invalid {invalid}"
    );
}
