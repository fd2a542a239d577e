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

int main(int argc, char **argv) {
  dist *d = dist_start(&argc, &argv, 300);
  if (!d) return 2;
  const int n = dist_size(d);
  bool ok = argc > 1;
  if (!ok && dist_rank(d) == 0) fprintf(stderr, "usage: mpirun -np N clnn-dist-sum MB...\n");
  for (int a = 1; ok && a < argc; a++) {
    const double mb = atof(argv[a]);
    const size_t count = (size_t)(mb * 1e6 / sizeof(float));
    float *v = calloc(count ? count : 1, sizeof *v);
    double ms[11];
    ok = v && count > 0;
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
