/*
 * test_deform_conv.c - deformable convolution v1/v2 against the host
 * reference, forward and backward: a table of shapes (v1 and v2, groups and
 * offset groups, stride, dilation, odd sizes, batch 1 and 3, K' blocks over
 * the fused kernel's local buffer, every channel-vector width), outputs
 * poisoned before each run, bit-identical repeats, both GEMM engines,
 * chunked workspaces; zero offsets equal plain convolution exactly, offsets
 * that push every sample outside give the bias, NaN/Inf offsets read zero;
 * the reference backward against double-precision finite differences
 * (points near integer positions and near the border, never within the step
 * of a kink); and bad arguments (right status, nothing written). Every case
 * again in float16 and bfloat16 (inputs rounded to the type, the reference
 * on them; views at odd element offsets; NaN/Inf offsets and float16
 * overflow; CLBlast; a batch of 0) and mixed-type errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"

typedef struct dc_case {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, dh, dw, g, dg, m, bias;
} dc_case;

// clang-format off
static const dc_case cases[] = {
    /* n   c   h   w   k kh kw sh sw ph pw dh dw  g dg  m bias */
    {2, 8, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1},   /* the example (v2, dg 2) */
    {2, 8, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1},   /* v1 */
    {1, 8, 9, 10, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1},     /* groups 2 */
    {3, 6, 11, 12, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 2, 0, 0},    /* stride 2, batch 3, v1 */
    {1, 4, 12, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1},     /* dilation 2 */
    {2, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 2, 1, 1},      /* groups 4 > offset groups 2 */
    {1, 8, 10, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 4, 1, 0},     /* offset groups 4 > groups 2 */
    {1, 3, 7, 5, 5, 2, 3, 1, 2, 0, 1, 1, 1, 1, 3, 1, 1},      /* odd everything, vector width 1 */
    {1, 256, 5, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* K' = 2304: two blocks of the fused kernel */
    {2, 16, 6, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1},    /* 40 output channels: a partial 32-slice */
    {2, 16, 6, 6, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1, 2, 1, 1},     /* 1x1 kernel */
    {1, 4, 3, 3, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1},      /* one output pixel */
    {3, 32, 10, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1},   /* batch 3, vector width 16 */
    {1, 12, 17, 15, 10, 5, 5, 2, 2, 2, 2, 1, 1, 1, 3, 1, 1},  /* 5x5 stride 2, vector width 4 */
    {2, 4, 6, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 0, 1},      /* 2 channels per group: vector width 1 */
    {2, 8, 20, 70, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1},    /* wide: the backward works in 3 row bands */
};
// clang-format on
#define CASE_BANDS 15
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_deform_conv2d_desc desc_of(const dc_case *c) {
  clnn_deform_conv2d_desc d = clnn_deform_conv2d_desc_make(c->n, c->c, c->h, c->w, c->k, c->kh, c->kw);
  d.conv.stride_h = c->sh;
  d.conv.stride_w = c->sw;
  d.conv.pad_h = c->ph;
  d.conv.pad_w = c->pw;
  d.conv.dilation_h = c->dh;
  d.conv.dilation_w = c->dw;
  d.conv.groups = c->g;
  d.offset_groups = c->dg;
  d.modulated = c->m;
  return d;
}

/* The clnn-bench descriptor that reproduces a problem. */
static void describe(const clnn_deform_conv2d_desc *dd, bool bias, char *buf, size_t n) {
  const clnn_conv2d_desc *d = &dd->conv;
  snprintf(
      buf, n,
      "deform_conv "
      "mb%lldic%lldih%lldiw%lldoc%lldkh%lldkw%lldsh%lldsw%lldph%lldpw%llddh%llddw%lldg%llddg%lldm%d%s",
      (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->k,
      (long long)d->kh, (long long)d->kw, (long long)d->stride_h, (long long)d->stride_w,
      (long long)d->pad_h, (long long)d->pad_w, (long long)d->dilation_h, (long long)d->dilation_w,
      (long long)d->groups, (long long)dd->offset_groups, dd->modulated, bias ? "" : " --no-bias");
}

/* ------------------------------------------------------------- problems */

typedef enum offset_kind {
  OFF_RANDOM,
  OFF_ZERO,
  OFF_OUTSIDE,
  OFF_NONFINITE,
  OFF_HALVES, /* multiples of 1/2: points on integers, on -1 and h - 1 exactly, just outside */
  OFF_CLUSTER /* every point of an image at one place: one cell holds them all */
} offset_kind;

typedef struct problem {
  clnn_deform_conv2d_desc d;
  int64_t oh, ow;
  size_t nx, noff, nmask, nw, nb, ny;
  float *x, *off, *mask, *w, *b, *dy;
  char what[320];
} problem;

/* Outputs of one forward + backward run (device or reference). */
typedef struct results {
  float *y, *dx, *doff, *dmask, *dw, *db;
} results;

/* Offsets that move every sampling point of image n to (1.25 + n % 2, 2.5). */
static void cluster_offsets(problem *p) {
  const clnn_conv2d_desc *c = &p->d.conv;
  const int64_t taps = c->kh * c->kw, npix = p->oh * p->ow, dg = p->d.offset_groups;
  for (int64_t n = 0; n < c->n; n++)
    for (int64_t og = 0; og < dg; og++)
      for (int64_t t = 0; t < taps; t++)
        for (int64_t q = 0; q < npix; q++) {
          const int64_t oy = q / p->ow, ox = q % p->ow;
          const int64_t by = oy * c->stride_h - c->pad_h + (t / c->kw) * c->dilation_h;
          const int64_t bx = ox * c->stride_w - c->pad_w + (t % c->kw) * c->dilation_w;
          float *off = p->off + ((n * dg + og) * 2 * taps + 2 * t) * npix + q;
          off[0] = (float)(1.25 + (double)(n % 2) - (double)by);
          off[npix] = (float)(2.5 - (double)bx);
        }
}

static void problem_make(problem *p, const clnn_deform_conv2d_desc *d, bool bias, bool integers,
                         offset_kind kind, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->d = *d;
  TU_OK(clnn_deform_conv2d_desc_check(d, &p->oh, &p->ow));
  const clnn_conv2d_desc *c = &d->conv;
  const int64_t taps = c->kh * c->kw, npix = p->oh * p->ow;
  p->nx = (size_t)(c->n * c->c * c->h * c->w);
  p->noff = (size_t)(c->n * 2 * d->offset_groups * taps * npix);
  p->nmask = (size_t)(c->n * d->offset_groups * taps * npix);
  p->nw = (size_t)(c->k * (c->c / c->groups) * taps);
  p->nb = (size_t)c->k;
  p->ny = (size_t)(c->n * c->k * npix);
  p->x = tu_alloc(p->nx);
  p->off = tu_alloc(p->noff);
  p->mask = d->modulated ? tu_alloc(p->nmask) : NULL;
  p->w = tu_alloc(p->nw);
  p->b = bias ? tu_alloc(p->nb) : NULL;
  p->dy = tu_alloc(p->ny);
  if (integers) {
    tu_fill_ints(p->x, p->nx, seed, -3, 3);
    tu_fill_ints(p->w, p->nw, seed + 1, -2, 2);
    if (p->b) tu_fill_ints(p->b, p->nb, seed + 2, -4, 4);
    tu_fill_ints(p->dy, p->ny, seed + 3, -2, 2);
    if (p->mask) tu_fill_ints(p->mask, p->nmask, seed + 4, 1, 1);
  } else {
    tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
    tu_fill_normal(p->w, p->nw, seed + 1, 0.0f, 1.0f / sqrtf((float)(p->nw / p->nb)));
    if (p->b) tu_fill_normal(p->b, p->nb, seed + 2, 0.0f, 1.0f);
    tu_fill_normal(p->dy, p->ny, seed + 3, 0.0f, 1.0f);
    if (p->mask) tu_fill_uniform(p->mask, p->nmask, seed + 4, 0.0f, 1.0f);
  }
  switch (kind) {
    case OFF_RANDOM:
      tu_fill_normal(p->off, p->noff, seed + 5, 0.0f, 2.0f); /* many samples cross the border */
      break;
    case OFF_ZERO:
      memset(p->off, 0, p->noff * sizeof(float));
      break;
    case OFF_OUTSIDE: /* every sample far outside, in all directions */
      for (size_t i = 0; i < p->noff; i++) p->off[i] = (i / 3) % 2 ? 1e4f : -3e4f;
      break;
    case OFF_NONFINITE: {
      static const float specials[] = {NAN, INFINITY, -INFINITY, 1e38f, -1e38f};
      tu_fill_normal(p->off, p->noff, seed + 5, 0.0f, 2.0f);
      for (size_t i = 0; i < p->noff; i += 3) p->off[i] = specials[(i / 3) % 5];
      break;
    }
    case OFF_HALVES:
      tu_fill_ints(p->off, p->noff, seed + 5, -5, 5);
      for (size_t i = 0; i < p->noff; i++) p->off[i] *= 0.5f;
      break;
    case OFF_CLUSTER:
      cluster_offsets(p);
      break;
  }
  describe(d, bias, p->what, sizeof p->what);
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->off);
  free(p->mask);
  free(p->w);
  free(p->b);
  free(p->dy);
}

static void results_free(results *r) {
  free(r->y);
  free(r->dx);
  free(r->doff);
  free(r->dmask);
  free(r->dw);
  free(r->db);
  memset(r, 0, sizeof *r);
}

static void reference(const problem *p, results *r) {
  memset(r, 0, sizeof *r);
  r->y = tu_alloc(p->ny);
  r->dx = tu_alloc(p->nx);
  r->doff = tu_alloc(p->noff);
  r->dmask = p->mask ? tu_alloc(p->nmask) : NULL;
  r->dw = tu_alloc(p->nw);
  r->db = tu_alloc(p->nb);
  TU_OK(clnn_ref_deform_conv2d_fwd(&p->d, p->x, p->off, p->mask, p->w, p->b, r->y));
  TU_OK(clnn_ref_deform_conv2d_bwd(&p->d, p->x, p->off, p->mask, p->w, p->dy, r->dx, r->doff, r->dmask,
                                   r->dw, r->db));
}

/* Device tensors of a problem, created on ctx. */
typedef struct dev {
  clnn_tensor *x, *off, *mask, *w, *b, *dy, *y, *dx, *doff, *dmask, *dw, *db;
  clnn_buffer *buf; /* the views' buffer (dev_make_dt with views), else NULL */
} dev;

/* Device tensors of a problem in type dt (inputs uploaded, rounded to dt on
 * the way; outputs poisoned). views: every tensor a view of one buffer at an
 * odd element offset (2-byte aligned only, for the half types), so the
 * kernels must take element offsets that no vector load is aligned to. */
static void dev_make_dt(clnn_context *ctx, const problem *p, clnn_dtype dt, bool views, dev *t) {
  const clnn_conv2d_desc *c = &p->d.conv;
  const int64_t taps = c->kh * c->kw, dg = p->d.offset_groups;
  int64_t xd[4] = {c->n, c->c, c->h, c->w}, wd[4] = {c->k, c->c / c->groups, c->kh, c->kw};
  int64_t od[4] = {c->n, 2 * dg * taps, p->oh, p->ow}, md[4] = {c->n, dg * taps, p->oh, p->ow};
  int64_t yd[4] = {c->n, c->k, p->oh, p->ow};
  memset(t, 0, sizeof *t);
  struct {
    clnn_tensor **t;
    int ndim;
    const int64_t *dims;
    const float *host;
    bool want;
  } all[] = {{&t->x, 4, xd, p->x, true},
             {&t->off, 4, od, p->off, true},
             {&t->mask, 4, md, p->mask, p->mask != NULL},
             {&t->w, 4, wd, p->w, true},
             {&t->b, 1, &c->k, p->b, p->b != NULL},
             {&t->dy, 4, yd, p->dy, true},
             {&t->y, 4, yd, NULL, true},
             {&t->dx, 4, xd, NULL, true},
             {&t->doff, 4, od, NULL, true},
             {&t->dmask, 4, md, NULL, p->mask != NULL},
             {&t->dw, 4, wd, NULL, true},
             {&t->db, 1, &c->k, NULL, true}};
  const size_t nall = sizeof all / sizeof all[0], esize = clnn_dtype_size(dt);
  size_t at = 1; /* element offsets 1, then odd gaps */
  size_t offs[12];
  for (size_t i = 0; i < nall; i++) {
    int64_t numel = 1;
    for (int d = 0; d < all[i].ndim; d++) numel *= all[i].dims[d];
    offs[i] = at;
    at += (size_t)numel + (numel % 2 ? 2 : 3); /* the next one starts odd */
  }
  if (views) TU_OK(clnn_buffer_create(ctx, at * esize, &t->buf));
  for (size_t i = 0; i < nall; i++) {
    if (!all[i].want) continue;
    if (views)
      TU_OK(clnn_tensor_view(t->buf, offs[i] * esize, dt, all[i].ndim, all[i].dims, all[i].t));
    else
      TU_OK(clnn_tensor_create(ctx, dt, all[i].ndim, all[i].dims, all[i].t));
    if (all[i].host && dt == CLNN_FLOAT32)
      TU_OK(clnn_tensor_write(*all[i].t, all[i].host, clnn_tensor_bytes(*all[i].t)));
    else if (all[i].host)
      TU_OK(clnn_tensor_write_f32(*all[i].t, all[i].host, clnn_tensor_numel(*all[i].t)));
    else
      TU_OK(clnn_tensor_fill(*all[i].t, NAN)); /* an element the op never writes fails */
  }
}

static void dev_make(clnn_context *ctx, const problem *p, dev *t) { dev_make_dt(ctx, p, CLNN_FLOAT32, false, t); }

static void dev_free(dev *t) {
  clnn_tensor *all[] = {t->x, t->off, t->mask, t->w,     t->b,  t->dy,
                        t->y, t->dx,  t->doff, t->dmask, t->dw, t->db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  clnn_buffer_free(t->buf);
}

static float *read_or_null(const clnn_tensor *t) { return t ? tu_download(t) : NULL; }

/* Forward and backward on ctx with every output poisoned first. */
static void run_device(clnn_context *ctx, const problem *p, results *r) {
  dev t;
  dev_make(ctx, p, &t);
  clnn_status st = clnn_deform_conv2d_fwd(ctx, &p->d, t.x, t.off, t.mask, t.w, t.b, t.y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: fwd: %s", p->what, clnn_context_errmsg(ctx));
  st = clnn_deform_conv2d_bwd(ctx, &p->d, t.x, t.off, t.mask, t.w, t.dy, t.dx, t.doff, t.dmask, t.dw,
                              t.db);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd: %s", p->what, clnn_context_errmsg(ctx));
  r->y = tu_download(t.y);
  r->dx = tu_download(t.dx);
  r->doff = tu_download(t.doff);
  r->dmask = read_or_null(t.dmask);
  r->dw = tu_download(t.dw);
  r->db = tu_download(t.db);
  dev_free(&t);
}

/* got against ref with tolerance tol relative to ref's largest magnitude and in L2. */
static bool close_to(const char *what, const char *name, const float *got, const float *ref, size_t n,
                     double tol) {
  double scale = 0.0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
  char label[400];
  snprintf(label, sizeof label, "%s --pass=%s (%s)", what, strcmp(name, "y") ? "bwd" : "fwd", name);
  return tu_compare(label, got, ref, n, tol, tol * (scale > 0 ? scale : 1.0), NULL);
}

static void compare_all(const problem *p, const results *got, const results *ref, double tol) {
  ck_assert_msg(close_to(p->what, "y", got->y, ref->y, p->ny, tol), "%s: y differs", p->what);
  ck_assert_msg(close_to(p->what, "dx", got->dx, ref->dx, p->nx, tol), "%s: dx differs", p->what);
  ck_assert_msg(close_to(p->what, "doffset", got->doff, ref->doff, p->noff, tol), "%s: doffset differs",
                p->what);
  if (p->mask)
    ck_assert_msg(close_to(p->what, "dmask", got->dmask, ref->dmask, p->nmask, tol), "%s: dmask differs",
                  p->what);
  ck_assert_msg(close_to(p->what, "dw", got->dw, ref->dw, p->nw, tol), "%s: dw differs", p->what);
  ck_assert_msg(close_to(p->what, "db", got->db, ref->db, p->nb, tol), "%s: db differs", p->what);
}

static bool same_bits(const float *a, const float *b, size_t n) {
  return !a || !memcmp(a, b, n * sizeof(float));
}

/* --------------------------------------------------------------- tests */

/* Random floats: every output against the reference, and a repeat must give the same bits. */
START_TEST(test_case_float_deterministic) {
  const dc_case *c = &cases[_i];
  clnn_deform_conv2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, false, OFF_RANDOM, 100 + (uint64_t)_i);
  results ref, got1, got2;
  reference(&p, &ref);
  run_device(tu_ctx(), &p, &got1);
  compare_all(&p, &got1, &ref, 1e-5);
  run_device(tu_ctx(), &p, &got2);
  ck_assert_msg(same_bits(got1.y, got2.y, p.ny), "%s: two forward runs differ", p.what);
  ck_assert_msg(same_bits(got1.dx, got2.dx, p.nx) && same_bits(got1.doff, got2.doff, p.noff) &&
                    same_bits(got1.dmask, got2.dmask, p.nmask) && same_bits(got1.dw, got2.dw, p.nw) &&
                    same_bits(got1.db, got2.db, p.nb),
                "%s: two backward runs differ", p.what);
  results_free(&ref);
  results_free(&got1);
  results_free(&got2);
  problem_free(&p);
}
END_TEST

/* The GEMM path (CLBlast, what GPUs run) on a few cases. */
START_TEST(test_clblast_engine) {
  static const int picks[] = {0, 3, 6, 8};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  clnn_deform_conv_algo algo;
  clnn_deform_conv2d_desc d0 = desc_of(&cases[0]);
  TU_OK(clnn_deform_conv2d_fwd_algo(ctx, &d0, &algo));
  ck_assert_str_eq(clnn_deform_conv_algo_name(algo), "im2col_gemm");
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const dc_case *c = &cases[picks[i]];
    clnn_deform_conv2d_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, c->bias, false, OFF_RANDOM, 300 + i);
    results ref, got;
    reference(&p, &ref);
    run_device(ctx, &p, &got);
    compare_all(&p, &got, &ref, 1e-5);
    results_free(&ref);
    results_free(&got);
    problem_free(&p);
  }
  clnn_context_free(ctx);
}
END_TEST

/* A fused activation after the bias (K' in one block and in two, one
 * program); the backward ignores it (dy is the pre-activation gradient). The
 * GEMM path's activation is the GEMM engine's epilogue (tests/test_conv.c). */
START_TEST(test_forward_activation) {
  static const int picks[] = {8, 12};
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    clnn_deform_conv2d_desc d = desc_of(&cases[picks[i]]);
    d.conv.act = CLNN_ACT_SILU;
    problem p;
    problem_make(&p, &d, true, false, OFF_RANDOM, 350 + i);
    results ref, got;
    reference(&p, &ref);
    run_device(tu_ctx(), &p, &got);
    compare_all(&p, &got, &ref, 1e-5);
    results_free(&ref);
    results_free(&got);
    problem_free(&p);
  }
}
END_TEST

/* Zero offsets (mask 1) sample exactly on the pixels: the forward equals the
 * plain convolution bit for bit on integer data, on both engines, and the
 * gradients equal the reference exactly. */
/* A batch of 0 (torchvision takes it): the forward succeeds on an empty y,
 * the backward zeroes dw and db and leaves the empty gradients, on the
 * device and in the reference. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  clnn_deform_conv2d_desc d = clnn_deform_conv2d_desc_make(0, 4, 6, 5, 3, 3, 3);
  d.conv.pad_h = d.conv.pad_w = 1;
  d.modulated = 1;
  int64_t oh, ow;
  TU_OK(clnn_deform_conv2d_desc_check(&d, &oh, &ow));
  int64_t xd[4] = {0, 4, 6, 5}, od[4] = {0, 18, oh, ow}, md[4] = {0, 9, oh, ow}, wd[4] = {3, 4, 3, 3}, bd[1] = {3},
          yd[4] = {0, 3, oh, ow};
  float w[3 * 4 * 9], dw[3 * 4 * 9], db[3];
  tu_fill_uniform(w, 3 * 4 * 9, 5, -1, 1);
  clnn_tensor *x = tu_tensor(4, xd, NULL), *off = tu_tensor(4, od, NULL), *mask = tu_tensor(4, md, NULL);
  clnn_tensor *tw = tu_tensor(4, wd, w), *tb = tu_tensor(1, bd, NULL), *y = tu_tensor(4, yd, NULL);
  clnn_tensor *dx = tu_tensor(4, xd, NULL), *doff = tu_tensor(4, od, NULL), *dm = tu_tensor(4, md, NULL);
  clnn_tensor *tdw = tu_tensor(4, wd, NULL), *tdb = tu_tensor(1, bd, NULL);
  TU_OK(clnn_deform_conv2d_fwd(ctx, &d, x, off, mask, tw, tb, y));
  tu_poison(tdw);
  tu_poison(tdb);
  TU_OK(clnn_deform_conv2d_bwd(ctx, &d, x, off, mask, tw, y, dx, doff, dm, tdw, tdb));
  TU_OK(clnn_tensor_read(tdw, dw, sizeof dw));
  TU_OK(clnn_tensor_read(tdb, db, sizeof db));
  for (int i = 0; i < 3 * 4 * 9; i++) ck_assert_msg(dw[i] == 0.0f, "dw[%d] = %g for a batch of 0", i, (double)dw[i]);
  for (int i = 0; i < 3; i++) ck_assert(db[i] == 0.0f);
  float dummy = 0.0f;
  TU_OK(clnn_ref_deform_conv2d_fwd(&d, &dummy, &dummy, &dummy, w, NULL, &dummy));
  for (int i = 0; i < 3 * 4 * 9; i++) dw[i] = NAN;
  TU_OK(clnn_ref_deform_conv2d_bwd(&d, &dummy, &dummy, &dummy, w, &dummy, &dummy, &dummy, &dummy, dw, db));
  for (int i = 0; i < 3 * 4 * 9; i++) ck_assert(dw[i] == 0.0f);
  clnn_tensor *all[] = {x, off, mask, tw, tb, y, dx, doff, dm, tdw, tdb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

START_TEST(test_zero_offsets_equal_conv) {
  static const int picks[] = {0, 1, 3, 4, 7};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *blast;
  TU_OK(clnn_context_create(&o, &blast));
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const dc_case *c = &cases[picks[i]];
    clnn_deform_conv2d_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, c->bias, true, OFF_ZERO, 400 + i);
    float *conv = tu_alloc(p.ny);
    TU_OK(clnn_ref_conv2d_fwd(&d.conv, p.x, p.w, p.b, conv));
    results ref, got, got_blast;
    reference(&p, &ref);
    ck_assert_msg(!memcmp(ref.y, conv, p.ny * sizeof(float)), "%s: reference != conv", p.what);
    run_device(tu_ctx(), &p, &got);
    run_device(blast, &p, &got_blast);
    ck_assert_msg(tu_compare(p.what, got.y, conv, p.ny, 0.0, 0.0, NULL), "%s: fused != conv", p.what);
    ck_assert_msg(tu_compare(p.what, got_blast.y, conv, p.ny, 0.0, 0.0, NULL), "%s: im2col_gemm != conv",
                  p.what);
    compare_all(&p, &got, &ref, 0.0);
    results_free(&ref);
    results_free(&got);
    results_free(&got_blast);
    free(conv);
    problem_free(&p);
  }
  clnn_context_free(blast);
}
END_TEST

/* Offsets far outside in every direction: y is the bias, every gradient but db is 0. */
START_TEST(test_all_outside) {
  static const int picks[] = {0, 2, 5};
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const dc_case *c = &cases[picks[i]];
    clnn_deform_conv2d_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, true, false, OFF_OUTSIDE, 500 + i);
    results got, ref;
    reference(&p, &ref);
    run_device(tu_ctx(), &p, &got);
    const int64_t npix = p.oh * p.ow;
    for (size_t j = 0; j < p.ny; j++)
      ck_assert_msg(got.y[j] == p.b[(j / (size_t)npix) % p.nb], "%s: y[%zu] = %g is not the bias",
                    p.what, j, (double)got.y[j]);
    for (size_t j = 0; j < p.nx; j++) ck_assert_msg(got.dx[j] == 0.0f, "%s: dx[%zu] != 0", p.what, j);
    for (size_t j = 0; j < p.noff; j++)
      ck_assert_msg(got.doff[j] == 0.0f, "%s: doffset[%zu] != 0", p.what, j);
    for (size_t j = 0; p.mask && j < p.nmask; j++)
      ck_assert_msg(got.dmask[j] == 0.0f, "%s: dmask[%zu] != 0", p.what, j);
    for (size_t j = 0; j < p.nw; j++) ck_assert_msg(got.dw[j] == 0.0f, "%s: dw[%zu] != 0", p.what, j);
    ck_assert_msg(close_to(p.what, "db", got.db, ref.db, p.nb, 1e-5), "%s: db", p.what);
    results_free(&got);
    results_free(&ref);
    problem_free(&p);
  }
}
END_TEST

/* NaN, +-Inf and huge offsets: those samples read zero (documented), nothing
 * is read out of bounds, every output is finite and matches the reference. */
START_TEST(test_nonfinite_offsets) {
  static const int picks[] = {0, 1, 7, 12};
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const dc_case *c = &cases[picks[i]];
    clnn_deform_conv2d_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, c->bias, false, OFF_NONFINITE, 600 + i);
    results got, ref;
    reference(&p, &ref);
    run_device(tu_ctx(), &p, &got);
    for (size_t j = 0; j < p.ny; j++)
      ck_assert_msg(isfinite(got.y[j]), "%s: y[%zu] not finite", p.what, j);
    for (size_t j = 0; j < p.noff; j++) {
      ck_assert_msg(isfinite(got.doff[j]), "%s: doffset[%zu] not finite", p.what, j);
      if (!isfinite(p.off[j]))
        ck_assert_msg(got.doff[j] == 0.0f, "%s: doffset of a NaN/Inf offset != 0", p.what);
    }
    compare_all(&p, &got, &ref, 1e-5);
    results_free(&got);
    results_free(&ref);
    problem_free(&p);
  }
}
END_TEST

/* Only some gradients requested: the others are skipped, the requested ones are right. */
START_TEST(test_partial_gradients) {
  const dc_case *c = &cases[_i ? CASE_BANDS : 0];
  clnn_deform_conv2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, true, false, OFF_RANDOM, 700 + (uint64_t)_i);
  results ref;
  reference(&p, &ref);
  clnn_context *ctx = tu_ctx();
  for (int mode = 0; mode < 3; mode++) {
    dev t;
    dev_make(ctx, &p, &t);
    clnn_tensor *dx = mode == 0 ? t.dx : NULL, *doff = mode == 1 ? t.doff : NULL;
    clnn_tensor *dmask = mode == 1 ? t.dmask : NULL, *dw = mode == 2 ? t.dw : NULL,
                *db = mode == 2 ? t.db : NULL;
    TU_OK(clnn_deform_conv2d_bwd(ctx, &p.d, t.x, t.off, t.mask, t.w, t.dy, dx, doff, dmask, dw, db));
    clnn_tensor *all[] = {t.dx, t.doff, t.dmask, t.dw, t.db}, *asked[] = {dx, doff, dmask, dw, db};
    const float *refs[] = {ref.dx, ref.doff, ref.dmask, ref.dw, ref.db};
    const char *names[] = {"dx", "doffset", "dmask", "dw", "db"};
    for (int k = 0; k < 5; k++) {
      float *h = tu_download(all[k]);
      size_t n = clnn_tensor_numel(all[k]);
      if (asked[k])
        ck_assert_msg(close_to(p.what, names[k], h, refs[k], n, 1e-5), "%s: %s", p.what, names[k]);
      else
        ck_assert_msg(isnan(h[0]) && isnan(h[n - 1]), "%s: %s written though not asked", p.what,
                      names[k]);
      free(h);
    }
    dev_free(&t);
  }
  results_free(&ref);
  problem_free(&p);
}
END_TEST

/* A workspace limit that holds one image's scratch forces chunking by image. */
START_TEST(test_chunked_workspace) {
  const dc_case c = {5, 8, 9, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1};
  clnn_deform_conv2d_desc d = desc_of(&c);
  problem p;
  problem_make(&p, &d, true, false, OFF_RANDOM, 800);
  results ref, got;
  reference(&p, &ref);
  clnn_context_options o = clnn_context_options_default();
  /* one image's backward scratch is about 93 KB: chunks of two images (2 + 2 + 1) */
  o.workspace_limit = 200 << 10;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  run_device(ctx, &p, &got);
  compare_all(&p, &got, &ref, 1e-5);
  results_free(&got);
  clnn_context_free(ctx);
  /* below one image: a clear UNSUPPORTED naming the workspace, nothing written */
  o.workspace_limit = 1024;
  TU_OK(clnn_context_create(&o, &ctx));
  dev t;
  dev_make(ctx, &p, &t);
  ck_assert_int_eq(clnn_deform_conv2d_fwd(ctx, &p.d, t.x, t.off, t.mask, t.w, t.b, t.y),
                   CLNN_ERR_UNSUPPORTED);
  ck_assert(strstr(clnn_context_errmsg(ctx), "workspace") != NULL);
  ck_assert_int_eq(
      clnn_deform_conv2d_bwd(ctx, &p.d, t.x, t.off, t.mask, t.w, t.dy, t.dx, NULL, NULL, NULL, NULL),
      CLNN_ERR_UNSUPPORTED);
  float *y = tu_download(t.y), *dx = tu_download(t.dx);
  ck_assert(isnan(y[0]) && isnan(dx[0]));
  free(y);
  free(dx);
  dev_free(&t);
  clnn_context_free(ctx);
  results_free(&ref);
  problem_free(&p);
}
END_TEST

/*
 * Shapes and offsets that the GPU-class kernels (bwd.gpu_gather and friends)
 * treat as edge cases, run on the suite's context in either class: column
 * counts around the work-group (255, 256, 257 pixels; images side by side),
 * points on half-integers (exactly -1, h - 1, kinks), every point of an
 * image in one cell (a bucket over several radix blocks), one channel per
 * offset group (dx gathers one channel a work-item), db over several
 * slices (n * npix > 4096). Repeats are bit-identical, and the variants run
 * are those of the context's class.
 */
START_TEST(test_gpu_edges) {
  static const struct {
    dc_case c;
    offset_kind kind;
    double tol;
  } edges[] = {
      /*   n  c   h    w   k kh kw sh sw ph pw dh dw  g dg  m bias */
      {{2, 8, 15, 17, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1}, OFF_HALVES, 1e-5},  /* 255 pixels, two images */
      {{1, 4, 16, 16, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1}, OFF_CLUSTER, 1e-5}, /* 256 pixels, 2304 points a cell */
      /* 257 pixels, 1 channel an offset group; positions near 256 carry
       * float32's 3e-5 rounding into the bilinear weights (the reference
       * samples the exact position): 1e-4 */
      {{3, 5, 1, 257, 4, 1, 3, 1, 1, 0, 1, 1, 1, 1, 5, 1, 1}, OFF_RANDOM, 1e-4},
      {{2, 6, 48, 50, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, 0, 1}, OFF_RANDOM, 1e-5}, /* db in slices, v1 */
      {{2, 4, 9, 11, 6, 3, 3, 2, 1, 0, 2, 2, 1, 2, 4, 1, 0}, OFF_HALVES, 1e-5},  /* stride, dilation, dg > g */
  };
  clnn_context *ctx = tu_ctx();
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    clnn_deform_conv2d_desc d = desc_of(&edges[i].c);
    problem p;
    problem_make(&p, &d, edges[i].c.bias, false, edges[i].kind, 900 + i);
    results ref, got1, got2;
    reference(&p, &ref);
    clnn_context_clear_variants(ctx);
    run_device(ctx, &p, &got1);
    const char *ran = clnn_context_last_variant(ctx, NULL);
    ck_assert_msg(strstr(ran, gpu ? "deform_conv.bwd.gpu_gather" : "deform_conv.bwd.bands") != NULL &&
                      strstr(ran, gpu ? "deform_conv.fwd.gpu_im2col_gemm" : "deform_conv.fwd.") != NULL,
                  "%s: ran %s on a %s-class context", p.what, ran, gpu ? "GPU" : "CPU");
    compare_all(&p, &got1, &ref, edges[i].tol);
    run_device(ctx, &p, &got2);
    ck_assert_msg(same_bits(got1.y, got2.y, p.ny) && same_bits(got1.dx, got2.dx, p.nx) &&
                      same_bits(got1.doff, got2.doff, p.noff) && same_bits(got1.dmask, got2.dmask, p.nmask) &&
                      same_bits(got1.dw, got2.dw, p.nw) && same_bits(got1.db, got2.db, p.nb),
                  "%s: two runs differ", p.what);
    results_free(&ref);
    results_free(&got1);
    results_free(&got2);
    problem_free(&p);
  }
}
END_TEST

/* ------------------------------------------- reference vs finite differences */

/* A problem in double for the f64 reference. */
typedef struct fd_problem {
  clnn_deform_conv2d_desc d;
  size_t nx, noff, nmask, nw, nb, ny;
  double *x, *off, *mask, *w, *b, *dy, *y;
} fd_problem;

static double fd_loss(void *arg) {
  fd_problem *p = arg;
  ck_assert_int_eq(clnn__ref_deform_conv2d_fwd_f64(&p->d, p->x, p->off, p->mask, p->w, p->b, p->y),
                   CLNN_SUCCESS);
  double s = 0.0;
  for (size_t i = 0; i < p->ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

static double *fd_array(size_t n, tu_rng *r, double lo, double hi) {
  double *a = malloc((n ? n : 1) * sizeof *a);
  ck_assert(a != NULL);
  for (size_t i = 0; i < n; i++) a[i] = tu_rng_uniform(r, lo, hi);
  return a;
}

/*
 * Offsets that put every sampling point where the derivative is smooth but
 * the test is demanding: a third at random fractional positions, a third
 * within 1e-3 of an integer (either side), a third near the border: just
 * inside -1 and h (only one pair of corners in the image), and either side of
 * 0 and h - 1. All stay 1e-3 away from integers, much more than the step 1e-6.
 */
static void fd_offsets(fd_problem *p, int64_t oh, int64_t ow, tu_rng *r) {
  const clnn_conv2d_desc *c = &p->d.conv;
  const int64_t taps = c->kh * c->kw, npix = oh * ow, dg = p->d.offset_groups;
  for (int64_t n = 0; n < c->n; n++)
    for (int64_t og = 0; og < dg; og++)
      for (int64_t t = 0; t < taps; t++)
        for (int64_t axis = 0; axis < 2; axis++)
          for (int64_t q = 0; q < npix; q++) {
            const int64_t o = axis ? q % ow : q / ow, k = axis ? t % c->kw : t / c->kw;
            const int64_t base = axis ? o * c->stride_w - c->pad_w + k * c->dilation_w
                                      : o * c->stride_h - c->pad_h + k * c->dilation_h;
            const int64_t size = axis ? c->w : c->h;
            double pos;
            const int kind = (int)(tu_rng_next(r) % 3);
            const double side = tu_rng_next(r) % 2 ? 1e-3 : -1e-3;
            if (kind == 0) {
              pos = (double)base + tu_rng_uniform(r, -1.5, 1.5);
              double fr = pos - floor(pos);
              if (fr < 2e-3 || fr > 1 - 2e-3) pos += 0.25;
            } else if (kind == 1) {
              pos = (double)(base + (int64_t)(tu_rng_next(r) % 3) - 1) + side;
            } else {
              const double spots[] = {-1.0 + 1e-3, 0.0 + side, (double)(size - 1) + side,
                                      (double)size - 1e-3};
              pos = spots[tu_rng_next(r) % 4];
            }
            p->off[((n * dg + og) * taps + t) * 2 * npix + axis * npix + q] = pos - (double)base;
          }
}

static void fd_run(const clnn_deform_conv2d_desc *d, uint64_t seed) {
  fd_problem p;
  memset(&p, 0, sizeof p);
  p.d = *d;
  int64_t oh, ow;
  TU_OK(clnn_deform_conv2d_desc_check(d, &oh, &ow));
  const clnn_conv2d_desc *c = &d->conv;
  const int64_t taps = c->kh * c->kw, npix = oh * ow;
  p.nx = (size_t)(c->n * c->c * c->h * c->w);
  p.noff = (size_t)(c->n * 2 * d->offset_groups * taps * npix);
  p.nmask = (size_t)(c->n * d->offset_groups * taps * npix);
  p.nw = (size_t)(c->k * (c->c / c->groups) * taps);
  p.nb = (size_t)c->k;
  p.ny = (size_t)(c->n * c->k * npix);
  tu_rng r = tu_rng_make(seed);
  p.x = fd_array(p.nx, &r, -1, 1);
  p.off = fd_array(p.noff, &r, 0, 0);
  fd_offsets(&p, oh, ow, &r);
  p.mask = d->modulated ? fd_array(p.nmask, &r, 0.2, 1.0) : NULL;
  p.w = fd_array(p.nw, &r, -1, 1);
  p.b = fd_array(p.nb, &r, -1, 1);
  p.dy = fd_array(p.ny, &r, -1, 1);
  p.y = fd_array(p.ny, &r, 0, 0);
  double *gx = fd_array(p.nx, &r, 0, 0), *goff = fd_array(p.noff, &r, 0, 0);
  double *gm = fd_array(p.nmask, &r, 0, 0), *gw = fd_array(p.nw, &r, 0, 0),
         *gb = fd_array(p.nb, &r, 0, 0);
  TU_OK(clnn__ref_deform_conv2d_bwd_f64(d, p.x, p.off, p.mask, p.w, p.dy, gx, goff,
                                        d->modulated ? gm : NULL, gw, gb));
  char what[320];
  describe(d, true, what, sizeof what);
  const double h = 1e-6, tol = 1e-7;
  ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.x, p.nx, gx, h, tol), "%s: dx vs finite differences",
                what);
  ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.off, p.noff, goff, h, tol), "%s: doffset vs FD", what);
  if (d->modulated)
    ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.mask, p.nmask, gm, h, tol), "%s: dmask vs FD", what);
  ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.w, p.nw, gw, h, tol), "%s: dw vs FD", what);
  ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.b, p.nb, gb, h, tol), "%s: db vs FD", what);
  double *all[] = {p.x, p.off, p.mask, p.w, p.b, p.dy, p.y, gx, goff, gm, gw, gb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

START_TEST(test_reference_finite_differences) {
  const dc_case small[] = {
      {2, 4, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1}, /* v2, groups and offset groups */
      {1, 3, 6, 5, 2, 3, 2, 2, 1, 1, 0, 2, 1, 1, 1, 0, 1}, /* v1, stride 2, dilation 2 */
  };
  for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
    clnn_deform_conv2d_desc d = desc_of(&small[i]);
    fd_run(&d, 900 + i);
  }
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Fixture: valid tensors of deform_conv mb2ic4ih8iw8oc6kh3kw3ph1pw1dg2m1. */
static problem bp;
static dev bt;

/* ------------------------------------------------------ half precision */

/* Round a problem's inputs to dt: what the kernels load, so the reference
 * computed on them afterwards sees the same values. */
static void problem_round(problem *p, clnn_dtype dt) {
  tu_round_to(dt, p->x, p->nx);
  tu_round_to(dt, p->off, p->noff);
  if (p->mask) tu_round_to(dt, p->mask, p->nmask);
  tu_round_to(dt, p->w, p->nw);
  if (p->b) tu_round_to(dt, p->b, p->nb);
  tu_round_to(dt, p->dy, p->ny);
}

/* Forward and backward in type dt, outputs poisoned, read back as float32. */
static void run_device_dt(clnn_context *ctx, const problem *p, clnn_dtype dt, bool views, results *r) {
  dev t;
  dev_make_dt(ctx, p, dt, views, &t);
  clnn_status st = clnn_deform_conv2d_fwd(ctx, &p->d, t.x, t.off, t.mask, t.w, t.b, t.y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s dt=%s: fwd: %s", p->what, clnn_dtype_name(dt), clnn_context_errmsg(ctx));
  st = clnn_deform_conv2d_bwd(ctx, &p->d, t.x, t.off, t.mask, t.w, t.dy, t.dx, t.doff, t.dmask, t.dw, t.db);
  ck_assert_msg(st == CLNN_SUCCESS, "%s dt=%s: bwd: %s", p->what, clnn_dtype_name(dt), clnn_context_errmsg(ctx));
  r->y = tu_download_f32(t.y);
  r->dx = tu_download_f32(t.dx);
  r->doff = tu_download_f32(t.doff);
  r->dmask = t.dmask ? tu_download_f32(t.dmask) : NULL;
  r->dw = tu_download_f32(t.dw);
  r->db = tu_download_f32(t.db);
  dev_free(&t);
}

/* One output against the reference rounded to dt (tu_check_half): float32
 * math rounded once may differ from the double reference by a unit in the
 * last place of dt, plus float32's own error, bounded by 1e-5 of the
 * output's largest finite magnitude (cancellation near 0). */
static void check_half_output(const problem *p, const char *name, const float *got, const float *ref, size_t n,
                              clnn_dtype dt) {
  double scale = 0.0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(ref[i]) && fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
  char what[400];
  snprintf(what, sizeof what, "%s dt=%s (%s)", p->what, dt == CLNN_FLOAT16 ? "f16" : "bf16", name);
  tu_check_half(what, strcmp(name, "y") ? "bwd" : "fwd", got, ref, n, dt, 1e-5 * scale);
}

static void check_half_all(const problem *p, const results *got, const results *ref, clnn_dtype dt) {
  check_half_output(p, "y", got->y, ref->y, p->ny, dt);
  check_half_output(p, "dx", got->dx, ref->dx, p->nx, dt);
  check_half_output(p, "doffset", got->doff, ref->doff, p->noff, dt);
  if (p->mask) check_half_output(p, "dmask", got->dmask, ref->dmask, p->nmask, dt);
  check_half_output(p, "dw", got->dw, ref->dw, p->nw, dt);
  check_half_output(p, "db", got->db, ref->db, p->nb, dt);
}

static void assert_same_results(const problem *p, const results *a, const results *b) {
  ck_assert_msg(same_bits(a->y, b->y, p->ny), "%s: two forward runs differ", p->what);
  ck_assert_msg(same_bits(a->dx, b->dx, p->nx) && same_bits(a->doff, b->doff, p->noff) &&
                    same_bits(a->dmask, b->dmask, p->nmask) && same_bits(a->dw, b->dw, p->nw) &&
                    same_bits(a->db, b->db, p->nb),
                "%s: two backward runs differ", p->what);
}

/* Every case in float16 and bfloat16 (loop index: case * 2 + type), on
 * random inputs rounded to the type, every output against the reference,
 * a repeat bit-identical; odd cases on views at odd element offsets. */
START_TEST(test_half_cases) {
  const dc_case *c = &cases[_i / TU_N_HALF_TYPES];
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const bool views = (_i / TU_N_HALF_TYPES) % 2 == 1;
  clnn_deform_conv2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, false, OFF_RANDOM, 1100 + (uint64_t)_i);
  problem_round(&p, dt);
  results ref, got1, got2;
  reference(&p, &ref);
  run_device_dt(tu_ctx(), &p, dt, views, &got1);
  check_half_all(&p, &got1, &ref, dt);
  run_device_dt(tu_ctx(), &p, dt, views, &got2);
  assert_same_results(&p, &got1, &got2);
  results_free(&ref);
  results_free(&got1);
  results_free(&got2);
  problem_free(&p);
}
END_TEST

/* Special values in both types: NaN, +-Inf and huge offsets (1e38 is Inf in
 * float16) read zero; and values past float16's range: x of +-24000 on
 * integer weights gives sums past 65504, Inf in float16 (as the rounded
 * reference), finite in bfloat16. Offsets of halves keep the bilinear
 * weights exact, so float32 and the reference agree before the rounding. */
START_TEST(test_half_specials) {
  static const int picks[] = {0, 1, 7, 12};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
      const clnn_dtype dt = tu_half_types[t];
      const dc_case *c = &cases[picks[i]];
      clnn_deform_conv2d_desc d = desc_of(c);
      for (int big = 0; big < 2; big++) {
        problem p;
        problem_make(&p, &d, c->bias, big, big ? OFF_HALVES : OFF_NONFINITE, 1200 + (uint64_t)(t * 8 + i));
        if (big)
          for (size_t j = 0; j < p.nx; j++) p.x[j] *= 8000.0f;
        problem_round(&p, dt);
        results ref, got;
        reference(&p, &ref);
        run_device_dt(tu_ctx(), &p, dt, false, &got);
        check_half_all(&p, &got, &ref, dt);
        /* the large problem does pass float16's range (65520 rounds to Inf), and only float16 overflows */
        bool past = false, inf = false;
        for (size_t j = 0; j < p.ny; j++) {
          past |= fabs((double)ref.y[j]) >= 65520.0;
          inf |= isinf(got.y[j]);
        }
        if (big) ck_assert_msg(past && inf == (dt == CLNN_FLOAT16), "%s: y past float16's range: %d, Inf: %d", p.what,
                               past, inf);
        results_free(&ref);
        results_free(&got);
        problem_free(&p);
      }
    }
}
END_TEST

/* The GEMM path (CLBlast) in both types, and a fused activation. */
START_TEST(test_half_clblast_and_act) {
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *blast;
  TU_OK(clnn_context_create(&o, &blast));
  static const int picks[] = {0, 8, 12};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
      const clnn_dtype dt = tu_half_types[t];
      clnn_deform_conv2d_desc d = desc_of(&cases[picks[i]]);
      if (i == 1) d.conv.act = CLNN_ACT_SILU;
      problem p;
      problem_make(&p, &d, true, false, OFF_RANDOM, 1300 + (uint64_t)(t * 8 + i));
      problem_round(&p, dt);
      results ref, got, got_blast;
      reference(&p, &ref);
      run_device_dt(tu_ctx(), &p, dt, false, &got);
      run_device_dt(blast, &p, dt, false, &got_blast);
      check_half_all(&p, &got, &ref, dt);
      check_half_all(&p, &got_blast, &ref, dt);
      results_free(&ref);
      results_free(&got);
      results_free(&got_blast);
      problem_free(&p);
    }
  clnn_context_free(blast);
}
END_TEST

/* A batch of 0 in both types: y and the image gradients are empty, dw and db zero. */
START_TEST(test_half_empty_batch) {
  clnn_context *ctx = tu_ctx();
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    const clnn_dtype dt = tu_half_types[t];
    clnn_deform_conv2d_desc d = clnn_deform_conv2d_desc_make(0, 4, 6, 5, 3, 3, 3);
    d.conv.pad_h = d.conv.pad_w = 1;
    d.modulated = 1;
    int64_t oh, ow;
    TU_OK(clnn_deform_conv2d_desc_check(&d, &oh, &ow));
    int64_t xd[4] = {0, 4, 6, 5}, od[4] = {0, 18, oh, ow}, md[4] = {0, 9, oh, ow}, wd[4] = {3, 4, 3, 3},
            bd[1] = {3}, yd[4] = {0, 3, oh, ow};
    float w[3 * 4 * 9];
    tu_fill_uniform(w, 3 * 4 * 9, 5, -1, 1);
    clnn_tensor *x = tu_tensor_dt(dt, 4, xd, NULL), *off = tu_tensor_dt(dt, 4, od, NULL),
                *mask = tu_tensor_dt(dt, 4, md, NULL), *tw = tu_tensor_dt(dt, 4, wd, w),
                *tb = tu_tensor_dt(dt, 1, bd, NULL), *y = tu_tensor_dt(dt, 4, yd, NULL),
                *dx = tu_tensor_dt(dt, 4, xd, NULL), *doff = tu_tensor_dt(dt, 4, od, NULL),
                *dm = tu_tensor_dt(dt, 4, md, NULL), *tdw = tu_tensor_dt(dt, 4, wd, NULL),
                *tdb = tu_tensor_dt(dt, 1, bd, NULL);
    TU_OK(clnn_deform_conv2d_fwd(ctx, &d, x, off, mask, tw, tb, y));
    tu_poison(tdw);
    tu_poison(tdb);
    TU_OK(clnn_deform_conv2d_bwd(ctx, &d, x, off, mask, tw, y, dx, doff, dm, tdw, tdb));
    tu_assert_zero("dw", tdw);
    tu_assert_zero("db", tdb);
    clnn_tensor *all[] = {x, off, mask, tw, tb, y, dx, doff, dm, tdw, tdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  }
}
END_TEST

static void bad_setup(void) {
  const dc_case c = {2, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1};
  clnn_deform_conv2d_desc d = desc_of(&c);
  problem_make(&bp, &d, true, false, OFF_RANDOM, 1000);
  dev_make(tu_ctx(), &bp, &bt);
}

static void bad_teardown(void) {
  dev_free(&bt);
  problem_free(&bp);
}

/* Every output must still hold its poison: a failed call writes nothing. */
static void assert_untouched(void) {
  clnn_tensor *outs[] = {bt.y, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

#define FWD(ctx, d, x, off, mask, w, b, y) clnn_deform_conv2d_fwd(ctx, d, x, off, mask, w, b, y)
#define BWD(ctx, d, x, off, mask, w, dy, dx, doff, dmask, dw, db) \
  clnn_deform_conv2d_bwd(ctx, d, x, off, mask, w, dy, dx, doff, dmask, dw, db)

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  const clnn_deform_conv2d_desc *d = &bp.d;
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(NULL, d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(ctx, NULL, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(ctx, d, NULL, bt.off, bt.mask, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(ctx, d, bt.x, NULL, bt.mask, bt.w, bt.b, bt.y));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'offset'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(ctx, d, bt.x, bt.off, bt.mask, NULL, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_NULL_POINTER, FWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.b, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, NULL, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_deform_conv2d_desc_check(NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER,
           clnn_ref_deform_conv2d_fwd(d, NULL, bp.off, bp.mask, bp.w, NULL, bp.x));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_deform_conv2d_bwd(d, bp.x, bp.off, bp.mask, bp.w, NULL, NULL,
                                                             NULL, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_deform_conv2d_desc d = bp.d;
  d.offset_groups = 3; /* does not divide c = 4 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  ck_assert(strstr(clnn_context_errmsg(ctx), "offset_groups") != NULL);
  d.offset_groups = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE,
           BWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  d.offset_groups = -2;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_deform_conv2d_desc_check(&d, NULL, NULL));
  d = bp.d;
  d.modulated = 2;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  d = bp.d;
  d.conv.stride_w = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  ck_assert(strstr(clnn_context_errmsg(ctx), "stride_w") != NULL);
  d = bp.d;
  d.conv.groups = 3;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  d = bp.d;
  d.conv.n = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE,
           BWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  d = bp.d;
  d.conv.kh = 11;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, FWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  d = bp.d;
  d.conv.n = 256;
  d.conv.h = d.conv.w = 256;
  d.conv.kh = d.conv.kw = 7;
  d.conv.pad_h = d.conv.pad_w = 3;
  d.offset_groups = 4; /* x has 2^26 elements, the offset 392 * 2^24 */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_deform_conv2d_desc_check(&d, NULL, NULL));
  /* valid tensors' sizes, but the backward's per-image patch matrix (65536 x 50176) is over 2^31 */
  d = clnn_deform_conv2d_desc_make(1, 1024, 256, 256, 1, 7, 7);
  d.conv.pad_h = d.conv.pad_w = 3;
  TU_OK(clnn_deform_conv2d_desc_check(&d, NULL, NULL));
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW,
           BWD(ctx, &d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  ck_assert(strstr(clnn_context_errmsg(ctx), "patch matrix") != NULL);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes) {
  clnn_context *ctx = tu_ctx();
  const clnn_deform_conv2d_desc *d = &bp.d;
  /* offset / mask of the wrong shape: dg 1 instead of 2 */
  int64_t od[4] = {2, 18, 8, 8}, md[4] = {2, 9, 8, 8}, wd[4] = {6, 2, 3, 3};
  clnn_tensor *off1 = tu_tensor(4, od, NULL), *mask1 = tu_tensor(4, md, NULL),
              *w2 = tu_tensor(4, wd, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, FWD(ctx, d, bt.x, off1, bt.mask, bt.w, bt.b, bt.y));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[2,18,8,8]") != NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, FWD(ctx, d, bt.x, bt.off, mask1, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, mask1, bt.dw, bt.db));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, off1, bt.dmask, bt.dw, bt.db));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, FWD(ctx, d, bt.x, bt.off, bt.mask, w2, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, w2, bt.db));
  /* dy with x's shape (4 channels, not 6) */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.x, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dy'") != NULL);
  /* mask given for v1, missing for v2; dmask for v1 */
  clnn_deform_conv2d_desc v1 = bp.d;
  v1.modulated = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, &v1, bt.x, bt.off, bt.mask, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, d, bt.x, bt.off, NULL, bt.w, bt.b, bt.y));
  ck_assert(strstr(clnn_context_errmsg(ctx), "mask") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE,
           BWD(ctx, &v1, bt.x, bt.off, NULL, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  TU_FAILS(CLNN_ERR_INVALID_VALUE,
           clnn_ref_deform_conv2d_fwd(&v1, bp.x, bp.off, bp.mask, bp.w, NULL, bp.x));
  /* an int32 offset */
  clnn_tensor *oi;
  int64_t odd[4] = {2, 36, 8, 8};
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, odd, &oi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, d, bt.x, oi, bt.mask, bt.w, bt.b, bt.y));
  clnn_tensor_free(oi);
  clnn_tensor_free(off1);
  clnn_tensor_free(mask1);
  clnn_tensor_free(w2);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  const clnn_deform_conv2d_desc *d = &bp.d;
  /* doffset viewing the offset's memory; dmask and doffset sharing memory */
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, bp.noff * sizeof(float), &buf));
  int64_t od[4] = {2, 36, 8, 8}, md[4] = {2, 18, 8, 8};
  clnn_tensor *off_view, *doff_view, *dmask_view;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, od, &off_view));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, od, &doff_view));
  TU_OK(clnn_tensor_view(buf, 64, CLNN_FLOAT32, 4, md, &dmask_view));
  TU_FAILS(CLNN_ERR_ALIASING,
           BWD(ctx, d, bt.x, off_view, bt.mask, bt.w, bt.dy, bt.dx, doff_view, bt.dmask, bt.dw, bt.db));
  TU_FAILS(CLNN_ERR_ALIASING,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, doff_view, dmask_view, bt.dw, bt.db));
  ck_assert(strstr(clnn_context_errmsg(ctx), "dmask") != NULL);
  clnn_tensor_free(off_view);
  clnn_tensor_free(doff_view);
  clnn_tensor_free(dmask_view);
  clnn_buffer_free(buf);
  /* dx written over x itself */
  TU_FAILS(CLNN_ERR_ALIASING,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.x, bt.doff, bt.dmask, bt.dw, bt.db));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dx'") != NULL);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  int64_t xd[4] = {2, 4, 8, 8};
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, xd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, FWD(ctx, d, xo, bt.off, bt.mask, bt.w, bt.b, bt.y));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH,
           BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, xo, bt.doff, bt.dmask, bt.dw, bt.db));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* Types: all float tensors of a call share x's type; a mix, or int32 where a
 * float is needed, is refused naming the argument and its type, and
 * nothing is written. */
static void expect_type_error(const char *arg, const char *type) {
  const char *msg = clnn_context_errmsg(tu_ctx());
  char quoted[32];
  snprintf(quoted, sizeof quoted, "'%s'", arg);
  ck_assert_msg(strstr(msg, quoted) && strstr(msg, type), "message '%s' should name %s and %s", msg, quoted, type);
}

START_TEST(test_bad_types) {
  clnn_context *ctx = tu_ctx();
  const clnn_deform_conv2d_desc *d = &bp.d;
  int64_t xd[4] = {2, 4, 8, 8}, yd[4] = {2, 6, 8, 8}, wd[4] = {6, 4, 3, 3}, bd[1] = {6};
  clnn_tensor *x16 = tu_tensor_dt(CLNN_FLOAT16, 4, xd, bp.x), *y16 = tu_tensor_dt(CLNN_FLOAT16, 4, yd, NULL);
  clnn_tensor *dwb = tu_tensor_dt(CLNN_BFLOAT16, 4, wd, NULL), *db16 = tu_tensor_dt(CLNN_FLOAT16, 1, bd, NULL);
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, xd, &xi));
  tu_poison(y16);
  tu_poison(dwb);
  tu_poison(db16);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, d, x16, bt.off, bt.mask, bt.w, bt.b, bt.y));
  expect_type_error("offset", "float32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.b, y16));
  expect_type_error("y", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, FWD(ctx, d, xi, bt.off, bt.mask, bt.w, bt.b, bt.y));
  expect_type_error("x", "int32");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, dwb, bt.db));
  expect_type_error("dw", "bfloat16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, BWD(ctx, d, bt.x, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, db16));
  expect_type_error("db", "float16");
  TU_FAILS(CLNN_ERR_INVALID_VALUE, BWD(ctx, d, x16, bt.off, bt.mask, bt.w, bt.dy, bt.dx, bt.doff, bt.dmask, bt.dw, bt.db));
  expect_type_error("offset", "float32");
  clnn_tensor *outs[] = {y16, dwb, db16};
  tu_assert_poisoned(outs, 3);
  clnn_tensor *all[] = {x16, y16, dwb, db16, xi};
  for (size_t i = 0; i < 5; i++) clnn_tensor_free(all[i]);
  assert_untouched();
}
END_TEST

static Suite *deform_conv_suite(void) {
  Suite *s = suite_create("deform_conv");
  TCase *tc = tcase_create("device");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_case_float_deterministic, 0, N_CASES);
  tcase_add_test(tc, test_clblast_engine);
  tcase_add_test(tc, test_forward_activation);
  tcase_add_test(tc, test_zero_offsets_equal_conv);
  tcase_add_test(tc, test_empty_batch);
  tcase_add_test(tc, test_all_outside);
  tcase_add_test(tc, test_nonfinite_offsets);
  tcase_add_loop_test(tc, test_partial_gradients, 0, 2);
  tcase_add_test(tc, test_chunked_workspace);
  tcase_add_test(tc, test_gpu_edges);
  tcase_add_loop_test(tc, test_half_cases, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_test(tc, test_half_specials);
  tcase_add_test(tc, test_half_clblast_and_act);
  tcase_add_test(tc, test_half_empty_batch);
  suite_add_tcase(s, tc);
  TCase *ref = tcase_create("reference");
  tcase_set_timeout(ref, 600);
  tcase_add_test(ref, test_reference_finite_differences);
  suite_add_tcase(s, ref);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  tcase_add_test(bad, test_bad_types);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(deform_conv_suite()); }
