/* Description: io_destroy wakes threads blocked in io_getevents.
 *
 * Three threads wait on the same empty context: io_getevents with no
 * timeout, io_getevents with a long timeout, io_pgetevents with no timeout.
 * Once all three are asleep another thread destroys the context; every
 * waiter returns -EINVAL (it had collected no events) and io_destroy returns
 * 0. A pending poll on the context does not change that.
 */
#include "t_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static io_context_t ctx;

struct waiter {
	int kind;
	atomic_int tid;
	atomic_int started;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct io_event ev;
	struct timespec ts = t_ts(20, 0);
	sigset_t mask;

	sigemptyset(&mask);
	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	atomic_store(&w->started, 1);
	switch (w->kind) {
	case 0:
		w->ret = T_CALL(io_getevents(ctx, 1, 1, &ev, NULL));
		break;
	case 1:
		w->ret = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
		break;
	default:
		w->ret = T_CALL(io_pgetevents(ctx, 1, 1, &ev, NULL, &mask));
		break;
	}
	return NULL;
}

int main(void)
{
	static const char *names[3] = {
		"io_getevents(NULL timeout)",
		"io_getevents(20 s timeout)",
		"io_pgetevents(NULL timeout, mask)",
	};
	struct waiter w[3];
	pthread_t th[3];
	struct iocb poll_io;
	int p[2];

	ctx = t_setup(8);
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&poll_io, p[0], POLLIN);
	t_submit1(ctx, &poll_io);

	for (int i = 0; i < 3; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].kind = i;
		w[i].ret = 999;
		T_ASSERT(pthread_create(&th[i], NULL, wait_thread, &w[i]) == 0);
	}
	/* wait until every waiter sleeps in the kernel (generous bound) */
	double deadline = t_now() + 20.0;
	for (int i = 0; i < 3; i++) {
		while (!atomic_load(&w[i].started) || !t_sleeping(atomic_load(&w[i].tid))) {
			T_ASSERTF(t_now() < deadline, "waiter %d never went to sleep", i);
			t_msleep(2);
		}
	}
	t_msleep(50);
	for (int i = 0; i < 3; i++)
		T_ASSERT(t_sleeping(atomic_load(&w[i].tid)));
	printf("3 waiters asleep\n");

	int r = T_CALL(io_destroy(ctx));
	printf("io_destroy = %s\n", t_err(r));
	for (int i = 0; i < 3; i++) {
		T_ASSERT(pthread_join(th[i], NULL) == 0);
		printf("%s returned %s\n", names[i], t_err(w[i].ret));
	}
	return 0;
}
