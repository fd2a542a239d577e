/*
 * graph.c - see graph.h.
 */
#include "graph.h"

#include <stdio.h>
#include <string.h>

#define TRY(expr)                                   \
  do {                                              \
    clnn_status st_ = (expr);                       \
    if (st_ != CLNN_SUCCESS) return st_;            \
  } while (0)

void graph_init(graph *g, clnn_context *ctx) {
  memset(g, 0, sizeof *g);
  g->ctx = ctx;
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

static g_op *new_op(graph *g, g_op_kind kind, const char *name, int in0, int in1) {
  if (g->n_ops >= G_MAX_OPS || in0 < 0) return NULL;
  g_op *op = &g->ops[g->n_ops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->in0 = in0;
  op->in1 = in1;
  op->out = -1;
  snprintf(op->name, sizeof op->name, "%s", name ? name : "");
  return op;
}

/* The output node: it needs a gradient when any input does. */
static int op_output(graph *g, g_op *op, int ndim, const int64_t *dims) {
  if (!op) return -1;
  bool grad = g->nodes[op->in0].needs_grad || (op->in1 >= 0 && g->nodes[op->in1].needs_grad) || op->w;
  op->out = graph_node(g, ndim, dims, grad);
  return op->out;
}

int graph_conv(graph *g, const char *name, int in, int64_t k, int64_t kernel, int64_t stride, int64_t groups) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_CONV, name, in, -1);
  if (!op) return -1;
  op->conv = clnn_conv2d_desc_make(d[0], d[1], d[2], d[3], k, kernel, kernel);
  op->conv.stride_h = op->conv.stride_w = stride;
  op->conv.pad_h = op->conv.pad_w = kernel / 2;
  op->conv.groups = groups;
  int64_t oh, ow;
  if (clnn_conv2d_desc_check(&op->conv, &oh, &ow) != CLNN_SUCCESS) return -1;
  char pname[96];
  snprintf(pname, sizeof pname, "%s.weight", name);
  int64_t wd[4] = {k, d[1] / groups, kernel, kernel};
  op->w = graph_param(g, pname, 4, wd, true);
  int64_t od[4] = {d[0], k, oh, ow};
  return op_output(g, op, 4, od);
}

int graph_bn(graph *g, const char *name, int in, clnn_activation act) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_BN, name, in, -1);
  if (!op) return -1;
  op->bn = clnn_batchnorm_desc_make(d[0], d[1], d[2], d[3]);
  op->bn.act = act;
  char pname[96];
  snprintf(pname, sizeof pname, "%s.weight", name);
  op->w = graph_param(g, pname, 1, &d[1], false);
  snprintf(pname, sizeof pname, "%s.bias", name);
  op->b = graph_param(g, pname, 1, &d[1], false);
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

int graph_linear(graph *g, const char *name, int in, int64_t out_features) {
  if (in < 0) return -1;
  const int64_t *d = g->nodes[in].dims;
  g_op *op = new_op(g, G_LINEAR, name, in, -1);
  if (!op) return -1;
  op->linear = clnn_linear_desc_make(d[0], d[1], out_features);
  char pname[96];
  snprintf(pname, sizeof pname, "%s.weight", name);
  int64_t wd[2] = {out_features, d[1]};
  op->w = graph_param(g, pname, 2, wd, true);
  snprintf(pname, sizeof pname, "%s.bias", name);
  op->b = graph_param(g, pname, 1, &out_features, false);
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

/* ------------------------------------------------------------- finalize */

static clnn_status vec(clnn_context *ctx, int64_t n, float value, clnn_tensor **out) {
  TRY(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &n, out));
  return clnn_tensor_fill(*out, value);
}

/* Give parameters arena offsets: decayed ones first, so each group is one range. */
static void assign_offsets(graph *g) {
  size_t at = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < g->n_params; i++)
      if (g->params[i].decay == (pass == 0)) {
        g->params[i].offset = at;
        at += g->params[i].numel;
      }
  g->arena_size = at;
}

clnn_status graph_finalize(graph *g) {
  clnn_context *ctx = g->ctx;
  assign_offsets(g);
  TRY(clnn_buffer_create(ctx, g->arena_size * sizeof(float), &g->param_arena));
  TRY(clnn_buffer_create(ctx, g->arena_size * sizeof(float), &g->grad_arena));
  for (int i = 0; i < g->n_params; i++) {
    g_param *p = &g->params[i];
    TRY(clnn_tensor_view(g->param_arena, p->offset * sizeof(float), CLNN_FLOAT32, p->ndim, p->dims, &p->w));
    TRY(clnn_tensor_view(g->grad_arena, p->offset * sizeof(float), CLNN_FLOAT32, p->ndim, p->dims, &p->g));
  }
  for (int i = 0; i < g->n_nodes; i++) {
    g_node *n = &g->nodes[i];
    TRY(clnn_tensor_create(ctx, CLNN_FLOAT32, n->ndim, n->dims, &n->t));
    if (n->needs_grad) TRY(clnn_tensor_create(ctx, CLNN_FLOAT32, n->ndim, n->dims, &n->g));
  }
  for (int i = 0; i < g->n_ops; i++) {
    g_op *op = &g->ops[i];
    if (op->kind != G_BN) continue;
    TRY(vec(ctx, op->bn.c, 0.0f, &op->running_mean));
    TRY(vec(ctx, op->bn.c, 1.0f, &op->running_var));
    TRY(vec(ctx, op->bn.c, 0.0f, &op->save_mean));
    TRY(vec(ctx, op->bn.c, 1.0f, &op->save_invstd));
  }
  g->finalized = true;
  return CLNN_SUCCESS;
}

void graph_free(graph *g) {
  for (int i = 0; i < g->n_params; i++) {
    clnn_tensor_free(g->params[i].w);
    clnn_tensor_free(g->params[i].g);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    clnn_tensor_free(g->nodes[i].t);
    clnn_tensor_free(g->nodes[i].g);
    clnn_tensor_free(g->nodes[i].tmp);
  }
  for (int i = 0; i < g->n_ops; i++) {
    clnn_tensor_free(g->ops[i].running_mean);
    clnn_tensor_free(g->ops[i].running_var);
    clnn_tensor_free(g->ops[i].save_mean);
    clnn_tensor_free(g->ops[i].save_invstd);
  }
  clnn_buffer_free(g->param_arena);
  clnn_buffer_free(g->grad_arena);
  memset(g, 0, sizeof *g);
}

size_t graph_param_count(const graph *g) {
  size_t n = 0;
  for (int i = 0; i < g->n_params; i++) n += g->params[i].numel;
  return n;
}

/* -------------------------------------------------------------- forward */

static clnn_status op_forward(graph *g, g_op *op, bool training) {
  clnn_context *ctx = g->ctx;
  clnn_tensor *x = g->nodes[op->in0].t, *y = g->nodes[op->out].t;
  switch (op->kind) {
    case G_CONV:
      return clnn_conv2d_fwd(ctx, &op->conv, x, op->w->w, NULL, y);
    case G_BN:
      if (training)
        return clnn_batchnorm_fwd_training(ctx, &op->bn, x, op->w->w, op->b->w, y, op->save_mean,
                                           op->save_invstd, op->running_mean, op->running_var,
                                           &op->num_batches_tracked);
      return clnn_batchnorm_fwd_inference(ctx, &op->bn, x, op->w->w, op->b->w, op->running_mean,
                                          op->running_var, y);
    case G_GAP:
      return clnn_pool2d_fwd(ctx, &op->pool, x, y, NULL);
    case G_LINEAR:
      return clnn_linear_fwd(ctx, &op->linear, x, op->w->w, op->b->w, y);
    case G_ACT:
      return clnn_act_fwd(ctx, &op->act, x, y);
    case G_MUL:
      return clnn_eltwise_mul(ctx, x, g->nodes[op->in1].t, y);
    case G_ADD:
      return clnn_eltwise_add(ctx, 1.0f, x, 1.0f, g->nodes[op->in1].t, y);
  }
  return CLNN_ERR_INVALID_VALUE;
}

clnn_status graph_forward(graph *g, bool training) {
  for (int i = 0; i < g->n_ops; i++) TRY(op_forward(g, &g->ops[i], training));
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------- backward */

/*
 * Where an op writes node i's gradient: the gradient itself for the first
 * contribution of the pass, else a scratch tensor that grad_done() adds in.
 */
static clnn_status grad_target(graph *g, int i, clnn_tensor **out) {
  g_node *n = &g->nodes[i];
  if (!n->needs_grad) {
    *out = NULL;
    return CLNN_SUCCESS;
  }
  if (!n->g_written) {
    *out = n->g;
    return CLNN_SUCCESS;
  }
  if (!n->tmp) TRY(clnn_tensor_create(g->ctx, CLNN_FLOAT32, n->ndim, n->dims, &n->tmp));
  *out = n->tmp;
  return CLNN_SUCCESS;
}

static clnn_status grad_done(graph *g, int i) {
  g_node *n = &g->nodes[i];
  if (!n->needs_grad) return CLNN_SUCCESS;
  if (n->g_written) TRY(clnn_eltwise_add(g->ctx, 1.0f, n->g, 1.0f, n->tmp, n->g));
  n->g_written = true;
  return CLNN_SUCCESS;
}

static clnn_status op_backward(graph *g, g_op *op) {
  clnn_context *ctx = g->ctx;
  g_node *in = &g->nodes[op->in0];
  clnn_tensor *dy = g->nodes[op->out].g, *dx, *ds;
  TRY(grad_target(g, op->in0, &dx));
  switch (op->kind) {
    case G_CONV:
      if (dx) TRY(clnn_conv2d_bwd_data(ctx, &op->conv, dy, op->w->w, dx));
      TRY(clnn_conv2d_bwd_weights(ctx, &op->conv, in->t, dy, op->w->g, 0));
      break;
    case G_BN:
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
    case G_LINEAR:
      if (dx) TRY(clnn_linear_bwd_data(ctx, &op->linear, dy, op->w->w, dx));
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
  }
  return grad_done(g, op->in0);
}

clnn_status graph_backward(graph *g, int out) {
  for (int i = 0; i < g->n_nodes; i++) g->nodes[i].g_written = false;
  g->nodes[out].g_written = true;
  for (int i = g->n_ops - 1; i >= 0; i--) TRY(op_backward(g, &g->ops[i]));
  return CLNN_SUCCESS;
}
