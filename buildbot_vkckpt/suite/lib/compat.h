/*
 * compat.h - lets every suite program build on DragonFly BSD (the real
 * target) and on Linux (CI, where programs only run in --nocr mode or under
 * the fork emulation described in docs/guest-suite.rst).
 *
 * On DragonFly this header only pulls in the real interfaces.  On Linux it
 * supplies: the checkpoint signal numbers, sys_checkpoint() (ENOSYS unless
 * CKPT_EMULATE=fork is set, see compat.c), and a minimal kqueue/kevent shim
 * over epoll and timerfd that covers what the kqueue test uses.
 */
#ifndef CKPT_COMPAT_H
#define CKPT_COMPAT_H

#include <sys/types.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#if defined(__DragonFly__)

#include <sys/event.h>
#include <sys/checkpoint.h>

#else /* Linux and anything else POSIX */

#include <pthread.h>

/*
 * Under CKPT_EMULATE=vkernel_chkpt a restore brings threads back (the 2013
 * branch restores every thread): the emulation remembers each thread's start
 * routine and starts it again in the restored image.
 */
int ckpt_pthread_create(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);
#define pthread_create ckpt_pthread_create

/* sys/sys/signal.h on DragonFly; the runner sends these numbers literally. */
#ifndef SIGCKPT
#define SIGCKPT 33
#endif
#ifndef SIGCKPTEXIT
#define SIGCKPTEXIT 34
#endif

/* sys/sys/checkpoint.h */
#define CKPT_FREEZE 0x1
#define CKPT_THAW 0x2

int sys_checkpoint(int type, int fd, pid_t pid, int retval);

/* The subset of sys/event.h the kqueue test uses. */
#define EVFILT_READ (-1)
#define EVFILT_TIMER (-7)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_ERROR 0x4000

struct kevent {
	uintptr_t ident;
	short filter;
	unsigned short flags;
	unsigned int fflags;
	intptr_t data;
	void *udata;
};

#define EV_SET(kevp, a, b, c, d, e, f) do {	\
	struct kevent *ev__ = (kevp);		\
	ev__->ident = (a);			\
	ev__->filter = (b);			\
	ev__->flags = (c);			\
	ev__->fflags = (d);			\
	ev__->data = (e);			\
	ev__->udata = (f);			\
} while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
    struct kevent *eventlist, int nevents, const struct timespec *timeout);

#endif /* !__DragonFly__ */

/* Called once by ckpt_test_init(): installs the Linux fork emulation when asked. */
void ckpt_compat_init(const char *workdir);

#endif /* CKPT_COMPAT_H */
