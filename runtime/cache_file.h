/*
 * cache_file.h - the program-binary cache's file format, apart from OpenCL
 * so that tests/fuzz/ can feed it any bytes:
 *
 *   "CLNNBIN1" | u32 version | u32 key length | key | u64 binary size |
 *   binary | u64 FNV-1a of key and binary          (native byte order)
 *
 * The key is the full identity of the build (library version, platform,
 * driver, device, options, source hash); a file is used only when it is
 * whole, made for exactly that key and its checksum holds. The checksum
 * finds damage, not tampering (docs/DESIGN.md, "Threat model").
 */
#ifndef CLNN_CACHE_FILE_H
#define CLNN_CACHE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLNN_CACHE_MAX_BINARY ((size_t)1 << 30)

/* FNV-1a, 64-bit: h = clnn__fnv1a(CLNN_FNV_INIT, data, n), chained. */
uint64_t clnn__fnv1a(uint64_t h, const void *data, size_t n);
#define CLNN_FNV_INIT 0xcbf29ce484222325ULL

/* Read the cache file open as f (positioned at its start): true and a
 * malloc'd binary when it is whole and made for key. Nothing is allocated
 * for a size the file does not hold. */
bool clnn__cache_file_read(FILE *f, const char *key, unsigned char **bin, size_t *bin_size);
/* Write binary under key to f; false on a write error. */
bool clnn__cache_file_write(FILE *f, const char *key, const unsigned char *bin, size_t bin_size);

#endif /* CLNN_CACHE_FILE_H */
