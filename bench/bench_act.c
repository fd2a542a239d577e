/*
 * bench_act.c - clnn-bench family "act" (activation layers):
 *   act mb8ic144ih56iw56 silu
 *   act mb8ic288ih56 swiglu
 *   act mb2ic16ih7 leaky_relu alpha=0.2
 *   act mb2ic16ih7 tanh gate=second
 * Keys: mb ic ih iw (iw = ih when omitted), alpha (default: 0.01 for
 * leaky_relu, 1 for elu), gate=none|first|second. The activation is a bare
 * word: one of clnn_activation_name()'s names, or swiglu (silu, gate first),
 * geglu (gelu, gate first), glu (sigmoid, gate second, PyTorch's F.glu).
 * Passes: fwd reads x, writes y; bwd reads x and dy, writes dx.
 * Tensors: x (mb, ic, ih, iw); y, dy (mb, ic or ic/2 when gated, ih, iw);
 * dx like x.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Gated shorthands: word, activation, gate. */
static const struct {
  const char *word;
  clnn_activation act;
  clnn_act_gate gate;
} gated_words[] = {{"swiglu", CLNN_ACT_SILU, CLNN_GATE_FIRST},
                   {"geglu", CLNN_ACT_GELU, CLNN_GATE_FIRST},
                   {"glu", CLNN_ACT_SIGMOID, CLNN_GATE_SECOND}};

/* Exactly one activation word; false (with a message) otherwise. */
static bool parse_activation(bench_args *a, clnn_act_desc *d, char *err, size_t errlen) {
  int found = 0;
  for (int i = 0; i < CLNN_ACT_COUNT_; i++)
    if (bench_arg_word(a, clnn_activation_name((clnn_activation)i))) d->act = (clnn_activation)i, found++;
  for (size_t i = 0; i < sizeof gated_words / sizeof gated_words[0]; i++)
    if (bench_arg_word(a, gated_words[i].word)) {
      d->act = gated_words[i].act;
      d->gate = gated_words[i].gate;
      found++;
    }
  if (found != 1) {
    snprintf(err, errlen, "act needs exactly one activation word (relu, silu, swiglu, ...), got %d", found);
    return false;
  }
  return true;
}

static bool parse_gate(bench_args *a, clnn_act_desc *d, char *err, size_t errlen) {
  const char *g;
  if (!bench_arg_str(a, "gate", &g)) return true;
  static const char *const names[] = {"none", "first", "second"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(g, names[i])) {
      d->gate = (clnn_act_gate)i;
      return true;
    }
  snprintf(err, errlen, "gate must be none, first or second, not '%s'", g);
  return false;
}

static bool act_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  clnn_act_desc *d = calloc(1, sizeof *d);
  if (!d) return false;
  p->params = d;
  bool ok = true;
  int64_t n = 0, c = 0, h = 0, w = 0;
  /* present keys, not non-zero ones: "mb0" or "ih0" is an empty tensor */
  const bool have_n = bench_arg_int(a, "mb", &n, &ok), have_c = bench_arg_int(a, "ic", &c, &ok);
  const bool have_h = bench_arg_int(a, "ih", &h, &ok);
  w = h;
  bench_arg_int(a, "iw", &w, &ok);
  if (!ok || !have_n || !have_c || !have_h) return bench_args_explain(a, "act", "mb:0 ic:0 ih:0", err, errlen);
  clnn_act_desc base = clnn_act_desc_make(n, c, h, w, CLNN_ACT_IDENTITY);
  *d = base;
  if (!parse_activation(a, d, err, errlen) || !parse_gate(a, d, err, errlen)) return false;
  d->alpha = clnn_act_desc_make(n, c, h, w, d->act).alpha;
  double alpha;
  if (bench_arg_real(a, "alpha", &alpha, &ok)) d->alpha = (float)alpha;
  int64_t yc;
  if (!ok || clnn_act_desc_check(d, &yc) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", ok ? clnn_context_errmsg(NULL) : "alpha is not a number");
    return false;
  }
  int64_t xd[4] = {n, c, h, w}, yd[4] = {n, yc, h, w};
  bench_tensor *x = bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  x->lo = -4.0; /* covers every piece of the piecewise activations */
  x->hi = 4.0;
  double nx = (double)n * c * h * w, ny = (double)n * yc * h * w;
  if (!strcmp(p->pass, "fwd")) {
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
    p->bytes = bench_elem_bytes(p) * (nx + ny);
  } else {
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
    p->bytes = bench_elem_bytes(p) * (2.0 * nx + ny);
  }
  return true;
}

static clnn_status act_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_act_desc *d = p->params;
  snprintf(p->algo, sizeof p->algo, "%s%s", clnn_activation_name(d->act),
           d->gate == CLNN_GATE_NONE ? "" : d->gate == CLNN_GATE_FIRST ? ",gate1" : ",gate2");
  if (!strcmp(p->pass, "fwd")) return clnn_act_fwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "y"));
  return clnn_act_bwd(ctx, d, bench_dev(p, "x"), bench_dev(p, "dy"), bench_dev(p, "dx"));
}

static clnn_status act_run_ref(bench_problem *p) {
  const clnn_act_desc *d = p->params;
  if (!strcmp(p->pass, "fwd")) return clnn_ref_act_fwd(d, bench_ref_in(p, "x"), bench_ref_out(p, "y"));
  return clnn_ref_act_bwd(d, bench_ref_in(p, "x"), bench_ref_in(p, "dy"), bench_ref_out(p, "dx"));
}

static const bench_family act_family = {
    .name = "act",
    .passes = "fwd,bwd",
    .half = true,
    .setup = act_setup,
    .fill = NULL,
    .run_device = act_run_device,
    .run_ref = act_run_ref,
};

const bench_family *const bench_act_families[] = {&act_family, NULL};
