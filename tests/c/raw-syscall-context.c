/* Description: a context made by the raw io_setup syscall works through the library.
 *
 * The handle comes from syscall(SYS_io_setup), so the library has never seen
 * it: io_submit, io_getevents (zero, finite and NULL timeouts, including
 * the zero-timeout shortcut), io_pgetevents, io_cancel of a poll,
 * io_queue_run and io_destroy must all pass it to the kernel and behave as
 * on any other context. After io_destroy the handle is dead (-EINVAL).
 */
#include "t_util.h"
#include <sys/syscall.h>

static int cb_calls;
static void cb(io_context_t c, struct iocb *iocb, long res, long res2)
{
	(void)c; (void)iocb; (void)res2;
	if (res == 4096)
		cb_calls++;
}

int main(void)
{
	io_context_t ctx = 0;
	long sr = syscall(SYS_io_setup, 8, &ctx);
	if (sr != 0) {
		fprintf(stderr, "raw io_setup: %s\n", strerror(errno));
		t_skip("raw io_setup unavailable");
	}
	printf("raw io_setup ok, ctx nonzero=%d\n", ctx != 0);

	int fd = t_tmpfile("raw-ctx");
	t_write_pattern(fd, 8192, 13);
	static unsigned char buf[8192];
	struct iocb io[2], *list[2] = { &io[0], &io[1] };
	struct io_event evs[2];
	struct timespec zero = t_ts(0, 0), ts = t_ts(0, 20 * 1000000L);
	int r;

	r = T_CALL(io_getevents(ctx, 1, 1, evs, &zero));
	printf("io_getevents zero timeout, empty = %s\n", t_err(r));
	r = T_CALL(io_getevents(ctx, 2, 1, evs, &zero));
	printf("io_getevents zero timeout, min_nr > nr, empty = %s\n", t_err(r));
	r = T_CALL(io_getevents(ctx, 1, 1, evs, &ts));
	printf("io_getevents 20 ms, empty = %s\n", t_err(r));

	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io[0].data = (void *)(uintptr_t)0x5a1;
	io_prep_pread(&io[1], fd, buf + 4096, 4096, 4096);
	io[1].data = (void *)(uintptr_t)0x5a2;
	r = T_CALL(io_submit(ctx, 2, list));
	printf("io_submit = %s\n", t_err(r));
	T_ASSERT(r == 2);
	r = T_CALL(io_getevents(ctx, 2, 2, evs, NULL));
	printf("io_getevents NULL timeout = %s\n", t_err(r));
	T_ASSERT(r == 2);
	t_sort_events(evs, 2, list, 2);
	t_print_event("  read 0", &evs[0], &io[0], (void *)(uintptr_t)0x5a1);
	t_print_event("  read 1", &evs[1], &io[1], (void *)(uintptr_t)0x5a2);
	printf("  data %s\n", t_ok(t_check(buf, 8192, 13, 0)));

	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io[0].data = (void *)(uintptr_t)0x5a3;
	t_submit1(ctx, &io[0]);
	r = T_CALL(io_pgetevents(ctx, 1, 1, evs, NULL, NULL));
	printf("io_pgetevents = %s\n", t_err(r));
	t_print_event("  read", &evs[0], &io[0], (void *)(uintptr_t)0x5a3);

	int p[2];
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&io[1], p[0], POLLIN);
	io[1].data = (void *)(uintptr_t)0x5a4;
	t_submit1(ctx, &io[1]);
	r = T_CALL(io_cancel(ctx, &io[1], &evs[1]));
	printf("io_cancel pending poll = %s\n", t_err(r));
	t_wait_events(ctx, 1, evs);
	t_print_event("  cancelled poll", &evs[0], &io[1], (void *)(uintptr_t)0x5a4);

	io_prep_pread(&io[0], fd, buf, 4096, 0);
	io_set_callback(&io[0], cb);
	t_submit1(ctx, &io[0]);
	double deadline = t_now() + 10.0;
	while (cb_calls == 0 && t_now() < deadline) {
		r = T_CALL(io_queue_run(ctx));
		T_ASSERT(r == 0);
		if (!cb_calls)
			t_msleep(1);
	}
	printf("io_queue_run callback calls = %d\n", cb_calls);

	r = T_CALL(io_destroy(ctx));
	printf("io_destroy = %s\n", t_err(r));
	r = T_CALL(io_destroy(ctx));
	printf("io_destroy again = %s\n", t_err(r));
	r = T_CALL(io_submit(ctx, 1, list));
	printf("io_submit after destroy = %s\n", t_err(r));
	return 0;
}
