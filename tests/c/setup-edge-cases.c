/* Description: io_setup / io_queue_init / io_destroy argument edge cases.
 *
 * io_setup: nr 0, negative or absurdly large -> -EINVAL; *ctxp not zero on
 * entry -> -EINVAL (and *ctxp is left as it was); ctxp NULL -> -EFAULT;
 * nr above fs.aio-max-nr, and INT_MIN (whose doubled size wraps to 0), ->
 * -EAGAIN. io_queue_init: maxevents <= 0 ->
 * -EINVAL without touching *ctxp; it clears *ctxp itself before calling
 * io_setup, so garbage there is fine. io_destroy: twice, NULL, garbage ->
 * -EINVAL. errno is never changed.
 */
#include "t_util.h"

static long read_aio_max_nr(void)
{
	return t_proc_long("/proc/sys/fs/aio-max-nr");
}

int main(void)
{
	io_context_t ctx;
	int r;

	ctx = 0;
	r = T_CALL(io_setup(0, &ctx));
	printf("io_setup(0) = %s ctx_zero=%d\n", t_err(r), ctx == 0);

	ctx = 0;
	r = T_CALL(io_setup(-1, &ctx));
	printf("io_setup(-1) = %s ctx_zero=%d\n", t_err(r), ctx == 0);

	ctx = 0;
	r = T_CALL(io_setup(0x7fffffff, &ctx));
	printf("io_setup(0x7fffffff) = %s ctx_zero=%d\n", t_err(r), ctx == 0);

	/* (unsigned)INT_MIN doubled wraps to 0 inside the kernel's size
	 * computation, which it reports as -EAGAIN */
	ctx = 0;
	r = T_CALL(io_setup(INT32_MIN, &ctx));
	printf("io_setup(INT_MIN) = %s ctx_zero=%d\n", t_err(r), ctx == 0);

	/* nr > fs.aio-max-nr is refused whatever the current usage is. The
	 * limit must stay small enough for the "too large" check above not to
	 * trigger first (2*nr <= 8388608). */
	long max = read_aio_max_nr();
	if (max > 0 && max < 4194304) {
		ctx = 0;
		r = T_CALL(io_setup((int)max + 1, &ctx));
		printf("io_setup(aio-max-nr + 1) = %s ctx_zero=%d\n", t_err(r), ctx == 0);
		if (r == 0)
			io_destroy(ctx);
	} else {
		printf("io_setup(aio-max-nr + 1) not exercised (fs.aio-max-nr too large)\n");
	}

	ctx = (io_context_t)(uintptr_t)0x1234;
	r = T_CALL(io_setup(4, &ctx));
	printf("io_setup(4) with *ctxp!=0 = %s ctx_kept=%d\n", t_err(r),
	       ctx == (io_context_t)(uintptr_t)0x1234);

	r = T_CALL(io_setup(4, NULL));
	printf("io_setup(4, NULL) = %s\n", t_err(r));

	ctx = 0;
	r = T_CALL(io_queue_init(0, &ctx));
	printf("io_queue_init(0) = %s ctx_zero=%d\n", t_err(r), ctx == 0);

	ctx = (io_context_t)(uintptr_t)0x5678;
	r = T_CALL(io_queue_init(-1, &ctx));
	printf("io_queue_init(-1) = %s ctx_kept=%d\n", t_err(r),
	       ctx == (io_context_t)(uintptr_t)0x5678);

	/* io_queue_init zeroes *ctxp before io_setup: garbage is accepted */
	ctx = (io_context_t)(uintptr_t)0x5678;
	r = T_CALL(io_queue_init(4, &ctx));
	printf("io_queue_init(4) with *ctxp!=0 = %s ctx_set=%d\n", t_err(r),
	       ctx != 0 && ctx != (io_context_t)(uintptr_t)0x5678);
	if (r == 0) {
		r = T_CALL(io_queue_release(ctx));
		printf("io_queue_release = %s\n", t_err(r));
		r = T_CALL(io_queue_release(ctx));
		printf("io_queue_release again = %s\n", t_err(r));
	}

	/* Small sizes: all succeed; two live contexts are distinct. */
	int sizes[] = { 1, 2, 128, 4096 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		io_context_t a = 0, b = 0;
		r = T_CALL(io_setup(sizes[i], &a));
		int r2 = T_CALL(io_setup(sizes[i], &b));
		printf("io_setup(%d) x2 = %s %s nonzero=%d distinct=%d\n", sizes[i],
		       t_err(r), t_err(r2), a != 0 && b != 0, a != b);
		if (r == 0)
			printf("  io_destroy = %s\n", t_err(T_CALL(io_destroy(a))));
		if (r2 == 0)
			printf("  io_destroy = %s\n", t_err(T_CALL(io_destroy(b))));
	}

	ctx = t_setup(8);
	r = T_CALL(io_destroy(ctx));
	printf("io_destroy = %s\n", t_err(r));
	r = T_CALL(io_destroy(ctx));
	printf("io_destroy again = %s\n", t_err(r));

	r = T_CALL(io_destroy(NULL));
	printf("io_destroy(NULL) = %s\n", t_err(r));

	r = T_CALL(io_destroy((io_context_t)(uintptr_t)0xdead0000));
	printf("io_destroy(garbage) = %s\n", t_err(r));

	r = T_CALL(io_destroy((io_context_t)(uintptr_t)1));
	printf("io_destroy(1) = %s\n", t_err(r));

	/* a valid, mapped user address that is not a context */
	static char not_a_ring[4096] __attribute__((aligned(4096)));
	r = T_CALL(io_destroy((io_context_t)(void *)not_a_ring));
	printf("io_destroy(&static buffer) = %s\n", t_err(r));

	return 0;
}
