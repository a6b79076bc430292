//! The kernel's AIO ABI, as <linux/aio_abi.h> and fs/aio.c define it: the
//! `repr(C)` types a caller and the kernel exchange, the opcodes, flags and
//! limits the kernel checks, and (sys.rs) the raw system calls.
//!
//! The bottom of the crate: it imports nothing of it, and everything else
//! takes these types from here. It holds facts about the kernel only, no
//! policy of the library's.

pub mod sys;

use core::mem::{offset_of, size_of};

// Types, laid out as the kernel's <linux/aio_abi.h> (x86_64 and every LP64
// little-endian target; the C header covers the other word sizes).


/// `struct iocb`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Iocb {
    pub aio_data: u64,
    pub aio_key: u32,
    pub aio_rw_flags: u32,
    pub aio_lio_opcode: u16,
    pub aio_reqprio: i16,
    pub aio_fildes: u32,
    pub aio_buf: u64,
    pub aio_nbytes: u64,
    pub aio_offset: i64,
    pub aio_reserved2: u64,
    pub aio_flags: u32,
    pub aio_resfd: u32,
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoEvent {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

/// The `{sigmask, sigsetsize}` pair io_pgetevents passes to the kernel.
#[repr(C)]
pub struct IoSigset {
    pub ss: u64,
    pub ss_len: u64,
}

const _: () = {
    assert!(size_of::<Iocb>() == 64);
    assert!(offset_of!(Iocb, aio_data) == 0);
    assert!(offset_of!(Iocb, aio_key) == 8);
    assert!(offset_of!(Iocb, aio_rw_flags) == 12);
    assert!(offset_of!(Iocb, aio_lio_opcode) == 16);
    assert!(offset_of!(Iocb, aio_reqprio) == 18);
    assert!(offset_of!(Iocb, aio_fildes) == 20);
    assert!(offset_of!(Iocb, aio_buf) == 24);
    assert!(offset_of!(Iocb, aio_nbytes) == 32);
    assert!(offset_of!(Iocb, aio_offset) == 40);
    assert!(offset_of!(Iocb, aio_reserved2) == 48);
    assert!(offset_of!(Iocb, aio_flags) == 56);
    assert!(offset_of!(Iocb, aio_resfd) == 60);
    assert!(size_of::<IoEvent>() == 32);
    assert!(offset_of!(IoEvent, data) == 0);
    assert!(offset_of!(IoEvent, obj) == 8);
    assert!(offset_of!(IoEvent, res) == 16);
    assert!(offset_of!(IoEvent, res2) == 24);
    assert!(size_of::<IoSigset>() == 16);
    assert!(offset_of!(IoSigset, ss_len) == 8);
    assert!(size_of::<libc::timespec>() == 16);
};

/// The kernel's `struct aio_ring` header, at the context's address.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AioRingHeader {
    pub id: u32,
    pub nr: u32,
    pub head: u32,
    pub tail: u32,
    pub magic: u32,
    pub compat_features: u32,
    pub incompat_features: u32,
    pub header_length: u32,
}

pub const AIO_RING_MAGIC: u32 = 0xa10a_10a1;

const _: () = {
    assert!(size_of::<AioRingHeader>() == 32);
    assert!(offset_of!(AioRingHeader, head) == 8);
    assert!(offset_of!(AioRingHeader, tail) == 12);
    assert!(offset_of!(AioRingHeader, magic) == 16);
};

// Opcodes (`aio_lio_opcode`).
pub const IOCB_CMD_PREAD: u16 = 0;
pub const IOCB_CMD_PWRITE: u16 = 1;
pub const IOCB_CMD_FSYNC: u16 = 2;
pub const IOCB_CMD_FDSYNC: u16 = 3;
pub const IOCB_CMD_POLL: u16 = 5;
pub const IOCB_CMD_PREADV: u16 = 7;
pub const IOCB_CMD_PWRITEV: u16 = 8;

/// Whether `opcode` reads or writes data (PREAD, PWRITE, PREADV, PWRITEV).
#[inline(always)]
pub fn is_read_or_write(opcode: u16) -> bool {
    matches!(opcode, IOCB_CMD_PREAD | IOCB_CMD_PWRITE | IOCB_CMD_PREADV | IOCB_CMD_PWRITEV)
}

/// Whether `opcode` writes data (PWRITE, PWRITEV).
#[inline(always)]
pub fn is_write(opcode: u16) -> bool {
    matches!(opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV)
}

/// Whether `opcode` takes an iovec array (PREADV, PWRITEV).
#[inline(always)]
pub fn is_vectored(opcode: u16) -> bool {
    matches!(opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV)
}

// `aio_flags`.
/// Signal the eventfd `aio_resfd` once the event is in the ring.
pub const IOCB_FLAG_RESFD: u32 = 1 << 0;
/// `aio_reqprio` is an I/O priority (checked like ioprio_set's).
pub const IOCB_FLAG_IOPRIO: u32 = 1 << 1;

// `aio_rw_flags` (RWF_*, as preadv2/pwritev2 take them).
pub const RWF_HIPRI: u32 = 0x01;
pub const RWF_NOWAIT: u32 = 0x08;
pub const RWF_ATOMIC: u32 = 0x40;
/// RWF_HIPRI | DSYNC | SYNC | NOWAIT | APPEND | NOAPPEND | ATOMIC | DONTCACHE
/// | NOSIGNAL: the bits Linux 6.18 accepts (0x100 was checked with preadv2
/// and pwritev2 on ext4; 0x200 and up are refused with -EOPNOTSUPP).
pub const RWF_SUPPORTED: u32 = 0x1ff;

// Limits.
/// The most bytes one read or write transfers (MAX_RW_COUNT).
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// The most iovecs one PREADV/PWRITEV takes.
pub const UIO_MAXIOV: u64 = 1024;
