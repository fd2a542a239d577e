/*
 * dist.c - dist.h over MPI (Open MPI on Debian: openmpi-bin,
 * libopenmpi-dev).
 *
 * Gradient buckets: ranges of the gradient arena of about bucket_bytes,
 * cut from each end down, so that the backward pass, which finishes the
 * parameters last-made first, completes them one after the other (the
 * arena holds the parameters group by group, in the order they were made).
 * When the op that completes a bucket has been enqueued, one non-blocking
 * read copies its range into a host mirror of the arena (allocated once),
 * and as soon as it lands the bucket's MPI_Iallreduce starts, while the
 * device goes on with the earlier layers. One read and one write a bucket,
 * not one a parameter: each command costs the device's thread time between
 * kernels (a few hundred of them cost 2-process runs about 10% of their
 * speed). Buckets start in the same order on every process, as MPI requires
 * of collectives.
 *
 * Half gradients (a float16 or bfloat16 graph) are widened to float32 on
 * the host before the sum and rounded once after it.
 *
 * The sums use a user-defined operation declared non-commutative, so MPI
 * adds the processes' values in rank order: one result, the same bits on
 * every process and in every run with that many processes. (Float addition
 * is not associative; MPI_SUM on floats would let the library pick an order
 * by message size and topology.) Each process's loss is its rows' share of
 * the whole batch's mean (clnn-train's train_step), so the sums are the
 * whole batch's gradients.
 */
#define _GNU_SOURCE
#include "dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CL/cl.h>

typedef struct bucket {
  int first_param, n_params; /* in dist.order (arena order) */
  int completing_op;         /* the op whose backward finishes the bucket's last gradient */
  size_t staging_offset, floats; /* in dist.staging (float32) */
  size_t lo, hi;                 /* its bytes of the gradient arena, and of dist.raw */
  cl_event landed;      /* the reads into staging (NULL: not enqueued this step) */
  MPI_Request request;  /* the sum (MPI_REQUEST_NULL: not started this step, or done) */
} bucket;

struct dist {
  int rank, size, local_rank, local_size;
  /* The gradient buckets' sums start when their gradients land, which is
   * not at the same point of the backward pass on every process, while
   * the batch norms' sums start at fixed points: on separate communicators
   * each keeps one order everywhere, as MPI requires. */
  MPI_Comm comm, grads_comm;
  double timeout_s;
  MPI_Op sum_float, sum_double;
  graph *g;
  int *order; /* parameter indices, in the order the backward pass finishes them */
  bucket *buckets;
  int n_buckets, next_to_start;
  float *staging; /* the gradients as float32, which MPI sums */
  unsigned char *raw; /* the gradient arena's mirror: float16 or bfloat16 gradients in a half graph */
  uint64_t *gathered; /* dist_same's values, one per process */
  bool failed; /* a hook failed: the step is abandoned */
  /* Time this process's host spent in dist_finish_grads once the backward
   * pass was done (the part of the gradient sums it did not hide), and in the other sums
   * (batch norm's, the step's loss), since dist_take_waits. */
  double grads_wait_s, sums_wait_s;
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* inout = in + inout, element by element; in is the lower rank's. */
static void add_floats(void *in, void *inout, int *len, MPI_Datatype *type) {
  (void)type;
  const float *a = in;
  float *b = inout;
  for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static void add_doubles(void *in, void *inout, int *len, MPI_Datatype *type) {
  (void)type;
  const double *a = in;
  double *b = inout;
  for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static bool mpi_ok(const dist *d, int rc, const char *what) {
  if (rc == MPI_SUCCESS) return true;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fprintf(stderr, "clnn-train: rank %d: %s failed: %s\n", d->rank, what, text);
  return false;
}

/*
 * Wait for n requests, giving MPI's progress engine the time; after the
 * timeout, a message and false (a peer died or hangs). Spins briefly, then
 * sleeps in short naps so that a waiting process leaves the cores to the
 * device's threads.
 */
static bool wait_all(dist *d, int n, MPI_Request *r, const char *what) {
  const double deadline = now_s() + d->timeout_s;
  for (long spin = 0;; spin++) {
    int done = 0;
    if (!mpi_ok(d, MPI_Testall(n, r, &done, MPI_STATUSES_IGNORE), what)) return false;
    if (done) return true;
    if (spin % 256 == 0 && now_s() > deadline) {
      fprintf(stderr,
              "clnn-train: rank %d: %s did not finish within %g s (--dist-timeout): another process has died, "
              "hangs, or lags this far behind\n", d->rank, what, d->timeout_s);
      return false;
    }
    if (spin > 4000) nanosleep(&(struct timespec){0, 50000}, NULL);
  }
}

dist *dist_start(int *argc, char ***argv, double timeout_s) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS) {
    fprintf(stderr, "clnn-train: MPI_Init failed (start clnn-train --dist with mpirun)\n");
    return NULL;
  }
  dist *d = calloc(1, sizeof *d);
  if (!d) {
    fprintf(stderr, "clnn-train: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    return NULL;
  }
  d->timeout_s = timeout_s;
  /* Failures come back as return codes, reported here, instead of aborting inside MPI. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &d->comm); /* the duplicates inherit the error handler */
  MPI_Comm_dup(MPI_COMM_WORLD, &d->grads_comm);
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d->size);
  /* Now, not in dist_same: a process that could not allocate there would
   * skip the collective and leave the others to time out. */
  d->gathered = malloc((size_t)d->size * sizeof *d->gathered);
  if (!d->gathered) {
    fprintf(stderr, "clnn-train: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    return NULL;
  }
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &d->local_rank);
  MPI_Comm_size(node, &d->local_size);
  MPI_Comm_free(&node);
  MPI_Op_create(add_floats, 0, &d->sum_float); /* 0: not commutative, so summed in rank order */
  MPI_Op_create(add_doubles, 0, &d->sum_double);
  return d;
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_size(const dist *d) { return d ? d->size : 1; }

void dist_pick_device(const dist *d, int *platform, int *device) {
  *platform = -1;
  *device = -1;
  cl_platform_id plats[16];
  cl_uint n_plats = 0;
  if (d->local_size < 2 || clGetPlatformIDs(16, plats, &n_plats) != CL_SUCCESS) return;
  int gpus = 0, want = -1;
  for (int pass = 0; pass < 2; pass++) { /* count the node's GPUs, then take ours */
    int seen = 0;
    for (cl_uint p = 0; p < n_plats && p < 16; p++) {
      cl_device_id devs[64];
      cl_uint n = 0;
      if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, devs, &n) != CL_SUCCESS) continue;
      for (cl_uint i = 0; i < n && i < 64; i++) {
        cl_device_type type = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
        if (!(type & CL_DEVICE_TYPE_GPU)) continue;
        if (pass == 1 && seen == want) {
          *platform = (int)p;
          *device = (int)i;
          return;
        }
        seen++;
      }
    }
    gpus = seen;
    if (gpus < 2) return; /* one device (or none) for the whole node: the default choice */
    want = d->local_rank % gpus;
  }
}

/* ------------------------------------------------------------ buckets */

/* The type of parameter p's gradient. */
static clnn_dtype grad_type(const graph *g, const g_param *p) { return p->h ? g->dt : CLNN_FLOAT32; }

static bool enqueue_reads(dist *d, bucket *b) {
  const graph *g = d->g;
  cl_command_queue q = clnn_context_cl_queue(g->ctx);
  cl_int rc = clEnqueueReadBuffer(q, clnn_buffer_cl_mem(g->grad_arena), CL_FALSE, b->lo, b->hi - b->lo,
                                  d->raw + b->lo, 0, NULL, &b->landed);
  if (rc != CL_SUCCESS) {
    fprintf(stderr, "clnn-train: rank %d: reading gradients back failed (OpenCL error %d)\n", d->rank, rc);
    return false;
  }
  return clFlush(q) == CL_SUCCESS;
}

/* Between raw (the gradients' types) and staging (float32), one bucket. */
static void convert_bucket(dist *d, const bucket *b, bool to_float) {
  const graph *g = d->g;
  float *f = d->staging + b->staging_offset;
  for (int k = 0; k < b->n_params; k++) {
    const g_param *p = &g->params[d->order[b->first_param + k]];
    const clnn_dtype t = grad_type(g, p);
    if (to_float) clnn_unpack_f32(t, d->raw + p->grad_offset, f, p->numel);
    else clnn_pack_f32(t, f, d->raw + p->grad_offset, p->numel);
    f += p->numel;
  }
}

static bool start_sum(dist *d, bucket *b) {
  convert_bucket(d, b, true);
  return mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, d->staging + b->staging_offset, (int)b->floats, MPI_FLOAT,
                                  d->sum_float, d->grads_comm, &b->request),
                "the gradient sum");
}

/* Start the sums of the buckets whose gradients have landed, in bucket
 * order, and let MPI progress those already started. */
static bool progress(dist *d) {
  while (d->next_to_start < d->n_buckets) {
    bucket *b = &d->buckets[d->next_to_start];
    cl_int status = CL_QUEUED;
    if (!b->landed) break;
    if (clGetEventInfo(b->landed, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL) != CL_SUCCESS ||
        status < 0) {
      fprintf(stderr, "clnn-train: rank %d: reading gradients back failed (OpenCL status %d)\n", d->rank, status);
      return false;
    }
    if (status != CL_COMPLETE) break;
    if (!start_sum(d, b)) return false;
    d->next_to_start++;
  }
  for (int i = 0; i < d->next_to_start; i++) {
    int done;
    if (!mpi_ok(d, MPI_Test(&d->buckets[i].request, &done, MPI_STATUS_IGNORE), "the gradient sum")) return false;
  }
  return true;
}

static clnn_status after_backward(void *user, int op) {
  dist *d = user;
  for (int i = 0; i < d->n_buckets; i++)
    if (d->buckets[i].completing_op == op && !enqueue_reads(d, &d->buckets[i])) d->failed = true;
  if (!d->failed && !progress(d)) d->failed = true;
  return d->failed ? CLNN_ERR_IO : CLNN_SUCCESS;
}

static clnn_status sum_hook(void *user, double *values, size_t count) {
  return dist_sum(user, values, count) ? CLNN_SUCCESS : CLNN_ERR_IO;
}

/* The op that owns parameter i. */
static int owner_op(const graph *g, const g_param *p) {
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].w == p || g->ops[i].b == p) return i;
  return -1;
}

static const graph *sorting_graph; /* qsort's comparators have no context argument */

static int by_arena_place(const void *a, const void *b) {
  const size_t x = sorting_graph->params[*(const int *)a].grad_offset;
  const size_t y = sorting_graph->params[*(const int *)b].grad_offset;
  return (x > y) - (x < y);
}

/* The order buckets complete in: the later op first (ties: the higher range). */
static int by_completion(const void *a, const void *b) {
  const bucket *x = a, *y = b;
  if (x->completing_op != y->completing_op) return y->completing_op - x->completing_op;
  return (y->lo > x->lo) - (y->lo < x->lo);
}

/* The arena group a parameter belongs to (graph.c lays the arena out group
 * by group: decayed or not, and in a half graph the model's type or not). */
static int group_of(const g_param *p) { return (p->decay ? 0 : 1) + (p->h ? 0 : 2); }

/* Cut the arena into buckets: from the end down, a new bucket at
 * bucket_bytes and at each group's start. */
static bool make_buckets(dist *d, size_t bucket_bytes) {
  const graph *g = d->g;
  for (int i = 0; i < g->n_params; i++) d->order[i] = i;
  sorting_graph = g;
  qsort(d->order, (size_t)g->n_params, sizeof *d->order, by_arena_place);
  bucket *b = NULL;
  for (int k = g->n_params - 1; k >= 0; k--) {
    const g_param *p = &g->params[d->order[k]];
    const int op = owner_op(g, p);
    if (op < 0) {
      fprintf(stderr, "clnn-train: parameter %s belongs to no op\n", p->name);
      return false;
    }
    /* a bucket stays in one group of the arena: a group's first
     * parameters are the first layer's, whose backward comes last */
    const bool new_group = b && group_of(p) != group_of(&g->params[d->order[k + 1]]);
    if (!b || new_group || (b->hi - b->lo) >= bucket_bytes) {
      b = &d->buckets[d->n_buckets++];
      b->completing_op = op;
      b->hi = p->grad_offset + p->numel * clnn_dtype_size(grad_type(g, p));
    }
    b->first_param = k;
    b->n_params++;
    b->floats += p->numel;
    b->lo = p->grad_offset;
    b->completing_op = op < b->completing_op ? op : b->completing_op;
  }
  qsort(d->buckets, (size_t)d->n_buckets, sizeof *d->buckets, by_completion);
  size_t at = 0;
  for (int i = 0; i < d->n_buckets; i++) {
    d->buckets[i].staging_offset = at;
    d->buckets[i].request = MPI_REQUEST_NULL;
    at += d->buckets[i].floats;
  }
  return true;
}

void dist_print_buckets(const dist *d, FILE *f) {
  fprintf(f, "gradient sums in %d bucket(s), in the order they complete:", d->n_buckets);
  for (int i = 0; i < d->n_buckets; i++)
    fprintf(f, "%s %.3f MB after op %d of %d", i ? "," : "", (double)(d->buckets[i].hi - d->buckets[i].lo) / 1e6,
            d->buckets[i].completing_op, d->g->n_ops);
  fprintf(f, " (the backward pass runs the ops from the last down)\n");
}

bool dist_attach(dist *d, graph *g, size_t bucket_bytes, bool sync_bn) {
  d->g = g;
  d->order = malloc((size_t)g->n_params * sizeof *d->order);
  d->buckets = calloc((size_t)g->n_params + 1, sizeof *d->buckets);
  d->staging = malloc(graph_param_count(g) * sizeof(float) + 1);
  d->raw = malloc(clnn_buffer_size(g->grad_arena) + 1);
  if (!d->order || !d->buckets || !d->staging || !d->raw) {
    fprintf(stderr, "clnn-train: out of host memory\n");
    return false;
  }
  if (!make_buckets(d, bucket_bytes)) return false;
  g_dist_hooks hooks = {d, sync_bn ? sum_hook : NULL, after_backward};
  graph_set_dist(g, &hooks);
  return true;
}

/*
 * Start the sums of the buckets still on the device as their gradients
 * land. The host enqueues the whole backward pass long before the device
 * gets through it, so most buckets land here, not in after_backward. MPI
 * moves a non-blocking sum only inside MPI calls: each started sum gets a
 * turn (progress) before the host blocks on the next bucket's event.
 * Polling the events instead (0.1 ms naps) cost the device 15-25% of its
 * speed, waking the host thread on the core the process is bound to
 * (bench/dist_scaling.sh, docs/DISTRIBUTED.md). The device's own time is
 * not bounded here (no peer is involved).
 */
static bool start_remaining_sums(dist *d) {
  for (int i = d->next_to_start; i < d->n_buckets; i++)
    if (!d->buckets[i].landed) return false; /* its reads were never enqueued */
  while (d->next_to_start < d->n_buckets) {
    if (!progress(d)) return false;
    if (d->next_to_start < d->n_buckets && clWaitForEvents(1, &d->buckets[d->next_to_start].landed) != CL_SUCCESS)
      return false;
  }
  return true;
}

/* The sums, in the gradients' own types, over the local gradients:
 * enqueued, so that the optimizer's launches queue behind them. raw stays
 * untouched until the next step's reads, which the queue orders after. */
static bool write_back(dist *d) {
  const graph *g = d->g;
  cl_command_queue q = clnn_context_cl_queue(g->ctx);
  cl_mem grads = clnn_buffer_cl_mem(g->grad_arena);
  for (int i = 0; i < d->n_buckets; i++) {
    const bucket *b = &d->buckets[i];
    convert_bucket(d, b, false);
    if (clEnqueueWriteBuffer(q, grads, CL_FALSE, b->lo, b->hi - b->lo, d->raw + b->lo, 0, NULL, NULL) != CL_SUCCESS)
      return false;
  }
  return true;
}

/* Every bucket ready for the next step. After a failure, requests may still
 * be pending: the caller ends the job (dist_stop aborts). */
static void reset_buckets(dist *d) {
  for (int i = 0; i < d->n_buckets; i++) {
    bucket *b = &d->buckets[i];
    if (b->landed) clReleaseEvent(b->landed);
    b->landed = NULL;
    b->request = MPI_REQUEST_NULL;
  }
  d->next_to_start = 0;
  d->failed = false;
}

bool dist_finish_grads(dist *d) {
  bool ok = !d->failed && start_remaining_sums(d);
  const double t0 = now_s(); /* the device has done the backward pass: what follows is not hidden */
  MPI_Request all[G_MAX_PARAMS + 1];
  for (int i = 0; i < d->n_buckets; i++) all[i] = d->buckets[i].request;
  ok = ok && wait_all(d, d->n_buckets, all, "the gradient sum") && write_back(d);
  reset_buckets(d);
  d->grads_wait_s += now_s() - t0;
  if (!ok) fprintf(stderr, "clnn-train: rank %d: the gradient reduction failed\n", d->rank);
  return ok;
}

/* ------------------------------------------------------- collectives */

bool dist_sum(dist *d, double *values, size_t count) {
  const double t0 = now_s();
  MPI_Request r;
  const bool ok =
      mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, values, (int)count, MPI_DOUBLE, d->sum_double, d->comm, &r),
             "a sum across processes") &&
      wait_all(d, 1, &r, "a sum across processes");
  d->sums_wait_s += now_s() - t0;
  return ok;
}

void dist_take_waits(dist *d, double *grads_s, double *sums_s) {
  *grads_s = d->grads_wait_s;
  *sums_s = d->sums_wait_s;
  d->grads_wait_s = d->sums_wait_s = 0;
}

bool dist_sum_floats(dist *d, float *values, size_t count) {
  for (size_t at = 0; at < count;) { /* MPI counts are ints */
    const size_t chunk = count - at < (1u << 28) ? count - at : (1u << 28);
    MPI_Request r;
    if (!mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, values + at, (int)chunk, MPI_FLOAT, d->sum_float, d->grads_comm, &r),
                "the gradient sum") ||
        !wait_all(d, 1, &r, "the gradient sum"))
      return false;
    at += chunk;
  }
  return true;
}

bool dist_bcast(dist *d, void *data, size_t bytes) {
  for (size_t at = 0; at < bytes;) { /* MPI counts are ints */
    const size_t chunk = bytes - at < (1u << 30) ? bytes - at : (1u << 30);
    MPI_Request r;
    if (!mpi_ok(d, MPI_Ibcast((char *)data + at, (int)chunk, MPI_BYTE, 0, d->comm, &r), "a broadcast") ||
        !wait_all(d, 1, &r, "a broadcast from rank 0"))
      return false;
    at += chunk;
  }
  return true;
}

bool dist_bcast_buffer(dist *d, clnn_buffer *buf, size_t offset, size_t bytes) {
  void *host = malloc(bytes ? bytes : 1);
  if (!host) { /* the caller fails, and the job ends (dist_stop aborts the peers waiting in the broadcast) */
    fprintf(stderr, "clnn-train: rank %d: out of host memory sharing rank 0's state\n", d->rank);
    return false;
  }
  bool ok = true;
  if (d->rank == 0) ok = clnn_buffer_read(buf, offset, host, bytes) == CLNN_SUCCESS;
  ok = dist_bcast(d, host, bytes) && ok;
  if (ok && d->rank != 0) ok = clnn_buffer_write(buf, offset, host, bytes) == CLNN_SUCCESS;
  if (!ok) fprintf(stderr, "clnn-train: rank %d: sharing rank 0's state failed\n", d->rank);
  free(host);
  return ok;
}

bool dist_same(dist *d, uint64_t value, const char *what, const char *meaning) {
  uint64_t *all = d->gathered;
  MPI_Request r;
  bool ok = mpi_ok(d, MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->comm, &r),
                   "a checksum exchange") &&
            wait_all(d, 1, &r, "a checksum exchange");
  if (!ok) return false;
  bool same = true;
  for (int i = 1; same && i < d->size; i++)
    if (all[i] != all[0]) {
      if (d->rank == 0)
        fprintf(stderr, "clnn-train: %s differ across processes (rank %d's checksum %016llx, rank 0's %016llx): %s\n",
                what, i, (unsigned long long)all[i], (unsigned long long)all[0], meaning);
      same = false;
    }
  /* Every process saw the same values. Before any of them goes on to
   * MPI_Abort, which could kill rank 0 before its message is out, rank 0
   * has written it. */
  if (!same && mpi_ok(d, MPI_Ibarrier(d->comm, &r), "a barrier")) wait_all(d, 1, &r, "a barrier");
  return same;
}

void dist_stop(dist *d, bool failed) {
  if (!d) return;
  if (failed) MPI_Abort(MPI_COMM_WORLD, 1); /* ends every process; does not return */
  MPI_Comm_free(&d->comm);
  MPI_Comm_free(&d->grads_comm);
  MPI_Op_free(&d->sum_float);
  MPI_Op_free(&d->sum_double);
  free(d->order);
  free(d->buckets);
  free(d->staging);
  free(d->raw);
  free(d->gathered);
  free(d);
  MPI_Finalize();
}
