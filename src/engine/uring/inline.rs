//! Requests performed inside io_submit, as kernel AIO performs them: reads
//! and writes of files io_uring would hand to a worker thread, a regular
//! file's request alone in flight, and buffered reads the page cache holds
//! whole. Each posts its event to the handle; none queues anything.

use crate::engine::kernel::request_bytes;
use crate::stats::{ContextStats, StatsRoute};
use crate::kernel_abi::{IoEvent, Iocb, MAX_RW_COUNT, RWF_NOWAIT, is_read_or_write, is_vectored, is_write, sys};
use crate::user_mem;
use crate::user_mem::IocbPtr;

use super::UringEngine;
use super::routes::{FAST_IOVECS, cache_read_first, forget_route, inline_kind, one_iovec, plain_buffer, ring_rw_allowed};

impl UringEngine {
    /// LIBAIO_RS_STATS: a request performed inside io_submit, and its result.
    #[cold]
    #[inline(never)]
    fn count_done_in_submit(&self, s: &ContextStats, route: StatsRoute, bytes: u64, res: i64) {
        self.count_request(s, route, bytes.min(MAX_RW_COUNT));
        s.event(res);
    }

    /// `try_cached_read` where it may pay (`cache_read_first`); otherwise
    /// nothing is tried (`CacheRead::Unchecked`).
    #[inline(always)]
    pub(super) fn cached_read_if_worth(&self, p: IocbPtr, cb: &Iocb, write: bool) -> CacheRead {
        if cache_read_first(cb, write) { self.try_cached_read(p, cb) } else { CacheRead::Unchecked }
    }

    /// The inline route without a syscall of its own, for a descriptor the
    /// slow path recently found to be an inline file (`FD_ROUTES`): its
    /// descriptor checks are left to the read or write itself. If that
    /// reports the descriptor bad (-EBADF: closed, O_PATH, wrong access
    /// mode), not seekable (-ESPIPE) or a directory (-EISDIR), nothing has
    /// been transferred: the key is put back and the slow path redoes the
    /// iocb with the kernel's checks in the kernel's order. Anything unusual
    /// (RESFD, IOCB_FLAG_IOPRIO, RWF_NOWAIT/ATOMIC, more than 8 iovecs, a
    /// field the checks would refuse) goes to the slow path before any
    /// effect. Returns whether the request was performed and its event posted.
    #[inline(always)]
    pub(super) fn fast_inline(&self, p: IocbPtr, cb: &Iocb, route: u8) -> bool {
        if !is_read_or_write(cb.aio_lio_opcode) {
            return false;
        }
        match inline_kind(cb, route) {
            Some((write, false)) if plain_buffer(cb) => {
                let iov = one_iovec(cb);
                self.fast_inline_run(p, cb, write, &raw const iov, 1)
            }
            Some((write, true)) => self.fast_inline_vectored(p, cb, write),
            _ => false,
        }
    }

    /// `fast_inline` for PREADV/PWRITEV of up to FAST_IOVECS iovecs.
    #[inline(never)]
    pub(super) fn fast_inline_vectored(&self, p: IocbPtr, cb: &Iocb, write: bool) -> bool {
        let mut iov = [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; FAST_IOVECS];
        let n = cb.aio_nbytes as usize;
        if n == 0 || n > FAST_IOVECS || !user_mem::copy_iovecs(cb.aio_buf, &mut iov[..n]) {
            return false;
        }
        let mut total = 0u64;
        for v in &iov[..n] {
            total += v.iov_len as u64;
            if !user_mem::access_ok(v.iov_base as u64, v.iov_len as u64) || total > MAX_RW_COUNT {
                return false;
            }
        }
        if cb.aio_offset.checked_add(total as i64).is_none() {
            return false;
        }
        self.fast_inline_run(p, cb, write, iov.as_ptr(), n as i32)
    }

    /// The read or write of `fast_inline`, once every check has passed.
    #[inline(always)]
    pub(super) fn fast_inline_run(
        &self,
        p: IocbPtr,
        cb: &Iocb,
        write: bool,
        iov: *const libc::iovec,
        cnt: i32,
    ) -> bool {
        let fd = cb.aio_fildes as i32;
        p.clear_key();
        // SAFETY: `iov` names `cnt` iovecs on the caller's stack frame; their
        // buffers passed access_ok and belong to the caller by libaio's contract.
        let res = unsafe { rw_syscall(write, fd, iov, cnt, cb.aio_offset, cb.aio_rw_flags) };
        if matches!(-res as i32, libc::EBADF | libc::ESPIPE | libc::EISDIR) {
            forget_route(fd);
            p.set_key(cb.aio_key);
            return false;
        }
        self.handle.post(IoEvent { data: cb.aio_data, obj: p.addr(), res, res2: 0 });
        if let Some(s) = &self.stats {
            self.count_done_in_submit(s, StatsRoute::Inline, request_bytes(cb), res);
        }
        true
    }

    /// A buffered read whose bytes are all in the page cache, performed
    /// here (preadv2 with RWF_NOWAIT) and its event posted, as kernel AIO
    /// performs it inside io_submit; anything else (some bytes not cached,
    /// an error) is left, with no effect, to the ring, which repeats the
    /// whole read. Handing a read to the submission thread costs io_submit
    /// the wait until the thread has taken it (`wait_taken`): about 1.5 µs
    /// here, where a cached 4 KiB read takes half of that.
    ///
    /// No descriptor check comes first (see `cache_read_first`): the
    /// read itself fails on every descriptor kernel AIO refuses at submit
    /// (closed or O_PATH, not opened for reading: -EBADF; a directory:
    /// -EISDIR), on pipes and sockets (-ESPIPE) and on files without
    /// FMODE_NOWAIT (-EOPNOTSUPP), and those go the checked way. A read
    /// that got as far as the page cache (-EAGAIN, or some bytes) has made
    /// the ring's descriptor checks itself (`CacheRead::Missed`).
    #[inline(always)]
    pub(super) fn try_cached_read(&self, p: IocbPtr, cb: &Iocb) -> CacheRead {
        let iov = one_iovec(cb);
        // The kernel writes the key once it has the file: before the read
        // completes, and put back if it is refused.
        p.clear_key();
        // SAFETY: one iovec on this frame, naming the caller's buffer, which
        // passed access_ok and belongs to the caller by libaio's contract.
        let res = unsafe { rw_syscall(false, cb.aio_fildes as i32, &raw const iov, 1, cb.aio_offset, RWF_NOWAIT) };
        // 0 is end of file (the length is not 0): with RWF_NOWAIT a read
        // that finds its first page missing fails with -EAGAIN instead.
        if res != cb.aio_nbytes as i64 && res != 0 {
            p.set_key(cb.aio_key);
            return if res > 0 || res == -i64::from(libc::EAGAIN) { CacheRead::Missed } else { CacheRead::Unchecked };
        }
        self.handle.post(IoEvent { data: cb.aio_data, obj: p.addr(), res, res2: 0 });
        if let Some(s) = &self.stats {
            self.count_done_in_submit(s, StatsRoute::PageCache, cb.aio_nbytes, res);
        }
        CacheRead::Done
    }

    /// Performs an inline request with the synchronous syscall kernel AIO's
    /// own path amounts to, and posts its event. Every check the kernel
    /// makes at submit has been made, so whatever the syscall returns is
    /// the request's result, as kernel AIO would put it in the event.
    pub(super) fn run_inline(&self, io: &InlineRequest) {
        let vectored = is_vectored(io.opcode);
        let write = is_write(io.opcode);
        let one = libc::iovec { iov_base: io.buf as *mut libc::c_void, iov_len: io.len as usize };
        let slab = self.slot_table.lock();
        let (iov, cnt) = if vectored {
            let v = &slab.slots[io.idx as usize].iov;
            (v.as_ptr(), v.len() as i32)
        } else {
            (&raw const one, 1)
        };
        let bytes = match (&self.stats, vectored) {
            (Some(_), true) => slab.slots[io.idx as usize].iov.iter().map(|v| v.iov_len as u64).sum(),
            _ => io.len,
        };
        drop(slab);
        // The slot (and its iovec copy) stays ours until it is released
        // below: no other thread touches a slot it did not take.
        // SAFETY: `iov` names `cnt` iovecs that live until the call returns
        // (the slot's copy or `one`); their buffers were checked with
        // access_ok and belong to the caller by libaio's contract, and the
        // kernel validates them again (a bad one is -EFAULT, as in AIO).
        let res = unsafe { rw_syscall(write, io.fd, iov, cnt, io.off, io.rw_flags as u32) };
        self.slot_table.lock().free.push(io.idx);
        self.handle.post(IoEvent { data: io.data, obj: io.iocb, res, res2: 0 });
        if let Some(s) = &self.stats {
            self.count_done_in_submit(s, StatsRoute::Inline, bytes, res);
        }
        self.announce(io.resfd_dup);
    }
}

/// What a read tried from the page cache in io_submit found (`try_cached_read`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheRead {
    /// Every byte, or end of file: performed, its event posted.
    Done,
    /// Some byte was not cached (-EAGAIN, or fewer bytes): nothing done.
    /// The read got past the descriptor: open, not O_PATH, opened for
    /// reading, not a directory, which is all the ring's checks ask.
    Missed,
    /// Refused for another reason, or not tried: nothing done, nothing known.
    Unchecked,
}

/// A read or write performed synchronously inside io_submit, as kernel AIO
/// performs it, on files where io_uring would hand it to a worker thread
/// (two cross-CPU wake-ups per request): files without FMODE_NOWAIT
/// (tmpfs, procfs, sysfs) and buffered writes on filesystems whose buffered
/// writes cannot be tried without blocking (ext4 and most others).
pub(super) struct InlineRequest {
    pub(super) idx: u32,
    pub(super) opcode: u16,
    pub(super) fd: i32,
    pub(super) buf: u64,
    pub(super) len: u64,
    pub(super) off: i64,
    pub(super) rw_flags: i32,
    pub(super) iocb: u64,
    pub(super) data: u64,
    pub(super) resfd_dup: i32,
}

/// preadv2/pwritev2 as the raw syscall, returning the result or -errno.
/// Not libc's wrappers: those are pthread cancellation points (io_submit
/// is not one in libaio) and cost more than the rest of the fast path.
///
/// # Safety
/// `iov` must point to `cnt` iovecs readable for the duration of the call;
/// the buffers they name are the kernel's to check.
#[inline(always)]
pub(super) unsafe fn rw_syscall(write: bool, fd: i32, iov: *const libc::iovec, cnt: i32, off: i64, flags: u32) -> i64 {
    let nr = if write { libc::SYS_pwritev2 } else { libc::SYS_preadv2 };
    // SAFETY: per this function's contract; on 64-bit targets the offset is
    // passed whole in pos_l, pos_h is 0.
    unsafe { sys::raw6(nr, fd as usize, iov as usize, cnt as usize, off as usize, 0, flags as usize) }
}

/// Whether a plain read or write whose route is the ring may be queued
/// without the general path's descriptor checks: a read that got as far as
/// the page cache has passed them (`CacheRead::Missed`), otherwise the
/// cheap ones (`ring_rw_allowed`) decide.
#[inline(always)]
pub(super) fn ring_may_take(tried: CacheRead, cb: &Iocb, write: bool) -> bool {
    tried == CacheRead::Missed || ring_rw_allowed(cb.aio_fildes as i32, write)
}
