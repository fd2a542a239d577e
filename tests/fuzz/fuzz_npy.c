/* fuzz_npy.c - bench/npy.c's reader on any bytes. */
#include "bench/npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size, ".npy");
  if (!path) return 0;
  npy_array a;
  char err[512];
  if (npy_read(path, &a, err, sizeof err)) free(a.data);
  unlink(path);
  return 0;
}
