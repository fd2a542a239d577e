/*
 * fuzz_cache.c - the program-binary cache's file reader (runtime/cache_file.c)
 * on any bytes: it must refuse what is not a whole file for its key, without
 * reading out of bounds or allocating what the file does not hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/cache_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  FILE *f = fmemopen((void *)data, size, "rb");
  if (!f) return 0;
  unsigned char *bin = NULL;
  size_t n = 0;
  if (clnn__cache_file_read(f, "libclnn fuzz key", &bin, &n)) {
    volatile unsigned char sink = bin[n - 1]; /* every byte it claims is there */
    (void)sink;
    free(bin);
  }
  fclose(f);
  return 0;
}
