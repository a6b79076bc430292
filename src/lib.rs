//! libaio_rs: libaio's C ABI (io_setup, io_submit, io_getevents, ...) in Rust.
//!
//! - `abi` — the C boundary: types, exported functions, caller pointers;
//!   `abi::ctx_table` — handle → engine.
//! - `engine` — the engine interface and the engines behind it.
//! - `config` — the LIBAIO_RS_* variables.
//! - `fork` — telling a forked child from its parent without a syscall.

mod abi;
mod config;
mod engine;
mod errno;
mod fork;
mod kernel_abi;
mod stats;
mod user_mem;
