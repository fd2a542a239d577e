/*
 * fuzz_idx.c - examples/train/idx.c's reader on any bytes. The input is the
 * images file then the labels file (gzopen reads plain files as they are),
 * split where its first two bytes say.
 */
#include <string.h>
#include <sys/stat.h>

#include "examples/train/idx.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t split = ((size_t)data[0] << 8 | data[1]) % (size - 1);
  data += 2, size -= 2;
  char dir[256], path[512];
  snprintf(dir, sizeof dir, "%s/clnn-fuzz-idx-%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
  mkdir(dir, 0700);
  const char *parts[2] = {"f-images-idx3-ubyte.gz", "f-labels-idx1-ubyte.gz"};
  size_t from[2] = {0, split}, len[2] = {split, size - split};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, parts[i]);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + from[i], 1, len[i], f);
    fclose(f);
  }
  idx_dataset d;
  char err[512];
  if (idx_load(dir, "f", &d, err, sizeof err)) idx_free(&d);
  return 0;
}
