// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "build_file.h"
#include "runtimes/usdt/usdt_binary.h"

static char *fixture(const char *name)
{
	return build_file("tests/fixtures", name, "unit");
}

static size_t sites_of(const struct usdt_binary *ub, enum usdt_probe p, uint64_t *semaphore)
{
	size_t n = 0;

	for (size_t i = 0; i < ub->nsites; i++) {
		if (ub->sites[i].probe != p)
			continue;
		/* Every site of one probe is guarded by the same semaphore, whatever its file. */
		if (n++)
			cr_assert_eq(ub->sites[i].semaphore, *semaphore, "%s: two semaphores",
				     usdt_probe_names[p]);
		*semaphore = ub->sites[i].semaphore;
	}
	return n;
}

Test(usdt_binary, finds_every_marker_with_its_semaphore)
{
	char *path = fixture("markers");
	struct usdt_binary *ub;
	uint64_t sems[USDT_PROBE_COUNT] = { 0 };

	cr_assert_eq(usdt_binary_read(path, &ub), 0);
	cr_assert_eq(ub->probes, (1u << USDT_PROBE_COUNT) - 1, "probes 0x%x", ub->probes);
	cr_assert_eq(ub->nsites, USDT_PROBE_COUNT + 2);
	for (int p = 0; p < USDT_PROBE_COUNT; p++) {
		size_t n = sites_of(ub, p, &sems[p]);

		cr_assert_eq(n, p == USDT_TASK_RUN || p == USDT_TASK_STOP ? 2 : 1, "%s: %zu sites",
			     usdt_probe_names[p], n);
		cr_assert_neq(sems[p], 0, "%s has no semaphore", usdt_probe_names[p]);
		for (int q = 0; q < p; q++)
			cr_assert_neq(sems[p], sems[q], "%s and %s share a semaphore",
				      usdt_probe_names[p], usdt_probe_names[q]);
	}
	for (size_t i = 0; i < ub->nsites; i++)
		cr_assert_neq(ub->sites[i].pc, 0);
	usdt_binary_free(ub);
	free(path);
}

Test(usdt_binary, a_program_without_markers_has_none)
{
	char *path = fixture("symtest");
	struct usdt_binary *ub;

	cr_assert_eq(usdt_binary_read(path, &ub), 0);
	cr_assert_eq(ub->nsites, 0);
	cr_assert_eq(ub->probes, 0);
	usdt_binary_free(ub);
	free(path);
}

Test(usdt_binary, not_elf)
{
	struct usdt_binary *ub;
	char path[] = "/tmp/asyncprof-usdt-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	cr_assert_eq(usdt_binary_read(path, &ub), -ENOEXEC);
	cr_assert_eq(usdt_binary_read("/nonexistent/asyncprof", &ub), -ENOENT);
	unlink(path);
}
