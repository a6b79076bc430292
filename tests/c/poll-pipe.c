/* Description: IO_CMD_POLL on pipes and regular files.
 *
 * A poll whose condition already holds at submit completes with exactly the
 * requested bits (POLLIN -> 1, POLLIN|POLLRDNORM -> 65, POLLOUT -> 4). A
 * poll that has to wait stays pending until a write (or a read on a full
 * pipe) makes it ready; the mask it then reports depends on the wakeup path
 * (the kernel may report the waker's full mask, e.g. 65 for POLLIN), so only
 * the requested bit and the absence of unrelated bits are printed. Closing
 * the write end completes a POLLIN poll with POLLHUP (16), which is always
 * reported even when not requested. A regular file is always ready for
 * POLLIN/POLLOUT; a POLLPRI poll on it can never complete and is refused at
 * submit with -EINVAL. The io_poll() helper stores the callback in data.
 */
#include "t_util.h"
#include <pthread.h>

static io_context_t ctx;

static void show_exact(const char *label, struct iocb *io, void *data)
{
	struct io_event ev;
	t_wait_events(ctx, 1, &ev);
	t_print_event(label, &ev, io, data);
}

/* For wakeup-completed polls: only print whether `want` is set and whether
 * any bit outside `allowed` is set. */
static void show_loose(const char *label, struct iocb *io, void *data,
		       unsigned want, unsigned allowed)
{
	struct io_event ev;
	t_wait_events(ctx, 1, &ev);
	long res = (long)ev.res;
	printf("%s: res>0=%d has_requested=%d extra_bits=%d res2=%s obj=%s data=%s\n",
	       label, res > 0, res > 0 && (res & want) != 0,
	       res > 0 && (res & ~(long)allowed) != 0, t_err((long)ev.res2),
	       t_ok(ev.obj == io), t_ok(ev.data == data));
}

static void submit_poll(struct iocb *io, int fd, int events, uintptr_t data)
{
	io_prep_poll(io, fd, events);
	io->data = (void *)data;
	t_submit1(ctx, io);
}

static void cb(io_context_t c, struct iocb *iocb, long res, long res2)
{
	(void)c; (void)iocb; (void)res; (void)res2;
}

int main(void)
{
	struct iocb io;
	int p[2];
	char c = 'x';
	static char big[1 << 20];

	ctx = t_setup(16);
	T_ASSERT(pipe(p) == 0);

	printf("-- ready at submit\n");
	T_ASSERT(write(p[1], &c, 1) == 1);
	submit_poll(&io, p[0], POLLIN, 1);
	show_exact("POLLIN with data", &io, (void *)1);
	submit_poll(&io, p[0], POLLIN | POLLRDNORM, 2);
	show_exact("POLLIN|POLLRDNORM with data", &io, (void *)2);
	submit_poll(&io, p[0], POLLIN | POLLOUT | POLLPRI, 3);
	show_exact("POLLIN|POLLOUT|POLLPRI on read end", &io, (void *)3);
	submit_poll(&io, p[1], POLLOUT, 4);
	show_exact("POLLOUT on write end", &io, (void *)4);
	submit_poll(&io, p[1], POLLOUT | POLLWRNORM | POLLIN, 5);
	show_exact("POLLOUT|POLLWRNORM|POLLIN on write end", &io, (void *)5);
	T_ASSERT(read(p[0], &c, 1) == 1);

	printf("-- completed by a later write\n");
	submit_poll(&io, p[0], POLLIN, 6);
	t_expect_no_event(ctx, 50);
	printf("pending after 50 ms\n");
	T_ASSERT(write(p[1], &c, 1) == 1);
	show_loose("POLLIN after write", &io, (void *)6, POLLIN, POLLIN | POLLRDNORM);
	T_ASSERT(read(p[0], &c, 1) == 1);

	printf("-- poll that waits on other bits only\n");
	submit_poll(&io, p[0], POLLPRI, 7);
	T_ASSERT(write(p[1], &c, 1) == 1);
	t_expect_no_event(ctx, 50);
	printf("POLLPRI still pending after a write\n");
	T_ASSERT(read(p[0], &c, 1) == 1);

	printf("-- completed by a read on a full pipe\n");
	int q[2];
	struct iocb io2;
	T_ASSERT(pipe(q) == 0);
	T_ASSERT(fcntl(q[1], F_SETFL, O_NONBLOCK) == 0);
	size_t filled = 0;
	for (;;) {
		ssize_t w = write(q[1], big, sizeof(big));
		if (w < 0) {
			T_ASSERT(errno == EAGAIN);
			break;
		}
		filled += (size_t)w;
	}
	submit_poll(&io2, q[1], POLLOUT, 8);
	t_expect_no_event(ctx, 50);
	printf("POLLOUT pending on a full pipe\n");
	size_t drained = 0;
	while (drained < filled) {
		ssize_t n = read(q[0], big, sizeof(big));
		T_ASSERT(n > 0);
		drained += (size_t)n;
	}
	show_loose("POLLOUT after draining", &io2, (void *)8, POLLOUT, POLLOUT | POLLWRNORM);

	printf("-- hang-up\n");
	submit_poll(&io2, q[0], POLLIN, 9);
	t_expect_no_event(ctx, 50);
	close(q[1]);
	show_exact("POLLIN, writer closed later", &io2, (void *)9);
	submit_poll(&io2, q[0], POLLIN, 10);
	show_exact("POLLIN, writer already closed", &io2, (void *)10);
	submit_poll(&io2, q[0], 0, 11);
	show_exact("events 0, writer already closed", &io2, (void *)11);
	close(q[0]);

	printf("-- regular file\n");
	int fd = t_tmpfile("poll");
	submit_poll(&io2, fd, POLLIN, 12);
	show_exact("POLLIN", &io2, (void *)12);
	submit_poll(&io2, fd, POLLIN | POLLOUT, 13);
	show_exact("POLLIN|POLLOUT", &io2, (void *)13);
	/* never ready and no wait queue to park on: refused at submit */
	io_prep_poll(&io2, fd, POLLPRI);
	printf("POLLPRI submit = %s\n", t_err(t_submit_one(ctx, &io2)));
	t_expect_no_event(ctx, 20);

	printf("-- io_poll helper\n");
	T_ASSERT(write(p[1], &c, 1) == 1);
	struct iocb io3;
	int r = T_CALL(io_poll(ctx, &io3, cb, p[0], POLLIN));
	printf("io_poll = %s\n", t_err(r));
	show_exact("io_poll event", &io3, (void *)cb);

	/* the POLLPRI poll on the pipe is still pending: destroy cancels it */
	printf("io_destroy with pending polls = %s\n", t_err(T_CALL(io_destroy(ctx))));
	return 0;
}
