// SPDX-License-Identifier: MIT
#include "sampler.h"
#include "sampler.skel.h"

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	int ncpus;
	int *fds;
	uint64_t period_ns;
	struct bpf_link **links;
	sample_fn fn;
	void *ctx;
};

static bool verbose_libbpf;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (level == LIBBPF_INFO && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/*
 * The initial PID namespace's inode number, a constant of the kernel (PROC_PID_INIT_INO). BPF
 * programs see the host's process and thread ids (bpf_get_current_pid_tgid), and the tracer
 * matches them with the ids it sees: inside another PID namespace no sample would ever match.
 */
#define PID_NS_INIT_INO 4026531836ULL

static int check_pid_namespace(void)
{
	char link[64];
	unsigned long long ino;
	ssize_t n = readlink("/proc/self/ns/pid", link, sizeof(link) - 1);

	if (n <= 0)
		return 0; /* no namespace files: no namespaces */
	link[n] = 0;
	if (sscanf(link, "pid:[%llu]", &ino) != 1 || ino == PID_NS_INIT_INO)
		return 0;
	fprintf(stderr,
		"asyncprof: cannot record: asyncprof runs in a PID namespace of its own (%s), "
		"and the kernel's probes and samples carry the host's process ids\n"
		"  run it in the host's PID namespace (docker run --pid=host, Kubernetes "
		"hostPID: true)\n",
		link);
	return -EOPNOTSUPP;
}

int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	const struct {
		int cap;
		const char *name;
	} need[] = { { CAP_BPF, "CAP_BPF" }, { CAP_PERFMON, "CAP_PERFMON" } };
	char missing[64] = "";
	bool sys_admin;

	if (check_pid_namespace())
		return -EOPNOTSUPP;
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	sys_admin = data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
	if (sys_admin)
		return 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int c = need[i].cap;

		if (!(data[c / 32].effective & (1u << (c % 32)))) {
			if (missing[0])
				strcat(missing, " and ");
			strcat(missing, need[i].name);
		}
	}
	if (!missing[0])
		return 0;
	fprintf(stderr,
		"asyncprof: cannot load the BPF profiler: missing %s (or CAP_SYS_ADMIN)\n"
		"  run as root, or grant them: sudo setcap cap_bpf,cap_perfmon+ep asyncprof\n",
		missing);
	return -EPERM;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	if (size < SAMPLE_HEADER_SIZE)
		return 0;
	s->fn(data, size, s->ctx);
	return 0;
}

static int open_perf_events(struct sampler *s, unsigned int freq_hz)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* A fixed period, not a frequency: every sample weighs exactly this much. */
		.sample_period = 1000000000ULL / freq_hz,
	};
	int err = 0, opened = 0;

	s->period_ns = attr.sample_period;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus < 0)
		return s->ncpus;
	s->fds = malloc(s->ncpus * sizeof(*s->fds));
	s->links = calloc(s->ncpus, sizeof(*s->links));
	if (!s->fds || !s->links)
		return -ENOMEM;
	for (int cpu = 0; cpu < s->ncpus; cpu++)
		s->fds[cpu] = -1;
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		s->fds[cpu] = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (s->fds[cpu] < 0 && errno == ENODEV)
			continue; /* possible but offline CPU */
		if (s->fds[cpu] < 0) {
			err = -errno;
			fprintf(stderr, "asyncprof: cannot open the cpu-clock perf event on CPU %d: %s\n",
				cpu, strerror(errno));
			break;
		}
		s->links[cpu] = bpf_program__attach_perf_event(s->skel->progs.sample_cpu, s->fds[cpu]);
		if (!s->links[cpu]) {
			err = -errno;
			s->links[cpu] = NULL;
			fprintf(stderr, "asyncprof: cannot attach the sampler on CPU %d: %s\n", cpu,
				strerror(errno));
			break;
		}
		opened++;
	}
	if (!err && !opened)
		err = -ENODEV;
	return err;
}

int sampler_open(const struct sampler_opts *opts, sample_fn fn, void *ctx,
		 struct sampler **out)
{
	struct sampler *s;
	int err;

	verbose_libbpf = opts->verbose;
	libbpf_set_print(print_libbpf);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;

	s->skel = sampler_bpf__open();
	if (!s->skel) {
		err = -errno;
		fprintf(stderr, "asyncprof: cannot open the BPF sampler: %s\n", strerror(errno));
		goto fail;
	}
	if (opts->ring_bytes &&
	    (err = bpf_map__set_max_entries(s->skel->maps.events, opts->ring_bytes))) {
		fprintf(stderr, "asyncprof: cannot size the sample ring buffer to %u bytes: %s\n",
			opts->ring_bytes, strerror(-err));
		goto fail;
	}
	s->skel->rodata->targ_tgid = opts->pid;
	s->skel->rodata->tls_offset = opts->tls_offset;
	s->skel->rodata->tls_bytes = opts->tls_bytes;
	s->skel->rodata->thread_tasks = opts->thread_tasks;
	s->skel->rodata->logical_frames = opts->logical_frames;
	if (opts->batch_wakeups)
		s->skel->rodata->wakeup_bytes = bpf_map__max_entries(s->skel->maps.events) / 8;
	err = sampler_bpf__load(s->skel);
	if (err) {
		fprintf(stderr, "asyncprof: cannot load the BPF sampler: %s%s\n", strerror(-err),
			opts->verbose ? "" : " (run with -v for the verifier log)");
		goto fail;
	}
	err = open_perf_events(s, opts->freq_hz);
	if (err)
		goto fail;
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (!s->rb) {
		err = -errno;
		fprintf(stderr, "asyncprof: cannot open the sample ring buffer: %s\n",
			strerror(errno));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sampler_close(s);
	return err;
}

int sampler_set_freq(struct sampler *s, unsigned int freq_hz)
{
	uint64_t period = 1000000000ULL / freq_hz, old = s->period_ns;
	int err = 0, cpu;

	for (cpu = 0; cpu < s->ncpus && !err; cpu++)
		if (s->fds[cpu] >= 0 && ioctl(s->fds[cpu], PERF_EVENT_IOC_PERIOD, &period))
			err = -errno;
	/* All CPUs at one rate: the ones changed go back. */
	while (err && --cpu >= 0)
		if (s->fds[cpu] >= 0)
			ioctl(s->fds[cpu], PERF_EVENT_IOC_PERIOD, &old);
	if (!err)
		s->period_ns = period;
	return err;
}

int sampler_poll(struct sampler *s, int timeout_ms, const int *wake_fds, size_t nwake)
{
	struct pollfd p[1 + SAMPLER_WAKE_FDS];

	if (nwake > SAMPLER_WAKE_FDS)
		return -EINVAL;
	p[0] = (struct pollfd){ .fd = ring_buffer__epoll_fd(s->rb), .events = POLLIN };
	for (size_t i = 0; i < nwake; i++)
		p[1 + i] = (struct pollfd){ .fd = wake_fds[i], .events = POLLIN };
	if (poll(p, 1 + nwake, timeout_ms) < 0)
		return -errno;
	/* Whether or not the ring woke us: its samples wake the reader only once wakeup_bytes of
	 * them wait, and reading an empty ring costs two loads. */
	return ring_buffer__consume(s->rb);
}

int sampler_fd(struct sampler *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int sampler_threads_map(struct sampler *s)
{
	return bpf_map__fd(s->skel->maps.threads);
}

int sampler_frames_map(struct sampler *s)
{
	return bpf_map__fd(s->skel->maps.frames);
}

uint64_t percpu_counter_sum(int map_fd, uint32_t key)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t total = 0, *vals;

	if (ncpus <= 0 || map_fd < 0)
		return 0;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return 0;
	if (bpf_map_lookup_elem(map_fd, &key, vals) == 0)
		for (int cpu = 0; cpu < ncpus; cpu++)
			total += vals[cpu];
	free(vals);
	return total;
}

void percpu_counters_sum(int map_fd, uint64_t *out, uint32_t n)
{
	for (uint32_t key = 0; key < n; key++)
		out[key] = percpu_counter_sum(map_fd, key);
}

int sampler_counters(struct sampler *s, uint64_t counters[CNT_MAX])
{
	percpu_counters_sum(bpf_map__fd(s->skel->maps.counters), counters, CNT_MAX);
	return 0;
}

void sampler_close(struct sampler *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	for (int cpu = 0; s->links && cpu < s->ncpus; cpu++)
		bpf_link__destroy(s->links[cpu]);
	for (int cpu = 0; s->fds && cpu < s->ncpus; cpu++)
		if (s->fds[cpu] >= 0)
			close(s->fds[cpu]);
	free(s->links);
	free(s->fds);
	sampler_bpf__destroy(s->skel);
	free(s);
}
