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
//!   kmem    32K
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
//!   - `start-on PATTERN` — start it when events matching PATTERN (NATS wildcards, e.g.
//!     `ledger.transfer.requested` or `orders.>`) are committed and it is not running, and
//!     once at boot (for what came while it was down); such a run handles what is there and
//!     exits, and holds no memory in between. Not with `restart always` (an exit would start
//!     it again at once).
//!   - `platform NAME...` — start it only on these platforms (`x86_64`, `stm32f4`, `web`): a
//!     run a small board has no room for.
//!   - `args ARG...` — the program's arguments, split at blanks; `"..."` quotes an argument
//!     (or part of one) with blanks, inside which `\"` and `\\` stand for `"` and `\`.
//!     Up to 64 arguments.
//!   - `allow PREFIX...` — grants: URL prefixes the run may open, `scheme://...` (printable
//!     ASCII, scheme in lower case). May repeat; up to 32 in all, no duplicates. Without any,
//!     the run can open nothing.
//!   - `memory SIZE` — the run's memory limit: bytes, or with a binary suffix `K`, `M` or `G`
//!     (`64K` = 65536), between 1K and 4G. Without it, the kernel's default applies.
//!   - `kmem SIZE` — the run's kernel-memory quota (what the kernel may hold for it: output
//!     waiting for the console, messages in flight, requests), sized like `memory`. Without
//!     it, the platform's default applies.
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
    /// Kernel-memory quota in bytes; `None`: the platform's default.
    pub kmem: Option<u64>,
    pub restart: RestartPolicy,
    /// The platforms it starts on (`platform x86_64`); empty: all.
    pub platforms: Vec<String>,
    /// Events that start it (`start-on PATTERN`), besides its start at boot.
    pub start_on: Option<String>,
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

const RUN_KEYS: &str = "args, allow, memory, kmem, platform, start-on, restart, backoff or limit";
/// Longest `start-on` pattern (the bus's subject limit).
pub const MAX_PATTERN: usize = 128;

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
    kmem: Option<usize>,
    platform: Option<usize>,
    start_on: Option<usize>,
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
            "args" | "allow" | "memory" | "kmem" | "platform" | "start-on" | "restart"
            | "backoff" | "limit"
                if !indented =>
            {
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
                    kmem: None,
                    restart: RestartPolicy::default(),
                    platforms: Vec::new(),
                    start_on: None,
                },
                args: None,
                memory: None,
                kmem: None,
                platform: None,
                start_on: None,
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
        if let (Some(line), RestartMode::Always) = (run.start_on, run.spec.restart.mode) {
            return Err(ManifestError {
                line,
                message: String::from(
                    "\"start-on\" with \"restart always\" would start the run again as soon as it \
                     ends; use \"restart on-failure\"",
                ),
            });
        }
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
            "kmem" => Some(&mut self.kmem),
            "platform" => Some(&mut self.platform),
            "start-on" => Some(&mut self.start_on),
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
                "args" => {
                    "\"args\" needs at least one argument (leave the line out for none)".into()
                }
                "allow" => "\"allow\" needs at least one URL prefix, e.g. file:///data/app".into(),
                "memory" => "\"memory\" needs a size, e.g. 64K".into(),
                "kmem" => "\"kmem\" needs a size, e.g. 64K".into(),
                "platform" => "\"platform\" needs a platform name, e.g. x86_64".into(),
                "start-on" => {
                    "\"start-on\" needs an event pattern, e.g. ledger.transfer.requested".into()
                }
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
            "platform" => {
                for name in words {
                    if !matches!(name, "x86_64" | "stm32f4" | "web") {
                        return Err(format!(
                            "unknown platform {} (expected x86_64, stm32f4 or web)",
                            quote(name)
                        ));
                    }
                    spec.platforms.push(name.to_string());
                }
            }
            "start-on" => {
                let [pattern] = words[..] else {
                    return Err(trailing("start-on pattern", words[1]));
                };
                check_pattern(pattern)?;
                spec.start_on = Some(pattern.to_string());
            }
            "memory" => {
                let [size] = words[..] else {
                    return Err(trailing("memory size", words[1]));
                };
                spec.memory = Some(parse_size(size)?);
            }
            "kmem" => {
                let [size] = words[..] else {
                    return Err(trailing("kernel-memory size", words[1]));
                };
                spec.kmem = Some(parse_size(size)?);
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

/// A `start-on` pattern: dot-separated tokens of printable ASCII, `*` a whole token and `>`
/// a whole last token (the bus checks it again when init registers it).
fn check_pattern(pattern: &str) -> Res<()> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!(
            "event pattern {} is longer than {MAX_PATTERN} bytes",
            quote(pattern)
        ));
    }
    let tokens: Vec<&str> = pattern.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        let wild = token.contains(['*', '>']);
        let ok = !token.is_empty()
            && token.bytes().all(|b| b.is_ascii_graphic())
            && (!wild || *token == "*" || (*token == ">" && i + 1 == tokens.len()));
        if !ok {
            return Err(format!(
                "{} is not an event pattern (tokens separated by dots; * a whole token, > the last)",
                quote(pattern)
            ));
        }
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
            return Err(format!(
                "an argument is too long (at most {MAX_ARG_LEN} bytes)"
            ));
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
        return Err(format!(
            "bad {what} {} (expected a whole number)",
            quote(text)
        ));
    }
    text.parse::<u64>()
        .map_err(|_| format!("{what} {} is far too large", quote(text)))
}

/// Splits `text` into its leading digits and the rest (the unit).
fn split_unit(text: &str) -> (&str, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(digits)
}

/// `65536`, `64K`, `2M`, `1G` (binary multiples; `k`, `m`, `g` too: [`zb_abi::fmt::parse_size`]),
/// between 1K and 4G.
fn parse_size(text: &str) -> Res<u64> {
    use zb_abi::fmt::SizeError;
    let out_of_range = || format!("memory size {} is out of range (1K to 4G)", quote(text));
    match zb_abi::fmt::parse_size(text) {
        Ok(bytes) if (MIN_MEMORY..=MAX_MEMORY).contains(&bytes) => Ok(bytes),
        Ok(_) | Err(SizeError::Overflow) => Err(out_of_range()),
        Err(SizeError::TooLarge) => Err(format!("memory size {} is far too large", quote(text))),
        Err(SizeError::Malformed) => Err(format!(
            "bad memory size {} (expected e.g. 64K)",
            quote(text)
        )),
        Err(SizeError::UnknownUnit) => {
            let (_, unit) = split_unit(text);
            Err(format!(
                "unknown size unit {} in {} (expected K, M or G, or none for bytes)",
                quote(unit),
                quote(text)
            ))
        }
    }
}

/// `250us`, `100ms`, `5s`, `2m`, `1h`, as µs.
fn parse_duration(text: &str) -> Res<u64> {
    let (digits, unit) = split_unit(text);
    if digits.is_empty() {
        return Err(format!(
            "bad duration {} (expected e.g. 100ms or 5s)",
            quote(text)
        ));
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::vec;

    fn err(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(m) => panic!("parsed: {m:?}"),
            Err(e) => format!("{e}"),
        }
    }

    const EXAMPLE: &str = "\
# /etc/init.manifest — started in order: every service, then every run.
service console
service vfs

# A boot run: restarted on failure, 100 ms doubling to 5 s, at most 5 restarts a minute.
run ledger-cmd
  args    --strict \"--label=main ledger\"
  allow   file:///data/ledger
  allow   console://stdout console://stderr
  memory  64K
  kmem    32K
  restart on-failure
  backoff 100ms..5s
  limit   5 per 60s

run motd
  args /etc/motd
  allow file:///etc/motd
";

    #[test]
    fn the_documented_example() {
        let m = Manifest::parse(EXAMPLE).unwrap();
        assert_eq!(m.services, ["console", "vfs"]);
        assert_eq!(m.runs.len(), 2);
        let ledger = m.run("ledger-cmd").unwrap();
        assert_eq!(
            *ledger,
            RunSpec {
                name: "ledger-cmd".into(),
                line: 6,
                args: vec!["--strict".into(), "--label=main ledger".into()],
                grants: vec![
                    "file:///data/ledger".into(),
                    "console://stdout".into(),
                    "console://stderr".into()
                ],
                memory: Some(65536),
                kmem: Some(32768),
                restart: RestartPolicy {
                    mode: RestartMode::OnFailure,
                    backoff: Backoff {
                        initial_us: 100_000,
                        max_us: 5_000_000
                    },
                    limit: RateLimit {
                        restarts: 5,
                        window_us: 60_000_000
                    },
                },
                platforms: vec![],
                start_on: None,
            }
        );
        let motd = m.run("motd").unwrap();
        assert_eq!(motd.line, 16);
        assert_eq!(motd.args, ["/etc/motd"]);
        assert_eq!(motd.memory, None);
        assert_eq!(motd.kmem, None);
        assert_eq!(motd.restart, RestartPolicy::default());
        assert_eq!(motd.restart.mode, RestartMode::Never);
        // The module docs show the same text.
        let docs = include_str!("manifest.rs");
        let documented: String = docs
            .lines()
            .skip_while(|l| !l.starts_with("//! ```text"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.strip_prefix("//! ").unwrap_or("")))
            .collect();
        assert_eq!(documented, EXAMPLE);
    }

    #[test]
    fn empty_comments_crlf_tabs_and_defaults() {
        assert_eq!(Manifest::parse("").unwrap(), Manifest::default());
        assert_eq!(
            Manifest::parse("\n  \n# x\n\t# y\n").unwrap(),
            Manifest::default()
        );
        let m =
            Manifest::parse("run a\r\n\trestart\talways\r\n\tmemory 2M\r\nservice s\r\n").unwrap();
        assert_eq!(m.services, ["s"]);
        let a = &m.runs[0];
        assert_eq!(a.restart, RestartPolicy::new(RestartMode::Always));
        assert_eq!(a.memory, Some(2 << 20));
        assert!(a.args.is_empty() && a.grants.is_empty());
        // A run without properties, at the end without a newline.
        let m = Manifest::parse("run x").unwrap();
        assert_eq!(m.runs[0].name, "x");
    }

    #[test]
    fn values() {
        let one = |props: &str| {
            let text = format!("run r\n  restart always\n{props}");
            Manifest::parse(&text).map(|m| m.runs[0].clone())
        };
        assert_eq!(one("  memory 65536").unwrap().memory, Some(65536));
        assert_eq!(one("  memory 1k").unwrap().memory, Some(1024));
        assert_eq!(one("  memory 4G").unwrap().memory, Some(4 << 30));
        let b = one("  backoff 250us..1h").unwrap_err();
        assert_eq!(
            format!("{b}"),
            "manifest line 3: backoff \"250us\" is out of range (1ms to 1h)"
        );
        let b = one("  backoff 300ms").unwrap().restart.backoff;
        assert_eq!((b.initial_us, b.max_us), (300_000, 300_000));
        let b = one("  backoff 1s..2m").unwrap().restart.backoff;
        assert_eq!((b.initial_us, b.max_us), (1_000_000, 120_000_000));
        let l = one("  limit 1 per 24h").unwrap().restart.limit;
        assert_eq!((l.restarts, l.window_us), (1, 86_400_000_000));
        let a = one(r#"  args a "" "b c"d "x\"y\\z" "\n""#).unwrap().args;
        assert_eq!(a, ["a", "", "b cd", "x\"y\\z", "\\n"]);
    }

    #[test]
    fn the_brief_error_message() {
        let text = "service console\nservice vfs\n\nrun ledger-cmd\n  args --strict\n  memory 64K\n  restart sometimes\n";
        assert_eq!(
            err(text),
            "manifest line 7: unknown restart policy \"sometimes\" (expected never, on-failure or always)"
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        for (text, want) in [
            (
                "servce a",
                "line 1: unknown entry \"servce\" (expected service or run)",
            ),
            (
                "run a\n  colour red",
                "line 2: unknown run property \"colour\" (expected args, allow, memory, kmem, platform, start-on, restart, backoff or limit)",
            ),
            (
                "memory 64K",
                "line 1: \"memory\" is a run property: indent it under its \"run NAME\" line",
            ),
            (
                "  memory 64K",
                "line 1: \"memory\" is indented but there is no \"run NAME\" line above it to belong to",
            ),
            (
                "run a\nservice b\n  memory 1K",
                "line 3: \"memory\" is indented but there is no \"run NAME\" line above it to belong to",
            ),
            (
                "run a\n  run b",
                "line 2: \"run\" must start at the beginning of the line (only run properties are indented)",
            ),
            ("service", "line 1: \"service\" needs a name"),
            ("run   ", "line 1: \"run\" needs a name"),
            (
                "service a b",
                "line 1: unexpected \"b\" after the service name (one name a line)",
            ),
            (
                "run -x",
                "line 1: bad run name \"-x\" (letters, digits, '-', '_' and '.', starting with a letter or digit)",
            ),
            (
                "run a/b",
                "line 1: bad run name \"a/b\" (letters, digits, '-', '_' and '.', starting with a letter or digit)",
            ),
            (
                "service a\n\nservice a",
                "line 3: service \"a\" is already listed on line 1",
            ),
            (
                "run a\nrun a",
                "line 2: run \"a\" is already listed on line 1",
            ),
            (
                "run a\n  memory 1K\n  memory 2K",
                "line 3: \"memory\" is already set for run \"a\" on line 2",
            ),
            (
                "run a\n  args x\n  args y",
                "line 3: \"args\" is already set for run \"a\" on line 2",
            ),
            (
                "run a\n  args",
                "line 2: \"args\" needs at least one argument (leave the line out for none)",
            ),
            (
                "run a\n  args \"x",
                "line 2: unterminated quote in \"args\" (a \" is missing)",
            ),
            (
                "run a\n  allow",
                "line 2: \"allow\" needs at least one URL prefix, e.g. file:///data/app",
            ),
            (
                "run a\n  allow /data",
                "line 2: grant \"/data\" is not a URL prefix (expected scheme://..., e.g. file:///data/app)",
            ),
            (
                "run a\n  allow FILE:///x",
                "line 2: grant \"FILE:///x\" is not a URL prefix (expected scheme://..., e.g. file:///data/app)",
            ),
            (
                "run a\n  allow file:///x\u{7f}",
                "line 2: grant \"file:///x\\u{7f}\" contains '\\u{7f}' (URL prefixes are printable ASCII)",
            ),
            (
                "run a\n  allow file:///x\n  allow file:///x",
                "line 3: grant \"file:///x\" is already listed",
            ),
            (
                "run a\n  memory",
                "line 2: \"memory\" needs a size, e.g. 64K",
            ),
            (
                "run a\n  memory 64 K",
                "line 2: unexpected \"K\" after the memory size",
            ),
            (
                "run a\n  memory 64KB",
                "line 2: unknown size unit \"KB\" in \"64KB\" (expected K, M or G, or none for bytes)",
            ),
            (
                "run a\n  memory lots",
                "line 2: bad memory size \"lots\" (expected e.g. 64K)",
            ),
            (
                "run a\n  memory -1",
                "line 2: bad memory size \"-1\" (expected e.g. 64K)",
            ),
            (
                "run a\n  memory 0",
                "line 2: memory size \"0\" is out of range (1K to 4G)",
            ),
            (
                "run a\n  memory 5G",
                "line 2: memory size \"5G\" is out of range (1K to 4G)",
            ),
            (
                "run a\n  memory 99999999999999999999",
                "line 2: memory size \"99999999999999999999\" is far too large",
            ),
            (
                "run a\n  memory 18446744073709551615K",
                "line 2: memory size \"18446744073709551615K\" is out of range (1K to 4G)",
            ),
            (
                "run a\n  restart",
                "line 2: \"restart\" needs a policy: never, on-failure or always",
            ),
            (
                "run a\n  restart always now",
                "line 2: unexpected \"now\" after the restart policy",
            ),
            (
                "run a\n  restart always\n  backoff 100",
                "line 3: duration \"100\" needs a unit (us, ms, s, m or h)",
            ),
            (
                "run a\n  restart always\n  backoff 100ms..5d",
                "line 3: unknown duration unit \"d\" in \"5d\" (expected us, ms, s, m or h)",
            ),
            (
                "run a\n  restart always\n  backoff 5s..100ms",
                "line 3: backoff \"5s..100ms\" starts above its maximum (expected INITIAL..MAX with INITIAL <= MAX)",
            ),
            (
                "run a\n  restart always\n  backoff ..5s",
                "line 3: bad duration \"\" (expected e.g. 100ms or 5s)",
            ),
            (
                "run a\n  restart always\n  backoff 1ms..2h",
                "line 3: backoff \"2h\" is out of range (1ms to 1h)",
            ),
            (
                "run a\n  restart always\n  backoff 99999999999999h",
                "line 3: duration \"99999999999999h\" is far too large",
            ),
            (
                "run a\n  restart always\n  limit 5",
                "line 3: \"limit\" takes N per WINDOW, e.g. 5 per 60s (got \"5\")",
            ),
            (
                "run a\n  restart always\n  limit 5 in 60s",
                "line 3: \"limit\" takes N per WINDOW, e.g. 5 per 60s (got \"in\" where \"per\" goes)",
            ),
            (
                "run a\n  restart always\n  limit five per 60s",
                "line 3: bad restart count \"five\" (expected a whole number)",
            ),
            (
                "run a\n  restart always\n  limit 0 per 60s",
                "line 3: restart limit 0 is out of range (1 to 1000)",
            ),
            (
                "run a\n  restart always\n  limit 5000 per 60s",
                "line 3: restart limit 5000 is out of range (1 to 1000)",
            ),
            (
                "run a\n  restart always\n  limit 5 per 2d",
                "line 3: unknown duration unit \"d\" in \"2d\" (expected us, ms, s, m or h)",
            ),
            (
                "run a\n  restart always\n  limit 5 per 25h",
                "line 3: limit window \"25h\" is out of range (1ms to 24h)",
            ),
            (
                "run a\n  backoff 1s\n  memory 1K\nrun b",
                "line 2: \"backoff\" has no effect without a \"restart\" line (the default is never); use \"restart on-failure\" or \"restart always\"",
            ),
            (
                "run a\n  limit 1 per 1s\n  restart never",
                "line 2: \"limit\" has no effect with \"restart never\"; use \"restart on-failure\" or \"restart always\"",
            ),
        ] {
            assert_eq!(err(text), format!("manifest {want}"), "for {text:?}");
        }
    }

    #[test]
    fn limits_on_counts() {
        let mut text = String::new();
        for i in 0..=MAX_ENTRIES {
            text += &format!("service s{i}\n");
        }
        assert_eq!(
            err(&text),
            format!(
                "manifest line {}: too many entries (at most 256)",
                MAX_ENTRIES + 1
            )
        );
        let args: String = (0..=MAX_ARGS).map(|i| format!(" a{i}")).collect();
        assert_eq!(
            err(&format!("run a\n  args{args}")),
            "manifest line 2: too many arguments (at most 64)"
        );
        let grants: String = (0..=MAX_GRANTS).map(|i| format!(" x://{i}")).collect();
        assert_eq!(
            err(&format!("run a\n  allow{grants}")),
            "manifest line 2: too many grants (at most 32)"
        );
        let long = "n".repeat(MAX_NAME + 1);
        assert_eq!(
            err(&format!("service {long}")),
            format!(
                "manifest line 1: service name \"{}\"... is too long (at most 64 characters)",
                "n".repeat(40)
            )
        );
        assert!(Manifest::parse(&format!("service {}", "n".repeat(MAX_NAME))).is_ok());
        let arg = "y".repeat(MAX_ARG_LEN + 1);
        assert_eq!(
            err(&format!("run a\n  args {arg}")),
            "manifest line 2: an argument is too long (at most 1024 bytes)"
        );
    }

    #[test]
    fn non_utf8_names_its_line() {
        let e = Manifest::parse_bytes(b"service a\nrun b\n  args \xff\n").unwrap_err();
        assert_eq!(format!("{e}"), "manifest line 3: not valid UTF-8");
        assert!(Manifest::parse_bytes(EXAMPLE.as_bytes()).is_ok());
    }

    /// A small deterministic PRNG (xorshift64*), so the fuzz tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_error(e: &ManifestError, text_lines: usize) {
        assert!(e.line >= 1 && e.line <= text_lines.max(1), "{e}");
        assert!(!e.message.is_empty());
        // Messages stay short whatever the input (quoted text is cut).
        assert!(e.message.len() < 400, "{e}");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = rng.below(200);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            if let Err(e) = Manifest::parse_bytes(&bytes) {
                check_error(&e, lines);
            }
        }
    }

    #[test]
    fn random_mutations_of_the_example_never_panic() {
        // Splice tokens and noise into the example: exercises the deep paths that random
        // bytes rarely reach.
        let pieces = [
            "run",
            "service",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "#",
            "\"",
            "\\",
            "..",
            "per",
            "K",
            "G",
            "ms",
            "s",
            "h",
            "us",
            "0",
            "9",
            "18446744073709551616",
            "://",
            "file:///",
            "args",
            "allow",
            "memory",
            "restart",
            "backoff",
            "limit",
            "always",
            "é",
            "\u{0}",
            " ",
        ];
        let mut rng = Rng(42);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut text = String::from(EXAMPLE);
            for _ in 0..1 + rng.below(4) {
                let mut at = rng.below(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if rng.below(3) == 0 {
                    let mut end = (at + rng.below(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, pieces[rng.below(pieces.len())]);
                }
            }
            match Manifest::parse(&text) {
                Ok(m) => {
                    parsed += 1;
                    for run in &m.runs {
                        let b = run.restart.backoff;
                        assert!(b.initial_us <= b.max_us && b.initial_us >= MIN_BACKOFF_US);
                        assert!(
                            run.memory
                                .is_none_or(|m| (MIN_MEMORY..=MAX_MEMORY).contains(&m))
                        );
                    }
                }
                Err(e) => check_error(&e, text.split('\n').count()),
            }
        }
        assert!(
            parsed > 100,
            "mutations too destructive to test much: {parsed}"
        );
    }

    #[test]
    fn a_run_can_be_limited_to_platforms() {
        let m = Manifest::parse("run ledger\n  platform x86_64 web\nrun flaky\n").unwrap();
        assert_eq!(m.run("ledger").unwrap().platforms, ["x86_64", "web"]);
        assert!(m.run("flaky").unwrap().platforms.is_empty());
        let e = Manifest::parse("run a\n  platform vax\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("unknown platform \"vax\""),
            "{}",
            e.message
        );
        let e = Manifest::parse("platform x86_64\n").unwrap_err();
        assert!(e.message.contains("is a run property"), "{}", e.message);
    }

    #[test]
    fn a_run_can_start_on_events() {
        let m = Manifest::parse(
            "run ledger\n  start-on ledger.transfer.requested\n  restart on-failure\nrun a\n  start-on 'orders.*.>'\n",
        );
        let e = m.unwrap_err();
        assert!(e.message.contains("not an event pattern"), "{}", e.message);
        let m = Manifest::parse(
            "run ledger\n  start-on ledger.transfer.requested\n  restart on-failure\nrun b\n  start-on orders.*.>\nrun c\n",
        )
        .unwrap();
        assert_eq!(
            m.run("ledger").unwrap().start_on.as_deref(),
            Some("ledger.transfer.requested")
        );
        assert_eq!(m.run("b").unwrap().start_on.as_deref(), Some("orders.*.>"));
        assert_eq!(m.run("c").unwrap().start_on, None);
        for (text, line, want) in [
            (
                "run a\n  start-on\n",
                2,
                "\"start-on\" needs an event pattern",
            ),
            ("run a\n  start-on a.b c.d\n", 2, "unexpected"),
            ("run a\n  start-on a.>.b\n", 2, "not an event pattern"),
            ("run a\n  start-on a..b\n", 2, "not an event pattern"),
            ("run a\n  start-on a.b*\n", 2, "not an event pattern"),
            ("run a\n  start-on a\n  start-on b\n", 3, "already set"),
            (
                "run a\n  start-on a.b\n  restart always\n",
                2,
                "would start the run again as soon as it ends",
            ),
            ("start-on a\n", 1, "is a run property"),
        ] {
            let e = Manifest::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(want), "{text:?}: {e}");
        }
        let long = format!("run a\n  start-on {}\n", "x".repeat(MAX_PATTERN + 1));
        assert!(
            Manifest::parse(&long)
                .unwrap_err()
                .message
                .contains("longer than")
        );
    }
}
