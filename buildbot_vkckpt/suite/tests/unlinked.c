/* unlinked: an open descriptor of a deleted file.  sys_checkpoint(2) cannot restore it. */
#include "ckpt_test.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define LEN 8192

static int fd;

static void
corrupt(void)
{
	if (pwrite(fd, "?", 1, LEN / 2) != 1)
		ckpt_log("corrupt: pwrite failed");
}

int
main(int argc, char **argv)
{
	unsigned char buf[LEN];
	struct stat st;
	char *path;
	size_t i;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	for (i = 0; i < LEN; i++)
		buf[i] = (unsigned char)(i * 5);
	path = ckpt_path("unlinked.data");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, LEN) != LEN || unlink(path) != 0)
		return ckpt_fail("cannot prepare %s: %s", path, strerror(errno));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	if (fstat(fd, &st) != 0)
		return ckpt_fail("fd %d of the deleted file is gone: %s", fd, strerror(errno));
	if (st.st_nlink != 0 || st.st_size != LEN)
		return ckpt_fail("fd %d is not the deleted file (nlink %ld, size %lld)", fd,
		    (long)st.st_nlink, (long long)st.st_size);
	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, LEN, 0) != LEN)
		return ckpt_fail("pread: %s", strerror(errno));
	for (i = 0; i < LEN; i++)
		if (buf[i] != (unsigned char)(i * 5))
			return ckpt_fail("deleted file byte %zu is %#x", i, buf[i]);
	return ckpt_pass();
}
