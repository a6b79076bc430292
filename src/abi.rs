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

use core::ffi::{c_int, c_long};
use core::mem::{offset_of, size_of};
use std::sync::Arc;

use crate::config::{self, EngineChoice};
use crate::ctx_table;
use crate::engine::kernel::{self, KernelEngine};
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
}

/// One `struct iocb *`.
#[derive(Clone, Copy)]
pub struct IocbPtr(*mut Iocb);

impl IocbPtr {
    pub fn raw(self) -> *mut Iocb {
        self.0
    }
}

/// A `struct io_event *` the library or the kernel writes results into.
#[derive(Clone, Copy)]
pub struct EventsOut(*mut IoEvent);

impl EventsOut {
    pub fn raw(self) -> *mut IoEvent {
        self.0
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
    fn is_zero(self) -> bool {
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
pub fn is_user_range(addr: usize, len: usize) -> bool {
    addr >= 4096 && addr.checked_add(len).is_some_and(|end| end <= USER_TOP)
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
fn keep_errno(f: impl FnOnce() -> c_int) -> c_int {
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
    let (handle, engine, why): (usize, Arc<dyn Engine>, &str) = match cfg.engine {
        EngineChoice::Uring => return Err(Errno::ENOSYS),
        EngineChoice::Kernel | EngineChoice::Auto => {
            let (h, e) = KernelEngine::setup(nr_events, ctxp)?;
            let why = if cfg.engine_from_env && cfg.engine == EngineChoice::Kernel {
                "LIBAIO_RS_ENGINE=kernel"
            } else {
                "the only engine built"
            };
            (h, Arc::new(e), why)
        }
    };
    if cfg.log {
        config::log_line(&format!(
            "io_setup nr_events={nr_events} engine={} ({why})",
            engine.name()
        ));
    }
    ctx_table::insert(handle, engine);
    Ok(0)
}

fn destroy(ctx: usize) -> Result<usize> {
    match ctx_table::remove(ctx) {
        Some(engine) => engine.destroy().map(|()| 0),
        None => Errno::from_ret(kernel::sys::io_destroy(ctx)).map(|_| 0),
    }
}

fn submit(ctx: usize, iocbs: IocbList) -> Result<usize> {
    match ctx_table::lookup(ctx) {
        Some(engine) => engine.submit(iocbs),
        None => Errno::from_ret(kernel::sys::io_submit(ctx, iocbs.nr, iocbs.ptr)).map(|n| n as usize),
    }
}

fn get_events(ctx: usize, wait: &Wait) -> Result<usize> {
    match ctx_table::lookup(ctx) {
        Some(engine) => {
            // libaio's shortcut: a {0,0} timeout with nothing ready returns 0
            // without a syscall, whatever the other arguments are.
            if engine.nothing_ready() == Some(true) && wait.timeout.is_zero() {
                return Ok(0);
            }
            engine.get_events(wait)
        }
        None => Errno::from_ret(kernel::get_events_raw(ctx, wait)).map(|n| n as usize),
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
    keep_errno(|| ret(submit(ctx, IocbList { ptr: ios, nr })))
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
