//! The ZeroBus OS shell.
//!
//! A console client ([`zb_abi::ConsoleClient`]): it receives raw terminal bytes, edits lines
//! with [`editor::LineEditor`], splits them into words ([`args::split`]) and runs commands from
//! [`commands::COMMANDS`]. It talks to the system only through [`zb_abi::Host`].
//!
//! The shell is either *at the prompt* (editing a line) or *busy with a foreground job*
//! ([`jobs`]): a run started with `run`, or one awaited with `wait`. While busy it shows no
//! prompt and does not edit lines; Ctrl-C kills the run (or stops waiting), and the job's end
//! prints its status and a fresh prompt. Background jobs' ends are printed above the prompt,
//! redrawing the line being typed.
//!
//! `time <command line>` runs the command and then prints `time: <ms> ms (<n> cycles)` on a line
//! of its own: at once for a command that finishes synchronously (after its output), or, when it
//! started a foreground job, right after that job's status line (see [`jobs::Timing`]).
//!
//! Invariants:
//! - No input can make the shell panic or stop answering: a foreground job always ends, either
//!   by its exit report or by Ctrl-C.
//! - Every submitted line ends with a fresh prompt (`zb:<cwd>> `), unless it started a
//!   foreground job (the prompt then follows the job's status line) or stopped the machine.
//! - The prompt and the edited line are on screen exactly when there is no foreground job and
//!   the editor is not discarding an overlong line; [`ConsoleClient::hide_line`] and
//!   [`ConsoleClient::show_line`] erase and redraw them only then.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod commands;
pub mod ctx;
pub mod editor;
pub mod files;
pub mod history;
pub mod jobs;
mod term;

use alloc::string::String;
use core::fmt::Write;

use zb_abi::{ConsoleClient, Error, Host, RunInfo};

use ctx::Ctx;
use editor::{Event, LineEditor};
use jobs::{Ended, Jobs, Mode};
use term::Printable;
pub use term::{CLEAR_SCREEN, ERASE_LINE};

/// Ctrl-C.
const INTERRUPT: u8 = 0x03;

pub struct Shell {
    editor: LineEditor,
    jobs: Jobs,
    /// The working directory: absolute and normalised.
    cwd: String,
}

impl Default for Shell {
    fn default() -> Self {
        Shell {
            editor: LineEditor::default(),
            jobs: Jobs::default(),
            cwd: String::from("/"),
        }
    }
}

impl Shell {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shell's jobs (what it is waiting for).
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    fn prompt(&self, out: &mut String) {
        out.push_str("zb:");
        out.push_str(&self.cwd);
        out.push_str("> ");
    }

    /// Whether the prompt and the edited line are on screen.
    fn at_prompt(&self) -> bool {
        self.jobs.foreground().is_none() && !self.editor.discarding()
    }

    /// The prompt and the line being edited, cursor in place.
    fn redraw(&self, out: &mut String) {
        self.prompt(out);
        self.editor.render(out);
    }

    /// Runs one submitted line.
    pub fn execute(&mut self, line: &str, host: &mut dyn Host, out: &mut String) {
        let (words, plain) = match args::split_marked(line) {
            Ok(words) => words,
            Err(e) => {
                let _ = writeln!(out, "syntax error: {e}");
                return;
            }
        };
        let (words, redirect) = match split_redirect(&words, &plain) {
            Ok(split) => split,
            Err(msg) => {
                let _ = writeln!(out, "syntax error: {msg}");
                return;
            }
        };
        let Some((name, rest)) = words.split_first() else {
            return;
        };
        let Some(cmd) = commands::find(name) else {
            let _ = writeln!(out, "unknown command: {} (try help)", Printable(name));
            return;
        };
        if redirect.is_some()
            && matches!(
                cmd.name,
                "run" | "wait" | "time" | "emit" | "sub" | "log" | "req" | "dlq" | "timer"
            )
        {
            let _ = writeln!(out, "{}: output redirection is not supported", cmd.name);
            return;
        }
        // With `> file`, the command writes into a buffer that then goes to the file.
        let mut captured = String::new();
        let target = if redirect.is_some() {
            &mut captured
        } else {
            &mut *out
        };
        let mut ctx = Ctx {
            host,
            out: target,
            jobs: &mut self.jobs,
            cwd: &mut self.cwd,
        };
        let result = (cmd.run)(&mut ctx, rest);
        if let Some((file, append)) = redirect {
            let written = files::resolve(&self.cwd, file).and_then(|path| {
                files::write_file(host, &path, captured.as_bytes(), append)
                    .map_err(|e| alloc::format!("{}: {e}", Printable(file)))
            });
            if let Err(msg) = written {
                let _ = writeln!(out, "{}: {msg}", cmd.name);
            }
        }
        if let Err(msg) = result {
            let _ = writeln!(out, "{}: {msg}", cmd.name);
        }
    }

    /// A byte typed while a foreground job runs.
    fn foreground_input(&mut self, byte: u8, host: &mut dyn Host, out: &mut String) {
        // Input is not routed to the foreground run yet (stdin for runs is a later issue):
        // only Ctrl-C means something here; every other byte is dropped.
        if byte != INTERRUPT {
            return;
        }
        let Some(fg) = self.jobs.foreground() else {
            return;
        };
        out.push_str("^C\n");
        let (pid, mode) = (fg.job.pid, fg.mode);
        if mode == Mode::Wait {
            // Stop waiting; the run goes on (and is still announced if it is a background job).
            if let Some(fg) = self.jobs.release_foreground() {
                fg.write_timing(host, out);
            }
            self.prompt(out);
            return;
        }
        match host.kill(pid) {
            // Killed, or already ended: print its status now if the kernel shows it DONE;
            // otherwise its exit report will.
            Ok(()) | Err(Error::NotFound) => {
                if !self.jobs.recheck_foreground(host, out) {
                    self.prompt(out);
                }
            }
            // It cannot be stopped: never trap the user behind it; it becomes a background job.
            Err(e) => {
                if let Some(fg) = self.jobs.release_foreground() {
                    let _ = writeln!(
                        out,
                        "run: cannot kill {pid}: {e}; it goes on in the background"
                    );
                    let timing = fg.timing;
                    self.jobs.recheck_background(host, fg.job, out);
                    // The time it held the foreground.
                    if let Some(timing) = timing {
                        timing.write(host, out);
                    }
                }
                self.prompt(out);
            }
        }
    }
}

/// Splits `words` at a trailing `> file` or `>> file`: the command's words and the file, with
/// whether to append.
/// Where `> file` sends output: the file, and whether to append (`>>`).
type Redirect<'a> = Option<(&'a str, bool)>;

fn split_redirect<'w>(
    words: &'w [String],
    plain: &[bool],
) -> Result<(&'w [String], Redirect<'w>), &'static str> {
    // Only an unquoted `>`/`>>` is an operator.
    let op = |i: usize| plain.get(i) == Some(&true) && matches!(words[i].as_str(), ">" | ">>");
    let n = words.len();
    if n >= 2 && op(n - 2) {
        if (0..n - 2).any(op) {
            return Err("more than one redirection");
        }
        let (rest, tail) = words.split_at(n - 2);
        return Ok((rest, Some((tail[1].as_str(), tail[0] == ">>"))));
    }
    if n >= 1 && op(n - 1) {
        return Err("missing file after redirection");
    }
    Ok((words, None))
}

impl ConsoleClient for Shell {
    fn foreground_run(&self) -> Option<zb_abi::Pid> {
        self.jobs.foreground().map(|fg| fg.job.pid)
    }

    fn attach(&mut self, host: &mut dyn Host) {
        let mut out = String::new();
        self.prompt(&mut out);
        host.console_write(out.as_bytes());
    }

    fn input(&mut self, bytes: &[u8], host: &mut dyn Host) {
        let mut out = String::new();
        for &b in bytes {
            if self.jobs.foreground().is_some() {
                self.foreground_input(b, host, &mut out);
                continue;
            }
            match self.editor.feed(b, &mut out) {
                None | Some(Event::EndOfInput) => continue,
                Some(Event::Line(line)) => {
                    // Echo reaches the terminal before the command's output.
                    host.console_write(out.as_bytes());
                    out.clear();
                    self.execute(&line, host, &mut out);
                    if self.jobs.foreground().is_some() {
                        continue; // the prompt comes back when the job ends
                    }
                }
                Some(Event::Cancelled | Event::Overflowed) => {}
                Some(Event::ClearScreen) => {
                    out.push_str(CLEAR_SCREEN);
                    self.redraw(&mut out);
                    continue;
                }
            }
            self.prompt(&mut out);
        }
        if !out.is_empty() {
            host.console_write(out.as_bytes());
        }
    }

    fn run_exited(&mut self, run: &RunInfo<'_>, host: &mut dyn Host) {
        let shown = self.at_prompt();
        let (job, timing, quiet) = match self.jobs.ended(run.pid) {
            Ended::Untracked => return,
            Ended::Foreground(fg) => {
                let exited = run
                    .exit
                    .as_ref()
                    .is_some_and(|e| e.kind == zb_abi::syscall::StatusKind::Ok);
                (fg.job, fg.timing, fg.mode == Mode::Command && exited)
            }
            Ended::Background(job) => (job, None, false),
        };
        let name = if run.name.is_empty() {
            job.name.as_str()
        } else {
            run.name
        };
        let mut out = String::new();
        if shown {
            out.push_str(ERASE_LINE);
        }
        if !quiet {
            jobs::write_status(&mut out, run.pid, name, &jobs::exit_text(run.exit.as_ref()));
        }
        if let Some(timing) = timing {
            timing.write(host, &mut out);
        }
        // Back at the prompt: either it was shown before, or the foreground job just ended.
        if self.at_prompt() {
            self.redraw(&mut out);
        }
        host.console_write(out.as_bytes());
    }

    fn hide_line(&mut self, host: &mut dyn Host) -> bool {
        if !self.at_prompt() {
            return false;
        }
        host.console_write(ERASE_LINE.as_bytes());
        true
    }

    fn show_line(&mut self, host: &mut dyn Host) {
        if self.at_prompt() {
            let mut out = String::new();
            self.redraw(&mut out);
            host.console_write(out.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
