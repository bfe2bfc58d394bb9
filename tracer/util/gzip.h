/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_GZIP_H
#define ASYNCPROF_GZIP_H

#include <stddef.h>

/*
 * Compresses len bytes at in as one gzip member (RFC 1952: what pprof files on disk and
 * HTTP's Content-Encoding: gzip are; not raw deflate, not zlib). On success *out is a malloc'd
 * buffer of *out_len bytes. Returns 0 or -errno (-EFBIG above 4 GiB, which zlib takes in one
 * call at the most).
 */
int gzip_compress(const void *in, size_t len, void **out, size_t *out_len);

#endif
