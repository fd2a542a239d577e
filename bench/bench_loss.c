/*
 * bench_loss.c - clnn-bench families of the losses:
 *   xent mb128nc10 [ih8 iw8] [smooth=0.1] [ignore=-1] [gs=1]   softmax cross-entropy
 *   softacc mb128nc10 [ih8 iw8] [ignore=-1] [gs=1]             1 - mean softmax(z)[y]
 *   infonce mb256d128 [t=0.1] [cross] [gs=1]                   NT-Xent (cross: CLIP-style)
 * Keys: mb batch, nc classes, ih/iw spatial size of per-pixel logits
 * (logits (mb, nc, ih, iw), labels (mb, ih, iw)), smooth label smoothing,
 * ignore the ignored label value (every 7th label is set to it), gs the
 * gradient scale, d embedding size, t temperature, cross the cross-view
 * variant. Passes: fwd (the loss alone), bwd (loss and gradients, one call).
 * Tensors (.npy names in R mode):
 *   xent, softacc  logits (mb, nc[, ih, iw]), labels (mb[, ih, iw]) int32
 *                  -> loss (1), dlogits (bwd)
 *   infonce        z1, z2 (mb, d) -> loss (1), dz1, dz2 (bwd)
 * dt=f16|bf16: logits and dlogits, z1, z2, dz1 and dz2 in that type; the
 * loss stays float32 and the labels int32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct loss_params {
  clnn_loss_class_desc c;
  clnn_loss_infonce_desc i;
  bool has_ignore;
} loss_params;

static bool is_bwd(const bench_problem *p) { return !strcmp(p->pass, "bwd"); }

static bool read_grad_scale(bench_args *a, float *gs, bool *ok) {
  double v;
  if (bench_arg_real(a, "gs", &v, ok)) *gs = (float)v;
  return *ok;
}

/* The loss: one float32 element whatever the problem's type. */
static void add_loss(bench_problem *p) {
  const int64_t one = 1;
  bench_add(p, "loss", BENCH_OUT, CLNN_FLOAT32, 1, &one)->store = CLNN_FLOAT32;
}

/* ------------------------------------------------------ classification */

static bool class_setup(bench_problem *p, bench_args *a, bool smoothing, char *err, size_t errlen) {
  loss_params *lp = calloc(1, sizeof *lp);
  if (!lp) return false;
  p->params = lp;
  bool ok = true;
  int64_t mb = 0, nc = 0, ih = 0, iw = 0, ignore = -100;
  double smooth = 0.0;
  const bool have_mb = bench_arg_int(a, "mb", &mb, &ok); /* "mb0": a batch of 0 */
  bench_arg_int(a, "nc", &nc, &ok);
  bench_arg_int(a, "ih", &ih, &ok);
  iw = ih;
  bench_arg_int(a, "iw", &iw, &ok);
  lp->has_ignore = bench_arg_int(a, "ignore", &ignore, &ok);
  if (smoothing) bench_arg_real(a, "smooth", &smooth, &ok);
  lp->c = clnn_loss_class_desc_make(mb, nc);
  read_grad_scale(a, &lp->c.grad_scale, &ok);
  /* ih and iw at most 2^30 (every descriptor field's bound) before their product is formed */
  const int64_t dim_max = (int64_t)1 << 30;
  if (!ok || !have_mb || !nc || (ih && !iw) || (!ih && iw) || ih < 0 || iw < 0 || ih > dim_max || iw > dim_max) {
    snprintf(err, errlen, "needs integer mb and nc (and ih, iw in [1, 2^30] for per-pixel logits)");
    return false;
  }
  lp->c.inner = ih ? ih * iw : 1;
  lp->c.label_smoothing = (float)smooth;
  lp->c.ignore_index = (int32_t)ignore;
  if (clnn_loss_class_desc_check(&lp->c) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  int64_t ld[4] = {mb, nc, ih, iw}, yd[3] = {mb, ih, iw};
  const int nd = ih ? 4 : 2;
  bench_tensor *logits = bench_add(p, "logits", BENCH_IN, CLNN_FLOAT32, nd, ld);
  logits->fill = BENCH_FILL_NORMAL;
  logits->lo = 0.0;
  logits->hi = 3.0;
  bench_add(p, "labels", BENCH_IN, CLNN_INT32, nd - 1, yd)->fill = BENCH_FILL_CUSTOM;
  add_loss(p);
  if (is_bwd(p)) bench_add(p, "dlogits", BENCH_OUT, CLNN_FLOAT32, nd, ld);
  /* logits (and dlogits) in the problem's type, one int32 label per position */
  p->bytes = (double)(mb * lp->c.inner) * (bench_elem_bytes(p) * (double)(nc * (is_bwd(p) ? 2 : 1)) + 4.0);
  return true;
}

/* Labels uniform in [0, nc); every 7th is the ignored value when one is given. */
static void class_fill(bench_problem *p, bench_tensor *t, uint64_t seed) {
  const loss_params *lp = p->params;
  int32_t *y = t->host;
  uint64_t s = seed;
  for (size_t i = 0; i < t->numel; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    y[i] = (int32_t)((s >> 33) % (uint64_t)lp->c.classes);
    if (lp->has_ignore && i % 7 == 3) y[i] = lp->c.ignore_index;
  }
}

static bool xent_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  return class_setup(p, a, true, err, errlen);
}
static bool softacc_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  return class_setup(p, a, false, err, errlen);
}

static clnn_status xent_run_device(clnn_context *ctx, bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_loss_xent(ctx, &lp->c, bench_dev(p, "logits"), bench_dev(p, "labels"), bench_dev(p, "loss"),
                        bench_dev(p, "dlogits"));
}
static clnn_status xent_run_ref(bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_ref_loss_xent(&lp->c, bench_ref_in(p, "logits"), (const int32_t *)bench_ref_in(p, "labels"),
                            bench_ref_out(p, "loss"), bench_ref_out(p, "dlogits"));
}
static clnn_status softacc_run_device(clnn_context *ctx, bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_loss_soft_accuracy(ctx, &lp->c, bench_dev(p, "logits"), bench_dev(p, "labels"),
                                 bench_dev(p, "loss"), bench_dev(p, "dlogits"));
}
static clnn_status softacc_run_ref(bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_ref_loss_soft_accuracy(&lp->c, bench_ref_in(p, "logits"), (const int32_t *)bench_ref_in(p, "labels"),
                                     bench_ref_out(p, "loss"), bench_ref_out(p, "dlogits"));
}

/* ------------------------------------------------------------- InfoNCE */

static bool infonce_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  loss_params *lp = calloc(1, sizeof *lp);
  if (!lp) return false;
  p->params = lp;
  bool ok = true;
  int64_t mb = 0, dim = 0;
  double t = 0.1;
  bench_arg_int(a, "mb", &mb, &ok);
  bench_arg_int(a, "d", &dim, &ok);
  bench_arg_real(a, "t", &t, &ok);
  lp->i = clnn_loss_infonce_desc_make(mb, dim, (float)t);
  if (bench_arg_word(a, "cross")) lp->i.variant = CLNN_INFONCE_CROSS_VIEW;
  read_grad_scale(a, &lp->i.grad_scale, &ok);
  if (!ok || !mb || !dim) {
    snprintf(err, errlen, "infonce needs integer mb and d (and numeric t, gs)");
    return false;
  }
  if (clnn_loss_infonce_desc_check(&lp->i) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  int64_t zd[2] = {mb, dim};
  bench_add(p, "z1", BENCH_IN, CLNN_FLOAT32, 2, zd)->fill = BENCH_FILL_NORMAL;
  bench_add(p, "z2", BENCH_IN, CLNN_FLOAT32, 2, zd)->fill = BENCH_FILL_NORMAL;
  bench_find(p, "z1")->lo = bench_find(p, "z2")->lo = 0.0;
  add_loss(p);
  if (is_bwd(p)) {
    bench_add(p, "dz1", BENCH_OUT, CLNN_FLOAT32, 2, zd);
    bench_add(p, "dz2", BENCH_OUT, CLNN_FLOAT32, 2, zd);
  }
  /* similarity GEMM (2n x 2n, or n x n cross-view), and the gradient GEMMs (one, or two for cross-view) */
  const double side = lp->i.variant == CLNN_INFONCE_CROSS_VIEW ? (double)mb : 2.0 * (double)mb;
  const double gemm = 2.0 * side * side * (double)dim;
  p->flops = gemm * (is_bwd(p) ? (lp->i.variant == CLNN_INFONCE_CROSS_VIEW ? 3.0 : 2.0) : 1.0);
  p->bytes = bench_elem_bytes(p) * 2.0 * (double)(mb * dim) * (is_bwd(p) ? 2.0 : 1.0);
  return true;
}

static clnn_status infonce_run_device(clnn_context *ctx, bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_loss_infonce(ctx, &lp->i, bench_dev(p, "z1"), bench_dev(p, "z2"), bench_dev(p, "loss"),
                           bench_dev(p, "dz1"), bench_dev(p, "dz2"));
}
static clnn_status infonce_run_ref(bench_problem *p) {
  const loss_params *lp = p->params;
  return clnn_ref_loss_infonce(&lp->i, bench_ref_in(p, "z1"), bench_ref_in(p, "z2"), bench_ref_out(p, "loss"),
                               bench_ref_out(p, "dz1"), bench_ref_out(p, "dz2"));
}

static const bench_family xent_family = {"xent", "fwd,bwd", xent_setup, class_fill, xent_run_device,
                                         xent_run_ref, true};
static const bench_family softacc_family = {"softacc", "fwd,bwd", softacc_setup, class_fill,
                                            softacc_run_device, softacc_run_ref, true};
static const bench_family infonce_family = {"infonce", "fwd,bwd", infonce_setup, NULL, infonce_run_device,
                                            infonce_run_ref, true};

const bench_family *const bench_loss_families[] = {&xent_family, &softacc_family, &infonce_family, NULL};
