/*
 * graph.c - see graph.h.
 */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define TRY(expr)                                   \
  do {                                              \
    clnn_status st_ = (expr);                       \
    if (st_ != CLNN_SUCCESS) return st_;            \
  } while (0)

void graph_init(graph *g, clnn_context *ctx) {
  memset(g, 0, sizeof *g);
  g->ctx = ctx;
  g->dropout_seed = 1;
}

int graph_node(graph *g, int ndim, const int64_t *dims, bool needs_grad) {
  if (g->n_nodes >= G_MAX_NODES) return -1;
  g_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->ndim = ndim;
  memcpy(n->dims, dims, (size_t)ndim * sizeof *dims);
  n->needs_grad = needs_grad;
  return g->n_nodes++;
}

g_param *graph_param(graph *g, const char *name, int ndim, const int64_t *dims, bool decay) {
  if (g->n_params >= G_MAX_PARAMS) return NULL;
  g_param *p = &g->params[g->n_params++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->ndim = ndim;
  p->numel = 1;
  for (int i = 0; i < ndim; i++) {
    p->dims[i] = dims[i];
    p->numel *= (size_t)dims[i];
  }
  p->decay = decay;
  return p;
}

/* name + suffix as a parameter of the given shape (NULL when the table is full). */
static g_param *named_param(graph *g, const char *name, const char *suffix, int ndim, const int64_t *dims,
                            bool decay) {
  char pname[96];
  snprintf(pname, sizeof pname, "%s.%s", name, suffix);
  return graph_param(g, pname, ndim, dims, decay);
}

static g_op *new_op(graph *g, g_op_kind kind, const char *name, int in0, int in1) {
  if (g->n_ops >= G_MAX_OPS || in0 < 0) return NULL;
  g_op *op = &g->ops[g->n_ops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->in0 = in0;
  op->in1 = in1;
  op->in2 = -1;
  op->out = -1;
  op->fold = -1;
  snprintf(op->name, sizeof op->name, "%s", name ? name : "");
  return op;
}

static bool node_grad(const graph *g, int i) { return i >= 0 && g->nodes[i].needs_grad; }

/* The output node: it needs a gradient when any input does, or the op has weights. */
static int op_output(graph *g, g_op *op, int ndim, const int64_t *dims) {
  if (!op) return -1;
  bool grad = node_grad(g, op->in0) || node_grad(g, op->in1) || node_grad(g, op->in2) || op->w;
  op->out = graph_node(g, ndim, dims, grad);
  return op->out;
}

/* Drop a half-built op (a shape was wrong) so the graph stays consistent. */
static int op_abandon(graph *g) {
  g->n_ops--;
  return -1;
}

static clnn_conv2d_desc conv_desc(const int64_t *d, const g_conv_spec *s) {
  clnn_conv2d_desc c = clnn_conv2d_desc_make(d[0], d[1], d[2], d[3], s->out_channels, s->kernel, s->kernel);
  c.stride_h = c.stride_w = s->stride;
  c.pad_h = c.pad_w = s->pad;
  c.dilation_h = c.dilation_w = s->dilation;
  c.groups = s->groups;
  return c;
}

/* The weight (and bias) of a convolution; false when the table is full. */
static bool conv_params(graph *g, g_op *op, const char *name, const clnn_conv2d_desc *c, bool bias) {
  int64_t wd[4] = {c->k, c->c / c->groups, c->kh, c->kw};
  op->w = named_param(g, name, "weight", 4, wd, true);
  if (bias) op->b = named_param(g, name, "bias", 1, &c->k, false);
  if (op->w) op->w->follows_dt = true;
  if (op->b) op->b->follows_dt = true;
  return op->w && (!bias || op->b);
}

int graph_conv_ex(graph *g, const char *name, int in, const g_conv_spec *s) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_CONV, name, in, -1);
  if (!op) return -1;
  op->conv = conv_desc(d, s);
  int64_t oh, ow;
  if (clnn_conv2d_desc_check(&op->conv, &oh, &ow) != CLNN_SUCCESS) return op_abandon(g);
  if (!conv_params(g, op, name, &op->conv, s->bias)) return -1;
  int64_t od[4] = {d[0], s->out_channels, oh, ow};
  return op_output(g, op, 4, od);
}

int graph_conv(graph *g, const char *name, int in, int64_t k, int64_t kernel, int64_t stride, int64_t groups) {
  g_conv_spec s = {k, kernel, stride, kernel / 2, 1, groups, false};
  return graph_conv_ex(g, name, in, &s);
}

static bool dims_are(const g_node *n, int64_t a, int64_t b, int64_t c, int64_t d) {
  return n->ndim == 4 && n->dims[0] == a && n->dims[1] == b && n->dims[2] == c && n->dims[3] == d;
}

int graph_deform_conv(graph *g, const char *name, int in, int offset, int mask, const g_conv_spec *s) {
  if (in < 0 || offset < 0 || mask < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_DCN, name, in, offset);
  if (!op) return -1;
  op->in2 = mask;
  op->dcn = clnn_deform_conv2d_desc_make(d[0], d[1], d[2], d[3], s->out_channels, s->kernel, s->kernel);
  op->dcn.conv = conv_desc(d, s);
  op->dcn.modulated = 1;
  int64_t oh, ow, taps = s->kernel * s->kernel;
  if (clnn_deform_conv2d_desc_check(&op->dcn, &oh, &ow) != CLNN_SUCCESS ||
      !dims_are(&g->nodes[offset], d[0], 2 * taps, oh, ow) || !dims_are(&g->nodes[mask], d[0], taps, oh, ow))
    return op_abandon(g);
  if (!conv_params(g, op, name, &op->dcn.conv, s->bias)) return -1;
  int64_t od[4] = {d[0], s->out_channels, oh, ow};
  return op_output(g, op, 4, od);
}

int graph_bn(graph *g, const char *name, int in, clnn_activation act) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_BN, name, in, -1);
  if (!op) return -1;
  op->bn = clnn_batchnorm_desc_make(d[0], d[1], d[2], d[3]);
  op->bn.act = act;
  op->w = named_param(g, name, "weight", 1, &d[1], false);
  op->b = named_param(g, name, "bias", 1, &d[1], false);
  if (!op->w || !op->b) return -1;
  return op_output(g, op, 4, d);
}

int graph_gap(graph *g, int in) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_GAP, NULL, in, -1);
  if (!op) return -1;
  op->pool = clnn_pool2d_desc_global(d[0], d[1], d[2], d[3]);
  int64_t od[4] = {d[0], d[1], 1, 1};
  return op_output(g, op, 4, od);
}

int graph_maxpool(graph *g, int in, int64_t kernel, int64_t stride, int64_t pad) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_MAXPOOL, NULL, in, -1);
  if (!op) return -1;
  op->pool = clnn_pool2d_desc_make(d[0], d[1], d[2], d[3], CLNN_POOL_MAX, kernel, kernel);
  op->pool.stride_h = op->pool.stride_w = stride;
  op->pool.pad_h = op->pool.pad_w = pad;
  int64_t oh, ow;
  if (clnn_pool2d_desc_check(&op->pool, &oh, &ow) != CLNN_SUCCESS) return op_abandon(g);
  int64_t od[4] = {d[0], d[1], oh, ow};
  return op_output(g, op, 4, od);
}

int graph_linear(graph *g, const char *name, int in, int64_t out_features) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_LINEAR, name, in, -1);
  if (!op) return -1;
  op->linear = clnn_linear_desc_make(d[0], d[1], out_features);
  int64_t wd[2] = {out_features, d[1]};
  op->w = named_param(g, name, "weight", 2, wd, true);
  op->b = named_param(g, name, "bias", 1, &out_features, false);
  if (!op->w || !op->b) return -1;
  op->w->follows_dt = op->b->follows_dt = true;
  int64_t od[4] = {d[0], out_features, 1, 1};
  return op_output(g, op, 4, od);
}

int graph_act(graph *g, int in, clnn_activation act) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_ACT, NULL, in, -1);
  if (!op) return -1;
  op->act = clnn_act_desc_make(d[0], d[1], d[2], d[3], act);
  return op_output(g, op, 4, d);
}

int graph_mul(graph *g, int x, int s) {
  if (x < 0 || s < 0) return -1;
  g_op *op = new_op(g, G_MUL, NULL, x, s);
  int out = op_output(g, op, 4, g->nodes[x].dims);
  if (out < 0) return -1;
  /* x pooled earlier into s's shape (squeeze-excitation): fuse the backward */
  for (int i = 0; i < g->n_ops - 1; i++) {
    g_op *gap = &g->ops[i];
    if (gap->kind == G_GAP && gap->in0 == x && !gap->se_fused && g->nodes[gap->out].ndim == g->nodes[s].ndim &&
        !memcmp(g->nodes[gap->out].dims, g->nodes[s].dims, sizeof(int64_t) * 4)) {
      gap->se_fused = op->se_fused = true;
      gap->partner = (int)(op - g->ops);
      op->partner = i;
      break;
    }
  }
  return out;
}

int graph_add(graph *g, int a, int b) {
  if (a < 0 || b < 0) return -1;
  g_op *op = new_op(g, G_ADD, NULL, a, b);
  return op_output(g, op, 4, g->nodes[a].dims);
}

int graph_dropout(graph *g, int in, double p, bool per_sample) {
  if (in < 0 || !(p >= 0.0 && p <= 1.0)) return -1;
  g_op *op = new_op(g, G_DROPOUT, NULL, in, -1);
  if (!op) return -1;
  op->drop_p = p;
  op->drop_per_sample = per_sample;
  return op_output(g, op, 4, g->nodes[in].dims);
}

/* ------------------------------------------------------ memory planning */

void graph_set_memory_plan(graph *g, g_mem_plan plan) { g->plan = plan; }

void graph_set_precision(graph *g, clnn_dtype dt) { g->dt = dt; }

bool graph_precision_of(const char *name, clnn_dtype *dt) {
  static const char *const names[3] = {"f32", "f16", "bf16"};
  static const clnn_dtype types[3] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  for (int i = 0; name && i < 3; i++)
    if (!strcmp(name, names[i])) {
      *dt = types[i];
      return true;
    }
  return false;
}

/*
 * A tensor to place in a shared arena: bytes, and the interval [start, end]
 * of pass steps during which it must keep its contents.
 */
typedef struct live_item {
  size_t bytes, offset;
  int start, end, node;
} live_item;

#define ARENA_ALIGN 256 /* bytes; above every device's base-address alignment */

static int by_size_desc(const void *a, const void *b) {
  const live_item *x = a, *y = b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->node - y->node; /* a fixed order: the same plan on every run */
}

static int by_offset(const void *a, const void *b) {
  const live_item *x = *(live_item *const *)a, *y = *(live_item *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * Offsets for items so that two items alive at the same time never share a
 * byte: the largest first, each at the lowest gap among the items already
 * placed whose lifetimes meet it (greedy by size, as TFLite's arena
 * planner). Returns the arena's size; -1 on a host allocation failure.
 */
static long long place_items(live_item *items, int n) {
  qsort(items, (size_t)n, sizeof *items, by_size_desc);
  live_item **meet = malloc(((size_t)n + 1) * sizeof *meet);
  if (!meet) return -1;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    int m = 0;
    for (int j = 0; j < i; j++)
      if (items[j].start <= items[i].end && items[i].start <= items[j].end) meet[m++] = &items[j];
    qsort(meet, (size_t)m, sizeof *meet, by_offset);
    size_t at = 0;
    for (int j = 0; j < m; j++) {
      if (meet[j]->offset >= at + items[i].bytes) break; /* fits in the gap before it */
      size_t end = meet[j]->offset + meet[j]->bytes;
      if (end > at) at = (end + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    items[i].offset = at;
    if (at + items[i].bytes > total) total = at + items[i].bytes;
  }
  free(meet);
  return (long long)total;
}

static size_t node_bytes(const graph *g, const g_node *n) {
  size_t b = clnn_dtype_size(g->dt);
  for (int d = 0; d < n->ndim; d++) b *= (size_t)n->dims[d];
  return (b + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

static bool op_reads(const g_op *op, int node) {
  return !op->elided && (op->in0 == node || op->in1 == node || op->in2 == node);
}

static bool op_writes(const g_op *op, int node) { return !op->elided && op->out == node; }

/* Forward lifetimes: from the op that writes a node (0 for inputs) to the
 * last op that reads it; inputs and unread nodes (outputs) live throughout.
 * A node no op writes or reads any more (the output of a conv with a folded
 * batch norm, of an elided dropout) gets an interval of its own before the
 * pass, which meets no other: its view is never used. */
static int value_items(const graph *g, live_item *items) {
  const int end_of_pass = g->n_ops + 1;
  for (int i = 0; i < g->n_nodes; i++) {
    live_item *it = &items[i];
    memset(it, 0, sizeof *it);
    it->node = i;
    it->bytes = node_bytes(g, &g->nodes[i]);
    it->start = 0;
    it->end = -1;
    bool produced = false;
    for (int j = 0; j < g->n_ops; j++) {
      if (op_writes(&g->ops[j], i)) it->start = j + 1, produced = true;
      if (op_reads(&g->ops[j], i)) it->end = j + 1;
    }
    if (!produced && it->end < 0) it->start = it->end = -1 - i;
    else if (!produced || it->end < 0) it->end = end_of_pass;
  }
  return g->n_nodes;
}

/*
 * Backward lifetimes of gradients (and of their second-contribution
 * scratch). The backward of op j runs at step n_ops - j (the loss writes the
 * output's gradient at step 0). A node's gradient is written first by the
 * backward of its last reader and read last by the backward of the op that
 * wrote the node; a squeeze-excitation G_GAP also reads its G_MUL's output
 * gradient (see graph.h).
 */
static int grad_items(const graph *g, live_item *items) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const g_node *node = &g->nodes[i];
    if (!node->needs_grad) continue;
    int start = 0, end = 0;
    bool read = false;
    for (int j = g->n_ops - 1; j >= 0; j--) {
      const g_op *op = &g->ops[j];
      const int step = g->n_ops - j;
      if (op_reads(op, i) && !read) start = step, read = true;
      if (op->out == i && step > end) end = step;
      if (op->kind == G_GAP && op->se_fused && g->ops[op->partner].out == i && step > end) end = step;
    }
    if (!read) start = 0; /* the output: the loss writes it */
    if (end < start) end = start;
    live_item *it = &items[n++];
    memset(it, 0, sizeof *it);
    it->node = i;
    it->bytes = node_bytes(g, node);
    it->start = start;
    it->end = end;
    if (node->fan_in) { /* the scratch, same lifetime; node + G_MAX_NODES marks it */
      items[n] = *it;
      items[n++].node = i + G_MAX_NODES;
    }
  }
  return n;
}

static clnn_status view_in(const graph *g, clnn_buffer *arena, size_t offset, const g_node *n, clnn_tensor **out) {
  return clnn_tensor_view(arena, offset, g->dt, n->ndim, n->dims, out);
}

static clnn_status plan_values(graph *g) {
  live_item *items = calloc((size_t)g->n_nodes, sizeof *items);
  if (!items) return CLNN_ERR_HOST_OUT_OF_MEMORY;
  int n = value_items(g, items);
  for (int i = 0; i < n; i++) g->value_bytes_unshared += items[i].bytes;
  long long total = place_items(items, n);
  clnn_status st = total < 0 ? CLNN_ERR_HOST_OUT_OF_MEMORY : CLNN_SUCCESS;
  if (st == CLNN_SUCCESS) {
    g->value_bytes = (size_t)total;
    st = clnn_buffer_create(g->ctx, g->value_bytes ? g->value_bytes : 1, &g->value_arena);
  }
  for (int i = 0; st == CLNN_SUCCESS && i < n; i++)
    st = view_in(g, g->value_arena, items[i].offset, &g->nodes[items[i].node], &g->nodes[items[i].node].t);
  free(items);
  return st;
}

static clnn_status plan_grads(graph *g) {
  live_item *items = calloc(2 * (size_t)g->n_nodes + 1, sizeof *items);
  if (!items) return CLNN_ERR_HOST_OUT_OF_MEMORY;
  int n = grad_items(g, items);
  for (int i = 0; i < n; i++) g->grad_bytes_unshared += items[i].bytes;
  long long total = place_items(items, n);
  clnn_status st = total < 0 ? CLNN_ERR_HOST_OUT_OF_MEMORY : CLNN_SUCCESS;
  if (st == CLNN_SUCCESS) {
    g->grad_bytes = (size_t)total;
    st = clnn_buffer_create(g->ctx, g->grad_bytes ? g->grad_bytes : 1, &g->grad_node_arena);
  }
  for (int i = 0; st == CLNN_SUCCESS && i < n; i++) {
    const bool scratch = items[i].node >= G_MAX_NODES;
    g_node *node = &g->nodes[items[i].node % G_MAX_NODES];
    st = view_in(g, g->grad_node_arena, items[i].offset, node, scratch ? &node->tmp : &node->g);
  }
  free(items);
  return st;
}

/* ------------------------------------------------------------- finalize */

static clnn_status vec(clnn_context *ctx, int64_t n, float value, clnn_tensor **out) {
  TRY(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &n, out));
  return clnn_tensor_fill(*out, value);
}

/* The optimizer group of a parameter: decayed ones first; in a half
 * graph, those that follow its type before the float32 ones. */
static int group_key(const graph *g, const g_param *p) {
  const int by_type = g->dt != CLNN_FLOAT32 && !p->follows_dt ? 2 : 0;
  return by_type + (p->decay ? 0 : 1);
}

/* Give parameters arena offsets group by group, so each group is one range
 * of the masters (and of m and v), and record the groups. */
static void assign_offsets(graph *g) {
  size_t at = 0;
  g->n_groups = 0;
  g->n_follow = 0;
  for (int key = 0; key < G_MAX_GROUPS; key++) {
    const size_t start = at;
    for (int i = 0; i < g->n_params; i++)
      if (group_key(g, &g->params[i]) == key) {
        g->params[i].offset = at;
        at += g->params[i].numel;
      }
    if (at == start) continue;
    g_param_group *gr = &g->groups[g->n_groups++];
    memset(gr, 0, sizeof *gr);
    gr->offset = start;
    gr->numel = at - start;
    gr->decay = key % 2 == 0;
    if (g->dt != CLNN_FLOAT32 && key < 2) g->n_follow = at;
  }
  g->arena_size = at;
}

/* Gradients of parameters that follow the graph's type first, in that
 * type, then (from an aligned byte) the float32 ones. */
static size_t grad_offset_of(const graph *g, size_t offset) {
  const size_t half_bytes = g->n_follow * clnn_dtype_size(g->dt);
  if (offset < g->n_follow) return offset * clnn_dtype_size(g->dt);
  return (half_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN + (offset - g->n_follow) * sizeof(float);
}

/* Master, gradient and model-copy views of parameter p (offsets assigned). */
static clnn_status param_views(graph *g, g_param *p) {
  const bool half = p->offset < g->n_follow;
  p->grad_offset = grad_offset_of(g, p->offset);
  TRY(clnn_tensor_view(g->param_arena, p->offset * sizeof(float), CLNN_FLOAT32, p->ndim, p->dims, &p->w));
  TRY(clnn_tensor_view(g->grad_arena, p->grad_offset, half ? g->dt : CLNN_FLOAT32, p->ndim, p->dims, &p->g));
  if (half)
    TRY(clnn_tensor_view(g->copy_arena, p->offset * clnn_dtype_size(g->dt), g->dt, p->ndim, p->dims, &p->h));
  return CLNN_SUCCESS;
}

/* The same views over each optimizer group. */
static clnn_status group_views(graph *g, g_param_group *gr) {
  const bool half = gr->offset < g->n_follow;
  const clnn_dtype gdt = half ? g->dt : CLNN_FLOAT32;
  const int64_t n = (int64_t)gr->numel;
  TRY(clnn_tensor_view(g->param_arena, gr->offset * sizeof(float), CLNN_FLOAT32, 1, &n, &gr->w));
  TRY(clnn_tensor_view(g->grad_arena, grad_offset_of(g, gr->offset), gdt, 1, &n, &gr->g));
  if (half) TRY(clnn_tensor_view(g->copy_arena, gr->offset * clnn_dtype_size(g->dt), g->dt, 1, &n, &gr->h));
  return CLNN_SUCCESS;
}

/* The three parameter arenas and every view into them. */
static clnn_status param_arenas(graph *g) {
  clnn_context *ctx = g->ctx;
  const size_t master_bytes = g->arena_size * sizeof(float);
  const size_t grad_bytes = g->arena_size ? grad_offset_of(g, g->arena_size) : 0;
  const size_t copy_bytes = g->n_follow * clnn_dtype_size(g->dt);
  TRY(clnn_buffer_create(ctx, master_bytes ? master_bytes : 1, &g->param_arena));
  TRY(clnn_buffer_create(ctx, grad_bytes ? grad_bytes : 1, &g->grad_arena));
  if (copy_bytes) TRY(clnn_buffer_create(ctx, copy_bytes, &g->copy_arena));
  for (int i = 0; i < g->n_params; i++) TRY(param_views(g, &g->params[i]));
  for (int i = 0; i < g->n_groups; i++) TRY(group_views(g, &g->groups[i]));
  return CLNN_SUCCESS;
}

int graph_param_groups(const graph *g, const g_param_group **out) {
  *out = g->groups;
  return g->n_groups;
}

clnn_status graph_grads_overflow(graph *g, bool *overflow) {
  *overflow = false;
  const int64_t one = 1;
  if (!g->grad_norm) TRY(clnn_tensor_create(g->ctx, CLNN_FLOAT32, 1, &one, &g->grad_norm));
  for (int k = 0; k < g->n_groups; k++) {
    clnn_tensor *gr = g->groups[k].g;
    float norm = 0.0f;
    TRY(clnn_clip_grad_norm(g->ctx, 1, &gr, INFINITY, g->grad_norm)); /* INFINITY: measure, do not clip */
    TRY(clnn_tensor_read(g->grad_norm, &norm, sizeof norm));
    if (!isfinite(norm)) *overflow = true;
  }
  return CLNN_SUCCESS;
}

/* Nodes read by more than one op need scratch for the second gradient. */
static void count_readers(graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    int readers = 0;
    for (int j = 0; j < g->n_ops; j++) readers += op_reads(&g->ops[j], i);
    g->nodes[i].fan_in = readers > 1;
  }
}

static clnn_status node_tensors(graph *g) {
  clnn_context *ctx = g->ctx;
  if (g->plan == G_MEM_INFER) return plan_values(g);
  for (int i = 0; i < g->n_nodes; i++) {
    g_node *n = &g->nodes[i];
    TRY(clnn_tensor_create(ctx, g->dt, n->ndim, n->dims, &n->t));
    g->value_bytes += clnn_tensor_bytes(n->t);
    if (n->needs_grad && g->plan == G_MEM_OWN) TRY(clnn_tensor_create(ctx, g->dt, n->ndim, n->dims, &n->g));
  }
  g->value_bytes_unshared = g->value_bytes;
  return g->plan == G_MEM_TRAIN ? plan_grads(g) : CLNN_SUCCESS;
}

static clnn_status op_state(graph *g, g_op *op) {
  clnn_context *ctx = g->ctx;
  const g_node *out = &g->nodes[op->out];
  if (op->kind == G_BN) {
    TRY(vec(ctx, op->bn.c, 0.0f, &op->running_mean));
    TRY(vec(ctx, op->bn.c, 1.0f, &op->running_var));
    TRY(vec(ctx, op->bn.c, 0.0f, &op->save_mean));
    TRY(vec(ctx, op->bn.c, 1.0f, &op->save_invstd));
  } else if (op->kind == G_MAXPOOL && g->plan != G_MEM_INFER) {
    TRY(clnn_tensor_create(ctx, CLNN_INT32, out->ndim, out->dims, &op->indices));
  } else if (op->kind == G_CONV && op->fold >= 0) {
    TRY(clnn_tensor_create(ctx, g->dt, op->w->ndim, op->w->dims, &op->fold_w));
    TRY(clnn_tensor_create(ctx, g->dt, 1, &op->conv.k, &op->fold_b));
  } else if (op->kind == G_DROPOUT && g->plan != G_MEM_INFER) {
    int64_t md[4] = {out->dims[0], 1, 1, 1};
    const int64_t *dims = op->drop_per_sample ? md : out->dims;
    TRY(clnn_tensor_create(ctx, g->dt, out->ndim, dims, &op->mask));
    op->host_mask = malloc(clnn_tensor_numel(op->mask) * sizeof(float));
    if (!op->host_mask) return CLNN_ERR_HOST_OUT_OF_MEMORY;
  }
  return CLNN_SUCCESS;
}

/* The op that writes node i (-1: none, an input). */
static int producer(const graph *g, int i) {
  for (int j = 0; j < g->n_ops; j++)
    if (op_writes(&g->ops[j], i)) return j;
  return -1;
}

static int reader_count(const graph *g, int i) {
  int n = 0;
  for (int j = 0; j < g->n_ops; j++) n += op_reads(&g->ops[j], i);
  return n;
}

/* Inference: fold each batch norm into the convolution whose output only it reads. */
static void plan_bn_folds(graph *g) {
  for (int i = 0; i < g->n_ops; i++) {
    g_op *bn = &g->ops[i];
    if (bn->kind != G_BN || reader_count(g, bn->in0) != 1) continue;
    const int j = producer(g, bn->in0);
    if (j < 0 || g->ops[j].kind != G_CONV) continue;
    g_op *conv = &g->ops[j];
    conv->fold = i;
    conv->fold_conv = conv->conv;
    conv->fold_conv.act = bn->bn.act;
    conv->fold_conv.act_alpha = bn->bn.act_alpha;
    conv->out = bn->out;
    bn->elided = true;
  }
}

/* Inference: an eval-mode dropout is the identity, so its readers read its input. */
static void plan_dropout_aliases(graph *g) {
  for (int i = 0; i < g->n_ops; i++) {
    g_op *d = &g->ops[i];
    if (d->kind != G_DROPOUT || reader_count(g, d->out) == 0) continue; /* the graph's output: keep the copy */
    for (int j = 0; j < g->n_ops; j++) {
      g_op *r = &g->ops[j];
      if (r->in0 == d->out) r->in0 = d->in0;
      if (r->in1 == d->out) r->in1 = d->in0;
      if (r->in2 == d->out) r->in2 = d->in0;
    }
    d->elided = true;
  }
}

clnn_status graph_finalize(graph *g) {
  if (g->plan == G_MEM_INFER) {
    plan_bn_folds(g);
    plan_dropout_aliases(g);
  }
  g->fold_stale = g->copy_stale = true;
  assign_offsets(g);
  count_readers(g);
  TRY(param_arenas(g));
  TRY(node_tensors(g));
  for (int i = 0; i < g->n_ops; i++) TRY(op_state(g, &g->ops[i]));
  g->finalized = true;
  return CLNN_SUCCESS;
}

static void bn_sync_free(g_bn_sync *sy);

void graph_free(graph *g) {
  for (int i = 0; i < g->n_params; i++) {
    clnn_tensor_free(g->params[i].w);
    clnn_tensor_free(g->params[i].g);
    clnn_tensor_free(g->params[i].h);
  }
  for (int i = 0; i < g->n_groups; i++) {
    clnn_tensor_free(g->groups[i].w);
    clnn_tensor_free(g->groups[i].g);
    clnn_tensor_free(g->groups[i].h);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    clnn_tensor_free(g->nodes[i].t);
    clnn_tensor_free(g->nodes[i].g);
    clnn_tensor_free(g->nodes[i].tmp);
  }
  for (int i = 0; i < g->n_ops; i++) {
    g_op *op = &g->ops[i];
    clnn_tensor_free(op->running_mean);
    clnn_tensor_free(op->running_var);
    clnn_tensor_free(op->save_mean);
    clnn_tensor_free(op->save_invstd);
    clnn_tensor_free(op->indices);
    clnn_tensor_free(op->mask);
    clnn_tensor_free(op->fold_w);
    clnn_tensor_free(op->fold_b);
    bn_sync_free(&op->sync);
    free(op->host_mask);
  }
  clnn_buffer_free(g->param_arena);
  clnn_buffer_free(g->grad_arena);
  clnn_buffer_free(g->copy_arena);
  clnn_tensor_free(g->grad_norm);
  clnn_buffer_free(g->value_arena);
  clnn_buffer_free(g->grad_node_arena);
  clnn_buffer_free(g->bn_scratch);
  free(g->bn_sums);
  free(g->bn_host);
  memset(g, 0, sizeof *g);
}

size_t graph_param_count(const graph *g) {
  size_t n = 0;
  for (int i = 0; i < g->n_params; i++) n += g->params[i].numel;
  return n;
}

/* -------------------------------------------------------------- dropout */

/* splitmix64: a fixed function of its input, so masks depend only on
 * (seed, step, op, element), whatever else ran before. */
static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* This step's factors: 0 with probability p, else 1 / (1 - p) (torch's
 * Dropout and StochasticDepth; p = 1 zeroes everything). */
static clnn_status draw_mask(graph *g, int op_index) {
  g_op *op = &g->ops[op_index];
  const size_t n = clnn_tensor_numel(op->mask);
  const float keep_scale = op->drop_p < 1.0 ? (float)(1.0 / (1.0 - op->drop_p)) : 0.0f;
  uint64_t base = mix64(g->dropout_seed ^ mix64((uint64_t)g->dropout_step * 1024u + (uint64_t)op_index));
  for (size_t i = 0; i < n; i++) {
    double u = (double)(mix64(base + i) >> 11) * (1.0 / 9007199254740992.0);
    op->host_mask[i] = u < op->drop_p ? 0.0f : keep_scale;
  }
  return clnn_tensor_write_f32(op->mask, op->host_mask, n);
}

/* Every dropout mask of this training forward, written before any launch
 * (a blocking write in the middle of the pass would wait for the queue). */
static clnn_status draw_masks(graph *g, bool training) {
  for (int i = 0; i < g->n_ops; i++) {
    g_op *op = &g->ops[i];
    if (op->kind != G_DROPOUT) continue;
    op->mask_live = training && !g->dropout_off && op->drop_p > 0.0 && op->mask;
    if (op->mask_live) TRY(draw_mask(g, i));
  }
  if (training) g->dropout_step++;
  return CLNN_SUCCESS;
}

/* -------------------------------------------------------------- forward */

/* What an op reads of parameter p: its model copy in a half graph, else the master. */
static const clnn_tensor *model_of(const g_param *p) { return p->h ? p->h : p->w; }

static const clnn_tensor *bias_of(const g_op *op) { return op->b ? model_of(op->b) : NULL; }

/* One tensor's contents read back into a new host array, with the
 * failure's status. */
static clnn_status read_new(const clnn_tensor *t, float **out) {
  *out = malloc(clnn_tensor_bytes(t));
  if (!*out) return CLNN_ERR_HOST_OUT_OF_MEMORY;
  return clnn_tensor_read(t, *out, clnn_tensor_bytes(t));
}

/*
 * fold_w = w * s and fold_b = beta + (b - mean) * s per output channel, with
 * s = gamma / sqrt(running_var + eps), computed in double and rounded once.
 */
static clnn_status fold_bn(graph *g, g_op *conv) {
  const g_op *bn = &g->ops[conv->fold];
  const size_t k = (size_t)conv->conv.k, per_k = conv->w->numel / k;
  float *w = NULL, *b = NULL, *gamma = NULL, *beta = NULL, *mean = NULL, *var = NULL;
  clnn_status st = read_new(conv->w->w, &w);
  if (st == CLNN_SUCCESS && conv->b) st = read_new(conv->b->w, &b);
  if (st == CLNN_SUCCESS) st = read_new(bn->w->w, &gamma);
  if (st == CLNN_SUCCESS) st = read_new(bn->b->w, &beta);
  if (st == CLNN_SUCCESS) st = read_new(bn->running_mean, &mean);
  if (st == CLNN_SUCCESS) st = read_new(bn->running_var, &var);
  for (size_t o = 0; st == CLNN_SUCCESS && o < k; o++) {
    const double s = (double)gamma[o] / sqrt((double)var[o] + (double)bn->bn.eps);
    for (size_t i = 0; i < per_k; i++) w[o * per_k + i] = (float)((double)w[o * per_k + i] * s);
    beta[o] = (float)((double)beta[o] + ((b ? (double)b[o] : 0.0) - (double)mean[o]) * s);
  }
  if (st == CLNN_SUCCESS) st = clnn_tensor_write_f32(conv->fold_w, w, conv->w->numel);
  if (st == CLNN_SUCCESS) st = clnn_tensor_write_f32(conv->fold_b, beta, k);
  free(w), free(b), free(gamma), free(beta), free(mean), free(var);
  return st;
}

void graph_params_changed(graph *g) { g->fold_stale = g->copy_stale = true; }

/* Each model copy rewritten from its master, rounded once (a half graph
 * after initialisation or loading; the optimizer keeps them current after
 * its steps). */
static clnn_status sync_copies(graph *g) {
  for (int i = 0; i < g->n_params; i++) {
    const g_param *p = &g->params[i];
    if (!p->h) continue;
    float *w = NULL;
    clnn_status st = read_new(p->w, &w);
    if (st == CLNN_SUCCESS) st = clnn_tensor_write_f32(p->h, w, p->numel);
    free(w);
    TRY(st);
  }
  g->copy_stale = false;
  return CLNN_SUCCESS;
}

static clnn_status refold(graph *g) {
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_CONV && g->ops[i].fold >= 0) TRY(fold_bn(g, &g->ops[i]));
  g->fold_stale = false;
  return CLNN_SUCCESS;
}

/* ------------------------------------------------- synchronized batch norm */

void graph_set_dist(graph *g, const g_dist_hooks *hooks) {
  if (hooks) g->dist = *hooks;
  else memset(&g->dist, 0, sizeof g->dist);
}

/* The per-channel state of a synchronized batch norm and the graph's
 * scratch for all of them, made on first use. */
static clnn_status bn_sync_state(graph *g, g_op *op) {
  if (!g->bn_sums) {
    int64_t widest = 0;
    size_t largest = 0;
    for (int i = 0; i < g->n_ops; i++) {
      const g_op *b = &g->ops[i];
      if (b->kind != G_BN) continue;
      widest = b->bn.c > widest ? b->bn.c : widest;
      const size_t bytes = clnn_tensor_bytes(g->nodes[b->in0].t);
      largest = bytes > largest ? bytes : largest;
    }
    g->bn_sums = malloc((size_t)(2 * widest + 1) * sizeof(double));
    g->bn_host = malloc((size_t)(4 * widest) * sizeof(float));
    if (!g->bn_sums || !g->bn_host) return CLNN_ERR_HOST_OUT_OF_MEMORY;
    TRY(clnn_buffer_create(g->ctx, largest ? largest : 1, &g->bn_scratch));
  }
  g_bn_sync *sy = &op->sync;
  if (!sy->buf) {
    const g_node *x = &g->nodes[op->in0];
    const int64_t c = op->bn.c;
    const size_t row = (size_t)c * sizeof(float);
    clnn_tensor **views[6] = {&sy->local_mean, &sy->local_invstd, &sy->mean, &sy->var, &sy->scale, &sy->shift};
    TRY(clnn_buffer_create(g->ctx, 6 * row, &sy->buf));
    for (int k = 0; k < 6; k++) TRY(clnn_tensor_view(sy->buf, k * row, CLNN_FLOAT32, 1, &c, views[k]));
    TRY(clnn_tensor_view(g->bn_scratch, 0, g->dt, x->ndim, x->dims, &sy->term));
    sy->invstd = malloc((size_t)c * sizeof *sy->invstd);
    if (!sy->invstd) return CLNN_ERR_HOST_OUT_OF_MEMORY;
  }
  return CLNN_SUCCESS;
}

static void bn_sync_free(g_bn_sync *sy) {
  clnn_tensor *views[7] = {sy->local_mean, sy->local_invstd, sy->mean, sy->var, sy->scale, sy->shift, sy->term};
  for (int k = 0; k < 7; k++) clnn_tensor_free(views[k]);
  clnn_buffer_free(sy->buf);
  free(sy->invstd);
}

/*
 * This process's count, sum and sum of squares per channel into s (c sums,
 * c sums of squares, the count), from the training kernel's batch mean and
 * 1 / sqrt(var + eps), read back in one go (the kernel writes y too, which
 * the caller rewrites).
 */
static clnn_status bn_local_sums(graph *g, g_op *op, double *s) {
  const clnn_batchnorm_desc *d = &op->bn;
  const int64_t c = d->c, m = d->n * d->h * d->w;
  float *mean = g->bn_host, *invstd = mean + c;
  clnn_tensor *x = g->nodes[op->in0].t;
  if (m > 1) {
    TRY(clnn_batchnorm_fwd_training(g->ctx, d, x, op->w->w, op->b->w, g->nodes[op->out].t, op->sync.local_mean,
                                    op->sync.local_invstd, NULL, NULL, NULL));
    TRY(clnn_buffer_read(op->sync.buf, 0, mean, 2 * (size_t)c * sizeof(float)));
  } else if (m == 1) { /* one value per channel (the kernel refuses M = 1): it is the mean */
    TRY(clnn_tensor_read_f32(x, mean, (size_t)c));
  }
  for (int64_t ch = 0; ch < c; ch++) {
    const double mu = m ? mean[ch] : 0.0;
    double var = m > 1 ? 1.0 / ((double)invstd[ch] * invstd[ch]) - d->eps : 0.0;
    var = var > 0.0 ? var : 0.0;
    s[ch] = (double)m * mu;
    s[c + ch] = (double)m * (var + mu * mu);
  }
  s[2 * c] = (double)m;
  return CLNN_SUCCESS;
}

/*
 * Training forward over the global batch (torch.nn.SyncBatchNorm): every
 * process's sums are added up (in double, the same bits everywhere), and the
 * inference kernel normalises with the global mean and biased variance,
 * which is exactly the training forward's gamma (x - mean) / sqrt(var + eps)
 * + beta and activation. The running statistics take the global batch's
 * unbiased variance, as torch's, updated on the device (no read-back).
 */
static clnn_status bn_forward_synced(graph *g, g_op *op) {
  const clnn_batchnorm_desc *d = &op->bn;
  const int64_t c = d->c;
  TRY(bn_sync_state(g, op));
  g_bn_sync *sy = &op->sync;
  double *s = g->bn_sums;
  TRY(bn_local_sums(g, op, s));
  TRY(g->dist.sum(g->dist.user, s, (size_t)(2 * c + 1)));
  const double m = s[2 * c];
  if (m == 1) { /* one value per channel in the whole batch, as torch refuses */
    fprintf(stderr, "batch norm %s: one value per channel over every process's rows: training needs more\n",
            op->name);
    return CLNN_ERR_INVALID_VALUE;
  }
  op->num_batches_tracked++;
  if (m == 0) return CLNN_SUCCESS; /* an empty batch leaves the running statistics */
  float *mean = g->bn_host, *var = mean + c;
  for (int64_t ch = 0; ch < c; ch++) {
    const double mu = s[ch] / m, v = fmax(s[c + ch] / m - mu * mu, 0.0);
    mean[ch] = (float)mu;
    var[ch] = (float)v;
    sy->invstd[ch] = 1.0 / sqrt(v + d->eps);
  }
  TRY(clnn_buffer_write(sy->buf, 2 * (size_t)c * sizeof(float), mean, 2 * (size_t)c * sizeof(float)));
  const double factor = d->cumulative ? 1.0 / (double)op->num_batches_tracked : d->momentum;
  TRY(clnn_eltwise_add(g->ctx, (float)(1.0 - factor), op->running_mean, (float)factor, sy->mean, op->running_mean));
  TRY(clnn_eltwise_add(g->ctx, (float)(1.0 - factor), op->running_var, (float)(factor * m / (m - 1)), sy->var,
                       op->running_var));
  return clnn_batchnorm_fwd_inference(g->ctx, d, g->nodes[op->in0].t, op->w->w, op->b->w, sy->mean, sy->var,
                                      g->nodes[op->out].t);
}

/* This process's dbeta (sum dy') and dgamma (sum dy' xhat) into s, and
 * gamma into host: the parameter gradients in one read where the arena
 * holds them side by side (a batch norm's weight, then its bias). */
static clnn_status bn_local_grad_sums(graph *g, g_op *op, double *s, float *gamma) {
  const int64_t c = op->bn.c;
  float *dgamma = g->bn_host, *dbeta = dgamma + c;
  const size_t row = (size_t)c * sizeof(float);
  if (op->w->grad_offset + row == op->b->grad_offset && !op->w->h) {
    TRY(clnn_buffer_read(g->grad_arena, op->w->grad_offset, dgamma, 2 * row));
  } else {
    TRY(clnn_tensor_read_f32(op->w->g, dgamma, (size_t)c));
    TRY(clnn_tensor_read_f32(op->b->g, dbeta, (size_t)c));
  }
  TRY(clnn_tensor_read_f32(op->w->w, gamma, (size_t)c));
  for (int64_t ch = 0; ch < c; ch++) {
    s[ch] = dbeta[ch];
    s[c + ch] = dgamma[ch];
  }
  s[2 * c] = (double)(op->bn.n * op->bn.h * op->bn.w);
  return CLNN_SUCCESS;
}

/*
 * Its backward. With dy' the gradient through the activation and xhat =
 * (x - mean) * invstd over the global batch of M rows,
 *   dx = gamma invstd (dy' - sum(dy') / M - xhat sum(dy' xhat) / M),
 * the sums running over every process's rows. The inference backward gives
 * the first term and this process's sums, which are its dbeta and dgamma
 * (those stay this process's: the gradient reduction adds them up with the
 * other parameters' afterwards). The sums go round, and an inference
 * forward of x with scale -gamma invstd sum(dy' xhat) / M and shift
 * -gamma invstd sum(dy') / M gives the rest, added to dx.
 */
static clnn_status bn_backward_synced(graph *g, g_op *op, clnn_tensor *dx) {
  const clnn_batchnorm_desc *d = &op->bn;
  const int64_t c = d->c;
  clnn_tensor *x = g->nodes[op->in0].t;
  TRY(bn_sync_state(g, op));
  g_bn_sync *sy = &op->sync;
  TRY(clnn_batchnorm_bwd_inference(g->ctx, d, x, g->nodes[op->out].g, op->w->w, op->b->w, sy->mean, sy->var, dx,
                                   op->w->g, op->b->g));
  double *s = g->bn_sums;
  /* scale and shift, side by side for one write, take the room of dgamma
   * and dbeta once their sums are in s */
  float *gamma = g->bn_host + 2 * c, *scale = g->bn_host, *shift = scale + c;
  TRY(bn_local_grad_sums(g, op, s, gamma));
  TRY(g->dist.sum(g->dist.user, s, (size_t)(2 * c + 1)));
  const double m = s[2 * c];
  if (!dx || m == 0) return CLNN_SUCCESS;
  for (int64_t ch = 0; ch < c; ch++) {
    const double k = -(double)gamma[ch] * sy->invstd[ch] / m;
    scale[ch] = (float)(k * s[c + ch]);
    shift[ch] = (float)(k * s[ch]);
  }
  const size_t row = (size_t)c * sizeof(float);
  TRY(clnn_buffer_write(sy->buf, 4 * row, scale, 2 * row));
  clnn_batchnorm_desc term = *d;
  term.act = CLNN_ACT_IDENTITY;
  term.affine = 1;
  TRY(clnn_batchnorm_fwd_inference(g->ctx, &term, x, sy->scale, sy->shift, sy->mean, sy->var, sy->term));
  return clnn_eltwise_add(g->ctx, 1.0f, dx, 1.0f, sy->term, dx);
}

static clnn_status op_forward(graph *g, g_op *op, bool training) {
  clnn_context *ctx = g->ctx;
  clnn_tensor *x = g->nodes[op->in0].t, *y = g->nodes[op->out].t;
  if (op->elided) return CLNN_SUCCESS;
  switch (op->kind) {
    case G_CONV:
      if (op->fold >= 0) return clnn_conv2d_fwd(ctx, &op->fold_conv, x, op->fold_w, op->fold_b, y);
      return clnn_conv2d_fwd(ctx, &op->conv, x, model_of(op->w), bias_of(op), y);
    case G_DCN:
      return clnn_deform_conv2d_fwd(ctx, &op->dcn, x, g->nodes[op->in1].t, g->nodes[op->in2].t, model_of(op->w),
                                    bias_of(op), y);
    case G_BN:
      if (training && g->dist.sum) return bn_forward_synced(g, op);
      if (training)
        return clnn_batchnorm_fwd_training(ctx, &op->bn, x, op->w->w, op->b->w, y, op->save_mean,
                                           op->save_invstd, op->running_mean, op->running_var,
                                           &op->num_batches_tracked);
      return clnn_batchnorm_fwd_inference(ctx, &op->bn, x, op->w->w, op->b->w, op->running_mean,
                                          op->running_var, y);
    case G_GAP:
      return clnn_pool2d_fwd(ctx, &op->pool, x, y, NULL);
    case G_MAXPOOL:
      return clnn_pool2d_fwd(ctx, &op->pool, x, y, training ? op->indices : NULL);
    case G_LINEAR:
      return clnn_linear_fwd(ctx, &op->linear, x, model_of(op->w), bias_of(op), y);
    case G_ACT:
      return clnn_act_fwd(ctx, &op->act, x, y);
    case G_MUL:
      return clnn_eltwise_mul(ctx, x, g->nodes[op->in1].t, y);
    case G_ADD:
      return clnn_eltwise_add(ctx, 1.0f, x, 1.0f, g->nodes[op->in1].t, y);
    case G_DROPOUT:
      if (op->mask_live) return clnn_eltwise_mul(ctx, x, op->mask, y);
      return clnn_eltwise_scale(ctx, 1.0f, x, y);
  }
  return CLNN_ERR_INVALID_VALUE;
}

clnn_status graph_forward(graph *g, bool training) {
  if (training && g->plan == G_MEM_INFER) return CLNN_ERR_UNSUPPORTED; /* no indices, masks or gradients */
  if (g->plan == G_MEM_INFER && g->fold_stale) TRY(refold(g));
  if (g->copy_stale) TRY(sync_copies(g));
  TRY(draw_masks(g, training));
  for (int i = 0; i < g->n_ops; i++) TRY(op_forward(g, &g->ops[i], training));
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------- backward */

/*
 * Where an op writes node i's gradient: the gradient itself for the first
 * contribution of the pass, else a scratch tensor that grad_done() adds in.
 */
static clnn_status grad_target(graph *g, int i, clnn_tensor **out) {
  g_node *n = i >= 0 ? &g->nodes[i] : NULL;
  if (!n || !n->needs_grad) {
    *out = NULL;
    return CLNN_SUCCESS;
  }
  if (!n->g_written) {
    *out = n->g;
    return CLNN_SUCCESS;
  }
  if (!n->tmp) TRY(clnn_tensor_create(g->ctx, g->dt, n->ndim, n->dims, &n->tmp));
  *out = n->tmp;
  return CLNN_SUCCESS;
}

static clnn_status grad_done(graph *g, int i) {
  if (i < 0) return CLNN_SUCCESS;
  g_node *n = &g->nodes[i];
  if (!n->needs_grad) return CLNN_SUCCESS;
  if (n->g_written) TRY(clnn_eltwise_add(g->ctx, 1.0f, n->g, 1.0f, n->tmp, n->g));
  n->g_written = true;
  return CLNN_SUCCESS;
}

static clnn_status conv_backward(graph *g, g_op *op, clnn_tensor *dx) {
  clnn_context *ctx = g->ctx;
  clnn_tensor *dy = g->nodes[op->out].g;
  if (dx) TRY(clnn_conv2d_bwd_data(ctx, &op->conv, dy, model_of(op->w), dx));
  TRY(clnn_conv2d_bwd_weights(ctx, &op->conv, g->nodes[op->in0].t, dy, op->w->g, 0));
  if (op->b) TRY(clnn_conv2d_bwd_bias(ctx, &op->conv, dy, op->b->g, 0));
  return CLNN_SUCCESS;
}

static clnn_status dcn_backward(graph *g, g_op *op, clnn_tensor *dx) {
  clnn_tensor *doffset, *dmask;
  TRY(grad_target(g, op->in1, &doffset));
  TRY(grad_target(g, op->in2, &dmask));
  TRY(clnn_deform_conv2d_bwd(g->ctx, &op->dcn, g->nodes[op->in0].t, g->nodes[op->in1].t, g->nodes[op->in2].t,
                             model_of(op->w), g->nodes[op->out].g, dx, doffset, dmask, op->w->g,
                             op->b ? op->b->g : NULL));
  TRY(grad_done(g, op->in1));
  return grad_done(g, op->in2);
}

static clnn_status op_backward(graph *g, g_op *op) {
  clnn_context *ctx = g->ctx;
  g_node *in = &g->nodes[op->in0];
  clnn_tensor *dy = g->nodes[op->out].g, *dx, *ds;
  TRY(grad_target(g, op->in0, &dx));
  switch (op->kind) {
    case G_CONV:
      TRY(conv_backward(g, op, dx));
      break;
    case G_DCN:
      TRY(dcn_backward(g, op, dx));
      break;
    case G_BN:
      if (g->dist.sum) {
        TRY(bn_backward_synced(g, op, dx));
        break;
      }
      TRY(clnn_batchnorm_bwd(ctx, &op->bn, in->t, dy, op->w->w, op->b->w, op->save_mean, op->save_invstd,
                             dx, op->w->g, op->b->g));
      break;
    case G_GAP:
      if (dx && op->se_fused) {
        /* dx = dy_mul * s + dpool / (h*w): both gradients of x in one pass */
        const g_op *mul = &g->ops[op->partner];
        const float inv_hw = (float)(1.0 / (double)(in->dims[2] * in->dims[3]));
        TRY(clnn_eltwise_mul_add(ctx, g->nodes[mul->out].g, g->nodes[mul->in1].t, inv_hw, dy, dx));
      } else if (dx) {
        TRY(clnn_pool2d_bwd(ctx, &op->pool, dy, NULL, dx));
      }
      break;
    case G_MAXPOOL:
      if (dx) TRY(clnn_pool2d_bwd(ctx, &op->pool, dy, op->indices, dx));
      break;
    case G_LINEAR:
      if (dx) TRY(clnn_linear_bwd_data(ctx, &op->linear, dy, model_of(op->w), dx));
      TRY(clnn_linear_bwd_weights(ctx, &op->linear, in->t, dy, op->w->g, op->b->g, 0));
      break;
    case G_ACT:
      if (dx) TRY(clnn_act_bwd(ctx, &op->act, in->t, dy, dx));
      break;
    case G_MUL:
      TRY(grad_target(g, op->in1, &ds));
      if (op->se_fused) { /* dx comes with the pooling's backward (G_GAP) */
        if (ds) TRY(clnn_eltwise_mul_bwd(ctx, in->t, g->nodes[op->in1].t, dy, NULL, ds));
        return grad_done(g, op->in1);
      }
      TRY(clnn_eltwise_mul_bwd(ctx, in->t, g->nodes[op->in1].t, dy, dx, ds));
      TRY(grad_done(g, op->in1));
      break;
    case G_ADD:
      TRY(grad_target(g, op->in1, &ds));
      TRY(clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, dy, dx, ds));
      TRY(grad_done(g, op->in1));
      break;
    case G_DROPOUT:
      if (dx && op->mask_live) TRY(clnn_eltwise_mul_bwd(ctx, NULL, op->mask, dy, dx, NULL));
      else if (dx) TRY(clnn_eltwise_scale(ctx, 1.0f, dy, dx));
      break;
  }
  return grad_done(g, op->in0);
}

clnn_status graph_backward(graph *g, int out) {
  if (g->plan == G_MEM_INFER) return CLNN_ERR_UNSUPPORTED;
  for (int i = 0; i < g->n_nodes; i++) g->nodes[i].g_written = false;
  g->nodes[out].g_written = true;
  for (int i = g->n_ops - 1; i >= 0; i--) {
    TRY(op_backward(g, &g->ops[i]));
    if (g->dist.after_backward) TRY(g->dist.after_backward(g->dist.user, i));
  }
  return CLNN_SUCCESS;
}

/* ---------------------------------------------------------- state dict */

/* Copy one tensor of the file into buf at offset (floats), checking its shape. */
static bool load_into(graph *g, const st_file *f, const char *name, int ndim, const int64_t *dims,
                      clnn_buffer *buf, size_t offset, char *err, size_t errlen) {
  const st_tensor *t = st_find(f, name);
  if (!t) {
    snprintf(err, errlen, "no tensor '%s' in the file", name);
    return false;
  }
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
  if (!same) {
    snprintf(err, errlen, "tensor '%s' has another shape than this network's", name);
    return false;
  }
  clnn_status st = clnn_buffer_write(buf, offset * sizeof(float), t->data, t->numel * sizeof(float));
  if (st != CLNN_SUCCESS) {
    snprintf(err, errlen, "writing '%s': %s: %s", name, clnn_status_name(st), clnn_context_errmsg(g->ctx));
    return false;
  }
  return true;
}

bool graph_load_state_from(graph *g, const st_file *f, char *err, size_t errlen) {
  bool ok = true;
  char name[160];
  for (int i = 0; ok && i < g->n_params; i++) {
    const g_param *p = &g->params[i];
    ok = load_into(g, f, p->name, p->ndim, p->dims, g->param_arena, p->offset, err, errlen);
  }
  for (int i = 0; ok && i < g->n_ops; i++) {
    g_op *op = &g->ops[i];
    if (op->kind != G_BN) continue;
    snprintf(name, sizeof name, "%s.running_mean", op->name);
    ok = load_into(g, f, name, 1, &op->bn.c, clnn_tensor_buffer(op->running_mean), 0, err, errlen);
    snprintf(name, sizeof name, "%s.running_var", op->name);
    if (ok) ok = load_into(g, f, name, 1, &op->bn.c, clnn_tensor_buffer(op->running_var), 0, err, errlen);
    snprintf(name, sizeof name, "%s.num_batches_tracked", op->name);
    const st_tensor *t = st_find(f, name);
    if (ok && t && t->numel == 1 && t->data[0] >= 0.0f && t->data[0] < 9.0e15f)
      op->num_batches_tracked = (int64_t)t->data[0];
  }
  graph_params_changed(g); /* model copies of a half graph follow the loaded masters */
  return ok;
}

bool graph_load_state(graph *g, const char *path, char *err, size_t errlen) {
  st_file f;
  if (!st_read(path, &f, err, errlen)) return false;
  const bool ok = graph_load_state_from(g, &f, err, errlen);
  st_free(&f);
  return ok;
}

void g_state_list_init(g_state_list *l) {
  memset(l, 0, sizeof *l);
  l->ok = true;
}

void g_state_list_free(g_state_list *l) {
  for (int i = 0; i < l->n; i++) free(l->t[i].data);
  free(l->t);
  g_state_list_init(l);
}

/* A new entry with its own array of numel floats, or NULL (ok false). */
static st_tensor *state_entry(g_state_list *l, const char *name, int ndim, const int64_t *dims) {
  if (!l->ok) return NULL;
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= (size_t)dims[i];
  if (l->n == l->cap) {
    const int cap = l->cap ? 2 * l->cap : 64;
    st_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
    if (!t) goto oom;
    l->t = t;
    l->cap = cap;
  }
  st_tensor *t = &l->t[l->n];
  memset(t, 0, sizeof *t);
  if (!(t->data = malloc((numel ? numel : 1) * sizeof(float)))) goto oom;
  const size_t len = strlen(name);
  if (len >= sizeof t->name) {
    free(t->data);
    l->ok = false;
    snprintf(l->err, sizeof l->err, "the tensor name '%.40s...' is longer than a safetensors entry takes", name);
    return NULL;
  }
  memcpy(t->name, name, len + 1);
  t->ndim = ndim;
  if (ndim) memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
  t->numel = numel;
  l->n++;
  return t;
oom:
  l->ok = false;
  snprintf(l->err, sizeof l->err, "out of host memory while gathering '%s'", name);
  return NULL;
}

static bool state_failed(g_state_list *l, const char *name, clnn_status st) {
  l->ok = false;
  snprintf(l->err, sizeof l->err, "reading '%s' back: %s", name, clnn_status_name(st));
  return false;
}

bool g_state_list_add(g_state_list *l, const char *name, int ndim, const int64_t *dims, const clnn_tensor *src) {
  st_tensor *t = state_entry(l, name, ndim, dims);
  if (!t) return false;
  const clnn_status st = clnn_tensor_read_f32(src, t->data, t->numel);
  return st == CLNN_SUCCESS || state_failed(l, name, st);
}

bool g_state_list_add_buffer(g_state_list *l, const char *name, int ndim, const int64_t *dims, clnn_buffer *buf,
                             size_t offset) {
  st_tensor *t = state_entry(l, name, ndim, dims);
  if (!t) return false;
  const clnn_status st = clnn_buffer_read(buf, offset * sizeof(float), t->data, t->numel * sizeof(float));
  return st == CLNN_SUCCESS || state_failed(l, name, st);
}

bool g_state_list_add_host(g_state_list *l, const char *name, int ndim, const int64_t *dims, const float *data) {
  st_tensor *t = state_entry(l, name, ndim, dims);
  if (t) memcpy(t->data, data, t->numel * sizeof(float));
  return t != NULL;
}

bool graph_state_append(graph *g, g_state_list *l, g_state_what what) {
  char name[160];
  for (int i = 0; i < g->n_params; i++) {
    const g_param *p = &g->params[i];
    snprintf(name, sizeof name, "%s%s", what.prefix ? what.prefix : "", p->name);
    g_state_list_add(l, name, p->ndim, p->dims, what.grads ? p->g : p->w);
  }
  for (int i = 0; what.stats && i < g->n_ops; i++) {
    const g_op *op = &g->ops[i];
    if (op->kind != G_BN) continue;
    snprintf(name, sizeof name, "%s.running_mean", op->name);
    g_state_list_add(l, name, 1, &op->bn.c, op->running_mean);
    snprintf(name, sizeof name, "%s.running_var", op->name);
    g_state_list_add(l, name, 1, &op->bn.c, op->running_var);
    if (!what.counts) continue;
    const float count = (float)op->num_batches_tracked;
    snprintf(name, sizeof name, "%s.num_batches_tracked", op->name);
    g_state_list_add_host(l, name, 0, NULL, &count);
  }
  return l->ok;
}

bool graph_save_state(graph *g, const char *path, char *err, size_t errlen) {
  g_state_list l;
  g_state_list_init(&l);
  const g_state_what what = {.stats = true, .counts = true};
  bool ok = graph_state_append(g, &l, what);
  if (!ok) snprintf(err, errlen, "%s: %s", l.err, clnn_context_errmsg(g->ctx));
  if (ok) ok = st_write(path, l.t, l.n, NULL, err, errlen);
  g_state_list_free(&l);
  return ok;
}
