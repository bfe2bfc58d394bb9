// SPDX-License-Identifier: MIT
/* What the runtimes share: loading their probes, and the checks of the host they all make. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "runtime.h"

int runtime_bpf_load(struct bpf_object_skeleton *skel, const char *label,
		     const struct runtime_maps *maps, int (*fn)(void *ctx, void *data, size_t size),
		     void *ctx, struct ring_buffer **rb)
{
	struct bpf_object *obj = *skel->obj;
	struct bpf_map *m;
	int err = 0;

	if (maps && maps->threads_fd >= 0) {
		m = bpf_object__find_map_by_name(obj, "threads");
		err = m ? bpf_map__reuse_fd(m, maps->threads_fd) : -ENOENT;
	}
	if (!err && maps && maps->frames_fd >= 0) {
		m = bpf_object__find_map_by_name(obj, "frames");
		err = m ? bpf_map__reuse_fd(m, maps->frames_fd) : -ENOENT;
	}
	if (!err)
		err = bpf_object__load_skeleton(skel); /* its data sections mapped, too */
	if (err) {
		fprintf(stderr, "asyncprof: cannot load the %s probes: %s\n", label,
			strerror(-err));
		return err;
	}
	m = bpf_object__find_map_by_name(obj, "task_events");
	*rb = m ? ring_buffer__new(bpf_map__fd(m), fn, ctx, NULL) : NULL;
	if (!*rb)
		return m ? -errno : -ENOENT;
	return 0;
}

const char *runtime_schedstat_warning(void)
{
	if (access("/proc/self/schedstat", R_OK) == 0)
		return NULL;
	return "the kernel does not count the time threads wait for a CPU (no "
	       "/proc/PID/schedstat): "
	       "poll times preempted read 0, and a long poll's own time includes them";
}
