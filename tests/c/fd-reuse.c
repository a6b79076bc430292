/* Description: a descriptor number closed and reused for another kind of file.
 *
 * Before each step a file is read through the number a few times (an engine
 * may remember what that number was): a tmpfs file in the first pass, a
 * buffered ext4 file in the second (reads an io_uring engine queues, writes
 * it may perform at once). Then the number is given, with dup2, to something
 * else: a pipe holding data (read, not -ESPIPE), a directory (-EINVAL from
 * io_submit), a file opened read-only (a write gets -EBADF from io_submit),
 * one opened write-only (so does a read), an ext4 file (reads its own
 * bytes), a closed number (-EBADF), another tmpfs file.
 * Each step prints io_submit's result and the events.
 */
#include "t_util.h"

#define FD 77
#define BS 4096

static io_context_t ctx;
static char buf[BS] __attribute__((aligned(4096)));

static void read_once(const char *label, int expect_events)
{
	struct iocb cb, *list[1] = { &cb };
	struct io_event ev;

	memset(buf, 0, sizeof(buf));
	io_prep_pread(&cb, FD, buf, 512, 0);
	cb.data = (void *)0x1234;
	int r = T_CALL(io_submit(ctx, 1, list));
	printf("%s: io_submit %s", label, t_err(r));
	if (r == 1 && expect_events) {
		t_wait_events(ctx, 1, &ev);
		printf(", res %s, obj %s, first byte %d", t_err((long)ev.res), t_ok(ev.obj == &cb),
		       buf[0]);
	}
	printf("\n");
}

static void own(int fd)
{
	T_ASSERT(dup2(fd, FD) == FD);
	T_ASSERT(close(fd) == 0);
}

static int prime_ext4;

/* Puts the pass's kind of file at FD and reads it a few times. */
static void prime(void)
{
	int f = prime_ext4 ? t_tmpfile("reuse-prime") : t_tmpfile_in("/dev/shm", "reuse", O_RDWR);
	T_ASSERTF(f >= 0, "prime: %s", t_err(f));
	t_write_pattern(f, 8192, 5);
	own(f);
	for (int i = 0; i < 3; i++) {
		struct iocb cb, *list[1] = { &cb };
		struct io_event ev;
		io_prep_pread(&cb, FD, buf, BS, (i % 2) * BS);
		T_ASSERT(T_CALL(io_submit(ctx, 1, list)) == 1);
		t_wait_events(ctx, 1, &ev);
		T_ASSERT(ev.res == BS);
	}
}

static void pass(void)
{
	prime();
	read_once("primed file", 1);
	int ro = t_reopen(FD, O_RDONLY);
	int wo = t_reopen(FD, O_WRONLY);

	/* A pipe holding data: read it, not -ESPIPE. (An empty pipe would block
	 * kernel AIO inside io_submit, so the data is there first.) */
	prime();
	int p[2];
	T_ASSERT(pipe(p) == 0);
	T_ASSERT(write(p[1], "hello", 5) == 5);
	own(p[0]);
	{
		struct iocb cb, *list[1] = { &cb };
		struct io_event ev;
		io_prep_pread(&cb, FD, buf, 512, 0);
		int r = T_CALL(io_submit(ctx, 1, list));
		printf("pipe: io_submit %s\n", t_err(r));
		if (r == 1) {
			t_wait_events(ctx, 1, &ev);
			printf("pipe: res %s, data %.5s\n", t_err((long)ev.res), buf);
		}
		close(p[1]);
	}

	prime();
	int dir = open(t_dir(), O_RDONLY);
	T_ASSERT(dir >= 0);
	own(dir);
	read_once("directory", 1);

	prime();
	own(ro);
	{
		struct iocb cb, *list[1] = { &cb };
		io_prep_pwrite(&cb, FD, buf, 512, 0);
		printf("read-only file, write: io_submit %s\n", t_err(T_CALL(io_submit(ctx, 1, list))));
	}
	read_once("read-only file", 1);

	prime();
	own(wo);
	read_once("write-only file", 1);

	prime();
	int ext = t_tmpfile("reuse");
	t_write_pattern(ext, 8192, 9);
	own(ext);
	read_once("ext4", 1);

	prime();
	T_ASSERT(close(FD) == 0);
	read_once("closed", 1);

	prime();
	int shm = t_tmpfile_in("/dev/shm", "reuse2", O_RDWR);
	T_ASSERT(shm >= 0);
	t_write_pattern(shm, 8192, 13);
	own(shm);
	read_once("another tmpfs file", 1);
}

int main(void)
{
	ctx = t_setup(8);
	for (prime_ext4 = 0; prime_ext4 < 2; prime_ext4++) {
		printf("-- primed with a %s file\n", prime_ext4 ? "buffered ext4" : "tmpfs");
		pass();
	}
	t_destroy(ctx);
	return 0;
}
