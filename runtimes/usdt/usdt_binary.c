// SPDX-License-Identifier: MIT
/*
 * A stapsdt note (sys/sdt.h): owner "stapsdt", type 3; its descriptor holds three addresses (the
 * probe's nop, the link-time address of .stapsdt.base, the semaphore) followed by three strings
 * (provider, name, argument format).
 */
#include "usdt_binary.h"
#include "util/array.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NT_STAPSDT 3
#define PROVIDER "asyncprof"

const char *const usdt_probe_names[USDT_PROBE_COUNT] = {
	[USDT_TASK_CREATE] = "task_create", [USDT_TASK_RUNNABLE] = "task_runnable",
	[USDT_TASK_RUN] = "task_run",	    [USDT_TASK_STOP] = "task_stop",
	[USDT_TASK_SUSPEND] = "task_suspend", [USDT_TASK_EXIT] = "task_exit",
	[USDT_FRAME_PUSH] = "frame_push",   [USDT_FRAME_POP] = "frame_pop",
};

static int probe_of(const char *name)
{
	for (int i = 0; i < USDT_PROBE_COUNT; i++)
		if (strcmp(name, usdt_probe_names[i]) == 0)
			return i;
	return -1;
}

static Elf_Scn *section_named(Elf *elf, size_t shstrndx, const char *want, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, shdr))
			continue;
		name = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (name && strcmp(name, want) == 0)
			return scn;
	}
	return NULL;
}

/* Adds the site of one note when it is an asyncprof marker. */
static int add_note(struct usdt_binary *ub, size_t *cap, const uint8_t *desc, size_t len,
		    int64_t prelink)
{
	const char *provider = (const char *)desc + 24, *name, *end = (const char *)desc + len;
	uint64_t addr[3];
	struct usdt_site *site;
	int probe;

	if (len < 24 + 2)
		return 0;
	memcpy(addr, desc, sizeof(addr));
	name = memchr(provider, 0, end - provider);
	if (!name++ || name >= end || !memchr(name, 0, end - name))
		return 0;
	if (strcmp(provider, PROVIDER) != 0 || (probe = probe_of(name)) < 0)
		return 0;
	if (!array_grow((void **)&ub->sites, cap, ub->nsites + 1, sizeof(*ub->sites)))
		return -ENOMEM;
	site = &ub->sites[ub->nsites++];
	site->probe = probe;
	site->pc = addr[0] + prelink;
	site->semaphore = addr[2] ? addr[2] + prelink : 0;
	ub->probes |= 1u << probe;
	return 0;
}

static int read_notes(Elf *elf, struct usdt_binary *ub)
{
	GElf_Shdr notes_hdr, base_hdr;
	Elf_Scn *notes, *base;
	Elf_Data *data;
	size_t shstrndx, cap = 0, off = 0, name_off, desc_off;
	GElf_Nhdr nhdr;
	int64_t prelink = 0;
	bool base_known;
	int err;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return -ENOEXEC;
	notes = section_named(elf, shstrndx, ".note.stapsdt", &notes_hdr);
	if (!notes || notes_hdr.sh_type != SHT_NOTE)
		return 0;
	base = section_named(elf, shstrndx, ".stapsdt.base", &base_hdr);
	base_known = base != NULL;
	data = elf_getdata(notes, NULL);
	if (!data)
		return 0;
	while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
		const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;

		if (nhdr.n_type != NT_STAPSDT || nhdr.n_namesz != sizeof("stapsdt") ||
		    memcmp((const char *)data->d_buf + name_off, "stapsdt", sizeof("stapsdt")) ||
		    nhdr.n_descsz < 24)
			continue;
		if (base_known) {
			uint64_t note_base;

			memcpy(&note_base, desc + 8, sizeof(note_base));
			prelink = (int64_t)(base_hdr.sh_addr - note_base);
		}
		err = add_note(ub, &cap, desc, nhdr.n_descsz, prelink);
		if (err)
			return err;
	}
	return 0;
}

int usdt_binary_read(const char *path, struct usdt_binary **out)
{
	struct usdt_binary *ub;
	Elf *elf;
	int fd, err;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64) {
		elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	ub = calloc(1, sizeof(*ub));
	err = ub ? read_notes(elf, ub) : -ENOMEM;
	elf_end(elf);
	close(fd);
	if (err) {
		usdt_binary_free(ub);
		return err;
	}
	*out = ub;
	return 0;
}

void usdt_binary_free(struct usdt_binary *ub)
{
	if (!ub)
		return;
	free(ub->sites);
	free(ub);
}
