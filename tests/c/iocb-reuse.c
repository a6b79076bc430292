/* Description: iocbs and iovec arrays may be reused once io_submit returns.
 *
 * The same struct iocb is submitted, scribbled on (memset 0xff), re-prepared
 * for a different request and submitted again, then scribbled on again,
 * while the first request may still be in flight (O_DIRECT). Each event
 * carries the obj pointer and the aio_data value that were current at its
 * submission, and each request transfers exactly its own data. Vectored
 * requests copy their iovec array at submit.
 */
#include "t_util.h"
#include <sys/uio.h>

#define BS 65536

static const char *name_of(void *data)
{
	switch ((uintptr_t)data) {
	case 0x1001: return "read A#1";
	case 0x1002: return "read A#2";
	case 0x2001: return "preadv B";
	case 0x3001: return "pwrite C";
	case 0x3002: return "pwritev C#2";
	default: return "unknown";
	}
}

int main(void)
{
	io_context_t ctx = t_setup(16);
	int fd = t_tmpfile_direct(NULL, "iocb-reuse");
	int bfd = t_reopen(fd, O_RDWR);
	t_write_pattern(bfd, 4 * BS, 21);
	T_ASSERT(fsync(bfd) == 0);

	unsigned char *r0 = t_aligned(BS), *r1 = t_aligned(BS);
	unsigned char *v0 = t_aligned(BS), *v1 = t_aligned(BS);
	unsigned char *w0 = t_aligned(BS), *w1 = t_aligned(BS);
	struct iocb A, B, C;
	struct iocb *la[1] = { &A }, *lb[1] = { &B }, *lc[1] = { &C };
	struct io_event evs[5];
	int r;

	io_prep_pread(&A, fd, r0, BS, 0);
	A.data = (void *)(uintptr_t)0x1001;
	r = T_CALL(io_submit(ctx, 1, la));
	T_ASSERT(r == 1);
	memset(&A, 0xff, sizeof(A));
	io_prep_pread(&A, fd, r1, BS, BS);
	A.data = (void *)(uintptr_t)0x1002;
	r = T_CALL(io_submit(ctx, 1, la));
	T_ASSERT(r == 1);
	memset(&A, 0xff, sizeof(A));

	struct iovec iov[2] = { { v0, BS }, { v1, BS } };
	io_prep_preadv(&B, fd, iov, 2, 2 * BS);
	B.data = (void *)(uintptr_t)0x2001;
	r = T_CALL(io_submit(ctx, 1, lb));
	T_ASSERT(r == 1);
	memset(iov, 0xff, sizeof(iov));
	memset(&B, 0xff, sizeof(B));

	t_fill(w0, BS, 22, 0);
	t_fill(w1, BS, 23, 0);
	io_prep_pwrite(&C, fd, w0, BS, 4 * BS);
	C.data = (void *)(uintptr_t)0x3001;
	r = T_CALL(io_submit(ctx, 1, lc));
	T_ASSERT(r == 1);
	memset(&C, 0xff, sizeof(C));
	struct iovec wv[1] = { { w1, BS } };
	io_prep_pwritev(&C, fd, wv, 1, 5 * BS);
	C.data = (void *)(uintptr_t)0x3002;
	r = T_CALL(io_submit(ctx, 1, lc));
	T_ASSERT(r == 1);
	memset(&C, 0xff, sizeof(C));
	memset(wv, 0, sizeof(wv));

	t_wait_events(ctx, 5, evs);
	/* sort by data value */
	for (int i = 1; i < 5; i++)
		for (int j = i; j > 0 && (uintptr_t)evs[j - 1].data > (uintptr_t)evs[j].data; j--) {
			struct io_event t = evs[j];
			evs[j] = evs[j - 1];
			evs[j - 1] = t;
		}
	for (int i = 0; i < 5; i++) {
		struct iocb *expect = ((uintptr_t)evs[i].data >> 12) == 1 ? &A
				     : ((uintptr_t)evs[i].data >> 12) == 2 ? &B : &C;
		printf("%s: res=%s res2=%s obj=%s\n", name_of(evs[i].data),
		       t_err((long)evs[i].res), t_err((long)evs[i].res2),
		       t_ok(evs[i].obj == expect));
	}
	printf("read A#1 data %s\n", t_ok(t_check(r0, BS, 21, 0)));
	printf("read A#2 data %s\n", t_ok(t_check(r1, BS, 21, BS)));
	printf("preadv B data %s %s\n", t_ok(t_check(v0, BS, 21, 2 * BS)),
	       t_ok(t_check(v1, BS, 21, 3 * BS)));
	unsigned char *chk = t_aligned(2 * BS);
	T_ASSERT(pread(bfd, chk, 2 * BS, 4 * BS) == 2 * BS);
	printf("pwrite C data %s, pwritev C#2 data %s\n", t_ok(t_check(chk, BS, 22, 0)),
	       t_ok(t_check(chk + BS, BS, 23, 0)));

	t_expect_no_event(ctx, 10);
	t_destroy(ctx);
	return 0;
}
