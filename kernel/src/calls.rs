//! The kernel's side of the gate: [`KernelCalls`] for [`Kernel`], whose one `match` hands each
//! decoded call the kernel serves to the plain function of its family — processes in
//! `crate::process`, URLs in `crate::urls`, the bus and views in `crate::events`.
//!
//! The gate (`crate::gate`) names only this trait, never the kernel's type, so the kernel can
//! link runs to the gate without an import cycle.

use zb_abi::call::Call;
use zb_abi::{Error, Pid};

use crate::gate::{KernelCalls, Refusal, Served};
use crate::kernel::Kernel;
use crate::run_table::live;
use crate::task::RunData;

impl KernelCalls for Kernel {
    fn run_parts(&mut self, pid: Pid) -> Result<(&mut [u8], &mut RunData), zb_abi::Error> {
        Ok(live(&mut self.runs, pid)?.parts())
    }
    fn flush(&mut self, pid: Pid) {
        Kernel::flush(self, pid);
    }
    fn serve(&mut self, pid: Pid, call: &Call) -> Served {
        // What the call makes the kernel do beyond its price is measured around it: journal
        // bytes read, and the work `Shared::work` meters (a view compiled, its reducer run).
        let read = self.journal_bytes_read();
        self.shared.work.set(0);
        let served = self.serve_call(pid, call);
        let work =
            (self.journal_bytes_read() - read) / JOURNAL_BYTES_PER_FUEL + self.shared.work.take();
        if work > 0
            && let Ok(task) = live(&mut self.runs, pid)
        {
            task.owe(work);
        }
        served
    }
}

/// Journal bytes read (and CRC-checked, decoded) per unit of fuel: a quarter of a plain
/// copy's rate (`gate::BYTES_PER_FUEL`), since every byte is checked and decoded as well.
const JOURNAL_BYTES_PER_FUEL: u64 = 16;

impl Kernel {
    /// Journal bytes the bus has read so far (0 without a journal).
    fn journal_bytes_read(&self) -> u64 {
        self.bus.as_ref().map_or(0, |b| b.journal_bytes_read())
    }

    /// The one `match`: each call the kernel serves to its family's plain function.
    fn serve_call(&mut self, pid: Pid, call: &Call) -> Served {
        match *call {
            Call::Spawn { name, args, grants } => Ok(self.spawn_call(pid, name, args, grants)?),
            Call::Wait { child } => Ok(self.wait_call(pid, child)?),
            Call::Close { handle } => Ok(self.close_call(pid, handle)?),
            Call::Write { .. }
            | Call::Open { .. }
            | Call::Read { .. }
            | Call::Seek { .. }
            | Call::Stat { .. }
            | Call::ReadDir { .. }
            | Call::Unlink { .. }
            | Call::Mkdir { .. }
            | Call::Rmdir { .. }
            | Call::Rename { .. }
            | Call::StatFs { .. } => self.url_call(pid, call),
            Call::Emit {
                subject,
                payload,
                headers,
            } => Ok(self.emit_call(pid, subject, payload, headers)?),
            Call::Subscribe { pattern, options } => Ok(self.subscribe_call(pid, pattern, options)?),
            Call::Next {
                handle,
                out,
                nonblock,
            } => Ok(self.next_call(pid, handle, out, nonblock)?),
            Call::Ack {
                handle,
                seq,
                failed,
            } => Ok(self.ack_call(pid, handle, seq, failed)?),
            Call::Scan { view, key, out } => Ok(self.scan_call(pid, view, key, out)?),
            Call::Seal { view } => Ok(self.seal_call(pid, view)?),
            Call::Timer { spec } => Ok(self.timer_call(pid, spec)?),
            // The run-local family (`crate::sys`), served by the gate before it asks the
            // kernel: not sent here.
            Call::Yield
            | Call::GetPid
            | Call::Clock
            | Call::Sleep { .. }
            | Call::Args { .. }
            | Call::Grants { .. }
            | Call::LastError { .. }
            | Call::ChannelCreate { .. }
            | Call::Send { .. }
            | Call::Recv { .. } => Err(Refusal::User(Error::Unsupported, None)),
        }
    }
}
