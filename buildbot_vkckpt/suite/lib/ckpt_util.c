/*
 * ckpt_util.c - the two things POSIX sh lacks, for run.sh:
 *   ckpt_util now                 milliseconds on the monotonic clock
 *   ckpt_util wait MS FILE...     wait until one FILE exists; print its name
 *                                 (exit 0), or exit 1 after MS milliseconds
 * Waiting polls every 2 ms: the files come from other processes (the test,
 * the runner's exit wrappers) and there is no portable file-event API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_for(long long limit_ms, int nfiles, char **files)
{
	struct timespec nap = { 0, 2000000L };
	long long deadline = now_ms() + limit_ms;
	int i;

	for (;;) {
		for (i = 0; i < nfiles; i++) {
			if (access(files[i], F_OK) == 0) {
				printf("%s\n", files[i]);
				return 0;
			}
		}
		if (now_ms() >= deadline)
			return 1;
		nanosleep(&nap, NULL);
	}
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%lld\n", now_ms());
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "wait") == 0)
		return wait_for(atoll(argv[2]), argc - 3, argv + 3);
	fprintf(stderr, "usage: ckpt_util now | ckpt_util wait MS FILE...\n");
	return 2;
}
