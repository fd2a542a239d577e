/*
 * bench_deform_conv.c - clnn-bench family "deform_conv":
 *   deform_conv mb2ic8ih13iw11oc16kh3kw3sh1sw1ph1pw1dh1dw1g1dg2m1 [act=relu]
 * Keys: the conv keys (bench_conv_desc_parse: mb ic ih iw oc kh kw sh sw ph pw
 * dh dw g act), plus dg (offset groups, default 1) and m (1: modulated v2
 * with a mask, default 0).
 * Passes:
 *   fwd  x, offset, mask (m1), w, b (with bias) -> y
 *   bwd  x, offset, mask (m1), w, b (with bias), dy -> y, dx, doffset,
 *        dmask (m1), dw, db (with bias). C and R modes run the forward too
 *        (R mode writes y.npy, as the other families' bwd passes do); P mode
 *        times the gradients alone.
 * Random inputs (C, P) follow the project's anchor suite: offsets N(0, 1),
 * mask U(0, 1), the rest U(-1, 1).
 * dt=f16|bf16: every tensor in that type (the op computes in float32 and
 * rounds each output once); bytes count 2 an element.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static bool dc_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  clnn_deform_conv2d_desc *dd = calloc(1, sizeof *dd);
  if (!dd) return false;
  p->params = dd;
  int64_t dg = 1, m = 0;
  bool ok = true;
  bench_arg_int(a, "dg", &dg, &ok);
  bench_arg_int(a, "m", &m, &ok);
  if (!ok) {
    snprintf(err, errlen, "dg and m need integer values");
    return false;
  }
  if (!bench_conv_desc_parse(a, &dd->conv, err, errlen)) return false;
  dd->offset_groups = dg;
  dd->modulated = (int)m;
  if (m != 0 && m != 1) {
    snprintf(err, errlen, "m must be 0 (v1) or 1 (v2, modulated)");
    return false;
  }
  int64_t oh, ow;
  if (clnn_deform_conv2d_desc_check(dd, &oh, &ow) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  const clnn_conv2d_desc *d = &dd->conv;
  const int64_t taps = d->kh * d->kw;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t od[4] = {d->n, 2 * dg * taps, oh, ow}, md[4] = {d->n, dg * taps, oh, ow};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  bool bwd = !strcmp(p->pass, "bwd");
  bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  bench_tensor *t = bench_add(p, "offset", BENCH_IN, CLNN_FLOAT32, 4, od);
  t->fill = BENCH_FILL_NORMAL, t->lo = 0.0, t->hi = 1.0;
  if (m) {
    t = bench_add(p, "mask", BENCH_IN, CLNN_FLOAT32, 4, md);
    t->lo = 0.0, t->hi = 1.0;
  }
  bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 4, wd);
  if (p->bias) bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &d->k);
  double macs = (double)d->n * d->k * (d->c / d->groups) * taps * oh * ow;
  const double eb = bench_elem_bytes(p);
  double in_bytes =
      eb * ((double)d->n * d->c * d->h * d->w + (double)d->n * (2 + m) * dg * taps * oh * ow +
             (double)d->k * (d->c / d->groups) * taps);
  double y_bytes = eb * (double)d->n * d->k * oh * ow;
  if (!bwd) {
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
    p->flops = 2.0 * macs;
    p->bytes = in_bytes + y_bytes + (p->bias ? eb * d->k : 0.0);
    return true;
  }
  bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
  if (bench_opt.mode != 'P') bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
  bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  /* doffset sums differences of neighbouring pixels: a little more rounding. */
  bench_add(p, "doffset", BENCH_OUT, CLNN_FLOAT32, 4, od)->tol = 1e-4;
  if (m) bench_add(p, "dmask", BENCH_OUT, CLNN_FLOAT32, 4, md);
  bench_add(p, "dw", BENCH_OUT, CLNN_FLOAT32, 4, wd);
  if (p->bias) bench_add(p, "db", BENCH_OUT, CLNN_FLOAT32, 1, &d->k);
  p->flops = 4.0 * macs; /* the dcol and dw GEMMs, as the anchors count it */
  p->bytes = 2.0 * in_bytes + y_bytes;
  snprintf(p->algo, sizeof p->algo, "bucket_gather");
  return true;
}

/* The forward runs whenever y is an output (fwd; bwd outside P mode), then
 * the backward when the pass asks for it. */
static clnn_status dc_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_deform_conv2d_desc *d = p->params;
  const bool bwd = !strcmp(p->pass, "bwd");
  clnn_tensor *y = bench_dev(p, "y");
  clnn_deform_conv_algo algo;
  if (!bwd && clnn_deform_conv2d_fwd_algo(ctx, d, &algo) == CLNN_SUCCESS)
    snprintf(p->algo, sizeof p->algo, "%s", clnn_deform_conv_algo_name(algo));
  if (y) {
    clnn_status st = clnn_deform_conv2d_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "offset"),
                                            bench_dev(p, "mask"), bench_dev(p, "w"), bench_dev(p, "b"), y);
    if (st != CLNN_SUCCESS || !bwd) return st;
  }
  return clnn_deform_conv2d_bwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "offset"), bench_dev(p, "mask"),
                                bench_dev(p, "w"), bench_dev(p, "dy"), bench_dev(p, "dx"), bench_dev(p, "doffset"),
                                bench_dev(p, "dmask"), bench_dev(p, "dw"), bench_dev(p, "db"));
}

static clnn_status dc_run_ref(bench_problem *p) {
  const clnn_deform_conv2d_desc *d = p->params;
  float *y = bench_ref_out(p, "y");
  if (y) {
    clnn_status st = clnn_ref_deform_conv2d_fwd(d, bench_ref_in(p, "x"), bench_ref_in(p, "offset"),
                                                bench_ref_in(p, "mask"), bench_ref_in(p, "w"), bench_ref_in(p, "b"), y);
    if (st != CLNN_SUCCESS || strcmp(p->pass, "bwd")) return st;
  }
  return clnn_ref_deform_conv2d_bwd(d, bench_ref_in(p, "x"), bench_ref_in(p, "offset"), bench_ref_in(p, "mask"),
                                    bench_ref_in(p, "w"), bench_ref_in(p, "dy"), bench_ref_out(p, "dx"),
                                    bench_ref_out(p, "doffset"), bench_ref_out(p, "dmask"), bench_ref_out(p, "dw"),
                                    bench_ref_out(p, "db"));
}

static const bench_family deform_conv_family = {
    .name = "deform_conv",
    .passes = "fwd,bwd",
    .setup = dc_setup,
    .fill = NULL,
    .run_device = dc_run_device,
    .run_ref = dc_run_ref,
    .half = true,
};

const bench_family *const bench_deform_conv_families[] = {&deform_conv_family, NULL};
