/*
 * clnn-tune - measure the GPU-class kernels' parameters on this device and
 * print its section of the tuning table (kernels/tune.txt, CLNN_TUNE_FILE).
 *
 *   clnn-tune [--quick] [--max-seconds S] [--out FILE]
 *
 * It searches the tile shapes of kernels/gemm_gpu.h (MWG NWG KWG MDIM NDIM,
 * every shape the kernel's rules and the device allow within a bounded grid)
 * on representative problems, and which engine runs plain GEMMs:
 *  - gemm.tile_small on the anchor 3x3 convolution (8x64x56x56, 64 filters),
 *    forward, bwd_data and bwd_weights: an output of 64 rows;
 *  - gemm.tile_large on a 2048^3 GEMM and the anchor 1x1 convolution
 *    (8x256x28x28, 256 filters);
 *  - gemm.plain: the 2048^3 GEMM on the best large tile against CLBlast.
 * Each candidate runs in a fresh context whose CLNN_TUNE_FILE holds it; a
 * problem is timed as the median of 5 batches of back-to-back runs after a
 * warm-up, each batch between clFinish calls. The search stops exploring
 * after --max-seconds (default 300), 45% of it for each tile search, each
 * starting from the built-in tile (--quick: a smaller grid).
 *
 * The device is planned as a GPU: on a CPU device, set CLNN_DEVICE_CLASS=gpu
 * (the result then describes PoCL, not a GPU).
 */
#include <clnn.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../bench/timing.h"

typedef struct tile {
  int mwg, nwg, kwg, mdim, ndim;
} tile;


/* The shape rules of kernels/gemm_gpu.h (clnn__gpu_tile_valid) and the device's limits. */
static bool tile_ok(const tile *t, const clnn_device_caps *c) {
  int wg = t->mdim * t->ndim;
  if (wg < 64 || wg > 1024 || (size_t)wg > c->max_work_group_size) return false;
  if (t->mwg % t->mdim || t->nwg % t->ndim || t->mwg / t->mdim > 8 || t->nwg / t->ndim > 8) return false;
  if (wg % t->kwg || (t->mwg * t->kwg) % wg || (t->kwg * t->nwg) % wg) return false;
  return (uint64_t)t->kwg * (uint64_t)(t->mwg + t->nwg + 2) * 4 <= c->local_mem_size;
}

/* ------------------------------------------------------------- problems */

typedef enum { P_GEMM, P_CONV_FWD, P_CONV_BWD_D, P_CONV_BWD_W } prob_kind;

typedef struct problem {
  const char *name;
  prob_kind kind;
  int64_t m, n, k;       /* GEMM */
  clnn_conv2d_desc conv; /* convolutions */
} problem;

typedef struct operands {
  clnn_tensor *a, *b, *c;
} operands;

static clnn_tensor *make_tensor(clnn_context *ctx, int ndim, const int64_t *dims) {
  clnn_tensor *t = NULL;
  if (clnn_tensor_create(ctx, CLNN_FLOAT32, ndim, dims, &t) != CLNN_SUCCESS) return NULL;
  if (clnn_tensor_fill(t, 0.5f) != CLNN_SUCCESS) {
    clnn_tensor_free(t);
    return NULL;
  }
  return t;
}

static bool operands_make(clnn_context *ctx, const problem *p, operands *o) {
  memset(o, 0, sizeof *o);
  if (p->kind == P_GEMM) {
    int64_t ad[2] = {p->m, p->k}, bd[2] = {p->k, p->n}, cd[2] = {p->m, p->n};
    o->a = make_tensor(ctx, 2, ad);
    o->b = make_tensor(ctx, 2, bd);
    o->c = make_tensor(ctx, 2, cd);
  } else {
    const clnn_conv2d_desc *d = &p->conv;
    int64_t oh, ow;
    clnn_conv2d_desc_check(d, &oh, &ow);
    int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
    int64_t yd[4] = {d->n, d->k, oh, ow};
    o->a = make_tensor(ctx, 4, xd);
    o->b = make_tensor(ctx, 4, wd);
    o->c = make_tensor(ctx, 4, yd);
  }
  return o->a && o->b && o->c;
}

static void operands_free(operands *o) {
  clnn_tensor_free(o->a);
  clnn_tensor_free(o->b);
  clnn_tensor_free(o->c);
}

static clnn_status run_once(clnn_context *ctx, const problem *p, const operands *o) {
  switch (p->kind) {
    case P_GEMM:
      return clnn_gemm(ctx, CLNN_NO_TRANS, CLNN_NO_TRANS, p->m, p->n, p->k, 1.0f, o->a, 0, p->k, o->b, 0, p->n, 0.0f,
                       o->c, 0, p->n);
    case P_CONV_FWD:
      return clnn_conv2d_fwd(ctx, &p->conv, o->a, o->b, NULL, o->c);
    case P_CONV_BWD_D:
      return clnn_conv2d_bwd_data(ctx, &p->conv, o->c, o->b, o->a);
    default:
      return clnn_conv2d_bwd_weights(ctx, &p->conv, o->a, o->c, o->b, 0);
  }
}

/* Median seconds of one run: 5 batches of back-to-back runs after a warm-up. */
static double time_problem(clnn_context *ctx, const problem *p) {
  operands o;
  double t[5], result = -1.0;
  if (!operands_make(ctx, p, &o)) goto done;
  if (run_once(ctx, p, &o) != CLNN_SUCCESS || clnn_context_finish(ctx) != CLNN_SUCCESS) goto done;
  double t0 = bench_now_s();
  if (run_once(ctx, p, &o) != CLNN_SUCCESS || clnn_context_finish(ctx) != CLNN_SUCCESS) goto done;
  int reps = (int)(0.02 / (bench_now_s() - t0 + 1e-9)) + 1; /* batches of about 20 ms */
  if (reps > 50) reps = 50;
  for (int b = 0; b < 5; b++) {
    t0 = bench_now_s();
    for (int r = 0; r < reps; r++)
      if (run_once(ctx, p, &o) != CLNN_SUCCESS) goto done;
    if (clnn_context_finish(ctx) != CLNN_SUCCESS) goto done;
    t[b] = (bench_now_s() - t0) / reps;
  }
  qsort(t, 5, sizeof t[0], bench_cmp_double);
  result = t[2];
done:
  operands_free(&o);
  return result;
}

/* --------------------------------------------------------------- search */

static char table_path[4096];

/* A context whose tuning table holds exactly this tile (both sizes), and
 * optionally a forced variant; NULL if it cannot be made. */
static clnn_context *context_with(const tile *t, const char *variant) {
  FILE *f = fopen(table_path, "w"); /* made by mkstemp in main */
  if (!f) return NULL;
  fprintf(f, "[default]\ngemm.tile_small = %d %d %d %d %d\ngemm.tile_large = %d %d %d %d %d\n", t->mwg, t->nwg,
          t->kwg, t->mdim, t->ndim, t->mwg, t->nwg, t->kwg, t->mdim, t->ndim);
  fclose(f);
  setenv("CLNN_TUNE_FILE", table_path, 1);
  if (variant) setenv("CLNN_VARIANT", variant, 1);
  clnn_context *ctx = NULL;
  if (clnn_context_create(NULL, &ctx) != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-tune: %s\n", clnn_context_errmsg(NULL));
    ctx = NULL;
  }
  unsetenv("CLNN_VARIANT");
  return ctx;
}

/* Total median seconds of the problems with tile t (negative: failed). */
static double score(const tile *t, const problem *probs, int n, const char *variant) {
  clnn_context *ctx = context_with(t, variant);
  if (!ctx) return -1.0;
  double total = 0.0;
  for (int i = 0; i < n && total >= 0.0; i++) {
    double s = time_problem(ctx, &probs[i]);
    total = s < 0.0 ? -1.0 : total + s;
  }
  clnn_context_free(ctx);
  return total;
}

typedef struct search {
  int tried;
} search;

/* Time one candidate and keep it if it is the best so far. */
static void try_tile(search *s, const tile *t, const problem *probs, int n, bool large, tile *best, double *best_s) {
  double sec = score(t, probs, n, NULL);
  s->tried++;
  char result[32] = "failed";
  if (sec >= 0) snprintf(result, sizeof result, "%.3f ms", sec * 1e3);
  fprintf(stderr, "  %-5s %3d %3d %2d %2d %2d  %s\n", large ? "large" : "small", t->mwg, t->nwg, t->kwg, t->mdim,
          t->ndim, result);
  if (sec > 0 && (*best_s < 0 || sec < *best_s)) {
    *best = *t;
    *best_s = sec;
  }
}

/* The best tile of the grid for the problems (large: only tiles of 64 x 64
 * and up), the built-in default first so that there is always one, then the
 * grid until the deadline. Prints each candidate's time. */
static bool best_tile(search *s, const clnn_device_caps *caps, const problem *probs, int n, bool large, bool quick,
                      double deadline, tile *best, double *best_s) {
  static const int mn[] = {32, 64, 128};
  static const int kw[] = {8, 16, 32};
  static const int dims[][2] = {{16, 16}, {8, 8}, {8, 16}, {16, 8}, {8, 32}, {32, 8}, {16, 32}, {32, 16}};
  *best_s = -1.0;
  const tile first = large ? (tile){128, 128, 16, 16, 16} : (tile){64, 64, 16, 16, 16}; /* kernels/tune.txt */
  if (tile_ok(&first, caps)) try_tile(s, &first, probs, n, large, best, best_s);
  for (size_t a = 0; a < 3; a++)
    for (size_t b = 0; b < 3; b++)
      for (size_t k = 0; k < 3; k++)
        for (size_t d = 0; d < (quick ? 2 : sizeof dims / sizeof dims[0]); d++) {
          tile t = {mn[a], mn[b], kw[k], dims[d][0], dims[d][1]};
          if (!tile_ok(&t, caps)) continue;
          if (large ? (t.mwg < 64 || t.nwg < 64) : (t.mwg > 64 || t.nwg > 64)) continue;
          if (quick && (t.kwg == 8 || t.mwg != t.nwg)) continue;
          if (!memcmp(&t, &first, sizeof t)) continue;
          if (bench_now_s() > deadline) {
            fprintf(stderr, "clnn-tune: time is up for this search after %d candidates in all\n", s->tried);
            return *best_s > 0.0;
          }
          try_tile(s, &t, probs, n, large, best, best_s);
        }
  return *best_s > 0.0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: clnn-tune [--quick] [--max-seconds S] [--out FILE]\n"
          "  Measures the GPU-class GEMM engine's tile shapes and the plain-GEMM engine on this\n"
          "  device (the default one; CLNN_DEVICE, CLNN_PLATFORM choose another) and prints the\n"
          "  device's section for kernels/tune.txt or a table named by CLNN_TUNE_FILE.\n"
          "  --quick          a smaller grid (square tiles, K slices of 16 and 32)\n"
          "  --max-seconds S  stop exploring after S seconds (default 300)\n"
          "  --out FILE       also write the section to FILE\n"
          "  --tiny           tiny problems (a smoke test of the tool, not a tuning)\n"
          "  On a CPU device, set CLNN_DEVICE_CLASS=gpu: the GPU kernels are what it tunes.\n");
}

int main(int argc, char **argv) {
  bool quick = false, tiny = false;
  double max_s = 300.0;
  const char *out_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
    if (!strcmp(argv[i], "--quick")) quick = true;
    else if (!strcmp(argv[i], "--tiny")) tiny = true;
    else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc) {
      char *end;
      max_s = strtod(argv[++i], &end);
      if (*end || max_s <= 0) return fprintf(stderr, "clnn-tune: --max-seconds needs a positive number\n"), 2;
    } else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
    else return usage(stderr), 2;
  }
  clnn_context *ctx = NULL;
  if (clnn_context_create(NULL, &ctx) != CLNN_SUCCESS)
    return fprintf(stderr, "clnn-tune: %s\n", clnn_context_errmsg(NULL)), 1;
  clnn_device_caps caps;
  clnn_context_device_caps(ctx, &caps);
  clnn_context_free(ctx);
  if (caps.plan_class != CLNN_DEVICE_CLASS_GPU)
    return fprintf(stderr, "clnn-tune: %s is planned as a CPU; its GPU kernels are not used (set "
                           "CLNN_DEVICE_CLASS=gpu to tune them anyway)\n", caps.name), 1;
  /* The candidates' table: a file of our own (mkstemp: created exclusively, mode 0600). */
  snprintf(table_path, sizeof table_path, "%s/clnn-tune-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  int fd = mkstemp(table_path);
  if (fd < 0) return fprintf(stderr, "clnn-tune: cannot create a file in %s: %s\n", table_path, strerror(errno)), 1;
  close(fd);
  fprintf(stderr, "clnn-tune: %s (%s), %u compute units, local memory %llu KiB\n", caps.name, caps.vendor,
          caps.compute_units, (unsigned long long)(caps.local_mem_size >> 10));

  problem small[3], large[2], plain[1];
  const int64_t scale = tiny ? 8 : 1;
  clnn_conv2d_desc c3 = clnn_conv2d_desc_make(8 / scale, 64, 56 / scale, 56 / scale, 64, 3, 3);
  c3.pad_h = c3.pad_w = 1;
  small[0] = (problem){"conv3x3 fwd", P_CONV_FWD, 0, 0, 0, c3};
  small[1] = (problem){"conv3x3 bwd_d", P_CONV_BWD_D, 0, 0, 0, c3};
  small[2] = (problem){"conv3x3 bwd_w", P_CONV_BWD_W, 0, 0, 0, c3};
  clnn_conv2d_desc c1 = clnn_conv2d_desc_make(8 / scale, 256 / scale, 28 / scale, 28 / scale, 256, 1, 1);
  clnn_conv2d_desc none = clnn_conv2d_desc_make(1, 1, 1, 1, 1, 1, 1);
  const int64_t g = 2048 / scale;
  large[0] = (problem){"gemm", P_GEMM, g, g, g, none};
  large[1] = (problem){"conv1x1 fwd", P_CONV_FWD, 0, 0, 0, c1};
  plain[0] = large[0];

  search s = {0};
  tile ts, tl;
  double ss, sl, start = bench_now_s();
  fprintf(stderr, "small tile (%s):\n", tiny ? "tiny conv3x3, three passes" : "conv3x3 anchor, three passes");
  bool have_small = best_tile(&s, &caps, small, 3, false, quick, start + 0.45 * max_s, &ts, &ss);
  fprintf(stderr, "large tile (%s):\n", tiny ? "tiny GEMM and conv1x1" : "2048^3 GEMM and conv1x1 anchor");
  bool have_large = best_tile(&s, &caps, large, 2, true, quick, start + 0.9 * max_s, &tl, &sl);
  if (!have_small || !have_large) {
    unlink(table_path);
    return fprintf(stderr, "clnn-tune: no tile ran on this device\n"), 1;
  }
  double own = score(&tl, plain, 1, "gemm.mm.gpu_tiled"), blas = score(&tl, plain, 1, "gemm.mm.clblast");
  unlink(table_path);
  const double flops = 2.0 * (double)g * (double)g * (double)g;
  fprintf(stderr, "plain %lld^3 GEMM: gemm_gpu %.3f ms (%.0f GFLOP/s), CLBlast %.3f ms (%.0f GFLOP/s)\n", (long long)g,
          own * 1e3, own > 0 ? flops / own * 1e-9 : 0.0, blas * 1e3, blas > 0 ? flops / blas * 1e-9 : 0.0);
  char section[1024];
  snprintf(section, sizeof section,
           "[device %s]\n# clnn-tune%s%s: small tile %.3f ms on the conv3x3 passes, large %.3f ms on its problems\n"
           "gemm.tile_large = %d %d %d %d %d\ngemm.tile_small = %d %d %d %d %d\ngemm.plain = %s\n",
           caps.name, quick ? " --quick" : "", tiny ? " --tiny" : "", ss * 1e3, sl * 1e3, tl.mwg, tl.nwg, tl.kwg, tl.mdim, tl.ndim, ts.mwg,
           ts.nwg, ts.kwg, ts.mdim, ts.ndim, blas > 0 && (own < 0 || blas < own) ? "clblast" : "gpu_tiled");
  fputs(section, stdout);
  if (out_path) {
    FILE *f = fopen(out_path, "w");
    if (!f || fputs(section, f) < 0 || fclose(f) != 0)
      return fprintf(stderr, "clnn-tune: cannot write %s: %s\n", out_path, strerror(errno)), 1;
  }
  return 0;
}
