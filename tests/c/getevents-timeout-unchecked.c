/* Description: io_getevents does not validate the timespec.
 *
 * A negative tv_sec or tv_nsec, or a tv_nsec of a second or more, is not
 * an error: the call simply waits (a negative value waits without limit) and
 * returns the event once it arrives. Each case parks a poll on an empty
 * pipe; a helper thread makes it ready shortly afterwards.
 */
#include "t_util.h"
#include <pthread.h>

static int p[2];

static void *writer(void *arg)
{
	(void)arg;
	t_msleep(30);
	T_ASSERT(write(p[1], "x", 1) == 1);
	return NULL;
}

static void one(io_context_t ctx, const char *label, struct timespec ts, int pgetevents)
{
	struct iocb io;
	struct io_event ev;
	pthread_t th;
	char c;
	int r;

	io_prep_poll(&io, p[0], POLLIN);
	io.data = (void *)(uintptr_t)0x71;
	t_submit1(ctx, &io);
	T_ASSERT(pthread_create(&th, NULL, writer, NULL) == 0);
	if (pgetevents)
		r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &ts, NULL));
	else
		r = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
	T_ASSERT(pthread_join(th, NULL) == 0);
	printf("%-40s %s", label, t_err(r));
	if (r == 1)
		printf(" res_has_POLLIN=%d obj=%s data=%s", ((long)ev.res & POLLIN) != 0,
		       t_ok(ev.obj == &io), t_ok(ev.data == (void *)(uintptr_t)0x71));
	printf("\n");
	T_ASSERT(read(p[0], &c, 1) == 1);
	if (r != 1)
		t_wait_events(ctx, 1, &ev);
}

int main(void)
{
	io_context_t ctx = t_setup(4);
	T_ASSERT(pipe(p) == 0);

	one(ctx, "timeout {-1, 0}", t_ts(-1, 0), 0);
	one(ctx, "timeout {0, -1}", t_ts(0, -1), 0);
	one(ctx, "timeout {-5, -5}", t_ts(-5, -5), 0);
	one(ctx, "timeout {0, 1500000000}", t_ts(0, 1500000000L), 0);
	one(ctx, "timeout {20, 999999999}", t_ts(20, 999999999L), 0);
	one(ctx, "pgetevents timeout {-1, 0}", t_ts(-1, 0), 1);
	one(ctx, "pgetevents timeout {0, 2000000000}", t_ts(0, 2000000000L), 1);

	t_destroy(ctx);
	return 0;
}
