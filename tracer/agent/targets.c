// SPDX-License-Identifier: MIT
#include "agent/targets.h"
#include "target/procmaps.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int target_filter_add_comm(struct target_filter *f, const char *pattern, char *why,
			   size_t why_size)
{
	regex_t *comms = realloc(f->comms, (f->ncomms + 1) * sizeof(*comms));
	char **texts;
	int rc;

	if (!comms)
		return -ENOMEM;
	f->comms = comms;
	texts = realloc(f->comm_texts, (f->ncomms + 1) * sizeof(*texts));
	if (!texts)
		return -ENOMEM;
	f->comm_texts = texts;
	texts[f->ncomms] = strdup(pattern);
	if (!texts[f->ncomms])
		return -ENOMEM;
	rc = regcomp(&comms[f->ncomms], pattern, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, &comms[f->ncomms], why, why_size);
		free(texts[f->ncomms]);
		return -EINVAL;
	}
	f->ncomms++;
	return 0;
}

int target_filter_add_pid(struct target_filter *f, pid_t pid, char *why, size_t why_size)
{
	struct target_pid *pids;
	struct proc_entry e;
	int err = pid > 0 ? proc_entry_read(pid, &e) : -ESRCH;

	if (err) {
		snprintf(why, why_size, "%s", err == -ESRCH ? "no such process" : strerror(-err));
		return err;
	}
	if (!proc_entry_profilable(&e)) {
		snprintf(why, why_size, "%s",
			 proc_entry_zombie(&e) ? "a zombie" : "a kernel thread");
		return -EINVAL;
	}
	pids = realloc(f->pids, (f->npids + 1) * sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	f->pids = pids;
	pids[f->npids++] = (struct target_pid){ pid, e.start_ticks };
	return 0;
}

void target_filter_free(struct target_filter *f)
{
	for (size_t i = 0; i < f->ncomms; i++) {
		regfree(&f->comms[i]);
		free(f->comm_texts[i]);
	}
	free(f->comms);
	free(f->comm_texts);
	free(f->pids);
	memset(f, 0, sizeof(*f));
}

bool target_filter_match(const struct target_filter *f, const struct proc_entry *e)
{
	if (f->all)
		return true;
	for (size_t i = 0; i < f->npids; i++)
		if (f->pids[i].pid == e->pid && f->pids[i].start_ticks == e->start_ticks)
			return true;
	for (size_t i = 0; i < f->ncomms; i++)
		if (regexec(&f->comms[i], e->comm, 0, NULL, 0) == 0)
			return true;
	return false;
}

int targets_scan(const struct target_filter *f, int (*fn)(const struct proc_entry *e, void *ctx),
		 void *ctx)
{
	pid_t self = getpid();
	struct dirent *d;
	int rc = 0;
	DIR *dir;

	/* Only --pid: no need to list /proc. */
	if (!f->all && !f->ncomms) {
		for (size_t i = 0; i < f->npids && !rc; i++) {
			struct proc_entry e;

			if (proc_entry_read(f->pids[i].pid, &e) == 0 && proc_entry_profilable(&e) &&
			    target_filter_match(f, &e))
				rc = fn(&e, ctx);
		}
		return rc;
	}
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (!rc && (d = readdir(dir))) {
		struct proc_entry e;
		char *end;
		long pid;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = strtol(d->d_name, &end, 10);
		if (*end || pid == self || proc_entry_read(pid, &e))
			continue;
		if (proc_entry_profilable(&e) && target_filter_match(f, &e))
			rc = fn(&e, ctx);
	}
	closedir(dir);
	return rc;
}
