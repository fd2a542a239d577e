/*
 * train.c - clnn-train: trains an EfficientNet-style network on
 * Fashion-MNIST entirely through libclnn on the default OpenCL device.
 *
 *   clnn-train [--epochs 10] [--batch 128] [--phi 0] [--out DIR] ...
 *   clnn-train --eval CHECKPOINT          test accuracy of a checkpoint
 *   clnn-train --predict CHECKPOINT       a few test images, predicted
 *
 * Each step (forward, loss, backward, AdamW) is enqueued without waiting;
 * the host reads the loss and logits once per step. Writes DIR/log.csv,
 * DIR/curves.svg and DIR/checkpoint.safetensors (every epoch).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chart.h"
#include "data.h"
#include "dist.h"
#include "graph.h"
#include "idx.h"
#include "model.h"
#include "safetensors.h"

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct options {
  const char *data_dir, *out_dir, *resume, *eval, *predict, *parity;
  int epochs, batch, warmup_epochs, train_limit, test_limit, device, predict_count;
  int max_steps; /* --max-steps: stop after this many optimizer steps in all (0: no limit) */
  double lr, weight_decay, label_smoothing, phi;
  int crop_pad;
  bool flip, quiet;
  bool dist, sync_bn;    /* --dist (under mpirun), --sync-bn */
  double dist_timeout;   /* --dist-timeout: seconds any collective may wait */
  double bucket_mb;      /* --bucket-mb: gradient bucket size */
  int check_every;       /* --check-every: steps between weight checksums across processes */
  uint64_t seed;
  clnn_dtype dt; /* --precision: activations and gradients */
} options;

/* Everything a run holds on the device. */
typedef struct trainer {
  clnn_context *ctx;
  graph g;
  model m;
  options opt;
  dist *d;            /* --dist: the other processes (NULL: this one alone) */
  int rank, ranks;    /* this process's place (0 of 1 without --dist) */
  int rows;           /* rows of each global batch this process takes: batch / ranks */
  clnn_tensor *labels, *loss, *dlogits2, *logits2; /* 2-D views for the loss */
  clnn_tensor *adam_m[G_MAX_GROUPS], *adam_v[G_MAX_GROUPS]; /* AdamW's state of each parameter group */
  clnn_buffer *m_arena, *v_arena;
  int64_t step; /* optimizer steps taken */
  bool scaling;  /* float16: dynamic loss scaling (bfloat16 has float32's range and needs none) */
  clnn_grad_scaler scaler;
  int64_t skipped; /* steps skipped on overflow */
  int epoch;    /* epochs completed */
  int epoch_step; /* steps already taken of epoch `epoch` + 1 (a --max-steps stop inside it) */
  float *host_x, *host_logits; /* this process's rows */
  int32_t *host_labels;
  unsigned char *host_weights; /* --dist: the parameter arena, for weights_agree */
  float *batch_x;       /* the global batch as one process would draw it */
  int32_t *batch_labels;
} trainer;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define CHECK(tr, expr)                                                                             \
  do {                                                                                              \
    clnn_status st_ = (expr);                                                                       \
    if (st_ != CLNN_SUCCESS) {                                                                      \
      fprintf(stderr, "clnn-train: %s failed: %s: %s\n", #expr, clnn_status_name(st_),           \
              clnn_context_errmsg((tr)->ctx));                                                      \
      return false;                                                                                 \
    }                                                                                               \
  } while (0)

/* ------------------------------------------------------------ options */

static void usage(FILE *f) {
  fprintf(f,
          "usage: clnn-train [options]\n"
          "  --data DIR             Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
          "  --out DIR              log.csv, curves.svg, checkpoint.safetensors (default clnn-train-out)\n"
          "  --epochs N             training epochs (10)\n"
          "  --batch N              batch size (128)\n"
          "  --lr X                 peak AdamW learning rate (0.002)\n"
          "  --wd X                 weight decay on conv and linear weights, not BN or biases (0.05)\n"
          "  --warmup-epochs N      linear warm-up before the cosine schedule (1)\n"
          "  --label-smoothing X    (0.1)\n"
          "  --phi X                EfficientNet compound scaling coefficient (0)\n"
          "  --crop-pad N           random-crop padding in pixels, 0 = off (2)\n"
          "  --no-flip              no random horizontal flips\n"
          "  --train-limit N        use the first N training images (all)\n"
          "  --test-limit N         use the first N test images (all)\n"
          "  --seed N               initialisation, shuffling and augmentation seed (1)\n"
          "  --precision P          f32 (default), f16 or bf16: mixed precision, activations and gradients\n"
          "                         in that type, float32 master weights, batch norm in float32; f16 with\n"
          "                         dynamic loss scaling\n"
          "  --device N             OpenCL device index as clnn-info lists them\n"
          "  --max-steps N          stop after N optimizer steps in all (a resumed run's included), even\n"
          "                         inside an epoch, and write the checkpoint; --resume continues it\n"
          "  --resume CKPT          continue training from a checkpoint\n"
          "  --dist                 data-parallel over MPI: start with mpirun -np N; --batch stays the\n"
          "                         global batch (a multiple of N); see docs/DISTRIBUTED.md\n"
          "  --sync-bn              with --dist: batch norm over the global batch\n"
          "  --bucket-mb X          with --dist: gradient bucket size in MB (1)\n"
          "  --dist-timeout S       with --dist: a collective waiting longer ends the job (300)\n"
          "  --check-every N        with --dist: compare weight checksums every N steps (50)\n"
          "  --eval CKPT            print the test accuracy of a checkpoint and exit\n"
          "  --predict CKPT         print predictions for a few test images and exit (--count N)\n"
          "  --parity DIR           write a parity record for examples/parity_fmnist.py and exit\n"
          "  --quiet                only the per-epoch lines\n");
}

#define MAX_EPOCHS 100000 /* --epochs, and a checkpoint's "epoch" */

/* --name's value as a whole number in [lo, hi]; otherwise a message that names
 * the option, its range and what was given (atoi would read "abc" as 0). */
static bool int_option(const char *name, const char *v, long long lo, long long hi, int *out) {
  char *end;
  errno = 0;
  long long r = strtoll(v, &end, 10);
  if (errno || end == v || *end || r < lo || r > hi) {
    fprintf(stderr, "clnn-train: option %s must be a whole number from %lld to %lld, not '%s'\n", name, lo, hi, v);
    return false;
  }
  *out = (int)r;
  return true;
}

/* The same for a real number in [lo, hi]. */
static bool real_option(const char *name, const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double r = strtod(v, &end);
  if (errno || end == v || *end || !(r >= lo && r <= hi)) {
    if (isinf(hi)) fprintf(stderr, "clnn-train: option %s must be a number of at least %g, not '%s'\n", name, lo, v);
    else fprintf(stderr, "clnn-train: option %s must be a number from %g to %g, not '%s'\n", name, lo, hi, v);
    return false;
  }
  *out = r;
  return true;
}

/* --seed: a whole number from 0 to 2^64 - 1 (strtoull alone would read "abc" as 0 and "-1" as 2^64 - 1). */
static bool seed_option(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long r = strtoull(v, &end, 10);
  if (errno || end == v || *end || strchr(v, '-')) {
    fprintf(stderr, "clnn-train: option --seed must be a whole number from 0 to %llu, not '%s'\n", ULLONG_MAX, v);
    return false;
  }
  *out = r;
  return true;
}

static bool parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->data_dir = "/usr/share/datasets/fashion-mnist";
  o->out_dir = "clnn-train-out";
  o->epochs = 10;
  o->batch = 128;
  o->warmup_epochs = 1;
  o->lr = 0.002;
  o->weight_decay = 0.05;
  o->label_smoothing = 0.1;
  o->crop_pad = 2;
  o->flip = true;
  o->seed = 1;
  o->device = -1;
  o->predict_count = 8;
  o->dist_timeout = 300;
  o->bucket_mb = 1;
  o->check_every = 50;
  bool ok = true;
  const char *dist_only = NULL; /* the last option given that means something only with --dist */
  for (int i = 1; i < argc && ok; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
    if (OPT("--data")) o->data_dir = v;
    else if (OPT("--out")) o->out_dir = v;
    else if (OPT("--epochs")) ok = int_option(a, v, 1, MAX_EPOCHS, &o->epochs);
    else if (OPT("--max-steps")) ok = int_option(a, v, 1, INT_MAX, &o->max_steps);
    else if (OPT("--batch")) ok = int_option(a, v, 1, INT_MAX, &o->batch);
    else if (OPT("--lr")) ok = real_option(a, v, 0, HUGE_VAL, &o->lr);
    else if (OPT("--wd")) ok = real_option(a, v, 0, HUGE_VAL, &o->weight_decay);
    else if (OPT("--warmup-epochs")) ok = int_option(a, v, 0, MAX_EPOCHS, &o->warmup_epochs);
    else if (OPT("--label-smoothing")) ok = real_option(a, v, 0, 1, &o->label_smoothing);
    else if (OPT("--phi")) ok = real_option(a, v, 0, 8, &o->phi);
    else if (OPT("--crop-pad")) ok = int_option(a, v, 0, INT_MAX, &o->crop_pad);
    else if (OPT("--train-limit")) ok = int_option(a, v, 0, INT_MAX, &o->train_limit);
    else if (OPT("--test-limit")) ok = int_option(a, v, 0, INT_MAX, &o->test_limit);
    else if (OPT("--seed")) ok = seed_option(v, &o->seed);
    else if (OPT("--device")) ok = int_option(a, v, -1, INT_MAX, &o->device);
    else if (OPT("--resume")) o->resume = v;
    else if (OPT("--eval")) o->eval = v;
    else if (OPT("--predict")) o->predict = v;
    else if (OPT("--parity")) o->parity = v;
    else if (OPT("--count")) ok = int_option(a, v, 1, INT_MAX, &o->predict_count);
    else if (OPT("--precision")) {
      if (!graph_precision_of(v, &o->dt)) {
        fprintf(stderr, "clnn-train: --precision must be f32, f16 or bf16\n");
        return false;
      }
    }
    else if (OPT("--bucket-mb")) ok = real_option(a, v, 0.001, 1024, &o->bucket_mb), dist_only = a;
    else if (OPT("--dist-timeout")) ok = real_option(a, v, 0.1, 1e6, &o->dist_timeout), dist_only = a;
    else if (OPT("--check-every")) ok = int_option(a, v, 1, INT_MAX, &o->check_every), dist_only = a;
    else if (!strcmp(a, "--dist")) o->dist = true;
    else if (!strcmp(a, "--sync-bn")) o->sync_bn = true, dist_only = a;
    else if (!strcmp(a, "--no-flip")) o->flip = false;
    else if (!strcmp(a, "--quiet")) o->quiet = true;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else {
      fprintf(stderr, "clnn-train: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return false;
    }
#undef OPT
  }
  if (ok && dist_only && !o->dist) { /* silently ignored, it would look as if it had done something */
    fprintf(stderr, "clnn-train: %s needs --dist\n", dist_only);
    return false;
  }
  if (ok && o->dist && (o->predict || o->parity)) {
    fprintf(stderr, "clnn-train: --predict and --parity run in one process, without --dist\n");
    return false;
  }
  return ok;
}

/* ------------------------------------------------------------- set-up */

static bool trainer_init(trainer *tr, const options *opt, dist *d) {
  memset(tr, 0, sizeof *tr);
  tr->opt = *opt;
  tr->d = d;
  tr->rank = dist_rank(d);
  tr->ranks = dist_size(d);
  tr->rows = opt->batch / tr->ranks; /* a whole number: dist_options_agree checked */
  clnn_context_options co = clnn_context_options_default();
  co.device_index = opt->device;
  if (d && opt->device < 0) dist_pick_device(d, &co.platform_index, &co.device_index);
  clnn_status st = clnn_context_create(&co, &tr->ctx);
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-train: %s: %s\n", clnn_status_name(st), clnn_context_errmsg(NULL));
    return false;
  }
  graph_init(&tr->g, tr->ctx);
  model_config cfg = {opt->phi, 1, 28, 10};
  if (!model_build(&tr->m, &tr->g, &cfg, tr->rows)) {
    fprintf(stderr, "clnn-train: the network does not fit the graph limits\n");
    return false;
  }
  graph_set_precision(&tr->g, opt->dt);
  tr->scaling = opt->dt == CLNN_FLOAT16;
  tr->scaler = clnn_grad_scaler_make(65536.0); /* torch.cuda.amp.GradScaler's defaults */
  CHECK(tr, graph_finalize(&tr->g));
  graph *g = &tr->g;
  int64_t n = tr->rows, classes = 10, one = 1, d2[2] = {n, classes};
  CHECK(tr, clnn_tensor_create(tr->ctx, CLNN_INT32, 1, &n, &tr->labels));
  CHECK(tr, clnn_tensor_create(tr->ctx, CLNN_FLOAT32, 1, &one, &tr->loss));
  CHECK(tr, clnn_tensor_view(clnn_tensor_buffer(g->nodes[tr->m.logits].t), 0, opt->dt, 2, d2, &tr->logits2));
  CHECK(tr, clnn_tensor_view(clnn_tensor_buffer(g->nodes[tr->m.logits].g), 0, opt->dt, 2, d2, &tr->dlogits2));
  /* Optimizer state mirrors the parameter masters, viewed per parameter group. */
  size_t bytes = g->arena_size * sizeof(float);
  CHECK(tr, clnn_buffer_create(tr->ctx, bytes, &tr->m_arena));
  CHECK(tr, clnn_buffer_create(tr->ctx, bytes, &tr->v_arena));
  float zero = 0.0f;
  CHECK(tr, clnn_buffer_fill(tr->m_arena, 0, bytes, &zero, 4));
  CHECK(tr, clnn_buffer_fill(tr->v_arena, 0, bytes, &zero, 4));
  const g_param_group *groups;
  const int n_groups = graph_param_groups(g, &groups);
  for (int k = 0; k < n_groups; k++) {
    const int64_t count = (int64_t)groups[k].numel;
    const size_t at = groups[k].offset * sizeof(float);
    CHECK(tr, clnn_tensor_view(tr->m_arena, at, CLNN_FLOAT32, 1, &count, &tr->adam_m[k]));
    CHECK(tr, clnn_tensor_view(tr->v_arena, at, CLNN_FLOAT32, 1, &count, &tr->adam_v[k]));
  }
  int side = tr->m.image_size;
  tr->host_x = malloc((size_t)n * side * side * sizeof(float));
  tr->host_logits = malloc((size_t)n * classes * sizeof(float));
  tr->host_labels = malloc((size_t)n * sizeof(int32_t));
  tr->batch_x = malloc((size_t)opt->batch * side * side * sizeof(float));
  tr->batch_labels = malloc((size_t)opt->batch * sizeof(int32_t));
  if (!tr->host_x || !tr->host_logits || !tr->host_labels || !tr->batch_x || !tr->batch_labels) {
    fprintf(stderr, "clnn-train: out of host memory\n");
    return false;
  }
  CHECK(tr, model_init_params(g, opt->seed));
  if (d && !(tr->host_weights = malloc(g->arena_size * sizeof(float) + 1))) {
    fprintf(stderr, "clnn-train: out of host memory\n");
    return false;
  }
  if (d && !dist_attach(d, g, (size_t)(opt->bucket_mb * 1e6), opt->sync_bn)) return false;
  return true;
}

static void trainer_free(trainer *tr) {
  clnn_tensor *ts[] = {tr->labels, tr->loss, tr->dlogits2, tr->logits2};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) clnn_tensor_free(ts[i]);
  for (int k = 0; k < G_MAX_GROUPS; k++) {
    clnn_tensor_free(tr->adam_m[k]);
    clnn_tensor_free(tr->adam_v[k]);
  }
  clnn_buffer_free(tr->m_arena);
  clnn_buffer_free(tr->v_arena);
  graph_free(&tr->g);
  clnn_context_free(tr->ctx);
  free(tr->host_x);
  free(tr->host_logits);
  free(tr->host_labels);
  free(tr->batch_x);
  free(tr->batch_labels);
  free(tr->host_weights);
}

/* ---------------------------------------------------------------- step */

/* Linear warm-up, then cosine decay to zero (per optimizer step). */
static double learning_rate(const options *o, int64_t step, int64_t total, int64_t warmup) {
  if (step < warmup) return o->lr * (double)(step + 1) / (double)warmup;
  double t = (double)(step - warmup) / (double)(total > warmup ? total - warmup : 1);
  return o->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
}

/* This process's rows of the global batch in batch_x / batch_labels: rows
 * rank, rank + ranks, rank + 2 ranks, ... (all of them without --dist). */
static void take_rows(trainer *tr) {
  const size_t pixels = (size_t)tr->m.image_size * tr->m.image_size;
  for (int i = 0; i < tr->rows; i++) {
    const int row = tr->rank + i * tr->ranks;
    memcpy(tr->host_x + i * pixels, tr->batch_x + row * pixels, pixels * sizeof(float));
    tr->host_labels[i] = tr->batch_labels[row];
  }
}

/* Draw global batch number `step` of the loader's order (rows step * batch
 * onwards) and upload this process's rows of it. */
static bool upload_batch(trainer *tr, data_loader *l, int first, bool train) {
  graph *g = &tr->g;
  int side = tr->m.image_size;
  loader_batch(l, first, tr->opt.batch, train, tr->batch_x, tr->batch_labels);
  take_rows(tr);
  CHECK(tr, clnn_tensor_write_f32(g->nodes[tr->m.input].t, tr->host_x, (size_t)tr->rows * side * side));
  CHECK(tr, clnn_tensor_write(tr->labels, tr->host_labels, (size_t)tr->rows * sizeof(int32_t)));
  return true;
}

/* Count of argmax(logits_i) == label_i over the first n rows. */
static int count_correct(const float *logits, const int32_t *labels, int n) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < 10; c++)
      if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
    ok += best == labels[i];
  }
  return ok;
}

/* The loss of the step and its count of correct predictions (reads wait for the step). */
static bool read_step_result(trainer *tr, float *loss, int *correct) {
  CHECK(tr, clnn_tensor_read(tr->loss, loss, sizeof *loss));
  CHECK(tr, clnn_tensor_read_f32(tr->logits2, tr->host_logits, (size_t)tr->rows * 10));
  *correct = count_correct(tr->host_logits, tr->host_labels, tr->rows);
  if (!tr->d) return true;
  double both[2] = {*loss, *correct}; /* every process reports (and judges) the same figures */
  if (!dist_sum(tr->d, both, 2)) return false;
  *loss = (float)(both[0] / tr->ranks);
  *correct = (int)both[1];
  return true;
}

/* One training step on the uploaded batch; returns its loss and correct count. */
static bool train_step(trainer *tr, double lr, float *loss, int *correct) {
  graph *g = &tr->g;
  clnn_loss_class_desc ld = clnn_loss_class_desc_make(tr->rows, 10);
  ld.label_smoothing = (float)tr->opt.label_smoothing;
  const float loss_scale = tr->scaling ? (float)tr->scaler.scale : 1.0f;
  /* --dist: this process's loss is its rows' share of the whole batch's
   * mean, 1/ranks of its own mean, so that every gradient (the activations'
   * too) is what one process computes for these rows, and the sums of
   * dist_finish_grads are the whole batch's gradients. With its own mean,
   * the activations' gradients would be ranks times larger, and float16
   * would overflow (and skip steps) where one process does not. */
  ld.grad_scale = loss_scale / (float)tr->ranks;
  CHECK(tr, graph_forward(g, true));
  CHECK(tr, clnn_loss_xent(tr->ctx, &ld, tr->logits2, tr->labels, tr->loss, tr->dlogits2));
  CHECK(tr, graph_backward(g, tr->m.logits));
  if (tr->d && !dist_finish_grads(tr->d)) return false; /* the sums over every process's rows */
  if (tr->scaling) { /* the gradients carry the scale; an overflow skips the step and halves it */
    bool overflow;
    CHECK(tr, graph_grads_overflow(g, &overflow));
    CHECK(tr, clnn_grad_scaler_update(&tr->scaler, overflow));
    if (overflow) {
      tr->skipped++;
      return read_step_result(tr, loss, correct);
    }
  }
  tr->step++;
  const g_param_group *groups;
  const int n_groups = graph_param_groups(g, &groups);
  for (int k = 0; k < n_groups; k++) { /* weight decay on conv and linear weights only */
    clnn_adam_desc ad = clnn_adam_desc_make(lr, tr->step);
    ad.weight_decay = groups[k].decay ? tr->opt.weight_decay : 0.0;
    ad.grad_scale = loss_scale;
    clnn_tensor *w = groups[k].w, *copy = groups[k].h;
    const clnn_tensor *gr = groups[k].g;
    CHECK(tr, clnn_adamw_step_copy(tr->ctx, &ad, 1, &w, &gr, &tr->adam_m[k], &tr->adam_v[k], NULL,
                                   copy ? &copy : NULL, NULL));
  }
  return read_step_result(tr, loss, correct);
}

/* Accuracy (and mean loss) over a dataset with BN in inference mode; with
 * --dist each process takes its rows of every batch, and the counts and
 * losses are summed. */
static bool evaluate(trainer *tr, const idx_dataset *test, int limit, double *acc, double *loss) {
  data_loader l;
  if (!loader_init(&l, test, limit, 0, 0, false, tr->m.image_size)) return false;
  double sums[2] = {0, 0}; /* correct, loss */
  bool ok = true;
  for (int first = 0; ok && first < l.limit; first += tr->opt.batch) {
    int n = l.limit - first < tr->opt.batch ? l.limit - first : tr->opt.batch;
    ok = upload_batch(tr, &l, first, false) && graph_forward(&tr->g, false) == CLNN_SUCCESS &&
         clnn_tensor_read_f32(tr->logits2, tr->host_logits, (size_t)tr->rows * 10) == CLNN_SUCCESS;
    int mine = 0; /* this process's rows that are not padding (the loader wraps) */
    while (mine < tr->rows && tr->rank + mine * tr->ranks < n) mine++;
    sums[0] += count_correct(tr->host_logits, tr->host_labels, mine);
    for (int i = 0; ok && i < mine; i++) {
      const float *z = tr->host_logits + i * 10;
      double mx = z[0], s = 0;
      for (int c = 1; c < 10; c++) mx = fmax(mx, z[c]);
      for (int c = 0; c < 10; c++) s += exp(z[c] - mx);
      sums[1] += mx + log(s) - z[tr->host_labels[i]];
    }
  }
  loader_free(&l);
  if (!ok) fprintf(stderr, "clnn-train: evaluation failed: %s\n", clnn_context_errmsg(tr->ctx));
  if (ok && tr->d) ok = dist_sum(tr->d, sums, 2);
  *acc = l.limit ? sums[0] / l.limit : 0;
  *loss = l.limit ? sums[1] / l.limit : 0;
  return ok;
}

/* --------------------------------------------------------- checkpoints */

/* The graph's state dict (parameters and BN running statistics, PyTorch
 * names) and the optimizer's moments (optimizer.exp_avg.NAME,
 * optimizer.exp_avg_sq.NAME); epoch, step and the BN batch count go in the
 * metadata. */
static bool save_checkpoint(trainer *tr, const char *path) {
  graph *g = &tr->g;
  g_state_list l;
  g_state_list_init(&l);
  graph_state_append(g, &l, (g_state_what){.stats = true});
  char name[160];
  for (int i = 0; i < g->n_params; i++) {
    const g_param *p = &g->params[i];
    snprintf(name, sizeof name, "optimizer.exp_avg.%s", p->name);
    g_state_list_add_buffer(&l, name, p->ndim, p->dims, tr->m_arena, p->offset);
    snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", p->name);
    g_state_list_add_buffer(&l, name, p->ndim, p->dims, tr->v_arena, p->offset);
  }
  bool ok = l.ok;
  if (!ok) /* the checkpoint on disk stays the last one committed */
    fprintf(stderr, "clnn-train: cannot read the model back for %s: %s: %s\n", path, l.err,
            clnn_context_errmsg(tr->ctx));
  char meta[512], err[512];
  int64_t nbt = 0;
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_BN) nbt = g->ops[i].num_batches_tracked;
  snprintf(meta, sizeof meta,
           "{\"format\":\"pt\",\"producer\":\"clnn-train\",\"epoch\":\"%d\",\"epoch_step\":\"%d\",\"step\":\"%lld\","
           "\"phi\":\"%g\",\"num_batches_tracked\":\"%lld\",\"seed\":\"%llu\"}",
           tr->epoch, tr->epoch_step, (long long)tr->step, tr->opt.phi, (long long)nbt,
           (unsigned long long)tr->opt.seed);
  if (ok && !st_write(path, l.t, l.n, meta, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s\n", err);
    ok = false;
  }
  g_state_list_free(&l);
  return ok;
}

/* The integer value of "key":"N" in a safetensors metadata object into *v
 * (0 if absent); false with a message when it is not a whole number in
 * [0, max]. */
static bool meta_int(const char *meta, const char *key, long long max, long long *v) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(meta, pat);
  *v = 0;
  if (!p) return true;
  p += strlen(pat);
  char *end;
  errno = 0;
  long long x = strtoll(p, &end, 10);
  if (end == p || *end != '"' || errno || x < 0 || x > max) {
    fprintf(stderr, "clnn-train: checkpoint metadata \"%s\" is \"%.*s\": expected a whole number in [0, %lld]\n",
            key, (int)strcspn(p, "\""), p, max);
    return false;
  }
  *v = x;
  return true;
}

/* Copy a named tensor of the expected shape into a buffer range (the
 * optimizer's moments; graph_load_state_from reads the model). */
static bool load_tensor(trainer *tr, const st_file *f, const char *name, int ndim, const int64_t *dims,
                        clnn_buffer *buf, size_t offset_floats) {
  const st_tensor *t = st_find(f, name);
  if (!t) {
    fprintf(stderr, "clnn-train: checkpoint has no tensor '%s'\n", name);
    return false;
  }
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
  if (!same) {
    fprintf(stderr, "clnn-train: checkpoint tensor '%s' has another shape than this network's (phi?)\n", name);
    return false;
  }
  CHECK(tr, clnn_buffer_write(buf, offset_floats * sizeof(float), t->data, t->numel * sizeof(float)));
  return true;
}

static bool load_checkpoint(trainer *tr, const char *path, bool with_optimizer) {
  st_file f;
  char err[512];
  if (!st_read(path, &f, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s\n", err);
    return false;
  }
  graph *g = &tr->g;
  /* The metadata first: a bad value refuses the file before anything is loaded. */
  long long nbt = 0, epoch = 0, step = 0, epoch_step = 0;
  bool ok = meta_int(f.metadata, "num_batches_tracked", LLONG_MAX / 2, &nbt) &&
            meta_int(f.metadata, "epoch", MAX_EPOCHS, &epoch) && meta_int(f.metadata, "step", LLONG_MAX / 2, &step) &&
            meta_int(f.metadata, "epoch_step", INT_MAX, &epoch_step);
  if (ok && !graph_load_state_from(g, &f, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s: %s\n", path, err);
    ok = false;
  }
  char name[160];
  for (int i = 0; ok && with_optimizer && i < g->n_params; i++) {
    g_param *p = &g->params[i];
    snprintf(name, sizeof name, "optimizer.exp_avg.%s", p->name);
    ok = load_tensor(tr, &f, name, p->ndim, p->dims, tr->m_arena, p->offset);
    snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", p->name);
    if (ok) ok = load_tensor(tr, &f, name, p->ndim, p->dims, tr->v_arena, p->offset);
  }
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_BN) g->ops[i].num_batches_tracked = nbt;
  if (ok) {
    tr->epoch = (int)epoch;
    tr->epoch_step = (int)epoch_step;
    tr->step = step;
  }
  st_free(&f);
  return ok;
}

/* ------------------------------------------------------------- logging */

#define LOG_HEADER "epoch,steps,lr,train_loss,train_acc,test_loss,test_acc,epoch_s,images_per_s\n"

/*
 * log.csv, open for appending, for a run that starts after epoch `done`: a
 * new file with its header, or on a resume the old one cut to the rows of
 * epochs 1 .. done (a crash between a checkpoint and its row, or an older
 * run, may have left others). Written through a temporary file and renamed,
 * so the old log is never lost half-way. NULL with a message on failure.
 */
static FILE *open_log(const char *path, int done) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!out) {
    fprintf(stderr, "clnn-train: cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd), remove(tmp);
    return NULL;
  }
  bool ok = fputs(LOG_HEADER, out) >= 0;
  FILE *in = done > 0 ? fopen(path, "r") : NULL;
  if (in) {
    char *line = NULL;
    size_t cap = 0;
    for (int row = 0; ok && getline(&line, &cap, in) >= 0; row++) {
      long epoch = row ? strtol(line, NULL, 10) : 0; /* row 0: the header */
      if (epoch >= 1 && epoch <= done) ok = fputs(line, out) >= 0;
    }
    free(line);
    fclose(in);
  }
  ok = ok && fflush(out) == 0 && fsync(fd) == 0 && rename(tmp, path) == 0;
  if (!ok) {
    fprintf(stderr, "clnn-train: cannot write %s: %s\n", path, strerror(errno));
    fclose(out);
    remove(tmp);
    return NULL;
  }
  return out;
}

typedef struct history {
  double x[1000], train_loss[1000], train_acc[1000], test_acc[1000], test_loss[1000];
  int n;
} history;

static void write_chart(const options *o, const history *h) {
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/curves.svg", o->out_dir);
  chart_series loss[2] = {{"train (smoothed labels)", "#1f77b4", h->x, h->train_loss, h->n},
                          {"test", "#d62728", h->x, h->test_loss, h->n}};
  chart_series acc[2] = {{"train", "#1f77b4", h->x, h->train_acc, h->n},
                         {"test", "#d62728", h->x, h->test_acc, h->n}};
  chart_panel panels[2] = {{"Loss (cross-entropy)", "epoch", "loss", loss, 2},
                           {"Accuracy (%)", "epoch", "accuracy %", acc, 2}};
  if (!chart_write_svg(path, panels, 2, err, sizeof err)) fprintf(stderr, "clnn-train: %s\n", err);
}

static void format_eta(double s, char *buf, size_t n) {
  int t = (int)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%dh%02dm", t / 3600, t / 60 % 60);
  else snprintf(buf, n, "%dm%02ds", t / 60, t % 60);
}

/* With CLNN_PROFILE=1: device time per op and path over the last epoch. */
static void print_profile(trainer *tr, int steps) {
  size_t n = 0;
  if (clnn_profile_get(tr->ctx, NULL, 0, &n) != CLNN_SUCCESS || n == 0) return;
  clnn_profile_entry *e = calloc(n, sizeof *e);
  struct agg {
    char op[48];
    double ms;
    int count;
  } *a = calloc(n, sizeof *a);
  if (!e || !a || clnn_profile_get(tr->ctx, e, n, &n) != CLNN_SUCCESS) {
    free(e);
    free(a);
    return;
  }
  int na = 0;
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    int k = 0;
    while (k < na && strcmp(a[k].op, e[i].op)) k++;
    if (k == na) snprintf(a[na++].op, sizeof a[0].op, "%s", e[i].op);
    a[k].ms += e[i].ms;
    a[k].count++;
    total += e[i].ms;
  }
  for (int i = 0; i < na; i++) /* selection sort by time, largest first */
    for (int j = i + 1; j < na; j++)
      if (a[j].ms > a[i].ms) {
        struct agg t = a[i];
        a[i] = a[j];
        a[j] = t;
      }
  if (getenv("CLNN_PROFILE_LAUNCHES") && n % (size_t)steps == 0) {
    /* per launch of one step, summed over the steps (launch sequences repeat) */
    size_t per = n / (size_t)steps;
    for (size_t i = 0; i < per; i++) {
      double ms = 0;
      for (int s = 0; s < steps; s++) ms += e[(size_t)s * per + i].ms;
      printf("  #%-4zu %-28s %-40s %8.3f ms\n", i, e[i].kernel, e[i].op, ms / steps);
    }
  }
  printf("device time per step by op (CLNN_PROFILE=1, %zu kernels over %d steps): %.1f ms\n", n, steps,
         total / steps);
  for (int i = 0; i < na && i < 25; i++)
    printf("  %-44s %8.2f ms %6.1f%%  (%d launches)\n", a[i].op, a[i].ms / steps, 100 * a[i].ms / total,
           a[i].count / steps);
  free(e);
  free(a);
  clnn_profile_reset(tr->ctx);
}

/* ---------------------------------------------------------------- modes */

static bool load_data(const options *o, const char *prefix, idx_dataset *d) {
  char err[1024];
  if (!idx_load(o->data_dir, prefix, d, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s\n(install the Debian package dataset-fashion-mnist or pass --data DIR)\n", err);
    return false;
  }
  return true;
}

/* --dist: every process takes rank 0's batch-norm running statistics, at
 * the start and before each evaluation and checkpoint. Without --sync-bn
 * each process kept its own (torch DDP's broadcast_buffers); with it they
 * come from the same sums, and this keeps them identical even where
 * devices of different kinds round the update differently. */
static bool share_bn_stats(trainer *tr) {
  if (!tr->d) return true;
  for (int i = 0; i < tr->g.n_ops; i++) {
    const g_op *op = &tr->g.ops[i];
    if (op->kind != G_BN) continue;
    const clnn_tensor *stats[2] = {op->running_mean, op->running_var};
    for (int k = 0; k < 2; k++)
      if (!dist_bcast_buffer(tr->d, clnn_tensor_buffer(stats[k]), 0, clnn_tensor_bytes(stats[k]))) return false;
  }
  tr->g.fold_stale = true;
  return true;
}

/* --dist: every process starts from rank 0's parameters, optimizer
 * moments, running statistics and counters (its seeded initialisation, or
 * the checkpoint it resumed from). */
static bool share_rank0_state(trainer *tr) {
  if (!tr->d) return true;
  graph *g = &tr->g;
  const size_t bytes = g->arena_size * sizeof(float);
  int64_t nbt = 0;
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_BN) nbt = g->ops[i].num_batches_tracked;
  int64_t counters[4] = {tr->epoch, tr->epoch_step, tr->step, nbt};
  if (!dist_bcast_buffer(tr->d, g->param_arena, 0, bytes) || !dist_bcast_buffer(tr->d, tr->m_arena, 0, bytes) ||
      !dist_bcast_buffer(tr->d, tr->v_arena, 0, bytes) || !share_bn_stats(tr) ||
      !dist_bcast(tr->d, counters, sizeof counters))
    return false;
  tr->epoch = (int)counters[0];
  tr->epoch_step = (int)counters[1];
  tr->step = counters[2];
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_BN) g->ops[i].num_batches_tracked = counters[3];
  graph_params_changed(g);
  return true;
}

/* 64-bit FNV-1a of bytes, continuing from h (start: FNV_START). */
#define FNV_START 14695981039346656037ULL
static uint64_t fnv1a(uint64_t h, const void *bytes, size_t n) {
  const unsigned char *b = bytes;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

/* --dist: whether every process holds the same weights (a checksum of the
 * parameter arena, compared across processes). */
static bool weights_agree(trainer *tr) {
  const size_t bytes = tr->g.arena_size * sizeof(float);
  if (clnn_buffer_read(tr->g.param_arena, 0, tr->host_weights, bytes) != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-train: rank %d: cannot read the weights back: %s\n", tr->rank, clnn_context_errmsg(tr->ctx));
    return false;
  }
  const uint64_t h = fnv1a(FNV_START, tr->host_weights, bytes);
  char what[64];
  snprintf(what, sizeof what, "the weights after step %lld", (long long)tr->step);
  return dist_same(tr->d, h, what, "the processes have diverged");
}

static int run_eval(trainer *tr, const idx_dataset *test) {
  if (tr->rank == 0 && !load_checkpoint(tr, tr->opt.eval, false)) return 1;
  if (!share_rank0_state(tr)) return 1;
  double acc, loss;
  if (!evaluate(tr, test, tr->opt.test_limit, &acc, &loss)) return 1;
  printf("%s: test accuracy %.2f%% (loss %.4f) on %d images, epoch %d\n", tr->opt.eval, 100 * acc, loss,
         tr->opt.test_limit > 0 && tr->opt.test_limit < test->count ? tr->opt.test_limit : test->count, tr->epoch);
  return 0;
}

static int run_predict(trainer *tr, const idx_dataset *test) {
  if (!load_checkpoint(tr, tr->opt.predict, false)) return 1;
  data_loader l;
  if (!loader_init(&l, test, 0, 0, 0, false, tr->m.image_size)) return 1;
  int n = tr->opt.predict_count < tr->opt.batch ? tr->opt.predict_count : tr->opt.batch;
  const bool uploaded = upload_batch(tr, &l, 0, false);
  loader_free(&l);
  if (!uploaded) return 1;
  if (graph_forward(&tr->g, false) != CLNN_SUCCESS ||
      clnn_tensor_read_f32(tr->logits2, tr->host_logits, (size_t)tr->opt.batch * 10) != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-train: %s\n", clnn_context_errmsg(tr->ctx));
    return 1;
  }
  for (int i = 0; i < n; i++) {
    const float *z = tr->host_logits + i * 10;
    int best = 0;
    double mx = z[0], s = 0;
    for (int c = 1; c < 10; c++) {
      if (z[c] > z[best]) best = c;
      mx = fmax(mx, z[c]);
    }
    for (int c = 0; c < 10; c++) s += exp(z[c] - mx);
    printf("test image %d: predicted %-12s (p = %.3f), label %-12s %s\n", i, class_names[best],
           exp(z[best] - mx) / s, class_names[tr->host_labels[i]], best == tr->host_labels[i] ? "" : "  <- wrong");
  }
  return 0;
}

static int run_training(trainer *tr, const idx_dataset *train, const idx_dataset *test) {
  options *o = &tr->opt;
  const bool writer = tr->rank == 0; /* --dist: rank 0 alone writes the files */
  if (o->resume && writer && !load_checkpoint(tr, o->resume, true)) return 1;
  if (!share_rank0_state(tr)) return 1;
  if (writer && mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "clnn-train: cannot create %s: %s\n", o->out_dir, strerror(errno));
    return 1;
  }
  data_loader l;
  if (!loader_init(&l, train, o->train_limit, o->seed, o->crop_pad, o->flip, tr->m.image_size)) return 1;
  int steps_per_epoch = l.limit / o->batch; /* the last partial batch is dropped */
  if (steps_per_epoch < 1) {
    fprintf(stderr, "clnn-train: fewer training images (%d) than one batch (%d)\n", l.limit, o->batch);
    loader_free(&l);
    return 1;
  }
  if (tr->epoch_step >= steps_per_epoch) {
    fprintf(stderr, "clnn-train: the checkpoint stopped after step %d of an epoch, but an epoch here has %d steps "
            "(resume with the --batch and --train-limit it was trained with)\n", tr->epoch_step, steps_per_epoch);
    loader_free(&l);
    return 1;
  }
  if (o->max_steps && tr->step >= o->max_steps) {
    printf("the checkpoint has taken %lld steps, --max-steps %d: nothing to train\n", (long long)tr->step,
           o->max_steps);
    loader_free(&l);
    return 0;
  }
  int64_t total = (int64_t)steps_per_epoch * o->epochs, warmup = (int64_t)steps_per_epoch * o->warmup_epochs;
  char path[4096];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", o->out_dir);
  FILE *csv = NULL;
  if (writer) {
    st_remove_stale_temporaries(path); /* a run killed while saving */
    snprintf(path, sizeof path, "%s/log.csv", o->out_dir);
    csv = open_log(path, tr->epoch);
    if (!csv) {
      loader_free(&l);
      return 1;
    }
  }
  static history h; /* large: keep it off the stack */
  memset(&h, 0, sizeof h);
  printf("training on %s: %d images, %d steps of %d per epoch, %d epochs\n", clnn_context_device_name(tr->ctx),
         l.limit, steps_per_epoch, o->batch, o->epochs);
  double run_start = now_s();
  int first_epoch = tr->epoch;
  for (int epoch = tr->epoch; epoch < o->epochs; epoch++) {
    /* Each epoch's order depends only on (seed, epoch): resuming reproduces it. */
    l.rng = o->seed * 0x9E3779B97F4A7C15ULL + 1000003ULL * (uint64_t)(epoch + 1);
    for (int i = 0; i < l.limit; i++) l.order[i] = i;
    loader_shuffle(&l);
    /* A run stopped inside this epoch (--max-steps) goes on from its next
     * step; the batches before it are drawn again, untrained, so that the
     * augmentation's random draws continue where they stopped. */
    const int first = tr->epoch_step;
    for (int s = 0; s < first; s++) loader_batch(&l, s * o->batch, o->batch, true, tr->batch_x, tr->batch_labels);
    clnn_profile_reset(tr->ctx);
    double t0 = now_s(), loss_sum = 0, lr = 0;
    int correct = 0, taken = 0;
    bool stop_inside = false;
    for (int s = first; s < steps_per_epoch && !stop_inside; s++) {
      if (!upload_batch(tr, &l, s * o->batch, true)) goto fail;
      lr = learning_rate(o, tr->step, total, warmup);
      float loss;
      int ok;
      if (!train_step(tr, lr, &loss, &ok)) goto fail;
      if (tr->d && tr->step % o->check_every == 0 && !weights_agree(tr)) goto fail;
      if (!isfinite(loss)) {
        fprintf(stderr, "clnn-train: the loss became %g at step %lld\n", loss, (long long)tr->step);
        goto fail;
      }
      loss_sum += loss;
      correct += ok;
      taken++;
      tr->epoch_step = s + 1;
      stop_inside = o->max_steps && tr->step >= o->max_steps && s + 1 < steps_per_epoch;
      if (!o->quiet && ((s + 1) % 50 == 0 || s + 1 == steps_per_epoch)) {
        double el = now_s() - t0, ips = taken * o->batch / el;
        double left = (double)(total - tr->step) * o->batch / ips;
        char eta[32];
        format_eta(left, eta, sizeof eta);
        printf("  epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s\n", epoch + 1, o->epochs, s + 1,
               steps_per_epoch, loss_sum / taken, 100.0 * correct / ((double)taken * o->batch), ips, eta);
        fflush(stdout);
      }
    }
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", o->out_dir);
    if (tr->d && !(weights_agree(tr) && share_bn_stats(tr))) goto fail; /* the model rank 0 evaluates and saves */
    if (stop_inside) { /* no evaluation and no log row for a part of an epoch */
      if (writer && !save_checkpoint(tr, path)) goto fail;
      printf("stopped after step %lld (--max-steps), %d of %d steps into epoch %d; checkpoint %s\n",
             (long long)tr->step, tr->epoch_step, steps_per_epoch, epoch + 1, path);
      break;
    }
    double train_s = now_s() - t0;
    if (getenv("CLNN_PROFILE")) print_profile(tr, steps_per_epoch);
    if (tr->d) {
      double grads_s, sums_s;
      dist_take_waits(tr->d, &grads_s, &sums_s);
      if (!o->quiet)
        printf("  rank 0 waited %.2f ms a step for the gradient sums after the backward pass, %.2f ms in other sums\n",
               1e3 * grads_s / taken, 1e3 * sums_s / taken);
    }
    double test_acc, test_loss;
    if (!evaluate(tr, test, o->test_limit, &test_acc, &test_loss)) goto fail;
    tr->epoch = epoch + 1;
    tr->epoch_step = 0;
    /* A resumed epoch's figures cover the steps this run took of it. */
    double ips = taken * o->batch / train_s;
    double train_loss = loss_sum / taken, train_acc = (double)correct / ((double)taken * o->batch);
    char eta[32];
    format_eta((now_s() - run_start) / (epoch + 1 - first_epoch) * (o->epochs - epoch - 1), eta, sizeof eta);
    printf("epoch %d/%d: %d batches, loss %.4f, train acc %.2f%%, test acc %.2f%%, %.1f s, %.0f img/s, ETA %s\n",
           epoch + 1, o->epochs, steps_per_epoch, train_loss, 100 * train_acc, 100 * test_acc, train_s, ips, eta);
    if (tr->scaling)
      printf("  loss scale %g, %lld steps skipped on overflow so far\n", tr->scaler.scale, (long long)tr->skipped);
    fflush(stdout);
    if (h.n < 1000) {
      h.x[h.n] = epoch + 1;
      h.train_loss[h.n] = train_loss;
      h.test_loss[h.n] = test_loss;
      h.train_acc[h.n] = 100 * train_acc;
      h.test_acc[h.n] = 100 * test_acc;
      h.n++;
    }
    if (writer) write_chart(o, &h);
    if (writer && !save_checkpoint(tr, path)) goto fail;
    /* The row goes in only once the checkpoint that covers it is committed,
     * so a resume never repeats one. */
    if (writer) fprintf(csv, "%d,%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n", epoch + 1, (long long)tr->step, lr, train_loss,
            train_acc, test_loss, test_acc, train_s, ips);
    if (writer && (fflush(csv) != 0 || fsync(fileno(csv)) != 0)) {
      fprintf(stderr, "clnn-train: cannot write %s/log.csv: %s\n", o->out_dir, strerror(errno));
      goto fail;
    }
    if (o->max_steps && tr->step >= o->max_steps) {
      printf("stopped after step %lld (--max-steps), at the end of epoch %d; checkpoint %s\n", (long long)tr->step,
             epoch + 1, path);
      break;
    }
  }
  if (csv) fclose(csv);
  loader_free(&l);
  return 0;
fail:
  if (csv) fclose(csv);
  loader_free(&l);
  return 1;
}

/* ----------------------------------------------------------------- parity */

/* Write g's parameters (or their gradients) and BN statistics as named tensors. */
static bool dump_state(trainer *tr, const char *path, bool grads, const float *extra_logits, float extra_loss) {
  g_state_list l;
  g_state_list_init(&l);
  graph_state_append(&tr->g, &l, (g_state_what){.prefix = grads ? "grad." : "", .grads = grads, .stats = !grads});
  if (extra_logits) {
    const int64_t logits_dims[2] = {tr->opt.batch, 10}, one = 1;
    g_state_list_add_host(&l, "logits", 2, logits_dims, extra_logits);
    g_state_list_add_host(&l, "loss", 1, &one, &extra_loss);
  }
  bool ok = l.ok;
  char err[512];
  if (!ok) fprintf(stderr, "clnn-train: cannot read the model back for %s: %s: %s\n", path, l.err, clnn_context_errmsg(tr->ctx));
  if (ok && !st_write(path, l.t, l.n, NULL, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s\n", err);
    ok = false;
  }
  g_state_list_free(&l);
  return ok;
}

/*
 * Parity record: initial weights, 20 batches (in order, no augmentation),
 * logits, loss and every gradient of the first step, and the weights after
 * 20 AdamW steps at a constant learning rate. parity_fmnist.py replays it in
 * PyTorch.
 */
static int run_parity(trainer *tr, const idx_dataset *train) {
  const int steps = 20;
  const options *o = &tr->opt;
  char path[4096];
  if (mkdir(o->parity, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "clnn-train: cannot create %s\n", o->parity);
    return 1;
  }
  snprintf(path, sizeof path, "%s/init.safetensors", o->parity);
  if (!dump_state(tr, path, false, NULL, 0)) return 1;
  data_loader l;
  if (!loader_init(&l, train, steps * o->batch, 0, 0, false, tr->m.image_size)) return 1;
  int side = tr->m.image_size;
  size_t per = (size_t)o->batch * side * side;
  float *xs = malloc(per * steps * sizeof(float)), *ys = malloc((size_t)o->batch * steps * sizeof(float));
  int rc = 1;
  if (!xs || !ys) goto done;
  for (int s = 0; s < steps; s++) {
    if (!upload_batch(tr, &l, s * o->batch, false)) goto done;
    memcpy(xs + per * s, tr->host_x, per * sizeof(float)); /* one process: its rows are the batch */
    for (int i = 0; i < o->batch; i++) ys[s * o->batch + i] = (float)tr->host_labels[i];
    float loss;
    int correct;
    if (!train_step(tr, o->lr, &loss, &correct)) goto done;
    if (s == 0) {
      snprintf(path, sizeof path, "%s/step0.safetensors", o->parity);
      if (!dump_state(tr, path, true, tr->host_logits, loss)) goto done;
    }
  }
  st_tensor batch[2] = {{"x", 5, {steps, o->batch, 1, side, side}, per * steps, xs},
                        {"labels", 2, {steps, o->batch}, (size_t)o->batch * steps, ys}};
  char err[512];
  snprintf(path, sizeof path, "%s/batches.safetensors", o->parity);
  if (!st_write(path, batch, 2, NULL, err, sizeof err)) {
    fprintf(stderr, "clnn-train: %s\n", err);
    goto done;
  }
  snprintf(path, sizeof path, "%s/final.safetensors", o->parity);
  if (!dump_state(tr, path, false, NULL, 0)) goto done;
  printf("parity record of %d steps (batch %d, lr %g, wd %g) written to %s\n", steps, o->batch, o->lr,
         o->weight_decay, o->parity);
  rc = 0;
done:
  free(xs);
  free(ys);
  loader_free(&l);
  return rc;
}

/*
 * --dist, on every process before any other collective: whether the
 * processes were given the same options that shape training (one with
 * another --seed would silently train on other rows; one with another
 * --sync-bn, --phi or --bucket-mb would pair mismatched collectives), and
 * whether --batch splits over them. --data, --out, --device, --quiet and
 * --dist-timeout may differ. False on every process alike, rank 0 saying
 * why, so the job can end through MPI_Finalize (an MPI_Abort from another
 * process could kill rank 0 before its message is out).
 */
static bool dist_options_agree(const options *o, dist *d) {
  uint64_t h = FNV_START;
#define MIX(field) h = fnv1a(h, &o->field, sizeof o->field)
  MIX(epochs), MIX(batch), MIX(warmup_epochs), MIX(train_limit), MIX(test_limit), MIX(max_steps), MIX(lr);
  MIX(weight_decay), MIX(label_smoothing), MIX(phi), MIX(crop_pad), MIX(flip), MIX(sync_bn), MIX(bucket_mb);
  MIX(check_every), MIX(seed), MIX(dt);
#undef MIX
  const bool modes[2] = {o->resume != NULL, o->eval != NULL}; /* rank 0 alone reads the file */
  h = fnv1a(h, modes, sizeof modes);
  if (!dist_same(d, h, "the training options", "start every process with the same options"))
    return false;
  if (o->batch % dist_size(d)) {
    if (dist_rank(d) == 0)
      fprintf(stderr, "clnn-train: --batch %d does not split over %d processes: give a multiple of %d\n", o->batch,
              dist_size(d), dist_size(d));
    return false;
  }
  return true;
}

/* The part of a dataset a run reads (its first `limit` images, 0: all) into h. */
static uint64_t dataset_hash(uint64_t h, const idx_dataset *set, int limit) {
  const size_t n = (size_t)(limit <= 0 || limit > set->count ? set->count : limit);
  h = fnv1a(h, &n, sizeof n);
  if (!set->images) return h;
  h = fnv1a(h, set->images, n * (size_t)set->rows * (size_t)set->cols);
  return fnv1a(h, set->labels, n);
}

/* --dist: whether every process read the same images and labels (each
 * node reads its own copy of --data). False on every process alike. */
static bool dist_data_agree(const options *o, dist *d, const idx_dataset *train, const idx_dataset *test) {
  const uint64_t h = dataset_hash(dataset_hash(FNV_START, train, o->train_limit), test, o->test_limit);
  return dist_same(d, h, "the images and labels read from --data",
                   "give every process the same Fashion-MNIST files");
}

int main(int argc, char **argv) {
  options o;
  if (!parse_options(argc, argv, &o)) return 2;
  dist *d = NULL;
  if (o.dist) {
    d = dist_start(&argc, &argv, o.dist_timeout);
    if (!d) return 2;
    if (dist_rank(d) != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports for all */
      fprintf(stderr, "clnn-train: rank %d: cannot silence standard output\n", dist_rank(d));
    if (!dist_options_agree(&o, d)) {
      dist_stop(d, false);
      return 2;
    }
  }
  idx_dataset train = {0}, test = {0};
  if (!load_data(&o, "t10k", &test) || (!o.eval && !o.predict && !load_data(&o, "train", &train))) {
    idx_free(&test);
    dist_stop(d, true); /* perhaps this process alone: the others wait in a collective */
    return 2;
  }
  if (d && !dist_data_agree(&o, d, &train, &test)) {
    idx_free(&train);
    idx_free(&test);
    dist_stop(d, false);
    return 2;
  }
  trainer tr;
  int rc = 1;
  if (trainer_init(&tr, &o, d)) {
    if (d && !o.quiet) dist_print_buckets(d, stdout);
    if (d) printf("data-parallel over %d process%s: %d rows of each batch of %d per process%s\n", tr.ranks,
                  tr.ranks == 1 ? "" : "es", tr.rows, o.batch, o.sync_bn ? ", batch norm over the whole batch" : "");
    if (d && tr.ranks == 1) /* valid (mpirun -np 1), but more likely a forgotten mpirun */
      fprintf(stderr, "clnn-train: --dist with one process (start it with mpirun -np N to spread the batch)\n");
    if (!o.quiet && !o.eval && !o.predict && !o.parity) model_print(&tr.m, &tr.g, stdout);
    if (!o.quiet && o.dt != CLNN_FLOAT32)
      printf("precision: %s activations and gradients, float32 master weights and batch norm%s\n",
             clnn_dtype_name(o.dt), tr.scaling ? ", dynamic loss scaling" : "");
    if (o.parity) rc = run_parity(&tr, &train);
    else if (o.eval) rc = run_eval(&tr, &test);
    else if (o.predict) rc = run_predict(&tr, &test);
    else rc = run_training(&tr, &train, &test);
  }
  if (d && rc != 0) dist_stop(d, true); /* ends every process, at once: none waits for this one */
  trainer_free(&tr);
  idx_free(&train);
  idx_free(&test);
  dist_stop(d, false);
  return rc;
}
