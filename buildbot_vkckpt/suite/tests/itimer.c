/* itimer: an ITIMER_REAL interval timer keeps its interval and keeps firing. */
#include "ckpt_test.h"

#include <sys/time.h>
#include <errno.h>
#include <string.h>

#define INTERVAL_US 20000

static volatile sig_atomic_t ticks;

static void
on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

static void
corrupt(void)
{
	struct itimerval it = { { 0, INTERVAL_US * 3 }, { 0, INTERVAL_US * 3 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

int
main(int argc, char **argv)
{
	struct itimerval it = { { 0, INTERVAL_US }, { 0, INTERVAL_US } }, before, after;
	struct sigaction sa;
	int start, waited;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 || setitimer(ITIMER_REAL, &it, NULL) != 0)
		return ckpt_fail("cannot arm the timer: %s", strerror(errno));
	/* The kernel may round the interval to its tick: compare with what it kept. */
	getitimer(ITIMER_REAL, &before);

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	getitimer(ITIMER_REAL, &after);
	if (after.it_interval.tv_sec != before.it_interval.tv_sec ||
	    after.it_interval.tv_usec != before.it_interval.tv_usec)
		return ckpt_fail("interval is %ld.%06ld s, was %ld.%06ld s",
		    (long)after.it_interval.tv_sec, (long)after.it_interval.tv_usec,
		    (long)before.it_interval.tv_sec, (long)before.it_interval.tv_usec);
	start = ticks;
	for (waited = 0; ticks < start + 3 && waited < 1000; waited += 5)
		ckpt_nap_ms(5);
	if (ticks < start + 3)
		return ckpt_fail("the timer fired %d times in 1 s after the restore",
		    ticks - start);
	return ckpt_pass();
}
