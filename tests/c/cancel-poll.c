/* Description: io_cancel semantics.
 *
 * Cancelling a pending IO_CMD_POLL returns -EINPROGRESS and never writes the
 * caller's result struct; the cancelled poll then produces a normal event
 * with res=0 res2=0. Cancelling it again, cancelling a completed request, an
 * iocb never submitted, a regular (file) read, or with a non-zero aio_key or
 * a bad context gives -EINVAL; a NULL iocb gives -EFAULT. The result
 * pointer may be NULL. Other pending polls are unaffected.
 */
#include "t_util.h"

static void show(const char *label, int r, const struct io_event *res)
{
	static const unsigned char pat = 0xa5;
	printf("%-36s %s result_untouched=%d\n", label, t_err(r),
	       t_all(res, sizeof(*res), pat));
}

int main(void)
{
	io_context_t ctx = t_setup(8);
	struct iocb a, b, never, rd;
	struct io_event res, ev;
	int p[2], r;

	T_ASSERT(pipe(p) == 0);

	io_prep_poll(&a, p[0], POLLIN);
	a.data = (void *)(uintptr_t)0xaaaa;
	t_submit1(ctx, &a);
	io_prep_poll(&b, p[0], POLLIN);
	b.data = (void *)(uintptr_t)0xbbbb;
	t_submit1(ctx, &b);

	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &a, &res));
	show("cancel pending poll", r, &res);

	t_wait_events(ctx, 1, &ev);
	t_print_event("cancelled poll event", &ev, &a, (void *)(uintptr_t)0xaaaa);

	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &a, &res));
	show("cancel it again", r, &res);

	t_expect_no_event(ctx, 30);
	printf("other poll still pending\n");

	/* complete b, then try to cancel it */
	T_ASSERT(write(p[1], "x", 1) == 1);
	t_wait_events(ctx, 1, &ev);
	printf("poll b: res_has_POLLIN=%d res2=%s obj=%s data=%s\n",
	       ((long)ev.res & POLLIN) != 0, t_err((long)ev.res2),
	       t_ok(ev.obj == &b), t_ok(ev.data == (void *)(uintptr_t)0xbbbb));
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &b, &res));
	show("cancel completed poll", r, &res);

	/* never submitted */
	io_prep_poll(&never, p[0], POLLIN);
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &never, &res));
	show("cancel never-submitted iocb", r, &res);

	/* regular file read: not cancellable, completes normally */
	int fd = t_tmpfile("cancel");
	t_write_pattern(fd, 4096, 2);
	static unsigned char buf[4096];
	io_prep_pread(&rd, fd, buf, 4096, 0);
	rd.data = (void *)(uintptr_t)0xcccc;
	t_submit1(ctx, &rd);
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &rd, &res));
	show("cancel file read", r, &res);
	t_wait_events(ctx, 1, &ev);
	t_print_event("file read event", &ev, &rd, (void *)(uintptr_t)0xcccc);

	/* pending poll, but the iocb's key was scribbled on */
	T_ASSERT(read(p[0], buf, 1) == 1);
	io_prep_poll(&a, p[0], POLLIN);
	a.data = (void *)(uintptr_t)0xdddd;
	t_submit1(ctx, &a);
	a.key = 1;
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &a, &res));
	show("cancel with aio_key 1", r, &res);
	a.key = 0;

	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(NULL, &a, &res));
	show("cancel with ctx NULL", r, &res);

	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, NULL, &res));
	show("cancel NULL iocb", r, &res);

	/* the poll is still pending and still cancellable; the result
	 * pointer is not used at all, so NULL is fine */
	t_expect_no_event(ctx, 30);
	r = T_CALL(io_cancel(ctx, &a, NULL));
	printf("%-36s %s\n", "cancel pending poll, result NULL", t_err(r));
	t_wait_events(ctx, 1, &ev);
	t_print_event("cancelled poll event", &ev, &a, (void *)(uintptr_t)0xdddd);

	/* cancel a poll that was submitted in a batch with a read */
	struct iocb *list[2] = { &rd, &b };
	io_prep_pread(&rd, fd, buf, 4096, 0);
	io_prep_poll(&b, p[0], POLLIN);
	b.data = (void *)(uintptr_t)0xeeee;
	r = T_CALL(io_submit(ctx, 2, list));
	T_ASSERT(r == 2);
	t_wait_events(ctx, 1, &ev);
	t_print_event("batched read event", &ev, &rd, NULL);
	memset(&res, 0xa5, sizeof(res));
	r = T_CALL(io_cancel(ctx, &b, &res));
	show("cancel batched poll", r, &res);
	t_wait_events(ctx, 1, &ev);
	t_print_event("cancelled poll event", &ev, &b, (void *)(uintptr_t)0xeeee);

	t_expect_no_event(ctx, 30);
	t_destroy(ctx);
	return 0;
}
