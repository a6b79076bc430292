//! The slot table: what io_submit captured of each request queued to the
//! ring (the iocb's address, aio_data, what its completion must undo), and
//! how a completion queue entry becomes the request's io_event. The event is
//! rebuilt from the slot, never from the caller's iocb. Knows nothing of the
//! engine: the callers hold the table's lock.

use std::os::fd::OwnedFd;

use crate::kernel_abi::{IOCB_CMD_POLL, IoEvent};

/// user_data tags (top byte); the low 32 bits carry the slot index.
pub(super) const UD_IO: u64 = 0;

pub(super) const UD_RESFD: u64 = 1 << 56;

pub(super) const UD_WAKE: u64 = 2 << 56;

pub(super) const UD_TAG: u64 = 0xff << 56;

/// The 8 bytes a RESFD completion adds to the eventfd.
pub(super) static EVENTFD_ONE: u64 = 1;

#[derive(Default)]
pub(super) struct Slot {
    pub(super) iocb: u64,
    pub(super) data: u64,
    pub(super) opcode: u16,
    /// A buffered RWF_NOWAIT write to a file whose filesystem cannot do it
    /// without blocking: kernel AIO reports -EOPNOTSUPP where io_uring says -EAGAIN.
    pub(super) nowait_unsupported: bool,
    /// The request's own CQE has not been seen yet.
    pub(super) io_pending: bool,
    /// io_cancel succeeded on it: kernel AIO forgets a cancelled request at
    /// once, so a second io_cancel finds nothing (-EINVAL).
    pub(super) cancelled: bool,
    /// A write to the context's notify eventfd (mover.rs) is queued behind
    /// the request: the slot stays taken until it has completed.
    pub(super) resfd_pending: bool,
    /// A private duplicate of the RESFD eventfd, signalled (and closed) once
    /// the request's event is in the handle: kernel AIO pins the eventfd at
    /// submit, and announces an event only after writing it to its ring.
    pub(super) resfd_dup: i32,
    /// A private duplicate of an FSYNC/FDSYNC's descriptor, closed at its
    /// completion: io_uring runs a sync on a worker thread and looks its
    /// descriptor up only there, after io_submit has returned, where kernel
    /// AIO holds the file from io_submit on.
    pub(super) pinned: Option<OwnedFd>,
    /// The copy of a PREADV/PWRITEV iovec array, kept until the request
    /// has been consumed (the submission thread imports it asynchronously).
    pub(super) iov: Vec<libc::iovec>,
}

impl Slot {
    /// Records a request queued to the ring (its iovec copy, if any, is
    /// already in place).
    pub(super) fn start(&mut self, iocb: u64, data: u64, opcode: u16, nowait_unsupported: bool, resfd_dup: i32) {
        self.iocb = iocb;
        self.data = data;
        self.opcode = opcode;
        self.io_pending = true;
        self.cancelled = false;
        self.nowait_unsupported = nowait_unsupported;
        self.resfd_pending = resfd_dup >= 0;
        self.resfd_dup = resfd_dup;
    }

    /// Neither the request's nor its eventfd write's completion is awaited:
    /// the slot can be reused.
    #[inline(always)]
    pub(super) fn finished(&self) -> bool {
        !self.io_pending && !self.resfd_pending
    }
}

// SAFETY: the iovec pointers inside a Slot are addresses handed to the
// kernel, never dereferenced by the library; the slab is only used under its lock.
unsafe impl Send for Slot {}

pub(super) struct SlotTable {
    pub(super) slots: Vec<Slot>,
    pub(super) free: Vec<u32>,
}

impl SlotTable {
    /// Takes a slot for a plain request of the ring (no RESFD, no NOWAIT).
    #[inline(always)]
    pub(super) fn take(&mut self, iocb: u64, data: u64, opcode: u16) -> Option<u32> {
        let idx = self.free.pop()?;
        self.slots[idx as usize].start(iocb, data, opcode, false, -1);
        Some(idx)
    }

    pub(super) fn release_if_done(&mut self, i: u32) {
        if self.slots[i as usize].finished() {
            self.free.push(i);
        }
    }
}

/// A completion of the library's own: the notify write behind a RESFD
/// request (its slot may now be reused) or a wake-up NOP.
pub(super) fn internal_completion(slab: &mut SlotTable, ud: u64) {
    if ud & UD_TAG == UD_RESFD {
        let idx = (ud & 0xffff_ffff) as u32;
        slab.slots[idx as usize].resfd_pending = false;
        slab.release_if_done(idx);
    }
}

/// A request's completion: its event, rebuilt from the slot, and the
/// pinned eventfd to announce it on once it is in the handle (-1 if none);
/// the slot is released if nothing else of it is awaited. None for the
/// library's own completions.
#[inline(always)]
pub(super) fn complete(slab: &mut SlotTable, cqe: &io_uring::cqueue::Entry) -> Option<(IoEvent, i32)> {
    let ud = cqe.user_data();
    let idx = (ud & 0xffff_ffff) as u32;
    if ud & UD_TAG != UD_IO {
        internal_completion(slab, ud);
        return None;
    }
    let s = &mut slab.slots[idx as usize];
    let mut res = i64::from(cqe.result());
    if res < 0 {
        if s.opcode == IOCB_CMD_POLL && res == -i64::from(libc::ECANCELED) {
            res = 0; // a cancelled AIO poll completes with 0
        }
        if s.nowait_unsupported && res == -i64::from(libc::EAGAIN) {
            res = -i64::from(libc::EOPNOTSUPP);
        }
    }
    let ev = IoEvent { data: s.data, obj: s.iocb, res, res2: 0 };
    s.io_pending = false;
    if s.pinned.is_some() {
        s.pinned = None; // closes the sync's private duplicate
    }
    let resfd = core::mem::replace(&mut s.resfd_dup, -1);
    // release_if_done without indexing the slot again (per event).
    if s.finished() {
        slab.free.push(idx);
    }
    Some((ev, resfd))
}
