/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_PROBE_SITE_H
#define ASYNCPROF_PROBE_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * probe_site: the check every uprobe address passes before a probe is placed there, and the
 * only way the adaptors attach uprobes (probe_site_attach). The design note is in probe_site.c.
 *
 * Addresses are link-time virtual addresses of the file. A probe_image is one executable or
 * library, opened by path exactly as the probes will be attached to it.
 */
struct probe_image;
struct bpf_program;
struct bpf_link;

/* What the instruction at a probe site must be. */
enum probe_insn {
	PROBE_ENTRY,	   /* any instruction, and the site is the function's start */
	PROBE_FRAME_SETUP, /* PUSH RBP, SUB RSP, n, ADD RSP, -n: Go's frame after its stack check */
	PROBE_RET,	   /* a RET */
	PROBE_EXIT,	   /* a RET, or a JMP out of its function (a tail call) */
	PROBE_MARKER,	   /* a USDT marker's NOP (the stapsdt note is its table) */
	PROBE_AFTER_LOCKED_UPDATE, /* right after a LOCK XADD or LOCK CMPXCHG */
};

struct probe_site {
	uint64_t addr;	      /* the instruction to probe */
	uint64_t func;	      /* the start of the function the analysis found it in; 0: any */
	enum probe_insn insn; /* what must be there */
};

/*
 * A function table the runtime itself runs by: the function holding addr, as [*start, *end).
 * Returns 0, or -ENOENT when no function of the table holds addr.
 */
typedef int (*probe_function_at)(void *ctx, uint64_t addr, uint64_t *start, uint64_t *end);

/* Opens the ELF file at path. Returns 0, -ENOEXEC when it is not 64-bit x86-64 ELF, or -errno. */
int probe_image_open(const char *path, struct probe_image **out);
void probe_image_free(struct probe_image *img); /* accepts NULL */

/*
 * Finds functions with fn (called with ctx), a table named table in messages (".gopclntab"),
 * instead of the default: the .eh_frame FDEs that PT_GNU_EH_FRAME indexes, which the program's
 * own unwinder uses. ctx and table must outlive img.
 */
void probe_image_set_table(struct probe_image *img, const char *table, probe_function_at fn,
			   void *ctx);

/* The function holding addr by img's table: [*start, *end). Returns 0, or -ENOENT. */
int probe_image_function(const struct probe_image *img, uint64_t addr, uint64_t *start,
			 uint64_t *end);

/* The file offset of addr in an executable PT_LOAD segment of img; -1 when none. */
int64_t probe_image_file_offset(const struct probe_image *img, uint64_t addr);

/*
 * Whether a probe may go at site in img: the address is in an executable segment of the file;
 * the function that img's table says holds it starts at site->func (when not 0); decoding that
 * function from its start reaches the address on an instruction boundary; and the instruction
 * there is site->insn. Returns 0, else -EFAULT (not in the file's code), -ENOENT (no function of
 * the table holds it), -EXDEV (the table's function starts elsewhere), -EILSEQ (not an
 * instruction boundary, or the code stops decoding before it), -EPROTO (another instruction)
 * or -ENOMEM; then why (len bytes) says it in words, for a warning.
 */
int probe_site_check(struct probe_image *img, const struct probe_site *site, char *why, size_t len);

/* After a probe_site_check() of addr: whether the kernel emulates the instruction there (PUSH
 * of a register, NOP, relative JMP, CALL or Jcc) rather than single-stepping it out of line. */
bool probe_site_emulated(struct probe_image *img, uint64_t addr);

/* The path img was opened by (what a uprobe is attached to). */
const char *probe_image_path(const struct probe_image *img);

/*
 * Checks site (above), then attaches prog there as a uprobe for process pid, with a BPF cookie.
 * Returns the link, or NULL with errno set and why filled in.
 */
struct bpf_link *probe_site_attach(struct probe_image *img, struct bpf_program *prog, pid_t pid,
				   const struct probe_site *site, uint64_t cookie, char *why,
				   size_t len);

#endif
