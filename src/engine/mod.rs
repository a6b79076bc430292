//! The engine interface: what one I/O context must do, whatever serves it.
//!
//! `abi.rs` validates nothing an engine can answer better: it finds the engine
//! for a handle and hands it the caller's arguments as the newtypes below. An
//! engine returns what the kernel's io_* syscalls would return for the same
//! arguments: the kernel engine by making those syscalls, the io_uring engine
//! by reproducing them.

pub mod aio_route;
pub mod kernel;
pub mod uring;

use crate::user_mem::{EventsOut, IocbList, IocbPtr, SigmaskPtr, TimeoutPtr};
use crate::errno::Result;
use crate::stats::ContextStats;

/// The arguments of io_getevents / io_pgetevents, as the caller gave them.
#[derive(Clone, Copy)]
pub struct Wait {
    pub min_nr: i64,
    pub nr: i64,
    pub events: EventsOut,
    pub timeout: TimeoutPtr,
    /// `Some` for io_pgetevents (the mask may itself be NULL), `None` for io_getevents.
    pub sigmask: Option<SigmaskPtr>,
}

pub trait Engine: Send + Sync {
    /// A short name for diagnostics ("kernel", "uring").
    fn name(&self) -> &'static str;

    /// io_submit: the number accepted, or the error of the first iocb if none was.
    fn submit(&self, iocbs: IocbList) -> Result<usize>;

    /// io_getevents / io_pgetevents: the number of events written.
    fn get_events(&self, wait: &Wait) -> Result<usize>;

    /// libaio's user-space shortcut: `Some(true)` when the engine can tell,
    /// without a syscall, that no completion is waiting to be reaped.
    /// `None` when it cannot tell (the call then goes to `get_events`).
    fn nothing_ready(&self) -> Option<bool>;

    /// io_cancel. Success is reported as `Err(EINPROGRESS)`, as the kernel does.
    fn cancel(&self, iocb: IocbPtr, result: EventsOut) -> Result<()>;

    /// io_destroy: returns once nothing of the context can touch the caller's memory.
    fn destroy(&self) -> Result<()>;

    /// LIBAIO_RS_STATS' counters and the engine's name for the report
    /// (None when the variable is not set).
    fn stats(&self) -> Option<(&'static str, &ContextStats)>;
}
