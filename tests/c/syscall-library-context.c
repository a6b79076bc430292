/* Description: a context made by libaio's io_setup, driven through glibc's syscall().
 *
 * Programs mix libaio with raw syscall(SYS_io_*) calls on the same handle
 * (MariaDB waits in syscall(SYS_io_getevents), others submit or destroy
 * that way): with libaio the handle is the kernel's context, so every raw
 * call works on it with the raw syscall's convention, -1 and errno.
 * Covered: SYS_io_submit (valid requests, a bad descriptor, a bad one after
 * a good one, nr < 0, nr = 0), SYS_io_getevents (empty with zero and finite
 * timeouts, min_nr > nr, events submitted either way reaped either way),
 * SYS_io_pgetevents with and without a signal mask, SYS_io_cancel of a
 * pending poll and of an unknown iocb, SYS_io_destroy and the dead handle
 * afterwards; a thread asleep in a raw io_getevents with no timeout
 * returns -1/EINVAL when another thread calls libaio's io_destroy; errno is
 * left alone on success; unrelated syscalls (getpid, read of a bad
 * descriptor, six-argument preadv2 and mmap) go through syscall() unchanged.
 */
#include "t_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/* struct __aio_sigset of linux/aio_abi.h */
struct t_aio_sigset {
	const sigset_t *sigmask;
	size_t sigsetsize;
};

/* "-1 EINVAL" / "2": a raw syscall's return value and, on failure, errno. */
static const char *raw(long r, int e)
{
	static char bufs[8][48];
	static unsigned next;
	char *b = bufs[next++ % 8];
	if (r == -1)
		snprintf(b, sizeof(bufs[0]), "-1 %s", t_err(-e) + 1);
	else
		snprintf(b, sizeof(bufs[0]), "%ld", r);
	return b;
}

/* Evaluate a syscall() expression; yields its value, errno saved in sc_errno. */
static __thread int sc_errno;
#define SC(expr)                                                              \
	({                                                                    \
		errno = T_ERRNO_MAGIC;                                        \
		long sc_ret_ = (expr);                                        \
		sc_errno = errno;                                             \
		sc_ret_;                                                      \
	})

/* A step that might block: a watchdog ends the test with a clear line if
 * it does not return within 5 s (a lost completion, a missed wake-up). */
static const char *volatile step = "";
static void on_alarm(int sig)
{
	(void)sig;
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "timeout: %s did not return within 5 s\n", step);
	if (write(1, msg, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}
#define BOUNDED(what, expr)                                                   \
	({                                                                    \
		step = (what);                                                \
		alarm(5);                                                     \
		long b_ret_ = (expr);                                         \
		alarm(0);                                                     \
		b_ret_;                                                       \
	})

static io_context_t wctx;
static atomic_int waiter_tid;
static long waiter_ret;
static int waiter_errno;
static atomic_int waiter_done;

static void *waiter(void *arg)
{
	struct io_event ev;
	(void)arg;
	atomic_store(&waiter_tid, (int)syscall(SYS_gettid));
	waiter_ret = SC(syscall(SYS_io_getevents, wctx, 1L, 1L, &ev, NULL));
	waiter_errno = sc_errno;
	atomic_store(&waiter_done, 1);
	return NULL;
}

/* Collect n events through libaio after a raw submit (bounded). */
static int lib_wait(io_context_t ctx, int n, struct io_event *evs)
{
	struct timespec five = t_ts(5, 0);
	return (int)BOUNDED("io_getevents", T_CALL(io_getevents(ctx, n, n, evs, &five)));
}

int main(void)
{
	io_context_t ctx = t_setup(16);
	struct iocb io[4], *list[4] = { &io[0], &io[1], &io[2], &io[3] };
	struct io_event evs[4];
	struct timespec zero = t_ts(0, 0), ts = t_ts(0, 20 * 1000000L), five = t_ts(5, 0);
	unsigned char *buf = t_aligned(4 * 4096);
	long r;
	int fd = t_tmpfile("syscall-lib");
	t_write_pattern(fd, 4 * 4096, 29);
	signal(SIGALRM, on_alarm);

	printf("-- SYS_io_submit\n");
	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io[0].data = (void *)(uintptr_t)0x101;
	io_prep_pread(&io[1], fd, buf + 4096, 4096, 4096);
	io[1].data = (void *)(uintptr_t)0x102;
	r = SC(syscall(SYS_io_submit, ctx, 2L, list));
	printf("two reads = %s, errno untouched: %d\n", raw(r, sc_errno), sc_errno == T_ERRNO_MAGIC);
	long submitted = r;

	printf("-- SYS_io_getevents\n");
	r = SC(syscall(SYS_io_getevents, ctx, 2L, 1L, evs, &zero));
	printf("min_nr > nr = %s\n", raw(r, sc_errno));
	r = -2; /* the reads were not submitted: nothing to wait for */
	if (submitted == 2)
		r = BOUNDED("SYS_io_getevents(NULL timeout)",
			    SC(syscall(SYS_io_getevents, ctx, 2L, 2L, evs, NULL)));
	printf("NULL timeout, min 2 = %s, errno untouched: %d\n", raw(r, sc_errno),
	       sc_errno == T_ERRNO_MAGIC);
	if (r == 2) {
		t_sort_events(evs, 2, list, 2);
		t_print_event("  read 0", &evs[0], &io[0], (void *)(uintptr_t)0x101);
		t_print_event("  read 1", &evs[1], &io[1], (void *)(uintptr_t)0x102);
		printf("  data %s\n", t_ok(t_check(buf, 2 * 4096, 29, 0)));
	}
	r = SC(syscall(SYS_io_getevents, ctx, 0L, 4L, evs, &zero));
	printf("zero timeout, empty = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_getevents, ctx, 1L, 4L, evs, &ts));
	printf("20 ms, empty = %s\n", raw(r, sc_errno));

	printf("-- mixed with libaio's calls\n");
	memset(buf, 0, 4 * 4096);
	io_prep_pread(&io[2], fd, buf + 2 * 4096, 4096, 2 * 4096);
	io[2].data = (void *)(uintptr_t)0x103;
	r = SC(syscall(SYS_io_submit, ctx, 1L, &list[2]));
	printf("raw submit = %s\n", raw(r, sc_errno));
	if (r == 1) {
		int n = lib_wait(ctx, 1, evs);
		printf("  io_getevents = %s\n", t_err(n));
		if (n == 1)
			t_print_event("  event", &evs[0], &io[2], (void *)(uintptr_t)0x103);
	}
	io_prep_pread(&io[3], fd, buf + 3 * 4096, 4096, 3 * 4096);
	io[3].data = (void *)(uintptr_t)0x104;
	t_submit1(ctx, &io[3]);
	r = BOUNDED("SYS_io_getevents(NULL timeout) after io_submit",
		    SC(syscall(SYS_io_getevents, ctx, 1L, 4L, evs, NULL)));
	printf("raw getevents after io_submit = %s\n", raw(r, sc_errno));
	if (r == 1)
		t_print_event("  event", &evs[0], &io[3], (void *)(uintptr_t)0x104);
	else
		lib_wait(ctx, 1, evs);
	printf("  data %s\n", t_ok(t_check(buf + 2 * 4096, 2 * 4096, 29, 2 * 4096)));

	printf("-- SYS_io_submit errors\n");
	io_prep_pread(&io[0], -1, buf, 4096, 0);
	r = SC(syscall(SYS_io_submit, ctx, 1L, list));
	printf("bad fd = %s\n", raw(r, sc_errno));
	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io[0].data = (void *)(uintptr_t)0x105;
	io_prep_pread(&io[1], -1, buf + 4096, 4096, 0);
	r = SC(syscall(SYS_io_submit, ctx, 2L, list));
	printf("good then bad fd = %s\n", raw(r, sc_errno));
	if (r == 1) {
		r = SC(syscall(SYS_io_getevents, ctx, 1L, 4L, evs, &five));
		printf("  its event = %s\n", raw(r, sc_errno));
		if (r == 1)
			t_print_event("  good read", &evs[0], &io[0], (void *)(uintptr_t)0x105);
		else
			lib_wait(ctx, 1, evs);
	}
	r = SC(syscall(SYS_io_submit, ctx, -1L, list));
	printf("nr < 0 = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_submit, ctx, 0L, list));
	printf("nr = 0 = %s\n", raw(r, sc_errno));

	printf("-- SYS_io_pgetevents\n");
	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io[0].data = (void *)(uintptr_t)0x106;
	t_submit1(ctx, &io[0]);
	r = BOUNDED("SYS_io_pgetevents(NULL timeout)",
		    SC(syscall(SYS_io_pgetevents, ctx, 1L, 4L, evs, NULL, NULL)));
	printf("no sigmask = %s\n", raw(r, sc_errno));
	if (r == 1)
		t_print_event("  event", &evs[0], &io[0], (void *)(uintptr_t)0x106);
	else
		lib_wait(ctx, 1, evs);
	sigset_t mask;
	sigemptyset(&mask);
	struct t_aio_sigset ss = { &mask, _NSIG / 8 };
	r = SC(syscall(SYS_io_pgetevents, ctx, 1L, 4L, evs, &ts, &ss));
	printf("sigmask, 20 ms, empty = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_pgetevents, ctx, 2L, 1L, evs, &zero, NULL));
	printf("min_nr > nr = %s\n", raw(r, sc_errno));

	printf("-- SYS_io_cancel\n");
	int p[2];
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&io[1], p[0], POLLIN);
	io[1].data = (void *)(uintptr_t)0x107;
	t_submit1(ctx, &io[1]);
	r = SC(syscall(SYS_io_cancel, ctx, &io[2], &evs[3]));
	printf("iocb not in flight = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_cancel, ctx, &io[1], &evs[3]));
	printf("pending poll = %s\n", raw(r, sc_errno));
	if (r != 0 && !(r == -1 && sc_errno == EINPROGRESS)) {
		/* not cancelled: complete it so the context is quiet again */
		T_ASSERT(write(p[1], "x", 1) == 1);
	}
	r = SC(syscall(SYS_io_getevents, ctx, 1L, 4L, evs, &five));
	printf("its event = %s\n", raw(r, sc_errno));
	if (r == 1)
		t_print_event("  cancelled poll", &evs[0], &io[1], (void *)(uintptr_t)0x107);
	else
		lib_wait(ctx, 1, evs);
	r = SC(syscall(SYS_io_cancel, ctx, &io[1], &evs[3]));
	printf("the same poll again = %s\n", raw(r, sc_errno));
	close(p[0]);
	close(p[1]);

	printf("-- SYS_io_destroy\n");
	r = BOUNDED("SYS_io_destroy", SC(syscall(SYS_io_destroy, ctx)));
	printf("destroy = %s, errno untouched: %d\n", raw(r, sc_errno), sc_errno == T_ERRNO_MAGIC);
	r = SC(syscall(SYS_io_getevents, ctx, 0L, 1L, evs, &zero));
	printf("getevents after destroy = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_getevents, ctx, 1L, 1L, evs, &ts));
	printf("getevents 20 ms after destroy = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_submit, ctx, 1L, list));
	printf("submit after destroy = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_destroy, ctx));
	printf("destroy again = %s\n", raw(r, sc_errno));
	r = BOUNDED("io_destroy", T_CALL(io_destroy(ctx)));
	printf("libaio io_destroy after raw destroy = %s\n", t_err(r));

	printf("-- raw io_getevents blocked while libaio's io_destroy runs\n");
	wctx = t_setup(4);
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, waiter, NULL) == 0);
	int asleep = 0;
	for (int i = 0; i < 5000 && !asleep && !atomic_load(&waiter_done); i++) {
		int tid = atomic_load(&waiter_tid);
		asleep = tid && t_sleeping(tid);
		if (!asleep)
			t_msleep(1);
	}
	printf("waiter asleep in the raw io_getevents: %d\n", asleep);
	t_msleep(20);
	r = BOUNDED("io_destroy with a raw waiter", T_CALL(io_destroy(wctx)));
	printf("io_destroy = %s\n", t_err(r));
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	int jr = pthread_timedjoin_np(th, NULL, &until);
	if (jr != 0) {
		printf("timeout: waiter still blocked 5 s after io_destroy\n");
		fflush(stdout);
		_exit(1);
	}
	printf("waiter returned %s\n", raw(waiter_ret, waiter_errno));

	printf("-- other syscalls through syscall()\n");
	r = SC(syscall(SYS_getpid));
	printf("getpid matches: %d\n", r == (long)getpid());
	r = SC(syscall(SYS_read, -1, buf, 1L));
	printf("read bad fd = %s\n", raw(r, sc_errno));
	memset(buf, 0, 4096);
	struct iovec iov = { buf, 4096 };
	r = SC(syscall(SYS_preadv2, fd, &iov, 1L, 4096L, 0L, 0L));
	printf("preadv2 = %s, data %s\n", raw(r, sc_errno), t_ok(t_check(buf, 4096, 29, 4096)));
	r = SC(syscall(SYS_preadv2, fd, &iov, 1L, 4096L, 0L, (long)0x40000000));
	printf("preadv2 unknown flag = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_mmap, NULL, 4096L, (long)PROT_READ, (long)MAP_SHARED, (long)fd, 8192L));
	printf("mmap at offset 8192 ok: %d\n", r != -1);
	if (r != -1) {
		printf("  data %s\n", t_ok(t_check((void *)r, 4096, 29, 8192)));
		T_ASSERT(munmap((void *)r, 4096) == 0);
	}
	r = SC(syscall(SYS_io_getevents, (io_context_t)0, 0L, 1L, evs, &zero));
	printf("getevents on handle 0 = %s\n", raw(r, sc_errno));
	r = SC(syscall(SYS_io_submit, (io_context_t)0, 1L, list));
	printf("submit on handle 0 = %s\n", raw(r, sc_errno));

	close(fd);
	return 0;
}
