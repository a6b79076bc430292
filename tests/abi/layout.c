/*
 * Compile-time checks of the libaio ABI described by <libaio.h>.
 *
 * Every structure size, member offset, member type and enum value that a
 * libaio program depends on is asserted here, against two references: the
 * kernel's UAPI definitions in <linux/aio_abi.h> (on every target), and the
 * literal x86_64 numbers (on x86_64).  The file only needs to compile:
 *
 *   cc -std=gnu11 -Wall -Wextra -Werror -c layout.c -I include  (libaio_rs)
 *   cc -std=gnu11 -Wall -Wextra -Werror -c layout.c             (libaio)
 *
 * Passing with both headers shows that the two describe the same layout.
 */
/* <libaio.h> uses sigset_t, which strict ISO C modes hide without this. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>

#include <libaio.h>

/* If the header offers the kernel's flag macros, they must carry the kernel's
 * values (the kernel header below would also reject a differently spelt
 * definition as a redefinition). */
#if defined(IOCB_FLAG_RESFD) && IOCB_FLAG_RESFD != 1
#error "IOCB_FLAG_RESFD must be 1 << 0"
#endif
#if defined(IOCB_FLAG_IOPRIO) && IOCB_FLAG_IOPRIO != 2
#error "IOCB_FLAG_IOPRIO must be 1 << 1"
#endif

/* <linux/aio_abi.h> defines its own struct iocb and struct io_event; give
 * them other names so that both sets of definitions can be compared. */
#define iocb kernel_iocb
#define io_event kernel_io_event
#include <linux/aio_abi.h>
#undef iocb
#undef io_event

#define CHECK(cond) _Static_assert(cond, #cond)

#define SIZE(type, n) CHECK(sizeof(type) == (n))
#define OFFSET(type, member, n) CHECK(offsetof(type, member) == (n))
#define MSIZE(type, member) sizeof(((type *)0)->member)
/* The declared type of a member, up to top-level qualifiers. */
#define MTYPE(type, member, t) \
	CHECK(_Generic(((type *)0)->member, t: 1, default: 0))

#define KOFF(member) offsetof(struct kernel_iocb, member)
#define KEOFF(member) offsetof(struct kernel_io_event, member)

/*
 * Where a value of `size` bytes sits inside an 8-byte slot starting at
 * `slot`: in the low-order half, i.e. first on little-endian targets and
 * last on big-endian ones.  PAD_IN_SLOT is where the 4-byte padding member
 * next to a 4-byte value goes.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define IN_SLOT(slot, size) ((slot) + 8 - (size))
#define PAD_IN_SLOT(slot) (slot)
#else
#define IN_SLOT(slot, size) (slot)
#define PAD_IN_SLOT(slot) ((slot) + 4)
#endif

#define PTR sizeof(void *)
#define LONG sizeof(unsigned long)

/* ---- enum io_iocb_cmd and the kernel's command numbers ---- */

CHECK(IO_CMD_PREAD == 0);
CHECK(IO_CMD_PWRITE == 1);
CHECK(IO_CMD_FSYNC == 2);
CHECK(IO_CMD_FDSYNC == 3);
CHECK(IO_CMD_POLL == 5);
CHECK(IO_CMD_NOOP == 6);
CHECK(IO_CMD_PREADV == 7);
CHECK(IO_CMD_PWRITEV == 8);

CHECK((int)IO_CMD_PREAD == (int)IOCB_CMD_PREAD);
CHECK((int)IO_CMD_PWRITE == (int)IOCB_CMD_PWRITE);
CHECK((int)IO_CMD_FSYNC == (int)IOCB_CMD_FSYNC);
CHECK((int)IO_CMD_FDSYNC == (int)IOCB_CMD_FDSYNC);
CHECK((int)IO_CMD_POLL == (int)IOCB_CMD_POLL);
CHECK((int)IO_CMD_NOOP == (int)IOCB_CMD_NOOP);
CHECK((int)IO_CMD_PREADV == (int)IOCB_CMD_PREADV);
CHECK((int)IO_CMD_PWRITEV == (int)IOCB_CMD_PWRITEV);

CHECK(_Generic((io_iocb_cmd_t)0, enum io_iocb_cmd: 1, default: 0));
CHECK(_Generic(IO_CMD_PWRITEV, int: 1, default: 0));

/* The flag bits io_set_eventfd() and aio_reqprio users rely on. */
CHECK(IOCB_FLAG_RESFD == 1);
CHECK(IOCB_FLAG_IOPRIO == 2);

/* ---- typedefs ---- */

CHECK(_Generic((io_context_t)0, struct io_context *: 1, default: 0));
CHECK(_Generic((io_callback_t)0,
	       void (*)(io_context_t, struct iocb *, long, long): 1,
	       default: 0));

/* ---- member types (all targets) ---- */

MTYPE(struct iocb, data, void *);
MTYPE(struct iocb, key, unsigned);
MTYPE(struct iocb, aio_rw_flags, unsigned);
MTYPE(struct iocb, aio_lio_opcode, short);
MTYPE(struct iocb, aio_reqprio, short);
MTYPE(struct iocb, aio_fildes, int);
MTYPE(struct iocb, u.c, struct io_iocb_common);
MTYPE(struct iocb, u.v, struct io_iocb_vector);
MTYPE(struct iocb, u.poll, struct io_iocb_poll);
MTYPE(struct iocb, u.saddr, struct io_iocb_sockaddr);

MTYPE(struct io_iocb_common, buf, void *);
MTYPE(struct io_iocb_common, nbytes, unsigned long);
MTYPE(struct io_iocb_common, offset, long long);
MTYPE(struct io_iocb_common, __pad3, long long);
MTYPE(struct io_iocb_common, flags, unsigned);
MTYPE(struct io_iocb_common, resfd, unsigned);

MTYPE(struct io_iocb_vector, vec, const struct iovec *);
MTYPE(struct io_iocb_vector, nr, unsigned long);
MTYPE(struct io_iocb_vector, offset, long long);

MTYPE(struct io_iocb_poll, events, int);

MTYPE(struct io_iocb_sockaddr, addr, struct sockaddr *);
MTYPE(struct io_iocb_sockaddr, len, unsigned long);

MTYPE(struct io_event, data, void *);
MTYPE(struct io_event, obj, struct iocb *);
MTYPE(struct io_event, res, unsigned long);
MTYPE(struct io_event, res2, unsigned long);

MTYPE(struct io_sigset, ss, unsigned long);
MTYPE(struct io_sigset, ss_len, unsigned long);
MTYPE(struct io_sigset_compat, ss, unsigned long);
MTYPE(struct io_sigset_compat, ss_len, unsigned long);

/* ---- sizes and offsets against <linux/aio_abi.h> (all targets) ---- */

SIZE(struct iocb, 64);
CHECK(sizeof(struct iocb) == sizeof(struct kernel_iocb));
CHECK(_Alignof(struct iocb) == _Alignof(struct kernel_iocb));
SIZE(struct io_event, 32);
CHECK(sizeof(struct io_event) == sizeof(struct kernel_io_event));
/* Made of 4-byte members on ILP32 targets, libaio's io_event may be less
 * aligned than the kernel's (x32); its size, and so an array's stride, match. */
CHECK(_Alignof(struct io_event) <= _Alignof(struct kernel_io_event));

SIZE(struct io_iocb_common, 40);
SIZE(struct io_iocb_vector, 24);
SIZE(struct io_iocb_poll, 8);
SIZE(struct io_iocb_sockaddr, 16);
SIZE(struct io_sigset, 2 * LONG);
SIZE(struct io_sigset_compat, 8 + LONG);

CHECK(offsetof(struct iocb, data) == IN_SLOT(KOFF(aio_data), PTR));
CHECK(offsetof(struct iocb, key) == KOFF(aio_key));
CHECK(offsetof(struct iocb, aio_rw_flags) == KOFF(aio_rw_flags));
CHECK(offsetof(struct iocb, aio_lio_opcode) == KOFF(aio_lio_opcode));
CHECK(offsetof(struct iocb, aio_reqprio) == KOFF(aio_reqprio));
CHECK(offsetof(struct iocb, aio_fildes) == KOFF(aio_fildes));
CHECK(MSIZE(struct iocb, key) == MSIZE(struct kernel_iocb, aio_key));
CHECK(MSIZE(struct iocb, aio_rw_flags) == MSIZE(struct kernel_iocb, aio_rw_flags));
CHECK(MSIZE(struct iocb, aio_lio_opcode) == MSIZE(struct kernel_iocb, aio_lio_opcode));
CHECK(MSIZE(struct iocb, aio_reqprio) == MSIZE(struct kernel_iocb, aio_reqprio));
CHECK(MSIZE(struct iocb, aio_fildes) == MSIZE(struct kernel_iocb, aio_fildes));

CHECK(offsetof(struct iocb, u) == KOFF(aio_buf));
CHECK(offsetof(struct iocb, u.c.buf) == IN_SLOT(KOFF(aio_buf), PTR));
CHECK(offsetof(struct iocb, u.c.nbytes) == IN_SLOT(KOFF(aio_nbytes), LONG));
CHECK(offsetof(struct iocb, u.c.offset) == KOFF(aio_offset));
CHECK(offsetof(struct iocb, u.c.__pad3) == KOFF(aio_reserved2));
CHECK(offsetof(struct iocb, u.c.flags) == KOFF(aio_flags));
CHECK(offsetof(struct iocb, u.c.resfd) == KOFF(aio_resfd));
CHECK(MSIZE(struct iocb, u.c.offset) == MSIZE(struct kernel_iocb, aio_offset));
CHECK(MSIZE(struct iocb, u.c.__pad3) == MSIZE(struct kernel_iocb, aio_reserved2));
CHECK(MSIZE(struct iocb, u.c.flags) == MSIZE(struct kernel_iocb, aio_flags));
CHECK(MSIZE(struct iocb, u.c.resfd) == MSIZE(struct kernel_iocb, aio_resfd));

CHECK(offsetof(struct iocb, u.v.vec) == IN_SLOT(KOFF(aio_buf), PTR));
CHECK(offsetof(struct iocb, u.v.nr) == IN_SLOT(KOFF(aio_nbytes), LONG));
CHECK(offsetof(struct iocb, u.v.offset) == KOFF(aio_offset));

/* The kernel reads the poll mask from the low half of aio_buf. */
CHECK(offsetof(struct iocb, u.poll.events) == IN_SLOT(KOFF(aio_buf), 4));
CHECK(offsetof(struct iocb, u.poll.__pad1) == PAD_IN_SLOT(KOFF(aio_buf)));

CHECK(offsetof(struct iocb, u.saddr.addr) == IN_SLOT(KOFF(aio_buf), PTR));
CHECK(offsetof(struct iocb, u.saddr.len) == IN_SLOT(KOFF(aio_nbytes), LONG));

CHECK(offsetof(struct io_event, data) == IN_SLOT(KEOFF(data), PTR));
CHECK(offsetof(struct io_event, obj) == IN_SLOT(KEOFF(obj), PTR));
CHECK(offsetof(struct io_event, res) == IN_SLOT(KEOFF(res), LONG));
CHECK(offsetof(struct io_event, res2) == IN_SLOT(KEOFF(res2), LONG));

/* The members of the union, as standalone structures. */
CHECK(offsetof(struct io_iocb_common, buf) == IN_SLOT(0, PTR));
CHECK(offsetof(struct io_iocb_common, nbytes) == IN_SLOT(8, LONG));
OFFSET(struct io_iocb_common, offset, 16);
OFFSET(struct io_iocb_common, __pad3, 24);
OFFSET(struct io_iocb_common, flags, 32);
OFFSET(struct io_iocb_common, resfd, 36);

CHECK(offsetof(struct io_iocb_vector, vec) == IN_SLOT(0, PTR));
CHECK(offsetof(struct io_iocb_vector, nr) == IN_SLOT(8, LONG));
OFFSET(struct io_iocb_vector, offset, 16);

CHECK(offsetof(struct io_iocb_poll, events) == IN_SLOT(0, 4));
CHECK(offsetof(struct io_iocb_poll, __pad1) == PAD_IN_SLOT(0));

CHECK(offsetof(struct io_iocb_sockaddr, addr) == IN_SLOT(0, PTR));
CHECK(offsetof(struct io_iocb_sockaddr, len) == IN_SLOT(8, LONG));

OFFSET(struct io_sigset, ss, 0);
CHECK(offsetof(struct io_sigset, ss_len) == LONG);
CHECK(offsetof(struct io_sigset_compat, ss) == IN_SLOT(0, LONG));
OFFSET(struct io_sigset_compat, ss_len, 8);

/* ---- the padding members of 32-bit targets ---- */

#if __SIZEOF_POINTER__ == 4 && __SIZEOF_LONG__ == 4
CHECK(offsetof(struct iocb, __pad1) == PAD_IN_SLOT(KOFF(aio_data)));
CHECK(offsetof(struct iocb, u.c.__pad1) == PAD_IN_SLOT(KOFF(aio_buf)));
CHECK(offsetof(struct iocb, u.c.__pad2) == PAD_IN_SLOT(KOFF(aio_nbytes)));
CHECK(offsetof(struct iocb, u.v.__pad1) == PAD_IN_SLOT(KOFF(aio_buf)));
CHECK(offsetof(struct iocb, u.v.__pad2) == PAD_IN_SLOT(KOFF(aio_nbytes)));
CHECK(offsetof(struct iocb, u.saddr.__pad1) == PAD_IN_SLOT(KOFF(aio_buf)));
CHECK(offsetof(struct iocb, u.saddr.__pad2) == PAD_IN_SLOT(KOFF(aio_nbytes)));
CHECK(offsetof(struct io_event, __pad1) == PAD_IN_SLOT(KEOFF(data)));
CHECK(offsetof(struct io_event, __pad2) == PAD_IN_SLOT(KEOFF(obj)));
CHECK(offsetof(struct io_event, __pad3) == PAD_IN_SLOT(KEOFF(res)));
CHECK(offsetof(struct io_event, __pad4) == PAD_IN_SLOT(KEOFF(res2)));
CHECK(offsetof(struct io_sigset_compat, __ss_pad) == PAD_IN_SLOT(0));
MTYPE(struct iocb, __pad1, unsigned);
MTYPE(struct io_event, __pad4, unsigned);
MTYPE(struct io_iocb_poll, __pad1, unsigned);
#elif __SIZEOF_POINTER__ == 8 && __SIZEOF_LONG__ == 8
# if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Declared together with `events` on 64-bit little-endian targets. */
MTYPE(struct io_iocb_poll, __pad1, int);
# else
MTYPE(struct io_iocb_poll, __pad1, unsigned);
# endif
#else
#error "layout.c: unexpected pointer/long sizes"
#endif

/* ---- literal x86_64 (LP64, little-endian) numbers ---- */

#if defined(__x86_64__) && defined(__LP64__)
SIZE(struct iocb, 64);
OFFSET(struct iocb, data, 0);
OFFSET(struct iocb, key, 8);
OFFSET(struct iocb, aio_rw_flags, 12);
OFFSET(struct iocb, aio_lio_opcode, 16);
OFFSET(struct iocb, aio_reqprio, 18);
OFFSET(struct iocb, aio_fildes, 20);
OFFSET(struct iocb, u, 24);
OFFSET(struct iocb, u.c.buf, 24);
OFFSET(struct iocb, u.c.nbytes, 32);
OFFSET(struct iocb, u.c.offset, 40);
OFFSET(struct iocb, u.c.__pad3, 48);
OFFSET(struct iocb, u.c.flags, 56);
OFFSET(struct iocb, u.c.resfd, 60);
OFFSET(struct iocb, u.v.vec, 24);
OFFSET(struct iocb, u.v.nr, 32);
OFFSET(struct iocb, u.v.offset, 40);
OFFSET(struct iocb, u.poll.events, 24);
OFFSET(struct iocb, u.poll.__pad1, 28);
OFFSET(struct iocb, u.saddr.addr, 24);
OFFSET(struct iocb, u.saddr.len, 32);
CHECK(MSIZE(struct iocb, data) == 8);
CHECK(MSIZE(struct iocb, key) == 4);
CHECK(MSIZE(struct iocb, aio_rw_flags) == 4);
CHECK(MSIZE(struct iocb, aio_lio_opcode) == 2);
CHECK(MSIZE(struct iocb, aio_reqprio) == 2);
CHECK(MSIZE(struct iocb, aio_fildes) == 4);
CHECK(MSIZE(struct iocb, u) == 40);

/* The kernel's own numbers, as its header documents them. */
SIZE(struct kernel_iocb, 64);
OFFSET(struct kernel_iocb, aio_data, 0);
OFFSET(struct kernel_iocb, aio_key, 8);
OFFSET(struct kernel_iocb, aio_rw_flags, 12);
OFFSET(struct kernel_iocb, aio_lio_opcode, 16);
OFFSET(struct kernel_iocb, aio_reqprio, 18);
OFFSET(struct kernel_iocb, aio_fildes, 20);
OFFSET(struct kernel_iocb, aio_buf, 24);
OFFSET(struct kernel_iocb, aio_nbytes, 32);
OFFSET(struct kernel_iocb, aio_offset, 40);
OFFSET(struct kernel_iocb, aio_reserved2, 48);
OFFSET(struct kernel_iocb, aio_flags, 56);
OFFSET(struct kernel_iocb, aio_resfd, 60);

SIZE(struct io_event, 32);
OFFSET(struct io_event, data, 0);
OFFSET(struct io_event, obj, 8);
OFFSET(struct io_event, res, 16);
OFFSET(struct io_event, res2, 24);
SIZE(struct kernel_io_event, 32);
OFFSET(struct kernel_io_event, data, 0);
OFFSET(struct kernel_io_event, obj, 8);
OFFSET(struct kernel_io_event, res, 16);
OFFSET(struct kernel_io_event, res2, 24);

SIZE(struct io_iocb_common, 40);
OFFSET(struct io_iocb_common, buf, 0);
OFFSET(struct io_iocb_common, nbytes, 8);
OFFSET(struct io_iocb_common, offset, 16);
OFFSET(struct io_iocb_common, __pad3, 24);
OFFSET(struct io_iocb_common, flags, 32);
OFFSET(struct io_iocb_common, resfd, 36);

SIZE(struct io_iocb_vector, 24);
OFFSET(struct io_iocb_vector, vec, 0);
OFFSET(struct io_iocb_vector, nr, 8);
OFFSET(struct io_iocb_vector, offset, 16);

SIZE(struct io_iocb_poll, 8);
OFFSET(struct io_iocb_poll, events, 0);
OFFSET(struct io_iocb_poll, __pad1, 4);

SIZE(struct io_iocb_sockaddr, 16);
OFFSET(struct io_iocb_sockaddr, addr, 0);
OFFSET(struct io_iocb_sockaddr, len, 8);

SIZE(struct io_sigset, 16);
OFFSET(struct io_sigset, ss, 0);
OFFSET(struct io_sigset, ss_len, 8);

SIZE(struct io_sigset_compat, 16);
OFFSET(struct io_sigset_compat, ss, 0);
OFFSET(struct io_sigset_compat, ss_len, 8);

SIZE(io_iocb_cmd_t, 4);
SIZE(io_context_t, 8);
SIZE(io_callback_t, 8);
#endif

/* ISO C wants at least one declaration that is not an assertion. */
typedef int layout_checks_passed;
