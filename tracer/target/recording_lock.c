// SPDX-License-Identifier: MIT
#include "recording_lock.h"
#include "procstat.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

/* The target's start time in clock ticks since boot; 0 unknown. */
static unsigned long long start_time(pid_t pid)
{
	struct proc_entry e;

	return proc_entry_read(pid, &e) ? 0 : e.start_ticks;
}

/* The abstract socket address of target's lock; returns its length. */
static socklen_t lock_address(pid_t target, struct sockaddr_un *addr)
{
	int len;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: an abstract name, in no file system. */
	len = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1,
		       "asyncprof-recording-%d-%llu", target, start_time(target));
	return offsetof(struct sockaddr_un, sun_path) + 1 + len;
}

/* The pid of the process listening on the lock's name; 0 when it cannot be told. */
static pid_t lock_holder(const struct sockaddr_un *addr, socklen_t len)
{
	struct ucred cred = {0};
	socklen_t clen = sizeof(cred);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (connect(fd, (const struct sockaddr *)addr, len) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		cred.pid = 0;
	close(fd);
	return cred.pid;
}

/* Binds the lock's name: the lock's fd, -EBUSY when it is taken, or another -errno. */
static int try_lock(const struct sockaddr_un *addr, socklen_t len)
{
	/* Non-blocking: a holder that hands the lock over accepts without waiting. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)addr, len) == 0 && listen(fd, 4) == 0)
		return fd;
	err = errno;
	close(fd);
	return err == EADDRINUSE ? -EBUSY : -err;
}

int recording_lock(pid_t target, pid_t *holder)
{
	struct sockaddr_un addr;
	socklen_t len = lock_address(target, &addr);
	int fd = try_lock(&addr, len);

	*holder = 0;
	if (fd == -EBUSY)
		*holder = lock_holder(&addr, len);
	return fd;
}

int recording_lock_ask(pid_t target, unsigned int wait_ms, pid_t *holder)
{
	struct sockaddr_un addr;
	socklen_t len = lock_address(target, &addr);
	struct timespec pause = { 0, 20 * 1000000L };
	int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd = -EBUSY;
	const char ask = RECORDING_LOCK_ASK;

	*holder = 0;
	if (conn < 0)
		return -errno;
	if (connect(conn, (const struct sockaddr *)&addr, len) == 0 &&
	    write(conn, &ask, 1) == 1) {
		struct ucred cred = { 0 };
		socklen_t clen = sizeof(cred);

		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			*holder = cred.pid;
		/* A holder that gives way stops its recording first: its probes are gone when
		 * its name is free. */
		for (unsigned int waited = 0; waited < wait_ms; waited += 20) {
			fd = try_lock(&addr, len);
			if (fd != -EBUSY)
				break;
			nanosleep(&pause, NULL);
		}
	} else {
		fd = try_lock(&addr, len); /* the holder was just gone */
	}
	close(conn);
	return fd;
}

int recording_lock_asked(int lock_fd, pid_t *asker)
{
	int asked = 0, conn;

	while ((conn = accept4(lock_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct pollfd p = { .fd = conn, .events = POLLIN };
		struct ucred cred = { 0 };
		socklen_t clen = sizeof(cred);
		char c = 0;

		/* The asker writes right after connecting; one who only asked who holds the lock
		 * closes without a word. */
		if (poll(&p, 1, 100) == 1 && read(conn, &c, 1) == 1 && c == RECORDING_LOCK_ASK) {
			asked = 1;
			if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
				*asker = cred.pid;
		}
		close(conn);
	}
	return asked;
}
