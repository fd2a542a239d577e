/*
 * testutil.h - helpers every test suite shares: the one context per test
 * binary, seeded fills, poisoned outputs, device round trips, the
 * reference comparison and the Check runner without fork.
 */
#ifndef CLNN_TESTUTIL_H
#define CLNN_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clnn.h"

/* Exit code CTest reads as "skipped" (SKIP_RETURN_CODE). */
#define TU_SKIP 77

/* The suite's context (created on first use; exits TU_SKIP without a device). */
clnn_context *tu_ctx(void);
/* Free it (call once at the end of main, before leak checks). */
void tu_ctx_free(void);

/* ------------------------------------------------------------- random */

typedef struct tu_rng {
  uint64_t s;
} tu_rng;
tu_rng tu_rng_make(uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/* Uniform in [lo, hi). */
double tu_rng_uniform(tu_rng *r, double lo, double hi);
/* Standard normal. */
double tu_rng_normal(tu_rng *r);

/* Integer values in [lo, hi]: products and sums stay exact in float32, so a
 * device result must equal the reference bit for bit (benchdnn's trick). */
void tu_fill_ints(float *p, size_t n, uint64_t seed, int lo, int hi);
void tu_fill_uniform(float *p, size_t n, uint64_t seed, float lo, float hi);
void tu_fill_normal(float *p, size_t n, uint64_t seed, float mean, float stddev);

/* Host allocation that fails the test on OOM. Free with free(). */
float *tu_alloc(size_t n);
/* n standard-normal doubles from seed (malloc'd, fails the test on OOM):
 * inputs of the finite-difference checks of the double-precision reference. */
double *tu_normal_f64(size_t n, uint64_t seed);
float *tu_nan_array(size_t n);

/* -------------------------------------------------------------- device */

/* A float32 device tensor with the given dims (up to 8), optionally uploaded. */
clnn_tensor *tu_tensor(int ndim, const int64_t *dims, const float *host);
/* A device tensor of a float type (float32, float16, bfloat16), optionally
 * uploaded from float32 values (rounded to the type on the way). */
clnn_tensor *tu_tensor_dt(clnn_dtype dt, int ndim, const int64_t *dims, const float *host);
/* A view of dims at element offset off of buf (of dt's elements; an odd
 * offset of a 2-byte type is only 2-byte aligned), written from host
 * (float32 values, converted) unless host is NULL. */
clnn_tensor *tu_view_dt(clnn_buffer *buf, size_t off, clnn_dtype dt, int ndim, const int64_t *dims,
                        const float *host);
/* Lay out n tensors of sizes[i] elements one after another in one buffer,
 * each at an odd element offset (off[i]) with a gap of 2 between them, so
 * that a 2-byte type is only 2-byte aligned; returns the buffer's length in
 * elements. */
size_t tu_odd_offsets(const size_t *sizes, int n, size_t *off);
/* Read a float tensor of any float type back as float32 values. */
float *tu_download_f32(const clnn_tensor *t);
/* Round n float32 values to dt's precision in place (what a kernel loads). */
void tu_round_to(clnn_dtype dt, float *p, size_t n);
/* Fill a device tensor with NaN so an element the op never writes fails. */
void tu_poison(clnn_tensor *t);
/* Read a tensor back into a new host array. */
float *tu_download(const clnn_tensor *t);
/* Finish the context, then fail unless every element of the n tensors
 * still holds the NaN of tu_poison (a failed call must write nothing). */
void tu_assert_poisoned(clnn_tensor *const *outs, size_t n);
/* Fail unless every element of t is 0 (a NaN fails): the gradient of a sum
 * over nothing, such as dw for a batch of 0. */
void tu_assert_zero(const char *what, const clnn_tensor *t);

/* ---------------------------------------------------------- comparison */

typedef struct tu_cmp {
  double max_abs_err;
  double rel_l2_err;
  size_t first_bad; /* index of the first element out of tolerance, or SIZE_MAX */
  size_t n_nan;     /* elements where exactly one side is NaN, or NaN on the device */
} tu_cmp;

/*
 * Compare got (device) against ref. Passes when there are no NaN in got
 * (unless ref is NaN at that element too), every |got - ref| <=
 * abs_tol + rel_tol * |ref|, and the relative L2 error <= rel_tol.
 * On failure prints what (the clnn-bench descriptor), the errors and the
 * first bad element.
 */
bool tu_compare(const char *what, const float *got, const float *ref, size_t n, double rel_tol,
                double abs_tol, tu_cmp *out);

/* ------------------------------------------------------- half precision */

/* float16 and bfloat16, for tests that run every case in both. */
#define TU_N_HALF_TYPES 2
extern const clnn_dtype tu_half_types[TU_N_HALF_TYPES];

/*
 * got (a device result of type dt, read back as float32) against ref_r, the
 * reference already rounded to dt: NaN where it is NaN, the same infinity,
 * else within one unit in the last place of the type (float32 math rounded
 * once and the double reference rounded once may straddle a rounding
 * boundary), plus abs_tol and, for float16, its smallest subnormal.
 */
bool tu_half_agrees(float got, float ref_r, clnn_dtype dt, double abs_tol);

/*
 * Every element of got agrees (tu_half_agrees) with ref rounded to dt, and
 * the relative L2 error against ref is within the type's bar
 * (clnn__ref_dtype_rel_l2, host/ref.h) over the elements whose rounded
 * reference is finite and normal in the type (a float16 subnormal has fewer
 * bits: the element check bounds it). what and pass name the case in the
 * failure message.
 */
void tu_check_half(const char *what, const char *pass, const float *got, const float *ref, size_t n, clnn_dtype dt,
                   double abs_tol);

/* Assert a status, printing the context's message on failure. */
#define TU_OK(expr)                                                                         \
  do {                                                                                      \
    clnn_status tu_st_ = (expr);                                                            \
    ck_assert_msg(tu_st_ == CLNN_SUCCESS, "%s -> %s: %s", #expr, clnn_status_name(tu_st_), \
                  clnn_context_errmsg(tu_ctx()));                                           \
  } while (0)

/* Assert that expr fails with status want and leaves a non-empty message. */
#define TU_FAILS(want, expr)                                                                    \
  do {                                                                                          \
    clnn_status tu_st_ = (expr);                                                                \
    ck_assert_msg(tu_st_ == (want), "%s -> %s, expected %s (%s)", #expr, clnn_status_name(tu_st_), \
                  clnn_status_name(want), clnn_context_errmsg(tu_ctx()));                       \
  } while (0)

/* Run a suite without fork (a context made before fork hangs on PoCL) and
 * return the process exit code. Frees the context. */
int tu_run(Suite *s);

#endif
