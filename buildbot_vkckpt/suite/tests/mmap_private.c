/* mmap_private: private file mapping changed copy-on-write, and private anonymous memory. */
#include "ckpt_test.h"

#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define LEN (64 * 1024)

static unsigned char *filemap, *anon;

static void
corrupt(void)
{
	filemap[LEN - 1] ^= 1;
}

int
main(int argc, char **argv)
{
	unsigned char buf[LEN], disk[LEN];
	char *path;
	size_t i;
	int fd;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	for (i = 0; i < LEN; i++)
		buf[i] = (unsigned char)(i * 7);
	path = ckpt_path("private.data");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, LEN) != LEN)
		return ckpt_fail("cannot write %s: %s", path, strerror(errno));
	filemap = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	anon = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
	if (filemap == MAP_FAILED || anon == MAP_FAILED)
		return ckpt_fail("mmap: %s", strerror(errno));
	close(fd);
	/* Change every other page: the image holds a mix of copied and file pages. */
	for (i = 0; i < LEN; i += 8192)
		memset(filemap + i, 0xAB, 4096);
	for (i = 0; i < LEN; i++)
		anon[i] = (unsigned char)(i * 13);

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	for (i = 0; i < LEN; i++) {
		unsigned char want = (i % 8192) < 4096 ? 0xAB : (unsigned char)(i * 7);

		if (filemap[i] != want)
			return ckpt_fail("private file mapping byte %zu is %#x, expected %#x",
			    i, filemap[i], want);
		if (anon[i] != (unsigned char)(i * 13))
			return ckpt_fail("private anonymous byte %zu changed", i);
	}
	/* Private changes must never have reached the file. */
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, disk, LEN) != LEN)
		return ckpt_fail("cannot read back %s: %s", path, strerror(errno));
	close(fd);
	if (memcmp(disk, buf, LEN) != 0)
		return ckpt_fail("private mapping changes leaked into %s", path);
	filemap[0] = 1;	/* still writable */
	return ckpt_pass();
}
