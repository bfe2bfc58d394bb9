/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_USDT_BINARY_H
#define ASYNCPROF_USDT_BINARY_H

#include <stddef.h>
#include <stdint.h>

/*
 * usdt_binary: the asyncprof markers (probes/asyncprof.h) an ELF file carries, read from its
 * .note.stapsdt notes of provider "asyncprof". Addresses are link-time virtual addresses,
 * corrected for prelinking (the notes' base against the file's .stapsdt.base).
 */

enum usdt_probe {
	USDT_TASK_CREATE,
	USDT_TASK_RUNNABLE,
	USDT_TASK_RUN,
	USDT_TASK_STOP,
	USDT_TASK_SUSPEND,
	USDT_TASK_EXIT,
	USDT_FRAME_PUSH,
	USDT_FRAME_POP,
	USDT_PROBE_COUNT
};

/* The probe names, as in the notes ("task_create", ...), by enum usdt_probe. */
extern const char *const usdt_probe_names[USDT_PROBE_COUNT];

struct usdt_site {
	enum usdt_probe probe;
	uint64_t pc;	    /* the marker's nop */
	uint64_t semaphore; /* its semaphore; 0 when it has none */
};

struct usdt_binary {
	unsigned int probes; /* bit (1 << enum usdt_probe) for each probe with a site */
	size_t nsites;
	struct usdt_site *sites; /* in note order */
};

/*
 * Reads the markers of the ELF file at path. Returns 0 (with no site when it has none), -ENOEXEC
 * when it is not ELF, or another -errno.
 */
int usdt_binary_read(const char *path, struct usdt_binary **out);
void usdt_binary_free(struct usdt_binary *ub); /* accepts NULL */

#endif
