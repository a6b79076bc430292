//! The checks of one iocb, as the kernel's io_submit_one makes them and in
//! its order, so that a refused iocb gets the kernel's error from io_submit
//! itself (io_uring would report it later, in the event).
//!
//! Pure functions of the iocb and the descriptor's facts (`FdInfo`, plus
//! what only a syscall can tell, passed in as a closure asked only when the
//! iocb needs it): no syscall, no lock, no effect. submit_general.rs calls
//! them in this order and builds the queue entries from what they return.
//! The fast paths do not call them: they take only iocbs whose fields their
//! own cheaper checks (routes.rs) find plain, and leave the rest here.

use crate::errno::{Errno, Result};
use crate::kernel_abi::{
    IOCB_CMD_FDSYNC, IOCB_CMD_FSYNC, IOCB_CMD_POLL, IOCB_FLAG_IOPRIO, Iocb, MAX_RW_COUNT, RWF_ATOMIC, RWF_HIPRI,
    RWF_NOWAIT, RWF_SUPPORTED, UIO_MAXIOV, is_read_or_write, is_vectored, is_write,
};
use crate::user_mem::access_ok;

use super::routes::FdInfo;

const EINVAL: Errno = Errno(libc::EINVAL);
const EBADF: Errno = Errno(libc::EBADF);

/// io_submit_one's first look, before room is reserved and before the
/// descriptor: the reserved field, and a length that is negative as ssize_t.
#[inline(always)]
pub(super) fn check_header(cb: &Iocb) -> Result<()> {
    if cb.aio_reserved2 != 0 || (cb.aio_nbytes as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// What a read or write that passed `check_rw` asks of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RwRequest {
    pub(super) write: bool,
    pub(super) vectored: bool,
    /// The I/O priority (0 without IOCB_FLAG_IOPRIO).
    pub(super) ioprio: u16,
    /// The RWF_* flags for preadv2/pwritev2 (RWF_HIPRI dropped: polled
    /// completions need a polled ring).
    pub(super) rw_flags: i32,
}

/// What a sync or poll that passed its checks asks of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OtherRequest {
    Sync { datasync: bool },
    Poll { events: u32 },
}

/// aio_prep_rw and the file checks of aio_read/aio_write, up to the
/// buffer: the priority, the RWF_* flags, RWF_NOWAIT against the file
/// (`nowait_ok`, asked only for an iocb with RWF_NOWAIT), the access mode,
/// and a directory's missing read_iter/write_iter. `is_root` is asked only
/// for the realtime priority class.
pub(super) fn check_rw(
    cb: &Iocb,
    info: FdInfo,
    nowait_ok: impl FnOnce() -> bool,
    is_root: impl FnOnce() -> bool,
) -> Result<RwRequest> {
    debug_assert!(is_read_or_write(cb.aio_lio_opcode));
    let write = is_write(cb.aio_lio_opcode);
    let ioprio = if cb.aio_flags & IOCB_FLAG_IOPRIO != 0 {
        check_ioprio(cb.aio_reqprio, is_root)?;
        cb.aio_reqprio as u16
    } else {
        0
    };
    let rw = cb.aio_rw_flags;
    if rw & !RWF_SUPPORTED != 0 || (rw & RWF_ATOMIC != 0 && !write) {
        return Err(Errno::EOPNOTSUPP);
    }
    if rw & RWF_NOWAIT != 0 && !nowait_ok() {
        return Err(Errno::EOPNOTSUPP);
    }
    if !info.opened_for(write) {
        return Err(EBADF);
    }
    if info.is(libc::S_IFDIR) {
        return Err(EINVAL);
    }
    Ok(RwRequest { write, vectored: is_vectored(cb.aio_lio_opcode), ioprio, rw_flags: (rw & !RWF_HIPRI) as i32 })
}

/// The number of iovecs of a PREADV/PWRITEV, before they are copied.
#[inline(always)]
pub(super) fn check_iovec_count(cb: &Iocb) -> Result<usize> {
    if cb.aio_nbytes > UIO_MAXIOV {
        return Err(EINVAL);
    }
    Ok(cb.aio_nbytes as usize)
}

/// import_iovec on the copied array: a negative length anywhere is
/// -EINVAL before any buffer is looked at; then each buffer's access_ok
/// (-EFAULT), the lengths clamped so that the total stays within
/// MAX_RW_COUNT. Returns the total.
pub(super) fn check_iovecs(iov: &mut [libc::iovec]) -> Result<u64> {
    if iov.iter().any(|v| (v.iov_len as isize) < 0) {
        return Err(EINVAL);
    }
    let mut total = 0u64;
    for v in iov.iter_mut() {
        if !access_ok(v.iov_base as u64, v.iov_len as u64) {
            return Err(Errno::EFAULT);
        }
        let len = (v.iov_len as u64).min(MAX_RW_COUNT - total);
        v.iov_len = len as usize;
        total += len;
    }
    Ok(total)
}

/// import_ubuf for PREAD/PWRITE: the length clamped to MAX_RW_COUNT, the
/// buffer's access_ok. Returns the length.
#[inline(always)]
pub(super) fn check_buffer(cb: &Iocb) -> Result<u64> {
    let len = cb.aio_nbytes.min(MAX_RW_COUNT);
    if !access_ok(cb.aio_buf, len) {
        return Err(Errno::EFAULT);
    }
    Ok(len)
}

/// rw_verify_area: a negative offset, or one the count would overflow.
#[inline(always)]
pub(super) fn verify_area(offset: i64, count: u64) -> Result<()> {
    if offset < 0 || offset.checked_add(count as i64).is_none() {
        return Err(EINVAL);
    }
    Ok(())
}

/// aio_fsync and aio_poll's checks, for the opcodes other than reads and
/// writes; -EINVAL for an opcode the kernel does not know.
pub(super) fn check_other(cb: &Iocb, info: FdInfo) -> Result<OtherRequest> {
    match cb.aio_lio_opcode {
        IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => {
            if cb.aio_buf != 0 || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
                return Err(EINVAL);
            }
            // Regular files, directories and block devices have ->fsync;
            // pipes, sockets, character devices and anonymous files do not.
            if !(info.is(libc::S_IFREG) || info.is(libc::S_IFDIR) || info.is(libc::S_IFBLK)) {
                return Err(EINVAL);
            }
            Ok(OtherRequest::Sync { datasync: cb.aio_lio_opcode == IOCB_CMD_FDSYNC })
        }
        IOCB_CMD_POLL => {
            if cb.aio_buf > 0xffff || cb.aio_offset != 0 || cb.aio_nbytes != 0 || cb.aio_rw_flags != 0 {
                return Err(EINVAL);
            }
            // A file without ->poll is always ready for DEFAULT_POLLMASK;
            // a poll for other bits could never complete: -EINVAL.
            let always_ready = (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u64;
            if (info.is(libc::S_IFREG) || info.is(libc::S_IFDIR)) && cb.aio_buf & always_ready == 0 {
                return Err(EINVAL);
            }
            Ok(OtherRequest::Poll { events: cb.aio_buf as u32 })
        }
        _ => Err(EINVAL),
    }
}

/// ioprio_check_cap for IOCB_FLAG_IOPRIO: the realtime class needs
/// CAP_SYS_ADMIN (here: root), idle and best-effort are anyone's, "none"
/// only with level 0, anything else is -EINVAL.
pub(super) fn check_ioprio(prio: i16, is_root: impl FnOnce() -> bool) -> Result<()> {
    let p = i32::from(prio);
    let class = (p >> 13) & 0x7;
    let level = p & 0x7;
    match class {
        1 if is_root() => Ok(()),
        1 => Err(Errno(libc::EPERM)),
        2 | 3 => Ok(()),
        0 if level == 0 => Ok(()),
        _ => Err(EINVAL),
    }
}

/// Whether the process runs as root (the realtime I/O class's check).
pub(super) fn euid_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_abi::{IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE};

    fn file(flags: i32, fmt: u32) -> FdInfo {
        FdInfo { flags, mode: fmt | 0o644, dev: 0 }
    }

    fn rw(op: u16) -> Iocb {
        Iocb { aio_lio_opcode: op, aio_buf: 0x10000, aio_nbytes: 4096, ..Iocb::default() }
    }

    fn never() -> bool {
        panic!("asked where the kernel would not ask")
    }

    #[test]
    fn header_refuses_reserved_and_negative_length() {
        assert_eq!(check_header(&rw(IOCB_CMD_PREAD)), Ok(()));
        assert_eq!(check_header(&Iocb { aio_reserved2: 1, ..rw(IOCB_CMD_PREAD) }), Err(EINVAL));
        assert_eq!(check_header(&Iocb { aio_nbytes: u64::MAX, ..rw(IOCB_CMD_PREAD) }), Err(EINVAL));
    }

    /// The kernel's order: priority, then flags, then NOWAIT, then the
    /// access mode, then the directory. Each iocb below fails two checks;
    /// the earlier one must win.
    #[test]
    fn rw_checks_come_in_the_kernels_order() {
        let wronly = file(libc::O_WRONLY, libc::S_IFREG);
        let dir = file(libc::O_RDONLY, libc::S_IFDIR);
        let bad_prio = Iocb { aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: 7 << 13, ..rw(IOCB_CMD_PREAD) };
        assert_eq!(check_rw(&bad_prio, wronly, never, never), Err(EINVAL));
        let rt_prio = Iocb { aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: 1 << 13, ..rw(IOCB_CMD_PREAD) };
        assert_eq!(check_rw(&rt_prio, wronly, never, || false), Err(Errno(libc::EPERM)));
        assert_eq!(check_rw(&rt_prio, wronly, never, || true), Err(EBADF));
        let bad_flags = Iocb { aio_rw_flags: 0x200, ..rw(IOCB_CMD_PREAD) };
        assert_eq!(check_rw(&bad_flags, wronly, never, never), Err(Errno::EOPNOTSUPP));
        let atomic_read = Iocb { aio_rw_flags: RWF_ATOMIC, ..rw(IOCB_CMD_PREAD) };
        assert_eq!(check_rw(&atomic_read, wronly, never, never), Err(Errno::EOPNOTSUPP));
        let nowait = Iocb { aio_rw_flags: RWF_NOWAIT, ..rw(IOCB_CMD_PREAD) };
        assert_eq!(check_rw(&nowait, wronly, || false, never), Err(Errno::EOPNOTSUPP));
        assert_eq!(check_rw(&nowait, wronly, || true, never), Err(EBADF));
        assert_eq!(check_rw(&rw(IOCB_CMD_PREAD), dir, never, never), Err(EINVAL));
        assert_eq!(check_rw(&rw(IOCB_CMD_PWRITE), dir, never, never), Err(EBADF));
    }

    #[test]
    fn rw_checks_pass_what_the_kernel_passes() {
        let rdwr = file(libc::O_RDWR, libc::S_IFREG);
        let ok = Iocb {
            aio_flags: IOCB_FLAG_IOPRIO,
            aio_reqprio: (2 << 13) | 4,
            aio_rw_flags: RWF_HIPRI | RWF_NOWAIT,
            ..rw(IOCB_CMD_PREADV)
        };
        let got = check_rw(&ok, rdwr, || true, never).unwrap();
        assert_eq!(got, RwRequest { write: false, vectored: true, ioprio: (2 << 13) | 4, rw_flags: RWF_NOWAIT as i32 });
        // Access mode 3 (O_ACCMODE) is opened for neither.
        assert_eq!(check_rw(&rw(IOCB_CMD_PREAD), file(3, libc::S_IFREG), never, never), Err(EBADF));
        assert!(check_rw(&rw(IOCB_CMD_PWRITE), file(libc::O_WRONLY, libc::S_IFCHR), never, never).is_ok());
    }

    #[test]
    fn iovecs_refuse_negative_lengths_before_bad_buffers_and_clamp() {
        let v = |base: usize, len: usize| libc::iovec { iov_base: base as *mut libc::c_void, iov_len: len };
        let mut neg = [v(usize::MAX - 10, 8), v(0x1000, usize::MAX)];
        assert_eq!(check_iovecs(&mut neg), Err(EINVAL));
        let mut bad = [v(0x1000, 8), v(usize::MAX - 10, 8)];
        assert_eq!(check_iovecs(&mut bad), Err(Errno::EFAULT));
        let mut big = [v(0x1000, 0x7000_0000), v(0x8000_0000, 0x7000_0000)];
        assert_eq!(check_iovecs(&mut big), Ok(MAX_RW_COUNT));
        assert_eq!(big[1].iov_len as u64, MAX_RW_COUNT - 0x7000_0000);
        assert_eq!(check_iovec_count(&Iocb { aio_nbytes: 1025, ..rw(IOCB_CMD_PREADV) }), Err(EINVAL));
        assert_eq!(check_iovec_count(&Iocb { aio_nbytes: 1024, ..rw(IOCB_CMD_PREADV) }), Ok(1024));
    }

    #[test]
    fn buffer_and_area() {
        assert_eq!(check_buffer(&rw(IOCB_CMD_PREAD)), Ok(4096));
        assert_eq!(check_buffer(&Iocb { aio_nbytes: u64::MAX >> 1, ..rw(IOCB_CMD_PREAD) }), Ok(MAX_RW_COUNT));
        assert_eq!(check_buffer(&Iocb { aio_buf: 1 << 47, ..rw(IOCB_CMD_PREAD) }), Err(Errno::EFAULT));
        // NULL with length 0 is fine, as in access_ok.
        assert_eq!(check_buffer(&Iocb { aio_buf: 0, aio_nbytes: 0, ..rw(IOCB_CMD_PREAD) }), Ok(0));
        assert_eq!(verify_area(0, 4096), Ok(()));
        assert_eq!(verify_area(-1, 0), Err(EINVAL));
        assert_eq!(verify_area(i64::MAX - 10, 4096), Err(EINVAL));
    }

    #[test]
    fn sync_and_poll() {
        let reg = file(libc::O_RDONLY, libc::S_IFREG);
        let sync = Iocb { aio_lio_opcode: IOCB_CMD_FDSYNC, ..Iocb::default() };
        assert_eq!(check_other(&sync, reg), Ok(OtherRequest::Sync { datasync: true }));
        assert_eq!(check_other(&sync, file(libc::O_RDONLY, libc::S_IFIFO)), Err(EINVAL));
        assert_eq!(check_other(&Iocb { aio_nbytes: 1, ..sync }, reg), Err(EINVAL));
        let poll = Iocb { aio_lio_opcode: IOCB_CMD_POLL, aio_buf: libc::POLLIN as u64, ..Iocb::default() };
        assert_eq!(check_other(&poll, reg), Ok(OtherRequest::Poll { events: libc::POLLIN as u32 }));
        let pri = Iocb { aio_buf: libc::POLLPRI as u64, ..poll };
        assert_eq!(check_other(&pri, reg), Err(EINVAL));
        assert!(check_other(&pri, file(libc::O_RDONLY, libc::S_IFIFO)).is_ok());
        assert_eq!(check_other(&Iocb { aio_buf: 0x10000, ..poll }, reg), Err(EINVAL));
        assert_eq!(check_other(&Iocb { aio_lio_opcode: 4, ..Iocb::default() }, reg), Err(EINVAL));
        assert_eq!(check_other(&Iocb { aio_lio_opcode: 6, ..Iocb::default() }, reg), Err(EINVAL));
    }

    #[test]
    fn ioprio_classes() {
        assert_eq!(check_ioprio(0, never), Ok(()));
        assert_eq!(check_ioprio(1, never), Err(EINVAL));
        assert_eq!(check_ioprio((3 << 13) | 7, never), Ok(()));
        assert_eq!(check_ioprio(1 << 13, || false), Err(Errno(libc::EPERM)));
        assert_eq!(check_ioprio(1 << 13, || true), Ok(()));
        assert_eq!(check_ioprio(4 << 13, never), Err(EINVAL));
    }
}
