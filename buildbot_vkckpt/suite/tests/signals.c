/* signals: handlers with their flags and masks, ignored signals, the blocked mask. */
#include "ckpt_test.h"

#include <errno.h>
#include <string.h>

static volatile sig_atomic_t usr1_calls, winch_signo;

static void
on_usr1(int sig)
{
	(void)sig;
	usr1_calls++;
}

static void
on_winch(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	winch_signo = si->si_signo;
}

static void
corrupt(void)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);
}

int
main(int argc, char **argv)
{
	struct sigaction sa, got;
	sigset_t block, mask;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return ckpt_fail("sigaction SIGUSR1: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_winch;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGWINCH, &sa, NULL) != 0)
		return ckpt_fail("sigaction SIGWINCH: %s", strerror(errno));
	if (signal(SIGUSR2, SIG_IGN) == SIG_ERR)
		return ckpt_fail("signal SIGUSR2: %s", strerror(errno));
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &block, NULL) != 0)
		return ckpt_fail("sigprocmask: %s", strerror(errno));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	sigprocmask(SIG_SETMASK, NULL, &mask);
	if (!sigismember(&mask, SIGHUP) || !sigismember(&mask, SIGPIPE))
		return ckpt_fail("SIGHUP/SIGPIPE are no longer blocked");
	if (sigismember(&mask, SIGUSR1) || sigismember(&mask, SIGWINCH))
		return ckpt_fail("SIGUSR1/SIGWINCH became blocked");
	if (sigaction(SIGUSR1, NULL, &got) != 0 || got.sa_handler != on_usr1)
		return ckpt_fail("the SIGUSR1 handler was lost");
	if (!(got.sa_flags & SA_RESTART) || !sigismember(&got.sa_mask, SIGTERM))
		return ckpt_fail("the SIGUSR1 action lost SA_RESTART or its sa_mask");
	if (sigaction(SIGUSR2, NULL, &got) != 0 || got.sa_handler != SIG_IGN)
		return ckpt_fail("SIGUSR2 is no longer ignored");
	if (sigaction(SIGWINCH, NULL, &got) != 0 || !(got.sa_flags & SA_SIGINFO))
		return ckpt_fail("the SIGWINCH action lost SA_SIGINFO");
	raise(SIGUSR1);
	raise(SIGUSR2);
	raise(SIGWINCH);
	if (usr1_calls != 1)
		return ckpt_fail("SIGUSR1 handler ran %d times, expected 1", (int)usr1_calls);
	if (winch_signo != SIGWINCH)
		return ckpt_fail("SIGWINCH siginfo handler saw signo %d", (int)winch_signo);
	return ckpt_pass();
}
