//! `get` and `Raw`: reading fields straight out of a payload's text.

use zb_json::{JsonError, Kind, Raw, get};

const PAYLOAD: &str = r#" {
    "to": "bob",
    "amount": 1500,
    "fee": -2.5e-1,
    "rate": 1e2,
    "settled": true,
    "voided": false,
    "memo": null,
    "tags": ["rent", "may", 3, {"k": [1]}],
    "meta": {"source": {"app": "ledger", "ver\"sion": 2}, "empty": {}},
    "caf\u00e9": "latte",
    "a/b": "slash",
    "line\nbreak": "escaped key",
    "greeting": "h\u00e9llo \"w\u00f6rld\"\n\ud83d\ude00",
    "big": 18446744073709551615,
    "min": -9223372036854775808
} "#;

fn field(key: &str) -> Raw<'static> {
    get(PAYLOAD, key)
        .unwrap()
        .unwrap_or_else(|| panic!("no {key:?}"))
}

#[test]
fn values_of_every_kind() {
    let to = field("to");
    assert_eq!(
        (to.kind(), to.raw(), to.as_plain_str()),
        (Kind::String, "\"bob\"", Some("bob"))
    );
    assert!(to.str_eq("bob") && !to.str_eq("bo") && !to.str_eq("bobby"));
    assert_eq!(
        (to.as_i64(), to.as_bool(), to.is_null()),
        (None, None, false)
    );

    let amount = field("amount");
    assert_eq!(amount.kind(), Kind::Number);
    assert_eq!(
        (amount.as_i64(), amount.as_u64(), amount.as_f64()),
        (Some(1500), Some(1500), Some(1500.0))
    );
    assert_eq!(amount.as_plain_str(), None);
    assert!(!amount.str_eq("1500"));

    let fee = field("fee");
    assert_eq!(
        (fee.as_i64(), fee.as_u64(), fee.as_f64()),
        (None, None, Some(-0.25))
    );
    assert_eq!(fee.raw(), "-2.5e-1");
    let rate = field("rate");
    assert_eq!((rate.as_i64(), rate.as_f64()), (Some(100), Some(100.0)));

    assert_eq!(field("settled").as_bool(), Some(true));
    assert_eq!(field("voided").as_bool(), Some(false));
    assert_eq!(field("voided").kind(), Kind::Bool);
    assert!(field("memo").is_null());
    assert_eq!(field("memo").kind(), Kind::Null);
    assert_eq!(field("memo").as_bool(), None);

    assert_eq!(field("big").as_u64(), Some(u64::MAX));
    assert_eq!(field("big").as_i64(), None);
    assert_eq!(field("min").as_i64(), Some(i64::MIN));
    assert_eq!(field("min").as_u64(), None);

    let tags = field("tags");
    assert_eq!(tags.kind(), Kind::Array);
    assert_eq!(tags.raw(), r#"["rent", "may", 3, {"k": [1]}]"#);
    let elements: Vec<&str> = tags.elements().map(|element| element.raw()).collect();
    assert_eq!(elements, ["\"rent\"", "\"may\"", "3", r#"{"k": [1]}"#]);
    assert_eq!(tags.members().count(), 0);
    assert_eq!(
        tags.get("k").unwrap_err(),
        (JsonError {
            offset: tags.offset(),
            reason: "expected an object"
        })
    );

    let meta = field("meta");
    assert_eq!(meta.kind(), Kind::Object);
    assert_eq!(meta.elements().count(), 0);
    let keys: Vec<String> = meta
        .members()
        .map(|(key, _)| key.str_chars().unwrap().collect())
        .collect();
    assert_eq!(keys, ["source", "empty"]);
    assert_eq!(meta.get("empty").unwrap().unwrap().raw(), "{}");
    assert_eq!(meta.get("empty").unwrap().unwrap().members().count(), 0);
}

#[test]
fn nested_lookups_and_escaped_keys() {
    let source = field("meta").get("source").unwrap().unwrap();
    assert!(source.get("app").unwrap().unwrap().str_eq("ledger"));
    assert_eq!(source.get("ver\"sion").unwrap().unwrap().as_i64(), Some(2));
    assert_eq!(source.get("version").unwrap().map(|raw| raw.raw()), None);
    // Keys are compared unescaped.
    assert!(field("café").str_eq("latte"));
    assert!(get(PAYLOAD, "caf\\u00e9").unwrap().is_none());
    assert!(field("a/b").str_eq("slash"));
    assert!(field("line\nbreak").str_eq("escaped key"));
    // Only top-level members: "app" is nested.
    assert!(get(PAYLOAD, "app").unwrap().is_none());
    assert!(get(PAYLOAD, "").unwrap().is_none());
    assert_eq!(get(r#"{"":0}"#, "").unwrap().unwrap().as_i64(), Some(0));
    // Every Raw knows where it is in the document.
    let tag = field("tags").elements().nth(3).unwrap();
    let k = tag.get("k").unwrap().unwrap();
    assert_eq!(&PAYLOAD[k.offset()..k.offset() + 3], "[1]");
    assert_eq!(k.elements().next().unwrap().as_u64(), Some(1));
}

#[test]
fn escaped_strings_are_decoded_on_demand() {
    let greeting = field("greeting");
    let expected = "héllo \"wörld\"\n😀";
    assert_eq!(greeting.as_plain_str(), None);
    assert!(greeting.str_eq(expected));
    assert!(!greeting.str_eq("héllo"));
    assert_eq!(greeting.str_chars().unwrap().collect::<String>(), expected);
    #[cfg(feature = "alloc")]
    assert_eq!(greeting.as_string().as_deref(), Some(expected));
    let mut written = String::new();
    greeting.write_str_unescaped(&mut written).unwrap();
    assert_eq!(written, expected);
    let mut plain = String::new();
    field("to").write_str_unescaped(&mut plain).unwrap();
    assert_eq!(plain, "bob");
    // Not a string: nothing written, an error returned.
    let mut nothing = String::new();
    assert!(field("amount").write_str_unescaped(&mut nothing).is_err());
    assert_eq!(nothing, "");
    assert_eq!(field("amount").str_chars().map(|_| ()), None);

    let all_escapes =
        Raw::parse(r#""\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u20AC\uD834\uDD1E""#).unwrap();
    assert_eq!(
        all_escapes.str_chars().unwrap().collect::<String>(),
        "\"\\/\u{8}\u{c}\n\r\t\u{0}\u{1f}é€𝄞"
    );
}

#[test]
fn the_whole_document_is_checked() {
    // The member is found before the error, but the answer is the error.
    assert_eq!(
        get(r#"{"a":1,"b":}"#, "a").unwrap_err(),
        (JsonError {
            offset: 11,
            reason: "expected a value"
        })
    );
    assert_eq!(
        get(r#"{"a":1} {"#, "a").map(|_| ()),
        Err(JsonError {
            offset: 8,
            reason: "unexpected data after the value"
        })
    );
    assert_eq!(
        get("", "a").unwrap_err(),
        (JsonError {
            offset: 0,
            reason: "unexpected end of input"
        })
    );
    assert_eq!(
        get(" [1]", "a").unwrap_err(),
        (JsonError {
            offset: 1,
            reason: "expected an object"
        })
    );
    assert_eq!(
        get("\"a\"", "a").unwrap_err(),
        (JsonError {
            offset: 0,
            reason: "expected an object"
        })
    );
    // A key asked for that occurs twice is ambiguous: refused at the second occurrence.
    assert_eq!(
        get(r#"{"a":1,"b":2,"\u0061":3}"#, "a").unwrap_err(),
        (JsonError {
            offset: 13,
            reason: "duplicate key"
        })
    );
    assert_eq!(
        get(r#"{"a":1,"b":2,"b":3}"#, "a")
            .unwrap()
            .unwrap()
            .as_i64(),
        Some(1)
    );
    let inner = Raw::parse(r#"{"x":{"k":1,"k":2}}"#)
        .unwrap()
        .get("x")
        .unwrap()
        .unwrap();
    assert_eq!(
        inner.get("k").unwrap_err(),
        (JsonError {
            offset: 12,
            reason: "duplicate key"
        })
    );
}

#[test]
fn raw_parse_trims_whitespace_and_keeps_offsets() {
    let raw = Raw::parse("  \n[1, 2]\t").unwrap();
    assert_eq!((raw.raw(), raw.offset()), ("[1, 2]", 3));
    let sum: i64 = raw.elements().filter_map(|element| element.as_i64()).sum();
    assert_eq!(sum, 3);
    assert_eq!(
        Raw::parse(" 1 x").unwrap_err(),
        JsonError {
            offset: 3,
            reason: "unexpected data after the value"
        }
    );
    assert_eq!(Kind::Bool.name(), "boolean");
    assert_eq!(Kind::Object.to_string(), "object");
}
