//! A schema document to [`Node`]s, refusing everything outside the supported subset.
//!
//! Recursion follows the schema document, whose depth [`Value::parse`] bounded.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Node, SchemaError, TypeSet, push_pointer_segment};
use crate::write::write_escaped;
use crate::{Number, Value};

/// Keywords that only annotate: they assert nothing, so ignoring them is safe.
const ANNOTATIONS: [&str; 7] = [
    "$schema",
    "$id",
    "title",
    "description",
    "examples",
    "default",
    "$comment",
];

/// Compiles the schema `schema`, found at JSON pointer `path` of the schema document.
pub(super) fn compile(schema: &Value, path: &str) -> Result<Node, SchemaError> {
    let members = match schema {
        Value::Bool(true) => return Ok(Node::default()),
        Value::Bool(false) => {
            return Ok(Node {
                rejects_everything: true,
                ..Node::default()
            });
        }
        Value::Object(members) => members,
        _ => return Err(invalid(path, "a schema must be an object or a boolean")),
    };
    let mut node = Node::default();
    for (keyword, value) in members {
        match keyword.as_str() {
            "type" => node.types = Some(types(value, path)?),
            "enum" => match value {
                Value::Array(values) if !values.is_empty() => {
                    node.allowed_values = Some(values.clone());
                }
                _ => return Err(invalid(path, "\"enum\" must be a non-empty array")),
            },
            "const" => node.constant = Some(value.clone()),
            "minimum" => node.minimum = Some(number(value, keyword, path)?),
            "maximum" => node.maximum = Some(number(value, keyword, path)?),
            "exclusiveMinimum" => node.exclusive_minimum = Some(number(value, keyword, path)?),
            "exclusiveMaximum" => node.exclusive_maximum = Some(number(value, keyword, path)?),
            "minLength" => node.min_length = Some(count(value, keyword, path)?),
            "maxLength" => node.max_length = Some(count(value, keyword, path)?),
            "minItems" => node.min_items = Some(count(value, keyword, path)?),
            "maxItems" => node.max_items = Some(count(value, keyword, path)?),
            "items" => {
                if let Value::Array(_) = value {
                    // Draft 4–2019-09 tuple form; 2020-12 renamed it `prefixItems`.
                    return Err(invalid(
                        path,
                        "\"items\" as an array (tuple form) is not supported",
                    ));
                }
                node.items = Some(Box::new(compile(value, &child(path, "items"))?));
            }
            "properties" => {
                let Value::Object(properties) = value else {
                    return Err(invalid(path, "\"properties\" must be an object of schemas"));
                };
                let properties_path = child(path, "properties");
                for (name, schema) in properties {
                    let compiled = compile(schema, &child(&properties_path, name))?;
                    node.properties.push((name.clone(), compiled));
                }
            }
            "required" => node.required = required(value, path)?,
            "additionalProperties" => {
                let compiled = compile(value, &child(path, "additionalProperties"))?;
                node.additional_properties = Some(Box::new(compiled));
            }
            annotation if ANNOTATIONS.contains(&annotation) => {}
            unsupported => {
                return Err(invalid(
                    path,
                    &format!("unsupported keyword {}", quoted(unsupported)),
                ));
            }
        }
    }
    Ok(node)
}

fn invalid(path: &str, message: &str) -> SchemaError {
    let path = if path.is_empty() { "/" } else { path };
    SchemaError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The JSON pointer of member `name` of the value at `path`.
fn child(path: &str, name: &str) -> String {
    let mut pointer = String::from(path);
    push_pointer_segment(&mut pointer, name);
    pointer
}

/// `name` as a JSON string, for messages.
pub(super) fn quoted(name: &str) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write_escaped(&mut text, name);
    text
}

fn types(value: &Value, path: &str) -> Result<TypeSet, SchemaError> {
    const MESSAGE: &str = "\"type\" must be a type name or a non-empty array of type names";
    let names: &[Value] = match value {
        Value::String(_) => core::slice::from_ref(value),
        Value::Array(names) if !names.is_empty() => names,
        _ => return Err(invalid(path, MESSAGE)),
    };
    let mut set = 0u8;
    for name in names {
        let name = name.as_str().ok_or_else(|| invalid(path, MESSAGE))?;
        let bit = TypeSet::bit(name)
            .ok_or_else(|| invalid(path, &format!("unknown type {} in \"type\"", quoted(name))))?;
        if set & bit != 0 {
            return Err(invalid(
                path,
                &format!("type {} repeated in \"type\"", quoted(name)),
            ));
        }
        set |= bit;
    }
    Ok(TypeSet(set))
}

fn number(value: &Value, keyword: &str, path: &str) -> Result<Number, SchemaError> {
    match value {
        Value::Number(number) => Ok(*number),
        // Draft 4 spelled exclusive bounds as booleans next to minimum/maximum.
        Value::Bool(_) if keyword.starts_with("exclusive") => Err(invalid(
            path,
            &format!(
                "{} must be a number (the draft-4 boolean form is not supported)",
                quoted(keyword)
            ),
        )),
        _ => Err(invalid(
            path,
            &format!("{} must be a number", quoted(keyword)),
        )),
    }
}

fn count(value: &Value, keyword: &str, path: &str) -> Result<u64, SchemaError> {
    value.as_u64().ok_or_else(|| {
        invalid(
            path,
            &format!("{} must be a non-negative integer", quoted(keyword)),
        )
    })
}

fn required(value: &Value, path: &str) -> Result<Vec<String>, SchemaError> {
    const MESSAGE: &str = "\"required\" must be an array of property names";
    let Value::Array(names) = value else {
        return Err(invalid(path, MESSAGE));
    };
    let mut required: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.as_str().ok_or_else(|| invalid(path, MESSAGE))?;
        if required.iter().any(|seen| seen == name) {
            return Err(invalid(
                path,
                &format!("property {} repeated in \"required\"", quoted(name)),
            ));
        }
        required.push(name.into());
    }
    Ok(required)
}
