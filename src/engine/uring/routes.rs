//! Which way a request goes, and what the fast paths check before they
//! take one.
//!
//! A descriptor's route (inline, the kernel-AIO route, the ring) follows
//! from its file type, its status flags and what its filesystem offers
//! (`fs_class`); it is kept per descriptor number (`FD_ROUTES`) and looked
//! at again every FD_RECHECK-th use. The fast paths' checks (`plain_rw`,
//! `plain_buffer`, `plain_single`, `inline_kind`, `ring_rw_allowed`)
//! decide, with no effect, whether an iocb needs nothing of the slow path: everything they refuse
//! goes through the kernel's checks in the kernel's order there.

use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::Fd;
use io_uring::{opcode, squeue};
use std::sync::Mutex;

use crate::errno::{Errno, Result};
use crate::kernel_abi::{
    IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, Iocb, MAX_RW_COUNT, RWF_HIPRI, sys,
};

use super::slots::UD_IO;

/// What io_submit needs to know of a descriptor: its status flags (the
/// access mode) and its file type. Looked up once per descriptor per call.
#[derive(Clone, Copy)]
pub(super) struct FdInfo {
    pub(super) flags: i32,
    pub(super) mode: u32,
    pub(super) dev: u64,
}

impl FdInfo {
    pub(super) fn is(self, fmt: u32) -> bool {
        self.mode & libc::S_IFMT == fmt
    }

    /// FMODE_READ for a read, FMODE_WRITE for a write (else -EBADF).
    /// Access mode 3 (O_ACCMODE, opened for ioctls) has neither.
    #[inline(always)]
    pub(super) fn opened_for(self, write: bool) -> bool {
        let mode = self.flags & libc::O_ACCMODE;
        mode == libc::O_RDWR || mode == if write { libc::O_WRONLY } else { libc::O_RDONLY }
    }
}

/// What io_submit needs of `fd`, or None where fget gives -EBADF (a closed
/// descriptor or an O_PATH one). Raw syscalls: no libc wrapper, no errno.
#[inline(always)]
pub(super) fn fd_info(fd: i32) -> Option<FdInfo> {
    // SAFETY: F_GETFL reads the descriptor's status flags; no memory is passed.
    let flags = unsafe { sys::raw6(libc::SYS_fcntl, fd as usize, libc::F_GETFL as usize, 0, 0, 0, 0) };
    if flags < 0 || flags as i32 & libc::O_PATH != 0 {
        return None;
    }
    let (mode, dev) = file_type_and_dev(fd)?;
    Some(FdInfo { flags: flags as i32, mode, dev })
}

/// The descriptors seen in one io_submit call (the last 8), on the stack.
#[derive(Default)]
pub(super) struct FdCache {
    seen: [(i32, Option<FdInfo>); 8],
    next: usize,
}

impl FdCache {
    /// -EBADF as fget gives it: a closed descriptor, or an O_PATH one.
    pub(super) fn get(&mut self, fd: i32) -> Result<FdInfo> {
        if let Some(info) = self.seen.iter().find_map(|&(f, i)| i.filter(|_| f == fd)) {
            return Ok(info);
        }
        let info = fd_info(fd).ok_or(Errno(libc::EBADF))?;
        self.seen[self.next] = (fd, Some(info));
        self.next = (self.next + 1) % self.seen.len();
        Ok(info)
    }
}

/// The file type bits and the device of `fd`, asking for nothing else.
/// Not fstat: on Linux 6.13 and later, reading a file's ctime or mtime
/// makes its next modification store a fine-grained timestamp and dirty
/// the inode, which fdatasync then writes back. fstat every 64th
/// submission made O_DIRECT writes with fdatasync (R8) write the inode on
/// every other fdatasync, 0.6 µs of CPU per write more than kernel AIO.
/// statx for the type alone leaves the timestamps unread.
#[inline(always)]
fn file_type_and_dev(fd: i32) -> Option<(u32, u64)> {
    let mut stx = core::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: the path is a NUL-terminated empty string (AT_EMPTY_PATH: the
    // descriptor itself) and `stx` is writable for a whole statx; the
    // kernel writes only `stx`.
    let r = unsafe {
        sys::raw6(
            libc::SYS_statx,
            fd as usize,
            c"".as_ptr() as usize,
            libc::AT_EMPTY_PATH as usize,
            libc::STATX_TYPE as usize,
            stx.as_mut_ptr() as usize,
            0,
        )
    };
    if r == 0 {
        // SAFETY: statx succeeded, so it filled stx_mode (STATX_TYPE is
        // always returned) and stx_dev_*; read by field, from memory the
        // kernel wrote.
        let (mode, major, minor) = unsafe {
            let p = stx.as_ptr();
            ((*p).stx_mode, (*p).stx_dev_major, (*p).stx_dev_minor)
        };
        return Some((u32::from(mode), libc::makedev(major, minor)));
    }
    if r != -i64::from(libc::ENOSYS) {
        return None;
    }
    // A kernel without statx (before 4.11) has no fine-grained timestamps
    // either. errno put back: io_submit's fast path calls this.
    // SAFETY: `st` is a writable stat buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above; fstat only writes `st`.
    crate::errno::keep_errno(|| unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_mode, st.st_dev))
}

/// Whether a read or write has nothing the fast paths leave to the slow
/// one: no RESFD or IOPRIO, only RWF flags passed through unchanged (see
/// RWF_FAST), a non-negative offset.
#[inline(always)]
pub(super) fn plain_rw(cb: &Iocb) -> bool {
    // One test of the three (the sign bit of the offset included).
    (u64::from(cb.aio_flags) | u64::from(cb.aio_rw_flags & !RWF_FAST) | (cb.aio_offset as u64 >> 63)) == 0
}

/// Whether a PREAD/PWRITE buffer passes the kernel's checks as it stands:
/// at most MAX_RW_COUNT bytes (the slow path clamps longer ones), within
/// user space, and the offset plus the length does not overflow.
#[inline(always)]
pub(super) fn plain_buffer(cb: &Iocb) -> bool {
    cb.aio_nbytes <= MAX_RW_COUNT
        && crate::user_mem::access_ok(cb.aio_buf, cb.aio_nbytes)
        && cb.aio_offset.checked_add(cb.aio_nbytes as i64).is_some()
}

/// The ring entry of a PREAD or PWRITE that passed `plain_single` and `ring_rw_allowed`, in slot `idx`.
#[inline(always)]
pub(super) fn plain_entry(cb: &Iocb, idx: u32) -> squeue::Entry {
    let flags = (cb.aio_rw_flags & !RWF_HIPRI) as i32;
    let write = cb.aio_lio_opcode == IOCB_CMD_PWRITE;
    rw_entry(write, cb.aio_fildes as i32, cb.aio_buf, cb.aio_nbytes as u32, cb.aio_offset as u64, 0, flags)
        .user_data(UD_IO | u64::from(idx))
}

/// A non-vectored READ or WRITE entry (no user_data yet).
#[inline(always)]
pub(super) fn rw_entry(write: bool, fd: i32, buf: u64, len: u32, off: u64, ioprio: u16, flags: i32) -> squeue::Entry {
    if write {
        opcode::Write::new(Fd(fd), buf as *const u8, len).offset(off).ioprio(ioprio).rw_flags(flags).build()
    } else {
        opcode::Read::new(Fd(fd), buf as *mut u8, len).offset(off).ioprio(ioprio).rw_flags(flags).build()
    }
}

pub(super) fn one_iovec(cb: &Iocb) -> libc::iovec {
    libc::iovec { iov_base: cb.aio_buf as *mut libc::c_void, iov_len: cb.aio_nbytes as usize }
}

/// Whether a PREAD, PWRITE, PREADV or PWRITEV (the caller checked) is
/// one `fast_inline` may take: `Some((write, vectored))` if it is plain
/// and its route performs it inline.
#[inline(always)]
pub(super) fn inline_kind(cb: &Iocb, route: u8) -> Option<(bool, bool)> {
    let op = cb.aio_lio_opcode;
    let write = op == IOCB_CMD_PWRITE || op == IOCB_CMD_PWRITEV;
    if !performs_inline(route, write) || !plain_rw(cb) {
        return None;
    }
    Some((write, op >= IOCB_CMD_PREADV))
}

/// For a PREAD or PWRITE with nothing the fast paths leave to the slow
/// one (`plain_rw`, `plain_buffer`): whether it is a write. None for
/// anything else.
#[inline(always)]
pub(super) fn plain_single(cb: &Iocb) -> Option<bool> {
    let write = cb.aio_lio_opcode == IOCB_CMD_PWRITE;
    ((write || cb.aio_lio_opcode == IOCB_CMD_PREAD) && plain_rw(cb) && plain_buffer(cb)).then_some(write)
}

/// Whether `route` performs a read (a write) inline.
#[inline(always)]
pub(super) fn performs_inline(route: u8, write: bool) -> bool {
    route == ROUTE_INLINE || (route == ROUTE_INLINE_WRITES && write)
}

/// Whether `route` sends a read (a write) to the ring.
#[inline(always)]
pub(super) fn goes_to_ring(route: u8, write: bool) -> bool {
    route == ROUTE_RING || (route == ROUTE_INLINE_WRITES && !write)
}

/// The route of a request that is alone in flight on its context
/// (`UringEngine::alone`): a regular file's reads and writes are then done
/// inline, as kernel AIO does them inside io_submit. Sent to the ring, such
/// a request would wake the submission thread, which then polls for its
/// idle time, and io_submit would wait for it to be scheduled.
#[inline(always)]
pub(super) fn route_when_alone(route: u8) -> u8 {
    if route == ROUTE_INLINE_WRITES { ROUTE_INLINE } else { route }
}

/// Whether a plain single read or write (`plain_single`) whose route sends
/// it to the ring is first tried from the page cache in io_submit
/// (`try_cached_read`): a read with no RWF flag, of at least one byte (a
/// read of none would succeed on a directory, where kernel AIO says -EINVAL).
#[inline(always)]
pub(super) fn cache_read_first(cb: &Iocb, write: bool) -> bool {
    !write && cb.aio_rw_flags == 0 && cb.aio_nbytes != 0
}

/// Whether kernel AIO would accept a read (write) of `fd` at submit as far
/// as the descriptor goes: open, not O_PATH, opened for reading (writing),
/// not a directory. io_uring would say so only in the completion; these
/// are the slow path's checks per descriptor and call, with raw syscalls.
#[inline(always)]
pub(super) fn ring_rw_allowed(fd: i32, write: bool) -> bool {
    fd_info(fd).is_some_and(|info| info.opened_for(write) && !info.is(libc::S_IFDIR))
}

/// The filesystem magic of `fd`'s file (None if fstatfs fails).
fn fs_magic(fd: i32) -> Option<libc::c_long> {
    // SAFETY: statfs is plain integers, valid when zeroed.
    let mut st: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a writable statfs.
    (unsafe { libc::fstatfs(fd, &mut st) } == 0).then_some(st.f_type)
}

/// Files without FMODE_NOWAIT refuse RWF_NOWAIT: directories, and regular
/// files of tmpfs, procfs and sysfs. Pipes, sockets, block devices and the
/// character devices checked (zero, null, urandom) have it.
pub(super) fn supports_nowait(fd: i32, info: FdInfo) -> bool {
    if info.is(libc::S_IFDIR) {
        return false;
    }
    !info.is(libc::S_IFREG) || fs_class(fd, info.dev).nowait
}

/// Filesystems whose buffered writes honour RWF_NOWAIT (FOP_BUFFER_WASYNC).
pub(super) fn buffered_nowait_writes(fd: i32) -> bool {
    const XFS: libc::c_long = 0x5846_5342;
    const BTRFS: libc::c_long = 0x9123_683e;
    matches!(fs_magic(fd), None | Some(XFS | BTRFS))
}

/// What a filesystem offers, learned once per device with one fstatfs.
#[derive(Clone, Copy)]
pub(super) struct FsClass {
    /// Its files have FMODE_NOWAIT: io_uring tries them inline.
    pub(super) nowait: bool,
}

/// Devices seen so far (a handful per process), by st_dev. A descriptor
/// number closed and reused for another file gets its own statx, so the
/// answer stays right; a device number reused by a later mount could only
/// pick the slower route, never another result.
pub(super) static FS_CLASSES: Mutex<[(u64, Option<FsClass>); 16]> = Mutex::new([(0, None); 16]);

pub(super) fn fs_class(fd: i32, dev: u64) -> FsClass {
    if let Some(c) = FS_CLASSES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().find_map(|&(d, c)| c.filter(|_| d == dev)) {
        return c;
    }
    let magic = fs_magic(fd);
    let c = FsClass {
        nowait: !matches!(magic, Some(libc::TMPFS_MAGIC | libc::PROC_SUPER_MAGIC | libc::SYSFS_MAGIC)),
    };
    if magic.is_some() {
        let mut t = FS_CLASSES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = t.iter_mut().find(|e| e.1.is_none()) {
            *e = (dev, Some(c));
        }
    }
    c
}

/// Nothing cached for the descriptor (or time for a recheck): the slow path decides.
pub(super) const ROUTE_UNKNOWN: u8 = 0;
/// Requests go to the ring (anything but a regular file or an O_DIRECT
/// block device).
pub(super) const ROUTE_RING: u8 = 4;
/// Reads and writes are done inline (a file without FMODE_NOWAIT).
pub(super) const ROUTE_INLINE: u8 = 1;
/// Writes are done inline, reads go to the ring (buffered I/O of a regular
/// file that can be tried without blocking). Kernel AIO performs buffered
/// writes inside io_submit on every filesystem, whole or short (ENOSPC
/// near a full XFS or btrfs gives the same short write), and so does the
/// engine, even where io_uring could start them without blocking
/// (FOP_BUFFER_WASYNC: XFS, btrfs): done there, a write was sometimes not
/// complete when io_submit returned, and writes near ENOSPC came back whole
/// where kernel AIO's came back short.
pub(super) const ROUTE_INLINE_WRITES: u8 = 2;
/// Reads, writes and syncs go to the kernel-AIO route (O_DIRECT on a file
/// or block device that does real asynchronous direct I/O).
pub(super) const ROUTE_KERNEL: u8 = 3;

/// RWF flags the fast path passes straight to preadv2/pwritev2: HIPRI,
/// DSYNC, SYNC, APPEND, NOAPPEND, DONTCACHE (not NOWAIT or ATOMIC, whose
/// refusals depend on the file).
pub(super) const RWF_FAST: u32 = 0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x80;
pub(super) const FAST_IOVECS: usize = 8;

/// The route of a descriptor.
pub(super) fn fd_route(fd: i32, info: FdInfo) -> u8 {
    let direct = info.flags & libc::O_DIRECT != 0;
    if info.is(libc::S_IFBLK) && direct {
        return ROUTE_KERNEL;
    }
    if !info.is(libc::S_IFREG) {
        return ROUTE_RING;
    }
    let c = fs_class(fd, info.dev);
    if !c.nowait {
        ROUTE_INLINE
    } else if direct {
        ROUTE_KERNEL
    } else {
        ROUTE_INLINE_WRITES
    }
}

/// The route last found for each small descriptor number, with the number
/// of submissions left before the slow path's statx looks again (low byte:
/// route, high byte: uses left). A number closed and reused for another
/// file can therefore only be sent the wrong way for a few submissions,
/// and the wrong way still gives the right result: a regular file read
/// inline is merely synchronous, and anything else is caught by the read or
/// write itself (see `fast_inline`) or by the ring's own checks (`fast_ring`).
static FD_ROUTES: [AtomicU16; FD_ROUTES_LEN] = [const { AtomicU16::new(0) }; FD_ROUTES_LEN];
const FD_ROUTES_LEN: usize = 4096;
const FD_RECHECK: u16 = 255;

#[inline(always)]
pub(super) fn cached_route(fd: i32) -> u8 {
    let Some(e) = FD_ROUTES.get(fd as u32 as usize) else { return ROUTE_UNKNOWN };
    let v = e.load(Ordering::Relaxed);
    if v < 0x100 {
        return ROUTE_UNKNOWN; // never seen, forgotten, or no uses left
    }
    e.store(v - 0x100, Ordering::Relaxed);
    v as u8
}

pub(super) fn remember_route(fd: i32, route: u8) {
    if let Some(e) = FD_ROUTES.get(fd as u32 as usize) {
        e.store(u16::from(route) | FD_RECHECK << 8, Ordering::Relaxed);
    }
}

pub(super) fn forget_route(fd: i32) {
    if let Some(e) = FD_ROUTES.get(fd as u32 as usize) {
        e.store(0, Ordering::Relaxed);
    }
}
