/*
 * registry.c - the clnn-bench families. Adding a family: write
 * bench/bench_<family>.c defining bench_<family>_family and list it here.
 */
#include "bench.h"

extern const bench_family bench_conv_family;

const bench_family *const bench_families[] = {
    &bench_conv_family,
    NULL,
};
