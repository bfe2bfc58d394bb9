// SPDX-License-Identifier: MIT
/*
 * DWARF unwinding of a copied user stack, in the manner of perf's unwind-libdw.c, with one
 * difference that matters for a long-running profiler: the Dwfl lives as long as the process,
 * so libdw parses each module's CFI once and then only looks rows up.
 *
 * libdwfl asks for memory through memory_read(); we answer from the stack copy only. A request
 * above the copy means the unwinder needs more stack than the sampler copied: when the copy was
 * cut at its size limit (not at the top of the stack mapping), the stack is reported truncated.
 */
#include "unwind.h"
#include "util/hashmap.h"
#include "bpf/sampler.h"

#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <assert.h>

struct unwinder {
	pid_t pid;
	Dwfl *dwfl;
	bool attached;
	struct hashmap *reported; /* (dev, inode, base) of each module reported */

	/* State of the unwind in progress. */
	const struct unwind_input *in;
	uint64_t *pcs;
	size_t max, n;
	bool read_past_copy;
};

static char *debuginfo_path;

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct unwinder *uw = arg;

	if (*thread_argp)
		return 0;
	*thread_argp = uw;
	return uw->in ? uw->in->tid : uw->pid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	*thread_argp = arg;
	return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwinder *uw = arg;
	const struct unwind_input *in = uw->in;
	uint64_t sp = in->regs[SREG_SP];

	if (addr + sizeof(*result) < addr)
		return false;
	if (addr >= sp && addr + sizeof(*result) <= sp + in->stack_len) {
		memcpy(result, in->stack + (addr - sp), sizeof(*result));
		return true;
	}
	if (addr >= sp + in->stack_len && addr < sp + in->stack_len + (1 << 20))
		uw->read_past_copy = true;
	return false;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct unwinder *uw = arg;
	Dwarf_Word regs[SREG_COUNT];

	for (int i = 0; i < SREG_COUNT; i++)
		regs[i] = uw->in->regs[i];
	return dwfl_thread_state_registers(thread, 0, SREG_COUNT, regs);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

int unwinder_new(pid_t pid, struct unwinder **out)
{
	struct unwinder *uw = calloc(1, sizeof(*uw));

	if (!uw)
		return -ENOMEM;
	uw->pid = pid;
	uw->reported = hashmap_new();
	uw->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!uw->reported || !uw->dwfl) {
		unwinder_free(uw);
		return -ENOMEM;
	}
	*out = uw;
	return 0;
}

void unwinder_free(struct unwinder *uw)
{
	if (!uw)
		return;
	if (uw->dwfl)
		dwfl_end(uw->dwfl);
	hashmap_free(uw->reported);
	free(uw);
}

int unwinder_reset(struct unwinder *uw)
{
	Dwfl *dwfl = dwfl_begin(&dwfl_callbacks);
	struct hashmap *reported = hashmap_new();

	if (!dwfl || !reported) {
		if (dwfl)
			dwfl_end(dwfl);
		hashmap_free(reported);
		return -ENOMEM;
	}
	dwfl_end(uw->dwfl);
	hashmap_free(uw->reported);
	uw->dwfl = dwfl;
	uw->reported = reported;
	uw->attached = false;
	return 0;
}

/*
 * The vdso of every process is the kernel's one image, so the tracer's own copy serves as the
 * file libdwfl needs for the target's [vdso] module (its CFI covers clock_gettime & co).
 */
static int vdso_image_fd(size_t *size)
{
	static int fd = -1;
	static size_t len;
	const unsigned char *base = (const void *)getauxval(AT_SYSINFO_EHDR);
	struct proc_maps *self = NULL;
	const struct proc_mapping *m;

	if (fd >= 0 || !base)
		goto out;
	if (procmaps_read(getpid(), &self))
		return -ENOENT;
	m = procmaps_find(self, (uint64_t)base);
	if (m && m->start == (uint64_t)base) {
		fd = memfd_create("asyncprof-vdso", MFD_CLOEXEC);
		len = m->end - m->start;
		if (fd >= 0 && write(fd, base, len) != (ssize_t)len) {
			close(fd);
			fd = -1;
		}
	}
	procmaps_free(self);
out:
	*size = len;
	return fd >= 0 ? dup(fd) : -ENOENT;
}

static int report_mapping(struct unwinder *uw, const struct proc_maps *maps,
			  const struct proc_mapping *m)
{
	struct {
		uint64_t dev, inode, base;
	} key;
	const struct proc_mapping *first = m;
	Dwfl_Module *mod;
	size_t vdso_size;
	int fd;

	if (strcmp(m->path, "[vdso]") == 0) {
		key.dev = 0;
		key.inode = 0;
		key.base = m->start;
		if (hashmap_get(uw->reported, &key, sizeof(key), NULL))
			return 0;
		fd = vdso_image_fd(&vdso_size);
		if (fd < 0 || vdso_size != m->end - m->start) {
			if (fd >= 0)
				close(fd);
			return hashmap_put(uw->reported, &key, sizeof(key), 0);
		}
	} else {
		/* The load base comes from the file's first mapping (file offset 0), whatever
		 * segment the executable mapping holds. */
		for (size_t i = 0; i < maps->count; i++) {
			const struct proc_mapping *o = &maps->mappings[i];

			if (o->inode == m->inode && o->dev_major == m->dev_major &&
			    o->dev_minor == m->dev_minor && o->start < first->start &&
			    strcmp(o->path, m->path) == 0)
				first = o;
		}
		key.dev = ((uint64_t)m->dev_major << 32) | m->dev_minor;
		key.inode = m->inode;
		key.base = first->start - first->offset;
		if (hashmap_get(uw->reported, &key, sizeof(key), NULL))
			return 0;
		fd = procmaps_open_file(uw->pid, m);
		if (fd < 0)
			return hashmap_put(uw->reported, &key, sizeof(key), 0);
	}

	/* libdwfl consumes fd on success. */
	mod = dwfl_report_elf(uw->dwfl, m->path, m->path, fd, key.base, false);
	if (!mod)
		close(fd);
	if (hashmap_put(uw->reported, &key, sizeof(key), mod != NULL))
		return -ENOMEM;
	return mod ? 1 : 0;
}

int unwinder_add_maps(struct unwinder *uw, const struct proc_maps *maps)
{
	int added = 0, err = 0;

	dwfl_report_begin_add(uw->dwfl);
	for (size_t i = 0; i < maps->count; i++) {
		const struct proc_mapping *m = &maps->mappings[i];
		int ret;

		if (!m->executable)
			continue;
		if (!procmaps_is_file(m) && strcmp(m->path, "[vdso]") != 0)
			continue;
		ret = report_mapping(uw, maps, m);
		if (ret < 0) {
			err = ret;
			break;
		}
		added += ret;
	}
	if (dwfl_report_end(uw->dwfl, NULL, NULL) != 0 && !err)
		err = -EINVAL;
	return err ? err : added;
}

static int frame_callback(Dwfl_Frame *state, void *arg)
{
	struct unwinder *uw = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (!activation)
		pc--;
	uw->pcs[uw->n++] = pc;
	return uw->n < uw->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int unwind_stack(struct unwinder *uw, const struct unwind_input *in, uint64_t *pcs, size_t max,
		 struct unwind_result *res)
{
	int ret;

	memset(res, 0, sizeof(*res));
	if (max == 0)
		return 0;
	uw->in = in;
	uw->pcs = pcs;
	uw->max = max;
	uw->n = 0;
	uw->read_past_copy = false;

	if (!uw->attached) {
		if (!dwfl_attach_state(uw->dwfl, NULL, uw->pid, &thread_callbacks, uw)) {
			/* No module yet: the instruction pointer is all we know. */
			pcs[0] = in->regs[SREG_IP];
			res->npcs = 1;
			res->error = true;
			uw->in = NULL;
			return 0;
		}
		uw->attached = true;
	}

	ret = dwfl_getthread_frames(uw->dwfl, in->tid, frame_callback, uw);
	if (uw->n == 0) {
		pcs[0] = in->regs[SREG_IP];
		uw->n = 1;
	}
	res->npcs = uw->n;
	/* libdwfl ends some failed reads quietly, so a read above the copy decides, not ret. */
	if (uw->read_past_copy && in->stack_len >= SAMPLER_USTACK_BYTES)
		res->truncated = true;
	else if (ret != 0 && uw->n < max && !uw->read_past_copy)
		res->error = true;
	uw->in = NULL;
	return 0;
}
