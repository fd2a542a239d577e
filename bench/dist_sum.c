/*
 * dist_sum.c - clnn-dist-sum: how long clnn-train --dist's gradient sum
 * takes for S bytes on this machine or cluster (docs/DISTRIBUTED.md's cost
 * model). Run under mpirun:
 *
 *   mpirun -np 2 build/examples/clnn-dist-sum 1.45 102.2
 *
 * For each size in MB: the median over 11 sums after 2 warm-ups, through
 * the same code as the gradient buckets (dist_sum_floats: MPI_Iallreduce
 * with the rank-order sum), and the bus bandwidth that implies,
 * 2 (N - 1) / N * S / time.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dist.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Every argument a size in MB, from one float to 64 GB; otherwise rank 0
 * says which is not (atof would read "abc" as 0, and "-1" as a count that
 * wraps round). */
#define MAX_MB 65536.0
static bool sizes_ok(int argc, char **argv, bool speak) {
  if (argc < 2) {
    if (speak) fprintf(stderr, "usage: mpirun -np N clnn-dist-sum MB...\n");
    return false;
  }
  for (int a = 1; a < argc; a++) {
    char *end;
    const double mb = strtod(argv[a], &end);
    if (end == argv[a] || *end || !(mb * 1e6 >= sizeof(float) && mb <= MAX_MB)) {
      if (speak)
        fprintf(stderr, "clnn-dist-sum: a size must be a number of MB from %g to %g, not '%s'\n",
                sizeof(float) / 1e6, MAX_MB, argv[a]);
      return false;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  dist *d = dist_start(&argc, &argv, 300);
  if (!d) return 2;
  const int n = dist_size(d);
  if (!sizes_ok(argc, argv, dist_rank(d) == 0)) { /* alike everywhere: no MPI_Abort to race rank 0's message */
    dist_stop(d, false);
    return 2;
  }
  bool ok = true;
  for (int a = 1; ok && a < argc; a++) {
    const double mb = strtod(argv[a], NULL);
    const size_t count = (size_t)(mb * 1e6 / sizeof(float));
    float *v = calloc(count, sizeof *v);
    double ms[11];
    ok = v != NULL;
    if (!ok) fprintf(stderr, "clnn-dist-sum: rank %d: no host memory for %g MB\n", dist_rank(d), mb);
    for (int r = -2; ok && r < 11; r++) {
      const double t0 = now_s();
      ok = dist_sum_floats(d, v, count);
      if (r >= 0) ms[r] = (now_s() - t0) * 1e3;
    }
    free(v);
    if (!ok) break;
    qsort(ms, 11, sizeof ms[0], by_value);
    if (dist_rank(d) == 0)
      printf("%d processes, %.2f MB: %.3f ms (median of 11), bus bandwidth %.2f GB/s\n", n, mb, ms[5],
             2.0 * (n - 1) / n * mb * 1e6 / (ms[5] * 1e-3) / 1e9);
  }
  dist_stop(d, !ok);
  return ok ? 0 : 1;
}
