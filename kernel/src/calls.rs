//! The kernel's side of the gate: [`KernelCalls`] for [`Kernel`], one line per call family,
//! each handing the decoded call to the plain function that serves it — processes in
//! `crate::process`, URLs in `crate::urls`, the bus and views in `crate::events`.
//!
//! The gate (`crate::gate`) names only this trait, never the kernel's type, so the kernel can
//! link runs to the gate without an import cycle.

use zb_abi::Pid;
use zb_abi::call::{Buf, Call, HandleArg};

use crate::gate::{KernelCalls, Served};
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
    fn spawn(&mut self, pid: Pid, name: Buf, args: Buf, grants: Buf) -> Served {
        Ok(self.spawn_call(pid, name, args, grants)?)
    }
    fn wait(&mut self, pid: Pid, child: Pid) -> Served {
        Ok(self.wait_call(pid, child)?)
    }
    fn close(&mut self, pid: Pid, handle: HandleArg) -> Served {
        Ok(self.close_call(pid, handle)?)
    }
    fn url(&mut self, pid: Pid, call: &Call) -> Served {
        self.url_call(pid, call)
    }
    fn emit(&mut self, pid: Pid, subject: Buf, payload: Buf, headers: Buf) -> Served {
        Ok(self.emit_call(pid, subject, payload, headers)?)
    }
    fn subscribe(&mut self, pid: Pid, pattern: Buf, options: Buf) -> Served {
        Ok(self.subscribe_call(pid, pattern, options)?)
    }
    fn next(&mut self, pid: Pid, handle: HandleArg, out: Buf, nonblock: bool) -> Served {
        Ok(self.next_call(pid, handle, out, nonblock)?)
    }
    fn ack(&mut self, pid: Pid, handle: HandleArg, seq: u64, failed: bool) -> Served {
        Ok(self.ack_call(pid, handle, seq, failed)?)
    }
    fn scan(&mut self, pid: Pid, view: Buf, key: Buf, out: Buf) -> Served {
        Ok(self.scan_call(pid, view, key, out)?)
    }
    fn seal(&mut self, pid: Pid, view: Buf) -> Served {
        Ok(self.seal_call(pid, view)?)
    }
    fn timer(&mut self, pid: Pid, spec: Buf) -> Served {
        Ok(self.timer_call(pid, spec)?)
    }
}
