//! CPU priority of the threads that do background disk work.

/// Lowers the calling thread's CPU priority (nice 10), so background work yields to request
/// handling. Linux only (elsewhere a no-op); failure only costs latency, so it is ignored.
pub(crate) fn lower_to_background() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; PRIO_PROCESS with a thread id changes
    // only that thread on Linux.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}
