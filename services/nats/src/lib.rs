//! The NATS client protocol for ZeroBus OS nodes: what a node says to a `nats-server` and how
//! it reads what comes back, with no I/O of its own (the bus's `nats` link feeds it bytes from
//! whatever carries them: TCP through the net service, a WebSocket in the browser, a UART on
//! the board).
//!
//! Status: the protocol, the connection's state machine, the registry and resolver, and the
//! node configuration are built and tested here (and the codec against nats-server 2.9:
//! `examples/probe.rs`); the link that carries them over each platform's transport and the
//! shell's `nodes`/`caps`/`resolve` are the next step of the federation work.
//!
//! | module | job |
//! |---|---|
//! | [`proto`] | the wire format: server operations parsed incrementally from a byte stream (split anywhere), client operations written with their arguments checked |
//! | [`headers`] | NATS headers (`NATS/1.0` blocks): reading and writing |
//! | [`info`] | the server's `INFO`: what the client needs of it |
//! | [`backoff`] | when to try a lost connection again: exponential, capped, jittered |
//! | [`jetstream`] | the JetStream requests federation makes (stream, durable pull consumers, acks) and its replies |
//! | [`interop`] | exported events as ordinary NATS clients see them (JSON envelope + headers), and what is imported from them |
//! | [`config`] | a node's place in a federation (`/etc/federation`) and the subjects it uses on NATS |
//! | [`presence`] | the registry of nodes (heartbeats) and capabilities (manifests), and the resolver that picks a node for a capability |
//! | [`conn`] | one connection's life as a state machine: handshake, subscriptions restored after a reconnect, PING/PONG both ways, a stale server detected |
//!
//! Invariants: nothing a server sends can make this crate panic or allocate without bound —
//! a control line is at most [`proto::Limits::max_control`] bytes and a payload at most the
//! smaller of the server's `max_payload` and ours; anything else is a [`proto::ProtoError`],
//! after which the connection is dropped (the stream can no longer be trusted to be framed).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

extern crate alloc;

pub mod backoff;
pub mod config;
pub mod conn;
pub mod headers;
pub mod info;
pub mod interop;
pub mod jetstream;
pub mod link;
pub mod presence;
pub mod proto;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
