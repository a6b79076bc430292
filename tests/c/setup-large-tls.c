/* Description: io_setup and I/O in a program whose static TLS is larger than a small thread stack.
 *
 * A library that creates a thread of its own with a stack it supplies
 * (pthread_attr_setstack) gets EINVAL from pthread_create when the
 * process's static TLS does not fit in that stack: glibc places the thread
 * control block and static TLS at its top. Kernel AIO creates no thread, so
 * such a program (2 MiB of __thread data here) sets contexts up like any
 * other. Eight contexts set up, each with a read of a file written with a
 * pattern, then destroyed; a thread of the program's own uses its TLS
 * meanwhile.
 */
#include "t_util.h"
#include <pthread.h>

#define BIG (2u << 20)
static __thread unsigned char big_tls[BIG];

static void *touch(void *arg)
{
	(void)arg;
	memset(big_tls, 0x5a, BIG);
	return (void *)(uintptr_t)(big_tls[BIG - 1] == 0x5a);
}

int main(void)
{
	memset(big_tls, 0xa5, BIG);
	int fd = t_tmpfile("large-tls");
	t_write_pattern(fd, 8 * 4096, 31);
	unsigned char *buf = t_aligned(4096);
	int ok = 0;
	for (int i = 0; i < 8; i++) {
		io_context_t ctx = 0;
		int r = io_setup(16, &ctx);
		if (r != 0) {
			printf("io_setup %d: %s\n", i, t_err(r));
			continue;
		}
		struct iocb cb, *list[1] = { &cb };
		io_prep_pread(&cb, fd, buf, 4096, (long long)i * 4096);
		r = io_submit(ctx, 1, list);
		struct io_event ev;
		struct timespec ts = t_ts(5, 0);
		int g = r == 1 ? io_getevents(ctx, 1, 1, &ev, &ts) : r;
		ok += g == 1 && ev.res == 4096 && t_check(buf, 4096, 31, (size_t)i * 4096);
		T_ASSERT(io_destroy(ctx) == 0);
	}
	pthread_t t;
	void *touched = NULL;
	T_ASSERT(pthread_create(&t, NULL, touch, NULL) == 0);
	T_ASSERT(pthread_join(t, &touched) == 0);
	printf("contexts set up and read: %d of 8; own thread's TLS %s; main's TLS intact %d\n", ok,
	       touched ? "ok" : "wrong", big_tls[0] == 0xa5 && big_tls[BIG - 1] == 0xa5);
	T_ASSERT(ok == 8);
	close(fd);
	return 0;
}
