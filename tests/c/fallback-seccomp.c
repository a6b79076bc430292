/* Description: io_uring refused by a seccomp filter: contexts still work.
 *
 * Docker's default profile (and kernel.io_uring_disabled) make
 * io_uring_setup fail with EPERM while io_setup & co stay allowed. A program
 * under such a filter must see libaio behave as always: with the default
 * engine choice the library falls back to kernel AIO for every context.
 * (Forcing LIBAIO_RS_ENGINE=uring makes io_setup fail instead, by design,
 * so that engine is not run here.)
 *
 * Engines: kernel,auto
 */
#include "t_util.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static void refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	T_ASSERT(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	T_ASSERT(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

int main(void)
{
	refuse_io_uring();
	long r0 = syscall(__NR_io_uring_setup, 8, NULL);
	printf("io_uring_setup under the filter: %ld errno=%s\n", r0, r0 < 0 && errno == EPERM ? "EPERM" : "other");

	io_context_t ctx = t_setup(16);
	int fd = t_tmpfile("seccomp");
	static unsigned char wbuf[8192], rbuf[8192];
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (unsigned char)(i * 7 + 3);
	struct iocb w, r, *lw[1] = { &w }, *lr[1] = { &r };
	struct io_event ev;

	io_prep_pwrite(&w, fd, wbuf, sizeof(wbuf), 4096);
	w.data = (void *)0x51;
	int n = T_CALL(io_submit(ctx, 1, lw));
	printf("write submit = %s\n", t_err(n));
	t_wait_events(ctx, 1, &ev);
	t_print_event("write", &ev, &w, (void *)0x51);

	io_prep_pread(&r, fd, rbuf, sizeof(rbuf), 4096);
	r.data = (void *)0x52;
	n = T_CALL(io_submit(ctx, 1, lr));
	printf("read submit = %s\n", t_err(n));
	t_wait_events(ctx, 1, &ev);
	t_print_event("read", &ev, &r, (void *)0x52);
	printf("data %s\n", t_ok(memcmp(wbuf, rbuf, sizeof(rbuf)) == 0));
	t_destroy(ctx);
	return 0;
}
