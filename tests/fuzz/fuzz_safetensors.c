/* fuzz_safetensors.c - examples/train/safetensors.c's reader on any bytes. */
#include "examples/common/safetensors.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size, ".safetensors");
  if (!path) return 0;
  st_file f;
  char err[512];
  if (st_read(path, &f, err, sizeof err)) st_free(&f);
  unlink(path);
  return 0;
}
