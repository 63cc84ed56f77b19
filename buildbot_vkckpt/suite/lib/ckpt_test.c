/* ckpt_test.c - implementation of the suite contract (see ckpt_test.h). */
#include "ckpt_test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char workdir[PATH_MAX];
static const char *progname = "test";
static pid_t last_pid;
static unsigned restores;
static long expect_restores = -1;	/* -1: the runner did not say */
static int fault_corrupt, fault_hang, fault_applied;
static void (*fault_hook)(void);
static int reported;

char *
ckpt_path(const char *name)
{
	size_t n = strlen(workdir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p == NULL) {
		perror("malloc");
		exit(2);
	}
	snprintf(p, n, "%s/%s", workdir, name);
	return p;
}

const char *
ckpt_workdir(void)
{
	return workdir;
}

void
ckpt_nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

void
ckpt_log(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", progname);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Write WORKDIR/name atomically: the runner reacts to the name appearing. */
static void
write_event(const char *name, const char *text)
{
	char *path = ckpt_path(name), *tmp = ckpt_path(".event.tmp");
	size_t len = strlen(text);
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", progname, path, strerror(errno));
		exit(2);
	}
	free(path);
	free(tmp);
}

/* Is NAME one of the comma-separated LIST? */
static int
name_listed(const char *name, const char *list)
{
	size_t n = strlen(name);
	const char *p;

	for (p = list; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/*
 * CKPT_FAULT_RUNS=K with CKPT_FAULT_COUNTS=DIR: the fault is for the first K
 * runs of this test only (a flaky test), counted in DIR/NAME across runs.
 * Returns 0 when this run is past the first K.
 */
static int
fault_run_counts(void)
{
	const char *runs = getenv("CKPT_FAULT_RUNS"), *dir = getenv("CKPT_FAULT_COUNTS");
	char path[1024];
	long seen = 0;
	FILE *fp;

	if (runs == NULL || *runs == '\0' || dir == NULL || *dir == '\0')
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, progname);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fscanf(fp, "%ld", &seen) != 1)
			seen = 0;
		fclose(fp);
	}
	if ((fp = fopen(path, "w")) != NULL) {
		fprintf(fp, "%ld\n", seen + 1);
		fclose(fp);
	}
	return seen < strtol(runs, NULL, 10);
}

void
ckpt_test_init(int argc, char **argv)
{
	const char *s, *slash;
	int ch;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 0 && argv[0] != NULL) {
		slash = strrchr(argv[0], '/');
		progname = slash ? slash + 1 : argv[0];
	}
	workdir[0] = '\0';
	while ((ch = getopt(argc, argv, "d:")) != -1) {
		if (ch != 'd') {
			fprintf(stderr, "usage: %s [-d workdir]\n", progname);
			exit(2);
		}
		if (optarg[0] == '/')
			snprintf(workdir, sizeof(workdir), "%s", optarg);
		else if (getcwd(workdir, sizeof(workdir)) != NULL)
			snprintf(workdir + strlen(workdir), sizeof(workdir) - strlen(workdir),
			    "/%s", optarg);
	}
	if (workdir[0] == '\0' && getcwd(workdir, sizeof(workdir)) == NULL) {
		perror("getcwd");
		exit(2);
	}
	s = getenv("CKPT_FAULT");
	fault_corrupt = s != NULL && strcmp(s, "corrupt") == 0;
	fault_hang = s != NULL && strcmp(s, "hang") == 0;
	s = getenv("CKPT_FAULT_ONLY");	/* NAME,...: the fault is for these tests */
	if (s != NULL && *s != '\0' && !name_listed(progname, s))
		fault_corrupt = fault_hang = 0;
	if ((fault_corrupt || fault_hang) && !fault_run_counts())
		fault_corrupt = fault_hang = 0;
	s = getenv("CKPT_EXPECT_RESTORES");
	if (s != NULL && *s != '\0')
		expect_restores = strtol(s, NULL, 10);
	last_pid = getpid();
	ckpt_compat_init(workdir);
}

void
ckpt_on_fault(void (*corrupt)(void))
{
	fault_hook = corrupt;
}

void
ckpt_ready(void)
{
	char line[64];

	snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	write_event("ready", line);
	ckpt_log("ready (pid %ld)", (long)getpid());
}

int
ckpt_poll(void)
{
	char name[32], line[64];
	pid_t now = getpid();
	char *go;
	int found;

	if (now != last_pid) {
		/* Only a restore changes the pid of a running program. */
		last_pid = now;
		restores++;
		snprintf(name, sizeof(name), "resumed.%u", restores);
		snprintf(line, sizeof(line), "resumed %u %ld\n", restores, (long)now);
		write_event(name, line);
		ckpt_log("resumed %u (pid %ld)", restores, (long)now);
	}
	if (fault_hang)
		return 0;
	go = ckpt_path("go");
	found = access(go, F_OK) == 0;
	free(go);
	return found;
}

void
ckpt_apply_fault(void)
{
	if (fault_corrupt && fault_hook != NULL && !fault_applied) {
		fault_applied = 1;
		ckpt_log("CKPT_FAULT=corrupt: corrupting state before verification");
		fault_hook();
	}
}

void
ckpt_wait(void (*tick)(void *), void *arg)
{
	for (;;) {
		if (tick != NULL)
			tick(arg);
		if (ckpt_poll())
			break;
		ckpt_nap_ms(5);
	}
	ckpt_apply_fault();
}

unsigned
ckpt_restores(void)
{
	return restores;
}

static int
report(const char *verdict)
{
	char line[512];

	if (reported)
		return strncmp(verdict, "PASS", 4) == 0 ? 0 : 1;
	reported = 1;
	snprintf(line, sizeof(line), "%s\n", verdict);
	write_event("result", line);
	ckpt_log("%s", verdict);
	return strncmp(verdict, "PASS", 4) == 0 ? 0 : 1;
}

int
ckpt_fail(const char *fmt, ...)
{
	char reason[400], verdict[420];
	va_list ap;
	char *nl;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	while ((nl = strchr(reason, '\n')) != NULL)
		*nl = ' ';
	snprintf(verdict, sizeof(verdict), "FAIL: %s", reason);
	return report(verdict);
}

int
ckpt_pass(void)
{
	if (fault_corrupt && !fault_applied)
		return ckpt_fail("CKPT_FAULT=corrupt asked, but the test has no fault hook");
	if (expect_restores >= 0 && (long)restores != expect_restores)
		return ckpt_fail("restored %u times, the runner restored it %ld times",
		    restores, expect_restores);
	return report("PASS");
}
