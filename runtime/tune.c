/*
 * tune.c - the per-device parameters of the GPU-class kernels, read once
 * when a context is made from the table built into the library
 * (kernels/tune.txt) and, first, from a user's table named by
 * CLNN_TUNE_FILE. tools/clnn-tune measures a device and prints its section.
 *
 * Format: lines "key = values" in sections "[device NAME]", "[vendor NAME]"
 * and "[default]"; '#' starts a comment. The section used is the first
 * [device] whose NAME is part of the device's name, else the first [vendor]
 * whose NAME is part of its vendor, else [default]; its keys override
 * libclnn's defaults (kernels/tune.txt's [default]).
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest table libclnn reads (a table is a few hundred bytes). */
#define TUNE_FILE_MAX ((long)1 << 20)

static const char *embedded_table(void) {
  for (size_t i = 0; i < clnn_embedded_source_count; i++)
    if (!strcmp(clnn_embedded_sources[i].name, "tune.txt")) return (const char *)clnn_embedded_sources[i].data;
  return "";
}

/* Read path into a NUL-terminated heap string (NULL and *why on failure). */
static char *read_table(const char *path, char *why, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, n, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  char *buf = malloc((size_t)TUNE_FILE_MAX + 1);
  size_t got = buf ? fread(buf, 1, (size_t)TUNE_FILE_MAX + 1, f) : 0;
  bool bad = ferror(f) != 0;
  fclose(f);
  if (!buf || bad || got > (size_t)TUNE_FILE_MAX) {
    snprintf(why, n, "cannot read '%s'%s", path, got > (size_t)TUNE_FILE_MAX ? ": over 1 MiB" : "");
    free(buf);
    return NULL;
  }
  buf[got] = '\0';
  return buf;
}

/* Trim spaces at both ends of [s, e) in place; returns the new start. */
static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

typedef enum { SEC_NONE, SEC_DEVICE, SEC_VENDOR, SEC_DEFAULT } section_kind;

/* Kind and name of a "[kind NAME]" line (SEC_NONE if it is not one). */
static section_kind section_of(char *line, char **name) {
  size_t len = strlen(line);
  if (len < 2 || line[0] != '[' || line[len - 1] != ']') return SEC_NONE;
  line[len - 1] = '\0';
  char *body = trim(line + 1);
  if (!strcmp(body, "default")) return SEC_DEFAULT;
  if (!strncmp(body, "device ", 7)) return *name = trim(body + 7), SEC_DEVICE;
  if (!strncmp(body, "vendor ", 7)) return *name = trim(body + 7), SEC_VENDOR;
  return SEC_NONE;
}

/* The line number where the section to use starts in text (0: none), by
 * the priority above; kind_out tells which kind matched. */
static int find_section(const char *text, const clnn_device_caps *caps, section_kind *kind_out, char *label,
                        size_t label_n) {
  int best_line = 0, line_no = 0;
  section_kind best = SEC_NONE;
  const char *p = text;
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
    line_no++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *name = NULL;
    section_kind k = section_of(trim(line), &name);
    bool match = (k == SEC_DEVICE && *name && strstr(caps->name, name)) ||
                 (k == SEC_VENDOR && *name && strstr(caps->vendor, name)) || k == SEC_DEFAULT;
    /* SEC_DEVICE < SEC_VENDOR < SEC_DEFAULT: a lower kind wins, the first of a kind wins */
    if (match && (best == SEC_NONE || k < best)) {
      best = k;
      best_line = line_no;
      if (k == SEC_DEFAULT) snprintf(label, label_n, "default");
      else snprintf(label, label_n, "%s %s", k == SEC_DEVICE ? "device" : "vendor", name);
    }
    p = end ? end + 1 : p + len;
  }
  *kind_out = best;
  return best_line;
}

static bool parse_tile(const char *v, clnn_gpu_tile *t) {
  clnn_gpu_tile x;
  char extra;
  if (sscanf(v, "%d %d %d %d %d %c", &x.mwg, &x.nwg, &x.kwg, &x.mdim, &x.ndim, &extra) != 5) return false;
  if (!clnn__gpu_tile_valid(&x)) return false;
  *t = x;
  return true;
}

/* Apply the keys of the section starting after line first_line of text. */
static bool apply_section(const char *text, int first_line, clnn_tune *tune, char *why, size_t why_n) {
  int line_no = 0;
  const char *p = text;
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), p);
    p = end ? end + 1 : p + len;
    if (++line_no <= first_line) continue;
    char *hash = strchr(buf, '#');
    if (hash) *hash = '\0';
    char *line = trim(buf), *name;
    if (!*line) continue;
    if (section_of(line, &name) != SEC_NONE || line[0] == '[') break; /* the next section */
    char *eq = strchr(line, '=');
    if (!eq) return snprintf(why, why_n, "line %d: expected 'key = value'", line_no), false;
    *eq = '\0';
    char *key = trim(line), *value = trim(eq + 1);
    bool ok = true;
    if (!strcmp(key, "gemm.tile_large")) ok = parse_tile(value, &tune->tile_large);
    else if (!strcmp(key, "gemm.tile_small")) ok = parse_tile(value, &tune->tile_small);
    else if (!strcmp(key, "gemm.tile_narrow")) ok = parse_tile(value, &tune->tile_narrow);
    else if (!strcmp(key, "gemm.plain")) {
      ok = !strcmp(value, "gpu_tiled") || !strcmp(value, "clblast");
      tune->plain_clblast = !strcmp(value, "clblast");
    } else {
      return snprintf(why, why_n, "line %d: unknown key '%s'", line_no, key), false;
    }
    if (!ok)
      return snprintf(why, why_n, "line %d: bad value '%s' for %s (a tile is MWG NWG KWG MDIM NDIM, see "
                                  "kernels/tune.txt)", line_no, value, key), false;
  }
  return true;
}

clnn_status clnn__tune_load(const clnn_device_caps *caps, const char *user_file, clnn_tune *tune) {
  memset(tune, 0, sizeof *tune);
  char why[512] = "", label[200];
  section_kind kind;
  const char *builtin = embedded_table();
  /* libclnn's defaults: the built-in [default] section. */
  clnn_device_caps none;
  memset(&none, 0, sizeof none);
  int line = find_section(builtin, &none, &kind, label, sizeof label);
  if (!apply_section(builtin, line, tune, why, sizeof why))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "kernels/tune.txt: %s", why);
  snprintf(tune->source, sizeof tune->source, "built-in [default]");
  if (user_file) {
    char *text = read_table(user_file, why, sizeof why);
    if (!text) return clnn__fail(NULL, CLNN_ERR_IO, "CLNN_TUNE_FILE: %s", why);
    line = find_section(text, caps, &kind, label, sizeof label);
    bool ok = !line || apply_section(text, line, tune, why, sizeof why);
    free(text);
    if (!ok) return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "CLNN_TUNE_FILE '%s': %s", user_file, why);
    if (line) {
      snprintf(tune->source, sizeof tune->source, "%s [%s]", user_file, label);
      return CLNN_SUCCESS;
    }
  }
  line = find_section(builtin, caps, &kind, label, sizeof label);
  if (line && kind != SEC_DEFAULT) {
    if (!apply_section(builtin, line, tune, why, sizeof why))
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "kernels/tune.txt: %s", why);
    snprintf(tune->source, sizeof tune->source, "built-in [%s]", label);
  }
  return CLNN_SUCCESS;
}

const char *clnn_context_tuning(const clnn_context *ctx) { return ctx ? ctx->tune.source : ""; }
