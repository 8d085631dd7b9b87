//! The GDT and TSS.
//!
//! Long mode ignores segmentation, but the CPU still needs a code segment, a data segment for
//! SS, and a TSS whose interrupt stack table gives the double-fault handler a known-good stack:
//! a kernel stack overflow faults on the guard page, and without a fresh stack the fault
//! handler would fault again (a triple fault, i.e. a silent reset).

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const IST_STACK_SIZE: usize = 5 * 4096;

#[repr(align(16))]
#[allow(dead_code)] // only the CPU touches the contents
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

static TSS: spin::LazyLock<TaskStateSegment> = spin::LazyLock::new(|| {
    let mut tss = TaskStateSegment::new();
    // The stack grows down: the IST entry is its top. Only the address is taken here; the CPU
    // is the only writer of this memory.
    let bottom = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] = bottom + IST_STACK_SIZE as u64;
    tss
});

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: spin::LazyLock<(GlobalDescriptorTable, Selectors)> = spin::LazyLock::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(&TSS));
    (gdt, Selectors { code, data, tss })
});

pub fn init() {
    GDT.0.load();
    let s = &GDT.1;
    // SAFETY: the selectors index the GDT just loaded, which lives forever (static), and
    // describe a valid 64-bit code segment, data segment and TSS.
    unsafe {
        CS::set_reg(s.code);
        SS::set_reg(s.data);
        DS::set_reg(s.data);
        ES::set_reg(s.data);
        load_tss(s.tss);
    }
}
