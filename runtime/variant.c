/*
 * variant.c - the list of every op family's variant tables, and the planner
 * step they share: take the first variant that applies (or the one
 * CLNN_VARIANT forces), record its name for clnn_context_last_variant.
 *
 * Adding a family or pass: define its clnn_variant_table in ops/<family>.c
 * and add it to all_tables below.
 */
#include "internal.h"
#include "variants.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const clnn_variant_table *const all_tables[] = {
#define CLNN_VARIANT_TABLE(sym) &sym,
    CLNN_ALL_VARIANT_TABLES
#undef CLNN_VARIANT_TABLE
};
#define N_TABLES (sizeof all_tables / sizeof all_tables[0])

size_t clnn_variant_count(void) {
  size_t n = 0;
  for (size_t t = 0; t < N_TABLES; t++) n += all_tables[t]->count;
  return n;
}

void clnn_variant_info(size_t i, const char **family, const char **pass, const char **name,
                       unsigned *classes) {
  for (size_t t = 0; t < N_TABLES; t++) {
    if (i < all_tables[t]->count) {
      const clnn_variant *v = CLNN_VARIANT_AT(all_tables[t], i);
      if (family) *family = all_tables[t]->family;
      if (pass) *pass = all_tables[t]->pass;
      if (name) *name = v->name;
      if (classes) *classes = v->classes;
      return;
    }
    i -= all_tables[t]->count;
  }
  if (family) *family = NULL;
  if (pass) *pass = NULL;
  if (name) *name = NULL;
  if (classes) *classes = 0;
}

bool clnn__why(char *why, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (why && n) vsnprintf(why, n, fmt, ap);
  va_end(ap);
  return false;
}

bool clnn__name_in_list(const char *list, const char *name) {
  if (!list) return false;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && !memcmp(p, name, n)) return true;
    if (!end) break;
    p = end + 1;
  }
  return false;
}

static bool is_variant(const char *name, size_t len) {
  for (size_t t = 0; t < N_TABLES; t++)
    for (size_t i = 0; i < all_tables[t]->count; i++) {
      const char *v = CLNN_VARIANT_AT(all_tables[t], i)->name;
      if (strlen(v) == len && !memcmp(v, name, len)) return true;
    }
  return false;
}

clnn_status clnn__check_forced_variants(const char *list) {
  if (!list) return CLNN_SUCCESS;
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (!is_variant(p, len))
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE,
                        "CLNN_VARIANT names '%.*s', which is no variant (clnn-info --variants lists them)", (int)len,
                        p);
    if (!end) break;
    p = end + 1;
  }
  return CLNN_SUCCESS;
}

/* The planner's choice; on failure a message in why_all (no context recording). */
static bool choose(const clnn_context *ctx, const clnn_variant_table *t, const void *problem, size_t *index,
                   char *msg, size_t msg_n) {
  char why[256];
  for (size_t i = 0; i < t->count; i++) {
    const clnn_variant *v = CLNN_VARIANT_AT(t, i);
    if (!clnn__name_in_list(ctx->env.variants, v->name)) continue;
    why[0] = '\0';
    if (!v->applies || v->applies(ctx, problem, why, sizeof why)) {
      *index = i;
      return true;
    }
    snprintf(msg, msg_n, "CLNN_VARIANT forces %s, which does not apply here: %s", v->name, why);
    return false;
  }
  int n = snprintf(msg, msg_n, "no %s.%s variant applies to this problem on a %s-class device:", t->family, t->pass,
                   ctx->caps.plan_class == CLNN_DEVICE_CLASS_CPU ? "CPU" : "GPU");
  for (size_t i = 0; i < t->count; i++) {
    const clnn_variant *v = CLNN_VARIANT_AT(t, i);
    if (!(v->classes & (unsigned)ctx->caps.plan_class)) continue;
    why[0] = '\0';
    if (!v->applies || v->applies(ctx, problem, why, sizeof why)) {
      *index = i;
      return true;
    }
    if (n >= 0 && (size_t)n < msg_n) n += snprintf(msg + n, msg_n - (size_t)n, " %s: %s;", v->name, why);
  }
  return false;
}

clnn_status clnn__plan_query(const clnn_context *ctx, const clnn_variant_table *t, const void *problem,
                             size_t *index) {
  char msg[1024];
  if (choose(ctx, t, problem, index, msg, sizeof msg)) return CLNN_SUCCESS;
  return clnn__fail(NULL, CLNN_ERR_UNSUPPORTED, "%s", msg);
}

clnn_status clnn__plan_check(clnn_context *ctx, const clnn_variant_table *t, const void *problem, size_t *index) {
  char msg[1024];
  if (choose(ctx, t, problem, index, msg, sizeof msg)) return CLNN_SUCCESS;
  return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "%s", msg);
}

bool clnn__variant_forced(const clnn_context *ctx, const clnn_variant *v) {
  return clnn__name_in_list(ctx->env.variants, v->name);
}

clnn_status clnn__plan_pick(clnn_context *ctx, const clnn_variant_table *t, const void *problem, size_t *index) {
  char msg[1024];
  if (!choose(ctx, t, problem, index, msg, sizeof msg)) return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "%s", msg);
  const char *name = CLNN_VARIANT_AT(t, *index)->name;
  size_t used = strlen(ctx->last_variant);
  if (!clnn__name_in_list(ctx->last_variant, name))
    snprintf(ctx->last_variant + used, sizeof ctx->last_variant - used, "%s%s", used ? "," : "", name);
  return CLNN_SUCCESS;
}

void clnn_context_clear_variants(clnn_context *ctx) {
  if (!ctx) return;
  ctx->last_variant[0] = '\0';
  ctx->last_wg = ctx->last_global = 0;
}
