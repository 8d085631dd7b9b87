//! [`Value`]: a parsed JSON document, and [`Number`], its numbers (feature `alloc`).
//!
//! Invariants of a parsed value (not of one built by hand):
//! - Its nesting depth is at most [`MAX_DEPTH`](crate::MAX_DEPTH): parsing is a loop with an
//!   explicit stack, and anything deeper was refused. Equality, `Display` and drop recurse
//!   along the value, so that bound is theirs too (for a value built by hand, its builder's).
//! - Object keys are unique (duplicates are refused: JSON leaves their meaning open, and a
//!   checker and a reader disagreeing on which one counts is how a bad payload gets through);
//!   members keep document order.
//! - Numbers are exact: an integer that fits `i64` is [`Number::Int`], a larger one that fits
//!   `u64` is [`Number::UInt`], and only other numbers are [`Number::Float`], correctly rounded
//!   (the crate's exact converter, the same as [`Raw::as_f64`]'s); numbers beyond the `f64`
//!   range are refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

use crate::number;
use crate::reader::{Event, Reader};
use crate::write::write_escaped;
use crate::{JsonError, Kind, Raw};

/// A JSON number. Comparisons ([`PartialEq`], [`PartialOrd`]) are by mathematical value and
/// exact across variants: `Int(1) == Float(1.0)`, and `UInt(u64::MAX) > Float(1.8e19)`.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    /// Only for integers above `i64::MAX` (when parsed).
    UInt(u64),
    /// Only for numbers that are not integers in the `i64`/`u64` range (when parsed).
    Float(f64),
}

impl Number {
    /// The number of a number token (see [`Value::parse`] for the variant chosen).
    fn from_token(token: &str) -> Result<Number, &'static str> {
        match number::integer_value(token) {
            Some((true, magnitude)) => match 0i64.checked_sub_unsigned(magnitude) {
                Some(value) => Ok(Number::Int(value)),
                None => Self::float_from_token(token),
            },
            Some((false, magnitude)) => Ok(match i64::try_from(magnitude) {
                Ok(value) => Number::Int(value),
                Err(_) => Number::UInt(magnitude),
            }),
            None => Self::float_from_token(token),
        }
    }

    fn float_from_token(token: &str) -> Result<Number, &'static str> {
        let value = number::to_f64(token);
        if value.is_finite() {
            Ok(Number::Float(value))
        } else {
            Err("number out of range")
        }
    }

    /// The number if it is an integer in the `i64` range.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::Int(value) => Some(value),
            Number::UInt(value) => i64::try_from(value).ok(),
            Number::Float(value) => float_as_i128(value).and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The number if it is an integer in the `u64` range.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::Int(value) => u64::try_from(value).ok(),
            Number::UInt(value) => Some(value),
            Number::Float(value) => float_as_i128(value).and_then(|v| u64::try_from(v).ok()),
        }
    }

    /// The number as an `f64` (the nearest one, for large integers).
    pub fn as_f64(&self) -> f64 {
        // `as` rounds to nearest, which is what is wanted here.
        match *self {
            Number::Int(value) => value as f64,
            Number::UInt(value) => value as f64,
            Number::Float(value) => value,
        }
    }

    /// Whether the number is an integer (JSON Schema's `integer`: `1.0` and `1e300` are).
    pub fn is_integer(&self) -> bool {
        match *self {
            Number::Int(_) | Number::UInt(_) => true,
            // Every float of magnitude 2^53 or more is an integer; below, truncation is exact.
            Number::Float(value) => {
                value.is_finite()
                    && (!(-TWO_POW_53..=TWO_POW_53).contains(&value)
                        || float_truncated(value) as f64 == value)
            }
        }
    }

    /// Exact comparison by value; `None` only if a NaN is involved (never for parsed numbers).
    fn compare(&self, other: &Number) -> Option<Ordering> {
        match (self.as_integer(), other.as_integer()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            (Some(a), None) => compare_integer_float(a, other.as_f64()),
            (None, Some(b)) => compare_integer_float(b, self.as_f64()).map(Ordering::reverse),
            (None, None) => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }

    /// The exact integer of an `Int` or `UInt` (every one fits an `i128`).
    fn as_integer(&self) -> Option<i128> {
        match *self {
            Number::Int(value) => Some(i128::from(value)),
            Number::UInt(value) => Some(i128::from(value)),
            Number::Float(_) => None,
        }
    }
}

const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// `value` truncated toward zero; saturates beyond the `i128` range, which no `i64`/`u64`
/// reaches, so comparisons with those stay right.
fn float_truncated(value: f64) -> i128 {
    value as i128
}

fn float_as_i128(value: f64) -> Option<i128> {
    let truncated = float_truncated(value);
    (value.is_finite() && truncated as f64 == value).then_some(truncated)
}

/// Compares an integer with a float exactly (no rounding of either).
fn compare_integer_float(integer: i128, float: f64) -> Option<Ordering> {
    if float.is_nan() {
        return None;
    }
    let truncated = float_truncated(float);
    if integer != truncated {
        // Truncation moves the float by less than 1 (toward zero), so an integer other than
        // the truncated value is on the same side of both.
        return Some(integer.cmp(&truncated));
    }
    // Same integer part: the float's fraction decides. `truncated as f64` is exact here: below
    // 2^53 every integer is, and above it floats have no fraction and truncate to themselves.
    let fraction = float - truncated as f64;
    0.0f64.partial_cmp(&fraction)
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.compare(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        self.compare(other)
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        Number::Int(value)
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Number {
        match i64::try_from(value) {
            Ok(value) => Number::Int(value),
            Err(_) => Number::UInt(value),
        }
    }
}

impl fmt::Display for Number {
    /// The number as JSON: integers in full, other floats in the shortest form that reads
    /// back as the same `f64` (`0.1`, `1e300`). JSON has no NaN or infinity: those (only ever
    /// in hand-built numbers) are written as `null`, as JavaScript does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::Int(value) => write!(f, "{value}"),
            Number::UInt(value) => write!(f, "{value}"),
            // An integral float within the u64 range is written in full: its shortest form
            // (`1.8446744037095517e17`) may name a nearby integer that, read back exactly,
            // would be a different number.
            Number::Float(value)
                if self.is_integer() && (-TWO_POW_64..TWO_POW_64).contains(&value) =>
            {
                write!(f, "{}", float_truncated(value))
            }
            // Debug, not Display: it switches to exponent form for very large and small
            // magnitudes instead of writing hundreds of digits, and both forms are JSON.
            Number::Float(value) if value.is_finite() => write!(f, "{value:?}"),
            Number::Float(_) => f.write_str("null"),
        }
    }
}

/// A JSON value.
///
/// [`PartialEq`] is JSON equality (as JSON Schema's `enum` and `const` use it): numbers by
/// value, objects regardless of member order.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    /// Members in document order; keys are unique in a parsed value.
    Object(Vec<(String, Value)>),
}

/// A container being filled while parsing.
enum OpenContainer {
    Array(Vec<Value>),
    Object {
        members: Vec<(String, Value)>,
        /// The document offset of each member's key, to point at a duplicate.
        key_offsets: Vec<usize>,
        /// The key read whose value comes next.
        pending_key: Option<String>,
    },
}

impl Value {
    /// Parses the document `text` (the same grammar as [`validate`](crate::validate)), refusing
    /// duplicate keys (`"duplicate key"`) and numbers beyond the `f64` range (`"number out of
    /// range"`). Integers that fit `i64` (or `u64`) are kept exactly, whatever their spelling:
    /// `1e2` and `100.0` are `Int(100)`.
    pub fn parse(text: &str) -> Result<Value, JsonError> {
        let mut reader = Reader::new(text, 0);
        // The open containers, innermost last: an explicit stack instead of recursion.
        let mut open: Vec<OpenContainer> = Vec::new();
        loop {
            let Some(event) = reader.next()? else {
                // The reader ends only after a complete value, which returned below.
                return Err(JsonError::new(text.len(), "unexpected end of input"));
            };
            let complete = match event {
                Event::StartArray => {
                    open.push(OpenContainer::Array(Vec::new()));
                    continue;
                }
                Event::StartObject => {
                    open.push(OpenContainer::Object {
                        members: Vec::new(),
                        key_offsets: Vec::new(),
                        pending_key: None,
                    });
                    continue;
                }
                Event::Key(key) => {
                    if let Some(OpenContainer::Object {
                        key_offsets,
                        pending_key,
                        ..
                    }) = open.last_mut()
                    {
                        key_offsets.push(key.offset());
                        *pending_key = key.as_string();
                    }
                    continue;
                }
                Event::Scalar(raw) => Self::scalar(raw)?,
                Event::End => match open.pop() {
                    Some(OpenContainer::Array(elements)) => Value::Array(elements),
                    Some(OpenContainer::Object {
                        members,
                        key_offsets,
                        ..
                    }) => {
                        check_unique_keys(&members, &key_offsets)?;
                        Value::Object(members)
                    }
                    None => return Err(JsonError::new(text.len(), "unexpected end of input")),
                },
            };
            match open.last_mut() {
                None => {
                    reader.finish()?;
                    return Ok(complete);
                }
                Some(OpenContainer::Array(elements)) => elements.push(complete),
                Some(OpenContainer::Object {
                    members,
                    pending_key,
                    ..
                }) => {
                    members.push((pending_key.take().unwrap_or_default(), complete));
                }
            }
        }
    }

    fn scalar(raw: Raw<'_>) -> Result<Value, JsonError> {
        Ok(match raw.kind() {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(raw.as_bool() == Some(true)),
            Kind::String => Value::String(raw.as_string().unwrap_or_default()),
            Kind::Number => Value::Number(
                Number::from_token(raw.raw())
                    .map_err(|reason| JsonError::new(raw.offset(), reason))?,
            ),
            // Containers are events of their own, never scalars.
            Kind::Array | Kind::Object => {
                return Err(JsonError::new(raw.offset(), "expected a value"));
            }
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    /// The value of member `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    /// The number, if it is an integer in the `i64` range.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The number, if it is an integer in the `u64` range.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().map(Number::as_f64)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(elements) => Some(elements),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }
}

/// Refuses an object with a repeated key, pointing at the later occurrence.
fn check_unique_keys(members: &[(String, Value)], key_offsets: &[usize]) -> Result<(), JsonError> {
    if members.len() < 2 {
        return Ok(());
    }
    // Sorting member indices by key makes duplicates neighbours: O(n log n), where comparing
    // every pair would let a large payload with many keys cost quadratic time.
    let mut order: Vec<usize> = (0..members.len()).collect();
    let key = |index: usize| members.get(index).map(|(key, _)| key.as_str());
    order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)).then(a.cmp(&b)));
    for pair in order.windows(2) {
        if let [first, second] = *pair
            && key(first) == key(second)
        {
            let offset = key_offsets.get(second).copied().unwrap_or(0);
            return Err(JsonError::new(offset, "duplicate key"));
        }
    }
    Ok(())
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(key, value)| {
                        b.iter().any(|(other_key, other_value)| {
                            key == other_key && value == other_value
                        })
                    })
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// The value as compact JSON (no whitespace); parsing it gives an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(value) => f.write_str(if *value { "true" } else { "false" }),
            Value::Number(number) => number.fmt(f),
            Value::String(value) => write_escaped(f, value),
            Value::Array(elements) => {
                f.write_str("[")?;
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        f.write_str(",")?;
                    }
                    element.fmt(f)?;
                }
                f.write_str("]")
            }
            Value::Object(members) => {
                f.write_str("{")?;
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        f.write_str(",")?;
                    }
                    write_escaped(f, key)?;
                    f.write_str(":")?;
                    value.fmt(f)?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_exactly_across_variants() {
        let two_pow_63 = 9_223_372_036_854_775_808u64;
        assert_eq!(Number::Int(1), Number::Float(1.0));
        assert!(Number::Int(1) < Number::Float(1.5));
        assert!(Number::Int(-1) > Number::Float(-1.5));
        assert!(Number::Int(0) > Number::Float(-0.5));
        assert!(Number::Int(0) < Number::Float(0.5));
        assert_eq!(Number::Int(0), Number::Float(-0.0));
        // i64::MAX rounds up to 2^63 as an f64; the comparison must not round.
        assert!(Number::Int(i64::MAX) < Number::Float(two_pow_63 as f64));
        assert_eq!(Number::UInt(two_pow_63), Number::Float(two_pow_63 as f64));
        assert!(Number::UInt(u64::MAX) < Number::Float(1.9e19));
        assert!(Number::UInt(u64::MAX) > Number::Float(1.8e19));
        assert!(Number::Int(i64::MIN) > Number::Float(-1e300));
        assert!(Number::UInt(u64::MAX) > Number::Int(i64::MAX));
        assert!(Number::Float(0.1) < Number::Float(0.2));
        assert_eq!(Number::Float(f64::NAN).partial_cmp(&Number::Int(0)), None);
    }

    #[test]
    fn integers_by_value() {
        assert!(Number::Float(1e300).is_integer());
        assert!(Number::Float(-3.0).is_integer());
        assert!(!Number::Float(0.5).is_integer());
        assert!(!Number::Float(f64::INFINITY).is_integer());
        assert_eq!(Number::Float(4.0).as_i64(), Some(4));
        assert_eq!(Number::Float(4.5).as_i64(), None);
        assert_eq!(Number::Float(1e300).as_u64(), None);
        assert_eq!(Number::Int(-1).as_u64(), None);
    }
}
