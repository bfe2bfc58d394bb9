// SPDX-License-Identifier: MIT
#include "recording_lock.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The target's start time in clock ticks since boot (field 22 of /proc/PID/stat); 0 unknown. */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu",
			 &t) != 1)
		return 0;
	return t;
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

int recording_lock(pid_t target, pid_t *holder)
{
	struct sockaddr_un addr;
	socklen_t len = lock_address(target, &addr);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	*holder = 0;
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, len) == 0 && listen(fd, 1) == 0)
		return fd;
	err = errno;
	close(fd);
	if (err != EADDRINUSE)
		return -err;
	*holder = lock_holder(&addr, len);
	return -EBUSY;
}
