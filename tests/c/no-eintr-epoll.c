/* Description: completions do not interrupt the submitting thread's epoll_wait.
 *
 * Kernel AIO completes requests without touching the submitting thread. A
 * thread that submits an O_DIRECT read and a poll (made ready 50 ms later by
 * another thread) and then blocks in epoll_wait() on an unrelated, idle
 * descriptor must sleep until its timeout: epoll_wait returns 0, never -1
 * with EINTR. Both events are then reaped normally.
 */
#include "t_util.h"
#include <pthread.h>
#include <sys/epoll.h>

static int ready_pipe[2];

static void *make_ready(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	char c = 'x';
	T_ASSERT(write(ready_pipe[1], &c, 1) == 1);
	return NULL;
}

int main(void)
{
	enum { SZ = 4 << 20 };
	io_context_t ctx = t_setup(8);
	int fd = t_tmpfile_direct(NULL, "eintr");
	if (fd < 0)
		t_skip("no O_DIRECT file");
	t_write_pattern(fd, SZ, 33);
	void *buf;
	T_ASSERT(posix_memalign(&buf, 4096, SZ) == 0);

	int idle[2];
	T_ASSERT(pipe(idle) == 0 && pipe(ready_pipe) == 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN };
	T_ASSERT(epoll_ctl(ep, EPOLL_CTL_ADD, idle[0], &ee) == 0);

	struct iocb rd, pl, *list[2] = { &rd, &pl };
	io_prep_pread(&rd, fd, buf, SZ, 0);
	rd.data = (void *)0x61;
	io_prep_poll(&pl, ready_pipe[0], POLLIN);
	pl.data = (void *)0x62;
	int r = T_CALL(io_submit(ctx, 2, list));
	printf("io_submit = %s\n", t_err(r));

	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, make_ready, NULL) == 0);
	struct epoll_event out;
	int n = epoll_wait(ep, &out, 1, 300);
	printf("epoll_wait = %d%s\n", n, n < 0 && errno == EINTR ? " (EINTR)" : "");
	pthread_join(th, NULL);

	struct io_event evs[2];
	t_wait_events(ctx, 2, evs);
	t_sort_events(evs, 2, list, 2);
	t_print_event("read", &evs[0], &rd, (void *)0x61);
	printf("poll: res_has_POLLIN=%d res2=%ld\n", (evs[1].res & POLLIN) != 0, (long)evs[1].res2);
	printf("data %s\n", t_ok(t_check(buf, SZ, 33, 0)));
	t_destroy(ctx);
	return 0;
}
