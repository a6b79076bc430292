/* Description: a program that reaps from the ring only when its magic is AIO's.
 *
 * fio's userspace_reap, SPDK and libaio's own zero-timeout shortcut read the
 * struct aio_ring at the context address only when its magic is 0xa10a10a1,
 * and call io_getevents otherwise. Whichever path a context takes, the
 * program must see every event exactly once, with its data and obj as
 * submitted, and nothing more afterwards.
 */
#include "t_util.h"

/* fio's approach: reap up to max events from the ring if it is AIO's. */
static int user_reap(io_context_t ctx, struct io_event *evs, int max)
{
	volatile struct t_aio_ring *ring = (volatile struct t_aio_ring *)(void *)ctx;
	struct timespec zero = t_ts(0, 0);

	if (ring->magic != 0xa10a10a1u)
		return T_CALL(io_getevents(ctx, 0, max, evs, &zero));
	unsigned head = ring->head, tail = ring->tail, nr = ring->nr;
	int n = 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	while (head != tail && n < max) {
		evs[n++] = ring->io_events[head];
		head = (head + 1) % nr;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ring->head = head;
	return n;
}

int main(void)
{
	enum { N = 16 };
	io_context_t ctx = t_setup(32);
	struct iocb io[N], *list[N];
	struct io_event evs[N], got[N];
	static unsigned char buf[N][4096];
	int fd = t_tmpfile("magic");
	t_write_pattern(fd, N * 4096, 21);

	for (int i = 0; i < N; i++) {
		io_prep_pread(&io[i], fd, buf[i], 4096, (long long)i * 4096);
		io[i].data = (void *)(uintptr_t)(0x700 + i);
		list[i] = &io[i];
	}
	int r = T_CALL(io_submit(ctx, N, list));
	printf("io_submit = %s\n", t_err(r));

	int total = 0;
	for (int spins = 0; total < N && spins < 20000; spins++) {
		int n = user_reap(ctx, evs, N - total);
		T_ASSERT(n >= 0);
		for (int k = 0; k < n; k++)
			got[total + k] = evs[k];
		total += n;
		if (n == 0)
			usleep(100);
	}
	printf("reaped %d events\n", total);
	t_sort_events(got, total, list, N);
	for (int i = 0; i < total; i++) {
		char label[32];
		snprintf(label, sizeof(label), "event %d", i);
		t_print_event(label, &got[i], &io[i], (void *)(uintptr_t)(0x700 + i));
	}
	struct timespec ts = t_ts(0, 20 * 1000000L);
	r = T_CALL(io_getevents(ctx, 1, N, evs, &ts));
	printf("io_getevents afterwards, 20 ms = %s\n", t_err(r));
	printf("data %s\n", t_ok(t_check(buf, N * 4096, 21, 0)));
	t_destroy(ctx);
	return 0;
}
