//! `--warm-heap`: the allocator keeps the touched memory and serves later blocks from it.
//!
//! Without the test harness (`harness = false`): glibc's settings are process-wide and its arena
//! choice depends on the thread, so this runs alone, on the main thread, as the emulator does.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    use invsync_emulator::{free_heap_bytes, warm_heap};
    const MIB: usize = 1024 * 1024;

    assert_eq!(warm_heap(0), Ok(()), "zero mebibytes is a no-op");
    let before = free_heap_bytes();
    warm_heap(64).expect("glibc accepts the settings");
    let after = free_heap_bytes();
    assert!(
        after >= before + 60 * MIB,
        "free heap went from {before} to {after} bytes: the 64 MiB were given back to the system"
    );
    // A 4 MiB block (above glibc's default mmap threshold) now comes from that memory.
    let block = vec![2u8; 4 * MIB];
    let during = free_heap_bytes();
    assert!(
        during + 4 * MIB <= after + 64 * 1024,
        "free heap {after} -> {during} bytes: the 4 MiB block did not come from the warm heap"
    );
    drop(block);
    println!("warm_heap: ok (free heap {before} -> {after} -> {during} bytes)");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    let err = invsync_emulator::warm_heap(1).unwrap_err();
    assert!(err.contains("glibc"), "{err}");
}
