//! The init manifest: which services and runs init starts, and how.
//!
//! A small line-oriented text format, read from the boot image (`/etc/init.manifest`):
//!
//! ```text
//! # /etc/init.manifest — started in order: every service, then every run.
//! service console
//! service vfs
//!
//! # A boot run: restarted on failure, 100 ms doubling to 5 s, at most 5 restarts a minute.
//! run ledger-cmd
//!   args    --strict "--label=main ledger"
//!   allow   file:///data/ledger
//!   allow   console://stdout console://stderr
//!   memory  64K
//!   restart on-failure
//!   backoff 100ms..5s
//!   limit   5 per 60s
//!
//! run motd
//!   args /etc/motd
//!   allow file:///etc/motd
//! ```
//!
//! The rules:
//!
//! - One statement a line. Blank lines and lines whose first non-blank character is `#` are
//!   ignored (comments are whole lines: a `#` elsewhere is part of the text, as in a URL).
//!   Blanks are spaces and tabs; `\r\n` line ends are fine.
//! - Entries start at the beginning of the line:
//!   - `service NAME` — a native service to start. It takes no properties.
//!   - `run NAME` — a program (from `/bin`) to start as a run. Its properties follow on
//!     indented lines, up to the next entry.
//!
//!   NAME is 1–64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit;
//!   a service or a run can be listed only once.
//! - Run properties (indented; each at most once, except `allow`):
//!   - `args ARG...` — the program's arguments, split at blanks; `"..."` quotes an argument
//!     (or part of one) with blanks, inside which `\"` and `\\` stand for `"` and `\`.
//!     Up to 64 arguments.
//!   - `allow PREFIX...` — grants: URL prefixes the run may open, `scheme://...` (printable
//!     ASCII, scheme in lower case). May repeat; up to 32 in all, no duplicates. Without any,
//!     the run can open nothing.
//!   - `memory SIZE` — the run's memory limit: bytes, or with a binary suffix `K`, `M` or `G`
//!     (`64K` = 65536), between 1K and 4G. Without it, the kernel's default applies.
//!   - `restart never|on-failure|always` — the default is `never`.
//!   - `backoff INITIAL..MAX` (or just `INITIAL` for a fixed wait) — the wait before a restart,
//!     doubling from INITIAL up to MAX; durations take a unit `us`, `ms`, `s`, `m` or `h`,
//!     between 1ms and 1h. Default `100ms..5s`.
//!   - `limit N per WINDOW` — at most N (1–1000) restarts within any WINDOW (1ms–24h); one
//!     more and init gives up on the run and logs it. Default `5 per 60s`.
//!
//!   `backoff` and `limit` need a `restart` other than `never` (they would do nothing).
//!
//! See [`crate::restart`] for what the restart settings do. Any deviation is an error naming
//! its line, e.g. `manifest line 7: unknown restart policy "sometimes" (expected never,
//! on-failure or always)`; the parser never panics, whatever the bytes.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::restart::{Backoff, Micros, RateLimit, RestartMode, RestartPolicy};

/// Longest service or run name.
pub const MAX_NAME: usize = 64;
/// Most services plus runs in one manifest.
pub const MAX_ENTRIES: usize = 256;
/// Most arguments of one run.
pub const MAX_ARGS: usize = 64;
/// Longest argument.
pub const MAX_ARG_LEN: usize = 1024;
/// Most grants of one run.
pub const MAX_GRANTS: usize = 32;
/// Longest grant.
pub const MAX_GRANT_LEN: usize = 256;
/// Memory limit bounds, bytes.
pub const MIN_MEMORY: u64 = 1 << 10;
pub const MAX_MEMORY: u64 = 4 << 30;
/// Backoff bounds, µs.
pub const MIN_BACKOFF_US: u64 = 1_000;
pub const MAX_BACKOFF_US: u64 = 3_600_000_000;
/// Rate-limit bounds.
pub const MAX_LIMIT_RESTARTS: u32 = 1000;
pub const MIN_WINDOW_US: u64 = 1_000;
pub const MAX_WINDOW_US: u64 = 24 * 3_600_000_000;

/// A parsed manifest. init starts every service, in order, then every run, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub services: Vec<String>,
    pub runs: Vec<RunSpec>,
}

/// One `run` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The program's name (in `/bin`), also the run's name in init's log.
    pub name: String,
    /// The manifest line of its `run` statement (for log messages).
    pub line: usize,
    pub args: Vec<String>,
    /// URL prefixes the run may open.
    pub grants: Vec<String>,
    /// Memory limit in bytes; `None`: the kernel's default.
    pub memory: Option<u64>,
    pub restart: RestartPolicy,
}

/// A manifest that does not parse: the 1-based line and what is wrong with it.
///
/// `Display`: `manifest line 7: unknown restart policy "sometimes" (expected never,
/// on-failure or always)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.message)
    }
}

impl core::error::Error for ManifestError {}

const RUN_KEYS: &str = "args, allow, memory, restart, backoff or limit";

/// Quotes user text for an error message: escaped, and cut to a readable length.
fn quote(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

impl Manifest {
    /// Parses a manifest as read from the boot image.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        match core::str::from_utf8(bytes) {
            Ok(text) => Manifest::parse(text),
            Err(e) => {
                let valid = &bytes[..e.valid_up_to()];
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                Err(ManifestError {
                    line,
                    message: "not valid UTF-8".to_string(),
                })
            }
        }
    }

    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut parser = Parser::default();
        for raw in text.split('\n') {
            parser.line(raw.strip_suffix('\r').unwrap_or(raw))?;
        }
        parser.finish_run()?;
        Ok(parser.manifest)
    }

    /// The run called `name`.
    pub fn run(&self, name: &str) -> Option<&RunSpec> {
        self.runs.iter().find(|r| r.name == name)
    }
}

/// A run being parsed, with the line of each property seen.
struct OpenRun {
    spec: RunSpec,
    args: Option<usize>,
    memory: Option<usize>,
    restart: Option<usize>,
    backoff: Option<usize>,
    limit: Option<usize>,
}

#[derive(Default)]
struct Parser {
    manifest: Manifest,
    /// The line of each service, parallel to `manifest.services`.
    service_lines: Vec<usize>,
    current: Option<OpenRun>,
    line: usize,
}

type Res<T> = Result<T, String>;

impl Parser {
    fn line(&mut self, raw: &str) -> Result<(), ManifestError> {
        self.line += 1;
        let line = self.line;
        let at = |message| ManifestError { line, message };
        let blank = |c: char| c == ' ' || c == '\t';
        let text = raw.trim_matches(blank);
        if text.is_empty() || text.starts_with('#') {
            return Ok(());
        }
        let indented = raw.starts_with(blank);
        let (key, rest) = match text.find(blank) {
            Some(i) => (&text[..i], text[i..].trim_start_matches(blank)),
            None => (text, ""),
        };
        match key {
            "service" | "run" if indented => Err(at(format!(
                "\"{key}\" must start at the beginning of the line (only run properties are indented)"
            ))),
            "service" | "run" => {
                self.finish_run()?;
                self.entry(key, rest).map_err(at)
            }
            "args" | "allow" | "memory" | "restart" | "backoff" | "limit" if !indented => {
                Err(at(format!(
                    "\"{key}\" is a run property: indent it under its \"run NAME\" line"
                )))
            }
            _ if !indented => Err(at(format!(
                "unknown entry {} (expected service or run)",
                quote(key)
            ))),
            _ => match self.current.as_mut() {
                Some(run) => run.property(key, rest, line).map_err(at),
                None => Err(at(format!(
                    "{} is indented but there is no \"run NAME\" line above it to belong to",
                    quote(key)
                ))),
            },
        }
    }

    fn entry(&mut self, key: &str, rest: &str) -> Res<()> {
        let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
        let Some(name) = words.next() else {
            return Err(format!("\"{key}\" needs a name"));
        };
        if let Some(extra) = words.next() {
            return Err(format!(
                "unexpected {} after the {key} name (one name a line)",
                quote(extra)
            ));
        }
        check_name(key, name)?;
        if self.manifest.services.len() + self.manifest.runs.len() + 1 > MAX_ENTRIES {
            return Err(format!("too many entries (at most {MAX_ENTRIES})"));
        }
        let name = name.to_string();
        if key == "service" {
            if let Some(i) = self.manifest.services.iter().position(|s| *s == name) {
                return Err(format!(
                    "service {} is already listed on line {}",
                    quote(&name),
                    self.service_lines[i]
                ));
            }
            self.manifest.services.push(name);
            self.service_lines.push(self.line);
        } else {
            if let Some(r) = self.manifest.run(&name) {
                return Err(format!(
                    "run {} is already listed on line {}",
                    quote(&name),
                    r.line
                ));
            }
            self.current = Some(OpenRun {
                spec: RunSpec {
                    name,
                    line: self.line,
                    args: Vec::new(),
                    grants: Vec::new(),
                    memory: None,
                    restart: RestartPolicy::default(),
                },
                args: None,
                memory: None,
                restart: None,
                backoff: None,
                limit: None,
            });
        }
        Ok(())
    }

    /// Closes the open run block, if any: checks it as a whole and adds it.
    fn finish_run(&mut self) -> Result<(), ManifestError> {
        let Some(run) = self.current.take() else {
            return Ok(());
        };
        if run.spec.restart.mode == RestartMode::Never {
            let hint = match run.restart {
                Some(_) => "with \"restart never\"",
                None => "without a \"restart\" line (the default is never)",
            };
            for (key, line) in [("backoff", run.backoff), ("limit", run.limit)] {
                if let Some(line) = line {
                    return Err(ManifestError {
                        line,
                        message: format!(
                            "\"{key}\" has no effect {hint}; use \"restart on-failure\" or \"restart always\""
                        ),
                    });
                }
            }
        }
        self.manifest.runs.push(run.spec);
        Ok(())
    }
}

impl OpenRun {
    fn property(&mut self, key: &str, rest: &str, line: usize) -> Res<()> {
        let seen = match key {
            "args" => Some(&mut self.args),
            "memory" => Some(&mut self.memory),
            "restart" => Some(&mut self.restart),
            "backoff" => Some(&mut self.backoff),
            "limit" => Some(&mut self.limit),
            "allow" => None,
            _ => {
                return Err(format!(
                    "unknown run property {} (expected {RUN_KEYS})",
                    quote(key)
                ));
            }
        };
        if let Some(seen) = seen {
            if let Some(first) = *seen {
                return Err(format!(
                    "\"{key}\" is already set for run {} on line {first}",
                    quote(&self.spec.name)
                ));
            }
            *seen = Some(line);
        }
        let words: Vec<&str> = rest.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Err(match key {
                "args" => "\"args\" needs at least one argument (leave the line out for none)".into(),
                "allow" => "\"allow\" needs at least one URL prefix, e.g. file:///data/app".into(),
                "memory" => "\"memory\" needs a size, e.g. 64K".into(),
                "restart" => "\"restart\" needs a policy: never, on-failure or always".into(),
                "backoff" => "\"backoff\" needs INITIAL..MAX, e.g. 100ms..5s".into(),
                _ => "\"limit\" needs N per WINDOW, e.g. 5 per 60s".into(),
            });
        }
        let spec = &mut self.spec;
        match key {
            "args" => spec.args = split_args(rest)?,
            "allow" => {
                for prefix in words {
                    check_grant(prefix)?;
                    if spec.grants.iter().any(|g| g == prefix) {
                        return Err(format!("grant {} is already listed", quote(prefix)));
                    }
                    if spec.grants.len() >= MAX_GRANTS {
                        return Err(format!("too many grants (at most {MAX_GRANTS})"));
                    }
                    spec.grants.push(prefix.to_string());
                }
            }
            "memory" => {
                let [size] = words[..] else {
                    return Err(trailing("memory size", words[1]));
                };
                spec.memory = Some(parse_size(size)?);
            }
            "restart" => {
                let [policy] = words[..] else {
                    return Err(trailing("restart policy", words[1]));
                };
                spec.restart.mode = RestartMode::from_name(policy).ok_or_else(|| {
                    format!(
                        "unknown restart policy {} (expected never, on-failure or always)",
                        quote(policy)
                    )
                })?;
            }
            "backoff" => {
                let [range] = words[..] else {
                    return Err(trailing("backoff", words[1]));
                };
                spec.restart.backoff = parse_backoff(range)?;
            }
            _ => {
                let [count, per, window] = words[..] else {
                    return Err(format!(
                        "\"limit\" takes N per WINDOW, e.g. 5 per 60s (got {})",
                        quote(rest)
                    ));
                };
                if per != "per" {
                    return Err(format!(
                        "\"limit\" takes N per WINDOW, e.g. 5 per 60s (got {} where \"per\" goes)",
                        quote(per)
                    ));
                }
                let restarts = parse_number(count, "restart count")?;
                if !(1..=u64::from(MAX_LIMIT_RESTARTS)).contains(&restarts) {
                    return Err(format!(
                        "restart limit {restarts} is out of range (1 to {MAX_LIMIT_RESTARTS})"
                    ));
                }
                let window_us = parse_duration(window)?;
                if !(MIN_WINDOW_US..=MAX_WINDOW_US).contains(&window_us) {
                    return Err(format!(
                        "limit window {} is out of range ({} to {})",
                        quote(window),
                        Micros(MIN_WINDOW_US),
                        Micros(MAX_WINDOW_US)
                    ));
                }
                spec.restart.limit = RateLimit {
                    restarts: restarts as u32,
                    window_us,
                };
            }
        }
        Ok(())
    }
}

fn trailing(what: &str, extra: &str) -> String {
    format!("unexpected {} after the {what}", quote(extra))
}

fn check_name(key: &str, name: &str) -> Res<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if name.len() > MAX_NAME {
        return Err(format!(
            "{key} name {} is too long (at most {MAX_NAME} characters)",
            quote(name)
        ));
    }
    if !first_ok || !name.chars().all(ok_char) {
        return Err(format!(
            "bad {key} name {} (letters, digits, '-', '_' and '.', starting with a letter or digit)",
            quote(name)
        ));
    }
    Ok(())
}

fn check_grant(prefix: &str) -> Res<()> {
    if prefix.len() > MAX_GRANT_LEN {
        return Err(format!(
            "grant {} is too long (at most {MAX_GRANT_LEN} bytes)",
            quote(prefix)
        ));
    }
    if let Some(c) = prefix.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "grant {} contains {:?} (URL prefixes are printable ASCII)",
            quote(prefix),
            c
        ));
    }
    let scheme_ok = match prefix.split_once("://") {
        Some((scheme, _)) => {
            scheme.starts_with(|c: char| c.is_ascii_lowercase())
                && scheme.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
                })
        }
        None => false,
    };
    if !scheme_ok {
        return Err(format!(
            "grant {} is not a URL prefix (expected scheme://..., e.g. file:///data/app)",
            quote(prefix)
        ));
    }
    Ok(())
}

/// Splits `args` text at blanks, honouring `"..."` with `\"` and `\\` inside.
fn split_args(text: &str) -> Res<Vec<String>> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            '\\' if quoted => match chars.clone().next() {
                Some(next @ ('"' | '\\')) => {
                    chars.next();
                    current.push(next);
                }
                _ => current.push('\\'),
            },
            ' ' | '\t' if !quoted => {
                if in_arg {
                    args.push(core::mem::take(&mut current));
                    in_arg = false;
                }
            }
            _ => {
                current.push(c);
                in_arg = true;
            }
        }
        if current.len() > MAX_ARG_LEN {
            return Err(format!("an argument is too long (at most {MAX_ARG_LEN} bytes)"));
        }
        if args.len() > MAX_ARGS {
            return Err(format!("too many arguments (at most {MAX_ARGS})"));
        }
    }
    if quoted {
        return Err("unterminated quote in \"args\" (a \" is missing)".to_string());
    }
    if in_arg {
        args.push(current);
    }
    if args.len() > MAX_ARGS {
        return Err(format!("too many arguments (at most {MAX_ARGS})"));
    }
    Ok(args)
}

/// A decimal number without sign or unit.
fn parse_number(text: &str, what: &str) -> Res<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} {} (expected a whole number)", quote(text)));
    }
    text.parse::<u64>()
        .map_err(|_| format!("{what} {} is far too large", quote(text)))
}

/// Splits `text` into its leading digits and the rest (the unit).
fn split_unit(text: &str) -> (&str, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(digits)
}

/// `65536`, `64K`, `2M`, `1G` (binary multiples; `k`, `m`, `g` too).
fn parse_size(text: &str) -> Res<u64> {
    let (digits, unit) = split_unit(text);
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        _ if digits.is_empty() => {
            return Err(format!("bad memory size {} (expected e.g. 64K)", quote(text)));
        }
        _ => {
            return Err(format!(
                "unknown size unit {} in {} (expected K, M or G, or none for bytes)",
                quote(unit),
                quote(text)
            ));
        }
    };
    let n = parse_number(digits, "memory size")?;
    let bytes = n.checked_mul(scale).filter(|b| (MIN_MEMORY..=MAX_MEMORY).contains(b));
    bytes.ok_or_else(|| format!("memory size {} is out of range (1K to 4G)", quote(text)))
}

/// `250us`, `100ms`, `5s`, `2m`, `1h`, as µs.
fn parse_duration(text: &str) -> Res<u64> {
    let (digits, unit) = split_unit(text);
    if digits.is_empty() {
        return Err(format!("bad duration {} (expected e.g. 100ms or 5s)", quote(text)));
    }
    let scale: u64 = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "" => {
            return Err(format!(
                "duration {} needs a unit (us, ms, s, m or h)",
                quote(text)
            ));
        }
        _ => {
            return Err(format!(
                "unknown duration unit {} in {} (expected us, ms, s, m or h)",
                quote(unit),
                quote(text)
            ));
        }
    };
    parse_number(digits, "duration")?
        .checked_mul(scale)
        .ok_or_else(|| format!("duration {} is far too large", quote(text)))
}

/// `100ms..5s`, or `300ms` for a fixed wait.
fn parse_backoff(text: &str) -> Res<Backoff> {
    let (initial, max) = match text.split_once("..") {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let initial_us = parse_duration(initial)?;
    let max_us = parse_duration(max)?;
    for (part, us) in [(initial, initial_us), (max, max_us)] {
        if !(MIN_BACKOFF_US..=MAX_BACKOFF_US).contains(&us) {
            return Err(format!(
                "backoff {} is out of range ({} to {})",
                quote(part),
                Micros(MIN_BACKOFF_US),
                Micros(MAX_BACKOFF_US)
            ));
        }
    }
    if initial_us > max_us {
        return Err(format!(
            "backoff {} starts above its maximum (expected INITIAL..MAX with INITIAL <= MAX)",
            quote(text)
        ));
    }
    Ok(Backoff { initial_us, max_us })
}
