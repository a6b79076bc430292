/* Description: per-request eventfd notification (io_set_eventfd / IOCB_FLAG_RESFD).
 *
 * Each completed iocb carrying IOCB_FLAG_RESFD adds 1 to its eventfd, and
 * the event is already in the completion ring when the eventfd becomes
 * readable: io_getevents with a zero timeout returns it at once. Holds for
 * O_DIRECT reads, fsync (completed by a worker), a poll completed later by a
 * pipe write, and for requests that complete with an error or a short count.
 * Requests without the flag do not touch the eventfd, and nothing is added
 * beyond one per request.
 */
#include "t_util.h"
#include <sys/eventfd.h>

static io_context_t ctx;
static int efd;

/* Block (with a generous timeout) until the eventfd has counted n. */
static void wait_count(uint64_t n)
{
	uint64_t total = 0;
	while (total < n) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		int pr = poll(&pfd, 1, 10000);
		T_ASSERTF(pr == 1, "eventfd not signalled (have %llu of %llu)",
			  (unsigned long long)total, (unsigned long long)n);
		uint64_t v;
		ssize_t rr = read(efd, &v, sizeof(v));
		if (rr < 0 && errno == EAGAIN)
			continue;
		T_ASSERT(rr == sizeof(v));
		total += v;
	}
	printf("eventfd counted %llu\n", (unsigned long long)total);
	T_ASSERT(total == n);
}

static void expect_quiet_eventfd(void)
{
	uint64_t v;
	ssize_t rr = read(efd, &v, sizeof(v));
	printf("eventfd has nothing more: %d\n", rr < 0 && errno == EAGAIN);
}

int main(void)
{
	struct iocb io[4], *list[4] = { &io[0], &io[1], &io[2], &io[3] };
	struct io_event evs[4];
	struct timespec zero = t_ts(0, 0);
	int r;

	ctx = t_setup(16);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	int dfd = t_tmpfile_direct(NULL, "resfd");
	int bfd = t_reopen(dfd, O_RDWR);
	t_write_pattern(bfd, 3 * 65536, 5);
	T_ASSERT(fsync(bfd) == 0);
	unsigned char *buf = t_aligned(4 * 65536);

	printf("-- three O_DIRECT reads\n");
	for (int i = 0; i < 3; i++) {
		io_prep_pread(&io[i], dfd, buf + i * 65536, 65536, (long long)i * 65536);
		io[i].data = (void *)(uintptr_t)(0x30 + i);
		io_set_eventfd(&io[i], efd);
	}
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit = %s\n", t_err(r));
	T_ASSERT(r == 3);
	wait_count(3);
	r = T_CALL(io_getevents(ctx, 3, 4, evs, &zero));
	printf("io_getevents(min 3, zero timeout) = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_sort_events(evs, 3, list, 3);
	for (int i = 0; i < 3; i++)
		t_print_event("  read", &evs[i], &io[i], (void *)(uintptr_t)(0x30 + i));
	printf("data %s\n", t_ok(t_check(buf, 3 * 65536, 5, 0)));
	expect_quiet_eventfd();

	printf("-- fsync\n");
	io_prep_fsync(&io[0], bfd);
	io_set_eventfd(&io[0], efd);
	t_submit1(ctx, &io[0]);
	wait_count(1);
	r = T_CALL(io_getevents(ctx, 1, 4, evs, &zero));
	printf("io_getevents(zero timeout) = %s\n", t_err(r));
	T_ASSERT(r == 1);
	t_print_event("  fsync", &evs[0], &io[0], NULL);

	printf("-- poll completed by a later write\n");
	int p[2];
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&io[0], p[0], POLLIN);
	io_set_eventfd(&io[0], efd);
	io[0].data = (void *)(uintptr_t)0x99;
	t_submit1(ctx, &io[0]);
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	printf("eventfd readable before the write: %d\n", poll(&pfd, 1, 50));
	T_ASSERT(write(p[1], "x", 1) == 1);
	wait_count(1);
	r = T_CALL(io_getevents(ctx, 1, 4, evs, &zero));
	printf("io_getevents(zero timeout) = %s\n", t_err(r));
	T_ASSERT(r == 1);
	printf("  poll: res_has_POLLIN=%d res2=%s obj=%s data=%s\n",
	       ((long)evs[0].res & POLLIN) != 0, t_err((long)evs[0].res2),
	       t_ok(evs[0].obj == &io[0]), t_ok(evs[0].data == (void *)(uintptr_t)0x99));

	printf("-- failures and short counts still signal\n");
	io_prep_pread(&io[0], dfd, buf + 1, 4096, 0); /* misaligned: -EINVAL */
	io_set_eventfd(&io[0], efd);
	io_prep_pread(&io[1], dfd, buf, 65536, 3 * 65536 - 4096); /* crosses EOF */
	io_set_eventfd(&io[1], efd);
	io_prep_pread(&io[2], dfd, buf, 4096, 10 * 65536); /* past EOF */
	io_set_eventfd(&io[2], efd);
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit = %s\n", t_err(r));
	T_ASSERT(r == 3);
	wait_count(3);
	r = T_CALL(io_getevents(ctx, 3, 4, evs, &zero));
	printf("io_getevents(min 3, zero timeout) = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_sort_events(evs, 3, list, 3);
	t_print_event("  misaligned", &evs[0], &io[0], NULL);
	t_print_event("  across EOF", &evs[1], &io[1], NULL);
	t_print_event("  past EOF", &evs[2], &io[2], NULL);

	printf("-- only flagged requests count\n");
	io_prep_pread(&io[0], dfd, buf, 4096, 0);
	io_prep_pread(&io[1], dfd, buf + 65536, 4096, 4096);
	io_set_eventfd(&io[1], efd);
	io_prep_pread(&io[2], dfd, buf + 2 * 65536, 4096, 8192);
	/* a resfd without IOCB_FLAG_RESFD is ignored */
	io[2].u.c.resfd = (unsigned)efd;
	r = T_CALL(io_submit(ctx, 3, list));
	printf("submit = %s\n", t_err(r));
	T_ASSERT(r == 3);
	t_wait_events(ctx, 3, evs);
	t_sort_events(evs, 3, list, 3);
	for (int i = 0; i < 3; i++)
		t_print_event("  read", &evs[i], &io[i], NULL);
	wait_count(1);
	t_msleep(20);
	expect_quiet_eventfd();

	t_destroy(ctx);
	return 0;
}
