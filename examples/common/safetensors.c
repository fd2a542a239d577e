/*
 * safetensors.c - see safetensors.h. The JSON header is untrusted input: it
 * is parsed by cJSON (a widely used and fuzzed parser, Debian libcjson-dev)
 * under a memory budget, and every value the format needs is then checked
 * here (types, ranges, sizes).
 */
#include "safetensors.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
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

/* ------------------------------------------------------------------ read */

typedef struct range {
  uint64_t begin, end;
} range;

static int cmp_range(const void *a, const void *b) {
  const range *x = a, *y = b;
  return (x->begin > y->begin) - (x->begin < y->begin);
}

/* ------------------------------------------------------------ JSON header */

/* cJSON builds a tree of the whole header, a node of 64 bytes per value,
 * up to 32 times the header's length for one of tiny values ("[0,0,0,...").
 * Its allocations draw on a fixed budget instead: the largest header this
 * reader accepts (ST_MAX_TENSORS entries of 8 dimensions and 127-byte names)
 * takes about 160 MiB. Per thread, like each parse. */
#define ST_JSON_BUDGET ((size_t)256 << 20)
static _Thread_local size_t json_budget;
static _Thread_local bool json_over_budget;

typedef union json_block {
  size_t bytes;
  max_align_t align;
} json_block;

static void *json_malloc(size_t n) {
  if (n > json_budget || json_budget - n < sizeof(json_block)) {
    json_over_budget = true;
    return NULL;
  }
  json_block *b = malloc(sizeof *b + n);
  if (!b) return NULL;
  json_budget -= sizeof *b + n;
  b->bytes = sizeof *b + n;
  return b + 1;
}

static void json_free(void *p) {
  if (!p) return;
  json_block *b = (json_block *)p - 1;
  json_budget += b->bytes;
  free(b);
}

static pthread_once_t json_hooks_once = PTHREAD_ONCE_INIT;

static void json_hooks_install(void) {
  cJSON_Hooks hooks = {json_malloc, json_free};
  cJSON_InitHooks(&hooks);
}

typedef struct header_error {
  char *msg;
  size_t len;
} header_error;

static bool malformed(header_error *e, const char *what) {
  snprintf(e->msg, e->len, "malformed header: %s", what);
  return false;
}

/* A whole number in [0, 2^53] (cJSON holds numbers as doubles, exact that far). */
static bool json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || (double)(uint64_t)d != d) return false;
  *out = (uint64_t)d;
  return true;
}

/* [u, u, ...] into v (at most max). */
static bool json_uint_array(const cJSON *a, uint64_t *v, int max, int *n, header_error *e) {
  if (!cJSON_IsArray(a)) return malformed(e, "expected an array of non-negative integers");
  *n = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, a) {
    if (*n >= max) return malformed(e, "array too long");
    if (!json_uint(item, &v[(*n)++])) return malformed(e, "expected a non-negative integer");
  }
  return true;
}

/* One tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]};
 * other keys are ignored; of a repeated key, the last one counts. */
static bool json_tensor(const cJSON *entry, st_tensor *t, uint64_t *begin, uint64_t *end, header_error *e) {
  if (!cJSON_IsObject(entry)) return malformed(e, "a tensor entry is not an object");
  bool have_dtype = false, have_shape = false, have_offsets = false;
  const cJSON *field;
  cJSON_ArrayForEach(field, entry) {
    if (!strcmp(field->string, "dtype")) {
      if (!cJSON_IsString(field)) return malformed(e, "dtype is not a string");
      if (strcmp(field->valuestring, "F32")) {
        snprintf(e->msg, e->len, "tensor '%s' has dtype %.32s; only F32 is supported", t->name, field->valuestring);
        return false;
      }
      have_dtype = true;
    } else if (!strcmp(field->string, "shape")) {
      uint64_t dims[ST_MAX_DIMS];
      int n;
      if (!json_uint_array(field, dims, ST_MAX_DIMS, &n, e)) return false;
      t->ndim = n;
      t->numel = 1;
      for (int i = 0; i < n; i++) {
        if (dims[i] > ((uint64_t)1 << 40) || (dims[i] && t->numel > ((size_t)1 << 40) / dims[i]))
          return malformed(e, "shape too large");
        t->dims[i] = (int64_t)dims[i];
        t->numel *= (size_t)dims[i];
      }
      have_shape = true;
    } else if (!strcmp(field->string, "data_offsets")) {
      uint64_t off[2];
      int n;
      if (!json_uint_array(field, off, 2, &n, e)) return false;
      if (n != 2 || off[1] < off[0]) return malformed(e, "bad data_offsets");
      *begin = off[0];
      *end = off[1];
      have_offsets = true;
    }
  }
  if (!have_dtype || !have_shape || !have_offsets) return malformed(e, "tensor entry lacks dtype, shape or data_offsets");
  if (*end - *begin != (uint64_t)t->numel * 4) {
    snprintf(e->msg, e->len, "tensor '%s': %llu bytes for %zu float32 elements", t->name,
             (unsigned long long)(*end - *begin), t->numel);
    return false;
  }
  return true;
}

/* The header object's members: "__metadata__" (kept as compact JSON) and
 * the tensors, in file order. */
static bool header_members(const cJSON *root, st_file *out, range *ranges, size_t max_tensors, header_error *e) {
  if (!cJSON_IsObject(root)) return malformed(e, "the header is not a JSON object");
  const cJSON *member;
  cJSON_ArrayForEach(member, root) {
    if (!strcmp(member->string, "__metadata__")) {
      char *meta = cJSON_PrintUnformatted(member);
      if (!meta) return malformed(e, "__metadata__ cannot be printed (out of memory)");
      size_t n = strlen(meta);
      bool fits = n < sizeof out->metadata;
      if (fits) memcpy(out->metadata, meta, n + 1);
      cJSON_free(meta);
      if (!fits) {
        snprintf(e->msg, e->len, "__metadata__ of %zu bytes: at most %zu", n, sizeof out->metadata - 1);
        return false;
      }
      continue;
    }
    if ((size_t)out->count >= max_tensors) return malformed(e, "too many tensors");
    st_tensor *t = &out->tensors[out->count];
    memset(t, 0, sizeof *t);
    if (strlen(member->string) >= sizeof t->name) return malformed(e, "tensor name too long");
    for (const char *c = member->string; *c; c++) /* cJSON lets them through; names get printed */
      if ((unsigned char)*c < 0x20) return malformed(e, "control character in a tensor name");
    snprintf(t->name, sizeof t->name, "%s", member->string);
    if (!json_tensor(member, t, &ranges[out->count].begin, &ranges[out->count].end, e)) return false;
    out->count++;
  }
  return true;
}

/* Whether a string in the header escapes a NUL (\u0000): cJSON would end
 * the C string there, so "a\u0000b" would silently become the name "a".
 * Backslashes pair from the left, so "\\u0000" (a backslash, then u0000)
 * is not one. */
static bool has_nul_escape(const char *header, uint64_t hl) {
  for (uint64_t i = 0; i + 1 < hl; i++)
    if (header[i] == '\\') {
      if (header[i + 1] == 'u' && i + 5 < hl && !memcmp(header + i + 2, "0000", 4)) return true;
      i++; /* the escaped character */
    }
  return false;
}

/* Parse the hl bytes of header (one byte more allocated, a terminating
 * NUL) with cJSON: one object, then nothing but whitespace. */
static bool parse_header(const char *header, uint64_t hl, st_file *out, range *ranges, size_t max_tensors,
                         char *err, size_t errlen) {
  header_error e = {err, errlen};
  if (has_nul_escape(header, hl)) return malformed(&e, "a string holds \\u0000");
  pthread_once(&json_hooks_once, json_hooks_install);
  json_budget = ST_JSON_BUDGET;
  json_over_budget = false;
  const char *parse_end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(header, (size_t)hl, &parse_end, false);
  if (!root) {
    if (json_over_budget) {
      snprintf(err, errlen, "header too large to parse: its JSON values take over %zu MiB", ST_JSON_BUDGET >> 20);
      return false;
    }
    snprintf(err, errlen, "malformed header: not valid JSON at byte %ld",
             parse_end ? (long)(parse_end - header) : 0L);
    return false;
  }
  for (const char *c = parse_end; c < header + hl; c++)
    if (!isspace((unsigned char)*c)) {
      cJSON_Delete(root);
      snprintf(err, errlen, "malformed header: trailing bytes after the header object at byte %ld",
               (long)(c - header));
      return false;
    }
  bool ok = header_members(root, out, ranges, max_tensors, &e);
  cJSON_Delete(root);
  return ok;
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
  header = malloc((size_t)hl + 1); /* + a NUL after it, for cJSON */
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
  header[hl] = '\0';
  char jerr[256];
  if (!parse_header(header, hl, out, ranges, max_tensors, jerr, sizeof jerr)) {
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
