/* Description: after a first O_DIRECT request with IOCB_FLAG_RESFD, the handle is the kernel's own AIO ring.
 *
 * Engines: kernel,auto
 *
 * The auto engine hands such a context over to kernel AIO (QEMU's
 * pattern): the kernel's ring is moved onto the handle, so the kernel
 * writes completions at the handle and signals the eventfd itself, as
 * under the system libaio. Checked in /proc/self/maps: the mapping at the
 * handle is the kernel's "[aio]" one, of the ring's size, and an
 * io_submit made with the syscall instruction (no wrapper) on the handle
 * reaches the kernel's context. (The io_uring
 * engine keeps its own ring there: not run on it.)
 */
#include "t_util.h"
#include <sys/eventfd.h>
#include <sys/syscall.h>

/* io_submit by the syscall instruction itself, past any syscall() wrapper. */
static long kernel_io_submit(io_context_t ctx, long nr, struct iocb **list)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_io_submit), "D"(ctx), "S"(nr), "d"(list)
			 : "rcx", "r11", "memory");
	return r;
}

/* Whether the mapping that starts at addr is the kernel's AIO ring. */
static int aio_mapping_at(unsigned long addr, unsigned long *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	T_ASSERT(f != NULL);
	char line[512];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo == addr) {
			found = strstr(line, "/[aio]") != NULL;
			*len = hi - lo;
		}
	}
	fclose(f);
	return found;
}

int main(void)
{
	t_unbuffered();
	int dfd = t_tmpfile_direct(NULL, "handover-kernel-ring");
	void *buf = t_aligned(4096);
	memset(buf, 0x5a, 4096);
	int efd = eventfd(0, EFD_CLOEXEC);
	T_ASSERT(efd >= 0);
	io_context_t ctx = t_setup(64);
	struct t_aio_ring *ring = (struct t_aio_ring *)ctx;

	struct iocb cb, *list[1] = { &cb };
	io_prep_pwrite(&cb, dfd, buf, 4096, 0);
	io_set_eventfd(&cb, efd);
	printf("submit: %d\n", T_CALL(io_submit(ctx, 1, list)));
	uint64_t count;
	T_ASSERT(read(efd, &count, sizeof(count)) == sizeof(count));
	printf("eventfd: %llu, ring tail - head: %u\n", (unsigned long long)count,
	       (ring->tail + ring->nr - ring->head) % ring->nr);

	unsigned long len = 0;
	int aio = aio_mapping_at((unsigned long)ctx, &len);
	printf("handle is the kernel's [aio] mapping: %s\n", t_ok(aio));
	printf("mapping covers the ring: %s\n",
	       t_ok(len >= sizeof(*ring) + ring->nr * sizeof(struct io_event) && len % 4096 == 0));

	/* The kernel knows the handle as its context id. */
	io_prep_pread(&cb, dfd, buf, 4096, 0);
	cb.u.c.flags = 0;
	printf("io_submit by the syscall instruction: %ld\n", kernel_io_submit(ctx, 1, list));
	struct io_event ev;
	t_wait_events(ctx, 1, &ev);
	printf("event: res %ld\n", (long)ev.res);
	t_destroy(ctx);
	printf("after io_destroy the mapping is gone: %s\n", t_ok(!aio_mapping_at((unsigned long)ctx, &len)));
	return 0;
}
