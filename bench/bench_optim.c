/*
 * bench_optim.c - clnn-bench families of the optimizer ops:
 *   adamw n25000000 [tensors=resnet50] [lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08 wd=0.01
 *                   amsgrad=0 maximize=0 scale=1 skip=0 t=0]
 *   adam  n1000 ...                     (same keys; wd defaults to 0)
 *   sgd   n1000 lr=0.1 momentum=0.9 dampening=0 nesterov=1 wd=0.0001 [maximize scale skip t]
 *   ema   n1000 decay=0.999
 *   clip_grad_norm n1000 max_norm=1
 * n is the total number of parameters. tensors= splits them into a list:
 * "resnet50" uses the 161 parameter tensors of torchvision's ResNet-50
 * (the project's anchor suite, 25,557,032 elements), scaled so that they
 * add up to n (n25557032 or no n gives the exact sizes); an integer K gives
 * K near-equal tensors. The list's tensors are views into one flat tensor
 * per role, back to back (an arena), so the .npy files are flat (n).
 * t = steps already taken; --steps K applies steps t+1 .. t+K with the same
 * gradient (R mode writes the state after the last one).
 * Tensors: param (updated), grad, m and v (Adam state), vmax (amsgrad=1),
 * m (SGD momentum buffer; not read when t=0, where PyTorch creates it),
 * found_inf (int32, skip=1), ema, norm (clip_grad_norm: the total norm).
 *
 * Half precision (mixed-precision training): dt=f16|bf16 makes the
 * gradients of a step that type and adds a model copy of that type ("copy",
 * written from the new master by the *_step_copy ops); param stays float32
 * (the master). state=bf16 (any dt) keeps m, v, vmax or the momentum buffer
 * in bfloat16. ema and clip_grad_norm run their tensors in dt (norm stays
 * float32). P mode counts the bytes of each tensor's real type.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { K_ADAMW, K_ADAM, K_SGD, K_EMA, K_CLIP };

#define RESNET50_TENSORS 161
#define RESNET50_NUMEL 25557032LL
#define MAX_TENSORS 100000

/* torchvision resnet50's parameter sizes, in model.parameters() order
 * (the adamw_resnet50_161t case of the project's anchor suite). */
static const int64_t resnet50_sizes[RESNET50_TENSORS] = {
    9408, 64, 64, 4096, 64, 64, 36864, 64, 64, 16384, 256, 256, 16384, 256, 256, 16384, 64, 64,
    36864, 64, 64, 16384, 256, 256, 16384, 64, 64, 36864, 64, 64, 16384, 256, 256, 32768, 128, 128,
    147456, 128, 128, 65536, 512, 512, 131072, 512, 512, 65536, 128, 128, 147456, 128, 128, 65536,
    512, 512, 65536, 128, 128, 147456, 128, 128, 65536, 512, 512, 65536, 128, 128, 147456, 128, 128,
    65536, 512, 512, 131072, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 524288, 1024, 1024,
    262144, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 262144, 256, 256, 589824, 256, 256,
    262144, 1024, 1024, 262144, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 262144, 256, 256,
    589824, 256, 256, 262144, 1024, 1024, 262144, 256, 256, 589824, 256, 256, 262144, 1024, 1024,
    524288, 512, 512, 2359296, 512, 512, 1048576, 2048, 2048, 2097152, 2048, 2048, 1048576, 512,
    512, 2359296, 512, 512, 1048576, 2048, 2048, 1048576, 512, 512, 2359296, 512, 512, 1048576,
    2048, 2048, 2048000, 1000,
};

typedef struct optim_problem {
  int kind;
  int64_t n;
  int64_t t; /* steps already taken */
  clnn_adam_desc adam;
  clnn_sgd_desc sgd;
  double decay, max_norm;
  clnn_dtype state; /* m, v, vmax, momentum: float32 or bfloat16 (state=) */
  bool copy;        /* a half model copy (dt=f16|bf16 for a step) */
  int ntensors;
  int64_t sizes[MAX_TENSORS];
} optim_problem;

/* Sizes of the tensors=resnet50 list for n elements in all: boundaries at
 * round(cumulative * n / total) (bench/torch/optim.py does the same). */
static bool resnet50_split(int64_t n, int64_t *sizes, char *err, size_t errlen) {
  int64_t cum = 0, prev = 0;
  /* round(cum * n / total) without the product: n = q * total + r. */
  const int64_t q = n / RESNET50_NUMEL, r = n % RESNET50_NUMEL;
  for (int i = 0; i < RESNET50_TENSORS; i++) {
    cum += resnet50_sizes[i];
    int64_t b = cum * q + (cum * r + RESNET50_NUMEL / 2) / RESNET50_NUMEL;
    sizes[i] = b - prev;
    prev = b;
    if (sizes[i] < 1) {
      snprintf(err, errlen, "n%lld is too small for tensors=resnet50 (tensor %d would be empty)", (long long)n, i);
      return false;
    }
  }
  return true;
}

static bool split_list(optim_problem *o, bench_args *a, bool *have_n, char *err, size_t errlen) {
  const char *ts = NULL;
  if (!bench_arg_str(a, "tensors", &ts) || !strcmp(ts, "1")) {
    o->ntensors = 1;
    o->sizes[0] = o->n;
    return true;
  }
  if (!strcmp(ts, "resnet50")) {
    if (!*have_n) o->n = RESNET50_NUMEL, *have_n = true;
    o->ntensors = RESNET50_TENSORS;
    return resnet50_split(o->n, o->sizes, err, errlen);
  }
  char *end;
  long k = strtol(ts, &end, 10);
  if (*end || k < 1 || k > MAX_TENSORS || (*have_n && k > o->n)) {
    snprintf(err, errlen, "tensors=%s: expected resnet50 or a count in [1, min(n, %d)]", ts, MAX_TENSORS);
    return false;
  }
  o->ntensors = (int)k;
  for (long i = 0; i < k; i++) o->sizes[i] = o->n / k + (i < o->n % k);
  return true;
}

/* Real-valued key into *v (unchanged when absent); records a parse error. */
static void real_key(bench_args *a, const char *key, double *v, bool *ok) { bench_arg_real(a, key, v, ok); }

static void flag_key(bench_args *a, const char *key, int *v, bool *ok) {
  int64_t x;
  if (bench_arg_int(a, key, &x, ok)) {
    if (x != 0 && x != 1) *ok = false;
    *v = (int)x;
  }
}

static bool parse_keys(optim_problem *o, bench_args *a, char *err, size_t errlen) {
  bool ok = true;
  if (o->kind == K_ADAMW || o->kind == K_ADAM) {
    clnn_adam_desc *d = &o->adam;
    *d = clnn_adam_desc_make(1e-3, 1);
    d->weight_decay = o->kind == K_ADAMW ? 0.01 : 0.0; /* PyTorch's defaults */
    real_key(a, "lr", &d->lr, &ok);
    real_key(a, "beta1", &d->beta1, &ok);
    real_key(a, "beta2", &d->beta2, &ok);
    real_key(a, "eps", &d->eps, &ok);
    real_key(a, "wd", &d->weight_decay, &ok);
    real_key(a, "scale", &d->grad_scale, &ok);
    flag_key(a, "amsgrad", &d->amsgrad, &ok);
    flag_key(a, "maximize", &d->maximize, &ok);
    flag_key(a, "skip", &d->skip_nonfinite, &ok);
  } else if (o->kind == K_SGD) {
    clnn_sgd_desc *d = &o->sgd;
    *d = clnn_sgd_desc_make(0.01, 1);
    real_key(a, "lr", &d->lr, &ok);
    real_key(a, "momentum", &d->momentum, &ok);
    real_key(a, "dampening", &d->dampening, &ok);
    real_key(a, "wd", &d->weight_decay, &ok);
    real_key(a, "scale", &d->grad_scale, &ok);
    flag_key(a, "nesterov", &d->nesterov, &ok);
    flag_key(a, "maximize", &d->maximize, &ok);
    flag_key(a, "skip", &d->skip_nonfinite, &ok);
  } else if (o->kind == K_EMA) {
    o->decay = 0.999;
    real_key(a, "decay", &o->decay, &ok);
  } else {
    o->max_norm = 1.0;
    real_key(a, "max_norm", &o->max_norm, &ok);
  }
  if (o->kind <= K_SGD && bench_arg_int(a, "t", &o->t, &ok) && o->t < 0) ok = false;
  const char *state = NULL;
  o->state = CLNN_FLOAT32;
  if (o->kind <= K_SGD && bench_arg_str(a, "state", &state)) {
    if (!strcmp(state, "bf16")) o->state = CLNN_BFLOAT16;
    else if (strcmp(state, "f32")) {
      snprintf(err, errlen, "state=%s: expected f32 or bf16 (the optimizer state's type)", state);
      return false;
    }
  }
  if (!ok) {
    snprintf(err, errlen, "a key has a malformed value (numbers; flags 0 or 1; t >= 0)");
    return false;
  }
  /* Validate as the library will, for every step --steps asks for. */
  clnn_status st = CLNN_SUCCESS;
  o->adam.step = o->sgd.step = o->t + 1;
  if (o->kind == K_ADAMW || o->kind == K_ADAM) st = clnn_adam_desc_check(&o->adam);
  if (o->kind == K_SGD) st = clnn_sgd_desc_check(&o->sgd);
  if (o->kind == K_EMA && !(o->decay >= 0 && o->decay <= 1)) {
    snprintf(err, errlen, "decay=%g is outside [0, 1]", o->decay);
    return false;
  }
  if (o->kind == K_CLIP && !(o->max_norm >= 0)) {
    snprintf(err, errlen, "max_norm=%g must be >= 0", o->max_norm);
    return false;
  }
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  return true;
}

/* Bytes moved per element by one call, each tensor in its type: e the
 * gradient's (and copy's, EMA's, clipped gradient's) size, s the state's;
 * the master parameter is float32 (read and written). */
static double bytes_per_element(const optim_problem *o, double e) {
  const double s = (double)clnn_dtype_size(o->state), copy = o->copy ? e : 0.0;
  switch (o->kind) {
  case K_ADAMW:
  case K_ADAM:
    return 8.0 + e + s * (4 + (o->adam.amsgrad ? 2 : 0)) + (o->adam.skip_nonfinite ? e : 0.0) + copy;
  case K_SGD:
    return 8.0 + e + s * (o->sgd.momentum != 0 ? (o->t == 0 ? 1 : 2) : 0) + (o->sgd.skip_nonfinite ? e : 0.0) + copy;
  case K_EMA:
    return e * 3;
  default:
    return e * 3; /* norm pass reads, scaling reads and writes (when it clips) */
  }
}

static bool optim_setup_kind(bench_problem *p, bench_args *a, int kind, char *err, size_t errlen) {
  optim_problem *o = calloc(1, sizeof *o);
  if (!o) return false;
  p->params = o;
  o->kind = kind;
  bool ok = true, have_n = bench_arg_int(a, "n", &o->n, &ok);
  if (!ok || (have_n && (o->n < 1 || (uint64_t)o->n > BENCH_MAX_NUMEL))) {
    snprintf(err, errlen, "n must be a whole number from 1 to 2^36");
    return false;
  }
  if (!split_list(o, a, &have_n, err, errlen)) return false;
  if (!have_n) {
    snprintf(err, errlen, "%s needs n (the number of parameters)", p->fam->name);
    return false;
  }
  if (!parse_keys(o, a, err, errlen)) return false;
  const int64_t dims[1] = {o->n}, one[1] = {1};
  bench_tensor *t;
  o->copy = kind <= K_SGD && p->dt != CLNN_FLOAT32;
  if (kind == K_ADAMW || kind == K_ADAM) {
    t = bench_add(p, "param", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
    t->fill = BENCH_FILL_NORMAL;
    t->store = CLNN_FLOAT32; /* the master stays float32 */
    bench_add(p, "grad", BENCH_IN, CLNN_FLOAT32, 1, dims)->fill = BENCH_FILL_NORMAL;
    t = bench_add(p, "m", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
    t->lo = -0.1, t->hi = 0.1, t->store = o->state;
    t = bench_add(p, "v", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
    t->lo = 0.0, t->hi = 0.01, t->store = o->state;
    if (o->adam.amsgrad) {
      t = bench_add(p, "vmax", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
      t->lo = 0.0, t->hi = 0.02, t->store = o->state;
    }
    if (o->copy) bench_add(p, "copy", BENCH_OUT, CLNN_FLOAT32, 1, dims);
    if (o->adam.skip_nonfinite) bench_add(p, "found_inf", BENCH_OUT, CLNN_INT32, 1, one);
  } else if (kind == K_SGD) {
    t = bench_add(p, "param", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
    t->fill = BENCH_FILL_NORMAL;
    t->store = CLNN_FLOAT32;
    bench_add(p, "grad", BENCH_IN, CLNN_FLOAT32, 1, dims)->fill = BENCH_FILL_NORMAL;
    if (o->sgd.momentum != 0)
      bench_add(p, "m", o->t == 0 ? BENCH_OUT : BENCH_INOUT, CLNN_FLOAT32, 1, dims)->store = o->state;
    if (o->copy) bench_add(p, "copy", BENCH_OUT, CLNN_FLOAT32, 1, dims);
    if (o->sgd.skip_nonfinite) bench_add(p, "found_inf", BENCH_OUT, CLNN_INT32, 1, one);
  } else if (kind == K_EMA) {
    bench_add(p, "ema", BENCH_INOUT, CLNN_FLOAT32, 1, dims)->fill = BENCH_FILL_NORMAL;
    bench_add(p, "param", BENCH_IN, CLNN_FLOAT32, 1, dims)->fill = BENCH_FILL_NORMAL;
  } else {
    /* Gradients of norm about 2 * max_norm: the clipping path runs. */
    t = bench_add(p, "grad", BENCH_INOUT, CLNN_FLOAT32, 1, dims);
    t->fill = BENCH_FILL_NORMAL;
    t->lo = 0.0, t->hi = 2.0 * (o->max_norm > 0 && isfinite(o->max_norm) ? o->max_norm : 1.0) / sqrt((double)o->n);
    bench_add(p, "norm", BENCH_OUT, CLNN_FLOAT32, 1, one)->store = CLNN_FLOAT32;
  }
  int steps = kind <= K_SGD ? bench_opt.steps : 1;
  p->bytes = bytes_per_element(o, bench_elem_bytes(p)) * (double)o->n * steps;
  p->tol = 1e-5;
  snprintf(p->algo, sizeof p->algo, "%d tensor%s", o->ntensors, o->ntensors > 1 ? "s" : "");
  return true;
}

/* --------------------------------------------------------------- device */

/* Views of one flat device tensor cut into the problem's list. */
static clnn_status make_views(const optim_problem *o, clnn_tensor *flat, clnn_tensor **views) {
  if (!flat) return CLNN_SUCCESS;
  size_t off = clnn_tensor_offset_bytes(flat);
  const clnn_dtype dt = clnn_tensor_dtype(flat);
  for (int i = 0; i < o->ntensors; i++) {
    clnn_status st = clnn_tensor_view(clnn_tensor_buffer(flat), off, dt, 1, &o->sizes[i], &views[i]);
    if (st != CLNN_SUCCESS) return st;
    off += (size_t)o->sizes[i] * clnn_dtype_size(dt);
  }
  return CLNN_SUCCESS;
}

#define NAMES 6

static clnn_status optim_run_device(clnn_context *ctx, bench_problem *p) {
  const optim_problem *o = p->params;
  static const char *const names[NAMES] = {"param", "grad", "m", "v", "vmax", "copy"};
  const char *const *nm = names;
  static const char *const ema_names[NAMES] = {"ema", "param", NULL, NULL, NULL, NULL};
  static const char *const clip_names[NAMES] = {"grad", NULL, NULL, NULL, NULL, NULL};
  if (o->kind == K_EMA) nm = ema_names;
  if (o->kind == K_CLIP) nm = clip_names;
  clnn_tensor **lists[NAMES] = {0};
  clnn_status st = CLNN_SUCCESS;
  for (int r = 0; r < NAMES && st == CLNN_SUCCESS; r++) {
    clnn_tensor *flat = nm[r] ? bench_dev(p, nm[r]) : NULL;
    if (!flat) continue;
    lists[r] = calloc((size_t)o->ntensors, sizeof *lists[r]);
    st = lists[r] ? make_views(o, flat, lists[r]) : CLNN_ERR_HOST_OUT_OF_MEMORY;
  }
  clnn_tensor *found = bench_dev(p, "found_inf");
  const size_t nt = (size_t)o->ntensors;
  const int steps = o->kind <= K_SGD ? bench_opt.steps : 1;
  for (int k = 0; k < steps && st == CLNN_SUCCESS; k++) {
    if (o->kind == K_ADAMW || o->kind == K_ADAM) {
      clnn_adam_desc d = o->adam;
      d.step = o->t + 1 + k;
      st = (o->kind == K_ADAMW ? clnn_adamw_step_copy : clnn_adam_step_copy)(
          ctx, &d, nt, lists[0], (const clnn_tensor *const *)lists[1], lists[2], lists[3], lists[4], lists[5],
          found);
    } else if (o->kind == K_SGD) {
      clnn_sgd_desc d = o->sgd;
      d.step = o->t + 1 + k;
      st = clnn_sgd_step_copy(ctx, &d, nt, lists[0], (const clnn_tensor *const *)lists[1], lists[2], lists[5],
                              found);
    } else if (o->kind == K_EMA) {
      st = clnn_ema_update(ctx, o->decay, nt, lists[0], (const clnn_tensor *const *)lists[1]);
    } else {
      st = clnn_clip_grad_norm(ctx, nt, lists[0], o->max_norm, bench_dev(p, "norm"));
    }
  }
  for (int r = 0; r < NAMES; r++) {
    if (!lists[r]) continue;
    for (int i = 0; i < o->ntensors; i++) clnn_tensor_free(lists[r][i]);
    free(lists[r]);
  }
  return st;
}

/* ------------------------------------------------------------ reference */

static clnn_status optim_run_ref(bench_problem *p) {
  const optim_problem *o = p->params;
  const size_t n = (size_t)o->n;
  float *param = bench_ref_out(p, "param");
  const float *grad = bench_ref_in(p, "grad");
  bench_tensor *found = bench_find(p, "found_inf");
  int *found_inf = found ? (int *)found->ref : NULL;
  clnn_status st = CLNN_SUCCESS;
  const int steps = o->kind <= K_SGD ? bench_opt.steps : 1;
  for (int k = 0; k < steps && st == CLNN_SUCCESS; k++) {
    if (o->kind == K_ADAMW || o->kind == K_ADAM) {
      clnn_adam_desc d = o->adam;
      d.step = o->t + 1 + k;
      st = (o->kind == K_ADAMW ? clnn_ref_adamw_step : clnn_ref_adam_step)(
          &d, n, param, grad, bench_ref_out(p, "m"), bench_ref_out(p, "v"), bench_ref_out(p, "vmax"), found_inf);
    } else if (o->kind == K_SGD) {
      clnn_sgd_desc d = o->sgd;
      d.step = o->t + 1 + k;
      st = clnn_ref_sgd_step(&d, n, param, grad, bench_ref_out(p, "m"), found_inf);
    } else if (o->kind == K_EMA) {
      st = clnn_ref_ema_update(o->decay, n, bench_ref_out(p, "ema"), bench_ref_in(p, "param"));
    } else {
      st = clnn_ref_clip_grad_norm(n, bench_ref_out(p, "grad"), o->max_norm, bench_ref_out(p, "norm"));
    }
  }
  /* The model copy is the new master (compared at the copy type's tolerance). */
  float *copy = bench_ref_out(p, "copy");
  if (st == CLNN_SUCCESS && copy) memcpy(copy, param, n * sizeof *copy);
  return st;
}

/* --------------------------------------------------------------- families */

static bool setup_adamw(bench_problem *p, bench_args *a, char *e, size_t n) { return optim_setup_kind(p, a, K_ADAMW, e, n); }
static bool setup_adam(bench_problem *p, bench_args *a, char *e, size_t n) { return optim_setup_kind(p, a, K_ADAM, e, n); }
static bool setup_sgd(bench_problem *p, bench_args *a, char *e, size_t n) { return optim_setup_kind(p, a, K_SGD, e, n); }
static bool setup_ema(bench_problem *p, bench_args *a, char *e, size_t n) { return optim_setup_kind(p, a, K_EMA, e, n); }
static bool setup_clip(bench_problem *p, bench_args *a, char *e, size_t n) { return optim_setup_kind(p, a, K_CLIP, e, n); }

#define OPTIM_FAMILY(var, fname, setupfn) \
  static const bench_family var = {       \
      .name = fname,                      \
      .passes = "step",                   \
      .setup = setupfn,                   \
      .fill = NULL,                       \
      .run_device = optim_run_device,     \
      .run_ref = optim_run_ref,           \
      .half = true,                       \
  }

OPTIM_FAMILY(adamw_family, "adamw", setup_adamw);
OPTIM_FAMILY(adam_family, "adam", setup_adam);
OPTIM_FAMILY(sgd_family, "sgd", setup_sgd);
OPTIM_FAMILY(ema_family, "ema", setup_ema);
OPTIM_FAMILY(clip_family, "clip_grad_norm", setup_clip);

const bench_family *const bench_optim_families[] = {&adamw_family, &adam_family, &sgd_family, &ema_family,
                                                    &clip_family, NULL};
