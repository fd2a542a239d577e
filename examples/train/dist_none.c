/*
 * dist_none.c - dist.h for a build without MPI (CMake found none): --dist
 * says so and nothing else changes. dist.c is the real one.
 */
#include <stdio.h>

#include "dist.h"

dist *dist_start(int *argc, char ***argv, double timeout_s) {
  (void)argc, (void)argv, (void)timeout_s;
  fprintf(stderr, "clnn-train: --dist needs MPI, and this build has none (install libopenmpi-dev and "
                  "openmpi-bin, then configure again)\n");
  return NULL;
}
int dist_rank(const dist *d) { return (void)d, 0; }
int dist_size(const dist *d) { return (void)d, 1; }
void dist_pick_device(const dist *d, int *platform, int *device) { (void)d, *platform = -1, *device = -1; }
bool dist_attach(dist *d, graph *g, size_t bucket_bytes, bool sync_bn) {
  return (void)d, (void)g, (void)bucket_bytes, (void)sync_bn, false;
}
bool dist_finish_grads(dist *d) { return (void)d, false; }
bool dist_sum(dist *d, double *values, size_t count) { return (void)d, (void)values, (void)count, false; }
bool dist_sum_floats(dist *d, float *values, size_t count) { return (void)d, (void)values, (void)count, false; }
bool dist_bcast(dist *d, void *data, size_t bytes) { return (void)d, (void)data, (void)bytes, false; }
bool dist_bcast_buffer(dist *d, clnn_buffer *buf, size_t offset, size_t bytes) {
  return (void)d, (void)buf, (void)offset, (void)bytes, false;
}
bool dist_same(dist *d, uint64_t value, const char *what, const char *meaning) {
  return (void)d, (void)value, (void)what, (void)meaning, false;
}
void dist_take_waits(dist *d, double *grads_s, double *sums_s) { (void)d, *grads_s = 0, *sums_s = 0; }
void dist_print_buckets(const dist *d, FILE *f) { (void)d, (void)f; }
void dist_stop(dist *d, bool failed) { (void)d, (void)failed; }
