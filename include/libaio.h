/*
 * libaio.h - public header of libaio_rs.
 *
 * libaio_rs is a reimplementation of libaio, the user-space library for the
 * Linux kernel's native asynchronous I/O interface (io_setup(2),
 * io_submit(2), io_getevents(2), ...).  This header is source-compatible
 * with the one shipped by libaio 0.3.113: it declares the same types, enum
 * constants, structure layouts, functions and inline helpers, under the same
 * names, so a program written for libaio builds against it unchanged.
 *
 * The include guard is the one libaio uses, so that a translation unit which
 * ends up seeing both headers gets exactly one set of definitions.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef __LIBAIO_H
#define __LIBAIO_H

#ifdef __cplusplus
extern "C" {
#endif

#include <sys/types.h>	/* size_t */
#include <string.h>	/* memset, used by the io_prep_* helpers */
#include <signal.h>	/* sigset_t, used by io_pgetevents */

struct timespec;
struct sockaddr;
struct iovec;

/* An AIO context, as created by io_setup() / io_queue_init(). */
typedef struct io_context *io_context_t;

/* Operation codes, stored in iocb.aio_lio_opcode.  4 is unused (it was an
 * experimental command the kernel never merged). */
typedef enum io_iocb_cmd {
	IO_CMD_PREAD = 0,
	IO_CMD_PWRITE = 1,

	IO_CMD_FSYNC = 2,
	IO_CMD_FDSYNC = 3,

	IO_CMD_POLL = 5,
	IO_CMD_NOOP = 6,
	IO_CMD_PREADV = 7,
	IO_CMD_PWRITEV = 8,
} io_iocb_cmd_t;

/*
 * Field layout.
 *
 * The kernel reads struct iocb and writes struct io_event with a fixed,
 * 64-bit-clean layout: every pointer and every `long` lives in its own 8-byte
 * slot, and two 32-bit values share one 8-byte slot in an order that depends
 * on the byte order.  The C declarations below use native pointer and `long`
 * types, so on ABIs where those are 4 bytes wide an explicit 32-bit padding
 * member is placed next to them: after the value on little-endian machines,
 * before it on big-endian ones, so that the value lands in the low half of
 * the 64-bit slot either way.
 *
 * The first step classifies the target into one of four ABI families.  The
 * list of architectures, and the order in which they are tested, is libaio's;
 * the last alternative of each family is a generic test on the compiler's
 * byte-order and `long`-size macros.  The 32-bit little-endian family is
 * tested first because x32 also defines __x86_64__.
 */
#if defined(__i386__) || \
    (defined(__x86_64__) && defined(__ILP32__)) || \
    (defined(__arm__) && !defined(__ARMEB__)) || \
    (defined(__sh__) && defined(__LITTLE_ENDIAN__)) || \
    defined(__bfin__) || \
    (defined(__MIPSEL__) && !defined(__mips64)) || \
    defined(__cris__) || defined(__loongarch32) || \
    (defined(__riscv) && __riscv_xlen == 32) || \
    (defined(__GNUC__) && defined(__BYTE_ORDER__) && \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __SIZEOF_LONG__ == 4)
# define __LIBAIO_RS_BIG_ENDIAN 0
# define __LIBAIO_RS_WORD32 1
#elif defined(__ia64__) || defined(__x86_64__) || defined(__alpha__) || \
    (defined(__mips64) && defined(__MIPSEL__)) || \
    (defined(__aarch64__) && defined(__AARCH64EL__)) || \
    defined(__loongarch64) || \
    (defined(__riscv) && __riscv_xlen == 64) || \
    (defined(__GNUC__) && defined(__BYTE_ORDER__) && \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __SIZEOF_LONG__ == 8)
# define __LIBAIO_RS_BIG_ENDIAN 0
# define __LIBAIO_RS_WORD32 0
#elif defined(__powerpc64__) || defined(__s390x__) || \
    (defined(__hppa__) && defined(__arch64__)) || \
    (defined(__sparc__) && defined(__arch64__)) || \
    (defined(__mips64) && defined(__MIPSEB__)) || \
    (defined(__aarch64__) && defined(__AARCH64EB__)) || \
    (defined(__GNUC__) && defined(__BYTE_ORDER__) && \
     __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ && __SIZEOF_LONG__ == 8)
# define __LIBAIO_RS_BIG_ENDIAN 1
# define __LIBAIO_RS_WORD32 0
#elif defined(__PPC__) || defined(__s390__) || \
    (defined(__arm__) && defined(__ARMEB__)) || \
    (defined(__sh__) && defined(__BIG_ENDIAN__)) || \
    defined(__sparc__) || defined(__MIPSEB__) || defined(__m68k__) || \
    defined(__hppa__) || defined(__frv__) || defined(__avr32__) || \
    (defined(__GNUC__) && defined(__BYTE_ORDER__) && \
     __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ && __SIZEOF_LONG__ == 4)
# define __LIBAIO_RS_BIG_ENDIAN 1
# define __LIBAIO_RS_WORD32 1
#else
# error "libaio.h: unknown byte order or word size for this target"
#endif

/*
 * Declaration helpers; all three are #undef'd after the structures.
 *
 *   __LIBAIO_RS_SLOT(decl, pad)    `decl` (a pointer or `unsigned long`
 *                                  member) alone in an 8-byte slot;
 *   __LIBAIO_RS_ULONG(name, pad)   the same for an `unsigned long` member;
 *   __LIBAIO_RS_HALVES(decl, pad)  a 32-bit member `decl` and a 32-bit
 *                                  companion `pad` sharing an 8-byte slot,
 *                                  `decl` in the first half on little-endian
 *                                  machines and in the second on big-endian.
 */
#if !__LIBAIO_RS_WORD32
# define __LIBAIO_RS_SLOT(decl, pad)	decl
# define __LIBAIO_RS_ULONG(name, pad)	unsigned long name
#elif !__LIBAIO_RS_BIG_ENDIAN
# define __LIBAIO_RS_SLOT(decl, pad)	decl; unsigned pad
# define __LIBAIO_RS_ULONG(name, pad)	unsigned long name; unsigned pad
#else
# define __LIBAIO_RS_SLOT(decl, pad)	unsigned pad; decl
# define __LIBAIO_RS_ULONG(name, pad)	unsigned pad; unsigned long name
#endif

#if __LIBAIO_RS_BIG_ENDIAN
# define __LIBAIO_RS_HALVES(decl, pad)	unsigned pad; decl
#elif __LIBAIO_RS_WORD32
# define __LIBAIO_RS_HALVES(decl, pad)	decl; unsigned pad
#else
/* Written as a declarator list, so the companion takes the member's type. */
# define __LIBAIO_RS_HALVES(decl, pad)	decl, pad
#endif

/* IO_CMD_POLL: the poll(2) event mask to wait for.  The completion's res is
 * the mask of events that occurred, or a negative errno. */
struct io_iocb_poll {
	__LIBAIO_RS_HALVES(int events, __pad1);
};

/* Socket address argument (no command uses it at present).  res is the
 * address length, or a negative errno. */
struct io_iocb_sockaddr {
	__LIBAIO_RS_SLOT(struct sockaddr *addr, __pad1);
	__LIBAIO_RS_ULONG(len, __pad2);
};

/* IO_CMD_PREAD / IO_CMD_PWRITE (and the fsync commands, which use only the
 * flags).  res is the number of bytes transferred, or a negative errno.
 * `flags` takes the IOCB_FLAG_* bits of <linux/aio_abi.h>; `resfd` is the
 * eventfd signalled on completion when the RESFD bit is set. */
struct io_iocb_common {
	__LIBAIO_RS_SLOT(void *buf, __pad1);
	__LIBAIO_RS_ULONG(nbytes, __pad2);
	long long offset;
	long long __pad3;
	unsigned flags;
	unsigned resfd;
};

/* IO_CMD_PREADV / IO_CMD_PWRITEV: an iovec array and its length.  res is
 * the number of bytes transferred, or a negative errno. */
struct io_iocb_vector {
	__LIBAIO_RS_SLOT(const struct iovec *vec, __pad1);
	__LIBAIO_RS_ULONG(nr, __pad2);
	long long offset;
};

/* One I/O request: 64 bytes, laid out as the kernel's struct iocb. */
struct iocb {
	/* Opaque to the kernel; handed back as io_event.data on completion
	 * (io_queue_run() reads it as an io_callback_t). */
	__LIBAIO_RS_SLOT(void *data, __pad1);
	/* key: written by the kernel to identify the request.
	 * aio_rw_flags: RWF_* flags of preadv2(2), e.g. RWF_NOWAIT. */
	__LIBAIO_RS_HALVES(unsigned key, aio_rw_flags);

	short aio_lio_opcode;	/* an IO_CMD_* value */
	short aio_reqprio;	/* I/O priority, used with IOCB_FLAG_IOPRIO */
	int aio_fildes;		/* file descriptor */

	union {
		struct io_iocb_common c;
		struct io_iocb_vector v;
		struct io_iocb_poll poll;
		struct io_iocb_sockaddr saddr;
	} u;
};

/* One completion: 32 bytes, laid out as the kernel's struct io_event. */
struct io_event {
	__LIBAIO_RS_SLOT(void *data, __pad1);		/* iocb.data */
	__LIBAIO_RS_SLOT(struct iocb *obj, __pad2);	/* the request */
	__LIBAIO_RS_ULONG(res, __pad3);			/* result */
	__LIBAIO_RS_ULONG(res2, __pad4);		/* secondary result */
};

/* The signal-mask argument of the io_pgetevents system call: a pointer to
 * the mask (as an integer) and the mask's size in bytes. */
struct io_sigset {
	unsigned long ss;
	unsigned long ss_len;
};

/* The same argument with the pointer padded to 64 bits, as a 32-bit program
 * passes it to a 64-bit kernel. */
struct io_sigset_compat {
	__LIBAIO_RS_SLOT(unsigned long ss, __ss_pad);
	unsigned long ss_len;
};

#undef __LIBAIO_RS_SLOT
#undef __LIBAIO_RS_ULONG
#undef __LIBAIO_RS_HALVES
#undef __LIBAIO_RS_BIG_ENDIAN
#undef __LIBAIO_RS_WORD32

/* Completion callback run by io_queue_run() for a request whose data field
 * was set with io_set_callback(). */
typedef void (*io_callback_t)(io_context_t ctx, struct iocb *iocb, long res, long res2);

/*
 * Library functions.  Like the system calls they wrap, they return 0 or a
 * count on success and a negative errno value on failure (errno is not set).
 *
 * io_queue_wait() is exported by the library for binary compatibility but,
 * as in libaio, it is not declared here; a program that uses it declares it
 * itself as int io_queue_wait(io_context_t, struct timespec *).
 */
extern int io_queue_init(int maxevents, io_context_t *ctxp);
extern int io_queue_release(io_context_t ctx);
extern int io_queue_run(io_context_t ctx);

extern int io_setup(int maxevents, io_context_t *ctxp);
extern int io_destroy(io_context_t ctx);
extern int io_submit(io_context_t ctx, long nr, struct iocb *ios[]);
extern int io_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt);
extern int io_getevents(io_context_t ctx, long min_nr, long nr,
			struct io_event *events, struct timespec *timeout);
extern int io_pgetevents(io_context_t ctx, long min_nr, long nr,
			 struct io_event *events, struct timespec *timeout,
			 sigset_t *sigmask);

/*
 * Inline helpers.  The io_prep_* functions clear the whole iocb (so
 * aio_reqprio, aio_rw_flags, key and u.c.flags start at 0) and then fill in
 * one request; io_set_callback() and io_set_eventfd() modify a prepared
 * iocb; io_poll(), io_fsync() and io_fdsync() prepare and submit in one call.
 *
 * IOCB_FLAG_RESFD and IOCB_FLAG_IOPRIO are not defined here, as libaio does
 * not define them: programs commonly define them themselves after including
 * this header, and a second, differently spelt definition would be a
 * redefinition warning.  The numeric bit is used below instead.
 */

static inline void io_set_callback(struct iocb *iocb, io_callback_t cb)
{
	/* Storing a function pointer in a void * is an extension in ISO C and
	 * conditionally supported in C++; every Linux ABI allows it. */
#if defined(__GNUC__)
	iocb->data = __extension__ (void *)cb;
#else
	iocb->data = (void *)cb;
#endif
}

static inline void io_prep_pread(struct iocb *iocb, int fd, void *buf, size_t count, long long offset)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_PREAD;
	iocb->aio_fildes = fd;
	iocb->u.c.buf = buf;
	iocb->u.c.nbytes = count;
	iocb->u.c.offset = offset;
}

static inline void io_prep_pwrite(struct iocb *iocb, int fd, void *buf, size_t count, long long offset)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_PWRITE;
	iocb->aio_fildes = fd;
	iocb->u.c.buf = buf;
	iocb->u.c.nbytes = count;
	iocb->u.c.offset = offset;
}

/* The vectored helpers store the iovec array in u.c.buf and its length in
 * u.c.nbytes, which share their slots with u.v.vec and u.v.nr. */
static inline void io_prep_preadv(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_PREADV;
	iocb->aio_fildes = fd;
	iocb->u.c.buf = (void *)iov;
	iocb->u.c.nbytes = iovcnt;
	iocb->u.c.offset = offset;
}

static inline void io_prep_pwritev(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_PWRITEV;
	iocb->aio_fildes = fd;
	iocb->u.c.buf = (void *)iov;
	iocb->u.c.nbytes = iovcnt;
	iocb->u.c.offset = offset;
}

/* As io_prep_preadv / io_prep_pwritev, plus RWF_* flags (see preadv2(2)). */
static inline void io_prep_preadv2(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset, int flags)
{
	io_prep_preadv(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

static inline void io_prep_pwritev2(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset, int flags)
{
	io_prep_pwritev(iocb, fd, iov, iovcnt, offset);
	iocb->aio_rw_flags = flags;
}

/* Wait for any of the poll(2) `events` on `fd`. */
static inline void io_prep_poll(struct iocb *iocb, int fd, int events)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_POLL;
	iocb->aio_fildes = fd;
	iocb->u.poll.events = events;
}

static inline void io_prep_fsync(struct iocb *iocb, int fd)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_FSYNC;
	iocb->aio_fildes = fd;
}

static inline void io_prep_fdsync(struct iocb *iocb, int fd)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_lio_opcode = IO_CMD_FDSYNC;
	iocb->aio_fildes = fd;
}

/* Prepare-and-submit shorthands: one request, completed through callback
 * `cb` by io_queue_run(), or seen with io_getevents().  They return what
 * io_submit() returns. */
static inline int io_poll(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd, int events)
{
	io_prep_poll(iocb, fd, events);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline int io_fsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline int io_fdsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fdsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

/* Ask for the eventfd `eventfd` to be signalled when the request completes
 * (sets IOCB_FLAG_RESFD, bit 0 of u.c.flags).  Call after an io_prep_*. */
static inline void io_set_eventfd(struct iocb *iocb, int eventfd)
{
	iocb->u.c.flags |= (1 << 0);
	iocb->u.c.resfd = eventfd;
}

#ifdef __cplusplus
}
#endif

#endif /* __LIBAIO_H */
