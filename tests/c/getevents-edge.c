/* Description: io_getevents / io_pgetevents argument and return edge cases.
 *
 * min_nr > nr, negative min_nr or nr, bad contexts -> -EINVAL; min_nr 0
 * returns at once even with a NULL timeout; an expiring timeout returns the
 * number of events collected so far (0 or fewer than min_nr), never -ETIME;
 * nr smaller than what is ready leaves the rest for later; a NULL events
 * array with events ready -> -EFAULT and the events stay queued. libaio's
 * user-space shortcut: with a {0,0} timeout and an empty ring it returns 0
 * without validating min_nr/nr/events; once an event is queued the same
 * call reaches the kernel and fails with -EINVAL. io_pgetevents behaves the
 * same with a NULL sigmask and with a mask.
 */
#include "t_util.h"
#include <signal.h>
#include <sys/eventfd.h>

static io_context_t ctx;
static int fd, efd;
static unsigned char buf[8][512];
static struct iocb ios[8];

/* Submit n reads with an eventfd and wait until all n have completed (the
 * eventfd is signalled after the event is in the ring). */
static void ready_events(int n)
{
	struct iocb *list[8];
	uint64_t total = 0;

	for (int i = 0; i < n; i++) {
		io_prep_pread(&ios[i], fd, buf[i], 512, i * 512);
		ios[i].data = (void *)(uintptr_t)(0x700 + i);
		io_set_eventfd(&ios[i], efd);
		list[i] = &ios[i];
	}
	int r = T_CALL(io_submit(ctx, n, list));
	T_ASSERT(r == n);
	while (total < (uint64_t)n) {
		uint64_t v;
		T_ASSERT(read(efd, &v, sizeof(v)) == sizeof(v));
		total += v;
	}
	T_ASSERT(total == (uint64_t)n);
}

static void show(const char *label, int r)
{
	printf("%-52s %s\n", label, t_err(r));
}

int main(void)
{
	struct io_event evs[8];
	struct timespec zero = t_ts(0, 0), short_ts = t_ts(0, 30 * 1000000L);
	static char not_a_ring[4096] __attribute__((aligned(4096)));
	sigset_t empty_mask, usr1_mask;
	int r;

	sigemptyset(&empty_mask);
	sigemptyset(&usr1_mask);
	sigaddset(&usr1_mask, SIGUSR1);

	ctx = t_setup(16);
	fd = t_tmpfile("getevents");
	t_write_pattern(fd, 4096, 9);
	efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);

	printf("-- empty ring, kernel checks (non-zero timeout)\n");
	show("min_nr 2 > nr 1", T_CALL(io_getevents(ctx, 2, 1, evs, &short_ts)));
	show("min_nr -1", T_CALL(io_getevents(ctx, -1, 1, evs, &short_ts)));
	show("nr -1", T_CALL(io_getevents(ctx, 0, -1, evs, &short_ts)));
	show("min_nr 0, nr -1, NULL timeout", T_CALL(io_getevents(ctx, 0, -1, evs, NULL)));
	show("ctx NULL", T_CALL(io_getevents(NULL, 1, 1, evs, &short_ts)));
	show("ctx NULL, zero timeout", T_CALL(io_getevents(NULL, 1, 1, evs, &zero)));
	show("ctx is not a context", T_CALL(io_getevents((io_context_t)(void *)not_a_ring, 1, 1, evs, &short_ts)));
	show("ctx is not a context, zero timeout", T_CALL(io_getevents((io_context_t)(void *)not_a_ring, 1, 1, evs, &zero)));

	printf("-- empty ring, no waiting\n");
	show("min_nr 0, NULL timeout", T_CALL(io_getevents(ctx, 0, 8, evs, NULL)));
	show("min_nr 0, nr 0, NULL events, NULL timeout", T_CALL(io_getevents(ctx, 0, 0, NULL, NULL)));
	show("min_nr 1, 30 ms timeout expires", T_CALL(io_getevents(ctx, 1, 8, evs, &short_ts)));
	show("min_nr 1, zero timeout", T_CALL(io_getevents(ctx, 1, 8, evs, &zero)));

	printf("-- empty ring, zero timeout shortcut\n");
	show("min_nr 2 > nr 1", T_CALL(io_getevents(ctx, 2, 1, evs, &zero)));
	show("min_nr -1", T_CALL(io_getevents(ctx, -1, 1, evs, &zero)));
	show("nr -1", T_CALL(io_getevents(ctx, 0, -1, evs, &zero)));
	show("events NULL", T_CALL(io_getevents(ctx, 1, 1, NULL, &zero)));
	show("pgetevents min_nr 2 > nr 1", T_CALL(io_pgetevents(ctx, 2, 1, evs, &zero, NULL)));
	show("pgetevents nr -1, mask", T_CALL(io_pgetevents(ctx, 0, -1, evs, &zero, &usr1_mask)));

	printf("-- one event ready\n");
	ready_events(1);
	show("zero timeout, min_nr 2 > nr 1", T_CALL(io_getevents(ctx, 2, 1, evs, &zero)));
	show("zero timeout, nr -1", T_CALL(io_getevents(ctx, 0, -1, evs, &zero)));
	show("zero timeout, events NULL", T_CALL(io_getevents(ctx, 1, 1, NULL, &zero)));
	show("30 ms timeout, events NULL", T_CALL(io_getevents(ctx, 1, 1, NULL, &short_ts)));
	show("pgetevents zero timeout, min_nr 2 > nr 1", T_CALL(io_pgetevents(ctx, 2, 1, evs, &zero, NULL)));
	r = T_CALL(io_getevents(ctx, 2, 4, evs, &short_ts));
	show("min_nr 2, 30 ms timeout (only 1 ready)", r);
	if (r >= 1)
		t_print_event("  event", &evs[0], &ios[0], (void *)(uintptr_t)0x700);
	printf("  data %s\n", t_ok(t_check(buf[0], 512, 9, 0)));
	show("again, ring now empty", T_CALL(io_getevents(ctx, 1, 4, evs, &short_ts)));

	printf("-- nr smaller than what is ready\n");
	ready_events(3);
	r = T_CALL(io_getevents(ctx, 1, 2, evs, NULL));
	show("min_nr 1 nr 2, 3 ready", r);
	T_ASSERT(r == 2);
	r = T_CALL(io_getevents(ctx, 0, 1, evs + 2, &zero));
	show("min_nr 0 nr 1, zero timeout", r);
	T_ASSERT(r == 1);
	show("min_nr 0 nr 8, zero timeout", T_CALL(io_getevents(ctx, 0, 8, evs, &zero)));
	{
		struct iocb *list[3] = { &ios[0], &ios[1], &ios[2] };
		t_sort_events(evs, 3, list, 3);
		for (int i = 0; i < 3; i++)
			t_print_event("  event", &evs[i], &ios[i], (void *)(uintptr_t)(0x700 + i));
	}

	printf("-- min_nr 0 with events ready\n");
	ready_events(2);
	show("min_nr 0 nr 8, NULL timeout", T_CALL(io_getevents(ctx, 0, 8, evs, NULL)));

	printf("-- io_pgetevents\n");
	ready_events(2);
	r = T_CALL(io_pgetevents(ctx, 1, 1, evs, NULL, NULL));
	show("NULL timeout, NULL sigmask", r);
	T_ASSERT(r == 1);
	r = T_CALL(io_pgetevents(ctx, 1, 1, evs + 1, &short_ts, &usr1_mask));
	show("30 ms timeout, mask {SIGUSR1}", r);
	T_ASSERT(r == 1);
	{
		struct iocb *list[2] = { &ios[0], &ios[1] };
		t_sort_events(evs, 2, list, 2);
		for (int i = 0; i < 2; i++)
			t_print_event("  event", &evs[i], &ios[i], (void *)(uintptr_t)(0x700 + i));
	}
	r = T_CALL(io_pgetevents(ctx, 1, 1, evs, &short_ts, &empty_mask));
	show("30 ms timeout, empty mask, nothing ready", r);
	show("min_nr 2 > nr 1, 30 ms timeout", T_CALL(io_pgetevents(ctx, 2, 1, evs, &short_ts, NULL)));
	show("ctx NULL", T_CALL(io_pgetevents(NULL, 1, 1, evs, &short_ts, NULL)));
	/* the mask given to io_pgetevents did not stick */
	sigset_t cur;
	T_ASSERT(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
	printf("SIGUSR1 blocked afterwards: %d\n", sigismember(&cur, SIGUSR1));

	t_destroy(ctx);
	return 0;
}
