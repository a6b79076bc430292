//! The engine's process-wide locks, held across fork(2).
//!
//! A forked child has only the thread that forked. A lock another thread
//! held at that moment (the mover thread, an application thread inside
//! io_setup or its first submit) would stay held in the child for ever, and
//! the child's first io_setup or io_submit would hang, where kernel AIO has
//! no lock to hang on. The C boundary registers `hold_locks_for_fork` and
//! `release_locks_after_fork` with pthread_atfork: every such lock is taken
//! before the fork and released after it, in both processes.
//!
//! These locks are std's, not parking_lot's: std's are a futex word and
//! nothing else, so releasing one in the child leaves it free. parking_lot's
//! hand a released lock straight to a thread parked on it, and in the child
//! that thread (the parent's mover, say) does not exist.
//!
//! The order is one no path contradicts: nothing waits for an earlier lock
//! here while it holds a later one (registration takes the mover's lock
//! inside its own; the others are never nested).

use std::cell::RefCell;
use std::sync::{MutexGuard, PoisonError};

use super::{admission, mover, routes, setup};
use crate::engine::aio_route;

/// Dropped in declaration order: the reverse of the order they are taken.
struct Held {
    _fs_classes: MutexGuard<'static, [(u64, Option<routes::FsClass>); 16]>,
    _retired: MutexGuard<'static, Vec<aio_route::Retired>>,
    _mover: MutexGuard<'static, Option<mover::Mover>>,
    _sq_thread: MutexGuard<'static, setup::SqThread>,
    _registration: MutexGuard<'static, ()>,
}

thread_local! {
    /// The guards from the fork's prepare step to its parent or child step,
    /// which run in the same thread.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

pub fn hold_locks_for_fork() {
    let registration = admission::MOVER_REGISTRATION.lock().unwrap_or_else(PoisonError::into_inner);
    let sq_thread = setup::SQ_THREAD.lock().unwrap_or_else(PoisonError::into_inner);
    let mover = mover::lock_for_fork();
    let retired = aio_route::lock_for_fork();
    let fs_classes = routes::FS_CLASSES.lock().unwrap_or_else(PoisonError::into_inner);
    let held = Held {
        _fs_classes: fs_classes,
        _retired: retired,
        _mover: mover,
        _sq_thread: sq_thread,
        _registration: registration,
    };
    let _ = HELD.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            *h = Some(held);
        }
    });
}

pub fn release_locks_after_fork(child: bool) {
    if child {
        mover::forget_thread_in_child();
    }
    let _ = HELD.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            h.take();
        }
    });
}
