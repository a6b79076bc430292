//! The submission queue's head and flags, read without the submission lock.
//!
//! io_submit returns only once the submission thread has taken its entries
//! (see `UringEngine::wait_taken`): the kernel commits the head after it has
//! issued the entries it took, their descriptors looked up, which kernel AIO
//! does inside io_submit. The io-uring crate shows the head only through a
//! queue view that must be taken under the submission lock (dropping a view
//! stores its tail back), so the waiter maps the page holding the head a
//! second time, read-only, and watches it there. The flags beside it say
//! whether the submission thread sleeps (`thread_asleep`), which decides
//! whether a request at light load is worth waking it for.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::IoUring;

/// Byte offset of `sq_off.head` in `struct io_uring_params` (after seven
/// u32 fields and three reserved ones): part of the kernel's ABI.
const PARAMS_SQ_OFF_HEAD: usize = 40;
/// Byte offset of `sq_off.flags` (head, tail, ring_mask and ring_entries
/// before it).
const PARAMS_SQ_OFF_FLAGS: usize = 56;
/// IORING_SQ_NEED_WAKEUP: the submission thread sleeps until woken.
const SQ_NEED_WAKEUP: u32 = 1;

pub(super) struct SqHead {
    map: *mut libc::c_void,
    len: usize,
    head: *const AtomicU32,
    flags: *const AtomicU32,
}

// SAFETY: the mapping is only read, through an atomic, and lives as long as
// the value; nothing in it is tied to a thread.
unsafe impl Send for SqHead {}
// SAFETY: as above.
unsafe impl Sync for SqHead {}

impl SqHead {
    /// Maps the head of `ring`'s submission queue; None if the kernel refuses.
    pub(super) fn new(ring: &IoUring) -> Option<SqHead> {
        let param = |at: usize| {
            // SAFETY: `Parameters` is a transparent wrapper of the kernel's
            // `struct io_uring_params` (documented so by the crate), which
            // is at least 120 bytes; the u32s at PARAMS_SQ_OFF_HEAD and
            // PARAMS_SQ_OFF_FLAGS are sq_off.head and sq_off.flags.
            let v = unsafe {
                (ring.params() as *const io_uring::Parameters).cast::<u8>().add(at).cast::<u32>().read_unaligned()
            };
            v as usize
        };
        let (off, flags_off) = (param(PARAMS_SQ_OFF_HEAD), param(PARAMS_SQ_OFF_FLAGS));
        let len = off.max(flags_off) + 4;
        // SAFETY: a new shared read-only mapping of the ring's submission
        // queue region (IORING_OFF_SQ_RING = 0), no larger than that region
        // (its head and flags lie inside it); no existing memory is touched.
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                ring.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: `off` and `flags_off` are within the mapping, and the
        // kernel keeps both fields 4-byte aligned there.
        let (head, flags) = unsafe {
            (map.cast::<u8>().add(off).cast::<AtomicU32>(), map.cast::<u8>().add(flags_off).cast::<AtomicU32>())
        };
        Some(SqHead { map, len, head, flags })
    }

    /// The head: entries before it have been taken and issued.
    #[inline(always)]
    pub(super) fn load(&self) -> u32 {
        // SAFETY: `head` points into the mapping, alive while `self` is;
        // the kernel stores it with release semantics.
        unsafe { (*self.head).load(Ordering::Acquire) }
    }

    /// Whether the submission thread sleeps (it would have to be woken).
    #[inline(always)]
    pub(super) fn thread_asleep(&self) -> bool {
        // SAFETY: `flags` points into the mapping, alive while `self` is.
        unsafe { (*self.flags).load(Ordering::Relaxed) & SQ_NEED_WAKEUP != 0 }
    }
}

impl Drop for SqHead {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.map, self.len) };
    }
}
