/* A short-lived libaio user, as a volume manager scanning disks or a probe
 * is: io_setup, a handful of 4 KiB reads (one io_submit, one io_getevents),
 * io_destroy, exit. scripts/short-lived runs it many times under the system
 * libaio and under libaio_rs and compares whole-process wall time.
 *
 *   short_lived FILE [direct]
 *
 * Exit 0 on success, 1 on any failed call.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libaio.h>
#include <stdlib.h>
#include <unistd.h>

#define READS 8

int main(int argc, char **argv)
{
	io_context_t ctx = 0;
	if (argc < 2 || io_setup(128, &ctx) != 0)
		return 1;
	int fd = open(argv[1], O_RDONLY | (argc > 2 ? O_DIRECT : 0));
	void *buf;
	if (fd < 0 || posix_memalign(&buf, 4096, READS * 4096) != 0)
		return 1;
	struct iocb cb[READS], *list[READS];
	for (int i = 0; i < READS; i++) {
		/* 1 MiB apart: each its own read, no readahead shared. */
		io_prep_pread(&cb[i], fd, (char *)buf + i * 4096, 4096, (long long)i << 20);
		list[i] = &cb[i];
	}
	struct io_event ev[READS];
	if (io_submit(ctx, READS, list) != READS || io_getevents(ctx, READS, READS, ev, NULL) != READS)
		return 1;
	for (int i = 0; i < READS; i++)
		if (ev[i].res != 4096)
			return 1;
	return io_destroy(ctx) == 0 ? 0 : 1;
}
