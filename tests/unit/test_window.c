// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/pprof.h"
#include "target/procmaps.h"
#include "profile_builder.h"
#include "export/window.h"
#include "../tools/otlp_validate.h"

#define T0 1767225600LL /* 2026-01-01T00:00:00Z */

static struct profile *small_cpu(int64_t count)
{
	struct profile *p = tb_cpu_profile();

	tb_sample(p, count, "main", "work", "main", NULL);
	p->time_nanos = T0 * 1000000000LL;
	p->duration_nanos = 10000000000LL;
	return p;
}

static struct resource fake_resource(pid_t pid, const char *name)
{
	struct resource r;

	memset(&r, 0, sizeof(r));
	r.pid = pid;
	snprintf(r.host_name, sizeof(r.host_name), "host-a");
	snprintf(r.exe_name, sizeof(r.exe_name), "%s", name);
	r.exe_path = strdup("/usr/bin/x");
	r.service_name = strdup(name);
	return r;
}

Test(window, otlp_request_of_two_processes)
{
	struct profile *a = small_cpu(3), *b = small_cpu(5);
	struct resource ra = fake_resource(10, "alpha"), rb = fake_resource(20, "beta");
	struct window_profile pa[] = { { "cpu", a } }, pb[] = { { "cpu", b } };
	/* The agent's own attributes, on beta's window only. */
	struct otlp_attr rate = { "asyncprof.agent.sampling_rate_hz", OTLP_INT, NULL, 19 };
	struct window w[] = { { &ra, "alpha", pa, 1, T0 * 1000000000LL },
			      { &rb, "beta", pb, 1, T0 * 1000000000LL, &rate, 1 } };
	struct exporter_stats drops = { .dropped_windows = 4, .dropped_bytes = 4096 };
	PbRequest *req;
	void *body;
	size_t len;
	char why[256];

	cr_assert_eq(window_encode_otlp(w, 2, &drops, &body, &len), 0);
	cr_assert(len > 2 && ((unsigned char *)body)[0] == 0x1f, "gzip'd");
	cr_assert_eq(otlp_request_unpack(body, len, &req, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(otlp_validate(req, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(req->n_resource_profiles, 2);
	cr_assert_str_eq(otlp_resource_string(req, 0, "service.name"), "alpha");
	cr_assert_str_eq(otlp_resource_string(req, 1, "service.name"), "beta");
	cr_assert_str_eq(otlp_resource_string(req, 1, "host.name"), "host-a");
	for (size_t r = 0; r < 2; r++) {
		PbScopeProfiles *sp = req->resource_profiles[r]->scope_profiles[0];

		cr_assert_eq(sp->n_profiles, 2);
		for (size_t p = 0; p < 2; p++) {
			struct profile *back = otlp_request_profile(req, r, p);
			PbProfile *pr = sp->profiles[p];
			size_t found = 0, rates = 0;

			cr_assert_eq(profile_total(back, 0), profile_total(r ? b : a, p));
			for (size_t i = 0; i < pr->n_attribute_indices; i++) {
				PbKeyValueAndUnit *at =
				    req->dictionary->attribute_table[pr->attribute_indices[i]];
				const char *key = req->dictionary->string_table[at->key_strindex];

				if (!strcmp(key, "asyncprof.export.dropped_windows"))
					found += at->value->int_value == 4;
				if (!strcmp(key, "asyncprof.export.dropped_bytes"))
					found += at->value->int_value == 4096;
				if (!strcmp(key, "asyncprof.agent.sampling_rate_hz"))
					rates += at->value->int_value == 19;
			}
			cr_assert_eq(found, 2, "the drops so far on every profile");
			cr_assert_eq(rates, r == 1, "a window's own attributes on its profiles only");
			profile_free(back);
		}
	}
	otlp_request_free(req);
	free(body);
	resource_free(&ra);
	resource_free(&rb);
	profile_free(a);
	profile_free(b);
}

static int tmpdir(char *path)
{
	int fd;

	strcpy(path, "/tmp/window-test-XXXXXX");
	cr_assert_not_null(mkdtemp(path));
	fd = open(path, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	return fd;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool has(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

Test(window, output_dir_keeps_the_last_windows)
{
	char root[64], dir[128], path[256], cmd[128];
	int dirfd = tmpdir(root);
	struct resource r = fake_resource(4321, "svc/a b");
	struct profile *cpu = small_cpu(7), *wait = small_cpu(2);
	struct window_profile profs[] = { { "cpu", cpu }, { "wait", wait } };
	struct window w = { &r, "svc/a b", profs, 2, 0 };
	void *want;
	char *got;
	size_t want_len, got_len;
	FILE *f;
	int err;

	snprintf(dir, sizeof(dir), "%s/4321-svc_a_b", root);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/cpu-yesterday.pb.gz", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	for (int i = 0; i < 5; i++) {
		w.start_ns = (T0 + 60 * i) * 1000000000LL;
		cr_assert_eq(window_write_files(dirfd, &w, 3), 0);
	}
	/* 3 windows of 2 profiles, and the files that are not ours. */
	cr_assert_eq(count_files(dir), 3 * 2 + 2);
	cr_assert(has(dir, "cpu-20260101T000400.000Z.pb.gz"));
	cr_assert(has(dir, "wait-20260101T000400.000Z.pb.gz"));
	cr_assert(has(dir, "cpu-20260101T000200.000Z.pb.gz"));
	cr_assert_not(has(dir, "cpu-20260101T000100.000Z.pb.gz"));
	cr_assert_not(has(dir, "wait-20260101T000000.000Z.pb.gz"));
	cr_assert(has(dir, "notes.txt") && has(dir, "cpu-yesterday.pb.gz"));
	/* Whole pprof files: the bytes pprof_encode() makes. */
	cr_assert_eq(pprof_encode(cpu, &want, &want_len), 0);
	snprintf(path, sizeof(path), "%s/cpu-20260101T000300.000Z.pb.gz", dir);
	cr_assert_eq(procfs_read(path, &got, &got_len), 0);
	cr_assert_eq(got_len, want_len);
	cr_assert_eq(memcmp(got, want, want_len), 0);
	free(want);
	free(got);

	/* Two windows in one second (a short last one): two names. */
	w.start_ns = (T0 + 240) * 1000000000LL + 999000000;
	cr_assert_eq(window_write_files(dirfd, &w, 0), 0);
	cr_assert(has(dir, "cpu-20260101T000400.999Z.pb.gz"));
	cr_assert(has(dir, "cpu-20260101T000400.000Z.pb.gz"));
	snprintf(path, sizeof(path), "%s/cpu-20260101T000400.999Z.pb.gz", dir);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/wait-20260101T000400.999Z.pb.gz", dir);
	cr_assert_eq(unlink(path), 0);

	/* retain 0 keeps everything. */
	w.start_ns = (T0 + 3600) * 1000000000LL;
	cr_assert_eq(window_write_files(dirfd, &w, 0), 0);
	cr_assert_eq(count_files(dir), 4 * 2 + 2);

	/* The process's directory must not be a symbolic link. */
	r.pid = 99;
	snprintf(path, sizeof(path), "%s/99-svc_a_b", root);
	cr_assert_eq(symlink("/tmp", path), 0);
	err = window_write_files(dirfd, &w, 3);
	cr_assert(err == -ENOTDIR || err == -ELOOP, "%s", strerror(-err));
	cr_assert_not(has("/tmp", "cpu-20260101T010000.000Z.pb.gz"));

	close(dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_assert_eq(system(cmd), 0);
	resource_free(&r);
	profile_free(cpu);
	profile_free(wait);
}
