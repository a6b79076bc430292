/* Description: shared helpers for the libaio behaviour tests.
 *
 * Everything here is static inline and t_-prefixed. Only the libaio API from
 * <libaio.h> and libc/Linux headers are used, so the tests build against any
 * header that is source-compatible with libaio's.
 *
 * Conventions (see README.md): print only deterministic facts on stdout, exit
 * 0 on pass, 1 on a failed self-check (T_ASSERT), 77 to skip.
 */
#ifndef T_UTIL_H
#define T_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* iocb->u.c.flags bits (linux/aio_abi.h; libaio's header does not name them). */
#define T_IOCB_FLAG_RESFD  (1u << 0)
#define T_IOCB_FLAG_IOPRIO (1u << 1)

/* RWF_* values for aio_rw_flags (linux/fs.h; spelled out so that old
 * system headers do not matter). */
#define T_RWF_HIPRI  0x01
#define T_RWF_DSYNC  0x02
#define T_RWF_SYNC   0x04
#define T_RWF_NOWAIT 0x08
#define T_RWF_APPEND 0x10

/* Value stored in errno before a library call; it must still be there after. */
#define T_ERRNO_MAGIC 12345

#define T_ASSERT(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fflush(stdout);                                       \
			fprintf(stderr, "%s:%d: assertion failed: %s\n",      \
				__FILE__, __LINE__, #cond);                   \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* Like T_ASSERT, with a printf-style explanation. */
#define T_ASSERTF(cond, ...)                                                  \
	do {                                                                  \
		if (!(cond)) {                                                \
			fflush(stdout);                                       \
			fprintf(stderr, "%s:%d: assertion failed: %s: ",      \
				__FILE__, __LINE__, #cond);                   \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			exit(1);                                              \
		}                                                             \
	} while (0)

/*
 * T_CALL(expr): evaluate a library call with errno preset to T_ERRNO_MAGIC and
 * assert that the call left errno alone (libaio never writes errno, on success
 * or failure). Yields the call's value.
 */
#define T_CALL(expr)                                                          \
	({                                                                    \
		errno = T_ERRNO_MAGIC;                                        \
		__typeof__(expr) t_call_ret_ = (expr);                        \
		T_ASSERTF(errno == T_ERRNO_MAGIC,                             \
			  "errno changed to %d by %s", errno, #expr);         \
		t_call_ret_;                                                  \
	})

static inline void t_skip(const char *reason)
{
	fflush(stdout);
	fprintf(stderr, "SKIP: %s\n", reason);
	exit(77);
}

static inline void t_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Symbolic name of a return value: "0", "4096", "-EINVAL", "-E123". */
static inline const char *t_err(long v)
{
	static __thread char bufs[8][32];
	static __thread unsigned next;
	char *b = bufs[next++ % 8];
	const char *name = NULL;

	if (v >= 0) {
		snprintf(b, sizeof(bufs[0]), "%ld", v);
		return b;
	}
	switch (-v) {
#define T_E(x) case x: name = "-" #x; break;
	T_E(EPERM) T_E(ENOENT) T_E(ESRCH) T_E(EINTR) T_E(EIO) T_E(ENXIO)
	T_E(E2BIG) T_E(EBADF) T_E(ECHILD) T_E(EAGAIN) T_E(ENOMEM) T_E(EACCES)
	T_E(EFAULT) T_E(EBUSY) T_E(EEXIST) T_E(EXDEV) T_E(ENODEV) T_E(ENOTDIR)
	T_E(EISDIR) T_E(EINVAL) T_E(ENFILE) T_E(EMFILE) T_E(ENOTTY) T_E(EFBIG)
	T_E(ENOSPC) T_E(ESPIPE) T_E(EROFS) T_E(EPIPE) T_E(ERANGE) T_E(ENOSYS)
	T_E(EOVERFLOW) T_E(EOPNOTSUPP) T_E(ETIMEDOUT) T_E(EALREADY)
	T_E(EINPROGRESS) T_E(ECANCELED) T_E(ETIME) T_E(EBADFD)
#undef T_E
	case 512: name = "-ERESTARTSYS"; break;
	case 514: name = "-ERESTARTNOHAND"; break;
	default: break;
	}
	if (name)
		return name;
	snprintf(b, sizeof(bufs[0]), "-E%ld", -v);
	return b;
}

/* "ok" when a == b, "BAD" otherwise (for printing pointer identity). */
static inline const char *t_ok(int good)
{
	return good ? "ok" : "BAD";
}

/* Print an event relative to the iocb it should belong to:
 *   "<label>: res=4096 res2=0 obj=ok data=ok"
 * data is compared with the aio_data value that was submitted. */
static inline void t_print_event(const char *label, const struct io_event *ev,
				 const struct iocb *iocb, const void *data)
{
	printf("%s: res=%s res2=%s obj=%s data=%s\n", label,
	       t_err((long)ev->res), t_err((long)ev->res2),
	       t_ok(ev->obj == iocb), t_ok(ev->data == data));
}

/* Index of ev->obj in iocbs[0..n), or -1. */
static inline int t_event_index(const struct io_event *ev, struct iocb *const *iocbs, int n)
{
	for (int i = 0; i < n; i++)
		if (ev->obj == iocbs[i])
			return i;
	return -1;
}

/* Reorder evs (n of them, all distinct members of iocbs) by iocb index so the
 * output does not depend on completion order. */
static inline void t_sort_events(struct io_event *evs, int n, struct iocb *const *iocbs, int niocbs)
{
	for (int i = 1; i < n; i++) {
		struct io_event key = evs[i];
		int ki = t_event_index(&key, iocbs, niocbs);
		int j = i - 1;
		while (j >= 0 && t_event_index(&evs[j], iocbs, niocbs) > ki) {
			evs[j + 1] = evs[j];
			j--;
		}
		evs[j + 1] = key;
	}
}

static inline struct timespec t_ts(long sec, long nsec)
{
	struct timespec ts = { .tv_sec = sec, .tv_nsec = nsec };
	return ts;
}

static inline double t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void t_msleep(long ms)
{
	struct timespec ts = t_ts(ms / 1000, (ms % 1000) * 1000000L);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Collect exactly n events, waiting up to ~10 s in total (generous, for a
 * loaded machine). Fails the test if they do not arrive or a call errors.
 */
static inline void t_wait_events(io_context_t ctx, int n, struct io_event *evs)
{
	int got = 0;
	double deadline = t_now() + 10.0;

	while (got < n) {
		struct timespec ts = t_ts(0, 100 * 1000000L);
		int r = T_CALL(io_getevents(ctx, 1, n - got, evs + got, &ts));
		T_ASSERTF(r >= 0, "io_getevents: %s", t_err(r));
		got += r;
		T_ASSERTF(got <= n, "got %d events, want %d", got, n);
		T_ASSERTF(got == n || t_now() < deadline,
			  "timed out with %d of %d events", got, n);
	}
}

/* Assert that no event arrives within ms milliseconds. */
static inline void t_expect_no_event(io_context_t ctx, long ms)
{
	struct io_event ev;
	struct timespec ts = t_ts(ms / 1000, (ms % 1000) * 1000000L);
	int r = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
	T_ASSERTF(r == 0, "unexpected io_getevents result %s", t_err(r));
}

static inline io_context_t t_setup(int nr)
{
	io_context_t ctx = 0;
	int r = T_CALL(io_setup(nr, &ctx));
	T_ASSERTF(r == 0, "io_setup(%d): %s", nr, t_err(r));
	T_ASSERT(ctx != 0);
	return ctx;
}

static inline void t_destroy(io_context_t ctx)
{
	int r = T_CALL(io_destroy(ctx));
	T_ASSERTF(r == 0, "io_destroy: %s", t_err(r));
}

/* Submit exactly one iocb and require success. */
static inline void t_submit1(io_context_t ctx, struct iocb *iocb)
{
	struct iocb *list[1] = { iocb };
	int r = T_CALL(io_submit(ctx, 1, list));
	T_ASSERTF(r == 1, "io_submit: %s", t_err(r));
}

/*
 * Another request in flight: a poll on an empty pipe, left pending on a
 * context while a test runs, then completed by a write and reaped. A
 * library may serve a request differently when it is the only one in
 * flight (libaio_rs performs a regular file's read or write inside
 * io_submit then, as kernel AIO does, and hands it to io_uring otherwise),
 * so tests of those requests run both ways.
 */
struct t_pending {
	int pipe[2];
	struct iocb cb;
};

static inline void t_pending_begin(io_context_t ctx, struct t_pending *p)
{
	T_ASSERT(pipe(p->pipe) == 0);
	io_prep_poll(&p->cb, p->pipe[0], POLLIN);
	t_submit1(ctx, &p->cb);
}

static inline void t_pending_end(io_context_t ctx, struct t_pending *p)
{
	struct io_event ev;
	T_ASSERT(write(p->pipe[1], "x", 1) == 1);
	t_wait_events(ctx, 1, &ev);
	T_ASSERTF(ev.obj == &p->cb, "the pending poll's event was %p, not the poll's", (void *)ev.obj);
	close(p->pipe[0]);
	close(p->pipe[1]);
}

/* Submit one iocb and return io_submit's result (no check). */
static inline int t_submit_one(io_context_t ctx, struct iocb *iocb)
{
	struct iocb *list[1] = { iocb };
	return T_CALL(io_submit(ctx, 1, list));
}

static inline const char *t_dir(void)
{
	const char *d = getenv("T_DIR");
	return (d && *d) ? d : "/tmp";
}

/*
 * Create a scratch file named after `name` in dir (NULL = $T_DIR, default
 * /tmp) with open flags `flags` (O_RDWR is implied unless an access mode is
 * given), unlink it and return the fd. Returns -errno if open fails so the
 * caller can decide to skip (e.g. O_DIRECT unsupported).
 */
static inline int t_tmpfile_in(const char *dir, const char *name, int flags)
{
	static unsigned counter;
	char path[4096];
	int fd;

	if (!dir)
		dir = t_dir();
	if ((flags & O_ACCMODE) == 0)
		flags |= O_RDWR;
	for (int tries = 0; tries < 100; tries++) {
		snprintf(path, sizeof(path), "%s/t-%s-%ld-%u-%d", dir, name,
			 (long)getpid(), counter++, tries);
		fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			T_ASSERT(unlink(path) == 0);
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Unlinked O_RDWR scratch file under $T_DIR; fails the test if impossible. */
static inline int t_tmpfile(const char *name)
{
	int fd = t_tmpfile_in(NULL, name, O_RDWR);
	T_ASSERTF(fd >= 0, "cannot create scratch file in %s: %s", t_dir(), t_err(fd));
	return fd;
}

/* A second open file description of fd with other flags (e.g. O_RDONLY). */
static inline int t_reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, flags | O_CLOEXEC);
	T_ASSERTF(nfd >= 0, "reopen %s: %s", path, strerror(errno));
	return nfd;
}

/* Deterministic data pattern, different for each seed and offset. */
static inline unsigned char t_pattern_byte(unsigned seed, size_t off)
{
	uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)off * 40503u +
		     (uint32_t)(off >> 12) * 977u;
	return (unsigned char)(x ^ (x >> 13) ^ (x >> 24));
}

/* Fill buf with the pattern of (seed, file offset off). */
static inline void t_fill(void *buf, size_t len, unsigned seed, size_t off)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = t_pattern_byte(seed, off + i);
}

/* 1 if buf holds the pattern of (seed, file offset off), else 0. */
static inline int t_check(const void *buf, size_t len, unsigned seed, size_t off)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != t_pattern_byte(seed, off + i))
			return 0;
	return 1;
}

/* 1 if every byte of buf is c. */
static inline int t_all(const void *buf, size_t len, unsigned char c)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Page-aligned (4096) zeroed allocation, for O_DIRECT. */
static inline void *t_aligned(size_t len)
{
	void *p = NULL;
	T_ASSERT(posix_memalign(&p, 4096, len) == 0);
	memset(p, 0, len);
	return p;
}

/* Write `len` bytes of pattern `seed` at offset 0 of fd with plain pwrite. */
static inline void t_write_pattern(int fd, size_t len, unsigned seed)
{
	unsigned char *buf = t_aligned(len ? len : 1);
	t_fill(buf, len, seed, 0);
	size_t done = 0;
	while (done < len) {
		ssize_t w = pwrite(fd, buf + done, len - done, (off_t)done);
		T_ASSERTF(w > 0, "pwrite: %s", strerror(errno));
		done += (size_t)w;
	}
	free(buf);
}

/*
 * Open an O_DIRECT scratch file in dir (NULL = $T_DIR); skip the test if the
 * filesystem refuses O_DIRECT.
 */
static inline int t_tmpfile_direct(const char *dir, const char *name)
{
	int fd = t_tmpfile_in(dir, name, O_RDWR | O_DIRECT);
	if (fd == -EINVAL || fd == -EOPNOTSUPP) {
		fprintf(stderr, "O_DIRECT unsupported in %s\n", dir ? dir : t_dir());
		t_skip("no O_DIRECT");
	}
	T_ASSERTF(fd >= 0, "cannot create O_DIRECT file: %s", t_err(fd));
	return fd;
}

/* Make stdout unbuffered so output order survives fork()/threads. */
static inline void t_unbuffered(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
}

/* The state letter of a /proc/.../stat file (R, S, D, Z, ...), or 0. */
static inline char t_stat_state(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = 0;
	char *close_paren = strrchr(line, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

/* 1 when thread `tid` of this process is in interruptible sleep. */
static inline int t_sleeping(int tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	return t_stat_state(path) == 'S';
}

/* The number in a /proc/sys file, or -1. */
static inline long t_proc_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The kernel's struct aio_ring, which an io_context_t points at: programs
 * such as QEMU, fio (userspace_reap) and SPDK read completions from it. */
struct t_aio_ring {
	unsigned id;
	unsigned nr;
	unsigned head;
	unsigned tail;
	unsigned magic;
	unsigned compat_features;
	unsigned incompat_features;
	unsigned header_length;
	struct io_event io_events[];
};

#endif /* T_UTIL_H */
