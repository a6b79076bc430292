//! The C boundary: every exported function.
//!
//! This is the only module that receives a caller's raw pointers; it wraps
//! them (user_mem.rs) for the engines.
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
use core::mem::size_of;
use std::sync::Arc;

use crate::config::{self, EngineChoice};
use crate::stats;
use crate::engine::kernel::{self, KernelEngine};
use crate::engine::uring::UringEngine;
use crate::engine::{Engine, Wait};
use crate::errno::{Errno, Result, keep_errno};
use crate::kernel_abi::{sys, AioRingHeader, IoEvent, Iocb, AIO_RING_MAGIC};
use crate::user_mem::{is_user_range, read_user, EventsOut, IocbList, IocbPtr, SigmaskPtr, TimeoutPtr};

/// libaio's `io_callback_t`.
pub type IoCallback = unsafe extern "C" fn(ctx: usize, iocb: *mut Iocb, res: c_long, res2: c_long);

// ---------------------------------------------------------------------------
// The calls, safe once the pointers are wrapped.

/// Converts a result to libaio's return: the value, or `-errno`.
fn ret(r: Result<usize>) -> c_int {
    match r {
        Ok(n) => n as c_int,
        Err(Errno(e)) => -e,
    }
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
            UringEngine::probe().map_err(|(e, _)| e)?;
            let (h, e) = UringEngine::setup(nr_events, ctxp, false)?;
            (h, uring_arc(e, &mut fast), "LIBAIO_RS_ENGINE=uring".to_string())
        }
        EngineChoice::Auto => match UringEngine::probe() {
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
    if stats::sink().is_some() {
        stats::set_exit_report(report_open_contexts);
    }
    ctx_table::insert(handle, engine, fast);
    Ok(0)
}

/// LIBAIO_RS_STATS at exit: every context still open.
fn report_open_contexts() {
    for (handle, engine) in ctx_table::open_contexts() {
        if let Some((name, s)) = engine.stats() {
            stats::report(handle, name, s);
        }
    }
}

/// Errors of io_uring_setup that mean "not here" rather than "bad arguments".
fn is_uring_refusal(e: Errno) -> bool {
    matches!(e.0, libc::EPERM | libc::EACCES | libc::ENOSYS | libc::EMFILE | libc::ENFILE)
}

fn destroy(ctx: usize) -> Result<usize> {
    match ctx_table::remove(ctx) {
        // Dropping `removed` waits for fast-path calls still on the engine.
        Some(removed) => {
            removed.engine().destroy()?;
            if let Some((name, s)) = removed.engine().stats() {
                stats::report(ctx, name, s);
            }
            Ok(0)
        }
        None => Errno::from_ret(sys::io_destroy(ctx)).map(|_| 0),
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
        None => Errno::from_ret(sys::io_submit(ctx, iocbs.nr(), iocbs.raw())).map(|n| n as usize),
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
            // libaio's shortcut reads the ring of any handle, and the timeout
            // only once the ring's magic is right; a context made by a raw
            // syscall gets it too, both read the checked way (a garbage handle
            // or timeout then goes to the kernel, which answers, instead of
            // faulting).
            if read_user::<AioRingHeader>(ctx).is_some_and(|h| h.magic == AIO_RING_MAGIC && h.head == h.tail)
                && read_user::<libc::timespec>(wait.timeout.raw() as usize).is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0)
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
        None => Errno::from_ret(sys::io_cancel(ctx, iocb.raw(), result.raw())).map(|n| n as usize),
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
            events: EventsOut::new(&mut ev),
            timeout: TimeoutPtr::new(&zero),
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
    submit(ctx, IocbList::new(ios, nr))
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
        events: EventsOut::new(events),
        timeout: TimeoutPtr::new(timeout),
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
        events: EventsOut::new(events),
        timeout: TimeoutPtr::new(timeout),
        sigmask: Some(SigmaskPtr::new(sigmask)),
    };
    keep_errno(|| ret(get_events(ctx, &wait)))
}

extern "C" fn io_cancel(ctx: usize, iocb: *mut Iocb, result: *mut IoEvent) -> c_int {
    keep_errno(|| ret(cancel(ctx, IocbPtr::new(iocb), EventsOut::new(result))))
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
