/*
 * test_pool.c - 2-D pooling against the host reference: max (with indices),
 * average counting the padding or not, divisor override, ceil mode, strides
 * 1, 2 and 3 (the vector paths and the gather), non-square windows, global
 * average pooling (4-D and 2-D outputs), rows too long for the private
 * buffers (the generic kernels), the GPU variants' edges (global planes of
 * one value and of many per work-item, planes smaller than a work-group)
 * and that they are what test_pool.gpu runs, integer inputs where results
 * must be exact (ties included), NaN and -inf windows, bit-identical
 * repeats, every case again in float16 and bfloat16 (and views at odd
 * element offsets), the reference backward against double-precision finite
 * differences, output sizes against PyTorch's, and bad arguments (mixed
 * types included).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/rmode.h"
#include "common/testutil.h"
#include "host/ref.h"

#define MAX CLNN_POOL_MAX
#define AVG CLNN_POOL_AVG
#define AVGX CLNN_POOL_AVG_EXCLUDE_PAD

typedef struct pool_case {
  int n, c, h, w;
  clnn_pool_mode mode;
  int kh, kw, sh, sw, ph, pw, ceil, divisor;
} pool_case;

static const pool_case cases[] = {
    /* n  c   h    w   mode kh kw sh sw ph pw ceil div */
    {2, 3, 13, 11, MAX, 3, 3, 2, 2, 1, 1, 0, 0},    /* ResNet stem pool, odd sizes */
    {3, 2, 8, 10, MAX, 2, 2, 2, 2, 0, 0, 0, 0},     /* 2x2 stride 2 */
    {1, 4, 10, 10, MAX, 3, 3, 3, 3, 0, 0, 0, 0},    /* stride 3 (gather path), rows dropped */
    {2, 2, 7, 7, MAX, 2, 2, 2, 2, 0, 0, 1, 0},      /* ceil mode: a window past the edge */
    {2, 3, 9, 12, MAX, 3, 3, 1, 1, 1, 1, 0, 0},     /* stride 1, heavy overlap */
    {1, 3, 12, 9, MAX, 2, 3, 1, 2, 1, 1, 1, 0},     /* non-square, mixed strides */
    {2, 2, 17, 40, MAX, 4, 4, 3, 3, 2, 2, 1, 0},    /* stride 3 with padding and ceil */
    {2, 3, 13, 11, AVG, 3, 3, 2, 2, 1, 1, 1, 0},    /* count_include_pad, ceil */
    {2, 3, 13, 13, AVGX, 3, 3, 1, 1, 1, 1, 0, 0},   /* count_include_pad = False */
    {1, 2, 11, 9, AVG, 3, 3, 2, 2, 1, 1, 0, 4},     /* divisor_override */
    {2, 2, 15, 16, AVGX, 5, 5, 3, 3, 2, 2, 1, 0},   /* 5x5 stride 3, excluded padding, ceil */
    {3, 5, 7, 7, AVG, 7, 7, 1, 1, 0, 0, 0, 0},      /* global average */
    {2, 4, 6, 5, MAX, 6, 5, 1, 1, 0, 0, 0, 0},      /* global max */
    {1, 2, 3, 2100, MAX, 3, 3, 1, 1, 1, 1, 0, 0},   /* rows over the private buffers */
    {1, 2, 3, 2100, AVG, 3, 3, 2, 2, 1, 1, 0, 0},
    {4, 16, 28, 28, MAX, 3, 3, 2, 2, 1, 1, 0, 0},   /* batch 4 */
    {2, 8, 35, 33, AVG, 2, 2, 2, 2, 0, 0, 1, 0},    /* more than 16 outputs per row */
    /* the GPU variants' edges (work-groups of 256; the global average's of
     * 64 to 256 work-items, about one per 8 values) */
    {3, 5, 45, 47, AVGX, 45, 47, 1, 1, 0, 0, 0, 0}, /* global over 2115 values: 9 per work-item */
    {2, 3, 1, 1, AVG, 1, 1, 1, 1, 0, 0, 0, 0},      /* global over one value */
    {2, 7, 5, 3, AVG, 5, 3, 1, 1, 0, 0, 0, 4},      /* global, divisor override */
    {5, 3, 3, 3, MAX, 2, 2, 1, 1, 0, 0, 0, 0},      /* planes of 4 outputs, 9 inputs */
    /* the half max paths (CPU class): 2x2 stride 2 read straight from
     * memory, 16 outputs a vector, the last vector again from W / 2 - 16,
     * then the columns one by one: a ceil-mode column and an odd width
     * over 32, then a dropped last row and column (floor mode, odd H and W);
     * the backward's vector gather with stride 1 and stride 2, rows over 16 */
    {2, 3, 10, 37, MAX, 2, 2, 2, 2, 0, 0, 1, 0},
    {2, 2, 9, 71, MAX, 2, 2, 2, 2, 0, 0, 0, 0},
    {2, 3, 9, 37, MAX, 3, 3, 1, 1, 1, 1, 0, 0},
    {1, 3, 7, 45, MAX, 3, 3, 2, 2, 1, 1, 1, 0},
    /* the half 3-column stride-1 average summed in registers: a row of 37
     * (both edges, the last 16 again) in ceil mode, and a row of exactly 16
     * (both edges in one vector) with row stride 2, padding excluded */
    {2, 3, 9, 37, AVG, 3, 3, 1, 1, 1, 1, 1, 0},
    {1, 2, 7, 16, AVGX, 3, 3, 2, 1, 1, 1, 0, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_pool2d_desc desc_of(const pool_case *c) {
  clnn_pool2d_desc d = clnn_pool2d_desc_make(c->n, c->c, c->h, c->w, c->mode, c->kh, c->kw);
  d.stride_h = c->sh;
  d.stride_w = c->sw;
  d.pad_h = c->ph;
  d.pad_w = c->pw;
  d.ceil_mode = c->ceil;
  d.divisor = c->divisor;
  return d;
}

static void describe(const clnn_pool2d_desc *d, char *buf, size_t n) {
  static const char *const modes[] = {"max", "avg", "avg_exclude"};
  snprintf(buf, n, "pool mb%lldic%lldih%lldiw%lld %s kh%lldkw%lldsh%lldsw%lldph%lldpw%lld%s div=%lld", (long long)d->n,
           (long long)d->c, (long long)d->h, (long long)d->w, modes[d->mode], (long long)d->kh, (long long)d->kw,
           (long long)d->stride_h, (long long)d->stride_w, (long long)d->pad_h, (long long)d->pad_w,
           d->ceil_mode ? " ceil" : "", (long long)d->divisor);
}

/* Host data of one problem and the reference results. */
typedef struct problem {
  clnn_pool2d_desc d;
  int64_t oh, ow, xdims[4], ydims[4];
  size_t nx, ny;
  float *x, *dy, *y_ref, *dx_ref;
  int32_t *idx_ref;
  char what[200];
} problem;

/* Sizes and random inputs (no reference yet: problem_ref). */
static void problem_init(problem *p, const clnn_pool2d_desc *d, bool integers, uint64_t seed) {
  p->d = *d;
  TU_OK(clnn_pool2d_desc_check(d, &p->oh, &p->ow));
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, yd[4] = {d->n, d->c, p->oh, p->ow};
  memcpy(p->xdims, xd, sizeof xd);
  memcpy(p->ydims, yd, sizeof yd);
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->ny = (size_t)(d->n * d->c * p->oh * p->ow);
  p->x = tu_alloc(p->nx);
  p->dy = tu_alloc(p->ny);
  if (integers) {
    tu_fill_ints(p->x, p->nx, seed, -4, 4); /* many ties */
    tu_fill_ints(p->dy, p->ny, seed + 1, -3, 3);
  } else {
    tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
    tu_fill_normal(p->dy, p->ny, seed + 1, 0.0f, 1.0f);
  }
  p->y_ref = tu_alloc(p->ny);
  p->dx_ref = tu_alloc(p->nx);
  p->idx_ref = d->mode == MAX ? malloc(p->ny * sizeof(int32_t) + 1) : NULL;
  describe(d, p->what, sizeof p->what);
}

/* The reference on the inputs as they are now. */
static void problem_ref(problem *p) {
  TU_OK(clnn_ref_pool2d_fwd(&p->d, p->x, p->y_ref, p->idx_ref));
  TU_OK(clnn_ref_pool2d_bwd(&p->d, p->dy, p->idx_ref, p->dx_ref));
}

static void problem_make(problem *p, const clnn_pool2d_desc *d, bool integers, uint64_t seed) {
  problem_init(p, d, integers, seed);
  problem_ref(p);
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->dy);
  free(p->y_ref);
  free(p->dx_ref);
  free(p->idx_ref);
}

/* The variants that ran are of the context's class: GPU-class ones
 * (".gpu_" names) in test_pool.gpu (CLNN_DEVICE_CLASS=gpu), CPU-class ones
 * otherwise. Clears the record for the next call. */
static void assert_planned_class(const char *what) {
  clnn_context *ctx = tu_ctx();
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const char *ran = clnn_context_last_variant(ctx, NULL);
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  ck_assert_msg(*ran && (strstr(ran, ".gpu_") != NULL) == gpu, "%s ran '%s' on a %s-class context", what, ran,
                gpu ? "GPU" : "CPU");
  clnn_context_clear_variants(ctx);
}

/* Device forward and backward with x, y, dy and dx of type dt (outputs
 * poisoned first, read back as float32); the backward uses the device
 * forward's indices. */
typedef struct device_result {
  float *y, *dx;
  int32_t *idx;
} device_result;

static device_result run_device_dt(const problem *p, clnn_dtype dt) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *x = tu_tensor_dt(dt, 4, p->xdims, p->x), *y = tu_tensor_dt(dt, 4, p->ydims, NULL);
  clnn_tensor *dy = tu_tensor_dt(dt, 4, p->ydims, p->dy), *dx = tu_tensor_dt(dt, 4, p->xdims, NULL), *idx = NULL;
  if (p->d.mode == MAX) {
    TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, p->ydims, &idx));
    TU_OK(clnn_tensor_fill(idx, -1.0f));
  }
  tu_poison(y);
  tu_poison(dx);
  clnn_context_clear_variants(ctx);
  clnn_status st = clnn_pool2d_fwd(ctx, &p->d, x, y, idx);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  assert_planned_class(p->what);
  st = clnn_pool2d_bwd(ctx, &p->d, dy, idx, dx);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  assert_planned_class(p->what);
  device_result r = {tu_download_f32(y), tu_download_f32(dx), NULL};
  if (idx) {
    r.idx = malloc(p->ny * sizeof(int32_t));
    TU_OK(clnn_tensor_read(idx, r.idx, p->ny * sizeof(int32_t)));
  }
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(dy);
  clnn_tensor_free(dx);
  clnn_tensor_free(idx);
  return r;
}

static device_result run_device(const problem *p) { return run_device_dt(p, CLNN_FLOAT32); }

static void device_result_free(device_result *r) {
  free(r->y);
  free(r->dx);
  free(r->idx);
}

static void assert_same_indices(const problem *p, const int32_t *got) {
  for (size_t i = 0; i < p->ny; i++)
    ck_assert_msg(got[i] == p->idx_ref[i], "%s: indices[%zu] = %d, reference %d", p->what, i, got[i], p->idx_ref[i]);
}

/* Small integers: max, its ties and its indices are exact; so are the
 * average's sums, and its quotient rounds the same exact value. */
START_TEST(test_integer_case) {
  clnn_pool2d_desc d = desc_of(&cases[_i]);
  problem p;
  problem_make(&p, &d, true, 100 + (uint64_t)_i);
  device_result r = run_device(&p);
  ck_assert_msg(tu_compare(p.what, r.y, p.y_ref, p.ny, 0.0, 0.0, NULL), "%s: forward", p.what);
  if (d.mode == MAX) {
    assert_same_indices(&p, r.idx);
    ck_assert_msg(tu_compare(p.what, r.dx, p.dx_ref, p.nx, 0.0, 0.0, NULL), "%s: backward", p.what);
  } else {
    ck_assert_msg(tu_compare(p.what, r.dx, p.dx_ref, p.nx, 1e-6, 1e-6, NULL), "%s: backward", p.what);
  }
  device_result_free(&r);
  problem_free(&p);
}
END_TEST

START_TEST(test_float_case_deterministic) {
  clnn_pool2d_desc d = desc_of(&cases[_i]);
  problem p;
  problem_make(&p, &d, false, 200 + (uint64_t)_i);
  device_result r1 = run_device(&p), r2 = run_device(&p);
  tu_cmp c;
  ck_assert_msg(tu_compare(p.what, r1.y, p.y_ref, p.ny, 1e-6, 1e-6, &c), "%s: forward", p.what);
  ck_assert_msg(c.rel_l2_err < 1e-6, "%s: forward rel L2 %.3g", p.what, c.rel_l2_err);
  ck_assert_msg(tu_compare(p.what, r1.dx, p.dx_ref, p.nx, 1e-6, 1e-6, &c), "%s: backward", p.what);
  ck_assert_msg(c.rel_l2_err < 1e-6, "%s: backward rel L2 %.3g", p.what, c.rel_l2_err);
  if (d.mode == MAX) assert_same_indices(&p, r1.idx);
  ck_assert_msg(!memcmp(r1.y, r2.y, p.ny * sizeof(float)), "%s: two forward runs differ", p.what);
  ck_assert_msg(!memcmp(r1.dx, r2.dx, p.nx * sizeof(float)), "%s: two backward runs differ", p.what);
  device_result_free(&r1);
  device_result_free(&r2);
  problem_free(&p);
}
END_TEST

/* NaN wins a max (the last one in the window) and poisons an average;
 * an all -inf window gives -inf at its first covered position. */
START_TEST(test_nan_and_inf) {
  for (int m = 0; m < 3; m++) {
    clnn_pool2d_desc d = clnn_pool2d_desc_make(1, 2, 9, 11, (clnn_pool_mode)m, 3, 3);
    d.stride_h = d.stride_w = 2;
    d.pad_h = d.pad_w = 1;
    problem p;
    problem_make(&p, &d, false, 300 + (uint64_t)m);
    for (size_t i = 0; i < p.nx; i += 7) p.x[i] = NAN;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) p.x[(size_t)(99 + (1 + i) * 11 + 3 + j)] = -INFINITY; /* plane 1, window (1, 2) */
    TU_OK(clnn_ref_pool2d_fwd(&d, p.x, p.y_ref, p.idx_ref));
    device_result r = run_device(&p);
    size_t nans = 0;
    for (size_t i = 0; i < p.ny; i++) {
      ck_assert_msg(isnan(r.y[i]) == isnan(p.y_ref[i]), "%s: y[%zu] %g, reference %g", p.what, i, (double)r.y[i],
                    (double)p.y_ref[i]);
      ck_assert_msg(isnan(r.y[i]) || r.y[i] == p.y_ref[i] || fabs(r.y[i] - p.y_ref[i]) < 1e-6, "%s: y[%zu]", p.what, i);
      nans += isnan(r.y[i]);
    }
    ck_assert_msg(nans > 0, "the test should put NaN in some windows");
    if (m == MAX) {
      assert_same_indices(&p, r.idx);
      /* plane 1, output (1, 2) covers rows 1..3, columns 3..5 */
      const size_t o = (size_t)(p.oh * p.ow + 1 * p.ow + 2);
      ck_assert_msg(isinf(p.y_ref[o]) && p.y_ref[o] < 0, "reference max over -inf is %g", (double)p.y_ref[o]);
      ck_assert_int_eq(r.idx[o], 1 * 11 + 3);
    }
    device_result_free(&r);
    problem_free(&p);
  }
}
END_TEST

/* ------------------------------------------------------- half precision */

/* Where half precision has its edges: NaN, +-inf, +-0, a float16 overflow
 * (70000 is inf once rounded), its largest finite value, a float16
 * subnormal, a value that rounds to -0 in float16. In x they decide maxima
 * and poison averages; in dy they reach dx through the indices or the
 * shares. */
static const float half_specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 70000.0f, -70000.0f, 65504.0f, 3e-6f, -1e-8f};
#define N_HALF_SPECIALS (sizeof half_specials / sizeof half_specials[0])

static void assert_same_results(const problem *p, const device_result *a, const device_result *b) {
  ck_assert_msg(!memcmp(a->y, b->y, p->ny * sizeof(float)), "%s: two forward runs differ", p->what);
  ck_assert_msg(!memcmp(a->dx, b->dx, p->nx * sizeof(float)), "%s: two backward runs differ", p->what);
  if (p->d.mode == MAX) ck_assert_msg(!memcmp(a->idx, b->idx, p->ny * sizeof(int32_t)), "%s: indices differ", p->what);
}

/* Every case in float16 and bfloat16: inputs (specials included) rounded
 * to the type, the reference on those, the device (float32 math, one
 * rounding on store) against it rounded the same way; the indices exactly
 * the reference's (the maxima compare loaded values: ties and NaN as in
 * float32); two runs bit-identical. */
START_TEST(test_half_precision) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  clnn_pool2d_desc d = desc_of(&cases[_i / TU_N_HALF_TYPES]);
  problem p;
  problem_init(&p, &d, false, 700 + (uint64_t)_i);
  for (size_t i = 0; i < N_HALF_SPECIALS; i++) p.x[(i * 7) % p.nx] = half_specials[i];
  for (size_t i = 0; i < N_HALF_SPECIALS; i += 3) p.dy[(i * 11 + 3) % p.ny] = half_specials[i];
  tu_round_to(dt, p.x, p.nx);
  tu_round_to(dt, p.dy, p.ny);
  problem_ref(&p);
  device_result r1 = run_device_dt(&p, dt), r2 = run_device_dt(&p, dt);
  tu_check_half(p.what, "forward", r1.y, p.y_ref, p.ny, dt, 1e-6);
  tu_check_half(p.what, "backward", r1.dx, p.dx_ref, p.nx, dt, 1e-6);
  if (d.mode == MAX) assert_same_indices(&p, r1.idx);
  assert_same_results(&p, &r1, &r2);
  device_result_free(&r1);
  device_result_free(&r2);
  problem_free(&p);
}
END_TEST

/* A view of dims at element offset off of buf, of type dt, optionally uploaded. */
/* Half tensors at odd element offsets of one buffer (2-byte aligned only:
 * the kernels' vector loads and stores of half and ushort must take that),
 * a max, an average and a global average case in both types, and the
 * half paths' cases (max 2x2 stride 2 direct, the max backward's vector
 * gather, the 3-column stride-1 average in registers). */
START_TEST(test_half_odd_offsets) {
  static const int which[] = {0, 16, 17, 21, 22, 23, 24, 25, 26};
  clnn_context *ctx = tu_ctx();
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
      const clnn_dtype dt = tu_half_types[t];
      clnn_pool2d_desc d = desc_of(&cases[which[k]]);
      problem p;
      problem_init(&p, &d, false, 800 + (uint64_t)(t * 8 + k));
      tu_round_to(dt, p.x, p.nx);
      tu_round_to(dt, p.dy, p.ny);
      problem_ref(&p);
      const size_t ox = 1, oy = ox + p.nx + 2, ody = oy + p.ny + 1, odx = ody + p.ny + 2;
      clnn_buffer *buf;
      TU_OK(clnn_buffer_create(ctx, (odx + p.nx + 1) * clnn_dtype_size(dt), &buf));
      clnn_tensor *x = tu_view_dt(buf, ox, dt, 4, p.xdims, p.x), *y = tu_view_dt(buf, oy, dt, 4, p.ydims, NULL);
      clnn_tensor *dy = tu_view_dt(buf, ody, dt, 4, p.ydims, p.dy), *dx = tu_view_dt(buf, odx, dt, 4, p.xdims, NULL), *idx = NULL;
      if (d.mode == MAX) TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, p.ydims, &idx));
      tu_poison(y);
      tu_poison(dx);
      TU_OK(clnn_pool2d_fwd(ctx, &d, x, y, idx));
      TU_OK(clnn_pool2d_bwd(ctx, &d, dy, idx, dx));
      float *got_y = tu_download_f32(y), *got_dx = tu_download_f32(dx);
      tu_check_half(p.what, "forward (odd offset)", got_y, p.y_ref, p.ny, dt, 1e-6);
      tu_check_half(p.what, "backward (odd offset)", got_dx, p.dx_ref, p.nx, dt, 1e-6);
      free(got_y);
      free(got_dx);
      clnn_tensor_free(x);
      clnn_tensor_free(y);
      clnn_tensor_free(dy);
      clnn_tensor_free(dx);
      clnn_tensor_free(idx);
      clnn_buffer_free(buf);
      problem_free(&p);
    }
}
END_TEST

/* Global average pooling may write a 2-D (n, c) output and read a 2-D dy. */
START_TEST(test_global_2d) {
  clnn_context *ctx = tu_ctx();
  clnn_pool2d_desc d = clnn_pool2d_desc_global(3, 37, 9, 8);
  d.mode = AVGX;
  problem p;
  problem_make(&p, &d, false, 400);
  int64_t d2[2] = {3, 37};
  clnn_tensor *x = tu_tensor(4, p.xdims, p.x), *y = tu_tensor(2, d2, NULL), *dy = tu_tensor(2, d2, p.dy);
  clnn_tensor *dx = tu_tensor(4, p.xdims, NULL);
  tu_poison(y);
  tu_poison(dx);
  TU_OK(clnn_pool2d_fwd(ctx, &d, x, y, NULL));
  TU_OK(clnn_pool2d_bwd(ctx, &d, dy, NULL, dx));
  float *got_y = tu_download(y), *got_dx = tu_download(dx);
  ck_assert(tu_compare(p.what, got_y, p.y_ref, p.ny, 1e-6, 1e-6, NULL));
  ck_assert(tu_compare(p.what, got_dx, p.dx_ref, p.nx, 1e-6, 1e-6, NULL));
  free(got_y);
  free(got_dx);
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(dy);
  clnn_tensor_free(dx);
  problem_free(&p);
}
END_TEST

/* clnn-bench R mode: the forward writes y and int32 indices, the backward
 * reads the indices back with dy. */
START_TEST(test_bench_r_mode) {
  rm_dir dir;
  if (!rm_open(&dir)) return;
  clnn_pool2d_desc d = desc_of(&cases[0]);
  problem p;
  problem_make(&p, &d, false, 51);
  rm_write(&dir, "x", CLNN_FLOAT32, 4, p.xdims, p.x);
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, p.ydims, p.dy);
  rm_run(&dir, "fwd", "pool mb2ic3ih13iw11 max kh3sh2ph1");
  rm_run(&dir, "bwd", "pool mb2ic3ih13iw11 max kh3sh2ph1");
  float *y = rm_read(&dir, "y", CLNN_FLOAT32, p.ny), *dx = rm_read(&dir, "dx", CLNN_FLOAT32, p.nx);
  int32_t *idx = rm_read(&dir, "indices", CLNN_INT32, p.ny);
  ck_assert(tu_compare("R mode y", y, p.y_ref, p.ny, 0.0, 0.0, NULL));
  assert_same_indices(&p, idx);
  ck_assert(tu_compare("R mode dx", dx, p.dx_ref, p.nx, 1e-6, 1e-6, NULL));
  free(y);
  free(dx);
  free(idx);
  problem_free(&p);
  rm_close(&dir);
}
END_TEST

/* Output sizes as torch.nn.functional.max_pool2d gives them (checked with torch 1.13). */
START_TEST(test_output_sizes) {
  static const struct {
    int h, k, s, p, ceil, out;
  } known[] = {{56, 3, 2, 1, 0, 28}, {112, 3, 2, 1, 0, 56}, {7, 2, 2, 0, 0, 3}, {7, 2, 2, 0, 1, 4},
               {6, 3, 2, 1, 1, 4},   {5, 3, 2, 1, 1, 3},    {10, 3, 3, 0, 1, 4}, {10, 3, 3, 0, 0, 3},
               {4, 3, 2, 0, 1, 2},   {5, 2, 2, 1, 1, 3}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    clnn_pool2d_desc d = clnn_pool2d_desc_make(1, 1, known[i].h, known[i].h, MAX, known[i].k, known[i].k);
    d.stride_h = d.stride_w = known[i].s;
    d.pad_h = d.pad_w = known[i].p;
    d.ceil_mode = known[i].ceil;
    int64_t oh, ow;
    TU_OK(clnn_pool2d_desc_check(&d, &oh, &ow));
    ck_assert_msg(oh == known[i].out && ow == known[i].out, "h %d k %d s %d p %d ceil %d: %lld, PyTorch %d",
                  known[i].h, known[i].k, known[i].s, known[i].p, known[i].ceil, (long long)oh, known[i].out);
  }
}
END_TEST

/* ------------------------------------------------- finite differences */

typedef struct fd_problem {
  clnn_pool2d_desc d;
  double *x, *dy, *y;
  int32_t *idx;
  size_t ny;
} fd_problem;

static double fd_loss(void *ptr) {
  fd_problem *p = ptr;
  clnn__ref_pool2d_fwd_f64(&p->d, p->x, p->y, p->idx);
  double s = 0.0;
  for (size_t i = 0; i < p->ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

START_TEST(test_reference_backward_fd) {
  for (int m = 0; m < 3; m++)
    for (int ceil = 0; ceil < 2; ceil++) {
      fd_problem p;
      p.d = clnn_pool2d_desc_make(2, 2, 7, 8, (clnn_pool_mode)m, 3, 3);
      p.d.stride_h = 2;
      p.d.stride_w = 1;
      p.d.pad_h = p.d.pad_w = 1;
      p.d.ceil_mode = ceil;
      int64_t oh, ow;
      TU_OK(clnn_pool2d_desc_check(&p.d, &oh, &ow));
      size_t nx = 2 * 2 * 7 * 8;
      p.ny = (size_t)(2 * 2 * oh * ow);
      p.x = malloc(nx * sizeof(double));
      p.dy = malloc(p.ny * sizeof(double));
      p.y = malloc(p.ny * sizeof(double));
      p.idx = malloc(p.ny * sizeof(int32_t));
      double *dx = malloc(nx * sizeof(double));
      tu_rng r = tu_rng_make(600 + (uint64_t)(m * 2 + ceil));
      for (size_t i = 0; i < nx; i++) p.x[i] = tu_rng_uniform(&r, -2.0, 2.0); /* distinct: no ties */
      for (size_t i = 0; i < p.ny; i++) p.dy[i] = tu_rng_normal(&r);
      TU_OK(clnn__ref_pool2d_fwd_f64(&p.d, p.x, p.y, m == MAX ? p.idx : NULL));
      TU_OK(clnn__ref_pool2d_bwd_f64(&p.d, p.dy, m == MAX ? p.idx : NULL, dx));
      if (m != MAX) {
        free(p.idx);
        p.idx = NULL;
      }
      char what[200];
      describe(&p.d, what, sizeof what);
      ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.x, nx, dx, 1e-6, 1e-7), "%s: reference backward", what);
      free(p.x);
      free(p.dy);
      free(p.y);
      free(p.idx);
      free(dx);
    }
}
END_TEST

/* ------------------------------------------------------------ bad input */

static clnn_tensor *bx, *by, *bidx, *bdy, *bdx;
static clnn_pool2d_desc bd;
static int64_t bxd[4] = {2, 3, 8, 8}, byd[4] = {2, 3, 4, 4};

static void bad_setup(void) {
  bd = clnn_pool2d_desc_make(2, 3, 8, 8, MAX, 3, 3);
  bd.stride_h = bd.stride_w = 2;
  bd.pad_h = bd.pad_w = 1;
  bx = tu_tensor(4, bxd, NULL);
  by = tu_tensor(4, byd, NULL);
  bdy = tu_tensor(4, byd, NULL);
  bdx = tu_tensor(4, bxd, NULL);
  TU_OK(clnn_tensor_create(tu_ctx(), CLNN_INT32, 4, byd, &bidx));
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bdy, 1.0f));
  TU_OK(clnn_tensor_fill(bidx, -7.0f));
  tu_poison(by);
  tu_poison(bdx);
}

static void bad_teardown(void) {
  clnn_tensor_free(bx);
  clnn_tensor_free(by);
  clnn_tensor_free(bdy);
  clnn_tensor_free(bdx);
  clnn_tensor_free(bidx);
}

static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  float *y = tu_download(by), *dx = tu_download(bdx);
  int32_t idx[2 * 3 * 4 * 4];
  TU_OK(clnn_tensor_read(bidx, idx, sizeof idx));
  for (size_t i = 0; i < clnn_tensor_numel(by); i++) ck_assert_msg(isnan(y[i]) && idx[i] == -7, "y/indices [%zu] written", i);
  for (size_t i = 0; i < clnn_tensor_numel(bdx); i++) ck_assert_msg(isnan(dx[i]), "dx[%zu] written", i);
  free(y);
  free(dx);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_fwd(NULL, &bd, bx, by, bidx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_fwd(ctx, NULL, bx, by, bidx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_fwd(ctx, &bd, NULL, by, bidx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_fwd(ctx, &bd, bx, NULL, bidx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_bwd(ctx, &bd, bdy, NULL, bdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "indices") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_bwd(ctx, &bd, NULL, bidx, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_bwd(ctx, &bd, bdy, bidx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_pool2d_desc_check(NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_pool2d_fwd(&bd, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_pool2d_bwd(&bd, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_pool2d_desc d = bd;
  d.kh = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "desc->kh") != NULL);
  d = bd;
  d.stride_w = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  d = bd;
  d.pad_h = 2; /* more than half of 3 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "half") != NULL);
  d.pad_h = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &d, bdy, bidx, bdx));
  d = bd;
  d.mode = (clnn_pool_mode)5;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  d = bd;
  d.divisor = 4; /* max has no divisor */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  d.mode = AVG;
  d.divisor = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &d, bx, by, NULL));
  d = bd;
  d.kh = d.kw = 11;
  d.pad_h = d.pad_w = 1; /* 11 > 8 + 2 */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_pool2d_fwd(ctx, &d, bx, by, bidx));
  d = bd;
  d.n = 1 << 20;
  d.c = 1 << 10;
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_pool2d_desc_check(&d, NULL, NULL));
  d = bd;
  d.w = (int64_t)1 << 31;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_desc_check(&d, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_tensors) {
  clnn_context *ctx = tu_ctx();
  /* average pooling with indices */
  clnn_pool2d_desc avg = bd;
  avg.mode = AVG;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &avg, bx, by, bidx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &avg, bdy, bidx, bdx));
  /* float indices, int32 data */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, bx, by, bdy));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &bd, bidx, bidx, bdx));
  /* shapes: y for stride 1, x of the wrong size, 2-D y when the output is not 1x1 */
  clnn_pool2d_desc s1 = bd;
  s1.stride_h = s1.stride_w = 1;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_pool2d_fwd(ctx, &s1, bx, by, bidx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[2,3,8,8]") != NULL);
  int64_t d2[2] = {2, 3};
  clnn_tensor *y2 = tu_tensor(2, d2, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_pool2d_fwd(ctx, &bd, bx, y2, bidx));
  clnn_tensor_free(y2);
  /* aliasing: dx on dy's memory, y on x's */
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 3 * 8 * 8 * sizeof(float), &buf));
  clnn_tensor *xv, *yv;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, bxd, &xv));
  TU_OK(clnn_tensor_view(buf, 64, CLNN_FLOAT32, 4, byd, &yv));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_pool2d_fwd(ctx, &bd, xv, yv, bidx));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_pool2d_bwd(ctx, &bd, yv, bidx, xv));
  clnn_tensor_free(xv);
  clnn_tensor_free(yv);
  clnn_buffer_free(buf);
  /* another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, bxd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_pool2d_fwd(ctx, &bd, xo, by, bidx));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* x, y, dy and dx share one float type: a mix, or int32, is refused naming
 * the argument; the indices stay int32 with half data. */
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *hx = tu_tensor_dt(CLNN_FLOAT16, 4, bxd, NULL), *hy = tu_tensor_dt(CLNN_FLOAT16, 4, byd, NULL);
  clnn_tensor *by16 = tu_tensor_dt(CLNN_BFLOAT16, 4, byd, NULL), *bdx16 = tu_tensor_dt(CLNN_BFLOAT16, 4, bxd, NULL);
  clnn_tensor *ix = NULL;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bxd, &ix));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, hx, by, bidx));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'y'") && strstr(clnn_context_errmsg(ctx), "float16"), "%s",
                clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, hx, by16, bidx));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "bfloat16"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, bx, hy, bidx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, ix, by, bidx));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'x'") && strstr(clnn_context_errmsg(ctx), "int32"), "%s",
                clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_fwd(ctx, &bd, hx, hy, by16)); /* half indices */
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'indices'"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &bd, hy, bidx, bdx));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'dx'") && strstr(clnn_context_errmsg(ctx), "float16"), "%s",
                clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &bd, by16, bidx, hx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &bd, bdy, bidx, bdx16));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_bwd(ctx, &bd, hy, hy, hx)); /* half indices */
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'indices'"), "%s", clnn_context_errmsg(ctx));
  clnn_tensor_free(hx);
  clnn_tensor_free(hy);
  clnn_tensor_free(by16);
  clnn_tensor_free(bdx16);
  clnn_tensor_free(ix);
  assert_untouched();
}
END_TEST

/* Indices that name no position of their window add nothing (no crash). */
START_TEST(test_foreign_indices) {
  clnn_context *ctx = tu_ctx();
  int32_t idx[2 * 3 * 4 * 4];
  for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) idx[i] = (int32_t)((i * 7919) % 200) - 50;
  TU_OK(clnn_tensor_write(bidx, idx, sizeof idx));
  float *dy = tu_alloc(96), *ref = tu_alloc(384);
  tu_fill_normal(dy, 96, 5, 0.0f, 1.0f);
  TU_OK(clnn_tensor_write(bdy, dy, 96 * sizeof(float)));
  TU_OK(clnn_ref_pool2d_bwd(&bd, dy, idx, ref));
  TU_OK(clnn_pool2d_bwd(ctx, &bd, bdy, bidx, bdx));
  float *got = tu_download(bdx);
  ck_assert(tu_compare("foreign indices", got, ref, 384, 1e-6, 1e-6, NULL));
  free(dy);
  free(ref);
  free(got);
}
END_TEST


/* A batch of 0, as torch takes it (not 0 channels, which torch refuses): max (with
 * indices) and average, forward and backward, in each float type, on the
 * device and in the reference, succeed and write nothing. */
START_TEST(test_empty_tensors) {
  clnn_context *ctx = tu_ctx();
  static const int64_t nc[1][2] = {{0, 3}};
  static const clnn_dtype types[] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  for (int i = 0; i < 3; i++) {
    const clnn_dtype dt = types[i];
    for (int max = 0; max < 2; max++) {
      clnn_pool2d_desc d = clnn_pool2d_desc_make(nc[0][0], nc[0][1], 7, 6, max ? CLNN_POOL_MAX : CLNN_POOL_AVG, 3, 3);
      d.stride_h = d.stride_w = 2;
      int64_t oh, ow;
      TU_OK(clnn_pool2d_desc_check(&d, &oh, &ow));
      int64_t xd[4] = {d.n, d.c, 7, 6}, yd[4] = {d.n, d.c, oh, ow};
      clnn_tensor *x = tu_tensor_dt(dt, 4, xd, NULL), *y = tu_tensor_dt(dt, 4, yd, NULL);
      clnn_tensor *dx = tu_tensor_dt(dt, 4, xd, NULL), *idx;
      TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, yd, &idx));
      TU_OK(clnn_pool2d_fwd(ctx, &d, x, y, max ? idx : NULL));
      TU_OK(clnn_pool2d_bwd(ctx, &d, y, max ? idx : NULL, dx));
      float dummy = 0.0f;
      int32_t di = 0;
      TU_OK(clnn_ref_pool2d_fwd(&d, &dummy, &dummy, max ? &di : NULL));
      TU_OK(clnn_ref_pool2d_bwd(&d, &dummy, max ? &di : NULL, &dummy));
      clnn_tensor_free(x);
      clnn_tensor_free(y);
      clnn_tensor_free(dx);
      clnn_tensor_free(idx);
    }
  }
  clnn_pool2d_desc c0 = clnn_pool2d_desc_make(2, 0, 7, 6, CLNN_POOL_MAX, 3, 3);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pool2d_desc_check(&c0, NULL, NULL)); /* torch refuses 0 channels */
}
END_TEST

static Suite *pool_suite(void) {
  Suite *s = suite_create("pool");
  TCase *tc = tcase_create("device");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_integer_case, 0, N_CASES);
  tcase_add_loop_test(tc, test_float_case_deterministic, 0, N_CASES);
  tcase_add_test(tc, test_nan_and_inf);
  tcase_add_test(tc, test_global_2d);
  tcase_add_test(tc, test_empty_tensors);
  tcase_add_loop_test(tc, test_half_precision, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_test(tc, test_half_odd_offsets);
  tcase_add_test(tc, test_bench_r_mode);
  suite_add_tcase(s, tc);
  TCase *ref = tcase_create("reference");
  tcase_add_test(ref, test_output_sizes);
  tcase_add_test(ref, test_reference_backward_fd);
  suite_add_tcase(s, ref);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_tensors);
  tcase_add_test(bad, test_bad_dtypes);
  tcase_add_test(bad, test_foreign_indices);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(pool_suite()); }
