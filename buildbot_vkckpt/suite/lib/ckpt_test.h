/*
 * ckpt_test.h - the one contract every guest checkpoint test follows.
 *
 *   ckpt_test_init()   parse -d WORKDIR (default: the cwd), read the runner's
 *                      environment (CKPT_FAULT, CKPT_EXPECT_RESTORES)
 *   ...prepare one kind of state...
 *   ckpt_ready()       WORKDIR/ready  = "ready <pid>"
 *   ckpt_wait()        sleep in 5 ms naps until WORKDIR/go exists; meanwhile
 *                      every restore (seen as a new pid: a restored program
 *                      has checkpt's pid) writes WORKDIR/resumed.<n>
 *   ...verify the state...
 *   return ckpt_pass() / return ckpt_fail("reason")
 *                      WORKDIR/result = "PASS" or "FAIL: reason"; exit 0 / 1
 *
 * Every file is written to a temporary name and renamed, so the runner never
 * reads half a line.  Everything is echoed to stdout too.
 * A test registers a corruption hook with ckpt_on_fault(); the runner's
 * CKPT_FAULT=corrupt calls it just before verification, to prove the test
 * can fail.  CKPT_FAULT=hang makes ckpt_wait() never return (runner timeout).
 * CKPT_FAULT_RUNS=K and CKPT_FAULT_COUNTS=DIR limit the fault to the first K
 * runs of each test (a flaky test, for the runner's --retries).
 */
#ifndef CKPT_TEST_H
#define CKPT_TEST_H

#include "compat.h"

void ckpt_test_init(int argc, char **argv);
void ckpt_on_fault(void (*corrupt)(void));
void ckpt_ready(void);
/* One step of waiting: notices restores; returns 1 once the runner says go. */
int ckpt_poll(void);
/* ckpt_poll() + tick(arg) + a 5 ms nap until go, then the fault hook. */
void ckpt_wait(void (*tick)(void *), void *arg);
/* For tests that wait their own way: runs the fault hook when asked for. */
void ckpt_apply_fault(void);
unsigned ckpt_restores(void);
/* Absolute path of NAME inside the work dir (allocated; tests are short-lived). */
char *ckpt_path(const char *name);
const char *ckpt_workdir(void);
void ckpt_nap_ms(long ms);
void ckpt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ckpt_pass(void);
int ckpt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CKPT_TEST_H */
