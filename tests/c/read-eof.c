/* Description: reads that hit or start past end of file.
 *
 * A read crossing EOF completes with the short byte count; a read at or
 * past EOF completes with res=0 (never an error), buffered and O_DIRECT,
 * vectored or not. A huge but non-negative aio_nbytes (above 4 GiB) is
 * clamped by the kernel and the read still returns the bytes available.
 * Holes read back as zeros.
 */
#include "t_util.h"
#include <sys/uio.h>

static io_context_t ctx;

static void rd(const char *label, int fd, void *buf, size_t len, long long off)
{
	struct iocb io;
	struct io_event ev;

	io_prep_pread(&io, fd, buf, len, off);
	io.data = (void *)(uintptr_t)0xe0f;
	int r = t_submit_one(ctx, &io);
	printf("%-36s submit=%s", label, t_err(r));
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		printf(" res=%s res2=%s obj=%s data=%s\n", t_err((long)ev.res),
		       t_err((long)ev.res2), t_ok(ev.obj == &io),
		       t_ok(ev.data == (void *)(uintptr_t)0xe0f));
	} else {
		printf("\n");
	}
}

int main(void)
{
	unsigned char *buf = t_aligned(16384);

	ctx = t_setup(8);

	printf("-- buffered, 100-byte file\n");
	int fd = t_tmpfile("read-eof");
	t_write_pattern(fd, 100, 7);
	memset(buf, 0xcc, 16384);
	rd("read 4096 at 0", fd, buf, 4096, 0);
	printf("  data %s, tail untouched %s\n", t_ok(t_check(buf, 100, 7, 0)),
	       t_ok(t_all(buf + 100, 4096 - 100, 0xcc)));
	rd("read 4096 at 50", fd, buf, 4096, 50);
	rd("read 4096 at 99", fd, buf, 4096, 99);
	rd("read 4096 at 100 (EOF)", fd, buf, 4096, 100);
	rd("read 4096 at 101", fd, buf, 4096, 101);
	rd("read 4096 at 1<<40", fd, buf, 4096, 1LL << 40);
	rd("read 0 at 1<<40", fd, buf, 0, 1LL << 40);

	/* nbytes beyond 32 bits: clamped, the read returns what exists */
	memset(buf, 0xcc, 16384);
	rd("read nbytes 1<<32 at 0", fd, buf, (size_t)1 << 32, 0);
	printf("  data %s, tail untouched %s\n", t_ok(t_check(buf, 100, 7, 0)),
	       t_ok(t_all(buf + 100, 4096, 0xcc)));
	rd("read nbytes (1<<32)+10 at 90", fd, buf, ((size_t)1 << 32) + 10, 90);
	rd("read nbytes 0x80000000 at 0", fd, buf, 0x80000000u, 0);
	rd("read nbytes 0x7fffffffffff at 0", fd, buf, 0x7fffffffffffull, 0);

	/* vectored across EOF */
	struct iovec v[3] = { { buf, 40 }, { buf + 1000, 40 }, { buf + 2000, 40 } };
	struct iocb io;
	struct io_event ev;
	io_prep_preadv(&io, fd, v, 3, 0);
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	t_print_event("preadv 3x40 at 0", &ev, &io, NULL);
	io_prep_preadv(&io, fd, v, 3, 100);
	t_submit1(ctx, &io);
	t_wait_events(ctx, 1, &ev);
	t_print_event("preadv 3x40 at EOF", &ev, &io, NULL);

	printf("-- empty file\n");
	int empty = t_tmpfile("read-eof-empty");
	rd("read 4096 at 0", empty, buf, 4096, 0);

	printf("-- hole\n");
	T_ASSERT(pwrite(empty, "x", 1, 20000) == 1);
	memset(buf, 0xcc, 16384);
	rd("read 8192 at 4096 (hole)", empty, buf, 8192, 4096);
	printf("  zeros %s\n", t_ok(t_all(buf, 8192, 0)));
	rd("read 8192 at 16384 (hole+byte)", empty, buf, 8192, 16384);

	printf("-- O_DIRECT, 6000-byte file\n");
	int dfd = t_tmpfile_direct(NULL, "read-eof-direct");
	int bfd = t_reopen(dfd, O_RDWR);
	t_write_pattern(bfd, 6000, 8);
	T_ASSERT(fsync(bfd) == 0);
	memset(buf, 0xcc, 16384);
	rd("direct read 8192 at 0", dfd, buf, 8192, 0);
	printf("  data %s\n", t_ok(t_check(buf, 6000, 8, 0)));
	memset(buf, 0xcc, 16384);
	rd("direct read 8192 at 4096", dfd, buf, 8192, 4096);
	printf("  data %s\n", t_ok(t_check(buf, 6000 - 4096, 8, 4096)));
	rd("direct read 4096 at 8192", dfd, buf, 4096, 8192);
	rd("direct read 4096 at 1<<30", dfd, buf, 4096, 1LL << 30);

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
