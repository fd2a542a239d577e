/*
 * test_resample.c - the resample family against the host reference: pixel
 * shuffle / unshuffle (r = 1..4, odd sizes, batch > 1, rows shorter and
 * longer than the float16 pieces) and nearest / bilinear resize (2x fast
 * paths, sizes that are not integer multiples, down and up, align_corners
 * both, scale factors), forward and backward, with outputs poisoned before
 * each run and bit-identical repeats; PyTorch's index rules against values
 * taken from torch 1.13; the reference backward against central finite
 * differences in double; tensor views at offsets; bad arguments. Every
 * device run checks that the variant planned is of the context's class
 * (test_resample.gpu: the GPU gathers), and the cases include the GPU
 * kernels' edges: element counts no work-group of 256 divides, planes of one
 * element, rows longer than a work-group. Every case runs again in float16
 * and bfloat16 (inputs rounded to the type, specials included, against the
 * reference on those); pixel shuffle and the nearest forward must copy
 * every 2-byte pattern exactly (NaN payloads, -0); half views at odd element
 * offsets, empty tensors and mixed types.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"

static size_t numel4(const int64_t d[4]) { return (size_t)(d[0] * d[1] * d[2] * d[3]); }

/* The variant of the last call is of the context's class: ".gpu_" under
 * CLNN_DEVICE_CLASS=gpu, a CPU one otherwise. Clears the record. */
static void assert_planned_class(const char *what) {
  clnn_context *ctx = tu_ctx();
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  const char *ran = clnn_context_last_variant(ctx, NULL);
  ck_assert_msg(*ran && (strstr(ran, ".gpu_") != NULL) == gpu, "%s ran '%s' on a %s-class context", what, ran,
                gpu ? "GPU" : "CPU");
  clnn_context_clear_variants(ctx);
}

/* Run a device op on src (host) -> dst of dst_dims with dst poisoned first. */
typedef clnn_status (*op_fn)(clnn_context *ctx, const void *desc, const clnn_tensor *src, clnn_tensor *dst);

/* The same with src and dst of type dt: src is rounded to it on upload, the
 * result read back as float32. */
static float *run_device_dt(op_fn op, const void *desc, const int64_t src_dims[4], const float *src,
                            const int64_t dst_dims[4], clnn_dtype dt, const char *what) {
  clnn_tensor *s = tu_tensor_dt(dt, 4, src_dims, src), *d = tu_tensor_dt(dt, 4, dst_dims, NULL);
  tu_poison(d);
  clnn_context_clear_variants(tu_ctx());
  clnn_status st = op(tu_ctx(), desc, s, d);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s: %s", what, clnn_status_name(st), clnn_context_errmsg(tu_ctx()));
  assert_planned_class(what);
  float *out = tu_download_f32(d);
  clnn_tensor_free(s);
  clnn_tensor_free(d);
  return out;
}

static float *run_device(op_fn op, const void *desc, const int64_t src_dims[4], const float *src,
                         const int64_t dst_dims[4], const char *what) {
  return run_device_dt(op, desc, src_dims, src, dst_dims, CLNN_FLOAT32, what);
}

/* ----------------------------------------------------------- pixel shuffle */

typedef struct ps_case {
  int n, c, h, w, r;
} ps_case;

/* Shapes of the shuffle's input (the unshuffle cases use its output). */
static const ps_case ps_cases[] = {
    {1, 4, 1, 1, 2},   /* smallest */
    {2, 12, 5, 7, 2},  /* odd sizes, batch 2 */
    {3, 8, 6, 16, 2},  /* exactly one float16 piece per row */
    {2, 8, 3, 37, 2},  /* pieces plus a tail */
    {2, 18, 5, 7, 3},  /* r = 3 */
    {1, 32, 4, 9, 4},  /* r = 4 */
    {2, 5, 3, 4, 1},   /* r = 1: a copy */
    {2, 64, 9, 40, 2}, /* several work-items per plane */
    {3, 9, 7, 15, 3},  /* 2835 elements: no work-group divides them */
    {1, 1, 1, 1, 1},   /* one element */
    {1, 4, 2, 300, 2}, /* wide rows of 600: over a work-group of 256 */
};
#define N_PS (int)(sizeof ps_cases / sizeof ps_cases[0])

static clnn_status op_ps_fwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_pixel_shuffle_fwd(c, d, s, o);
}
static clnn_status op_ps_bwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_pixel_shuffle_bwd(c, d, s, o);
}
static clnn_status op_pu_fwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_pixel_unshuffle_fwd(c, d, s, o);
}
static clnn_status op_pu_bwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_pixel_unshuffle_bwd(c, d, s, o);
}

/* One direction: device fwd and bwd equal the reference exactly (a
 * permutation), twice with the same bits. */
static void check_ps(const clnn_pixel_shuffle_desc *d, bool unshuffle, uint64_t seed) {
  int64_t yd[4];
  TU_OK(unshuffle ? clnn_pixel_unshuffle_desc_check(d, yd) : clnn_pixel_shuffle_desc_check(d, yd));
  const int64_t xd[4] = {d->n, d->c, d->h, d->w};
  const size_t n = numel4(xd);
  char what[128];
  snprintf(what, sizeof what, "%s mb%lldic%lldih%lldiw%lld r%lld", unshuffle ? "pixel_unshuffle" : "pixel_shuffle",
           (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->r);
  float *x = tu_alloc(n), *dy = tu_alloc(n), *y_ref = tu_alloc(n), *dx_ref = tu_alloc(n);
  tu_fill_normal(x, n, seed, 0.0f, 1.0f);
  tu_fill_normal(dy, n, seed + 1, 0.0f, 1.0f);
  TU_OK(unshuffle ? clnn_ref_pixel_unshuffle_fwd(d, x, y_ref) : clnn_ref_pixel_shuffle_fwd(d, x, y_ref));
  TU_OK(unshuffle ? clnn_ref_pixel_unshuffle_bwd(d, dy, dx_ref) : clnn_ref_pixel_shuffle_bwd(d, dy, dx_ref));
  for (int rep = 0; rep < 2; rep++) {
    float *y = run_device(unshuffle ? op_pu_fwd : op_ps_fwd, d, xd, x, yd, what);
    float *dx = run_device(unshuffle ? op_pu_bwd : op_ps_bwd, d, yd, dy, xd, what);
    ck_assert_msg(tu_compare(what, y, y_ref, n, 0.0, 0.0, NULL), "%s: forward differs", what);
    ck_assert_msg(tu_compare(what, dx, dx_ref, n, 0.0, 0.0, NULL), "%s: backward differs", what);
    free(y);
    free(dx);
  }
  /* Backward of a permutation is its inverse: bwd(fwd(x)) == x. */
  float *round_trip = tu_alloc(n);
  TU_OK(unshuffle ? clnn_ref_pixel_unshuffle_bwd(d, y_ref, round_trip) : clnn_ref_pixel_shuffle_bwd(d, y_ref, round_trip));
  ck_assert(!memcmp(round_trip, x, n * sizeof(float)));
  free(round_trip);
  free(x);
  free(dy);
  free(y_ref);
  free(dx_ref);
}

START_TEST(test_pixel_shuffle) {
  const ps_case *c = &ps_cases[_i];
  clnn_pixel_shuffle_desc d = {c->n, c->c, c->h, c->w, c->r};
  check_ps(&d, false, 100 + (uint64_t)_i);
}
END_TEST

START_TEST(test_pixel_unshuffle) {
  const ps_case *c = &ps_cases[_i];
  /* The unshuffle of the shuffle's output shape. */
  clnn_pixel_shuffle_desc d = {c->n, c->c / (c->r * c->r), c->h * c->r, c->w * c->r, c->r};
  check_ps(&d, true, 200 + (uint64_t)_i);
}
END_TEST

/* The permutation itself on a tiny case written out by hand (torch's layout). */
START_TEST(test_pixel_shuffle_layout) {
  clnn_pixel_shuffle_desc d = {1, 4, 1, 2, 2};
  const float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* channel k at (0, 0..1) = 2k, 2k+1 */
  const float want[8] = {0, 2, 1, 3, 4, 6, 5, 7}; /* y (1, 1, 2, 4) */
  float y[8];
  TU_OK(clnn_ref_pixel_shuffle_fwd(&d, x, y));
  ck_assert(!memcmp(y, want, sizeof y));
  const int64_t xd[4] = {1, 4, 1, 2}, yd[4] = {1, 1, 2, 4};
  float *got = run_device(op_ps_fwd, &d, xd, x, yd, "pixel_shuffle mb1ic4ih1iw2 r2");
  ck_assert(!memcmp(got, want, sizeof y));
  free(got);
}
END_TEST

/* ------------------------------------------------------------------ resize */

typedef struct rs_case {
  int n, c, h, w, oh, ow;
  clnn_resize_mode mode;
  int ac;
  double sh, sw;
} rs_case;

#define NEAR CLNN_RESIZE_NEAREST
#define BIL CLNN_RESIZE_BILINEAR
static const rs_case rs_cases[] = {
    {2, 3, 8, 40, 16, 80, NEAR, 0, 0, 0},    /* 2x: fast path over whole rows */
    {2, 3, 9, 41, 18, 82, BIL, 0, 0, 0},     /* 2x bilinear: fast interior, table edges */
    {1, 2, 7, 7, 14, 14, NEAR, 0, 0, 0},     /* 2x but rows too short for the fast path */
    {3, 2, 6, 37, 12, 74, BIL, 1, 0, 0},     /* 2x align_corners: table path */
    {2, 3, 11, 13, 20, 18, BIL, 0, 0, 0},    /* non-integer up, odd sizes */
    {2, 3, 11, 13, 20, 18, BIL, 1, 0, 0},
    {2, 3, 11, 13, 20, 18, NEAR, 0, 0, 0},
    {1, 4, 21, 30, 9, 7, BIL, 0, 0, 0},      /* down, some inputs read by nobody */
    {1, 4, 21, 30, 9, 7, BIL, 1, 0, 0},
    {1, 4, 21, 30, 9, 7, NEAR, 0, 0, 0},
    {2, 2, 5, 6, 17, 23, NEAR, 0, 0, 0},     /* 3.4x / 3.8x up */
    {2, 2, 5, 6, 15, 18, NEAR, 0, 0, 0},     /* exact 3x */
    {1, 3, 9, 9, 9, 9, BIL, 0, 0, 0},        /* same size: a copy */
    {2, 2, 6, 5, 1, 1, BIL, 1, 0, 0},        /* to 1x1, align_corners */
    {2, 2, 6, 5, 1, 1, BIL, 0, 0, 0},
    {1, 2, 1, 1, 4, 5, BIL, 0, 0, 0},        /* from 1x1 */
    {1, 2, 13, 10, 29, 33, BIL, 0, 1.5, 2.4}, /* torch scale_factor, inconsistent with the sizes */
    {1, 2, 13, 10, 27, 20, NEAR, 0, 2.1, 2.0}, /* scale path and the exact-2x special case */
    {4, 8, 14, 14, 28, 28, BIL, 0, 0, 0},    /* batch 4, 2x */
    {2, 3, 30, 56, 45, 100, BIL, 0, 0, 0},   /* wide rows, generic */
    {1, 2, 3, 2, 4, 2600, BIL, 0, 0, 0},     /* 1300x in width: dy spans past the private row */
    {1, 1, 2, 3, 3, 3100, NEAR, 0, 0, 0},
    {1, 1, 1, 1, 1, 1, NEAR, 0, 0, 0},       /* one element */
    {3, 5, 7, 9, 13, 11, BIL, 1, 0, 0},      /* 2145 outputs, 945 inputs: no work-group divides them */
    {2, 3, 17, 19, 5, 7, NEAR, 0, 0, 0},     /* nearest down: inputs read by nobody get 0 */
    {1, 2, 1, 300, 1, 700, BIL, 0, 0, 0},    /* one row, wider than a work-group */
};
#define N_RS (int)(sizeof rs_cases / sizeof rs_cases[0])

static clnn_resize_desc rs_desc(const rs_case *c) {
  clnn_resize_desc d = clnn_resize_desc_make(c->n, c->c, c->h, c->w, c->oh, c->ow, c->mode);
  d.align_corners = c->ac;
  d.scale_h = c->sh;
  d.scale_w = c->sw;
  return d;
}

static void rs_describe(const clnn_resize_desc *d, char *buf, size_t n) {
  int k = snprintf(buf, n, "resize mb%lldic%lldih%lldiw%lld oh%lldow%lld %s", (long long)d->n, (long long)d->c,
                   (long long)d->h, (long long)d->w, (long long)d->out_h, (long long)d->out_w,
                   d->mode == CLNN_RESIZE_NEAREST ? "nearest" : "bilinear");
  if (d->mode == CLNN_RESIZE_BILINEAR) k += snprintf(buf + k, n - (size_t)k, " ac%d", d->align_corners);
  if (d->scale_h > 0 || d->scale_w > 0)
    snprintf(buf + k, n - (size_t)k, " scale_h=%g scale_w=%g", d->scale_h, d->scale_w);
}

static clnn_status op_rs_fwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_resize_fwd(c, d, s, o);
}
static clnn_status op_rs_bwd(clnn_context *c, const void *d, const clnn_tensor *s, clnn_tensor *o) {
  return clnn_resize_bwd(c, d, s, o);
}

/* Forward and backward against the reference, twice with the same bits. */
static void check_resize(const clnn_resize_desc *d, bool integers, uint64_t seed) {
  char what[160];
  rs_describe(d, what, sizeof what);
  const int64_t xd[4] = {d->n, d->c, d->h, d->w}, yd[4] = {d->n, d->c, d->out_h, d->out_w};
  const size_t nx = numel4(xd), ny = numel4(yd);
  float *x = tu_alloc(nx), *dy = tu_alloc(ny), *y_ref = tu_alloc(ny), *dx_ref = tu_alloc(nx);
  if (integers) {
    tu_fill_ints(x, nx, seed, -8, 8);
    tu_fill_ints(dy, ny, seed + 1, -8, 8);
  } else {
    tu_fill_normal(x, nx, seed, 0.0f, 1.0f);
    tu_fill_normal(dy, ny, seed + 1, 0.0f, 1.0f);
  }
  TU_OK(clnn_ref_resize_fwd(d, x, y_ref));
  TU_OK(clnn_ref_resize_bwd(d, dy, dx_ref));
  /* Nearest moves and sums small integers: exact. Blends round in float,
   * and a dx element sums about (oh/h)(ow/w) terms (4x that for bilinear):
   * float rounding grows with that count. */
  const bool exact = integers && d->mode == CLNN_RESIZE_NEAREST;
  const double terms = ceil((double)d->out_h / d->h) * ceil((double)d->out_w / d->w) * 4.0;
  const double tol = exact ? 0.0 : 2e-6 * (terms > 64 ? terms / 64 : 1.0);
  float *first_y = NULL, *first_dx = NULL;
  for (int rep = 0; rep < 2; rep++) {
    float *y = run_device(op_rs_fwd, d, xd, x, yd, what);
    float *dx = run_device(op_rs_bwd, d, yd, dy, xd, what);
    tu_cmp cy, cdx;
    ck_assert_msg(tu_compare(what, y, y_ref, ny, tol, tol, &cy), "%s: forward differs", what);
    ck_assert_msg(tu_compare(what, dx, dx_ref, nx, tol, tol, &cdx), "%s --pass=bwd: backward differs", what);
    ck_assert_msg(cy.rel_l2_err <= 1e-6 && cdx.rel_l2_err <= tol / 2 + 1e-7, "%s: rel L2 %.3g / %.3g", what,
                  cy.rel_l2_err, cdx.rel_l2_err);
    if (rep == 0) {
      first_y = y;
      first_dx = dx;
    } else {
      ck_assert_msg(!memcmp(first_y, y, ny * sizeof(float)), "%s: forward repeats differ", what);
      ck_assert_msg(!memcmp(first_dx, dx, nx * sizeof(float)), "%s: backward repeats differ", what);
      free(y);
      free(dx);
    }
  }
  free(first_y);
  free(first_dx);
  free(x);
  free(dy);
  free(y_ref);
  free(dx_ref);
}

START_TEST(test_resize_integers) {
  clnn_resize_desc d = rs_desc(&rs_cases[_i]);
  check_resize(&d, true, 300 + (uint64_t)_i);
}
END_TEST

START_TEST(test_resize_floats) {
  clnn_resize_desc d = rs_desc(&rs_cases[_i]);
  check_resize(&d, false, 400 + (uint64_t)_i);
}
END_TEST

/* The anchor problem's shape on a smaller batch (the fast 2x kernels with
 * 56-wide rows: three float16 pieces and a tail of 8). */
START_TEST(test_resize_anchor_shapes) {
  static const rs_case anchors[] = {{2, 4, 56, 56, 112, 112, NEAR, 0, 0, 0},
                                    {2, 4, 56, 56, 112, 112, BIL, 0, 0, 0},
                                    {1, 4, 56, 56, 100, 90, BIL, 0, 0, 0},
                                    {1, 4, 56, 56, 100, 90, NEAR, 0, 0, 0}};
  for (int i = 0; i < 4; i++) {
    clnn_resize_desc d = rs_desc(&anchors[i]);
    check_resize(&d, false, 500 + (uint64_t)i);
  }
}
END_TEST

/* ------------------------------------------------- PyTorch's index rules */

/* Nearest source indices, as torch 1.13 gives them (interpolate of arange). */
START_TEST(test_nearest_matches_torch) {
  static const struct {
    int in, out;
    int idx[29];
  } t[] = {
      {10, 7, {0, 1, 2, 4, 5, 7, 8}},
      {7, 10, {0, 0, 1, 2, 2, 3, 4, 4, 5, 6}},
      {13, 29, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12}},
      {5, 3, {0, 1, 3}},
      {3, 5, {0, 0, 1, 1, 2}},
  };
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
    clnn_resize_desc d = clnn_resize_desc_make(1, 1, 1, t[k].in, 1, t[k].out, CLNN_RESIZE_NEAREST);
    float x[16], y[32];
    for (int i = 0; i < t[k].in; i++) x[i] = (float)i;
    TU_OK(clnn_ref_resize_fwd(&d, x, y));
    const int64_t xd[4] = {1, 1, 1, t[k].in}, yd[4] = {1, 1, 1, t[k].out};
    float *dev = run_device(op_rs_fwd, &d, xd, x, yd, "nearest index rule");
    for (int o = 0; o < t[k].out; o++) {
      ck_assert_msg(y[o] == (float)t[k].idx[o], "%d -> %d: reference reads %g at %d, torch %d", t[k].in, t[k].out,
                    (double)y[o], o, t[k].idx[o]);
      ck_assert_msg(dev[o] == (float)t[k].idx[o], "%d -> %d: device reads %g at %d, torch %d", t[k].in, t[k].out,
                    (double)dev[o], o, t[k].idx[o]);
    }
    free(dev);
  }
  /* 56 -> 100: the sum of torch's indices. */
  clnn_resize_desc d = clnn_resize_desc_make(1, 1, 1, 56, 1, 100, CLNN_RESIZE_NEAREST);
  float x[56], y[100];
  for (int i = 0; i < 56; i++) x[i] = (float)i;
  TU_OK(clnn_ref_resize_fwd(&d, x, y));
  double sum = 0;
  for (int o = 0; o < 100; o++) sum += y[o];
  ck_assert_int_eq((int)sum, 2724);
}
END_TEST

/* Bilinear weights as torch 1.13 gives them (interpolate of one-hot rows):
 * these differ from a float-only computation of the source position. */
START_TEST(test_bilinear_weights_match_torch) {
  static const struct {
    int in, out, ac, o, i0, i1;
    float w0, w1;
  } t[] = {
      {56, 100, 1, 72, 40, 41, 0x1.ffffcp-1f, 0x1p-19f},
      {56, 100, 0, 83, 46, 47, 0x1.7ae14p-1f, 0x1.0a3d7ep-2f},
      {13, 29, 0, 2, 0, 1, 0x1.8469fp-2f, 0x1.3dcb08p-1f},
      {7, 30, 1, 14, 2, 3, 0x1.a7b94p-4f, 0x1.cb08d8p-1f},
      {3, 1000, 1, 26, 0, 1, 0x1.e5597p-1f, 0x1.aa691p-5f},
      {29, 13, 0, 5, 11, 12, 0x1.d89dcp-3f, 0x1.89d89p-1f},
  };
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
    int32_t i0[1000], i1[1000];
    float l0[1000], l1[1000];
    clnn__resize_taps(t[k].in, t[k].out, CLNN_RESIZE_BILINEAR, t[k].ac, 0.0, i0, i1, l0, l1);
    const int o = t[k].o;
    ck_assert_msg(i0[o] == t[k].i0 && i1[o] == t[k].i1, "%d -> %d ac%d: taps %d, %d", t[k].in, t[k].out, t[k].ac,
                  i0[o], i1[o]);
    ck_assert_msg(l0[o] == t[k].w0 && l1[o] == t[k].w1, "%d -> %d ac%d at %d: weights %a %a, torch %a %a", t[k].in,
                  t[k].out, t[k].ac, o, (double)l0[o], (double)l1[o], (double)t[k].w0, (double)t[k].w1);
  }
  /* align_corners = 0 clamps the first position at 0 and repeats the last input. */
  int32_t i0[112], i1[112];
  float l0[112], l1[112];
  clnn__resize_taps(56, 112, CLNN_RESIZE_BILINEAR, 0, 0.0, i0, i1, l0, l1);
  ck_assert(i0[0] == 0 && l0[0] == 1.0f && l1[0] == 0.0f);
  ck_assert(i0[111] == 55 && i1[111] == 55);
}
END_TEST

/* Same size copies, so a NaN stays where it is (torch does not blend with a
 * zero-weighted neighbour there); elsewhere a zero weight still spreads it. */
START_TEST(test_nan_propagation) {
  const float nanv = NAN;
  float x[4] = {1, nanv, 3, 4}, y[8];
  clnn_resize_desc same = clnn_resize_desc_make(1, 1, 1, 4, 1, 4, CLNN_RESIZE_BILINEAR);
  const int64_t xd[4] = {1, 1, 1, 4}, yd4[4] = {1, 1, 1, 4}, yd8[4] = {1, 1, 1, 8};
  float *dev = run_device(op_rs_fwd, &same, xd, x, yd4, "same size");
  ck_assert(dev[0] == 1.0f && isnan(dev[1]) && dev[2] == 3.0f && dev[3] == 4.0f);
  free(dev);
  float x2[4] = {1, 2, 3, nanv};
  clnn_resize_desc up = clnn_resize_desc_make(1, 1, 1, 4, 1, 8, CLNN_RESIZE_BILINEAR);
  TU_OK(clnn_ref_resize_fwd(&up, x2, y));
  dev = run_device(op_rs_fwd, &up, xd, x2, yd8, "up 2x");
  /* torch: [1, 1.25, 1.75, 2.25, 2.75, nan, nan, nan] */
  const float want[5] = {1.0f, 1.25f, 1.75f, 2.25f, 2.75f};
  for (int i = 0; i < 8; i++) {
    if (i < 5) ck_assert_msg(y[i] == want[i] && dev[i] == want[i], "[%d]: ref %g dev %g", i, (double)y[i], (double)dev[i]);
    else ck_assert_msg(isnan(y[i]) && isnan(dev[i]), "[%d] should be NaN", i);
  }
  free(dev);
}
END_TEST

/* ------------------------------------------------- finite differences */

typedef struct fd_problem {
  bool resize;
  bool unshuffle;
  clnn_resize_desc rd;
  clnn_pixel_shuffle_desc pd;
  double *x, *dy, *y;
} fd_problem;

/* sum(forward(x) * dy): its gradient in x is backward(dy). */
static double fd_loss(void *arg) {
  fd_problem *p = arg;
  size_t ny;
  if (p->resize) {
    clnn__ref_resize_f64(&p->rd, false, p->x, p->y);
    ny = (size_t)(p->rd.n * p->rd.c * p->rd.out_h * p->rd.out_w);
  } else {
    clnn__ref_pixel_shuffle_f64(&p->pd, p->unshuffle, false, p->x, p->y);
    ny = (size_t)(p->pd.n * p->pd.c * p->pd.h * p->pd.w);
  }
  double s = 0.0;
  for (size_t i = 0; i < ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

static void fd_run(fd_problem *p, size_t nx, size_t ny, const char *what) {
  tu_rng r = tu_rng_make(77);
  p->x = malloc(nx * sizeof(double));
  p->dy = malloc(ny * sizeof(double));
  p->y = malloc(ny * sizeof(double));
  double *dx = malloc(nx * sizeof(double));
  ck_assert(p->x && p->dy && p->y && dx);
  for (size_t i = 0; i < nx; i++) p->x[i] = tu_rng_normal(&r);
  for (size_t i = 0; i < ny; i++) p->dy[i] = tu_rng_normal(&r);
  if (p->resize) TU_OK(clnn__ref_resize_f64(&p->rd, true, p->dy, dx));
  else TU_OK(clnn__ref_pixel_shuffle_f64(&p->pd, p->unshuffle, true, p->dy, dx));
  ck_assert(tu_fd_check(what, fd_loss, p, p->x, nx, dx, 1e-3, 1e-9));
  free(p->x);
  free(p->dy);
  free(p->y);
  free(dx);
}

START_TEST(test_reference_backward_fd) {
  static const rs_case fd_cases[] = {
      {2, 2, 5, 7, 9, 4, NEAR, 0, 0, 0}, {2, 2, 5, 7, 9, 4, BIL, 0, 0, 0}, {2, 2, 5, 7, 9, 4, BIL, 1, 0, 0},
      {1, 2, 6, 4, 12, 8, BIL, 0, 0, 0}, {1, 1, 7, 9, 3, 2, BIL, 0, 0, 0}, {1, 2, 4, 5, 11, 13, BIL, 0, 1.7, 2.9},
  };
  for (size_t k = 0; k < sizeof fd_cases / sizeof fd_cases[0]; k++) {
    fd_problem p = {0};
    p.resize = true;
    p.rd = rs_desc(&fd_cases[k]);
    char what[160];
    rs_describe(&p.rd, what, sizeof what);
    fd_run(&p, (size_t)(p.rd.n * p.rd.c * p.rd.h * p.rd.w), (size_t)(p.rd.n * p.rd.c * p.rd.out_h * p.rd.out_w),
           what);
  }
  static const ps_case ps_fd[] = {{2, 8, 3, 5, 2}, {1, 9, 2, 3, 3}};
  for (int u = 0; u < 2; u++) {
    for (size_t k = 0; k < 2; k++) {
      fd_problem p = {0};
      p.unshuffle = u;
      const ps_case *c = &ps_fd[k];
      p.pd = u ? (clnn_pixel_shuffle_desc){c->n, c->c / (c->r * c->r), c->h * c->r, c->w * c->r, c->r}
               : (clnn_pixel_shuffle_desc){c->n, c->c, c->h, c->w, c->r};
      const size_t n = (size_t)(p.pd.n * p.pd.c * p.pd.h * p.pd.w);
      fd_run(&p, n, n, u ? "pixel_unshuffle" : "pixel_shuffle");
    }
  }
}
END_TEST

/* ------------------------------------------------------- views at offsets */

START_TEST(test_views_at_offsets) {
  clnn_context *ctx = tu_ctx();
  clnn_resize_desc d = clnn_resize_desc_make(2, 3, 9, 20, 18, 40, CLNN_RESIZE_BILINEAR);
  const int64_t xd[4] = {2, 3, 9, 20}, yd[4] = {2, 3, 18, 40};
  const size_t nx = numel4(xd), ny = numel4(yd), pad = 13;
  float *x = tu_alloc(nx), *ref = tu_alloc(ny);
  tu_fill_normal(x, nx, 9, 0.0f, 1.0f);
  TU_OK(clnn_ref_resize_fwd(&d, x, ref));
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, (pad + nx + pad + ny) * sizeof(float), &buf));
  clnn_tensor *tx, *ty;
  TU_OK(clnn_tensor_view(buf, pad * sizeof(float), CLNN_FLOAT32, 4, xd, &tx));
  TU_OK(clnn_tensor_view(buf, (2 * pad + nx) * sizeof(float), CLNN_FLOAT32, 4, yd, &ty));
  TU_OK(clnn_tensor_write(tx, x, nx * sizeof(float)));
  tu_poison(ty);
  TU_OK(clnn_resize_fwd(ctx, &d, tx, ty));
  float *y = tu_download(ty);
  ck_assert(tu_compare("resize at offsets", y, ref, ny, 2e-6, 2e-6, NULL));
  /* pixel shuffle on the same views: (2, 12, 3, 5) <-> (2, 3, 6, 10), both 360 elements */
  clnn_pixel_shuffle_desc pd = {2, 12, 3, 5, 2};
  const int64_t pxd[4] = {2, 12, 3, 5}, pyd[4] = {2, 3, 6, 10};
  clnn_tensor *px, *py;
  TU_OK(clnn_tensor_view(buf, pad * sizeof(float), CLNN_FLOAT32, 4, pxd, &px));
  TU_OK(clnn_tensor_view(buf, (2 * pad + nx) * sizeof(float), CLNN_FLOAT32, 4, pyd, &py));
  float *pref = tu_alloc(360);
  TU_OK(clnn_ref_pixel_shuffle_fwd(&pd, x, pref));
  tu_poison(py);
  TU_OK(clnn_pixel_shuffle_fwd(ctx, &pd, px, py));
  float *pgot = tu_download(py);
  ck_assert(tu_compare("pixel_shuffle at offsets", pgot, pref, 360, 0.0, 0.0, NULL));
  clnn_tensor_free(tx);
  clnn_tensor_free(ty);
  clnn_tensor_free(px);
  clnn_tensor_free(py);
  clnn_buffer_free(buf);
  free(x);
  free(ref);
  free(y);
  free(pref);
  free(pgot);
}
END_TEST

/* ------------------------------------------------------- half precision */

static const char *dt_key(clnn_dtype dt) { return dt == CLNN_FLOAT16 ? "dt=f16" : "dt=bf16"; }

/* Where half precision has its edges: NaN, +-inf, +-0, a float16 overflow
 * (70000 is inf once rounded), its largest finite value, values whose sums
 * overflow float16 (+-60000: two of them make an inf on store), a float16
 * subnormal, a value that rounds to -0 in float16. */
static const float half_specials[] = {NAN,      INFINITY, -INFINITY, 0.0f,  -0.0f, 70000.0f,
                                      65504.0f, 60000.0f, -60000.0f, 3e-6f, -1e-8f};
#define N_HALF_SPECIALS (sizeof half_specials / sizeof half_specials[0])

/* The specials at first, first + stride, ... (mod n) of p. */
static void put_specials(float *p, size_t n, size_t first, size_t stride) {
  for (size_t i = 0; i < N_HALF_SPECIALS; i++) p[(first + i * stride) % n] = half_specials[i];
}

/* Every resize case in float16 and bfloat16: inputs (specials included)
 * rounded to the type, the double reference on those, the device (float32
 * math, one rounding on store) against it rounded the same way, outputs
 * poisoned, two runs bit-identical. The absolute slack is the float32
 * test's: sums of many terms in float32 against the double reference. */
START_TEST(test_resize_half) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const clnn_resize_desc d = rs_desc(&rs_cases[_i / TU_N_HALF_TYPES]);
  char what[192];
  rs_describe(&d, what, sizeof what);
  snprintf(what + strlen(what), sizeof what - strlen(what), " %s", dt_key(dt));
  const int64_t xd[4] = {d.n, d.c, d.h, d.w}, yd[4] = {d.n, d.c, d.out_h, d.out_w};
  const size_t nx = numel4(xd), ny = numel4(yd);
  float *x = tu_alloc(nx), *dy = tu_alloc(ny), *y_ref = tu_alloc(ny), *dx_ref = tu_alloc(nx);
  tu_fill_normal(x, nx, 600 + (uint64_t)_i, 0.0f, 1.0f);
  tu_fill_normal(dy, ny, 700 + (uint64_t)_i, 0.0f, 1.0f);
  put_specials(x, nx, 3, 7);
  put_specials(dy, ny, 5, 11);
  tu_round_to(dt, x, nx);
  tu_round_to(dt, dy, ny);
  TU_OK(clnn_ref_resize_fwd(&d, x, y_ref));
  TU_OK(clnn_ref_resize_bwd(&d, dy, dx_ref));
  const double terms = ceil((double)d.out_h / d.h) * ceil((double)d.out_w / d.w) * 4.0;
  const double abs_tol = 2e-6 * (terms > 64 ? terms / 64 : 1.0);
  float *y[2], *dx[2];
  for (int rep = 0; rep < 2; rep++) {
    y[rep] = run_device_dt(op_rs_fwd, &d, xd, x, yd, dt, what);
    dx[rep] = run_device_dt(op_rs_bwd, &d, yd, dy, xd, dt, what);
  }
  tu_check_half(what, "forward", y[0], y_ref, ny, dt, abs_tol);
  tu_check_half(what, "backward", dx[0], dx_ref, nx, dt, abs_tol);
  ck_assert_msg(!memcmp(y[0], y[1], ny * sizeof(float)), "%s: forward repeats differ", what);
  ck_assert_msg(!memcmp(dx[0], dx[1], nx * sizeof(float)), "%s: backward repeats differ", what);
  for (int rep = 0; rep < 2; rep++) {
    free(y[rep]);
    free(dx[rep]);
  }
  free(x);
  free(dy);
  free(y_ref);
  free(dx_ref);
}
END_TEST

/* --- moves copy bits: pixel shuffle (both ways) and the nearest forward */

typedef clnn_status (*ref_fn)(const void *desc, const float *src, float *dst);
static clnn_status ref_ps_fwd(const void *d, const float *s, float *o) { return clnn_ref_pixel_shuffle_fwd(d, s, o); }
static clnn_status ref_ps_bwd(const void *d, const float *s, float *o) { return clnn_ref_pixel_shuffle_bwd(d, s, o); }
static clnn_status ref_pu_fwd(const void *d, const float *s, float *o) { return clnn_ref_pixel_unshuffle_fwd(d, s, o); }
static clnn_status ref_pu_bwd(const void *d, const float *s, float *o) { return clnn_ref_pixel_unshuffle_bwd(d, s, o); }
static clnn_status ref_rs_fwd(const void *d, const float *s, float *o) { return clnn_ref_resize_fwd(d, s, o); }

/* n random 2-byte patterns, and among them NaN with payloads (quiet and
 * signalling, both signs, in either type's layout), -0, +-inf and the
 * smallest float16 subnormal. */
static uint16_t *random_bits(size_t n, uint64_t seed) {
  static const uint16_t forced[] = {0x7c01, 0xfe01, 0x7f81, 0xff80, 0x8000, 0x7c00, 0xfc00, 0x7fff, 0x0001};
  uint16_t *b = malloc(n * sizeof *b + 1);
  ck_assert_ptr_nonnull(b);
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) b[i] = (uint16_t)(tu_rng_next(&r) >> 48);
  for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++) b[(k * 5) % n] = forced[k];
  return b;
}

/* The reference move applied to bit patterns: each pattern travels as the
 * float of its integer value (exact), so the expected bits are exact. */
static uint16_t *ref_bits(ref_fn ref, const void *desc, const uint16_t *src, size_t nsrc, size_t ndst) {
  float *s = tu_alloc(nsrc), *d = tu_alloc(ndst);
  for (size_t i = 0; i < nsrc; i++) s[i] = (float)src[i];
  TU_OK(ref(desc, s, d));
  uint16_t *out = malloc(ndst * sizeof *out + 1);
  ck_assert_ptr_nonnull(out);
  for (size_t i = 0; i < ndst; i++) out[i] = (uint16_t)d[i];
  free(s);
  free(d);
  return out;
}

/* op on random bit patterns of type dt (dst poisoned) equals the reference
 * move bit for bit, twice. */
static void check_bits_moved(op_fn op, ref_fn ref, const void *desc, const int64_t src_dims[4],
                             const int64_t dst_dims[4], clnn_dtype dt, uint64_t seed, const char *what) {
  const size_t nsrc = numel4(src_dims), ndst = numel4(dst_dims);
  uint16_t *bits = random_bits(nsrc, seed), *want = ref_bits(ref, desc, bits, nsrc, ndst);
  uint16_t *got = malloc(ndst * sizeof *got + 1);
  ck_assert_ptr_nonnull(got);
  for (int rep = 0; rep < 2; rep++) {
    clnn_tensor *s = tu_tensor_dt(dt, 4, src_dims, NULL), *d = tu_tensor_dt(dt, 4, dst_dims, NULL);
    TU_OK(clnn_tensor_write(s, bits, nsrc * sizeof *bits));
    tu_poison(d);
    clnn_context_clear_variants(tu_ctx());
    TU_OK(op(tu_ctx(), desc, s, d));
    assert_planned_class(what);
    TU_OK(clnn_tensor_read(d, got, ndst * sizeof *got));
    for (size_t i = 0; i < ndst; i++)
      ck_assert_msg(got[i] == want[i], "%s %s: [%zu] is 0x%04x, the move gives 0x%04x", what, dt_key(dt), i,
                    got[i], want[i]);
    clnn_tensor_free(s);
    clnn_tensor_free(d);
  }
  free(bits);
  free(want);
  free(got);
}

/* Every pixel shuffle case, both directions, forward and backward, in both
 * half types: exact bit copies. */
START_TEST(test_shuffle_half_bits) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const ps_case *c = &ps_cases[_i / TU_N_HALF_TYPES];
  const clnn_pixel_shuffle_desc d = {c->n, c->c, c->h, c->w, c->r};
  const clnn_pixel_shuffle_desc u = {c->n, c->c / (c->r * c->r), c->h * c->r, c->w * c->r, c->r};
  int64_t yd[4], uyd[4];
  TU_OK(clnn_pixel_shuffle_desc_check(&d, yd));
  TU_OK(clnn_pixel_unshuffle_desc_check(&u, uyd));
  const int64_t xd[4] = {d.n, d.c, d.h, d.w}, uxd[4] = {u.n, u.c, u.h, u.w};
  const uint64_t seed = 900 + 4 * (uint64_t)_i;
  check_bits_moved(op_ps_fwd, ref_ps_fwd, &d, xd, yd, dt, seed, "pixel_shuffle fwd");
  check_bits_moved(op_ps_bwd, ref_ps_bwd, &d, yd, xd, dt, seed + 1, "pixel_shuffle bwd");
  check_bits_moved(op_pu_fwd, ref_pu_fwd, &u, uxd, uyd, dt, seed + 2, "pixel_unshuffle fwd");
  check_bits_moved(op_pu_bwd, ref_pu_bwd, &u, uyd, uxd, dt, seed + 3, "pixel_unshuffle bwd");
}
END_TEST

/* The nearest forward of every nearest case copies bits too. */
START_TEST(test_nearest_half_bits) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const clnn_resize_desc d = rs_desc(&rs_cases[_i / TU_N_HALF_TYPES]);
  if (d.mode != CLNN_RESIZE_NEAREST) return;
  char what[192];
  rs_describe(&d, what, sizeof what);
  const int64_t xd[4] = {d.n, d.c, d.h, d.w}, yd[4] = {d.n, d.c, d.out_h, d.out_w};
  check_bits_moved(op_rs_fwd, ref_rs_fwd, &d, xd, yd, dt, 1100 + (uint64_t)_i, what);
}
END_TEST

/* op on views of type dt at odd element offsets of one buffer (2-byte
 * aligned only: the kernels' 16-lane loads and stores must take that),
 * against ref (computed on src rounded to dt). */
static void check_view_half(op_fn op, const void *desc, const int64_t src_dims[4], const float *src,
                            const int64_t dst_dims[4], const float *ref, clnn_dtype dt, const char *what,
                            const char *pass) {
  const size_t nsrc = numel4(src_dims), ndst = numel4(dst_dims), es = clnn_dtype_size(dt);
  const size_t osrc = 1, odst = (osrc + nsrc + 2) | 1;
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(tu_ctx(), (odst + ndst + 1) * es, &buf));
  clnn_tensor *s, *d;
  TU_OK(clnn_tensor_view(buf, osrc * es, dt, 4, src_dims, &s));
  TU_OK(clnn_tensor_view(buf, odst * es, dt, 4, dst_dims, &d));
  TU_OK(clnn_tensor_write_f32(s, src, nsrc));
  tu_poison(d);
  TU_OK(op(tu_ctx(), desc, s, d));
  float *got = tu_download_f32(d);
  tu_check_half(what, pass, got, ref, ndst, dt, 2e-6);
  free(got);
  clnn_tensor_free(s);
  clnn_tensor_free(d);
  clnn_buffer_free(buf);
}

/* Bilinear and nearest 2x (the fast paths), a generic resize and pixel
 * shuffle r = 2, forward and backward, on half views at odd offsets. */
START_TEST(test_half_odd_offsets) {
  static const rs_case rc[] = {{2, 3, 9, 40, 18, 80, BIL, 0, 0, 0},
                               {2, 3, 8, 40, 16, 80, NEAR, 0, 0, 0},
                               {1, 2, 13, 10, 29, 33, BIL, 0, 0, 0}};
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    const clnn_dtype dt = tu_half_types[t];
    for (size_t k = 0; k < sizeof rc / sizeof rc[0]; k++) {
      const clnn_resize_desc d = rs_desc(&rc[k]);
      char what[192];
      rs_describe(&d, what, sizeof what);
      snprintf(what + strlen(what), sizeof what - strlen(what), " %s at odd offsets", dt_key(dt));
      const int64_t xd[4] = {d.n, d.c, d.h, d.w}, yd[4] = {d.n, d.c, d.out_h, d.out_w};
      const size_t nx = numel4(xd), ny = numel4(yd);
      float *x = tu_alloc(nx), *dy = tu_alloc(ny), *y_ref = tu_alloc(ny), *dx_ref = tu_alloc(nx);
      tu_fill_normal(x, nx, 1200 + k, 0.0f, 1.0f);
      tu_fill_normal(dy, ny, 1300 + k, 0.0f, 1.0f);
      tu_round_to(dt, x, nx);
      tu_round_to(dt, dy, ny);
      TU_OK(clnn_ref_resize_fwd(&d, x, y_ref));
      TU_OK(clnn_ref_resize_bwd(&d, dy, dx_ref));
      check_view_half(op_rs_fwd, &d, xd, x, yd, y_ref, dt, what, "forward");
      check_view_half(op_rs_bwd, &d, yd, dy, xd, dx_ref, dt, what, "backward");
      free(x);
      free(dy);
      free(y_ref);
      free(dx_ref);
    }
    const clnn_pixel_shuffle_desc pd = {2, 12, 3, 37, 2};
    const int64_t pxd[4] = {2, 12, 3, 37}, pyd[4] = {2, 3, 6, 74};
    const size_t n = numel4(pxd);
    float *x = tu_alloc(n), *y_ref = tu_alloc(n);
    tu_fill_normal(x, n, 1400, 0.0f, 1.0f);
    tu_round_to(dt, x, n);
    TU_OK(clnn_ref_pixel_shuffle_fwd(&pd, x, y_ref));
    check_view_half(op_ps_fwd, &pd, pxd, x, pyd, y_ref, dt, "pixel_shuffle at odd offsets", "forward");
    check_view_half(op_ps_bwd, &pd, pyd, y_ref, pxd, x, dt, "pixel_shuffle at odd offsets", "backward");
    check_view_half(op_pu_fwd, &(clnn_pixel_shuffle_desc){2, 3, 6, 74, 2}, pyd, y_ref, pxd, x, dt,
                    "pixel_unshuffle at odd offsets", "forward");
    free(x);
    free(y_ref);
  }
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Valid tensors for pixel_shuffle mb2ic8ih3iw5 r2 and resize mb2ic8ih3iw5 oh7ow9. */
static clnn_tensor *bx, *by_ps, *by_rs;
static clnn_pixel_shuffle_desc bpd;
static clnn_resize_desc brd;

static void bad_setup(void) {
  bpd = (clnn_pixel_shuffle_desc){2, 8, 3, 5, 2};
  brd = clnn_resize_desc_make(2, 8, 3, 5, 7, 9, CLNN_RESIZE_BILINEAR);
  const int64_t xd[4] = {2, 8, 3, 5}, ypd[4] = {2, 2, 6, 10}, yrd[4] = {2, 8, 7, 9};
  bx = tu_tensor(4, xd, NULL);
  by_ps = tu_tensor(4, ypd, NULL);
  by_rs = tu_tensor(4, yrd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  tu_poison(by_ps);
  tu_poison(by_rs);
}

static void bad_teardown(void) {
  clnn_tensor_free(bx);
  clnn_tensor_free(by_ps);
  clnn_tensor_free(by_rs);
}

/* Outputs must still hold their poison: a failed call writes nothing. */
static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  const clnn_tensor *outs[2] = {by_ps, by_rs};
  for (int k = 0; k < 2; k++) {
    float *y = tu_download(outs[k]);
    for (size_t i = 0; i < clnn_tensor_numel(outs[k]); i++) ck_assert_msg(isnan(y[i]), "output %d [%zu] written", k, i);
    free(y);
  }
}

static bool errmsg_has(const char *s) { return strstr(clnn_context_errmsg(tu_ctx()), s) != NULL; }

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_shuffle_fwd(NULL, &bpd, bx, by_ps));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_shuffle_fwd(ctx, NULL, bx, by_ps));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_shuffle_fwd(ctx, &bpd, NULL, by_ps));
  ck_assert(errmsg_has("'x'"));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_shuffle_bwd(ctx, &bpd, by_ps, NULL));
  ck_assert(errmsg_has("'dx'"));
  const clnn_pixel_shuffle_desc ud = {2, 2, 6, 10, 2}; /* the inverse of bpd */
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_unshuffle_fwd(ctx, &ud, NULL, bx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_unshuffle_bwd(ctx, &ud, bx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_resize_fwd(NULL, &brd, bx, by_rs));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_resize_fwd(ctx, NULL, bx, by_rs));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_resize_fwd(ctx, &brd, bx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_resize_bwd(ctx, &brd, NULL, bx));
  ck_assert(errmsg_has("'dy'"));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pixel_shuffle_desc_check(NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_resize_desc_check(NULL));
  float one = 1.0f;
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_pixel_shuffle_fwd(&bpd, NULL, &one));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_resize_bwd(&brd, &one, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shuffle_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_pixel_shuffle_desc d = bpd;
  d.c = 6; /* not divisible by r*r = 4 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &d, bx, by_ps));
  ck_assert(errmsg_has("divisible by r*r"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_desc_check(&d, NULL));
  d = bpd;
  d.r = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &d, bx, by_ps));
  d.r = -2;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_bwd(ctx, &d, by_ps, bx));
  ck_assert(errmsg_has("desc->r"));
  d = bpd;
  d.h = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &d, bx, by_ps));
  d = bpd;
  d.n = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &d, bx, by_ps));
  d = bpd; /* unshuffle of h = 3, w = 5 by 2 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_unshuffle_fwd(ctx, &d, bx, by_ps));
  ck_assert(errmsg_has("divisible by r"));
  d = (clnn_pixel_shuffle_desc){1 << 20, 1 << 12, 1 << 10, 1, 2};
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_pixel_shuffle_desc_check(&d, NULL));
  d = bpd;
  d.w = (int64_t)1 << 40;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_desc_check(&d, NULL));
  d = bpd;
  d.c = 6;
  float buf[240];
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_pixel_shuffle_fwd(&d, buf, buf));
  assert_untouched();
}
END_TEST

/* Empty tensors, as torch takes them: pixel (un)shuffle with 0 images,
 * channels, rows or columns, and resize of 0 images or channels, succeed on
 * empty tensors of each float type and write nothing, on the device and in
 * the reference. */
START_TEST(test_empty_tensors) {
  clnn_context *ctx = tu_ctx();
  static const clnn_dtype types[] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  for (int t = 0; t < 3; t++) {
  const clnn_dtype dt = types[t];
  static const int64_t shapes[][4] = {{0, 8, 2, 4}, {2, 0, 2, 4}, {2, 8, 0, 4}, {2, 8, 4, 0}};
  for (int i = 0; i < 4; i++) {
    for (int unshuffle = 0; unshuffle < 2; unshuffle++) {
      clnn_pixel_shuffle_desc d = {shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 2};
      int64_t yd[4];
      TU_OK(unshuffle ? clnn_pixel_unshuffle_desc_check(&d, yd) : clnn_pixel_shuffle_desc_check(&d, yd));
      clnn_tensor *x, *y;
      TU_OK(clnn_tensor_create(ctx, dt, 4, shapes[i], &x));
      TU_OK(clnn_tensor_create(ctx, dt, 4, yd, &y));
      TU_OK(unshuffle ? clnn_pixel_unshuffle_fwd(ctx, &d, x, y) : clnn_pixel_shuffle_fwd(ctx, &d, x, y));
      TU_OK(unshuffle ? clnn_pixel_unshuffle_bwd(ctx, &d, y, x) : clnn_pixel_shuffle_bwd(ctx, &d, y, x));
      float dummy;
      TU_OK(unshuffle ? clnn_ref_pixel_unshuffle_fwd(&d, &dummy, &dummy)
                      : clnn_ref_pixel_shuffle_fwd(&d, &dummy, &dummy));
      clnn_tensor_free(x);
      clnn_tensor_free(y);
    }
  }
  {
    clnn_resize_desc d = brd;
    d.n = 0;
    int64_t xd[4] = {d.n, d.c, d.h, d.w}, yd[4] = {d.n, d.c, d.out_h, d.out_w};
    clnn_tensor *x, *y;
    TU_OK(clnn_tensor_create(ctx, dt, 4, xd, &x));
    TU_OK(clnn_tensor_create(ctx, dt, 4, yd, &y));
    TU_OK(clnn_resize_fwd(ctx, &d, x, y));
    TU_OK(clnn_resize_bwd(ctx, &d, y, x));
    float dummy;
    TU_OK(clnn_ref_resize_fwd(&d, &dummy, &dummy));
    TU_OK(clnn_ref_resize_bwd(&d, &dummy, &dummy));
    clnn_tensor_free(x);
    clnn_tensor_free(y);
  }
  }
  /* 0 channels: torch's interpolate refuses them too */
  clnn_resize_desc c0 = brd;
  c0.c = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_desc_check(&c0));
}
END_TEST

START_TEST(test_bad_resize_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_resize_desc d = brd;
  d.out_h = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  ck_assert(errmsg_has("out_h"));
  d = brd;
  d.out_w = -3;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_bwd(ctx, &d, by_rs, bx));
  d = brd;
  d.w = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.c = -8;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.mode = (clnn_resize_mode)7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.align_corners = 2;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.mode = CLNN_RESIZE_NEAREST;
  d.align_corners = 1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  ck_assert(errmsg_has("align_corners"));
  d = brd;
  d.scale_h = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.scale_w = INFINITY;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.scale_w = -2.0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &d, bx, by_rs));
  d = brd;
  d.out_h = d.out_w = 1 << 20; /* 2 * 8 * 2^40 elements */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_resize_desc_check(&d));
  d = brd;
  d.out_h = 0;
  float buf[1008];
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_resize_fwd(&d, buf, buf));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes_aliasing_context) {
  clnn_context *ctx = tu_ctx();
  /* y of the resize where the shuffle's y is needed, and the reverse */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_pixel_shuffle_fwd(ctx, &bpd, bx, by_rs));
  ck_assert(errmsg_has("[2,2,6,10]"));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_resize_fwd(ctx, &brd, bx, by_ps));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_resize_bwd(ctx, &brd, by_ps, bx));
  /* backward takes dy with y's shape */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_pixel_shuffle_bwd(ctx, &bpd, bx, by_ps));
  /* an int32 tensor */
  const int64_t xd[4] = {2, 8, 3, 5};
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, xd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &brd, xi, by_rs));
  clnn_tensor_free(xi);
  /* output viewing the input's memory (unshuffle (1,1,4,4) -> (1,4,2,2), same size) */
  clnn_pixel_shuffle_desc ud = {1, 1, 4, 4, 2};
  const int64_t ud_x[4] = {1, 1, 4, 4}, ud_y[4] = {1, 4, 2, 2};
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 16 * sizeof(float), &buf));
  clnn_tensor *ax, *ay;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, ud_x, &ax));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, ud_y, &ay));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_pixel_unshuffle_fwd(ctx, &ud, ax, ay));
  clnn_resize_desc same = clnn_resize_desc_make(1, 1, 4, 4, 4, 4, CLNN_RESIZE_NEAREST);
  TU_FAILS(CLNN_ERR_ALIASING, clnn_resize_bwd(ctx, &same, ax, ax));
  clnn_tensor_free(ax);
  clnn_tensor_free(ay);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, xd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_resize_fwd(ctx, &brd, xo, by_rs));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_pixel_shuffle_fwd(ctx, &bpd, xo, by_ps));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* x, y, dy and dx share one float type: a mix, or int32, is refused with
 * CLNN_ERR_INVALID_VALUE naming the argument and its type. */
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  const int64_t xd[4] = {2, 8, 3, 5}, ypd[4] = {2, 2, 6, 10}, yrd[4] = {2, 8, 7, 9};
  clnn_tensor *hx = tu_tensor_dt(CLNN_FLOAT16, 4, xd, NULL), *bx16 = tu_tensor_dt(CLNN_BFLOAT16, 4, xd, NULL);
  clnn_tensor *hy_rs = tu_tensor_dt(CLNN_FLOAT16, 4, yrd, NULL), *by_ps16 = tu_tensor_dt(CLNN_BFLOAT16, 4, ypd, NULL);
  clnn_tensor *ix;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, xd, &ix));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &brd, hx, by_rs));
  ck_assert_msg(errmsg_has("'y'") && errmsg_has("float16"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &brd, bx16, hy_rs));
  ck_assert_msg(errmsg_has("'y'") && errmsg_has("bfloat16"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_fwd(ctx, &brd, ix, by_rs));
  ck_assert_msg(errmsg_has("'x'") && errmsg_has("int32"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_resize_bwd(ctx, &brd, hy_rs, bx));
  ck_assert_msg(errmsg_has("'dx'") && errmsg_has("float16"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &bpd, hx, by_ps16));
  ck_assert_msg(errmsg_has("'y'") && errmsg_has("bfloat16"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &bpd, bx, by_ps16));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_bwd(ctx, &bpd, by_ps16, hx));
  ck_assert_msg(errmsg_has("'dx'"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_shuffle_fwd(ctx, &bpd, ix, by_ps));
  ck_assert_msg(errmsg_has("'x'") && errmsg_has("int32"), "%s", clnn_context_errmsg(ctx));
  const clnn_pixel_shuffle_desc ud = {2, 2, 6, 10, 2}; /* the inverse of bpd */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pixel_unshuffle_bwd(ctx, &ud, ix, by_ps));
  ck_assert_msg(errmsg_has("'dy'") && errmsg_has("int32"), "%s", clnn_context_errmsg(ctx));
  clnn_tensor_free(hx);
  clnn_tensor_free(bx16);
  clnn_tensor_free(hy_rs);
  clnn_tensor_free(by_ps16);
  clnn_tensor_free(ix);
  assert_untouched();
}
END_TEST

static Suite *resample_suite(void) {
  Suite *s = suite_create("resample");
  TCase *ps = tcase_create("pixel_shuffle");
  tcase_set_timeout(ps, 600);
  tcase_add_loop_test(ps, test_pixel_shuffle, 0, N_PS);
  tcase_add_loop_test(ps, test_pixel_unshuffle, 0, N_PS);
  tcase_add_test(ps, test_pixel_shuffle_layout);
  suite_add_tcase(s, ps);
  TCase *rs = tcase_create("resize");
  tcase_set_timeout(rs, 600);
  tcase_add_loop_test(rs, test_resize_integers, 0, N_RS);
  tcase_add_loop_test(rs, test_resize_floats, 0, N_RS);
  tcase_add_test(rs, test_resize_anchor_shapes);
  tcase_add_test(rs, test_nearest_matches_torch);
  tcase_add_test(rs, test_bilinear_weights_match_torch);
  tcase_add_test(rs, test_nan_propagation);
  tcase_add_test(rs, test_reference_backward_fd);
  tcase_add_test(rs, test_views_at_offsets);
  suite_add_tcase(s, rs);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 600);
  tcase_add_loop_test(half, test_resize_half, 0, N_RS * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_shuffle_half_bits, 0, N_PS * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_nearest_half_bits, 0, N_RS * TU_N_HALF_TYPES);
  tcase_add_test(half, test_half_odd_offsets);
  suite_add_tcase(s, half);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_shuffle_descriptors);
  tcase_add_test(bad, test_bad_resize_descriptors);
  tcase_add_test(bad, test_empty_tensors);
  tcase_add_test(bad, test_bad_shapes_aliasing_context);
  tcase_add_test(bad, test_bad_dtypes);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(resample_suite()); }
