/*
 * compat.c - Linux stand-ins for DragonFly interfaces (see compat.h).
 * Compiled on every system; on DragonFly only ckpt_compat_init() remains.
 */
#define _GNU_SOURCE
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__DragonFly__)

void
ckpt_compat_init(const char *workdir)
{
	(void)workdir;
}

#else

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>

/*
 * Fork emulation (CKPT_EMULATE=fork): lets the runner's checkpoint path be
 * exercised on Linux.  A "freeze" forks: the parent writes a token file and
 * gets 0 (like a written checkpoint), the child stays parked (the "image")
 * until the emulated checkpt creates its thaw marker, then gets 1 (like a
 * resume).  The child has a new pid, as a restored process has checkpt's pid.
 * Fork keeps memory, fds, handlers and the mask, but not threads, pending
 * signals or interval timers: only some tests are meaningful under it.
 *
 * CKPT_EMULATE=dragonfly is the same fork with stock DragonFly's rules for
 * what a restore brings back (sys_checkpoint(2)): the real interval timer is
 * carried over, and every descriptor above 2 that is not a regular file still
 * linked, or a directory, is closed (pipes, sockets, kqueues, deleted files).
 * The simulated guest of a stock flavour runs its programs this way.
 *
 * CKPT_EMULATE=vkernel_chkpt follows the 2013 vkernel_chkpt branch instead
 * (its sys_checkpoint.2 drops the thread limit and restores kqueues): kqueues
 * and their registrations stay, and every thread the program started runs
 * again.  Fork cannot carry a thread's stack, so a restarted thread begins at
 * its start routine: the emulation shows that threads come back, not that
 * their stacks do (docs/simhost-fidelity.rst lists it as a deviation).
 */
#undef pthread_create
#define THREAD_SLOTS 64

enum rules { STOCK_RULES = 1, GSOC_RULES = 2 };
static int emulate, rules;
static struct { void *(*fn)(void *); void *arg; } threads[THREAD_SLOTS];
static int nthreads;
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;

int
ckpt_pthread_create(pthread_t *tid, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg)
{
	pthread_mutex_lock(&threads_lock);
	if (nthreads < THREAD_SLOTS) {
		threads[nthreads].fn = fn;
		threads[nthreads].arg = arg;
		nthreads++;
	}
	pthread_mutex_unlock(&threads_lock);
	return pthread_create(tid, attr, fn, arg);
}

static void
restart_threads(void)
{
	pthread_t tid;
	int i;

	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tid, NULL, threads[i].fn, threads[i].arg) == 0)
			pthread_detach(tid);
}
static char thaw_dir[PATH_MAX];

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int shim_owns(int fd);

/* What a DragonFly restore would not bring back goes away. */
static void
restore_like_dragonfly(const struct itimerval *timer)
{
	struct stat st;
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		if (fstat(fd, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 0))
			continue;
		if (rules == GSOC_RULES && shim_owns(fd))
			continue;	/* the branch restores kqueues and their kevents */
		close(fd);
	}
	setitimer(ITIMER_REAL, timer, NULL);
	if (rules == GSOC_RULES)
		restart_threads();
}

int
sys_checkpoint(int type, int fd, pid_t pid, int retval)
{
	char marker[PATH_MAX + 32], token[PATH_MAX + 64], name[32];
	int own = 0, len;
	long waited;
	struct itimerval timer;
	pid_t child;

	(void)retval;
	if (!emulate) {
		errno = ENOSYS;
		return -1;
	}
	if (type != CKPT_FREEZE) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (pid != -1 && pid != getpid()) {
		errno = EINVAL;
		return -1;
	}
	if (fd == -1) {
		/* The default kern.ckptfile template %N.ckpt, relative to the cwd. */
		snprintf(name, sizeof(name), "%.16s.ckpt", program_invocation_short_name);
		unlink(name);
		fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -1;
		own = 1;
	}
	getitimer(ITIMER_REAL, &timer);
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		snprintf(marker, sizeof(marker), "%s/.thaw.%ld", thaw_dir, (long)getpid());
		/* Parked like an image on disk; give up after 10 minutes unthawed. */
		for (waited = 0; access(marker, F_OK) != 0; waited += 2) {
			if (waited > 600000)
				_exit(1);
			nap_ms(2);
		}
		unlink(marker);
		if (rules)
			restore_like_dragonfly(&timer);
		return 1;	/* checkpt(1) thaws with retval 1 */
	}
	len = snprintf(token, sizeof(token), "VKCKPT-EMULATED %ld %s/.thaw.%ld\n",
	    (long)child, thaw_dir, (long)child);
	if (write(fd, token, (size_t)len) != len) {
		kill(child, SIGKILL);
		return -1;
	}
	if (own)
		close(fd);
	return 0;
}

/* The default action of SIGCKPTEXIT: checkpoint, then exit. */
static void
emulated_ckptexit(int sig)
{
	(void)sig;
	if (sys_checkpoint(CKPT_FREEZE, -1, -1, -1) == 0)
		_exit(0);
}

void
ckpt_compat_init(const char *workdir)
{
	const char *mode = getenv("CKPT_EMULATE");
	struct sigaction sa;

	if (mode == NULL)
		return;
	rules = strcmp(mode, "dragonfly") == 0 ? STOCK_RULES :
	    strcmp(mode, "vkernel_chkpt") == 0 ? GSOC_RULES : 0;
	if (strcmp(mode, "fork") != 0 && !rules)
		return;
	emulate = 1;
	snprintf(thaw_dir, sizeof(thaw_dir), "%s", workdir);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = emulated_ckptexit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCKPTEXIT, &sa, NULL);
}

/*
 * kqueue shim: one table of registrations per process.  Timers are timerfds
 * in the epoll set; EVFILT_READ on a regular file is always ready with
 * data = bytes left to read, as on BSD (epoll refuses regular files).
 */
#define SHIM_SLOTS 32

struct shim_reg {
	int used, kq, tfd, regular;
	uintptr_t ident;
	short filter;
	void *udata;
};

static struct shim_reg regs[SHIM_SLOTS];
static int kqueues[SHIM_SLOTS], nkqueues;

/* A kqueue of the shim, or a timer one of its registrations holds. */
static int
shim_owns(int fd)
{
	int i;

	for (i = 0; i < nkqueues; i++)
		if (kqueues[i] == fd)
			return 1;
	for (i = 0; i < SHIM_SLOTS; i++)
		if (regs[i].used && regs[i].tfd == fd)
			return 1;
	return 0;
}

int
kqueue(void)
{
	int kq = epoll_create1(EPOLL_CLOEXEC);

	if (kq >= 0 && nkqueues < SHIM_SLOTS)
		kqueues[nkqueues++] = kq;
	return kq;
}

static struct shim_reg *
shim_find(int kq, uintptr_t ident, short filter)
{
	int i;

	for (i = 0; i < SHIM_SLOTS; i++)
		if (regs[i].used && regs[i].kq == kq && regs[i].ident == ident &&
		    regs[i].filter == filter)
			return &regs[i];
	return NULL;
}

static int
shim_add(int kq, const struct kevent *kev)
{
	struct epoll_event ee;
	struct itimerspec its;
	struct shim_reg *r;
	struct stat st;
	int i, fd;

	for (i = 0; i < SHIM_SLOTS && regs[i].used; i++)
		;
	if (i == SHIM_SLOTS) {
		errno = ENOMEM;
		return -1;
	}
	r = &regs[i];
	memset(r, 0, sizeof(*r));
	r->kq = kq;
	r->ident = kev->ident;
	r->filter = kev->filter;
	r->udata = kev->udata;
	r->tfd = -1;
	if (kev->filter == EVFILT_TIMER) {
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (fd < 0)
			return -1;
		its.it_interval.tv_sec = kev->data / 1000;
		its.it_interval.tv_nsec = (kev->data % 1000) * 1000000L;
		its.it_value = its.it_interval;
		if (timerfd_settime(fd, 0, &its, NULL) != 0) {
			close(fd);
			return -1;
		}
		r->tfd = fd;
	} else if (kev->filter == EVFILT_READ) {
		if (fstat((int)kev->ident, &st) != 0)
			return -1;
		r->regular = S_ISREG(st.st_mode);
		fd = (int)kev->ident;
	} else {
		errno = EINVAL;
		return -1;
	}
	if (!r->regular) {
		memset(&ee, 0, sizeof(ee));
		ee.events = EPOLLIN;
		ee.data.u32 = (uint32_t)i;
		if (epoll_ctl(kq, EPOLL_CTL_ADD, fd, &ee) != 0) {
			if (r->tfd >= 0)
				close(r->tfd);
			return -1;
		}
	}
	r->used = 1;
	return 0;
}

static int
shim_change(int kq, const struct kevent *kev)
{
	struct shim_reg *r = shim_find(kq, kev->ident, kev->filter);

	if (kev->flags & EV_DELETE) {
		if (r == NULL) {
			errno = ENOENT;
			return -1;
		}
		if (!r->regular)
			epoll_ctl(kq, EPOLL_CTL_DEL,
			    r->tfd >= 0 ? r->tfd : (int)r->ident, NULL);
		if (r->tfd >= 0)
			close(r->tfd);
		r->used = 0;
		return 0;
	}
	if (kev->flags & EV_ADD)
		return r != NULL ? 0 : shim_add(kq, kev);
	errno = EINVAL;
	return -1;
}

static void
shim_event(struct kevent *out, const struct shim_reg *r, intptr_t data)
{
	EV_SET(out, r->ident, r->filter, 0, 0, data, r->udata);
}

int
kevent(int kq, const struct kevent *changelist, int nchanges,
    struct kevent *eventlist, int nevents, const struct timespec *timeout)
{
	struct epoll_event ee[SHIM_SLOTS];
	struct shim_reg *r;
	uint64_t expirations;
	off_t here;
	struct stat st;
	int i, n = 0, got, wait_ms, avail;

	for (i = 0; i < nchanges; i++)
		if (shim_change(kq, &changelist[i]) != 0)
			return -1;
	if (nevents <= 0)
		return 0;
	for (i = 0; i < SHIM_SLOTS && n < nevents; i++) {
		r = &regs[i];
		if (!r->used || r->kq != kq || !r->regular)
			continue;
		here = lseek((int)r->ident, 0, SEEK_CUR);
		if (here < 0 || fstat((int)r->ident, &st) != 0)
			continue;
		if (st.st_size > here)
			shim_event(&eventlist[n++], r, (intptr_t)(st.st_size - here));
	}
	if (n > 0 || timeout == NULL)
		wait_ms = n > 0 ? 0 : -1;
	else
		wait_ms = (int)(timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000);
	got = epoll_wait(kq, ee, nevents - n < SHIM_SLOTS ? nevents - n : SHIM_SLOTS, wait_ms);
	if (got < 0)
		return n > 0 ? n : -1;
	for (i = 0; i < got && n < nevents; i++) {
		r = &regs[ee[i].data.u32 % SHIM_SLOTS];
		if (!r->used)
			continue;
		if (r->tfd >= 0) {
			if (read(r->tfd, &expirations, sizeof(expirations)) != sizeof(expirations))
				continue;
			shim_event(&eventlist[n++], r, (intptr_t)expirations);
		} else {
			avail = 0;
			ioctl((int)r->ident, FIONREAD, &avail);
			shim_event(&eventlist[n++], r, avail);
		}
	}
	return n;
}

#endif /* !__DragonFly__ */
