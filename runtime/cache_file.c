/*
 * cache_file.c - see cache_file.h.
 */
#include "cache_file.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAGIC "CLNNBIN1"
#define CACHE_FORMAT_VERSION 1u

uint64_t clnn__fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static bool read_exact(FILE *f, void *dst, size_t n) { return fread(dst, 1, n, f) == n; }

/* Bytes from the current position to the end of f, or -1. */
static long bytes_left(FILE *f) {
  long at = ftell(f);
  if (at < 0 || fseek(f, 0, SEEK_END) != 0) return -1;
  long end = ftell(f);
  if (end < 0 || fseek(f, at, SEEK_SET) != 0) return -1;
  return end - at;
}

bool clnn__cache_file_read(FILE *f, const char *key, unsigned char **bin, size_t *bin_size) {
  const size_t key_len = strlen(key);
  char magic[8];
  uint32_t version, file_key_len;
  uint64_t size, sum;
  if (!read_exact(f, magic, 8) || memcmp(magic, CACHE_MAGIC, 8)) return false;
  if (!read_exact(f, &version, 4) || version != CACHE_FORMAT_VERSION) return false;
  if (!read_exact(f, &file_key_len, 4) || file_key_len != key_len) return false;
  /* The key is compared in pieces: no allocation of a length read from the file. */
  char piece[256];
  for (size_t done = 0; done < key_len;) {
    size_t n = key_len - done < sizeof piece ? key_len - done : sizeof piece;
    if (!read_exact(f, piece, n) || memcmp(piece, key + done, n)) return false;
    done += n;
  }
  if (!read_exact(f, &size, 8) || size == 0 || size > CLNN_CACHE_MAX_BINARY) return false;
  long left = bytes_left(f);
  if (left < 0 || (uint64_t)left != size + 8) return false; /* the binary, its checksum, nothing more */
  unsigned char *data = malloc((size_t)size);
  if (!data) return false;
  if (!read_exact(f, data, (size_t)size) || !read_exact(f, &sum, 8) ||
      clnn__fnv1a(clnn__fnv1a(CLNN_FNV_INIT, key, key_len), data, (size_t)size) != sum) {
    free(data);
    return false;
  }
  *bin = data;
  *bin_size = (size_t)size;
  return true;
}

bool clnn__cache_file_write(FILE *f, const char *key, const unsigned char *bin, size_t bin_size) {
  uint32_t version = CACHE_FORMAT_VERSION, key_len = (uint32_t)strlen(key);
  uint64_t size = bin_size;
  uint64_t h = clnn__fnv1a(clnn__fnv1a(CLNN_FNV_INIT, key, key_len), bin, bin_size);
  return fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&version, 4, 1, f) == 1 && fwrite(&key_len, 4, 1, f) == 1 &&
         fwrite(key, 1, key_len, f) == key_len && fwrite(&size, 8, 1, f) == 1 &&
         fwrite(bin, 1, bin_size, f) == bin_size && fwrite(&h, 8, 1, f) == 1;
}
