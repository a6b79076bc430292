/* Description: io_submit returns -EAGAIN when the context is full.
 *
 * Never-completing polls are submitted one by one into a context made with
 * io_setup(nr): at least nr are accepted, then io_submit fails with -EAGAIN
 * (the exact capacity is an implementation detail and is not printed).
 * Once one poll is cancelled and its event reaped, a new submission is
 * accepted again. A single batch larger than the capacity is accepted
 * partially: io_submit returns the count it took.
 */
#include "t_util.h"
#include <sched.h>

#define MAXREQ 200000

static struct iocb ios[MAXREQ];
static struct iocb *ptrs[MAXREQ];

static void run(int nr)
{
	io_context_t ctx = t_setup(nr);
	int p[2], n = 0, r = 0;

	T_ASSERT(pipe(p) == 0);
	while (n < MAXREQ) {
		io_prep_poll(&ios[n], p[0], POLLIN);
		ptrs[n] = &ios[n];
		r = T_CALL(io_submit(ctx, 1, &ptrs[n]));
		if (r != 1)
			break;
		n++;
	}
	printf("nr=%d: accepted at least nr: %d, then %s\n", nr, n >= nr,
	       n < MAXREQ ? t_err(r) : "no limit");

	struct io_event ev;
	r = T_CALL(io_cancel(ctx, &ios[0], &ev));
	printf("  cancel one = %s\n", t_err(r));
	t_wait_events(ctx, 1, &ev);
	t_print_event("  cancelled", &ev, &ios[0], NULL);
	io_prep_poll(&ios[0], p[0], POLLIN);
	r = T_CALL(io_submit(ctx, 1, &ptrs[0]));
	printf("  submit after reaping = %s\n", t_err(r));
	r = T_CALL(io_submit(ctx, 1, &ptrs[n]));
	printf("  submit once more = %s\n", t_err(r));
	t_destroy(ctx);

	/* one batch bigger than the capacity */
	if (n < MAXREQ - 50) {
		ctx = t_setup(nr);
		for (int i = 0; i < n + 50; i++) {
			io_prep_poll(&ios[i], p[0], POLLIN);
			ptrs[i] = &ios[i];
		}
		r = T_CALL(io_submit(ctx, n + 50, ptrs));
		printf("  batch of capacity+50: partial %d, at least nr %d\n",
		       r > 0 && r < n + 50, r >= nr);
		t_destroy(ctx);
	}
	close(p[0]);
	close(p[1]);
}

/* Kernel AIO keeps part of the free slots in per-CPU pools; staying on one
 * CPU makes the freed-slot accounting below independent of scheduling. */
static void pin_to_one_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set)) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			if (sched_setaffinity(0, sizeof(set), &set) != 0)
				fprintf(stderr, "note: cannot pin to CPU %d\n", c);
			return;
		}
	}
}

int main(void)
{
	pin_to_one_cpu();
	run(1);
	run(32);
	run(256);
	return 0;
}
