// SPDX-License-Identifier: MIT
#include "resource.h"
#include "target/procmaps.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Calls fn on every path component of every line of a /proc/PID/cgroup text, innermost first
 * within a line; stops when fn returns true. */
static bool each_component(const char *cgroup, bool (*fn)(const char *c, size_t len, void *arg),
			   void *arg)
{
	const char *line = cgroup;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		const char *path = line, *stop;

		if (!end)
			end = line + strlen(line);
		/* "ID:CONTROLLERS:PATH": the path is after the second ':'. */
		for (int colons = 0; path < end && colons < 2; path++)
			colons += *path == ':';
		stop = end;
		while (stop > path) {
			const char *c = stop;

			while (c > path && c[-1] != '/')
				c--;
			if (stop > c && fn(c, (size_t)(stop - c), arg))
				return true;
			stop = c > path ? c - 1 : path;
		}
		line = *end ? end + 1 : NULL;
	}
	return false;
}

static bool is_hex_id(const char *s, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

static bool container_component(const char *c, size_t len, void *arg)
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
						"containerd-" };
	static const char *const not_containers[] = { "crio-conmon-", "libpod-conmon-" };
	const char scope[] = ".scope";
	char *out = arg;

	for (size_t i = 0; i < sizeof(not_containers) / sizeof(not_containers[0]); i++)
		if (len >= strlen(not_containers[i]) &&
		    strncmp(c, not_containers[i], strlen(not_containers[i])) == 0)
			return false;
	if (len > sizeof(scope) - 1 &&
	    strncmp(c + len - (sizeof(scope) - 1), scope, sizeof(scope) - 1) == 0) {
		len -= sizeof(scope) - 1;
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t n = strlen(prefixes[i]);

			if (len > n && strncmp(c, prefixes[i], n) == 0) {
				c += n;
				len -= n;
				break;
			}
		}
	}
	if (!is_hex_id(c, len))
		return false;
	memcpy(out, c, len);
	out[len] = '\0';
	return true;
}

bool resource_container_id(const char *cgroup, char out[65])
{
	return each_component(cgroup, container_component, out);
}

/* 8-4-4-4-12 hex digits, separated by sep. */
static bool is_uid(const char *s, char sep)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };

	for (size_t g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return false;
		if (g < 4 && *s++ != sep)
			return false;
	}
	return true;
}

static bool pod_component(const char *c, size_t len, void *arg)
{
	char *out = arg;

	/* "pod" + uid: the whole component (cgroupfs), or before ".slice" (systemd). */
	for (size_t i = 0; i + 3 + 36 <= len; i++) {
		const char *uid = c + i + 3;
		char sep;

		if (strncmp(c + i, "pod", 3) != 0)
			continue;
		sep = uid[8];
		if ((sep != '-' && sep != '_') || !is_uid(uid, sep))
			continue;
		if (i + 3 + 36 != len && strncmp(uid + 36, ".slice", 6) != 0)
			continue;
		for (size_t j = 0; j < 36; j++)
			out[j] = uid[j] == '_' ? '-' : (char)tolower((unsigned char)uid[j]);
		out[36] = '\0';
		return true;
	}
	return false;
}

bool resource_pod_uid(const char *cgroup, char out[37])
{
	return each_component(cgroup, pod_component, out);
}

char *resource_environ_value(const char *environ, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < len;) {
		const char *var = environ + i;
		size_t vlen = strnlen(var, len - i);

		if (vlen > n && strncmp(var, name, n) == 0 && var[n] == '=')
			return vlen > n + 1 ? strndup(var + n + 1, vlen - n - 1) : NULL;
		i += vlen + 1;
	}
	return NULL;
}

static size_t add_string(struct otlp_attr *out, size_t n, const char *key, const char *value)
{
	if (*value)
		out[n++] = (struct otlp_attr){ key, OTLP_STRING, value, 0 };
	return n;
}

size_t resource_attributes(const struct resource *r, struct otlp_attr out[RESOURCE_MAX_ATTRS])
{
	size_t n = add_string(out, 0, "host.name", r->host_name);

	out[n++] = (struct otlp_attr){ "process.pid", OTLP_INT, NULL, r->pid };
	n = add_string(out, n, "process.executable.name", r->exe_name);
	n = add_string(out, n, "process.executable.path", r->exe_path);
	n = add_string(out, n, "process.runtime.name", r->runtime);
	n = add_string(out, n, "process.runtime.version", r->runtime_version);
	n = add_string(out, n, "container.id", r->container_id);
	n = add_string(out, n, "k8s.pod.uid", r->pod_uid);
	return add_string(out, n, "service.name", r->service_name);
}

static void read_exe(struct resource *r)
{
	char path[64], target[PATH_MAX];
	const char deleted[] = " (deleted)";
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", r->pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if ((size_t)n > sizeof(deleted) - 1 &&
		    strcmp(target + n - (sizeof(deleted) - 1), deleted) == 0)
			target[n - (sizeof(deleted) - 1)] = '\0';
		r->exe_path = strdup(target);
		base = strrchr(target, '/');
		snprintf(r->exe_name, sizeof(r->exe_name), "%.*s", NAME_MAX,
			 base ? base + 1 : target);
		return;
	}
	/* A kernel thread or a process we may not look into: its comm is all there is. */
	snprintf(path, sizeof(path), "/proc/%d/comm", r->pid);
	if (procfs_read_text(path, &r->exe_path) == 0) {
		r->exe_path[strcspn(r->exe_path, "\n")] = '\0';
		snprintf(r->exe_name, sizeof(r->exe_name), "%s", r->exe_path);
		r->exe_path[0] = '\0';
	}
}

int resource_read(pid_t pid, const char *runtime, const char *runtime_version, struct resource *r)
{
	const char *host = getenv("ASYNCPROF_HOST_NAME");
	char path[64], *text = NULL;
	size_t len;

	memset(r, 0, sizeof(*r));
	r->pid = pid;
	if (host && *host)
		snprintf(r->host_name, sizeof(r->host_name), "%s", host);
	else if (gethostname(r->host_name, sizeof(r->host_name) - 1))
		r->host_name[0] = '\0';
	read_exe(r);
	snprintf(r->runtime, sizeof(r->runtime), "%s", runtime ? runtime : "");
	snprintf(r->runtime_version, sizeof(r->runtime_version), "%s",
		 runtime_version ? runtime_version : "");
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (procfs_read_text(path, &text) == 0) {
		resource_container_id(text, r->container_id);
		resource_pod_uid(text, r->pod_uid);
		free(text);
	}
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	if (procfs_read(path, &text, &len) == 0) {
		r->service_name = resource_environ_value(text, len, "OTEL_SERVICE_NAME");
		free(text);
	}
	if (!r->service_name)
		r->service_name = strdup(r->exe_name);
	if (!r->exe_path)
		r->exe_path = strdup("");
	if (!r->service_name || !r->exe_path) {
		resource_free(r);
		return -ENOMEM;
	}
	return 0;
}

void resource_free(struct resource *r)
{
	free(r->exe_path);
	free(r->service_name);
	r->exe_path = NULL;
	r->service_name = NULL;
}
