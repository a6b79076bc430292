//! io_submit's general path: every iocb checked as the kernel's
//! io_submit_one checks it, in its order (the checks themselves are in
//! checks.rs), then queued to the ring, performed inline, or passed to the
//! kernel-AIO route in runs. The first refusal stops the batch there, as in
//! the kernel.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use io_uring::types::{Fd, FsyncFlags};
use io_uring::{opcode, squeue};

use crate::errno::{Errno, Result};
use crate::kernel_abi::is_vectored;
use crate::stats::StatsRoute;
use crate::kernel_abi::{
    IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_FLAG_RESFD, Iocb, MAX_RW_COUNT, RWF_NOWAIT, is_read_or_write, is_write,
};
use crate::user_mem;
use crate::user_mem::{IocbList, IocbPtr};

use super::UringEngine;
use super::checks::{
    OtherRequest, check_buffer, check_header, check_iovec_count, check_iovecs, check_other, check_rw, euid_is_root,
    verify_area,
};
use super::inline::{CacheRead, InlineRequest};
use super::routes::{
    FdCache, FdInfo, ROUTE_INLINE, ROUTE_INLINE_WRITES, buffered_nowait_writes, fd_route, remember_route,
    goes_to_ring, plain_single, route_when_alone, rw_entry, supports_nowait,
};
use super::slots::{EVENTFD_ONE, SlotTable, UD_IO, UD_RESFD};
use super::submission_queue::RequestEntries;

impl UringEngine {
    /// io_submit's general path for iocbs [from, nr): every check in the
    /// kernel's order, every route. Iocbs [run_start, from) are a run for
    /// the kernel-AIO route already reserved (by `submit_fast`). Returns how
    /// many were accepted, the error that stopped the batch, whether any
    /// was performed inline, and where the last entry queued stands (see
    /// `wait_taken`).
    #[inline(never)]
    pub(super) fn submit_general(
        &self,
        iocbs: IocbList,
        run_start: usize,
        from: usize,
        nr: usize,
    ) -> (usize, Option<Errno>, bool, Option<u32>) {
        // Filled only by the slow path: the fast one looks at no descriptor.
        let mut fds: Option<FdCache> = None;
        let mut entries = RequestEntries::None;
        let mut done = 0;
        let mut first_err = None;
        let mut inlined = false;
        // Taken for the first queued request and kept for the batch; inline
        // requests run without it, so they never hold up other submitters.
        let mut submit_guard = None;
        // A run of consecutive iocbs for the kernel-AIO route, passed on in
        // one io_submit when the run ends; their room is already reserved.
        let mut run: Option<usize> = (run_start < from).then_some(run_start);
        let mut i = from;
        while i < nr {
            // Each iocb is read once; a bad pointer is the kernel's -EFAULT.
            let (p, cb) = match iocbs.get(i).and_then(|p| Ok((p, p.read()?))) {
                Ok(x) => x,
                Err(e) => {
                    // The run before it is still passed on.
                    first_err = Some(e);
                    break;
                }
            };
            let route = Self::iocb_route(&cb, &mut fds);
            // A RESFD request goes to the ring: the kernel-AIO route's
            // context would signal the eventfd before the event is in the handle.
            let kernel = self.kernel_route_when_due(&cb, route).is_some();
            if kernel && self.reserve() {
                run.get_or_insert(i);
                i += 1;
                continue;
            }
            if let Some(start) = run.take() {
                let (n, err) = self.flush_run(iocbs, start, i);
                done += n;
                if n < i - start {
                    first_err = err;
                    break;
                }
            }
            if kernel {
                first_err = Some(Errno::EAGAIN); // no room left
                break;
            }
            match self.prepare(p, &cb, route, nr == 1, &mut fds, &mut entries) {
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
                Ok(Accepted::Ring) => {
                    submit_guard.get_or_insert_with(|| self.submit_lock.lock());
                    self.ring_pending.fetch_add(1, Ordering::AcqRel);
                    self.push(entries.as_slice());
                }
                Ok(Accepted::Inline(io)) => {
                    self.run_inline(&io);
                    inlined = true;
                }
                Ok(Accepted::Done) => inlined = true,
            }
            done += 1;
            i += 1;
        }
        if let Some(start) = run.take() {
            let (n, err) = self.flush_run(iocbs, start, i);
            done += n;
            if n < i - start {
                first_err = err;
            }
        }
        let upto = submit_guard.map(|g| self.publish(g));
        (done, first_err, inlined, upto)
    }

    /// Checks one iocb as the kernel's io_submit_one does, in its order, and
    /// builds its queue entries. Takes a slot on success. `single`: the
    /// io_submit call carries this iocb only (see `light_load`).
    pub(super) fn prepare(
        &self,
        p: IocbPtr,
        cb: &Iocb,
        route: u8,
        single: bool,
        fds: &mut Option<FdCache>,
        out: &mut RequestEntries,
    ) -> Result<Accepted> {
        check_header(cb)?;
        // Reserve room for the event, as the kernel does before it looks at the fd.
        if !self.reserve() {
            return Err(Errno::EAGAIN);
        }
        // A plain read the ring would take is tried from the page cache
        // first, as on the fast paths: here too when its descriptor's route
        // was unknown (first use, or the re-check every FD_RECHECK uses),
        // or every such read would wake the submission thread (or, at light
        // load, be done inline without being counted as a cache read).
        if let Some(write) = plain_single(cb) {
            if goes_to_ring(route, write) && self.cached_read_if_worth(p, cb, write) == CacheRead::Done {
                return Ok(Accepted::Done);
            }
        }
        let alone = single && self.light_load(route);
        let route_now = if alone { route_when_alone(route) } else { route };
        if self.fast_inline(p, cb, route_now) {
            return Ok(Accepted::Done);
        }
        if cb.aio_flags & IOCB_FLAG_RESFD != 0 && !self.watched_by_mover() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Errno::EAGAIN);
        }
        let fds = fds.get_or_insert_with(FdCache::default);
        let r = self.prepare_reserved(p, cb, alone, fds, &mut self.slot_table.lock(), out);
        if r.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    pub(super) fn prepare_reserved(
        &self,
        p: IocbPtr,
        cb: &Iocb,
        alone: bool,
        fds: &mut FdCache,
        slab: &mut SlotTable,
        out: &mut RequestEntries,
    ) -> Result<Accepted> {
        let fd = cb.aio_fildes as i32;
        let info = fds.get(fd)?;
        let mut resfd_dup = -1;
        if cb.aio_flags & IOCB_FLAG_RESFD != 0 {
            resfd_dup = self.pins.pin(cb.aio_resfd as i32)?;
        }
        // The kernel writes aio_key before it looks at the opcode.
        p.clear_key();
        let built = self.build_entry(cb, fd, info, slab);
        let (entry, idx) = match built {
            Ok(x) => x,
            Err(e) => {
                self.pins.release(resfd_dup);
                return Err(e);
            }
        };
        let write = is_write(cb.aio_lio_opcode);
        let rw = write || matches!(cb.aio_lio_opcode, IOCB_CMD_PREAD | IOCB_CMD_PREADV);
        let route = fd_route(fd, info);
        remember_route(fd, route);
        let route = if alone { route_when_alone(route) } else { route };
        // RWF_NOWAIT stays on the ring: preadv2/pwritev2 return 0 for an
        // empty transfer before the filesystem can refuse the flag, where
        // kernel AIO's event says -EOPNOTSUPP (ext4 buffered writes).
        let nowait = cb.aio_rw_flags & RWF_NOWAIT != 0;
        if rw && !nowait && (route == ROUTE_INLINE || (route == ROUTE_INLINE_WRITES && write)) {
            return Ok(Accepted::Inline(InlineRequest {
                idx,
                opcode: cb.aio_lio_opcode,
                fd,
                buf: cb.aio_buf,
                len: cb.aio_nbytes.min(MAX_RW_COUNT),
                off: cb.aio_offset,
                rw_flags: cb.aio_rw_flags as i32,
                iocb: p.addr(),
                data: cb.aio_data,
                resfd_dup,
            }));
        }
        let nowait_unsupported = cb.aio_rw_flags & RWF_NOWAIT != 0
            && is_write(cb.aio_lio_opcode)
            && info.is(libc::S_IFREG)
            && info.flags & libc::O_DIRECT == 0
            && !buffered_nowait_writes(fd);
        slab.slots[idx as usize].start(p.addr(), cb.aio_data, cb.aio_lio_opcode, nowait_unsupported, resfd_dup);
        let ud = UD_IO | u64::from(idx);
        // A ring reader's ring wakes the mover at every completion already.
        let link = resfd_dup >= 0 && !self.ring_reader.load(Ordering::Relaxed);
        slab.slots[idx as usize].resfd_pending = link;
        if link {
            // Wakes the mover, which puts the event in the handle and then
            // signals the application's eventfd.
            let notify = self.notify.get().copied().unwrap_or(-1);
            let w = opcode::Write::new(Fd(notify), (&raw const EVENTFD_ONE).cast(), 8).build();
            *out = RequestEntries::Linked([
                entry.user_data(ud).flags(squeue::Flags::IO_HARDLINK),
                w.user_data(UD_RESFD | u64::from(idx)),
            ]);
        } else {
            *out = RequestEntries::One([entry.user_data(ud)]);
        }
        if let Some(s) = &self.stats {
            let bytes = match (rw, is_vectored(cb.aio_lio_opcode)) {
                (false, _) => 0,
                (true, false) => cb.aio_nbytes.min(MAX_RW_COUNT),
                (true, true) => slab.slots[idx as usize].iov.iter().map(|v| v.iov_len as u64).sum(),
            };
            self.count_request(s, StatsRoute::Ring, bytes);
        }
        Ok(Accepted::Ring)
    }

    /// The opcode-specific checks (checks.rs, in the kernel's order) and
    /// the io_uring entry; takes the slot.
    pub(super) fn build_entry(
        &self,
        cb: &Iocb,
        fd: i32,
        info: FdInfo,
        slab: &mut SlotTable,
    ) -> Result<(squeue::Entry, u32)> {
        if !is_read_or_write(cb.aio_lio_opcode) {
            let entry = match check_other(cb, info)? {
                OtherRequest::Sync { datasync } => {
                    let flags = if datasync { FsyncFlags::DATASYNC } else { FsyncFlags::empty() };
                    let idx = slab.free.pop().ok_or(Errno::EAGAIN)?;
                    // SAFETY: duplicating a descriptor the caller owns
                    // (checked open); the copy is the slot's.
                    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
                    // No descriptor left for the copy (EMFILE): the sync
                    // still runs, on the caller's descriptor.
                    let target = if dup < 0 {
                        fd
                    } else {
                        // SAFETY: `dup` is a new descriptor nothing else owns.
                        slab.slots[idx as usize].pinned = Some(unsafe { OwnedFd::from_raw_fd(dup) });
                        dup
                    };
                    (opcode::Fsync::new(Fd(target)).flags(flags).build(), idx)
                }
                OtherRequest::Poll { events } => {
                    let idx = slab.free.pop().ok_or(Errno::EAGAIN)?;
                    (opcode::PollAdd::new(Fd(fd), events).build(), idx)
                }
            };
            return Ok(entry);
        }
        let rq = check_rw(cb, info, || supports_nowait(fd, info), euid_is_root)?;
        let idx = *slab.free.last().ok_or(Errno::EAGAIN)?;
        let count = if rq.vectored {
            let n = check_iovec_count(cb)?;
            let iov = &mut slab.slots[idx as usize].iov;
            // The kernel copies the array at submit: the caller may free it
            // once io_submit has returned.
            user_mem::read_iovecs(cb.aio_buf, n, iov)?;
            check_iovecs(iov)?
        } else {
            check_buffer(cb)?
        };
        verify_area(cb.aio_offset, count)?;
        let off = cb.aio_offset as u64;
        let e = if !rq.vectored {
            rw_entry(rq.write, fd, cb.aio_buf, count as u32, off, rq.ioprio, rq.rw_flags)
        } else {
            let iov = &slab.slots[idx as usize].iov;
            let (ptr, n) = (iov.as_ptr(), iov.len() as u32);
            if rq.write {
                opcode::Writev::new(Fd(fd), ptr, n).offset(off).ioprio(rq.ioprio).rw_flags(rq.rw_flags).build()
            } else {
                opcode::Readv::new(Fd(fd), ptr, n).offset(off).ioprio(rq.ioprio).rw_flags(rq.rw_flags).build()
            }
        };
        slab.free.pop();
        Ok((e, idx))
    }
}

/// Where an accepted request goes.
pub(super) enum Accepted {
    /// Queued to the ring (the entries are in `out`).
    Ring,
    /// To be performed by io_submit itself.
    Inline(InlineRequest),
    /// Performed by io_submit itself already (`fast_inline`).
    Done,
}
