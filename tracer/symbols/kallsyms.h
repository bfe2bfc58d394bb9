/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_KALLSYMS_H
#define ASYNCPROF_KALLSYMS_H

#include <stdint.h>

/*
 * kallsyms: kernel symbols from /proc/kallsyms. Addresses read as zero (kptr_restrict) make
 * kallsyms_load() fail with -EPERM.
 */
struct kallsyms;

int kallsyms_load(struct kallsyms **out);
void kallsyms_free(struct kallsyms *ks); /* accepts NULL */
/* Name of the symbol containing addr, with its module in brackets for modules
 * ("nf_hook_slow [nf_tables]"); NULL when none. *offset, when not NULL, gets addr - start. */
const char *kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, uint64_t *offset);

#endif
