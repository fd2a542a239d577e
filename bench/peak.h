/* peak.h - the device's measured FMA throughput and triad bandwidth. */
#ifndef CLNN_BENCH_PEAK_H
#define CLNN_BENCH_PEAK_H

#include <stdbool.h>
#include <stddef.h>

#include "clnn.h"

typedef struct bench_peak {
  double gflops; /* float32 FMA throughput */
  double gbps;   /* triad a = b + q c, 3 arrays counted */
} bench_peak;

bool bench_measure_peak(clnn_context *ctx, bench_peak *out, char *err, size_t errlen);

#endif
