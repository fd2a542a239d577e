/*
 * test_loss.c - softmax cross-entropy, soft accuracy and InfoNCE / NT-Xent
 * against the host reference: loss and gradient, label smoothing, ignored
 * labels, per-pixel logits, more positions than one reduction chunk,
 * logits of magnitude 1e4, bad labels, both InfoNCE variants, blocked
 * similarity matrices under a small workspace limit, the CLBlast engine,
 * bit-identical repeats, the reference gradients against finite
 * differences, and bad arguments. The GPU variants' edges too (rows of
 * classes, of S and embeddings longer than a work-group of 256, pixel
 * counts that no work-group divides, means over more than one slice of
 * 4096), and that each suite runs its class's variants. Every case
 * again with float16 and bfloat16 logits and embeddings (special values,
 * odd-offset views, empty batches, mixed-type errors).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"

/* ---------------------------------------------------------- helpers */

static clnn_tensor *dev_f32(clnn_context *ctx, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write(t, host, clnn_tensor_bytes(t)));
  else TU_OK(clnn_tensor_fill(t, NAN));
  return t;
}

static clnn_tensor *dev_i32(clnn_context *ctx, int ndim, const int64_t *dims, const int32_t *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, ndim, dims, &t));
  TU_OK(clnn_tensor_write(t, host, clnn_tensor_bytes(t)));
  return t;
}

static float *fetch_free(clnn_tensor *t) {
  float *h = tu_alloc(clnn_tensor_numel(t));
  TU_OK(clnn_tensor_read(t, h, clnn_tensor_bytes(t)));
  clnn_tensor_free(t);
  return h;
}

/* The variants of the calls since the last check are of the context's
 * class: ".gpu_" names under CLNN_DEVICE_CLASS=gpu, others otherwise.
 * Clears the record. */
static void assert_planned_class(clnn_context *ctx, const char *what) {
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  char ran[1024];
  snprintf(ran, sizeof ran, "%s", clnn_context_last_variant(ctx, NULL));
  ck_assert_msg(*ran, "%s: no variant recorded", what);
  for (char *name = strtok(ran, ","); name; name = strtok(NULL, ","))
    ck_assert_msg((strstr(name, ".gpu_") != NULL) == gpu, "%s ran %s on a %s-class context", what, name,
                  gpu ? "GPU" : "CPU");
  clnn_context_clear_variants(ctx);
}

/* ------------------------------------------------- classification losses */

typedef struct class_case {
  int n, classes, h, w; /* h = w = 0: plain (n, classes) logits */
  float smoothing;
  int ignore_every; /* every k-th label is ignore_index (0: none) */
  float grad_scale;
  float scale; /* logits ~ N(0, scale) */
} class_case;

static const class_case class_cases[] = {
    {1, 1, 0, 0, 0.0f, 0, 1.0f, 1.0f},        /* one class: loss 0 */
    {4, 10, 0, 0, 0.0f, 0, 1.0f, 2.0f},
    {128, 10, 0, 0, 0.1f, 0, 1.0f, 3.0f},     /* CIFAR head, smoothing */
    {3, 5, 3, 4, 0.0f, 3, 1.0f, 2.0f},        /* per-pixel, ignored labels */
    {7, 1000, 0, 0, 0.2f, 0, 0.5f, 3.0f},     /* many classes, grad_scale */
    {5000, 3, 0, 0, 0.05f, 7, 1.0f, 1.0f},    /* more positions than one chunk */
    {2, 4, 50, 50, 0.0f, 5, 2.0f, 1.0f},      /* 5000 pixels in chunks */
    {16, 100, 0, 0, 0.0f, 0, 1.0f, 1e4f},     /* logits of magnitude 1e4 */
    {9, 7, 0, 0, 0.3f, 0, 1.0f, 1e4f},        /* 1e4 with smoothing */
    {3, 257, 0, 0, 0.1f, 2, 1.0f, 2.0f},      /* a row one over a work-group of 256, an ignored row */
    {2, 21, 9, 13, 0.05f, 4, 1.0f, 2.0f},     /* 234 pixels: under one work-group, ignored pixels */
    {1, 2, 1, 1, 0.0f, 0, 1.0f, 1.0f},        /* one pixel */
};
#define N_CLASS (int)(sizeof class_cases / sizeof class_cases[0])

typedef struct class_problem {
  clnn_loss_class_desc d;
  int ndim;
  int64_t ldims[4], ydims[3];
  size_t nl, ny;
  float *logits;
  int32_t *labels;
} class_problem;

static void class_problem_make(class_problem *p, const class_case *c, uint64_t seed) {
  p->d = clnn_loss_class_desc_make(c->n, c->classes);
  p->d.inner = c->h ? (int64_t)c->h * c->w : 1;
  p->d.label_smoothing = c->smoothing;
  p->d.grad_scale = c->grad_scale;
  p->ndim = c->h ? 4 : 2;
  int64_t ld[4] = {c->n, c->classes, c->h, c->w}, yd[3] = {c->n, c->h, c->w};
  memcpy(p->ldims, ld, sizeof ld);
  memcpy(p->ydims, yd, sizeof yd);
  p->ny = (size_t)(c->n * p->d.inner);
  p->nl = p->ny * (size_t)c->classes;
  p->logits = tu_alloc(p->nl);
  tu_fill_normal(p->logits, p->nl, seed, 0.0f, c->scale);
  p->labels = malloc(p->ny * sizeof(int32_t));
  tu_rng r = tu_rng_make(seed + 1);
  for (size_t i = 0; i < p->ny; i++) {
    p->labels[i] = (int32_t)(tu_rng_next(&r) % (uint64_t)c->classes);
    if (c->ignore_every && i % (size_t)c->ignore_every == 1) p->labels[i] = p->d.ignore_index;
  }
}

static void class_problem_free(class_problem *p) {
  free(p->logits);
  free(p->labels);
}

typedef enum { XENT, SOFTACC } class_kind;

static clnn_status class_device(clnn_context *ctx, class_kind k, const clnn_loss_class_desc *d, clnn_tensor *logits,
                                clnn_tensor *labels, clnn_tensor *loss, clnn_tensor *dlogits) {
  return k == XENT ? clnn_loss_xent(ctx, d, logits, labels, loss, dlogits)
                   : clnn_loss_soft_accuracy(ctx, d, logits, labels, loss, dlogits);
}

static clnn_status class_ref(class_kind k, const clnn_loss_class_desc *d, const float *logits, const int32_t *labels,
                             float *loss, float *dlogits) {
  return k == XENT ? clnn_ref_loss_xent(d, logits, labels, loss, dlogits)
                   : clnn_ref_loss_soft_accuracy(d, logits, labels, loss, dlogits);
}

/* Loss and dlogits on the device (outputs poisoned first); dlogits may be skipped. */
static void class_run(clnn_context *ctx, class_kind k, const class_problem *p, bool grad, float *loss,
                      float **dlogits) {
  int64_t one = 1;
  clnn_tensor *tl = dev_f32(ctx, p->ndim, p->ldims, p->logits), *ty = dev_i32(ctx, p->ndim - 1, p->ydims, p->labels);
  clnn_tensor *tloss = dev_f32(ctx, 1, &one, NULL), *tg = grad ? dev_f32(ctx, p->ndim, p->ldims, NULL) : NULL;
  TU_OK(class_device(ctx, k, &p->d, tl, ty, tloss, tg));
  TU_OK(clnn_tensor_read(tloss, loss, sizeof(float)));
  if (grad) *dlogits = fetch_free(tg);
  clnn_tensor_free(tl);
  clnn_tensor_free(ty);
  clnn_tensor_free(tloss);
}

static void class_what(class_kind k, const class_case *c, char *buf, size_t n) {
  char sp[32] = "", sm[32] = "";
  if (c->h) snprintf(sp, sizeof sp, "ih%diw%d", c->h, c->w);
  if (k == XENT && c->smoothing) snprintf(sm, sizeof sm, " smooth=%g", (double)c->smoothing);
  snprintf(buf, n, "%s mb%dnc%d%s%s%s gs=%g --pass=bwd (logits scale %g)", k == XENT ? "xent" : "softacc", c->n,
           c->classes, sp, sm, c->ignore_every ? " ignore=-100" : "", (double)c->grad_scale, (double)c->scale);
}

static void check_class_case(class_kind k, int i) {
  class_case c = class_cases[i];
  if (k == SOFTACC) c.smoothing = 0.0f;
  class_problem p;
  class_problem_make(&p, &c, 1000 + (uint64_t)i);
  float ref_loss, got_loss, got_loss2, got_loss3, *ref_g = tu_alloc(p.nl), *got_g, *got_g2;
  TU_OK(class_ref(k, &p.d, p.logits, p.labels, &ref_loss, ref_g));
  char what[192];
  class_what(k, &c, what, sizeof what);
  clnn_context_clear_variants(tu_ctx());
  class_run(tu_ctx(), k, &p, true, &got_loss, &got_g);
  class_run(tu_ctx(), k, &p, true, &got_loss2, &got_g2);
  class_run(tu_ctx(), k, &p, false, &got_loss3, NULL);
  assert_planned_class(tu_ctx(), what);
  ck_assert_msg(isfinite(got_loss), "%s: loss %g", what, (double)got_loss);
  ck_assert(tu_compare(what, &got_loss, &ref_loss, 1, 1e-5, 1e-6, NULL));
  ck_assert(tu_compare(what, got_g, ref_g, p.nl, 1e-5, 1e-7, NULL));
  ck_assert_msg(!memcmp(&got_loss, &got_loss2, sizeof(float)) && !memcmp(got_g, got_g2, p.nl * sizeof(float)),
                "%s: two runs differ", what);
  ck_assert_msg(!memcmp(&got_loss, &got_loss3, sizeof(float)), "%s: the loss depends on dlogits", what);
  free(ref_g);
  free(got_g);
  free(got_g2);
  class_problem_free(&p);
}

START_TEST(test_xent_case) { check_class_case(XENT, _i); }
END_TEST

START_TEST(test_softacc_case) { check_class_case(SOFTACC, _i); }
END_TEST

/* Every label ignored: NaN loss (0 / 0, as PyTorch) and a zero gradient. */
START_TEST(test_all_ignored) {
  class_case c = {6, 4, 0, 0, 0.0f, 1, 1.0f, 1.0f};
  class_problem p;
  class_problem_make(&p, &c, 2000);
  for (size_t i = 0; i < p.ny; i++) p.labels[i] = p.d.ignore_index;
  for (int k = 0; k < 2; k++) {
    float loss, ref_loss, *g;
    class_run(tu_ctx(), (class_kind)k, &p, true, &loss, &g);
    TU_OK(class_ref((class_kind)k, &p.d, p.logits, p.labels, &ref_loss, NULL));
    ck_assert(isnan(loss) && isnan(ref_loss));
    for (size_t i = 0; i < p.nl; i++) ck_assert_msg(g[i] == 0.0f, "dlogits[%zu] = %g", i, (double)g[i]);
    free(g);
  }
  class_problem_free(&p);
}
END_TEST

/* A label outside [0, classes): NaN loss and NaN row on the device, INVALID_VALUE on the host.
 * A NaN logit: NaN loss and NaN row. */
START_TEST(test_bad_label_values) {
  class_case c = {5, 4, 0, 0, 0.0f, 0, 1.0f, 1.0f};
  class_problem p;
  class_problem_make(&p, &c, 2100);
  p.labels[2] = 4;
  float loss, ref_loss, *g;
  class_run(tu_ctx(), XENT, &p, true, &loss, &g);
  ck_assert(isnan(loss));
  for (int k = 0; k < 4; k++) ck_assert(isnan(g[2 * 4 + k]));
  for (int k = 0; k < 4; k++) ck_assert(!isnan(g[1 * 4 + k]));
  free(g);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_loss_xent(&p.d, p.logits, p.labels, &ref_loss, NULL));
  ck_assert(strstr(clnn_context_errmsg(NULL), "labels[2]") != NULL);
  p.labels[2] = -7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_loss_soft_accuracy(&p.d, p.logits, p.labels, &ref_loss, NULL));
  /* a NaN logit is not hidden by the max subtraction: NaN loss, NaN row */
  p.labels[2] = 1;
  p.logits[3 * 4 + 2] = NAN;
  for (int k = 0; k < 2; k++) {
    class_run(tu_ctx(), (class_kind)k, &p, true, &loss, &g);
    ck_assert(isnan(loss));
    for (int c = 0; c < 4; c++) ck_assert(isnan(g[3 * 4 + c]) && !isnan(g[0 * 4 + c]));
    free(g);
  }
  class_problem_free(&p);
  /* per-pixel logits (16-position lanes): only the bad position's gradient is NaN */
  class_case pc = {2, 3, 4, 8, 0.0f, 0, 1.0f, 1.0f};
  class_problem_make(&p, &pc, 2101);
  p.labels[32 + 5] = 3;
  p.labels[32 + 6] = p.d.ignore_index;
  for (int k = 0; k < 2; k++) {
    class_run(tu_ctx(), (class_kind)k, &p, true, &loss, &g);
    ck_assert(isnan(loss));
    for (int c = 0; c < 3; c++) {
      const size_t at = (size_t)(1 * 3 + c) * 32; /* sample 1, class c */
      ck_assert(isnan(g[at + 5]) && g[at + 6] == 0.0f && !isnan(g[at + 7]) && !isnan(g[c * 32 + 5]));
    }
    free(g);
  }
  class_problem_free(&p);
}
END_TEST

/* Reference gradients of both classification losses against finite differences. */
typedef struct class_fd {
  class_kind kind;
  clnn_loss_class_desc d;
  double *logits;
  const int32_t *labels;
} class_fd;

static double class_fd_loss(void *arg) {
  class_fd *f = arg;
  double loss;
  TU_OK(f->kind == XENT ? clnn__ref_loss_xent_f64(&f->d, f->logits, f->labels, &loss, NULL)
                        : clnn__ref_loss_soft_accuracy_f64(&f->d, f->logits, f->labels, &loss, NULL));
  return loss;
}

START_TEST(test_class_reference_fd) {
  class_case c = {3, 5, 2, 3, 0.15f, 4, 1.0f, 2.0f}; /* per-pixel, smoothing, ignored labels */
  class_problem p;
  class_problem_make(&p, &c, 2200);
  for (int k = 0; k < 2; k++) {
    class_fd f = {(class_kind)k, p.d, malloc(p.nl * sizeof(double)), p.labels};
    if (k == SOFTACC) f.d.label_smoothing = 0.0f;
    for (size_t i = 0; i < p.nl; i++) f.logits[i] = p.logits[i];
    double *g = calloc(p.nl, sizeof(double)), loss;
    TU_OK(k == XENT ? clnn__ref_loss_xent_f64(&f.d, f.logits, p.labels, &loss, g)
                    : clnn__ref_loss_soft_accuracy_f64(&f.d, f.logits, p.labels, &loss, g));
    ck_assert(tu_fd_check(k == XENT ? "xent dlogits" : "softacc dlogits", class_fd_loss, &f, f.logits, p.nl, g,
                          1e-6, 1e-7));
    free(f.logits);
    free(g);
  }
  class_problem_free(&p);
}
END_TEST

/* ---------------------------------------------------------------- InfoNCE */

typedef struct infonce_case {
  int n, dim;
  float t;
  clnn_infonce_variant variant;
  float grad_scale;
} infonce_case;

static const infonce_case infonce_cases[] = {
    {1, 3, 0.5f, CLNN_INFONCE_NT_XENT, 1.0f}, /* one pair: loss 0 */
    {5, 7, 0.5f, CLNN_INFONCE_CROSS_VIEW, 1.0f},
    {5, 7, 0.5f, CLNN_INFONCE_NT_XENT, 1.0f},
    {33, 20, 0.1f, CLNN_INFONCE_NT_XENT, 3.0f},
    {64, 128, 0.1f, CLNN_INFONCE_NT_XENT, 1.0f}, /* SimCLR's projection size */
    {40, 1024, 0.2f, CLNN_INFONCE_CROSS_VIEW, 1.0f}, /* power-of-two embedding stride */
    {300, 16, 0.07f, CLNN_INFONCE_NT_XENT, 1.0f},
    {130, 5, 0.2f, CLNN_INFONCE_NT_XENT, 1.0f},    /* rows of S of 260: over a work-group of 256 */
    {150, 300, 0.1f, CLNN_INFONCE_CROSS_VIEW, 2.0f}, /* embeddings of 300, 150 columns */
};
#define N_INFONCE (int)(sizeof infonce_cases / sizeof infonce_cases[0])

typedef struct infonce_out {
  float loss;
  float *dz1, *dz2;
} infonce_out;

static infonce_out infonce_run(clnn_context *ctx, const clnn_loss_infonce_desc *d, const float *z1, const float *z2) {
  int64_t zd[2] = {d->n, d->dim}, one = 1;
  clnn_tensor *t1 = dev_f32(ctx, 2, zd, z1), *t2 = dev_f32(ctx, 2, zd, z2), *tl = dev_f32(ctx, 1, &one, NULL);
  clnn_tensor *g1 = dev_f32(ctx, 2, zd, NULL), *g2 = dev_f32(ctx, 2, zd, NULL);
  TU_OK(clnn_loss_infonce(ctx, d, t1, t2, tl, g1, g2));
  infonce_out o;
  TU_OK(clnn_tensor_read(tl, &o.loss, sizeof(float)));
  o.dz1 = fetch_free(g1);
  o.dz2 = fetch_free(g2);
  clnn_tensor_free(t1), clnn_tensor_free(t2), clnn_tensor_free(tl);
  return o;
}

static void infonce_free(infonce_out *o) {
  free(o->dz1);
  free(o->dz2);
}

static clnn_loss_infonce_desc infonce_desc(const infonce_case *c) {
  clnn_loss_infonce_desc d = clnn_loss_infonce_desc_make(c->n, c->dim, c->t);
  d.variant = c->variant;
  d.grad_scale = c->grad_scale;
  return d;
}

static void infonce_compare(const char *what, const infonce_out *got, float ref_loss, const float *r1,
                            const float *r2, size_t nz) {
  ck_assert(tu_compare(what, &got->loss, &ref_loss, 1, 1e-5, 1e-6, NULL));
  ck_assert(tu_compare(what, got->dz1, r1, nz, 2e-5, 1e-7, NULL));
  ck_assert(tu_compare(what, got->dz2, r2, nz, 2e-5, 1e-7, NULL));
}

START_TEST(test_infonce_case) {
  const infonce_case *c = &infonce_cases[_i];
  clnn_loss_infonce_desc d = infonce_desc(c);
  const size_t nz = (size_t)(c->n * c->dim);
  float *z1 = tu_alloc(nz), *z2 = tu_alloc(nz), *r1 = tu_alloc(nz), *r2 = tu_alloc(nz), ref_loss;
  tu_fill_normal(z1, nz, 3000 + (uint64_t)_i, 0.0f, 1.0f);
  tu_fill_normal(z2, nz, 3100 + (uint64_t)_i, 0.0f, 1.0f);
  for (size_t i = 0; i < nz; i++) z2[i] = 0.7f * z1[i] + 0.5f * z2[i]; /* positives resemble each other */
  TU_OK(clnn_ref_loss_infonce(&d, z1, z2, &ref_loss, r1, r2));
  char what[160];
  snprintf(what, sizeof what, "infonce mb%dd%d t=%g%s gs=%g --pass=bwd", c->n, c->dim, (double)c->t,
           c->variant == CLNN_INFONCE_CROSS_VIEW ? " cross" : "", (double)c->grad_scale);
  clnn_context_clear_variants(tu_ctx());
  infonce_out a = infonce_run(tu_ctx(), &d, z1, z2), b = infonce_run(tu_ctx(), &d, z1, z2);
  assert_planned_class(tu_ctx(), what);
  infonce_compare(what, &a, ref_loss, r1, r2, nz);
  ck_assert_msg(!memcmp(&a.loss, &b.loss, sizeof(float)) && !memcmp(a.dz1, b.dz1, nz * sizeof(float)) &&
                    !memcmp(a.dz2, b.dz2, nz * sizeof(float)),
                "%s: two runs differ", what);
  /* the loss alone, and one gradient alone */
  int64_t zd[2] = {c->n, c->dim}, one = 1;
  clnn_tensor *t1 = dev_f32(tu_ctx(), 2, zd, z1), *t2 = dev_f32(tu_ctx(), 2, zd, z2), *tl = dev_f32(tu_ctx(), 1, &one, NULL);
  clnn_tensor *g2 = dev_f32(tu_ctx(), 2, zd, NULL);
  TU_OK(clnn_loss_infonce(tu_ctx(), &d, t1, t2, tl, NULL, NULL));
  float *loss_only = fetch_free(tl);
  ck_assert(!memcmp(loss_only, &a.loss, sizeof(float)));
  tl = dev_f32(tu_ctx(), 1, &one, NULL);
  TU_OK(clnn_loss_infonce(tu_ctx(), &d, t1, t2, tl, NULL, g2));
  float *only2 = fetch_free(g2);
  ck_assert(!memcmp(only2, a.dz2, nz * sizeof(float)));
  clnn_tensor_free(t1), clnn_tensor_free(t2), clnn_tensor_free(tl);
  free(loss_only), free(only2);
  infonce_free(&a), infonce_free(&b);
  free(z1), free(z2), free(r1), free(r2);
}
END_TEST

/* Blocks of rows under a small workspace limit give the same bits (own engine);
 * CLBlast agrees with the reference; a zero embedding follows the eps clamp. */
START_TEST(test_infonce_blocks_engines_zero_row) {
  infonce_case c = {100, 24, 0.1f, CLNN_INFONCE_NT_XENT, 1.0f};
  clnn_loss_infonce_desc d = infonce_desc(&c);
  const size_t nz = 100 * 24;
  float *z1 = tu_alloc(nz), *z2 = tu_alloc(nz), *r1 = tu_alloc(nz), *r2 = tu_alloc(nz), ref_loss;
  tu_fill_normal(z1, nz, 3200, 0.0f, 1.0f);
  tu_fill_normal(z2, nz, 3201, 0.0f, 1.0f);
  for (int k = 0; k < 24; k++) z1[5 * 24 + k] = 0.0f; /* |z| = 0 < eps */
  TU_OK(clnn_ref_loss_infonce(&d, z1, z2, &ref_loss, r1, r2));
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_OWN;
  clnn_context *own, *blocked, *blas;
  TU_OK(clnn_context_create(&o, &own));
  /* room for U, U^T, dU and the small arrays, plus about 40 rows of S (200 wide):
   * blocks of 32 rows for NT-Xent, of 72 rows of S12 (100 wide) for cross-view */
  o.workspace_limit = (size_t)(200 * 24 * 3 + 200 * 4 + 1 + 40 * 200) * sizeof(float);
  TU_OK(clnn_context_create(&o, &blocked));
  o.workspace_limit = 0;
  o.gemm = CLNN_GEMM_CLBLAST;
  TU_OK(clnn_context_create(&o, &blas));
  infonce_out a = infonce_run(own, &d, z1, z2), b = infonce_run(blocked, &d, z1, z2), e = infonce_run(blas, &d, z1, z2);
  infonce_compare("infonce mb100d24 t=0.1 --pass=bwd (own engine)", &a, ref_loss, r1, r2, nz);
  infonce_compare("infonce mb100d24 t=0.1 --pass=bwd (CLBlast)", &e, ref_loss, r1, r2, nz);
  ck_assert_msg(!memcmp(&a.loss, &b.loss, sizeof(float)) && !memcmp(a.dz1, b.dz1, nz * sizeof(float)) &&
                    !memcmp(a.dz2, b.dz2, nz * sizeof(float)),
                "blocked similarity matrix changes the bits");
  /* cross-view in blocks: running column statistics and dU2 accumulated over blocks */
  clnn_loss_infonce_desc dc = d;
  dc.variant = CLNN_INFONCE_CROSS_VIEW;
  TU_OK(clnn_ref_loss_infonce(&dc, z1, z2, &ref_loss, r1, r2));
  infonce_out cb = infonce_run(blocked, &dc, z1, z2), cu = infonce_run(own, &dc, z1, z2), ce = infonce_run(blas, &dc, z1, z2);
  infonce_compare("infonce mb100d24 t=0.1 cross --pass=bwd (blocked)", &cb, ref_loss, r1, r2, nz);
  infonce_compare("infonce mb100d24 t=0.1 cross --pass=bwd (own engine)", &cu, ref_loss, r1, r2, nz);
  infonce_compare("infonce mb100d24 t=0.1 cross --pass=bwd (CLBlast)", &ce, ref_loss, r1, r2, nz);
  infonce_free(&cb), infonce_free(&cu), infonce_free(&ce);
  /* too small for 8 rows: a clear UNSUPPORTED */
  clnn_context_free(blocked);
  o.gemm = CLNN_GEMM_OWN;
  o.workspace_limit = (size_t)(200 * 24 * 2) * sizeof(float); /* U and U^T, no room for S */
  TU_OK(clnn_context_create(&o, &blocked));
  int64_t zd[2] = {100, 24}, one = 1;
  clnn_tensor *t1 = dev_f32(blocked, 2, zd, z1), *t2 = dev_f32(blocked, 2, zd, z2), *tl = dev_f32(blocked, 1, &one, NULL);
  TU_FAILS(CLNN_ERR_UNSUPPORTED, clnn_loss_infonce(blocked, &d, t1, t2, tl, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(blocked), "workspace") != NULL);
  clnn_tensor_free(t1), clnn_tensor_free(t2), clnn_tensor_free(tl);
  infonce_free(&a), infonce_free(&b), infonce_free(&e);
  clnn_context_free(own), clnn_context_free(blocked), clnn_context_free(blas);
  free(z1), free(z2), free(r1), free(r2);
}
END_TEST

/* The reference InfoNCE gradients of both variants against finite differences. */
typedef struct infonce_fd {
  clnn_loss_infonce_desc d;
  double *z1, *z2;
} infonce_fd;

static double infonce_fd_loss(void *arg) {
  infonce_fd *f = arg;
  double loss;
  TU_OK(clnn__ref_loss_infonce_f64(&f->d, f->z1, f->z2, &loss, NULL, NULL));
  return loss;
}

START_TEST(test_infonce_reference_fd) {
  for (int v = 0; v < 2; v++) {
    infonce_fd f;
    f.d = clnn_loss_infonce_desc_make(4, 5, 0.3f);
    f.d.variant = (clnn_infonce_variant)v;
    const size_t nz = 20;
    f.z1 = malloc(nz * sizeof(double));
    f.z2 = malloc(nz * sizeof(double));
    tu_rng r = tu_rng_make(3300 + (uint64_t)v);
    for (size_t i = 0; i < nz; i++) f.z1[i] = tu_rng_normal(&r), f.z2[i] = tu_rng_normal(&r);
    double loss, *g1 = calloc(nz, sizeof(double)), *g2 = calloc(nz, sizeof(double));
    TU_OK(clnn__ref_loss_infonce_f64(&f.d, f.z1, f.z2, &loss, g1, g2));
    ck_assert(tu_fd_check(v ? "infonce cross dz1" : "nt-xent dz1", infonce_fd_loss, &f, f.z1, nz, g1, 1e-6, 1e-7));
    ck_assert(tu_fd_check(v ? "infonce cross dz2" : "nt-xent dz2", infonce_fd_loss, &f, f.z2, nz, g2, 1e-6, 1e-7));
    free(f.z1), free(f.z2), free(g1), free(g2);
  }
}
END_TEST

/* NT-Xent of known embeddings by hand: two orthogonal pairs, t = 1. */
START_TEST(test_infonce_hand_value) {
  /* u1 = (e1, e2), u2 = (e1, e2): s = u u^T has 1 for (i, i+-2) and i == k, 0 elsewhere.
   * Anchor 0: candidates k = 1, 2, 3 with s = 0, 1, 0: loss = log(e^0 + e^1 + e^0) - 1. */
  const float z1[4] = {2, 0, 0, 3}, z2[4] = {5, 0, 0, 0.5f};
  clnn_loss_infonce_desc d = clnn_loss_infonce_desc_make(2, 2, 1.0f);
  float loss;
  TU_OK(clnn_ref_loss_infonce(&d, z1, z2, &loss, NULL, NULL));
  const double want = log(2.0 + exp(1.0)) - 1.0;
  ck_assert_msg(fabs(loss - want) < 1e-6, "loss %.9g, by hand %.9g", (double)loss, want);
  infonce_out o = infonce_run(tu_ctx(), &d, z1, z2);
  ck_assert_msg(fabs(o.loss - want) < 1e-6, "device loss %.9g, by hand %.9g", (double)o.loss, want);
  infonce_free(&o);
  d.variant = CLNN_INFONCE_CROSS_VIEW; /* candidates: the other view only, s = 1, 0 */
  TU_OK(clnn_ref_loss_infonce(&d, z1, z2, &loss, NULL, NULL));
  ck_assert(fabs(loss - (log(1.0 + exp(1.0)) - 1.0)) < 1e-6);
}
END_TEST

/* ------------------------------------------------------------ bad input */

static clnn_tensor *blog, *blab, *bloss, *bdlog, *bz, *bdz1, *bdz2;
static clnn_loss_class_desc bcd;
static clnn_loss_infonce_desc bid;

static void bad_setup(void) {
  clnn_context *ctx = tu_ctx();
  bcd = clnn_loss_class_desc_make(4, 3);
  bid = clnn_loss_infonce_desc_make(4, 3, 0.1f);
  int64_t ld[2] = {4, 3}, one = 1, yd[1] = {4};
  int32_t labels[4] = {0, 1, 2, 1};
  float ones[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  blog = dev_f32(ctx, 2, ld, ones);
  blab = dev_i32(ctx, 1, yd, labels);
  bz = dev_f32(ctx, 2, ld, ones);
  bloss = dev_f32(ctx, 1, &one, NULL);
  bdlog = dev_f32(ctx, 2, ld, NULL);
  bdz1 = dev_f32(ctx, 2, ld, NULL);
  bdz2 = dev_f32(ctx, 2, ld, NULL);
}

static void bad_teardown(void) {
  clnn_tensor *all[] = {blog, blab, bloss, bdlog, bz, bdz1, bdz2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}

static void assert_untouched(void) {
  clnn_tensor *outs[] = {bloss, bdlog, bdz1, bdz2};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_xent(NULL, &bcd, blog, blab, bloss, bdlog));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_xent(ctx, NULL, blog, blab, bloss, bdlog));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_xent(ctx, &bcd, NULL, blab, bloss, bdlog));
  ck_assert(strstr(clnn_context_errmsg(ctx), "logits") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_soft_accuracy(ctx, &bcd, blog, NULL, bloss, bdlog));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_xent(ctx, &bcd, blog, blab, NULL, bdlog));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_infonce(ctx, &bid, NULL, bz, bloss, bdz1, bdz2));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_infonce(ctx, &bid, bz, bz, NULL, bdz1, bdz2));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_infonce(ctx, NULL, bz, bz, bloss, bdz1, bdz2));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_class_desc_check(NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_loss_infonce_desc_check(NULL));
  float loss;
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_loss_xent(&bcd, NULL, NULL, &loss, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_loss_infonce(&bid, NULL, NULL, &loss, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_loss_class_desc c = bcd;
  c.classes = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &c, blog, blab, bloss, bdlog));
  c = bcd;
  c.label_smoothing = 1.5f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &c, blog, blab, bloss, bdlog));
  ck_assert(strstr(clnn_context_errmsg(ctx), "label_smoothing") != NULL);
  c.label_smoothing = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_loss_xent(ctx, &c, blog, blab, bloss, bdlog));
  c = bcd;
  c.label_smoothing = 0.1f; /* soft accuracy has no smoothing */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_soft_accuracy(ctx, &c, blog, blab, bloss, bdlog));
  c = bcd;
  c.grad_scale = INFINITY;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_loss_class_desc_check(&c));
  c = bcd;
  c.n = c.classes = (int64_t)1 << 16;
  c.inner = 1 << 10; /* 2^42 logits */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_loss_class_desc_check(&c));
  clnn_loss_infonce_desc i = bid;
  i.temperature = 0.0f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce(ctx, &i, bz, bz, bloss, bdz1, bdz2));
  ck_assert(strstr(clnn_context_errmsg(ctx), "temperature") != NULL);
  i.temperature = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_loss_infonce(ctx, &i, bz, bz, bloss, bdz1, bdz2));
  i = bid;
  i.eps = -1.0f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce_desc_check(&i));
  i = bid;
  i.variant = (clnn_infonce_variant)7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce_desc_check(&i));
  i = bid;
  i.dim = -3;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce_desc_check(&i));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes_and_types) {
  clnn_context *ctx = tu_ctx();
  clnn_loss_class_desc c = bcd;
  c.n = 5;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_xent(ctx, &c, blog, blab, bloss, bdlog));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[4,3]") != NULL);
  c = bcd;
  c.inner = 2;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_xent(ctx, &c, blog, blab, bloss, bdlog));
  /* float labels, int logits, labels of the wrong length, two-element loss */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &bcd, blog, blog, bloss, bdlog));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_xent(ctx, &bcd, blab, blab, bloss, bdlog));
  int64_t five = 5, two = 2, ld[2] = {4, 3}, bad_ld[2] = {3, 4};
  int32_t lab5[5] = {0, 0, 0, 0, 0};
  clnn_tensor *y5 = dev_i32(ctx, 1, &five, lab5), *l2 = dev_f32(ctx, 1, &two, NULL), *g_t = dev_f32(ctx, 2, bad_ld, NULL);
  clnn_tensor *logits_i;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 2, ld, &logits_i));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &bcd, logits_i, blab, bloss, bdlog));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_xent(ctx, &bcd, blog, y5, bloss, bdlog));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_soft_accuracy(ctx, &bcd, blog, blab, l2, bdlog));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_xent(ctx, &bcd, blog, blab, bloss, g_t));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_infonce(ctx, &bid, bz, g_t, bloss, bdz1, bdz2));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_infonce(ctx, &bid, bz, bz, bloss, g_t, bdz2));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_loss_infonce(ctx, &bid, bz, bz, l2, bdz1, bdz2));
  clnn_tensor_free(y5), clnn_tensor_free(l2), clnn_tensor_free(g_t), clnn_tensor_free(logits_i);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* dlogits over logits; the loss inside dlogits; dz1 is dz2 */
  TU_FAILS(CLNN_ERR_ALIASING, clnn_loss_xent(ctx, &bcd, blog, blab, bloss, blog));
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 12 * sizeof(float), &buf));
  int64_t ld[2] = {4, 3}, one = 1;
  clnn_tensor *g, *l;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 2, ld, &g));
  TU_OK(clnn_tensor_view(buf, 5 * sizeof(float), CLNN_FLOAT32, 1, &one, &l));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_loss_soft_accuracy(ctx, &bcd, blog, blab, l, g));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_loss_infonce(ctx, &bid, bz, bz, l, g, NULL));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_loss_infonce(ctx, &bid, bz, bz, bloss, bdz1, bdz1));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_loss_infonce(ctx, &bid, bz, bdz2, bloss, bdz1, bdz2));
  clnn_tensor_free(g), clnn_tensor_free(l);
  clnn_buffer_free(buf);
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *zo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 2, ld, &zo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_loss_infonce(ctx, &bid, bz, zo, bloss, bdz1, bdz2));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_loss_xent(ctx, &bcd, zo, blab, bloss, bdlog));
  clnn_tensor_free(zo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* A batch of 0, as torch's cross_entropy takes it: the mean over no
 * position is NaN, and dlogits is empty; on the device and in the reference. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  clnn_loss_class_desc d = clnn_loss_class_desc_make(0, 5);
  TU_OK(clnn_loss_class_desc_check(&d));
  const int64_t ld[2] = {0, 5}, yd[1] = {0}, one[1] = {1};
  clnn_tensor *logits = tu_tensor(2, ld, NULL), *dlogits = tu_tensor(2, ld, NULL), *loss = tu_tensor(1, one, NULL);
  clnn_tensor *labels;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, yd, &labels));
  for (int k = 0; k < 2; k++) {
    const float seven = 7.0f; /* not NaN: the poison must differ from the answer */
    TU_OK(clnn_tensor_write(loss, &seven, sizeof seven));
    TU_OK(k ? clnn_loss_soft_accuracy(ctx, &d, logits, labels, loss, dlogits)
            : clnn_loss_xent(ctx, &d, logits, labels, loss, dlogits));
    float got = 0.0f, ref = 0.0f, dummy = 0.0f;
    int32_t no_label = 0;
    TU_OK(clnn_tensor_read(loss, &got, sizeof got));
    TU_OK(k ? clnn_ref_loss_soft_accuracy(&d, &dummy, &no_label, &ref, &dummy)
            : clnn_ref_loss_xent(&d, &dummy, &no_label, &ref, &dummy));
    ck_assert_msg(isnan(got) && isnan(ref), "loss %d of a batch of 0: %g (reference %g)", k, (double)got, (double)ref);
  }
  clnn_tensor_free(logits);
  clnn_tensor_free(dlogits);
  clnn_tensor_free(loss);
  clnn_tensor_free(labels);
}
END_TEST

/* ------------------------------------------------------- half precision
 * Every case again with float16 and bfloat16 logits / embeddings: the
 * reference runs on the inputs rounded to the type, the loss (float32) is
 * held to the float32 tolerance, the gradients (in the type, poisoned
 * first) to tu_check_half. The repeat runs on views at odd element offsets
 * (2-byte aligned only) and must give the same bits.
 */

/* A tensor of dt: a fresh one (off 0) or a view at element offset off of a
 * new buffer (freed with the tensor's owner below); NaN unless host is given. */
typedef struct half_view {
  clnn_buffer *buf;
  clnn_tensor *t;
} half_view;

static half_view half_make(clnn_dtype dt, size_t off, int ndim, const int64_t *dims, const float *host) {
  half_view v = {NULL, NULL};
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= (size_t)dims[i];
  if (off == 0) {
    v.t = tu_tensor_dt(dt, ndim, dims, NULL);
  } else {
    TU_OK(clnn_buffer_create(tu_ctx(), (off + numel + 1) * clnn_dtype_size(dt), &v.buf));
    TU_OK(clnn_tensor_view(v.buf, off * clnn_dtype_size(dt), dt, ndim, dims, &v.t));
  }
  if (host) TU_OK(clnn_tensor_write_f32(v.t, host, numel));
  else tu_poison(v.t);
  return v;
}

static void half_free(half_view *v) {
  clnn_tensor_free(v->t);
  if (v->buf) clnn_buffer_free(v->buf);
}

/* Loss (and dlogits when grad) of p in type dt, tensors at element offset off. */
static void class_run_dt(class_kind k, const class_problem *p, clnn_dtype dt, size_t off, bool grad, float *loss,
                         float **dlogits) {
  int64_t one = 1;
  half_view tl = half_make(dt, off, p->ndim, p->ldims, p->logits), tg = {NULL, NULL};
  if (grad) tg = half_make(dt, off + 2, p->ndim, p->ldims, NULL);
  clnn_tensor *ty = dev_i32(tu_ctx(), p->ndim - 1, p->ydims, p->labels), *tloss = dev_f32(tu_ctx(), 1, &one, NULL);
  TU_OK(class_device(tu_ctx(), k, &p->d, tl.t, ty, tloss, tg.t));
  TU_OK(clnn_tensor_read(tloss, loss, sizeof(float)));
  if (grad) *dlogits = tu_download_f32(tg.t), half_free(&tg);
  half_free(&tl);
  clnn_tensor_free(ty);
  clnn_tensor_free(tloss);
}

static void check_class_half(class_kind k, int i, clnn_dtype dt) {
  class_case c = class_cases[i];
  if (k == SOFTACC) c.smoothing = 0.0f;
  class_problem p;
  class_problem_make(&p, &c, 1000 + (uint64_t)i);
  tu_round_to(dt, p.logits, p.nl); /* what the kernels load */
  float ref_loss, got_loss, got_loss2, got_loss3, *ref_g = tu_alloc(p.nl), *got_g, *got_g2;
  TU_OK(class_ref(k, &p.d, p.logits, p.labels, &ref_loss, ref_g));
  char what[192];
  class_what(k, &c, what, sizeof what);
  clnn_context_clear_variants(tu_ctx());
  class_run_dt(k, &p, dt, 0, true, &got_loss, &got_g);
  class_run_dt(k, &p, dt, 3, true, &got_loss2, &got_g2); /* odd element offsets */
  class_run_dt(k, &p, dt, 0, false, &got_loss3, NULL);
  assert_planned_class(tu_ctx(), what);
  ck_assert_msg(isfinite(got_loss), "%s dt=%s: loss %g", what, clnn_dtype_name(dt), (double)got_loss);
  ck_assert(tu_compare(what, &got_loss, &ref_loss, 1, 1e-5, 1e-6, NULL));
  tu_check_half(what, "dlogits", got_g, ref_g, p.nl, dt, 1e-7 * c.grad_scale);
  ck_assert_msg(!memcmp(&got_loss, &got_loss2, sizeof(float)) && !memcmp(got_g, got_g2, p.nl * sizeof(float)),
                "%s dt=%s: a second run (views at odd offsets) differs", what, clnn_dtype_name(dt));
  ck_assert_msg(!memcmp(&got_loss, &got_loss3, sizeof(float)), "%s: the loss depends on dlogits", what);
  free(ref_g), free(got_g), free(got_g2);
  class_problem_free(&p);
}

START_TEST(test_xent_half_case) { check_class_half(XENT, _i % N_CLASS, tu_half_types[_i / N_CLASS]); }
END_TEST

START_TEST(test_softacc_half_case) { check_class_half(SOFTACC, _i % N_CLASS, tu_half_types[_i / N_CLASS]); }
END_TEST

/* Special logits in half types: a NaN, a float16 overflow (7e4 is inf in
 * float16, finite in bfloat16) and its negative, each in its own row of a
 * plain and a per-pixel problem; rows without one stay finite. */
START_TEST(test_class_half_specials) {
  const class_case cases[2] = {{6, 37, 0, 0, 0.0f, 0, 1.0f, 2.0f}, {2, 5, 3, 7, 0.0f, 0, 1.0f, 2.0f}};
  const clnn_dtype dt = tu_half_types[_i / 2];
  class_case c = cases[_i % 2];
  class_problem p;
  class_problem_make(&p, &c, 2300 + (uint64_t)_i);
  const size_t in = (size_t)p.d.inner, cl = (size_t)c.classes;
  p.logits[(1 * cl + 3) * in] = NAN;       /* position 0 of sample 1 (row 1 when plain) */
  p.logits[(0 * cl + 2) * in + in / 2] = 7e4f; /* sample 0 */
  p.logits[(c.n - 1) * cl * in + in - 1] = -7e4f;
  tu_round_to(dt, p.logits, p.nl);
  for (int k = 0; k < 2; k++) {
    float ref_loss, loss, *ref_g = tu_alloc(p.nl), *g;
    TU_OK(class_ref((class_kind)k, &p.d, p.logits, p.labels, &ref_loss, ref_g));
    class_run_dt((class_kind)k, &p, dt, 1, true, &loss, &g);
    ck_assert(isnan(loss) && isnan(ref_loss));
    tu_check_half(k ? "softacc specials" : "xent specials", "dlogits", g, ref_g, p.nl, dt, 1e-7);
    free(ref_g), free(g);
  }
  class_problem_free(&p);
}
END_TEST

/* A batch of 0 in half types: NaN loss, nothing written to the empty dlogits. */
START_TEST(test_empty_batch_half) {
  const clnn_dtype dt = tu_half_types[_i];
  clnn_loss_class_desc d = clnn_loss_class_desc_make(0, 5);
  const int64_t ld[2] = {0, 5}, yd[1] = {0}, one[1] = {1};
  clnn_tensor *logits = tu_tensor_dt(dt, 2, ld, NULL), *dlogits = tu_tensor_dt(dt, 2, ld, NULL);
  clnn_tensor *loss = tu_tensor(1, one, NULL), *labels;
  TU_OK(clnn_tensor_create(tu_ctx(), CLNN_INT32, 1, yd, &labels));
  for (int k = 0; k < 2; k++) {
    const float seven = 7.0f;
    TU_OK(clnn_tensor_write(loss, &seven, sizeof seven));
    TU_OK(class_device(tu_ctx(), (class_kind)k, &d, logits, labels, loss, dlogits));
    float got = 0.0f;
    TU_OK(clnn_tensor_read(loss, &got, sizeof got));
    ck_assert_msg(isnan(got), "dt=%s: loss %d of a batch of 0: %g", clnn_dtype_name(dt), k, (double)got);
  }
  clnn_tensor_free(logits), clnn_tensor_free(dlogits), clnn_tensor_free(loss), clnn_tensor_free(labels);
}
END_TEST

/* InfoNCE of p's embeddings in type dt (views at element offset off when off > 0). */
static infonce_out infonce_run_dt(const clnn_loss_infonce_desc *d, const float *z1, const float *z2, clnn_dtype dt,
                                  size_t off) {
  int64_t zd[2] = {d->n, d->dim}, one = 1;
  half_view t1 = half_make(dt, off, 2, zd, z1), t2 = half_make(dt, off + 2, 2, zd, z2);
  half_view g1 = half_make(dt, off + 4, 2, zd, NULL), g2 = half_make(dt, off + 6, 2, zd, NULL);
  clnn_tensor *tl = dev_f32(tu_ctx(), 1, &one, NULL);
  TU_OK(clnn_loss_infonce(tu_ctx(), d, t1.t, t2.t, tl, g1.t, g2.t));
  infonce_out o;
  TU_OK(clnn_tensor_read(tl, &o.loss, sizeof(float)));
  o.dz1 = tu_download_f32(g1.t);
  o.dz2 = tu_download_f32(g2.t);
  half_free(&t1), half_free(&t2), half_free(&g1), half_free(&g2);
  clnn_tensor_free(tl);
  return o;
}

START_TEST(test_infonce_half_case) {
  const infonce_case *c = &infonce_cases[_i % N_INFONCE];
  const clnn_dtype dt = tu_half_types[_i / N_INFONCE];
  clnn_loss_infonce_desc d = infonce_desc(c);
  const size_t nz = (size_t)(c->n * c->dim);
  float *z1 = tu_alloc(nz), *z2 = tu_alloc(nz), *r1 = tu_alloc(nz), *r2 = tu_alloc(nz), ref_loss;
  tu_fill_normal(z1, nz, 3000 + (uint64_t)_i, 0.0f, 1.0f);
  tu_fill_normal(z2, nz, 3100 + (uint64_t)_i, 0.0f, 1.0f);
  for (size_t i = 0; i < nz; i++) z2[i] = 0.7f * z1[i] + 0.5f * z2[i];
  tu_round_to(dt, z1, nz);
  tu_round_to(dt, z2, nz);
  TU_OK(clnn_ref_loss_infonce(&d, z1, z2, &ref_loss, r1, r2));
  char what[160];
  snprintf(what, sizeof what, "infonce mb%dd%d t=%g%s gs=%g --pass=bwd", c->n, c->dim, (double)c->t,
           c->variant == CLNN_INFONCE_CROSS_VIEW ? " cross" : "", (double)c->grad_scale);
  clnn_context_clear_variants(tu_ctx());
  infonce_out a = infonce_run_dt(&d, z1, z2, dt, 0), b = infonce_run_dt(&d, z1, z2, dt, 1);
  assert_planned_class(tu_ctx(), what);
  ck_assert(tu_compare(what, &a.loss, &ref_loss, 1, 1e-5, 1e-6, NULL));
  tu_check_half(what, "dz1", a.dz1, r1, nz, dt, 1e-7);
  tu_check_half(what, "dz2", a.dz2, r2, nz, dt, 1e-7);
  ck_assert_msg(!memcmp(&a.loss, &b.loss, sizeof(float)) && !memcmp(a.dz1, b.dz1, nz * sizeof(float)) &&
                    !memcmp(a.dz2, b.dz2, nz * sizeof(float)),
                "%s dt=%s: a second run (views at odd offsets) differs", what, clnn_dtype_name(dt));
  infonce_free(&a), infonce_free(&b);
  free(z1), free(z2), free(r1), free(r2);
}
END_TEST

/* Mixed types are refused by name before anything is written: the gradient
 * in another type than the logits / z1, a half loss, z2 of another type. */
START_TEST(test_bad_mixed_types) {
  clnn_context *ctx = tu_ctx();
  int64_t ld[2] = {4, 3}, one = 1;
  clnn_tensor *l16 = tu_tensor_dt(CLNN_FLOAT16, 2, ld, NULL), *g16 = tu_tensor_dt(CLNN_FLOAT16, 2, ld, NULL);
  clnn_tensor *gbf = tu_tensor_dt(CLNN_BFLOAT16, 2, ld, NULL), *loss16 = tu_tensor_dt(CLNN_FLOAT16, 1, &one, NULL);
  tu_poison(g16), tu_poison(gbf), tu_poison(loss16);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &bcd, l16, blab, bloss, gbf));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dlogits' has dtype bfloat16, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_soft_accuracy(ctx, &bcd, l16, blab, bloss, bdlog));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dlogits' has dtype float32") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &bcd, blog, blab, bloss, g16));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_xent(ctx, &bcd, l16, blab, loss16, g16));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'loss' has dtype float16, expected float32") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce(ctx, &bid, l16, bz, bloss, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'z2' has dtype float32, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce(ctx, &bid, l16, l16, bloss, bdz1, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dz1'") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce(ctx, &bid, l16, l16, bloss, g16, gbf));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dz2' has dtype bfloat16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_loss_infonce(ctx, &bid, blab, blab, bloss, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'z1' has dtype int32, expected a float type") != NULL);
  clnn_tensor *outs[] = {g16, gbf, loss16};
  tu_assert_poisoned(outs, 3);
  clnn_tensor_free(l16), clnn_tensor_free(g16), clnn_tensor_free(gbf), clnn_tensor_free(loss16);
  assert_untouched();
}
END_TEST

static Suite *loss_suite(void) {
  Suite *s = suite_create("loss");
  TCase *tc = tcase_create("losses");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_xent_case, 0, N_CLASS);
  tcase_add_loop_test(tc, test_softacc_case, 0, N_CLASS);
  tcase_add_test(tc, test_all_ignored);
  tcase_add_test(tc, test_empty_batch);
  tcase_add_test(tc, test_bad_label_values);
  tcase_add_test(tc, test_class_reference_fd);
  tcase_add_loop_test(tc, test_infonce_case, 0, N_INFONCE);
  tcase_add_test(tc, test_infonce_blocks_engines_zero_row);
  tcase_add_test(tc, test_infonce_reference_fd);
  tcase_add_test(tc, test_infonce_hand_value);
  suite_add_tcase(s, tc);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 600);
  tcase_add_loop_test(half, test_xent_half_case, 0, N_CLASS * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_softacc_half_case, 0, N_CLASS * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_class_half_specials, 0, 2 * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_empty_batch_half, 0, TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_infonce_half_case, 0, N_INFONCE * TU_N_HALF_TYPES);
  suite_add_tcase(s, half);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes_and_types);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  tcase_add_test(bad, test_bad_mixed_types);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(loss_suite()); }
