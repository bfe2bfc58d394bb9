// SPDX-License-Identifier: MIT
/*
 * asyncprof CLI: `attach` profiles a running process, `run` starts a command and profiles it.
 * Both record until the duration passes, the target exits, or Ctrl-C / SIGTERM, and then write
 * every output file whole, whatever stopped the recording.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "cpu_sampler.h"
#include "flamegraph.h"
#include "folded.h"
#include "pprof.h"
#include "process.h"
#include "report.h"
#include "summary.h"
#include "symbolizer.h"

enum command { CMD_NONE, CMD_ATTACH, CMD_RUN };

static struct env {
	enum command cmd;
	pid_t pid;
	double duration_s; /* 0: until target exit or Ctrl-C */
	unsigned int freq_hz;
	const char *out_dir;
	bool verbose;
	char **argv; /* run: the command */
} env = {
	.freq_hz = 99,
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

const char *argp_program_version = "asyncprof 0.1";
const char *argp_program_bug_address = NULL;

static const char doc[] =
	"asyncprof: profile a process's CPU time with whole call stacks, without frame pointers.\n"
	"\n"
	"USAGE:\n"
	"  asyncprof attach -p PID [-d SECONDS] [-F HZ] [-o DIR] [-v]\n"
	"  asyncprof run [-d SECONDS] [-F HZ] [-o DIR] [-v] -- CMD [ARGS...]\n"
	"\n"
	"Records until SECONDS pass, the target exits, or Ctrl-C; then writes cpu.pb.gz (pprof),\n"
	"cpu.folded, cpu.svg (flame graph) and report.json into DIR\n"
	"(default asyncprof-PID-YYYYMMDD-HHMMSS).\n"
	"\n"
	"EXAMPLES:\n"
	"  asyncprof attach -p 1234              # until Ctrl-C, 99 Hz\n"
	"  asyncprof attach -p 1234 -d 30 -F 999 # 30 seconds at 999 Hz\n"
	"  asyncprof run -o out -- ./server --port 8080\n"
	"  go tool pprof -top out/cpu.pb.gz      # read the profile\n"
	"\v"
	"Needs root, or CAP_BPF and CAP_PERFMON.";

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Process to attach to (attach)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after SECONDS (default: until exit or Ctrl-C)", 0 },
	{ "freq", 'F', "HZ", 0, "Samples per second per CPU (default 99, at most 10000)", 0 },
	{ "output", 'o', "DIR", 0, "Directory for the results", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf and unwinding details", 0 },
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	char *end;
	long n;
	double d;

	switch (key) {
	case 'p':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n <= 0 || n > INT_MAX)
			argp_error(state, "invalid PID '%s'", arg);
		env.pid = n;
		break;
	case 'd':
		errno = 0;
		d = strtod(arg, &end);
		if (errno || *end || d <= 0)
			argp_error(state, "invalid duration '%s' (seconds, > 0)", arg);
		env.duration_s = d;
		break;
	case 'F':
		errno = 0;
		n = strtol(arg, &end, 10);
		if (errno || *end || n < 1 || n > 10000)
			argp_error(state, "invalid frequency '%s' (1 to 10000 Hz)", arg);
		env.freq_hz = n;
		break;
	case 'o':
		env.out_dir = arg;
		break;
	case 'v':
		env.verbose = true;
		break;
	case ARGP_KEY_ARG:
		if (env.cmd == CMD_NONE) {
			if (strcmp(arg, "attach") == 0)
				env.cmd = CMD_ATTACH;
			else if (strcmp(arg, "run") == 0)
				env.cmd = CMD_RUN;
			else
				argp_error(state, "unknown command '%s' (attach or run)", arg);
			break;
		}
		if (env.cmd == CMD_RUN) {
			env.argv = &state->argv[state->next - 1];
			state->next = state->argc;
			break;
		}
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (env.cmd == CMD_NONE)
			argp_error(state, "missing command: attach or run");
		if (env.cmd == CMD_ATTACH && !env.pid)
			argp_error(state, "attach needs -p PID");
		if (env.cmd == CMD_RUN && env.pid)
			argp_error(state, "run takes a command, not -p");
		if (env.cmd == CMD_RUN && !env.argv)
			argp_error(state, "run needs a command after --");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- run: start the command stopped until the sampler is attached ---------------------- */

struct child {
	pid_t pid;
	int go_fd; /* write a byte to let the child exec */
	int err_fd; /* the child's exec errno, or EOF when exec succeeded */
};

static int spawn_child(char **argv, struct child *c)
{
	int go[2], err[2];

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		char b;
		int e;

		close(go[1]);
		close(err[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(127);
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	c->go_fd = go[1];
	c->err_fd = err[0];
	return 0;
}

/* Lets the child exec; returns 0 or the exec's -errno. */
static int release_child(struct child *c)
{
	int e = 0;
	ssize_t n;

	if (write(c->go_fd, "g", 1) != 1)
		return -errno;
	close(c->go_fd);
	n = read(c->err_fd, &e, sizeof(e));
	close(c->err_fd);
	return n == sizeof(e) ? -e : 0;
}

/* ---- recording ------------------------------------------------------------------------- */

struct recording {
	struct collector *col;
	uint64_t received;
};

static void on_sample(const struct sample_event *e, size_t size, void *ctx)
{
	struct recording *r = ctx;

	r->received++;
	collector_add(r->col, e, size);
}

static bool target_alive(pid_t pid, bool is_child, int *status)
{
	if (is_child) {
		pid_t w = waitpid(pid, status, WNOHANG);

		return w == 0;
	}
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void print_status(double elapsed, uint64_t samples, uint64_t drops)
{
	fprintf(stderr, "\r\033[Kasyncprof: recording pid %d: %.0fs, %llu samples, %llu dropped",
		env.pid, elapsed, (unsigned long long)samples, (unsigned long long)drops);
}

/* Says what the profile will lack when the main executable has no symbols or no DWARF. */
static const char *symbol_warning(struct process *proc)
{
	for (size_t i = 0; i < proc->maps->count; i++) {
		const struct proc_mapping *m = &proc->maps->mappings[i];
		struct elf_object *obj;

		if (!m->executable || strcmp(m->path, proc->exe) != 0)
			continue;
		obj = symbolizer_object(proc->sym, proc->pid, m);
		if (!obj)
			return "cannot read the target's executable: its frames show as [unknown]";
		if (!elf_object_has_symbols(obj))
			return "the target's executable has no symbols (stripped): its own frames show "
			       "as [unknown] (name); libraries are still resolved";
		if (!elf_object_has_dwarf(obj))
			return "the target's executable has no DWARF debug info: no file:line and "
			       "no inlined frames for its code";
		return NULL;
	}
	return NULL;
}

static double cpu_seconds_self(uint64_t *max_rss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	if (max_rss_kb)
		*max_rss_kb = ru.ru_maxrss;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int make_out_dir(char *dir, size_t size)
{
	char stamp[32];
	time_t now = time(NULL);

	if (env.out_dir) {
		snprintf(dir, size, "%s", env.out_dir);
	} else {
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
		snprintf(dir, size, "asyncprof-%d-%s", env.pid, stamp);
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_outputs(const char *dir, struct process *proc, struct collector *col,
			 const struct report_info *info)
{
	struct profile *prof = collector_profile(col);
	struct flamegraph_opts fg = { 0 };
	char title[256];
	int err, ret = 0;

	snprintf(title, sizeof(title), "CPU: %s (pid %d)", proc->comm, proc->pid);
	fg.title = title;
	fg.root_label_key = "thread_name";
	err = pprof_write(prof, dir, "cpu.pb.gz");
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/cpu.pb.gz: %s\n", dir, strerror(-err));
		ret = err;
	}
	err = folded_write_file(prof, 0, "thread_name", dir, "cpu.folded");
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/cpu.folded: %s\n", dir, strerror(-err));
		ret = err;
	}
	err = flamegraph_write_file(prof, 0, &fg, dir, "cpu.svg");
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/cpu.svg: %s\n", dir, strerror(-err));
		ret = err;
	}
	err = report_write(info, prof, dir);
	if (err) {
		fprintf(stderr, "asyncprof: cannot write %s/report.json: %s\n", dir, strerror(-err));
		ret = err;
	}
	return ret;
}

static int record(struct child *child)
{
	struct symbolizer *sym = NULL;
	struct kallsyms *ks = NULL;
	struct process *proc = NULL;
	struct cpu_sampler *sampler = NULL;
	struct recording rec = { 0 };
	struct sampler_opts sopts = { .pid = env.pid, .freq_hz = env.freq_hz,
				      .verbose = env.verbose };
	uint64_t counters[CNT_MAX] = { 0 };
	struct report_info info = { 0 };
	const char *warnings[8];
	size_t nwarn = 0;
	bool tty = isatty(STDERR_FILENO), exited = false;
	uint64_t start_ns, last_status = 0;
	struct timespec wall;
	char dir[PATH_MAX];
	int err, status = 0;
	double elapsed, cpu_start, cpu_end;
	uint64_t max_rss_kb;

	sym = symbolizer_new();
	if (!sym)
		return -ENOMEM;
	err = kallsyms_load(&ks);
	if (err) {
		fprintf(stderr, "asyncprof: warning: no kernel symbols (%s); kernel frames will "
				"show as [unknown]\n", strerror(-err));
		warnings[nwarn++] = "kernel symbols unavailable";
	}
	err = process_open(env.pid, sym, &proc);
	if (err) {
		if (err == -ESRCH)
			fprintf(stderr, "asyncprof: cannot attach to pid %d: no such process\n",
				env.pid);
		else
			fprintf(stderr, "asyncprof: cannot read process %d: %s\n", env.pid,
				strerror(-err));
		goto out;
	}
	if (proc->exe[0] == 0 || !proc->maps->count) {
		fprintf(stderr, "asyncprof: cannot attach to pid %d: it is a kernel thread or "
				"a zombie\n", env.pid);
		err = -EINVAL;
		goto out;
	}
	err = collector_new(proc, ks, 1000000000LL / env.freq_hz, &rec.col);
	if (err)
		goto out;
	err = sampler_open(&sopts, on_sample, &rec, &sampler);
	if (err)
		goto out;
	err = make_out_dir(dir, sizeof(dir));
	if (err) {
		fprintf(stderr, "asyncprof: cannot create output directory %s: %s\n", dir,
			strerror(-err));
		goto out;
	}

	clock_gettime(CLOCK_REALTIME, &wall);
	start_ns = monotonic_ns();
	cpu_start = cpu_seconds_self(NULL);
	if (child) {
		err = release_child(child);
		if (err) {
			fprintf(stderr, "asyncprof: cannot run %s: %s\n", env.argv[0],
				strerror(-err));
			waitpid(child->pid, NULL, 0);
			goto out;
		}
		/* After exec the process has its real mappings. */
		process_refresh(proc);
	}
	fprintf(stderr, "asyncprof: recording pid %d (%s) at %u Hz%s\n", env.pid, proc->comm,
		env.freq_hz, env.duration_s ? "" : "; Ctrl-C to stop");

	while (!stop_signal) {
		err = sampler_poll(sampler, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "\nasyncprof: cannot read samples: %s\n", strerror(-err));
			break;
		}
		elapsed = (monotonic_ns() - start_ns) / 1e9;
		if (tty && monotonic_ns() - last_status > 500000000ULL) {
			sampler_counters(sampler, counters);
			print_status(elapsed, rec.received, counters[CNT_DROPS]);
			last_status = monotonic_ns();
		}
		if (env.duration_s && elapsed >= env.duration_s)
			break;
		if (!target_alive(env.pid, child != NULL, &status)) {
			exited = true;
			break;
		}
	}
	err = 0;
	/* Take what is still in the ring buffer before detaching. */
	while (sampler_poll(sampler, 0) > 0)
		;
	sampler_counters(sampler, counters);
	sampler_close(sampler);
	sampler = NULL;
	elapsed = (monotonic_ns() - start_ns) / 1e9;
	cpu_end = cpu_seconds_self(&max_rss_kb);
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (exited) {
		fprintf(stderr, "asyncprof: pid %d exited after %.1fs; writing what was collected\n",
			env.pid, elapsed);
	} else if (stop_signal) {
		fprintf(stderr, "asyncprof: stopped by %s after %.1fs\n", strsignal(stop_signal),
			elapsed);
	}

	{
		const struct collector_stats *st = collector_stats(rec.col);
		struct profile *prof = collector_profile(rec.col);

		prof->time_nanos = (int64_t)wall.tv_sec * 1000000000LL + wall.tv_nsec;
		prof->duration_nanos = (int64_t)(elapsed * 1e9);
		if (counters[CNT_DROPS])
			warnings[nwarn++] = "samples were dropped: the ring buffer was full";
		if (st->samples == 0)
			warnings[nwarn++] = "no samples: the target did not run on a CPU";
		if (symbol_warning(proc))
			warnings[nwarn++] = symbol_warning(proc);
		info = (struct report_info){
			.pid = env.pid,
			.comm = proc->comm,
			.cmdline = proc->cmdline,
			.exe = proc->exe,
			.start_time_ns = prof->time_nanos,
			.duration_ns = prof->duration_nanos,
			.frequency_hz = env.freq_hz,
			.samples = st->samples,
			.drops = counters[CNT_DROPS],
			.truncated_stacks = st->truncated_stacks,
			.unwind_errors = st->unwind_errors,
			.threads = st->threads,
			.profiler_cpu_s = cpu_end,
			.profiler_recording_cpu_s = cpu_end - cpu_start,
			.profiler_max_rss_kb = max_rss_kb,
			.warnings = warnings,
			.nwarnings = nwarn,
		};
		err = write_outputs(dir, proc, rec.col, &info);
		fprintf(stdout, "\n%llu samples over %.1fs from %llu threads (%llu dropped, %llu "
				"truncated stacks, %llu unwind errors)\n",
			(unsigned long long)st->samples, elapsed, (unsigned long long)st->threads,
			(unsigned long long)counters[CNT_DROPS],
			(unsigned long long)st->truncated_stacks,
			(unsigned long long)st->unwind_errors);
		fprintf(stdout, "profiler: %.2fs CPU while recording (%.2f%% of one core), %.2fs in "
				"all, peak RSS %.1f MB\n",
			cpu_end - cpu_start, 100 * (cpu_end - cpu_start) / elapsed, cpu_end,
			max_rss_kb / 1024.0);
		summary_print_top(stdout, prof, 1, 10);
		for (size_t i = 0; i < nwarn; i++)
			fprintf(stderr, "asyncprof: warning: %s\n", warnings[i]);
		if (!err)
			fprintf(stdout, "\nresults in %s/: cpu.pb.gz cpu.folded cpu.svg report.json\n"
					"  go tool pprof -http=: %s/cpu.pb.gz\n", dir, dir);
	}
out:
	sampler_close(sampler);
	collector_free(rec.col);
	process_close(proc);
	kallsyms_free(ks);
	symbolizer_free(sym);
	if (child && !exited && child->pid > 0) {
		/* The recording stopped before the command ended: end it, as perf does. */
		kill(child->pid, SIGTERM);
		waitpid(child->pid, &status, 0);
	}
	return err;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { options, parse_opt, "attach|run [-- CMD ARGS...]", doc };
	struct sigaction sa = { .sa_handler = on_signal };
	struct child child = { 0 };
	int err;

	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	if (err)
		return 2;
	if (check_privileges())
		return 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (env.cmd == CMD_ATTACH && kill(env.pid, 0) && errno == ESRCH) {
		fprintf(stderr, "asyncprof: cannot attach to pid %d: no such process\n", env.pid);
		return 1;
	}
	if (env.cmd == CMD_RUN) {
		err = spawn_child(env.argv, &child);
		if (err) {
			fprintf(stderr, "asyncprof: cannot start %s: %s\n", env.argv[0],
				strerror(-err));
			return 1;
		}
		env.pid = child.pid;
	}
	err = record(env.cmd == CMD_RUN ? &child : NULL);
	return err ? 1 : 0;
}
