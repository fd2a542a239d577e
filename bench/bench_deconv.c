/*
 * bench_deconv.c - clnn-bench family "deconv" (transposed convolution):
 *   deconv mb8ic64ih56iw56oc32kh4kw4sh2sw2ph1pw1oph0opw0dh1dw1g1 [act=relu]
 * Keys: the conv keys (mb ic ih iw oc kh kw sh sw ph pw dh dw g act) plus
 * oph / opw, the output padding. Omitted iw/kw/sw/pw/opw/dw copy the h
 * value; stride and dilation default to 1, padding and output padding to
 * 0, g to 1. Tensors: x (mb, ic, ih, iw), w (ic, oc/g, kh, kw), b and db
 * (oc), y and dy (mb, oc, oh, ow), dx like x, dw like w. Passes:
 *   fwd    x, w, b (with a bias) -> y
 *   bwd_d  dy, w -> dx
 *   bwd_w  x, dy -> dw, and db with a bias
 *   bwd    x, w, dy -> dx, dw, and db with a bias (one call); in C and R
 *          modes it runs the forward too (R mode also writes y.npy), in
 *          P mode it times the gradients alone.
 * The backward passes ignore act (dy is the gradient before activation).
 * dt=f16|bf16: every tensor in that type (2 bytes an element).
 * FLOPs per gradient or forward: 2*mb*ic*(oc/g)*kh*kw*ih*iw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static bool parse_desc(bench_args *a, clnn_conv_transpose2d_desc *d, char *err, size_t errlen) {
  bool ok = true;
  *d = clnn_conv_transpose2d_desc_make(0, 0, 0, 0, 0, 0, 0);
  const bool have_n = bench_arg_int(a, "mb", &d->n, &ok); /* "mb0": a batch of 0 */
  bench_arg_int(a, "ic", &d->c, &ok);
  bench_arg_int(a, "oc", &d->k, &ok);
  bench_arg_pair(a, "ih", "iw", 0, &d->h, &d->w, &ok);
  bench_arg_pair(a, "kh", "kw", 0, &d->kh, &d->kw, &ok);
  bench_arg_pair(a, "sh", "sw", 1, &d->stride_h, &d->stride_w, &ok);
  bench_arg_pair(a, "ph", "pw", 0, &d->pad_h, &d->pad_w, &ok);
  bench_arg_pair(a, "oph", "opw", 0, &d->output_pad_h, &d->output_pad_w, &ok);
  bench_arg_pair(a, "dh", "dw", 1, &d->dilation_h, &d->dilation_w, &ok);
  bench_arg_int(a, "g", &d->groups, &ok);
  if (!bench_arg_act(a, &d->act, err, errlen)) return false;
  if (!ok || !have_n || !d->c || !d->h || !d->k || !d->kh)
    return bench_args_explain(a, "deconv", "mb:0 ic ih oc kh", err, errlen);
  if (clnn_conv_transpose2d_desc_check(d, NULL, NULL) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  return true;
}

static bool deconv_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  clnn_conv_transpose2d_desc *d = calloc(1, sizeof *d);
  if (!d) return false;
  p->params = d;
  if (!parse_desc(a, d, err, errlen)) return false;
  int64_t oh, ow;
  clnn_conv_transpose2d_desc_check(d, &oh, &ow);
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  double macs = (double)d->n * d->c * (d->k / d->groups) * d->kh * d->kw * d->h * d->w;
  const char *pass = p->pass;
  bool fwd = !strcmp(pass, "fwd"), all = !strcmp(pass, "bwd");
  bool data = all || !strcmp(pass, "bwd_d"), weights = all || !strcmp(pass, "bwd_w");
  /* bwd also checks (C) or writes (R) the forward; P mode times the gradients alone. */
  bool with_fwd = fwd || (all && bench_opt.mode != 'P');
  if (with_fwd || weights) bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  if (with_fwd || data) bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 4, wd);
  if (with_fwd && p->bias) bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &d->k);
  if (!fwd) bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
  if (with_fwd) bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
  if (data) bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  if (weights) bench_add(p, "dw", BENCH_OUT, CLNN_FLOAT32, 4, wd);
  if (weights && p->bias) bench_add(p, "db", BENCH_OUT, CLNN_FLOAT32, 1, &d->k);
  p->flops = 2.0 * macs * (fwd ? 1 : (data ? 1 : 0) + (weights ? 1 : 0));
  double elems = 0;
  for (int i = 0; i < p->nt; i++) elems += (double)p->t[i].numel;
  p->bytes = bench_elem_bytes(p) * elems; /* every tensor has the problem's float type */
  return true;
}

static clnn_status deconv_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_conv_transpose2d_desc *d = p->params;
  clnn_conv_transpose_algo algo;
  clnn_status ast = strcmp(p->pass, "fwd") ? clnn_conv_transpose2d_bwd_algo(ctx, d, &algo)
                                           : clnn_conv_transpose2d_fwd_algo(ctx, d, &algo);
  if (ast == CLNN_SUCCESS) snprintf(p->algo, sizeof p->algo, "%s", clnn_conv_transpose_algo_name(algo));
  clnn_tensor *y = bench_dev(p, "y"), *dx = bench_dev(p, "dx"), *dw = bench_dev(p, "dw"), *db = bench_dev(p, "db");
  if (y) {
    clnn_status st = clnn_conv_transpose2d_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "w"), bench_dev(p, "b"), y);
    if (st != CLNN_SUCCESS || !strcmp(p->pass, "fwd")) return st;
  }
  if (!strcmp(p->pass, "bwd_d")) return clnn_conv_transpose2d_bwd_data(ctx, d, bench_dev(p, "dy"), bench_dev(p, "w"), dx);
  if (!strcmp(p->pass, "bwd_w")) {
    clnn_status st = clnn_conv_transpose2d_bwd_weights(ctx, d, bench_dev(p, "x"), bench_dev(p, "dy"), dw, 0);
    if (st == CLNN_SUCCESS && db) st = clnn_conv_transpose2d_bwd_bias(ctx, d, bench_dev(p, "dy"), db, 0);
    return st;
  }
  return clnn_conv_transpose2d_bwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "w"), bench_dev(p, "dy"), dx, dw, db, 0);
}

static clnn_status deconv_run_ref(bench_problem *p) {
  const clnn_conv_transpose2d_desc *d = p->params;
  float *y = bench_ref_out(p, "y"), *dx = bench_ref_out(p, "dx"), *dw = bench_ref_out(p, "dw");
  float *db = bench_ref_out(p, "db");
  clnn_status st = CLNN_SUCCESS;
  if (y) st = clnn_ref_conv_transpose2d_fwd(d, bench_ref_in(p, "x"), bench_ref_in(p, "w"), bench_ref_in(p, "b"), y);
  if (st == CLNN_SUCCESS && dx)
    st = clnn_ref_conv_transpose2d_bwd_data(d, bench_ref_in(p, "dy"), bench_ref_in(p, "w"), dx);
  if (st == CLNN_SUCCESS && dw)
    st = clnn_ref_conv_transpose2d_bwd_weights(d, bench_ref_in(p, "x"), bench_ref_in(p, "dy"), dw, 0);
  if (st == CLNN_SUCCESS && db) st = clnn_ref_conv_transpose2d_bwd_bias(d, bench_ref_in(p, "dy"), db, 0);
  return st;
}

static const bench_family deconv_family = {
    .name = "deconv",
    .passes = "fwd,bwd_d,bwd_w,bwd",
    .half = true,
    .setup = deconv_setup,
    .fill = NULL,
    .run_device = deconv_run_device,
    .run_ref = deconv_run_ref,
};

const bench_family *const bench_deconv_families[] = {&deconv_family, NULL};
