//! NATS subject rules: what may be published to, what may be subscribed to, and matching.
//!
//! A subject is tokens separated by `.`: non-empty, no whitespace or control characters, at
//! most [`MAX_SUBJECT`] bytes and [`MAX_TOKENS`] tokens. A pattern may also use wildcards as
//! whole tokens: `*` matches exactly one token, `>` one or more trailing tokens (last only).
//!
//! Invariants: nothing here allocates or panics; [`matches`] is only meaningful for a checked
//! pattern and subject (for others it is false or a plain comparison, never a panic).

use core::fmt;

/// Most bytes of a subject or pattern.
pub const MAX_SUBJECT: usize = 128;
/// Most tokens of a subject or pattern.
pub const MAX_TOKENS: usize = 16;

/// Why a subject or pattern is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectError {
    Empty,
    TooLong,
    TooManyTokens,
    /// `a..b`, or a leading or trailing dot.
    EmptyToken,
    /// Whitespace or a control character.
    BadCharacter,
    /// A wildcard where only a plain subject may be (publishing).
    Wildcard,
    /// `>` that is not the last token, or a wildcard inside a token (`a*`).
    MisplacedWildcard,
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectError::Empty => "empty",
            SubjectError::TooLong => "longer than 128 bytes",
            SubjectError::TooManyTokens => "more than 16 tokens",
            SubjectError::EmptyToken => "empty token (two dots in a row, or a dot at an end)",
            SubjectError::BadCharacter => "whitespace or a control character",
            SubjectError::Wildcard => "wildcards (* and >) are for subscribing, not publishing",
            SubjectError::MisplacedWildcard => {
                "a wildcard must be a whole token, and > only the last one"
            }
        })
    }
}

/// Checks the shape shared by subjects and patterns.
fn check_tokens(s: &str) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if s.len() > MAX_SUBJECT {
        return Err(SubjectError::TooLong);
    }
    if s.bytes().any(|b| b <= b' ' || b == 0x7F) {
        return Err(SubjectError::BadCharacter);
    }
    let mut n = 0;
    for token in s.split('.') {
        n += 1;
        if token.is_empty() {
            return Err(SubjectError::EmptyToken);
        }
    }
    if n > MAX_TOKENS {
        return Err(SubjectError::TooManyTokens);
    }
    Ok(())
}

/// The first tokens of the subjects only the system writes: `_…` (consumer positions
/// `_consumer.*`, view snapshots `_snapshot.*`, and any later bookkeeping), dead letters
/// (`dlq.*`) and timer firings (`timer.*`). Boot recovery and delivery trust what is
/// written there, so no run may write there ([`is_reserved`]).
pub const RESERVED: [&str; 2] = ["dlq", "timer"];

/// What a reply inbox starts with (`_INBOX.<pid>.<clock>`, as `req` names them): reserved
/// like the system's subjects, except to a run that received a request naming it in its
/// `reply_to` header (the kernel keeps that right: [`crate::envelope::emitted`]'s `reply`).
pub const INBOX_PREFIX: &str = "_INBOX.";

/// Whether `subject` is a reply inbox ([`INBOX_PREFIX`]).
pub fn is_inbox(subject: &str) -> bool {
    subject.starts_with(INBOX_PREFIX)
}

/// Whether `subject` is one only the system writes (see [`RESERVED`]), or a reply inbox.
pub fn is_reserved(subject: &str) -> bool {
    let first = subject.split('.').next().unwrap_or(subject);
    first.starts_with('_') || RESERVED.contains(&first)
}

/// Checks a subject to publish to: no wildcards.
pub fn check_subject(s: &str) -> Result<(), SubjectError> {
    check_tokens(s)?;
    if s.split('.').any(|t| t.contains(['*', '>'])) {
        return Err(SubjectError::Wildcard);
    }
    Ok(())
}

/// Checks a pattern to subscribe to.
pub fn check_pattern(p: &str) -> Result<(), SubjectError> {
    check_tokens(p)?;
    let mut tokens = p.split('.').peekable();
    while let Some(t) = tokens.next() {
        let last = tokens.peek().is_none();
        match t {
            "*" => {}
            ">" if last => {}
            _ if t.contains(['*', '>']) => return Err(SubjectError::MisplacedWildcard),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `subject` matches `pattern`.
pub fn matches(pattern: &str, subject: &str) -> bool {
    // A subject has no wildcards, so "covers" is "matches": one definition serves grants and
    // routing alike.
    zb_abi::bus::pattern_covers(pattern, subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systems_subjects_are_reserved_by_their_first_token() {
        for s in [
            "_consumer.x",
            "_snapshot.v",
            "_",
            "_any.thing",
            "dlq.c.a.b",
            "timer.t",
            "dlq",
        ] {
            assert!(is_reserved(s), "{s}");
        }
        for s in ["a._b", "dlqx.a", "timers.a", "a.dlq", "orders.timer", "x_"] {
            assert!(!is_reserved(s), "{s}");
        }
    }

    #[test]
    fn wildcards_match_as_in_nats() {
        for (pattern, subject, want) in [
            ("a.b", "a.b", true),
            ("a.b", "a.b.c", false),
            ("a.b.c", "a.b", false),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.*", "a", false),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c", true),
            ("a.>", "a", false),
            (">", "a", true),
            (">", "a.b.c", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("*.*.>", "a.b.c.d", true),
            ("*.*.>", "a.b", false),
            ("ledger.*.changed", "ledger.balance.changed", true),
            ("ledger.*.changed", "ledger.transfer.requested", false),
        ] {
            assert!(check_pattern(pattern).is_ok(), "{pattern}");
            assert!(check_subject(subject).is_ok(), "{subject}");
            assert_eq!(matches(pattern, subject), want, "{pattern} vs {subject}");
        }
    }

    #[test]
    fn bad_subjects_and_patterns_are_refused_with_the_reason() {
        for (s, e) in [
            ("", SubjectError::Empty),
            ("a..b", SubjectError::EmptyToken),
            (".a", SubjectError::EmptyToken),
            ("a.", SubjectError::EmptyToken),
            ("a b", SubjectError::BadCharacter),
            ("a\tb", SubjectError::BadCharacter),
            ("a.*", SubjectError::Wildcard),
            ("a.>", SubjectError::Wildcard),
            ("a*", SubjectError::Wildcard),
        ] {
            assert_eq!(check_subject(s), Err(e), "{s:?}");
        }
        for (p, e) in [
            ("a.>.b", SubjectError::MisplacedWildcard),
            ("a*", SubjectError::MisplacedWildcard),
            ("a.b>", SubjectError::MisplacedWildcard),
            ("a..*", SubjectError::EmptyToken),
        ] {
            assert_eq!(check_pattern(p), Err(e), "{p:?}");
        }
        let long = "a.".repeat(64) + "a";
        assert_eq!(check_subject(&long), Err(SubjectError::TooLong));
        let many = "a.".repeat(16) + "a";
        assert_eq!(check_subject(&many), Err(SubjectError::TooManyTokens));
        // Unchecked input never panics.
        assert!(!matches("a.>.b", ""));
    }
}
