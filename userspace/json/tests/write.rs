//! The writer: escaping, containers, and that what it writes reads back.

// Value and Schema (and the round trips through them) need the `alloc` feature.
#![cfg(feature = "alloc")]

use core::fmt;

use zb_json::{ArrayWriter, ObjectWriter, Raw, Value, validate, write_escaped};

fn escaped(s: &str) -> String {
    let mut out = String::new();
    write_escaped(&mut out, s).unwrap();
    out
}

#[test]
fn strings_are_escaped_minimally() {
    assert_eq!(escaped(""), r#""""#);
    assert_eq!(escaped("plain"), r#""plain""#);
    assert_eq!(escaped("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(escaped("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
    assert_eq!(escaped("\u{0}\u{1}\u{1f}"), r#""\u0000\u0001\u001f""#);
    // Everything else is written as is: `/`, DEL, non-ASCII, astral characters.
    assert_eq!(escaped("/\u{7f}é€😀\u{2028}"), "\"/\u{7f}é€😀\u{2028}\"");
}

#[test]
fn every_escaped_string_reads_back() {
    let mut all: String = (0u32..0x800).filter_map(char::from_u32).collect();
    all.push_str("😀\u{10ffff}\u{fffd}");
    for s in [all.as_str(), "\"", "\\", "\\u0041", "end\\"] {
        let written = escaped(s);
        assert_eq!(validate(&written), Ok(()));
        assert_eq!(Raw::parse(&written).unwrap().as_string().unwrap(), s);
    }
}

#[test]
fn objects_and_arrays_nest() -> fmt::Result {
    let mut out = String::new();
    let mut object = ObjectWriter::begin(&mut out)?;
    object.field_str("to", "bob \"the\" builder")?;
    object.field_i64("amount", -3)?;
    object.field_u64("big", u64::MAX)?;
    object.field_bool("settled", true)?;
    object.field_null("memo")?;
    object.field_raw("copied", r#"{"k":[1,2]}"#)?;
    object.field_object("meta", |meta| {
        meta.field_str("app", "ledger")?;
        meta.field_object("empty", |_| Ok(()))
    })?;
    object.field_array("tags", |tags| {
        tags.item_str("rent")?;
        tags.item_i64(i64::MIN)?;
        tags.item_u64(7)?;
        tags.item_bool(false)?;
        tags.item_null()?;
        tags.item_raw("1.5e3")?;
        tags.item_object(|inner| inner.field_i64("n", 1))?;
        tags.item_array(|inner| inner.item_array(|_| Ok(())))
    })?;
    object.finish()?;
    assert_eq!(
        out,
        concat!(
            r#"{"to":"bob \"the\" builder","amount":-3,"big":18446744073709551615,"#,
            r#""settled":true,"memo":null,"copied":{"k":[1,2]},"meta":{"app":"ledger","empty":{}},"#,
            r#""tags":["rent",-9223372036854775808,7,false,null,1.5e3,{"n":1},[[]]]}"#
        )
    );
    let value = Value::parse(&out).unwrap();
    assert_eq!(
        value.get("to").and_then(Value::as_str),
        Some("bob \"the\" builder")
    );

    let mut empty = String::new();
    ArrayWriter::begin(&mut empty)?.finish()?;
    ObjectWriter::begin(&mut empty)?.finish()?;
    assert_eq!(empty, "[]{}");
    Ok(())
}

/// A sink that fails once it has taken `capacity` bytes, like a full buffer.
struct Full {
    taken: usize,
    capacity: usize,
}

impl fmt::Write for Full {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.taken += s.len();
        if self.taken > self.capacity {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_failing_sink_is_an_error_not_a_panic() {
    for capacity in 0..40 {
        let mut sink = Full { taken: 0, capacity };
        let result = (|| {
            let mut object = ObjectWriter::begin(&mut sink)?;
            object.field_str("key", "a\nvalue")?;
            object.field_array("list", |list| list.item_i64(12345))?;
            object.finish()
        })();
        // `{"key":"a\nvalue","list":[12345]}` is 33 bytes.
        assert_eq!(result.is_ok(), capacity >= 33, "capacity {capacity}");
    }
}

#[test]
fn values_display_as_compact_json_that_reads_back() {
    let text =
        r#" { "a" : [ 1 , -0.5 , 1e300 , 1e2 , 18446744073709551615 , "\u00e9\n" ] , "b" : { } } "#;
    let value = Value::parse(text).unwrap();
    let written = value.to_string();
    assert_eq!(
        written,
        r#"{"a":[1,-0.5,1e300,100,18446744073709551615,"é\n"],"b":{}}"#
    );
    assert_eq!(Value::parse(&written).unwrap(), value);
    // JSON has no NaN or infinity: a hand-built one is written as null.
    let odd = Value::Array(vec![Value::Number(zb_json::Number::Float(f64::NAN))]);
    assert_eq!(odd.to_string(), "[null]");
}
