/* Description: io_cancel of a poll whose file became ready finds nothing to cancel.
 *
 * Kernel AIO completes a poll in the wake-up that makes its file ready:
 * a byte written to a pipe completes a pending POLLIN poll on its read end
 * before write() returns, so an io_cancel right after it returns -EINVAL
 * and the event reports POLLIN, every time. 1,000 trials, each on a new
 * pipe, from one thread; then 100 where the cancel comes first and the
 * write after it (-EINPROGRESS, res 0). Prints how many trials gave each
 * result, and whether each event names its iocb.
 */
#include "t_util.h"
#include <poll.h>

#define TRIALS 1000
#define CONTROL 100

int main(void)
{
	io_context_t ctx = t_setup(8);
	int einval = 0, other = 0, pollin = 0, right_obj = 0;
	int inprogress = 0, zero = 0;
	for (int i = 0; i < TRIALS + CONTROL; i++) {
		int p[2];
		T_ASSERT(pipe(p) == 0);
		struct iocb cb;
		struct io_event res, ev;
		io_prep_poll(&cb, p[0], POLLIN);
		t_submit1(ctx, &cb);
		int r;
		if (i < TRIALS) {
			T_ASSERT(write(p[1], "x", 1) == 1);
			r = io_cancel(ctx, &cb, &res);
		} else {
			r = io_cancel(ctx, &cb, &res);
			T_ASSERT(write(p[1], "x", 1) == 1);
		}
		t_wait_events(ctx, 1, &ev);
		right_obj += ev.obj == &cb;
		if (i < TRIALS) {
			einval += r == -EINVAL;
			other += r != -EINVAL;
			pollin += ((long)ev.res & POLLIN) != 0;
		} else {
			inprogress += r == -EINPROGRESS;
			zero += ev.res == 0 && ev.res2 == 0;
		}
		close(p[0]);
		close(p[1]);
	}
	printf("write, then cancel: -EINVAL %d, other %d; event with POLLIN %d of %d\n", einval, other,
	       pollin, TRIALS);
	printf("cancel, then write: -EINPROGRESS %d, event res 0 %d of %d\n", inprogress, zero, CONTROL);
	printf("events naming their iocb: %d of %d\n", right_obj, TRIALS + CONTROL);
	t_destroy(ctx);
	return 0;
}
