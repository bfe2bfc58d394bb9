// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/resource.h"

#define ID "3f0ed06f2d1cd5b7e1f3b0b0d6e4f1b5d8c9e0f1a2b3c4d5e6f708192a3b4c5d"
#define POD "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
#define POD_ "1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718"

/* /proc/PID/cgroup as each runtime and cgroup driver writes it, and what it must give. */
static const struct {
	const char *what, *cgroup, *id, *pod;
} layouts[] = {
	{ "docker, systemd driver, cgroup v2", "0::/system.slice/docker-" ID ".scope\n", ID, "" },
	{ "docker, cgroupfs driver, cgroup v1",
	  "12:pids:/docker/" ID "\n11:memory:/docker/" ID "\n1:name=systemd:/docker/" ID "\n", ID,
	  "" },
	{ "containerd in Kubernetes, systemd driver, cgroup v2",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_
	  ".slice/cri-containerd-" ID ".scope\n",
	  ID, POD },
	{ "containerd in Kubernetes, cgroupfs driver, cgroup v1",
	  "5:cpu,cpuacct:/kubepods/besteffort/pod" POD "/" ID
	  "\n3:memory:/kubepods/besteffort/pod" POD "/" ID "\n",
	  ID, POD },
	{ "CRI-O, cgroup v2", "0::/kubepods.slice/kubepods-pod" POD_ ".slice/crio-" ID ".scope\n",
	  ID, POD },
	{ "CRI-O's conmon is not the container",
	  "0::/kubepods.slice/kubepods-pod" POD_ ".slice/crio-conmon-" ID ".scope\n", "", POD },
	{ "podman rootless, cgroup v2",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID
	  ".scope/container\n",
	  ID, "" },
	{ "podman rootful, cgroup v1", "10:devices:/machine.slice/libpod-" ID ".scope\n", ID, "" },
	{ "seen from another cgroup namespace",
	  "0::/../../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_
	  ".slice/cri-containerd-" ID ".scope\n",
	  ID, POD },
	{ "a login session", "0::/user.slice/user-1000.slice/session-3.scope\n", "", "" },
	{ "the root cgroup", "0::/\n", "", "" },
	{ "no path", "0::", "", "" },
};

Test(resource, container_and_pod_from_cgroup)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		char id[65] = "", pod[37] = "";
		bool has_id = resource_container_id(layouts[i].cgroup, id);
		bool has_pod = resource_pod_uid(layouts[i].cgroup, pod);

		cr_assert_eq(has_id, *layouts[i].id != 0, "%s", layouts[i].what);
		cr_assert_str_eq(id, layouts[i].id, "%s", layouts[i].what);
		cr_assert_eq(has_pod, *layouts[i].pod != 0, "%s", layouts[i].what);
		cr_assert_str_eq(pod, layouts[i].pod, "%s", layouts[i].what);
	}
}

Test(resource, not_ids)
{
	char id[65] = "", pod[37] = "";

	cr_assert_not(resource_container_id("0::/docker/" ID "0\n", id), "65 digits");
	cr_assert_not(resource_container_id("0::/docker/3F0ED06F2D1CD5B7E1F3B0B0D6E4F1B5D8C9E0F1A2"
					    "B3C4D5E6F708192A3B4C5D\n",
					    id),
		      "upper case");
	cr_assert_not(resource_container_id("0::/docker-" ID ".service\n", id), "not a scope");
	cr_assert_not(resource_pod_uid("0::/kubepods/pod1f2e3d4c-5b6a-7980-a1b2\n", pod), "short");
	cr_assert_not(resource_pod_uid("0::/kubepods/pod" POD "x/\n", pod), "trailing bytes");
}

Test(resource, environment_values)
{
	static const char env[] = "PATH=/bin\0OTEL_SERVICE_NAME_X=no\0OTEL_SERVICE_NAME=checkout\0"
				  "EMPTY=\0LAST=unterminated";
	char *v;

	v = resource_environ_value(env, sizeof(env) - 1, "OTEL_SERVICE_NAME");
	cr_assert_str_eq(v, "checkout");
	free(v);
	v = resource_environ_value(env, sizeof(env) - 1, "LAST");
	cr_assert_str_eq(v, "unterminated");
	free(v);
	cr_assert_null(resource_environ_value(env, sizeof(env) - 1, "EMPTY"));
	cr_assert_null(resource_environ_value(env, sizeof(env) - 1, "PATH_"));
	cr_assert_null(resource_environ_value(env, 0, "PATH"));
}

static pid_t start_sleep(char *const envp[])
{
	char *const argv[] = { "sleep", "30", NULL };
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execve("/bin/sleep", argv, envp);
		_exit(127);
	}
	/* Until the exec is done, /proc shows this program; and its new executable shows before
	 * its environment is on the new stack (/proc/PID/environ is empty until then). */
	for (int i = 0; i < 1000; i++) {
		char path[64], target[256] = "", env[64];
		int fd;
		ssize_t n = 0;

		snprintf(path, sizeof(path), "/proc/%d/exe", pid);
		if (readlink(path, target, sizeof(target) - 1) > 0 && strstr(target, "sleep")) {
			snprintf(path, sizeof(path), "/proc/%d/environ", pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				n = read(fd, env, sizeof(env));
				close(fd);
			}
			if (n > 0)
				break;
		}
		usleep(1000);
	}
	return pid;
}

static const char *attr(const struct otlp_attr *a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].key, key) == 0)
			return a[i].kind == OTLP_STRING ? a[i].str : "(number)";
	return NULL;
}

Test(resource, read_from_proc)
{
	char *const with[] = { "OTEL_SERVICE_NAME=svc-under-test", NULL };
	char *const without[] = { "HOME=/", NULL };
	pid_t named = start_sleep(with), plain = start_sleep(without);
	struct otlp_attr a[RESOURCE_MAX_ATTRS];
	struct resource r;
	size_t n;

	setenv("ASYNCPROF_HOST_NAME", "node-7", 1);
	cr_assert_eq(resource_read(named, "go", "go1.23.5", &r), 0);
	n = resource_attributes(&r, a);
	cr_assert_str_eq(attr(a, n, "service.name"), "svc-under-test");
	cr_assert_str_eq(attr(a, n, "process.executable.name"), "sleep");
	cr_assert_not_null(strstr(attr(a, n, "process.executable.path"), "/sleep"));
	cr_assert_str_eq(attr(a, n, "process.runtime.name"), "go");
	cr_assert_str_eq(attr(a, n, "process.runtime.version"), "go1.23.5");
	cr_assert_str_eq(attr(a, n, "host.name"), "node-7");
	cr_assert_eq(r.pid, named);
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].key, "process.pid") == 0)
			cr_assert_eq(a[i].num, named);
	resource_free(&r);
	unsetenv("ASYNCPROF_HOST_NAME");

	cr_assert_eq(resource_read(plain, NULL, NULL, &r), 0);
	n = resource_attributes(&r, a);
	cr_assert_str_eq(attr(a, n, "service.name"), "sleep", "the executable's name by default");
	cr_assert_null(attr(a, n, "process.runtime.name"));
	cr_assert_not_null(attr(a, n, "host.name"));
	resource_free(&r);

	kill(named, SIGKILL);
	kill(plain, SIGKILL);
	waitpid(named, NULL, 0);
	waitpid(plain, NULL, 0);
	/* Gone: the pid is still named, what /proc had is not invented. */
	cr_assert_eq(resource_read(named, NULL, NULL, &r), 0);
	n = resource_attributes(&r, a);
	cr_assert_null(attr(a, n, "process.executable.path"));
	cr_assert_null(attr(a, n, "service.name"));
	resource_free(&r);
}
