/* memory: anonymous memory (heap, .data, .bss, stack) and a running counter. */
#include "ckpt_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAP_WORDS (4u * 1024 * 1024 / sizeof(uint64_t))	/* 4 MiB */

static uint64_t data_words[512] = { 1 };	/* .data */
static uint64_t bss_words[4096];		/* .bss */
static uint64_t *heap;
static volatile uint64_t counter;		/* the running counter */
static uint64_t *counter_shadow;		/* ~counter, kept on the heap */

static uint64_t
pattern(uint64_t i, uint64_t seed)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;

	x ^= x >> 31;
	return x * 0xBF58476D1CE4E5B9ull;
}

static void
tick(void *arg)
{
	(void)arg;
	counter++;
	*counter_shadow = ~counter;
}

static void
corrupt(void)
{
	heap[HEAP_WORDS / 2] ^= 1;
}

static int
check(const uint64_t *w, size_t n, uint64_t seed, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] != pattern(i, seed))
			return ckpt_fail("%s word %zu is %#llx, expected %#llx", what, i,
			    (unsigned long long)w[i], (unsigned long long)pattern(i, seed));
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t stack_words[256], at_ready;
	size_t i;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	heap = malloc(HEAP_WORDS * sizeof(*heap));
	counter_shadow = malloc(sizeof(*counter_shadow));
	if (heap == NULL || counter_shadow == NULL)
		return ckpt_fail("malloc failed");
	for (i = 0; i < HEAP_WORDS; i++)
		heap[i] = pattern(i, 1);
	for (i = 0; i < 512; i++)
		data_words[i] = pattern(i, 2);
	for (i = 0; i < 4096; i++)
		bss_words[i] = pattern(i, 3);
	for (i = 0; i < 256; i++)
		stack_words[i] = pattern(i, 4);
	*counter_shadow = ~counter;

	ckpt_ready();
	at_ready = counter;
	ckpt_wait(tick, NULL);

	if (check(heap, HEAP_WORDS, 1, "heap") || check(data_words, 512, 2, ".data") ||
	    check(bss_words, 4096, 3, ".bss") || check(stack_words, 256, 4, "stack"))
		return 1;
	if (*counter_shadow != ~counter)
		return ckpt_fail("counter %llu disagrees with its heap shadow",
		    (unsigned long long)counter);
	if (counter <= at_ready)
		return ckpt_fail("counter did not advance (%llu at ready, %llu now)",
		    (unsigned long long)at_ready, (unsigned long long)counter);
	/* The counter must still be live: it keeps counting after the restore. */
	at_ready = counter;
	tick(NULL);
	if (counter != at_ready + 1)
		return ckpt_fail("counter stuck at %llu", (unsigned long long)counter);
	return ckpt_pass();
}
