/* mmap_shared_file: a shared file mapping (saved by file handle) stays tied to its file. */
#include "ckpt_test.h"

#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define LEN (32 * 1024)

static unsigned char *map;

static void
corrupt(void)
{
	map[100] ^= 1;
}

int
main(int argc, char **argv)
{
	unsigned char buf[LEN];
	char *path;
	size_t i;
	int fd;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(buf, 0, sizeof(buf));
	path = ckpt_path("shared.data");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, LEN) != LEN)
		return ckpt_fail("cannot write %s: %s", path, strerror(errno));
	map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return ckpt_fail("mmap: %s", strerror(errno));
	close(fd);
	for (i = 0; i < LEN; i++)
		map[i] = (unsigned char)(i * 3 + 1);
	if (msync(map, LEN, MS_SYNC) != 0)
		return ckpt_fail("msync: %s", strerror(errno));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	for (i = 0; i < LEN; i++)
		if (map[i] != (unsigned char)(i * 3 + 1))
			return ckpt_fail("shared file mapping byte %zu is %#x", i, map[i]);
	/* Writes through the restored mapping must still reach the file. */
	memcpy(map + 10, "restored", 8);
	msync(map, LEN, MS_SYNC);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, buf, 8, 10) != 8)
		return ckpt_fail("cannot read back %s: %s", path, strerror(errno));
	close(fd);
	if (memcmp(buf, "restored", 8) != 0)
		return ckpt_fail("the mapping is no longer shared with %s", path);
	return ckpt_pass();
}
