// SPDX-License-Identifier: MIT
/*
 * mutate_elf: writes a copy of an ELF file whose .symtab entries or stapsdt notes lie, the way
 * a stale debug file, a post-link optimizer or a packer can make them lie, for the tests that
 * check the profiler never probes where such a table points.
 *
 *	mutate_elf IN OUT REGEX MUTATION
 *
 * REGEX (POSIX extended) is matched against a symbol's name as stored (mangled), or against
 * "provider:name" of a stapsdt note. MUTATION:
 *
 *	shift:N		each symbol moved N bytes on (1 to 7: into its first instruction)
 *	shift:cycle	the k-th matching symbol moved 1 + k % 7 bytes on
 *	swap		each symbol given the address and size of the next (the last: the first's)
 *	data		each symbol pointed into a data section (.data, else .rodata)
 *	size:zero	each symbol's size set to 0
 *	size:huge	each symbol's size set to 2^63 - 1
 *	note-shift:N	each note's probe address moved N bytes on
 *
 * Only those entries change: the code and every other table stay as they were, so the program
 * runs as before. Prints one line per changed entry; exits 1 when none matched.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MATCHES 4096

#define NT_STAPSDT 3

struct match {
	size_t offset; /* of the symbol entry, or of the note's probe address, in the file */
	GElf_Sym sym;
	const char *name;
};

static int copy_file(const char *in, const char *out)
{
	char buf[1 << 16];
	int src = open(in, O_RDONLY), dst;
	struct stat st;
	ssize_t n;

	if (src < 0 || fstat(src, &st))
		return -errno;
	dst = open(out, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 0777);
	if (dst < 0) {
		close(src);
		return -errno;
	}
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(dst, buf, n) != n) {
			n = -1;
			break;
		}
	close(src);
	if (close(dst) || n < 0)
		return -EIO;
	return 0;
}

/* The start of a data section, where the `data` mutation points symbols. */
static uint64_t data_address(Elf *elf)
{
	const char *const wanted[] = {".data", ".rodata"};
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++) {
		Elf_Scn *scn = NULL;
		GElf_Shdr sh;

		while ((scn = elf_nextscn(elf, scn))) {
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(elf, shstrndx, sh.sh_name);
			if (name && !strcmp(name, wanted[w]) && sh.sh_size >= 64)
				return sh.sh_addr;
		}
	}
	return 0;
}

/* The .symtab entries whose name matches. */
static size_t find_symbols(Elf *elf, const regex_t *re, struct match *m)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t n = 0;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize && n < MAX_MATCHES; i++) {
			const char *name;

			if (!gelf_getsym(data, i, &m[n].sym) || !m[n].sym.st_value)
				continue;
			name = elf_strptr(elf, sh.sh_link, m[n].sym.st_name);
			if (!name || regexec(re, name, 0, NULL, 0))
				continue;
			m[n].name = name;
			m[n].offset = sh.sh_offset + i * sh.sh_entsize;
			n++;
		}
	}
	return n;
}

/* The stapsdt notes whose "provider:name" matches; sym.st_value holds the probe address. */
static size_t find_notes(Elf *elf, const regex_t *re, struct match *m)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t n = 0;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		while (data && n < MAX_MATCHES &&
		       (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *desc = (const char *)data->d_buf + desc_off, *provider, *probe;
			static char names[MAX_MATCHES][128];

			if (nh.n_type != NT_STAPSDT || nh.n_descsz < 3 * 8 + 4 ||
			    strcmp((const char *)data->d_buf + name_off, "stapsdt"))
				continue;
			provider = desc + 3 * 8;
			probe = provider + strnlen(provider, nh.n_descsz - 3 * 8) + 1;
			if (probe >= desc + nh.n_descsz)
				continue;
			snprintf(names[n], sizeof(names[n]), "%s:%.*s", provider,
				 (int)strnlen(probe, desc + nh.n_descsz - probe), probe);
			if (regexec(re, names[n], 0, NULL, 0))
				continue;
			memcpy(&m[n].sym.st_value, desc, 8);
			m[n].name = names[n];
			m[n].offset = sh.sh_offset + desc_off;
			n++;
		}
	}
	return n;
}

static int mutate(Elf *elf, struct match *m, size_t n, const char *how)
{
	GElf_Sym first = m[0].sym;
	uint64_t data = 0;
	char *end;

	if (!strcmp(how, "data") && !(data = data_address(elf))) {
		fprintf(stderr, "mutate_elf: no data section\n");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		GElf_Sym *s = &m[i].sym;

		if (!strncmp(how, "note-shift:", 11)) {
			long k = strtol(how + 11, &end, 10);

			if (*end || k < 1 || k > 7)
				goto bad;
			s->st_value += k;
		} else if (!strcmp(how, "shift:cycle")) {
			s->st_value += 1 + i % 7;
		} else if (!strncmp(how, "shift:", 6)) {
			long k = strtol(how + 6, &end, 10);

			if (*end || k < 1 || k > 7)
				goto bad;
			s->st_value += k;
		} else if (!strcmp(how, "swap")) {
			const GElf_Sym *next = i + 1 < n ? &m[i + 1].sym : &first;

			s->st_value = next->st_value;
			s->st_size = next->st_size;
		} else if (!strcmp(how, "data")) {
			s->st_value = data + 16 * (i % 4);
		} else if (!strcmp(how, "size:zero")) {
			s->st_size = 0;
		} else if (!strcmp(how, "size:huge")) {
			s->st_size = INT64_MAX;
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr, "mutate_elf: unknown mutation %s\n", how);
	return -1;
}

int main(int argc, char **argv)
{
	struct match *m = calloc(MAX_MATCHES, sizeof(*m));
	regex_t re;
	Elf *elf;
	size_t n;
	int fd, ret = 1;
	bool notes;

	if (argc != 5 || !m) {
		fprintf(stderr, "usage: mutate_elf IN OUT REGEX MUTATION\n");
		return 2;
	}
	if (regcomp(&re, argv[3], REG_EXTENDED | REG_NOSUB)) {
		fprintf(stderr, "mutate_elf: bad regular expression %s\n", argv[3]);
		return 2;
	}
	if (copy_file(argv[1], argv[2])) {
		fprintf(stderr, "mutate_elf: cannot copy %s to %s\n", argv[1], argv[2]);
		return 1;
	}
	elf_version(EV_CURRENT);
	fd = open(argv[2], O_RDWR);
	elf = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || gelf_getclass(elf) != ELFCLASS64 ||
	    elf_getident(elf, NULL)[EI_DATA] != ELFDATA2LSB) {
		fprintf(stderr, "mutate_elf: %s is not a 64-bit little-endian ELF file\n", argv[1]);
		return 1;
	}
	notes = !strncmp(argv[4], "note-", 5);
	n = notes ? find_notes(elf, &re, m) : find_symbols(elf, &re, m);
	if (!n) {
		fprintf(stderr, "mutate_elf: no %s matches %s\n", notes ? "note" : "symbol",
			argv[3]);
		goto out;
	}
	if (mutate(elf, m, n, argv[4]))
		goto out;
	ret = 0;
	for (size_t i = 0; i < n && !ret; i++) {
		Elf64_Sym raw = {
		    .st_name = m[i].sym.st_name,
		    .st_info = m[i].sym.st_info,
		    .st_other = m[i].sym.st_other,
		    .st_shndx = m[i].sym.st_shndx,
		    .st_value = m[i].sym.st_value,
		    .st_size = m[i].sym.st_size,
		};
		ssize_t len = notes ? 8 : sizeof(raw);
		const void *what = notes ? (const void *)&raw.st_value : &raw;

		if (pwrite(fd, what, len, m[i].offset) != len) {
			fprintf(stderr, "mutate_elf: cannot write %s: %s\n", argv[2],
				strerror(errno));
			ret = 1;
		}
		printf("%s %#llx %llu\n", m[i].name, (unsigned long long)raw.st_value,
		       (unsigned long long)raw.st_size);
	}
out:
	elf_end(elf);
	close(fd);
	regfree(&re);
	free(m);
	return ret;
}
