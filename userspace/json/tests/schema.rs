//! The JSON Schema subset: schemas refused with a reason, every keyword passing and failing
//! with its exact message, and the example of SCHEMAS.md kept true.

// Value and Schema (and the round trips through them) need the `alloc` feature.
#![cfg(feature = "alloc")]

use zb_json::{JsonError, Schema, SchemaError, Value, Violation};

/// (schema, the refusal as displayed)
const REFUSED_SCHEMAS: &[(&str, &str)] = &[
    (
        r##"{"$ref":"#/$defs/x"}"##,
        r#"/: unsupported keyword "$ref""#,
    ),
    (
        r##"{"properties":{"to":{"$ref":"#"}}}"##,
        r#"/properties/to: unsupported keyword "$ref""#,
    ),
    (
        r#"{"type":"object","anyOf":[]}"#,
        r#"/: unsupported keyword "anyOf""#,
    ),
    (r#"{"pattern":"^a"}"#, r#"/: unsupported keyword "pattern""#),
    (
        r#"{"format":"email"}"#,
        r#"/: unsupported keyword "format""#,
    ),
    (
        r#"{"multipleOf":2}"#,
        r#"/: unsupported keyword "multipleOf""#,
    ),
    (
        r#"{"requird":["a"]}"#,
        r#"/: unsupported keyword "requird""#,
    ),
    (
        r#"{"items":{"items":{"$defs":{}}}}"#,
        r#"/items/items: unsupported keyword "$defs""#,
    ),
    (
        r#"{"additionalProperties":{"x":1}}"#,
        r#"/additionalProperties: unsupported keyword "x""#,
    ),
    (
        r#"{"properties":{"a/b~c":{"\"odd\"":1}}}"#,
        r#"/properties/a~1b~0c: unsupported keyword "\"odd\"""#,
    ),
    (
        r#"{"items":[{"type":"string"}]}"#,
        r#"/: "items" as an array (tuple form) is not supported"#,
    ),
    (r#"{"type":"text"}"#, r#"/: unknown type "text" in "type""#),
    (
        r#"{"type":["string","string"]}"#,
        r#"/: type "string" repeated in "type""#,
    ),
    (
        r#"{"type":[]}"#,
        r#"/: "type" must be a type name or a non-empty array of type names"#,
    ),
    (
        r#"{"type":3}"#,
        r#"/: "type" must be a type name or a non-empty array of type names"#,
    ),
    (
        r#"{"type":["string",null]}"#,
        r#"/: "type" must be a type name or a non-empty array of type names"#,
    ),
    (r#"{"enum":[]}"#, r#"/: "enum" must be a non-empty array"#),
    (r#"{"enum":"a"}"#, r#"/: "enum" must be a non-empty array"#),
    (r#"{"minimum":"0"}"#, r#"/: "minimum" must be a number"#),
    (r#"{"maximum":null}"#, r#"/: "maximum" must be a number"#),
    (
        r#"{"minimum":0,"exclusiveMinimum":true}"#,
        r#"/: "exclusiveMinimum" must be a number (the draft-4 boolean form is not supported)"#,
    ),
    (
        r#"{"minLength":-1}"#,
        r#"/: "minLength" must be a non-negative integer"#,
    ),
    (
        r#"{"maxLength":1.5}"#,
        r#"/: "maxLength" must be a non-negative integer"#,
    ),
    (
        r#"{"minItems":"1"}"#,
        r#"/: "minItems" must be a non-negative integer"#,
    ),
    (
        r#"{"required":"a"}"#,
        r#"/: "required" must be an array of property names"#,
    ),
    (
        r#"{"required":[1]}"#,
        r#"/: "required" must be an array of property names"#,
    ),
    (
        r#"{"required":["a","a"]}"#,
        r#"/: property "a" repeated in "required""#,
    ),
    (
        r#"{"properties":[]}"#,
        r#"/: "properties" must be an object of schemas"#,
    ),
    (
        r#"{"properties":{"a":3}}"#,
        "/properties/a: a schema must be an object or a boolean",
    ),
    (
        r#"{"items":"string"}"#,
        "/items: a schema must be an object or a boolean",
    ),
    (r#""string""#, "/: a schema must be an object or a boolean"),
    ("null", "/: a schema must be an object or a boolean"),
    (
        r#"{"type":"string",}"#,
        "schema is not valid JSON: at byte 17: expected a string key",
    ),
    (
        r#"{"type":"string","type":"number"}"#,
        "schema is not valid JSON: at byte 17: duplicate key",
    ),
    (
        "",
        "schema is not valid JSON: at byte 0: unexpected end of input",
    ),
];

#[test]
fn unsupported_and_malformed_schemas_are_refused_with_a_reason() {
    for &(schema, expected) in REFUSED_SCHEMAS {
        match Schema::parse(schema) {
            Ok(_) => panic!("accepted {schema}"),
            Err(error) => assert_eq!(error.to_string(), expected, "{schema}"),
        }
    }
    assert_eq!(
        Schema::parse(r##"{"$ref":"#"}"##).unwrap_err(),
        SchemaError::Invalid {
            path: "/".into(),
            message: r#"unsupported keyword "$ref""#.into()
        }
    );
    assert_eq!(
        Schema::parse("{").unwrap_err(),
        SchemaError::NotJson(JsonError {
            offset: 1,
            reason: "unexpected end of input"
        })
    );
}

#[test]
fn annotations_are_accepted_and_assert_nothing() {
    let schema = Schema::parse(
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"urn:x",
            "title":"t","description":"d","examples":[1,"a"],"default":{"a":1},"$comment":"c"}"#,
    )
    .unwrap();
    for payload in ["null", "1", "\"x\"", "[1]", r#"{"a":[]}"#] {
        assert_eq!(schema.validate_text(payload), Ok(()), "{payload}");
    }
    // Integer-valued counts are integers, however spelled.
    assert!(Schema::parse(r#"{"maxItems":2.0,"minLength":1e1}"#).is_ok());
}

/// Checks `payload` against `schema`: `None` if accepted, else the violation as displayed.
fn outcome(schema: &str, payload: &str) -> Option<String> {
    let schema = Schema::parse(schema).unwrap_or_else(|e| panic!("{schema}: {e}"));
    schema
        .validate_text(payload)
        .err()
        .map(|violation| violation.to_string())
}

/// (schema, payload, `None` if accepted or the violation as displayed)
const CASES: &[(&str, &str, Option<&str>)] = &[
    // type
    (r#"{"type":"string"}"#, r#""x""#, None),
    (
        r#"{"type":"string"}"#,
        "1",
        Some("/: expected string, found integer"),
    ),
    (
        r#"{"type":"string"}"#,
        "1.5",
        Some("/: expected string, found number"),
    ),
    (
        r#"{"type":"string"}"#,
        "null",
        Some("/: expected string, found null"),
    ),
    (r#"{"type":"null"}"#, "null", None),
    (r#"{"type":"boolean"}"#, "false", None),
    (
        r#"{"type":"boolean"}"#,
        "0",
        Some("/: expected boolean, found integer"),
    ),
    (r#"{"type":"array"}"#, "[]", None),
    (
        r#"{"type":"object"}"#,
        "[]",
        Some("/: expected object, found array"),
    ),
    (r#"{"type":["string","null"]}"#, "null", None),
    (
        r#"{"type":["string","null"]}"#,
        "true",
        Some("/: expected null or string, found boolean"),
    ),
    (
        r#"{"type":["array","integer","string"]}"#,
        "{}",
        Some("/: expected integer, string or array, found object"),
    ),
    (r#"{"type":"integer"}"#, "7", None),
    (r#"{"type":"integer"}"#, "1.0", None),
    (r#"{"type":"integer"}"#, "1e2", None),
    (r#"{"type":"integer"}"#, "1e300", None),
    (
        r#"{"type":"integer"}"#,
        "1.5",
        Some("/: expected integer, found number"),
    ),
    (r#"{"type":"number"}"#, "7", None),
    (r#"{"type":"number"}"#, "-7.25e-3", None),
    // enum
    (r#"{"enum":["a","b"]}"#, r#""a""#, None),
    (
        r#"{"enum":["a","b"]}"#,
        r#""x""#,
        Some(r#"/: "x" is not one of ["a","b"]"#),
    ),
    (
        r#"{"enum":["a","b"]}"#,
        "null",
        Some(r#"/: null is not one of ["a","b"]"#),
    ),
    (r#"{"enum":[1,{"k":[null]}]}"#, "1.0", None),
    (r#"{"enum":[1,{"k":[null]}]}"#, r#"{"k":[null]}"#, None),
    (
        r#"{"enum":[1,{"k":[null]}]}"#,
        r#"{"k":[]}"#,
        Some(r#"/: {"k":[]} is not one of [1,{"k":[null]}]"#),
    ),
    (r#"{"enum":[{"a":1,"b":2}]}"#, r#"{"b":2.0,"a":1}"#, None),
    (
        r#"{"enum":[{"a":1,"b":2}]}"#,
        r#"{"a":1}"#,
        Some(r#"/: {"a":1} is not one of [{"a":1,"b":2}]"#),
    ),
    // const
    (r#"{"const":1}"#, "1.0", None),
    (r#"{"const":1}"#, "2", Some("/: 2 is not the constant 1")),
    (
        r#"{"const":"v1"}"#,
        r#""v2""#,
        Some(r#"/: "v2" is not the constant "v1""#),
    ),
    (r#"{"const":{"v":[1,"a"]}}"#, r#"{"v":[1,"a"]}"#, None),
    (
        r#"{"const":{"v":[1,"a"]}}"#,
        r#"{"v":["a",1]}"#,
        Some(r#"/: {"v":["a",1]} is not the constant {"v":[1,"a"]}"#),
    ),
    // minimum, maximum, exclusiveMinimum, exclusiveMaximum
    (r#"{"minimum":0}"#, "0", None),
    (
        r#"{"minimum":0}"#,
        "-3",
        Some("/: -3 is less than minimum 0"),
    ),
    (
        r#"{"minimum":0}"#,
        "-0.5",
        Some("/: -0.5 is less than minimum 0"),
    ),
    (r#"{"minimum":0}"#, r#""-3""#, None),
    (r#"{"maximum":10}"#, "10", None),
    (
        r#"{"maximum":10}"#,
        "10.5",
        Some("/: 10.5 is greater than maximum 10"),
    ),
    (r#"{"maximum":0.3}"#, "0.3", None),
    (
        r#"{"maximum":0.3}"#,
        "0.30000000000000004",
        Some("/: 0.30000000000000004 is greater than maximum 0.3"),
    ),
    (r#"{"exclusiveMinimum":0}"#, "0.001", None),
    (
        r#"{"exclusiveMinimum":0}"#,
        "0",
        Some("/: 0 is not greater than exclusiveMinimum 0"),
    ),
    (r#"{"exclusiveMaximum":1.5}"#, "1", None),
    (
        r#"{"exclusiveMaximum":1.5}"#,
        "1.5",
        Some("/: 1.5 is not less than exclusiveMaximum 1.5"),
    ),
    // Exact for integers beyond 2^53, where an f64 comparison would call these equal.
    (
        r#"{"minimum":9223372036854775807}"#,
        "9223372036854775806",
        Some("/: 9223372036854775806 is less than minimum 9223372036854775807"),
    ),
    (
        r#"{"maximum":18446744073709551614}"#,
        "18446744073709551615",
        Some("/: 18446744073709551615 is greater than maximum 18446744073709551614"),
    ),
    (r#"{"minimum":1,"maximum":1}"#, "1e0", None),
    // Beyond the integers kept exactly, both sides are the nearest f64 of the same number,
    // however it is spelt.
    (
        r#"{"maximum":1e30}"#,
        "1000000000000000000000000000000",
        None,
    ),
    (
        r#"{"minimum":1e30}"#,
        "1000000000000000000000000000000.0",
        None,
    ),
    (
        r#"{"exclusiveMaximum":1e-30}"#,
        "0.000000000000000000000000000001",
        Some("/: 1e-30 is not less than exclusiveMaximum 1e-30"),
    ),
    // minLength, maxLength (Unicode scalar values)
    (r#"{"minLength":3}"#, r#""abc""#, None),
    (r#"{"minLength":3}"#, r#""日本語""#, None),
    (
        r#"{"minLength":3}"#,
        r#""ab""#,
        Some("/: string has 2 characters, fewer than minLength 3"),
    ),
    (
        r#"{"minLength":2}"#,
        r#""\u00e9""#,
        Some("/: string has 1 character, fewer than minLength 2"),
    ),
    (r#"{"maxLength":2}"#, r#""😀😀""#, None),
    (r#"{"maxLength":2}"#, r#""\ud83d\ude00\ud83d\ude00""#, None),
    (
        r#"{"maxLength":2}"#,
        r#""abc""#,
        Some("/: string has 3 characters, more than maxLength 2"),
    ),
    (r#"{"maxLength":2}"#, "123", None),
    // items, minItems, maxItems
    (r#"{"items":{"type":"integer"}}"#, "[1,2,3]", None),
    (
        r#"{"items":{"type":"integer"}}"#,
        r#"[1,2,"x"]"#,
        Some("/2: expected integer, found string"),
    ),
    (
        r#"{"items":{"items":{"const":0}}}"#,
        "[[0],[0,1]]",
        Some("/1/1: 1 is not the constant 0"),
    ),
    (r#"{"items":false}"#, "[]", None),
    (
        r#"{"items":false}"#,
        "[1]",
        Some("/0: no value is allowed here (the schema is false)"),
    ),
    (r#"{"minItems":1}"#, "[0]", None),
    (
        r#"{"minItems":1}"#,
        "[]",
        Some("/: array has 0 items, fewer than minItems 1"),
    ),
    (
        r#"{"maxItems":1}"#,
        "[1,2]",
        Some("/: array has 2 items, more than maxItems 1"),
    ),
    (
        r#"{"minItems":2}"#,
        "[1]",
        Some("/: array has 1 item, fewer than minItems 2"),
    ),
    (r#"{"maxItems":0}"#, r#"{"a":1}"#, None),
    // required, properties, additionalProperties
    (
        r#"{"required":["from","to"]}"#,
        r#"{"to":1,"from":2}"#,
        None,
    ),
    (
        r#"{"required":["from","to"]}"#,
        r#"{"from":1}"#,
        Some(r#"/: missing required property "to""#),
    ),
    (
        r#"{"required":["a\"b"]}"#,
        "{}",
        Some(r#"/: missing required property "a\"b""#),
    ),
    (r#"{"required":["a"]}"#, "[]", None),
    (
        r#"{"properties":{"amount":{"minimum":0}}}"#,
        r#"{"amount":-3}"#,
        Some("/amount: -3 is less than minimum 0"),
    ),
    (
        r#"{"properties":{"amount":{"minimum":0}}}"#,
        r#"{"other":-3}"#,
        None,
    ),
    (
        r#"{"properties":{"a":{}},"additionalProperties":false}"#,
        r#"{"a":1}"#,
        None,
    ),
    (
        r#"{"properties":{"a":{}},"additionalProperties":false}"#,
        r#"{"a":1,"extra":2}"#,
        Some("/extra: additional property not allowed"),
    ),
    (r#"{"additionalProperties":true}"#, r#"{"x":1}"#, None),
    (
        r#"{"properties":{"a":{}},"additionalProperties":{"type":"string"}}"#,
        r#"{"a":1,"b":"x"}"#,
        None,
    ),
    (
        r#"{"properties":{"a":{}},"additionalProperties":{"type":"string"}}"#,
        r#"{"b":2}"#,
        Some("/b: expected string, found integer"),
    ),
    (
        r#"{"properties":{"gone":false}}"#,
        r#"{"gone":1}"#,
        Some("/gone: no value is allowed here (the schema is false)"),
    ),
    (
        r#"{"properties":{"a/b":{"properties":{"c~d":{"items":{"type":"null"}}}}}}"#,
        r#"{"a/b":{"c~d":[null,1]}}"#,
        Some("/a~1b/c~0d/1: expected null, found integer"),
    ),
    // A key cannot break the line: control characters in the path are shown escaped.
    (
        r#"{"additionalProperties":false}"#,
        r#"{"a\nb":1}"#,
        Some(r#"/a\u000ab: additional property not allowed"#),
    ),
    // Boolean schemas.
    ("true", r#"{"anything":[1]}"#, None),
    (
        "false",
        "null",
        Some("/: no value is allowed here (the schema is false)"),
    ),
    // Payloads that are not JSON (or have duplicate keys).
    (
        "{}",
        r#"{"a":1,}"#,
        Some("payload is not valid JSON: at byte 7: expected a string key"),
    ),
    (
        "{}",
        r#"{"a":1,"a":2}"#,
        Some("payload is not valid JSON: at byte 7: duplicate key"),
    ),
];

#[test]
fn every_keyword_accepts_and_refuses_with_an_exact_message() {
    for &(schema, payload, expected) in CASES {
        assert_eq!(
            outcome(schema, payload).as_deref(),
            expected,
            "{schema} on {payload}"
        );
    }
}

#[test]
fn violations_carry_the_pointer_and_message_separately() {
    let schema = Schema::parse(r#"{"properties":{"amount":{"minimum":0}}}"#).unwrap();
    let payload = Value::parse(r#"{"amount":-3}"#).unwrap();
    assert_eq!(
        schema.validate(&payload),
        Err(Violation::Mismatch {
            path: "/amount".into(),
            message: "-3 is less than minimum 0".into()
        })
    );
    assert!(matches!(
        schema.validate_text("{"),
        Err(Violation::NotJson(_))
    ));
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = format!("\"{}\"", "x".repeat(500));
    let message = outcome(r#"{"enum":["a"]}"#, &long).unwrap();
    assert_eq!(
        message,
        format!("/: \"{}... is not one of [\"a\"]", "x".repeat(59))
    );
}

#[test]
fn the_first_violation_is_reported() {
    let schema = r#"{"type":"object","required":["a"],"properties":{"b":{"type":"string"}}}"#;
    // Missing properties are reported before wrong ones.
    assert_eq!(
        outcome(schema, r#"{"b":1}"#).as_deref(),
        Some(r#"/: missing required property "a""#)
    );
    // Type before anything else.
    assert_eq!(
        outcome(schema, "[]").as_deref(),
        Some("/: expected object, found array")
    );
    // Members in document order.
    let ordered = r#"{"additionalProperties":{"type":"null"}}"#;
    assert_eq!(
        outcome(ordered, r#"{"z":1,"a":2}"#).as_deref(),
        Some("/z: expected null, found integer")
    );
}

/// The example schema and payload table of SCHEMAS.md, checked as written there.
#[test]
fn the_schemas_md_example_holds() {
    let doc = include_str!("../SCHEMAS.md");
    let schema_text = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("SCHEMAS.md has a ```json block");
    let schema = Schema::parse(schema_text).unwrap();
    let mut rows = 0;
    for line in doc.lines().filter(|line| line.starts_with("| `{")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let payload = cells[0].trim_matches('`');
        let expected = match cells[1] {
            "accepted" => None,
            refusal => Some(refusal.trim_matches('`')),
        };
        let got = schema
            .validate_text(payload)
            .err()
            .map(|violation| violation.to_string());
        assert_eq!(got.as_deref(), expected, "{payload}");
        rows += 1;
    }
    assert!(rows >= 8);
}
