/*
 * dist.h - data-parallel training for clnn-train (--dist) over MPI: one
 * process per device, each with a shard of every global batch, gradients
 * summed across processes while the backward pass still runs, and
 * optionally batch norm over the global batch (--sync-bn). See
 * docs/DISTRIBUTED.md.
 *
 * Every sum is a fixed-order reduction: the same process count gives the
 * same bits on every process and in every run. Every collective waits at
 * most the timeout (--dist-timeout); a peer that died or hangs ends the job
 * with a message instead of a hang (dist_stop aborts every process).
 *
 * Built from dist.c where CMake finds MPI, else from dist_none.c, whose
 * dist_start says that this build has no MPI.
 */
#ifndef CLNN_TRAIN_DIST_H
#define CLNN_TRAIN_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graph.h"

typedef struct dist dist;

/* MPI_Init, and this process's place: rank and size in the job, rank among
 * the processes on its node. NULL with a message when MPI cannot start. */
dist *dist_start(int *argc, char ***argv, double timeout_s);
int dist_rank(const dist *d);
int dist_size(const dist *d);
/* The OpenCL device this process should use when the user named none:
 * with several GPUs on a node, the node's ranks take them in turn
 * (platform and device index as clnn_context_options has them); otherwise
 * -1, -1 (the default choice). */
void dist_pick_device(const dist *d, int *platform, int *device);

/* Let g's backward pass reduce its parameter gradients in buckets of about
 * bucket_bytes (summed in float32 whatever their type), and with sync_bn its batch norms
 * use the global batch. After graph_finalize. */
bool dist_attach(dist *d, graph *g, size_t bucket_bytes, bool sync_bn);
/* The buckets dist_attach cut: size, and the op whose backward completes each. */
void dist_print_buckets(const dist *d, FILE *f);
/* After graph_backward: the last buckets' reductions, then the summed
 * gradients written back (enqueued) over the local ones: the whole batch's
 * when each process's loss is its rows' share of the batch's mean. */
bool dist_finish_grads(dist *d);

/* Sums of count doubles across processes, in place (fixed order). */
bool dist_sum(dist *d, double *values, size_t count);
/* The same for floats, as the gradient buckets are summed (bench/dist_sum.c times it). */
bool dist_sum_floats(dist *d, float *values, size_t count);
/* Rank 0's bytes to every process: host memory, and a device buffer range. */
bool dist_bcast(dist *d, void *data, size_t bytes);
bool dist_bcast_buffer(dist *d, clnn_buffer *buf, size_t offset, size_t bytes);
/* Whether every process holds the same value (a checksum of what);
 * false on every process, and rank 0's message naming the first process
 * that differs and what that means. */
bool dist_same(dist *d, uint64_t value, const char *what, const char *meaning);

/* Seconds this process waited since the last call: in dist_finish_grads
 * once the device had finished the backward pass (the part of the
 * gradient sums it did not hide; the write-back included), and in
 * dist_sum (batch norm's sums with --sync-bn, each step's loss). */
void dist_take_waits(dist *d, double *grads_s, double *sums_s);

/* MPI_Finalize after success; after a failure MPI_Abort, which ends every
 * process of the job (none waits for a peer that will not come). */
void dist_stop(dist *d, bool failed);

#endif
