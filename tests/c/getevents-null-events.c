/* Description: io_getevents into an unwritable events array waits like any other call.
 *
 * The kernel copies an event to the caller's array only when there is one
 * to copy: with a NULL array and nothing pending, io_getevents waits out
 * its timeout and returns 0; once an event is ready, the copy fails with
 * -EFAULT and the event stays for a later call with a good array. Checked:
 * nothing pending (the 20 ms timeout is waited out), an inline-route read's
 * event, a poll's event, and a poll completed while the call waits (a
 * thread writes the pipe 20 ms into a 2 s wait: -EFAULT when it fires).
 */
#include "t_util.h"
#include <poll.h>
#include <pthread.h>

static int pipe_w;

static void *write_later(void *arg)
{
	(void)arg;
	t_msleep(20);
	T_ASSERT(write(pipe_w, "x", 1) == 1);
	return NULL;
}

static void null_wait(io_context_t ctx, const char *label, long timeout_ms)
{
	struct timespec ts = t_ts(timeout_ms / 1000, (timeout_ms % 1000) * 1000000);
	double start = t_now();
	int r = T_CALL(io_getevents(ctx, 1, 1, NULL, &ts));
	double waited_ms = (t_now() - start) * 1000;
	printf("%s: %s, waited out the timeout: %s\n", label, t_err(r), waited_ms >= (double)timeout_ms ? "yes" : "no");
}

static void reap_good(io_context_t ctx, const char *label, struct iocb *cb)
{
	struct io_event ev;
	t_wait_events(ctx, 1, &ev);
	printf("%s then: res>0=%d obj=%s\n", label, (long)ev.res > 0, t_ok(ev.obj == cb));
}

int main(void)
{
	io_context_t ctx = t_setup(8);
	null_wait(ctx, "nothing pending", 20);

	int fd = t_tmpfile("getevents-null-events");
	t_write_pattern(fd, 4096, 1);
	char buf[512];
	struct iocb cb;
	io_prep_pread(&cb, fd, buf, sizeof(buf), 0);
	t_submit1(ctx, &cb);
	t_msleep(10);
	null_wait(ctx, "read done", 20);
	reap_good(ctx, "read done", &cb);

	int p[2];
	T_ASSERT(pipe(p) == 0);
	pipe_w = p[1];
	io_prep_poll(&cb, p[0], POLLIN);
	t_submit1(ctx, &cb);
	null_wait(ctx, "poll pending", 20);
	pthread_t t;
	T_ASSERT(pthread_create(&t, NULL, write_later, NULL) == 0);
	null_wait(ctx, "poll fires during the wait", 2000);
	T_ASSERT(pthread_join(t, NULL) == 0);
	null_wait(ctx, "poll fired", 20);
	reap_good(ctx, "poll fired", &cb);

	close(p[0]);
	close(p[1]);
	close(fd);
	t_destroy(ctx);
	return 0;
}
