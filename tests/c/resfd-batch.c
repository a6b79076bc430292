/* Description: a RESFD poll anywhere in a large batch signals its eventfd only when it completes.
 *
 * With two contexts open, batches of 16 polls are submitted at once: 15
 * POLLOUT polls on a pipe's write end (ready at once) and, at every
 * position 0..15 in turn, one POLLOUT poll on the read end (never ready)
 * carrying IOCB_FLAG_RESFD. The 15 ready events arrive; the eventfd must
 * stay unsignalled while the read-end poll is pending; io_cancel then
 * completes it (res 0) and the eventfd reads 1. Several rounds per
 * position, each after a pause, so that a chain split by the kernel's
 * submission batching (the eventfd write running at once) would show.
 */
#include "t_util.h"
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>

#define BATCH 16
#define ROUNDS 4

int main(void)
{
	io_context_t other = t_setup(8);	/* a second ring on the same submission thread */
	io_context_t ctx = t_setup(64);
	int p[2];
	T_ASSERT(pipe(p) == 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);

	int early = 0, late_ok = 0;
	for (int pos = 0; pos < BATCH; pos++) {
		for (int round = 0; round < ROUNDS; round++) {
			struct iocb cbs[BATCH], *ptrs[BATCH];
			for (int i = 0; i < BATCH; i++) {
				if (i == pos) {
					io_prep_poll(&cbs[i], p[0], POLLOUT);
					io_set_eventfd(&cbs[i], efd);
				} else {
					io_prep_poll(&cbs[i], p[1], POLLOUT);
				}
				cbs[i].data = (void *)(uintptr_t)(i + 1);
				ptrs[i] = &cbs[i];
			}
			/* A pause first: libaio_rs's submission thread goes to
			 * sleep after 10 ms idle, and then the whole batch is
			 * queued before it wakes and takes it in passes. */
			t_msleep(15);
			int r = T_CALL(io_submit(ctx, BATCH, ptrs));
			T_ASSERTF(r == BATCH, "io_submit: %s", t_err(r));
			struct io_event evs[BATCH];
			t_wait_events(ctx, BATCH - 1, evs);
			for (int k = 0; k < BATCH - 1; k++)
				T_ASSERTF(evs[k].obj != &cbs[pos] && (evs[k].res & POLLOUT),
					  "unexpected event res %ld", (long)evs[k].res);
			t_msleep(2);
			uint64_t v = 0;
			if (read(efd, &v, 8) == 8)
				early++;
			struct io_event res;
			r = T_CALL(io_cancel(ctx, &cbs[pos], &res));
			T_ASSERTF(r == -EINPROGRESS, "io_cancel: %s", t_err(r));
			t_wait_events(ctx, 1, evs);
			T_ASSERT(evs[0].obj == &cbs[pos] && evs[0].res == 0);
			double deadline = t_now() + 2.0;
			v = 0;
			while (read(efd, &v, 8) != 8 && t_now() < deadline)
				t_msleep(1);
			if (v == 1)
				late_ok++;
		}
	}
	printf("eventfd signalled while the poll was pending: %d of %d\n", early, BATCH * ROUNDS);
	printf("eventfd signalled once after io_cancel: %d of %d\n", late_ok, BATCH * ROUNDS);
	t_destroy(ctx);
	t_destroy(other);
	return 0;
}
