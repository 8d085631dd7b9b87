//! `pong`: the other half of `pingpong`. Receives on the channel end its parent granted it
//! (grant 0) and answers each `ping…` message with `pong…` (the payload bytes inverted) until
//! the channel closes; then exits 0. Exit 1 on a malformed message, 2 without a grant.
//! (No `core::fmt`: it runs next to `pingpong`, and small code matters on the STM32F4.)
#![no_std]
#![no_main]

use zb_sdk::io::eprint_str;
use zb_sdk::{Channel, Error};

zb_sdk::entry!(main);

fn fail(what: &str, e: Error) -> i32 {
    eprint_str("pong: ");
    eprint_str(what);
    eprint_str(": ");
    eprint_str(e.message());
    eprint_str("\n");
    1
}

fn main() -> i32 {
    let Some(handle) = zb_sdk::grant(0) else {
        eprint_str("pong: no channel granted (start me from pingpong)\n");
        return 2;
    };
    let channel = Channel::from_handle(handle);
    let mut buf = [0u8; 64];
    loop {
        let n = match channel.recv(&mut buf) {
            Ok(n) => n,
            Err(Error::Closed) => return 0,
            Err(e) => return fail("recv", e),
        };
        let msg = buf.get_mut(..n).unwrap_or(&mut []);
        let Some((tag, payload)) = msg.split_first_chunk_mut::<4>() else {
            return fail("short message", Error::InvalidArgument);
        };
        if tag != b"ping" {
            return fail("not a ping", Error::InvalidArgument);
        }
        *tag = *b"pong";
        for b in payload {
            *b = !*b;
        }
        match channel.send(msg) {
            Ok(()) => {}
            Err(Error::Closed) => return 0,
            Err(e) => return fail("send", e),
        }
    }
}
