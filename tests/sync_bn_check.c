/*
 * sync_bn_check.c - the synchronized batch norm of examples/common/graph.c
 * (clnn-train --sync-bn), checked without MPI.
 *
 * T threads stand in for T processes: each has its own context and graph
 * with rows r, r + T, r + 2T, ... of the batch, and graph_set_dist's sum
 * hook adds the threads' values in thread order behind a barrier, as
 * examples/train/dist.c's MPI sum adds them in rank order. Judged: the
 * output, dx, dgamma and dbeta (summed over the threads, as the gradient
 * reduction does) against a double computation of the whole batch on the
 * host, within 1e-5 of each result's scale (one graph's error printed
 * beside), and the running statistics against one graph's. The shapes
 * include one value per channel on each thread (M = 1, which the training
 * kernel refuses and bn_local_sums handles itself).
 *
 * The channels' means (3 to 7) are 20 to 50 times their standard deviation
 * (0.14). That costs the synchronized path accuracy one graph keeps: it
 * merges float local means (the training kernel's save_mean) and
 * normalises with a float global mean, where the training kernel keeps
 * mean_hi + mean_lo. Here, up to 6e-6 against one graph's 1e-7; with means
 * of 1e4, 8e-4 against 1e-7 (docs/DISTRIBUTED.md).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

#define MAX_RANKS 4
#define MAX_SUMS 64 /* 2 * channels + 1 */

typedef struct bn_case {
  int batch, ranks, c, hw;
  clnn_activation act;
  double offset; /* the channels' means are offset + channel */
} bn_case;

/* What the threads share: each one's values, and a barrier. */
typedef struct meeting {
  pthread_barrier_t barrier;
  int ranks;
  const double *values[MAX_RANKS];
  bool failed[MAX_RANKS]; /* a thread's set-up failed: no thread runs (none would meet it) */
} meeting;

/* One process's run, and what it gives back (its rows only). */
typedef struct rank_run {
  const bn_case *k;
  meeting *m; /* NULL: one graph, the plain kernels */
  int rank, ranks, rows;
  const float *x, *dy; /* the whole batch */
  float *y, *dx;       /* the whole batch's layout; this rank writes its rows */
  float dgamma[MAX_SUMS], dbeta[MAX_SUMS], run_mean[MAX_SUMS], run_var[MAX_SUMS];
  bool ok;
} rank_run;

/* graph_set_dist's sum: every thread's values added in thread order. */
static clnn_status sum_in_order(void *user, double *values, size_t count) {
  rank_run *r = user;
  meeting *m = r->m;
  double total[MAX_SUMS];
  m->values[r->rank] = values;
  pthread_barrier_wait(&m->barrier); /* every thread's values are there */
  for (size_t i = 0; i < count; i++) {
    total[i] = m->values[0][i];
    for (int k = 1; k < m->ranks; k++) total[i] = total[i] + m->values[k][i];
  }
  pthread_barrier_wait(&m->barrier); /* every thread has read them: now overwrite */
  memcpy(values, total, count * sizeof *values);
  return CLNN_SUCCESS;
}

/* Whether every thread's set-up went well (alone: whether this one's did). */
static bool all_ready(rank_run *r, bool ok) {
  if (!r->m) return ok;
  r->m->failed[r->rank] = !ok;
  pthread_barrier_wait(&r->m->barrier);
  for (int k = 0; k < r->m->ranks; k++) ok = ok && !r->m->failed[k];
  return ok;
}

/* Rows rank, rank + ranks, ... of a (batch, c, hw) array into or out of a
 * (rows, c, hw) one. */
static void rows_of(const rank_run *r, const float *from, float *to, bool gather) {
  const size_t per = (size_t)r->k->c * r->k->hw;
  for (int i = 0; i < r->rows; i++) {
    const size_t global = (size_t)(r->rank + i * r->ranks) * per, local = (size_t)i * per;
    if (gather) memcpy(to + local, from + global, per * sizeof *to);
    else memcpy(to + global, from + local, per * sizeof *to);
  }
}

#define TRY(expr)                                                                 \
  do {                                                                            \
    clnn_status st_ = (expr);                                                     \
    if (st_ != CLNN_SUCCESS) {                                                    \
      fprintf(stderr, "rank %d: %s: %s\n", r->rank, #expr, clnn_status_name(st_)); \
      return false;                                                               \
    }                                                                             \
  } while (0)

/* One batch norm on this rank's rows, with gamma, beta and running
 * statistics of known values; x: the input node. */
static bool set_up(rank_run *r, graph *g, int *x, float *buf) {
  const bn_case *k = r->k;
  float init[MAX_SUMS];
  const int64_t dims[4] = {r->rows, k->c, 1, k->hw};
  *x = graph_node(g, 4, dims, true);
  if (graph_bn(g, "bn", *x, k->act) < 0) return false;
  TRY(graph_finalize(g));
  g_op *op = &g->ops[0];
  for (int ch = 0; ch < k->c; ch++) init[ch] = 0.5f + 0.25f * ch; /* gamma, then running var */
  TRY(clnn_tensor_write_f32(op->w->w, init, (size_t)k->c));
  TRY(clnn_tensor_write_f32(op->running_var, init, (size_t)k->c));
  for (int ch = 0; ch < k->c; ch++) init[ch] = 0.1f * ch - 0.2f; /* beta, then running mean */
  TRY(clnn_tensor_write_f32(op->b->w, init, (size_t)k->c));
  TRY(clnn_tensor_write_f32(op->running_mean, init, (size_t)k->c));
  graph_params_changed(g);
  if (r->m) graph_set_dist(g, &(g_dist_hooks){r, sum_in_order, NULL});
  rows_of(r, r->x, buf, true);
  TRY(clnn_tensor_write_f32(g->nodes[*x].t, buf, (size_t)r->rows * k->c * k->hw));
  return true;
}

/* Forward and backward; this rank's rows of y and dx, and its dgamma,
 * dbeta and running statistics, into r. */
static bool step(rank_run *r, graph *g, int x, float *buf) {
  const bn_case *k = r->k;
  const size_t n = (size_t)r->rows * k->c * k->hw;
  g_op *op = &g->ops[0];
  TRY(graph_forward(g, true));
  TRY(clnn_tensor_read_f32(g->nodes[op->out].t, buf, n));
  rows_of(r, buf, r->y, false);
  rows_of(r, r->dy, buf, true);
  TRY(clnn_tensor_write_f32(g->nodes[op->out].g, buf, n));
  TRY(graph_backward(g, op->out));
  TRY(clnn_tensor_read_f32(g->nodes[x].g, buf, n));
  rows_of(r, buf, r->dx, false);
  TRY(clnn_tensor_read_f32(op->w->g, r->dgamma, (size_t)k->c));
  TRY(clnn_tensor_read_f32(op->b->g, r->dbeta, (size_t)k->c));
  TRY(clnn_tensor_read_f32(op->running_mean, r->run_mean, (size_t)k->c));
  TRY(clnn_tensor_read_f32(op->running_var, r->run_var, (size_t)k->c));
  return true;
}

static void *run_rank(void *arg) {
  rank_run *r = arg;
  float *buf = malloc((size_t)r->rows * r->k->c * r->k->hw * sizeof *buf);
  clnn_context *ctx = NULL;
  graph g;
  int x = -1;
  bool ok = buf && clnn_context_create(NULL, &ctx) == CLNN_SUCCESS;
  graph_init(&g, ctx);
  ok = ok && set_up(r, &g, &x, buf);
  r->ok = all_ready(r, ok) && step(r, &g, x, buf);
  graph_free(&g);
  clnn_context_free(ctx);
  free(buf);
  return NULL;
}

/* The whole batch's training forward and backward in double on the host,
 * and the scale each result is judged against. */
typedef struct reference {
  double *y, *dx, dgamma[MAX_SUMS], dbeta[MAX_SUMS];
  double y_scale, dx_scale, dgamma_scale, dbeta_scale; /* the largest value, or sum of a sum's terms */
} reference;

static void host_channel(const bn_case *k, int ch, const float *x, const float *dy, reference *ref) {
  const int m = k->batch * k->hw;
  const double gamma = 0.5 + 0.25 * ch, beta = 0.1 * ch - 0.2, eps = 1e-5;
  double mean = 0, var = 0, dbeta = 0, dgamma = 0, dgamma_terms = 0, dbeta_terms = 0;
#define AT(b, i) ((size_t)(b) * k->c * k->hw + (size_t)ch * k->hw + (i))
  for (int b = 0; b < k->batch; b++)
    for (int i = 0; i < k->hw; i++) mean += x[AT(b, i)];
  mean /= m;
  for (int b = 0; b < k->batch; b++)
    for (int i = 0; i < k->hw; i++) var += (x[AT(b, i)] - mean) * (x[AT(b, i)] - mean);
  var /= m;
  const double invstd = 1.0 / sqrt(var + eps);
  for (int pass = 0; pass < 2; pass++)
    for (int b = 0; b < k->batch; b++)
      for (int i = 0; i < k->hw; i++) {
        const size_t at = AT(b, i);
        const double xhat = (x[at] - mean) * invstd, z = gamma * xhat + beta;
        const double sg = 1.0 / (1.0 + exp(-z));
        const bool silu = k->act == CLNN_ACT_SILU;
        const double dz = dy[at] * (silu ? sg * (1.0 + z * (1.0 - sg)) : 1.0);
        if (pass == 0) {
          ref->y[at] = silu ? z * sg : z;
          ref->y_scale = fmax(ref->y_scale, fabs(ref->y[at]));
          dbeta += dz, dgamma += dz * xhat;
          dbeta_terms += fabs(dz), dgamma_terms += fabs(dz * xhat);
        } else {
          ref->dx[at] = gamma * invstd / m * (m * dz - dbeta - xhat * dgamma);
          ref->dx_scale = fmax(ref->dx_scale, fabs(gamma * invstd * dz));
        }
      }
#undef AT
  ref->dgamma[ch] = dgamma, ref->dbeta[ch] = dbeta;
  ref->dgamma_scale = fmax(ref->dgamma_scale, dgamma_terms);
  ref->dbeta_scale = fmax(ref->dbeta_scale, dbeta_terms);
}

/* max |a - b| / scale over n values. */
static double off_by(const float *a, const double *b, size_t n, double scale) {
  double diff = 0;
  for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)a[i] - b[i]));
  return diff / fmax(scale, 1e-30);
}

/* The threads' result against the double reference, within 1e-5 of its
 * scale (one graph's error shown beside it). */
static bool check(const char *what, const float *threads, const float *one, const double *ref, size_t n,
                  double scale) {
  const double t = off_by(threads, ref, n, scale), o = off_by(one, ref, n, scale);
  const bool ok = t <= 1e-5;
  printf("  %-14s threads %.2e  one graph %.2e%s\n", what, t, o, ok ? "" : "  FAIL (above 1e-5)");
  return ok;
}

/* The threads' running statistics against one graph's (both float32). */
static bool same_stats(const rank_run *runs, const rank_run *one) {
  const size_t c = (size_t)one->k->c;
  double worst = 0;
  for (int i = 0; i < one->k->ranks; i++)
    for (size_t ch = 0; ch < c; ch++)
      worst = fmax(worst, fmax(fabs(runs[i].run_mean[ch] - one->run_mean[ch]) / fmax(fabs(one->run_mean[ch]), 1),
                               fabs(runs[i].run_var[ch] - one->run_var[ch]) / fabs(one->run_var[ch])));
  printf("  %-14s threads against one graph %.2e%s\n", "running stats", worst, worst <= 1e-5 ? "" : "  FAIL");
  return worst <= 1e-5;
}

static void fill(const bn_case *k, float *x, float *dy, size_t n) {
  uint64_t s = 12345;
  for (size_t i = 0; i < n; i++) { /* channel means of offset + channel, spread 0.5 */
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = (double)(s >> 11) / 9007199254740992.0 - 0.5;
    x[i] = (float)(k->offset + (double)(i / k->hw % k->c) + 0.5 * u);
    dy[i] = (float)(u * 0.7 + 0.1);
  }
}

/* One graph, then k->ranks threads; false when a run fails. */
static bool run_both(const bn_case *k, const float *x, const float *dy, float *y[2], float *dx[2], rank_run *one,
                     rank_run *runs) {
  meeting m = {.ranks = k->ranks};
  if (pthread_barrier_init(&m.barrier, NULL, (unsigned)k->ranks) != 0) return false;
  *one = (rank_run){k, NULL, 0, 1, k->batch, x, dy, y[0], dx[0], {0}, {0}, {0}, {0}, false};
  run_rank(one);
  pthread_t t[MAX_RANKS];
  for (int i = 0; i < k->ranks; i++) {
    runs[i] = (rank_run){k, &m, i, k->ranks, k->batch / k->ranks, x, dy, y[1], dx[1], {0}, {0}, {0}, {0}, false};
    pthread_create(&t[i], NULL, run_rank, &runs[i]);
  }
  bool ok = one->ok;
  for (int i = 0; i < k->ranks; i++) pthread_join(t[i], NULL), ok = ok && runs[i].ok;
  pthread_barrier_destroy(&m.barrier);
  return ok;
}

static bool run_case(const bn_case *k) {
  const size_t n = (size_t)k->batch * k->c * k->hw;
  float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
  float *y[2] = {calloc(n, sizeof(float)), calloc(n, sizeof(float))};
  float *dx[2] = {calloc(n, sizeof(float)), calloc(n, sizeof(float))};
  reference ref = {.y = calloc(n, sizeof(double)), .dx = calloc(n, sizeof(double))};
  rank_run one, runs[MAX_RANKS];
  printf("batch %d over %d threads, %d channels of mean %g + c, %d values each (M = %d per thread)\n", k->batch,
         k->ranks, k->c, k->offset, k->hw, k->batch / k->ranks * k->hw);
  bool ok = x && dy && y[0] && y[1] && dx[0] && dx[1] && ref.y && ref.dx;
  if (ok) fill(k, x, dy, n);
  ok = ok && run_both(k, x, dy, y, dx, &one, runs);
  if (ok) {
    for (int ch = 0; ch < k->c; ch++) host_channel(k, ch, x, dy, &ref);
    float dgamma[MAX_SUMS] = {0}, dbeta[MAX_SUMS] = {0}; /* summed as the gradient reduction does */
    for (int i = 0; i < k->ranks; i++)
      for (int ch = 0; ch < k->c; ch++) dgamma[ch] += runs[i].dgamma[ch], dbeta[ch] += runs[i].dbeta[ch];
    const size_t c = (size_t)k->c;
    ok = check("output", y[1], y[0], ref.y, n, ref.y_scale) & check("dx", dx[1], dx[0], ref.dx, n, ref.dx_scale) &
         check("dgamma", dgamma, one.dgamma, ref.dgamma, c, ref.dgamma_scale) &
         check("dbeta", dbeta, one.dbeta, ref.dbeta, c, ref.dbeta_scale) & same_stats(runs, &one);
  } else {
    printf("  a run failed\n");
  }
  free(x), free(dy), free(y[0]), free(y[1]), free(dx[0]), free(dx[1]), free(ref.y), free(ref.dx);
  return ok;
}

int main(void) {
  const bn_case cases[] = {
      {2, 2, 3, 1, CLNN_ACT_IDENTITY, 3}, /* M = 1 on each thread */
      {4, 2, 5, 1, CLNN_ACT_SILU, 3},
      {6, 3, 4, 9, CLNN_ACT_SILU, 3},
      {8, 4, 3, 4, CLNN_ACT_IDENTITY, 3},
  };
  bool ok = true;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) ok &= run_case(&cases[i]);
  printf(ok ? "synchronized batch norm matches one graph\n" : "FAIL\n");
  return ok ? 0 : 1;
}
