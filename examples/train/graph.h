/*
 * graph.h - a small static computation graph over libclnn ops, enough to
 * train CNNs: nodes are device tensors (with a gradient each), ops are
 * recorded once in forward order, then run forward and, in reverse, backward.
 * Every op enqueues its kernels; nothing waits for the device inside a pass.
 *
 * Parameters live in one "arena" buffer (and their gradients in another,
 * laid out the same), so the optimizer updates all of them in a launch or two.
 */
#ifndef CLNN_TRAIN_GRAPH_H
#define CLNN_TRAIN_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "clnn.h"

#define G_MAX_NODES 1024
#define G_MAX_OPS 1024
#define G_MAX_PARAMS 512

typedef struct g_param {
  char name[96];
  int ndim;
  int64_t dims[4];
  size_t offset, numel; /* in floats, within the arenas */
  bool decay;           /* weight decay applies (weights yes; BN and biases no) */
  clnn_tensor *w, *g;   /* views into the parameter and gradient arenas */
} g_param;

typedef struct g_node {
  int ndim;
  int64_t dims[4];
  clnn_tensor *t;    /* value */
  clnn_tensor *g;    /* gradient (allocated when needed) */
  clnn_tensor *tmp;  /* scratch for a second gradient contribution */
  bool needs_grad;
  bool g_written; /* the gradient already holds a contribution this pass */
} g_node;

typedef enum g_op_kind {
  G_CONV,   /* out = conv(in0, w) (no bias) */
  G_BN,     /* out = act(batchnorm(in0)) */
  G_GAP,    /* out (n, c, 1, 1) = mean over h, w */
  G_LINEAR, /* out (n, o) = in0 (n, i) w^T + b */
  G_ACT,    /* out = act(in0) */
  G_MUL,    /* out = in0 * in1 (in1 broadcast over h, w) */
  G_ADD     /* out = in0 + in1 */
} g_op_kind;

typedef struct g_op {
  g_op_kind kind;
  int in0, in1, out; /* node indices (-1: none) */
  g_param *w, *b;    /* conv / linear weight and bias; BN gamma and beta */
  clnn_conv2d_desc conv;
  clnn_batchnorm_desc bn;
  clnn_tensor *running_mean, *running_var, *save_mean, *save_invstd;
  int64_t num_batches_tracked;
  clnn_pool2d_desc pool;
  clnn_linear_desc linear;
  clnn_act_desc act;
  /* A G_GAP and a G_MUL that read the same node (squeeze-excitation): the
   * input's gradient dy * s + dpool / (h*w) is computed in one pass when
   * the G_GAP's backward runs, after the G_MUL's (which then only reduces
   * ds). partner: the other op's index. */
  bool se_fused;
  int partner;
  char name[64]; /* the layer's name prefix, for checkpoints */
} g_op;

typedef struct graph {
  clnn_context *ctx;
  int n_nodes, n_ops, n_params;
  g_node nodes[G_MAX_NODES];
  g_op ops[G_MAX_OPS];
  g_param params[G_MAX_PARAMS];
  size_t arena_size; /* floats */
  clnn_buffer *param_arena, *grad_arena;
  bool finalized;
} graph;

/* ------------------------------------------------------------ building */

void graph_init(graph *g, clnn_context *ctx);
/* A node of the given shape (2-D or 4-D). Its tensor is made at finalize. */
int graph_node(graph *g, int ndim, const int64_t *dims, bool needs_grad);
/* A parameter; its memory is assigned at finalize. */
g_param *graph_param(graph *g, const char *name, int ndim, const int64_t *dims, bool decay);

/* Ops; each returns its output node (or -1 when the graph is full). */
int graph_conv(graph *g, const char *name, int in, int64_t k, int64_t kernel, int64_t stride, int64_t groups);
int graph_bn(graph *g, const char *name, int in, clnn_activation act);
int graph_gap(graph *g, int in);
int graph_linear(graph *g, const char *name, int in, int64_t out_features);
int graph_act(graph *g, int in, clnn_activation act);
int graph_mul(graph *g, int x, int s);
int graph_add(graph *g, int a, int b);

/* Allocate every tensor and the arenas. */
clnn_status graph_finalize(graph *g);
void graph_free(graph *g);

/* ------------------------------------------------------------- running */

/* Forward pass; training = batch statistics (and running-stat updates). */
clnn_status graph_forward(graph *g, bool training);
/*
 * Backward pass from the gradient already written into node out's g (e.g.
 * by the loss): every parameter's gradient is overwritten.
 */
clnn_status graph_backward(graph *g, int out);

/* Total parameter count. */
size_t graph_param_count(const graph *g);

#endif
