//! The completion mover: one thread per process that moves a context's ring
//! completions into its handle when the application may not call into the
//! library to reap them.
//!
//! Kernel AIO writes an event to the ring at the handle and only then
//! signals the request's RESFD eventfd; QEMU never calls io_getevents, it
//! reads the handle's ring when its eventfd fires. A RESFD request on the
//! ring therefore carries a linked write to its context's private *notify*
//! eventfd instead of the application's; this thread waits on every notify
//! eventfd of the process (one epoll set), and for each that fires moves
//! the context's completions into the handle and signals the application's
//! eventfds (`UringEngine::move_to_handle`). Whoever reaps the ring first,
//! this thread or io_getevents, does the same for a RESFD request.
//!
//! The thread starts at the first RESFD request of the process that goes to
//! the ring, never at io_setup: a short-lived tool pays nothing for it. It
//! blocks every signal, so it never runs the application's handlers. A
//! forked child gets a thread of its own when it needs one.

use std::collections::HashMap;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::UringEngine;
use crate::errno::{Errno, Result};
use crate::fork;

struct Mover {
    /// The process epoch this thread and epoll set belong to.
    epoch: u64,
    epfd: i32,
    /// Notify eventfd -> its engine (the address of the engine in its Arc).
    engines: HashMap<i32, usize>,
}

static MOVER: StdMutex<Option<Mover>> = StdMutex::new(None);

/// The engine the thread is moving completions of right now (0: none).
/// Set under MOVER's lock, so that `unregister` can wait for it to end.
static MOVING: AtomicUsize = AtomicUsize::new(0);

fn lock() -> std::sync::MutexGuard<'static, Option<Mover>> {
    MOVER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A notify eventfd for `engine`, watched by the process's mover (started
/// here if this process has none yet). The engine must stay where it is
/// (inside its Arc) until `unregister`.
pub fn register(engine: *const UringEngine) -> Result<i32> {
    let mut m = lock();
    let epoch = fork::current();
    if m.as_ref().is_none_or(|m| m.epoch != epoch) {
        *m = Some(start(epoch)?);
    }
    let mover = m.as_mut().expect("started above");
    // SAFETY: eventfd creates a new descriptor; no memory is involved.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Errno::EAGAIN);
    }
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
    // SAFETY: `ev` lives across the call; both descriptors are the library's.
    if unsafe { libc::epoll_ctl(mover.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        super::close_quiet(fd);
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
    super::close_quiet(fd);
}

fn start(epoch: u64) -> Result<Mover> {
    // SAFETY: a new epoll descriptor; no memory is involved.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
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
            .spawn(move || run(epfd));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        r
    };
    if spawned.is_err() {
        super::close_quiet(epfd);
        return Err(Errno::EAGAIN);
    }
    Ok(Mover { epoch, epfd, engines: HashMap::new() })
}

fn run(epfd: i32) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        // SAFETY: `events` has room for 16 entries.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 16, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as i32;
            let engine = {
                let m = lock();
                let Some(&e) = m.as_ref().and_then(|m| m.engines.get(&fd)) else { continue };
                MOVING.store(e, Ordering::SeqCst);
                e
            };
            let mut count = 0u64;
            // SAFETY: reading 8 bytes into a local from the library's
            // non-blocking eventfd (resets it; a later write wakes us again).
            unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
            // SAFETY: the engine was registered at this address and stays
            // there until `unregister`, which waits while MOVING names it.
            unsafe { (*(engine as *const UringEngine)).move_to_handle() };
            MOVING.store(0, Ordering::SeqCst);
        }
    }
}
