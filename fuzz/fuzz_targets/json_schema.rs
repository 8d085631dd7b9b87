//! Fuzz target `json_schema`: the JSON Schema subset event payloads are checked against at
//! EMIT (`zb_json::Schema`): parsing a schema document, and checking a payload.
//!
//! The input is UTF-8 text `SCHEMA \0 PAYLOAD` (a NUL cannot occur in JSON; without one the
//! text is both). Beyond "never panics" it asserts:
//! - a schema is refused as `NotJson` exactly when it is not a JSON value, and an `Invalid`
//!   refusal and every `Mismatch` name a JSON pointer (`/…`);
//! - `validate_text` is `Value::parse` then `validate`;
//! - the verdict depends on the payload's value, not its spelling: the payload re-written by
//!   `Display` gets the same verdict;
//! - the boolean schemas and `{}` behave as JSON Schema says (accept all / refuse all).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_json::{Schema, SchemaError, Value, Violation};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (schema_text, payload) = text.split_once('\0').unwrap_or((text, text));
    let schema = Schema::parse(schema_text);
    match &schema {
        Err(SchemaError::NotJson(e)) => {
            assert!(Value::parse(schema_text).is_err());
            assert!(e.offset <= schema_text.len());
        }
        Err(SchemaError::Invalid { path, message }) => {
            assert!(Value::parse(schema_text).is_ok());
            assert!(path.starts_with('/'), "{path}: {message}");
            assert!(!message.is_empty());
        }
        Ok(_) => assert!(Value::parse(schema_text).is_ok()),
    }

    let value = Value::parse(payload);
    if let Ok(v) = &value {
        for always in ["true", "{}"] {
            let s = Schema::parse(always).expect("a schema");
            assert_eq!(s.validate(v), Ok(()), "{always} accepts {v}");
        }
        let never = Schema::parse("false").expect("a schema");
        assert!(never.validate(v).is_err(), "false refuses {v}");
    }

    let Ok(schema) = schema else {
        return;
    };
    let verdict = schema.validate_text(payload);
    match (&value, &verdict) {
        (Err(e), Err(Violation::NotJson(v))) => assert_eq!(e, v),
        (Err(e), _) => panic!("payload is not JSON ({e}) but the verdict is {verdict:?}"),
        (Ok(v), _) => {
            assert_eq!(schema.validate(v), verdict);
            if let Err(Violation::Mismatch { path, message }) = &verdict {
                assert!(path.starts_with('/'), "{path}: {message}");
            }
            assert!(!matches!(verdict, Err(Violation::NotJson(_))));
            let respelled = v.to_string();
            assert_eq!(
                schema.validate_text(&respelled).is_ok(),
                verdict.is_ok(),
                "{payload:?} and {respelled:?} get different verdicts"
            );
        }
    }
});
