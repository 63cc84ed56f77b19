/*
 * selfckpt: the program checkpoints itself, as in the sys_checkpoint(2)
 * EXAMPLE: SIGCKPTEXIT only sets a reminder; the main loop opens
 * selfckpt.ckpt and calls sys_checkpoint(CKPT_FREEZE, fd, -1, -1).
 * 0 = written: note it in selfckpt.log and exit (the runner restores us);
 * 1 = resumed from the file by checkpt -r.
 */
#include "ckpt_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t want_ckpt;
static unsigned resumed;	/* times sys_checkpoint() returned 1 */
static int failed;
static char err[200];

static void
on_ckpt(int sig)
{
	(void)sig;
	want_ckpt = 1;
}

static void
corrupt(void)
{
	resumed++;
}

static void
checkpoint_now(void *arg)
{
	int fd, ret, log;

	(void)arg;
	if (!want_ckpt || failed)
		return;
	want_ckpt = 0;
	fd = open(ckpt_path("selfckpt.ckpt"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		snprintf(err, sizeof(err), "cannot create selfckpt.ckpt: %s", strerror(errno));
		failed = 1;
		return;
	}
	ret = sys_checkpoint(CKPT_FREEZE, fd, -1, -1);
	if (ret == 0) {
		log = open(ckpt_path("selfckpt.log"), O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (log < 0 || write(log, "frozen\n", 7) != 7)
			exit(3);
		ckpt_log("checkpoint successful, exiting to be restored");
		exit(0);
	}
	close(fd);	/* still valid on a resume, says the man page */
	if (ret == 1) {
		resumed++;
		ckpt_log("resuming from checkpoint");
		return;
	}
	snprintf(err, sizeof(err), "sys_checkpoint returned %d: %s", ret,
	    ret < 0 ? strerror(errno) : "unexpected value");
	failed = 1;
}

static long
count_frozen(void)
{
	char buf[4096];
	ssize_t n;
	long lines = 0;
	int fd = open(ckpt_path("selfckpt.log"), O_RDONLY), i;

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_ckpt;
	sigemptyset(&sa.sa_mask);
	/* Overriding the default action means the kernel takes none of its own. */
	if (sigaction(SIGCKPTEXIT, &sa, NULL) != 0)
		return ckpt_fail("sigaction SIGCKPTEXIT: %s", strerror(errno));
#if defined(__DragonFly__)
	if (sigaction(SIGCKPT, &sa, NULL) != 0)
		return ckpt_fail("sigaction SIGCKPT: %s", strerror(errno));
#endif
	/* Another process's pid is refused (EINVAL), and nothing is written. */
	if (sys_checkpoint(CKPT_FREEZE, -1, 1, -1) != -1)
		return ckpt_fail("sys_checkpoint accepted a foreign pid");

	ckpt_ready();
	ckpt_wait(checkpoint_now, NULL);

	if (failed)
		return ckpt_fail("%s", err);
	if (resumed != ckpt_restores())
		return ckpt_fail("sys_checkpoint returned 1 %u times, but the program was "
		    "restored %u times", resumed, ckpt_restores());
	if (count_frozen() != (long)ckpt_restores())
		return ckpt_fail("sys_checkpoint returned 0 %ld times for %u restores",
		    count_frozen(), ckpt_restores());
	return ckpt_pass();
}
