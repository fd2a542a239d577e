/*
 * bench_conv.c - clnn-bench family "conv":
 *   conv mb2ic8ih13iw11oc16kh3kw3sh2sw2ph1pw1dh1dw1g2 [act=relu]
 * Keys: mb ic ih iw oc kh kw sh sw ph pw dh dw g. Omitted iw/kw/sw/pw/dw copy
 * the h value; stride and dilation default to 1, padding to 0, g to 1.
 * Passes and their tensors (x (mb, ic, ih, iw), w (oc, ic/g, kh, kw),
 * b and db (oc), y and dy (mb, oc, oh, ow), dx like x, dw like w):
 *   fwd    x, w, b (with a bias) -> y
 *   bwd_d  dy, w -> dx
 *   bwd_w  x, dy -> dw, and db with a bias
 *   bwd    x, w, dy -> dx, dw, and db with a bias
 * The backward passes ignore act (dy is the gradient before activation).
 * dt=f16|bf16: every tensor in that type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

bool bench_conv_desc_parse(bench_args *a, clnn_conv2d_desc *d, char *err, size_t errlen) {
  bool ok = true;
  int64_t v;
  *d = clnn_conv2d_desc_make(0, 0, 0, 0, 0, 0, 0);
  bench_arg_pair(a, "ih", "iw", 0, &d->h, &d->w, &ok);
  bench_arg_pair(a, "kh", "kw", 0, &d->kh, &d->kw, &ok);
  bench_arg_pair(a, "sh", "sw", 1, &d->stride_h, &d->stride_w, &ok);
  bench_arg_pair(a, "ph", "pw", 0, &d->pad_h, &d->pad_w, &ok);
  bench_arg_pair(a, "dh", "dw", 1, &d->dilation_h, &d->dilation_w, &ok);
  const bool have_n = bench_arg_int(a, "mb", &v, &ok);
  if (have_n) d->n = v; /* "mb0": a batch of 0, for the ops that take one */
  if (bench_arg_int(a, "ic", &v, &ok)) d->c = v;
  if (bench_arg_int(a, "oc", &v, &ok)) d->k = v;
  d->groups = 1;
  if (bench_arg_int(a, "g", &v, &ok)) d->groups = v;
  if (!bench_arg_act(a, &d->act, err, errlen)) return false;
  if (!ok || !have_n || !d->c || !d->h || !d->k || !d->kh)
    return bench_args_explain(a, "conv", "mb:0 ic ih oc kh", err, errlen);
  /* The rest is checked as for one image; the op says whether it takes 0. */
  clnn_conv2d_desc one = *d;
  if (one.n == 0) one.n = 1;
  clnn_status st = clnn_conv2d_desc_check(&one, NULL, NULL);
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  return true;
}

static double tensor_bytes(const bench_problem *p) {
  double b = 0;
  for (int i = 0; i < p->nt; i++) b += (double)p->t[i].numel;
  return bench_elem_bytes(p) * b; /* every tensor has the problem's float type */
}

static bool conv_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  clnn_conv2d_desc *d = calloc(1, sizeof *d);
  if (!d) return false;
  p->params = d;
  if (!bench_conv_desc_parse(a, d, err, errlen)) return false;
  int64_t oh, ow;
  clnn_conv2d_desc_check(d, &oh, &ow);
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  double macs = (double)d->n * d->k * (d->c / d->groups) * d->kh * d->kw * oh * ow;
  const char *pass = p->pass;
  bool fwd = !strcmp(pass, "fwd"), all = !strcmp(pass, "bwd");
  bool data = all || !strcmp(pass, "bwd_d"), weights = all || !strcmp(pass, "bwd_w");
  if (fwd) {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
    bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 4, wd);
    if (p->bias) bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &d->k);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
    p->flops = 2.0 * macs;
  } else {
    if (weights) bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
    if (data) bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 4, wd);
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
    if (data) bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
    if (weights) bench_add(p, "dw", BENCH_OUT, CLNN_FLOAT32, 4, wd);
    if (weights && p->bias) bench_add(p, "db", BENCH_OUT, CLNN_FLOAT32, 1, &d->k);
    p->flops = 2.0 * macs * ((data ? 1 : 0) + (weights ? 1 : 0));
  }
  p->bytes = tensor_bytes(p);
  return true;
}

static clnn_status conv_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_conv2d_desc *d = p->params;
  clnn_conv_algo algo;
  if (!strcmp(p->pass, "fwd")) {
    if (clnn_conv2d_fwd_algo(ctx, d, &algo) == CLNN_SUCCESS)
      snprintf(p->algo, sizeof p->algo, "%s", clnn_conv_algo_name(algo));
    return clnn_conv2d_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "w"), bench_dev(p, "b"), bench_dev(p, "y"));
  }
  p->algo[0] = '\0';
  clnn_tensor *dx = bench_dev(p, "dx"), *dw = bench_dev(p, "dw"), *db = bench_dev(p, "db");
  if (dx) {
    if (clnn_conv2d_bwd_data_algo(ctx, d, &algo) == CLNN_SUCCESS)
      snprintf(p->algo, sizeof p->algo, "%s", clnn_conv_algo_name(algo));
    clnn_status st = clnn_conv2d_bwd_data(ctx, d, bench_dev(p, "dy"), bench_dev(p, "w"), dx);
    if (st != CLNN_SUCCESS) return st;
  }
  if (dw) {
    if (clnn_conv2d_bwd_weights_algo(ctx, d, &algo) == CLNN_SUCCESS) {
      size_t n = strlen(p->algo);
      snprintf(p->algo + n, sizeof p->algo - n, "%s%s", n ? "+" : "", clnn_conv_algo_name(algo));
    }
    clnn_status st = clnn_conv2d_bwd_weights(ctx, d, bench_dev(p, "x"), bench_dev(p, "dy"), dw, 0);
    if (st != CLNN_SUCCESS) return st;
  }
  if (db) return clnn_conv2d_bwd_bias(ctx, d, bench_dev(p, "dy"), db, 0);
  return CLNN_SUCCESS;
}

static clnn_status conv_run_ref(bench_problem *p) {
  const clnn_conv2d_desc *d = p->params;
  if (!strcmp(p->pass, "fwd"))
    return clnn_ref_conv2d_fwd(d, bench_ref_in(p, "x"), bench_ref_in(p, "w"), bench_ref_in(p, "b"),
                               bench_ref_out(p, "y"));
  float *dx = bench_ref_out(p, "dx"), *dw = bench_ref_out(p, "dw"), *db = bench_ref_out(p, "db");
  clnn_status st = CLNN_SUCCESS;
  if (dx) st = clnn_ref_conv2d_bwd_data(d, bench_ref_in(p, "dy"), bench_ref_in(p, "w"), dx);
  if (st == CLNN_SUCCESS && dw) st = clnn_ref_conv2d_bwd_weights(d, bench_ref_in(p, "x"), bench_ref_in(p, "dy"), dw, 0);
  if (st == CLNN_SUCCESS && db) st = clnn_ref_conv2d_bwd_bias(d, bench_ref_in(p, "dy"), db, 0);
  return st;
}

static const bench_family conv_family = {
    .name = "conv",
    .passes = "fwd,bwd_d,bwd_w,bwd",
    .half = true,
    .setup = conv_setup,
    .fill = NULL,
    .run_device = conv_run_device,
    .run_ref = conv_run_ref,
};

const bench_family *const bench_conv_families[] = {&conv_family, NULL};
