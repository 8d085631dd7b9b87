//! The syscall gate: every HOST call a run makes enters here, and only here.
//!
//! One call goes through five steps, each in one place:
//! 1. **Decode** ([`Call::decode`], in the ABI): the number and arguments become a typed
//!    [`Call`], every memory range checked against the run's memory. A bad argument ends the
//!    call with its error code (after it is charged and taped).
//! 2. **Charge** ([`SYSCALL_FUEL`] plus [`data_fuel`]): every call pays a flat price, so a run
//!    looping over cheap or failing calls is still preempted, and a call that moves data pays
//!    in proportion to the bytes as well, as wasm's own bulk memory instructions do (charged
//!    before the call returns to wasm or leaves the interpreter). (Kernel memory is charged to the run's account by the handlers that
//!    allocate: `crate::account`.)
//! 3. **Tape**: a recorded run's call is noted, a replayed run's call is answered from its
//!    recording (`crate::replay`); the tape keeps the raw call.
//! 4. **Authorise** ([`authorise`]): the call against the run's grants.
//! 5. **Dispatch** ([`dispatch`]): a run-local call or a channel's goes to `crate::sys`; every
//!    other call to the kernel's one `match` ([`KernelCalls::serve`], in `crate::calls`), which
//!    sends it to the plain function of its family — processes, URLs (`crate::urls`), the bus
//!    and views (`crate::events`); the one wrapper ([`settle`]) turns a [`Refusal`] into the
//!    error code the run gets (and the reason `last_error` gives).
//!
//! A call is dispatched at one of two [`Site`]s. Inside the interpreter (the host function)
//! only the run itself and the kernel's channels are at hand: calls that need no more complete
//! there, straight back to wasm, and anything else is [`Refusal::NotHere`], so the run leaves
//! the interpreter with its decoded call ([`Syscall`]) and the kernel dispatches it again
//! between slices, with the whole kernel at hand. A call that blocks is parked and dispatched
//! again when its run is woken: handlers change nothing before they know a call completes,
//! so serving a call twice is harmless.

use wasmi::{Caller, Error as WasmError};
use zb_abi::call::Call;
use zb_abi::scheme::{STDERR, STDOUT};
use zb_abi::syscall::Sysnum;
use zb_abi::{Error, Pid};

use crate::replay::Tape;
pub(crate) use crate::sys::{Outcome, Refusal, Served};
use crate::sys::{RunCall, RunSys};
use crate::task::{RunData, Syscall, suspend};

/// Fuel charged for each host call (on either path), so a run looping over cheap calls is
/// still preempted.
pub const SYSCALL_FUEL: u64 = 20;

/// What the gate needs of the kernel: the run a call came from, and the calls only the kernel
/// can serve. The kernel implements it (`crate::calls`); the gate
/// names no kernel type, so the kernel can link runs to the gate without an import cycle.
pub(crate) trait KernelCalls {
    /// Run `pid`'s memory and store data.
    fn run_parts(&mut self, pid: Pid) -> Result<(&mut [u8], &mut RunData), Error>;
    /// Acts on what run `pid`'s call left in its outboxes (output, woken channels).
    fn flush(&mut self, pid: Pid);
    /// Serves a call only the kernel can serve (processes, URLs, the bus and views, closing a
    /// handle whose object the kernel lets go of) for run `pid`: one `match` sending each to
    /// its family's plain function (`crate::calls`).
    fn serve(&mut self, pid: Pid, call: &Call) -> Served;
}

/// Where a call is being served.
pub(crate) enum Site<'a, K> {
    /// In the host function: the run's memory and store data.
    Run {
        mem: &'a mut [u8],
        data: &'a mut RunData,
    },
    /// Between slices: the kernel, for run `pid`.
    Kernel { kernel: &'a mut K, pid: Pid },
}

impl<K: KernelCalls> Site<'_, K> {
    /// Serves a run-local call with the run and the channels ([`RunCall::serve`]); the kernel
    /// then acts on what the call left in the run's outboxes.
    fn local(&mut self, call: &Call) -> Served {
        match self {
            Site::Run { mem, data } => run_call(mem, data, call),
            Site::Kernel { kernel, pid } => {
                let (mem, data) = kernel.run_parts(*pid)?;
                let served = run_call(mem, data, call);
                let outbox = data.sys.has_outbox();
                if outbox {
                    kernel.flush(*pid);
                }
                served
            }
        }
    }

    /// The kernel and the calling run, or [`Refusal::NotHere`] in the interpreter.
    fn kernel(&mut self) -> Result<(&mut K, Pid), Refusal> {
        match self {
            Site::Kernel { kernel, pid } => Ok((kernel, *pid)),
            Site::Run { .. } => Err(Refusal::NotHere),
        }
    }

    /// The calling run's view of itself (its handles, to tell which family a call on a handle
    /// belongs to).
    fn sys(&mut self) -> Result<&RunSys, Refusal> {
        match self {
            Site::Run { data, .. } => Ok(&data.sys),
            Site::Kernel { kernel, pid } => Ok(&kernel.run_parts(*pid)?.1.sys),
        }
    }
}

/// One function for both sites (not generic: the run-local family is compiled once).
#[inline(never)]
fn run_call(mem: &mut [u8], data: &mut RunData, call: &Call) -> Served {
    let RunData { sys, shared, .. } = data;
    // Borrowed only for one call or one kernel operation, never across a slice (see
    // `Shared`); if it ever were taken, the kernel serves the call between slices.
    let Ok(mut channels) = shared.channels.try_borrow_mut() else {
        return Err(Refusal::NotHere);
    };
    RunCall {
        mem,
        run: sys,
        channels: &mut channels,
        clock: shared.clock,
        channel_capacity: shared.channel_capacity,
    }
    .serve(call)
}

/// Bytes per unit of fuel when a call copies data (wasmi charges its bulk memory instructions
/// at the same rate).
pub const BYTES_PER_FUEL: u64 = 64;

/// The fuel `call` costs beyond [`SYSCALL_FUEL`]: in proportion to the bytes it may copy
/// between the run's memory and the kernel (the buffers it names, which bound what it moves).
pub(crate) fn data_fuel(call: &Call) -> u64 {
    call.data_len() as u64 / BYTES_PER_FUEL
}

/// Whether the run may make `call` at all. URL grants are prefixes of canonical URLs, so
/// they are checked where a URL is resolved, by [`Kernel::authorise_url`]; every other family
/// is open to every run until bus and timer grants exist (issue 16), and handle calls are
/// bounded by the handle's rights, checked by their handlers. A policy reads the run's grants
/// through `site.sys()`; none does yet, so no call pays for the lookup.
pub(crate) fn authorise<K: KernelCalls>(
    site: &mut Site<'_, K>,
    call: &Call,
) -> Result<(), Refusal> {
    let _ = (site, call);
    Ok(())
}

/// Serves `call` at `site`: the one dispatch of every HOST call.
pub(crate) fn dispatch<K: KernelCalls>(site: &mut Site<'_, K>, call: &Call) -> Served {
    authorise(site, call)?;
    match *call {
        Call::Yield => Ok(Outcome::Yield),
        // The run's own state and the channels: `RunCall::serve`, at either site.
        Call::GetPid
        | Call::Clock
        | Call::Sleep { .. }
        | Call::Args { .. }
        | Call::Grants { .. }
        | Call::LastError { .. }
        | Call::Write {
            handle: STDOUT | STDERR,
            ..
        }
        | Call::ChannelCreate { .. }
        | Call::Send { .. }
        | Call::Recv { .. } => site.local(call),
        Call::Close { handle } if !site.sys()?.held_by_kernel(handle) => site.local(call),
        // Everything else needs the kernel: one arm, one method (`crate::calls`).
        _ => {
            let (kernel, pid) = site.kernel()?;
            kernel.serve(pid, call)
        }
    }
}

/// The one place a refusal becomes what the run sees: the error code as the call's result,
/// and the reason, if the refusal gives one, kept for `last_error`. `None`: not served here.
fn settle(sys: &mut RunSys, served: Served) -> Option<Outcome> {
    match served {
        Ok(outcome) => Some(outcome),
        Err(Refusal::User(e, why)) => {
            if let Some(why) = why {
                sys.last_error = Some(why);
            }
            Some(Outcome::err(e))
        }
        Err(Refusal::NotHere) => None,
    }
}

/// A HOST call from wasm: the gate's entry (see the module doc). `returns`: the host function
/// returns the call's result.
pub(crate) fn enter(
    cx: &mut Caller<'_, RunData>,
    number: Sysnum,
    args: [i64; 6],
    returns: bool,
) -> Result<i64, WasmError> {
    // The flat price first; the data's (rarely any) once the run's memory and store data
    // are no longer borrowed, before the call returns to wasm or leaves the interpreter.
    charge(cx, SYSCALL_FUEL);
    let (mem, data) = parts(cx);
    let decoded = Call::decode(number, &args, mem.len());
    let data_fuel = decoded.as_ref().map_or(0, data_fuel);
    let result = enter_run(mem, data, number, args, decoded, returns);
    if data_fuel > 0 {
        charge(cx, data_fuel);
    }
    result
}

/// [`enter`] with the run's memory and store data: taped, then served in the interpreter if
/// it can be, else the run leaves it with its decoded call.
fn enter_run(
    mem: &mut [u8],
    data: &mut RunData,
    number: Sysnum,
    args: [i64; 6],
    decoded: Result<Call, Error>,
    returns: bool,
) -> Result<i64, WasmError> {
    if let Some(answer) = taped(mem, data, number as u32, &args)? {
        return Ok(answer);
    }
    let call = match decoded {
        Ok(call) => call,
        Err(e) => return Ok(reply(mem, data, -i64::from(e as i32))),
    };
    // The kernel's type is not needed in the interpreter: the run site never reaches it.
    let served = dispatch::<NoKernel>(&mut Site::Run { mem, data }, &call);
    match settle(&mut data.sys, served) {
        Some(Outcome::Reply(v)) => return Ok(reply(mem, data, v)),
        // Blocks or yields, having changed nothing (the kernel acts on it), or needs the
        // kernel (`None`).
        outcome => data.sys.served = outcome,
    }
    let sys = Syscall {
        number: number as u32,
        args,
        call,
    };
    Err(suspend(data, sys, returns))
}

/// The value a call returns to wasm at once, recorded if the run is recorded.
fn reply(mem: &[u8], data: &mut RunData, v: i64) -> i64 {
    if let Tape::Record(r) = &mut data.tape {
        r.end(mem, v);
    }
    v
}

/// Serves `sys` for run `pid` (which is in EXEC) with the kernel at hand: what the kernel
/// does with a call a run left the interpreter with.
pub(crate) fn serve<K: KernelCalls>(kernel: &mut K, pid: Pid, sys: &Syscall) -> Outcome {
    let served = dispatch(&mut Site::Kernel { kernel, pid }, &sys.call);
    // The run is looked up again only to keep a refusal's reason.
    if let Err(Refusal::User(_, Some(_))) = &served {
        let Ok((_, data)) = kernel.run_parts(pid) else {
            return Outcome::err(Error::BadHandle);
        };
        return settle(&mut data.sys, served).unwrap_or(Outcome::err(Error::Unsupported));
    }
    match served {
        Ok(outcome) => outcome,
        Err(Refusal::User(e, _)) => Outcome::err(e),
        // Not reached: the kernel's site serves every call.
        Err(Refusal::NotHere) => Outcome::err(Error::Unsupported),
    }
}

/// The kernel as the interpreter's site sees it: absent ([`Site::Run`] never asks for it).
enum NoKernel {}

impl KernelCalls for NoKernel {
    fn run_parts(&mut self, _: Pid) -> Result<(&mut [u8], &mut RunData), Error> {
        match *self {}
    }
    fn flush(&mut self, _: Pid) {
        match *self {}
    }
    fn serve(&mut self, _: Pid, _: &Call) -> Served {
        match *self {}
    }
}

/// Charges `fuel` (down to 0: the run is then preempted at its next instruction, or by the
/// kernel right after serving the call).
fn charge(cx: &mut Caller<'_, RunData>, fuel: u64) {
    if let Ok(left) = cx.get_fuel() {
        // Cannot fail: fuel metering is on (`get_fuel` just succeeded).
        let _ = cx.set_fuel(left.saturating_sub(fuel));
    }
}

/// The run's memory and store data at once.
fn parts<'a>(cx: &'a mut Caller<'_, RunData>) -> (&'a mut [u8], &'a mut RunData) {
    match cx.data().memory {
        Some(m) => m.data_and_store_mut(&mut *cx),
        None => (&mut [][..], cx.data_mut()),
    }
}

/// The tape's part in a call (`crate::replay`): a recorded run's call is noted as made (its
/// answer is recorded when it returns: in [`enter`], or in `Task::resume`); a replayed run's
/// call is answered from the recording (`Some`), and a call that differs stops the replay.
fn taped(
    mem: &mut [u8],
    data: &mut RunData,
    number: u32,
    args: &[i64; 6],
) -> Result<Option<i64>, WasmError> {
    match &mut data.tape {
        Tape::Off => Ok(None),
        Tape::Record(r) => {
            r.begin(mem, number, args);
            Ok(None)
        }
        Tape::Replay(r) => r.call(mem, number, args).map(Some).map_err(WasmError::host),
    }
}
