/* sigpending: a blocked signal stays pending and is delivered once when unblocked. */
#include "ckpt_test.h"

#include <errno.h>
#include <string.h>

static volatile sig_atomic_t calls;
static sigset_t usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	calls++;
}

static void
corrupt(void)
{
	/* Let the pending signal through, then block it again. */
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t pending;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return ckpt_fail("sigaction: %s", strerror(errno));
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	sigpending(&pending);
	if (!sigismember(&pending, SIGUSR1))
		return ckpt_fail("SIGUSR1 is not pending before the checkpoint");

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	sigpending(&pending);
	if (!sigismember(&pending, SIGUSR1))
		return ckpt_fail("the pending SIGUSR1 was lost (handler ran %d times)", (int)calls);
	if (calls != 0)
		return ckpt_fail("the blocked SIGUSR1 was delivered early");
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	if (calls != 1)
		return ckpt_fail("unblocking delivered SIGUSR1 %d times, expected 1", (int)calls);
	return ckpt_pass();
}
