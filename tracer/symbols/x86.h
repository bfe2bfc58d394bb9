/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_X86_H
#define ASYNCPROF_X86_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <capstone/capstone.h>

/*
 * x86: helpers over capstone for the static analysis of x86-64 code in the runtime adaptors.
 * The handle must have CS_OPT_DETAIL on.
 */

/* The address a rip-relative memory operand refers to; 0 when the instruction has none. */
static inline uint64_t x86_rip_target(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	for (int i = 0; i < x->op_count; i++)
		if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP)
			return insn->address + insn->size + x->operands[i].mem.disp;
	return 0;
}

/*
 * Decodes code, size bytes at link-time address addr, one instruction at a time into insn, and
 * calls visit on each until it returns non-zero; returns that, or -EILSEQ when the bytes stop
 * decoding before their end.
 */
static inline int x86_each_insn(csh cs, cs_insn *insn, const uint8_t *code, size_t size,
				uint64_t addr, int (*visit)(const cs_insn *insn, void *arg),
				void *arg)
{
	while (size) {
		int ret;

		if (!cs_disasm_iter(cs, &code, &size, &addr, insn))
			return -EILSEQ;
		ret = visit(insn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

#endif
