/*
 * fuzz_descriptor.c - clnn-bench's descriptor parser and every family's
 * set-up (bench/main.c's problem_setup, which checks the descriptor
 * through the library) on any text. bench/main.c is compiled in whole, its
 * main renamed, so the harness sees its static functions.
 */
#define main clnn_bench_main
#include "bench/main.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char text[1024];
  if (size >= sizeof text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (strlen(text) != size || strstr(text, "rois=")) return 0; /* no files named by the input */
  run_config cfg = {0};
  cfg.mode = 'C';
  bench_problem p;
  char err[512];
  problem_setup(&p, text, &cfg, err, sizeof err);
  problem_free(&p);
  return 0;
}
