//! The eventfds of RESFD requests, held from io_submit until the request's
//! event has been announced, as kernel AIO holds them (eventfd_ctx_fdget at
//! submit): a descriptor the application closes or reuses meanwhile must
//! not change which eventfd is signalled.
//!
//! Each is held as a private close-on-exec duplicate. Programs use one
//! eventfd for many requests (QEMU: one per context), so a duplicate is
//! shared by every request in flight on the same eventfd: the application's
//! descriptor is checked to still name the same file (kcmp, one syscall)
//! instead of being validated and duplicated for every request.

use super::lock::Mutex;

use crate::errno::{Errno, Result};

/// Idle duplicates kept for reuse beyond this many are closed.
const KEEP_IDLE: usize = 8;

struct Pin {
    /// The application's descriptor number it was taken from.
    app_fd: i32,
    dup: i32,
    /// Requests in flight that will signal it.
    refs: usize,
    /// Still what `app_fd` names as far as the library knows; a retired
    /// pin is closed when its last request has been announced.
    current: bool,
}

pub struct EventfdPins {
    pins: Mutex<Vec<Pin>>,
    pid: i32,
}

impl EventfdPins {
    pub fn new() -> EventfdPins {
        // SAFETY: getpid has no preconditions.
        EventfdPins { pins: Mutex::new(Vec::new()), pid: unsafe { libc::getpid() } }
    }

    /// Pins the eventfd `fd` names for one request: the descriptor to
    /// signal, or the kernel's error for a RESFD that is not an eventfd
    /// (-EBADF not open, -EINVAL another file).
    pub fn pin(&self, fd: i32) -> Result<i32> {
        let mut pins = self.pins.lock();
        if let Some(p) = pins.iter_mut().find(|p| p.current && p.app_fd == fd) {
            if same_file(self.pid, fd, p.dup) {
                p.refs += 1;
                return Ok(p.dup);
            }
            p.current = false;
        }
        let dup = duplicate_eventfd(fd)?;
        if pins.len() >= KEEP_IDLE {
            pins.retain(|p| {
                let keep = p.refs > 0;
                if !keep {
                    crate::kernel_abi::sys::close_quiet(p.dup);
                }
                keep
            });
        }
        pins.push(Pin { app_fd: fd, dup, refs: 1, current: true });
        Ok(dup)
    }

    /// A request that pinned `dup` no longer needs it (announced, or refused).
    pub fn release(&self, dup: i32) {
        if dup < 0 {
            return;
        }
        let mut pins = self.pins.lock();
        if let Some(i) = pins.iter().position(|p| p.dup == dup) {
            let p = &mut pins[i];
            p.refs = p.refs.saturating_sub(1);
            if p.refs == 0 && !p.current {
                crate::kernel_abi::sys::close_quiet(p.dup);
                pins.swap_remove(i);
            }
        }
    }
}

impl Drop for EventfdPins {
    fn drop(&mut self) {
        for p in self.pins.get_mut().drain(..) {
            crate::kernel_abi::sys::close_quiet(p.dup);
        }
    }
}

/// Whether descriptors `a` and `b` of process `pid` name the same open file.
fn same_file(pid: i32, a: i32, b: i32) -> bool {
    const KCMP_FILE: usize = 0;
    // SAFETY: kcmp only compares the two descriptors' files; no memory is
    // involved. It may be refused (seccomp, no CONFIG_KCMP): then "no".
    let r = unsafe {
        crate::kernel_abi::sys::raw6(libc::SYS_kcmp, pid as usize, pid as usize, KCMP_FILE, a as usize, b as usize, 0)
    };
    r == 0
}

/// A private duplicate of `fd` if it is an eventfd; the kernel's errors otherwise.
fn duplicate_eventfd(fd: i32) -> Result<i32> {
    if fd < 0 {
        return Err(Errno(libc::EBADF));
    }
    let path = format!("/proc/self/fd/{fd}\0");
    let mut buf = [0u8; 64];
    // SAFETY: `path` is NUL-terminated; `buf` is writable for its length.
    let n = unsafe { libc::readlink(path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(Errno(libc::EBADF));
    }
    if &buf[..n as usize] != b"anon_inode:[eventfd]" {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: duplicating a descriptor the caller owns; the copy is ours.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(Errno(libc::EBADF));
    }
    Ok(dup)
}
