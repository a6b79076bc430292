//! The checks of one iocb in the kernel's order.
