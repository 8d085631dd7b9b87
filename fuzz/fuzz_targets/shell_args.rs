//! Fuzz target `shell_args`: the shell's command-line splitter (`zb_shell::args::split_marked`),
//! which reads every line typed at the serial console.
//!
//! The input is the line (UTF-8). Beyond "never panics" it asserts:
//! - `split` is `split_marked` without the marks, one mark per word;
//! - a word marked plain (no quote or backslash in it) holds no whitespace, quote or
//!   backslash — only such a word can be an operator;
//! - quoting every word (`'…'`, with `'\''` for a quote) and joining them with spaces splits
//!   back into the same words, none plain; a line that splits also splits the same with
//!   blanks added around it;
//! - a refusal is explained: an unterminated quote means the line has that quote character,
//!   a trailing backslash that the line ends with one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zb_shell::args::{SplitError, split, split_marked};

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let marked = split_marked(line);
    assert_eq!(split(line), marked.clone().map(|(words, _)| words));
    match marked {
        Ok((words, plain)) => {
            assert_eq!(words.len(), plain.len());
            for (w, &p) in words.iter().zip(&plain) {
                if p {
                    assert!(!w.is_empty());
                    assert!(
                        !w.chars()
                            .any(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '\\')),
                        "plain word {w:?}"
                    );
                }
            }
            let requoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
            let again = requoted.join(" ");
            let (back, marks) = split_marked(&again).expect("a quoted line splits");
            assert_eq!(back, words, "re-quoted as {again:?}");
            assert!(marks.iter().all(|&m| !m));
            assert_eq!(split(&format!(" \t{line}\t ")), Ok(words));
        }
        Err(SplitError::UnterminatedQuote(q)) => {
            assert!(matches!(q, '\'' | '"') && line.contains(q));
        }
        Err(SplitError::TrailingBackslash) => assert!(line.ends_with('\\')),
    }
});
