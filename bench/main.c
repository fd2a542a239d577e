/*
 * main.c - clnn-bench: check ops against the host reference (--mode=C),
 * time them (--mode=P), or run them on .npy files (--mode=R).
 *
 *   clnn-bench [options] DESCRIPTOR...
 *   clnn-bench --mode=C "conv mb2ic8ih13iw11oc16kh3kw3sh2sw2ph1pw1dh2dw2g2"
 *   clnn-bench --mode=P --batch bench/inputs/conv --json out.jsonl
 *   clnn-bench --mode=R --dir DIR "conv mb2ic8ih13oc16kh3ph1"
 *
 * Exit status: 0 all good, 1 a check failed, 2 bad usage / descriptor / .npy
 * file, 3 the library or device failed.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "../host/ref.h"
#include "npy.h"
#include "peak.h"
#include "timing.h"

bench_options bench_opt = {NULL, 1, 0, 'C'};

enum { EXIT_CHECK = 1, EXIT_USAGE = 2, EXIT_DEVICE = 3 };
enum { MAX_RUNS = 1000 }; /* --min-runs and --max-runs: the timing table's size */
/* The longest descriptor (bench_problem.text and the parse buffers hold it
 * whole; a longer one is refused, never cut into another problem). */
enum { MAX_DESCRIPTOR = 511 };

typedef struct run_config {
  char mode;             /* 'C', 'P' or 'R' */
  const char *pass;      /* NULL: the family's default */
  const char *dt;        /* --dt: the type of descriptors without a dt= key (NULL: f32) */
  const char *dir;       /* R mode */
  bool no_bias;
  int warmup, min_runs, max_runs;
  double target_s;       /* P mode: keep timing while under this total */
  bool device_timer;     /* P mode: time by OpenCL profiling events (--timer device) */
  FILE *json;
  bench_peak peak;       /* 0 when unknown */
  bool quiet;
} run_config;

/* ------------------------------------------------------------- helpers */


static uint64_t hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

/* Seeded splitmix64 stream for the inputs of one tensor. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* A float tensor stored in a half type holds values that type can hold, so
 * the reference sees exactly what the kernels load. */
static void round_to_store(bench_tensor *t) {
  if (t->dtype != CLNN_FLOAT32 || t->store == CLNN_FLOAT32) return;
  uint16_t *h = malloc(t->numel ? t->numel * sizeof *h : 1);
  if (!h) abort(); /* a few MB at most, after the float array itself fitted */
  clnn_pack_f32(t->store, t->host, h, t->numel);
  clnn_unpack_f32(t->store, h, t->host, t->numel);
  free(h);
}

static void fill_values(bench_problem *p, bench_tensor *t, uint64_t seed);

static void fill_tensor(bench_problem *p, bench_tensor *t, uint64_t seed) {
  fill_values(p, t, seed);
  round_to_store(t);
}

static void fill_values(bench_problem *p, bench_tensor *t, uint64_t seed) {
  if (t->fill == BENCH_FILL_CUSTOM && p->fam->fill) {
    p->fam->fill(p, t, seed);
    return;
  }
  uint64_t s = seed;
  if (t->dtype == CLNN_INT32) {
    int32_t *d = t->host;
    for (size_t i = 0; i < t->numel; i++)
      d[i] = (int32_t)(t->lo + floor(rng_uniform(&s) * (t->hi - t->lo + 1)));
    return;
  }
  float *d = t->host;
  for (size_t i = 0; i < t->numel; i++) {
    if (t->fill == BENCH_FILL_NORMAL) {
      double u1 = rng_uniform(&s) + 0x1.0p-54, u2 = rng_uniform(&s);
      d[i] = (float)(t->lo + t->hi * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    } else {
      d[i] = (float)(t->lo + (t->hi - t->lo) * rng_uniform(&s));
    }
  }
}

/* -------------------------------------------------------- problem API */

double bench_elem_bytes(const bench_problem *p) { return (double)clnn_dtype_size(p->dt); }

bench_tensor *bench_add(bench_problem *p, const char *name, bench_role role, clnn_dtype dtype,
                        int ndim, const int64_t *dims) {
  if (p->nt >= BENCH_MAX_TENSORS) return NULL;
  bench_tensor *t = &p->t[p->nt++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->role = role;
  t->dtype = dtype;
  t->store = dtype == CLNN_FLOAT32 ? p->dt : dtype;
  t->ndim = ndim;
  t->numel = 1;
  for (int i = 0; i < ndim; i++) {
    t->dims[i] = dims[i];
    size_t d = (size_t)(dims[i] > 0 ? dims[i] : 0);
    /* Saturate rather than wrap: problem_setup refuses what is too large. */
    t->numel = d && t->numel > BENCH_MAX_NUMEL / d ? BENCH_MAX_NUMEL + 1 : t->numel * d;
  }
  t->fill = BENCH_FILL_UNIFORM;
  t->lo = -1.0;
  t->hi = 1.0;
  return t;
}

bench_tensor *bench_find(bench_problem *p, const char *name) {
  for (int i = 0; i < p->nt; i++)
    if (!strcmp(p->t[i].name, name)) return &p->t[i];
  return NULL;
}

float *bench_ref_in(bench_problem *p, const char *name) {
  bench_tensor *t = bench_find(p, name);
  return t ? t->host : NULL;
}

float *bench_ref_out(bench_problem *p, const char *name) {
  bench_tensor *t = bench_find(p, name);
  return t ? t->ref : NULL;
}

clnn_tensor *bench_dev(bench_problem *p, const char *name) {
  bench_tensor *t = bench_find(p, name);
  return t ? t->dev : NULL;
}

static void problem_free(bench_problem *p) {
  for (int i = 0; i < p->nt; i++) {
    free(p->t[i].host);
    free(p->t[i].ref);
    clnn_tensor_free(p->t[i].dev);
  }
  free(p->params);
  memset(p, 0, sizeof *p);
}

static const bench_family *find_family(const char *name, size_t len) {
  for (int g = 0; bench_family_groups[g]; g++)
    for (int i = 0; bench_family_groups[g][i]; i++) {
      const bench_family *f = bench_family_groups[g][i];
      if (strlen(f->name) == len && !strncmp(f->name, name, len)) return f;
    }
  return NULL;
}

/* Whether pass is one of the family's comma-separated passes. */
static bool pass_ok(const char *passes, const char *pass) {
  size_t n = strlen(pass);
  for (const char *s = passes; *s;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == n && !strncmp(s, pass, n)) return true;
    if (!e) break;
    s = e + 1;
  }
  return false;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Parse and set up; false with a message in err. */
/* dt=f32|f16|bf16 (float32 when absent); half types only for families that take them. */
static bool parse_dt(bench_problem *p, bench_args *args, const char *dt_default, char *err, size_t errlen) {
  static const struct {
    const char *word;
    clnn_dtype dt;
  } names[] = {{"f32", CLNN_FLOAT32}, {"f16", CLNN_FLOAT16}, {"bf16", CLNN_BFLOAT16}};
  const char *v = NULL;
  p->dt = CLNN_FLOAT32;
  bool from_option = false;
  if (!bench_arg_str(args, "dt", &v)) v = dt_default, from_option = true;
  if (!v) return true;
  size_t i = 0;
  while (i < sizeof names / sizeof names[0] && strcmp(v, names[i].word)) i++;
  if (i == sizeof names / sizeof names[0]) {
    snprintf(err, errlen, "dt=%s: the types are f32, f16 and bf16", v);
    return false;
  }
  p->dt = names[i].dt;
  if (from_option) { /* the table and the JSON name the type, as if the descriptor had said it */
    size_t len = strlen(p->text);
    snprintf(p->text + len, sizeof p->text - len, " dt=%s", v);
  }
  if (p->dt != CLNN_FLOAT32 && !p->fam->half) {
    snprintf(err, errlen, "dt=%s: %s does not take half-precision tensors yet (only float32)", v, p->fam->name);
    return false;
  }
  return true;
}

static bool problem_setup(bench_problem *p, const char *text, const run_config *cfg, char *err,
                          size_t errlen) {
  memset(p, 0, sizeof *p);
  if (strlen(text) > MAX_DESCRIPTOR) {
    snprintf(err, errlen, "descriptor of %zu characters: at most %d", strlen(text), MAX_DESCRIPTOR);
    return false;
  }
  snprintf(p->text, sizeof p->text, "%s", text);
  while (*text == ' ' || *text == '\t') text++;
  size_t len = strcspn(text, " \t");
  p->fam = find_family(text, len);
  if (!p->fam) {
    snprintf(err, errlen, "unknown op family '%.*s'", (int)len, text);
    return false;
  }
  bench_args args;
  char rest[512];
  snprintf(rest, sizeof rest, "%s", text + len);
  /* A "--no-bias" inside a descriptor line applies to that problem only. */
  bool no_bias = cfg->no_bias;
  char *nb = strstr(rest, "--no-bias");
  if (nb) {
    memset(nb, ' ', strlen("--no-bias"));
    no_bias = true;
  }
  if (!bench_args_parse(rest, &args, err, errlen)) return false;
  const char *pass = cfg->pass;
  char defpass[16];
  if (!pass) {
    snprintf(defpass, sizeof defpass, "%.*s", (int)strcspn(p->fam->passes, ","), p->fam->passes);
    pass = defpass;
  }
  if (!pass_ok(p->fam->passes, pass)) {
    snprintf(err, errlen, "%s has no pass '%s' (passes: %s)", p->fam->name, pass, p->fam->passes);
    return false;
  }
  snprintf(p->pass, sizeof p->pass, "%s", pass);
  p->dir = cfg->dir;
  p->bias = !no_bias;
  if (cfg->mode == 'R') {
    char path[4096];
    snprintf(path, sizeof path, "%s/b.npy", cfg->dir);
    p->bias = file_exists(path);
  }
  p->tol = 1e-5;
  if (!parse_dt(p, &args, cfg->dt, err, errlen)) return false;
  if (!p->fam->setup(p, &args, err, errlen)) {
    /* a value that did not parse is named, in every family's words alike */
    if (args.bad >= 0) bench_args_explain(&args, p->fam->name, "", err, errlen);
    return false;
  }
  if (!bench_args_all_used(&args, err, errlen)) return false;
  for (int i = 0; i < p->nt; i++)
    if (p->t[i].numel > BENCH_MAX_NUMEL) {
      snprintf(err, errlen, "tensor %s would have more than 2^36 elements", p->t[i].name);
      return false;
    }
  return true;
}

/* ------------------------------------------------------------- device */

static clnn_status upload(clnn_context *ctx, bench_problem *p, bool poison_outputs) {
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (!t->dev) {
      clnn_status st = clnn_tensor_create(ctx, t->store, t->ndim, t->dims, &t->dev);
      if (st != CLNN_SUCCESS) return st;
    }
    clnn_status st = CLNN_SUCCESS;
    if (t->role != BENCH_OUT && t->dtype == CLNN_FLOAT32) st = clnn_tensor_write_f32(t->dev, t->host, t->numel);
    else if (t->role != BENCH_OUT) st = clnn_tensor_write(t->dev, t->host, t->numel * 4);
    else if (poison_outputs) st = clnn_tensor_fill(t->dev, t->dtype == CLNN_INT32 ? -1.0f : NAN);
    if (st != CLNN_SUCCESS) return st;
  }
  return CLNN_SUCCESS;
}

static clnn_status download(bench_problem *p) {
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role == BENCH_IN) continue;
    clnn_status st = t->dtype == CLNN_FLOAT32 ? clnn_tensor_read_f32(t->dev, t->host, t->numel)
                                              : clnn_tensor_read(t->dev, t->host, t->numel * 4);
    if (st != CLNN_SUCCESS) return st;
  }
  return CLNN_SUCCESS;
}

static bool alloc_host(bench_problem *p, bool with_ref) {
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (!t->host && !(t->host = calloc(t->numel ? t->numel : 1, 4))) return false;
    if (with_ref && t->role != BENCH_IN && !(t->ref = calloc(t->numel ? t->numel : 1, 4))) return false;
  }
  return true;
}

/* ------------------------------------------------------------- output */

typedef struct result {
  bool ok;
  bool checked;
  double max_abs, rel_l2;
  char worst[24];
  double median_ms, min_ms, max_ms;
  int runs;
} result;

static void print_header(const run_config *cfg) {
  if (cfg->quiet) return;
  if (cfg->mode == 'C')
    printf("%-4s %-6s %-5s %-10s %-10s %-8s %s\n", "mode", "pass", "ok", "max_abs", "rel_l2", "output",
           "problem");
  else if (cfg->mode == 'P')
    printf("%-4s %-6s %9s %19s %8s %6s %8s %6s  %-24s %s\n", "mode", "pass", "median_ms", "[min, max]",
           "GFLOP/s", "%fma", "GB/s", "%triad", "variant (wg)", "problem");
}

static void print_row(const run_config *cfg, const bench_problem *p, const result *r) {
  if (cfg->quiet) return;
  if (cfg->mode == 'C') {
    printf("C    %-6s %-5s %-10.3g %-10.3g %-8s %s\n", p->pass, r->ok ? "pass" : "FAIL", r->max_abs,
           r->rel_l2, r->worst, p->text);
  } else if (cfg->mode == 'P') {
    double s = r->median_ms * 1e-3;
    char gf[16] = "-", pf[16] = "-", gb[16] = "-", pb[16] = "-", mm[40];
    if (p->flops > 0) {
      snprintf(gf, sizeof gf, "%.1f", p->flops / s * 1e-9);
      if (cfg->peak.gflops > 0) snprintf(pf, sizeof pf, "%.0f%%", 100.0 * p->flops / s * 1e-9 / cfg->peak.gflops);
    }
    if (p->bytes > 0) {
      snprintf(gb, sizeof gb, "%.2f", p->bytes / s * 1e-9);
      if (cfg->peak.gbps > 0) snprintf(pb, sizeof pb, "%.0f%%", 100.0 * p->bytes / s * 1e-9 / cfg->peak.gbps);
    }
    snprintf(mm, sizeof mm, "[%.3f, %.3f]", r->min_ms, r->max_ms);
    char variant[560];
    snprintf(variant, sizeof variant, "%s (%zu)", p->variant[0] ? p->variant : "-", p->wg);
    printf("P    %-6s %9.3f %19s %8s %6s %8s %6s  %-24s %s\n", p->pass, r->median_ms, mm, gf, pf, gb, pb, variant,
           p->text);
  } else {
    printf("R    %-6s done: %s (%s)\n", p->pass, p->text, cfg->dir);
  }
  fflush(stdout);
}

static void json_escape(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void print_json(const run_config *cfg, clnn_context *ctx, const bench_problem *p, const result *r) {
  FILE *f = cfg->json;
  if (!f) return;
  fputs("{\"problem\": ", f);
  json_escape(f, p->text);
  fprintf(f, ", \"family\": \"%s\", \"mode\": \"%c\", \"pass\": \"%s\", \"device\": ", p->fam->name,
          cfg->mode, p->pass);
  json_escape(f, clnn_context_device_name(ctx));
  fprintf(f, ", \"ok\": %s", r->ok ? "true" : "false");
  if (r->checked)
    fprintf(f, ", \"max_abs_err\": %.6g, \"rel_l2_err\": %.6g, \"worst_output\": \"%s\"", r->max_abs,
            r->rel_l2, r->worst);
  if (cfg->mode == 'P') {
    double s = r->median_ms * 1e-3;
    fprintf(f, ", \"median_ms\": %.6g, \"min_ms\": %.6g, \"max_ms\": %.6g, \"runs\": %d, \"timer\": \"%s\"",
            r->median_ms, r->min_ms, r->max_ms, r->runs, cfg->device_timer ? "device" : "wall");
    if (p->flops > 0) fprintf(f, ", \"gflops\": %.6g", p->flops / s * 1e-9);
    if (p->bytes > 0) fprintf(f, ", \"gbps\": %.6g", p->bytes / s * 1e-9);
    if (cfg->peak.gflops > 0) fprintf(f, ", \"peak_gflops\": %.6g", cfg->peak.gflops);
    if (cfg->peak.gbps > 0) fprintf(f, ", \"peak_gbps\": %.6g", cfg->peak.gbps);
  }
  if (p->algo[0]) {
    fputs(", \"algo\": ", f);
    json_escape(f, p->algo);
  }
  if (p->variant[0]) {
    fputs(", \"variant\": ", f);
    json_escape(f, p->variant);
    fprintf(f, ", \"wg\": %zu", p->wg);
  }
  fputs("}\n", f);
  fflush(f);
}

/* Per-kernel device time of the last run, when profiling is on. */
static void print_profile(clnn_context *ctx, const run_config *cfg) {
  size_t n = 0;
  if (cfg->quiet || clnn_profile_get(ctx, NULL, 0, &n) != CLNN_SUCCESS || n == 0) return;
  clnn_profile_entry *e = calloc(n, sizeof *e);
  if (!e) return;
  clnn_profile_get(ctx, e, n, &n);
  for (size_t i = 0; i < n; i++) printf("       kernel %-28s %-36s %9.3f ms\n", e[i].kernel, e[i].op, e[i].ms);
  free(e);
}

/* ---------------------------------------------------------------- modes */

static int report_failure(clnn_context *ctx, const bench_problem *p, clnn_status st) {
  fprintf(stderr, "clnn-bench: %s: %s: %s\n", p->text, clnn_status_name(st), clnn_context_errmsg(ctx));
  return EXIT_DEVICE;
}

/*
 * After an op call failed: whether every output still holds what it held
 * before (the poison upload() wrote, or an updated input's old values), as
 * a failed call must leave them. True when the read-back itself fails.
 */
static bool outputs_untouched(const bench_problem *p) {
  const float poison_f = NAN; /* upload()'s fill: NaN, or -1 in an int32 tensor */
  const int32_t poison_i = -1;
  for (int i = 0; i < p->nt; i++) {
    const bench_tensor *t = &p->t[i];
    if (t->role == BENCH_IN) continue;
    uint32_t *now = malloc(t->numel ? t->numel * 4 : 4);
    if (!now || (t->dtype == CLNN_FLOAT32 ? clnn_tensor_read_f32(t->dev, (float *)now, t->numel)
                                          : clnn_tensor_read(t->dev, now, t->numel * 4)) != CLNN_SUCCESS) {
      free(now);
      return true;
    }
    uint32_t poison;
    if (t->dtype == CLNN_INT32) memcpy(&poison, &poison_i, 4);
    else memcpy(&poison, &poison_f, 4);
    bool same = true;
    for (size_t k = 0; same && k < t->numel; k++)
      same = t->role == BENCH_OUT ? now[k] == poison : now[k] == ((const uint32_t *)t->host)[k];
    free(now);
    if (!same) {
      fprintf(stderr, "clnn-bench: %s: the failed call changed its output %s\n", p->text, t->name);
      return false;
    }
  }
  return true;
}

static void compare_outputs(bench_problem *p, result *r) {
  r->ok = true;
  r->checked = true;
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role == BENCH_IN) continue;
    double err2 = 0, ref2 = 0, max_abs = 0;
    bool nan_bad = false;
    for (size_t k = 0; k < t->numel; k++) {
      double g, f;
      if (t->dtype == CLNN_INT32) {
        g = ((int32_t *)t->host)[k];
        f = ((int32_t *)t->ref)[k];
      } else {
        g = ((float *)t->host)[k];
        f = ((float *)t->ref)[k];
      }
      if (isnan(g) || isnan(f)) {
        nan_bad |= !(isnan(g) && isnan(f));
        continue;
      }
      double d = fabs(g - f);
      /* A float16 subnormal has fewer bits than the relative bar assumes (a
       * soft-accuracy gradient of 1e-8 is a few of them, each rounded to a
       * spacing of 2^-24): there the error counts beyond that rounding,
       * half a spacing, so that only the float32 math's own error remains. */
      if (t->store == CLNN_FLOAT16 && fabs(f) < 0x1p-14) d = fmax(0.0, d - 0x1p-25);
      if (d > max_abs || isinf(d)) max_abs = d;
      err2 += d * d;
      ref2 += f * f;
    }
    double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    double tol = t->tol > 0 ? t->tol : p->tol;
    if (t->store != t->dtype) tol = fmax(tol, clnn__ref_dtype_rel_l2(t->store)); /* host/ref.h */
    bool ok = !nan_bad && rel <= tol && !isnan(rel);
    if (nan_bad) rel = NAN;
    if (!ok || rel > r->rel_l2 || !r->worst[0]) {
      if (r->ok || !ok) snprintf(r->worst, sizeof r->worst, "%s", t->name);
    }
    if (max_abs > r->max_abs) r->max_abs = max_abs;
    if (isnan(rel) || rel > r->rel_l2) r->rel_l2 = rel;
    r->ok &= ok;
  }
}

/* What the library ran for the problem's last call. */
static void note_variant(clnn_context *ctx, bench_problem *p) {
  snprintf(p->variant, sizeof p->variant, "%s", clnn_context_last_variant(ctx, &p->wg));
}

static int run_check(clnn_context *ctx, bench_problem *p, const run_config *cfg) {
  if (!alloc_host(p, true)) return fprintf(stderr, "clnn-bench: out of memory\n"), EXIT_DEVICE;
  uint64_t seed = hash_str(p->text) ^ bench_opt.seed;
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role != BENCH_OUT) fill_tensor(p, t, seed + (uint64_t)i * 7919);
    if (t->role == BENCH_INOUT) memcpy(t->ref, t->host, t->numel * 4);
  }
  clnn_status st = p->fam->run_ref(p);
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-bench: %s: reference: %s: %s\n", p->text, clnn_status_name(st),
            clnn_context_errmsg(NULL));
    return EXIT_DEVICE;
  }
  clnn_context_clear_variants(ctx);
  if ((st = upload(ctx, p, true))) return report_failure(ctx, p, st);
  if ((st = p->fam->run_device(ctx, p))) {
    int rc = report_failure(ctx, p, st);
    return outputs_untouched(p) ? rc : EXIT_CHECK;
  }
  if ((st = clnn_context_finish(ctx)) || (st = download(p))) return report_failure(ctx, p, st);
  note_variant(ctx, p);
  result r = {0};
  compare_outputs(p, &r);
  print_row(cfg, p, &r);
  print_json(cfg, ctx, p, &r);
  return r.ok ? 0 : EXIT_CHECK;
}

static int run_perf(clnn_context *ctx, bench_problem *p, const run_config *cfg) {
  if (!alloc_host(p, false)) return fprintf(stderr, "clnn-bench: out of memory\n"), EXIT_DEVICE;
  uint64_t seed = hash_str(p->text) ^ bench_opt.seed;
  for (int i = 0; i < p->nt; i++)
    if (p->t[i].role != BENCH_OUT) fill_tensor(p, &p->t[i], seed + (uint64_t)i * 7919);
  clnn_status st = upload(ctx, p, false);
  if (st != CLNN_SUCCESS) return report_failure(ctx, p, st);
  for (int i = 0; i < cfg->warmup; i++) {
    if ((st = p->fam->run_device(ctx, p)) || (st = clnn_context_finish(ctx))) return report_failure(ctx, p, st);
  }
  double times[MAX_RUNS];
  int runs = 0;
  double total = 0;
  while (runs < cfg->max_runs && (runs < cfg->min_runs || total < cfg->target_s)) {
    clnn_profile_reset(ctx);
    clnn_context_clear_variants(ctx);
    double t0 = bench_now_s();
    if ((st = p->fam->run_device(ctx, p)) || (st = clnn_context_finish(ctx))) return report_failure(ctx, p, st);
    times[runs] = bench_now_s() - t0;
    if (cfg->device_timer) { /* first launch's start to last launch's end, on the device */
      double ms = 0.0;
      if ((st = clnn_profile_span(ctx, &ms))) return report_failure(ctx, p, st);
      times[runs] = ms * 1e-3;
    }
    total += times[runs++];
  }
  note_variant(ctx, p);
  qsort(times, (size_t)runs, sizeof times[0], bench_cmp_double);
  result r = {0};
  r.ok = true;
  r.runs = runs;
  r.median_ms = (runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2])) * 1e3;
  r.min_ms = times[0] * 1e3;
  r.max_ms = times[runs - 1] * 1e3;
  print_row(cfg, p, &r);
  print_profile(ctx, cfg);
  print_json(cfg, ctx, p, &r);
  return 0;
}

/* t's host data as its .npy holds it: the float values packed to the
 * tensor's half type (a new array into *packed, to free), else as they are. */
static const void *npy_data(const bench_tensor *t, void **packed) {
  *packed = NULL;
  if (t->store == t->dtype) return t->host;
  *packed = malloc(t->numel ? t->numel * clnn_dtype_size(t->store) : 1);
  if (*packed) clnn_pack_f32(t->store, t->host, *packed, t->numel);
  return *packed;
}

static bool npy_write_tensor_temp(const char *path, const bench_tensor *t, char *tmp, size_t tmp_len, char *err,
                                  size_t errlen) {
  void *packed;
  const void *data = npy_data(t, &packed);
  bool ok = data && npy_write_temp(path, t->store, t->ndim, t->dims, data, tmp, tmp_len, err, errlen);
  if (!data) snprintf(err, errlen, "%s: out of memory", path);
  free(packed);
  return ok;
}

/* Write every output of p (inputs updated in place, such as an optimizer's
 * param, included) to dir/<name>.npy, all or none: each goes to a synced
 * temporary file first, and only when all are written are they renamed. */
static bool write_outputs(bench_problem *p, const char *dir) {
  enum { PATH_MAX_LEN = 4200 };
  char(*tmp)[PATH_MAX_LEN] = malloc(sizeof *tmp * BENCH_MAX_TENSORS);
  int out_index[BENCH_MAX_TENSORS], written = 0;
  char path[PATH_MAX_LEN], err[PATH_MAX_LEN + 256] = "out of memory";
  bool ok = tmp != NULL;
  for (int i = 0; i < p->nt && ok; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role == BENCH_IN) continue;
    snprintf(path, sizeof path, "%s/%s.npy", dir, t->name);
    ok = npy_write_tensor_temp(path, t, tmp[written], PATH_MAX_LEN, err, sizeof err);
    if (ok) out_index[written++] = i;
  }
  const bool wrote_all = ok;
  int committed = 0;
  while (ok && committed < written) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, p->t[out_index[committed]].name);
    ok = npy_commit(tmp[committed], path, err, sizeof err); /* removes its temporary on failure */
    if (ok) committed++;
  }
  /* The temporaries never renamed (one whose rename failed is gone already). */
  for (int i = wrote_all && !ok ? committed + 1 : committed; i < written; i++) remove(tmp[i]);
  if (!ok)
    fprintf(stderr, "clnn-bench: %s (%s)\n", err,
            committed ? "some outputs were replaced before the failure" : "no output changed");
  free(tmp);
  return ok;
}

static int run_files(clnn_context *ctx, bench_problem *p, const run_config *cfg) {
  char path[4096], err[512];
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role == BENCH_OUT) continue;
    snprintf(path, sizeof path, "%s/%s.npy", cfg->dir, t->name);
    npy_array a;
    if (!npy_read(path, &a, err, sizeof err)) {
      fprintf(stderr, "clnn-bench: %s\n", err);
      return EXIT_USAGE;
    }
    bool same = a.dtype == t->store && a.ndim == t->ndim;
    for (int k = 0; same && k < t->ndim; k++) same = a.dims[k] == t->dims[k];
    if (!same) {
      char want[160] = "", got[160] = "";
      for (int k = 0; k < t->ndim; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? "," : "", (long long)t->dims[k]);
      for (int k = 0; k < a.ndim; k++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? "," : "", (long long)a.dims[k]);
      fprintf(stderr, "clnn-bench: %s: shape (%s) %s, the descriptor needs (%s) %s\n", path, got,
              clnn_dtype_name(a.dtype), want, clnn_dtype_name(t->store));
      free(a.data);
      return EXIT_USAGE;
    }
    if (t->store != t->dtype) { /* a half type: the host side works in float */
      float *f = malloc(a.numel ? a.numel * sizeof *f : 1);
      if (!f) {
        free(a.data);
        return fprintf(stderr, "clnn-bench: out of memory\n"), EXIT_DEVICE;
      }
      clnn_unpack_f32(t->store, a.data, f, a.numel);
      free(a.data);
      a.data = f;
    }
    t->host = a.data;
  }
  if (!alloc_host(p, false)) return fprintf(stderr, "clnn-bench: out of memory\n"), EXIT_DEVICE;
  clnn_status st;
  clnn_context_clear_variants(ctx);
  if ((st = upload(ctx, p, true)) || (st = p->fam->run_device(ctx, p)) ||
      (st = clnn_context_finish(ctx)) || (st = download(p)))
    return report_failure(ctx, p, st);
  note_variant(ctx, p);
  if (!write_outputs(p, cfg->dir)) return EXIT_USAGE;
  result r = {0};
  r.ok = true;
  print_row(cfg, p, &r);
  print_json(cfg, ctx, p, &r);
  return 0;
}

/* I mode: write the inputs C mode would draw for the problem to DIR, so that
 * R mode can run two builds on the very same data (scripts/compare-builds.sh). */
static int run_inputs(bench_problem *p, const run_config *cfg) {
  if (!alloc_host(p, false)) return fprintf(stderr, "clnn-bench: out of memory\n"), EXIT_DEVICE;
  uint64_t seed = hash_str(p->text) ^ bench_opt.seed;
  char path[4096], err[512];
  for (int i = 0; i < p->nt; i++) {
    bench_tensor *t = &p->t[i];
    if (t->role == BENCH_OUT) continue;
    fill_tensor(p, t, seed + (uint64_t)i * 7919);
    snprintf(path, sizeof path, "%s/%s.npy", cfg->dir, t->name);
    char tmp[4200];
    if (!npy_write_tensor_temp(path, t, tmp, sizeof tmp, err, sizeof err) || !npy_commit(tmp, path, err, sizeof err)) {
      fprintf(stderr, "clnn-bench: %s\n", err);
      return EXIT_USAGE;
    }
  }
  if (!cfg->quiet) printf("I    %-6s inputs of %s written to %s\n", p->pass, p->text, cfg->dir);
  return 0;
}

static int run_one_pass(clnn_context *ctx, const char *text, const run_config *cfg) {
  bench_problem p;
  char err[512];
  if (!problem_setup(&p, text, cfg, err, sizeof err)) {
    fprintf(stderr, "clnn-bench: \"%s\": %s\n", text, err);
    problem_free(&p);
    return EXIT_USAGE;
  }
  int rc = cfg->mode == 'C'   ? run_check(ctx, &p, cfg)
           : cfg->mode == 'P' ? run_perf(ctx, &p, cfg)
           : cfg->mode == 'I' ? run_inputs(&p, cfg)
                              : run_files(ctx, &p, cfg);
  problem_free(&p);
  return rc;
}

/* One problem; with --pass=all, every pass its family offers, in order;
 * with a comma-separated list (fwd,bwd), those passes in that order (one
 * process: the programs are built once, which saves much under Oclgrind). */
static int run_one(clnn_context *ctx, const char *text, const run_config *cfg) {
  if (!cfg->pass || (strcmp(cfg->pass, "all") && !strchr(cfg->pass, ','))) return run_one_pass(ctx, text, cfg);
  const char *passes = cfg->pass;
  if (!strcmp(cfg->pass, "all")) {
    while (*text == ' ' || *text == '\t') text++;
    const bench_family *fam = find_family(text, strcspn(text, " \t"));
    if (!fam) return run_one_pass(ctx, text, cfg); /* reports the unknown family */
    passes = fam->passes;
  }
  int rc = 0;
  for (const char *s = passes; *s;) {
    size_t len = strcspn(s, ",");
    char pass[16];
    snprintf(pass, sizeof pass, "%.*s", (int)len, s);
    run_config one = *cfg;
    one.pass = pass;
    int r = run_one_pass(ctx, text, &one);
    if (r > rc) rc = r;
    s += len;
    if (*s == ',') s++;
  }
  return rc;
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: clnn-bench [options] DESCRIPTOR...\n"
          "  --mode=C|P|R|I    check against the host reference (default), time, run on .npy files,\n"
          "                    or write the inputs C mode draws as .npy files (for R mode)\n"
          "  --pass=PASS       fwd (default), bwd_d, bwd_w, bwd, ... as the family offers; all: each in turn;\n"
          "                    a comma-separated list (fwd,bwd): those in turn\n"
          "  --batch FILE      read descriptors from FILE, one per line (# comments); repeatable\n"
          "  --dir DIR         R mode: read inputs from and write outputs to DIR/<name>.npy;\n"
          "                    I mode: write the inputs there\n"
          "  --json FILE       append one JSON object per problem to FILE\n"
          "  --dt=f32|f16|bf16 the tensors' type where a descriptor has no dt= key (default f32)\n"
          "  --device N        OpenCL device N in clnn-info order (default: as the library picks)\n"
          "  --no-bias         problems without bias (C and P modes)\n"
          "  --rois FILE       RoI rows \"batch x1 y1 x2 y2\" for the roi families\n"
          "  --steps K         optimizer steps per call, in every mode (default 1)\n"
          "  --seed N          seed of the random inputs (default 0)\n"
          "  --warmup N --min-runs N --max-runs N --time S   P mode timing (2, 7, 30, 0.6)\n"
          "  --timer wall|device  P mode: wall clock around each run and clFinish (default), or the\n"
          "                    device time from the first launch's start to the last's end\n"
          "                    (OpenCL profiling events; what CUDA events measure)\n"
          "  --peak-gflops X --peak-gbps Y   fractions of these instead of measuring the device\n"
          "  --no-peak         do not measure the device's peak in P mode\n"
          "  --quiet           no table, only JSON and errors\n"
          "  --passes FAMILY   print the passes FAMILY offers (comma-separated) and exit\n"
          "P mode sets POCL_AFFINITY=1 (PoCL's worker threads pinned) unless POCL_AFFINITY is set.\n"
          "families:");
  for (int g = 0; bench_family_groups[g]; g++)
    for (int i = 0; bench_family_groups[g][i]; i++) fprintf(f, " %s", bench_family_groups[g][i]->name);
  fprintf(f, "\n");
}

/* Value of "--name=V" or "--name V"; advances *i for the second form. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
  return NULL;
}

/* A whole decimal number in [lo, hi] for option name, else a message and false. */
static bool whole_option(const char *name, const char *v, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (end == v || *end || errno || x < lo || x > hi) {
    fprintf(stderr, "clnn-bench: %s must be a whole number from %lld to %lld, not '%s'\n", name, lo, hi, v);
    return false;
  }
  *out = x;
  return true;
}

static bool int_option(const char *name, const char *v, int lo, int hi, int *out) {
  long long x;
  if (!whole_option(name, v, lo, hi, &x)) return false;
  *out = (int)x;
  return true;
}

/* A finite number > 0 for option name, else a message and false. */
static bool positive_option(const char *name, const char *v, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x > 0) || !isfinite(x)) {
    fprintf(stderr, "clnn-bench: %s must be a number above 0, not '%s'\n", name, v);
    return false;
  }
  *out = x;
  return true;
}

/* A batch file's line with a relative rois=FILE made relative to the batch
 * file's folder (bench/inputs/roi names roi_data/...), so that the file works
 * from any working directory; NULL when out of memory. A FILE that is not
 * there stays as written, relative to the working directory, as older batch
 * files expect (bench/half/compute.txt). From the repository root,
 * "--batch bench/inputs/roi" gives the same problem text as before. */
static char *resolve_rois(const char *line, const char *batch_path) {
  const char *key = strstr(line, " rois=");
  const char *slash = strrchr(batch_path, '/');
  if (!key || key[6] == '/' || !slash) return strdup(line);
  const size_t head = (size_t)(key + 6 - line), dir = (size_t)(slash - batch_path) + 1;
  char *out = malloc(strlen(line) + dir + 1);
  if (!out) return NULL;
  memcpy(out, line, head);
  memcpy(out + head, batch_path, dir);
  strcpy(out + head + dir, key + 6);
  const size_t path_len = strcspn(out + head, " \t");
  char saved = out[head + path_len];
  out[head + path_len] = '\0';
  const bool there = access(out + head, F_OK) == 0;
  out[head + path_len] = saved;
  if (there) return out;
  free(out);
  return strdup(line);
}

static int add_batch(const char *path, char ***list, int *n, int *cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "clnn-bench: cannot open batch file %s: %s\n", path, strerror(errno));
    return EXIT_USAGE;
  }
  char *line = NULL;
  size_t line_cap = 0;
  int lineno = 0;
  while (getline(&line, &line_cap, f) >= 0) {
    char *s = line;
    lineno++;
    if (strlen(s) > MAX_DESCRIPTOR) {
      fprintf(stderr, "clnn-bench: %s:%d: a line over %d characters is no descriptor\n", path, lineno,
              MAX_DESCRIPTOR);
      free(line);
      fclose(f);
      return EXIT_USAGE;
    }
    s[strcspn(s, "#\r\n")] = '\0';
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) s[--len] = '\0';
    if (!len) continue;
    if (*n == *cap) {
      *cap = *cap ? *cap * 2 : 64;
      *list = realloc(*list, (size_t)*cap * sizeof **list);
      if (!*list) return EXIT_DEVICE;
    }
    if (!((*list)[(*n)++] = resolve_rois(s, path))) return EXIT_DEVICE;
  }
  free(line);
  fclose(f);
  return 0;
}

/* The last line of a batch: a check counts failures; a timing run counts
 * the problems it timed (its failures are problems that could not run). */
static void print_summary(const run_config *cfg, int nprobs, int failures) {
  if (cfg->mode != 'P') {
    printf("%d problem(s), %d failed\n", nprobs, failures);
  } else if (failures) {
    printf("%d of %d problem(s) timed; %d could not run\n", nprobs - failures, nprobs, failures);
  } else {
    printf("%d problem(s) timed\n", nprobs);
  }
}

int main(int argc, char **argv) {
  run_config cfg = {0};
  cfg.mode = 'C';
  cfg.warmup = 2;
  cfg.min_runs = 7;
  cfg.max_runs = 30;
  cfg.target_s = 0.6;
  bool measure_peak = true;
  int device = -1;
  const char *json_path = NULL;
  char **probs = NULL;
  int nprobs = 0, cap = 0, rc = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    bool ok = true;
    if ((v = opt_value(argc, argv, &i, "--mode"))) {
      cfg.mode = (char)(v[0] & ~0x20);
      if (strlen(v) != 1 || !strchr("CPRI", cfg.mode)) {
        fprintf(stderr, "clnn-bench: --mode must be C, P, R or I\n");
        rc = EXIT_USAGE;
        goto done;
      }
    } else if ((v = opt_value(argc, argv, &i, "--passes"))) {
      const bench_family *fam = find_family(v, strlen(v));
      if (!fam) {
        fprintf(stderr, "clnn-bench: no family '%s'\n", v);
        rc = EXIT_USAGE;
      } else {
        printf("%s\n", fam->passes);
      }
      goto done;
    } else if ((v = opt_value(argc, argv, &i, "--pass"))) cfg.pass = v;
    else if ((v = opt_value(argc, argv, &i, "--dir"))) cfg.dir = v;
    else if ((v = opt_value(argc, argv, &i, "--dt"))) {
      cfg.dt = v;
      if (strcmp(v, "f32") && strcmp(v, "f16") && strcmp(v, "bf16")) {
        fprintf(stderr, "clnn-bench: --dt must be f32, f16 or bf16, not '%s'\n", v);
        rc = EXIT_USAGE;
        goto done;
      }
    }
    else if ((v = opt_value(argc, argv, &i, "--json"))) json_path = v;
    else if ((v = opt_value(argc, argv, &i, "--rois"))) bench_opt.rois_file = v;
    /* Numbers are checked whole and in range (a run count indexes a table). */
    else if ((v = opt_value(argc, argv, &i, "--device"))) ok = int_option("--device", v, 0, 1 << 20, &device);
    else if ((v = opt_value(argc, argv, &i, "--steps"))) ok = int_option("--steps", v, 1, 1 << 20, &bench_opt.steps);
    else if ((v = opt_value(argc, argv, &i, "--warmup"))) ok = int_option("--warmup", v, 0, 1000, &cfg.warmup);
    else if ((v = opt_value(argc, argv, &i, "--min-runs"))) ok = int_option("--min-runs", v, 1, MAX_RUNS, &cfg.min_runs);
    else if ((v = opt_value(argc, argv, &i, "--max-runs"))) ok = int_option("--max-runs", v, 1, MAX_RUNS, &cfg.max_runs);
    else if ((v = opt_value(argc, argv, &i, "--seed"))) {
      long long seed;
      ok = whole_option("--seed", v, 0, LLONG_MAX, &seed);
      bench_opt.seed = (uint64_t)seed;
    } else if ((v = opt_value(argc, argv, &i, "--timer"))) {
      if (strcmp(v, "wall") && strcmp(v, "device")) {
        fprintf(stderr, "clnn-bench: --timer must be wall or device\n");
        rc = EXIT_USAGE;
        goto done;
      }
      cfg.device_timer = !strcmp(v, "device");
    } else if ((v = opt_value(argc, argv, &i, "--time"))) ok = positive_option("--time", v, &cfg.target_s);
    else if ((v = opt_value(argc, argv, &i, "--peak-gflops"))) {
      ok = positive_option("--peak-gflops", v, &cfg.peak.gflops);
      measure_peak = false;
    } else if ((v = opt_value(argc, argv, &i, "--peak-gbps"))) {
      ok = positive_option("--peak-gbps", v, &cfg.peak.gbps);
      measure_peak = false;
    } else if ((v = opt_value(argc, argv, &i, "--batch"))) {
      if ((rc = add_batch(v, &probs, &nprobs, &cap))) goto done;
    } else if (!strcmp(argv[i], "--no-bias")) cfg.no_bias = true;
    else if (!strcmp(argv[i], "--no-peak")) measure_peak = false;
    else if (!strcmp(argv[i], "--quiet")) cfg.quiet = true;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      fprintf(stderr, "clnn-bench: unknown option %s\n", argv[i]);
      usage(stderr);
      rc = EXIT_USAGE;
      goto done;
    } else {
      if (nprobs == cap) {
        cap = cap ? cap * 2 : 64;
        probs = realloc(probs, (size_t)cap * sizeof *probs);
        if (!probs) return EXIT_DEVICE;
      }
      probs[nprobs++] = strdup(argv[i]);
    }
    if (!ok) {
      rc = EXIT_USAGE;
      goto done;
    }
  }
  if (nprobs == 0) {
    usage(stderr);
    return EXIT_USAGE;
  }
  bench_opt.mode = cfg.mode;
  if ((cfg.mode == 'R' || cfg.mode == 'I') && !cfg.dir) {
    fprintf(stderr, "clnn-bench: --mode=%c needs --dir DIR\n", cfg.mode);
    rc = EXIT_USAGE;
    goto done;
  }
  if (cfg.max_runs < cfg.min_runs) cfg.max_runs = cfg.min_runs; /* both <= MAX_RUNS */
  if (json_path && !(cfg.json = fopen(json_path, "a"))) {
    fprintf(stderr, "clnn-bench: cannot open %s: %s\n", json_path, strerror(errno));
    rc = EXIT_USAGE;
    goto done;
  }
  /* P mode pins PoCL's worker threads unless the caller chose: unpinned,
   * the same kernel runs at either of two speeds about 2x apart for a whole
   * series of launches (docs/BENCHMARKS.md). Read by PoCL when the platform
   * is first opened, so it must be set before the context. */
  const bool pinned_here = cfg.mode == 'P' && getenv("POCL_AFFINITY") == NULL;
  if (pinned_here) setenv("POCL_AFFINITY", "1", 0);
  clnn_context_options o = clnn_context_options_default();
  o.device_index = device;
  if (cfg.mode == 'P' && getenv("CLNN_PROFILE") == NULL) o.profiling = 0;
  if (cfg.mode == 'P' && cfg.device_timer) o.profiling = 1;
  clnn_context *ctx;
  clnn_status st = clnn_context_create(&o, &ctx);
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-bench: %s: %s\n", clnn_status_name(st), clnn_context_errmsg(NULL));
    rc = EXIT_DEVICE;
    goto done;
  }
  if (!cfg.quiet) printf("device: %s\n", clnn_context_device_name(ctx));
  if (!cfg.quiet && pinned_here) printf("POCL_AFFINITY=1 set for steady timings (POCL_AFFINITY=0: unpinned)\n");
  if (cfg.mode == 'P' && measure_peak) {
    char err[256];
    if (bench_measure_peak(ctx, &cfg.peak, err, sizeof err)) {
      if (!cfg.quiet) {
        printf("device peak (measured now): FMA %.1f GFLOP/s, triad %.1f GB/s\n", cfg.peak.gflops, cfg.peak.gbps);
        printf("%%fma, %%triad: GFLOP/s and GB/s as shares of these peaks; the triad streams 3 x 128 MiB from "
               "memory, so over 100%% %%triad means a cache-resident working set (%%fma over 100%%: faster than "
               "the simple FMA kernel)\n");
      }
    } else {
      fprintf(stderr, "clnn-bench: %s\n", err);
    }
  }
  print_header(&cfg);
  int failures = 0;
  for (int i = 0; i < nprobs; i++) {
    int r = run_one(ctx, probs[i], &cfg);
    if (r) failures++;
    if (r > rc) rc = r;
  }
  if (!cfg.quiet && nprobs > 1) print_summary(&cfg, nprobs, failures);
  clnn_context_free(ctx);
done:
  for (int i = 0; i < nprobs; i++) free(probs[i]);
  free(probs);
  if (cfg.json) fclose(cfg.json);
  return rc;
}
