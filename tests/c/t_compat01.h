/* The LIBAIO_0.1 versions of io_getevents, io_cancel and io_queue_wait,
 * under names of their own, for the tests that call them explicitly. */
#ifndef T_COMPAT01_H
#define T_COMPAT01_H
#include <libaio.h>

extern int t_getevents_01(io_context_t ctx, long nr, struct io_event *events,
			  struct timespec *timeout);
extern int t_cancel_01(io_context_t ctx, struct iocb *iocb);
extern int t_queue_wait_01(io_context_t ctx, struct timespec *timeout);
__asm__(".symver t_getevents_01, io_getevents@LIBAIO_0.1");
__asm__(".symver t_cancel_01, io_cancel@LIBAIO_0.1");
__asm__(".symver t_queue_wait_01, io_queue_wait@LIBAIO_0.1");
#endif
