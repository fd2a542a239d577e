/*
 * npy.c - see npy.h. The header is a Python dict literal; we accept exactly
 * the three keys NumPy writes and check every byte count against the file.
 */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAX_HEADER 65536

static bool fail(char *err, size_t n, const char *path, const char *what) {
  snprintf(err, n, "%s: %s", path, what);
  return false;
}

/* Find 'key': in the header dict and return a pointer just past the colon. */
static const char *dict_value(const char *h, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(h, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (isspace((unsigned char)*p)) p++;
  if (*p != ':') return NULL;
  p++;
  while (isspace((unsigned char)*p)) p++;
  return p;
}

static bool parse_shape(const char *p, npy_array *out) {
  if (*p != '(') return false;
  p++;
  out->ndim = 0;
  out->numel = 1;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (*p == ')') break;
    if (out->ndim == CLNN_MAX_DIMS) return false;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || v > ((int64_t)1 << 40)) return false;
    out->dims[out->ndim++] = v;
    if (v != 0 && out->numel > SIZE_MAX / 4 / (size_t)v) return false; /* the byte count fits */
    out->numel *= (size_t)v;
    p = end;
    while (isspace((unsigned char)*p)) p++;
    if (*p == ',') p++;
    else if (*p != ')') return false;
  }
  return true;
}

/* Bytes per element (here, not clnn_dtype_size: the fuzz harness builds
 * this file without the library). */
static size_t elem_size(clnn_dtype dtype) { return dtype == CLNN_FLOAT16 || dtype == CLNN_BFLOAT16 ? 2 : 4; }

bool npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return fail(err, errlen, path, "not a regular file");
  }
  unsigned char pre[12];
  char *header = NULL;
  bool ok = false;
  if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6)) {
    fail(err, errlen, path, "not a .npy file (bad magic)");
    goto done;
  }
  size_t hlen;
  if (pre[6] == 1) {
    if (fread(pre + 8, 1, 2, f) != 2) goto truncated;
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 8, 1, 4, f) != 4) goto truncated;
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    fail(err, errlen, path, "unsupported .npy format version");
    goto done;
  }
  if (hlen == 0 || hlen > NPY_MAX_HEADER) {
    fail(err, errlen, path, "implausible .npy header length");
    goto done;
  }
  header = malloc(hlen + 1);
  if (!header || fread(header, 1, hlen, f) != hlen) goto truncated;
  header[hlen] = '\0';
  const char *descr = dict_value(header, "descr");
  const char *order = dict_value(header, "fortran_order");
  const char *shape = dict_value(header, "shape");
  if (!descr || !order || !shape) {
    fail(err, errlen, path, "header lacks descr, fortran_order or shape");
    goto done;
  }
  if (!strncmp(descr, "'<f4'", 5)) out->dtype = CLNN_FLOAT32;
  else if (!strncmp(descr, "'<i4'", 5)) out->dtype = CLNN_INT32;
  else if (!strncmp(descr, "'<f2'", 5)) out->dtype = CLNN_FLOAT16;
  else if (!strncmp(descr, "'<u2'", 5)) out->dtype = CLNN_BFLOAT16;
  else {
    char msg[160];
    const int dlen = descr[0] == '\'' ? (int)strcspn(descr + 1, "'") + 2 : (int)strcspn(descr, ",}");
    snprintf(msg, sizeof msg,
             "dtype %.*s: must be little-endian float32 ('<f4'), int32 ('<i4'), float16 ('<f2') or "
             "bfloat16 bits ('<u2')",
             dlen < 24 ? dlen : 24, descr);
    fail(err, errlen, path, msg);
    goto done;
  }
  if (strncmp(order, "False", 5)) {
    fail(err, errlen, path, "Fortran-ordered arrays are not supported (use C order)");
    goto done;
  }
  if (!parse_shape(shape, out)) {
    fail(err, errlen, path, "cannot parse the shape in the header");
    goto done;
  }
  size_t bytes = out->numel * elem_size(out->dtype);
  /* The file must hold the data before anything that large is allocated. */
  long data_at = ftell(f);
  if (data_at < 0 || (uint64_t)st.st_size - (uint64_t)data_at < bytes) goto truncated;
  out->data = malloc(bytes ? bytes : 1);
  if (!out->data) {
    fail(err, errlen, path, "out of memory");
    goto done;
  }
  if (fread(out->data, 1, bytes, f) != bytes) goto truncated;
  if (fgetc(f) != EOF) {
    fail(err, errlen, path, "file is longer than its header says");
    goto done;
  }
  ok = true;
  goto done;
truncated:
  fail(err, errlen, path, "file is truncated");
done:
  free(header);
  fclose(f);
  if (!ok) {
    free(out->data);
    out->data = NULL;
  }
  return ok;
}

/* The descr of a type: bfloat16 has none in NumPy, so its bit patterns go as uint16. */
static const char *npy_descr(clnn_dtype dtype) {
  switch (dtype) {
    case CLNN_INT32:
      return "<i4";
    case CLNN_FLOAT16:
      return "<f2";
    case CLNN_BFLOAT16:
      return "<u2";
    default:
      return "<f4";
  }
}

bool npy_write_temp(const char *path, clnn_dtype dtype, int ndim, const int64_t *dims, const void *data,
                    char *tmp, size_t tmp_len, char *err, size_t errlen) {
  char shape[256] = "(";
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    size_t n = strlen(shape);
    snprintf(shape + n, sizeof shape - n, "%lld%s", (long long)dims[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    numel *= (size_t)dims[i];
  }
  strcat(shape, ")");
  char header[512];
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     npy_descr(dtype), shape);
  /* Pad with spaces so magic + length + header + newline is a multiple of 64. */
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  memset(header + len, ' ', (size_t)pad);
  header[len + pad] = '\n';
  uint16_t hlen = (uint16_t)(len + pad + 1);
  /* A new file of its own beside path (O_EXCL), with the mode a plain
   * create would give. */
  snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    return false;
  }
  mode_t mask = umask(022);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    close(fd);
    remove(tmp);
    return false;
  }
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen &&
            fwrite(data, elem_size(dtype), numel, f) == numel && fflush(f) == 0 && fsync(fd) == 0;
  int saved = errno;
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(saved ? saved : errno));
    remove(tmp);
  }
  return ok;
}

bool npy_commit(const char *tmp, const char *path, char *err, size_t errlen) {
  if (rename(tmp, path) == 0) return true;
  snprintf(err, errlen, "%s: cannot replace it: %s", path, strerror(errno));
  remove(tmp);
  return false;
}

bool npy_write(const char *path, clnn_dtype dtype, int ndim, const int64_t *dims, const void *data,
               char *err, size_t errlen) {
  char tmp[4200];
  return npy_write_temp(path, dtype, ndim, dims, data, tmp, sizeof tmp, err, errlen) &&
         npy_commit(tmp, path, err, errlen);
}
