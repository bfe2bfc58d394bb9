/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_RESOURCE_H
#define ASYNCPROF_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "otlp.h"

/*
 * resource: what identifies a profiled process to a profiles backend, as OpenTelemetry's
 * semantic conventions name it (the attributes of its OTLP Resource):
 *
 *	host.name		ASYNCPROF_HOST_NAME when set (a DaemonSet passes the node's name
 *				there), else this host's name
 *	process.pid		the pid
 *	process.executable.name	the executable's file name (its comm when /proc/PID/exe is
 *				unreadable)
 *	process.executable.path	the executable as the process sees it, when readable
 *	process.runtime.name	the runtime asyncprof found (go, tokio, usdt), when one
 *	process.runtime.version	its version, when known (Go's)
 *	container.id		the container's id, from /proc/PID/cgroup (docker, containerd,
 *				CRI-O, podman; cgroup v1 and v2), when in one
 *	k8s.pod.uid		the pod's uid, from the same path, when in a Kubernetes pod
 *	service.name		the process's OTEL_SERVICE_NAME (from /proc/PID/environ: the
 *				environment it started with), else the executable's name
 *
 * Read once, when the process is picked up: after it exits /proc/PID is gone but its
 * profiles are still exported. A struct resource owns its strings; "" means unknown.
 */
struct resource {
	char host_name[256];
	pid_t pid;
	char exe_name[256];
	char *exe_path; /* "" when unreadable */
	char runtime[16];
	char runtime_version[32];
	char container_id[65];
	char pod_uid[37];
	char *service_name;
};

#define RESOURCE_MAX_ATTRS 9

/*
 * Reads what /proc says about pid; runtime and runtime_version may be NULL. What cannot be read
 * (an exited process, a hidden environment) is left out. Returns 0, or -ENOMEM (r is then
 * freed).
 */
int resource_read(pid_t pid, const char *runtime, const char *runtime_version, struct resource *r);
void resource_free(struct resource *r); /* also on a zeroed or already freed struct */

/* The attributes above that are known, borrowing r's strings; returns how many. */
size_t resource_attributes(const struct resource *r, struct otlp_attr out[RESOURCE_MAX_ATTRS]);

/*
 * The container id in a /proc/PID/cgroup text (every line considered, the innermost path
 * component that names a container wins): a 64-digit hex id, bare (cgroupfs drivers:
 * /docker/ID, /kubepods/.../podUID/ID) or as a systemd scope (docker-ID.scope,
 * cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope). Conmon's scopes (crio-conmon-,
 * libpod-conmon-) are not containers. Returns true and fills out (65 bytes) when found.
 */
bool resource_container_id(const char *cgroup, char out[65]);

/*
 * The Kubernetes pod uid in a /proc/PID/cgroup text: "podUID" (cgroupfs driver) or
 * "kubepods-QOS-podUID.slice" with '_' for '-' (systemd driver). Returns true and fills out
 * (37 bytes, with '-') when found.
 */
bool resource_pod_uid(const char *cgroup, char out[37]);

/*
 * The value of the variable name in an environment block (NUL-separated NAME=VALUE, len bytes,
 * as /proc/PID/environ gives it): a malloc'd copy, or NULL when absent, empty or on ENOMEM.
 */
char *resource_environ_value(const char *environ, size_t len, const char *name);

#endif
