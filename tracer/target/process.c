// SPDX-License-Identifier: MIT
#include "process.h"
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REFRESH_RATE 20.0 /* mapping re-reads per second, and the burst allowed */

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static char *read_cmdline(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strdup("");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return strdup("");
	buf[n] = 0;
	for (ssize_t i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
	return strdup(buf);
}

static void read_comm(pid_t pid, char *comm, size_t size)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm[0] = 0;
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, size, f))
		comm[strcspn(comm, "\n")] = 0;
	fclose(f);
}

/* Holds obj for p, once. */
static void hold(struct process *p, struct elf_object *obj)
{
	for (size_t i = 0; i < p->nheld; i++)
		if (p->held[i] == obj)
			return;
	if (p->nheld == p->held_cap) {
		size_t cap = p->held_cap ? 2 * p->held_cap : 16;
		struct elf_object **held = realloc(p->held, cap * sizeof(*held));

		/* Not held, it may be freed once idle and parsed again: only slower. */
		if (!held)
			return;
		p->held = held;
		p->held_cap = cap;
	}
	symbolizer_hold(p->sym, obj);
	p->held[p->nheld++] = obj;
}

/* Opens the ELF objects of every executable mapping while the files can still be reached. */
static void preload_objects(struct process *p)
{
	for (size_t i = 0; i < p->maps->count; i++) {
		const struct proc_mapping *m = &p->maps->mappings[i];
		struct elf_object *obj;

		if (m->executable && (procmaps_is_file(m) || strcmp(m->path, "[vdso]") == 0) &&
		    (obj = symbolizer_object(p->sym, p->pid, m)))
			hold(p, obj);
	}
}

/* Name, executable and arguments; they change when the process calls exec. */
static int read_identity(struct process *p)
{
	static const char deleted[] = " (deleted)";
	char path[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", p->pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	/* As the mappings name a file deleted or replaced since it was mapped (procmaps.c). */
	if (n > (ssize_t)strlen(deleted) && strcmp(exe + n - strlen(deleted), deleted) == 0)
		exe[n - strlen(deleted)] = 0;
	free(p->exe);
	free(p->cmdline);
	p->exe = strdup(exe);
	p->cmdline = read_cmdline(p->pid);
	read_comm(p->pid, p->comm, sizeof(p->comm));
	return p->exe && p->cmdline ? 0 : -ENOMEM;
}

int process_open(pid_t pid, struct symbolizer *sym, struct process **out)
{
	struct process *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->sym = sym;
	err = procmaps_read(pid, &p->maps);
	if (err)
		goto fail;
	err = unwinder_new(pid, &p->unwinder);
	if (err)
		goto fail;
	err = unwinder_add_maps(p->unwinder, p->maps);
	if (err < 0)
		goto fail;
	err = read_identity(p);
	if (err)
		goto fail;
	preload_objects(p);
	p->last_refresh_ns = monotonic_ns();
	p->refresh_tokens = REFRESH_RATE;
	*out = p;
	return 0;
fail:
	process_close(p);
	return err == -ENOENT ? -ESRCH : err;
}

/* Why pid cannot be profiled, from its /proc/PID/stat; 0 when it can. */
static int check_entry(pid_t pid, char *why, size_t size)
{
	struct proc_entry e;
	int err = proc_entry_read(pid, &e);

	if (err == -ESRCH) {
		snprintf(why, size, "no such process");
		return -ESRCH;
	}
	if (err)
		return 0; /* unreadable here: what reads it next says why */
	if (proc_entry_kthread(&e)) {
		snprintf(why, size, "it is a kernel thread (there is no user space to profile)");
		return -EINVAL;
	}
	if (proc_entry_zombie(&e)) {
		snprintf(why, size, "it is a zombie (it has exited; its parent has not reaped it)");
		return -EINVAL;
	}
	return 0;
}

int process_check(pid_t pid, char *why, size_t size)
{
	char path[64], exe[16];
	int err = check_entry(pid, why, size);

	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (readlink(path, exe, sizeof(exe)) < 0 && (errno == EACCES || errno == EPERM)) {
		/* The kernel answers EACCES too for a process that has exited since: then say so. */
		err = check_entry(pid, why, size);
		if (err)
			return err;
		snprintf(why, size,
			 "permission denied to read its memory maps (it runs as another user: that "
			 "needs root or CAP_SYS_PTRACE; or ptrace is restricted, see "
			 "/proc/sys/kernel/yama/ptrace_scope)");
		return -EACCES;
	}
	return 0;
}

void process_close(struct process *p)
{
	if (!p)
		return;
	unwinder_free(p->unwinder);
	procmaps_free(p->maps);
	for (size_t i = 0; i < p->nheld; i++)
		symbolizer_release(p->sym, p->held[i]);
	free(p->held);
	free(p->exe);
	free(p->cmdline);
	free(p);
}

/* True when every executable file mapping of old is still mapped the same way in new. */
static bool code_still_mapped(const struct proc_maps *old, const struct proc_maps *new)
{
	for (size_t i = 0; i < old->count; i++) {
		const struct proc_mapping *o = &old->mappings[i], *n;

		if (!o->executable || !procmaps_is_file(o))
			continue;
		n = procmaps_find(new, o->start);
		if (!n || n->start != o->start || n->end != o->end || n->inode != o->inode ||
		    n->offset != o->offset)
			return false;
	}
	return true;
}

int process_refresh(struct process *p)
{
	struct proc_maps *maps;
	int err;

	p->last_refresh_ns = monotonic_ns();
	err = procmaps_read(p->pid, &maps);
	if (err)
		return err;
	if (!code_still_mapped(p->maps, maps)) {
		err = unwinder_reset(p->unwinder);
		if (err) {
			procmaps_free(maps);
			return err;
		}
		p->generation++;
		err = read_identity(p);
		if (err) {
			procmaps_free(maps);
			return err;
		}
	}
	procmaps_free(p->maps);
	p->maps = maps;
	preload_objects(p);
	err = unwinder_add_maps(p->unwinder, p->maps);
	return err < 0 ? err : 0;
}

const struct proc_mapping *process_mapping(struct process *p, uint64_t addr, uint64_t seen_ns)
{
	const struct proc_mapping *m = procmaps_find(p->maps, addr);

	if (m)
		return m;
	if (seen_ns < p->last_refresh_ns)
		return NULL;
	p->refresh_tokens += (monotonic_ns() - p->last_refresh_ns) / 1e9 * REFRESH_RATE;
	if (p->refresh_tokens > REFRESH_RATE)
		p->refresh_tokens = REFRESH_RATE;
	if (p->refresh_tokens < 1)
		return NULL;
	p->refresh_tokens -= 1;
	if (process_refresh(p))
		return NULL;
	return procmaps_find(p->maps, addr);
}

const struct proc_mapping *process_exe_mapping(const struct process *p)
{
	for (size_t i = 0; i < p->maps->count; i++) {
		const struct proc_mapping *m = &p->maps->mappings[i];

		if (m->executable && strcmp(m->path, p->exe) == 0)
			return m;
	}
	return NULL;
}
