/* Description: io_submit writes 0 into iocb->key (aio_key).
 *
 * The kernel stores its key (0) into the caller's iocb during io_submit, so
 * garbage left in the key field is cleared by a successful submission and
 * the iocb can be cancelled afterwards. The store happens after the file
 * descriptors are looked up and before the opcode is checked: a bad fd
 * leaves the key alone, an unknown opcode on a good fd clears it.
 */
#include "t_util.h"

int main(void)
{
	io_context_t ctx = t_setup(8);
	struct iocb io;
	struct io_event ev;
	int p[2], r;

	T_ASSERT(pipe(p) == 0);

	io_prep_poll(&io, p[0], POLLIN);
	io.key = 0x1234;
	r = t_submit_one(ctx, &io);
	printf("poll with key 0x1234: submit=%s key after=%#x\n", t_err(r), io.key);
	r = T_CALL(io_cancel(ctx, &io, &ev));
	printf("cancel = %s\n", t_err(r));
	t_wait_events(ctx, 1, &ev);
	t_print_event("cancelled poll", &ev, &io, NULL);

	io_prep_poll(&io, -1, POLLIN);
	io.key = 0x1234;
	r = t_submit_one(ctx, &io);
	printf("bad fd: submit=%s key after=%#x\n", t_err(r), io.key);

	io_prep_poll(&io, p[0], POLLIN);
	io.aio_lio_opcode = 99;
	io.key = 0x1234;
	r = t_submit_one(ctx, &io);
	printf("opcode 99: submit=%s key after=%#x\n", t_err(r), io.key);

	io_prep_poll(&io, p[0], POLLIN);
	io.u.c.__pad3 = 1;
	io.key = 0x1234;
	r = t_submit_one(ctx, &io);
	printf("aio_reserved2 set: submit=%s key after=%#x\n", t_err(r), io.key);

	static char buf[16];
	io_prep_pread(&io, p[0], buf, sizeof(buf), 0);
	io.aio_rw_flags = T_RWF_NOWAIT;
	io.key = 0xffffffffu;
	r = t_submit_one(ctx, &io);
	printf("read on empty pipe (RWF_NOWAIT): submit=%s key after=%#x\n", t_err(r), io.key);
	if (r == 1) {
		t_wait_events(ctx, 1, &ev);
		t_print_event("  event", &ev, &io, NULL);
	}

	t_destroy(ctx);
	return 0;
}
