//! The C boundary: libaio's types and every exported function.
//!
//! This is the only module that turns a caller's raw pointers into values.
//! Each export finds the engine for the handle (or passes an unknown handle
//! to the kernel), calls it, and converts the result to libaio's convention:
//! a negative errno on failure, never -1, and `errno` left as it was found.
//!
//! The exports carry libaio's symbol versions. rustc's own version script
//! claims every `#[no_mangle]` name, so the implementations are private Rust
//! functions reached through tiny assembly trampolines that `.symver` binds to
//! `io_x@@LIBAIO_0.n` (default) or `io_x@LIBAIO_0.1` (compat); the version
//! nodes themselves are defined by libaio.map (see build.rs).

mod ctx_table;
#[cfg(target_arch = "x86_64")]
mod raw_syscall;

use core::ffi::{c_int, c_long};
use core::mem::{offset_of, size_of};
use std::sync::Arc;

use crate::config::{self, EngineChoice};
use crate::engine::kernel::{self, KernelEngine};
use crate::engine::uring::{self, UringEngine};
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result};

// ---------------------------------------------------------------------------
// Types, laid out as the kernel's <linux/aio_abi.h> (x86_64 and every LP64
// little-endian target; the C header covers the other word sizes).

/// `struct iocb`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Iocb {
    pub aio_data: u64,
    pub aio_key: u32,
    pub aio_rw_flags: u32,
    pub aio_lio_opcode: u16,
    pub aio_reqprio: i16,
    pub aio_fildes: u32,
    pub aio_buf: u64,
    pub aio_nbytes: u64,
    pub aio_offset: i64,
    pub aio_reserved2: u64,
    pub aio_flags: u32,
    pub aio_resfd: u32,
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoEvent {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

/// The `{sigmask, sigsetsize}` pair io_pgetevents passes to the kernel.
#[repr(C)]
pub struct IoSigset {
    pub ss: u64,
    pub ss_len: u64,
}

const _: () = {
    assert!(size_of::<Iocb>() == 64);
    assert!(offset_of!(Iocb, aio_data) == 0);
    assert!(offset_of!(Iocb, aio_key) == 8);
    assert!(offset_of!(Iocb, aio_rw_flags) == 12);
    assert!(offset_of!(Iocb, aio_lio_opcode) == 16);
    assert!(offset_of!(Iocb, aio_reqprio) == 18);
    assert!(offset_of!(Iocb, aio_fildes) == 20);
    assert!(offset_of!(Iocb, aio_buf) == 24);
    assert!(offset_of!(Iocb, aio_nbytes) == 32);
    assert!(offset_of!(Iocb, aio_offset) == 40);
    assert!(offset_of!(Iocb, aio_reserved2) == 48);
    assert!(offset_of!(Iocb, aio_flags) == 56);
    assert!(offset_of!(Iocb, aio_resfd) == 60);
    assert!(size_of::<IoEvent>() == 32);
    assert!(offset_of!(IoEvent, data) == 0);
    assert!(offset_of!(IoEvent, obj) == 8);
    assert!(offset_of!(IoEvent, res) == 16);
    assert!(offset_of!(IoEvent, res2) == 24);
    assert!(size_of::<IoSigset>() == 16);
    assert!(offset_of!(IoSigset, ss_len) == 8);
    assert!(size_of::<libc::timespec>() == 16);
};

/// libaio's `io_callback_t`.
pub type IoCallback = unsafe extern "C" fn(ctx: usize, iocb: *mut Iocb, res: c_long, res2: c_long);

// ---------------------------------------------------------------------------
// The caller's pointers, as handed to engines. Each wraps a pointer exactly
// as received: nothing is validated or dereferenced by wrapping it.

/// `struct iocb *ios[]` with its count, as given to io_submit.
#[derive(Clone, Copy)]
pub struct IocbList {
    ptr: *mut *mut Iocb,
    nr: i64,
}

impl IocbList {
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
        // unmapped user address faults here as in a program's own read.
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
        // in the user range (see IocbList::get).
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

    /// aio_key, for io_cancel's check (`None` where get_user would fault).
    pub fn key(self) -> Option<u32> {
        if !is_user_range(self.0 as usize, size_of::<Iocb>()) {
            return None;
        }
        // SAFETY: as in `read`.
        Some(unsafe { core::ptr::addr_of!((*self.0).aio_key).read_unaligned() })
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
    let src = addr as *const libc::iovec;
    for (i, v) in out.iter_mut().enumerate() {
        // SAFETY: the caller passed that many iovecs at `addr`
        // (io_prep_preadv's contract); the whole array lies in the user range.
        *v = unsafe { core::ptr::read_unaligned(src.add(i)) };
    }
    true
}

/// A `struct io_event *` the library or the kernel writes results into.
#[derive(Clone, Copy)]
pub struct EventsOut(*mut IoEvent);

impl EventsOut {
    pub fn raw(self) -> *mut IoEvent {
        self.0
    }

    /// Room the library owns (events it reaps only to discard them).
    pub fn library_owned(buf: &mut [IoEvent]) -> EventsOut {
        EventsOut(buf.as_mut_ptr())
    }

    /// Whether event `i` can be written (false where copy_to_user would fail).
    pub fn can_write(self, i: usize) -> bool {
        is_user_range((self.0 as usize).wrapping_add(i * size_of::<IoEvent>()), size_of::<IoEvent>())
    }

    /// The end of the run of writable events from `from` (at most `to`):
    /// copy_to_user of events [from, to) would stop at the returned index.
    pub fn writable(self, from: usize, to: usize) -> usize {
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

/// A `struct timespec *` timeout (NULL = wait forever).
#[derive(Clone, Copy)]
pub struct TimeoutPtr(*const libc::timespec);

impl TimeoutPtr {
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
        if !is_user_range(self.0 as usize, size_of::<libc::timespec>()) {
            return Err(Errno::EFAULT);
        }
        // SAFETY: a timespec pointer from the caller, checked to be in the
        // user range (see `is_zero`).
        let ts = unsafe { core::ptr::read_unaligned(self.0) };
        let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
        Ok(if ns < 0 { None } else { Some(u64::try_from(ns).unwrap_or(u64::MAX)) })
    }
}

/// A `sigset_t *` for io_pgetevents (may be NULL).
#[derive(Clone, Copy)]
pub struct SigmaskPtr(*const libc::sigset_t);

impl SigmaskPtr {
    pub fn raw(self) -> *const libc::sigset_t {
        self.0
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
/// address as an error. One syscall: for cold paths only.
pub fn read_user<T: Copy>(addr: usize) -> Option<T> {
    if !is_user_range(addr, size_of::<T>()) {
        return None;
    }
    let mut out = core::mem::MaybeUninit::<T>::uninit();
    let local = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: size_of::<T>() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: size_of::<T>() };
    // SAFETY: `local` describes `out`, writable for size_of::<T>() bytes; the
    // kernel validates `remote` and fails with EFAULT instead of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
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
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == size_of::<T>() as isize
}

// ---------------------------------------------------------------------------
// The calls, safe once the pointers are wrapped.

/// Converts a result to libaio's return: the value, or `-errno`.
fn ret(r: Result<usize>) -> c_int {
    match r {
        Ok(n) => n as c_int,
        Err(Errno(e)) => -e,
    }
}

/// Runs `f` and puts the caller's `errno` back afterwards: libaio's calls
/// never change errno, while the syscalls underneath do.
#[inline(always)]
pub(crate) fn keep_errno<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: __errno_location returns the calling thread's errno cell, valid
    // for the thread's lifetime.
    let cell = unsafe { libc::__errno_location() };
    // SAFETY: as above; a plain int read and write of our own thread's errno.
    let saved = unsafe { *cell };
    let r = f();
    // SAFETY: as above.
    unsafe { *cell = saved };
    r
}

fn setup(nr_events: c_int, ctxp: *mut usize) -> Result<usize> {
    let cfg = config::get();
    // The io_uring engine, for the fast index.
    let mut fast = None;
    let uring_arc = |e: UringEngine, fast: &mut Option<*const UringEngine>| -> Arc<dyn Engine> {
        let arc = Arc::new(e);
        *fast = Some(Arc::as_ptr(&arc));
        arc
    };
    let (handle, engine, why): (usize, Arc<dyn Engine>, String) = match cfg.engine {
        EngineChoice::Kernel => {
            let (h, e) = KernelEngine::setup(nr_events, ctxp)?;
            (h, Arc::new(e), "LIBAIO_RS_ENGINE=kernel".to_string())
        }
        EngineChoice::Uring => {
            uring::probe().map_err(|(e, _)| e)?;
            let (h, e) = UringEngine::setup(nr_events, ctxp, false)?;
            (h, uring_arc(e, &mut fast), "LIBAIO_RS_ENGINE=uring".to_string())
        }
        EngineChoice::Auto => match uring::probe() {
            Ok(()) => match UringEngine::setup(nr_events, ctxp, true) {
                Ok((h, e)) => (h, uring_arc(e, &mut fast), "io_uring available".to_string()),
                // Argument errors are the caller's: kernel AIO gives the same.
                Err(e) if e != Errno::ENOMEM && !is_uring_refusal(e) => return Err(e),
                Err(e) => {
                    let (h, k) = KernelEngine::setup(nr_events, ctxp)?;
                    (h, Arc::new(k), format!("io_uring ring setup failed: errno {}", e.0))
                }
            },
            Err((e, why)) => {
                let (h, k) = KernelEngine::setup(nr_events, ctxp)?;
                (h, Arc::new(k), format!("{why} (errno {})", e.0))
            }
        },
    };
    if cfg.log {
        config::log_line(&format!(
            "io_setup nr_events={nr_events} engine={} ({why})",
            engine.name()
        ));
    }
    ctx_table::insert(handle, engine, fast);
    Ok(0)
}

/// Errors of io_uring_setup that mean "not here" rather than "bad arguments".
fn is_uring_refusal(e: Errno) -> bool {
    matches!(e.0, libc::EPERM | libc::EACCES | libc::ENOSYS | libc::EMFILE | libc::ENFILE)
}

fn destroy(ctx: usize) -> Result<usize> {
    match ctx_table::remove(ctx) {
        // Dropping `removed` waits for fast-path calls still on the engine.
        Some(removed) => removed.engine().destroy().map(|()| 0),
        None => Errno::from_ret(kernel::sys::io_destroy(ctx)).map(|_| 0),
    }
}

/// io_submit's return value: the count accepted, or -errno; errno as it was.
#[inline(always)]
fn submit(ctx: usize, iocbs: IocbList) -> c_int {
    if let Some(engine) = ctx_table::fast_submit(ctx) {
        // Keeps errno itself, without a save on its fast paths.
        return engine.submit_uncounted(iocbs);
    }
    keep_errno(|| ret(submit_looked_up(ctx, iocbs)))
}

/// `submit` for a handle the fast index does not hold.
#[cold]
#[inline(never)]
fn submit_looked_up(ctx: usize, iocbs: IocbList) -> Result<usize> {
    match ctx_table::lookup(ctx) {
        Some(engine) => engine.submit(iocbs),
        None => Errno::from_ret(kernel::sys::io_submit(ctx, iocbs.nr, iocbs.ptr)).map(|n| n as usize),
    }
}

fn get_events(ctx: usize, wait: &Wait) -> Result<usize> {
    if let Some(engine) = ctx_table::fast(ctx) {
        return engine_get_events(&*engine, wait);
    }
    get_events_looked_up(ctx, wait)
}

/// io_getevents on one of the library's engines. libaio's shortcut: a
/// {0,0} timeout with nothing ready returns 0 without a syscall, whatever
/// the other arguments are.
#[inline(always)]
fn engine_get_events<E: Engine + ?Sized>(engine: &E, wait: &Wait) -> Result<usize> {
    if wait.timeout.is_zero() && engine.nothing_ready() == Some(true) {
        return Ok(0);
    }
    engine.get_events(wait)
}

/// `get_events` for a handle the fast index does not hold.
#[cold]
#[inline(never)]
fn get_events_looked_up(ctx: usize, wait: &Wait) -> Result<usize> {
    match ctx_table::lookup(ctx) {
        Some(engine) => engine_get_events(&*engine, wait),
        None => {
            // libaio's shortcut reads the ring of any handle; a context made
            // by a raw syscall gets it too, read the checked way (a garbage
            // handle then goes to the kernel instead of faulting).
            if wait.timeout.is_zero()
                && read_user::<kernel::AioRingHeader>(ctx)
                    .is_some_and(|h| h.magic == kernel::AIO_RING_MAGIC && h.head == h.tail)
            {
                return Ok(0);
            }
            Errno::from_ret(kernel::get_events_raw(ctx, wait)).map(|n| n as usize)
        }
    }
}

fn cancel(ctx: usize, iocb: IocbPtr, result: EventsOut) -> Result<usize> {
    match ctx_table::lookup(ctx) {
        Some(engine) => engine.cancel(iocb, result).map(|()| 0),
        None => Errno::from_ret(kernel::sys::io_cancel(ctx, iocb.0, result.0)).map(|n| n as usize),
    }
}

/// io_queue_run: reaps one event at a time with a zero timeout and calls the
/// callback stored in its `data`, as libaio does; returns the last result.
fn queue_run(ctx: usize) -> c_int {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    loop {
        let mut ev = IoEvent::default();
        let wait = Wait {
            min_nr: 0,
            nr: 1,
            events: EventsOut(&mut ev),
            timeout: TimeoutPtr(&zero),
            sigmask: None,
        };
        let r = ret(get_events(ctx, &wait));
        if r != 1 {
            return r;
        }
        if ev.data != 0 {
            // SAFETY: io_queue_run's contract: the program stored an
            // io_callback_t in the iocb's data (io_set_callback); libaio calls
            // it the same way. A zero `data` (no callback) is skipped.
            let cb: IoCallback = unsafe { core::mem::transmute::<u64, IoCallback>(ev.data) };
            // SAFETY: calling the program's own callback with the event's fields.
            unsafe { cb(ctx, ev.obj as *mut Iocb, ev.res as c_long, ev.res2 as c_long) };
        }
    }
}

// ---------------------------------------------------------------------------
// The exports. Each is `extern "C"`: a panic cannot unwind through it (the
// profiles also set panic = "abort"), and none is expected: no path here
// indexes, unwraps or allocates on caller-controlled sizes.

extern "C" fn io_setup(maxevents: c_int, ctxp: *mut usize) -> c_int {
    keep_errno(|| ret(setup(maxevents, ctxp)))
}

extern "C" fn io_destroy(ctx: usize) -> c_int {
    keep_errno(|| ret(destroy(ctx)))
}

extern "C" fn io_submit(ctx: usize, nr: c_long, ios: *mut *mut Iocb) -> c_int {
    submit(ctx, IocbList { ptr: ios, nr })
}

extern "C" fn io_getevents(
    ctx: usize,
    min_nr: c_long,
    nr: c_long,
    events: *mut IoEvent,
    timeout: *const libc::timespec,
) -> c_int {
    let wait = Wait {
        min_nr,
        nr,
        events: EventsOut(events),
        timeout: TimeoutPtr(timeout),
        sigmask: None,
    };
    keep_errno(|| ret(get_events(ctx, &wait)))
}

extern "C" fn io_pgetevents(
    ctx: usize,
    min_nr: c_long,
    nr: c_long,
    events: *mut IoEvent,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let wait = Wait {
        min_nr,
        nr,
        events: EventsOut(events),
        timeout: TimeoutPtr(timeout),
        sigmask: Some(SigmaskPtr(sigmask)),
    };
    keep_errno(|| ret(get_events(ctx, &wait)))
}

extern "C" fn io_cancel(ctx: usize, iocb: *mut Iocb, result: *mut IoEvent) -> c_int {
    keep_errno(|| ret(cancel(ctx, IocbPtr(iocb), EventsOut(result))))
}

extern "C" fn io_queue_init(maxevents: c_int, ctxp: *mut usize) -> c_int {
    if maxevents <= 0 {
        return -libc::EINVAL;
    }
    // libaio zeroes *ctxp before io_setup; do it the checked way so a bad
    // pointer gets -EFAULT (from io_setup) instead of a crash.
    if is_user_range(ctxp as usize, size_of::<usize>()) && ctxp.is_aligned() {
        // SAFETY: io_queue_init's contract is a writable io_context_t *;
        // NULL, misaligned and non-user addresses were excluded.
        unsafe { ctxp.write(0) };
    }
    io_setup(maxevents, ctxp)
}

extern "C" fn io_queue_release(ctx: usize) -> c_int {
    io_destroy(ctx)
}

extern "C" fn io_queue_run(ctx: usize) -> c_int {
    keep_errno(|| queue_run(ctx))
}

/// io_queue_wait: io_getevents(ctx, 0, 0, NULL, timeout), which never blocks.
extern "C" fn io_queue_wait(ctx: usize, timeout: *const libc::timespec) -> c_int {
    io_getevents(ctx, 0, 0, core::ptr::null_mut(), timeout)
}

/// LIBAIO_0.1 io_getevents(ctx, nr, events, timeout): min_nr was 1.
extern "C" fn io_getevents_0_1(
    ctx: usize,
    nr: c_long,
    events: *mut IoEvent,
    timeout: *const libc::timespec,
) -> c_int {
    io_getevents(ctx, 1, nr, events, timeout)
}

/// LIBAIO_0.1 io_cancel(ctx, iocb): the result went to a scratch event.
extern "C" fn io_cancel_0_1(ctx: usize, iocb: *mut Iocb) -> c_int {
    let mut scratch = IoEvent::default();
    io_cancel(ctx, iocb, &mut scratch)
}

/// LIBAIO_0.1 io_queue_wait: the same as the current one.
extern "C" fn io_queue_wait_0_1(ctx: usize, timeout: *const libc::timespec) -> c_int {
    io_queue_wait(ctx, timeout)
}

/// Binds an implementation to a versioned name through a local trampoline.
macro_rules! export_versioned {
    ($imp:ident, $tramp:literal, $versioned:literal) => {
        core::arch::global_asm!(
            ".pushsection .text",
            ".p2align 4",
            concat!(".globl ", $tramp),
            concat!(".type ", $tramp, ",@function"),
            concat!($tramp, ":"),
            "jmp {imp}",
            concat!(".size ", $tramp, ", . - ", $tramp),
            concat!(".symver ", $tramp, ", ", $versioned),
            ".popsection",
            imp = sym $imp,
        );
    };
}

export_versioned!(io_setup, "aio_rs_io_setup_04", "io_setup@@LIBAIO_0.4");
export_versioned!(io_destroy, "aio_rs_io_destroy_04", "io_destroy@@LIBAIO_0.4");
export_versioned!(io_submit, "aio_rs_io_submit_01", "io_submit@@LIBAIO_0.1");
export_versioned!(io_cancel, "aio_rs_io_cancel_04", "io_cancel@@LIBAIO_0.4");
export_versioned!(io_cancel_0_1, "aio_rs_io_cancel_01", "io_cancel@LIBAIO_0.1");
export_versioned!(io_getevents, "aio_rs_io_getevents_04", "io_getevents@@LIBAIO_0.4");
export_versioned!(io_getevents_0_1, "aio_rs_io_getevents_01", "io_getevents@LIBAIO_0.1");
export_versioned!(io_pgetevents, "aio_rs_io_pgetevents_05", "io_pgetevents@@LIBAIO_0.5");
export_versioned!(io_queue_init, "aio_rs_io_queue_init_01", "io_queue_init@@LIBAIO_0.1");
export_versioned!(io_queue_release, "aio_rs_io_queue_release_01", "io_queue_release@@LIBAIO_0.1");
export_versioned!(io_queue_run, "aio_rs_io_queue_run_01", "io_queue_run@@LIBAIO_0.1");
export_versioned!(io_queue_wait, "aio_rs_io_queue_wait_04", "io_queue_wait@@LIBAIO_0.4");
export_versioned!(io_queue_wait_0_1, "aio_rs_io_queue_wait_01", "io_queue_wait@LIBAIO_0.1");

// glibc's syscall(), for raw io_* calls on the library's contexts (raw_syscall.rs).
#[cfg(target_arch = "x86_64")]
use raw_syscall::syscall;
#[cfg(target_arch = "x86_64")]
export_versioned!(syscall, "aio_rs_syscall", "syscall@@GLIBC_2.2.5");

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
