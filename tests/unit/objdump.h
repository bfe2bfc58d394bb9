/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_TEST_OBJDUMP_H
#define ASYNCPROF_TEST_OBJDUMP_H

/*
 * The disassembly of a file by binutils' objdump, and other commands' output, for tests that
 * check an analysis against a tool that is not the code under test.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INSNS 4096

static inline FILE *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline FILE *run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	FILE *p;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	p = popen(cmd, "r");
	cr_assert_not_null(p, "%s", cmd);
	free(cmd);
	return p;
}

struct insn {
	uint64_t addr;
	char text[96]; /* "jbe    4327b3 <runtime.gopark+0xf3>" */
};

/* objdump's disassembly of [start, end). Returns the number of instructions. */
static inline size_t disassemble(const char *bin, uint64_t start, uint64_t end, struct insn *out)
{
	FILE *p = run("objdump -d --no-show-raw-insn --start-address=%#llx --stop-address=%#llx %s",
		      (unsigned long long)start, (unsigned long long)end, bin);
	char line[512];
	size_t n = 0;

	while (fgets(line, sizeof(line), p) && n < MAX_INSNS) {
		unsigned long long a;
		int pos = -1;

		if (sscanf(line, " %llx:%n", &a, &pos) != 1 || pos < 0 || line[pos] != '\t')
			continue;
		out[n].addr = a;
		snprintf(out[n].text, sizeof(out[n].text), "%s", line + pos + 1);
		out[n].text[strcspn(out[n].text, "\n")] = '\0';
		n++;
	}
	pclose(p);
	return n;
}

#endif
