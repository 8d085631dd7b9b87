//! Splitting a command line into words, the way a POSIX shell does for simple commands.
//!
//! Words are separated by unquoted whitespace. `'…'` quotes literally; `"…"` quotes with `\"`
//! and `\\` escapes; an unquoted `\` escapes the next character. Unterminated quotes and a
//! trailing backslash are errors, never silently "fixed".

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    UnterminatedQuote(char),
    TrailingBackslash,
}

impl core::fmt::Display for SplitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SplitError::UnterminatedQuote(q) => write!(f, "unterminated quote ({q})"),
            SplitError::TrailingBackslash => f.write_str("trailing backslash"),
        }
    }
}

pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    split_marked(line).map(|(words, _)| words)
}

/// [`split`], and for each word whether it was written without any quote or backslash — only
/// such a word can be an operator (`>`, `>>`, `&`); `'>'` is a plain argument.
pub fn split_marked(line: &str) -> Result<(Vec<String>, Vec<bool>), SplitError> {
    let mut words = Vec::new();
    let mut plain = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    plain.push(!quoted);
                    quoted = false;
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                quoted = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
        plain.push(!quoted);
    }
    Ok((words, plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ok(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn plain_words() {
        assert_eq!(ok("  echo   hello\tworld "), vec!["echo", "hello", "world"]);
        assert!(ok("").is_empty());
        assert!(ok("   ").is_empty());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            ok(r#"emit a.b '{"from":"alice"}'"#),
            vec!["emit", "a.b", r#"{"from":"alice"}"#]
        );
        assert_eq!(ok(r#"echo "a \"b\" \\ \n""#), vec!["echo", r#"a "b" \ \n"#]);
        assert_eq!(ok(r"echo a\ b"), vec!["echo", "a b"]);
        assert_eq!(ok("echo ''"), vec!["echo", ""]);
        assert_eq!(ok("x'y'\"z\""), vec!["xyz"]);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(split("echo 'abc"), Err(SplitError::UnterminatedQuote('\'')));
        assert_eq!(split("echo \"abc"), Err(SplitError::UnterminatedQuote('"')));
        assert_eq!(split("echo abc\\"), Err(SplitError::TrailingBackslash));
        let (words, plain) = split_marked("log '>' > f \\> \">\"").unwrap();
        assert_eq!(words, ["log", ">", ">", "f", ">", ">"]);
        assert_eq!(plain, [true, false, true, true, false, false]);
    }
}
