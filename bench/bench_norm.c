/*
 * bench_norm.c - clnn-bench family "bnorm" (batch normalisation):
 *   bnorm mb8ic144ih56                      training forward (PyTorch's default)
 *   bnorm mb8ic144ih56 infer                inference forward (the "BN apply")
 *   bnorm mb8ic144ih56 act=silu momentum=none nbt=3
 *   bnorm mb2ic16ih7 noaffine mean=1e4      inputs 1e4 + N(0,1)
 * Keys: mb ic ih iw (iw = ih when omitted); eps (1e-5); momentum (0.1, or
 * "none": the cumulative average, PyTorch's momentum=None); nbt (the
 * num_batches_tracked counter before the call, 0); act (fused activation);
 * mean, std (x ~ N(mean, std), default 0 and 1). Words: infer (inference
 * mode: running statistics), noaffine (no gamma / beta).
 * Passes and tensors (.npy names in R mode):
 *   fwd, training:  x gamma beta running_mean running_var -> y save_mean
 *                   save_invstd, running_mean running_var (updated)
 *   fwd, infer:     x gamma beta running_mean running_var -> y
 *   bwd, training:  x dy gamma beta save_mean save_invstd -> dx dgamma dbeta
 *   bwd, infer:     x dy gamma beta running_mean running_var -> dx dgamma dbeta
 * (gamma, beta, dgamma, dbeta only when affine). In C and P modes save_mean
 * and save_invstd are the batch statistics of x.
 * dt=f16|bf16: x, y, dy and dx in that type; the per-channel tensors
 * (gamma, beta, the statistics, dgamma, dbeta) stay float32, as the library
 * takes them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct norm_params {
  clnn_batchnorm_desc d;
  bool infer;
  int64_t nbt; /* counter before each call */
} norm_params;

static bool parse_momentum(bench_args *a, clnn_batchnorm_desc *d, char *err, size_t errlen) {
  const char *m;
  if (!bench_arg_str(a, "momentum", &m)) return true;
  if (!strcmp(m, "none")) {
    d->cumulative = 1;
    return true;
  }
  char *end;
  d->momentum = strtof(m, &end);
  if (*end || !*m) {
    snprintf(err, errlen, "momentum must be a number or none, not '%s'", m);
    return false;
  }
  return true;
}

static bool parse_act(bench_args *a, clnn_batchnorm_desc *d, char *err, size_t errlen) {
  const char *act;
  if (!bench_arg_str(a, "act", &act)) return true;
  for (int i = 0; i < CLNN_ACT_COUNT_; i++)
    if (!strcmp(act, clnn_activation_name((clnn_activation)i))) {
      d->act = (clnn_activation)i;
      d->act_alpha = i == CLNN_ACT_LEAKY_RELU ? 0.01f : 1.0f;
      return true;
    }
  snprintf(err, errlen, "unknown activation '%s'", act);
  return false;
}

/* A per-channel tensor: float32 whatever the problem's dt (bench_add would
 * store it in that type). */
static bench_tensor *add_channel(bench_problem *p, const char *name, bench_role role, const int64_t *c) {
  bench_tensor *t = bench_add(p, name, role, CLNN_FLOAT32, 1, c);
  t->store = CLNN_FLOAT32;
  return t;
}

static bool norm_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  norm_params *np = calloc(1, sizeof *np);
  if (!np) return false;
  p->params = np;
  bool ok = true;
  int64_t n = 0, c = 0, h = 0, w;
  /* present keys, not non-zero ones: "mb0" is an empty batch */
  const bool have_n = bench_arg_int(a, "mb", &n, &ok), have_c = bench_arg_int(a, "ic", &c, &ok);
  const bool have_h = bench_arg_int(a, "ih", &h, &ok);
  w = h;
  bench_arg_int(a, "iw", &w, &ok);
  if (!ok || !have_n || !have_c || !have_h) return bench_args_explain(a, "bnorm", "mb:0 ic:0 ih:0", err, errlen);
  clnn_batchnorm_desc *d = &np->d;
  *d = clnn_batchnorm_desc_make(n, c, h, w);
  double v, mean = 0.0, std = 1.0;
  if (bench_arg_real(a, "eps", &v, &ok)) d->eps = (float)v;
  if (bench_arg_real(a, "mean", &v, &ok)) mean = v;
  if (bench_arg_real(a, "std", &v, &ok)) std = v;
  bench_arg_int(a, "nbt", &np->nbt, &ok);
  np->infer = bench_arg_word(a, "infer");
  if (bench_arg_word(a, "noaffine")) d->affine = 0;
  if (!ok) {
    snprintf(err, errlen, "eps, mean, std and nbt take numbers");
    return false;
  }
  if (!parse_momentum(a, d, err, errlen) || !parse_act(a, d, err, errlen)) return false;
  if (clnn_batchnorm_desc_check(d) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  if (!np->infer && n * h * w == 1) { /* the library says so at run time; say it as a descriptor error */
    snprintf(err, errlen, "training batch norm needs more than one value per channel (mb*ih*iw = %lld)",
             (long long)(n * h * w));
    return false;
  }
  int64_t xd[4] = {n, c, h, w};
  bool fwd = !strcmp(p->pass, "fwd");
  bench_tensor *x = bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  x->fill = BENCH_FILL_NORMAL;
  x->lo = mean;
  x->hi = std;
  if (!fwd) bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, xd)->fill = BENCH_FILL_NORMAL;
  if (d->affine) {
    bench_tensor *g = add_channel(p, "gamma", BENCH_IN, &c);
    g->lo = 0.5;
    g->hi = 1.5;
    add_channel(p, "beta", BENCH_IN, &c);
  }
  if (np->infer || fwd) {
    bench_role role = np->infer ? BENCH_IN : BENCH_INOUT;
    bench_tensor *rm = add_channel(p, "running_mean", role, &c);
    rm->lo = mean - 0.5 * std;
    rm->hi = mean + 0.5 * std;
    bench_tensor *rv = add_channel(p, "running_var", role, &c);
    rv->lo = 0.5 * std * std;
    rv->hi = 2.0 * std * std;
  } else {
    add_channel(p, "save_mean", BENCH_IN, &c)->fill = BENCH_FILL_CUSTOM;
    add_channel(p, "save_invstd", BENCH_IN, &c)->fill = BENCH_FILL_CUSTOM;
  }
  double nx = (double)n * c * h * w;
  if (fwd) {
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, xd);
    if (!np->infer) {
      /* The batch mean of centred data is ~std / sqrt(M), near 0: its relative
       * error overstates an absolute error of a few float ulps of std. */
      add_channel(p, "save_mean", BENCH_OUT, &c)->tol = 1e-4;
      add_channel(p, "save_invstd", BENCH_OUT, &c);
    }
    p->bytes = bench_elem_bytes(p) * 2.0 * nx; /* x and y (the per-channel tensors are negligible) */
  } else {
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
    if (d->affine) {
      /* Sums of n*h*w terms that may nearly cancel (dgamma ~ N(0, sqrt(M))
       * for random dy): the float32 sums' error, about eps * sqrt(M) of the
       * terms' scale, is relatively large where a channel's sum is small
       * (seen: 5e-4 on a dgamma of 1.07, M = 25088, in float16 draws). */
      add_channel(p, "dgamma", BENCH_OUT, &c)->tol = 1e-4;
      add_channel(p, "dbeta", BENCH_OUT, &c)->tol = 1e-4;
    }
    p->bytes = bench_elem_bytes(p) * 3.0 * nx; /* x, dy and dx */
  }
  return true;
}

/* save_mean / save_invstd: the batch statistics of x (exact, in double). */
static void norm_fill(bench_problem *p, bench_tensor *t, uint64_t seed) {
  (void)seed;
  const norm_params *np = p->params;
  const clnn_batchnorm_desc *d = &np->d;
  const float *x = bench_ref_in(p, "x");
  float *out = t->host;
  const int64_t hw = d->h * d->w, m = d->n * hw;
  bool want_mean = !strcmp(t->name, "save_mean");
  for (int64_t ch = 0; ch < d->c; ch++) {
    double s = 0.0, s2 = 0.0;
    for (int64_t img = 0; img < d->n; img++)
      for (int64_t i = 0; i < hw; i++) s += x[(img * d->c + ch) * hw + i];
    const double mean = s / (double)m;
    for (int64_t img = 0; img < d->n; img++)
      for (int64_t i = 0; i < hw; i++) {
        const double dev = x[(img * d->c + ch) * hw + i] - mean;
        s2 += dev * dev;
      }
    out[ch] = (float)(want_mean ? mean : 1.0 / sqrt(s2 / (double)m + (double)d->eps));
  }
}

static clnn_status norm_run_device(clnn_context *ctx, bench_problem *p) {
  norm_params *np = p->params;
  const clnn_batchnorm_desc *d = &np->d;
  snprintf(p->algo, sizeof p->algo, "%s%s%s", np->infer ? "inference" : "training",
           d->act ? "+" : "", d->act ? clnn_activation_name(d->act) : "");
  clnn_tensor *x = bench_dev(p, "x"), *g = bench_dev(p, "gamma"), *b = bench_dev(p, "beta");
  if (!strcmp(p->pass, "fwd")) {
    if (np->infer)
      return clnn_batchnorm_fwd_inference(ctx, d, x, g, b, bench_dev(p, "running_mean"), bench_dev(p, "running_var"),
                                          bench_dev(p, "y"));
    int64_t nbt = np->nbt;
    return clnn_batchnorm_fwd_training(ctx, d, x, g, b, bench_dev(p, "y"), bench_dev(p, "save_mean"),
                                       bench_dev(p, "save_invstd"), bench_dev(p, "running_mean"),
                                       bench_dev(p, "running_var"), &nbt);
  }
  if (np->infer)
    return clnn_batchnorm_bwd_inference(ctx, d, x, bench_dev(p, "dy"), g, b, bench_dev(p, "running_mean"),
                                        bench_dev(p, "running_var"), bench_dev(p, "dx"), bench_dev(p, "dgamma"),
                                        bench_dev(p, "dbeta"));
  return clnn_batchnorm_bwd(ctx, d, x, bench_dev(p, "dy"), g, b, bench_dev(p, "save_mean"),
                            bench_dev(p, "save_invstd"), bench_dev(p, "dx"), bench_dev(p, "dgamma"),
                            bench_dev(p, "dbeta"));
}

static clnn_status norm_run_ref(bench_problem *p) {
  norm_params *np = p->params;
  const clnn_batchnorm_desc *d = &np->d;
  const float *x = bench_ref_in(p, "x"), *g = bench_ref_in(p, "gamma"), *b = bench_ref_in(p, "beta");
  if (!strcmp(p->pass, "fwd")) {
    if (np->infer)
      return clnn_ref_batchnorm_fwd_inference(d, x, g, b, bench_ref_in(p, "running_mean"),
                                              bench_ref_in(p, "running_var"), bench_ref_out(p, "y"));
    int64_t nbt = np->nbt;
    return clnn_ref_batchnorm_fwd_training(d, x, g, b, bench_ref_out(p, "y"), bench_ref_out(p, "save_mean"),
                                           bench_ref_out(p, "save_invstd"), bench_ref_out(p, "running_mean"),
                                           bench_ref_out(p, "running_var"), &nbt);
  }
  if (np->infer)
    return clnn_ref_batchnorm_bwd_inference(d, x, bench_ref_in(p, "dy"), g, b, bench_ref_in(p, "running_mean"),
                                            bench_ref_in(p, "running_var"), bench_ref_out(p, "dx"),
                                            bench_ref_out(p, "dgamma"), bench_ref_out(p, "dbeta"));
  return clnn_ref_batchnorm_bwd(d, x, bench_ref_in(p, "dy"), g, b, bench_ref_in(p, "save_mean"),
                                bench_ref_in(p, "save_invstd"), bench_ref_out(p, "dx"), bench_ref_out(p, "dgamma"),
                                bench_ref_out(p, "dbeta"));
}

static const bench_family norm_family = {
    .name = "bnorm",
    .passes = "fwd,bwd",
    .half = true,
    .setup = norm_setup,
    .fill = norm_fill,
    .run_device = norm_run_device,
    .run_ref = norm_run_ref,
};

const bench_family *const bench_norm_families[] = {&norm_family, NULL};
