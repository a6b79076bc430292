/* Description: io_queue_init / io_set_callback / io_queue_run / io_queue_release.
 *
 * io_queue_run reaps every completed event and calls the callback stored in
 * its data field once, as cb(ctx, iocb, res, res2); it returns 0 when the
 * ring is empty (also when there was nothing to do) and -EINVAL for a bad
 * context. Callbacks are recorded and printed in iocb order so completion
 * order does not matter. io_queue_release destroys the context.
 */
#include "t_util.h"
#include <sys/eventfd.h>

#define N 5

static io_context_t ctx;
static struct iocb ios[N];
static struct {
	int calls;
	int ctx_ok;
	long res, res2;
} seen[N];
static int stray;

static void cb(io_context_t c, struct iocb *iocb, long res, long res2)
{
	long i = iocb - ios;
	if (i < 0 || i >= N) {
		stray++;
		return;
	}
	seen[i].calls++;
	seen[i].ctx_ok = c == ctx;
	seen[i].res = res;
	seen[i].res2 = res2;
}

static int other_calls;
static void other_cb(io_context_t c, struct iocb *iocb, long res, long res2)
{
	(void)c; (void)iocb; (void)res; (void)res2;
	other_calls++;
}

int main(void)
{
	struct iocb *list[N];
	int r;

	r = T_CALL(io_queue_init(16, &ctx));
	printf("io_queue_init = %s\n", t_err(r));
	T_ASSERT(r == 0);

	r = T_CALL(io_queue_run(ctx));
	printf("io_queue_run on empty queue = %s\n", t_err(r));

	int fd = t_tmpfile("queue-run");
	t_write_pattern(fd, 1000, 6);
	int efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	int p[2];
	T_ASSERT(pipe(p) == 0);
	static unsigned char buf[N][4096];

	int wfd = t_tmpfile("queue-run-w");
	io_prep_pread(&ios[0], fd, buf[0], 4096, 0);       /* short: 1000 */
	io_prep_pwrite(&ios[1], wfd, buf[1], 300, 5000);
	io_prep_fsync(&ios[2], wfd);
	io_prep_pread(&ios[3], fd, buf[3], 4096, 1 << 20); /* past EOF: 0 */
	io_prep_poll(&ios[4], p[0], POLLIN);
	for (int i = 0; i < N; i++) {
		io_set_callback(&ios[i], cb);
		io_set_eventfd(&ios[i], efd);
		list[i] = &ios[i];
	}
	r = T_CALL(io_submit(ctx, N, list));
	printf("io_submit = %s\n", t_err(r));
	T_ASSERT(r == N);
	T_ASSERT(write(p[1], "x", 1) == 1);

	/* wait until all N are in the ring */
	uint64_t total = 0;
	while (total < N) {
		uint64_t v;
		T_ASSERT(read(efd, &v, sizeof(v)) == sizeof(v));
		total += v;
	}

	r = T_CALL(io_queue_run(ctx));
	printf("io_queue_run = %s\n", t_err(r));
	for (int i = 0; i < N; i++) {
		long res = seen[i].res;
		if (i == 4) /* poll mask depends on the wakeup path */
			res = (res & POLLIN) ? POLLIN : res;
		printf("  iocb %d: calls=%d ctx=%s res=%s res2=%s\n", i, seen[i].calls,
		       t_ok(seen[i].ctx_ok), t_err(res), t_err(seen[i].res2));
	}
	printf("  stray callbacks: %d\n", stray);

	r = T_CALL(io_queue_run(ctx));
	printf("io_queue_run again = %s\n", t_err(r));
	int calls = 0;
	for (int i = 0; i < N; i++)
		calls += seen[i].calls;
	printf("total callbacks: %d\n", calls);

	/* a callback set with io_set_callback after io_prep_* survives submit */
	struct iocb x, *xl[1] = { &x };
	io_prep_pread(&x, fd, buf[0], 10, 0);
	io_set_callback(&x, other_cb);
	r = T_CALL(io_submit(ctx, 1, xl));
	T_ASSERT(r == 1);
	/* io_queue_run never waits: call it until the read has been reaped */
	double deadline = t_now() + 10.0;
	while (other_calls == 0 && t_now() < deadline) {
		r = T_CALL(io_queue_run(ctx));
		T_ASSERT(r == 0);
		if (other_calls == 0)
			t_msleep(1);
	}
	printf("other callback calls: %d\n", other_calls);

	r = T_CALL(io_queue_run(NULL));
	printf("io_queue_run(NULL) = %s\n", t_err(r));

	r = T_CALL(io_queue_release(ctx));
	printf("io_queue_release = %s\n", t_err(r));
	r = T_CALL(io_queue_release(ctx));
	printf("io_queue_release again = %s\n", t_err(r));
	r = T_CALL(io_queue_release(NULL));
	printf("io_queue_release(NULL) = %s\n", t_err(r));
	return 0;
}
