/*
 * timing.h - the clock and the sort order the timing tools share
 * (clnn-bench, its peak measurement, clnn-tune).
 */
#ifndef CLNN_BENCH_TIMING_H
#define CLNN_BENCH_TIMING_H

#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* qsort comparison of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif /* CLNN_BENCH_TIMING_H */
