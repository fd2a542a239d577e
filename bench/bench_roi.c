/*
 * bench_roi.c - clnn-bench families of the RoI ops:
 *   roi_align    mb2ic256ih50iw50 n512 oh7ow7 sr2 scale0.0625 aligned1
 *   roi_pool     mb2ic256ih50iw50 n512 oh7ow7 scale0.0625
 *   ps_roi_align mb1ic1029ih38iw50 n300 oh7ow7 sr2 scale0.0625
 *   ps_roi_pool  mb1ic1029ih38iw50 n300 oh7ow7 scale0.0625
 * Keys: mb ic ih iw (features; iw = ih if omitted), n (RoIs), oh ow (bins;
 * ow = oh), scale (spatial_scale, default 1), sr (align ops: samples per bin
 * side, sr0 or omitted = adaptive), aligned (roi_align: 0 or 1, default 0),
 * rois=FILE (RoI rows "batch x1 y1 x2 y2", '#' comments; the same as the
 * --rois FILE option, for one problem; n may then be omitted).
 * Without a file, C and P modes draw random valid RoIs: batch index uniform,
 * side log-uniform between one feature pixel and the whole map, inside the
 * image (feature size / scale).
 * Tensors: x (mb, ic, ih, iw), rois (n, 5), y (n, oc, oh, ow) with oc = ic or
 * ic / (oh * ow); roi_pool adds argmax (n, ic, oh, ow) int32. Pass bwd adds
 * dy (like y, read) and dx (like x, written): the first run also runs the
 * forward (y, argmax), later runs time the backward alone, as PyTorch's
 * backward is timed given its saved forward.
 * dt=f16|bf16: x, y, dy and dx in that type; rois stay float32 and argmax
 * int32 (as the API takes them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct roi_params {
  clnn_roi_desc d;
  int64_t oc;
  bool bwd;
  bool fwd_done;  /* bwd pass: the forward has run on the device */
  int64_t nfile;  /* rows read from a RoI file (0: random RoIs) */
  float file[];   /* nfile x 5 */
} roi_params;

#define CLNN_TRY_BENCH(expr)                      \
  do {                                            \
    clnn_status st_ = (expr);                     \
    if (st_ != CLNN_SUCCESS) return st_;          \
  } while (0)

/* The path the library takes, for the report's algo column. */
static const char *path_name(clnn_roi_op op, bool bwd) {
  if (op == CLNN_PS_ROI_POOL) return bwd ? "ps_plane_owner" : "ps_direct";
  if (op == CLNN_PS_ROI_ALIGN) return bwd ? "ps_plane_owner" : "panels16";
  if (op == CLNN_ROI_POOL) return bwd ? "plane_owner" : "panels16";
  return bwd ? "panel_owner" : "panels16";
}

static double uniform01(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------ RoI file */

/* Read rows "batch x1 y1 x2 y2" into a malloc'd array; NULL with err set. */
static float *read_roi_file(const char *path, int64_t *rows, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot open RoI file %s", path);
    return NULL;
  }
  float *r = NULL;
  int64_t n = 0, cap = 0, line_no = 0;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line_no++;
    line[strcspn(line, "#\r\n")] = '\0';
    float v[5];
    char extra;
    int got = sscanf(line, "%f %f %f %f %f %c", &v[0], &v[1], &v[2], &v[3], &v[4], &extra);
    if (got <= 0) continue; /* blank or comment */
    if (got != 5) {
      snprintf(err, errlen, "%s:%lld: expected 5 numbers \"batch x1 y1 x2 y2\"", path, (long long)line_no);
      free(r);
      fclose(f);
      return NULL;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      float *g = realloc(r, (size_t)cap * 5 * sizeof *r);
      if (!g) {
        snprintf(err, errlen, "out of memory reading %s", path);
        free(r);
        fclose(f);
        return NULL;
      }
      r = g;
    }
    memcpy(r + n * 5, v, sizeof v);
    n++;
  }
  fclose(f);
  if (n == 0) {
    snprintf(err, errlen, "%s holds no RoI rows", path);
    free(r);
    return NULL;
  }
  *rows = n;
  return r;
}

/* ------------------------------------------------------------- setup */

/* *have_n: whether the descriptor gives the RoI count ("n0": no RoIs). */
static bool parse_desc(bench_args *a, clnn_roi_op op, clnn_roi_desc *d, bool *have_n, char *err, size_t errlen) {
  bool ok = true;
  int64_t v, n = 0, c = 0, h = 0, w = 0, k = 0, ph = 0, pw = 0;
  double scale = 1.0;
  bench_arg_int(a, "mb", &n, &ok);
  bench_arg_int(a, "ic", &c, &ok);
  bench_arg_int(a, "ih", &h, &ok);
  w = h;
  bench_arg_int(a, "iw", &w, &ok);
  *have_n = bench_arg_int(a, "n", &k, &ok);
  bench_arg_int(a, "oh", &ph, &ok);
  pw = ph;
  bench_arg_int(a, "ow", &pw, &ok);
  bench_arg_real(a, "scale", &scale, &ok);
  *d = clnn_roi_desc_make(op, n, c, h, w, k, ph, pw, (float)scale);
  if (op == CLNN_ROI_ALIGN || op == CLNN_PS_ROI_ALIGN) {
    if (bench_arg_int(a, "sr", &v, &ok)) d->sampling_ratio = v;
  }
  if (op == CLNN_ROI_ALIGN && bench_arg_int(a, "aligned", &v, &ok)) d->aligned = (int)v;
  if (!ok || !n || !c || !h || !ph) return bench_args_explain(a, clnn_roi_op_name(op), "mb ic ih oh", err, errlen);
  return true;
}

static bool roi_setup(bench_problem *p, bench_args *a, clnn_roi_op op, char *err, size_t errlen) {
  clnn_roi_desc d;
  bool have_n;
  if (!parse_desc(a, op, &d, &have_n, err, errlen)) return false;
  const char *path = bench_opt.rois_file;
  bench_arg_str(a, "rois", &path);
  float *file = NULL;
  int64_t rows = 0;
  if (path) {
    if (!(file = read_roi_file(path, &rows, err, errlen))) return false;
    if (!have_n) d.num_rois = rows;
    if (d.num_rois != rows) {
      snprintf(err, errlen, "n%lld, but %s holds %lld RoI rows", (long long)d.num_rois, path, (long long)rows);
      free(file);
      return false;
    }
  } else if (!have_n) {
    snprintf(err, errlen, "%s needs n (the RoI count; n0 for none) or a RoI file", clnn_roi_op_name(op));
    return false;
  }
  roi_params *rp = calloc(1, sizeof *rp + (size_t)rows * 5 * sizeof(float));
  if (!rp) {
    free(file);
    snprintf(err, errlen, "out of memory");
    return false;
  }
  p->params = rp;
  rp->d = d;
  rp->nfile = rows;
  if (file) memcpy(rp->file, file, (size_t)rows * 5 * sizeof(float));
  free(file);
  clnn_status st = clnn_roi_desc_check(&rp->d, &rp->oc);
  if (st == CLNN_SUCCESS && rows) st = clnn_roi_rois_check(&rp->d, rp->file);
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "%s", clnn_context_errmsg(NULL));
    return false;
  }
  rp->bwd = !strcmp(p->pass, "bwd");
  const clnn_roi_desc *q = &rp->d;
  int64_t xd[4] = {q->n, q->c, q->h, q->w}, rd[2] = {q->num_rois, 5};
  int64_t yd[4] = {q->num_rois, rp->oc, q->pooled_h, q->pooled_w};
  int64_t ad[4] = {q->num_rois, q->c, q->pooled_h, q->pooled_w};
  bench_tensor *t = bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  t->fill = BENCH_FILL_NORMAL, t->lo = 0.0, t->hi = 1.0;
  t = bench_add(p, "rois", BENCH_IN, CLNN_FLOAT32, 2, rd);
  t->fill = BENCH_FILL_CUSTOM;
  t->store = CLNN_FLOAT32; /* the boxes stay float32 whatever dt is */
  if (rp->bwd) {
    t = bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, yd);
    t->fill = BENCH_FILL_NORMAL, t->lo = 0.0, t->hi = 1.0;
  }
  bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, yd);
  if (op == CLNN_ROI_POOL) bench_add(p, "argmax", BENCH_OUT, CLNN_INT32, 4, ad);
  if (rp->bwd) bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  double nx = (double)q->n * q->c * q->h * q->w, ny = (double)q->num_rois * rp->oc * q->pooled_h * q->pooled_w;
  double na = op == CLNN_ROI_POOL ? ny : 0.0;
  p->flops = 0;
  /* fwd: x, rois, y; bwd: dy, rois, dx (+ argmax); rois and argmax 4 bytes in every dt */
  p->bytes = bench_elem_bytes(p) * (nx + ny) + 4.0 * (5.0 * q->num_rois + na);
  snprintf(p->algo, sizeof p->algo, "%s", path_name(op, rp->bwd));
  return true;
}

/* ------------------------------------------------------------ fill, run */

/* Random valid RoIs: inside the image (feature size / scale), side
 * log-uniform between one feature pixel and the whole map. */
static void random_rois(const clnn_roi_desc *d, float *r, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  const double img[2] = {(double)d->w / d->spatial_scale, (double)d->h / d->spatial_scale};
  const double px = 1.0 / d->spatial_scale;
  for (int64_t k = 0; k < d->num_rois; k++) {
    r[k * 5] = (float)(int64_t)(uniform01(&s) * (double)d->n);
    for (int a = 0; a < 2; a++) { /* a = 0: x, a = 1: y */
      double lo = px < img[a] ? px : img[a], side = exp(log(lo) + uniform01(&s) * (log(img[a]) - log(lo)));
      double x1 = uniform01(&s) * (img[a] - side);
      r[k * 5 + 1 + a] = (float)x1;
      r[k * 5 + 3 + a] = (float)(x1 + side);
    }
  }
}

static void roi_fill(bench_problem *p, bench_tensor *t, uint64_t seed) {
  const roi_params *rp = p->params;
  if (rp->nfile) memcpy(t->host, rp->file, (size_t)rp->nfile * 5 * sizeof(float));
  else random_rois(&rp->d, t->host, seed);
}

static clnn_status roi_run_device(clnn_context *ctx, bench_problem *p) {
  roi_params *rp = p->params;
  if (!rp->bwd || !rp->fwd_done) {
    CLNN_TRY_BENCH(clnn_roi_fwd(ctx, &rp->d, bench_dev(p, "x"), bench_dev(p, "rois"), bench_dev(p, "y"),
                                bench_dev(p, "argmax")));
    rp->fwd_done = true;
  }
  if (!rp->bwd) return CLNN_SUCCESS;
  return clnn_roi_bwd(ctx, &rp->d, bench_dev(p, "dy"), bench_dev(p, "rois"), bench_dev(p, "argmax"),
                      bench_dev(p, "dx"));
}

static clnn_status roi_run_ref(bench_problem *p) {
  const roi_params *rp = p->params;
  bench_tensor *am = bench_find(p, "argmax");
  int32_t *argmax = am ? am->ref : NULL;
  clnn_status st = clnn_ref_roi_fwd(&rp->d, bench_ref_in(p, "x"), bench_ref_in(p, "rois"), bench_ref_out(p, "y"),
                                    argmax);
  if (st != CLNN_SUCCESS || !rp->bwd) return st;
  return clnn_ref_roi_bwd(&rp->d, bench_ref_in(p, "dy"), bench_ref_in(p, "rois"), argmax, bench_ref_out(p, "dx"));
}

#define ROI_FAMILY(stem, op)                                                                   \
  static bool stem##_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {        \
    return roi_setup(p, a, op, err, errlen);                                                   \
  }                                                                                            \
  static const bench_family stem##_family = {.name = #stem,                                    \
                                             .passes = "fwd,bwd",                              \
                                             .setup = stem##_setup,                            \
                                             .fill = roi_fill,                                 \
                                             .run_device = roi_run_device,                     \
                                             .run_ref = roi_run_ref,                           \
                                             .half = true};

ROI_FAMILY(roi_align, CLNN_ROI_ALIGN)
ROI_FAMILY(roi_pool, CLNN_ROI_POOL)
ROI_FAMILY(ps_roi_align, CLNN_PS_ROI_ALIGN)
ROI_FAMILY(ps_roi_pool, CLNN_PS_ROI_POOL)

const bench_family *const bench_roi_families[] = {&roi_align_family, &roi_pool_family, &ps_roi_align_family,
                                                  &ps_roi_pool_family, NULL};
