/* socket: data in flight on a unix socket pair.  checkpt(1) says sockets cannot be restored. */
#include "ckpt_test.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MSG "hello, socket"

static int sv[2];

static void
corrupt(void)
{
	char c;

	if (read(sv[0], &c, 1) != 1)
		ckpt_log("corrupt: nothing to read");
}

int
main(int argc, char **argv)
{
	char buf[64];
	ssize_t n;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    write(sv[1], MSG, sizeof(MSG)) != sizeof(MSG))
		return ckpt_fail("cannot prepare the socket pair: %s", strerror(errno));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	n = read(sv[0], buf, sizeof(buf));
	if (n < 0)
		return ckpt_fail("read from the socket (fd %d): %s", sv[0], strerror(errno));
	if (n != sizeof(MSG) || memcmp(buf, MSG, sizeof(MSG)) != 0)
		return ckpt_fail("the socket held %zd bytes, expected \"%s\"", n, MSG);
	if (write(sv[0], "y", 1) != 1 || read(sv[1], buf, 1) != 1 || buf[0] != 'y')
		return ckpt_fail("the socket pair no longer carries data");
	return ckpt_pass();
}
