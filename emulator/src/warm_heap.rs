//! `--warm-heap MIB`: start the process with memory its allocator has already touched, as a game
//! server that has run for hours has, instead of a fresh process's empty heap.
//!
//! Why: a fresh process gets each page from the kernel on first touch, a page fault (1-2 µs each
//! on a virtual machine, ~0.3 ms per MiB). So the first tick that builds a 1 MB string pays for
//! 512 faults (its buffer and the string), about 1 ms, that a long-running server does not pay:
//! glibc raises its mmap threshold after freeing a large block and then serves megabyte blocks
//! from heap memory it keeps. Measured with PUC Lua 5.2 joining 1 MB from 144 pieces: ~1 ms
//! the first two times in a fresh process, 0.15-0.3 ms once the heap is warm. The emulator
//! measures the scenario's Lua time, so by default it stays a fresh process (what it is) and
//! `invsync bench` asks for a warm heap (what a game server is).
//!
//! With glibc: blocks up to 32 MiB (the largest mmap threshold glibc accepts) come from the heap,
//! freed heap memory is kept (no trimming), one arena serves every thread, and `MIB` mebibytes are
//! allocated, written and freed, so later allocations reuse touched pages. Other C libraries have
//! no such knobs: there [`warm_heap`] refuses with an error saying so (and `invsync bench` does not
//! ask for it).

/// Largest mmap threshold glibc accepts on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_MAX: libc::c_int = 32 * 1024 * 1024;

/// Makes `mib` MiB of touched memory available to later allocations. Returns an error naming
/// what failed (an allocator without these settings, or a setting glibc refused).
pub fn warm_heap(mib: usize) -> Result<(), String> {
    if mib == 0 {
        return Ok(());
    }
    warm(mib)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn warm(mib: usize) -> Result<(), String> {
    let settings = [
        (
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD_MAX,
            "M_MMAP_THRESHOLD",
        ),
        (libc::M_TRIM_THRESHOLD, libc::c_int::MAX, "M_TRIM_THRESHOLD"),
        (libc::M_ARENA_MAX, 1, "M_ARENA_MAX"),
    ];
    for (param, value, name) in settings {
        // SAFETY: mallopt only changes the allocator's parameters; it returns 0 on failure.
        if unsafe { libc::mallopt(param, value) } == 0 {
            return Err(format!("glibc refused mallopt({name}, {value})"));
        }
    }
    // All blocks live at once (so the heap grows by `mib` MiB), each written (so its pages are
    // faulted in), then all freed: they merge into free heap memory that is never trimmed.
    const BLOCK: usize = 1024 * 1024;
    let blocks: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; BLOCK]).collect();
    std::hint::black_box(&blocks);
    drop(blocks);
    Ok(())
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn warm(_mib: usize) -> Result<(), String> {
    Err("--warm-heap needs glibc (Linux); this build's C library has no such settings".into())
}

/// Free heap memory the allocator holds, in bytes (glibc's `mallinfo2().fordblks`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn free_heap_bytes() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.fordblks
}
