//! Checking a [`Value`] against a [`Node`]: the first violation, as one line.
//!
//! The path to the value being checked is a linked list on the stack ([`Path`]), turned into a
//! JSON pointer only when a violation is reported, so a payload that matches costs no
//! allocation. Values quoted in messages are cut at [`EXCERPT_CHARS`] characters, so a huge
//! payload makes a long message, not a huge one.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::compile::quoted;
use super::{Node, Violation, push_pointer_segment};
use crate::{Number, Value};

/// Where a value sits in the payload.
pub(super) enum Path<'p> {
    Root,
    Member(&'p Path<'p>, &'p str),
    Element(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// The JSON pointer (RFC 6901; `/` for the root, where the RFC has the empty string).
    fn pointer(&self) -> String {
        let mut segments = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Member(parent, _) | Path::Element(parent, _) => {
                    segments.push(at);
                    at = parent;
                }
            }
        }
        if segments.is_empty() {
            return "/".into();
        }
        let mut pointer = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Path::Member(_, name) => push_pointer_segment(&mut pointer, name),
                Path::Element(_, index) => {
                    let _ = write!(pointer, "/{index}");
                }
                Path::Root => {}
            }
        }
        pointer
    }
}

fn mismatch(path: &Path<'_>, message: String) -> Violation {
    Violation::Mismatch {
        path: path.pointer(),
        message,
    }
}

/// How many characters of a value a message quotes.
const EXCERPT_CHARS: usize = 60;

/// `value` as JSON, cut to [`EXCERPT_CHARS`] characters (then ending in `...`).
fn excerpt(value: &Value) -> String {
    struct Capped {
        text: String,
        remaining: usize,
    }
    impl Write for Capped {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if self.remaining == 0 {
                    // Stops the Display of the rest of the value.
                    return Err(fmt::Error);
                }
                self.text.push(c);
                self.remaining -= 1;
            }
            Ok(())
        }
    }
    let mut capped = Capped {
        text: String::new(),
        remaining: EXCERPT_CHARS,
    };
    if write!(capped, "{value}").is_err() {
        capped.text.push_str("...");
    }
    capped.text
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        alloc::format!("1 {noun}")
    } else {
        alloc::format!("{count} {noun}s")
    }
}

/// Checks `value`, at `path` of the payload, against `node`.
pub(super) fn check(node: &Node, value: &Value, path: &Path<'_>) -> Result<(), Violation> {
    if node.rejects_everything {
        return Err(mismatch(
            path,
            "no value is allowed here (the schema is false)".into(),
        ));
    }
    if let Some(types) = node.types
        && !types.matches(value)
    {
        let found = match value {
            Value::Number(number) if number.is_integer() => "integer",
            _ => value.kind().name(),
        };
        return Err(mismatch(
            path,
            alloc::format!("expected {types}, found {found}"),
        ));
    }
    if let Some(constant) = &node.constant
        && value != constant
    {
        let message = alloc::format!(
            "{} is not the constant {}",
            excerpt(value),
            excerpt(constant)
        );
        return Err(mismatch(path, message));
    }
    if let Some(allowed) = &node.allowed_values
        && !allowed.contains(value)
    {
        let mut message = alloc::format!("{} is not one of [", excerpt(value));
        for (index, allowed_value) in allowed.iter().enumerate() {
            if index > 0 {
                message.push(',');
            }
            message.push_str(&excerpt(allowed_value));
        }
        message.push(']');
        return Err(mismatch(path, message));
    }
    match value {
        Value::Number(number) => check_number(node, number, path),
        Value::String(text) => check_string(node, text, path),
        Value::Array(elements) => check_array(node, elements, path),
        Value::Object(members) => check_object(node, members, path),
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

fn check_number(node: &Node, number: &Number, path: &Path<'_>) -> Result<(), Violation> {
    let out_of_bounds = |phrase: &str, bound: &Number| {
        Err(mismatch(path, alloc::format!("{number} {phrase} {bound}")))
    };
    if let Some(minimum) = &node.minimum
        && number < minimum
    {
        return out_of_bounds("is less than minimum", minimum);
    }
    if let Some(minimum) = &node.exclusive_minimum
        && number <= minimum
    {
        return out_of_bounds("is not greater than exclusiveMinimum", minimum);
    }
    if let Some(maximum) = &node.maximum
        && number > maximum
    {
        return out_of_bounds("is greater than maximum", maximum);
    }
    if let Some(maximum) = &node.exclusive_maximum
        && number >= maximum
    {
        return out_of_bounds("is not less than exclusiveMaximum", maximum);
    }
    Ok(())
}

fn check_string(node: &Node, text: &str, path: &Path<'_>) -> Result<(), Violation> {
    if node.min_length.is_none() && node.max_length.is_none() {
        return Ok(());
    }
    // Unicode scalar values, as JSON Schema counts (not bytes, not UTF-16 units).
    let length = text.chars().count();
    let length_u64 = u64::try_from(length).unwrap_or(u64::MAX);
    if let Some(min) = node.min_length
        && length_u64 < min
    {
        let message = alloc::format!(
            "string has {}, fewer than minLength {min}",
            plural(length, "character")
        );
        return Err(mismatch(path, message));
    }
    if let Some(max) = node.max_length
        && length_u64 > max
    {
        let message = alloc::format!(
            "string has {}, more than maxLength {max}",
            plural(length, "character")
        );
        return Err(mismatch(path, message));
    }
    Ok(())
}

fn check_array(node: &Node, elements: &[Value], path: &Path<'_>) -> Result<(), Violation> {
    let count = u64::try_from(elements.len()).unwrap_or(u64::MAX);
    if let Some(min) = node.min_items
        && count < min
    {
        let message = alloc::format!(
            "array has {}, fewer than minItems {min}",
            plural(elements.len(), "item")
        );
        return Err(mismatch(path, message));
    }
    if let Some(max) = node.max_items
        && count > max
    {
        let message = alloc::format!(
            "array has {}, more than maxItems {max}",
            plural(elements.len(), "item")
        );
        return Err(mismatch(path, message));
    }
    if let Some(items) = &node.items {
        for (index, element) in elements.iter().enumerate() {
            check(items, element, &Path::Element(path, index))?;
        }
    }
    Ok(())
}

fn check_object(
    node: &Node,
    members: &[(String, Value)],
    path: &Path<'_>,
) -> Result<(), Violation> {
    // A missing property first: it is usually the most direct thing to fix.
    for name in &node.required {
        if !members.iter().any(|(key, _)| key == name) {
            let message = alloc::format!("missing required property {}", quoted(name));
            return Err(mismatch(path, message));
        }
    }
    for (key, value) in members {
        let member_path = Path::Member(path, key);
        let declared = node.properties.iter().find(|(name, _)| name == key);
        match (declared, &node.additional_properties) {
            (Some((_, schema)), _) => check(schema, value, &member_path)?,
            (None, Some(additional)) if additional.rejects_everything => {
                return Err(mismatch(
                    &member_path,
                    "additional property not allowed".into(),
                ));
            }
            (None, Some(additional)) => check(additional, value, &member_path)?,
            (None, None) => {}
        }
    }
    Ok(())
}
