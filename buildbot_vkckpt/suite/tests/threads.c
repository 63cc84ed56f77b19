/* threads: several threads, each with thread-local, stack and progress state. */
#include "ckpt_test.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define NTHREADS 4
#define WORDS 64

static __thread uint64_t tls_tag;
static volatile int stop;
static volatile uint64_t progress[NTHREADS];
static volatile uint64_t *stacks[NTHREADS];	/* each thread's stack pattern */
static volatile int broken[NTHREADS];		/* first bad word + 1, or 0 */
static volatile int started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t
tag_of(int id)
{
	return 0x1111111111111111ull * (uint64_t)(id + 1);
}

static void *
worker(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	volatile uint64_t words[WORDS];

	tls_tag = tag_of(id);
	for (i = 0; i < WORDS; i++)
		words[i] = tag_of(id) ^ (uint64_t)i;
	stacks[id] = words;
	pthread_mutex_lock(&lock);
	started++;
	pthread_mutex_unlock(&lock);
	while (!stop) {
		if (tls_tag != tag_of(id) && !broken[id])
			broken[id] = WORDS + 1;
		for (i = 0; i < WORDS; i++)
			if (words[i] != (tag_of(id) ^ (uint64_t)i) && !broken[id])
				broken[id] = i + 1;
		progress[id]++;
		ckpt_nap_ms(2);
	}
	return NULL;
}

static void
corrupt(void)
{
	stacks[0][3] ^= 1;
}

int
main(int argc, char **argv)
{
	pthread_t tids[NTHREADS];
	uint64_t before[NTHREADS];
	int i, n;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	for (i = 0; i < NTHREADS; i++)
		if (pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i) != 0)
			return ckpt_fail("pthread_create %d failed", i);
	do {
		ckpt_nap_ms(1);
		pthread_mutex_lock(&lock);
		n = started;
		pthread_mutex_unlock(&lock);
	} while (n < NTHREADS);

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	/* Every thread must still run after the restore: watch them progress. */
	for (i = 0; i < NTHREADS; i++)
		before[i] = progress[i];
	ckpt_nap_ms(50);
	for (i = 0; i < NTHREADS; i++)
		if (progress[i] == before[i])
			return ckpt_fail("thread %d no longer runs (progress %llu)", i,
			    (unsigned long long)before[i]);
	stop = 1;
	for (i = 0; i < NTHREADS; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < NTHREADS; i++) {
		if (broken[i] == WORDS + 1)
			return ckpt_fail("thread %d lost its thread-local value", i);
		if (broken[i])
			return ckpt_fail("thread %d stack word %d changed", i, broken[i] - 1);
	}
	return ckpt_pass();
}
