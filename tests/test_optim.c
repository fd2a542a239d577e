/*
 * test_optim.c - optimizer steps, gradient clipping and the EMA against the
 * host reference and against values computed independently in double:
 *  - Adam / AdamW / SGD over lists of tensors of odd sizes, in arenas (views
 *    with gaps that must stay untouched), separate buffers, and mixtures of
 *    the two, for consecutive steps t = 1 .. 10 checked at t = 1, 2 and 10;
 *  - closed forms (constant gradient) and a textbook double implementation
 *    written here, independently of host/optim.c;
 *  - AdamW with weight_decay 0 equals Adam with weight_decay 0 bit for bit;
 *  - the non-finite check and skip, gradient scaling, maximize, amsgrad;
 *  - clipping by the global norm (same bits for every layout), the EMA;
 *  - the GPU-class variants (optim.*.gpu_vec4) on this device at several
 *    work-group sizes (CLNN_OPTIM_WG), with sizes around the work-group and
 *    the block and tensors off 16-byte alignment (every test runs them
 *    again at 256 as test_optim.gpu);
 *  - bad arguments: right status, a message, nothing written;
 *  - clnn-bench R mode (.npy in, .npy out, --steps K) for adamw, amsgrad, sgd.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench/npy.h"
#include "common/testutil.h"
#include "host/ref.h"

#define MAXT 20
#define GAP 3 /* floats between the tensors of an arena */
#define SENTINEL 12345.0f

/* ------------------------------------------------------------ tensor lists */

/* Where the tensors of a list live. */
enum { L_ARENA, L_SEPARATE, L_MIXED, L_CROSS };
static const char *const layout_names[] = {"arena", "separate", "mixed", "cross"};
enum { R_P, R_G, R_M, R_V, R_X };

/* MIXED: odd entries in their own buffers, even ones in the arena.
 * CROSS: gradients in separate buffers, everything else in arenas. */
static bool in_arena(int layout, int role, int i) {
  switch (layout) {
  case L_ARENA: return true;
  case L_SEPARATE: return false;
  case L_MIXED: return i % 2 == 0;
  default: return role != R_G;
  }
}

/* One role's tensors: views into an arena (with GAP sentinel floats between
 * them) or tensors of their own. Host data is their concatenation. */
typedef struct tlist {
  clnn_dtype dt; /* every tensor's type (the arena's too) */
  int n;
  int64_t sizes[MAXT];
  size_t total;
  clnn_tensor *arena;
  size_t arena_len;
  size_t off[MAXT];
  bool viewed[MAXT];
  clnn_tensor *t[MAXT];
} tlist;

/* Host data is float32 whatever the list's type (half types convert,
 * rounding to nearest even on the way in). */
static void tlist_write(tlist *l, const float *host) {
  size_t k = 0;
  for (int i = 0; i < l->n; i++) {
    TU_OK(clnn_tensor_write_f32(l->t[i], host + k, (size_t)l->sizes[i]));
    k += (size_t)l->sizes[i];
  }
}

static void tlist_read(const tlist *l, float *host) {
  size_t k = 0;
  for (int i = 0; i < l->n; i++) {
    TU_OK(clnn_tensor_read_f32(l->t[i], host + k, (size_t)l->sizes[i]));
    k += (size_t)l->sizes[i];
  }
}

/* A list of type dt; views sit at odd element offsets (GAP is odd). */
static void tlist_make_dt(tlist *l, clnn_context *ctx, clnn_dtype dt, int n, const int64_t *sizes, int layout,
                          int role, const float *host) {
  memset(l, 0, sizeof *l);
  l->dt = dt;
  l->n = n;
  size_t pos = GAP;
  for (int i = 0; i < n; i++) {
    l->sizes[i] = sizes[i];
    l->total += (size_t)sizes[i];
    l->viewed[i] = in_arena(layout, role, i);
    if (l->viewed[i]) {
      l->off[i] = pos;
      pos += (size_t)sizes[i] + GAP;
    }
  }
  l->arena_len = pos;
  if (pos > GAP) {
    int64_t d = (int64_t)pos;
    float *fill = tu_alloc(pos);
    for (size_t i = 0; i < pos; i++) fill[i] = SENTINEL;
    TU_OK(clnn_tensor_create(ctx, dt, 1, &d, &l->arena));
    TU_OK(clnn_tensor_write_f32(l->arena, fill, pos));
    free(fill);
  }
  for (int i = 0; i < n; i++) {
    if (l->viewed[i])
      TU_OK(clnn_tensor_view(clnn_tensor_buffer(l->arena), l->off[i] * clnn_dtype_size(dt), dt, 1, &sizes[i],
                             &l->t[i]));
    else
      TU_OK(clnn_tensor_create(ctx, dt, 1, &sizes[i], &l->t[i]));
  }
  if (host) tlist_write(l, host);
}

static void tlist_make(tlist *l, clnn_context *ctx, int n, const int64_t *sizes, int layout, int role,
                       const float *host) {
  tlist_make_dt(l, ctx, CLNN_FLOAT32, n, sizes, layout, role, host);
}

/* The arena's gaps must still hold the sentinel: nothing outside a tensor is written. */
static void tlist_check_gaps(const tlist *l, const char *what) {
  if (!l->arena) return;
  float *a = tu_download_f32(l->arena), sentinel = SENTINEL;
  tu_round_to(l->dt, &sentinel, 1);
  size_t bad = 0, k = 0;
  for (size_t i = 0; i < l->arena_len; i++) {
    bool inside = false;
    for (int j = 0; j < l->n; j++)
      inside |= l->viewed[j] && i >= l->off[j] && i < l->off[j] + (size_t)l->sizes[j];
    if (!inside && a[i] != sentinel) bad++, k = i;
  }
  free(a);
  ck_assert_msg(bad == 0, "%s: %zu arena elements outside the tensors were written (e.g. [%zu])", what, bad, k);
}

static void tlist_free(tlist *l) {
  for (int i = 0; i < l->n; i++) clnn_tensor_free(l->t[i]);
  clnn_tensor_free(l->arena);
  memset(l, 0, sizeof *l);
}

static float *copy_of(const float *src, size_t n) {
  float *p = tu_alloc(n);
  memcpy(p, src, n * sizeof *p);
  return p;
}

static bool same_bits(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

/* Set (value) or unset (NULL) an environment variable; returns the old value (heap) or NULL. */
static char *swap_env(const char *name, const char *value) {
  const char *old = getenv(name);
  char *saved = old ? strdup(old) : NULL;
  if (value) setenv(name, value, 1);
  else unsetenv(name);
  return saved;
}

/*
 * A context that plans the optimizers' GPU-class variants (CLNN_VARIANT)
 * whatever the device, with work-groups of wg (CLNN_OPTIM_WG; NULL: the
 * default 256). The environment is read when a context is made, so these
 * tests make their own; it is restored at once.
 */
static clnn_context *gpu_shape_ctx(const char *wg) {
  char *variant = swap_env("CLNN_VARIANT", "optim.adam.gpu_vec4,optim.sgd.gpu_vec4,optim.ema.gpu_vec4,optim.clip.gpu_vec4");
  char *owg = swap_env("CLNN_OPTIM_WG", wg);
  clnn_context *ctx;
  TU_OK(clnn_context_create(NULL, &ctx));
  free(swap_env("CLNN_VARIANT", variant));
  free(swap_env("CLNN_OPTIM_WG", owg));
  free(variant);
  free(owg);
  return ctx;
}

/*
 * Compare and print the errors. float32 state carries rounding errors of
 * the size of its largest values (an element that cancels to near zero
 * keeps the absolute error of its history), hence an absolute tolerance
 * relative to the largest reference value.
 */
static void expect_close(const char *what, const char *name, int t, const float *got, const float *ref, size_t n) {
  char w[320];
  snprintf(w, sizeof w, "%s [%s, t=%d]", what, name, t);
  double scale = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
  tu_cmp c;
  bool ok = tu_compare(w, got, ref, n, 1e-5, 1e-6 * scale, &c);
  ck_assert_msg(ok, "%s differs from the reference", w);
  ck_assert_msg(c.rel_l2_err < 1e-6, "%s: relative L2 error %.3g", w, c.rel_l2_err);
  if (t == 10) printf("  %-70s %-6s max_abs %.3g rel_l2 %.3g\n", what, name, c.max_abs_err, c.rel_l2_err);
}

/* ------------------------------------------------------------ Adam, AdamW */

typedef struct adam_case {
  int adamw;
  int n;
  int64_t sizes[MAXT];
  int layout;
  double lr, wd;
  int amsgrad, maximize;
  double scale; /* gradient scale (the gradients are drawn that much larger) */
  int64_t t0;   /* steps already taken: random state instead of zeros */
} adam_case;

static const adam_case adam_cases[] = {
    /* adamw n sizes                          layout      lr     wd   ams max scale t0 */
    {1, 1, {1}, L_ARENA, 1e-3, 0.01, 0, 0, 1, 0},
    {1, 1, {17}, L_SEPARATE, 1e-3, 0.01, 0, 0, 1, 0},
    {1, 1, {4097}, L_ARENA, 3e-3, 0.1, 0, 0, 1, 0},
    {1, 6, {7, 1, 16, 4099, 33, 9001}, L_ARENA, 1e-3, 0.01, 0, 0, 1, 0},
    {1, 6, {7, 1, 16, 4099, 33, 9001}, L_SEPARATE, 1e-3, 0.01, 1, 0, 1, 0},
    {1, 6, {7, 1, 16, 4099, 33, 9001}, L_MIXED, 1e-3, 0.05, 1, 1, 1, 7},
    {1, 5, {15, 8193, 3, 64, 130}, L_CROSS, 1e-2, 0.01, 0, 1, 1024, 0},
    {0, 1, {1000}, L_ARENA, 1e-3, 0.0, 0, 0, 1, 0},
    {0, 5, {15, 8193, 3, 64, 130}, L_ARENA, 1e-3, 0.1, 0, 0, 1, 0},
    {0, 6, {7, 1, 16, 4099, 33, 9001}, L_MIXED, 1e-3, 0.01, 1, 0, 1, 3},
    {0, 3, {333, 4096, 17}, L_SEPARATE, 5e-4, 0.0, 1, 1, 65536, 0},
    {0, 4, {12289, 5, 4095, 2}, L_CROSS, 1e-3, 0.02, 0, 0, 3, 20}, /* scale not a power of two */
    /* More buffer groups than one launch binds (8): several launches. */
    {1, 19, {3, 4097, 1, 17, 250, 16, 31, 4096, 5, 8191, 2, 99, 1000, 7, 64, 129, 4095, 11, 300}, L_SEPARATE,
     1e-3, 0.01, 1, 0, 1, 2},
    {0, 19, {3, 4097, 1, 17, 250, 16, 31, 4096, 5, 8191, 2, 99, 1000, 7, 64, 129, 4095, 11, 300}, L_MIXED,
     1e-3, 0.01, 0, 1, 1, 0},
};
#define N_ADAM (int)(sizeof adam_cases / sizeof adam_cases[0])

static size_t total_of(int n, const int64_t *sizes) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += (size_t)sizes[i];
  return t;
}

static void adam_describe(const adam_case *c, char *buf, size_t n) {
  snprintf(buf, n, "%s n%zu tensors=%d lr=%g wd=%g amsgrad=%d maximize=%d scale=%g t=%lld (%s)",
           c->adamw ? "adamw" : "adam", total_of(c->n, c->sizes), c->n, c->lr, c->wd, c->amsgrad,
           c->maximize, c->scale, (long long)c->t0, layout_names[c->layout]);
}

/* Host state of an Adam problem: device-side copies in h, reference in r. */
typedef struct adam_state {
  size_t total;
  float *p, *m, *v, *x;
} adam_state;

static void adam_state_init(adam_state *s, size_t total, bool random_state, uint64_t seed) {
  s->total = total;
  s->p = tu_alloc(total);
  s->m = tu_alloc(total);
  s->v = tu_alloc(total);
  s->x = tu_alloc(total);
  tu_fill_normal(s->p, total, seed, 0.0f, 1.0f);
  if (random_state) {
    tu_fill_normal(s->m, total, seed + 1, 0.0f, 0.1f);
    tu_fill_uniform(s->v, total, seed + 2, 0.0f, 0.01f);
    tu_fill_uniform(s->x, total, seed + 3, 0.0f, 0.02f);
  } else {
    memset(s->m, 0, total * sizeof(float));
    memset(s->v, 0, total * sizeof(float));
    memset(s->x, 0, total * sizeof(float));
  }
}

static adam_state adam_state_copy(const adam_state *s) {
  adam_state c = {s->total, copy_of(s->p, s->total), copy_of(s->m, s->total), copy_of(s->v, s->total),
                  copy_of(s->x, s->total)};
  return c;
}

static void adam_state_free(adam_state *s) {
  free(s->p);
  free(s->m);
  free(s->v);
  free(s->x);
}

/* Device lists of an Adam problem. */
typedef struct adam_dev {
  tlist p, g, m, v, x;
} adam_dev;

static void adam_dev_make(adam_dev *d, clnn_context *ctx, const adam_case *c, const adam_state *s) {
  tlist_make(&d->p, ctx, c->n, c->sizes, c->layout, R_P, s->p);
  tlist_make(&d->g, ctx, c->n, c->sizes, c->layout, R_G, NULL);
  tlist_make(&d->m, ctx, c->n, c->sizes, c->layout, R_M, s->m);
  tlist_make(&d->v, ctx, c->n, c->sizes, c->layout, R_V, s->v);
  tlist_make(&d->x, ctx, c->n, c->sizes, c->layout, R_X, s->x);
}

static void adam_dev_read(const adam_dev *d, adam_state *s) {
  tlist_read(&d->p, s->p);
  tlist_read(&d->m, s->m);
  tlist_read(&d->v, s->v);
  tlist_read(&d->x, s->x);
}

static void adam_dev_free(adam_dev *d, const char *what) {
  tlist *all[5] = {&d->p, &d->g, &d->m, &d->v, &d->x};
  for (int i = 0; i < 5; i++) {
    if (what) tlist_check_gaps(all[i], what);
    tlist_free(all[i]);
  }
}

static clnn_adam_desc adam_desc_of(const adam_case *c, int64_t step) {
  clnn_adam_desc d = clnn_adam_desc_make(c->lr, step);
  d.weight_decay = c->wd;
  d.amsgrad = c->amsgrad;
  d.maximize = c->maximize;
  d.grad_scale = c->scale;
  return d;
}

static clnn_status dev_adam(clnn_context *ctx, int adamw, const clnn_adam_desc *d, adam_dev *dv,
                            clnn_tensor *found) {
  return (adamw ? clnn_adamw_step : clnn_adam_step)(ctx, d, (size_t)dv->p.n, dv->p.t,
                                                    (const clnn_tensor *const *)dv->g.t, dv->m.t, dv->v.t,
                                                    d->amsgrad ? dv->x.t : NULL, found);
}

static clnn_status ref_adam(int adamw, const clnn_adam_desc *d, adam_state *r, const float *g, int *found) {
  return (adamw ? clnn_ref_adamw_step : clnn_ref_adam_step)(d, r->total, r->p, g, r->m, r->v,
                                                            d->amsgrad ? r->x : NULL, found);
}

/* Steps t0+1 .. t0+10 with a fresh gradient each; compare at t = 1, 2, 10. */
static void run_adam_case(clnn_context *ctx, const adam_case *c, uint64_t seed) {
  char what[256];
  adam_describe(c, what, sizeof what);
  size_t total = total_of(c->n, c->sizes);
  adam_state h, r;
  adam_state_init(&h, total, c->t0 > 0, seed);
  r = adam_state_copy(&h);
  adam_dev dv;
  adam_dev_make(&dv, ctx, c, &h);
  float *g = tu_alloc(total);
  for (int k = 1; k <= 10; k++) {
    tu_fill_normal(g, total, seed + 100 + (uint64_t)k, 0.0f, (float)c->scale);
    tlist_write(&dv.g, g);
    clnn_adam_desc d = adam_desc_of(c, c->t0 + k);
    TU_OK(dev_adam(ctx, c->adamw, &d, &dv, NULL));
    TU_OK(ref_adam(c->adamw, &d, &r, g, NULL));
    if (k == 1 || k == 2 || k == 10) {
      adam_dev_read(&dv, &h);
      expect_close(what, "param", k, h.p, r.p, total);
      expect_close(what, "m", k, h.m, r.m, total);
      expect_close(what, "v", k, h.v, r.v, total);
      if (c->amsgrad) expect_close(what, "vmax", k, h.x, r.x, total);
    }
  }
  adam_dev_free(&dv, what);
  free(g);
  adam_state_free(&h);
  adam_state_free(&r);
}

START_TEST(test_adam_steps) { run_adam_case(tu_ctx(), &adam_cases[_i], 1000 + 17 * (uint64_t)_i); }
END_TEST

/* The same problems with the GPU-class kernels (float4 per work-item, work-groups of 64). */
START_TEST(test_adam_steps_gpu_shape) {
  static const int picks[] = {3, 5, 6, 10, 12};
  clnn_context *ctx = gpu_shape_ctx("64");
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
    run_adam_case(ctx, &adam_cases[picks[i]], 5000 + (uint64_t)i);
  clnn_context_free(ctx);
}
END_TEST


/* Launches per call, counted by the profiler: an arena list of 161 tensors
 * is one launch, 161 separate tensors take ceil(161 / 8) = 21. */
static size_t launches_of(clnn_context *ctx) {
  size_t n = 0;
  TU_OK(clnn_profile_get(ctx, NULL, 0, &n));
  TU_OK(clnn_profile_reset(ctx));
  return n;
}

START_TEST(test_launch_counts) {
  clnn_context_options o = clnn_context_options_default();
  o.profiling = 1;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  enum { NT = 161 };
  int64_t sizes[NT];
  for (int i = 0; i < NT; i++) sizes[i] = 1 + (i * 37) % 200;
  clnn_tensor *found = NULL;
  int64_t one = 1;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &one, &found));
  for (int layout = L_ARENA; layout <= L_SEPARATE; layout++) {
    clnn_tensor *lists[4][NT];
    clnn_tensor *arenas[4] = {0};
    for (int r = 0; r < 4; r++) {
      int64_t total = 0;
      for (int i = 0; i < NT; i++) total += sizes[i];
      if (layout == L_ARENA) TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &total, &arenas[r]));
      size_t off = 0;
      for (int i = 0; i < NT; i++) {
        if (layout == L_ARENA)
          TU_OK(clnn_tensor_view(clnn_tensor_buffer(arenas[r]), off * 4, CLNN_FLOAT32, 1, &sizes[i], &lists[r][i]));
        else
          TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &sizes[i], &lists[r][i]));
        TU_OK(clnn_tensor_fill(lists[r][i], 0.5f));
        off += (size_t)sizes[i];
      }
    }
    launches_of(ctx);
    const size_t per_step = layout == L_ARENA ? 1 : (NT + 7) / 8;
    clnn_adam_desc d = clnn_adam_desc_make(1e-3, 1);
    const clnn_tensor *const *G = (const clnn_tensor *const *)lists[1];
    TU_OK(clnn_adamw_step(ctx, &d, NT, lists[0], G, lists[2], lists[3], NULL, NULL));
    ck_assert_uint_eq(launches_of(ctx), per_step);
    d.skip_nonfinite = 1; /* + the check over the same groups + one reduction */
    TU_OK(clnn_adamw_step(ctx, &d, NT, lists[0], G, lists[2], lists[3], NULL, found));
    ck_assert_uint_eq(launches_of(ctx), 2 * per_step + 1);
    clnn_sgd_desc s = clnn_sgd_desc_make(0.1, 2);
    s.momentum = 0.9;
    TU_OK(clnn_sgd_step(ctx, &s, NT, lists[0], G, lists[2], NULL));
    ck_assert_uint_eq(launches_of(ctx), per_step);
    TU_OK(clnn_ema_update(ctx, 0.99, NT, lists[2], (const clnn_tensor *const *)lists[0]));
    ck_assert_uint_eq(launches_of(ctx), per_step);
    TU_OK(clnn_clip_grad_norm(ctx, NT, lists[1], 1e-3, NULL)); /* partial sums, final sum, scaling */
    ck_assert_uint_eq(launches_of(ctx), 2 * per_step + 1);
    for (int r = 0; r < 4; r++) {
      for (int i = 0; i < NT; i++) clnn_tensor_free(lists[r][i]);
      clnn_tensor_free(arenas[r]);
    }
  }
  clnn_tensor_free(found);
  clnn_context_free(ctx);
}
END_TEST

/* ------------------------------------------------ independent double checks */

/*
 * With m = v = 0 and a constant gradient g, m_t / (1 - beta1^t) = g and
 * v_t / (1 - beta2^t) = g^2 exactly, so every step moves p by
 * -lr * g / (|g| + eps) (after AdamW's p *= 1 - lr * wd): a closed form that
 * does not share a line with the library. amsgrad changes nothing (v grows).
 */
START_TEST(test_adam_constant_gradient_closed_form) {
  clnn_context *ctx = tu_ctx();
  const int64_t sizes[3] = {5, 4097, 31};
  const size_t total = 5 + 4097 + 31;
  for (int variant = 0; variant < 4; variant++) {
    const int adamw = variant & 1, amsgrad = variant >> 1;
    adam_case c = {adamw, 3, {5, 4097, 31}, L_MIXED, 1e-2, adamw ? 0.1 : 0.0, amsgrad, 0, 1, 0};
    adam_state h;
    adam_state_init(&h, total, false, 77 + (uint64_t)variant);
    float *g = tu_alloc(total);
    tu_fill_uniform(g, total, 91, 0.5f, 2.0f);
    for (size_t i = 0; i < total; i += 2) g[i] = -g[i];
    double *want = malloc(total * sizeof *want);
    for (size_t i = 0; i < total; i++) want[i] = h.p[i];
    adam_dev dv;
    adam_dev_make(&dv, ctx, &c, &h);
    tlist_write(&dv.g, g);
    for (int t = 1; t <= 10; t++) {
      clnn_adam_desc d = adam_desc_of(&c, t);
      TU_OK(dev_adam(ctx, adamw, &d, &dv, NULL));
      for (size_t i = 0; i < total; i++) {
        if (adamw) want[i] *= 1.0 - c.lr * c.wd;
        want[i] -= c.lr * g[i] / (fabs((double)g[i]) + d.eps);
      }
    }
    adam_dev_read(&dv, &h);
    float *wf = tu_alloc(total);
    for (size_t i = 0; i < total; i++) wf[i] = (float)want[i];
    tu_cmp cmp;
    ck_assert_msg(tu_compare("adam constant gradient, closed form", h.p, wf, total, 1e-6, 1e-6, &cmp),
                  "variant %d differs from the closed form", variant);
    printf("  closed form (adamw %d amsgrad %d), t=10: max_abs %.3g rel_l2 %.3g\n", adamw, amsgrad,
           cmp.max_abs_err, cmp.rel_l2_err);
    (void)sizes;
    adam_dev_free(&dv, "closed form");
    free(wf);
    free(want);
    free(g);
    adam_state_free(&h);
  }
}
END_TEST

/* Textbook Adam / AdamW (the pseudo-code of torch.optim's documentation), in double. */
static void textbook_adam(int adamw, const clnn_adam_desc *d, size_t n, double *p, const double *g, double *m,
                          double *v, double *vmax) {
  for (size_t i = 0; i < n; i++) {
    double grad = d->maximize ? -g[i] : g[i];
    grad /= d->grad_scale;
    if (adamw) p[i] = p[i] - d->lr * d->weight_decay * p[i];
    else if (d->weight_decay != 0) grad = grad + d->weight_decay * p[i];
    m[i] = d->beta1 * m[i] + (1 - d->beta1) * grad;
    v[i] = d->beta2 * v[i] + (1 - d->beta2) * grad * grad;
    double m_hat = m[i] / (1 - pow(d->beta1, (double)d->step));
    double v_hat;
    if (d->amsgrad) {
      vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
      v_hat = vmax[i] / (1 - pow(d->beta2, (double)d->step));
    } else {
      v_hat = v[i] / (1 - pow(d->beta2, (double)d->step));
    }
    p[i] = p[i] - d->lr * m_hat / (sqrt(v_hat) + d->eps);
  }
}

/*
 * Textbook SGD in double, as torch.optim.SGD's code runs it (its documented
 * pseudo-code flips the sign at the update instead, which differs from the
 * code when maximize and weight decay meet; the code is what users get).
 */
static void textbook_sgd(const clnn_sgd_desc *d, size_t n, double *p, const double *g, double *b) {
  for (size_t i = 0; i < n; i++) {
    double grad = (d->maximize ? -g[i] : g[i]) / d->grad_scale;
    if (d->weight_decay != 0) grad += d->weight_decay * p[i];
    if (d->momentum != 0) {
      b[i] = d->step > 1 ? d->momentum * b[i] + (1 - d->dampening) * grad : grad;
      grad = d->nesterov ? grad + d->momentum * b[i] : b[i];
    }
    p[i] -= d->lr * grad;
  }
}

static double max_rel_diff(const double *a, const double *b, size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]) / (fabs(b[i]) + 1e-300);
    if (d > worst || isnan(d)) worst = d;
  }
  return worst;
}

static void fill_f64(double *d, size_t n, uint64_t seed, double lo, double hi) {
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) d[i] = tu_rng_uniform(&r, lo, hi);
}

/* The library's double reference (host/optim.c) equals the textbook in double. */
START_TEST(test_reference_matches_textbook) {
  enum { N = 257 };
  double p[2][N], g[N], m[2][N], v[2][N], x[2][N];
  for (int variant = 0; variant < 8; variant++) {
    const int adamw = variant & 1;
    clnn_adam_desc d = clnn_adam_desc_make(2e-3, 1);
    d.weight_decay = 0.05;
    d.amsgrad = (variant >> 1) & 1;
    d.maximize = (variant >> 2) & 1;
    d.grad_scale = 8.0;
    fill_f64(p[0], N, 1, -1, 1);
    fill_f64(m[0], N, 2, -0.1, 0.1);
    fill_f64(v[0], N, 3, 0, 0.01);
    fill_f64(x[0], N, 4, 0, 0.01);
    memcpy(p[1], p[0], sizeof p[0]);
    memcpy(m[1], m[0], sizeof m[0]);
    memcpy(v[1], v[0], sizeof v[0]);
    memcpy(x[1], x[0], sizeof x[0]);
    for (int t = 1; t <= 10; t++) {
      fill_f64(g, N, 10 + (uint64_t)t, -8, 8);
      d.step = t;
      TU_OK(clnn__ref_adam_step_f64(&d, adamw, N, p[0], g, m[0], v[0], x[0], NULL));
      textbook_adam(adamw, &d, N, p[1], g, m[1], v[1], x[1]);
    }
    double e = max_rel_diff(p[0], p[1], N);
    ck_assert_msg(e < 1e-12, "adam%s variant %d: reference vs textbook rel %.3g", adamw ? "w" : "", variant, e);
    ck_assert_msg(max_rel_diff(v[0], v[1], N) < 1e-12 && max_rel_diff(m[0], m[1], N) < 1e-12, "moments differ");
  }
  double b[2][N];
  for (int variant = 0; variant < 6; variant++) {
    clnn_sgd_desc d = clnn_sgd_desc_make(0.05, 1);
    d.momentum = variant == 0 ? 0.0 : 0.9;
    d.nesterov = variant == 2 || variant == 5;
    d.dampening = variant == 3 ? 0.25 : 0.0;
    d.weight_decay = variant >= 4 ? 1e-3 : 0.0;
    d.maximize = variant == 4;
    d.grad_scale = 2.0;
    fill_f64(p[0], N, 5, -1, 1);
    memcpy(p[1], p[0], sizeof p[0]);
    for (int t = 1; t <= 10; t++) {
      fill_f64(g, N, 30 + (uint64_t)t, -1, 1);
      d.step = t;
      TU_OK(clnn__ref_sgd_step_f64(&d, N, p[0], g, b[0], NULL));
      textbook_sgd(&d, N, p[1], g, b[1]);
    }
    double e = max_rel_diff(p[0], p[1], N);
    ck_assert_msg(e < 1e-12, "sgd variant %d: reference vs textbook rel %.3g", variant, e);
  }
}
END_TEST

/* AdamW and Adam with weight_decay = 0 are the same algorithm: same bits. */
START_TEST(test_adamw_wd0_equals_adam_bitwise) {
  clnn_context *ctx = tu_ctx();
  for (int amsgrad = 0; amsgrad <= 1; amsgrad++) {
    adam_case c = {0, 4, {9, 4097, 1, 300}, L_MIXED, 1e-3, 0.0, amsgrad, 0, 1, 4};
    size_t total = total_of(c.n, c.sizes);
    adam_state h;
    adam_state_init(&h, total, true, 300 + (uint64_t)amsgrad);
    adam_dev a, w;
    adam_dev_make(&a, ctx, &c, &h);
    adam_dev_make(&w, ctx, &c, &h);
    float *g = tu_alloc(total);
    adam_state ra = adam_state_copy(&h), rw = adam_state_copy(&h);
    for (int k = 1; k <= 5; k++) {
      tu_fill_normal(g, total, 400 + (uint64_t)k, 0, 1);
      tlist_write(&a.g, g);
      tlist_write(&w.g, g);
      clnn_adam_desc d = adam_desc_of(&c, c.t0 + k);
      TU_OK(dev_adam(ctx, 0, &d, &a, NULL));
      TU_OK(dev_adam(ctx, 1, &d, &w, NULL));
      TU_OK(ref_adam(0, &d, &ra, g, NULL));
      TU_OK(ref_adam(1, &d, &rw, g, NULL));
    }
    adam_state ha = adam_state_copy(&h), hw = adam_state_copy(&h);
    adam_dev_read(&a, &ha);
    adam_dev_read(&w, &hw);
    ck_assert_msg(same_bits(ha.p, hw.p, total) && same_bits(ha.m, hw.m, total) && same_bits(ha.v, hw.v, total) &&
                      same_bits(ha.x, hw.x, total),
                  "device: AdamW(wd=0) differs from Adam(wd=0) (amsgrad %d)", amsgrad);
    ck_assert_msg(same_bits(ra.p, rw.p, total), "reference: AdamW(wd=0) differs from Adam(wd=0)");
    adam_dev_free(&a, NULL);
    adam_dev_free(&w, NULL);
    adam_state_free(&ha);
    adam_state_free(&hw);
    adam_state_free(&ra);
    adam_state_free(&rw);
    adam_state_free(&h);
    free(g);
  }
}
END_TEST

/* Two runs of the same steps give the same bits. */
START_TEST(test_adam_deterministic) {
  clnn_context *ctx = tu_ctx();
  const adam_case *c = &adam_cases[5];
  size_t total = total_of(c->n, c->sizes);
  float *out[2];
  for (int run = 0; run < 2; run++) {
    adam_state h;
    adam_state_init(&h, total, true, 555);
    adam_dev dv;
    adam_dev_make(&dv, ctx, c, &h);
    float *g = tu_alloc(total);
    for (int k = 1; k <= 3; k++) {
      tu_fill_normal(g, total, 600 + (uint64_t)k, 0, 1);
      tlist_write(&dv.g, g);
      clnn_adam_desc d = adam_desc_of(c, c->t0 + k);
      TU_OK(dev_adam(ctx, 1, &d, &dv, NULL));
    }
    adam_dev_read(&dv, &h);
    out[run] = copy_of(h.p, total);
    adam_dev_free(&dv, NULL);
    adam_state_free(&h);
    free(g);
  }
  ck_assert_msg(same_bits(out[0], out[1], total), "two identical AdamW runs differ");
  free(out[0]);
  free(out[1]);
}
END_TEST

/* ------------------------------------------------- non-finite check, skip */

static int read_found(clnn_tensor *found) {
  int32_t v = -7;
  TU_OK(clnn_tensor_read(found, &v, sizeof v));
  return v;
}

static clnn_tensor *int_scalar(clnn_context *ctx) {
  int64_t one = 1;
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &one, &t));
  TU_OK(clnn_tensor_fill(t, -1.0f));
  return t;
}

/*
 * A NaN or Inf anywhere in any gradient of the list (vector body, tail,
 * first or last tensor) sets found_inf; with skip_nonfinite nothing at all
 * changes, without it the step goes on (NaN flows into that element only).
 * A finite list reports 0 and steps. The check uses the scaled gradient:
 * a finite gradient that overflows when divided by grad_scale counts.
 */
START_TEST(test_adam_skip_nonfinite) {
  for (int wg = 0; wg < 2; wg++) {
    clnn_context *ctx = wg ? gpu_shape_ctx("32") : tu_ctx();
    adam_case c = {1, 4, {19, 4113, 2, 77}, L_MIXED, 1e-3, 0.01, 1, 0, 1, 2};
    size_t total = total_of(c.n, c.sizes);
    const size_t bad_at[] = {0, 18, 19 + 5, 19 + 4100, 19 + 4113 + 1, total - 1};
    const float bad_val[] = {NAN, INFINITY, -INFINITY, NAN, INFINITY, NAN};
    clnn_tensor *found = int_scalar(ctx);
    for (size_t b = 0; b <= sizeof bad_at / sizeof bad_at[0]; b++) {
      const bool finite = b == sizeof bad_at / sizeof bad_at[0];
      adam_state h;
      adam_state_init(&h, total, true, 700 + b);
      adam_state before = adam_state_copy(&h);
      adam_dev dv;
      adam_dev_make(&dv, ctx, &c, &h);
      float *g = tu_alloc(total);
      tu_fill_normal(g, total, 800 + b, 0, 1);
      if (!finite) g[bad_at[b]] = bad_val[b];
      tlist_write(&dv.g, g);
      clnn_adam_desc d = adam_desc_of(&c, 3);
      d.skip_nonfinite = 1;
      TU_OK(dev_adam(ctx, 1, &d, &dv, found));
      ck_assert_int_eq(read_found(found), finite ? 0 : 1);
      int ref_found = -1;
      adam_state r = adam_state_copy(&before);
      TU_OK(ref_adam(1, &d, &r, g, &ref_found));
      ck_assert_int_eq(ref_found, finite ? 0 : 1);
      adam_dev_read(&dv, &h);
      if (finite) {
        expect_close("skip_nonfinite, finite gradients", "param", 1, h.p, r.p, total);
      } else {
        ck_assert_msg(same_bits(h.p, before.p, total) && same_bits(h.m, before.m, total) &&
                          same_bits(h.v, before.v, total) && same_bits(h.x, before.x, total),
                      "a skipped step changed the state (bad element %zu)", bad_at[b]);
        /* Without skip: the step runs; only the bad element becomes NaN. */
        d.skip_nonfinite = 0;
        TU_OK(dev_adam(ctx, 1, &d, &dv, found));
        ck_assert_int_eq(read_found(found), 1);
        adam_state r2 = adam_state_copy(&before);
        TU_OK(ref_adam(1, &d, &r2, g, NULL));
        adam_dev_read(&dv, &h);
        ck_assert_msg(isnan(h.p[bad_at[b]]), "the bad element did not become NaN");
        h.p[bad_at[b]] = r2.p[bad_at[b]] = 0.0f;
        expect_close("no skip, one bad element", "param", 1, h.p, r2.p, total);
        adam_state_free(&r2);
      }
      adam_dev_free(&dv, NULL);
      adam_state_free(&h);
      adam_state_free(&before);
      adam_state_free(&r);
      free(g);
    }
    /* Overflow by the scale: 3e38 / 0.5 is infinite in float. */
    {
      adam_state h;
      adam_state_init(&h, total, true, 900);
      adam_state before = adam_state_copy(&h);
      adam_dev dv;
      adam_dev_make(&dv, ctx, &c, &h);
      float *g = tu_alloc(total);
      tu_fill_normal(g, total, 901, 0, 1);
      g[4000] = 3e38f;
      tlist_write(&dv.g, g);
      clnn_adam_desc d = adam_desc_of(&c, 3);
      d.grad_scale = 0.5;
      d.skip_nonfinite = 1;
      TU_OK(dev_adam(ctx, 1, &d, &dv, found));
      ck_assert_int_eq(read_found(found), 1);
      adam_dev_read(&dv, &h);
      ck_assert(same_bits(h.p, before.p, total));
      adam_dev_free(&dv, NULL);
      adam_state_free(&h);
      adam_state_free(&before);
      free(g);
    }
    clnn_tensor_free(found);
    if (wg) clnn_context_free(ctx);
  }
}
END_TEST

/* -------------------------------------------------------------------- SGD */

typedef struct sgd_case {
  int n;
  int64_t sizes[MAXT];
  int layout;
  double lr, momentum, dampening, wd;
  int nesterov, maximize;
  double scale;
} sgd_case;

static const sgd_case sgd_cases[] = {
    {1, {1}, L_ARENA, 0.1, 0.0, 0.0, 0.0, 0, 0, 1},
    {1, {4099}, L_SEPARATE, 0.1, 0.9, 0.0, 1e-4, 1, 0, 1},
    {6, {7, 1, 16, 4099, 33, 9001}, L_ARENA, 0.05, 0.9, 0.0, 1e-4, 1, 0, 1},
    {6, {7, 1, 16, 4099, 33, 9001}, L_MIXED, 0.05, 0.9, 0.1, 0.0, 0, 1, 1},
    {5, {15, 8193, 3, 64, 130}, L_CROSS, 0.01, 0.5, 0.5, 5e-4, 0, 0, 128},
    {3, {333, 4096, 17}, L_SEPARATE, 0.2, 0.0, 0.0, 1e-3, 0, 1, 1},
};
#define N_SGD (int)(sizeof sgd_cases / sizeof sgd_cases[0])

static void run_sgd_case(clnn_context *ctx, const sgd_case *c, uint64_t seed) {
  char what[256];
  snprintf(what, sizeof what, "sgd n%zu tensors=%d lr=%g momentum=%g dampening=%g nesterov=%d wd=%g (%s)",
           total_of(c->n, c->sizes), c->n, c->lr, c->momentum, c->dampening, c->nesterov, c->wd,
           layout_names[c->layout]);
  size_t total = total_of(c->n, c->sizes);
  float *p = tu_alloc(total), *b = tu_nan_array(total), *g = tu_alloc(total);
  tu_fill_normal(p, total, seed, 0, 1);
  float *rp = copy_of(p, total), *rb = copy_of(b, total), *hp = tu_alloc(total), *hb = tu_alloc(total);
  tlist P, G, B;
  tlist_make(&P, ctx, c->n, c->sizes, c->layout, R_P, p);
  tlist_make(&G, ctx, c->n, c->sizes, c->layout, R_G, NULL);
  /* The buffer starts as NaN: step 1 must write it without reading it. */
  tlist_make(&B, ctx, c->n, c->sizes, c->layout, R_M, b);
  for (int k = 1; k <= 10; k++) {
    tu_fill_normal(g, total, seed + 10 + (uint64_t)k, 0, (float)c->scale);
    tlist_write(&G, g);
    clnn_sgd_desc d = clnn_sgd_desc_make(c->lr, k);
    d.momentum = c->momentum;
    d.dampening = c->dampening;
    d.weight_decay = c->wd;
    d.nesterov = c->nesterov;
    d.maximize = c->maximize;
    d.grad_scale = c->scale;
    TU_OK(clnn_sgd_step(ctx, &d, (size_t)c->n, P.t, (const clnn_tensor *const *)G.t, B.t, NULL));
    TU_OK(clnn_ref_sgd_step(&d, total, rp, g, rb, NULL));
    if (k == 1 || k == 2 || k == 10) {
      tlist_read(&P, hp);
      expect_close(what, "param", k, hp, rp, total);
      if (c->momentum != 0) {
        tlist_read(&B, hb);
        expect_close(what, "buf", k, hb, rb, total);
      }
    }
  }
  tlist_check_gaps(&P, what);
  tlist_check_gaps(&G, what);
  tlist_check_gaps(&B, what);
  tlist_free(&P);
  tlist_free(&G);
  tlist_free(&B);
  free(p), free(b), free(g), free(rp), free(rb), free(hp), free(hb);
}

START_TEST(test_sgd_steps) { run_sgd_case(tu_ctx(), &sgd_cases[_i], 2000 + 31 * (uint64_t)_i); }
END_TEST

START_TEST(test_sgd_gpu_shape_and_skip) {
  clnn_context *gpu = gpu_shape_ctx("64");
  run_sgd_case(gpu, &sgd_cases[2], 2500);
  run_sgd_case(gpu, &sgd_cases[4], 2600);
  clnn_context_free(gpu);
  clnn_context *ctx = tu_ctx();
  /* skip_nonfinite: a NaN gradient leaves parameters and buffers alone. */
  const int64_t sizes[2] = {100, 5000};
  float *p = tu_alloc(5100), *b = tu_alloc(5100), *g = tu_alloc(5100), *hp = tu_alloc(5100), *hb = tu_alloc(5100);
  tu_fill_normal(p, 5100, 1, 0, 1);
  tu_fill_normal(b, 5100, 2, 0, 1);
  tu_fill_normal(g, 5100, 3, 0, 1);
  g[5099] = NAN;
  tlist P, G, B;
  tlist_make(&P, ctx, 2, sizes, L_ARENA, R_P, p);
  tlist_make(&G, ctx, 2, sizes, L_ARENA, R_G, g);
  tlist_make(&B, ctx, 2, sizes, L_ARENA, R_M, b);
  clnn_tensor *found = int_scalar(ctx);
  clnn_sgd_desc d = clnn_sgd_desc_make(0.1, 3);
  d.momentum = 0.9;
  d.skip_nonfinite = 1;
  TU_OK(clnn_sgd_step(ctx, &d, 2, P.t, (const clnn_tensor *const *)G.t, B.t, found));
  ck_assert_int_eq(read_found(found), 1);
  tlist_read(&P, hp);
  tlist_read(&B, hb);
  ck_assert(same_bits(hp, p, 5100) && same_bits(hb, b, 5100));
  clnn_tensor_free(found);
  tlist_free(&P), tlist_free(&G), tlist_free(&B);
  free(p), free(b), free(g), free(hp), free(hb);
}
END_TEST

/* -------------------------------------------------------------- clipping */

/*
 * Norm and clipped gradients against the double reference; the norm gets
 * the same bits for every layout of the same list and on repeats; max_norm
 * above the norm leaves the gradients' bits alone; INFINITY only measures;
 * a NaN gradient makes everything NaN as in PyTorch.
 */
START_TEST(test_clip_grad_norm) {
  enum { NT = 19 };
  const int64_t sizes[NT] = {3, 4097, 1, 17, 250, 16, 31, 4096, 5, 8191, 2, 99, 1000, 7, 64, 129, 4095, 11, 300};
  const size_t total = total_of(NT, sizes);
  float *g = tu_alloc(total), *h = tu_alloc(total), *r = tu_alloc(total);
  tu_fill_normal(g, total, 42, 0.0f, 0.05f);
  int64_t one = 1;
  clnn_tensor *norm_t;
  double ref_norm = 0;
  for (size_t i = 0; i < total; i++) ref_norm += (double)g[i] * g[i];
  ref_norm = sqrt(ref_norm); /* about 0.05 * sqrt(22414) = 7.5 */
  const double max_norms[] = {1.0, 0.0, 100.0, INFINITY};
  float first_norm = 0, shape_norm[2] = {0, 0};
  for (int wg = 0; wg < 2; wg++) {
    clnn_context *ctx = wg ? gpu_shape_ctx("128") : tu_ctx();
    TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &one, &norm_t));
    for (int layout = 0; layout < 4; layout++) {
      for (size_t k = 0; k < sizeof max_norms / sizeof max_norms[0]; k++) {
        tlist G;
        tlist_make(&G, ctx, NT, sizes, layout, R_G, g);
        TU_OK(clnn_tensor_fill(norm_t, NAN));
        TU_OK(clnn_clip_grad_norm(ctx, NT, G.t, max_norms[k], norm_t));
        float got_norm;
        TU_OK(clnn_tensor_read(norm_t, &got_norm, sizeof got_norm));
        ck_assert_msg(fabs(got_norm - ref_norm) <= 1e-6 * ref_norm, "norm %.9g, double %.9g", got_norm, ref_norm);
        if (layout == 0 && k == 0) first_norm = shape_norm[wg] = got_norm;
        ck_assert_msg(got_norm == first_norm, "layout %s changed the norm's bits", layout_names[layout]);
        tlist_read(&G, h);
        memcpy(r, g, total * sizeof *r);
        float rn;
        TU_OK(clnn_ref_clip_grad_norm(total, r, max_norms[k], &rn));
        if (max_norms[k] >= ref_norm) ck_assert_msg(same_bits(h, g, total), "no clipping must leave the bits");
        else expect_close("clip_grad_norm", "grad", 1, h, r, total);
        tlist_check_gaps(&G, "clip_grad_norm");
        tlist_free(&G);
      }
    }
    clnn_tensor_free(norm_t);
    if (wg) clnn_context_free(ctx);
  }
  printf("  clip_grad_norm: norm %.9g (this suite's class), %.9g (GPU class, wg 128), double %.9g\n", shape_norm[0],
         shape_norm[1], ref_norm);
  clnn_context *ctx = tu_ctx();
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &one, &norm_t));
  /* NaN in one gradient: the norm is NaN and so is every gradient (PyTorch). */
  g[5000] = NAN;
  tlist G;
  tlist_make(&G, ctx, NT, sizes, L_ARENA, R_G, g);
  TU_OK(clnn_clip_grad_norm(ctx, NT, G.t, 1.0, norm_t));
  float got_norm;
  TU_OK(clnn_tensor_read(norm_t, &got_norm, sizeof got_norm));
  ck_assert(isnan(got_norm));
  tlist_read(&G, h);
  for (size_t i = 0; i < total; i++) ck_assert_msg(isnan(h[i]), "element %zu is not NaN", i);
  tlist_free(&G);
  clnn_tensor_free(norm_t);
  free(g), free(h), free(r);
}
END_TEST

/* -------------------------------------------------------------------- EMA */

START_TEST(test_ema_update) {
  const int64_t sizes[4] = {5, 4097, 1, 300};
  const size_t total = 5 + 4097 + 1 + 300;
  float *e = tu_alloc(total), *p = tu_alloc(total), *h = tu_alloc(total), *r = tu_alloc(total);
  tu_fill_normal(e, total, 1, 0, 1);
  tu_fill_normal(p, total, 2, 0, 1);
  const double decays[] = {0.999, 0.9, 0.5, 0.3, 0.0, 1.0};
  for (int wg = 0; wg < 2; wg++) {
    clnn_context *ctx = wg ? gpu_shape_ctx("16") : tu_ctx();
    for (size_t k = 0; k < sizeof decays / sizeof decays[0]; k++) {
      tlist E, P;
      tlist_make(&E, ctx, 4, sizes, L_MIXED, R_P, e);
      tlist_make(&P, ctx, 4, sizes, L_MIXED, R_G, p);
      memcpy(r, e, total * sizeof *r);
      for (int step = 0; step < 3; step++) {
        TU_OK(clnn_ema_update(ctx, decays[k], 4, E.t, (const clnn_tensor *const *)P.t));
        TU_OK(clnn_ref_ema_update(decays[k], total, r, p));
      }
      tlist_read(&E, h);
      if (decays[k] == 0.0) ck_assert_msg(same_bits(h, p, total), "decay 0 must copy the parameters");
      else if (decays[k] == 1.0) ck_assert_msg(same_bits(h, e, total), "decay 1 must keep the EMA");
      else expect_close("ema", "ema", 1, h, r, total);
      tlist_check_gaps(&E, "ema");
      tlist_free(&E);
      tlist_free(&P);
    }
    /* ema == p stays exactly p. */
    tlist E, P;
    tlist_make(&E, ctx, 4, sizes, L_ARENA, R_P, p);
    tlist_make(&P, ctx, 4, sizes, L_SEPARATE, R_G, p);
    TU_OK(clnn_ema_update(ctx, 0.7, 4, E.t, (const clnn_tensor *const *)P.t));
    tlist_read(&E, h);
    ck_assert_msg(same_bits(h, p, total), "the EMA of a constant must stay that constant");
    tlist_free(&E);
    tlist_free(&P);
    if (wg) clnn_context_free(ctx);
  }
  free(e), free(p), free(h), free(r);
}
END_TEST

/* ------------------------------------------------ GPU-class edge cases */

/* The op calls since the last check ran variant name with work-groups of wg. */
static void expect_variant(clnn_context *ctx, const char *name, size_t wg) {
  size_t got_wg = 0;
  const char *got = clnn_context_last_variant(ctx, &got_wg);
  ck_assert_msg(!strcmp(got, name) && got_wg == wg, "ran %s (wg %zu), expected %s (wg %zu)", got, got_wg, name, wg);
  clnn_context_clear_variants(ctx);
}

/* Clipping to half the norm of a random list: norm and gradients against the
 * reference, the gaps untouched, and a second run with the same bits. */
static void clip_case(clnn_context *ctx, int n, const int64_t *sizes, int layout, uint64_t seed) {
  const size_t total = total_of(n, sizes);
  float *g = tu_alloc(total), *h = tu_alloc(total), *r = tu_alloc(total);
  tu_fill_normal(g, total, seed, 0.0f, 0.1f);
  double ref_norm = 0;
  for (size_t i = 0; i < total; i++) ref_norm += (double)g[i] * g[i];
  ref_norm = sqrt(ref_norm);
  int64_t one = 1;
  clnn_tensor *norm_t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &one, &norm_t));
  float norms[2];
  for (int run = 0; run < 2; run++) {
    tlist G;
    tlist_make(&G, ctx, n, sizes, layout, R_G, g);
    TU_OK(clnn_clip_grad_norm(ctx, (size_t)n, G.t, 0.5 * ref_norm, norm_t));
    TU_OK(clnn_tensor_read(norm_t, &norms[run], sizeof norms[run]));
    tlist_read(&G, h);
    tlist_check_gaps(&G, "clip_grad_norm (GPU edges)");
    tlist_free(&G);
  }
  ck_assert_msg(fabs(norms[0] - ref_norm) <= 1e-6 * ref_norm, "norm %.9g, double %.9g", norms[0], ref_norm);
  ck_assert_msg(norms[0] == norms[1], "two runs gave norms %.9g and %.9g", norms[0], norms[1]);
  memcpy(r, g, total * sizeof *r);
  float rn;
  TU_OK(clnn_ref_clip_grad_norm(total, r, 0.5 * ref_norm, &rn));
  expect_close("clip_grad_norm (GPU edges)", "grad", 1, h, r, total);
  clnn_tensor_free(norm_t);
  free(g), free(h), free(r);
}

/* Two EMA steps of a random list against the reference. */
static void ema_case(clnn_context *ctx, int n, const int64_t *sizes, int layout, uint64_t seed) {
  const size_t total = total_of(n, sizes);
  float *e = tu_alloc(total), *p = tu_alloc(total), *h = tu_alloc(total);
  tu_fill_normal(e, total, seed, 0, 1);
  tu_fill_normal(p, total, seed + 1, 0, 1);
  tlist E, P;
  tlist_make(&E, ctx, n, sizes, layout, R_P, e);
  tlist_make(&P, ctx, n, sizes, layout, R_G, p);
  for (int step = 0; step < 2; step++) {
    TU_OK(clnn_ema_update(ctx, 0.9, (size_t)n, E.t, (const clnn_tensor *const *)P.t));
    TU_OK(clnn_ref_ema_update(0.9, total, e, p));
  }
  tlist_read(&E, h);
  expect_close("ema (GPU edges)", "ema", 1, h, e, total);
  tlist_check_gaps(&E, "ema (GPU edges)");
  tlist_free(&E);
  tlist_free(&P);
  free(e), free(p), free(h);
}

/*
 * GPU-class edge cases at the default work-group (256, block 4096): tensors
 * of 1-3 elements, sizes around 4, 256, 1024 (256 float4s) and the block,
 * none a multiple of 4 next to ones that are; arenas put them at offsets
 * off 16-byte alignment (GAP 3), separate buffers on it, the mixed layout
 * both in one launch. Each runs every optimizer and checks the variant ran.
 */
static const adam_case gpu_edge_cases[] = {
    {1, 12, {1, 2, 3, 4, 5, 255, 256, 257, 1023, 1024, 1025, 4097}, L_ARENA, 1e-3, 0.01, 1, 0, 1, 0},
    {0, 12, {1, 2, 3, 4, 5, 255, 256, 257, 1023, 1024, 1025, 4097}, L_SEPARATE, 1e-3, 0.01, 0, 1, 8, 3},
    {1, 12, {4096, 3, 4095, 1, 8192, 7, 16, 17, 1021, 2, 260, 8193}, L_MIXED, 2e-3, 0.1, 1, 1, 1, 0},
};

START_TEST(test_gpu_variant_edges) {
  clnn_context *ctx = gpu_shape_ctx(NULL);
  for (size_t i = 0; i < sizeof gpu_edge_cases / sizeof gpu_edge_cases[0]; i++) {
    const adam_case *c = &gpu_edge_cases[i];
    clnn_context_clear_variants(ctx);
    run_adam_case(ctx, c, 5100 + (uint64_t)i);
    expect_variant(ctx, "optim.adam.gpu_vec4", 256);
    sgd_case sc = {c->n, {0}, c->layout, 0.05, 0.9, 0.1 * (double)i, 1e-4, 0, (int)i & 1, c->scale};
    memcpy(sc.sizes, c->sizes, sizeof sc.sizes);
    run_sgd_case(ctx, &sc, 5200 + (uint64_t)i);
    expect_variant(ctx, "optim.sgd.gpu_vec4", 256);
    clip_case(ctx, c->n, c->sizes, c->layout, 5300 + (uint64_t)i);
    expect_variant(ctx, "optim.clip.gpu_vec4", 256);
    ema_case(ctx, c->n, c->sizes, c->layout, 5400 + (uint64_t)i);
    expect_variant(ctx, "optim.ema.gpu_vec4", 256);
  }
  clnn_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------- bad arguments */

/* A small valid Adam problem to break one argument at a time. */
typedef struct bad_fixture {
  clnn_tensor *p[2], *g[2], *m[2], *v[2], *x[2];
  clnn_tensor *arena; /* p[1] and m[1] live here, for aliasing cases */
  clnn_tensor *found;
  float before[64];
} bad_fixture;

static bad_fixture bf;

static void bad_setup(void) {
  clnn_context *ctx = tu_ctx();
  const int64_t n0 = 13, n1 = 20, an = 64;
  float data[64];
  tu_fill_normal(data, 64, 9, 0, 1);
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &an, &bf.arena));
  TU_OK(clnn_tensor_write(bf.arena, data, sizeof data));
  memcpy(bf.before, data, sizeof data);
  clnn_tensor **all[5] = {bf.p, bf.g, bf.m, bf.v, bf.x};
  for (int r = 0; r < 5; r++) {
    all[r][0] = tu_tensor(1, &n0, data);
    all[r][1] = tu_tensor(1, &n1, data);
  }
  clnn_tensor_free(bf.p[1]);
  clnn_tensor_free(bf.m[1]);
  TU_OK(clnn_tensor_view(clnn_tensor_buffer(bf.arena), 0, CLNN_FLOAT32, 1, &n1, &bf.p[1]));
  TU_OK(clnn_tensor_view(clnn_tensor_buffer(bf.arena), 32 * sizeof(float), CLNN_FLOAT32, 1, &n1, &bf.m[1]));
  bf.found = int_scalar(ctx);
}

static void bad_teardown(void) {
  clnn_tensor **all[5] = {bf.p, bf.g, bf.m, bf.v, bf.x};
  for (int r = 0; r < 5; r++) {
    clnn_tensor_free(all[r][0]);
    clnn_tensor_free(all[r][1]);
  }
  clnn_tensor_free(bf.arena);
  clnn_tensor_free(bf.found);
  memset(&bf, 0, sizeof bf);
}

static clnn_status bf_adamw(const clnn_adam_desc *d) {
  return clnn_adamw_step(tu_ctx(), d, 2, bf.p, (const clnn_tensor *const *)bf.g, bf.m, bf.v, bf.x, bf.found);
}

/* Nothing was written: the arena (p[1], m[1]) is as set up. */
static void expect_untouched(void) {
  float now[64];
  TU_OK(clnn_tensor_read(bf.arena, now, sizeof now));
  ck_assert_msg(same_bits(now, bf.before, 64), "a failed call wrote to its tensors");
  ck_assert_int_eq(read_found(bf.found), -1);
}

static void expect_fails(clnn_status want, clnn_status got, const char *what) {
  ck_assert_msg(got == want, "%s: got %s, expected %s (%s)", what, clnn_status_name(got), clnn_status_name(want),
                clnn_context_errmsg(tu_ctx()));
  ck_assert_msg(strlen(clnn_context_errmsg(tu_ctx())) > 0, "%s: no message", what);
  expect_untouched();
}

START_TEST(test_bad_descriptors) {
  const clnn_adam_desc good = clnn_adam_desc_make(1e-3, 1);
  TU_OK(bf_adamw(&good)); /* the fixture is valid (then reset the arena) */
  TU_OK(clnn_tensor_write(bf.arena, bf.before, sizeof bf.before));
  TU_OK(clnn_tensor_fill(bf.found, -1.0f));
  clnn_adam_desc d;
#define TRY_BAD(stmt, label)                                  \
  do {                                                        \
    d = good;                                                 \
    stmt;                                                     \
    expect_fails(CLNN_ERR_INVALID_VALUE, bf_adamw(&d), label); \
    ck_assert_int_eq(clnn_adam_desc_check(&d), CLNN_ERR_INVALID_VALUE); \
  } while (0)
  TRY_BAD(d.lr = -1e-3, "negative lr");
  TRY_BAD(d.lr = NAN, "NaN lr");
  TRY_BAD(d.lr = INFINITY, "infinite lr");
  TRY_BAD(d.eps = -1e-8, "negative eps");
  TRY_BAD(d.beta1 = 1.0, "beta1 = 1");
  TRY_BAD(d.beta1 = -0.1, "negative beta1");
  TRY_BAD(d.beta2 = 1.5, "beta2 > 1");
  TRY_BAD(d.beta2 = NAN, "NaN beta2");
  TRY_BAD(d.weight_decay = -0.01, "negative weight decay");
  TRY_BAD(d.step = 0, "step 0");
  TRY_BAD(d.step = -3, "negative step");
  TRY_BAD(d.grad_scale = 0, "grad_scale 0");
  TRY_BAD(d.grad_scale = -2, "negative grad_scale");
  TRY_BAD(d.grad_scale = INFINITY, "infinite grad_scale");
  TRY_BAD(d.amsgrad = 2, "amsgrad 2");
  TRY_BAD(d.maximize = -1, "maximize -1");
  TRY_BAD(d.skip_nonfinite = 5, "skip 5");
  TRY_BAD((d.lr = 1e35, d.beta1 = 0.999999, d.step = 1), "step size over float range");
#undef TRY_BAD
  ck_assert_int_eq(clnn_adam_desc_check(NULL), CLNN_ERR_NULL_POINTER);
  expect_fails(CLNN_ERR_NULL_POINTER, bf_adamw(NULL), "NULL desc");

  clnn_sgd_desc s = clnn_sgd_desc_make(0.1, 1);
  TU_OK(clnn_sgd_desc_check(&s));
  s.nesterov = 1;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE); /* no momentum */
  s.momentum = 0.9;
  TU_OK(clnn_sgd_desc_check(&s));
  s.dampening = 0.1;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE); /* nesterov with dampening */
  s = clnn_sgd_desc_make(-0.1, 1);
  expect_fails(CLNN_ERR_INVALID_VALUE,
               clnn_sgd_step(tu_ctx(), &s, 2, bf.p, (const clnn_tensor *const *)bf.g, bf.m, bf.found),
               "sgd negative lr");
  s = clnn_sgd_desc_make(0.1, 1);
  s.momentum = -0.5;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE);
  s.momentum = 0.5;
  s.weight_decay = -1;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE);
  s.weight_decay = 0;
  s.dampening = NAN;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE);
  s.dampening = 0;
  s.step = 0;
  ck_assert_int_eq(clnn_sgd_desc_check(&s), CLNN_ERR_INVALID_VALUE);

  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_ema_update(tu_ctx(), 1.5, 2, bf.p, (const clnn_tensor *const *)bf.g),
               "ema decay 1.5");
  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_ema_update(tu_ctx(), NAN, 2, bf.p, (const clnn_tensor *const *)bf.g),
               "ema decay NaN");
  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_clip_grad_norm(tu_ctx(), 2, bf.p, -1.0, NULL), "clip negative max_norm");
  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_clip_grad_norm(tu_ctx(), 2, bf.p, NAN, NULL), "clip NaN max_norm");

  /* The references validate the same way. */
  float p = 1, g = 1, m = 0, v = 0;
  d = good;
  d.beta2 = 1.0;
  ck_assert_int_eq(clnn_ref_adamw_step(&d, 1, &p, &g, &m, &v, NULL, NULL), CLNN_ERR_INVALID_VALUE);
  ck_assert_int_eq(clnn_ref_adam_step(&good, 1, NULL, &g, &m, &v, NULL, NULL), CLNN_ERR_NULL_POINTER);
  d = good;
  d.amsgrad = 1;
  ck_assert_int_eq(clnn_ref_adam_step(&d, 1, &p, &g, &m, &v, NULL, NULL), CLNN_ERR_NULL_POINTER);
  ck_assert_int_eq(clnn_ref_ema_update(-0.5, 1, &p, &g), CLNN_ERR_INVALID_VALUE);
  ck_assert_int_eq(clnn_ref_clip_grad_norm(1, &g, -1, NULL), CLNN_ERR_INVALID_VALUE);
}
END_TEST

START_TEST(test_bad_lists) {
  clnn_context *ctx = tu_ctx();
  clnn_adam_desc d = clnn_adam_desc_make(1e-3, 1);
  d.amsgrad = 1;
  const clnn_tensor *const *G = (const clnn_tensor *const *)bf.g;
  ck_assert_int_eq(clnn_adamw_step(NULL, &d, 2, bf.p, G, bf.m, bf.v, bf.x, NULL), CLNN_ERR_NULL_POINTER);
  ck_assert_msg(strlen(clnn_context_errmsg(NULL)) > 0, "NULL ctx: no message");
  expect_fails(CLNN_ERR_NULL_POINTER, clnn_adamw_step(ctx, &d, 2, NULL, G, bf.m, bf.v, bf.x, NULL), "NULL params");
  expect_fails(CLNN_ERR_NULL_POINTER, clnn_adamw_step(ctx, &d, 2, bf.p, NULL, bf.m, bf.v, bf.x, NULL), "NULL grads");
  expect_fails(CLNN_ERR_NULL_POINTER, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, bf.v, NULL, NULL),
               "amsgrad without max_exp_avg_sqs");
  clnn_tensor *with_null[2] = {bf.v[0], NULL};
  expect_fails(CLNN_ERR_NULL_POINTER, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, with_null, bf.x, NULL),
               "NULL list entry");

  /* Mismatched sizes: v[1] has 13 elements where p[1] has 20. */
  clnn_tensor *short_v[2] = {bf.v[0], bf.v[0]};
  expect_fails(CLNN_ERR_SHAPE_MISMATCH, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, short_v, bf.x, NULL),
               "mismatched sizes");
  /* Wrong dtype. */
  int64_t n1 = 20, two = 2;
  clnn_tensor *ints;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &n1, &ints));
  clnn_tensor *int_g[2] = {bf.g[0], ints};
  expect_fails(CLNN_ERR_INVALID_VALUE,
               clnn_adamw_step(ctx, &d, 2, bf.p, (const clnn_tensor *const *)int_g, bf.m, bf.v, bf.x, NULL),
               "int32 gradient");
  /* found_inf: int32 of one element. */
  clnn_tensor *f2;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &two, &f2));
  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, bf.v, bf.x, f2),
               "found_inf of two elements");
  expect_fails(CLNN_ERR_INVALID_VALUE, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, bf.v, bf.x, bf.g[0]),
               "float found_inf");
  /* Aliasing: a parameter listed twice, a gradient equal to a parameter,
   * state overlapping a parameter inside one arena, overlapping gradients
   * of a clipping call. */
  clnn_tensor *twice[2] = {bf.p[1], bf.p[1]};
  clnn_tensor *g1_twice[2] = {bf.g[1], bf.g[1]};
  clnn_sgd_desc plain = clnn_sgd_desc_make(0.1, 1);
  expect_fails(CLNN_ERR_ALIASING,
               clnn_sgd_step(ctx, &plain, 2, twice, (const clnn_tensor *const *)g1_twice, NULL, NULL),
               "a parameter listed twice");
  clnn_tensor *p_as_g[2] = {bf.p[0], bf.p[1]};
  expect_fails(CLNN_ERR_ALIASING,
               clnn_adamw_step(ctx, &d, 2, bf.p, (const clnn_tensor *const *)p_as_g, bf.m, bf.v, bf.x, NULL),
               "gradient == parameter");
  clnn_tensor *wide;
  TU_OK(clnn_tensor_view(clnn_tensor_buffer(bf.arena), 10 * sizeof(float), CLNN_FLOAT32, 1, &n1, &wide));
  clnn_tensor *m_over[2] = {bf.m[0], wide};
  expect_fails(CLNN_ERR_ALIASING, clnn_adamw_step(ctx, &d, 2, bf.p, G, m_over, bf.v, bf.x, NULL),
               "state overlapping a parameter in an arena");
  clnn_tensor *g_over[2] = {bf.p[1], wide};
  expect_fails(CLNN_ERR_ALIASING, clnn_clip_grad_norm(ctx, 2, g_over, 1.0, NULL), "gradients overlapping");
  /* Read-only gradients may overlap: the same gradient for two parameters is legal. */
  clnn_tensor *two_params[2] = {bf.v[1], bf.x[1]};
  TU_OK(clnn_sgd_step(ctx, &plain, 2, two_params, (const clnn_tensor *const *)g1_twice, NULL, NULL));
  /* Context mismatch. */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *foreign;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 1, &n1, &foreign));
  clnn_tensor *f_list[2] = {bf.v[0], foreign};
  expect_fails(CLNN_ERR_CONTEXT_MISMATCH, clnn_adamw_step(ctx, &d, 2, bf.p, G, bf.m, f_list, bf.x, NULL),
               "tensor of another context");
  clnn_tensor_free(foreign);
  clnn_context_free(other);
  /* SGD needs buffers with momentum; EMA lists must match. */
  clnn_sgd_desc s = clnn_sgd_desc_make(0.1, 1);
  s.momentum = 0.9;
  expect_fails(CLNN_ERR_NULL_POINTER, clnn_sgd_step(ctx, &s, 2, bf.p, G, NULL, NULL), "sgd momentum without buffers");
  expect_fails(CLNN_ERR_SHAPE_MISMATCH, clnn_ema_update(ctx, 0.9, 2, bf.p, (const clnn_tensor *const *)short_v),
               "ema sizes");
  /* count == 0 is a no-op that reports no non-finite gradient. */
  TU_OK(clnn_adamw_step(ctx, &d, 0, NULL, NULL, NULL, NULL, NULL, bf.found));
  ck_assert_int_eq(read_found(bf.found), 0);
  TU_OK(clnn_tensor_fill(bf.found, -1.0f));
  TU_OK(clnn_clip_grad_norm(ctx, 0, NULL, 1.0, NULL));
  TU_OK(clnn_ema_update(ctx, 0.9, 0, NULL, NULL));
  clnn_tensor_free(wide);
  clnn_tensor_free(ints);
  clnn_tensor_free(f2);
}
END_TEST

/* ------------------------------------------------------- half precision */

/*
 * Mixed precision: float32 master parameters, float16 or bfloat16
 * gradients, float32 or bfloat16 state, and an optional float16 or bfloat16
 * model copy. Each step starts from the device's state as read back (so the
 * reference sees the same rounded inputs) and checks: the master against
 * the reference as in float32, bfloat16 state against the reference
 * rounded once (tu_check_half), the model copy bit for bit equal to the
 * device's new master rounded once, and within an ulp of the reference.
 * Copies start poisoned (NaN), so an unwritten element fails.
 */
#define NO_COPY CLNN_INT32 /* "no model copy" in a case's copy type */

typedef struct half_types {
  clnn_dtype g, s, c; /* gradient, state, copy (NO_COPY: none) */
} half_types;

/* Every gradient type with and without bfloat16 state, with no copy and
 * with each copy type. */
static const half_types half_type_sets[] = {
    {CLNN_FLOAT16, CLNN_FLOAT32, NO_COPY},      {CLNN_FLOAT16, CLNN_BFLOAT16, NO_COPY},
    {CLNN_FLOAT16, CLNN_FLOAT32, CLNN_FLOAT16}, {CLNN_FLOAT16, CLNN_BFLOAT16, CLNN_FLOAT16},
    {CLNN_FLOAT16, CLNN_BFLOAT16, CLNN_BFLOAT16}, {CLNN_BFLOAT16, CLNN_FLOAT32, NO_COPY},
    {CLNN_BFLOAT16, CLNN_BFLOAT16, NO_COPY},    {CLNN_BFLOAT16, CLNN_FLOAT32, CLNN_BFLOAT16},
    {CLNN_BFLOAT16, CLNN_BFLOAT16, CLNN_BFLOAT16}, {CLNN_BFLOAT16, CLNN_FLOAT32, CLNN_FLOAT16},
    {CLNN_FLOAT32, CLNN_BFLOAT16, CLNN_BFLOAT16},
};
#define N_HALF_TYPES (int)(sizeof half_type_sets / sizeof half_type_sets[0])

static void half_types_name(const half_types *t, char *buf, size_t n) {
  snprintf(buf, n, "grads %s, state %s, copy %s", clnn_dtype_name(t->g), clnn_dtype_name(t->s),
           t->c == NO_COPY ? "none" : clnn_dtype_name(t->c));
}

static double max_abs(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
  return m;
}

/* A state output: float32 as expect_close, bfloat16 against the reference
 * rounded once (absolute slack for elements that cancel, as expect_close). */
static void expect_state(const char *what, const char *name, int t, clnn_dtype dt, const float *got,
                         const float *ref, size_t n) {
  if (dt == CLNN_FLOAT32) expect_close(what, name, t, got, ref, n);
  else tu_check_half(what, name, got, ref, n, dt, 1e-6 * max_abs(ref, n));
}

/* The model copy: exactly the device's new master rounded once, and within
 * an ulp of the reference's. */
static void expect_copy(const char *what, clnn_dtype dt, const float *copy, const float *master,
                        const float *ref_master, size_t n) {
  float *want = copy_of(master, n);
  tu_round_to(dt, want, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(!memcmp(&copy[i], &want[i], sizeof(float)), "%s: copy[%zu] = %.9g, master %.9g rounds to %.9g",
                  what, i, (double)copy[i], (double)master[i], (double)want[i]);
  tu_check_half(what, "model copy", copy, ref_master, n, dt, 1e-6 * max_abs(ref_master, n));
  free(want);
}

/* Gradients of type dt: normal(0, sigma) rounded to dt (what the device holds). */
static void half_grads(float *g, size_t n, uint64_t seed, float sigma, clnn_dtype dt) {
  tu_fill_normal(g, n, seed, 0.0f, sigma);
  tu_round_to(dt, g, n);
}

typedef struct half_adam_case {
  int adamw, n;
  int64_t sizes[MAXT];
  int layout, amsgrad;
  double wd, scale;
} half_adam_case;

static const half_adam_case half_adam_cases[] = {
    {1, 6, {7, 1, 16, 4099, 33, 9001}, L_MIXED, 0, 0.01, 1},
    {0, 5, {15, 8193, 3, 64, 130}, L_CROSS, 1, 0.1, 1024},
    {1, 3, {333, 4097, 17}, L_SEPARATE, 1, 0.05, 3},
};
#define N_HALF_ADAM (int)(sizeof half_adam_cases / sizeof half_adam_cases[0])

static clnn_status half_adam_dev(clnn_context *ctx, const half_adam_case *c, const clnn_adam_desc *d, adam_dev *dv,
                                 tlist *copy, clnn_tensor *found) {
  clnn_tensor *const *copies = copy ? copy->t : NULL;
  return (c->adamw ? clnn_adamw_step_copy : clnn_adam_step_copy)(ctx, d, (size_t)dv->p.n, dv->p.t,
                                                                 (const clnn_tensor *const *)dv->g.t, dv->m.t,
                                                                 dv->v.t, d->amsgrad ? dv->x.t : NULL, copies, found);
}

/* Three steps of one case in one type set; the last is run twice from the
 * same state and must give the same bits. */
static void run_half_adam(clnn_context *ctx, const half_adam_case *c, const half_types *ty, uint64_t seed) {
  char what[320], tn[96];
  half_types_name(ty, tn, sizeof tn);
  snprintf(what, sizeof what, "%s n%zu tensors=%d amsgrad=%d scale=%g (%s), %s", c->adamw ? "adamw" : "adam",
           total_of(c->n, c->sizes), c->n, c->amsgrad, c->scale, layout_names[c->layout], tn);
  const size_t total = total_of(c->n, c->sizes);
  adam_state h, r, a;
  adam_state_init(&h, total, true, seed);
  adam_state_init(&a, total, false, seed);
  adam_dev dv;
  tlist_make(&dv.p, ctx, c->n, c->sizes, c->layout, R_P, h.p);
  tlist_make_dt(&dv.g, ctx, ty->g, c->n, c->sizes, c->layout, R_G, NULL);
  tlist_make_dt(&dv.m, ctx, ty->s, c->n, c->sizes, c->layout, R_M, h.m);
  tlist_make_dt(&dv.v, ctx, ty->s, c->n, c->sizes, c->layout, R_V, h.v);
  tlist_make_dt(&dv.x, ctx, ty->s, c->n, c->sizes, c->layout, R_X, h.x);
  tlist copy;
  float *nan = tu_nan_array(total), *gc = tu_alloc(total), *g = tu_alloc(total);
  if (ty->c != NO_COPY) tlist_make_dt(&copy, ctx, ty->c, c->n, c->sizes, c->layout, R_P, nan);
  for (int k = 1; k <= 3; k++) {
    half_grads(g, total, seed + 50 + (uint64_t)k, (float)c->scale, ty->g);
    tlist_write(&dv.g, g);
    adam_dev_read(&dv, &h); /* the state as the device holds it */
    r = adam_state_copy(&h);
    adam_case ac = {c->adamw, c->n, {0}, c->layout, 1e-3, c->wd, c->amsgrad, 0, c->scale, 0};
    clnn_adam_desc d = adam_desc_of(&ac, 5 + k);
    TU_OK(half_adam_dev(ctx, c, &d, &dv, ty->c != NO_COPY ? &copy : NULL, NULL));
    TU_OK(ref_adam(c->adamw, &d, &r, g, NULL));
    adam_dev_read(&dv, &a);
    expect_close(what, "param", k, a.p, r.p, total);
    expect_state(what, "m", k, ty->s, a.m, r.m, total);
    expect_state(what, "v", k, ty->s, a.v, r.v, total);
    if (c->amsgrad) expect_state(what, "vmax", k, ty->s, a.x, r.x, total);
    if (ty->c != NO_COPY) {
      tlist_read(&copy, gc);
      expect_copy(what, ty->c, gc, a.p, r.p, total);
    }
    if (k == 3) { /* again from the same state: the same bits */
      adam_state b = adam_state_copy(&a);
      tlist_write(&dv.p, h.p), tlist_write(&dv.m, h.m), tlist_write(&dv.v, h.v), tlist_write(&dv.x, h.x);
      if (ty->c != NO_COPY) tlist_write(&copy, nan);
      TU_OK(half_adam_dev(ctx, c, &d, &dv, ty->c != NO_COPY ? &copy : NULL, NULL));
      adam_dev_read(&dv, &b);
      ck_assert_msg(same_bits(a.p, b.p, total) && same_bits(a.m, b.m, total) && same_bits(a.v, b.v, total) &&
                        same_bits(a.x, b.x, total),
                    "%s: a repeat changed the bits", what);
      if (ty->c != NO_COPY) {
        float *gc2 = tu_alloc(total);
        tlist_read(&copy, gc2);
        ck_assert_msg(same_bits(gc, gc2, total), "%s: a repeat changed the copy's bits", what);
        free(gc2);
      }
      adam_state_free(&b);
    }
    adam_state_free(&r);
  }
  if (ty->c != NO_COPY) {
    tlist_check_gaps(&copy, what);
    tlist_free(&copy);
  }
  adam_dev_free(&dv, what);
  adam_state_free(&h);
  adam_state_free(&a);
  free(nan), free(gc), free(g);
}

START_TEST(test_half_adam) {
  for (int t = 0; t < N_HALF_TYPES; t++)
    run_half_adam(tu_ctx(), &half_adam_cases[_i], &half_type_sets[t], 7000 + 13 * (uint64_t)(_i * N_HALF_TYPES + t));
}
END_TEST

/* The GPU-class kernels (float4 per work-item) at work-groups of 64. */
START_TEST(test_half_adam_gpu_shape) {
  clnn_context *ctx = gpu_shape_ctx("64");
  for (int t = 0; t < N_HALF_TYPES; t++) run_half_adam(ctx, &half_adam_cases[t % N_HALF_ADAM], &half_type_sets[t], 7500 + (uint64_t)t);
  expect_variant(ctx, "optim.adam.gpu_vec4", 64);
  clnn_context_free(ctx);
}
END_TEST

/* SGD (momentum in float32 or bfloat16, Nesterov, weight decay) in each
 * type set, CPU and GPU class; the buffer starts NaN (step 1 writes it
 * without reading it). */
static void run_half_sgd(clnn_context *ctx, const half_types *ty, int nesterov, uint64_t seed) {
  static const int64_t sizes[5] = {15, 8193, 3, 64, 130};
  const size_t total = total_of(5, sizes);
  char what[256], tn[96];
  half_types_name(ty, tn, sizeof tn);
  snprintf(what, sizeof what, "sgd nesterov=%d %s", nesterov, tn);
  float *p = tu_alloc(total), *g = tu_alloc(total), *nan = tu_nan_array(total);
  float *hp = tu_alloc(total), *hb = tu_alloc(total), *rp = tu_alloc(total), *rb = tu_alloc(total);
  float *gc = tu_alloc(total);
  tu_fill_normal(p, total, seed, 0, 1);
  tlist P, G, B, C;
  tlist_make(&P, ctx, 5, sizes, L_MIXED, R_P, p);
  tlist_make_dt(&G, ctx, ty->g, 5, sizes, L_MIXED, R_G, NULL);
  tlist_make_dt(&B, ctx, ty->s, 5, sizes, L_MIXED, R_M, nan);
  if (ty->c != NO_COPY) tlist_make_dt(&C, ctx, ty->c, 5, sizes, L_MIXED, R_P, nan);
  for (int k = 1; k <= 3; k++) {
    half_grads(g, total, seed + (uint64_t)k, 1.0f, ty->g);
    tlist_write(&G, g);
    tlist_read(&P, rp);
    tlist_read(&B, rb);
    clnn_sgd_desc d = clnn_sgd_desc_make(0.05, k);
    d.momentum = 0.9;
    d.nesterov = nesterov;
    d.dampening = nesterov ? 0.0 : 0.1;
    d.weight_decay = 1e-4;
    TU_OK(clnn_sgd_step_copy(ctx, &d, 5, P.t, (const clnn_tensor *const *)G.t, B.t, ty->c != NO_COPY ? C.t : NULL,
                             NULL));
    TU_OK(clnn_ref_sgd_step(&d, total, rp, g, rb, NULL));
    tlist_read(&P, hp);
    tlist_read(&B, hb);
    expect_close(what, "param", k, hp, rp, total);
    expect_state(what, "buf", k, ty->s, hb, rb, total);
    if (ty->c != NO_COPY) {
      tlist_read(&C, gc);
      expect_copy(what, ty->c, gc, hp, rp, total);
    }
  }
  tlist_check_gaps(&P, what), tlist_check_gaps(&G, what), tlist_check_gaps(&B, what);
  tlist_free(&P), tlist_free(&G), tlist_free(&B);
  if (ty->c != NO_COPY) {
    tlist_check_gaps(&C, what);
    tlist_free(&C);
  }
  free(p), free(g), free(nan), free(hp), free(hb), free(rp), free(rb), free(gc);
}

START_TEST(test_half_sgd) {
  clnn_context *gpu = gpu_shape_ctx("32");
  for (int t = 0; t < N_HALF_TYPES; t++) {
    run_half_sgd(tu_ctx(), &half_type_sets[t], t % 2, 8000 + (uint64_t)t);
    run_half_sgd(gpu, &half_type_sets[t], (t + 1) % 2, 8100 + (uint64_t)t);
  }
  clnn_context_free(gpu);
}
END_TEST

/*
 * Non-finite half gradients: a float16 gradient that overflowed (70000
 * rounds to inf), an infinity, a NaN, in the vector body or the tail, in
 * either shape: found_inf is 1 and with skip_nonfinite nothing changes, the
 * model copy included. Gradients that are finite in the type step.
 */
START_TEST(test_half_skip_nonfinite) {
  static const int64_t sizes[3] = {19, 4113, 77};
  const size_t total = 19 + 4113 + 77;
  const size_t bad_at[] = {3, 19 + 4100, total - 1};
  const float bad_val[] = {70000.0f, -INFINITY, NAN};
  for (int shape = 0; shape < 2; shape++) {
    clnn_context *ctx = shape ? gpu_shape_ctx("32") : tu_ctx();
    for (int ti = 0; ti < TU_N_HALF_TYPES; ti++) {
      const clnn_dtype dt = tu_half_types[ti];
      float *p = tu_alloc(total), *m = tu_alloc(total), *v = tu_alloc(total), *g = tu_alloc(total);
      float *c0 = tu_alloc(total), *h = tu_alloc(total);
      tu_fill_normal(p, total, 1, 0, 1);
      tu_fill_normal(m, total, 2, 0, 0.1f);
      tu_fill_uniform(v, total, 3, 0, 0.01f);
      tu_round_to(CLNN_BFLOAT16, m, total);
      tu_round_to(CLNN_BFLOAT16, v, total);
      memcpy(c0, p, total * sizeof *c0);
      tu_round_to(dt, c0, total);
      tlist P, G, M, V, C;
      tlist_make(&P, ctx, 3, sizes, L_ARENA, R_P, p);
      tlist_make_dt(&G, ctx, dt, 3, sizes, L_ARENA, R_G, NULL);
      tlist_make_dt(&M, ctx, CLNN_BFLOAT16, 3, sizes, L_ARENA, R_M, m);
      tlist_make_dt(&V, ctx, CLNN_BFLOAT16, 3, sizes, L_ARENA, R_V, v);
      tlist_make_dt(&C, ctx, dt, 3, sizes, L_ARENA, R_P, c0);
      clnn_tensor *found = int_scalar(ctx);
      clnn_adam_desc d = clnn_adam_desc_make(1e-3, 4);
      d.skip_nonfinite = 1;
      d.grad_scale = 1024;
      for (size_t b = 0; b < sizeof bad_at / sizeof bad_at[0]; b++) {
        if (dt == CLNN_BFLOAT16 && bad_val[b] == 70000.0f) continue; /* finite in bfloat16 */
        half_grads(g, total, 10 + b, 1.0f, dt);
        g[bad_at[b]] = bad_val[b];
        tlist_write(&G, g);
        TU_OK(clnn_adamw_step_copy(ctx, &d, 3, P.t, (const clnn_tensor *const *)G.t, M.t, V.t, NULL, C.t, found));
        ck_assert_msg(read_found(found) == 1, "%s: %g at %zu not found", clnn_dtype_name(dt), (double)bad_val[b],
                      bad_at[b]);
        tlist_read(&P, h);
        ck_assert_msg(same_bits(h, p, total), "%s: a skipped step changed params", clnn_dtype_name(dt));
        tlist_read(&M, h);
        ck_assert_msg(same_bits(h, m, total), "%s: a skipped step changed m", clnn_dtype_name(dt));
        tlist_read(&V, h);
        ck_assert_msg(same_bits(h, v, total), "%s: a skipped step changed v", clnn_dtype_name(dt));
        tlist_read(&C, h);
        ck_assert_msg(same_bits(h, c0, total), "%s: a skipped step changed the copy", clnn_dtype_name(dt));
      }
      /* The largest finite gradients of the type step (found 0). */
      half_grads(g, total, 99, 1.0f, dt);
      g[5] = dt == CLNN_FLOAT16 ? 65504.0f : 3.0e38f;
      tlist_write(&G, g);
      TU_OK(clnn_adamw_step_copy(ctx, &d, 3, P.t, (const clnn_tensor *const *)G.t, M.t, V.t, NULL, C.t, found));
      ck_assert_int_eq(read_found(found), 0);
      tlist_read(&P, h);
      ck_assert_msg(!same_bits(h, p, total), "a finite step changed nothing");
      tlist_free(&P), tlist_free(&G), tlist_free(&M), tlist_free(&V), tlist_free(&C);
      clnn_tensor_free(found);
      free(p), free(m), free(v), free(g), free(c0), free(h);
    }
    if (shape) clnn_context_free(ctx);
  }
}
END_TEST

/* Clipping half gradients (squares summed in float32, the clipped value
 * rounded once) and the EMA over half tensors, against the reference on the
 * rounded inputs, both shapes; NaN in a half gradient makes all NaN. */
START_TEST(test_half_clip_and_ema) {
  static const int64_t sizes[4] = {5, 4097, 1, 300};
  const size_t total = 5 + 4097 + 1 + 300;
  float *g = tu_alloc(total), *h = tu_alloc(total), *r = tu_alloc(total), *e = tu_alloc(total);
  int64_t one = 1;
  for (int shape = 0; shape < 2; shape++) {
    clnn_context *ctx = shape ? gpu_shape_ctx("64") : tu_ctx();
    clnn_tensor *norm_t;
    TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &one, &norm_t));
    for (int ti = 0; ti < TU_N_HALF_TYPES; ti++) {
      const clnn_dtype dt = tu_half_types[ti];
      half_grads(g, total, 300 + (uint64_t)ti, 0.1f, dt);
      tlist G;
      tlist_make_dt(&G, ctx, dt, 4, sizes, L_MIXED, R_G, g);
      double ref_norm = 0;
      for (size_t i = 0; i < total; i++) ref_norm += (double)g[i] * g[i];
      ref_norm = sqrt(ref_norm);
      TU_OK(clnn_clip_grad_norm(ctx, 4, G.t, 0.5 * ref_norm, norm_t));
      float got_norm;
      TU_OK(clnn_tensor_read(norm_t, &got_norm, sizeof got_norm));
      ck_assert_msg(fabs(got_norm - ref_norm) <= 1e-6 * ref_norm, "%s: norm %.9g, double %.9g", clnn_dtype_name(dt),
                    got_norm, ref_norm);
      memcpy(r, g, total * sizeof *r);
      TU_OK(clnn_ref_clip_grad_norm(total, r, 0.5 * ref_norm, NULL));
      tlist_read(&G, h);
      tu_check_half("clip_grad_norm", "grad", h, r, total, dt, 0.0);
      tlist_check_gaps(&G, "clip_grad_norm half");
      g[4000] = NAN;
      tlist_write(&G, g);
      TU_OK(clnn_clip_grad_norm(ctx, 4, G.t, 1.0, norm_t));
      tlist_read(&G, h);
      for (size_t i = 0; i < total; i++) ck_assert_msg(isnan(h[i]), "%s: [%zu] not NaN", clnn_dtype_name(dt), i);
      tlist_free(&G);
    }
    /* EMA: (ema type, params type) pairs, two decays (both lerp forms). */
    static const clnn_dtype pairs[][2] = {{CLNN_BFLOAT16, CLNN_BFLOAT16},
                                          {CLNN_FLOAT16, CLNN_FLOAT32},
                                          {CLNN_FLOAT32, CLNN_BFLOAT16},
                                          {CLNN_FLOAT16, CLNN_FLOAT16}};
    const double decays[] = {0.999, 0.3};
    for (size_t pi = 0; pi < 4; pi++)
      for (int k = 0; k < 2; k++) {
        tu_fill_normal(e, total, 400 + pi, 0, 1);
        tu_fill_normal(g, total, 500 + pi, 0, 1);
        tu_round_to(pairs[pi][0], e, total);
        tu_round_to(pairs[pi][1], g, total);
        tlist E, P;
        tlist_make_dt(&E, ctx, pairs[pi][0], 4, sizes, L_MIXED, R_P, e);
        tlist_make_dt(&P, ctx, pairs[pi][1], 4, sizes, L_SEPARATE, R_G, g);
        TU_OK(clnn_ema_update(ctx, decays[k], 4, E.t, (const clnn_tensor *const *)P.t));
        memcpy(r, e, total * sizeof *r);
        TU_OK(clnn_ref_ema_update(decays[k], total, r, g));
        tlist_read(&E, h);
        char what[96];
        snprintf(what, sizeof what, "ema %s <- %s decay %g", clnn_dtype_name(pairs[pi][0]),
                 clnn_dtype_name(pairs[pi][1]), decays[k]);
        if (pairs[pi][0] == CLNN_FLOAT32) expect_close(what, "ema", 1, h, r, total);
        else tu_check_half(what, "ema", h, r, total, pairs[pi][0], 1e-6);
        tlist_check_gaps(&E, what);
        tlist_free(&E), tlist_free(&P);
      }
    clnn_tensor_free(norm_t);
    if (shape) clnn_context_free(ctx);
  }
  free(g), free(h), free(r), free(e);
}
END_TEST

/* Types a role does not take, and lists that mix types: refused with the
 * tensor and its type named, nothing written. count == 0 with copies: a
 * no-op that reports no non-finite gradient. */
static void expect_type_error(clnn_status st, const char *what, const char *needle) {
  ck_assert_msg(st == CLNN_ERR_INVALID_VALUE, "%s: %s, expected CLNN_ERR_INVALID_VALUE", what, clnn_status_name(st));
  const char *msg = clnn_context_errmsg(tu_ctx());
  ck_assert_msg(strstr(msg, needle), "%s: message \"%s\" lacks \"%s\"", what, msg, needle);
}

START_TEST(test_half_bad_types) {
  clnn_context *ctx = tu_ctx();
  const int64_t sizes[2] = {20, 7};
  tlist P, P16, G, G16, Gb, M, Mb, M16, V, Vb, C16, C32;
  float *nan = tu_nan_array(27);
  tlist_make(&P, ctx, 2, sizes, L_SEPARATE, R_P, nan);
  tlist_make_dt(&P16, ctx, CLNN_FLOAT16, 2, sizes, L_SEPARATE, R_P, nan);
  tlist_make(&G, ctx, 2, sizes, L_SEPARATE, R_G, nan);
  tlist_make_dt(&G16, ctx, CLNN_FLOAT16, 2, sizes, L_SEPARATE, R_G, nan);
  tlist_make_dt(&Gb, ctx, CLNN_BFLOAT16, 2, sizes, L_SEPARATE, R_G, nan);
  tlist_make(&M, ctx, 2, sizes, L_SEPARATE, R_M, nan);
  tlist_make_dt(&Mb, ctx, CLNN_BFLOAT16, 2, sizes, L_SEPARATE, R_M, nan);
  tlist_make_dt(&M16, ctx, CLNN_FLOAT16, 2, sizes, L_SEPARATE, R_M, nan);
  tlist_make(&V, ctx, 2, sizes, L_SEPARATE, R_V, nan);
  tlist_make_dt(&Vb, ctx, CLNN_BFLOAT16, 2, sizes, L_SEPARATE, R_V, nan);
  tlist_make_dt(&C16, ctx, CLNN_FLOAT16, 2, sizes, L_SEPARATE, R_P, nan);
  tlist_make(&C32, ctx, 2, sizes, L_SEPARATE, R_P, nan);
  clnn_adam_desc d = clnn_adam_desc_make(1e-3, 1);
  const clnn_tensor *const *g16 = (const clnn_tensor *const *)G16.t;
  expect_type_error(clnn_adamw_step_copy(ctx, &d, 2, P16.t, g16, M.t, V.t, NULL, NULL, NULL), "half master",
                    "params[0] is float16, expected float32");
  expect_type_error(clnn_adamw_step_copy(ctx, &d, 2, P.t, g16, M16.t, V.t, NULL, NULL, NULL), "float16 state",
                    "exp_avgs[0] is float16, expected float32 or bfloat16");
  expect_type_error(clnn_adamw_step_copy(ctx, &d, 2, P.t, g16, Mb.t, V.t, NULL, NULL, NULL), "mixed state",
                    "exp_avg_sqs[0] is float32 but exp_avgs[0] is bfloat16");
  expect_type_error(clnn_adamw_step_copy(ctx, &d, 2, P.t, g16, M.t, V.t, NULL, C32.t, NULL), "float32 copy",
                    "model_copies[0] is float32, expected float16 or bfloat16");
  clnn_tensor *mixed_g[2] = {G16.t[0], Gb.t[1]};
  expect_type_error(clnn_adamw_step_copy(ctx, &d, 2, P.t, (const clnn_tensor *const *)mixed_g, M.t, V.t, NULL,
                                         C16.t, NULL),
                    "mixed gradients", "grads[1] is bfloat16 but grads[0] is float16");
  int64_t n20 = 20;
  clnn_tensor *ints;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &n20, &ints));
  clnn_tensor *int_g[2] = {ints, G.t[1]};
  expect_type_error(clnn_adamw_step(ctx, &d, 2, P.t, (const clnn_tensor *const *)int_g, M.t, V.t, NULL, NULL),
                    "int32 gradient", "grads[0] is int32, expected float32, float16 or bfloat16");
  clnn_sgd_desc s = clnn_sgd_desc_make(0.1, 2);
  s.momentum = 0.9;
  expect_type_error(clnn_sgd_step_copy(ctx, &s, 2, P.t, g16, M16.t, C16.t, NULL), "sgd float16 momentum",
                    "momentum_bufs[0] is float16");
  expect_type_error(clnn_sgd_step_copy(ctx, &s, 2, P16.t, g16, Mb.t, C16.t, NULL), "sgd half master",
                    "params[0] is float16");
  clnn_tensor *int_e[2] = {ints, P.t[1]};
  expect_type_error(clnn_ema_update(ctx, 0.9, 2, int_e, (const clnn_tensor *const *)G16.t), "int32 ema",
                    "ema[0] is int32");
  clnn_tensor *mixed_c[2] = {G16.t[0], Gb.t[1]};
  expect_type_error(clnn_clip_grad_norm(ctx, 2, mixed_c, 1.0, NULL), "clip mixed", "grads[1] is bfloat16 but grads[0]");
  /* Nothing was written by any of them. */
  tlist *all[] = {&P, &P16, &M, &Mb, &M16, &V, &Vb, &C16, &C32};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_assert_poisoned(all[i]->t, 2);
  /* count == 0 */
  clnn_tensor *found = int_scalar(ctx);
  TU_OK(clnn_adamw_step_copy(ctx, &d, 0, NULL, NULL, NULL, NULL, NULL, NULL, found));
  ck_assert_int_eq(read_found(found), 0);
  TU_OK(clnn_tensor_fill(found, -1.0f));
  TU_OK(clnn_sgd_step_copy(ctx, &s, 0, NULL, NULL, NULL, NULL, found));
  ck_assert_int_eq(read_found(found), 0);
  clnn_tensor_free(found);
  clnn_tensor_free(ints);
  tlist *every[] = {&P, &P16, &G, &G16, &Gb, &M, &Mb, &M16, &V, &Vb, &C16, &C32};
  for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) tlist_free(every[i]);
  free(nan);
}
END_TEST

/* Empty tensors (0 elements) in half lists: nothing to do, the rest steps. */
START_TEST(test_half_empty_tensors) {
  clnn_context *ctx = tu_ctx();
  const int64_t sizes[3] = {0, 33, 0};
  float *p = tu_alloc(33), *g = tu_alloc(33), *nan = tu_nan_array(33), *h = tu_alloc(33), *rp = tu_alloc(33);
  float *rb = tu_nan_array(33);
  tu_fill_normal(p, 33, 1, 0, 1);
  half_grads(g, 33, 2, 1, CLNN_BFLOAT16);
  tlist P, G, B, C;
  tlist_make(&P, ctx, 3, sizes, L_SEPARATE, R_P, p);
  tlist_make_dt(&G, ctx, CLNN_BFLOAT16, 3, sizes, L_SEPARATE, R_G, g);
  tlist_make_dt(&B, ctx, CLNN_BFLOAT16, 3, sizes, L_SEPARATE, R_M, nan);
  tlist_make_dt(&C, ctx, CLNN_FLOAT16, 3, sizes, L_SEPARATE, R_P, nan);
  clnn_sgd_desc s = clnn_sgd_desc_make(0.1, 1);
  s.momentum = 0.9;
  TU_OK(clnn_sgd_step_copy(ctx, &s, 3, P.t, (const clnn_tensor *const *)G.t, B.t, C.t, NULL));
  memcpy(rp, p, 33 * sizeof *rp);
  TU_OK(clnn_ref_sgd_step(&s, 33, rp, g, rb, NULL));
  tlist_read(&P, h);
  expect_close("sgd with empty tensors", "param", 1, h, rp, 33);
  float *c = tu_alloc(33);
  tlist_read(&C, c);
  expect_copy("sgd with empty tensors", CLNN_FLOAT16, c, h, rp, 33);
  tlist_free(&P), tlist_free(&G), tlist_free(&B), tlist_free(&C);
  free(p), free(g), free(nan), free(h), free(rp), free(rb), free(c);
}
END_TEST

/* ------------------------------------------------- dynamic loss scaling */

/*
 * GradScaler's rule written out here (torch/cuda/amp/grad_scaler.py and
 * _amp_update_scale_): a float32 scale; overflow: scale *= backoff,
 * tracker = 0; else tracker + 1, and at growth_interval: scale *= growth
 * (kept only if finite), tracker = 0.
 */
typedef struct model_scaler {
  float scale;
  long tracker;
} model_scaler;

static void model_update(model_scaler *m, int found, double growth, double backoff, long interval) {
  if (found) {
    m->scale = (float)(m->scale * backoff);
    m->tracker = 0;
  } else if (++m->tracker == interval) {
    const float g = (float)(m->scale * growth);
    if (isfinite(g)) m->scale = g;
    m->tracker = 0;
  }
}

START_TEST(test_grad_scaler_rule) {
  clnn_grad_scaler s = clnn_grad_scaler_make(65536.0);
  ck_assert(s.growth_factor == 2.0 && s.backoff_factor == 0.5 && s.growth_interval == 2000 && s.growth_tracker == 0);
  /* A random sequence of overflows with a short interval, and the default one. */
  for (int round = 0; round < 2; round++) {
    s = clnn_grad_scaler_make(round ? 65536.0 : 1024.0);
    if (!round) s.growth_interval = 3;
    model_scaler m = {(float)s.scale, 0};
    tu_rng rng = tu_rng_make(77 + (uint64_t)round);
    const int steps = round ? 9000 : 500;
    for (int k = 0; k < steps; k++) {
      const int found = tu_rng_uniform(&rng, 0, 1) < (round ? 0.0003 : 0.2);
      TU_OK(clnn_grad_scaler_update(&s, found));
      model_update(&m, found, 2.0, 0.5, (long)s.growth_interval);
      ck_assert_msg(s.scale == (double)m.scale && s.growth_tracker == m.tracker,
                    "step %d: scale %g tracker %lld, model %g %ld", k, s.scale, (long long)s.growth_tracker,
                    (double)m.scale, m.tracker);
    }
  }
  /* A sequence worked by hand from torch's CUDA kernel
   * (_amp_update_scale_cuda_kernel; torch 1.13 has no CPU kernel for it, so
   * it cannot run here), growth_interval 2, from scale 8, found_inf =
   * 0 0 0 1 0 0 1 1 0 0 0 0: growth, back-off, the interval restarting. */
  static const int found_seq[12] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0};
  static const double torch_scales[12] = {8, 16, 16, 8, 8, 16, 8, 4, 4, 8, 8, 16};
  static const long torch_trackers[12] = {1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0};
  s = clnn_grad_scaler_make(8.0);
  s.growth_interval = 2;
  for (int k = 0; k < 12; k++) {
    TU_OK(clnn_grad_scaler_update(&s, found_seq[k]));
    ck_assert_msg(s.scale == torch_scales[k] && s.growth_tracker == torch_trackers[k],
                  "step %d: scale %g tracker %lld, torch %g %ld", k, s.scale, (long long)s.growth_tracker,
                  torch_scales[k], torch_trackers[k]);
  }
  /* No growth past float32: the scale stays, the tracker restarts. */
  s = clnn_grad_scaler_make(0x1p127);
  s.growth_interval = 1;
  TU_OK(clnn_grad_scaler_update(&s, 0));
  ck_assert(s.scale == 0x1p127 && s.growth_tracker == 0);
  /* Bad fields. */
  clnn_grad_scaler bad = clnn_grad_scaler_make(0.0);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_grad_scaler_update(&bad, 0));
  bad = clnn_grad_scaler_make(1.0);
  bad.backoff_factor = 1.0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_grad_scaler_check(&bad));
  bad = clnn_grad_scaler_make(1.0);
  bad.growth_interval = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_grad_scaler_check(&bad));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_grad_scaler_update(NULL, 0));
}
END_TEST

/*
 * Training loop with float16 gradients, a float16 model copy and dynamic
 * loss scaling: the gradients are a fixed set times the scale, rounded to
 * float16 (so a large scale overflows). Each overflow is found, skips the
 * step (master, m, v, copy unchanged) and halves the scale; good steps
 * advance desc.step and, every growth_interval of them, double it. The
 * scale sequence must match the model's and the final master must match a
 * float32 AdamW run over the non-skipped steps only.
 */
START_TEST(test_grad_scaler_training) {
  clnn_context *ctx = tu_ctx();
  const int64_t sizes[2] = {100, 29};
  const size_t total = 129;
  float *g0 = tu_alloc(total), *g = tu_alloc(total), *p = tu_alloc(total), *zero = tu_alloc(total);
  float *h = tu_alloc(total), *before = tu_alloc(total), *nan = tu_nan_array(total);
  tu_fill_normal(g0, total, 5, 0, 1.0f);
  g0[7] = 3.0f; /* times 2^15 = 98304: over float16's 65504 */
  tu_fill_normal(p, total, 6, 0, 1);
  memset(zero, 0, total * sizeof *zero);
  tlist P, G, M, V, C;
  tlist_make(&P, ctx, 2, sizes, L_ARENA, R_P, p);
  tlist_make_dt(&G, ctx, CLNN_FLOAT16, 2, sizes, L_ARENA, R_G, NULL);
  tlist_make_dt(&M, ctx, CLNN_BFLOAT16, 2, sizes, L_ARENA, R_M, zero);
  tlist_make_dt(&V, ctx, CLNN_BFLOAT16, 2, sizes, L_ARENA, R_V, zero);
  tlist_make_dt(&C, ctx, CLNN_FLOAT16, 2, sizes, L_ARENA, R_P, nan);
  clnn_tensor *found_t = int_scalar(ctx);
  clnn_grad_scaler sc = clnn_grad_scaler_make(0x1p16);
  sc.growth_interval = 3;
  model_scaler model = {0x1p16f, 0};
  int64_t step = 1;
  int skipped = 0;
  for (int k = 0; k < 16; k++) {
    for (size_t i = 0; i < total; i++) g[i] = (float)(g0[i] * sc.scale);
    tlist_write(&G, g); /* rounds to float16: 3 * 2^15 and above overflow to inf */
    tlist_read(&P, before);
    clnn_adam_desc d = clnn_adam_desc_make(1e-2, step);
    d.weight_decay = 0.01;
    d.grad_scale = sc.scale;
    d.skip_nonfinite = 1;
    TU_OK(clnn_adamw_step_copy(ctx, &d, 2, P.t, (const clnn_tensor *const *)G.t, M.t, V.t, NULL, C.t, found_t));
    int found = -1;
    TU_OK(clnn_grad_scaler_update_from(&sc, found_t, &found));
    float *r16 = copy_of(g, total); /* what float16 holds: 65520 and above round to inf */
    tu_round_to(CLNN_FLOAT16, r16, total);
    int want_found = 0;
    for (size_t i = 0; i < total; i++) want_found |= isinf(r16[i]) != 0;
    free(r16);
    ck_assert_msg(found == want_found, "step %d: found %d, expected %d (scale %g)", k, found, want_found,
                  (double)model.scale);
    model_update(&model, want_found, 2.0, 0.5, 3);
    ck_assert_msg(sc.scale == (double)model.scale && sc.growth_tracker == model.tracker, "step %d: scale %g, model %g",
                  k, sc.scale, (double)model.scale);
    tlist_read(&P, h);
    if (found) {
      ck_assert_msg(same_bits(h, before, total), "step %d: an overflow step changed the master", k);
      skipped++;
    } else {
      step++;
    }
  }
  ck_assert_msg(skipped >= 2 && step >= 8, "the sequence should skip and grow (skipped %d, good %lld)", skipped,
                (long long)step - 1);
  /* The copy is the final master rounded once. */
  float *c = tu_alloc(total);
  tlist_read(&C, c);
  tlist_read(&P, h);
  for (size_t i = 0; i < total; i++) {
    float want = h[i];
    tu_round_to(CLNN_FLOAT16, &want, 1);
    ck_assert_msg(c[i] == want, "copy[%zu] %g, master %g", i, (double)c[i], (double)h[i]);
  }
  /* found_inf must be an int32 scalar. */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_grad_scaler_update_from(&sc, P.t[0], NULL));
  clnn_tensor_free(found_t);
  tlist_free(&P), tlist_free(&G), tlist_free(&M), tlist_free(&V), tlist_free(&C);
  free(g0), free(g), free(p), free(zero), free(h), free(before), free(nan), free(c);
}
END_TEST

/* ------------------------------------------------------- clnn-bench, R mode */

static char dir[128];

static const char *bench_path(void) {
  const char *p = getenv("CLNN_BENCH");
  ck_assert_msg(p != NULL, "set CLNN_BENCH to the clnn-bench binary");
  return p;
}

static int run_bench(const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s > %s/out.txt 2>&1", bench_path(), args, dir);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void npy_put(const char *name, size_t n, const float *data) {
  char p[256], err[256];
  int64_t d = (int64_t)n;
  snprintf(p, sizeof p, "%s/%s.npy", dir, name);
  ck_assert_msg(npy_write(p, CLNN_FLOAT32, 1, &d, data, err, sizeof err), "%s", err);
}

static float *npy_get(const char *name, size_t n) {
  char p[256], err[256];
  snprintf(p, sizeof p, "%s/%s.npy", dir, name);
  npy_array a;
  ck_assert_msg(npy_read(p, &a, err, sizeof err), "%s", err);
  ck_assert_msg(a.ndim == 1 && a.dims[0] == (int64_t)n && a.dtype == CLNN_FLOAT32, "%s: wrong shape", name);
  return a.data;
}

static void bench_setup(void) {
  snprintf(dir, sizeof dir, "/tmp/clnn-test-optim-XXXXXX");
  ck_assert(mkdtemp(dir) != NULL);
}

static void bench_teardown(void) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* The exact syntax: K steps t+1 .. t+K, state written back. */
START_TEST(test_bench_r_mode_adam) {
  enum { N = 1000 };
  for (int amsgrad = 0; amsgrad <= 1; amsgrad++) {
    float p[N], g[N], m[N], v[N], x[N];
    tu_fill_normal(p, N, 1, 0, 1);
    tu_fill_normal(g, N, 2, 0, 1);
    tu_fill_normal(m, N, 3, 0, 0.1f);
    tu_fill_uniform(v, N, 4, 0, 0.01f);
    tu_fill_uniform(x, N, 5, 0, 0.02f);
    npy_put("param", N, p);
    npy_put("grad", N, g);
    npy_put("m", N, m);
    npy_put("v", N, v);
    if (amsgrad) npy_put("vmax", N, x);
    char args[512];
    snprintf(args, sizeof args,
             "--mode=R --dir %s --steps 3 \"adamw n1000 lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08 wd=0.01 "
             "amsgrad=%d t=4\"",
             dir, amsgrad);
    ck_assert_int_eq(run_bench(args), 0);
    clnn_adam_desc d = clnn_adam_desc_make(0.001, 1);
    d.weight_decay = 0.01;
    d.amsgrad = amsgrad;
    for (int k = 5; k <= 7; k++) {
      d.step = k;
      TU_OK(clnn_ref_adamw_step(&d, N, p, g, m, v, amsgrad ? x : NULL, NULL));
    }
    float *hp = npy_get("param", N), *hm = npy_get("m", N), *hv = npy_get("v", N);
    expect_close("clnn-bench R adamw --steps 3", "param", 3, hp, p, N);
    expect_close("clnn-bench R adamw --steps 3", "m", 3, hm, m, N);
    expect_close("clnn-bench R adamw --steps 3", "v", 3, hv, v, N);
    free(hp), free(hm), free(hv);
    if (amsgrad) {
      float *hx = npy_get("vmax", N);
      expect_close("clnn-bench R adamw --steps 3", "vmax", 3, hx, x, N);
      free(hx);
    }
  }
  /* amsgrad=1 without vmax.npy is a usage error (exit 2). */
  char rm[256];
  snprintf(rm, sizeof rm, "rm -f %s/vmax.npy", dir);
  ck_assert_int_eq(system(rm), 0);
  char args[512];
  snprintf(args, sizeof args, "--mode=R --dir %s \"adam n1000 amsgrad=1\"", dir);
  ck_assert_int_eq(run_bench(args), 2);
  snprintf(args, sizeof args, "--mode=R --dir %s \"adam n999\"", dir);
  ck_assert_int_eq(run_bench(args), 2); /* shape mismatch */
  snprintf(args, sizeof args, "\"adamw n1000 beta1=1\"");
  ck_assert_int_eq(run_bench(args), 2);
  snprintf(args, sizeof args, "\"adamw n1000 lr=-1\"");
  ck_assert_int_eq(run_bench(args), 2);
  snprintf(args, sizeof args, "\"adamw n1000 wd=abc\"");
  ck_assert_int_eq(run_bench(args), 2);
  snprintf(args, sizeof args, "\"adamw n1000 momentum=0.9\"");
  ck_assert_int_eq(run_bench(args), 2); /* not an Adam key */
}
END_TEST

START_TEST(test_bench_r_mode_sgd) {
  enum { N = 1001 };
  float p[N], g[N], b[N];
  tu_fill_normal(p, N, 11, 0, 1);
  tu_fill_normal(g, N, 12, 0, 1);
  npy_put("param", N, p);
  npy_put("grad", N, g);
  char args[512];
  /* t=0: PyTorch creates the buffer, so m.npy is written, not read. */
  snprintf(args, sizeof args,
           "--mode=R --dir %s --steps 2 \"sgd n1001 lr=0.1 momentum=0.9 dampening=0 nesterov=1 wd=0.0001\"", dir);
  ck_assert_int_eq(run_bench(args), 0);
  clnn_sgd_desc d = clnn_sgd_desc_make(0.1, 1);
  d.momentum = 0.9;
  d.nesterov = 1;
  d.weight_decay = 0.0001;
  for (int k = 1; k <= 2; k++) {
    d.step = k;
    TU_OK(clnn_ref_sgd_step(&d, N, p, g, b, NULL));
  }
  float *hp = npy_get("param", N), *hb = npy_get("m", N);
  expect_close("clnn-bench R sgd --steps 2", "param", 2, hp, p, N);
  expect_close("clnn-bench R sgd --steps 2", "m", 2, hb, b, N);
  free(hp), free(hb);
  /* t=2: the buffer is read back. */
  snprintf(args, sizeof args,
           "--mode=R --dir %s \"sgd n1001 lr=0.1 momentum=0.9 dampening=0 nesterov=1 wd=0.0001 t=2\"", dir);
  ck_assert_int_eq(run_bench(args), 0);
  d.step = 3;
  TU_OK(clnn_ref_sgd_step(&d, N, p, g, b, NULL));
  hp = npy_get("param", N);
  expect_close("clnn-bench R sgd t=2", "param", 3, hp, p, N);
  free(hp);
  /* nesterov with dampening is rejected. */
  snprintf(args, sizeof args, "\"sgd n10 momentum=0.9 dampening=0.5 nesterov=1\"");
  ck_assert_int_eq(run_bench(args), 2);
}
END_TEST

/* C mode of the families (the list split, skip and the extra families included). */
START_TEST(test_bench_c_mode) {
  char args[512];
  snprintf(args, sizeof args,
           "\"adamw n25000 tensors=7\" \"adam n20001 wd=0.1 amsgrad=1 maximize=1 scale=256 skip=1 t=9\" "
           "\"sgd n3001 momentum=0.9 t=2\" \"ema n5000 decay=0.99 tensors=3\" \"clip_grad_norm n9001 tensors=4\" "
           "\"adamw n1000000 tensors=resnet50\"");
  ck_assert_int_eq(run_bench(args), 0);
  ck_assert_int_eq(run_bench("\"adamw n1000 tensors=resnet50\""), 2); /* too small to split */
  ck_assert_int_eq(run_bench("\"adamw tensors=4\""), 2);              /* no n */
}
END_TEST

static Suite *optim_suite(void) {
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("steps");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_adam_steps, 0, N_ADAM);
  tcase_add_test(tc, test_adam_steps_gpu_shape);
  tcase_add_test(tc, test_launch_counts);
  tcase_add_test(tc, test_adam_constant_gradient_closed_form);
  tcase_add_test(tc, test_reference_matches_textbook);
  tcase_add_test(tc, test_adamw_wd0_equals_adam_bitwise);
  tcase_add_test(tc, test_adam_deterministic);
  tcase_add_test(tc, test_adam_skip_nonfinite);
  tcase_add_loop_test(tc, test_sgd_steps, 0, N_SGD);
  tcase_add_test(tc, test_sgd_gpu_shape_and_skip);
  tcase_add_test(tc, test_clip_grad_norm);
  tcase_add_test(tc, test_ema_update);
  tcase_add_test(tc, test_gpu_variant_edges);
  suite_add_tcase(s, tc);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 900);
  tcase_add_loop_test(half, test_half_adam, 0, N_HALF_ADAM);
  tcase_add_test(half, test_half_adam_gpu_shape);
  tcase_add_test(half, test_half_sgd);
  tcase_add_test(half, test_half_skip_nonfinite);
  tcase_add_test(half, test_half_clip_and_ema);
  tcase_add_test(half, test_half_bad_types);
  tcase_add_test(half, test_half_empty_tensors);
  tcase_add_test(half, test_grad_scaler_rule);
  tcase_add_test(half, test_grad_scaler_training);
  suite_add_tcase(s, half);
  TCase *bad = tcase_create("bad_input");
  tcase_set_timeout(bad, 600);
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_lists);
  suite_add_tcase(s, bad);
  TCase *cli = tcase_create("bench");
  tcase_set_timeout(cli, 600);
  tcase_add_checked_fixture(cli, bench_setup, bench_teardown);
  tcase_add_test(cli, test_bench_r_mode_adam);
  tcase_add_test(cli, test_bench_r_mode_sgd);
  tcase_add_test(cli, test_bench_c_mode);
  suite_add_tcase(s, cli);
  return s;
}

int main(void) { return tu_run(optim_suite()); }
