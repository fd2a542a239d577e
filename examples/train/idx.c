/*
 * idx.c - see idx.h. IDX: a big-endian header (magic 0x00000803 for 3-D
 * uint8 images, 0x00000801 for 1-D uint8 labels, then each dimension) and the
 * raw bytes. Read through zlib's gzread, which also accepts uncompressed files.
 */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_ITEMS 10000000

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read exactly n bytes; false on EOF or error. */
static bool read_all(gzFile f, void *dst, size_t n) {
  unsigned char *d = dst;
  while (n > 0) {
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread(f, d, chunk);
    if (got <= 0) return false;
    d += got;
    n -= (size_t)got;
  }
  return true;
}

/* Read exactly n bytes into a new buffer that grows with what arrives (a
 * compressed file does not say its length: a header claiming terabytes must
 * not make that allocation before the data runs out). NULL on EOF or error. */
static unsigned char *read_alloc(gzFile f, size_t n) {
  unsigned char *buf = NULL;
  size_t have = 0, cap = 0;
  while (have < n) {
    if (have == cap) {
      size_t grown = cap ? cap * 2 : (size_t)1 << 20;
      cap = grown > n ? n : grown;
      unsigned char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    if (!read_all(f, buf + have, cap - have)) break;
    have = cap;
  }
  if (have == n && n) return buf;
  free(buf);
  return NULL;
}

/* Open path and read its header: ndims dimensions after the magic. */
static gzFile open_idx(const char *path, uint32_t magic, int ndims, uint32_t *dims, char *err, size_t errlen) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    return NULL;
  }
  unsigned char head[16];
  if (!read_all(f, head, 4 + 4 * (size_t)ndims)) {
    snprintf(err, errlen, "%s: truncated header", path);
    gzclose(f);
    return NULL;
  }
  if (be32(head) != magic) {
    snprintf(err, errlen, "%s: bad magic 0x%08x (expected 0x%08x)", path, be32(head), magic);
    gzclose(f);
    return NULL;
  }
  for (int i = 0; i < ndims; i++) dims[i] = be32(head + 4 + 4 * i);
  return f;
}

bool idx_load(const char *dir, const char *prefix, idx_dataset *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  char ipath[4096], lpath[4096];
  snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
  snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  uint32_t idims[3], ldims[1];
  gzFile fi = open_idx(ipath, 0x00000803u, 3, idims, err, errlen);
  if (!fi) return false;
  gzFile fl = open_idx(lpath, 0x00000801u, 1, ldims, err, errlen);
  if (!fl) {
    gzclose(fi);
    return false;
  }
  bool ok = false;
  if (idims[0] == 0 || idims[0] > IDX_MAX_ITEMS || idims[1] == 0 || idims[1] > 4096 || idims[2] == 0 ||
      idims[2] > 4096) {
    snprintf(err, errlen, "%s: implausible size %u x %u x %u", ipath, idims[0], idims[1], idims[2]);
    goto done;
  }
  if (ldims[0] != idims[0]) {
    snprintf(err, errlen, "%s has %u labels but %s has %u images", lpath, ldims[0], ipath, idims[0]);
    goto done;
  }
  size_t npix = (size_t)idims[0] * idims[1] * idims[2];
  if (!(out->images = read_alloc(fi, npix))) {
    snprintf(err, errlen, "%s: truncated (expected %zu bytes of pixels)", ipath, npix);
    goto done;
  }
  if (!(out->labels = read_alloc(fl, idims[0]))) {
    snprintf(err, errlen, "%s: truncated (expected %u labels)", lpath, idims[0]);
    goto done;
  }
  for (uint32_t i = 0; i < idims[0]; i++) {
    if (out->labels[i] > 9) {
      snprintf(err, errlen, "%s: label %u of item %u is not a class 0-9", lpath, out->labels[i], i);
      goto done;
    }
  }
  out->count = (int)idims[0];
  out->rows = (int)idims[1];
  out->cols = (int)idims[2];
  ok = true;
done:
  gzclose(fi);
  gzclose(fl);
  if (!ok) idx_free(out);
  return ok;
}

void idx_free(idx_dataset *d) {
  free(d->images);
  free(d->labels);
  memset(d, 0, sizeof *d);
}
