/*
 * safetensors.h - reading and writing float32 checkpoints in the safetensors
 * format (readable by the Python `safetensors` package): an 8-byte little-
 * endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw little-endian data.
 */
#ifndef CLNN_TRAIN_SAFETENSORS_H
#define CLNN_TRAIN_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef struct st_tensor {
  char name[128];
  int ndim;
  int64_t dims[ST_MAX_DIMS];
  size_t numel;
  float *data; /* owned by the file (st_file) when read; borrowed when writing */
} st_tensor;

typedef struct st_file {
  int count;
  st_tensor *tensors;
  char metadata[1024]; /* the "__metadata__" object as raw JSON, or ""; longer is refused */
} st_file;

/* st_write's temporary files are named path + ST_TMP_SUFFIX + six characters. */
#define ST_TMP_SUFFIX ".tmp."

/*
 * Write count tensors to path: a new temporary file beside it, synced, then
 * renamed over it, so a crash leaves the old file or the new one, never half
 * of one. metadata_json is a JSON object of string values or NULL.
 */
bool st_write(const char *path, const st_tensor *tensors, int count, const char *metadata_json, char *err,
              size_t errlen);
/* Remove the temporary files a killed st_write of path left behind. */
void st_remove_stale_temporaries(const char *path);

/*
 * Read path. Every byte is checked: header length within the file, the JSON
 * well-formed, dtype F32, shapes matching byte ranges, ranges inside the data
 * and covering it without overlap. False with a message on anything else.
 */
bool st_read(const char *path, st_file *out, char *err, size_t errlen);
/* The tensor called name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
void st_free(st_file *f);

#endif
