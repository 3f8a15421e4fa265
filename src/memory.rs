//! Handing freed heap back to the system after one-off bulk work.
//!
//! glibc keeps what a program frees for its next allocations, and gives
//! back only the top of the heap. Parsing a large configuration (the TOML
//! tree of 100,000 agents is ~4 times the policy built from it) or reading
//! a large revocation backlog frees tens of MB in the middle of the heap
//! that would otherwise stay in the process's RSS for good (issue 21's heap
//! profile). `malloc_trim` returns the free pages; it costs a walk of the
//! free lists (milliseconds), so it runs after such work only, never per
//! request.

/// Return freed heap pages to the system (glibc only; elsewhere nothing).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes no pointer of ours and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
