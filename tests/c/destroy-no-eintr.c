/* Description: io_setup and io_destroy never interrupt the caller's own waits.
 *
 * Kernel AIO contexts come and go without touching the threads that made
 * them. (A ring torn down by io_uring queues work with TWA_SIGNAL on the
 * thread that created it, whose next epoll_wait then fails with EINTR, so an
 * io_uring engine must not create rings on application threads.) Twenty
 * contexts are set up, used (a read, a pending poll) and destroyed; after
 * each, epoll_wait on an empty epoll set must time out, five times, never
 * -EINTR.
 */
#include "t_util.h"
#include <sys/epoll.h>

int main(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fd = t_tmpfile("noeintr");
	int p[2];
	char buf[512];
	int eintr = 0, timeouts = 0;

	T_ASSERT(ep >= 0 && pipe(p) == 0);
	t_write_pattern(fd, 4096, 3);
	for (int i = 0; i < 20; i++) {
		io_context_t ctx = t_setup(8);
		struct iocb rd, poll;
		struct io_event ev;
		io_prep_pread(&rd, fd, buf, sizeof(buf), 0);
		io_prep_poll(&poll, p[0], POLLIN);
		t_submit1(ctx, &rd);
		t_wait_events(ctx, 1, &ev);
		T_ASSERT(ev.res == sizeof(buf));
		t_submit1(ctx, &poll);
		t_destroy(ctx);
		for (int k = 0; k < 5; k++) {
			struct epoll_event e;
			int r = epoll_wait(ep, &e, 1, 10);
			if (r < 0 && errno == EINTR)
				eintr++;
			else if (r == 0)
				timeouts++;
		}
	}
	printf("epoll_wait: %d timeouts, %d EINTR\n", timeouts, eintr);
	return 0;
}
