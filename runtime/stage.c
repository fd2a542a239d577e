/*
 * stage.c - float32 copies of a half-precision call's tensors, for ops whose
 * float32 code runs unchanged on them (runtime/internal.h, "half-precision
 * staging"; the kernels are kernels/stage.cl).
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Copies start at multiples of 16 floats (64 bytes): the float32 kernels'
 * vector loads and stores stay as aligned as on a fresh buffer. */
#define STAGE_ALIGN 16
/* Work-group size of the conversions: groups of 1 cost PoCL a scheduling
 * step per 16 elements (about 10x slower); 64 serves both device classes. */
#define STAGE_LOCAL 64

void clnn__stage_init(clnn_stage *s, clnn_context *ctx, clnn_dtype dt, const char *op) {
  memset(s, 0, sizeof *s);
  s->ctx = ctx;
  s->dt = dt;
  s->op = op;
}

clnn_tensor *clnn__stage_copy(clnn_stage *s, const clnn_tensor *t) {
  if (!t) return NULL;
  if (s->ncopies == CLNN_STAGE_MAX) return NULL; /* a caller's bug: its callers stage at most 10 tensors */
  clnn_tensor *v = &s->copy[s->ncopies++];
  *v = *t;
  v->buf = &s->buf;
  v->offset = s->floats * sizeof(float);
  v->dtype = CLNN_FLOAT32;
  s->floats += (t->numel + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
  return v;
}

clnn_status clnn__stage_alloc(clnn_stage *s) {
  CLNN_TRY(clnn__outer_workspace(s->ctx, s->floats * sizeof(float), &s->buf.mem));
  s->buf.ctx = s->ctx;
  s->buf.size = s->floats * sizeof(float);
  s->buf.refs = 1;
  return CLNN_SUCCESS;
}

/* One launch of stage_widen or stage_round from src to dst. */
static clnn_status convert(clnn_stage *s, const char *kernel, const clnn_tensor *src, const clnn_tensor *dst) {
  if (!src || !dst || src->numel == 0) return CLNN_SUCCESS;
  char opts[32];
  snprintf(opts, sizeof opts, "-DDT=%d", (int)s->dt);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(s->ctx, "stage", opts, kernel, &k));
  /* one work-item per 16 elements plus one for the tail, in groups of
   * STAGE_LOCAL (the kernels bound-check the rounded-up range) */
  const int64_t n = (int64_t)src->numel;
  size_t global[1] = {(size_t)clnn__round_up(n / 16 + 1, STAGE_LOCAL)}, local[1] = {STAGE_LOCAL};
  return clnn__launch(s->ctx, &k, CLNN_ARGS(CLNN_ARG_TENSOR(src), CLNN_ARG_TENSOR(dst), CLNN_ARG_U64(n)), 1, global,
                      local, s->op);
}

clnn_status clnn__stage_widen(clnn_stage *s, const clnn_tensor *t, const clnn_tensor *copy) {
  return convert(s, "stage_widen", t, copy);
}

clnn_status clnn__stage_round(clnn_stage *s, const clnn_tensor *copy, clnn_tensor *t) {
  return convert(s, "stage_round", copy, t);
}
