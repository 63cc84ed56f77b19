/* files: open regular files and a directory keep their numbers, offsets and flags. */
#include "ckpt_test.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define DATA_LEN 4096
#define MID_OFFSET 1234
#define RO_OFFSET 10

static int fd_mid;

static void
corrupt(void)
{
	lseek(fd_mid, 1, SEEK_CUR);
}

static unsigned char
data_byte(size_t i)
{
	return (unsigned char)('a' + i % 26);
}

int
main(int argc, char **argv)
{
	char buf[DATA_LEN], *data, *log;
	struct stat dst, want;
	int fd_app, fd_ro, fd_dir, fl;
	size_t i;
	off_t at;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	for (i = 0; i < DATA_LEN; i++)
		buf[i] = (char)data_byte(i);
	data = ckpt_path("files.data");
	log = ckpt_path("files.log");
	fd_mid = open(data, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd_mid < 0 || write(fd_mid, buf, DATA_LEN) != DATA_LEN ||
	    lseek(fd_mid, MID_OFFSET, SEEK_SET) != MID_OFFSET)
		return ckpt_fail("cannot prepare %s: %s", data, strerror(errno));
	fd_app = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	fd_ro = open(data, O_RDONLY);
	fd_dir = open(ckpt_workdir(), O_RDONLY);
	if (fd_app < 0 || fd_ro < 0 || fd_dir < 0)
		return ckpt_fail("open: %s", strerror(errno));
	if (write(fd_app, "one\n", 4) != 4 || read(fd_ro, buf, RO_OFFSET) != RO_OFFSET)
		return ckpt_fail("cannot prepare offsets: %s", strerror(errno));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	if ((at = lseek(fd_mid, 0, SEEK_CUR)) != MID_OFFSET)
		return ckpt_fail("read-write fd %d is at offset %lld, expected %d", fd_mid,
		    (long long)at, MID_OFFSET);
	if ((at = lseek(fd_ro, 0, SEEK_CUR)) != RO_OFFSET)
		return ckpt_fail("read-only fd %d is at offset %lld, expected %d", fd_ro,
		    (long long)at, RO_OFFSET);
	if (read(fd_mid, buf, 1) != 1 || (unsigned char)buf[0] != data_byte(MID_OFFSET))
		return ckpt_fail("read-write fd %d does not read its file any more", fd_mid);
	fl = fcntl(fd_app, F_GETFL);
	if (fl < 0 || !(fl & O_APPEND) || (fl & O_ACCMODE) != O_WRONLY)
		return ckpt_fail("append fd %d lost its flags (F_GETFL %#x)", fd_app, fl);
	if ((fcntl(fd_ro, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return ckpt_fail("read-only fd %d changed its access mode", fd_ro);
	/* O_APPEND must still win over the offset. */
	lseek(fd_app, 0, SEEK_SET);
	if (write(fd_app, "two\n", 4) != 4)
		return ckpt_fail("append write: %s", strerror(errno));
	i = 0;
	fl = open(log, O_RDONLY);
	if (fl < 0 || (i = (size_t)read(fl, buf, sizeof(buf))) != 8 ||
	    memcmp(buf, "one\ntwo\n", 8) != 0)
		return ckpt_fail("files.log holds %zu bytes, expected \"one\\ntwo\\n\"", i);
	close(fl);
	if (fstat(fd_dir, &dst) != 0 || !S_ISDIR(dst.st_mode) ||
	    stat(ckpt_workdir(), &want) != 0 || dst.st_ino != want.st_ino)
		return ckpt_fail("directory fd %d no longer refers to the work dir", fd_dir);
	return ckpt_pass();
}
