/*
 * bench_resample.c - clnn-bench families of the resample family:
 *   pixel_shuffle   mb8ic256ih56iw56 r2
 *   pixel_unshuffle mb8ic64ih112iw112 r2
 *   resize          mb8ic64ih56iw56 oh112ow112 nearest
 *   resize          mb8ic64ih56iw56 oh100ow90 bilinear ac0    (ac1 = align_corners)
 * Keys: mb ic ih iw (the input x; iw = ih when omitted), r (factor); for
 * resize oh ow (output size; ow = oh when omitted), the word nearest or
 * bilinear, ac0 / ac1 (bilinear only, default 0), and optionally
 * scale_h=S scale_w=S (torch's scale_factor; see clnn_resize_desc).
 * Passes: fwd (x -> y) and bwd (dy -> dx). In C and R modes the bwd pass
 * also runs the forward: R mode reads x.npy and dy.npy and writes y.npy and
 * dx.npy. In P mode bwd times the backward alone (dy -> dx).
 * dt=f16|bf16: x, y, dy and dx in that type (2 bytes an element).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Parse mb ic ih iw: the input's shape. */
/* False when mb, ic or ih is missing; a given but non-positive size is left
 * for the descriptor check, which names it. */
#define KEY_MISSING INT64_MIN
static bool parse_input(bench_args *a, int64_t *n, int64_t *c, int64_t *h, int64_t *w, bool *ok) {
  *n = *c = *h = KEY_MISSING;
  bench_arg_int(a, "mb", n, ok);
  bench_arg_int(a, "ic", c, ok);
  bench_arg_int(a, "ih", h, ok);
  *w = *h;
  bench_arg_int(a, "iw", w, ok);
  return *n != KEY_MISSING && *c != KEY_MISSING && *h != KEY_MISSING;
}

/* Declare x, y (fwd; bwd outside P mode) and dy, dx (bwd), with byte counts. */
static void declare(bench_problem *p, const int64_t xd[4], const int64_t yd[4]) {
  const bool bwd = !strcmp(p->pass, "bwd");
  if (!bwd || bench_opt.mode != 'P') {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
  }
  if (bwd) {
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  }
  /* Timed traffic: the one direction that runs in P mode. */
  p->bytes = bench_elem_bytes(p) * ((double)xd[0] * xd[1] * xd[2] * xd[3] + (double)yd[0] * yd[1] * yd[2] * yd[3]);
  p->flops = 0;
}

static bool is_bwd(const bench_problem *p) { return !strcmp(p->pass, "bwd"); }

/* --------------------------------------------------------- pixel shuffle */

typedef struct ps_params {
  clnn_pixel_shuffle_desc d;
  bool unshuffle;
} ps_params;

static bool ps_setup_dir(bench_problem *p, bench_args *a, char *err, size_t errlen, bool unshuffle) {
  ps_params *pp = calloc(1, sizeof *pp);
  if (!pp) return false;
  p->params = pp;
  pp->unshuffle = unshuffle;
  clnn_pixel_shuffle_desc *d = &pp->d;
  bool ok = true;
  const bool have = parse_input(a, &d->n, &d->c, &d->h, &d->w, &ok);
  d->r = KEY_MISSING;
  bench_arg_int(a, "r", &d->r, &ok);
  if (!ok || !have || d->r == KEY_MISSING) return bench_args_explain(a, p->fam->name, "mb:0 ic:0 ih:0 r", err, errlen);
  int64_t yd[4];
  clnn_status st = unshuffle ? clnn_pixel_unshuffle_desc_check(d, yd) : clnn_pixel_shuffle_desc_check(d, yd);
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  const int64_t xd[4] = {d->n, d->c, d->h, d->w};
  declare(p, xd, yd);
  p->tol = 0.0; /* a permutation: exact */
  return true;
}

static bool shuffle_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  return ps_setup_dir(p, a, err, errlen, false);
}

static bool unshuffle_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  return ps_setup_dir(p, a, err, errlen, true);
}

static clnn_status ps_run_device(clnn_context *ctx, bench_problem *p) {
  const ps_params *pp = p->params;
  clnn_tensor *x = bench_dev(p, "x"), *y = bench_dev(p, "y");
  if (x) {
    clnn_status st = pp->unshuffle ? clnn_pixel_unshuffle_fwd(ctx, &pp->d, x, y)
                                   : clnn_pixel_shuffle_fwd(ctx, &pp->d, x, y);
    if (st != CLNN_SUCCESS || !is_bwd(p)) return st;
  }
  clnn_tensor *dy = bench_dev(p, "dy"), *dx = bench_dev(p, "dx");
  return pp->unshuffle ? clnn_pixel_unshuffle_bwd(ctx, &pp->d, dy, dx) : clnn_pixel_shuffle_bwd(ctx, &pp->d, dy, dx);
}

static clnn_status ps_run_ref(bench_problem *p) {
  const ps_params *pp = p->params;
  clnn_status st = pp->unshuffle ? clnn_ref_pixel_unshuffle_fwd(&pp->d, bench_ref_in(p, "x"), bench_ref_out(p, "y"))
                                 : clnn_ref_pixel_shuffle_fwd(&pp->d, bench_ref_in(p, "x"), bench_ref_out(p, "y"));
  if (st != CLNN_SUCCESS || !is_bwd(p)) return st;
  return pp->unshuffle ? clnn_ref_pixel_unshuffle_bwd(&pp->d, bench_ref_in(p, "dy"), bench_ref_out(p, "dx"))
                       : clnn_ref_pixel_shuffle_bwd(&pp->d, bench_ref_in(p, "dy"), bench_ref_out(p, "dx"));
}

static const bench_family pixel_shuffle_family = {
    .name = "pixel_shuffle",
    .passes = "fwd,bwd",
    .half = true,
    .setup = shuffle_setup,
    .fill = NULL,
    .run_device = ps_run_device,
    .run_ref = ps_run_ref,
};

static const bench_family pixel_unshuffle_family = {
    .name = "pixel_unshuffle",
    .passes = "fwd,bwd",
    .half = true,
    .setup = unshuffle_setup,
    .fill = NULL,
    .run_device = ps_run_device,
    .run_ref = ps_run_ref,
};

/* ----------------------------------------------------------------- resize */

static bool resize_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  clnn_resize_desc *d = calloc(1, sizeof *d);
  if (!d) return false;
  p->params = d;
  bool ok = true;
  const bool have = parse_input(a, &d->n, &d->c, &d->h, &d->w, &ok);
  d->out_h = KEY_MISSING;
  bench_arg_int(a, "oh", &d->out_h, &ok);
  d->out_w = d->out_h;
  bench_arg_int(a, "ow", &d->out_w, &ok);
  int64_t ac = 0;
  bench_arg_int(a, "ac", &ac, &ok);
  d->align_corners = (int)ac;
  bench_arg_real(a, "scale_h", &d->scale_h, &ok);
  bench_arg_real(a, "scale_w", &d->scale_w, &ok);
  const bool nearest = bench_arg_word(a, "nearest"), bilinear = bench_arg_word(a, "bilinear");
  if (!ok || !have || d->out_h == KEY_MISSING) return bench_args_explain(a, "resize", "mb:0 ic:0 ih:0 oh", err, errlen);
  if (nearest == bilinear) {
    snprintf(err, errlen, "resize needs exactly one of the words nearest and bilinear");
    return false;
  }
  d->mode = nearest ? CLNN_RESIZE_NEAREST : CLNN_RESIZE_BILINEAR;
  if (clnn_resize_desc_check(d) != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  const int64_t xd[4] = {d->n, d->c, d->h, d->w}, yd[4] = {d->n, d->c, d->out_h, d->out_w};
  declare(p, xd, yd);
  /* Nearest forward copies (exact); sums and blends round in float. */
  p->tol = nearest ? 0.0 : 1e-6;
  /* A dx element sums about (oh/h)(ow/w) terms, 4x for bilinear: float
   * rounding grows with the count. */
  const double terms = (double)((d->out_h + d->h - 1) / d->h) * (double)((d->out_w + d->w - 1) / d->w) * 4.0;
  bench_tensor *dx = bench_find(p, "dx");
  if (dx) dx->tol = 1e-6 * (terms > 64 ? terms / 64 : 1.0);
  return true;
}

static clnn_status resize_run_device(clnn_context *ctx, bench_problem *p) {
  const clnn_resize_desc *d = p->params;
  clnn_tensor *x = bench_dev(p, "x");
  if (x) {
    clnn_status st = clnn_resize_fwd(ctx, d, x, bench_dev(p, "y"));
    if (st != CLNN_SUCCESS || !is_bwd(p)) return st;
  }
  return clnn_resize_bwd(ctx, d, bench_dev(p, "dy"), bench_dev(p, "dx"));
}

static clnn_status resize_run_ref(bench_problem *p) {
  const clnn_resize_desc *d = p->params;
  clnn_status st = clnn_ref_resize_fwd(d, bench_ref_in(p, "x"), bench_ref_out(p, "y"));
  if (st != CLNN_SUCCESS || !is_bwd(p)) return st;
  return clnn_ref_resize_bwd(d, bench_ref_in(p, "dy"), bench_ref_out(p, "dx"));
}

static const bench_family resize_family = {
    .name = "resize",
    .passes = "fwd,bwd",
    .half = true,
    .setup = resize_setup,
    .fill = NULL,
    .run_device = resize_run_device,
    .run_ref = resize_run_ref,
};

const bench_family *const bench_resample_families[] = {&pixel_shuffle_family, &pixel_unshuffle_family,
                                                        &resize_family, NULL};
