//! [`Schema`]: the JSON Schema subset event payloads are checked against (feature `alloc`).
//!
//! `SCHEMAS.md` next to this crate is the user-facing list of what is supported. In short:
//! `type`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
//! `minLength`, `maxLength`, `minItems`, `maxItems`, `items`, `properties`, `required` and
//! `additionalProperties`, with the semantics of JSON Schema 2020-12, and boolean schemas.
//!
//! Invariants:
//! - A keyword outside the subset is refused when the schema is parsed, never ignored:
//!   ignoring one would accept payloads its author meant to refuse. Only the annotations
//!   `$schema`, `$id`, `title`, `description`, `examples`, `default` and `$comment`, which
//!   assert nothing, are accepted and ignored.
//! - Checking stops at the first violation, and reports it as one line: the JSON pointer of
//!   the offending value (`/` for the whole payload) and what is wrong with it. It allocates
//!   only to report a violation.
//! - Checking recurses along the schema, whose depth parsing bounded (at most
//!   [`MAX_DEPTH`](crate::MAX_DEPTH) levels of JSON), never along the payload alone.

mod check;
mod compile;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::{JsonError, Number, Value};

/// A parsed schema, ready to check payloads.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Node,
}

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// The schema text is not JSON (or has duplicate keys).
    NotJson(JsonError),
    /// The schema is JSON but not a schema of the supported subset. `path` is the JSON pointer
    /// of the offending (sub)schema in the schema document (`/` for the root).
    Invalid { path: String, message: String },
}

/// Why a payload does not match its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The payload is not JSON (only from [`Schema::validate_text`]).
    NotJson(JsonError),
    /// The payload is JSON that the schema refuses. `path` is the JSON pointer of the
    /// offending value in the payload (`/` for the payload itself), `message` what is wrong
    /// with it, e.g. `-3 is less than minimum 0`.
    Mismatch { path: String, message: String },
}

impl Schema {
    /// Parses a schema document.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let document = Value::parse(text).map_err(SchemaError::NotJson)?;
        Ok(Schema {
            root: compile::compile(&document, "")?,
        })
    }

    /// Checks `value` against the schema.
    pub fn validate(&self, value: &Value) -> Result<(), Violation> {
        check::check(&self.root, value, &check::Path::Root)
    }

    /// Parses the payload `text` (see [`Value::parse`]) and checks it against the schema.
    pub fn validate_text(&self, text: &str) -> Result<(), Violation> {
        let value = Value::parse(text).map_err(Violation::NotJson)?;
        self.validate(&value)
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::NotJson(error) => write!(f, "schema is not valid JSON: {error}"),
            SchemaError::Invalid { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl core::error::Error for SchemaError {}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotJson(error) => write!(f, "payload is not valid JSON: {error}"),
            Violation::Mismatch { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl core::error::Error for Violation {}

/// Appends `/name` to a JSON pointer, with `~` and `/` escaped as RFC 6901 says (`~0`, `~1`).
/// Control characters are shown as `\u00XX`, beyond the RFC, so that a key cannot break the
/// one line a schema error or violation is displayed as.
fn push_pointer_segment(pointer: &mut String, name: &str) {
    pointer.push('/');
    for c in name.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            '\0'..='\u{1f}' => {
                let _ = write!(pointer, "\\u{:04x}", u32::from(c));
            }
            _ => pointer.push(c),
        }
    }
}

/// One (sub)schema, compiled. `Node::default()` is the schema `true`: it accepts anything.
#[derive(Debug, Clone, Default)]
struct Node {
    /// The schema `false`: nothing matches.
    rejects_everything: bool,
    types: Option<TypeSet>,
    constant: Option<Value>,
    /// `enum`.
    allowed_values: Option<Vec<Value>>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    /// In Unicode scalar values.
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    items: Option<Box<Node>>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    /// The schema of members not in `properties`; `None` accepts them all.
    additional_properties: Option<Box<Node>>,
}

/// The JSON Schema type names, in the order messages list them.
const TYPE_NAMES: [&str; 7] = [
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// A set of JSON Schema types: bit `i` is `TYPE_NAMES[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TypeSet(u8);

impl TypeSet {
    const NULL: u8 = 1 << 0;
    const BOOLEAN: u8 = 1 << 1;
    const INTEGER: u8 = 1 << 2;
    const NUMBER: u8 = 1 << 3;
    const STRING: u8 = 1 << 4;
    const ARRAY: u8 = 1 << 5;
    const OBJECT: u8 = 1 << 6;

    /// The bit of a type name.
    fn bit(name: &str) -> Option<u8> {
        TYPE_NAMES
            .iter()
            .position(|known| *known == name)
            .map(|index| 1 << index)
    }

    fn matches(self, value: &Value) -> bool {
        let has = |bit: u8| self.0 & bit != 0;
        match value {
            Value::Null => has(Self::NULL),
            Value::Bool(_) => has(Self::BOOLEAN),
            Value::Number(number) => {
                has(Self::NUMBER) || (has(Self::INTEGER) && number.is_integer())
            }
            Value::String(_) => has(Self::STRING),
            Value::Array(_) => has(Self::ARRAY),
            Value::Object(_) => has(Self::OBJECT),
        }
    }
}

impl fmt::Display for TypeSet {
    /// `string`, `string or null`, `null, integer or string`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = TYPE_NAMES
            .iter()
            .enumerate()
            .filter(|(index, _)| self.0 & (1 << index) != 0)
            .map(|(_, name)| *name)
            .peekable();
        let mut first = true;
        while let Some(name) = names.next() {
            if !first {
                f.write_str(if names.peek().is_some() { ", " } else { " or " })?;
            }
            first = false;
            f.write_str(name)?;
        }
        Ok(())
    }
}
