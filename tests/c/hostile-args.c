/* Description: hostile arguments to every exported function, each case in a forked child.
 *
 * Every exported call gets bad input: NULL, kernel-half (0xffff800000000000),
 * PROT_NONE, read-only (where the call writes) and unmapped (mmap, then
 * munmap) pointers for io_setup's ctxp, io_submit's iocb array, the iocbs in
 * it, the iovec arrays and buffers of reads and writes, the events array,
 * timeout and sigmask of io_getevents/io_pgetevents (with and without events
 * pending), the iocb and result of io_cancel, the usig struct of a raw
 * io_pgetevents through syscall(); negative, zero and huge counts;
 * reserved fields, unknown RWF bits, bad opcodes, descriptors (closed, -1,
 * O_PATH, a directory, the wrong access mode), IOCB flags and priorities;
 * destroyed, double-destroyed, never-created, garbage and fake handles;
 * io_cancel of iocbs never submitted, completed, submitted elsewhere, or a
 * copy of a submitted one. Each case runs in its own child, so a crash is a
 * result ("killed by SIGSEGV") and not the end of the test; the child prints
 * what each call returned, as t_err() names.
 *
 * libaio's answer is the kernel's -errno wherever libaio passes the call
 * through. Where libaio itself dereferences a bad pointer in user space
 * (io_queue_init's ctxp; the ring at a non-NULL bad handle in io_getevents,
 * io_pgetevents, io_queue_run and io_queue_wait; a bad timeout once the
 * handle holds the ring magic, and in the LIBAIO_0.1 io_getevents and
 * io_queue_wait whatever the handle; io_queue_run's call of a NULL
 * callback) the oracle crashes and a library may answer with an error
 * instead: those cases are printed only with HOSTILE_ALL=1 (README, "Known
 * differences from libaio"), and so are the io_submit cases the library
 * still answers differently (HOT_PATH_READ below).
 *
 * Children run up to 32 at a time (a kernel-AIO context costs an RCU grace
 * period at exit); results are printed in table order.
 */
#include "t_util.h"
#include "t_compat01.h"
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern int io_queue_wait(io_context_t ctx, struct timespec *timeout);

#define PAGE 4096UL
#define KADDR ((uintptr_t)0xffff800000000000ull) /* kernel half */
#define HOLE ((uintptr_t)0x200000000000ull)      /* far below every mapping */
#define GARBAGE ((uintptr_t)0x1234000)           /* never mapped */
#define MS(n) t_ts(0, (n) * 1000000L)

/* ---- the bad pointers ------------------------------------------------ */

enum { K_NULL, K_KERNEL, K_PROTNONE, K_RDONLY, K_UNMAPPED, K_VALID };

/* An address that was mapped and is not any more. It lies at HOLE, 32 TiB
 * from the top-down mmap area, so no later mapping of the process (the
 * library's rings and threads included) can land on it. */
static void *unmapped(uintptr_t at, size_t len)
{
	void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	T_ASSERTF(p == (void *)at, "mmap at %#lx", (unsigned long)at);
	T_ASSERT(munmap(p, len) == 0);
	return p;
}

/* A page of the given kind holding `init` (len bytes) where it is readable. */
static void *mem(int kind, const void *init, size_t len)
{
	void *p;

	switch (kind) {
	case K_NULL:
		return NULL;
	case K_KERNEL:
		return (void *)KADDR;
	case K_UNMAPPED:
		return unmapped(HOLE, PAGE);
	case K_PROTNONE:
		p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		T_ASSERT(p != MAP_FAILED);
		return p;
	default:
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		T_ASSERT(p != MAP_FAILED);
		if (init)
			memcpy(p, init, len);
		if (kind == K_RDONLY)
			T_ASSERT(mprotect(p, PAGE, PROT_READ) == 0);
		return p;
	}
}

/* len bytes of init that end exactly where a PROT_NONE (or unmapped) page
 * begins. */
static void *at_edge(int next_kind, const void *init, size_t len)
{
	char *p;

	if (next_kind == K_UNMAPPED) {
		unmapped(HOLE, PAGE);
		p = mmap((void *)(HOLE - PAGE), PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		T_ASSERT(p == (char *)(HOLE - PAGE));
	} else {
		p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		T_ASSERT(p != MAP_FAILED);
		T_ASSERT(mprotect(p + PAGE, PAGE, PROT_NONE) == 0);
	}
	memcpy(p + PAGE - len, init, len);
	return p + PAGE - len;
}

/* ---- handles ---------------------------------------------------------- */

enum { H_NULL, H_GARBAGE, H_KERNEL, H_DESTROYED, H_DESTROYED2, H_NOTRING, H_FAKERING };

static io_context_t handle(int h)
{
	io_context_t c;

	switch (h) {
	case H_NULL:
		return NULL;
	case H_GARBAGE:
		return (io_context_t)GARBAGE;
	case H_KERNEL:
		return (io_context_t)KADDR;
	case H_DESTROYED:
	case H_DESTROYED2:
		c = t_setup(8);
		t_destroy(c);
		if (h == H_DESTROYED2)
			T_ASSERT(T_CALL(io_destroy(c)) == -EINVAL);
		return c;
	case H_NOTRING:
		/* a mapped page of zeros: not a context */
		return mem(K_VALID, NULL, 0);
	default: {
		/* a page that looks like an empty ring: magic, head == tail */
		struct t_aio_ring r = { .nr = 8, .magic = 0xa10a10a1, .header_length = 32 };
		return mem(K_VALID, &r, sizeof(r));
	}
	}
}

/* ---- requests --------------------------------------------------------- */

static int g_fd;  /* 8 KiB of pattern, cached */
static int g_wfd; /* scratch file for writes */
static unsigned char g_buf[4][8192] __attribute__((aligned(4096)));
static struct iocb g_io[4];

static struct iocb *prep_read(int i)
{
	io_prep_pread(&g_io[i], g_fd, g_buf[i], 512, 0);
	g_io[i].data = (void *)(uintptr_t)(0x40 + i);
	return &g_io[i];
}

/* A poll on an empty pipe: pending until written or cancelled. */
static struct iocb *prep_pending_poll(int i)
{
	int p[2];
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&g_io[i], p[0], POLLIN);
	g_io[i].data = (void *)(uintptr_t)(0x40 + i);
	return &g_io[i];
}

/* Wait until the ring at the handle holds n events. */
static void wait_ring(io_context_t ctx, unsigned n)
{
	struct t_aio_ring *ring = (struct t_aio_ring *)ctx;
	double deadline = t_now() + 2.0;

	T_ASSERT(ring->magic == 0xa10a10a1 && ring->nr > 0);
	for (;;) {
		unsigned head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
		unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		if ((tail + ring->nr - head) % ring->nr >= n)
			return;
		T_ASSERTF(t_now() < deadline, "events did not arrive in the ring");
		t_msleep(1);
	}
}

/* A context with n (1..4) completed reads waiting to be reaped. */
static io_context_t ctx_pending(int n)
{
	io_context_t ctx = t_setup(8);
	struct iocb *list[4];

	for (int i = 0; i < n; i++)
		list[i] = prep_read(i);
	T_ASSERT(T_CALL(io_submit(ctx, n, list)) == n);
	wait_ring(ctx, (unsigned)n);
	return ctx;
}

/* Reap up to n events (2 s at most) and print their res in the order of
 * `known`; obj=BAD for an event that is none of them. */
static void reap_show(io_context_t ctx, int n, struct iocb *const *known, int nknown)
{
	struct io_event evs[8];
	int got = 0;
	double deadline = t_now() + 2.0;

	while (got < n && t_now() < deadline) {
		struct timespec ts = MS(100);
		int r = T_CALL(io_getevents(ctx, 1, n - got, evs + got, &ts));
		if (r < 0) {
			printf(" reap=%s", t_err(r));
			break;
		}
		got += r;
	}
	t_sort_events(evs, got, known, nknown);
	for (int i = 0; i < got; i++) {
		printf(" res=%s", t_err((long)evs[i].res));
		if (t_event_index(&evs[i], known, nknown) < 0)
			printf(" obj=BAD");
	}
	if (got < n)
		printf(" events=%d/%d", got, n);
}

/* io_submit one iocb; print the result and, if accepted, its event. */
static void submit_one(io_context_t ctx, struct iocb *io)
{
	struct iocb *list[1] = { io };
	int r = T_CALL(io_submit(ctx, 1, list));
	printf("submit=%s", t_err(r));
	if (r == 1)
		reap_show(ctx, 1, list, 1);
}

static void show(int r)
{
	printf("%s", t_err(r));
}

/* A raw syscall()'s result: "-1 -EFAULT" or the value. */
static void show_raw(long r)
{
	if (r == -1)
		printf("-1 errno=%s", t_err(-errno));
	else
		printf("%ld", r);
}

/* ---- io_setup, io_queue_init, io_destroy, io_queue_release ------------ */

static void c_setup(long kind, long nr)
{
	io_context_t *p = mem((int)kind, NULL, 0);
	show(T_CALL(io_setup((int)nr, p)));
}

static void c_setup_nr(long nr, long unused)
{
	(void)unused;
	io_context_t ctx = 0;
	int r = T_CALL(io_setup((int)nr, &ctx));
	show(r);
	printf(" ctx_zero=%d", ctx == 0);
}

static void c_setup_nonzero(long unused1, long unused2)
{
	(void)unused1, (void)unused2;
	io_context_t ctx = (io_context_t)GARBAGE;
	show(T_CALL(io_setup(8, &ctx)));
	printf(" ctx_kept=%d", ctx == (io_context_t)GARBAGE);
}

static void c_queue_init(long kind, long nr)
{
	io_context_t *p = mem((int)kind, NULL, 0);
	show(T_CALL(io_queue_init((int)nr, p)));
}

static void c_destroy(long h, long release)
{
	io_context_t ctx = handle((int)h);
	show(release ? T_CALL(io_queue_release(ctx)) : T_CALL(io_destroy(ctx)));
}

/* ---- io_submit ---------------------------------------------------------- */

static void c_submit_handle(long h, long null_array)
{
	io_context_t ctx = handle((int)h);
	struct iocb *list[1] = { prep_read(0) };
	show(T_CALL(io_submit(ctx, 1, null_array ? NULL : list)));
}

/* nr against an array of one read followed by a PROT_NONE page (or NULL) */
static void c_submit_nr(long nr, long null_array)
{
	io_context_t ctx = t_setup(8);
	struct iocb *one = prep_read(0);
	struct iocb **list = null_array ? NULL : at_edge(K_PROTNONE, &one, sizeof(one));
	show(T_CALL(io_submit(ctx, nr, list)));
}

/* the iocb array itself */
static void c_submit_array(long kind, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	struct iocb *one = prep_read(0);
	struct iocb **list = mem((int)kind, &one, sizeof(one));
	int r = T_CALL(io_submit(ctx, 1, list));
	printf("submit=%s", t_err(r));
	if (r == 1)
		reap_show(ctx, 1, &one, 1);
}

/* two entries, the second in a PROT_NONE or unmapped page */
static void c_submit_array_edge(long kind, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	struct iocb *one = prep_read(0);
	struct iocb **list = at_edge((int)kind, &one, sizeof(one));
	int r = T_CALL(io_submit(ctx, 2, list));
	printf("submit=%s", t_err(r));
	if (r >= 1)
		reap_show(ctx, r, &one, 1);
}

/* an iocb pointer of the given kind at position pos (0 or 1) of the array;
 * a read-only iocb is a valid read the kernel cannot write aio_key into */
static void c_submit_iocb(long kind, long pos)
{
	io_context_t ctx = t_setup(8);
	struct iocb *good = prep_read(0);
	struct iocb *bad = mem((int)kind, prep_read(1), sizeof(struct iocb));
	struct iocb *list[2] = { good, bad };
	int r = T_CALL(io_submit(ctx, pos + 1, pos ? list : list + 1));
	printf("submit=%s", t_err(r));
	if (r >= 1)
		reap_show(ctx, r, list, 2);
}

/* PREADV/PWRITEV whose iovec array is of the given kind */
static void c_vec_array(long kind, long write)
{
	io_context_t ctx = t_setup(8);
	struct iovec iov = { g_buf[0], 512 };
	struct iovec *v = mem((int)kind, &iov, sizeof(iov));
	struct iocb io;
	if (write)
		io_prep_pwritev(&io, g_wfd, v, 1, 0);
	else
		io_prep_preadv(&io, g_fd, v, 1, 0);
	submit_one(ctx, &io);
}

/* iovec counts and lengths: b = 0: iovcnt a with a NULL array; b = 1:
 * one iovec of length a */
static void c_vec_count(long a, long b)
{
	io_context_t ctx = t_setup(8);
	struct iovec iov = { g_buf[0], (size_t)a };
	struct iocb io;
	if (b)
		io_prep_preadv(&io, g_fd, &iov, 1, 0);
	else
		io_prep_preadv(&io, g_fd, NULL, 0, 0);
	if (!b)
		io.u.c.nbytes = (unsigned long)a;
	submit_one(ctx, &io);
}

/* the buffer of PREAD/PWRITE (vectored if vec) is of the given kind; a
 * read-only buffer is fine for a write only */
static void c_buffer(long kind, long mode)
{
	int write = mode & 1, vec = mode & 2;
	io_context_t ctx = t_setup(8);
	void *buf = mem((int)kind, g_buf[0], 512);
	struct iovec iov = { buf, 512 };
	struct iocb io;
	if (vec) {
		if (write)
			io_prep_pwritev(&io, g_wfd, &iov, 1, 0);
		else
			io_prep_preadv(&io, g_fd, &iov, 1, 0);
	} else {
		if (write)
			io_prep_pwrite(&io, g_wfd, buf, 512, 0);
		else
			io_prep_pread(&io, g_fd, buf, 512, 0);
	}
	submit_one(ctx, &io);
}

/* a read of 8 KiB into one page followed by a PROT_NONE or unmapped one */
static void c_buffer_edge(long kind, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	void *buf = at_edge((int)kind, g_buf[0], PAGE);
	struct iocb io;
	io_prep_pread(&io, g_fd, buf, 8192, 0);
	submit_one(ctx, &io);
}

enum {
	F_RESERVED2, F_RWF_HIGH, F_RWF_0x10000, F_NBYTES_NEG, F_OFFSET_NEG, F_OFFSET_HUGE,
	F_KEY_GARBAGE, F_FLAGS_UNKNOWN, F_PRIO_CLASS7, F_PRIO_NONE_LEVEL, F_PRIO_NOFLAG,
	F_POLL_EVENTS_HIGH, F_POLL_NBYTES, F_POLL_OFFSET, F_POLL_RWF, F_FSYNC_BUF,
	F_FSYNC_NBYTES, F_RESFD_MINUS1, F_RESFD_FILE, F_RESFD_CLOSED,
};

static void c_field(long which, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	struct iocb io;
	int p[2];
	uint64_t v;

	io_prep_pread(&io, g_fd, g_buf[0], 512, 0);
	switch (which) {
	case F_RESERVED2:
		v = 1;
		memcpy((char *)&io + 48, &v, sizeof(v)); /* aio_reserved2 */
		break;
	case F_RWF_HIGH:
		io.aio_rw_flags = 0x80000000u;
		break;
	case F_RWF_0x10000:
		io.aio_rw_flags = 0x10000;
		break;
	case F_NBYTES_NEG:
		io.u.c.nbytes = (unsigned long)-1L;
		break;
	case F_OFFSET_NEG:
		io.u.c.offset = -1;
		break;
	case F_OFFSET_HUGE:
		io.u.c.offset = LLONG_MAX;
		break;
	case F_KEY_GARBAGE:
		io.key = 0xdead;
		break;
	case F_FLAGS_UNKNOWN:
		io.u.c.flags = 0xfffffffcu;
		break;
	case F_PRIO_CLASS7:
		io.u.c.flags = T_IOCB_FLAG_IOPRIO;
		io.aio_reqprio = (short)(7 << 13);
		break;
	case F_PRIO_NONE_LEVEL:
		io.u.c.flags = T_IOCB_FLAG_IOPRIO;
		io.aio_reqprio = 5;
		break;
	case F_PRIO_NOFLAG:
		io.aio_reqprio = -1;
		break;
	case F_POLL_EVENTS_HIGH:
	case F_POLL_NBYTES:
	case F_POLL_OFFSET:
	case F_POLL_RWF:
		T_ASSERT(pipe(p) == 0);
		io_prep_poll(&io, p[1], POLLOUT);
		if (which == F_POLL_EVENTS_HIGH)
			io.u.c.buf = (void *)(uintptr_t)0x10004;
		else if (which == F_POLL_NBYTES)
			io.u.c.nbytes = 1;
		else if (which == F_POLL_OFFSET)
			io.u.c.offset = 1;
		else
			io.aio_rw_flags = T_RWF_HIPRI;
		break;
	case F_FSYNC_BUF:
		io_prep_fsync(&io, g_fd);
		io.u.c.buf = g_buf[0];
		break;
	case F_FSYNC_NBYTES:
		io_prep_fsync(&io, g_fd);
		io.u.c.nbytes = 512;
		break;
	case F_RESFD_MINUS1:
		io_set_eventfd(&io, -1);
		break;
	case F_RESFD_FILE:
		io_set_eventfd(&io, g_fd);
		break;
	case F_RESFD_CLOSED:
		io_set_eventfd(&io, 1000);
		break;
	}
	submit_one(ctx, &io);
	if (which == F_KEY_GARBAGE)
		printf(" key=%#x", io.key);
}

static void c_opcode(long op, long fd_minus1)
{
	io_context_t ctx = t_setup(8);
	struct iocb io;
	io_prep_pread(&io, fd_minus1 ? -1 : g_fd, g_buf[0], 512, 0);
	io.aio_lio_opcode = (short)op;
	submit_one(ctx, &io);
}

enum { D_CLOSED, D_MINUS1, D_INTMAX, D_OPATH, D_DIR, D_RDONLY, D_WRONLY, D_PIPE };

static int bad_fd(int which)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", g_fd);
	switch (which) {
	case D_CLOSED:
		fd = dup(g_fd);
		T_ASSERT(fd >= 0 && close(fd) == 0);
		return fd;
	case D_MINUS1:
		return -1;
	case D_INTMAX:
		return INT_MAX;
	case D_OPATH:
		fd = open(path, O_PATH);
		break;
	case D_DIR:
		fd = open(t_dir(), O_RDONLY | O_DIRECTORY);
		break;
	case D_RDONLY:
		fd = open(path, O_RDONLY);
		break;
	case D_WRONLY:
		fd = open(path, O_WRONLY);
		break;
	default: {
		int p[2];
		T_ASSERT(pipe(p) == 0);
		return p[0];
	}
	}
	T_ASSERTF(fd >= 0, "open: %s", strerror(errno));
	return fd;
}

static void c_fd(long which, long op)
{
	io_context_t ctx = t_setup(8);
	int fd = bad_fd((int)which);
	struct iocb io;

	switch (op) {
	case IO_CMD_PREAD:
		io_prep_pread(&io, fd, g_buf[0], 512, 0);
		break;
	case IO_CMD_PWRITE:
		io_prep_pwrite(&io, fd, g_buf[0], 512, 0);
		break;
	case IO_CMD_FSYNC:
		io_prep_fsync(&io, fd);
		break;
	case IO_CMD_FDSYNC:
		io_prep_fdsync(&io, fd);
		break;
	default:
		io_prep_poll(&io, fd, POLLIN);
		break;
	}
	submit_one(ctx, &io);
}

/* ---- io_getevents, io_pgetevents --------------------------------------- */

static void c_gev_handle(long h, long mode)
{
	io_context_t ctx = handle((int)h);
	struct io_event evs[1];
	struct timespec ts = mode & 1 ? MS(1) : t_ts(0, 0);
	if (mode & 2)
		show(T_CALL(io_pgetevents(ctx, 1, 1, evs, &ts, NULL)));
	else
		show(T_CALL(io_getevents(ctx, 1, 1, evs, &ts)));
}

/* events array of the given kind; pending: one event ready. After the
 * call, what a good call then finds. */
static void c_gev_events(long kind, long mode)
{
	int pending = mode & 1, pget = mode & 2, compat = mode & 4;
	io_context_t ctx = pending ? ctx_pending(1) : t_setup(8);
	struct io_event *evs = mem((int)kind, NULL, 0), good[4];
	struct timespec ts = MS(1);
	int r;

	if (compat)
		r = T_CALL(t_getevents_01(ctx, 1, evs, &ts));
	else if (pget)
		r = T_CALL(io_pgetevents(ctx, 1, 1, evs, &ts, NULL));
	else
		r = T_CALL(io_getevents(ctx, 1, 1, evs, &ts));
	show(r);
	printf(" then=%s", t_err(T_CALL(io_getevents(ctx, 0, 4, good, &ts))));
}

/* two events ready, nr 2, the second slot of the array in a PROT_NONE or
 * unmapped page */
static void c_gev_events_edge(long kind, long unused)
{
	(void)unused;
	io_context_t ctx = ctx_pending(2);
	struct io_event blank, good[4];
	memset(&blank, 0, sizeof(blank));
	struct io_event *evs = at_edge((int)kind, &blank, sizeof(blank));
	struct timespec ts = MS(1);
	show(T_CALL(io_getevents(ctx, 2, 2, evs, &ts)));
	printf(" then=%s", t_err(T_CALL(io_getevents(ctx, 0, 4, good, &ts))));
}

/* the timeout of the given kind (readable: 1 ms) on the given handle: 0 a
 * live context (pending: one event ready), else a handle() */
static void c_gev_timeout(long kind, long mode)
{
	int pending = mode & 1, pget = mode & 2, h = (int)(mode >> 2);
	io_context_t ctx = h ? handle(h - 1) : pending ? ctx_pending(1) : t_setup(8);
	struct timespec one = MS(1);
	struct timespec *ts = mem((int)kind, &one, sizeof(one));
	struct io_event evs[4];
	if (pget)
		show(T_CALL(io_pgetevents(ctx, 1, 4, evs, ts, NULL)));
	else
		show(T_CALL(io_getevents(ctx, 1, 4, evs, ts)));
}
#define TO_HANDLE(h) (((h) + 1) << 2)

static const struct {
	long min_nr, nr;
	int zero_timeout;
} g_counts[] = {
	{ -1, 1, 0 }, { 1, -1, 0 }, { 2, 1, 0 }, { 1, 0, 0 }, { 0, 0, 0 },
	{ LONG_MIN, 1, 0 }, { 0, LONG_MIN, 0 }, { 1, LONG_MAX, 0 },
	{ LONG_MAX, LONG_MAX, 0 }, { 0x100000001L, 0x100000001L, 0 },
	{ -1, 1, 1 }, { 2, 1, 1 }, { 0, LONG_MIN, 1 }, { 1, LONG_MAX, 1 },
};

static void c_gev_counts(long i, long mode)
{
	int pending = mode & 1, pget = mode & 2;
	io_context_t ctx = pending ? ctx_pending(1) : t_setup(8);
	struct io_event evs[4];
	struct timespec ts = g_counts[i].zero_timeout ? t_ts(0, 0) : MS(1);
	if (pget)
		show(T_CALL(io_pgetevents(ctx, g_counts[i].min_nr, g_counts[i].nr, evs, &ts, NULL)));
	else
		show(T_CALL(io_getevents(ctx, g_counts[i].min_nr, g_counts[i].nr, evs, &ts)));
}

/* io_pgetevents' sigmask of the given kind (readable: empty set) */
static void c_pgev_sigmask(long kind, long mode)
{
	int pending = mode & 1, zero = mode & 2;
	io_context_t ctx = pending ? ctx_pending(1) : t_setup(8);
	sigset_t empty;
	sigemptyset(&empty);
	sigset_t *mask = mem((int)kind, &empty, sizeof(empty));
	struct io_event evs[4];
	struct timespec ts = zero ? t_ts(0, 0) : MS(1);
	show(T_CALL(io_pgetevents(ctx, 1, 4, evs, &ts, mask)));
}

/* ---- glibc's syscall() with the io_* numbers (the library serves it) --- */

struct t_aio_sigset {
	const sigset_t *sigmask;
	size_t sigsetsize;
};

enum { R_USIG, R_USIG_MASK, R_USIG_LEN4, R_USIG_LEN128, R_TIMEOUT, R_TIMEOUT_PENDING,
       R_EVENTS_PENDING, R_SUBMIT_ARRAY, R_SUBMIT_IOCB, R_CANCEL_IOCB };

static void c_raw(long kind, long which)
{
	int pending = which == R_TIMEOUT_PENDING || which == R_EVENTS_PENDING;
	io_context_t ctx = pending ? ctx_pending(1) : t_setup(8);
	struct io_event evs[4];
	struct timespec one = MS(1);
	sigset_t empty;
	sigemptyset(&empty);
	struct t_aio_sigset usig = { &empty, _NSIG / 8 };
	struct iocb *io = prep_read(0);
	long r;

	errno = 0;
	switch (which) {
	case R_USIG:
		r = syscall(__NR_io_pgetevents, ctx, 1L, 4L, evs, &one,
			    mem((int)kind, &usig, sizeof(usig)));
		break;
	case R_USIG_MASK:
		usig.sigmask = mem((int)kind, &empty, sizeof(empty));
		r = syscall(__NR_io_pgetevents, ctx, 1L, 4L, evs, &one, &usig);
		break;
	case R_USIG_LEN4:
	case R_USIG_LEN128:
		usig.sigsetsize = which == R_USIG_LEN4 ? 4 : 128;
		r = syscall(__NR_io_pgetevents, ctx, 1L, 4L, evs, &one, &usig);
		break;
	case R_TIMEOUT:
	case R_TIMEOUT_PENDING:
		r = syscall(__NR_io_getevents, ctx, 1L, 4L, evs, mem((int)kind, &one, sizeof(one)));
		break;
	case R_EVENTS_PENDING:
		r = syscall(__NR_io_getevents, ctx, 1L, 4L, mem((int)kind, NULL, 0), &one);
		break;
	case R_SUBMIT_ARRAY:
		r = syscall(__NR_io_submit, ctx, 1L, mem((int)kind, &io, sizeof(io)));
		break;
	case R_SUBMIT_IOCB: {
		struct iocb *list[1] = { mem((int)kind, io, sizeof(*io)) };
		r = syscall(__NR_io_submit, ctx, 1L, list);
		break;
	}
	default:
		r = syscall(__NR_io_cancel, ctx, mem((int)kind, NULL, 0), evs);
		break;
	}
	show_raw(r);
}

/* ---- io_cancel ---------------------------------------------------------- */

/* the iocb pointer is of the given kind (a zeroed iocb where readable) on a
 * live context (h < 0) or on handle(h) */
static void c_cancel_iocb(long kind, long h)
{
	io_context_t ctx = h < 0 ? t_setup(8) : handle((int)h);
	struct iocb zero;
	memset(&zero, 0, sizeof(zero));
	struct iocb *io = mem((int)kind, &zero, sizeof(zero));
	struct io_event ev;
	show(T_CALL(io_cancel(ctx, io, &ev)));
}

/* a zeroed iocb (never submitted) on handle(h) */
static void c_cancel_handle(long h, long unused)
{
	(void)unused;
	c_cancel_iocb(K_VALID, h);
}

/* the result pointer is of the given kind, the iocb a pending poll */
static void c_cancel_result(long kind, long compat)
{
	io_context_t ctx = t_setup(8);
	struct iocb *io = prep_pending_poll(0);
	t_submit1(ctx, io);
	struct io_event *res = mem((int)kind, NULL, 0);
	int r = compat ? T_CALL(t_cancel_01(ctx, io)) : T_CALL(io_cancel(ctx, io, res));
	printf("cancel=%s", t_err(r));
	reap_show(ctx, 1, &io, 1);
}

enum { X_NEVER, X_NEVER_KEY, X_REAPED, X_UNREAPED, X_POLL_FIRED, X_COPY, X_TWICE,
       X_OTHER_CTX, X_NULL_CTX, X_GARBAGE_CTX, X_KERNEL_CTX, X_DESTROYED_CTX };

static void c_cancel_state(long which, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8), other;
	struct iocb *io, copy;
	struct io_event ev;
	struct timespec ts = MS(1);
	int p[2];

	switch (which) {
	case X_NEVER:
	case X_NEVER_KEY:
		io = prep_read(0);
		if (which == X_NEVER_KEY)
			io->key = 0x12345678;
		show(T_CALL(io_cancel(ctx, io, &ev)));
		break;
	case X_REAPED:
	case X_UNREAPED:
		ctx = ctx_pending(1);
		io = &g_io[0];
		if (which == X_REAPED)
			T_ASSERT(T_CALL(io_getevents(ctx, 1, 1, &ev, &ts)) == 1);
		show(T_CALL(io_cancel(ctx, io, &ev)));
		printf(" then=%s", t_err(T_CALL(io_getevents(ctx, 0, 1, &ev, &ts))));
		break;
	case X_POLL_FIRED:
		T_ASSERT(pipe(p) == 0);
		io = &g_io[0];
		io_prep_poll(io, p[1], POLLOUT);
		t_submit1(ctx, io);
		wait_ring(ctx, 1);
		show(T_CALL(io_cancel(ctx, io, &ev)));
		reap_show(ctx, 1, &io, 1);
		break;
	case X_COPY:
		io = prep_pending_poll(0);
		t_submit1(ctx, io);
		copy = *io;
		printf("copy=%s", t_err(T_CALL(io_cancel(ctx, &copy, &ev))));
		printf(" original=%s", t_err(T_CALL(io_cancel(ctx, io, &ev))));
		reap_show(ctx, 1, &io, 1);
		break;
	case X_TWICE:
		io = prep_pending_poll(0);
		t_submit1(ctx, io);
		printf("first=%s", t_err(T_CALL(io_cancel(ctx, io, &ev))));
		printf(" second=%s", t_err(T_CALL(io_cancel(ctx, io, &ev))));
		reap_show(ctx, 1, &io, 1);
		break;
	default:
		io = prep_pending_poll(0);
		t_submit1(ctx, io);
		other = which == X_OTHER_CTX ? t_setup(8) :
			which == X_NULL_CTX ? handle(H_NULL) :
			which == X_GARBAGE_CTX ? handle(H_GARBAGE) :
			which == X_KERNEL_CTX ? handle(H_KERNEL) : handle(H_DESTROYED);
		printf("elsewhere=%s", t_err(T_CALL(io_cancel(other, io, &ev))));
		printf(" own=%s", t_err(T_CALL(io_cancel(ctx, io, &ev))));
		reap_show(ctx, 1, &io, 1);
		break;
	}
}

/* ---- io_queue_run, io_queue_wait, LIBAIO_0.1 ---------------------------- */

static void c_queue_run_handle(long h, long unused)
{
	(void)unused;
	show(T_CALL(io_queue_run(handle((int)h))));
}

/* one event ready whose data (the callback) is the given address */
static void c_queue_run_data(long data, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	struct iocb *io = prep_read(0);
	io->data = (void *)(uintptr_t)data;
	t_submit1(ctx, io);
	wait_ring(ctx, 1);
	show(T_CALL(io_queue_run(ctx)));
}

/* the timeout of the given kind (readable: 1 ms); mode bit 0: live
 * context, else NULL; bit 1: the LIBAIO_0.1 version */
static void c_queue_wait(long kind, long mode)
{
	io_context_t ctx = mode & 1 ? t_setup(8) : NULL;
	struct timespec one = MS(1);
	struct timespec *ts = mem((int)kind, &one, sizeof(one));
	show(mode & 2 ? T_CALL(t_queue_wait_01(ctx, ts)) : T_CALL(io_queue_wait(ctx, ts)));
}

static void c_compat_cancel(long kind, long unused)
{
	(void)unused;
	io_context_t ctx = t_setup(8);
	struct iocb zero;
	memset(&zero, 0, sizeof(zero));
	show(T_CALL(t_cancel_01(ctx, mem((int)kind, &zero, sizeof(zero)))));
}

static void c_compat_gev_nullctx(long kind, long unused)
{
	(void)unused;
	struct timespec one = MS(1);
	struct io_event evs[1];
	show(T_CALL(t_getevents_01(NULL, 1, evs, mem((int)kind, &one, sizeof(one)))));
}

/* ---- the table ------------------------------------------------------------ */

#define LIBAIO_CRASH 1
/* The library's io_submit reads the iocb array and the iocbs in user space
 * on its hot path, unchecked beyond the user range: memory there that is
 * unmapped, PROT_NONE or (for an iocb, whose aio_key is written) read-only
 * faults as the program's own access would, where the kernel says -EFAULT
 * (README, the io_uring engine's differences: a check per page cost 12% of
 * the instructions per request). Printed only with HOSTILE_ALL=1. */
#define HOT_PATH_READ 2

struct hcase {
	const char *name; /* NULL fn: a heading */
	void (*fn)(long, long);
	long a, b;
	int flags;
};

#define C(name, fn, a, b) { name, fn, a, b, 0 }
#define X(name, fn, a, b) { name, fn, a, b, LIBAIO_CRASH }
#define D(name, fn, a, b) { name, fn, a, b, HOT_PATH_READ }
#define HEAD(name) { name, NULL, 0, 0, 0 }

/* five kinds of pointer, and the subsets that apply */
#define KINDS5(pfx, fn, b)                                                  \
	C(pfx "NULL", fn, K_NULL, b), C(pfx "kernel-half", fn, K_KERNEL, b),  \
	C(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	C(pfx "read-only", fn, K_RDONLY, b),                                  \
	C(pfx "unmapped", fn, K_UNMAPPED, b)
#define DKINDS5(pfx, fn, b)                                                 \
	C(pfx "NULL", fn, K_NULL, b), C(pfx "kernel-half", fn, K_KERNEL, b),  \
	D(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	D(pfx "read-only", fn, K_RDONLY, b),                                  \
	D(pfx "unmapped", fn, K_UNMAPPED, b)
#define DKINDS5R(pfx, fn, b)                                                \
	C(pfx "NULL", fn, K_NULL, b), C(pfx "kernel-half", fn, K_KERNEL, b),  \
	D(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	C(pfx "read-only", fn, K_RDONLY, b),                                  \
	D(pfx "unmapped", fn, K_UNMAPPED, b)
#define KINDS4(pfx, fn, b)                                                  \
	C(pfx "NULL", fn, K_NULL, b), C(pfx "kernel-half", fn, K_KERNEL, b),  \
	C(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	C(pfx "unmapped", fn, K_UNMAPPED, b)
#define KINDS4R(pfx, fn, b)                                                 \
	C(pfx "kernel-half", fn, K_KERNEL, b),                                \
	C(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	C(pfx "read-only", fn, K_RDONLY, b),                                  \
	C(pfx "unmapped", fn, K_UNMAPPED, b)
#define KINDS3(pfx, fn, b)                                                  \
	C(pfx "kernel-half", fn, K_KERNEL, b),                                \
	C(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	C(pfx "unmapped", fn, K_UNMAPPED, b)
#define XKINDS5(pfx, fn, b)                                                 \
	X(pfx "NULL", fn, K_NULL, b), X(pfx "kernel-half", fn, K_KERNEL, b),  \
	X(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	X(pfx "read-only", fn, K_RDONLY, b),                                  \
	X(pfx "unmapped", fn, K_UNMAPPED, b)
#define XKINDS3(pfx, fn, b)                                                 \
	X(pfx "kernel-half", fn, K_KERNEL, b),                                \
	X(pfx "PROT_NONE", fn, K_PROTNONE, b),                                \
	X(pfx "unmapped", fn, K_UNMAPPED, b)
/* bad handles for the calls that are plain syscalls under libaio */
#define HANDLES(pfx, fn, b)                                                 \
	C(pfx "0", fn, H_NULL, b), C(pfx "0x1234000", fn, H_GARBAGE, b),      \
	C(pfx "kernel-half", fn, H_KERNEL, b),                                \
	C(pfx "destroyed", fn, H_DESTROYED, b),                               \
	C(pfx "destroyed twice", fn, H_DESTROYED2, b),                        \
	C(pfx "a page of zeros", fn, H_NOTRING, b),                           \
	C(pfx "a fake empty ring", fn, H_FAKERING, b)
/* ... and for those where libaio reads the ring at a non-NULL handle */
#define RHANDLES(pfx, fn, b)                                                \
	C(pfx "0", fn, H_NULL, b), X(pfx "0x1234000", fn, H_GARBAGE, b),      \
	X(pfx "kernel-half", fn, H_KERNEL, b),                                \
	X(pfx "destroyed", fn, H_DESTROYED, b),                               \
	X(pfx "destroyed twice", fn, H_DESTROYED2, b),                        \
	C(pfx "a page of zeros", fn, H_NOTRING, b),                           \
	C(pfx "a fake empty ring", fn, H_FAKERING, b)
#define COUNTS(pfx, mode)                                                           \
	C(pfx "min_nr -1 nr 1", c_gev_counts, 0, mode),                             \
	C(pfx "min_nr 1 nr -1", c_gev_counts, 1, mode),                             \
	C(pfx "min_nr 2 nr 1", c_gev_counts, 2, mode),                              \
	C(pfx "min_nr 1 nr 0", c_gev_counts, 3, mode),                              \
	C(pfx "min_nr 0 nr 0", c_gev_counts, 4, mode),                              \
	C(pfx "min_nr LONG_MIN", c_gev_counts, 5, mode),                            \
	C(pfx "nr LONG_MIN", c_gev_counts, 6, mode),                                \
	C(pfx "nr LONG_MAX", c_gev_counts, 7, mode),                                \
	C(pfx "min_nr nr LONG_MAX", c_gev_counts, 8, mode),                         \
	C(pfx "min_nr nr 2^32+1", c_gev_counts, 9, mode),                           \
	C(pfx "zero timeout, min_nr -1", c_gev_counts, 10, mode),                   \
	C(pfx "zero timeout, min_nr 2 nr 1", c_gev_counts, 11, mode),               \
	C(pfx "zero timeout, nr LONG_MIN", c_gev_counts, 12, mode),                 \
	C(pfx "zero timeout, nr LONG_MAX", c_gev_counts, 13, mode)

static const struct hcase g_cases[] = {
	HEAD("io_setup"),
	KINDS5("io_setup(8) ctxp ", c_setup, 8),
	C("io_setup(0) ctxp unmapped", c_setup, K_UNMAPPED, 0),
	C("io_setup(-1) ctxp NULL", c_setup, K_NULL, -1),
	C("io_setup(0)", c_setup_nr, 0, 0),
	C("io_setup(-1)", c_setup_nr, -1, 0),
	C("io_setup(INT_MAX)", c_setup_nr, INT_MAX, 0),
	C("io_setup(INT_MIN)", c_setup_nr, INT_MIN, 0),
	C("io_setup(8) *ctxp garbage", c_setup_nonzero, 0, 0),

	HEAD("io_queue_init"),
	X("io_queue_init(8) ctxp NULL", c_queue_init, K_NULL, 8),
	X("io_queue_init(8) ctxp kernel-half", c_queue_init, K_KERNEL, 8),
	X("io_queue_init(8) ctxp PROT_NONE", c_queue_init, K_PROTNONE, 8),
	X("io_queue_init(8) ctxp read-only", c_queue_init, K_RDONLY, 8),
	X("io_queue_init(8) ctxp unmapped", c_queue_init, K_UNMAPPED, 8),
	C("io_queue_init(0) ctxp NULL", c_queue_init, K_NULL, 0),
	C("io_queue_init(-1) ctxp unmapped", c_queue_init, K_UNMAPPED, -1),
	C("io_queue_init(INT_MAX)", c_queue_init, K_VALID, INT_MAX),
	C("io_queue_init(INT_MIN)", c_queue_init, K_VALID, INT_MIN),

	HEAD("io_destroy, io_queue_release"),
	HANDLES("io_destroy ", c_destroy, 0),
	HANDLES("io_queue_release ", c_destroy, 1),

	HEAD("io_submit: handles"),
	HANDLES("io_submit ctx ", c_submit_handle, 0),
	C("io_submit ctx 0x1234000, iocbs NULL", c_submit_handle, H_GARBAGE, 1),
	C("io_submit ctx destroyed, iocbs NULL", c_submit_handle, H_DESTROYED, 1),

	HEAD("io_submit: counts (one read, then a PROT_NONE page)"),
	C("io_submit nr -1", c_submit_nr, -1, 0),
	C("io_submit nr LONG_MIN", c_submit_nr, LONG_MIN, 0),
	C("io_submit nr 0", c_submit_nr, 0, 0),
	C("io_submit nr 0, iocbs NULL", c_submit_nr, 0, 1),
	D("io_submit nr 2", c_submit_nr, 2, 0),
	D("io_submit nr LONG_MAX", c_submit_nr, LONG_MAX, 0),
	D("io_submit nr 2^32", c_submit_nr, 0x100000000L, 0),
	D("io_submit nr 2^32+1", c_submit_nr, 0x100000001L, 0),
	C("io_submit nr LONG_MAX, iocbs NULL", c_submit_nr, LONG_MAX, 1),

	HEAD("io_submit: the iocb array and its iocbs"),
	DKINDS5R("io_submit iocbs ", c_submit_array, 0),
	D("io_submit iocbs[1] in a PROT_NONE page", c_submit_array_edge, K_PROTNONE, 0),
	D("io_submit iocbs[1] in an unmapped page", c_submit_array_edge, K_UNMAPPED, 0),
	DKINDS5("io_submit iocbs[0] ", c_submit_iocb, 0),
	DKINDS5("io_submit iocbs[1] ", c_submit_iocb, 1),

	HEAD("io_submit: iovecs and buffers"),
	KINDS5("PREADV iovec array ", c_vec_array, 0),
	KINDS5("PWRITEV iovec array ", c_vec_array, 1),
	C("PREADV iovcnt 0, iovecs NULL", c_vec_count, 0, 0),
	C("PREADV iovcnt 1025", c_vec_count, 1025, 0),
	C("PREADV iovcnt -1", c_vec_count, -1, 0),
	C("PREADV iov_len SIZE_MAX", c_vec_count, -1, 1),
	C("PREADV iov_len 0", c_vec_count, 0, 1),
	KINDS5("PREAD buffer ", c_buffer, 0),
	KINDS5("PWRITE buffer ", c_buffer, 1),
	KINDS5("PREADV buffer ", c_buffer, 2),
	KINDS5("PWRITEV buffer ", c_buffer, 3),
	C("PREAD 8 KiB, second page PROT_NONE", c_buffer_edge, K_PROTNONE, 0),
	C("PREAD 8 KiB, second page unmapped", c_buffer_edge, K_UNMAPPED, 0),

	HEAD("io_submit: fields, opcodes, flags, priorities"),
	C("aio_reserved2 1", c_field, F_RESERVED2, 0),
	C("aio_rw_flags 0x80000000", c_field, F_RWF_HIGH, 0),
	C("aio_rw_flags 0x10000", c_field, F_RWF_0x10000, 0),
	C("aio_nbytes -1", c_field, F_NBYTES_NEG, 0),
	C("aio_offset -1", c_field, F_OFFSET_NEG, 0),
	C("aio_offset LLONG_MAX", c_field, F_OFFSET_HUGE, 0),
	C("aio_key 0xdead", c_field, F_KEY_GARBAGE, 0),
	C("aio_flags unknown bits", c_field, F_FLAGS_UNKNOWN, 0),
	C("IOPRIO class 7", c_field, F_PRIO_CLASS7, 0),
	C("IOPRIO class NONE level 5", c_field, F_PRIO_NONE_LEVEL, 0),
	C("aio_reqprio -1 without IOPRIO", c_field, F_PRIO_NOFLAG, 0),
	C("POLL events 0x10004", c_field, F_POLL_EVENTS_HIGH, 0),
	C("POLL aio_nbytes 1", c_field, F_POLL_NBYTES, 0),
	C("POLL aio_offset 1", c_field, F_POLL_OFFSET, 0),
	C("POLL aio_rw_flags HIPRI", c_field, F_POLL_RWF, 0),
	C("FSYNC aio_buf set", c_field, F_FSYNC_BUF, 0),
	C("FSYNC aio_nbytes 512", c_field, F_FSYNC_NBYTES, 0),
	C("RESFD -1", c_field, F_RESFD_MINUS1, 0),
	C("RESFD a regular file", c_field, F_RESFD_FILE, 0),
	C("RESFD closed", c_field, F_RESFD_CLOSED, 0),
	C("opcode 4", c_opcode, 4, 0),
	C("opcode 6 (NOOP)", c_opcode, 6, 0),
	C("opcode 9", c_opcode, 9, 0),
	C("opcode 10", c_opcode, 10, 0),
	C("opcode 0x7fff", c_opcode, 0x7fff, 0),
	C("opcode -1", c_opcode, -1, 0),
	C("opcode 9, fd -1", c_opcode, 9, 1),

	HEAD("io_submit: descriptors"),
	C("PREAD fd closed", c_fd, D_CLOSED, IO_CMD_PREAD),
	C("PREAD fd -1", c_fd, D_MINUS1, IO_CMD_PREAD),
	C("PREAD fd INT_MAX", c_fd, D_INTMAX, IO_CMD_PREAD),
	C("PREAD fd O_PATH", c_fd, D_OPATH, IO_CMD_PREAD),
	C("PREAD fd directory", c_fd, D_DIR, IO_CMD_PREAD),
	C("PREAD fd O_WRONLY", c_fd, D_WRONLY, IO_CMD_PREAD),
	C("PWRITE fd O_PATH", c_fd, D_OPATH, IO_CMD_PWRITE),
	C("PWRITE fd directory", c_fd, D_DIR, IO_CMD_PWRITE),
	C("PWRITE fd O_RDONLY", c_fd, D_RDONLY, IO_CMD_PWRITE),
	C("FSYNC fd closed", c_fd, D_CLOSED, IO_CMD_FSYNC),
	C("FSYNC fd O_PATH", c_fd, D_OPATH, IO_CMD_FSYNC),
	C("FSYNC fd directory", c_fd, D_DIR, IO_CMD_FSYNC),
	C("FSYNC fd pipe", c_fd, D_PIPE, IO_CMD_FSYNC),
	C("FDSYNC fd -1", c_fd, D_MINUS1, IO_CMD_FDSYNC),
	C("POLL fd closed", c_fd, D_CLOSED, IO_CMD_POLL),
	C("POLL fd O_PATH", c_fd, D_OPATH, IO_CMD_POLL),
	C("POLL fd directory", c_fd, D_DIR, IO_CMD_POLL),
	C("POLL fd regular file", c_fd, D_RDONLY, IO_CMD_POLL),

	HEAD("io_getevents, io_pgetevents: handles"),
	RHANDLES("io_getevents 1 ms ctx ", c_gev_handle, 1),
	RHANDLES("io_getevents zero timeout ctx ", c_gev_handle, 0),
	RHANDLES("io_pgetevents 1 ms ctx ", c_gev_handle, 3),
	RHANDLES("io_pgetevents zero timeout ctx ", c_gev_handle, 2),

	HEAD("io_getevents, io_pgetevents: events array"),
	KINDS5("io_getevents none pending, events ", c_gev_events, 0),
	KINDS5("io_getevents 1 pending, events ", c_gev_events, 1),
	KINDS5("io_pgetevents none pending, events ", c_gev_events, 2),
	KINDS5("io_pgetevents 1 pending, events ", c_gev_events, 3),
	C("io_getevents 2 pending, events[1] in a PROT_NONE page", c_gev_events_edge, K_PROTNONE, 0),
	C("io_getevents 2 pending, events[1] in an unmapped page", c_gev_events_edge, K_UNMAPPED, 0),

	HEAD("io_getevents, io_pgetevents: timeout"),
	XKINDS3("io_getevents none pending, timeout ", c_gev_timeout, 0),
	XKINDS3("io_getevents 1 pending, timeout ", c_gev_timeout, 1),
	XKINDS3("io_pgetevents none pending, timeout ", c_gev_timeout, 2),
	XKINDS3("io_pgetevents 1 pending, timeout ", c_gev_timeout, 3),
	C("io_getevents none pending, timeout read-only", c_gev_timeout, K_RDONLY, 0),
	C("io_getevents 1 pending, timeout read-only", c_gev_timeout, K_RDONLY, 1),
	KINDS3("io_getevents ctx 0, timeout ", c_gev_timeout, TO_HANDLE(H_NULL)),
	KINDS3("io_pgetevents ctx 0, timeout ", c_gev_timeout, TO_HANDLE(H_NULL) | 2),
	KINDS3("io_getevents ctx a page of zeros, timeout ", c_gev_timeout, TO_HANDLE(H_NOTRING)),
	XKINDS3("io_getevents ctx a fake empty ring, timeout ", c_gev_timeout, TO_HANDLE(H_FAKERING)),
	XKINDS3("io_getevents ctx 0x1234000, timeout ", c_gev_timeout, TO_HANDLE(H_GARBAGE)),

	HEAD("io_getevents, io_pgetevents: counts"),
	COUNTS("io_getevents none pending, ", 0),
	COUNTS("io_getevents 1 pending, ", 1),
	COUNTS("io_pgetevents 1 pending, ", 3),

	HEAD("io_pgetevents: sigmask"),
	KINDS5("io_pgetevents none pending, sigmask ", c_pgev_sigmask, 0),
	KINDS5("io_pgetevents 1 pending, sigmask ", c_pgev_sigmask, 1),
	KINDS5("io_pgetevents zero timeout, none pending, sigmask ", c_pgev_sigmask, 2),
	KINDS5("io_pgetevents zero timeout, 1 pending, sigmask ", c_pgev_sigmask, 3),

	HEAD("syscall(): io_pgetevents usig, io_getevents, io_submit, io_cancel"),
	KINDS5("syscall io_pgetevents usig ", c_raw, R_USIG),
	KINDS5("syscall io_pgetevents usig->sigmask ", c_raw, R_USIG_MASK),
	C("syscall io_pgetevents usig->sigsetsize 4", c_raw, K_VALID, R_USIG_LEN4),
	C("syscall io_pgetevents usig->sigsetsize 128", c_raw, K_VALID, R_USIG_LEN128),
	KINDS4R("syscall io_getevents none pending, timeout ", c_raw, R_TIMEOUT),
	KINDS5("syscall io_getevents 1 pending, timeout ", c_raw, R_TIMEOUT_PENDING),
	KINDS5("syscall io_getevents 1 pending, events ", c_raw, R_EVENTS_PENDING),
	DKINDS5R("syscall io_submit iocbs ", c_raw, R_SUBMIT_ARRAY),
	DKINDS5("syscall io_submit iocbs[0] ", c_raw, R_SUBMIT_IOCB),
	KINDS5("syscall io_cancel iocb ", c_raw, R_CANCEL_IOCB),

	HEAD("io_cancel"),
	KINDS5("io_cancel iocb ", c_cancel_iocb, -1),
	C("io_cancel ctx 0, iocb NULL", c_cancel_iocb, K_NULL, H_NULL),
	C("io_cancel ctx 0x1234000, iocb NULL", c_cancel_iocb, K_NULL, H_GARBAGE),
	C("io_cancel ctx 0x1234000, iocb unmapped", c_cancel_iocb, K_UNMAPPED, H_GARBAGE),
	C("io_cancel ctx destroyed, iocb PROT_NONE", c_cancel_iocb, K_PROTNONE, H_DESTROYED),
	HANDLES("io_cancel iocb never submitted, ctx ", c_cancel_handle, 0),
	KINDS5("io_cancel pending poll, result ", c_cancel_result, 0),
	C("io_cancel never submitted", c_cancel_state, X_NEVER, 0),
	C("io_cancel never submitted, key garbage", c_cancel_state, X_NEVER_KEY, 0),
	C("io_cancel completed and reaped", c_cancel_state, X_REAPED, 0),
	C("io_cancel completed, not reaped", c_cancel_state, X_UNREAPED, 0),
	C("io_cancel poll already fired", c_cancel_state, X_POLL_FIRED, 0),
	C("io_cancel a copy of a pending poll", c_cancel_state, X_COPY, 0),
	C("io_cancel a pending poll twice", c_cancel_state, X_TWICE, 0),
	C("io_cancel pending poll on another context", c_cancel_state, X_OTHER_CTX, 0),
	C("io_cancel pending poll on ctx 0", c_cancel_state, X_NULL_CTX, 0),
	C("io_cancel pending poll on ctx 0x1234000", c_cancel_state, X_GARBAGE_CTX, 0),
	C("io_cancel pending poll on ctx kernel-half", c_cancel_state, X_KERNEL_CTX, 0),
	C("io_cancel pending poll on a destroyed ctx", c_cancel_state, X_DESTROYED_CTX, 0),

	HEAD("io_queue_run, io_queue_wait"),
	RHANDLES("io_queue_run ctx ", c_queue_run_handle, 0),
	X("io_queue_run event data 0", c_queue_run_data, 0, 0),
	C("io_queue_run event data unmapped", c_queue_run_data, (long)GARBAGE, 0),
	C("io_queue_run event data kernel-half", c_queue_run_data, (long)KADDR, 0),
	C("io_queue_wait ctx 0, timeout NULL", c_queue_wait, K_NULL, 0),
	KINDS3("io_queue_wait ctx 0, timeout ", c_queue_wait, 0),
	C("io_queue_wait live ctx, timeout NULL", c_queue_wait, K_NULL, 1),
	C("io_queue_wait live ctx, timeout read-only", c_queue_wait, K_RDONLY, 1),
	XKINDS3("io_queue_wait live ctx, timeout ", c_queue_wait, 1),

	HEAD("LIBAIO_0.1 io_getevents, io_cancel, io_queue_wait"),
	KINDS5("0.1 io_getevents 1 pending, events ", c_gev_events, 5),
	XKINDS3("0.1 io_getevents ctx 0, timeout ", c_compat_gev_nullctx, 0),
	KINDS5("0.1 io_cancel iocb ", c_compat_cancel, 0),
	C("0.1 io_cancel pending poll", c_cancel_result, K_VALID, 1),
	XKINDS3("0.1 io_queue_wait ctx 0, timeout ", c_queue_wait, 2),
	XKINDS3("0.1 io_queue_wait live ctx, timeout ", c_queue_wait, 3),
};

#define NCASES (sizeof(g_cases) / sizeof(g_cases[0]))
#define WINDOW 32

struct running {
	pid_t pid;
	int rfd;
};

static const char *signame(int sig)
{
	static char b[32];
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGABRT: return "SIGABRT";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGTRAP: return "SIGTRAP";
	case SIGALRM: return "SIGALRM";
	case SIGKILL: return "SIGKILL";
	case SIGSYS: return "SIGSYS";
	default:
		snprintf(b, sizeof(b), "signal %d", sig);
		return b;
	}
}

static struct running start(const struct hcase *c)
{
	int p[2];
	T_ASSERT(pipe(p) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		T_ASSERT(dup2(p[1], 1) == 1);
		close(p[1]);
		prctl(PR_SET_DUMPABLE, 0); /* no core files */
		alarm(5);                  /* a hang is a result too */
		c->fn(c->a, c->b);
		exit(0);
	}
	close(p[1]);
	return (struct running){ pid, p[0] };
}

static void finish(const struct hcase *c, struct running r)
{
	char out[1024];
	size_t n = 0;
	ssize_t k;
	int st;

	while ((k = read(r.rfd, out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	close(r.rfd);
	out[n] = 0;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = 0;
	T_ASSERT(waitpid(r.pid, &st, 0) == r.pid);
	printf("%-58s %s", c->name, out);
	if (WIFSIGNALED(st))
		printf("%skilled by %s", n ? " " : "", signame(WTERMSIG(st)));
	else if (WEXITSTATUS(st) != 0)
		printf("%sexit %d", n ? " " : "", WEXITSTATUS(st));
	printf("\n");
}

int main(void)
{
	const char *all_env = getenv("HOSTILE_ALL");
	int all = all_env && strcmp(all_env, "1") == 0;
	struct running run[NCASES];
	size_t next = 0;

	t_unbuffered();
	g_fd = t_tmpfile("hostile");
	t_write_pattern(g_fd, 8192, 3);
	g_wfd = t_tmpfile("hostile-w");
	for (int i = 0; i < 4; i++)
		t_fill(g_buf[i], sizeof(g_buf[i]), 5, 0);

	/* children run WINDOW at a time; results print in table order */
	for (size_t i = 0; i < NCASES; i++) {
		const struct hcase *c = &g_cases[i];
		while (next < NCASES && next < i + WINDOW) {
			const struct hcase *s = &g_cases[next];
			if (s->fn && (all || !s->flags))
				run[next] = start(s);
			next++;
		}
		if (!c->fn)
			printf("-- %s\n", c->name);
		else if (all || !c->flags)
			finish(c, run[i]);
	}
	return 0;
}
