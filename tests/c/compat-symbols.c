/* Description: the LIBAIO_0.1 compatibility entry points still work.
 *
 * Binaries linked against old libaio releases bind io_getevents,
 * io_cancel and io_queue_wait at version LIBAIO_0.1, with the old
 * signatures: io_getevents(ctx, nr, events, timeout) means
 * io_getevents(ctx, 1, nr, events, timeout); io_cancel(ctx, iocb) has no
 * result argument; io_queue_wait(ctx, timeout) never waits. This test binds
 * those versions explicitly and checks they behave like the current ones.
 */
#include "t_util.h"
#include "t_compat01.h"


int main(void)
{
	io_context_t ctx = t_setup(8);
	struct iocb io[2], *list[2] = { &io[0], &io[1] };
	struct io_event evs[2];
	struct timespec zero = t_ts(0, 0), ts = t_ts(0, 20 * 1000000L);
	static unsigned char buf[2][4096];
	int p[2], r;

	T_ASSERT(pipe(p) == 0);
	int fd = t_tmpfile("compat");
	t_write_pattern(fd, 8192, 41);

	r = T_CALL(t_getevents_01(ctx, 2, evs, &zero));
	printf("0.1 io_getevents empty, zero timeout = %s\n", t_err(r));
	r = T_CALL(t_getevents_01(ctx, 2, evs, &ts));
	printf("0.1 io_getevents empty, 20 ms = %s\n", t_err(r));
	r = T_CALL(t_getevents_01(ctx, 0, evs, &ts));
	printf("0.1 io_getevents nr 0 (min_nr 1 > nr) = %s\n", t_err(r));
	r = T_CALL(t_getevents_01(NULL, 1, evs, &ts));
	printf("0.1 io_getevents ctx NULL = %s\n", t_err(r));
	r = T_CALL(t_queue_wait_01(ctx, NULL));
	printf("0.1 io_queue_wait NULL timeout = %s\n", t_err(r));
	r = T_CALL(t_queue_wait_01(ctx, &ts));
	printf("0.1 io_queue_wait 20 ms = %s\n", t_err(r));
	r = T_CALL(t_queue_wait_01(NULL, &ts));
	printf("0.1 io_queue_wait ctx NULL = %s\n", t_err(r));

	for (int i = 0; i < 2; i++) {
		io_prep_pread(&io[i], fd, buf[i], 4096, i * 4096);
		io[i].data = (void *)(uintptr_t)(0x60 + i);
	}
	r = T_CALL(io_submit(ctx, 2, list));
	T_ASSERT(r == 2);
	int got = 0;
	double deadline = t_now() + 10.0;
	while (got < 2) {
		struct timespec longer = t_ts(1, 0);
		r = T_CALL(t_getevents_01(ctx, 2 - got, evs + got, &longer));
		T_ASSERTF(r >= 0, "0.1 io_getevents: %s", t_err(r));
		got += r;
		T_ASSERT(t_now() < deadline);
	}
	printf("0.1 io_getevents collected %d\n", got);
	t_sort_events(evs, 2, list, 2);
	t_print_event("  read 0", &evs[0], &io[0], (void *)(uintptr_t)0x60);
	t_print_event("  read 1", &evs[1], &io[1], (void *)(uintptr_t)0x61);
	printf("  data %s\n", t_ok(t_check(buf, 8192, 41, 0)));

	io_prep_poll(&io[0], p[0], POLLIN);
	io[0].data = (void *)(uintptr_t)0x62;
	t_submit1(ctx, &io[0]);
	r = T_CALL(t_cancel_01(ctx, &io[0]));
	printf("0.1 io_cancel pending poll = %s\n", t_err(r));
	r = T_CALL(t_getevents_01(ctx, 1, evs, NULL));
	printf("0.1 io_getevents NULL timeout = %s\n", t_err(r));
	t_print_event("  cancelled poll", &evs[0], &io[0], (void *)(uintptr_t)0x62);
	r = T_CALL(t_cancel_01(ctx, &io[0]));
	printf("0.1 io_cancel again = %s\n", t_err(r));
	r = T_CALL(t_cancel_01(NULL, &io[0]));
	printf("0.1 io_cancel ctx NULL = %s\n", t_err(r));

	t_destroy(ctx);
	return 0;
}
