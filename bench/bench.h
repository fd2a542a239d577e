/*
 * bench.h - the clnn-bench framework. A family (bench_<family>.c) turns a
 * descriptor such as "conv mb2ic8ih13oc16kh3" into a bench_problem: named
 * tensors with shapes and roles, a device run, a reference run, and its
 * FLOP and byte counts. main.c does the rest for every family alike:
 * random inputs (C, P), .npy inputs and outputs (R), comparison, timing,
 * the table and the JSON lines.
 */
#ifndef CLNN_BENCH_H
#define CLNN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clnn.h"

/* ----------------------------------------------------------- descriptor */

/* A descriptor's arguments: compact "mb2ic8" pairs, "key=value", bare words. */
typedef struct bench_arg {
  char key[32];
  char val[96];
  bool has_val;
  bool used;
} bench_arg;

typedef struct bench_args {
  int n;
  bench_arg a[64];
  int bad;       /* the first argument whose value did not parse (-1: none), for messages */
  bool bad_real; /* ... read as a real number rather than an integer */
} bench_args;

/* Split s (the descriptor after the family name); false with a message on error. */
bool bench_args_parse(const char *s, bench_args *out, char *err, size_t errlen);
/* Look up key; true and *v if present (marks it used). A non-number is an error via *ok. */
bool bench_arg_int(bench_args *a, const char *key, int64_t *v, bool *ok);
bool bench_arg_real(bench_args *a, const char *key, double *v, bool *ok);
bool bench_arg_str(bench_args *a, const char *key, const char **v);
/* A bare word (e.g. "nearest"); marks it used. */
bool bench_arg_word(bench_args *a, const char *word);
/* Error for any argument no lookup used (a typo must not be silently ignored). */
bool bench_args_all_used(const bench_args *a, char *err, size_t errlen);
/* A family's message for a descriptor it cannot use: a key whose value did
 * not parse, else which of the required keys (space-separated; "mb:0" lets
 * mb be 0, the others must be at least 1) are missing or too small, and any
 * argument no lookup used (a misspelled key). Always returns false. */
bool bench_args_explain(const bench_args *a, const char *family, const char *required, char *err,
                        size_t errlen);
/* An h/w key pair such as kh/kw: *h is the h key's value or def, *w the w
 * key's value or *h (so "kh3" alone means 3x3). A non-number is an error via *ok. */
void bench_arg_pair(bench_args *a, const char *kh, const char *kw, int64_t def, int64_t *h, int64_t *w, bool *ok);
/* act=NAME (a clnn_activation_name) into *act, left as it is when absent;
 * false with a message for an unknown name. */
bool bench_arg_act(bench_args *a, clnn_activation *act, char *err, size_t errlen);

/* -------------------------------------------------------------- problem */

typedef enum bench_role {
  BENCH_IN = 0,   /* read by the op; filled randomly (C, P) or read from .npy (R) */
  BENCH_OUT = 1,  /* written by the op; compared (C) or written to .npy (R) */
  BENCH_INOUT = 2 /* read and updated (optimizer state): both of the above */
} bench_role;

typedef enum bench_fill {
  BENCH_FILL_UNIFORM = 0, /* uniform in [lo, hi) */
  BENCH_FILL_NORMAL = 1,  /* mean lo, standard deviation hi */
  BENCH_FILL_CUSTOM = 2   /* the family's fill() */
} bench_fill;

/* The most elements a tensor of a problem may have: 2^36 (256 GiB of
 * float32, past any device), or less where size_t is narrow, so that a byte
 * count never wraps. */
#define BENCH_MAX_NUMEL \
  ((size_t)(SIZE_MAX / 8 < ((uint64_t)1 << 36) ? SIZE_MAX / 8 : ((uint64_t)1 << 36)))

typedef struct bench_tensor {
  char name[24]; /* .npy file stem in R mode: x, w, b, y, dy, ... */
  bench_role role;
  clnn_dtype dtype; /* host data: CLNN_FLOAT32 (float) or CLNN_INT32 */
  clnn_dtype store; /* device tensor and .npy type: dtype, or the problem's dt for a float tensor
                       (host data then holds values rounded to it) */
  int ndim;
  int64_t dims[CLNN_MAX_DIMS];
  size_t numel;
  bench_fill fill;
  double lo, hi;
  double tol;     /* relative L2 tolerance of this output (0: the problem's) */
  void *host;     /* inputs: the data; outputs: the device result read back */
  void *ref;      /* outputs: the reference result (C mode) */
  clnn_tensor *dev;
} bench_tensor;

#define BENCH_MAX_TENSORS 24

typedef struct bench_problem {
  const struct bench_family *fam;
  char text[512];   /* the descriptor as given */
  char pass[16];    /* fwd, bwd, bwd_d, bwd_w, step */
  clnn_dtype dt;    /* dt=f32|f16|bf16: the type of the float tensors (set before setup) */
  bool bias;        /* problem has a bias (C/P: unless --no-bias; R: b.npy exists) */
  const char *dir;  /* R mode: the directory (families may look for optional files) */
  void *params;     /* the family's parsed descriptor (freed with free()) */
  int nt;
  bench_tensor t[BENCH_MAX_TENSORS];
  double flops;     /* per run; 0 if the op is memory-bound */
  double bytes;     /* per run, each API tensor counted once */
  double tol;       /* default relative L2 tolerance of outputs */
  char algo[96];    /* which path ran, when the family can tell */
  char variant[512]; /* the variants the library ran (clnn_context_last_variant) */
  size_t wg;         /* work-items per group of its main kernel */
} bench_problem;

typedef struct bench_family {
  const char *name;   /* first word of the descriptor */
  const char *passes; /* accepted --pass values, comma-separated; the first is the default */
  /* Parse args into p->params and declare p's tensors for p->pass and p->bias. */
  bool (*setup)(bench_problem *p, bench_args *args, char *err, size_t errlen);
  /* Fill a BENCH_FILL_CUSTOM tensor (may be NULL if none is custom). */
  void (*fill)(bench_problem *p, bench_tensor *t, uint64_t seed);
  /* Enqueue the op on the device tensors (t[i].dev); no finish needed. */
  clnn_status (*run_device)(clnn_context *ctx, bench_problem *p);
  /* Reference on host data: inputs in t[i].host, outputs into t[i].ref. */
  clnn_status (*run_ref)(bench_problem *p);
  bool half; /* takes dt=f16 and dt=bf16 (its float tensors in that type) */
} bench_family;

/* Bytes of one element of the problem's float tensors (4, or 2 for dt=f16 and
 * dt=bf16): what P mode's byte counts multiply. */
double bench_elem_bytes(const bench_problem *p);
/* Declare a tensor; returns it for further settings (fill, tol, store). */
bench_tensor *bench_add(bench_problem *p, const char *name, bench_role role, clnn_dtype dtype,
                        int ndim, const int64_t *dims);
/* Find a tensor by name (NULL if absent). */
bench_tensor *bench_find(bench_problem *p, const char *name);
/* Host float data of a tensor: inputs' values, or for outputs the reference buffer. */
float *bench_ref_in(bench_problem *p, const char *name);
float *bench_ref_out(bench_problem *p, const char *name);
/* Device tensor by name (NULL if absent). */
clnn_tensor *bench_dev(bench_problem *p, const char *name);

/* Command-line settings families may read (main.c fills them). */
typedef struct bench_options {
  const char *rois_file; /* --rois FILE: RoI rows "batch x1 y1 x2 y2" */
  int steps;             /* --steps K: optimizer steps in R mode (default 1) */
  uint64_t seed;         /* --seed */
  char mode;             /* --mode: 'C', 'P' or 'R' (set before any setup) */
} bench_options;
extern bench_options bench_opt;

/* Read the conv keys (mb ic ih iw oc kh kw sh sw ph pw dh dw g act) into d and
 * validate it; shared by the conv-like families (bench_conv.c). */
bool bench_conv_desc_parse(bench_args *a, clnn_conv2d_desc *d, char *err, size_t errlen);

/* Every bench_<stem>.c's NULL-terminated family list, NULL-terminated
 * (registry.c, generated by bench/CMakeLists.txt). */
extern const bench_family *const *const bench_family_groups[];

#endif
