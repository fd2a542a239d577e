/*
 * args.c - descriptor arguments. A descriptor is the family name followed
 * by tokens of three kinds:
 *   compact pairs   mb2ic8ih13iw11   (letters, then a number; repeated)
 *   key=value       lr=0.001 act=relu
 *   bare words      nearest  bilinear
 * Numbers in compact pairs may carry a sign and a decimal point
 * ("scale0.0625"); use key=value for exponents.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static bool add(bench_args *out, const char *key, size_t klen, const char *val, size_t vlen,
                bool has_val, char *err, size_t errlen) {
  if (out->n >= (int)(sizeof out->a / sizeof out->a[0])) {
    snprintf(err, errlen, "too many descriptor arguments");
    return false;
  }
  if (klen == 0 || klen >= sizeof out->a[0].key || vlen >= sizeof out->a[0].val) {
    snprintf(err, errlen, "descriptor argument '%.*s' is malformed", (int)(klen + vlen), key);
    return false;
  }
  for (int i = 0; i < out->n; i++) {
    if (strlen(out->a[i].key) == klen && !strncmp(out->a[i].key, key, klen)) {
      snprintf(err, errlen, "descriptor key '%.*s' given twice", (int)klen, key);
      return false;
    }
  }
  bench_arg *a = &out->a[out->n++];
  memcpy(a->key, key, klen);
  a->key[klen] = '\0';
  memcpy(a->val, val, vlen);
  a->val[vlen] = '\0';
  a->has_val = has_val;
  a->used = false;
  return true;
}

/* One whitespace-free token. */
static bool parse_token(const char *t, size_t len, bench_args *out, char *err, size_t errlen) {
  const char *eq = memchr(t, '=', len);
  if (eq) return add(out, t, (size_t)(eq - t), eq + 1, len - (size_t)(eq - t) - 1, true, err, errlen);
  size_t i = 0;
  bool any_digit = false;
  for (size_t j = 0; j < len; j++) any_digit |= isdigit((unsigned char)t[j]) != 0;
  if (!any_digit) return add(out, t, len, "", 0, false, err, errlen);
  while (i < len) {
    size_t k0 = i;
    while (i < len && (isalpha((unsigned char)t[i]) || t[i] == '_')) i++;
    size_t v0 = i;
    if (i < len && (t[i] == '-' || t[i] == '+')) i++;
    while (i < len && (isdigit((unsigned char)t[i]) || t[i] == '.')) i++;
    if (v0 == k0 || i == v0) {
      snprintf(err, errlen, "cannot read '%.*s': expected letters then a number", (int)len, t);
      return false;
    }
    if (!add(out, t + k0, v0 - k0, t + v0, i - v0, true, err, errlen)) return false;
  }
  return true;
}

bool bench_args_parse(const char *s, bench_args *out, char *err, size_t errlen) {
  out->n = 0;
  out->bad = -1;
  out->bad_real = false;
  while (*s) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) break;
    const char *t = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (!parse_token(t, (size_t)(s - t), out, err, errlen)) return false;
  }
  return true;
}

/* Remember the first argument whose value did not parse, for bench_args_explain. */
static void note_bad(bench_args *a, const bench_arg *x, bool real) {
  if (a->bad >= 0) return;
  a->bad = (int)(x - a->a);
  a->bad_real = real;
}

static bench_arg *find(bench_args *a, const char *key, bool with_value) {
  for (int i = 0; i < a->n; i++) {
    if (!strcmp(a->a[i].key, key) && a->a[i].has_val == with_value) {
      a->a[i].used = true;
      return &a->a[i];
    }
  }
  return NULL;
}

bool bench_arg_int(bench_args *a, const char *key, int64_t *v, bool *ok) {
  bench_arg *x = find(a, key, true);
  if (!x) return false;
  char *end;
  errno = 0;
  long long r = strtoll(x->val, &end, 10);
  if (errno || *end || !*x->val) {
    note_bad(a, x, false);
    *ok = false;
    return false;
  }
  *v = r;
  return true;
}

bool bench_arg_real(bench_args *a, const char *key, double *v, bool *ok) {
  bench_arg *x = find(a, key, true);
  if (!x) return false;
  char *end;
  errno = 0;
  double r = strtod(x->val, &end);
  if (errno || *end || !*x->val) {
    note_bad(a, x, true);
    *ok = false;
    return false;
  }
  *v = r;
  return true;
}

bool bench_arg_str(bench_args *a, const char *key, const char **v) {
  bench_arg *x = find(a, key, true);
  if (!x) return false;
  *v = x->val;
  return true;
}

bool bench_arg_word(bench_args *a, const char *word) { return find(a, word, false) != NULL; }

void bench_arg_pair(bench_args *a, const char *kh, const char *kw, int64_t def, int64_t *h, int64_t *w, bool *ok) {
  int64_t v;
  *h = def;
  if (bench_arg_int(a, kh, &v, ok)) *h = v;
  *w = *h;
  if (bench_arg_int(a, kw, &v, ok)) *w = v;
}

bool bench_arg_act(bench_args *a, clnn_activation *act, char *err, size_t errlen) {
  const char *name;
  if (!bench_arg_str(a, "act", &name)) return true;
  for (int i = 0; i < CLNN_ACT_COUNT_; i++)
    if (!strcmp(name, clnn_activation_name((clnn_activation)i))) {
      *act = (clnn_activation)i;
      return true;
    }
  snprintf(err, errlen, "unknown activation '%s'", name);
  return false;
}

bool bench_args_all_used(const bench_args *a, char *err, size_t errlen) {
  for (int i = 0; i < a->n; i++) {
    if (!a->a[i].used) {
      snprintf(err, errlen, "unknown descriptor argument '%s%s%s'", a->a[i].key,
               a->a[i].has_val ? "=" : "", a->a[i].val);
      return false;
    }
  }
  return true;
}

/* The argument key=value for key[0, klen); NULL if absent. Does not mark it used. */
static const bench_arg *peek(const bench_args *a, const char *key, size_t klen) {
  for (int i = 0; i < a->n; i++)
    if (a->a[i].has_val && strlen(a->a[i].key) == klen && !strncmp(a->a[i].key, key, klen)) return &a->a[i];
  return NULL;
}

/* Append formatted text to err, within errlen. */
static void appendf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *err, size_t errlen, const char *fmt, ...) {
  size_t used = strlen(err);
  if (used + 1 >= errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + used, errlen - used, fmt, ap);
  va_end(ap);
}

bool bench_args_explain(const bench_args *a, const char *family, const char *required, char *err,
                        size_t errlen) {
  if (a->bad >= 0) {
    const bench_arg *x = &a->a[a->bad];
    snprintf(err, errlen, "%s: key '%s' has a %s value '%s'", family, x->key,
             a->bad_real ? "non-numeric" : "non-integer", x->val);
    return false;
  }
  /* "mb, ic, ih, oc and kh" from "mb:0 ic ih oc kh", and what is wrong with each */
  char list[128] = "", problems[256] = "";
  int count = 0;
  for (const char *k = required; *k;) {
    const size_t len = strcspn(k, " :");
    const char *next = k + len;
    long long min = 1;
    if (*next == ':') min = strtoll(next + 1, (char **)&next, 10);
    const char *after = next + strspn(next, " ");
    appendf(list, sizeof list, "%s%.*s", count++ ? (*after ? ", " : " and ") : "", (int)len, k);
    const bench_arg *x = peek(a, k, len);
    if (!x)
      appendf(problems, sizeof problems, "%s%.*s is missing", *problems ? "; " : "", (int)len, k);
    else if (strtoll(x->val, NULL, 10) < min)
      appendf(problems, sizeof problems, "%s%.*s is %s, below %lld", *problems ? "; " : "", (int)len, k, x->val,
              min);
    k = after;
  }
  snprintf(err, errlen, "%s needs %s", family, list);
  if (*problems) appendf(err, errlen, ": %s", problems);
  /* An argument no lookup used is most likely the misspelling of a missing key. */
  for (int i = 0; i < a->n; i++)
    if (!a->a[i].used) {
      appendf(err, errlen, "; unknown descriptor argument '%s%s%s'", a->a[i].key, a->a[i].has_val ? "=" : "",
              a->a[i].val);
      break;
    }
  return false;
}
