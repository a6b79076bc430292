//! Fork detection without a syscall.
//!
//! One page mapped with MADV_WIPEONFORK holds the current process epoch: a
//! forked child reads 0 there and takes a fresh epoch. A context remembers the
//! epoch it was made in; a different epoch means the caller is a child using
//! its parent's context, which kernel AIO answers with -EINVAL.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// The wiped-on-fork cell, or None if the page could not be set up (then
/// `current()` falls back to getpid, which is correct but costs a syscall).
static CELL: LazyLock<Option<&'static AtomicU64>> = LazyLock::new(map_cell);

/// The cell `is_current` reads: the mapped one once `CELL` is set up,
/// `NO_CELL` before (or if the page could not be mapped), so the hot check
/// is one load of the pointer and one of the cell, with no null test.
static CELL_PTR: AtomicPtr<AtomicU64> = AtomicPtr::new((&raw const NO_CELL).cast_mut());

/// Holds 0, which is no epoch: every check through it takes the slow way.
static NO_CELL: AtomicU64 = AtomicU64::new(0);

/// An epoch no process has (epochs count up from 2): a context stores it
/// when io_destroy begins, so that the hot check refuses it too.
pub const NO_EPOCH: u64 = u64::MAX;

/// Survives fork (ordinary memory), so a child's new epoch differs from every
/// epoch its ancestors handed out.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

fn map_cell() -> Option<&'static AtomicU64> {
    // SAFETY: an anonymous private mapping of one page; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `p` is the page just mapped; madvise only changes its fork behaviour.
    if unsafe { libc::madvise(p, 4096, libc::MADV_WIPEONFORK) } != 0 {
        // SAFETY: unmapping the page mapped above, which nothing else references.
        unsafe { libc::munmap(p, 4096) };
        return None;
    }
    CELL_PTR.store(p.cast(), Ordering::Release);
    // SAFETY: the page is mapped for the rest of the process, zero-filled,
    // suitably aligned, and only ever accessed through this atomic.
    Some(unsafe { &*(p as *const AtomicU64) })
}

/// Whether `epoch` (from `current`) is the calling process's: the check
/// every call on a context makes.
#[inline(always)]
pub fn is_current(epoch: u64) -> bool {
    let p = CELL_PTR.load(Ordering::Acquire);
    // SAFETY: CELL_PTR is NO_CELL or the page map_cell mapped, which is
    // never unmapped; either is only accessed through this atomic. A forked
    // child reads 0 in the page (MADV_WIPEONFORK), which is no epoch.
    unsafe { (*p).load(Ordering::Acquire) == epoch || is_current_slow(epoch) }
}

/// `is_current` where the cell did not hold `epoch`: a forked child's
/// first look (its cell is 0), no mapped cell, or an epoch that is no
/// longer the process's.
#[cold]
#[inline(never)]
fn is_current_slow(epoch: u64) -> bool {
    // The first call maps the cell (libc's mmap and madvise); io_submit's
    // fast path relies on this check leaving errno alone.
    crate::errno::keep_errno(|| current() == epoch)
}

/// The epoch of the calling process: equal values mean "same process".
pub fn current() -> u64 {
    let Some(cell) = *CELL else {
        // SAFETY: getpid has no preconditions.
        return u64::from(unsafe { libc::getpid() } as u32) | (1 << 63);
    };
    let e = cell.load(Ordering::Acquire);
    if e != 0 {
        return e;
    }
    let fresh = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) + 1;
    match cell.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(won) => won,
    }
}
