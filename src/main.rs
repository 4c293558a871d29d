//! The `quire` command.

mod bench;
mod cli;
mod eval;

/// candle allocates fresh buffers for every tensor operation; glibc's malloc
/// serves large ones with mmap and page faults on each, which cost a third of
/// the embedding time in system calls. mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if cpu_lacks_build_features() {
        use std::io::Write;
        // A static message: formatting could itself use the missing instructions.
        let _ = std::io::stderr().write_all(
            b"quire: this build of Quire needs a processor with AVX2, FMA and BMI2 (x86-64-v3: Intel Haswell, \
AMD Excavator or newer). To run on this one, remove the target-cpu line from .cargo/config.toml and build \
again; it will be slower.\n",
        );
        return std::process::ExitCode::FAILURE;
    }
    // Started by Quire to extract files: nothing else runs in this process.
    if let Some(code) = quire_engine::helper::serve_if_requested() {
        return code;
    }
    cli::main()
}

/// Whether this processor lacks a feature of x86-64-v3, which the build targets
/// (.cargo/config.toml), so that an older CPU gets a message instead of an
/// illegal-instruction crash. Reads CPUID itself: `is_x86_feature_detected!`
/// answers "yes" at compile time for features the build enables.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn cpu_lacks_build_features() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    const FMA: u32 = 1 << 12;
    const MOVBE: u32 = 1 << 22;
    const OSXSAVE: u32 = 1 << 27;
    const AVX: u32 = 1 << 28;
    const F16C: u32 = 1 << 29;
    const BMI1: u32 = 1 << 3;
    const AVX2: u32 = 1 << 5;
    const BMI2: u32 = 1 << 8;
    const LZCNT: u32 = 1 << 5;
    if !cfg!(target_feature = "avx2") {
        return false;
    }
    // Leaves past the processor's maximum are not read.
    let max = __cpuid(0).eax;
    let max_extended = __cpuid(0x8000_0000).eax;
    let leaf1 = __cpuid(1);
    let leaf7 = (max >= 7).then(|| __cpuid_count(7, 0));
    let extended = (max_extended >= 0x8000_0001).then(|| __cpuid(0x8000_0001));
    let ecx1 = leaf1.ecx;
    let needed1 = FMA | MOVBE | OSXSAVE | AVX | F16C;
    let leaf7_ok = leaf7.is_some_and(|l| l.ebx & (BMI1 | AVX2 | BMI2) == BMI1 | AVX2 | BMI2);
    let lzcnt_ok = extended.is_some_and(|l| l.ecx & LZCNT != 0);
    ecx1 & needed1 != needed1 || !leaf7_ok || !lzcnt_ok || !os_saves_avx_state()
}

/// AVX registers are usable only when the operating system saves them (XCR0 bits 1 and 2).
#[cfg(target_arch = "x86_64")]
fn os_saves_avx_state() -> bool {
    // SAFETY: called only after CPUID reported OSXSAVE, which makes XGETBV available.
    let xcr0 = unsafe { std::arch::x86_64::_xgetbv(0) };
    xcr0 & 0b110 == 0b110
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_lacks_build_features() -> bool {
    false
}
