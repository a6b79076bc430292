//! The caller's memory: the pointers an io_* call receives, as handed to
//! the engines, and the checked reads and writes behind them.
//!
//! Each newtype wraps a pointer exactly as received: nothing is validated or
//! dereferenced by wrapping it. Reading or writing through one checks the
//! address first the way the kernel's user-copy routines would refuse it
//! (-EFAULT), so that a bad pointer gets the kernel's answer, not a crash.
//! Knows the kernel's types (kernel_abi) and nothing else of the crate.

use core::mem::size_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::{Errno, Result, keep_errno};
use crate::kernel_abi::{IoEvent, Iocb};

/// `struct iocb *ios[]` with its count, as given to io_submit.
#[derive(Clone, Copy)]
pub struct IocbList {
    ptr: *mut *mut Iocb,
    nr: i64,
}

impl IocbList {
    pub fn new(ptr: *mut *mut Iocb, nr: i64) -> IocbList {
        IocbList { ptr, nr }
    }
    pub fn raw(self) -> *mut *mut Iocb {
        self.ptr
    }
    pub fn nr(self) -> i64 {
        self.nr
    }

    /// The i-th iocb pointer (i < nr). -EFAULT where the kernel's get_user
    /// would fault: a NULL or non-user array; NULL or non-user element.
    pub fn get(self, i: usize) -> Result<IocbPtr> {
        let slot = (self.ptr as usize).wrapping_add(i * size_of::<usize>());
        if !is_user_range(slot, size_of::<usize>()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: io_submit's contract: `ios` points to `nr` readable iocb
        // pointers; the address was checked to be in the user range. An
        // unmapped or PROT_NONE address faults here as in a program's own
        // read: a probe per page (as for events arrays) cost io_submit 23
        // instructions per request, 11% of the inline route (README).
        let p = unsafe { core::ptr::read_unaligned(slot as *const *mut Iocb) };
        if !is_user_range(p as usize, size_of::<Iocb>()) {
            return Err(Errno::EFAULT);
        }
        Ok(IocbPtr(p))
    }
}

/// One `struct iocb *`.
#[derive(Clone, Copy)]
pub struct IocbPtr(*mut Iocb);

impl IocbPtr {
    pub fn new(ptr: *mut Iocb) -> IocbPtr {
        IocbPtr(ptr)
    }
    pub fn raw(self) -> *mut Iocb {
        self.0
    }
    pub fn addr(self) -> u64 {
        self.0 as u64
    }

    /// A copy of the iocb: the engine never reads the caller's iocb again.
    pub fn read(self) -> Result<Iocb> {
        if !is_user_range(self.0 as usize, size_of::<Iocb>()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: a pointer the caller submitted as an iocb, checked to lie
        // in the user range (see IocbList::get, also for unmapped memory).
        Ok(unsafe { core::ptr::read_unaligned(self.0) })
    }

    /// The kernel writes 0 (KIOCB_KEY) to aio_key at submit; so do we.
    pub fn clear_key(self) {
        self.set_key(0);
    }

    /// Puts back the aio_key read before a submission that turned out to
    /// be refused at a step where the kernel has not written it yet.
    pub fn set_key(self, key: u32) {
        // SAFETY: the iocb was just read through this checked pointer; the
        // kernel writes the same field with put_user.
        unsafe { core::ptr::addr_of_mut!((*self.0).aio_key).write_unaligned(key) };
    }

    /// aio_key, for io_cancel's check (`None` where get_user would fault:
    /// read with `read_user`, io_cancel being a cold path).
    pub fn key(self) -> Option<u32> {
        if !is_user_range(self.0 as usize, size_of::<Iocb>()) {
            return None;
        }
        read_user::<u32>((self.0 as usize).wrapping_add(core::mem::offset_of!(Iocb, aio_key)))
    }
}

/// Copies a PREADV/PWRITEV iovec array into `out` (the kernel copies it at
/// submit too, so the caller may free it as soon as io_submit returns).
pub fn read_iovecs(addr: u64, cnt: usize, out: &mut Vec<libc::iovec>) -> Result<()> {
    out.clear();
    out.resize(cnt, libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 });
    if copy_iovecs(addr, out) { Ok(()) } else { Err(Errno::EFAULT) }
}

/// Copies `out.len()` iovecs from `addr`; false if the array is not in the user range.
pub fn copy_iovecs(addr: u64, out: &mut [libc::iovec]) -> bool {
    let Some(bytes) = out.len().checked_mul(size_of::<libc::iovec>()) else { return false };
    if out.is_empty() {
        return true;
    }
    if !is_user_range(addr as usize, bytes) {
        return false;
    }
    let (first, last) = (addr as usize, addr as usize + bytes - 1);
    if !page_readable(first) || (first >> 12 != last >> 12 && !pages_readable(first, last)) {
        return false;
    }
    let src = addr as *const libc::iovec;
    for (i, v) in out.iter_mut().enumerate() {
        // SAFETY: the caller passed that many iovecs at `addr`
        // (io_prep_preadv's contract); the whole array lies in the user
        // range, on pages found readable.
        *v = unsafe { core::ptr::read_unaligned(src.add(i)) };
    }
    true
}

/// A `struct io_event *` the library or the kernel writes results into.
#[derive(Clone, Copy)]
pub struct EventsOut(*mut IoEvent);

impl EventsOut {
    pub fn new(ptr: *mut IoEvent) -> EventsOut {
        EventsOut(ptr)
    }
    pub fn raw(self) -> *mut IoEvent {
        self.0
    }

    /// Room the library owns (events it reaps only to discard them).
    pub fn library_owned(buf: &mut [IoEvent]) -> EventsOut {
        EventsOut(buf.as_mut_ptr())
    }

    /// Event `i` as written, for the statistics (None outside the user range).
    pub fn read(self, i: usize) -> Option<IoEvent> {
        if !self.can_write(i) {
            return None;
        }
        let at = (self.0 as usize).wrapping_add(i * size_of::<IoEvent>());
        // SAFETY: io_getevents' contract: room for `nr` events at `events`,
        // which the call just wrote up to `i`; the slot is in the user range.
        Some(unsafe { core::ptr::read_unaligned(at as *const IoEvent) })
    }

    /// Whether event `i` can be written: in the user range, on a page
    /// mapped writable (false where copy_to_user would fail).
    pub fn slot_writable(self, i: usize) -> bool {
        self.writable(i, i + 1) > i
    }

    /// Whether event `i` lies in the user range (its page unchecked).
    pub fn can_write(self, i: usize) -> bool {
        is_user_range((self.0 as usize).wrapping_add(i * size_of::<IoEvent>()), size_of::<IoEvent>())
    }

    /// The end of the run of writable events from `from` (at most `to`):
    /// copy_to_user of events [from, to) would stop at the returned index.
    /// Beyond the user range, each page of the run must be mapped writable
    /// (`page_writable`).
    pub fn writable(self, from: usize, to: usize) -> usize {
        let end = self.in_user_range(from, to);
        if end == from {
            return from;
        }
        let first = (self.0 as usize).wrapping_add(from * size_of::<IoEvent>());
        let last = (self.0 as usize).wrapping_add(end * size_of::<IoEvent>() - 1);
        if first >> 12 == last >> 12 {
            // The common case: a run within one page.
            return if page_writable(first >> 12, first) { end } else { from };
        }
        let mut page = first >> 12;
        while page <= last >> 12 {
            // A byte of the run in that page: the page's first, or the run's.
            if !page_writable(page, (page << 12).max(first)) {
                // The first slot that reaches into the bad page.
                let bad = (page << 12).max(first);
                return from + (bad - first) / size_of::<IoEvent>();
            }
            page += 1;
        }
        end
    }

    /// `writable` as far as the user range goes.
    fn in_user_range(self, from: usize, to: usize) -> usize {
        if to > from && self.can_write(from) && self.can_write(to - 1) {
            let span = (to - from).checked_mul(size_of::<IoEvent>());
            let first = (self.0 as usize).wrapping_add(from * size_of::<IoEvent>());
            if span.is_some_and(|n| first.checked_add(n).is_some()) {
                return to; // both ends in the user range, no wrap between
            }
        }
        let mut i = from;
        while i < to && self.can_write(i) {
            i += 1;
        }
        i
    }

    /// Writes `evs` as events `i..`; false (nothing written) unless every
    /// one of them can be written.
    pub fn write_all(self, i: usize, evs: &[IoEvent]) -> bool {
        if evs.is_empty() {
            return true;
        }
        if self.writable(i, i + evs.len()) != i + evs.len() {
            return false;
        }
        let at = (self.0 as usize).wrapping_add(i * size_of::<IoEvent>());
        // SAFETY: io_getevents' contract: room for `nr` events at `events`;
        // the whole destination range lies in the user range (checked above,
        // without wrapping) and cannot overlap the library's own `evs`.
        unsafe { core::ptr::copy_nonoverlapping(evs.as_ptr(), at as *mut IoEvent, evs.len()) };
        true
    }

    /// Writes event `i` without a check of its own.
    ///
    /// # Safety
    /// `i` lies below the value `writable(from, to)` returned for some
    /// `from <= i`: the slot is in the user range.
    #[inline(always)]
    pub unsafe fn write_in_run(self, i: usize, ev: IoEvent) {
        let at = (self.0 as usize).wrapping_add(i * size_of::<IoEvent>());
        // SAFETY: io_getevents' contract: room for `nr` events at `events`;
        // by this function's contract the slot lies in the user range.
        unsafe { (at as *mut IoEvent).write_unaligned(ev) };
    }
}

/// Pages of the caller's memory found mapped writable (events arrays) or
/// readable (timeouts, iovec arrays), by page number: a program reaps into,
/// waits with and submits from the same few. A page is probed once through the kernel, which fails instead of
/// faulting (one byte read, and written back for a writable page), so that
/// memory unmapped, PROT_NONE or read-only gets -EFAULT as from the kernel's
/// user copies; memory unmapped after that first probe would fault as the
/// program's own access would.
static PAGES_WRITABLE: [AtomicUsize; 32] = [const { AtomicUsize::new(usize::MAX) }; 32];
static PAGES_READABLE: [AtomicUsize; 16] = [const { AtomicUsize::new(usize::MAX) }; 16];

/// Whether `page` is mapped writable; `byte` is an address in it that the
/// caller hands over for the kernel to write (a slot of its events run).
#[inline(always)]
fn page_writable(page: usize, byte: usize) -> bool {
    let seen = &PAGES_WRITABLE[page % PAGES_WRITABLE.len()];
    seen.load(Ordering::Relaxed) == page || probe_writable(page, byte, seen)
}

/// Whether the page holding `addr` is mapped readable.
#[inline(always)]
fn page_readable(addr: usize) -> bool {
    let page = addr >> 12;
    let seen = &PAGES_READABLE[page % PAGES_READABLE.len()];
    seen.load(Ordering::Relaxed) == page || probe_readable(page, addr, seen)
}

#[cold]
#[inline(never)]
fn probe_readable(page: usize, addr: usize, seen: &AtomicUsize) -> bool {
    let ok = read_user::<u8>(addr).is_some();
    if ok {
        seen.store(page, Ordering::Relaxed);
    }
    ok
}

/// Every page from the one holding `first` to the one holding `last`.
#[cold]
#[inline(never)]
fn pages_readable(first: usize, last: usize) -> bool {
    (first >> 12..=last >> 12).all(|page| page_readable((page << 12).max(first)))
}


#[cold]
#[inline(never)]
fn probe_writable(page: usize, byte: usize, seen: &AtomicUsize) -> bool {
    // Only `byte` is read and written back: nothing outside the run the
    // kernel would write is touched.
    let ok = read_user::<u8>(byte).is_some_and(|b| write_user::<u8>(byte, b));
    if ok {
        seen.store(page, Ordering::Relaxed);
    }
    ok
}

/// A `struct timespec *` timeout (NULL = wait forever).
#[derive(Clone, Copy)]
pub struct TimeoutPtr(*const libc::timespec);

impl TimeoutPtr {
    pub fn new(ptr: *const libc::timespec) -> TimeoutPtr {
        TimeoutPtr(ptr)
    }
    pub fn raw(self) -> *const libc::timespec {
        self.0
    }

    /// True for a timeout of exactly {0, 0}: libaio's poll-once case.
    ///
    /// libaio reads the timespec directly; so does this, after refusing
    /// addresses that cannot be user memory (a timespec there makes the call
    /// go to the kernel, which answers -EFAULT). An unmapped user address
    /// faults here as it does in libaio.
    pub fn is_zero(self) -> bool {
        let a = self.0 as usize;
        if !is_user_range(a, size_of::<libc::timespec>()) {
            return false;
        }
        // SAFETY: the caller passed this pointer as its timeout, promising a
        // readable timespec (libaio reads it the same way); NULL and
        // non-user addresses were excluded above.
        let ts = unsafe { core::ptr::read_unaligned(self.0) };
        ts.tv_sec == 0 && ts.tv_nsec == 0
    }
}


impl TimeoutPtr {
    /// The timeout as the kernel reads it: None = forever (NULL, or any
    /// negative total, which the kernel's saturating add makes infinite),
    /// otherwise nanoseconds (tv_nsec is not validated, as in the kernel).
    pub fn read_ns(self) -> Result<Option<u64>> {
        if self.0.is_null() {
            return Ok(None);
        }
        let a = self.0 as usize;
        if !is_user_range(a, size_of::<libc::timespec>()) {
            return Err(Errno::EFAULT);
        }
        let last = a + size_of::<libc::timespec>() - 1;
        if !page_readable(a) || (a >> 12 != last >> 12 && !page_readable(last)) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: a timespec pointer from the caller, in the user range, on
        // pages found readable (`page_readable`).
        let ts = unsafe { core::ptr::read_unaligned(self.0) };
        let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
        Ok(if ns < 0 { None } else { Some(u64::try_from(ns).unwrap_or(u64::MAX)) })
    }
}

/// A `sigset_t *` for io_pgetevents (may be NULL).
#[derive(Clone, Copy)]
pub struct SigmaskPtr(*const libc::sigset_t);

impl SigmaskPtr {
    pub fn new(ptr: *const libc::sigset_t) -> SigmaskPtr {
        SigmaskPtr(ptr)
    }
    pub fn raw(self) -> *const libc::sigset_t {
        self.0
    }

    /// -EFAULT where the kernel could not read the mask (its 8 bytes, the
    /// size libaio passes): NULL is no mask. One syscall: io_pgetevents
    /// with a mask is not on any hot path.
    pub fn check_readable(self) -> Result<()> {
        if self.0.is_null() || read_user::<u64>(self.0 as usize).is_some() { Ok(()) } else { Err(Errno::EFAULT) }
    }
}

/// The top of the x86_64 user address space (47-bit), exclusive.
const USER_TOP: usize = 1 << 47;

/// Whether `[addr, addr+len)` lies in the user half and outside page 0.
#[inline(always)]
pub fn is_user_range(addr: usize, len: usize) -> bool {
    // One unsigned compare for a constant `len`: an address below 4096
    // wraps to a huge value.
    len <= USER_TOP - 4096 && addr.wrapping_sub(4096) <= USER_TOP - 4096 - len
}

/// The kernel's access_ok for a buffer the kernel will use: the range ends
/// at or below the top of user space (NULL with length 0 is fine).
#[inline(always)]
pub fn access_ok(addr: u64, len: u64) -> bool {
    len <= USER_TOP as u64 && addr <= USER_TOP as u64 - len
}

/// Copies a `T` from an untrusted address without risking a fault: the
/// kernel does the read (process_vm_readv on ourselves) and reports a bad
/// address as an error, and errno is left as it was. One syscall: for cold
/// paths only.
pub fn read_user<T: Copy>(addr: usize) -> Option<T> {
    if !is_user_range(addr, size_of::<T>()) {
        return None;
    }
    let mut out = core::mem::MaybeUninit::<T>::uninit();
    let local = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: size_of::<T>() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: size_of::<T>() };
    // SAFETY: `local` describes `out`, writable for size_of::<T>() bytes; the
    // kernel validates `remote` and fails with EFAULT instead of faulting.
    let n = keep_errno(|| unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) });
    // SAFETY: a full-length read initialised every byte of `out`; T is Copy
    // plain data (integers) for which any bit pattern is valid.
    (n == size_of::<T>() as isize).then(|| unsafe { out.assume_init() })
}

/// Writes a `T` to an untrusted address without risking a fault (the
/// kernel's put_user: false where it would fail). One syscall: cold paths.
pub fn write_user<T: Copy>(addr: usize, value: T) -> bool {
    if !is_user_range(addr, size_of::<T>()) {
        return false;
    }
    let local = libc::iovec { iov_base: (&raw const value).cast_mut().cast(), iov_len: size_of::<T>() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: size_of::<T>() };
    // SAFETY: `local` describes `value`, readable for size_of::<T>() bytes;
    // the kernel validates `remote` (including write permission) and fails
    // with EFAULT instead of faulting.
    let n = keep_errno(|| unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) });
    n == size_of::<T>() as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single-compare forms against the plain definitions, at the edges.
    #[test]
    fn range_checks_match_their_definitions() {
        let top = USER_TOP;
        let addrs = [0, 1, 4095, 4096, 4097, 1 << 20, top - 4097, top - 4096, top - 64, top - 1, top, top + 1, usize::MAX - 63, usize::MAX];
        let lens = [0, 1, 8, 32, 64, 4096, top - 8192, top - 4097, top - 4096, top - 4095, top, top + 1, usize::MAX];
        for &a in &addrs {
            for &l in &lens {
                let plain = a >= 4096 && a.checked_add(l).is_some_and(|end| end <= top);
                assert_eq!(is_user_range(a, l), plain, "is_user_range({a:#x}, {l:#x})");
                let (a64, l64) = (a as u64, l as u64);
                let plain = a64.checked_add(l64).is_some_and(|end| end <= top as u64);
                assert_eq!(access_ok(a64, l64), plain, "access_ok({a:#x}, {l:#x})");
            }
        }
    }
}
