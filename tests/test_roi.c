/*
 * test_roi.c - the RoI family (RoI align, RoI pool, PS-RoI align, PS-RoI
 * pool), forward and backward:
 *  - device against the host reference on a table of shapes (odd sizes,
 *    channels off the 16/64-channel blocks, batch 1 and 3, sampling ratio
 *    0/1/2, aligned on and off, a 1x1 map) with RoIs inside, on the border,
 *    partly and wholly outside the map, of zero width, points, tiny and
 *    larger than the map, batch indices 0 .. N-1; outputs poisoned first,
 *    repeats bit-identical;
 *  - device and reference against torchvision's own numbers (roi_golden.h);
 *  - the reference backward against central finite differences of the
 *    reference forward (double);
 *  - images without RoIs, out-of-range argmax entries and in-range ones
 *    outside their bins, workspace chunking;
 *  - the GPU-class variants forced on any device (CLNN_VARIANT) on their
 *    edge cases: more RoIs per image than a work-group stages at once,
 *    planes smaller and larger than a work-group, 1x1 outputs and maps,
 *    RoIs outside the map, zero-size boxes (every suite runs again as
 *    test_roi.gpu on those variants);
 *  - clnn-bench's R mode on .npy files (x, rois, dy in; y, argmax, dx out);
 *  - bad arguments: right status, a message, nothing written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/npy.h"
#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"
#include "roi_golden.h"

typedef struct roi_case {
  clnn_roi_op op;
  int n, c, h, w, k, ph, pw;
  float scale;
  int sr, aligned;
} roi_case;

static const roi_case cases[] = {
    /* op            n   c   h   w   k  ph pw  scale  sr al */
    {CLNN_ROI_ALIGN, 2, 20, 13, 11, 24, 3, 4, 0.5f, 2, 1},     /* odd sizes, 2 channel blocks */
    {CLNN_ROI_ALIGN, 3, 37, 9, 14, 40, 7, 7, 0.25f, 0, 0},     /* adaptive, unaligned, batch 3 */
    {CLNN_ROI_ALIGN, 1, 16, 8, 8, 16, 2, 2, 1.0f, 1, 0},       /* sr 1, batch 1 */
    {CLNN_ROI_ALIGN, 2, 70, 7, 5, 17, 1, 1, 0.125f, 0, 1},     /* 1x1 bins, 5 blocks */
    {CLNN_ROI_ALIGN, 1, 3, 1, 1, 9, 2, 2, 1.0f, 2, 0},         /* 1x1 map */
    {CLNN_ROI_ALIGN, 3, 128, 5, 6, 20, 2, 2, 0.5f, 2, 1},      /* 8 blocks: 4 per work-item */
    {CLNN_ROI_ALIGN, 2, 40, 13, 11, 10, 9, 8, 0.5f, 1, 1},     /* 72 bins: not staged */
    {CLNN_ROI_POOL, 2, 20, 13, 11, 24, 3, 4, 0.5f, 0, 0},      /* odd sizes */
    {CLNN_ROI_POOL, 3, 37, 9, 14, 40, 7, 7, 0.25f, 0, 0},      /* batch 3, 7x7 bins */
    {CLNN_ROI_POOL, 1, 130, 6, 7, 9, 2, 3, 1.0f, 0, 0},        /* 9 blocks */
    {CLNN_ROI_POOL, 2, 64, 5, 9, 12, 3, 3, 0.25f, 0, 0},       /* 4 blocks */
    {CLNN_ROI_POOL, 2, 40, 13, 11, 10, 9, 8, 0.5f, 0, 0},      /* 72 bins: not staged */
    {CLNN_PS_ROI_ALIGN, 2, 36, 13, 11, 24, 3, 3, 0.5f, 2, 0},  /* 4 output channels */
    {CLNN_PS_ROI_ALIGN, 3, 50, 9, 14, 40, 5, 5, 0.25f, 0, 0},  /* adaptive */
    {CLNN_PS_ROI_ALIGN, 1, 12, 8, 8, 16, 2, 3, 1.0f, 1, 0},    /* sr 1, non-square bins */
    {CLNN_PS_ROI_POOL, 2, 36, 13, 11, 24, 3, 3, 0.5f, 0, 0},
    {CLNN_PS_ROI_POOL, 3, 50, 9, 14, 40, 5, 5, 0.25f, 0, 0},
    {CLNN_PS_ROI_POOL, 1, 12, 1, 8, 16, 2, 3, 1.0f, 0, 0},     /* one row: every bin empty */
    /* planes larger than a GPU work-group (256 elements), odd channel counts */
    {CLNN_ROI_ALIGN, 2, 3, 23, 29, 30, 2, 3, 0.5f, 0, 1},      /* 667-pixel planes */
    {CLNN_ROI_POOL, 2, 3, 23, 29, 30, 4, 3, 0.5f, 0, 0},
    {CLNN_PS_ROI_ALIGN, 2, 4, 19, 17, 11, 1, 1, 0.5f, 2, 0},   /* 1x1 bins */
    {CLNN_PS_ROI_POOL, 2, 18, 19, 17, 11, 3, 3, 0.5f, 0, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_roi_desc desc_of(const roi_case *c) {
  clnn_roi_desc d = clnn_roi_desc_make(c->op, c->n, c->c, c->h, c->w, c->k, c->ph, c->pw, c->scale);
  d.sampling_ratio = c->sr;
  d.aligned = c->aligned;
  return d;
}

/*
 * RoIs of every kind, cycling by k % 8 (batch index k % n, so 0 and n-1
 * appear): inside (on half feature pixels for even k, so roi_pool's round
 * meets ties), the whole image on the border, partly outside, wholly
 * outside, zero width, a point, tiny (under one feature pixel), larger
 * than the map.
 */
static void make_rois(const clnn_roi_desc *d, uint64_t seed, float *r) {
  tu_rng g = tu_rng_make(seed);
  const double iw = (double)d->w / d->spatial_scale, ih = (double)d->h / d->spatial_scale;
  const double px = 1.0 / d->spatial_scale;
  for (int64_t k = 0; k < d->num_rois; k++) {
    double x1, y1, x2, y2;
    double ux = tu_rng_uniform(&g, 0, 1), uy = tu_rng_uniform(&g, 0, 1);
    double vx = tu_rng_uniform(&g, 0, 1), vy = tu_rng_uniform(&g, 0, 1);
    switch (k % 8) {
      case 0:
        x1 = ux * iw * 0.6, y1 = uy * ih * 0.6, x2 = x1 + vx * iw * 0.4, y2 = y1 + vy * ih * 0.4;
        if (k % 16 == 0) x1 = (floor(x1 / px) + 0.5) * px, y2 = (floor(y2 / px) + 0.5) * px + px;
        break;
      case 1:
        x1 = 0, y1 = 0, x2 = iw, y2 = ih;
        break;
      case 2:
        x1 = -ux * iw * 0.5 - px, y1 = uy * ih * 0.5, x2 = vx * iw * 0.5, y2 = ih + vy * ih;
        break;
      case 3:
        x1 = iw + 2 * px + ux * iw, y1 = -ih - 2 * px - uy * ih, x2 = x1 + vx * iw, y2 = y1 + vy * ih * 0.5;
        break;
      case 4:
        x1 = x2 = ux * iw, y1 = uy * ih * 0.5, y2 = y1 + vy * ih * 0.5;
        break;
      case 5:
        x1 = x2 = ux * iw, y1 = y2 = uy * ih;
        break;
      case 6:
        x1 = ux * iw, y1 = uy * ih, x2 = x1 + vx * 0.6 * px, y2 = y1 + vy * 0.6 * px;
        break;
      default:
        x1 = -ux * iw - px, y1 = -uy * ih, x2 = iw + vx * iw, y2 = ih + vy * ih + px;
        break;
    }
    float *row = r + k * 5;
    row[0] = (float)(k % d->n);
    row[1] = (float)x1, row[2] = (float)y1, row[3] = (float)x2, row[4] = (float)y2;
    if (row[3] < row[1]) row[3] = row[1];
    if (row[4] < row[2]) row[4] = row[2];
  }
}

/* ---------------------------------------------------------------- problem */

/* Host data of one problem and its reference results. */
typedef struct problem {
  clnn_roi_desc d;
  int64_t oc;
  size_t nx, ny;
  float *x, *rois, *dy, *y_ref, *dx_ref;
  int32_t *am_ref; /* ROI_POOL only */
  char what[256];
} problem;

static void describe(const clnn_roi_desc *d, char *buf, size_t n) {
  int len = snprintf(buf, n, "%s mb%lldic%lldih%lldiw%lld n%lld oh%lldow%lld scale%g", clnn_roi_op_name(d->op),
                     (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->num_rois,
                     (long long)d->pooled_h, (long long)d->pooled_w, (double)d->spatial_scale);
  if (d->op == CLNN_ROI_ALIGN || d->op == CLNN_PS_ROI_ALIGN)
    len += snprintf(buf + len, n - (size_t)len, " sr%lld", (long long)(d->sampling_ratio > 0 ? d->sampling_ratio : 0));
  if (d->op == CLNN_ROI_ALIGN) len += snprintf(buf + len, n - (size_t)len, " aligned%d", d->aligned);
  snprintf(buf + len, n - (size_t)len, " (with the test's RoIs)");
}

/* x ~ N(0, 1), dy ~ N(0, 1), the given RoIs (or the test mix), references. */
static void problem_make(problem *p, const clnn_roi_desc *d, uint64_t seed, const float *rois) {
  memset(p, 0, sizeof *p);
  p->d = *d;
  TU_OK(clnn_roi_desc_check(d, &p->oc));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->ny = (size_t)(d->num_rois * p->oc * d->pooled_h * d->pooled_w);
  p->x = tu_alloc(p->nx);
  p->dy = tu_alloc(p->ny);
  p->rois = tu_alloc((size_t)d->num_rois * 5);
  p->y_ref = tu_alloc(p->ny);
  p->dx_ref = tu_alloc(p->nx);
  tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
  tu_fill_normal(p->dy, p->ny, seed + 1, 0.0f, 1.0f);
  if (rois) memcpy(p->rois, rois, (size_t)d->num_rois * 5 * sizeof(float));
  else make_rois(d, seed + 2, p->rois);
  if (d->op == CLNN_ROI_POOL) p->am_ref = malloc(p->ny * sizeof *p->am_ref);
  TU_OK(clnn_ref_roi_fwd(d, p->x, p->rois, p->y_ref, p->am_ref));
  TU_OK(clnn_ref_roi_bwd(d, p->dy, p->rois, p->am_ref, p->dx_ref));
  describe(d, p->what, sizeof p->what);
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->dy);
  free(p->rois);
  free(p->y_ref);
  free(p->dx_ref);
  free(p->am_ref);
}

static clnn_tensor *int_tensor(clnn_context *ctx, int ndim, const int64_t *dims, const int32_t *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write(t, host, clnn_tensor_bytes(t)));
  return t;
}

/* A tensor of float type dt, uploaded from float32 values (rounded to dt) when host is given. */
static clnn_tensor *dt_tensor(clnn_context *ctx, clnn_dtype dt, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, dt, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write_f32(t, host, clnn_tensor_numel(t)));
  return t;
}

static clnn_tensor *float_tensor(clnn_context *ctx, int ndim, const int64_t *dims, const float *host) {
  return dt_tensor(ctx, CLNN_FLOAT32, ndim, dims, host);
}

/* Device forward with x and y of type dt (rois float32), y poisoned (NaN)
 * and argmax poisoned (-7); y (as float32) and, for ROI_POOL, argmax (when
 * am is not NULL) come back to the host. */
static clnn_status dev_fwd_dt(clnn_context *ctx, const problem *p, clnn_dtype dt, float *y, int32_t *am) {
  const clnn_roi_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, rd[2] = {d->num_rois, 5};
  int64_t yd[4] = {d->num_rois, p->oc, d->pooled_h, d->pooled_w}, ad[4] = {d->num_rois, d->c, d->pooled_h, d->pooled_w};
  clnn_tensor *tx = dt_tensor(ctx, dt, 4, xd, p->x), *tr = float_tensor(ctx, 2, rd, p->rois);
  clnn_tensor *ty = dt_tensor(ctx, dt, 4, yd, NULL), *ta = am ? int_tensor(ctx, 4, ad, NULL) : NULL;
  TU_OK(clnn_tensor_fill(ty, NAN));
  if (ta) TU_OK(clnn_tensor_fill(ta, -7.0f));
  clnn_status st = clnn_roi_fwd(ctx, d, tx, tr, ty, ta);
  if (st == CLNN_SUCCESS) {
    TU_OK(clnn_tensor_read_f32(ty, y, p->ny));
    if (ta) TU_OK(clnn_tensor_read(ta, am, p->ny * sizeof(int32_t)));
  }
  clnn_tensor_free(tx);
  clnn_tensor_free(tr);
  clnn_tensor_free(ty);
  clnn_tensor_free(ta);
  return st;
}

static clnn_status dev_fwd(clnn_context *ctx, const problem *p, float *y, int32_t *am) {
  return dev_fwd_dt(ctx, p, CLNN_FLOAT32, y, am);
}

/* Device backward with dy and dx of type dt (dx poisoned with NaN) given
 * argmax (ROI_POOL). */
static clnn_status dev_bwd_dt(clnn_context *ctx, const problem *p, clnn_dtype dt, const int32_t *am, float *dx) {
  const clnn_roi_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, rd[2] = {d->num_rois, 5};
  int64_t yd[4] = {d->num_rois, p->oc, d->pooled_h, d->pooled_w};
  clnn_tensor *tdy = dt_tensor(ctx, dt, 4, yd, p->dy), *tr = float_tensor(ctx, 2, rd, p->rois);
  clnn_tensor *tdx = dt_tensor(ctx, dt, 4, xd, NULL), *ta = am ? int_tensor(ctx, 4, yd, am) : NULL;
  TU_OK(clnn_tensor_fill(tdx, NAN));
  clnn_status st = clnn_roi_bwd(ctx, d, tdy, tr, ta, tdx);
  if (st == CLNN_SUCCESS) TU_OK(clnn_tensor_read_f32(tdx, dx, p->nx));
  clnn_tensor_free(tdy);
  clnn_tensor_free(tr);
  clnn_tensor_free(tdx);
  clnn_tensor_free(ta);
  return st;
}

static clnn_status dev_bwd(clnn_context *ctx, const problem *p, const int32_t *am, float *dx) {
  return dev_bwd_dt(ctx, p, CLNN_FLOAT32, am, dx);
}

static void assert_same_ints(const char *what, const int32_t *got, const int32_t *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(got[i] == ref[i], "%s: argmax[%zu] = %d, reference %d", what, i, (int)got[i], (int)ref[i]);
}

/* Forward and backward of one problem on ctx against its reference, each
 * run twice: the repeats must give the same bits. */
static void check_problem(clnn_context *ctx, const problem *p) {
  const bool pool = p->d.op == CLNN_ROI_POOL;
  float *y1 = tu_alloc(p->ny), *y2 = tu_alloc(p->ny), *dx1 = tu_alloc(p->nx), *dx2 = tu_alloc(p->nx);
  int32_t *am = pool ? malloc(p->ny * sizeof *am) : NULL;
  ck_assert_msg(dev_fwd(ctx, p, y1, am) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  ck_assert_msg(tu_compare(p->what, y1, p->y_ref, p->ny, 1e-5, 1e-5, NULL), "%s: y differs", p->what);
  if (pool) assert_same_ints(p->what, am, p->am_ref, p->ny);
  TU_OK(dev_fwd(ctx, p, y2, am));
  ck_assert_msg(!memcmp(y1, y2, p->ny * sizeof *y1), "%s: two forward runs differ", p->what);
  ck_assert_msg(dev_bwd(ctx, p, p->am_ref, dx1) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  ck_assert_msg(tu_compare(p->what, dx1, p->dx_ref, p->nx, 1e-5, 1e-5, NULL), "%s: dx differs", p->what);
  TU_OK(dev_bwd(ctx, p, p->am_ref, dx2));
  ck_assert_msg(!memcmp(dx1, dx2, p->nx * sizeof *dx1), "%s: two backward runs differ", p->what);
  free(y1);
  free(y2);
  free(dx1);
  free(dx2);
  free(am);
}

START_TEST(test_case_against_reference) {
  clnn_roi_desc d = desc_of(&cases[_i]);
  problem p;
  problem_make(&p, &d, 5000 + 17 * (uint64_t)_i, NULL);
  check_problem(tu_ctx(), &p);
  problem_free(&p);
}
END_TEST

/* RoI align with every sampling mode (adaptive as 0 and as -1, 1, 2),
 * aligned on and off, on one shape. */
START_TEST(test_sampling_and_alignment_grid) {
  static const int srs[] = {0, 1, 2, -1};
  for (int a = 0; a < 2; a++)
    for (size_t i = 0; i < sizeof srs / sizeof srs[0]; i++) {
      clnn_roi_desc d = clnn_roi_desc_make(CLNN_ROI_ALIGN, 2, 17, 10, 12, 16, 3, 2, 0.5f);
      d.sampling_ratio = srs[i];
      d.aligned = a;
      problem p;
      problem_make(&p, &d, 6000 + 10 * (uint64_t)a + i, NULL);
      check_problem(tu_ctx(), &p);
      problem_free(&p);
    }
}
END_TEST

/* ------------------------------------------------------------- torchvision */

static float golden_x_value(size_t i) { return (float)((i * 7919) % 101) / 8.0f - 6.0f; }
static float golden_dy_value(size_t i) { return (float)((i * 31) % 17) / 4.0f - 2.0f; }

/* Where torchvision gives NaN (ps_roi_align, zero-size RoI, adaptive
 * sampling: 0/0), libclnn gives 0 (see clnn.h). */
static void expected_of(const float *golden, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = isnan(golden[i]) ? 0.0f : golden[i];
}

START_TEST(test_matches_torchvision) {
  const golden_case *gc = &golden_cases[_i];
  clnn_roi_desc d = clnn_roi_desc_make(gc->op, GOLDEN_N, GOLDEN_C, GOLDEN_H, GOLDEN_W, GOLDEN_K, gc->ph, gc->pw,
                                       GOLDEN_SCALE);
  d.sampling_ratio = gc->sr;
  d.aligned = gc->aligned;
  problem p;
  problem_make(&p, &d, 1, golden_rois);
  ck_assert_int_eq((int)p.ny, gc->ny);
  for (size_t i = 0; i < p.nx; i++) p.x[i] = golden_x_value(i);
  for (size_t i = 0; i < p.ny; i++) p.dy[i] = golden_dy_value(i);
  TU_OK(clnn_ref_roi_fwd(&d, p.x, p.rois, p.y_ref, p.am_ref));
  TU_OK(clnn_ref_roi_bwd(&d, p.dy, p.rois, p.am_ref, p.dx_ref));
  float *want = tu_alloc(p.ny), *got = tu_alloc(p.ny), *dx = tu_alloc(p.nx);
  expected_of(gc->y, want, p.ny);
  char what[300];
  snprintf(what, sizeof what, "torchvision %s", gc->name);
  ck_assert_msg(tu_compare(what, p.y_ref, want, p.ny, 1e-6, 1e-6, NULL), "reference vs %s (y)", what);
  TU_OK(dev_fwd(tu_ctx(), &p, got, NULL));
  ck_assert_msg(tu_compare(what, got, want, p.ny, 1e-6, 1e-6, NULL), "device vs %s (y)", what);
  if (gc->dx) {
    ck_assert_msg(tu_compare(what, p.dx_ref, gc->dx, p.nx, 1e-6, 1e-6, NULL), "reference vs %s (dx)", what);
    TU_OK(dev_bwd(tu_ctx(), &p, p.am_ref, dx));
    ck_assert_msg(tu_compare(what, dx, gc->dx, p.nx, 1e-6, 1e-6, NULL), "device vs %s (dx)", what);
  }
  free(want);
  free(got);
  free(dx);
  problem_free(&p);
}
END_TEST

/* --------------------------------------------------- reference gradients */

typedef struct fd_problem {
  clnn_roi_desc d;
  const float *rois;
  double *x, *y, *dy;
  int32_t *am;
  size_t ny;
} fd_problem;

static double fd_loss(void *arg) {
  fd_problem *f = arg;
  if (clnn__ref_roi_fwd_f64(&f->d, f->x, f->rois, f->y, f->am) != CLNN_SUCCESS) return NAN;
  double s = 0.0;
  for (size_t i = 0; i < f->ny; i++) s += f->y[i] * f->dy[i];
  return s;
}

/* The reference backward is the derivative of sum(y * dy) w.r.t. x. RoI
 * pool is piecewise linear: random normal values keep every maximum apart
 * by much more than the step, so the argmax does not move. */
START_TEST(test_reference_backward_by_finite_differences) {
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN, CLNN_PS_ROI_POOL};
  clnn_roi_op op = ops[_i % 4];
  const bool ps = op == CLNN_PS_ROI_ALIGN || op == CLNN_PS_ROI_POOL;
  clnn_roi_desc d = clnn_roi_desc_make(op, 2, ps ? 8 : 3, 5, 6, 9, 2, 2, 0.5f);
  d.sampling_ratio = _i < 4 ? 2 : 0;
  d.aligned = _i < 4;
  problem p;
  problem_make(&p, &d, 7000 + (uint64_t)_i, NULL);
  fd_problem f = {d, p.rois, NULL, NULL, NULL, p.am_ref, p.ny};
  f.x = malloc(p.nx * sizeof *f.x);
  f.y = malloc(p.ny * sizeof *f.y);
  f.dy = malloc(p.ny * sizeof *f.dy);
  double *dx = malloc(p.nx * sizeof *dx);
  for (size_t i = 0; i < p.nx; i++) f.x[i] = p.x[i];
  for (size_t i = 0; i < p.ny; i++) f.dy[i] = p.dy[i];
  TU_OK(clnn__ref_roi_fwd_f64(&d, f.x, p.rois, f.y, p.am_ref));
  TU_OK(clnn__ref_roi_bwd_f64(&d, f.dy, p.rois, p.am_ref, dx));
  ck_assert_msg(tu_fd_check(p.what, fd_loss, &f, f.x, p.nx, dx, 1e-4, 1e-7), "%s: backward is not the gradient",
                p.what);
  free(f.x);
  free(f.y);
  free(f.dy);
  free(dx);
  problem_free(&p);
}
END_TEST

/* ------------------------------------------------------------ special cases */

/* Images no RoI reads get dx = 0 (not left unwritten). */
START_TEST(test_images_without_rois) {
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN, CLNN_PS_ROI_POOL};
  clnn_roi_desc d = clnn_roi_desc_make(ops[_i], 3, 18, 7, 8, 6, 3, 3, 0.5f);
  d.sampling_ratio = 2;
  float rois[6 * 5];
  make_rois(&d, 8000, rois);
  for (int k = 0; k < 6; k++) rois[k * 5] = 1.0f; /* every RoI on image 1 */
  problem p;
  problem_make(&p, &d, 8000 + (uint64_t)_i, rois);
  check_problem(tu_ctx(), &p);
  float *dx = tu_alloc(p.nx);
  TU_OK(dev_bwd(tu_ctx(), &p, p.am_ref, dx));
  size_t plane = (size_t)(d.c * d.h * d.w);
  for (size_t i = 0; i < plane; i++) {
    ck_assert_msg(dx[i] == 0.0f && dx[2 * plane + i] == 0.0f, "dx of an image without RoIs is not 0 at %zu", i);
  }
  free(dx);
  problem_free(&p);
}
END_TEST

/* Boxes with x2 < x1 or y2 < y1, valid in torchvision: roi_align clamps
 * their size to 1 (aligned = 0) or samples them backwards (aligned = 1),
 * the pools clamp. Every op, with fixed and adaptive sampling, forward and
 * backward against the reference (whose geometry is torchvision's). */
START_TEST(test_negative_boxes) {
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN,
                                    CLNN_PS_ROI_POOL};
  const int op = _i % 5, sr = (_i / 5) % 2 ? 2 : 0;
  clnn_roi_desc d = clnn_roi_desc_make(ops[op], 2, 8, 9, 11, 7, 2, 2, 0.5f);
  d.aligned = op == 1;
  d.sampling_ratio = sr;
  float rois[7 * 5];
  make_rois(&d, 9100 + (uint64_t)_i, rois);
  for (int k = 0; k < 7; k++) {
    float *r = rois + k * 5;
    float t;
    if (k % 3 != 2) t = r[1], r[1] = r[3], r[3] = t; /* x2 < x1 */
    if (k % 3 != 0) t = r[2], r[2] = r[4], r[4] = t; /* y2 < y1 */
  }
  problem p;
  problem_make(&p, &d, 9100 + (uint64_t)_i, rois);
  snprintf(p.what, sizeof p.what, "%s aligned=%d sr=%d, boxes of negative size", clnn_roi_op_name(d.op), d.aligned, sr);
  check_problem(tu_ctx(), &p);
  problem_free(&p);
}
END_TEST

/* No RoIs at all (an image without proposals, every day in detection): as
 * torchvision, the forward returns an empty y and the backward a zero dx,
 * on the device and in the reference, in every op. */
START_TEST(test_zero_rois) {
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN, CLNN_PS_ROI_POOL};
  static const clnn_dtype types[] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  const clnn_dtype dt = types[_i / 4]; /* empty y and dy in every float type */
  clnn_context *ctx = tu_ctx();
  clnn_roi_desc d = clnn_roi_desc_make(ops[_i % 4], 2, 8, 5, 6, 0, 2, 2, 0.5f);
  int64_t oc;
  TU_OK(clnn_roi_desc_check(&d, &oc));
  int64_t xd[4] = {2, 8, 5, 6}, rd[2] = {0, 5}, yd[4] = {0, oc, 2, 2};
  float *x = tu_alloc(2 * 8 * 5 * 6), *dx = tu_alloc(2 * 8 * 5 * 6);
  tu_fill_uniform(x, 2 * 8 * 5 * 6, 77, -1, 1);
  clnn_tensor *tx = dt_tensor(ctx, dt, 4, xd, x), *tdx = dt_tensor(ctx, dt, 4, xd, NULL), *trois, *ty, *targ = NULL;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 2, rd, &trois));
  TU_OK(clnn_tensor_create(ctx, dt, 4, yd, &ty));
  if (d.op == CLNN_ROI_POOL) TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, (int64_t[]){0, 8, 2, 2}, &targ));
  TU_OK(clnn_roi_fwd(ctx, &d, tx, trois, ty, targ));
  TU_OK(clnn_tensor_fill(tdx, NAN));
  TU_OK(clnn_roi_bwd(ctx, &d, ty, trois, targ, tdx));
  TU_OK(clnn_tensor_read_f32(tdx, dx, 2 * 8 * 5 * 6));
  for (int i = 0; i < 2 * 8 * 5 * 6; i++) ck_assert_msg(dx[i] == 0.0f, "dx[%d] = %g with no RoIs", i, (double)dx[i]);
  /* the reference: rois, y and dy may be NULL when there are none */
  for (int i = 0; i < 2 * 8 * 5 * 6; i++) dx[i] = NAN;
  TU_OK(clnn_ref_roi_fwd(&d, x, NULL, NULL, NULL));
  int32_t none = 0;
  TU_OK(clnn_ref_roi_bwd(&d, NULL, NULL, d.op == CLNN_ROI_POOL ? &none : NULL, dx));
  for (int i = 0; i < 2 * 8 * 5 * 6; i++) ck_assert(dx[i] == 0.0f);
  clnn_tensor_free(tx);
  clnn_tensor_free(tdx);
  clnn_tensor_free(trois);
  clnn_tensor_free(ty);
  clnn_tensor_free(targ);
  free(x);
  free(dx);
}
END_TEST

/* RoI pool backward ignores argmax entries outside [-1, h*w) instead of
 * writing out of bounds. */
START_TEST(test_pool_bwd_ignores_bad_argmax) {
  clnn_roi_desc d = clnn_roi_desc_make(CLNN_ROI_POOL, 2, 20, 6, 7, 8, 2, 2, 1.0f);
  problem p;
  problem_make(&p, &d, 9000, NULL);
  int32_t *am = malloc(p.ny * sizeof *am);
  memcpy(am, p.am_ref, p.ny * sizeof *am);
  static const int32_t bad[] = {6 * 7, 6 * 7 + 5, -2, -100000, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < p.ny; i += 5) am[i] = bad[(i / 5) % 6];
  float *want = tu_alloc(p.nx), *got = tu_alloc(p.nx);
  TU_OK(clnn_ref_roi_bwd(&d, p.dy, p.rois, am, want));
  TU_OK(dev_bwd(tu_ctx(), &p, am, got));
  ck_assert(tu_compare("roi_pool backward with bad argmax", got, want, p.nx, 1e-6, 1e-6, NULL));
  free(am);
  free(want);
  free(got);
  problem_free(&p);
}
END_TEST

/* RoI pool backward adds dy at argmax entries inside the map but outside
 * their bin (no forward writes them) as the reference does. */
static void check_stray_argmax(clnn_context *ctx) {
  clnn_roi_desc d = clnn_roi_desc_make(CLNN_ROI_POOL, 2, 5, 6, 7, 11, 2, 3, 1.0f);
  problem p;
  problem_make(&p, &d, 9050, NULL);
  int32_t *am = malloc(p.ny * sizeof *am);
  memcpy(am, p.am_ref, p.ny * sizeof *am);
  for (size_t i = 0; i < p.ny; i += 7) am[i] = (int32_t)((i * 13) % 42); /* anywhere in the 6x7 plane */
  float *want = tu_alloc(p.nx), *got = tu_alloc(p.nx), *again = tu_alloc(p.nx);
  TU_OK(clnn_ref_roi_bwd(&d, p.dy, p.rois, am, want));
  TU_OK(dev_bwd(ctx, &p, am, got));
  ck_assert(tu_compare("roi_pool backward with argmax outside the bins", got, want, p.nx, 1e-6, 1e-6, NULL));
  TU_OK(dev_bwd(ctx, &p, am, again));
  ck_assert_msg(!memcmp(got, again, p.nx * sizeof *got), "two backward runs with stray argmax differ");
  free(am);
  free(want);
  free(got);
  free(again);
  problem_free(&p);
}

START_TEST(test_pool_bwd_adds_stray_argmax) { check_stray_argmax(tu_ctx()); }
END_TEST

/* --------------------------------------------------- GPU-class variants */

/* A context that plans the GPU-class RoI variants of the align ops (align)
 * or of the pool ops on any device (CLNN_VARIANT forces one variant per
 * table; the environment is read when a context is made). */
static clnn_context *forced_ctx(const char *variants) {
  const char *old = getenv("CLNN_VARIANT");
  char *saved = old ? strdup(old) : NULL;
  setenv("CLNN_VARIANT", variants, 1);
  clnn_context *ctx;
  TU_OK(clnn_context_create(NULL, &ctx));
  if (saved) setenv("CLNN_VARIANT", saved, 1);
  else unsetenv("CLNN_VARIANT");
  free(saved);
  return ctx;
}

static clnn_context *gpu_variant_ctx(bool align) {
  return forced_ctx(align ? "roi.fwd.gpu_align,roi.bwd.gpu_align_gather" : "roi.fwd.gpu_pool,roi.bwd.gpu_pool_gather");
}

/* GPU edge cases: RoIs per image beyond one staging round (256), planes
 * and images of every size around a work-group, 1x1 outputs and a 1x1
 * map, both sampling modes and both alignments; the test's RoI mix puts
 * RoIs outside the map, zero-size ones and points in every problem. */
static const roi_case gpu_edge_cases[] = {
    /* op            n   c   h   w    k  ph pw  scale  sr al */
    {CLNN_ROI_ALIGN, 2, 3, 6, 7, 700, 2, 2, 0.5f, 0, 0},     /* 350 RoIs per image */
    {CLNN_ROI_POOL, 2, 3, 6, 7, 700, 2, 2, 0.5f, 0, 0},
    {CLNN_PS_ROI_ALIGN, 2, 8, 6, 7, 600, 2, 2, 0.5f, 2, 0},
    {CLNN_PS_ROI_POOL, 2, 8, 6, 7, 600, 2, 2, 0.5f, 0, 0},
    {CLNN_ROI_ALIGN, 3, 2, 16, 16, 13, 1, 1, 0.25f, 2, 1},   /* 256-pixel planes, 1x1 outputs */
    {CLNN_ROI_POOL, 3, 2, 16, 16, 13, 1, 1, 0.25f, 0, 0},
    {CLNN_ROI_ALIGN, 2, 7, 1, 1, 9, 3, 2, 1.0f, 0, 1},       /* 1x1 map, 7 elements per image */
    {CLNN_ROI_POOL, 2, 7, 1, 1, 9, 3, 2, 1.0f, 0, 0},
    {CLNN_ROI_ALIGN, 1, 1, 40, 37, 5, 7, 7, 0.125f, 0, 0},   /* one plane over 5 work-groups */
    {CLNN_PS_ROI_ALIGN, 1, 49, 9, 31, 7, 7, 7, 0.5f, 0, 0},  /* adaptive, 1 output channel */
};

START_TEST(test_gpu_variants_edges) {
  clnn_context *align_ctx = gpu_variant_ctx(true), *pool_ctx = gpu_variant_ctx(false);
  for (size_t i = 0; i < sizeof gpu_edge_cases / sizeof gpu_edge_cases[0]; i++) {
    clnn_roi_desc d = desc_of(&gpu_edge_cases[i]);
    problem p;
    problem_make(&p, &d, 9300 + (uint64_t)i, NULL);
    const bool align = d.op == CLNN_ROI_ALIGN || d.op == CLNN_PS_ROI_ALIGN;
    clnn_context *ctx = align ? align_ctx : pool_ctx;
    clnn_context_clear_variants(ctx);
    check_problem(ctx, &p);
    const char *want = align ? "roi.fwd.gpu_align,roi.bwd.gpu_align_gather" : "roi.fwd.gpu_pool,roi.bwd.gpu_pool_gather";
    size_t wg = 0;
    ck_assert_str_eq(clnn_context_last_variant(ctx, &wg), want);
    ck_assert_uint_ge(wg, 1);
    problem_free(&p);
  }
  check_stray_argmax(pool_ctx);
  clnn_context_free(align_ctx);
  clnn_context_free(pool_ctx);
}
END_TEST

/* Workspace limits that force chunks of one image, then chunks of channel
 * blocks within an image (the last one partial), give the same results
 * whatever number of blocks per work-item the library picks. A limit below
 * one block's panels is a clear UNSUPPORTED for RoI align and pool, while
 * PS RoI align falls back to reading x directly (and the GPU-class
 * variants, which need no panels, run). */
START_TEST(test_chunked_workspace) {
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN};
  const int64_t n = 3, h = 6, w = 7, k = 20;
  const size_t index = 64 * sizeof(float);
  for (size_t o = 0; o < 3; o++) {
    const bool ps = ops[o] == CLNN_PS_ROI_ALIGN;
    /* non-PS: 150 channels = 10 blocks (at most 12 with padding), one panel
     * each; PS: 3x3 bins of 40 channels = 3 blocks (at most 4), 9 panels each */
    const int64_t c = ps ? 360 : 150;
    const size_t unit = (size_t)(ps ? 9 : 1) * (size_t)(h * w * 16) * sizeof(float);
    const size_t limits[] = {index + (ps ? 4 : 12) * unit + 64, index + (ps ? 2 : 9) * unit};
    clnn_roi_desc d = clnn_roi_desc_make(ops[o], n, c, h, w, k, 3, 3, 0.5f);
    d.sampling_ratio = 2;
    problem p;
    problem_make(&p, &d, 9100 + o, NULL);
    for (size_t l = 0; l < 2; l++) {
      clnn_context_options opt = clnn_context_options_default();
      opt.workspace_limit = limits[l];
      clnn_context *ctx;
      TU_OK(clnn_context_create(&opt, &ctx));
      check_problem(ctx, &p);
      clnn_context_free(ctx);
    }
    clnn_context_options opt = clnn_context_options_default();
    opt.workspace_limit = index + unit / 2;
    clnn_context *ctx;
    TU_OK(clnn_context_create(&opt, &ctx));
    clnn_device_caps caps;
    TU_OK(clnn_context_device_caps(ctx, &caps));
    if (ps || caps.plan_class == CLNN_DEVICE_CLASS_GPU) { /* the GPU variants read x itself */
      check_problem(ctx, &p);
    } else {
      float *y = tu_alloc(p.ny);
      ck_assert_int_eq(dev_fwd(ctx, &p, y, NULL), CLNN_ERR_UNSUPPORTED);
      ck_assert(strstr(clnn_context_errmsg(ctx), "workspace") != NULL);
      free(y);
    }
    clnn_context_free(ctx);
    problem_free(&p);
  }
}
END_TEST

/* ------------------------------------------------------- half precision */

/* Where half precision has its edges: NaN, +-inf, +-0, a float16 overflow
 * (70000 rounds to inf), float16's largest finite value, a float16
 * subnormal and a value under bfloat16's ulp at 1. */
static const float half_specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 70000.0f, -70000.0f, 65504.0f, 3e-6f, -1e-8f};
#define N_HALF_SPECIALS (sizeof half_specials / sizeof half_specials[0])
/* Absolute slack of the half checks (on top of one unit of the type): the
 * float32 sums of the kernels against the double reference. */
#define HALF_ABS_TOL 1e-5

/* Round x and dy to dt (what the kernels load) and recompute the references
 * on them; the RoIs stay float32. */
static void problem_round_to(problem *p, clnn_dtype dt) {
  tu_round_to(dt, p->x, p->nx);
  tu_round_to(dt, p->dy, p->ny);
  TU_OK(clnn_ref_roi_fwd(&p->d, p->x, p->rois, p->y_ref, p->am_ref));
  TU_OK(clnn_ref_roi_bwd(&p->d, p->dy, p->rois, p->am_ref, p->dx_ref));
}

/* Forward and backward in dt on ctx against the reference of the rounded
 * inputs (outputs poisoned), each twice: the repeats give the same bits and
 * RoI pool's argmax is exactly the reference's (a maximum is a loaded value:
 * no rounding can move it, ties included). */
static void check_problem_half(clnn_context *ctx, const problem *p, clnn_dtype dt) {
  const bool pool = p->d.op == CLNN_ROI_POOL;
  float *y1 = tu_alloc(p->ny), *y2 = tu_alloc(p->ny), *dx1 = tu_alloc(p->nx), *dx2 = tu_alloc(p->nx);
  int32_t *am = pool ? malloc(p->ny * sizeof *am) : NULL;
  ck_assert_msg(dev_fwd_dt(ctx, p, dt, y1, am) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  tu_check_half(p->what, "forward", y1, p->y_ref, p->ny, dt, HALF_ABS_TOL);
  if (pool) assert_same_ints(p->what, am, p->am_ref, p->ny);
  TU_OK(dev_fwd_dt(ctx, p, dt, y2, am));
  ck_assert_msg(!memcmp(y1, y2, p->ny * sizeof *y1), "%s: two forward runs differ", p->what);
  ck_assert_msg(dev_bwd_dt(ctx, p, dt, p->am_ref, dx1) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  tu_check_half(p->what, "backward", dx1, p->dx_ref, p->nx, dt, HALF_ABS_TOL);
  TU_OK(dev_bwd_dt(ctx, p, dt, p->am_ref, dx2));
  ck_assert_msg(!memcmp(dx1, dx2, p->nx * sizeof *dx1), "%s: two backward runs differ", p->what);
  free(y1);
  free(y2);
  free(dx1);
  free(dx2);
  free(am);
}

/* Every case of the table in float16 and bfloat16, with special values in
 * x and dy (on the CPU class: the panels, the float32-only rule's
 * fallbacks; test_roi.gpu: the GPU-class kernels). The align ops get no
 * infinite dy (nor 70000, infinite in float16): where a sample's corner
 * of weight 0 meets an infinite dy the scatter (reference, CPU panels)
 * gives 0 * inf = NaN, while the gather kernels sum the axis weights
 * first and give inf, in float32 as well; not a half-precision question. */
START_TEST(test_half_precision) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  clnn_roi_desc d = desc_of(&cases[_i / TU_N_HALF_TYPES]);
  problem p;
  problem_make(&p, &d, 5000 + 17 * (uint64_t)(_i / TU_N_HALF_TYPES), NULL);
  for (size_t i = 0; i < N_HALF_SPECIALS; i++) p.x[(i * 97 + 5) % p.nx] = half_specials[i];
  const bool align = d.op == CLNN_ROI_ALIGN || d.op == CLNN_PS_ROI_ALIGN;
  for (size_t i = 0; i < N_HALF_SPECIALS; i++)
    if (!align || fabsf(half_specials[i]) <= 65504.0f || isnan(half_specials[i]))
      p.dy[(i * 11 + 3) % p.ny] = half_specials[i];
  problem_round_to(&p, dt);
  check_problem_half(tu_ctx(), &p, dt);
  problem_free(&p);
}
END_TEST

/* The GPU-class kernels in both half types on any device (forced), on
 * their edge cases: many RoIs per image, planes around a work-group. */
START_TEST(test_half_gpu_variants) {
  clnn_context *align_ctx = gpu_variant_ctx(true), *pool_ctx = gpu_variant_ctx(false);
  static const size_t picks[] = {0, 1, 2, 3, 4, 5, 8};
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const clnn_dtype dt = tu_half_types[i % TU_N_HALF_TYPES];
    clnn_roi_desc d = desc_of(&gpu_edge_cases[picks[i]]);
    problem p;
    problem_make(&p, &d, 9400 + (uint64_t)i, NULL);
    problem_round_to(&p, dt);
    const bool align = d.op == CLNN_ROI_ALIGN || d.op == CLNN_PS_ROI_ALIGN;
    check_problem_half(align ? align_ctx : pool_ctx, &p, dt);
    problem_free(&p);
  }
  clnn_context_free(align_ctx);
  clnn_context_free(pool_ctx);
}
END_TEST

/* RoI pool backward in a half type with argmax entries outside their bin
 * (added: each dx element still rounded once, from its float32 sum) and
 * outside the map (ignored), on ctx. */
static void check_argmax_edits_half(clnn_context *ctx, clnn_dtype dt) {
  clnn_roi_desc d = clnn_roi_desc_make(CLNN_ROI_POOL, 2, 5, 6, 7, 11, 2, 3, 1.0f);
  problem p;
  problem_make(&p, &d, 9050, NULL);
  problem_round_to(&p, dt);
  int32_t *am = malloc(p.ny * sizeof *am);
  memcpy(am, p.am_ref, p.ny * sizeof *am);
  static const int32_t bad[] = {6 * 7, -2, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < p.ny; i += 7) am[i] = (int32_t)((i * 13) % 42); /* anywhere in the 6x7 plane */
  for (size_t i = 3; i < p.ny; i += 11) am[i] = bad[(i / 11) % 4];
  float *want = tu_alloc(p.nx), *got = tu_alloc(p.nx), *again = tu_alloc(p.nx);
  TU_OK(clnn_ref_roi_bwd(&d, p.dy, p.rois, am, want));
  TU_OK(dev_bwd_dt(ctx, &p, dt, am, got));
  tu_check_half(p.what, "backward, edited argmax", got, want, p.nx, dt, HALF_ABS_TOL);
  TU_OK(dev_bwd_dt(ctx, &p, dt, am, again));
  ck_assert_msg(!memcmp(got, again, p.nx * sizeof *got), "two backward runs with edited argmax differ");
  free(am);
  free(want);
  free(got);
  free(again);
  problem_free(&p);
}

START_TEST(test_half_pool_bwd_argmax_edits) {
  clnn_context *pool_ctx = gpu_variant_ctx(false);
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    check_argmax_edits_half(tu_ctx(), tu_half_types[t]);
    check_argmax_edits_half(pool_ctx, tu_half_types[t]);
  }
  clnn_context_free(pool_ctx);
}
END_TEST

/* A view of dims at element offset off of buf, of type dt, optionally uploaded. */
/* Views at odd element offsets in one buffer per tensor kind (a 2-byte
 * element at an odd offset is only 2-byte aligned: the kernels' half
 * loads and stores must take that), rois at an odd float offset too, every
 * op, both half types. */
START_TEST(test_half_odd_offsets) {
  static const size_t pick[] = {0, 7, 12, 15};
  clnn_context *ctx = tu_ctx();
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t i = 0; i < sizeof pick / sizeof pick[0]; i++) {
      const clnn_dtype dt = tu_half_types[t];
      clnn_roi_desc d = desc_of(&cases[pick[i]]);
      problem p;
      problem_make(&p, &d, 9500 + i, NULL);
      problem_round_to(&p, dt);
      int64_t xd[4] = {d.n, d.c, d.h, d.w}, rd[2] = {d.num_rois, 5}, yd[4] = {d.num_rois, p.oc, d.pooled_h, d.pooled_w};
      const size_t ox = 3, oy = ox + p.nx + 5, ody = oy + p.ny + 1, odx = ody + p.ny + 7;
      clnn_buffer *buf, *rbuf;
      TU_OK(clnn_buffer_create(ctx, (odx + p.nx + 1) * clnn_dtype_size(dt), &buf));
      TU_OK(clnn_buffer_create(ctx, ((size_t)d.num_rois * 5 + 1) * sizeof(float), &rbuf));
      clnn_tensor *x = tu_view_dt(buf, ox, dt, 4, xd, p.x), *y = tu_view_dt(buf, oy, dt, 4, yd, NULL);
      clnn_tensor *dy = tu_view_dt(buf, ody, dt, 4, yd, p.dy), *dx = tu_view_dt(buf, odx, dt, 4, xd, NULL);
      clnn_tensor *rois = tu_view_dt(rbuf, 1, CLNN_FLOAT32, 2, rd, p.rois), *am = NULL;
      if (d.op == CLNN_ROI_POOL) am = int_tensor(ctx, 4, yd, NULL);
      TU_OK(clnn_tensor_fill(y, NAN));
      TU_OK(clnn_tensor_fill(dx, NAN));
      TU_OK(clnn_roi_fwd(ctx, &d, x, rois, y, am));
      TU_OK(clnn_roi_bwd(ctx, &d, dy, rois, am, dx));
      float *got_y = tu_download_f32(y), *got_dx = tu_download_f32(dx);
      tu_check_half(p.what, "forward (odd offsets)", got_y, p.y_ref, p.ny, dt, HALF_ABS_TOL);
      tu_check_half(p.what, "backward (odd offsets)", got_dx, p.dx_ref, p.nx, dt, HALF_ABS_TOL);
      free(got_y);
      free(got_dx);
      clnn_tensor_free(x);
      clnn_tensor_free(y);
      clnn_tensor_free(dy);
      clnn_tensor_free(dx);
      clnn_tensor_free(rois);
      clnn_tensor_free(am);
      clnn_buffer_free(buf);
      clnn_buffer_free(rbuf);
      problem_free(&p);
    }
}
END_TEST

/* The float32_only rule: on a CPU-class device the kernels that add into
 * their output in place serve float32 and never a half type (which takes
 * the panels or the same kernels on float32 copies), and forcing one on a
 * half problem is a clear UNSUPPORTED naming the rule. */
START_TEST(test_half_variant_rules) {
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(tu_ctx(), &caps));
  if (caps.plan_class != CLNN_DEVICE_CLASS_CPU) return; /* GPU class: no such kernels */
  static const struct {
    clnn_roi_op op;
    const char *f32, *half;
  } rules[] = {
      {CLNN_ROI_POOL, "roi.fwd.panels,roi.bwd.pool_planes", "roi.fwd.panels,roi.bwd.pool_panels"},
      {CLNN_PS_ROI_POOL, "roi.fwd.ps_direct,roi.bwd.ps_planes", "roi.fwd.ps_direct_staged,roi.bwd.ps_planes_staged"},
      {CLNN_PS_ROI_ALIGN, "roi.fwd.panels,roi.bwd.ps_planes", "roi.fwd.panels,roi.bwd.ps_planes_staged"},
  };
  for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
    for (int t = -1; t < TU_N_HALF_TYPES; t++) {
      const clnn_dtype dt = t < 0 ? CLNN_FLOAT32 : tu_half_types[t];
      clnn_roi_desc d = clnn_roi_desc_make(rules[r].op, 2, 36, 7, 8, 6, 3, 3, 0.5f);
      problem p;
      problem_make(&p, &d, 9600 + r, NULL);
      float *y = tu_alloc(p.ny), *dx = tu_alloc(p.nx);
      clnn_context_clear_variants(tu_ctx());
      TU_OK(dev_fwd_dt(tu_ctx(), &p, dt, y, NULL));
      TU_OK(dev_bwd_dt(tu_ctx(), &p, dt, p.am_ref, dx));
      ck_assert_str_eq(clnn_context_last_variant(tu_ctx(), NULL), t < 0 ? rules[r].f32 : rules[r].half);
      free(y);
      free(dx);
      problem_free(&p);
    }
  clnn_roi_desc d = clnn_roi_desc_make(CLNN_PS_ROI_POOL, 2, 36, 7, 8, 6, 3, 3, 0.5f);
  problem p;
  problem_make(&p, &d, 9610, NULL);
  clnn_context *ctx = forced_ctx("roi.fwd.ps_direct,roi.bwd.ps_planes");
  float *y = tu_alloc(p.ny), *dx = tu_alloc(p.nx);
  ck_assert_int_eq(dev_fwd_dt(ctx, &p, CLNN_FLOAT16, y, NULL), CLNN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "float32 only") != NULL, "%s", clnn_context_errmsg(ctx));
  ck_assert_int_eq(dev_bwd_dt(ctx, &p, CLNN_BFLOAT16, NULL, dx), CLNN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "float32 only") != NULL, "%s", clnn_context_errmsg(ctx));
  free(y);
  free(dx);
  clnn_context_free(ctx);
  problem_free(&p);
}
END_TEST

/* The half types' last resort for the PS ops on a CPU-class device (the
 * GPU-class gathers, should staging fail), forced, in both types. */
START_TEST(test_half_ps_fallbacks) {
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(tu_ctx(), &caps));
  if (caps.plan_class != CLNN_DEVICE_CLASS_CPU) return; /* the GPU class runs these kernels by name */
  clnn_context *ctx = forced_ctx("roi.fwd.per_output,roi.bwd.gather");
  static const clnn_roi_op ops[] = {CLNN_PS_ROI_POOL, CLNN_PS_ROI_ALIGN};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t o = 0; o < 2; o++) {
      clnn_roi_desc d = clnn_roi_desc_make(ops[o], 2, 36, 7, 8, 6, 3, 3, 0.5f);
      problem p;
      problem_make(&p, &d, 9620 + o, NULL);
      problem_round_to(&p, tu_half_types[t]);
      check_problem_half(ctx, &p, tu_half_types[t]);
      problem_free(&p);
    }
  clnn_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------- clnn-bench R mode */

static void npy_put(const char *dir, const char *name, clnn_dtype t, int ndim, const int64_t *dims, const void *data) {
  char path[512], err[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ck_assert_msg(npy_write(path, t, ndim, dims, data, err, sizeof err), "%s", err);
}

static void *npy_get(const char *dir, const char *name, size_t numel) {
  char path[512], err[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  npy_array a;
  ck_assert_msg(npy_read(path, &a, err, sizeof err), "%s", err);
  ck_assert_msg(a.numel == numel, "%s has %zu elements, expected %zu", name, a.numel, numel);
  return a.data;
}

/* clnn-bench --mode=R --pass=bwd reads x, rois and dy and writes y, dx and
 * (roi_pool) argmax, equal to the reference. $CLNN_BENCH names the binary
 * (CTest sets it); without it the test has nothing to run. */
START_TEST(test_bench_r_mode) {
  const char *bench = getenv("CLNN_BENCH");
  if (!bench) {
    fprintf(stderr, "test_bench_r_mode: CLNN_BENCH not set, skipped\n");
    return;
  }
  static const char *const descs[] = {"roi_align mb2ic20ih9iw11 n12 oh3ow2 sr0 scale0.5 aligned1",
                                      "roi_pool mb2ic20ih9iw11 n12 oh3ow2 scale0.5",
                                      "ps_roi_align mb2ic18ih9iw11 n12 oh3ow3 sr2 scale0.5",
                                      "ps_roi_pool mb2ic18ih9iw11 n12 oh3ow3 scale0.5"};
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN, CLNN_PS_ROI_POOL};
  char dir[] = "/tmp/clnn-test-roi-XXXXXX";
  ck_assert(mkdtemp(dir) != NULL);
  for (int i = 0; i < 4; i++) {
    const bool ps = i >= 2;
    clnn_roi_desc d = clnn_roi_desc_make(ops[i], 2, ps ? 18 : 20, 9, 11, 12, 3, ps ? 3 : 2, 0.5f);
    d.sampling_ratio = i == 2 ? 2 : 0;
    d.aligned = i == 0;
    problem p;
    problem_make(&p, &d, 9500 + (uint64_t)i, NULL);
    int64_t xd[4] = {d.n, d.c, d.h, d.w}, rd[2] = {d.num_rois, 5};
    int64_t yd[4] = {d.num_rois, p.oc, d.pooled_h, d.pooled_w};
    npy_put(dir, "x.npy", CLNN_FLOAT32, 4, xd, p.x);
    npy_put(dir, "rois.npy", CLNN_FLOAT32, 2, rd, p.rois);
    npy_put(dir, "dy.npy", CLNN_FLOAT32, 4, yd, p.dy);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --mode=R --pass=bwd --quiet --dir %s \"%s\"", bench, dir, descs[i]);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s failed", cmd);
    float *y = npy_get(dir, "y.npy", p.ny), *dx = npy_get(dir, "dx.npy", p.nx);
    ck_assert(tu_compare(descs[i], y, p.y_ref, p.ny, 1e-5, 1e-5, NULL));
    ck_assert(tu_compare(descs[i], dx, p.dx_ref, p.nx, 1e-5, 1e-5, NULL));
    if (p.am_ref) {
      int32_t *am = npy_get(dir, "argmax.npy", p.ny);
      assert_same_ints(descs[i], am, p.am_ref, p.ny);
      free(am);
    }
    free(y);
    free(dx);
    problem_free(&p);
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Valid tensors for roi_align mb2ic8ih6iw5 n3 oh2ow2 (and roi_pool's argmax). */
static clnn_tensor *bx, *brois, *by, *bam, *bdy, *bdx;
static clnn_roi_desc bd;
static const float good_rois[3 * 5] = {0, 1, 1, 4, 5, 1, 0, 0, 2, 2, 1, -3, -2, 9, 9};

static void bad_setup(void) {
  clnn_context *ctx = tu_ctx();
  bd = clnn_roi_desc_make(CLNN_ROI_ALIGN, 2, 8, 6, 5, 3, 2, 2, 1.0f);
  int64_t xd[4] = {2, 8, 6, 5}, rd[2] = {3, 5}, yd[4] = {3, 8, 2, 2};
  bx = float_tensor(ctx, 4, xd, NULL);
  brois = float_tensor(ctx, 2, rd, good_rois);
  by = float_tensor(ctx, 4, yd, NULL);
  bam = int_tensor(ctx, 4, yd, NULL);
  bdy = float_tensor(ctx, 4, yd, NULL);
  bdx = float_tensor(ctx, 4, xd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bdy, 1.0f));
  TU_OK(clnn_tensor_fill(bam, -5.0f));
  tu_poison(by);
  tu_poison(bdx);
}

static void bad_teardown(void) {
  clnn_tensor_free(bx);
  clnn_tensor_free(brois);
  clnn_tensor_free(by);
  clnn_tensor_free(bam);
  clnn_tensor_free(bdy);
  clnn_tensor_free(bdx);
}

/* A failed call wrote nothing: y and dx hold NaN, argmax -5. */
static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  float *y = tu_download(by), *dx = tu_download(bdx);
  for (size_t i = 0; i < clnn_tensor_numel(by); i++) ck_assert_msg(isnan(y[i]), "y[%zu] written", i);
  for (size_t i = 0; i < clnn_tensor_numel(bdx); i++) ck_assert_msg(isnan(dx[i]), "dx[%zu] written", i);
  int32_t am[3 * 8 * 2 * 2];
  TU_OK(clnn_tensor_read(bam, am, sizeof am));
  for (size_t i = 0; i < sizeof am / sizeof am[0]; i++) ck_assert_msg(am[i] == -5, "argmax[%zu] written", i);
  free(y);
  free(dx);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  clnn_roi_desc pd = bd;
  pd.op = CLNN_ROI_POOL;
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_fwd(NULL, &bd, bx, brois, by, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_fwd(ctx, NULL, bx, brois, by, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_fwd(ctx, &bd, NULL, brois, by, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_fwd(ctx, &bd, bx, NULL, by, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_fwd(ctx, &bd, bx, brois, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_bwd(NULL, &bd, bdy, brois, NULL, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_bwd(ctx, &bd, NULL, brois, NULL, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_bwd(ctx, &bd, bdy, NULL, NULL, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_bwd(ctx, &bd, bdy, brois, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_bwd(ctx, &pd, bdy, brois, NULL, bdx)); /* roi_pool needs argmax */
  ck_assert(strstr(clnn_context_errmsg(ctx), "argmax") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_desc_check(NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_roi_rois_check(&bd, NULL));
  float host[2 * 8 * 6 * 5];
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_roi_fwd(&bd, NULL, good_rois, host, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_roi_fwd(&bd, host, NULL, host, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_roi_bwd(&bd, host, good_rois, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_roi_bwd(&pd, host, good_rois, NULL, host));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  struct {
    const char *field;
    clnn_status want;
  } checks[] = {{"op", CLNN_ERR_INVALID_VALUE},        {"n", CLNN_ERR_INVALID_VALUE},
                {"c", CLNN_ERR_INVALID_VALUE},         {"pooled_h", CLNN_ERR_INVALID_VALUE},
                {"num_rois", CLNN_ERR_INVALID_VALUE},  {"spatial_scale", CLNN_ERR_INVALID_VALUE},
                {"spatial_scale", CLNN_ERR_INVALID_VALUE}, {"aligned", CLNN_ERR_INVALID_VALUE},
                {"sampling_ratio", CLNN_ERR_INVALID_VALUE}, {"divisible", CLNN_ERR_INVALID_VALUE},
                {"2^31", CLNN_ERR_SIZE_OVERFLOW},      {"2^30", CLNN_ERR_INVALID_VALUE}};
  for (int i = 0; i < (int)(sizeof checks / sizeof checks[0]); i++) {
    clnn_roi_desc d = bd;
    switch (i) {
      case 0: d.op = (clnn_roi_op)7; break;
      case 1: d.n = 0; break;
      case 2: d.c = -8; break;
      case 3: d.pooled_h = 0; break;
      case 4: d.num_rois = -1; break;
      case 5: d.spatial_scale = 0.0f; break;
      case 6: d.spatial_scale = NAN; break;
      case 7: d.aligned = 2; break;
      case 8: d.sampling_ratio = 1 << 20; break;
      case 9: d.op = CLNN_PS_ROI_ALIGN; break; /* 8 channels, 2x2 bins: fine; 3x2 below is not */
      case 10: d.n = 1 << 20, d.c = 1 << 12; break;
      default: d.h = (int64_t)1 << 40; break;
    }
    if (i == 9) d.pooled_w = 3;
    TU_FAILS(checks[i].want, clnn_roi_fwd(ctx, &d, bx, brois, by, NULL));
    ck_assert_msg(strstr(clnn_context_errmsg(ctx), checks[i].field) != NULL, "message '%s' does not name %s",
                  clnn_context_errmsg(ctx), checks[i].field);
    TU_FAILS(checks[i].want, clnn_roi_bwd(ctx, &d, bdy, brois, NULL, bdx));
    TU_FAILS(checks[i].want, clnn_roi_desc_check(&d, NULL));
  }
  assert_untouched();
}
END_TEST

/* Each bad RoI row, in the device ops (read back before anything runs), the
 * host check and the reference. */
START_TEST(test_bad_rois) {
  clnn_context *ctx = tu_ctx();
  struct {
    float row[5];
    clnn_status want;
  } bad[] = {
      {{0, NAN, 1, 4, 5}, CLNN_ERR_NOT_FINITE},      {{0, 1, 1, 4, INFINITY}, CLNN_ERR_NOT_FINITE},
      {{NAN, 1, 1, 4, 5}, CLNN_ERR_NOT_FINITE},      {{2, 1, 1, 4, 5}, CLNN_ERR_INVALID_VALUE},
      {{-1, 1, 1, 4, 5}, CLNN_ERR_INVALID_VALUE},    {{0.5f, 1, 1, 4, 5}, CLNN_ERR_INVALID_VALUE},
      {{0, -1e30f, 1, 4, 5}, CLNN_ERR_INVALID_VALUE},
  };
  static const clnn_roi_op ops[] = {CLNN_ROI_ALIGN, CLNN_ROI_POOL, CLNN_PS_ROI_ALIGN, CLNN_PS_ROI_POOL};
  int64_t rd[2] = {3, 5}, yps[4] = {3, 2, 2, 2};
  clnn_tensor *ty_ps = float_tensor(ctx, 4, yps, NULL), *tr = float_tensor(ctx, 2, rd, NULL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    float rois[15];
    memcpy(rois, good_rois, sizeof rois);
    memcpy(rois + 5, bad[i].row, sizeof bad[i].row); /* row 1 is the bad one */
    TU_OK(clnn_tensor_write(tr, rois, sizeof rois));
    for (int o = 0; o < 4; o++) {
      clnn_roi_desc d = bd;
      d.op = ops[o];
      const bool ps = o >= 2, pool = ops[o] == CLNN_ROI_POOL;
      clnn_tensor *y = ps ? ty_ps : by, *dy = ps ? ty_ps : bdy;
      TU_FAILS(bad[i].want, clnn_roi_fwd(ctx, &d, bx, tr, y, pool ? bam : NULL));
      ck_assert_msg(strstr(clnn_context_errmsg(ctx), "rois[1]") != NULL, "'%s' does not name rois[1]",
                    clnn_context_errmsg(ctx));
      TU_FAILS(bad[i].want, clnn_roi_bwd(ctx, &d, dy, tr, pool ? bam : NULL, bdx));
      ck_assert_int_eq(clnn_roi_rois_check(&d, rois), bad[i].want);
      float x[2 * 8 * 6 * 5] = {0}, out[3 * 8 * 2 * 2];
      ck_assert_int_eq(clnn_ref_roi_fwd(&d, x, rois, out, NULL), bad[i].want);
    }
  }
  clnn_tensor_free(ty_ps);
  clnn_tensor_free(tr);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes_and_types) {
  clnn_context *ctx = tu_ctx();
  clnn_roi_desc pd = bd;
  pd.op = CLNN_ROI_POOL;
  clnn_roi_desc d = bd;
  d.num_rois = 4; /* rois has 3 rows */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_roi_fwd(ctx, &d, bx, brois, by, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "rois") != NULL);
  d = bd;
  d.pooled_w = 3; /* y should be 3 x 8 x 2 x 3 */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_roi_fwd(ctx, &d, bx, brois, by, NULL));
  d = bd;
  d.h = 7; /* x and dx are 6 high */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_roi_fwd(ctx, &d, bx, brois, by, NULL));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_roi_bwd(ctx, &d, bdy, brois, NULL, bdx));
  int64_t r4[2] = {3, 4};
  clnn_tensor *rois4 = float_tensor(ctx, 2, r4, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_roi_fwd(ctx, &bd, bx, rois4, by, NULL));
  clnn_tensor_free(rois4);
  /* argmax: only roi_pool takes it, as int32 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, bx, brois, by, bam));
  ck_assert(strstr(clnn_context_errmsg(ctx), "argmax") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &bd, bdy, brois, bam, bdx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &pd, bx, brois, by, bdy)); /* float argmax */
  int64_t xd[4] = {2, 8, 6, 5};
  clnn_tensor *xi = int_tensor(ctx, 4, xd, NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, xi, brois, by, NULL));
  clnn_tensor_free(xi);
  assert_untouched();
}
END_TEST

/* Fail unless the context's message names the argument and the type. */
static void assert_msg_names(const char *arg, const char *type) {
  const char *m = clnn_context_errmsg(tu_ctx());
  ck_assert_msg(strstr(m, arg) != NULL && strstr(m, type) != NULL, "message '%s' should name %s and %s", m, arg, type);
}

/* Half types: x, y, dy and dx all of one float type, rois float32 (also
 * with half data), argmax int32; each mix is INVALID_VALUE naming the
 * argument and its type, and writes nothing. */
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  clnn_roi_desc pd = bd;
  pd.op = CLNN_ROI_POOL;
  int64_t xd[4] = {2, 8, 6, 5}, rd[2] = {3, 5}, yd[4] = {3, 8, 2, 2};
  clnn_tensor *hx = dt_tensor(ctx, CLNN_FLOAT16, 4, xd, NULL), *hy = dt_tensor(ctx, CLNN_FLOAT16, 4, yd, NULL);
  clnn_tensor *bfy = dt_tensor(ctx, CLNN_BFLOAT16, 4, yd, NULL), *bfdx = dt_tensor(ctx, CLNN_BFLOAT16, 4, xd, NULL);
  clnn_tensor *hrois = dt_tensor(ctx, CLNN_FLOAT16, 2, rd, good_rois), *iy = int_tensor(ctx, 4, yd, NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, hx, brois, by, NULL)); /* f16 x, f32 y */
  assert_msg_names("'y'", "float32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, hx, brois, bfy, NULL)); /* f16 x, bf16 y */
  assert_msg_names("'y'", "bfloat16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, bx, brois, hy, NULL)); /* f32 x, f16 y */
  assert_msg_names("'y'", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, hx, hrois, hy, NULL)); /* half boxes */
  assert_msg_names("'rois'", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &pd, hx, brois, hy, hy)); /* half argmax */
  assert_msg_names("'argmax'", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_fwd(ctx, &bd, hx, brois, iy, NULL)); /* int32 y */
  assert_msg_names("'y'", "int32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &bd, iy, brois, NULL, bdx)); /* int32 dy */
  assert_msg_names("'dy'", "int32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &bd, hy, brois, NULL, bdx)); /* f16 dy, f32 dx */
  assert_msg_names("'dx'", "float32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &bd, hy, brois, NULL, bfdx)); /* f16 dy, bf16 dx */
  assert_msg_names("'dx'", "bfloat16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &bd, hy, hrois, NULL, hx)); /* half boxes */
  assert_msg_names("'rois'", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_roi_bwd(ctx, &pd, hy, brois, hy, hx)); /* half argmax */
  assert_msg_names("'argmax'", "float16");
  clnn_tensor_free(hx);
  clnn_tensor_free(hy);
  clnn_tensor_free(bfy);
  clnn_tensor_free(bfdx);
  clnn_tensor_free(hrois);
  clnn_tensor_free(iy);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* y viewing the memory of x */
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 8 * 6 * 5 * sizeof(float), &buf));
  int64_t xd[4] = {2, 8, 6, 5}, yd[4] = {3, 8, 2, 2};
  clnn_tensor *x, *y;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_view(buf, 64, CLNN_FLOAT32, 4, yd, &y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_roi_fwd(ctx, &bd, x, brois, y, NULL));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_roi_bwd(ctx, &bd, y, brois, NULL, x)); /* dx over dy */
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_buffer_free(buf);
  /* argmax over y */
  clnn_roi_desc pd = bd;
  pd.op = CLNN_ROI_POOL;
  TU_OK(clnn_buffer_create(ctx, 2 * 3 * 8 * 2 * 2 * sizeof(float), &buf));
  clnn_tensor *am;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, yd, &y));
  TU_OK(clnn_tensor_view(buf, 16, CLNN_INT32, 4, yd, &am));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_roi_fwd(ctx, &pd, bx, brois, y, am));
  clnn_tensor_free(y);
  clnn_tensor_free(am);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo = float_tensor(other, 4, xd, NULL);
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_roi_fwd(ctx, &bd, xo, brois, by, NULL));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

START_TEST(test_names_and_defaults) {
  ck_assert_str_eq(clnn_roi_op_name(CLNN_ROI_ALIGN), "roi_align");
  ck_assert_str_eq(clnn_roi_op_name(CLNN_PS_ROI_POOL), "ps_roi_pool");
  ck_assert_ptr_null(clnn_roi_op_name(CLNN_ROI_OP_COUNT_));
  clnn_roi_desc d = clnn_roi_desc_make(CLNN_PS_ROI_ALIGN, 1, 1029, 38, 50, 300, 7, 7, 0.0625f);
  ck_assert_int_eq(d.sampling_ratio, -1);
  ck_assert_int_eq(d.aligned, 0);
  int64_t oc;
  TU_OK(clnn_roi_desc_check(&d, &oc));
  ck_assert_int_eq(oc, 21);
}
END_TEST

static Suite *roi_suite(void) {
  Suite *s = suite_create("roi");
  TCase *tc = tcase_create("against_reference");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_case_against_reference, 0, N_CASES);
  tcase_add_test(tc, test_sampling_and_alignment_grid);
  tcase_add_loop_test(tc, test_matches_torchvision, 0, (int)(sizeof golden_cases / sizeof golden_cases[0]));
  tcase_add_loop_test(tc, test_reference_backward_by_finite_differences, 0, 8);
  tcase_add_loop_test(tc, test_images_without_rois, 0, 4);
  tcase_add_loop_test(tc, test_zero_rois, 0, 12);
  tcase_add_loop_test(tc, test_negative_boxes, 0, 10);
  tcase_add_test(tc, test_pool_bwd_ignores_bad_argmax);
  tcase_add_test(tc, test_pool_bwd_adds_stray_argmax);
  tcase_add_test(tc, test_gpu_variants_edges);
  tcase_add_test(tc, test_chunked_workspace);
  tcase_add_test(tc, test_names_and_defaults);
  tcase_add_test(tc, test_bench_r_mode);
  tcase_add_loop_test(tc, test_half_precision, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_test(tc, test_half_gpu_variants);
  tcase_add_test(tc, test_half_pool_bwd_argmax_edits);
  tcase_add_test(tc, test_half_odd_offsets);
  tcase_add_test(tc, test_half_variant_rules);
  tcase_add_test(tc, test_half_ps_fallbacks);
  suite_add_tcase(s, tc);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_rois);
  tcase_add_test(bad, test_bad_shapes_and_types);
  tcase_add_test(bad, test_bad_dtypes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(roi_suite()); }
