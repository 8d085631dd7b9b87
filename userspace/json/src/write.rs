//! Building JSON into any [`fmt::Write`], without allocation: [`write_escaped`] for strings,
//! [`ObjectWriter`] and [`ArrayWriter`] for containers.
//!
//! Output is compact (no whitespace) and always valid JSON, provided that the text given to
//! the `*_raw` methods is one JSON value — those write it unchecked (pass [`Raw::raw`] or a
//! checked literal). A writer only adds the closing bracket in `finish`, so a writer dropped
//! half-way (after an error) leaves unfinished output: the caller discards it.
//!
//! [`Raw::raw`]: crate::Raw::raw

use core::fmt;

/// Writes `s` as a JSON string: quoted, with `"`, `\` and the control characters U+0000–U+001F
/// escaped (the short forms `\n`, `\t`, … where JSON has them, `\u00XX` otherwise). All other
/// characters, non-ASCII included, are written as they are, since JSON text is UTF-8.
pub fn write_escaped(out: &mut (impl fmt::Write + ?Sized), s: &str) -> fmt::Result {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.write_char('"')?;
    // Runs of characters that need no escape are written with one call.
    let mut run_start = 0;
    for (index, c) in s.char_indices() {
        let short_escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\0'..='\u{1f}' => "",
            _ => continue,
        };
        out.write_str(s.get(run_start..index).unwrap_or(""))?;
        if short_escape.is_empty() {
            let code = c as usize;
            out.write_str("\\u00")?;
            for digit in [code >> 4, code & 0xf] {
                out.write_char(char::from(HEX_DIGITS.get(digit).copied().unwrap_or(b'0')))?;
            }
        } else {
            out.write_str(short_escape)?;
        }
        run_start = index + c.len_utf8();
    }
    out.write_str(s.get(run_start..).unwrap_or(""))?;
    out.write_char('"')
}

/// Writes `value` in decimal. By hand rather than with `write!`: core's formatting machinery
/// would be most of the size of a small wasm program that only needs this.
fn write_u64(out: &mut (impl fmt::Write + ?Sized), value: u64) -> fmt::Result {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || start == 0 {
            break;
        }
    }
    let text = digits
        .get(start..)
        .and_then(|digits| core::str::from_utf8(digits).ok());
    out.write_str(text.unwrap_or("0"))
}

fn write_i64(out: &mut (impl fmt::Write + ?Sized), value: i64) -> fmt::Result {
    if value < 0 {
        out.write_char('-')?;
    }
    write_u64(out, value.unsigned_abs())
}

/// Writes one JSON object, member by member:
///
/// ```
/// # fn main() -> core::fmt::Result {
/// let mut out = String::new();
/// let mut object = zb_json::ObjectWriter::begin(&mut out)?;
/// object.field_str("to", "alice")?;
/// object.field_i64("amount", 3)?;
/// object.field_array("tags", |tags| tags.item_str("rent"))?;
/// object.finish()?;
/// assert_eq!(out, r#"{"to":"alice","amount":3,"tags":["rent"]}"#);
/// # Ok(())
/// # }
/// ```
///
/// Keys are written as given: writing the same key twice makes a document that
/// [`Value::parse`](crate::Value::parse) and [`get`](crate::get) refuse.
pub struct ObjectWriter<'w, W: fmt::Write + ?Sized> {
    out: &'w mut W,
    empty: bool,
}

impl<'w, W: fmt::Write + ?Sized> ObjectWriter<'w, W> {
    /// Writes `{` and returns the writer for the members.
    pub fn begin(out: &'w mut W) -> Result<Self, fmt::Error> {
        out.write_char('{')?;
        Ok(Self { out, empty: true })
    }

    /// Writes the separator (if needed), `key` and `:`.
    fn key(&mut self, key: &str) -> fmt::Result {
        if !self.empty {
            self.out.write_char(',')?;
        }
        self.empty = false;
        write_escaped(self.out, key)?;
        self.out.write_char(':')
    }

    pub fn field_str(&mut self, key: &str, value: &str) -> fmt::Result {
        self.key(key)?;
        write_escaped(self.out, value)
    }

    pub fn field_i64(&mut self, key: &str, value: i64) -> fmt::Result {
        self.key(key)?;
        write_i64(self.out, value)
    }

    pub fn field_u64(&mut self, key: &str, value: u64) -> fmt::Result {
        self.key(key)?;
        write_u64(self.out, value)
    }

    pub fn field_bool(&mut self, key: &str, value: bool) -> fmt::Result {
        self.key(key)?;
        self.out.write_str(if value { "true" } else { "false" })
    }

    pub fn field_null(&mut self, key: &str) -> fmt::Result {
        self.key(key)?;
        self.out.write_str("null")
    }

    /// A member whose value is the JSON text `json`, written unchecked (e.g. [`Raw::raw`] of
    /// a value read from another payload).
    ///
    /// [`Raw::raw`]: crate::Raw::raw
    pub fn field_raw(&mut self, key: &str, json: &str) -> fmt::Result {
        self.key(key)?;
        self.out.write_str(json)
    }

    /// A member whose value is an object, written by `build`.
    pub fn field_object(
        &mut self,
        key: &str,
        build: impl FnOnce(&mut ObjectWriter<'_, W>) -> fmt::Result,
    ) -> fmt::Result {
        self.key(key)?;
        let mut inner = ObjectWriter::begin(&mut *self.out)?;
        build(&mut inner)?;
        inner.finish()
    }

    /// A member whose value is an array, written by `build`.
    pub fn field_array(
        &mut self,
        key: &str,
        build: impl FnOnce(&mut ArrayWriter<'_, W>) -> fmt::Result,
    ) -> fmt::Result {
        self.key(key)?;
        let mut inner = ArrayWriter::begin(&mut *self.out)?;
        build(&mut inner)?;
        inner.finish()
    }

    /// Writes `}`.
    pub fn finish(self) -> fmt::Result {
        self.out.write_char('}')
    }
}

/// Writes one JSON array, element by element; the counterpart of [`ObjectWriter`].
pub struct ArrayWriter<'w, W: fmt::Write + ?Sized> {
    out: &'w mut W,
    empty: bool,
}

impl<'w, W: fmt::Write + ?Sized> ArrayWriter<'w, W> {
    /// Writes `[` and returns the writer for the elements.
    pub fn begin(out: &'w mut W) -> Result<Self, fmt::Error> {
        out.write_char('[')?;
        Ok(Self { out, empty: true })
    }

    fn separator(&mut self) -> fmt::Result {
        if !self.empty {
            self.out.write_char(',')?;
        }
        self.empty = false;
        Ok(())
    }

    pub fn item_str(&mut self, value: &str) -> fmt::Result {
        self.separator()?;
        write_escaped(self.out, value)
    }

    pub fn item_i64(&mut self, value: i64) -> fmt::Result {
        self.separator()?;
        write_i64(self.out, value)
    }

    pub fn item_u64(&mut self, value: u64) -> fmt::Result {
        self.separator()?;
        write_u64(self.out, value)
    }

    pub fn item_bool(&mut self, value: bool) -> fmt::Result {
        self.separator()?;
        self.out.write_str(if value { "true" } else { "false" })
    }

    pub fn item_null(&mut self) -> fmt::Result {
        self.separator()?;
        self.out.write_str("null")
    }

    /// An element that is the JSON text `json`, written unchecked.
    pub fn item_raw(&mut self, json: &str) -> fmt::Result {
        self.separator()?;
        self.out.write_str(json)
    }

    /// An element that is an object, written by `build`.
    pub fn item_object(
        &mut self,
        build: impl FnOnce(&mut ObjectWriter<'_, W>) -> fmt::Result,
    ) -> fmt::Result {
        self.separator()?;
        let mut inner = ObjectWriter::begin(&mut *self.out)?;
        build(&mut inner)?;
        inner.finish()
    }

    /// An element that is an array, written by `build`.
    pub fn item_array(
        &mut self,
        build: impl FnOnce(&mut ArrayWriter<'_, W>) -> fmt::Result,
    ) -> fmt::Result {
        self.separator()?;
        let mut inner = ArrayWriter::begin(&mut *self.out)?;
        build(&mut inner)?;
        inner.finish()
    }

    /// Writes `]`.
    pub fn finish(self) -> fmt::Result {
        self.out.write_char(']')
    }
}
