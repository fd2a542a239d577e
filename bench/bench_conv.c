/*
 * bench_conv.c - clnn-bench family "conv":
 *   conv mb2ic8ih13iw11oc16kh3kw3sh2sw2ph1pw1dh1dw1g2 [act=relu]
 * Keys: mb ic ih iw oc kh kw sh sw ph pw dh dw g. Omitted iw/kw/sw/pw/dw copy
 * the h value; stride and dilation default to 1, padding to 0, g to 1.
 * Tensors: x (mb, ic, ih, iw), w (oc, ic/g, kh, kw), b (oc) when the problem
 * has a bias, y (mb, oc, oh, ow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

bool bench_conv_desc_parse(bench_args *a, clnn_conv2d_desc *d, char *err, size_t errlen) {
  bool ok = true;
  int64_t v;
  *d = clnn_conv2d_desc_make(0, 0, 0, 0, 0, 0, 0);
  struct {
    const char *h, *w;
    int64_t *ph, *pw;
    int64_t def;
  } pairs[] = {{"ih", "iw", &d->h, &d->w, 0},
               {"kh", "kw", &d->kh, &d->kw, 0},
               {"sh", "sw", &d->stride_h, &d->stride_w, 1},
               {"ph", "pw", &d->pad_h, &d->pad_w, 0},
               {"dh", "dw", &d->dilation_h, &d->dilation_w, 1}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    *pairs[i].ph = pairs[i].def;
    if (bench_arg_int(a, pairs[i].h, &v, &ok)) *pairs[i].ph = v;
    *pairs[i].pw = *pairs[i].ph;
    if (bench_arg_int(a, pairs[i].w, &v, &ok)) *pairs[i].pw = v;
  }
  if (bench_arg_int(a, "mb", &v, &ok)) d->n = v;
  if (bench_arg_int(a, "ic", &v, &ok)) d->c = v;
  if (bench_arg_int(a, "oc", &v, &ok)) d->k = v;
  d->groups = 1;
  if (bench_arg_int(a, "g", &v, &ok)) d->groups = v;
  const char *act;
  if (bench_arg_str(a, "act", &act)) {
    int found = -1;
    for (int i = 0; i < CLNN_ACT_COUNT_; i++)
      if (!strcmp(act, clnn_activation_name((clnn_activation)i))) found = i;
    if (found < 0) {
      snprintf(err, errlen, "unknown activation '%s'", act);
      return false;
    }
    d->act = (clnn_activation)found;
  }
  if (!ok) {
    snprintf(err, errlen, "a conv key has a non-integer value");
    return false;
  }
  if (!d->n || !d->c || !d->h || !d->k || !d->kh) {
    snprintf(err, errlen, "conv needs at least mb, ic, ih, oc and kh");
    return false;
  }
  clnn_status st = clnn_conv2d_desc_check(d, NULL, NULL);
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  return true;
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
  bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  bench_add(p, "w", BENCH_IN, CLNN_FLOAT32, 4, wd);
  if (p->bias) bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &d->k);
  bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
  double macs = (double)d->n * d->k * (d->c / d->groups) * d->kh * d->kw * oh * ow;
  p->flops = 2.0 * macs;
  p->bytes = 4.0 * ((double)d->n * d->c * d->h * d->w + (double)d->k * (d->c / d->groups) * d->kh * d->kw +
                    (p->bias ? d->k : 0) + (double)d->n * d->k * oh * ow);
  return true;
}

static clnn_status conv_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_conv2d_desc *d = p->params;
  clnn_conv_algo algo;
  if (clnn_conv2d_fwd_algo(ctx, d, &algo) == CLNN_SUCCESS)
    snprintf(p->algo, sizeof p->algo, "%s", clnn_conv_algo_name(algo));
  return clnn_conv2d_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "w"), bench_dev(p, "b"), bench_dev(p, "y"));
}

static clnn_status conv_run_ref(bench_problem *p) {
  return clnn_ref_conv2d_fwd(p->params, bench_ref_in(p, "x"), bench_ref_in(p, "w"), bench_ref_in(p, "b"),
                             bench_ref_out(p, "y"));
}

static const bench_family conv_family = {
    .name = "conv",
    .passes = "fwd",
    .setup = conv_setup,
    .fill = NULL,
    .run_device = conv_run_device,
    .run_ref = conv_run_ref,
};

const bench_family *const bench_conv_families[] = {&conv_family, NULL};
