/* kqueue: a kqueue holding a periodic timer and a read event on a regular file. */
#include "ckpt_test.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FILE_BYTES 1000
#define OFFSET 100
#define TIMER_ID 7
#define TIMER_MS 20

static int fd;

static void
corrupt(void)
{
	lseek(fd, 1, SEEK_CUR);
}

int
main(int argc, char **argv)
{
	struct kevent changes[2], events[8];
	struct timespec slice = { 0, 50 * 1000000L };
	char buf[FILE_BYTES];
	int kq, n, i, tries, timer_seen = 0, read_seen = 0;
	intptr_t read_data = -1;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	memset(buf, 'k', sizeof(buf));
	fd = open(ckpt_path("kqueue.data"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != FILE_BYTES ||
	    lseek(fd, OFFSET, SEEK_SET) != OFFSET)
		return ckpt_fail("cannot prepare kqueue.data: %s", strerror(errno));
	kq = kqueue();
	if (kq < 0)
		return ckpt_fail("kqueue: %s", strerror(errno));
	EV_SET(&changes[0], TIMER_ID, EVFILT_TIMER, EV_ADD | EV_ENABLE, 0, TIMER_MS, NULL);
	EV_SET(&changes[1], fd, EVFILT_READ, EV_ADD | EV_ENABLE, 0, 0, NULL);
	if (kevent(kq, changes, 2, NULL, 0, NULL) != 0)
		return ckpt_fail("kevent register: %s", strerror(errno));

	ckpt_ready();
	ckpt_wait(NULL, NULL);

	/* The file is always readable, so kevent() returns at once: nap between calls. */
	for (tries = 0; tries < 200 && !(timer_seen && read_seen); tries++) {
		if (tries > 0)
			ckpt_nap_ms(5);
		n = kevent(kq, NULL, 0, events, 8, &slice);
		if (n < 0)
			return ckpt_fail("kevent after restore: %s (kqueue fd %d)",
			    strerror(errno), kq);
		for (i = 0; i < n; i++) {
			if (events[i].filter == EVFILT_TIMER && events[i].ident == TIMER_ID)
				timer_seen = 1;
			if (events[i].filter == EVFILT_READ && events[i].ident == (uintptr_t)fd) {
				read_seen = 1;
				read_data = events[i].data;
			}
		}
	}
	if (!timer_seen)
		return ckpt_fail("the %d ms timer never fired after the restore", TIMER_MS);
	if (!read_seen)
		return ckpt_fail("no read event on the regular file fd %d", fd);
	if (read_data != FILE_BYTES - OFFSET)
		return ckpt_fail("read event says %ld bytes left, expected %d",
		    (long)read_data, FILE_BYTES - OFFSET);
	EV_SET(&changes[0], TIMER_ID, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	if (kevent(kq, changes, 1, NULL, 0, NULL) != 0)
		return ckpt_fail("the timer registration is gone: %s", strerror(errno));
	return ckpt_pass();
}
