/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include "host/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/ref.h"

static clnn_context *the_ctx;

clnn_context *tu_ctx(void) {
  if (the_ctx) return the_ctx;
  clnn_status st = clnn_context_create(NULL, &the_ctx);
  if (st == CLNN_ERR_NO_DEVICE) {
    fprintf(stderr, "no OpenCL device (%s): skipping\n", clnn_context_errmsg(NULL));
    exit(TU_SKIP);
  }
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "clnn_context_create: %s: %s\n", clnn_status_name(st), clnn_context_errmsg(NULL));
    exit(1);
  }
  return the_ctx;
}

void tu_ctx_free(void) {
  clnn_context_free(the_ctx);
  the_ctx = NULL;
}

/* splitmix64: tiny, seedable, good enough for test data. */
tu_rng tu_rng_make(uint64_t seed) {
  tu_rng r = {seed * 0x9E3779B97F4A7C15ULL + 1};
  return r;
}

uint64_t tu_rng_next(tu_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *r, double lo, double hi) {
  return lo + (hi - lo) * ((double)(tu_rng_next(r) >> 11) * 0x1.0p-53);
}

double tu_rng_normal(tu_rng *r) {
  double u1 = tu_rng_uniform(r, 0x1.0p-53, 1.0), u2 = tu_rng_uniform(r, 0.0, 1.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_ints(float *p, size_t n, uint64_t seed, int lo, int hi) {
  tu_rng r = tu_rng_make(seed);
  uint64_t span = (uint64_t)(hi - lo + 1);
  for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (int)(tu_rng_next(&r) % span));
}

void tu_fill_uniform(float *p, size_t n, uint64_t seed, float lo, float hi) {
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) p[i] = (float)tu_rng_uniform(&r, lo, hi);
}

void tu_fill_normal(float *p, size_t n, uint64_t seed, float mean, float stddev) {
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) p[i] = (float)(mean + stddev * tu_rng_normal(&r));
}

float *tu_alloc(size_t n) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  ck_assert_msg(p != NULL, "out of host memory (%zu floats)", n);
  return p;
}

double *tu_normal_f64(size_t n, uint64_t seed) {
  double *v = malloc((n ? n : 1) * sizeof *v);
  ck_assert_msg(v != NULL, "out of host memory (%zu doubles)", n);
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) v[i] = tu_rng_normal(&r);
  return v;
}

float *tu_nan_array(size_t n) {
  float *p = tu_alloc(n);
  for (size_t i = 0; i < n; i++) p[i] = NAN;
  return p;
}

clnn_tensor *tu_tensor(int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t = NULL;
  TU_OK(clnn_tensor_create(tu_ctx(), CLNN_FLOAT32, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write(t, host, clnn_tensor_bytes(t)));
  return t;
}

clnn_tensor *tu_tensor_dt(clnn_dtype dt, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t = NULL;
  TU_OK(clnn_tensor_create(tu_ctx(), dt, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write_f32(t, host, clnn_tensor_numel(t)));
  return t;
}

clnn_tensor *tu_view_dt(clnn_buffer *buf, size_t off, clnn_dtype dt, int ndim, const int64_t *dims,
                        const float *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_view(buf, off * clnn_dtype_size(dt), dt, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write_f32(t, host, clnn_tensor_numel(t)));
  return t;
}

size_t tu_odd_offsets(const size_t *sizes, int n, size_t *off) {
  size_t end = 1;
  for (int i = 0; i < n; i++) {
    off[i] = end | 1;
    end = off[i] + sizes[i] + 2;
  }
  return end + 1;
}

float *tu_download_f32(const clnn_tensor *t) {
  float *p = tu_alloc(clnn_tensor_numel(t));
  TU_OK(clnn_tensor_read_f32(t, p, clnn_tensor_numel(t)));
  return p;
}

void tu_round_to(clnn_dtype dt, float *p, size_t n) {
  uint16_t *h = malloc(n * sizeof *h + 1);
  ck_assert_ptr_nonnull(h);
  if (dt != CLNN_FLOAT32) {
    TU_OK(clnn_pack_f32(dt, p, h, n));
    TU_OK(clnn_unpack_f32(dt, h, p, n));
  }
  free(h);
}

void tu_poison(clnn_tensor *t) { TU_OK(clnn_tensor_fill(t, NAN)); }

float *tu_download(const clnn_tensor *t) {
  float *p = tu_alloc(clnn_tensor_numel(t));
  TU_OK(clnn_tensor_read(t, p, clnn_tensor_bytes(t)));
  return p;
}

/* A tensor's values as float32: a float type converted, int32 as its bytes. */
static float *download_values(const clnn_tensor *t) {
  return clnn_tensor_dtype(t) == CLNN_INT32 ? tu_download(t) : tu_download_f32(t);
}

void tu_assert_poisoned(clnn_tensor *const *outs, size_t n) {
  TU_OK(clnn_context_finish(tu_ctx()));
  for (size_t t = 0; t < n; t++) {
    float *v = download_values(outs[t]);
    for (size_t i = 0; i < clnn_tensor_numel(outs[t]); i++) ck_assert_msg(isnan(v[i]), "output %zu [%zu] written", t, i);
    free(v);
  }
}

void tu_assert_zero(const char *what, const clnn_tensor *t) {
  float *h = download_values(t);
  for (size_t i = 0; i < clnn_tensor_numel(t); i++) ck_assert_msg(h[i] == 0.0f, "%s[%zu] = %g", what, i, (double)h[i]);
  free(h);
}

/* ------------------------------------------------------- half precision */

const clnn_dtype tu_half_types[TU_N_HALF_TYPES] = {CLNN_FLOAT16, CLNN_BFLOAT16};

bool tu_half_agrees(float got, float ref_r, clnn_dtype dt, double abs_tol) {
  if (isnan(got) || isnan(ref_r)) return isnan(got) && isnan(ref_r);
  if (isinf(got) || isinf(ref_r)) return got == ref_r;
  const double ulp = dt == CLNN_FLOAT16 ? 0x1p-10 : 0x1p-7, tiny = dt == CLNN_FLOAT16 ? 0x1p-24 : 0.0;
  return fabs((double)got - ref_r) <= ulp * fabs((double)ref_r) + abs_tol + tiny;
}

void tu_check_half(const char *what, const char *pass, const float *got, const float *ref, size_t n, clnn_dtype dt,
                   double abs_tol) {
  float *ref_r = tu_alloc(n);
  if (n) memcpy(ref_r, ref, n * sizeof *ref);
  tu_round_to(dt, ref_r, n);
  /* the type's smallest normal: below it a value has fewer bits (float16's subnormals) */
  const double min_normal = dt == CLNN_FLOAT16 ? 0x1p-14 : 0x1p-126;
  double err2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < n; i++) {
    ck_assert_msg(tu_half_agrees(got[i], ref_r[i], dt, abs_tol),
                  "%s dt=%s: %s [%zu] device %.9g, reference %.9g (%.9g unrounded)", what, clnn_dtype_name(dt), pass,
                  i, (double)got[i], (double)ref_r[i], (double)ref[i]);
    if (!isfinite(ref_r[i]) || fabs((double)ref_r[i]) < min_normal) continue;
    err2 += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
    ref2 += (double)ref[i] * ref[i];
  }
  const double e = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
  ck_assert_msg(e <= clnn__ref_dtype_rel_l2(dt), "%s dt=%s: %s rel L2 %.3g", what, clnn_dtype_name(dt), pass, e);
  free(ref_r);
}

bool tu_compare(const char *what, const float *got, const float *ref, size_t n, double rel_tol,
                double abs_tol, tu_cmp *out) {
  tu_cmp c = {0.0, 0.0, SIZE_MAX, 0};
  double err2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < n; i++) {
    bool gnan = isnan(got[i]), rnan = isnan(ref[i]);
    if (gnan || rnan) {
      if (gnan != rnan || gnan) {
        if (!(gnan && rnan)) c.n_nan++;
        if (!(gnan && rnan) && c.first_bad == SIZE_MAX) c.first_bad = i;
      }
      continue;
    }
    double d = fabs((double)got[i] - (double)ref[i]);
    if (!(d <= abs_tol + rel_tol * fabs((double)ref[i])) && c.first_bad == SIZE_MAX) c.first_bad = i;
    if (d > c.max_abs_err || isinf(d)) c.max_abs_err = d;
    err2 += d * d;
    ref2 += (double)ref[i] * ref[i];
  }
  c.rel_l2_err = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
  bool ok = c.first_bad == SIZE_MAX && c.n_nan == 0 && c.rel_l2_err <= rel_tol &&
            !isnan(c.rel_l2_err);
  if (!ok) {
    fprintf(stderr, "MISMATCH %s: max_abs_err %.3g rel_l2_err %.3g nan %zu", what, c.max_abs_err,
            c.rel_l2_err, c.n_nan);
    if (c.first_bad != SIZE_MAX)
      fprintf(stderr, "; first bad [%zu]: got %.9g ref %.9g", c.first_bad, (double)got[c.first_bad],
              (double)ref[c.first_bad]);
    fprintf(stderr, "\n  reproduce: clnn-bench --mode=C \"%s\"\n", what);
  }
  if (out) *out = c;
  return ok;
}

int tu_run(Suite *s) {
  tu_ctx(); /* skip early when there is no device */
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  tu_ctx_free();
  return failed ? 1 : 0;
}
