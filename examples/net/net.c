/*
 * net.c - clnn-net: runs torchvision's ResNet-18, MobileNetV2,
 * EfficientNet-B0 and a deformable ResNet-18 through libclnn, for inference
 * or training steps, and says how fast, where the time goes, how many
 * kernels a step launches and how much device memory the run needed.
 *
 *   clnn-net --model resnet18 [--mode infer|train] [--batch 8] [--size 224] ...
 *
 * The timed steps run without profiling; a second, profiled run of the same
 * network (one warm-up step, one recorded step) gives the time per op and
 * the launch count, unless --no-profile.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph.h"
#include "nets.h"
#include "npy.h"

typedef struct options {
  const char *model, *weights, *input, *labels, *save_logits, *save_weights, *json;
  bool train, profile, quiet, dropout, launches;
  int batch, size, classes, steps, warmup, device;
  const char *optim;
  double lr, momentum, wd;
  uint64_t seed;
  clnn_dtype dt; /* --precision: node values and gradients */
} options;

/* One network on one context, ready to step. */
typedef struct session {
  const options *o;
  clnn_context *ctx;
  graph g;
  net m;
  clnn_tensor *labels, *loss, *logits2, *dlogits2;
  clnn_tensor *m1[G_MAX_GROUPS], *m2[G_MAX_GROUPS]; /* optimizer state of each parameter group */
  clnn_buffer *state1, *state2;
  int64_t step;
  bool scaling; /* float16 training: dynamic loss scaling (clnn_grad_scaler) */
  clnn_grad_scaler scaler;
} session;

static void usage(FILE *f) {
  fprintf(f,
          "usage: clnn-net --model NAME [options]\n"
          "Runs a torchvision network through libclnn on an OpenCL device and times it.\n"
          "  --model NAME         resnet18, mobilenet_v2, efficientnet_b0 or resnet18_dcn (layer3 and layer4\n"
          "                       3x3 convs are modulated deformable convs; offset/mask convs start at zero)\n"
          "  --mode infer|train   eval-mode forward (default), or a training step: forward with batch\n"
          "                       statistics and dropout, cross-entropy, backward, optimizer step\n"
          "  --batch N            images per step (8)\n"
          "  --size S             image side (224)\n"
          "  --classes N          classifier outputs (1000)\n"
          "  --weights F          a torchvision state_dict in safetensors (float32; num_batches_tracked\n"
          "                       optional); default: torchvision's initialisation, seeded\n"
          "  --seed N             initialisation, input and dropout seed (1)\n"
          "  --precision P        f32 (default), f16 or bf16: activations and gradients in that type, conv and\n"
          "                       linear weights read from a half copy of float32 masters (the optimizer\n"
          "                       updates the masters and rewrites the copy), batch norm in float32\n"
          "  --input X.npy        float32 (N, 3, H, W) images: sets --batch and --size (H == W);\n"
          "                       default: N(0, 1) noise from the seed\n"
          "  --labels L.npy       int32 (N) class indices for training (default: i mod classes)\n"
          "  --save-logits Y.npy  the logits (N, classes) of the first step's forward\n"
          "  --save-weights F     the state_dict after the last step, in safetensors\n"
          "  --steps K            timed steps after the warm-up (5)\n"
          "  --warmup W           untimed steps first (1)\n"
          "  --optim sgd|adamw    training optimizer (sgd)\n"
          "  --lr X               learning rate (sgd 0.1, adamw 0.001)\n"
          "  --momentum X         SGD momentum (0.9)\n"
          "  --wd X               weight decay of conv and linear weights, not BN or biases\n"
          "                       (sgd 1e-4, adamw 0.01)\n"
          "  --no-dropout         dropout and stochastic depth pass through in training too\n"
          "  --no-profile         skip the profiled run (time per op, launches per step)\n"
          "  --launches           also list every launch of the profiled step (kernel, op, ms)\n"
          "  --json FILE          append one JSON record of the run to FILE\n"
          "  --device N           OpenCL device index as clnn-info lists them\n"
          "  --quiet              only the summary line\n"
          "Prints images/s, the median ms per step, the share of device time per op, kernel\n"
          "launches per step and the peak device memory the run allocated (clnn_context_memory).\n");
}

static bool parse_int(const char *flag, const char *v, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long x = v ? strtol(v, &end, 10) : 0;
  if (!v || *end || errno || x < lo || x > hi) {
    fprintf(stderr, "clnn-net: %s needs an integer in [%d, %d]\n", flag, lo, hi);
    return false;
  }
  *out = (int)x;
  return true;
}

static bool parse_double(const char *flag, const char *v, double *out) {
  char *end;
  double x = v ? strtod(v, &end) : 0;
  if (!v || *end || !(x >= 0.0 && x < 1e6)) {
    fprintf(stderr, "clnn-net: %s needs a number in [0, 1e6)\n", flag);
    return false;
  }
  *out = x;
  return true;
}

static bool parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->batch = 8;
  o->size = 224;
  o->classes = 1000;
  o->steps = 5;
  o->warmup = 1;
  o->device = -1;
  o->optim = "sgd";
  o->lr = o->momentum = o->wd = -1.0;
  o->profile = o->dropout = true;
  o->seed = 1;
  int seed = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = true, takes = true;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "--mode")) {
      ok = v && (!strcmp(v, "infer") || !strcmp(v, "train"));
      o->train = ok && !strcmp(v, "train");
    } else if (!strcmp(a, "--batch")) ok = parse_int(a, v, 1, 4096, &o->batch);
    else if (!strcmp(a, "--size")) ok = parse_int(a, v, 1, 8192, &o->size);
    else if (!strcmp(a, "--classes")) ok = parse_int(a, v, 1, 1 << 20, &o->classes);
    else if (!strcmp(a, "--steps")) ok = parse_int(a, v, 1, 1000000, &o->steps);
    else if (!strcmp(a, "--warmup")) ok = parse_int(a, v, 0, 1000000, &o->warmup);
    else if (!strcmp(a, "--device")) ok = parse_int(a, v, 0, 1 << 20, &o->device);
    else if (!strcmp(a, "--seed")) ok = parse_int(a, v, 0, INT_MAX, &seed);
    else if (!strcmp(a, "--weights")) o->weights = v;
    else if (!strcmp(a, "--input")) o->input = v;
    else if (!strcmp(a, "--labels")) o->labels = v;
    else if (!strcmp(a, "--save-logits")) o->save_logits = v;
    else if (!strcmp(a, "--save-weights")) o->save_weights = v;
    else if (!strcmp(a, "--json")) o->json = v;
    else if (!strcmp(a, "--precision")) ok = graph_precision_of(v, &o->dt);
    else if (!strcmp(a, "--optim")) {
      ok = v && (!strcmp(v, "sgd") || !strcmp(v, "adamw"));
      o->optim = v;
    } else if (!strcmp(a, "--lr")) ok = parse_double(a, v, &o->lr);
    else if (!strcmp(a, "--momentum")) ok = parse_double(a, v, &o->momentum);
    else if (!strcmp(a, "--wd")) ok = parse_double(a, v, &o->wd);
    else {
      takes = false;
      if (!strcmp(a, "--no-dropout")) o->dropout = false;
      else if (!strcmp(a, "--no-profile")) o->profile = false;
      else if (!strcmp(a, "--launches")) o->launches = true;
      else if (!strcmp(a, "--quiet")) o->quiet = true;
      else {
        fprintf(stderr, "clnn-net: unknown option %s (see --help)\n", a);
        return false;
      }
    }
    if (takes && !v) ok = false;
    if (!ok) {
      fprintf(stderr, "clnn-net: bad or missing value for %s (see --help)\n", a);
      return false;
    }
    if (takes) i++;
  }
  o->seed = (uint64_t)seed;
  if (!o->model || net_kind_of(o->model) == NET_COUNT_) {
    fprintf(stderr, "clnn-net: --model must be resnet18, mobilenet_v2, efficientnet_b0 or resnet18_dcn\n");
    return false;
  }
  const bool adamw = !strcmp(o->optim, "adamw");
  if (o->lr < 0) o->lr = adamw ? 0.001 : 0.1;
  if (o->momentum < 0) o->momentum = 0.9;
  if (o->wd < 0) o->wd = adamw ? 0.01 : 1e-4;
  return true;
}

/* ------------------------------------------------------------- session */

#define CHECK(s, expr)                                                                           \
  do {                                                                                           \
    clnn_status st_ = (expr);                                                                    \
    if (st_ != CLNN_SUCCESS) {                                                                   \
      fprintf(stderr, "clnn-net: %s failed: %s: %s\n", #expr, clnn_status_name(st_),            \
              clnn_context_errmsg((s)->ctx));                                                    \
      return false;                                                                              \
    }                                                                                            \
  } while (0)

static clnn_status view_of(const clnn_tensor *t, int ndim, const int64_t *dims, clnn_tensor **out) {
  return clnn_tensor_view(clnn_tensor_buffer(t), clnn_tensor_offset_bytes(t), clnn_tensor_dtype(t), ndim, dims, out);
}

/* Optimizer state mirroring the parameter masters, viewed per parameter
 * group of the graph (weight decay or not; float32 or half gradients). */
static bool optimizer_init(session *s) {
  graph *g = &s->g;
  const g_param_group *groups;
  const int n = graph_param_groups(g, &groups);
  const size_t bytes = g->arena_size * sizeof(float);
  const bool adamw = !strcmp(s->o->optim, "adamw");
  CHECK(s, clnn_buffer_create(s->ctx, bytes ? bytes : 1, &s->state1));
  if (adamw) CHECK(s, clnn_buffer_create(s->ctx, bytes ? bytes : 1, &s->state2));
  const float zero = 0.0f;
  CHECK(s, clnn_buffer_fill(s->state1, 0, bytes, &zero, sizeof zero));
  if (adamw) CHECK(s, clnn_buffer_fill(s->state2, 0, bytes, &zero, sizeof zero));
  for (int k = 0; k < n; k++) {
    const int64_t count = (int64_t)groups[k].numel;
    const size_t at = groups[k].offset * sizeof(float);
    CHECK(s, clnn_tensor_view(s->state1, at, CLNN_FLOAT32, 1, &count, &s->m1[k]));
    if (adamw) CHECK(s, clnn_tensor_view(s->state2, at, CLNN_FLOAT32, 1, &count, &s->m2[k]));
  }
  return true;
}

/* One step of every parameter group (each rewriting its half model copy,
 * if any), or none when a float16 step's scaled gradients overflowed. */
static bool optimizer_step(session *s, float grad_scale) {
  const options *o = s->o;
  if (s->scaling) {
    bool overflow;
    CHECK(s, graph_grads_overflow(&s->g, &overflow));
    CHECK(s, clnn_grad_scaler_update(&s->scaler, overflow));
    if (overflow) return true;
  }
  const g_param_group *groups;
  const int n = graph_param_groups(&s->g, &groups);
  s->step++;
  for (int k = 0; k < n; k++) {
    clnn_tensor *w = groups[k].w, *copy = groups[k].h, **copies = copy ? &copy : NULL;
    const clnn_tensor *gr = groups[k].g;
    const double wd = groups[k].decay ? o->wd : 0.0;
    if (!strcmp(o->optim, "adamw")) {
      clnn_adam_desc d = clnn_adam_desc_make(o->lr, s->step);
      d.weight_decay = wd;
      d.grad_scale = grad_scale;
      CHECK(s, clnn_adamw_step_copy(s->ctx, &d, 1, &w, &gr, &s->m1[k], &s->m2[k], NULL, copies, NULL));
    } else {
      clnn_sgd_desc d = clnn_sgd_desc_make(o->lr, s->step);
      d.momentum = o->momentum;
      d.weight_decay = wd;
      d.grad_scale = grad_scale;
      CHECK(s, clnn_sgd_step_copy(s->ctx, &d, 1, &w, &gr, &s->m1[k], copies, NULL));
    }
  }
  return true;
}

/* Images and labels: from the files, or drawn from the seed. */
static bool upload_inputs(session *s, const npy_array *x) {
  const options *o = s->o;
  const size_t n_img = (size_t)o->batch * 3 * (size_t)o->size * (size_t)o->size;
  float *host = NULL;
  if (!x) {
    host = malloc(n_img * sizeof *host);
    if (!host) return false;
    uint64_t z = o->seed * 0x9e3779b97f4a7c15ull + 12345;
    for (size_t i = 0; i < n_img; i += 2) { /* Box-Muller pairs from an LCG: noise, not statistics */
      z = z * 6364136223846793005ull + 1442695040888963407ull;
      double u1 = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
      z = z * 6364136223846793005ull + 1442695040888963407ull;
      double u2 = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
      double r = sqrt(-2.0 * log(u1));
      host[i] = (float)(r * cos(6.283185307179586 * u2));
      if (i + 1 < n_img) host[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
  }
  clnn_status st = clnn_tensor_write_f32(s->g.nodes[s->m.input].t, x ? x->data : host, n_img);
  free(host);
  CHECK(s, st);
  if (!o->train) return true;
  int32_t *labels = malloc((size_t)o->batch * sizeof *labels);
  if (!labels) return false;
  bool ok = true;
  if (o->labels) {
    npy_array l;
    char err[512];
    ok = npy_read(o->labels, &l, err, sizeof err);
    if (!ok) fprintf(stderr, "clnn-net: %s\n", err);
    if (ok && (l.dtype != CLNN_INT32 || l.ndim != 1 || l.dims[0] != o->batch)) {
      fprintf(stderr, "clnn-net: %s must be int32 of shape (%d)\n", o->labels, o->batch);
      ok = false;
    }
    for (int i = 0; ok && i < o->batch; i++) {
      labels[i] = ((const int32_t *)l.data)[i];
      if (labels[i] < 0 || labels[i] >= o->classes) {
        fprintf(stderr, "clnn-net: label %d of %s is outside [0, %d)\n", labels[i], o->labels, o->classes);
        ok = false;
      }
    }
    if (l.data) free(l.data);
  } else {
    for (int i = 0; i < o->batch; i++) labels[i] = i % o->classes;
  }
  clnn_status st2 = ok ? clnn_tensor_write(s->labels, labels, (size_t)o->batch * sizeof *labels) : CLNN_SUCCESS;
  free(labels);
  CHECK(s, st2);
  return ok;
}

static void session_free(session *s) {
  clnn_tensor *ts[] = {s->labels, s->loss, s->logits2, s->dlogits2};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) clnn_tensor_free(ts[i]);
  for (int k = 0; k < G_MAX_GROUPS; k++) {
    clnn_tensor_free(s->m1[k]);
    clnn_tensor_free(s->m2[k]);
  }
  clnn_buffer_free(s->state1);
  clnn_buffer_free(s->state2);
  graph_free(&s->g);
  clnn_context_free(s->ctx);
  memset(s, 0, sizeof *s);
}

static bool session_open(session *s, const options *o, bool profiling, const npy_array *x) {
  memset(s, 0, sizeof *s);
  s->o = o;
  clnn_context_options co = clnn_context_options_default();
  co.device_index = o->device;
  co.profiling = profiling ? 1 : 0;
  clnn_status st = clnn_context_create(&co, &s->ctx);
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-net: no context: %s: %s\n", clnn_status_name(st), clnn_context_errmsg(NULL));
    return false;
  }
  graph_init(&s->g, s->ctx);
  s->g.dropout_seed = o->seed;
  s->g.dropout_off = !o->dropout;
  if (!net_build(&s->m, &s->g, net_kind_of(o->model), o->batch, o->size, o->classes)) {
    fprintf(stderr, "clnn-net: cannot build %s for %dx%d images (too small for its strides?)\n", o->model,
            o->size, o->size);
    return false;
  }
  graph_set_memory_plan(&s->g, o->train ? G_MEM_TRAIN : G_MEM_INFER);
  graph_set_precision(&s->g, o->dt);
  s->scaling = o->train && o->dt == CLNN_FLOAT16;
  s->scaler = clnn_grad_scaler_make(65536.0); /* torch.cuda.amp.GradScaler's defaults */
  CHECK(s, graph_finalize(&s->g));
  if (o->weights) {
    char err[512];
    if (!graph_load_state(&s->g, o->weights, err, sizeof err)) {
      fprintf(stderr, "clnn-net: %s: %s\n", o->weights, err);
      return false;
    }
  } else {
    CHECK(s, net_init_params(&s->m, &s->g, o->seed));
  }
  const int64_t n = o->batch, d2[2] = {n, o->classes}, one = 1;
  CHECK(s, view_of(s->g.nodes[s->m.logits].t, 2, d2, &s->logits2));
  if (o->train) {
    CHECK(s, view_of(s->g.nodes[s->m.logits].g, 2, d2, &s->dlogits2));
    CHECK(s, clnn_tensor_create(s->ctx, CLNN_INT32, 1, &n, &s->labels));
    CHECK(s, clnn_tensor_create(s->ctx, CLNN_FLOAT32, 1, &one, &s->loss));
    if (!optimizer_init(s)) return false;
  }
  return upload_inputs(s, x);
}

/* One step: a forward, or a whole training step. Enqueued, not waited for. */
static bool session_step(session *s) {
  if (!s->o->train) {
    CHECK(s, graph_forward(&s->g, false));
    return true;
  }
  clnn_loss_class_desc ld = clnn_loss_class_desc_make(s->o->batch, s->o->classes);
  ld.grad_scale = s->scaling ? (float)s->scaler.scale : 1.0f;
  CHECK(s, graph_forward(&s->g, true));
  CHECK(s, clnn_loss_xent(s->ctx, &ld, s->logits2, s->labels, s->loss, s->dlogits2));
  CHECK(s, graph_backward(&s->g, s->m.logits));
  return optimizer_step(s, ld.grad_scale);
}

/* ------------------------------------------------------------- results */

typedef struct results {
  double ms_median, ms_min, images_per_s;
  size_t peak_bytes, launches;
  float loss;
} results;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static bool save_logits(session *s) {
  const size_t count = (size_t)s->o->batch * (size_t)s->o->classes;
  float *h = malloc(count * sizeof *h);
  if (!h) return false;
  clnn_status st = clnn_tensor_read_f32(s->logits2, h, count);
  char err[512] = "";
  const int64_t dims[2] = {s->o->batch, s->o->classes};
  bool ok = st == CLNN_SUCCESS && npy_write(s->o->save_logits, CLNN_FLOAT32, 2, dims, h, err, sizeof err);
  free(h);
  if (!ok) fprintf(stderr, "clnn-net: --save-logits: %s\n", st != CLNN_SUCCESS ? clnn_context_errmsg(s->ctx) : err);
  return ok;
}

/* The warm-up and timed steps, each waited for (the time of a step is its wall time). */
static bool run_timed(session *s, results *r) {
  const options *o = s->o;
  double *ms = malloc((size_t)o->steps * sizeof *ms);
  if (!ms) return false;
  bool ok = true;
  for (int i = 0; ok && i < o->warmup + o->steps; i++) {
    double t0 = now_ms();
    ok = session_step(s);
    if (ok && clnn_context_finish(s->ctx) != CLNN_SUCCESS) {
      fprintf(stderr, "clnn-net: step %d failed: %s\n", i, clnn_context_errmsg(s->ctx));
      ok = false;
    }
    if (ok && i >= o->warmup) ms[i - o->warmup] = now_ms() - t0;
    if (ok && i == 0 && o->save_logits) ok = save_logits(s);
  }
  if (ok) {
    qsort(ms, (size_t)o->steps, sizeof *ms, cmp_double);
    r->ms_min = ms[0];
    r->ms_median = o->steps % 2 ? ms[o->steps / 2] : 0.5 * (ms[o->steps / 2 - 1] + ms[o->steps / 2]);
    r->images_per_s = (double)o->batch * 1e3 / r->ms_median;
    clnn_memory_stats m;
    clnn_context_memory(s->ctx, &m);
    r->peak_bytes = m.peak_bytes;
    if (o->train && clnn_tensor_read(s->loss, &r->loss, sizeof r->loss) != CLNN_SUCCESS) ok = false;
  }
  free(ms);
  return ok;
}

/* Device time of one profiled step, per op and pass ("conv2d_fwd", ...). */
typedef struct op_time {
  char op[48];
  double ms;
  int launches;
} op_time;

static int by_ms_desc(const void *a, const void *b) {
  const op_time *x = a, *y = b;
  return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

static bool run_profiled(const options *o, const npy_array *x, results *r, FILE *out) {
  session s;
  bool ok = session_open(&s, o, true, x);
  ok = ok && session_step(&s) && clnn_context_finish(s.ctx) == CLNN_SUCCESS; /* warm-up: builds, workspaces */
  ok = ok && clnn_profile_reset(s.ctx) == CLNN_SUCCESS && session_step(&s);
  size_t count = 0;
  clnn_profile_entry *e = NULL;
  ok = ok && clnn_profile_get(s.ctx, NULL, 0, &count) == CLNN_SUCCESS;
  if (ok && count) {
    e = calloc(count, sizeof *e);
    ok = e && clnn_profile_get(s.ctx, e, count, &count) == CLNN_SUCCESS;
  }
  double span = 0;
  ok = ok && clnn_profile_span(s.ctx, &span) == CLNN_SUCCESS;
  op_time *ops = ok ? calloc(count + 1, sizeof *ops) : NULL;
  int n_ops = 0;
  double total = 0;
  for (size_t i = 0; ops && i < count; i++) {
    char key[48];
    snprintf(key, sizeof key, "%s", e[i].op);
    key[strcspn(key, ":")] = 0; /* the op and pass, without the variant */
    int k = 0;
    while (k < n_ops && strcmp(ops[k].op, key)) k++;
    if (k == n_ops) snprintf(ops[n_ops++].op, sizeof ops[0].op, "%s", key);
    ops[k].ms += e[i].ms;
    ops[k].launches++;
    total += e[i].ms;
  }
  for (size_t i = 0; ok && o->launches && i < count; i++)
    fprintf(out, "  launch %4zu %-36s %-40s %8.3f ms\n", i, e[i].kernel, e[i].op, e[i].ms);
  if (ops) {
    r->launches = count;
    qsort(ops, (size_t)n_ops, sizeof *ops, by_ms_desc);
    fprintf(out, "profiled step: %zu kernel launches, %.1f ms of kernels in a %.1f ms span\n", count, total, span);
    for (int k = 0; k < n_ops; k++)
      fprintf(out, "  %-28s %8.2f ms %5.1f%%  %4d launches\n", ops[k].op, ops[k].ms,
              total > 0 ? 100.0 * ops[k].ms / total : 0.0, ops[k].launches);
  }
  if (!ok) fprintf(stderr, "clnn-net: the profiled run failed: %s\n", s.ctx ? clnn_context_errmsg(s.ctx) : "");
  free(ops);
  free(e);
  session_free(&s);
  return ok;
}

static bool append_json(const options *o, const results *r, const char *device) {
  FILE *f = fopen(o->json, "a");
  if (!f) {
    fprintf(stderr, "clnn-net: cannot open %s: %s\n", o->json, strerror(errno));
    return false;
  }
  fprintf(f,
          "{\"model\": \"%s\", \"mode\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"size\": %d, \"steps\": %d, "
          "\"ms_per_step\": %.3f, \"ms_min\": %.3f, \"images_per_s\": %.3f, \"launches_per_step\": %zu, "
          "\"peak_bytes\": %zu, \"device\": \"%s\"}\n",
          o->model, o->train ? "train" : "infer", clnn_dtype_name(o->dt), o->batch, o->size, o->steps, r->ms_median, r->ms_min,
          r->images_per_s, r->launches, r->peak_bytes, device);
  bool ok = fclose(f) == 0;
  if (!ok) fprintf(stderr, "clnn-net: writing %s failed\n", o->json);
  return ok;
}

/* --input: float32 (N, 3, S, S); sets the batch and the size. */
static bool read_input(options *o, npy_array *x) {
  char err[512];
  if (!npy_read(o->input, x, err, sizeof err)) {
    fprintf(stderr, "clnn-net: %s\n", err);
    return false;
  }
  if (x->dtype != CLNN_FLOAT32 || x->ndim != 4 || x->dims[1] != 3 || x->dims[2] != x->dims[3] ||
      x->dims[0] < 1 || x->dims[0] > 4096 || x->dims[2] > 8192) {
    fprintf(stderr, "clnn-net: %s must be float32 (N, 3, S, S) with N <= 4096, S <= 8192\n", o->input);
    free(x->data);
    return false;
  }
  o->batch = (int)x->dims[0];
  o->size = (int)x->dims[2];
  return true;
}

int main(int argc, char **argv) {
  options o;
  if (!parse_options(argc, argv, &o)) return 2;
  npy_array x = {0};
  if (o.input && !read_input(&o, &x)) return 2;
  session s;
  results r = {0};
  bool ok = session_open(&s, &o, false, o.input ? &x : NULL);
  char device[128] = "";
  if (ok) snprintf(device, sizeof device, "%s", clnn_context_device_name(s.ctx));
  if (ok && !o.quiet)
    printf("%s %s, batch %d, %dx%d, %zu parameters, on %s\n", o.model, o.train ? "train" : "infer", o.batch,
           o.size, o.size, graph_param_count(&s.g), device);
  ok = ok && run_timed(&s, &r);
  if (ok && o.save_weights) {
    char err[512];
    ok = graph_save_state(&s.g, o.save_weights, err, sizeof err);
    if (!ok) fprintf(stderr, "clnn-net: --save-weights: %s\n", err);
  }
  if (ok && !o.quiet)
    printf("node memory: values %.1f MB (%.1f MB unshared), gradients %.1f MB (%.1f MB unshared)\n",
           s.g.value_bytes / 1e6, s.g.value_bytes_unshared / 1e6, s.g.grad_bytes / 1e6,
           s.g.grad_bytes_unshared / 1e6);
  session_free(&s);
  if (ok && o.profile) ok = run_profiled(&o, o.input ? &x : NULL, &r, o.quiet ? stderr : stdout);
  if (ok) {
    printf("%s %s batch %d %dx%d: %.2f images/s, %.2f ms per step (median of %d; min %.2f), "
           "%zu launches per step, peak %.1f MB",
           o.model, o.train ? "train" : "infer", o.batch, o.size, o.size, r.images_per_s, r.ms_median, o.steps,
           r.ms_min, r.launches, r.peak_bytes / 1e6);
    if (o.train) printf(", last loss %.4f", r.loss);
    printf("\n");
  }
  if (ok && o.json) ok = append_json(&o, &r, device);
  free(x.data);
  return ok ? 0 : 1;
}
