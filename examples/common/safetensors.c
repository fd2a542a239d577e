/*
 * safetensors.c - see safetensors.h. The JSON header is parsed by a small
 * recursive-descent reader that accepts exactly what the format needs
 * (objects, arrays, strings, non-negative integers) and bounds every step.
 */
#include "safetensors.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_TENSORS 100000

/* ----------------------------------------------------------------- write */

bool st_write(const char *path, const st_tensor *tensors, int count, const char *metadata_json, char *err,
              size_t errlen) {
  size_t cap = 4096 + (size_t)count * 512, len = 0;
  char *h = malloc(cap);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return false;
  }
  len += (size_t)snprintf(h + len, cap - len, "{");
  if (metadata_json) len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", metadata_json);
  size_t offset = 0;
  for (int i = 0; i < count; i++) {
    const st_tensor *t = &tensors[i];
    len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                            (i || metadata_json) ? "," : "", t->name);
    for (int d = 0; d < t->ndim; d++)
      len += (size_t)snprintf(h + len, cap - len, d ? ",%lld" : "%lld", (long long)t->dims[d]);
    len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset, offset + t->numel * 4);
    offset += t->numel * 4;
  }
  len += (size_t)snprintf(h + len, cap - len, "}");
  while (len % 8) h[len++] = ' '; /* align the data to 8 bytes, as the format recommends */
  /* A new temporary file beside path (never one planted there), synced,
   * then renamed over it: a crash leaves the old checkpoint or the new. */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s" ST_TMP_SUFFIX "XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (fd >= 0 && !f) close(fd);
  bool ok = f != NULL;
  uint64_t hl = len;
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
  if (ok) ok = fwrite(le, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len;
  for (int i = 0; ok && i < count; i++) ok = fwrite(tensors[i].data, 4, tensors[i].numel, f) == tensors[i].numel;
  if (ok) ok = fflush(f) == 0 && fsync(fd) == 0;
  int saved = errno;
  if (f) ok = (fclose(f) == 0) && ok;
  free(h);
  if (ok && rename(tmp, path) != 0) ok = false, saved = errno;
  if (!ok) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved ? saved : errno));
    if (fd >= 0) remove(tmp);
  }
  return ok;
}

void st_remove_stale_temporaries(const char *path) {
  char dir[4096], prefix[512];
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
  if (slash && slash == path) snprintf(dir, sizeof dir, "/");
  snprintf(prefix, sizeof prefix, "%s" ST_TMP_SUFFIX, slash ? slash + 1 : path);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[4700];
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix)) && strlen(e->d_name) == strlen(prefix) + 6) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
}

/* ------------------------------------------------------------ JSON reader */

typedef struct jp {
  const char *start, *s, *end;
  char *err;
  size_t errlen;
  int depth;
} jp;

static bool jfail(jp *p, const char *what) {
  snprintf(p->err, p->errlen, "malformed header: %s at byte %ld", what, (long)(p->s - p->start));
  return false;
}

static void ws(jp *p) {
  while (p->s < p->end && isspace((unsigned char)*p->s)) p->s++;
}

static bool expect(jp *p, char c) {
  ws(p);
  if (p->s >= p->end || *p->s != c) return jfail(p, "unexpected character");
  p->s++;
  return true;
}

/* A string without escapes other than \" and \\ (names and dtypes). */
static bool jstring(jp *p, char *out, size_t n) {
  if (!expect(p, '"')) return false;
  size_t len = 0;
  while (p->s < p->end && *p->s != '"') {
    char c = *p->s++;
    if (c == '\\') {
      if (p->s >= p->end || (*p->s != '"' && *p->s != '\\' && *p->s != '/')) return jfail(p, "unsupported escape");
      c = *p->s++;
    }
    if ((unsigned char)c < 0x20) return jfail(p, "control character in string");
    if (len + 1 >= n) return jfail(p, "string too long");
    out[len++] = c;
  }
  if (p->s >= p->end) return jfail(p, "unterminated string");
  p->s++;
  out[len] = '\0';
  return true;
}

static bool juint(jp *p, uint64_t *v) {
  ws(p);
  if (p->s >= p->end || !isdigit((unsigned char)*p->s)) return jfail(p, "expected a non-negative integer");
  uint64_t r = 0;
  while (p->s < p->end && isdigit((unsigned char)*p->s)) {
    if (r > (UINT64_MAX - 9) / 10) return jfail(p, "integer too large");
    r = r * 10 + (uint64_t)(*p->s++ - '0');
  }
  *v = r;
  return true;
}

/* [u, u, ...] into v (at most max). */
static bool juint_array(jp *p, uint64_t *v, int max, int *n) {
  if (!expect(p, '[')) return false;
  *n = 0;
  ws(p);
  if (p->s < p->end && *p->s == ']') {
    p->s++;
    return true;
  }
  for (;;) {
    if (*n >= max) return jfail(p, "array too long");
    if (!juint(p, &v[(*n)++])) return false;
    ws(p);
    if (p->s < p->end && *p->s == ',') {
      p->s++;
      continue;
    }
    return expect(p, ']');
  }
}

/* Skip any JSON value of the subset (for unknown keys and metadata). */
static bool jskip(jp *p) {
  if (++p->depth > 16) return jfail(p, "nested too deeply");
  ws(p);
  if (p->s >= p->end) return jfail(p, "unexpected end");
  bool ok;
  char buf[4096];
  uint64_t u;
  if (*p->s == '"') {
    ok = jstring(p, buf, sizeof buf);
  } else if (*p->s == '{' || *p->s == '[') {
    char close = *p->s == '{' ? '}' : ']';
    bool obj = *p->s == '{';
    p->s++;
    ws(p);
    ok = true;
    if (p->s < p->end && *p->s == close) {
      p->s++;
    } else {
      for (;;) {
        if (obj && (!jstring(p, buf, sizeof buf) || !expect(p, ':'))) return false;
        if (!jskip(p)) return false;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
          p->s++;
          continue;
        }
        ok = expect(p, close);
        break;
      }
    }
  } else {
    ok = juint(p, &u);
  }
  p->depth--;
  return ok;
}

/* One tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]} */
static bool jtensor(jp *p, st_tensor *t, uint64_t *begin, uint64_t *end) {
  if (!expect(p, '{')) return false;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  for (;;) {
    char key[64];
    if (!jstring(p, key, sizeof key) || !expect(p, ':')) return false;
    if (!strcmp(key, "dtype")) {
      char dt[32];
      if (!jstring(p, dt, sizeof dt)) return false;
      if (strcmp(dt, "F32")) {
        snprintf(p->err, p->errlen, "tensor '%s' has dtype %s; only F32 is supported", t->name, dt);
        return false;
      }
      have_dtype = true;
    } else if (!strcmp(key, "shape")) {
      uint64_t dims[ST_MAX_DIMS];
      int n;
      if (!juint_array(p, dims, ST_MAX_DIMS, &n)) return false;
      t->ndim = n;
      t->numel = 1;
      for (int i = 0; i < n; i++) {
        if (dims[i] > ((uint64_t)1 << 40) || (dims[i] && t->numel > ((size_t)1 << 40) / dims[i]))
          return jfail(p, "shape too large");
        t->dims[i] = (int64_t)dims[i];
        t->numel *= (size_t)dims[i];
      }
      have_shape = true;
    } else if (!strcmp(key, "data_offsets")) {
      uint64_t off[2];
      int n;
      if (!juint_array(p, off, 2, &n)) return false;
      if (n != 2 || off[1] < off[0]) return jfail(p, "bad data_offsets");
      *begin = off[0];
      *end = off[1];
      have_offsets = true;
    } else if (!jskip(p)) {
      return false;
    }
    ws(p);
    if (p->s < p->end && *p->s == ',') {
      p->s++;
      continue;
    }
    if (!expect(p, '}')) return false;
    break;
  }
  if (!have_dtype || !have_shape || !have_offsets) return jfail(p, "tensor entry lacks dtype, shape or data_offsets");
  if (*end - *begin != (uint64_t)t->numel * 4) {
    snprintf(p->err, p->errlen, "tensor '%s': %llu bytes for %zu float32 elements", t->name,
             (unsigned long long)(*end - *begin), t->numel);
    return false;
  }
  return true;
}

/* ------------------------------------------------------------------ read */

typedef struct range {
  uint64_t begin, end;
} range;

static int cmp_range(const void *a, const void *b) {
  const range *x = a, *y = b;
  return (x->begin > y->begin) - (x->begin < y->begin);
}

static bool parse_header(jp *p, st_file *out, range *ranges) {
  if (!expect(p, '{')) return false;
  ws(p);
  if (p->s < p->end && *p->s == '}') {
    p->s++;
    return true;
  }
  for (;;) {
    char key[128];
    if (!jstring(p, key, sizeof key) || !expect(p, ':')) return false;
    if (!strcmp(key, "__metadata__")) {
      ws(p);
      const char *m0 = p->s;
      if (!jskip(p)) return false;
      size_t n = (size_t)(p->s - m0);
      if (n >= sizeof out->metadata) {
        snprintf(p->err, p->errlen, "__metadata__ of %zu bytes: at most %zu", n, sizeof out->metadata - 1);
        return false;
      }
      memcpy(out->metadata, m0, n);
      out->metadata[n] = '\0';
    } else {
      if (out->count >= ST_MAX_TENSORS) return jfail(p, "too many tensors");
      st_tensor *t = &out->tensors[out->count];
      memset(t, 0, sizeof *t);
      snprintf(t->name, sizeof t->name, "%s", key);
      if (!jtensor(p, t, &ranges[out->count].begin, &ranges[out->count].end)) return false;
      out->count++;
    }
    ws(p);
    if (p->s < p->end && *p->s == ',') {
      p->s++;
      continue;
    }
    if (!expect(p, '}')) return false;
    ws(p);
    if (p->s != p->end) return jfail(p, "trailing bytes after the header object");
    return true;
  }
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether two tensors share a name: sorted, in O(n log n) (a pairwise check
 * took 38 s on a 100,000-entry header). */
static bool has_duplicate_name(const st_file *f) {
  const size_t count = f->count > 0 ? (size_t)f->count : 0;
  const char **names = malloc((count ? count : 1) * sizeof *names);
  if (!names) return true; /* refuse what cannot be checked */
  for (size_t i = 0; i < count; i++) names[i] = f->tensors[i].name;
  qsort(names, count, sizeof *names, cmp_name);
  bool dup = false;
  for (size_t i = 1; i < count && !dup; i++) dup = !strcmp(names[i - 1], names[i]);
  free(names);
  return dup;
}

bool st_read(const char *path, st_file *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return false;
  }
  bool ok = false;
  char *header = NULL;
  unsigned char *data = NULL;
  range *ranges = NULL;
  fseek(f, 0, SEEK_END);
  long fsize = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char le[8];
  if (fsize < 8 || fread(le, 1, 8, f) != 8) {
    snprintf(err, errlen, "%s: too short to be a safetensors file", path);
    goto done;
  }
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)le[i] << (8 * i);
  if (hl < 2 || hl > ST_MAX_HEADER || hl > (uint64_t)fsize - 8) {
    snprintf(err, errlen, "%s: header length %llu does not fit the file (%ld bytes)", path, (unsigned long long)hl,
             fsize);
    goto done;
  }
  header = malloc((size_t)hl);
  uint64_t data_len = (uint64_t)fsize - 8 - hl;
  data = malloc(data_len ? (size_t)data_len : 1);
  /* every tensor entry takes at least ~40 header bytes: bound the table by that */
  size_t max_tensors = (size_t)(hl / 32 + 1);
  if (max_tensors > ST_MAX_TENSORS) max_tensors = ST_MAX_TENSORS;
  out->tensors = calloc(max_tensors, sizeof *out->tensors);
  ranges = calloc(max_tensors, sizeof *ranges);
  if (!header || !data || !out->tensors || !ranges) {
    snprintf(err, errlen, "%s: out of memory", path);
    goto done;
  }
  if (fread(header, 1, (size_t)hl, f) != hl || (data_len && fread(data, 1, (size_t)data_len, f) != data_len)) {
    snprintf(err, errlen, "%s: truncated", path);
    goto done;
  }
  char jerr[256];
  jp p = {header, header, header + hl, jerr, sizeof jerr, 0};
  if (!parse_header(&p, out, ranges)) {
    snprintf(err, errlen, "%s: %s", path, jerr);
    goto done;
  }
  /* Ranges must tile the data exactly: sorted, contiguous, ending at its end. */
  range *sorted = malloc((size_t)(out->count ? out->count : 1) * sizeof *sorted);
  if (!sorted) goto done;
  memcpy(sorted, ranges, (size_t)out->count * sizeof *sorted);
  qsort(sorted, (size_t)out->count, sizeof *sorted, cmp_range);
  uint64_t at = 0;
  bool tiled = true;
  for (int i = 0; i < out->count; i++) {
    tiled &= sorted[i].begin == at;
    at = sorted[i].end;
  }
  tiled &= at == data_len;
  free(sorted);
  if (tiled && has_duplicate_name(out)) {
    snprintf(err, errlen, "%s: a tensor name appears twice", path);
    goto done;
  }
  if (!tiled) {
    snprintf(err, errlen, "%s: tensor byte ranges overlap, leave holes or run past the data (%llu bytes)", path,
             (unsigned long long)data_len);
    goto done;
  }
  for (int i = 0; i < out->count; i++) {
    st_tensor *t = &out->tensors[i];
    t->data = malloc(t->numel ? t->numel * 4 : 4);
    if (!t->data) goto done;
    memcpy(t->data, data + ranges[i].begin, t->numel * 4);
  }
  ok = true;
done:
  fclose(f);
  free(header);
  free(data);
  free(ranges);
  if (!ok) st_free(out);
  return ok;
}

const st_tensor *st_find(const st_file *f, const char *name) {
  for (int i = 0; i < f->count; i++)
    if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
  return NULL;
}

void st_free(st_file *f) {
  if (f->tensors)
    for (int i = 0; i < f->count; i++) free(f->tensors[i].data);
  free(f->tensors);
  memset(f, 0, sizeof *f);
}
