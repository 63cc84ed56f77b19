/* mmap_shared_anon: a shared anonymous mapping keeps its contents and stays writable. */
#include "ckpt_test.h"

#include <sys/mman.h>
#include <errno.h>
#include <string.h>

#define LEN (128 * 1024)

static unsigned char *region;

static void
corrupt(void)
{
	region[LEN / 3] ^= 1;
}

int
main(int argc, char **argv)
{
	size_t i;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	region = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
	if (region == MAP_FAILED)
		return ckpt_fail("mmap: %s", strerror(errno));
	for (i = 0; i < LEN; i++)
		region[i] = (unsigned char)(i ^ (i >> 8));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	for (i = 0; i < LEN; i++)
		if (region[i] != (unsigned char)(i ^ (i >> 8)))
			return ckpt_fail("shared anonymous byte %zu is %#x", i, region[i]);
	region[0] ^= 0xFF;	/* still writable */
	if (region[0] != (unsigned char)~0u)
		return ckpt_fail("shared anonymous mapping no longer writable");
	return ckpt_pass();
}
