/*
 * bench_linear.c - clnn-bench family "linear" (fully connected layer):
 *   linear mb128ic1280oc10 [act=relu] [acc]
 * Keys: mb (rows), ic (in features), oc (out features), act (fused forward
 * activation), acc (bwd_w accumulates into dw, db instead of overwriting).
 * Passes and tensors (.npy names in R mode):
 *   fwd    x (mb, ic), w (oc, ic), b (oc) if the problem has a bias -> y (mb, oc)
 *   bwd_d  dy (mb, oc), w -> dx (mb, ic)
 *   bwd_w  x, dy -> dw (oc, ic), db (oc) if the problem has a bias
 *          (with acc, dw and db are read first and updated)
 * dt=f16|bf16: every tensor in that type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct linear_params {
  clnn_linear_desc d;
  bool accumulate;
} linear_params;

static bool linear_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  linear_params *lp = calloc(1, sizeof *lp);
  if (!lp) return false;
  p->params = lp;
  bool ok = true;
  int64_t mb = 0, ic = 0, oc = 0;
  const bool have_mb = bench_arg_int(a, "mb", &mb, &ok); /* "mb0": no rows */
  bench_arg_int(a, "ic", &ic, &ok);
  bench_arg_int(a, "oc", &oc, &ok);
  lp->d = clnn_linear_desc_make(mb, ic, oc);
  lp->accumulate = bench_arg_word(a, "acc");
  if (!bench_arg_act(a, &lp->d.act, err, errlen)) return false;
  if (!ok || !have_mb || !ic || !oc) return bench_args_explain(a, "linear", "mb:0 ic oc", err, errlen);
  if (clnn_linear_desc_check(&lp->d) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  int64_t xd[2] = {mb, ic}, wd[2] = {oc, ic}, yd[2] = {mb, oc};
  const bench_role grad_role = lp->accumulate ? BENCH_INOUT : BENCH_OUT;
  double elems;
  if (!strcmp(p->pass, "bwd_d")) {
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 2, yd);
    bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 2, wd);
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 2, xd);
    elems = (double)(mb * oc + oc * ic + mb * ic);
  } else if (!strcmp(p->pass, "bwd_w")) {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 2, xd);
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 2, yd);
    bench_add(p, "dw", grad_role, CLNN_FLOAT32, 2, wd);
    if (p->bias) bench_add(p, "db", grad_role, CLNN_FLOAT32, 1, &oc);
    elems = (double)(mb * ic + mb * oc + oc * ic + (p->bias ? oc : 0));
  } else {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 2, xd);
    bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 2, wd)->hi = 1.0 / (double)ic;
    bench_find(p, "w")->lo = -1.0 / (double)ic;
    if (p->bias) bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &oc);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 2, yd);
    elems = (double)(mb * ic + oc * ic + mb * oc + (p->bias ? oc : 0));
  }
  p->flops = 2.0 * (double)mb * (double)ic * (double)oc;
  p->bytes = bench_elem_bytes(p) * elems;
  return true;
}

static clnn_status linear_run_device(clnn_context *ctx, bench_problem *p) {
  const linear_params *lp = p->params;
  if (!strcmp(p->pass, "bwd_d"))
    return clnn_linear_bwd_data(ctx, &lp->d, bench_dev(p, "dy"), bench_dev(p, "w"), bench_dev(p, "dx"));
  if (!strcmp(p->pass, "bwd_w"))
    return clnn_linear_bwd_weights(ctx, &lp->d, bench_dev(p, "x"), bench_dev(p, "dy"), bench_dev(p, "dw"),
                                   bench_dev(p, "db"), lp->accumulate);
  return clnn_linear_fwd(ctx, &lp->d, bench_dev(p, "x"), bench_dev(p, "w"), bench_dev(p, "b"), bench_dev(p, "y"));
}

static clnn_status linear_run_ref(bench_problem *p) {
  const linear_params *lp = p->params;
  if (!strcmp(p->pass, "bwd_d"))
    return clnn_ref_linear_bwd_data(&lp->d, bench_ref_in(p, "dy"), bench_ref_in(p, "w"), bench_ref_out(p, "dx"));
  if (!strcmp(p->pass, "bwd_w"))
    return clnn_ref_linear_bwd_weights(&lp->d, bench_ref_in(p, "x"), bench_ref_in(p, "dy"), bench_ref_out(p, "dw"),
                                       bench_ref_out(p, "db"), lp->accumulate);
  return clnn_ref_linear_fwd(&lp->d, bench_ref_in(p, "x"), bench_ref_in(p, "w"), bench_ref_in(p, "b"),
                             bench_ref_out(p, "y"));
}

static const bench_family linear_family = {
    .name = "linear",
    .passes = "fwd,bwd_d,bwd_w",
    .half = true,
    .setup = linear_setup,
    .fill = NULL,
    .run_device = linear_run_device,
    .run_ref = linear_run_ref,
};

const bench_family *const bench_linear_families[] = {&linear_family, NULL};
