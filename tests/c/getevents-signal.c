/* Description: signals during io_getevents / io_pgetevents.
 *
 * A handled signal that arrives while io_getevents waits with no events
 * collected makes it return -EINTR, even with SA_RESTART. io_pgetevents
 * installs its sigmask only for the wait: a blocked, pending SIGUSR1 is
 * delivered (-EINTR, handler runs once) when the mask unblocks it, stays
 * pending (timeout, returns 0) when the mask keeps it blocked, and when an
 * event is ready the event is returned (1) and the handler still runs. The
 * caller's own mask is the same afterwards.
 */
#include "t_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

static volatile sig_atomic_t handled;
static atomic_int done;
static pthread_t main_thread;

static void on_sig(int sig)
{
	(void)sig;
	handled++;
}

static void *pester(void *arg)
{
	(void)arg;
	/* keep signalling until the main thread reports it was interrupted */
	while (!atomic_load(&done)) {
		t_msleep(10);
		if (!atomic_load(&done))
			pthread_kill(main_thread, SIGUSR2);
	}
	return NULL;
}

static int usr1_blocked(void)
{
	sigset_t cur;
	T_ASSERT(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
	return sigismember(&cur, SIGUSR1);
}

int main(void)
{
	struct sigaction sa;
	struct io_event ev;
	struct timespec ts = t_ts(20, 0), short_ts = t_ts(0, 30 * 1000000L);
	sigset_t block1, none, only1;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	T_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);
	T_ASSERT(sigaction(SIGUSR2, &sa, NULL) == 0);
	sigemptyset(&none);
	sigemptyset(&block1);
	sigaddset(&block1, SIGUSR1);
	sigfillset(&only1);
	sigdelset(&only1, SIGUSR1);

	io_context_t ctx = t_setup(8);
	main_thread = pthread_self();

	printf("-- io_getevents interrupted (SA_RESTART handler)\n");
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, pester, NULL) == 0);
	r = T_CALL(io_getevents(ctx, 1, 1, &ev, &ts));
	atomic_store(&done, 1);
	T_ASSERT(pthread_join(th, NULL) == 0);
	printf("io_getevents = %s handler_ran=%d\n", t_err(r), handled > 0);

	printf("-- io_pgetevents and its sigmask\n");
	T_ASSERT(pthread_sigmask(SIG_BLOCK, &block1, NULL) == 0);
	handled = 0;
	T_ASSERT(raise(SIGUSR1) == 0);
	printf("pending, handler_ran=%d\n", (int)handled);

	r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &short_ts, &block1));
	printf("mask keeps SIGUSR1 blocked: %s handler_ran=%d\n", t_err(r), (int)handled);
	r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &short_ts, NULL));
	printf("NULL mask: %s handler_ran=%d\n", t_err(r), (int)handled);

	r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &ts, &none));
	printf("empty mask: %s handler_ran=%d SIGUSR1 blocked after=%d\n", t_err(r),
	       (int)handled, usr1_blocked());

	handled = 0;
	T_ASSERT(raise(SIGUSR1) == 0);
	r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &ts, &only1));
	printf("mask unblocking only SIGUSR1: %s handler_ran=%d SIGUSR1 blocked after=%d\n",
	       t_err(r), (int)handled, usr1_blocked());

	/* an event is ready and the signal is pending: the event wins */
	int fd = t_tmpfile("sig");
	t_write_pattern(fd, 4096, 1);
	static unsigned char buf[4096];
	struct iocb io;
	int efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	io_prep_pread(&io, fd, buf, 4096, 0);
	io.data = (void *)(uintptr_t)0x516;
	io_set_eventfd(&io, efd);
	t_submit1(ctx, &io);
	/* the eventfd fires once the event is in the ring */
	uint64_t cnt;
	T_ASSERT(read(efd, &cnt, sizeof(cnt)) == sizeof(cnt));
	handled = 0;
	T_ASSERT(raise(SIGUSR1) == 0);
	r = T_CALL(io_pgetevents(ctx, 1, 1, &ev, &ts, &none));
	printf("event ready + signal: %s handler_ran=%d SIGUSR1 blocked after=%d\n",
	       t_err(r), (int)handled, usr1_blocked());
	if (r == 1)
		t_print_event("  event", &ev, &io, (void *)(uintptr_t)0x516);

	T_ASSERT(pthread_sigmask(SIG_UNBLOCK, &block1, NULL) == 0);
	printf("after unblocking: handler_ran=%d\n", (int)handled);
	t_destroy(ctx);
	return 0;
}
