/* Description: a process with an open context and nothing in flight uses no CPU.
 *
 * Kernel AIO has no threads: a context with nothing in flight costs nothing
 * while the process sleeps. A library with threads of its own (a kernel
 * submission thread, a completion mover) must let them all sleep too. The
 * test first sends requests down every route a context has (a cached read,
 * several uncached buffered reads at once, 70 O_DIRECT reads one after the
 * other and a poll on a pipe that a write then completes), reaps them all,
 * waits 200 ms, then measures the CPU time of the whole process (all its
 * threads, the kernel's io threads included: getrusage RUSAGE_SELF sums the
 * thread group) over an idle period: 1 s, or the number of seconds in
 * argv[1] (scripts/light-load --idle uses 10). More than 0.5% of a core
 * fails; with argv[2] = "-v" the figure is printed instead.
 */
#include "t_util.h"
#include <poll.h>
#include <sys/resource.h>

#define BS 4096
#define PAGES 64

static long long cpu_us(void)
{
	struct rusage ru;
	T_ASSERT(getrusage(RUSAGE_SELF, &ru) == 0);
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static void read_all(io_context_t ctx, int fd, unsigned char *bufs, int n, long long first_page)
{
	struct iocb cbs[8], *list[8];
	T_ASSERT(n <= 8);
	for (int i = 0; i < n; i++) {
		io_prep_pread(&cbs[i], fd, bufs + (size_t)i * BS, BS, (first_page + i * 7) % PAGES * BS);
		list[i] = &cbs[i];
	}
	int got = T_CALL(io_submit(ctx, n, list));
	T_ASSERTF(got == n, "io_submit: %s", t_err(got));
	struct io_event evs[8];
	t_wait_events(ctx, n, evs);
	for (int i = 0; i < n; i++)
		T_ASSERTF((long)evs[i].res == BS, "read: %s", t_err((long)evs[i].res));
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 1;
	int verbose = argc > 2 && strcmp(argv[2], "-v") == 0;
	T_ASSERT(seconds > 0);
	io_context_t ctx = t_setup(64);
	unsigned char *bufs = t_aligned((size_t)8 * BS);
	int fd = t_tmpfile("idle-no-cpu");
	t_write_pattern(fd, (size_t)PAGES * BS, 5);
	T_ASSERT(fsync(fd) == 0);

	read_all(ctx, fd, bufs, 1, 0); /* cached */
	T_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	read_all(ctx, fd, bufs, 8, 3); /* uncached, several in flight */
	int dfd = t_reopen(fd, O_RDONLY | O_DIRECT);
	for (int i = 0; i < 70; i++)
		read_all(ctx, dfd, bufs, 1, i);

	int pipefd[2];
	T_ASSERT(pipe(pipefd) == 0);
	struct iocb poll_cb;
	io_prep_poll(&poll_cb, pipefd[0], POLLIN);
	t_submit1(ctx, &poll_cb);
	T_ASSERT(write(pipefd[1], "x", 1) == 1);
	struct io_event ev;
	t_wait_events(ctx, 1, &ev);
	T_ASSERTF((long)ev.res > 0, "poll: %s", t_err((long)ev.res));

	t_msleep(200);
	long long before = cpu_us();
	t_msleep((long)seconds * 1000);
	long long used = cpu_us() - before;
	long long limit = (long long)seconds * 5000; /* 0.5% of a core */
	if (verbose)
		printf("idle: %lld us of CPU in %d s\n", used, seconds);
	else if (used > limit)
		printf("idle: %lld us of CPU in %d s (more than %lld)\n", used, seconds, limit);
	else
		printf("idle: under 0.5%% of a core\n");

	close(pipefd[0]);
	close(pipefd[1]);
	close(dfd);
	close(fd);
	t_destroy(ctx);
	return 0;
}
