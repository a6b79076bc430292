/* Description: the completion ring at the context address, reaped from user space.
 *
 * The io_context_t handle points at the kernel AIO ring: a 32-byte header
 * (id, nr, head, tail, magic 0xa10a10a1, compat_features 1,
 * incompat_features 0, header_length 32) followed by nr io_events. Programs
 * such as fio (userspace_reap) read completed events straight from it and
 * advance head themselves. Events appear there (tail moves) once complete;
 * after user space consumed them, io_getevents does not return them again;
 * the library and user-space reaping can be mixed.
 */
#include "t_util.h"
#include <sys/eventfd.h>

static int efd;

static void wait_count(uint64_t n)
{
	uint64_t total = 0;
	while (total < n) {
		uint64_t v;
		T_ASSERT(read(efd, &v, sizeof(v)) == sizeof(v));
		total += v;
	}
	T_ASSERT(total == n);
}

int main(void)
{
	io_context_t ctx = t_setup(8);
	volatile struct t_aio_ring *ring = (volatile struct t_aio_ring *)(void *)ctx;
	struct iocb io[3], *list[3] = { &io[0], &io[1], &io[2] };
	struct io_event evs[3];
	static unsigned char buf[3][4096];
	struct timespec zero = t_ts(0, 0), ts = t_ts(0, 20 * 1000000L);
	int r;

	efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	int fd = t_tmpfile("ring");
	t_write_pattern(fd, 3 * 4096, 15);

	printf("magic ok=%d compat_features=%u incompat_features=%u header_length=%u\n",
	       ring->magic == 0xa10a10a1u, ring->compat_features, ring->incompat_features,
	       ring->header_length);
	printf("nr >= 8: %d, empty: %d\n", ring->nr >= 8, ring->head == ring->tail);
	unsigned nr = ring->nr;

	for (int i = 0; i < 2; i++) {
		io_prep_pread(&io[i], fd, buf[i], 4096, i * 4096);
		io[i].data = (void *)(uintptr_t)(0x400 + i);
		io_set_eventfd(&io[i], efd);
	}
	r = T_CALL(io_submit(ctx, 2, list));
	T_ASSERT(r == 2);
	wait_count(2);

	unsigned head = ring->head, tail = ring->tail;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	printf("events in ring: %u\n", (tail + nr - head) % nr);
	for (unsigned k = 0; k < 2 && head != tail; k++) {
		evs[k] = ring->io_events[head];
		head = (head + 1) % nr;
	}
	t_sort_events(evs, 2, list, 2);
	t_print_event("ring event 0", &evs[0], &io[0], (void *)(uintptr_t)0x400);
	t_print_event("ring event 1", &evs[1], &io[1], (void *)(uintptr_t)0x401);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ring->head = head;

	r = T_CALL(io_getevents(ctx, 1, 3, evs, &zero));
	printf("io_getevents after user-space reap, zero timeout = %s\n", t_err(r));
	r = T_CALL(io_getevents(ctx, 1, 3, evs, &ts));
	printf("io_getevents after user-space reap, 20 ms = %s\n", t_err(r));

	/* mixing: one more through the library */
	io_prep_pread(&io[2], fd, buf[2], 4096, 8192);
	io[2].data = (void *)(uintptr_t)0x402;
	io_set_eventfd(&io[2], efd);
	t_submit1(ctx, &io[2]);
	wait_count(1);
	printf("ring shows 1 event: %d\n", (ring->tail + nr - ring->head) % nr == 1);
	r = T_CALL(io_getevents(ctx, 1, 3, evs, &zero));
	printf("io_getevents = %s\n", t_err(r));
	t_print_event("  event", &evs[0], &io[2], (void *)(uintptr_t)0x402);
	printf("ring empty after io_getevents: %d\n", ring->head == ring->tail);
	printf("data %s\n", t_ok(t_check(buf, 3 * 4096, 15, 0)));

	t_destroy(ctx);
	return 0;
}
