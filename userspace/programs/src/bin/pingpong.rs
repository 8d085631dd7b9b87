//! `pingpong [n]`: IPC round trips. Creates a channel, spawns `pong` granting it one end,
//! sends `n` messages (default 100; `ping` + sequence number, the size of a typical small
//! request, like the pipe benchmark's) and checks every reply, then closes
//! its end, waits for `pong` and prints `pingpong: N round trips in X us`. Exits 0 only if
//! every reply matched and `pong` ended with `ok(0)`. (No `core::fmt`, to stay small.)
#![no_std]
#![no_main]

use zb_sdk::io::{BufWriter, Stream};
use zb_sdk::{Channel, Error, StatusKind};

zb_sdk::entry!(main);

/// A message: "ping" + u32 sequence number.
const MAX_MSG: usize = 4 + 4;

/// Message `i`: `ping`, `i` (u32 LE).
fn message(i: u32, out: &mut [u8; MAX_MSG]) -> &[u8] {
    let [a, b, c, d] = i.to_le_bytes();
    *out = [b'p', b'i', b'n', b'g', a, b, c, d];
    out
}

/// Whether `reply` answers `req`: `pong` and the payload inverted (as `pong` answers).
fn matches(req: &[u8], reply: &[u8]) -> bool {
    let (Some(q), Some(r)) = (req.get(4..8), reply.get(4..8)) else {
        return false;
    };
    reply.len() == req.len()
        && reply.starts_with(b"pong")
        && u32::from_le_bytes([r[0], r[1], r[2], r[3]])
            == !u32::from_le_bytes([q[0], q[1], q[2], q[3]])
}

fn say(err: bool) -> BufWriter<96> {
    let mut w = BufWriter::new(if err { Stream::Stderr } else { Stream::Stdout });
    w.push_str("pingpong: ");
    w
}

fn main() -> Result<i32, Error> {
    let mut buf = [0u8; 64];
    let args = zb_sdk::args(&mut buf)?;
    let n = args.get_u64(0).unwrap_or(Ok(100))?;
    let n = u32::try_from(n).map_err(|_| Error::InvalidArgument)?;

    let (mine, theirs) = Channel::create()?;
    let pid = zb_sdk::spawn("pong", &[], &[theirs.into_grant()])?;

    let start = zb_sdk::clock_us();
    let mut bad = 0u32;
    let mut done = 0u32;
    for i in 0..n {
        let mut req = [0u8; MAX_MSG];
        let req = message(i, &mut req);
        let mut reply = [0u8; MAX_MSG + 1];
        match mine.call(req, &mut reply) {
            Ok(got) => {
                if !matches(req, reply.get(..got).unwrap_or(&[])) {
                    bad += 1;
                    say(true)
                        .push_str("reply ")
                        .push_u64(i.into())
                        .push_str(" does not match\n");
                }
            }
            Err(e) => {
                bad += 1;
                say(true)
                    .push_str("round trip ")
                    .push_u64(i.into())
                    .push_str(": ")
                    .push_str(e.message())
                    .push_str("\n");
                break;
            }
        }
        done += 1;
    }
    let elapsed = zb_sdk::clock_us().saturating_sub(start);
    drop(mine); // pong sees `Closed` and exits 0

    let (kind, code) = zb_sdk::wait(pid)?;
    say(false)
        .push_str("")
        .push_u64(done.into())
        .push_str(" round trips in ")
        .push_u64(elapsed)
        .push_str(" us\n");
    if kind != StatusKind::Ok || code != 0 {
        let how = match kind {
            StatusKind::Ok => "ok",
            StatusKind::Panic => "panic",
            StatusKind::Invalid => "invalid",
            StatusKind::Rejected => "rejected",
        };
        say(true)
            .push_str("pong ended with ")
            .push_str(how)
            .push_str("(")
            .push_i64(code.into())
            .push_str(")\n");
        return Ok(1);
    }
    if bad > 0 || done != n {
        say(true).push_u64(bad.into()).push_str(" bad replies\n");
        return Ok(1);
    }
    Ok(0)
}
