/* Description: a fork()ed child cannot use its parent's context.
 *
 * In the child, io_submit, io_getevents (non-zero timeout), io_cancel and
 * io_destroy on the parent's context all return -EINVAL; the child can set
 * up and use a context of its own. The parent's context keeps working: a
 * poll it submitted before the fork is completed by the child's write and
 * reaped by the parent, and new I/O succeeds. The child's output is printed
 * before the parent's (the parent waits for it).
 */
#include "t_util.h"
#include <sys/wait.h>

static unsigned char buf[4096];

static void child(io_context_t parent_ctx, int fd, int wfd, struct iocb *parent_poll)
{
	struct iocb io, *list[1] = { &io };
	struct io_event ev;
	struct timespec ts = t_ts(0, 20 * 1000000L);
	int r;

	io_prep_pread(&io, fd, buf, 4096, 0);
	r = T_CALL(io_submit(parent_ctx, 1, list));
	printf("child: io_submit(parent ctx) = %s\n", t_err(r));
	r = T_CALL(io_getevents(parent_ctx, 1, 1, &ev, &ts));
	printf("child: io_getevents(parent ctx, 20 ms) = %s\n", t_err(r));
	r = T_CALL(io_getevents(parent_ctx, 0, 1, &ev, NULL));
	printf("child: io_getevents(parent ctx, min 0, NULL) = %s\n", t_err(r));
	r = T_CALL(io_cancel(parent_ctx, parent_poll, &ev));
	printf("child: io_cancel(parent ctx, parent's poll) = %s\n", t_err(r));

	io_context_t own = t_setup(4);
	io.data = (void *)(uintptr_t)0xc41d;
	t_submit1(own, &io);
	t_wait_events(own, 1, &ev);
	t_print_event("child: own ctx read", &ev, &io, (void *)(uintptr_t)0xc41d);
	printf("child: data %s\n", t_ok(t_check(buf, 4096, 4, 0)));
	t_destroy(own);

	r = T_CALL(io_destroy(parent_ctx));
	printf("child: io_destroy(parent ctx) = %s\n", t_err(r));

	/* wake the parent's poll */
	T_ASSERT(write(wfd, "x", 1) == 1);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	io_context_t ctx = t_setup(8);
	int fd = t_tmpfile("fork");
	int p[2];
	struct iocb poll_io, io;
	struct io_event ev;

	t_write_pattern(fd, 8192, 4);
	T_ASSERT(pipe(p) == 0);
	io_prep_poll(&poll_io, p[0], POLLIN);
	poll_io.data = (void *)(uintptr_t)0x9011;
	t_submit1(ctx, &poll_io);

	fflush(stdout);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0)
		child(ctx, fd, p[1], &poll_io);

	int status;
	T_ASSERT(waitpid(pid, &status, 0) == pid);
	printf("parent: child exited normally=%d code=%d\n", WIFEXITED(status),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);

	t_wait_events(ctx, 1, &ev);
	printf("parent: poll res_has_POLLIN=%d res2=%s obj=%s data=%s\n",
	       ((long)ev.res & POLLIN) != 0, t_err((long)ev.res2),
	       t_ok(ev.obj == &poll_io), t_ok(ev.data == (void *)(uintptr_t)0x9011));

	memset(buf, 0, sizeof(buf));
	io_prep_pread(&io, fd, buf, 4096, 4096);
	io.data = (void *)(uintptr_t)0x9a7e;
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	t_print_event("parent: read", &ev, &io, (void *)(uintptr_t)0x9a7e);
	printf("parent: data %s\n", t_ok(t_check(buf, 4096, 4, 4096)));
	t_expect_no_event(ctx, 20);
	t_destroy(ctx);
	return 0;
}
