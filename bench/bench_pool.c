/*
 * bench_pool.c - clnn-bench family "pool" (2-D pooling):
 *   pool mb8ic64ih56 max kh3sh2ph1          ResNet's stem max pool
 *   pool mb2ic8ih13iw11 avg kh3sh2ph1 ceil
 *   pool mb2ic8ih13 avg_exclude kh3sh1ph1 div=4
 *   pool mb8ic1280ih7 global                 global average pool
 * Keys: mb ic ih iw kh kw sh sw ph pw (iw/kw/sw/pw copy the h value; stride
 * defaults to the kernel, padding to 0), div (divisor_override). Words: the
 * mode (max, avg = count_include_pad, avg_exclude = not counting the
 * padding), ceil (ceil_mode), global (average over the whole plane; no kh).
 * Passes and tensors (.npy names in R mode):
 *   fwd: x (mb, ic, ih, iw) -> y (mb, ic, oh, ow), and for max indices
 *        (int32, like y: iy * iw + ix within the plane)
 *   bwd: dy (like y), indices (max only) -> dx (like x)
 * In C and P modes the backward's indices come from a max pool of random x.
 * dt=f16|bf16: x, y, dy and dx in that type (the indices stay int32).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct pool_params {
  clnn_pool2d_desc d;
  int64_t oh, ow;
} pool_params;

static bool parse_mode(bench_args *a, clnn_pool2d_desc *d, bool *global, char *err, size_t errlen) {
  int found = 0;
  *global = bench_arg_word(a, "global");
  if (bench_arg_word(a, "max")) d->mode = CLNN_POOL_MAX, found++;
  if (bench_arg_word(a, "avg")) d->mode = CLNN_POOL_AVG, found++;
  if (bench_arg_word(a, "avg_exclude")) d->mode = CLNN_POOL_AVG_EXCLUDE_PAD, found++;
  if (*global && !found) d->mode = CLNN_POOL_AVG, found++;
  if (found != 1) {
    snprintf(err, errlen, "pool needs one mode word: max, avg, avg_exclude (or global)");
    return false;
  }
  return true;
}

static bool pool_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  pool_params *pp = calloc(1, sizeof *pp);
  if (!pp) return false;
  p->params = pp;
  clnn_pool2d_desc *d = &pp->d;
  bool ok = true, global;
  int64_t v, n = 0, c = 0, h = 0, w;
  const bool have_n = bench_arg_int(a, "mb", &n, &ok); /* "mb0": a batch of 0 */
  const bool have_c = bench_arg_int(a, "ic", &c, &ok);
  bench_arg_int(a, "ih", &h, &ok);
  w = h;
  bench_arg_int(a, "iw", &w, &ok);
  *d = clnn_pool2d_desc_make(n, c, h, w, CLNN_POOL_MAX, 0, 0);
  if (!parse_mode(a, d, &global, err, errlen)) return false;
  if (global) {
    clnn_pool_mode mode = d->mode;
    *d = clnn_pool2d_desc_global(n, c, h, w);
    d->mode = mode;
  }
  struct {
    const char *h, *w;
    int64_t *ph, *pw;
  } pairs[] = {{"kh", "kw", &d->kh, &d->kw}, {"sh", "sw", &d->stride_h, &d->stride_w}, {"ph", "pw", &d->pad_h, &d->pad_w}};
  for (int i = 0; i < 3; i++) {
    bool has_h = bench_arg_int(a, pairs[i].h, &v, &ok);
    if (has_h) *pairs[i].ph = *pairs[i].pw = v;
    if (bench_arg_int(a, pairs[i].w, &v, &ok)) *pairs[i].pw = v;
    if (i == 0 && has_h) d->stride_h = d->kh, d->stride_w = d->kw; /* stride defaults to the kernel */
    if (i == 0 && has_h && global) {
      snprintf(err, errlen, "global pooling takes no kernel size");
      return false;
    }
  }
  if (bench_arg_int(a, "div", &v, &ok)) d->divisor = v;
  d->ceil_mode = bench_arg_word(a, "ceil");
  if (!ok || !have_n || !have_c || !h || !d->kh)
    return bench_args_explain(a, "pool", global ? "mb:0 ic:0 ih" : "mb:0 ic:0 ih kh", err, errlen);
  if (clnn_pool2d_desc_check(d, &pp->oh, &pp->ow) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  int64_t xd[4] = {n, c, h, w}, yd[4] = {n, c, pp->oh, pp->ow};
  bool max = d->mode == CLNN_POOL_MAX;
  double nx = (double)n * c * h * w, ny = (double)n * c * pp->oh * pp->ow;
  if (!strcmp(p->pass, "fwd")) {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd)->fill = BENCH_FILL_NORMAL;
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
    if (max) bench_add(p, "indices", BENCH_OUT, CLNN_INT32, 4, yd);
  } else {
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd)->fill = BENCH_FILL_NORMAL;
    if (max) bench_add(p, "indices", BENCH_IN, CLNN_INT32, 4, yd)->fill = BENCH_FILL_CUSTOM;
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  }
  p->bytes = bench_elem_bytes(p) * (nx + ny) + (max ? 4.0 * ny : 0.0); /* the indices stay int32 */
  return true;
}

/* The backward's indices: those of a max pool of random x. */
static void pool_fill(bench_problem *p, bench_tensor *t, uint64_t seed) {
  const pool_params *pp = p->params;
  const clnn_pool2d_desc *d = &pp->d;
  size_t nx = (size_t)(d->n * d->c * d->h * d->w), ny = t->numel;
  float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y);
  if (!x || !y) {
    free(x);
    free(y);
    return;
  }
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < nx; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = (float)((s >> 40) * 0x1.0p-24);
  }
  clnn_ref_pool2d_fwd(d, x, y, t->host);
  free(x);
  free(y);
}

static clnn_status pool_run_device(clnn_context *ctx, bench_problem *p) {
  const pool_params *pp = p->params;
  const clnn_pool2d_desc *d = &pp->d;
  bool global = d->mode != CLNN_POOL_MAX && d->kh == d->h && d->kw == d->w && !d->pad_h && !d->pad_w;
  snprintf(p->algo, sizeof p->algo, "%s", global ? "global_avg" : d->mode == CLNN_POOL_MAX ? "max" : "avg");
  if (!strcmp(p->pass, "fwd")) return clnn_pool2d_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "y"), bench_dev(p, "indices"));
  return clnn_pool2d_bwd(ctx, d, bench_dev(p, "dy"), bench_dev(p, "indices"), bench_dev(p, "dx"));
}

static clnn_status pool_run_ref(bench_problem *p) {
  const pool_params *pp = p->params;
  if (!strcmp(p->pass, "fwd")) {
    bench_tensor *idx = bench_find(p, "indices");
    return clnn_ref_pool2d_fwd(&pp->d, bench_ref_in(p, "x"), bench_ref_out(p, "y"), idx ? idx->ref : NULL);
  }
  bench_tensor *idx = bench_find(p, "indices");
  return clnn_ref_pool2d_bwd(&pp->d, bench_ref_in(p, "dy"), idx ? idx->host : NULL, bench_ref_out(p, "dx"));
}

static const bench_family pool_family = {
    .name = "pool",
    .passes = "fwd,bwd",
    .half = true,
    .setup = pool_setup,
    .fill = pool_fill,
    .run_device = pool_run_device,
    .run_ref = pool_run_ref,
};

const bench_family *const bench_pool_families[] = {&pool_family, NULL};
