//! The completion mover: one thread per process that moves contexts'
//! completions into their handles when the application may not call into
//! the library to reap them.
//!
//! Kernel AIO writes every event to the ring at the handle as the request
//! completes, and only then signals the request's RESFD eventfd. Programs
//! rely on it: QEMU reads the handle's ring when its eventfd fires and never
//! calls io_getevents; SPDK and fio's userspace_reap poll the ring when its
//! magic is the kernel's. Here the ring's completions wait in the io_uring
//! completion queue and the kernel-AIO route's in a private context, so this
//! thread moves them (`UringEngine::move_to_handle`, `UringEngine::tick`):
//!
//! - at once, for a RESFD request on the ring: it carries a linked write to
//!   its context's private *notify* eventfd, which wakes this thread; the
//!   application's eventfd is signalled only once the event is in the handle;
//! - at once, for every completion of a context whose application has been
//!   seen consuming events from the handle itself (a *ring reader*): its
//!   ring signals the notify eventfd at every completion
//!   (IORING_REGISTER_EVENTFD), and its O_DIRECT requests stay on the ring;
//! - otherwise every TICK_MS while a context has requests outstanding and
//!   nobody has reaped it since the last tick, which is how a ring reader is
//!   found in the first place. With nothing outstanding anywhere the thread
//!   sleeps until a submit wakes it (`IDLE`), so an idle process uses no CPU.
//!
//! It also destroys the private kernel-AIO contexts that io_destroy retired
//! (aio_route.rs), so that the kernel's grace period is not the caller's.
//!
//! The thread starts at the first request of the process that goes to the
//! ring or to kernel AIO, never at io_setup: a tool that only opens a
//! context pays nothing for it. It blocks every signal, so it never runs the
//! application's handlers. A forked child gets a thread of its own when it
//! needs one.

use std::collections::HashMap;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::UringEngine;
use crate::engine::aio_route;
use crate::errno::{Errno, Result};
use crate::fork;

/// How often completions of contexts nobody reaps are moved, in ms.
const TICK_MS: i32 = 1;

pub(super) struct Mover {
    /// The process epoch this thread and epoll set belong to.
    epoch: u64,
    epfd: i32,
    /// Written by `wake` to end an idle sleep.
    wakefd: i32,
    /// Notify eventfd -> its engine (the address of the engine in its Arc).
    engines: HashMap<i32, usize>,
}

static MOVER: StdMutex<Option<Mover>> = StdMutex::new(None);

/// The engine the thread is working on right now (0: none). Set under
/// MOVER's lock, so that `unregister` can wait for it to end.
static MOVING: AtomicUsize = AtomicUsize::new(0);

/// True while no thread runs or the thread sleeps without a timeout: a
/// submit that leaves a request outstanding must then `wake` it.
static IDLE: AtomicBool = AtomicBool::new(true);

fn lock() -> std::sync::MutexGuard<'static, Option<Mover>> {
    MOVER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lock, held across fork(2) (`fork_guards`).
pub(super) fn lock_for_fork() -> std::sync::MutexGuard<'static, Option<Mover>> {
    lock()
}

/// In a forked child, which has no mover thread (it starts one when it
/// needs one): a submit must wake, and no engine is being worked on.
pub(super) fn forget_thread_in_child() {
    IDLE.store(true, Ordering::SeqCst);
    MOVING.store(0, Ordering::SeqCst);
}

/// Whether a submit must call `wake` (see IDLE). SeqCst: against the
/// thread's store before its last look at the contexts.
#[inline(always)]
pub fn idle() -> bool {
    IDLE.load(Ordering::SeqCst)
}

/// Ends the thread's idle sleep (starting it, in this process, if needed).
pub fn wake() {
    let mut m = lock();
    if IDLE.swap(false, Ordering::SeqCst) {
        if let Some(mover) = this_process(&mut m) {
            // SAFETY: writing 8 bytes from a local to the library's eventfd.
            unsafe { libc::write(mover.wakefd, (&raw const super::slots::EVENTFD_ONE).cast(), 8) };
        }
    }
}

/// The mover of this process, started if there is none (or only the
/// parent's, in a forked child).
fn this_process(m: &mut Option<Mover>) -> Option<&mut Mover> {
    let epoch = fork::current();
    if m.as_ref().is_none_or(|m| m.epoch != epoch) {
        *m = Some(start(epoch).ok()?);
    }
    m.as_mut()
}

/// A notify eventfd for `engine`, watched by the process's mover. The
/// engine must stay where it is (inside its Arc) until `unregister`.
pub fn register(engine: *const UringEngine) -> Result<i32> {
    let mut m = lock();
    let mover = this_process(&mut m).ok_or(Errno::EAGAIN)?;
    // SAFETY: eventfd creates a new descriptor; no memory is involved.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Errno::EAGAIN);
    }
    if !watch(mover.epfd, fd) {
        crate::kernel_abi::sys::close_quiet(fd);
        return Err(Errno::EAGAIN);
    }
    mover.engines.insert(fd, engine as usize);
    Ok(fd)
}

/// Stops watching `fd` and closes it; once this returns, the mover does not
/// touch the engine. Called by io_destroy before anything is torn down.
pub fn unregister(fd: i32, engine: *const UringEngine) {
    {
        let mut m = lock();
        if let Some(mover) = m.as_mut().filter(|m| m.epoch == fork::current()) {
            if mover.engines.remove(&fd).is_some() {
                // SAFETY: removing a descriptor of the library's from its epoll set.
                unsafe { libc::epoll_ctl(mover.epfd, libc::EPOLL_CTL_DEL, fd, core::ptr::null_mut()) };
            }
        }
    }
    while MOVING.load(Ordering::SeqCst) == engine as usize {
        std::thread::yield_now();
    }
    crate::kernel_abi::sys::close_quiet(fd);
}

fn watch(epfd: i32, fd: i32) -> bool {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
    // SAFETY: `ev` lives across the call; both descriptors are the library's.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) == 0 }
}

fn start(epoch: u64) -> Result<Mover> {
    // SAFETY: new descriptors; no memory is involved.
    let (epfd, wakefd) =
        unsafe { (libc::epoll_create1(libc::EPOLL_CLOEXEC), libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)) };
    if epfd < 0 || wakefd < 0 || !watch(epfd, wakefd) {
        crate::kernel_abi::sys::close_quiet(epfd);
        crate::kernel_abi::sys::close_quiet(wakefd);
        return Err(Errno::EAGAIN);
    }
    // The thread inherits a mask that blocks every signal.
    // SAFETY: plain sigset_t values on this frame, passed to libc.
    let spawned = unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let r = std::thread::Builder::new()
            .name("libaio_rs-mover".to_string())
            .stack_size(64 * 1024)
            .spawn(move || run(epfd, wakefd));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        r
    };
    if spawned.is_err() {
        crate::kernel_abi::sys::close_quiet(epfd);
        crate::kernel_abi::sys::close_quiet(wakefd);
        return Err(Errno::EAGAIN);
    }
    IDLE.store(false, Ordering::SeqCst);
    Ok(Mover { epoch, epfd, wakefd, engines: HashMap::new() })
}

/// Runs `f` on the engine registered with notify eventfd `fd`, if it still is.
fn with_engine<T>(fd: i32, f: impl FnOnce(&UringEngine) -> T) -> Option<T> {
    let engine = {
        let m = lock();
        let e = *m.as_ref()?.engines.get(&fd)?;
        MOVING.store(e, Ordering::SeqCst);
        e
    };
    // SAFETY: the engine was registered at this address and stays there
    // until `unregister`, which waits while MOVING names it.
    let r = f(unsafe { &*(engine as *const UringEngine) });
    MOVING.store(0, Ordering::SeqCst);
    Some(r)
}

/// The registered contexts' notify eventfds.
fn registered() -> Vec<i32> {
    lock().as_ref().map(|m| m.engines.keys().copied().collect()).unwrap_or_default()
}

/// Ticks every context; whether any has requests outstanding.
fn tick_all() -> bool {
    let mut outstanding = false;
    for fd in registered() {
        outstanding |= with_engine(fd, UringEngine::tick).unwrap_or(false);
    }
    outstanding
}

fn run(epfd: i32, wakefd: i32) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    let mut busy = true;
    let tick = std::time::Duration::from_millis(TICK_MS as u64);
    let mut last_tick = std::time::Instant::now();
    loop {
        let mut timeout = TICK_MS;
        if !busy {
            // Announce the sleep, then look once more: a submit after this
            // look finds IDLE set and wakes the thread.
            IDLE.store(true, Ordering::SeqCst);
            if tick_all() || aio_route::retired_pending() {
                IDLE.store(false, Ordering::SeqCst);
            } else {
                timeout = -1;
            }
        }
        // SAFETY: `events` has room for 16 entries.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 16, timeout) };
        IDLE.store(false, Ordering::SeqCst);
        for ev in &events[..n.max(0) as usize] {
            let fd = ev.u64 as i32;
            let mut count = 0u64;
            if fd == wakefd {
                // SAFETY: reading 8 bytes into a local from the library's eventfd.
                unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
                continue;
            }
            with_engine(fd, |e| {
                // SAFETY: as above; the descriptor is open while registered.
                unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
                e.move_to_handle();
            });
        }
        if aio_route::retired_pending() {
            aio_route::destroy_retired();
        }
        // Wake-ups of ring readers can come at every completion; the
        // contexts are looked at once per tick all the same.
        if n <= 0 || last_tick.elapsed() >= tick {
            busy = tick_all();
            last_tick = std::time::Instant::now();
        }
    }
}
