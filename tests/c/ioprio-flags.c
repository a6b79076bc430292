/* Description: aio_reqprio with and without IOCB_FLAG_IOPRIO, unknown aio_flags.
 *
 * With IOCB_FLAG_IOPRIO the priority in aio_reqprio is validated at submit:
 * an invalid class (4..7) or class NONE with a level gives -EINVAL; BE and
 * IDLE are accepted (RT depends on privileges and is printed as is).
 * Without the flag aio_reqprio is ignored, garbage included. Unknown bits
 * in aio_flags are ignored.
 */
#include "t_util.h"

#define PRIO(cls, lvl) ((short)(((cls) << 13) | (lvl)))

static io_context_t ctx;
static int fd;
static unsigned char buf[4096];

static void try_prio(const char *label, int with_flag, short prio, unsigned extra_flags)
{
	struct iocb io;
	struct io_event ev;

	io_prep_pread(&io, fd, buf, 4096, 0);
	io.aio_reqprio = prio;
	if (with_flag)
		io.u.c.flags |= T_IOCB_FLAG_IOPRIO;
	io.u.c.flags |= extra_flags;
	io.data = (void *)(uintptr_t)0x10;
	int r = t_submit_one(ctx, &io);
	printf("%-36s submit=%s", label, t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		printf(" res=%s res2=%s obj=%s data=%s", t_err((long)ev.res),
		       t_err((long)ev.res2), t_ok(ev.obj == &io),
		       t_ok(ev.data == (void *)(uintptr_t)0x10));
	}
	printf("\n");
}

int main(void)
{
	ctx = t_setup(8);
	fd = t_tmpfile("ioprio");
	t_write_pattern(fd, 4096, 1);

	printf("-- IOCB_FLAG_IOPRIO\n");
	try_prio("class NONE level 0", 1, PRIO(0, 0), 0);
	try_prio("class NONE level 3", 1, PRIO(0, 3), 0);
	try_prio("class BE level 0", 1, PRIO(2, 0), 0);
	try_prio("class BE level 7", 1, PRIO(2, 7), 0);
	try_prio("class IDLE", 1, PRIO(3, 0), 0);
	try_prio("class 4", 1, PRIO(4, 0), 0);
	try_prio("class 5 level 2", 1, PRIO(5, 2), 0);
	try_prio("class 7", 1, PRIO(7, 0), 0);
	try_prio("aio_reqprio -1", 1, -1, 0);
	try_prio("class RT level 4", 1, PRIO(1, 4), 0);

	printf("-- without the flag\n");
	try_prio("class 7", 0, PRIO(7, 0), 0);
	try_prio("aio_reqprio -1", 0, -1, 0);
	try_prio("aio_reqprio 0x7fff", 0, 0x7fff, 0);
	try_prio("class NONE level 3", 0, PRIO(0, 3), 0);

	printf("-- unknown aio_flags bits\n");
	try_prio("aio_flags 0x4", 0, 0, 0x4);
	try_prio("aio_flags 0x80", 0, 0, 0x80);
	try_prio("aio_flags 0x80000000", 0, 0, 0x80000000u);
	try_prio("aio_flags 0x80 + IOPRIO BE", 1, PRIO(2, 1), 0x80);

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
