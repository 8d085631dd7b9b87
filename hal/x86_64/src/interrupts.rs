//! The IDT: a handler for every CPU exception, plus the timer and serial IRQs.
//!
//! Every exception is fatal for the kernel (runs are wasm and cannot raise CPU exceptions; an
//! exception means a kernel bug): the handler panics with a report — mnemonic, vector, error
//! code, RIP, RSP and, for page faults, CR2 — and the kernel's panic path prints it and stops
//! the machine with a failure status.
//!
//! Hardware interrupts come through the two 8259 PICs remapped to vectors 32..48. Only IRQ 0
//! (PIT tick), IRQ 2 (cascade) and IRQ 4 (COM1) are unmasked.

use pic8259::ChainedPics;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

use crate::gdt::DOUBLE_FAULT_IST_INDEX;

const PIC1_OFFSET: u8 = 32;
const PIC2_OFFSET: u8 = PIC1_OFFSET + 8;
const TIMER_VECTOR: u8 = PIC1_OFFSET;
const COM1_VECTOR: u8 = PIC1_OFFSET + 4;
/// IRQ 7 and IRQ 15 are where the PICs deliver spurious interrupts.
const SPURIOUS1_VECTOR: u8 = PIC1_OFFSET + 7;
const SPURIOUS2_VECTOR: u8 = PIC2_OFFSET + 7;

// SAFETY: the offsets do not overlap CPU exception vectors (0..32).
static PICS: spin::Mutex<ChainedPics> =
    spin::Mutex::new(unsafe { ChainedPics::new(PIC1_OFFSET, PIC2_OFFSET) });

/// Declares a fatal exception handler with or without an error code.
macro_rules! fatal_exception {
    ($name:ident, $mnemonic:literal, $vector:literal) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            fatal($mnemonic, $vector, None, &frame, None)
        }
    };
    ($name:ident, $mnemonic:literal, $vector:literal, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            fatal($mnemonic, $vector, Some(code), &frame, None)
        }
    };
}

fatal_exception!(divide_error, "#DE divide error", 0);
fatal_exception!(debug, "#DB debug", 1);
fatal_exception!(nmi, "NMI non-maskable interrupt", 2);
fatal_exception!(breakpoint, "#BP breakpoint", 3);
fatal_exception!(overflow, "#OF overflow", 4);
fatal_exception!(bound_range, "#BR bound range exceeded", 5);
fatal_exception!(invalid_opcode, "#UD invalid opcode", 6);
fatal_exception!(device_not_available, "#NM device not available", 7);
fatal_exception!(invalid_tss, "#TS invalid TSS", 10, error_code);
fatal_exception!(
    segment_not_present,
    "#NP segment not present",
    11,
    error_code
);
fatal_exception!(stack_segment, "#SS stack-segment fault", 12, error_code);
fatal_exception!(
    general_protection,
    "#GP general protection fault",
    13,
    error_code
);
fatal_exception!(x87_floating_point, "#MF x87 floating-point error", 16);
fatal_exception!(alignment_check, "#AC alignment check", 17, error_code);
fatal_exception!(simd_floating_point, "#XM SIMD floating-point error", 19);
fatal_exception!(virtualization, "#VE virtualization exception", 20);
fatal_exception!(control_protection, "#CP control protection", 21, error_code);
fatal_exception!(hv_injection, "#HV hypervisor injection", 28);
fatal_exception!(vmm_communication, "#VC VMM communication", 29, error_code);
fatal_exception!(security, "#SX security exception", 30, error_code);

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    fatal("#DF double fault", 8, Some(code), &frame, None)
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    fatal("#MC machine check", 18, None, &frame, None)
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let cr2 = Cr2::read_raw();
    fatal("#PF page fault", 14, Some(code.bits()), &frame, Some(cr2))
}

fn fatal(
    what: &'static str,
    vector: u8,
    code: Option<u64>,
    frame: &InterruptStackFrame,
    cr2: Option<u64>,
) -> ! {
    let report = ExceptionReport {
        what,
        vector,
        code,
        rip: frame.instruction_pointer.as_u64(),
        rsp: frame.stack_pointer.as_u64(),
        cr2,
    };
    panic!("{report}")
}

/// The one-line description of a CPU exception that ends up in the panic report.
struct ExceptionReport {
    what: &'static str,
    vector: u8,
    code: Option<u64>,
    rip: u64,
    rsp: u64,
    cr2: Option<u64>,
}

impl core::fmt::Display for ExceptionReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CPU exception {} (vector {})", self.what, self.vector)?;
        if let Some(code) = self.code {
            write!(f, ", error code {code:#x}")?;
        }
        write!(f, ", RIP {:#x}, RSP {:#x}", self.rip, self.rsp)?;
        if let Some(cr2) = self.cr2 {
            write!(f, ", CR2 {cr2:#x}")?;
        }
        Ok(())
    }
}

extern "x86-interrupt" fn timer(_frame: InterruptStackFrame) {
    crate::clock::on_tick();
    end_of_interrupt(TIMER_VECTOR);
}

extern "x86-interrupt" fn com1(_frame: InterruptStackFrame) {
    crate::serial::on_interrupt();
    end_of_interrupt(COM1_VECTOR);
}

/// A spurious IRQ 7/15 is not a real interrupt: the master must not get an EOI for it (and for
/// IRQ 15 only the master gets one, for the cascade). IRQ 7 and 15 are masked, so anything
/// arriving there is spurious.
extern "x86-interrupt" fn spurious_master(_frame: InterruptStackFrame) {}

extern "x86-interrupt" fn spurious_slave(_frame: InterruptStackFrame) {
    // SAFETY: writing EOI to the master PIC's command port acknowledges the cascade IRQ 2.
    unsafe { x86_64::instructions::port::Port::<u8>::new(0x20).write(0x20) };
}

fn end_of_interrupt(vector: u8) {
    // SAFETY: called at the end of the handler for `vector`, which the PIC delivered.
    unsafe { PICS.lock().notify_end_of_interrupt(vector) };
}

static IDT: spin::LazyLock<InterruptDescriptorTable> = spin::LazyLock::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.non_maskable_interrupt.set_handler_fn(nmi);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded.set_handler_fn(bound_range);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    // SAFETY: the IST index refers to the dedicated stack set up in `gdt`, used by nothing else.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(DOUBLE_FAULT_IST_INDEX);
    }
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment);
    idt.general_protection_fault
        .set_handler_fn(general_protection);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.machine_check.set_handler_fn(machine_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception.set_handler_fn(hv_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
    idt[TIMER_VECTOR].set_handler_fn(timer);
    idt[COM1_VECTOR].set_handler_fn(com1);
    idt[SPURIOUS1_VECTOR].set_handler_fn(spurious_master);
    idt[SPURIOUS2_VECTOR].set_handler_fn(spurious_slave);
    idt
});

pub fn init_idt() {
    IDT.load();
}

pub fn init_pic() {
    let mut pics = PICS.lock();
    // SAFETY: standard 8259 initialisation; the IDT has handlers for every unmasked vector.
    unsafe {
        pics.initialize();
        // Bit set = masked. Master: unmask IRQ0 (timer), IRQ2 (cascade), IRQ4 (COM1).
        pics.write_masks(!0b0001_0101, 0xFF);
    }
}
