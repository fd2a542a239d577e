/*
 * roi.c - RoI pooling dispatch (RoI align, RoI pool, PS-RoI align, PS-RoI
 * pool; forward and backward): the per-image RoI index, workspace chunking
 * and the kernel launches (kernels/roi.cl). The descriptor and the RoI
 * rows are validated by desc/roi.c.
 *
 * Paths:
 *  - RoI align / RoI pool / PS RoI align forward: the features are packed
 *    into panels of 16 channels per pixel (roi_pack; for PS RoI align one
 *    panel per bin, holding the channels that bin reads), then one work-item
 *    per (RoI, group of v channel blocks) computes all bins with float16
 *    loads: one bilinear sample or one max step serves 16 channels, one
 *    geometry 16 * v.
 *  - RoI align backward: one work-item per (image, group of channel blocks)
 *    owns zeroed panels and adds the contributions of its image's RoIs in
 *    RoI order (roi_align_bwd); roi_unpack writes dx. No atomics, fixed order.
 *  - RoI pool backward: one work-item per (image, 16 channels) owns those
 *    planes of dx and adds dy at the argmax of each bin of its image's RoIs.
 *  - PS RoI pool forward (bins average few cells, so packing does not pay)
 *    and PS RoI align forward when its panels exceed the workspace limit:
 *    one work-item per (bin row, RoI) reads the planes directly.
 *  - PS backward: one work-item per (bin, image) owns the dx planes that
 *    bin reads and adds the image's RoIs in RoI order.
 *
 * Those are the CPU-class variants. The GPU-class ones (kernels at the end
 * of kernels/roi.cl, work-groups of up to CLNN_GPU_WG):
 *  - forward: one output element per work-item, bins along the fastest
 *    axis (roi.fwd.gpu_align, roi.fwd.gpu_pool);
 *  - backward, as gathers: one work-item per pixel of four dx channels
 *    that share their weights, adding what each RoI of its image gives
 *    them in RoI order, the RoIs' geometry staged in local memory per
 *    work-group (roi.bwd.gpu_align_gather,
 *    roi.bwd.gpu_pool_gather; RoI pool then adds argmax entries outside
 *    their bins, which no forward writes, in a second small launch).
 * Variant tables (roi.fwd, roi.bwd) pick among them, best first.
 *
 * Types: x, y, dy and dx are float32, float16 or bfloat16, all of one type
 * (a compile-time choice of every roi program, -DDT); rois float32, argmax
 * int32 with every type. Kernels compute in float32 (the panels are
 * float32 whatever the type) and round each output once on store. The
 * CPU kernels that add into their output in place (RoI pool backward on
 * planes, the PS planes backward, PS RoI align straight from x) would round
 * at every add in a half type: the rule float32_only keeps them to
 * float32. The half types take roi.bwd.pool_panels (panels, then one
 * rounding in roi_unpack) and, for the PS ops, the same kernels on float32
 * copies (roi.fwd.ps_direct_staged, roi.bwd.ps_planes_staged: the input
 * widened once, the output rounded once; the gather kernels in their place
 * took 10x the forward's time and 100x the backward's on PoCL). The gather
 * kernels (roi.fwd.per_output, roi.bwd.gather: float32 accumulators in
 * registers) remain below them in the tables.
 *
 * Every call first reads the RoIs back (blocking) to validate them
 * (clnn__roi_rois_check: a bad RoI fails before anything is enqueued) and
 * to build the per-image RoI index [offsets (n + 1) | RoI numbers sorted by
 * image], which it writes at the start of the workspace (the backward
 * passes and the panel forward read it).
 */
#include "../desc/desc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CB 16 /* channels per panel pixel (one float16) */
/* Most channel blocks per work-item of the panel kernels (kernels/roi.cl). */
#define FWD_V_MAX 4
#define BWD_V_MAX 4

/* -------------------------------------------------------- RoI index */

/* The RoIs read back and the per-image index built from them. */
typedef struct roi_host {
  float *rois;  /* num_rois x 5 */
  cl_int *idx;  /* [n + 1 offsets][num_rois RoI numbers, by image then RoI number] */
  size_t idx_len;
} roi_host;

static void roi_host_free(roi_host *h) {
  free(h->rois);
  free(h->idx);
}

/* Counting sort by batch index (next: n scratch ints); stable, so the RoIs
 * of an image stay in RoI order. */
static void build_index(const clnn_roi_desc *d, const float *rois, cl_int *idx, cl_int *next) {
  cl_int *off = idx, *order = idx + d->n + 1;
  memset(off, 0, (size_t)(d->n + 1) * sizeof *off);
  for (int64_t k = 0; k < d->num_rois; k++) off[(int64_t)rois[k * 5] + 1]++;
  for (int64_t i = 0; i < d->n; i++) off[i + 1] += off[i];
  memcpy(next, off, (size_t)d->n * sizeof *next);
  for (int64_t k = 0; k < d->num_rois; k++) order[next[(int64_t)rois[k * 5]]++] = (cl_int)k;
}

/* Read rois (blocking), validate them and build the index. */
static clnn_status load_rois(clnn_context *ctx, const clnn_roi_desc *d, const clnn_tensor *rois,
                             roi_host *h) {
  memset(h, 0, sizeof *h);
  size_t bytes = (size_t)d->num_rois * 5 * sizeof(float);
  h->idx_len = (size_t)(d->n + 1 + d->num_rois);
  h->rois = malloc(bytes);
  h->idx = malloc(h->idx_len * sizeof *h->idx);
  cl_int *next = malloc((size_t)d->n * sizeof *next);
  if (!h->rois || !h->idx || !next) {
    free(next);
    roi_host_free(h);
    return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory for %lld RoIs", (long long)d->num_rois);
  }
  cl_int err = clEnqueueReadBuffer(ctx->queue, rois->buf->mem, CL_TRUE, rois->offset, bytes, h->rois, 0, NULL, NULL);
  clnn_status st = err == CL_SUCCESS ? clnn__roi_rois_check(ctx, d, h->rois) : clnn__cl_fail(ctx, err, "reading rois");
  if (st == CLNN_SUCCESS) build_index(d, h->rois, h->idx, next);
  else roi_host_free(h);
  free(next);
  return st;
}

/* Floats the index of a problem takes at the start of the workspace
 * (rounded to 64 bytes so the panels after it stay aligned). */
static size_t index_floats_of(const clnn_roi_desc *d) { return ((size_t)(d->n + 1 + d->num_rois) + CB - 1) / CB * CB; }
static size_t index_floats(const roi_host *h) { return (h->idx_len + CB - 1) / CB * CB; }

/* Workspace of index + extra floats, with the index written (blocking). */
static clnn_status workspace_with_index(clnn_context *ctx, const roi_host *h, size_t extra_floats, cl_mem *ws) {
  CLNN_TRY(clnn__workspace(ctx, (index_floats(h) + extra_floats) * sizeof(float), ws));
  CLNN_TRY_CL(ctx, clEnqueueWriteBuffer(ctx->queue, *ws, CL_TRUE, 0, h->idx_len * sizeof(cl_int), h->idx, 0,
                                        NULL, NULL));
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------ chunking */

/*
 * The panels of one image and channel block take pb*h*w*16 floats (pb: one
 * panel per bin for PS RoI align, else 1). A chunk covers either whole
 * images (all channel blocks) or, when one image does not fit the workspace
 * limit, the channel blocks of one image that fit.
 */
typedef struct chunk_plan {
  int64_t ncb;          /* channel blocks of the output channels, rounded up to a multiple of v */
  int64_t panel_floats; /* pb * h * w * 16: one block's panels */
  int64_t imgs;         /* images per chunk (whole-image chunks) */
  int64_t cbs;          /* channel blocks per chunk (imgs == 1 when < ncb) */
} chunk_plan;

/* Plan the chunks; false when the panels one work-item reads (v blocks)
 * exceed the workspace limit. */
static bool plan_chunks(const clnn_context *ctx, const clnn_roi_desc *d, int64_t v, int64_t pb, chunk_plan *p) {
  p->ncb = ((d->c / pb + CB - 1) / CB + v - 1) / v * v;
  p->panel_floats = pb * d->h * d->w * CB;
  int64_t avail = (int64_t)(ctx->workspace_limit / sizeof(float)) - (int64_t)index_floats_of(d);
  if (avail > CLNN_INDEX_MAX) avail = CLNN_INDEX_MAX; /* kernels index panels in 32-bit ints */
  if (avail < v * p->panel_floats) return false;
  int64_t per_image = p->ncb * p->panel_floats;
  if (per_image <= avail) {
    p->cbs = p->ncb;
    p->imgs = avail / per_image < d->n ? avail / per_image : d->n;
  } else {
    p->imgs = 1;
    p->cbs = avail / p->panel_floats / v * v;
  }
  return true;
}

/* One chunk: images [n0, n0 + nimg), channel blocks [cb0, cb0 + ncb). */
typedef struct chunk {
  int64_t n0, nimg, cb0, ncb;
} chunk;

/* Advance *c through the plan; false when done. Start with c->nimg == 0. */
static bool next_chunk(const clnn_roi_desc *d, const chunk_plan *p, chunk *c) {
  if (c->nimg == 0) {
    c->n0 = 0;
    c->cb0 = 0;
  } else if (c->cb0 + c->ncb < p->ncb) {
    c->cb0 += c->ncb;
  } else {
    c->n0 += c->nimg;
    c->cb0 = 0;
  }
  if (c->n0 >= d->n) return false;
  c->nimg = d->n - c->n0 < p->imgs ? d->n - c->n0 : p->imgs;
  c->ncb = p->ncb - c->cb0 < p->cbs ? p->ncb - c->cb0 : p->cbs;
  return true;
}

/* ------------------------------------------------------------ launches */

static const size_t local1[3] = {1, 1, 1};

/* A kernel of kernels/roi.cl built for tensors of type dt with -DROI_V=v
 * (1 for the kernels that do not use it, so they share one program). */
static clnn_status roi_kernel(clnn_context *ctx, clnn_dtype dt, int v, const char *name, clnn_kernel_ref *k) {
  char opts[48];
  snprintf(opts, sizeof opts, "-DROI_V=%d -DDT=%d", v, (int)dt);
  return clnn__kernel(ctx, "roi", opts, name, k);
}

/* The profiling name of a launch: base, then :float16 or :bfloat16 for the
 * half types (as pool's). */
static const char *op_name(char *buf, size_t n, const char *base, clnn_dtype dt) {
  snprintf(buf, n, "%s%s%s", base, dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  return buf;
}

/*
 * Channel blocks per work-item for oc channels. Forward: the most (up to
 * FWD_V_MAX, a power of two) whose padding adds at most a quarter of the
 * blocks; the RoIs give the parallelism. Backward: work-items are (image,
 * group), so also keep at least two per compute unit.
 */
static int choose_v(const clnn_context *ctx, const clnn_roi_desc *d, int64_t oc, bool bwd) {
  const int64_t ncb = (oc + CB - 1) / CB;
  const unsigned cu = bwd ? ctx->caps.compute_units : 1;
  int v = bwd ? BWD_V_MAX : FWD_V_MAX;
  for (; v > 1; v /= 2) {
    const int64_t groups = (ncb + v - 1) / v;
    if (4 * groups * v > 5 * ncb) continue;         /* over 25% padding */
    if (bwd && d->n * groups < 2 * (int64_t)cu) continue; /* too few work-items */
    break;
  }
  return v;
}

/* roi_pack: x into the chunk's panels at ws + panel_off (pb panels per block). */
static clnn_status launch_pack(clnn_context *ctx, int v, const clnn_roi_desc *d, int64_t pb, const clnn_tensor *x,
                               cl_mem ws, size_t panel_off, const chunk *c, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, x->dtype, v, "roi_pack", &k));
  size_t global[3] = {(size_t)d->h, (size_t)(c->ncb * pb), (size_t)c->nimg};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(panel_off),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(c->n0), CLNN_ARG_I32(c->cb0), CLNN_ARG_I32(c->ncb), CLNN_ARG_I32(pb)),
                      3, global, local1, op);
}

/* roi_unpack: the chunk's panels at ws + panel_off into dx. */
static clnn_status launch_unpack(clnn_context *ctx, int v, const clnn_roi_desc *d, clnn_tensor *dx, cl_mem ws,
                                 size_t panel_off, const chunk *c, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, dx->dtype, v, "roi_unpack", &k));
  size_t global[3] = {(size_t)d->h, (size_t)c->ncb, (size_t)c->nimg};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(dx), CLNN_ARG_MEM(ws), CLNN_ARG_U64(panel_off),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(c->n0), CLNN_ARG_I32(c->cb0), CLNN_ARG_I32(c->ncb)),
                      3, global, local1, op);
}

/* Align geometry knobs: the half-pixel offset and the 1x1 minimum box. */
static float align_offset(const clnn_roi_desc *d) {
  return (d->op == CLNN_PS_ROI_ALIGN || d->aligned) ? 0.5f : 0.0f;
}
static int align_min1(const clnn_roi_desc *d) { return d->op == CLNN_ROI_ALIGN && !d->aligned; }
static int sampling(const clnn_roi_desc *d) {
  return d->sampling_ratio > 0 ? (int)d->sampling_ratio : 0;
}

/* RoI align, RoI pool and PS RoI align forward over panels, chunk by chunk
 * (the plan was made by the caller). */
static clnn_status fwd_packed(clnn_context *ctx, const clnn_roi_desc *d, int64_t oc, const roi_host *h,
                              const chunk_plan *plan, int v, int64_t pb, const clnn_tensor *x,
                              const clnn_tensor *rois, clnn_tensor *y, clnn_tensor *argmax) {
  const bool pool = d->op == CLNN_ROI_POOL;
  char op[48];
  op_name(op, sizeof op,
          pool ? "roi_fwd:roi_pool" : d->op == CLNN_ROI_ALIGN ? "roi_fwd:roi_align" : "roi_fwd:ps_roi_align", y->dtype);
  cl_mem ws;
  size_t ioff = index_floats(h);
  CLNN_TRY(workspace_with_index(ctx, h, (size_t)(plan->panel_floats * plan->cbs * plan->imgs), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, y->dtype, v, pool ? "roi_pool_fwd" : "roi_align_fwd", &k));
  const cl_int *off = h->idx;
  chunk c = {0, 0, 0, 0};
  while (next_chunk(d, plan, &c)) {
    int64_t slot0 = off[c.n0], nslots = off[c.n0 + c.nimg] - slot0;
    if (nslots == 0) continue; /* no RoI reads these images */
    CLNN_TRY(launch_pack(ctx, v, d, pb, x, ws, ioff, &c, op));
    size_t global[2] = {(size_t)nslots, (size_t)(c.ncb / v)};
    if (pool) {
      CLNN_TRY(clnn__launch(
          ctx, &k,
          CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(ioff), CLNN_ARG_TENSOR(rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                    CLNN_ARG_TENSOR(y), CLNN_ARG_TENSOR(argmax), CLNN_ARG_I32(argmax != NULL),
                    CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                    CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w), CLNN_ARG_F32(d->spatial_scale),
                    CLNN_ARG_I32(c.n0), CLNN_ARG_I32(c.cb0), CLNN_ARG_I32(c.ncb), CLNN_ARG_I32(slot0),
                    CLNN_ARG_I32(nslots)),
          2, global, local1, op));
    } else {
      CLNN_TRY(clnn__launch(
          ctx, &k,
          CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(ioff), CLNN_ARG_TENSOR(rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                    CLNN_ARG_TENSOR(y), CLNN_ARG_I32(d->n), CLNN_ARG_I32(oc), CLNN_ARG_I32(d->h),
                    CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w),
                    CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_F32(align_offset(d)), CLNN_ARG_I32(align_min1(d)),
                    CLNN_ARG_I32(sampling(d)), CLNN_ARG_I32(c.n0), CLNN_ARG_I32(c.cb0), CLNN_ARG_I32(c.ncb),
                    CLNN_ARG_I32(slot0), CLNN_ARG_I32(nslots), CLNN_ARG_I32(pb)),
          2, global, local1, op));
    }
  }
  return CLNN_SUCCESS;
}

/* RoI align backward: accumulate into panels, then unpack into dx. */
static clnn_status bwd_align_packed(clnn_context *ctx, const clnn_roi_desc *d, const roi_host *h,
                                    const clnn_tensor *dy, const clnn_tensor *rois, clnn_tensor *dx) {
  char op[48];
  op_name(op, sizeof op, "roi_bwd:roi_align", dx->dtype);
  chunk_plan plan = {0, 0, 0, 0};
  const int v = choose_v(ctx, d, d->c, true);
  plan_chunks(ctx, d, v, 1, &plan); /* fits: roi.bwd.align_panels applies */
  cl_mem ws;
  size_t ioff = index_floats(h);
  CLNN_TRY(workspace_with_index(ctx, h, (size_t)(plan.panel_floats * plan.cbs * plan.imgs), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, dx->dtype, v, "roi_align_bwd", &k));
  chunk c = {0, 0, 0, 0};
  while (next_chunk(d, &plan, &c)) {
    size_t global[2] = {(size_t)(c.ncb / v), (size_t)c.nimg};
    CLNN_TRY(clnn__launch(
        ctx, &k,
        CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(ioff), CLNN_ARG_TENSOR(rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                  CLNN_ARG_TENSOR(dy), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                  CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w),
                  CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_F32(align_offset(d)), CLNN_ARG_I32(align_min1(d)),
                  CLNN_ARG_I32(sampling(d)), CLNN_ARG_I32(c.n0), CLNN_ARG_I32(c.cb0), CLNN_ARG_I32(c.ncb)),
        2, global, local1, op));
    CLNN_TRY(launch_unpack(ctx, v, d, dx, ws, ioff, &c, op));
  }
  return CLNN_SUCCESS;
}

/* RoI pool backward: one work-item per 16 dx planes, gathering through argmax. */
static clnn_status bwd_pool_planes(clnn_context *ctx, const clnn_roi_desc *d, const roi_host *h,
                                   const clnn_tensor *dy, const clnn_tensor *argmax, clnn_tensor *dx) {
  cl_mem ws;
  CLNN_TRY(workspace_with_index(ctx, h, 0, &ws));
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, dx->dtype, 1, "roi_pool_bwd", &k));
  size_t global[2] = {(size_t)((d->c + CB - 1) / CB), (size_t)d->n};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(argmax), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                CLNN_ARG_TENSOR(dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(d->h * d->w), CLNN_ARG_I32(d->pooled_h * d->pooled_w)),
                      2, global, local1, "roi_bwd:roi_pool");
}

/* RoI pool backward into float32 panels, then roi_unpack rounds each dx
 * element once (the half types' CPU path: bwd_pool_planes adds into dx). */
static clnn_status bwd_pool_panels(clnn_context *ctx, const clnn_roi_desc *d, const roi_host *h,
                                   const clnn_tensor *dy, const clnn_tensor *argmax, clnn_tensor *dx) {
  char op[48];
  op_name(op, sizeof op, "roi_bwd:roi_pool", dx->dtype);
  chunk_plan plan = {0, 0, 0, 0};
  plan_chunks(ctx, d, 1, 1, &plan); /* fits: roi.bwd.pool_panels applies */
  cl_mem ws;
  size_t ioff = index_floats(h);
  CLNN_TRY(workspace_with_index(ctx, h, (size_t)(plan.panel_floats * plan.cbs * plan.imgs), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, dx->dtype, 1, "roi_pool_bwd_panels", &k));
  chunk c = {0, 0, 0, 0};
  while (next_chunk(d, &plan, &c)) {
    size_t global[2] = {(size_t)c.ncb, (size_t)c.nimg};
    CLNN_TRY(clnn__launch(ctx, &k,
                          CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(ioff), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(argmax),
                                    CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c),
                                    CLNN_ARG_I32(d->h * d->w), CLNN_ARG_I32(d->pooled_h * d->pooled_w),
                                    CLNN_ARG_I32(c.n0), CLNN_ARG_I32(c.cb0), CLNN_ARG_I32(c.ncb)),
                          2, global, local1, op));
    CLNN_TRY(launch_unpack(ctx, 1, d, dx, ws, ioff, &c, op));
  }
  return CLNN_SUCCESS;
}

/* PS forward straight from x: one work-item per (bin row, RoI). x and y
 * are float32 (the tensors themselves, or the staged copies of half ones:
 * run_fwd_ps_staged). */
static clnn_status fwd_ps(clnn_context *ctx, const clnn_roi_desc *d, int64_t oc, const clnn_tensor *x,
                          const clnn_tensor *rois, clnn_tensor *y) {
  const bool pool = d->op == CLNN_PS_ROI_POOL;
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, y->dtype, 1, "roi_ps_fwd", &k));
  size_t global[2] = {(size_t)d->pooled_h, (size_t)d->num_rois};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(rois), CLNN_ARG_TENSOR(y), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h),
                                CLNN_ARG_I32(d->pooled_w), CLNN_ARG_I32(oc), CLNN_ARG_F32(d->spatial_scale),
                                CLNN_ARG_I32(sampling(d)), CLNN_ARG_I32(pool)),
                      2, global, local1, pool ? "roi_fwd:ps_roi_pool" : "roi_fwd:ps_roi_align");
}

/* Position-sensitive backward: one work-item per (bin, image) owns the dx
 * planes that bin reads. dy and dx are float32, as fwd_ps's x and y. */
static clnn_status bwd_ps(clnn_context *ctx, const clnn_roi_desc *d, int64_t oc, const roi_host *h,
                          const clnn_tensor *dy, const clnn_tensor *rois, clnn_tensor *dx) {
  const bool pool = d->op == CLNN_PS_ROI_POOL;
  cl_mem ws;
  CLNN_TRY(workspace_with_index(ctx, h, 0, &ws));
  clnn_kernel_ref k;
  CLNN_TRY(roi_kernel(ctx, dx->dtype, 1, pool ? "roi_ps_pool_bwd" : "roi_ps_align_bwd", &k));
  size_t global[2] = {(size_t)(d->pooled_h * d->pooled_w), (size_t)d->n};
  if (pool)
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_TENSOR(dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                                  CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w),
                                  CLNN_ARG_I32(oc), CLNN_ARG_F32(d->spatial_scale)),
                        2, global, local1, "roi_bwd:ps_roi_pool");
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                CLNN_ARG_TENSOR(dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                                CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w),
                                CLNN_ARG_I32(oc), CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_I32(sampling(d))),
                      2, global, local1, "roi_bwd:ps_roi_align");
}

/* ------------------------------------------------------- GPU launches */

/* One call's problem and tensors: what the variants' applies() and run()
 * see. h is the RoIs read back and indexed; fwd: x, y, argmax (written or
 * NULL); bwd: dy, argmax (read, RoI pool), dx. */
typedef struct roi_call {
  const clnn_roi_desc *d;
  int64_t oc;
  const roi_host *h;
  const clnn_tensor *rois, *x, *dy, *argmax_in;
  clnn_tensor *y, *argmax_out, *dx;
} roi_call;

/* Bytes of local memory per work-item of the GPU backward kernels: one
 * RoI's staged geometry (roi_align_geom, the larger: 28 bytes), pixel box
 * (16) and number (4). */
#define GPU_LOCAL_PER_ITEM 48
/* Channels per work-item of the GPU backward kernels (kernels/shared.h). */
#define GPU_LANES CLNN_ROI_GPU_LANES

/* The GPU kernels' work-group size: CLNN_GPU_WG, halved while above the
 * device's maximum or while the staged RoIs would not fit its local
 * memory (a power of two: the stray check's OR tree halves it). */
static int gpu_wg(const clnn_context *ctx) {
  size_t wg = CLNN_GPU_WG;
  const size_t max = ctx->caps.max_work_group_size;
  const uint64_t local = ctx->caps.local_mem_size;
  while (wg > 1 && ((max && wg > max) || (local && wg * GPU_LOCAL_PER_ITEM > local))) wg /= 2;
  return (int)wg;
}

static clnn_status gpu_kernel(clnn_context *ctx, clnn_dtype dt, const char *name, clnn_kernel_ref *k) {
  char opts[64];
  snprintf(opts, sizeof opts, "-DROI_V=1 -DROI_WG=%d -DDT=%d", gpu_wg(ctx), (int)dt);
  return clnn__kernel(ctx, "roi", opts, name, k);
}

/* roi.fwd.gpu_align / gpu_pool: one output element per work-item. */
static clnn_status run_fwd_gpu(clnn_context *ctx, const roi_call *c) {
  const clnn_roi_desc *d = c->d;
  const bool pool = d->op == CLNN_ROI_POOL || d->op == CLNN_PS_ROI_POOL;
  const int ps = clnn__roi_is_ps(d);
  const int64_t total = d->num_rois * c->oc * d->pooled_h * d->pooled_w;
  clnn_kernel_ref k;
  CLNN_TRY(gpu_kernel(ctx, c->y->dtype, pool ? "roi_pool_fwd_gpu" : "roi_align_fwd_gpu", &k));
  size_t local = (size_t)gpu_wg(ctx), global = (size_t)clnn__round_up(total, (int64_t)local);
  char base[40], op[56];
  snprintf(base, sizeof base, "roi_fwd:%s_gpu", clnn_roi_op_name(d->op));
  op_name(op, sizeof op, base, c->y->dtype);
  if (pool)
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(c->x), CLNN_ARG_TENSOR(c->rois), CLNN_ARG_TENSOR(c->y),
                                  CLNN_ARG_TENSOR(c->argmax_out), CLNN_ARG_I32(c->argmax_out != NULL),
                                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                  CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w), CLNN_ARG_I32(c->oc),
                                  CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_I32(ps), CLNN_ARG_I32(total)),
                        1, &global, &local, op);
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(c->x), CLNN_ARG_TENSOR(c->rois), CLNN_ARG_TENSOR(c->y),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h),
                                CLNN_ARG_I32(d->pooled_w), CLNN_ARG_I32(c->oc), CLNN_ARG_F32(d->spatial_scale),
                                CLNN_ARG_F32(align_offset(d)), CLNN_ARG_I32(align_min1(d)), CLNN_ARG_I32(sampling(d)),
                                CLNN_ARG_I32(ps), CLNN_ARG_I32(total)),
                      1, &global, &local, op);
}

/* roi.bwd.gpu_align_gather / gpu_pool_gather: one work-item per pixel of
 * GPU_LANES dx channels, work-groups of consecutive work-items of one
 * image; RoI pool then adds the argmax entries outside their bins. */
static clnn_status run_bwd_gpu(clnn_context *ctx, const roi_call *c) {
  const clnn_roi_desc *d = c->d;
  const bool pool = d->op == CLNN_ROI_POOL || d->op == CLNN_PS_ROI_POOL;
  const int ps = clnn__roi_is_ps(d);
  /* Work-items per image: a pixel of GPU_LANES channels each (roi_lanes_of in kernels/roi.cl). */
  const int64_t lane_groups = ps ? clnn__ceil_div(c->oc, GPU_LANES) * d->pooled_h * d->pooled_w
                                 : clnn__ceil_div(d->c, GPU_LANES);
  const size_t wg = (size_t)gpu_wg(ctx), groups = (size_t)clnn__ceil_div(lane_groups * d->h * d->w, (int64_t)wg);
  cl_mem ws;
  CLNN_TRY(workspace_with_index(ctx, c->h, 0, &ws));
  clnn_kernel_ref k, strays;
  const clnn_dtype dt = c->dx->dtype;
  CLNN_TRY(gpu_kernel(ctx, dt, pool ? "roi_pool_bwd_gpu" : "roi_align_bwd_gpu", &k));
  if (d->op == CLNN_ROI_POOL) CLNN_TRY(gpu_kernel(ctx, dt, "roi_pool_bwd_strays", &strays));
  size_t global = groups * (size_t)d->n * wg, local = wg;
  char base[40], op[56];
  snprintf(base, sizeof base, "roi_bwd:%s_gpu", clnn_roi_op_name(d->op));
  op_name(op, sizeof op, base, dt);
  if (!pool)
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(c->dy), CLNN_ARG_TENSOR(c->rois), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_TENSOR(c->dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                                  CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w),
                                  CLNN_ARG_I32(c->oc), CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_F32(align_offset(d)),
                                  CLNN_ARG_I32(align_min1(d)), CLNN_ARG_I32(sampling(d)), CLNN_ARG_I32(ps),
                                  CLNN_ARG_I32(groups)),
                        1, &global, &local, op);
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(c->dy), CLNN_ARG_TENSOR(c->argmax_in), CLNN_ARG_TENSOR(c->rois),
                                  CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_TENSOR(c->dx), CLNN_ARG_I32(d->n),
                                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                  CLNN_ARG_I32(d->pooled_h), CLNN_ARG_I32(d->pooled_w), CLNN_ARG_I32(c->oc),
                                  CLNN_ARG_F32(d->spatial_scale), CLNN_ARG_I32(ps), CLNN_ARG_I32(groups)),
                        1, &global, &local, op));
  if (d->op != CLNN_ROI_POOL) return CLNN_SUCCESS;
  global = (size_t)(d->c * d->n) * wg;
  return clnn__launch(ctx, &strays,
                      CLNN_ARGS(CLNN_ARG_TENSOR(c->dy), CLNN_ARG_TENSOR(c->argmax_in), CLNN_ARG_TENSOR(c->rois),
                                CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_TENSOR(c->dx), CLNN_ARG_I32(d->n),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pooled_h),
                                CLNN_ARG_I32(d->pooled_w), CLNN_ARG_F32(d->spatial_scale)),
                      1, &global, &local, op);
}

/* ----------------------------------------------------------- CPU runs */

/* roi.fwd.panels: RoI align, RoI pool and PS RoI align over panels. */
static clnn_status run_fwd_panels(clnn_context *ctx, const roi_call *c) {
  const clnn_roi_desc *d = c->d;
  const int64_t pb = d->op == CLNN_PS_ROI_ALIGN ? d->pooled_h * d->pooled_w : 1;
  const int v = choose_v(ctx, d, c->oc, false);
  chunk_plan plan = {0, 0, 0, 0};
  plan_chunks(ctx, d, v, pb, &plan); /* fits: roi.fwd.panels applies */
  return fwd_packed(ctx, d, c->oc, c->h, &plan, v, pb, c->x, c->rois, c->y, c->argmax_out);
}

/* roi.fwd.ps_direct: the PS ops straight from x. */
static clnn_status run_fwd_ps_direct(clnn_context *ctx, const roi_call *c) {
  return fwd_ps(ctx, c->d, c->oc, c->x, c->rois, c->y);
}

/* The PS kernels add into their output in place, so for half tensors they
 * run on float32 copies: the input (x forward, dy backward) is widened
 * once, the float32 run writes a float32 output (y or dx), and that is
 * rounded once (clnn__stage_*, in the outer workspace; the RoI index uses
 * the inner one). run32 is the float32 variant's run. */
static clnn_status run_ps_staged(clnn_context *ctx, const roi_call *c, bool backward,
                                 clnn_status (*run32)(clnn_context *, const roi_call *)) {
  const clnn_tensor *in = backward ? c->dy : c->x;
  clnn_tensor *out = backward ? c->dx : c->y;
  clnn_stage s;
  clnn__stage_init(&s, ctx, out->dtype, backward ? "roi_bwd:half_stage" : "roi_fwd:half_stage");
  const clnn_tensor *in32 = clnn__stage_copy(&s, in);
  clnn_tensor *out32 = clnn__stage_copy(&s, out);
  CLNN_TRY(clnn__stage_alloc(&s));
  CLNN_TRY(clnn__stage_widen(&s, in, in32));
  roi_call c32 = *c;
  if (backward) {
    c32.dy = in32;
    c32.dx = out32;
  } else {
    c32.x = in32;
    c32.y = out32;
  }
  CLNN_TRY(run32(ctx, &c32));
  return clnn__stage_round(&s, out32, out);
}

/* roi.fwd.ps_direct_staged: ps_direct for half x and y. */
static clnn_status run_fwd_ps_staged(clnn_context *ctx, const roi_call *c) {
  return run_ps_staged(ctx, c, false, run_fwd_ps_direct);
}

static clnn_status run_bwd_align_panels(clnn_context *ctx, const roi_call *c) {
  return bwd_align_packed(ctx, c->d, c->h, c->dy, c->rois, c->dx);
}

static clnn_status run_bwd_pool_planes(clnn_context *ctx, const roi_call *c) {
  return bwd_pool_planes(ctx, c->d, c->h, c->dy, c->argmax_in, c->dx);
}

static clnn_status run_bwd_pool_panels(clnn_context *ctx, const roi_call *c) {
  return bwd_pool_panels(ctx, c->d, c->h, c->dy, c->argmax_in, c->dx);
}

static clnn_status run_bwd_ps_planes(clnn_context *ctx, const roi_call *c) {
  return bwd_ps(ctx, c->d, c->oc, c->h, c->dy, c->rois, c->dx);
}

/* roi.bwd.ps_planes_staged: ps_planes for half dy and dx. */
static clnn_status run_bwd_ps_planes_staged(clnn_context *ctx, const roi_call *c) {
  return run_ps_staged(ctx, c, true, run_bwd_ps_planes);
}

/* ------------------------------------------------------------- variants
 * roi.fwd: gpu_align, gpu_pool (GPU); panels, then ps_direct (CPU: PS RoI
 * pool, and PS RoI align whose panels do not fit the workspace; float32)
 * or ps_direct_staged (its half twin), then per_output (CPU, half types:
 * the GPU-class kernels; ps_direct_staged always applies before it, so
 * only CLNN_VARIANT reaches it).
 * roi.bwd: gpu_align_gather, gpu_pool_gather (GPU); align_panels,
 * pool_planes (float32), pool_panels, ps_planes (float32) or
 * ps_planes_staged (half), then gather (CPU, half types: the GPU-class
 * gathers, for RoI pool whose panels do not fit the workspace).
 */
typedef struct roi_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const roi_call *c);
} roi_variant;

static bool is_align(const clnn_roi_desc *d) { return d->op == CLNN_ROI_ALIGN || d->op == CLNN_PS_ROI_ALIGN; }

static bool align_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return is_align(((const roi_call *)problem)->d) || clnn__why(why, n, "not an align op");
}

static bool pool_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return !is_align(((const roi_call *)problem)->d) || clnn__why(why, n, "not a pool op");
}

static bool ps_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return clnn__roi_is_ps(((const roi_call *)problem)->d) || clnn__why(why, n, "not position-sensitive");
}

static bool roi_pool_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return ((const roi_call *)problem)->d->op == CLNN_ROI_POOL || clnn__why(why, n, "not RoI pool");
}

/* The type of the call's float tensors (all one type: checked on entry). */
static clnn_dtype call_dtype(const roi_call *c) { return (c->y ? c->y : c->dx)->dtype; }

/* Rule float32_only: the kernel adds into its output tensor in place,
 * which in a half type would round at every add instead of once. */
static bool float32_only(const roi_call *c, char *why, size_t n) {
  return call_dtype(c) == CLNN_FLOAT32 ||
         clnn__why(why, n, "adds into its output in place: float32 only (a %s output would round at every add)",
                   clnn_dtype_name(call_dtype(c)));
}

static bool ps_float32_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return ps_applies(ctx, problem, why, n) && float32_only(problem, why, n);
}

static bool roi_pool_float32_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return roi_pool_applies(ctx, problem, why, n) && float32_only(problem, why, n);
}

/* Rule half_only: the CPU fallbacks onto the GPU-class kernels stand in
 * for what float32_only leaves out; float32 keeps its CPU kernels (and their
 * statuses) unchanged. */
static bool half_only(const roi_call *c, char *why, size_t n) {
  return call_dtype(c) != CLNN_FLOAT32 || clnn__why(why, n, "a half-type fallback (float32 has its CPU kernels)");
}

static bool ps_half_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return ps_applies(ctx, problem, why, n) && half_only(problem, why, n);
}

static bool half_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return half_only(problem, why, n);
}

/* Whether the panels of v channel blocks fit the workspace (panel variants). */
static bool panels_fit(const clnn_context *ctx, const clnn_roi_desc *d, int v, int64_t pb, char *why, size_t n) {
  chunk_plan plan = {0, 0, 0, 0};
  if (plan_chunks(ctx, d, v, pb, &plan)) return true;
  return clnn__why(why, n,
                   "the feature panels one work-item reads (%lld bytes) do not fit the workspace limit of %zu bytes",
                   (long long)(v * plan.panel_floats * (int64_t)sizeof(float)), ctx->workspace_limit);
}

static bool fwd_panels_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const roi_call *c = problem;
  if (c->d->op == CLNN_PS_ROI_POOL) return clnn__why(why, n, "PS RoI pool reads x directly");
  const int64_t pb = c->d->op == CLNN_PS_ROI_ALIGN ? c->d->pooled_h * c->d->pooled_w : 1;
  return panels_fit(ctx, c->d, choose_v(ctx, c->d, c->oc, false), pb, why, n);
}

static bool bwd_align_panels_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const roi_call *c = problem;
  if (c->d->op != CLNN_ROI_ALIGN) return clnn__why(why, n, "not RoI align");
  return panels_fit(ctx, c->d, choose_v(ctx, c->d, c->d->c, true), 1, why, n);
}

static bool bwd_pool_panels_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const roi_call *c = problem;
  return roi_pool_applies(ctx, problem, why, n) && panels_fit(ctx, c->d, 1, 1, why, n);
}

static const roi_variant roi_fwd_table[] = {
    {{"roi.fwd.gpu_align", CLNN_DEVICE_CLASS_GPU, align_applies}, run_fwd_gpu},
    {{"roi.fwd.gpu_pool", CLNN_DEVICE_CLASS_GPU, pool_applies}, run_fwd_gpu},
    {{"roi.fwd.panels", CLNN_DEVICE_CLASS_CPU, fwd_panels_applies}, run_fwd_panels},
    {{"roi.fwd.ps_direct", CLNN_DEVICE_CLASS_CPU, ps_float32_applies}, run_fwd_ps_direct},
    {{"roi.fwd.ps_direct_staged", CLNN_DEVICE_CLASS_CPU, ps_half_applies}, run_fwd_ps_staged},
    {{"roi.fwd.per_output", CLNN_DEVICE_CLASS_CPU, ps_half_applies}, run_fwd_gpu},
};
const clnn_variant_table clnn__roi_fwd_variants = {"roi", "fwd", &roi_fwd_table[0].v,
                                                   sizeof roi_fwd_table / sizeof roi_fwd_table[0],
                                                   sizeof roi_fwd_table[0]};

static const roi_variant roi_bwd_table[] = {
    {{"roi.bwd.gpu_align_gather", CLNN_DEVICE_CLASS_GPU, align_applies}, run_bwd_gpu},
    {{"roi.bwd.gpu_pool_gather", CLNN_DEVICE_CLASS_GPU, pool_applies}, run_bwd_gpu},
    {{"roi.bwd.align_panels", CLNN_DEVICE_CLASS_CPU, bwd_align_panels_applies}, run_bwd_align_panels},
    {{"roi.bwd.pool_planes", CLNN_DEVICE_CLASS_CPU, roi_pool_float32_applies}, run_bwd_pool_planes},
    {{"roi.bwd.pool_panels", CLNN_DEVICE_CLASS_CPU, bwd_pool_panels_applies}, run_bwd_pool_panels},
    {{"roi.bwd.ps_planes", CLNN_DEVICE_CLASS_CPU, ps_float32_applies}, run_bwd_ps_planes},
    {{"roi.bwd.ps_planes_staged", CLNN_DEVICE_CLASS_CPU, ps_half_applies}, run_bwd_ps_planes_staged},
    {{"roi.bwd.gather", CLNN_DEVICE_CLASS_CPU, half_applies}, run_bwd_gpu},
};
const clnn_variant_table clnn__roi_bwd_variants = {"roi", "bwd", &roi_bwd_table[0].v,
                                                   sizeof roi_bwd_table / sizeof roi_bwd_table[0],
                                                   sizeof roi_bwd_table[0]};

/* Read and index the RoIs (validating them), plan the pass, run it. */
static clnn_status plan_and_run(clnn_context *ctx, const clnn_variant_table *t, roi_call *c) {
  roi_host h;
  CLNN_TRY(load_rois(ctx, c->d, c->rois, &h));
  c->h = &h;
  size_t i;
  clnn_status st = clnn__plan_pick(ctx, t, c, &i);
  if (st == CLNN_SUCCESS) st = ((const roi_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, c);
  roi_host_free(&h);
  c->h = NULL;
  return st;
}

/* ---------------------------------------------------------------- public */

/* argmax: required (ROI_POOL backward), optional (ROI_POOL forward) or absent. */
static clnn_status check_argmax(clnn_context *ctx, const clnn_roi_desc *d, const clnn_tensor *argmax, bool required) {
  if (d->op != CLNN_ROI_POOL) {
    if (argmax)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "argument 'argmax' must be NULL for %s", clnn_roi_op_name(d->op));
    return CLNN_SUCCESS;
  }
  if (!argmax && !required) return CLNN_SUCCESS;
  int64_t ad[4] = {d->num_rois, d->c, d->pooled_h, d->pooled_w};
  return clnn__check_tensor(ctx, argmax, "argmax", CLNN_INT32, 4, ad);
}

clnn_status clnn_roi_fwd(clnn_context *ctx, const clnn_roi_desc *desc, const clnn_tensor *x,
                         const clnn_tensor *rois, clnn_tensor *y, clnn_tensor *argmax) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oc = 0; /* set by desc_check; initialised for the compiler */
  CLNN_TRY(clnn__roi_desc_check(ctx, desc, &oc));
  const clnn_roi_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, rd[2] = {d->num_rois, 5};
  int64_t yd[4] = {d->num_rois, oc, d->pooled_h, d->pooled_w};
  clnn_dtype dt; /* of x and y; the boxes stay float32 (see clnn.h) */
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, rois, "rois", CLNN_FLOAT32, 2, rd));
  CLNN_TRY(clnn__check_tensor(ctx, y, "y", dt, 4, yd));
  CLNN_TRY(check_argmax(ctx, d, argmax, false));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", rois, "rois"));
  CLNN_TRY(clnn__check_no_overlap(ctx, argmax, "argmax", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, argmax, "argmax", rois, "rois"));
  CLNN_TRY(clnn__check_no_overlap(ctx, argmax, "argmax", y, "y"));
  if (d->num_rois == 0) return CLNN_SUCCESS; /* y (and argmax) are empty */
  roi_call c = {d, oc, NULL, rois, x, NULL, NULL, y, argmax, NULL};
  return plan_and_run(ctx, &clnn__roi_fwd_variants, &c);
}

clnn_status clnn_roi_bwd(clnn_context *ctx, const clnn_roi_desc *desc, const clnn_tensor *dy,
                         const clnn_tensor *rois, const clnn_tensor *argmax, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oc = 0; /* set by desc_check; initialised for the compiler */
  CLNN_TRY(clnn__roi_desc_check(ctx, desc, &oc));
  const clnn_roi_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, rd[2] = {d->num_rois, 5};
  int64_t yd[4] = {d->num_rois, oc, d->pooled_h, d->pooled_w};
  clnn_dtype dt; /* of dy and dx; the boxes stay float32 (see clnn.h) */
  CLNN_TRY(clnn__check_float_type(ctx, dy, "dy", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  CLNN_TRY(clnn__check_tensor(ctx, rois, "rois", CLNN_FLOAT32, 2, rd));
  CLNN_TRY(check_argmax(ctx, d, argmax, true));
  CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", dt, 4, xd));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", rois, "rois"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", argmax, "argmax"));
  /* No RoI reaches x: its gradient is zero, as torchvision returns it. */
  if (d->num_rois == 0) return clnn__zero_tensor(ctx, dx);
  roi_call c = {d, oc, NULL, rois, NULL, dy, argmax, NULL, NULL, dx};
  return plan_and_run(ctx, &clnn__roi_bwd_variants, &c);
}
