/* pipe: data waiting in a pipe.  checkpt(1) says pipes cannot be restored. */
#include "ckpt_test.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MSG "through the pipe"

static int p[2];

static void
corrupt(void)
{
	char c;

	if (read(p[0], &c, 1) != 1)
		ckpt_log("corrupt: nothing to read");
}

int
main(int argc, char **argv)
{
	char buf[64];
	ssize_t n;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	if (pipe(p) != 0 || write(p[1], MSG, sizeof(MSG)) != sizeof(MSG))
		return ckpt_fail("cannot prepare the pipe: %s", strerror(errno));
	fcntl(p[0], F_SETFL, O_NONBLOCK);

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	n = read(p[0], buf, sizeof(buf));
	if (n < 0)
		return ckpt_fail("read from the pipe (fd %d): %s", p[0], strerror(errno));
	if (n != sizeof(MSG) || memcmp(buf, MSG, sizeof(MSG)) != 0)
		return ckpt_fail("the pipe held %zd bytes, expected \"%s\"", n, MSG);
	if (write(p[1], "x", 1) != 1 || read(p[0], buf, 1) != 1 || buf[0] != 'x')
		return ckpt_fail("the pipe no longer carries data");
	return ckpt_pass();
}
