//! File commands: `pwd cd ls cat write mkdir rm rmdir mv cp stat df mount`, and the helpers
//! the other commands use to read `proc://` and `mem://`.
//!
//! Every name a user types is resolved against the shell's working directory
//! ([`resolve`]): an absolute path or a relative one (`..` climbs, never above `/`), or a URL
//! (`proc://self/status`), which is used as it is. Errors read like a Unix shell's:
//! `cat: /nope: no such file or directory`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use zb_abi::fmt::Bytes;
use zb_abi::scheme::{FileKind, MAX_PATH, MTAB, OpenFlags, dirents};
use zb_abi::{Error, Files, path};

use crate::ctx::{CmdResult, Ctx};
use crate::term::Printable;

/// Bytes moved per read/write call.
const CHUNK: usize = 4096;
/// The most a command reads from one file into memory (`cat` of a huge file stops there).
const MAX_FILE: usize = 1 << 20;

/// `arg` as the absolute path or URL it names from `cwd`.
pub fn resolve(cwd: &str, arg: &str) -> Result<String, String> {
    if arg.contains("://") {
        return Ok(String::from(arg));
    }
    let mut buf = [0u8; MAX_PATH];
    path::join(cwd, arg, &mut buf)
        .map(String::from)
        .map_err(|_| format!("{}: bad path", Printable(arg)))
}

/// `<what>: <error>` for a failed call on `name`.
fn fail(name: &str, e: Error) -> String {
    format!("{}: {e}", Printable(name))
}

/// Opens `url` with `flags` and hands each chunk read to `each` until the end (or until `each`
/// says stop); the handle is closed whatever happened.
fn read_chunks(
    host: &mut dyn Files,
    url: &str,
    flags: OpenFlags,
    mut each: impl FnMut(&[u8]) -> bool,
) -> Result<(), Error> {
    let h = host.open(url, flags)?;
    let mut buf = [0u8; CHUNK];
    let result = loop {
        match host.read(h, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) if each(&buf[..n]) => {}
            Ok(_) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let _ = host.close(h);
    result
}

/// The whole content of `url`, up to [`MAX_FILE`] bytes.
pub fn read_all(host: &mut dyn Files, url: &str) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    read_chunks(host, url, OpenFlags::READ, |chunk| {
        data.extend_from_slice(chunk);
        data.len() < MAX_FILE
    })?;
    Ok(data)
}

/// The entries of directory `url`, sorted by name.
pub fn list_dir(host: &mut dyn Files, url: &str) -> Result<Vec<(FileKind, String)>, Error> {
    let mut entries = Vec::new();
    read_chunks(host, url, OpenFlags::DIRECTORY, |chunk| {
        entries.extend(dirents(chunk).map(|(k, name)| (k, name.to_string())));
        true
    })?;
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(entries)
}

/// Writes `data` to `url`, replacing (or, with `append`, extending) it.
pub fn write_file(host: &mut dyn Files, url: &str, data: &[u8], append: bool) -> Result<(), Error> {
    let mode = if append {
        OpenFlags::APPEND
    } else {
        OpenFlags::TRUNCATE
    };
    let h = host.open(url, OpenFlags::WRITE | OpenFlags::CREATE | mode)?;
    let mut rest = data;
    let result = loop {
        if rest.is_empty() {
            break Ok(());
        }
        match host.write(h, &rest[..rest.len().min(CHUNK)]) {
            Ok(0) => break Err(Error::NoSpace),
            Ok(n) => rest = &rest[n..],
            Err(e) => break Err(e),
        }
    };
    let closed = host.close(h);
    result.and(closed)
}

pub fn pwd(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        return Err(String::from("usage: pwd"));
    }
    let _ = writeln!(ctx.out, "{}", ctx.cwd);
    Ok(())
}

pub fn cd(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let target = match args {
        [] => String::from("/"),
        [dir] => resolve(ctx.cwd, dir)?,
        _ => return Err(String::from("usage: cd [dir]")),
    };
    if target.contains("://") {
        return Err(format!("{}: not a local directory", Printable(&target)));
    }
    let st = ctx.host.stat(&target).map_err(|e| fail(&target, e))?;
    if st.kind != FileKind::Dir {
        return Err(fail(&target, Error::NotADirectory));
    }
    *ctx.cwd = target;
    Ok(())
}

pub fn ls(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (long, names): (bool, Vec<&String>) = match args.split_first() {
        Some((flag, rest)) if flag == "-l" => (true, rest.iter().collect()),
        _ => (false, args.iter().collect()),
    };
    let cwd = ctx.cwd.clone();
    let targets: Vec<String> = if names.is_empty() {
        Vec::from([cwd.clone()])
    } else {
        names
            .iter()
            .map(|n| resolve(&cwd, n))
            .collect::<Result<_, _>>()?
    };
    let mut failed = None;
    for (i, target) in targets.iter().enumerate() {
        let st = match ctx.host.stat(target) {
            Ok(st) => st,
            Err(e) => {
                let _ = writeln!(ctx.out, "ls: {}", fail(target, e));
                failed = Some(String::from("some names could not be listed"));
                continue;
            }
        };
        if st.kind != FileKind::Dir {
            line(ctx.out, long, st.kind, st.size, target);
            continue;
        }
        if targets.len() > 1 {
            let _ = writeln!(ctx.out, "{}{target}:", if i > 0 { "\n" } else { "" });
        }
        let entries = list_dir(ctx.host, target).map_err(|e| fail(target, e))?;
        for (kind, name) in entries {
            let size = if long {
                let full = child(target, &name);
                ctx.host.stat(&full).map_or(0, |s| s.size)
            } else {
                0
            };
            line(ctx.out, long, kind, size, &name);
        }
    }
    failed.map_or(Ok(()), Err)
}

/// One `ls` line: `name` (directories end with `/`), or with `-l` the kind, size and name.
fn line(out: &mut String, long: bool, kind: FileKind, size: u64, name: &str) {
    let slash = if kind == FileKind::Dir { "/" } else { "" };
    if long {
        let _ = writeln!(
            out,
            "{} {:>10}  {}{slash}",
            kind.letter(),
            size,
            Printable(name)
        );
    } else {
        let _ = writeln!(out, "{}{slash}", Printable(name));
    }
}

/// `dir` joined with entry `name` (URLs included: `proc://` + `3`).
fn child(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

pub fn cat(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.is_empty() {
        return Err(String::from("usage: cat <file> ..."));
    }
    for name in args {
        let target = resolve(ctx.cwd, name)?;
        let data = read_all(ctx.host, &target).map_err(|e| fail(name, e))?;
        ctx.out.push_str(&String::from_utf8_lossy(&data));
    }
    Ok(())
}

pub fn write(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some((name, words)) = args.split_first() else {
        return Err(String::from("usage: write <file> [word ...]"));
    };
    let target = resolve(ctx.cwd, name)?;
    let mut text = words.join(" ");
    text.push('\n');
    write_file(ctx.host, &target, text.as_bytes(), false).map_err(|e| fail(name, e))
}

/// Runs `call` on every argument as a path; the first failure is the command's error.
fn each_path(
    ctx: &mut Ctx<'_>,
    args: &[String],
    usage: &str,
    call: fn(&mut dyn Files, &str) -> Result<(), Error>,
) -> CmdResult {
    if args.is_empty() {
        return Err(String::from(usage));
    }
    for name in args {
        let target = resolve(ctx.cwd, name)?;
        call(ctx.host, &target).map_err(|e| fail(name, e))?;
    }
    Ok(())
}

pub fn mkdir(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    each_path(ctx, args, "usage: mkdir <dir> ...", |h, p| h.mkdir(p))
}

pub fn rm(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    each_path(ctx, args, "usage: rm <file> ...", |h, p| h.unlink(p))
}

pub fn rmdir(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    each_path(ctx, args, "usage: rmdir <dir> ...", |h, p| h.rmdir(p))
}

/// `from` and `to` of `mv`/`cp`, with `to` naming `to/<last part of from>` when it is a
/// directory.
fn from_to(ctx: &mut Ctx<'_>, args: &[String], cmd: &str) -> Result<(String, String), String> {
    let [from, to] = args else {
        return Err(format!("usage: {cmd} <from> <to>"));
    };
    let from = resolve(ctx.cwd, from)?;
    let mut to = resolve(ctx.cwd, to)?;
    if ctx.host.stat(&to).is_ok_and(|s| s.kind == FileKind::Dir) {
        let base = from.rsplit('/').next().unwrap_or("");
        to = child(&to, base);
    }
    Ok((from, to))
}

pub fn mv(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (from, to) = from_to(ctx, args, "mv")?;
    match ctx.host.rename(&from, &to) {
        Ok(()) => Ok(()),
        // Across file systems: copy, then remove the original.
        Err(Error::Unsupported) => {
            copy(ctx.host, &from, &to)?;
            ctx.host.unlink(&from).map_err(|e| fail(&from, e))
        }
        Err(e) => Err(fail(&from, e)),
    }
}

pub fn cp(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let (from, to) = from_to(ctx, args, "cp")?;
    copy(ctx.host, &from, &to)
}

fn copy(host: &mut dyn Files, from: &str, to: &str) -> CmdResult {
    let st = host.stat(from).map_err(|e| fail(from, e))?;
    if st.kind == FileKind::Dir {
        return Err(fail(from, Error::IsADirectory));
    }
    let data = read_all(host, from).map_err(|e| fail(from, e))?;
    write_file(host, to, &data, false).map_err(|e| fail(to, e))
}

pub fn stat(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let [name] = args else {
        return Err(String::from("usage: stat <path>"));
    };
    let target = resolve(ctx.cwd, name)?;
    let st = ctx.host.stat(&target).map_err(|e| fail(name, e))?;
    let kind = match st.kind {
        FileKind::File => "file",
        FileKind::Dir => "directory",
        FileKind::Special => "special",
    };
    let _ = writeln!(ctx.out, "  path: {}", Printable(&target));
    let _ = writeln!(ctx.out, "  type: {kind}");
    let _ = writeln!(ctx.out, "  size: {}", st.size);
    let _ = writeln!(
        ctx.out,
        "  mode: {}",
        if st.read_only {
            "read-only"
        } else {
            "read-write"
        }
    );
    Ok(())
}

/// The mount table: `(point, type, ro|rw, device)` per line of [`MTAB`] (`<device> <point>
/// <type> <ro|rw> 0 0`, as the vfs writes it).
fn mounts(host: &mut dyn Files) -> Result<Vec<[String; 4]>, String> {
    let text = read_all(host, MTAB).map_err(|e| format!("no mount table: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().map(String::from);
            let device = w.next()?;
            Some([w.next()?, w.next()?, w.next()?, device])
        })
        .collect())
}

pub fn mount(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        return Err(String::from("usage: mount"));
    }
    for [point, kind, mode, device] in mounts(ctx.host)? {
        let _ = writeln!(ctx.out, "{device} on {point} type {kind} ({mode})");
    }
    Ok(())
}

pub fn df(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        return Err(String::from("usage: df"));
    }
    let _ = writeln!(
        ctx.out,
        "{:<12}{:>12}{:>12}{:>12}  TYPE",
        "MOUNT", "SIZE", "USED", "FREE"
    );
    for [point, kind, _, _] in mounts(ctx.host)? {
        match ctx.host.statfs(&point) {
            Ok(i) => {
                let used = i.total.saturating_sub(i.free);
                let _ = writeln!(
                    ctx.out,
                    "{:<12}{:>12}{:>12}{:>12}  {kind}",
                    point,
                    Bytes(i.total),
                    Bytes(used),
                    Bytes(i.free)
                );
            }
            Err(e) => {
                let _ = writeln!(ctx.out, "{point:<12}  {e}");
            }
        }
    }
    Ok(())
}
