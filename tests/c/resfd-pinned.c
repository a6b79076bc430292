/* Description: the RESFD eventfd is taken at io_submit time, not at completion.
 *
 * A poll is submitted with IOCB_FLAG_RESFD; the eventfd's descriptor is then
 * closed and its number reused for a pipe before the poll completes. The
 * completion must still signal the original eventfd (reached through a dup)
 * and write nothing into whatever now owns the number. A request whose
 * eventfd was closed completely still completes normally.
 */
#include "t_util.h"
#include <sys/eventfd.h>

int main(void)
{
	io_context_t ctx = t_setup(8);
	struct iocb io;
	struct io_event ev;
	int p[2], q[2];

	T_ASSERT(pipe(p) == 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	int keep = dup(efd);
	T_ASSERT(keep >= 0);

	io_prep_poll(&io, p[0], POLLIN);
	io_set_eventfd(&io, efd);
	io.data = (void *)(uintptr_t)0x1234;
	t_submit1(ctx, &io);

	/* close the eventfd and put a pipe's write end on its number */
	T_ASSERT(close(efd) == 0);
	T_ASSERT(pipe2(q, O_NONBLOCK | O_CLOEXEC) == 0);
	if (q[1] != efd) {
		T_ASSERT(dup2(q[1], efd) == efd);
		close(q[1]);
		q[1] = efd;
	}

	t_expect_no_event(ctx, 20);
	T_ASSERT(write(p[1], "x", 1) == 1);
	t_wait_events(ctx, 1, &ev);
	printf("poll: res_has_POLLIN=%d res2=%s obj=%s data=%s\n",
	       ((long)ev.res & POLLIN) != 0, t_err((long)ev.res2),
	       t_ok(ev.obj == &io), t_ok(ev.data == (void *)(uintptr_t)0x1234));

	struct pollfd pfd = { .fd = keep, .events = POLLIN };
	printf("original eventfd readable: %d\n", poll(&pfd, 1, 10000));
	uint64_t v = 0;
	T_ASSERT(read(keep, &v, sizeof(v)) == sizeof(v));
	printf("original eventfd count: %llu\n", (unsigned long long)v);
	char junk[16];
	ssize_t n = read(q[0], junk, sizeof(junk));
	printf("pipe on the reused number got data: %d\n", n > 0);

	/* eventfd closed for good before completion */
	T_ASSERT(read(p[0], junk, 1) == 1);
	int efd2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T_ASSERT(efd2 >= 0);
	io_prep_poll(&io, p[0], POLLIN);
	io_set_eventfd(&io, efd2);
	t_submit1(ctx, &io);
	T_ASSERT(close(efd2) == 0);
	T_ASSERT(write(p[1], "y", 1) == 1);
	t_wait_events(ctx, 1, &ev);
	printf("poll with closed eventfd: res_has_POLLIN=%d res2=%s obj=%s\n",
	       ((long)ev.res & POLLIN) != 0, t_err((long)ev.res2), t_ok(ev.obj == &io));

	t_destroy(ctx);
	return 0;
}
