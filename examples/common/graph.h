/*
 * graph.h - a small static computation graph over libclnn ops, enough to
 * train and run CNNs (clnn-train's Fashion-MNIST net, clnn-net's torchvision
 * networks): nodes are device tensors (with a gradient each), ops are
 * recorded once in forward order, then run forward and, in reverse, backward.
 * Every op enqueues its kernels; nothing waits for the device inside a pass.
 *
 * Parameters live in one "arena" buffer (and their gradients in another,
 * laid out the same), so the optimizer updates all of them in a launch or two.
 *
 * Precision (graph_set_precision): node values and gradients are float32,
 * float16 or bfloat16 (mixed precision, as torch's autocast): the weights
 * and biases of convolutions and linear layers are float32 masters with a
 * model copy in the graph's type, which the ops read, and gradients in that
 * type; batch-norm parameters and statistics stay float32.
 *
 * Memory (graph_set_memory_plan): by default every node owns its tensors.
 * A plan lets tensors whose lifetimes do not overlap share one arena:
 *   G_MEM_INFER  node values live from the op that writes them to the last
 *                op that reads them; no gradients exist (forward only).
 *   G_MEM_TRAIN  node values live for the whole step (the backward pass reads
 *                them); gradients live from the first backward op that writes
 *                them to the last that reads them.
 */
#ifndef CLNN_COMMON_GRAPH_H
#define CLNN_COMMON_GRAPH_H

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
  size_t offset, numel; /* in elements, within the arenas (the gradient arena: see grad_offset) */
  size_t grad_offset;   /* in bytes, within the gradient arena */
  bool decay;           /* weight decay applies (weights yes; BN and biases no) */
  bool follows_dt;      /* read by a conv or linear op: model copy and gradient in the graph's type */
  clnn_tensor *w, *g;   /* views into the parameter (float32 masters) and gradient arenas */
  clnn_tensor *h;       /* the model copy in the graph's type (NULL: the graph is float32, or BN's) */
} g_param;

typedef struct g_node {
  int ndim;
  int64_t dims[4];
  clnn_tensor *t;    /* value */
  clnn_tensor *g;    /* gradient (allocated when needed) */
  clnn_tensor *tmp;  /* scratch for a second gradient contribution */
  bool needs_grad;
  bool g_written; /* the gradient already holds a contribution this pass */
  bool fan_in;    /* more than one op reads it: its gradient needs tmp */
} g_node;

typedef enum g_op_kind {
  G_CONV,    /* out = conv(in0, w) + b (b optional) */
  G_BN,      /* out = act(batchnorm(in0)) */
  G_GAP,     /* out (n, c, 1, 1) = mean over h, w */
  G_LINEAR,  /* out (n, o) = in0 (n, i) w^T + b */
  G_ACT,     /* out = act(in0) */
  G_MUL,     /* out = in0 * in1 (in1 broadcast over its trailing 1s) */
  G_ADD,     /* out = in0 + in1 */
  G_MAXPOOL, /* out = max_pool2d(in0) */
  G_DCN,     /* out = deform_conv2d v2 (in0, offset in1, mask in2, w) + b */
  G_DROPOUT  /* training: out = in0 * mask (drawn each forward); eval: a copy */
} g_op_kind;

/* A convolution's settings (torch.nn.Conv2d's, square). */
typedef struct g_conv_spec {
  int64_t out_channels, kernel, stride, pad, dilation, groups;
  bool bias;
} g_conv_spec;

/*
 * A synchronized batch norm's state (graph.c, bn_forward_synced): its
 * per-channel values live in one buffer, so that each crossing between host
 * and device is one read or one write.
 */
typedef struct g_bn_sync {
  clnn_buffer *buf; /* 6 c floats: the local batch's mean and 1 / std, the global mean and biased
                     * variance, the backward's correction scale and shift */
  clnn_tensor *local_mean, *local_invstd, *mean, *var, *scale, *shift; /* views of buf */
  clnn_tensor *term; /* the backward's correction term: a view of the input's shape on graph.bn_scratch */
  double *invstd;    /* host: the global 1 / sqrt(var + eps), for the backward */
} g_bn_sync;

typedef struct g_op {
  g_op_kind kind;
  int in0, in1, in2, out; /* node indices (-1: none) */
  g_param *w, *b;         /* conv / linear weight and bias; BN gamma and beta */
  clnn_conv2d_desc conv;
  clnn_deform_conv2d_desc dcn;
  clnn_batchnorm_desc bn;
  clnn_tensor *running_mean, *running_var, *save_mean, *save_invstd;
  int64_t num_batches_tracked;
  clnn_pool2d_desc pool;
  clnn_tensor *indices; /* G_MAXPOOL: argmax positions for the backward */
  clnn_linear_desc linear;
  clnn_act_desc act;
  double drop_p;        /* G_DROPOUT: probability of zeroing */
  bool drop_per_sample; /* zero whole samples (stochastic depth, "row") */
  clnn_tensor *mask;    /* G_DROPOUT: this step's 0 or 1/(1-p) factors */
  float *host_mask;
  bool mask_live; /* the mask of this step was applied (training forward) */
  /* A G_GAP and a G_MUL that read the same node (squeeze-excitation): the
   * input's gradient dy * s + dpool / (h*w) is computed in one pass when
   * the G_GAP's backward runs, after the G_MUL's (which then only reduces
   * ds). partner: the other op's index. */
  bool se_fused;
  int partner;
  /* Inference plans only (see graph_finalize): a G_CONV followed by the
   * G_BN that alone reads its output runs as one convolution with the batch
   * norm folded into its weights and bias (fold_w, fold_b, made from the
   * parameters and running statistics) and the batch norm's activation as
   * its epilogue, writing the G_BN's output node. fold: that G_BN's index
   * (-1: none). elided: the op does not run (a folded G_BN, or an eval-mode
   * G_DROPOUT whose readers now read its input). */
  int fold;
  bool elided;
  clnn_conv2d_desc fold_conv;
  clnn_tensor *fold_w, *fold_b;
  g_bn_sync sync; /* G_BN under graph_set_dist's sum hook (synchronized batch norm) */
  char name[64]; /* the layer's name prefix, for checkpoints */
} g_op;

/* A group of parameters for the optimizer (graph_param_groups). */
#define G_MAX_GROUPS 4
typedef struct g_param_group {
  size_t offset, numel;
  bool decay;
  clnn_tensor *w, *g, *h;
} g_param_group;

typedef enum g_mem_plan { G_MEM_OWN = 0, G_MEM_INFER, G_MEM_TRAIN } g_mem_plan;

/*
 * Data-parallel training (clnn-train --dist): what the graph asks of the
 * code that spreads a batch over processes. The graph itself knows nothing
 * of MPI.
 *   sum            --sync-bn: add count doubles elementwise over every
 *                  process, in place, with the same result bits everywhere.
 *                  With it, training-mode batch norms use the statistics of
 *                  the global batch (torch.nn.SyncBatchNorm). NULL: each
 *                  process normalises with its own rows.
 *   after_backward called once op `op`'s backward is enqueued: the
 *                  parameters that op owns hold their final gradients once
 *                  the queue gets there, so their reduction can start while
 *                  earlier layers' backward still runs.
 * Both return CLNN_SUCCESS, or a failure they have already reported.
 */
typedef struct g_dist_hooks {
  void *user;
  clnn_status (*sum)(void *user, double *values, size_t count);
  clnn_status (*after_backward)(void *user, int op);
} g_dist_hooks;

typedef struct graph {
  clnn_context *ctx;
  int n_nodes, n_ops, n_params;
  g_node nodes[G_MAX_NODES];
  g_op ops[G_MAX_OPS];
  g_param params[G_MAX_PARAMS];
  clnn_dtype dt;      /* node values and gradients (graph_set_precision) */
  size_t arena_size;  /* parameters, in elements */
  size_t n_follow;    /* the first n_follow of them follow dt (model copy arena) */
  clnn_buffer *param_arena, *grad_arena, *copy_arena;
  g_mem_plan plan;
  clnn_buffer *value_arena, *grad_node_arena; /* the shared memory of a plan */
  size_t value_bytes, grad_bytes;             /* what the plan needs (sum if unshared: *_unshared) */
  size_t value_bytes_unshared, grad_bytes_unshared;
  uint64_t dropout_seed; /* masks are a function of (seed, step, op, element) */
  int64_t dropout_step;  /* training forwards run so far */
  bool dropout_off;      /* dropout ops pass their input through even in training */
  bool fold_stale;       /* the folded conv weights predate a parameter change */
  bool copy_stale;       /* the model copies predate a parameter change */
  g_param_group groups[G_MAX_GROUPS];
  int n_groups;
  clnn_tensor *grad_norm; /* graph_grads_overflow's result (made on first use) */
  g_dist_hooks dist;      /* graph_set_dist */
  clnn_buffer *bn_scratch; /* synchronized batch norm: the backward's correction term (largest input) */
  double *bn_sums;         /* its sums across processes: 2 * channels + 1 of the widest batch norm */
  float *bn_host;          /* and four per-channel float arrays */
  bool finalized;
} graph;

/* ------------------------------------------------------------ building */

void graph_init(graph *g, clnn_context *ctx);
/* A node of the given shape (2-D or 4-D). Its tensor is made at finalize. */
int graph_node(graph *g, int ndim, const int64_t *dims, bool needs_grad);
/* A parameter; its memory is assigned at finalize. */
g_param *graph_param(graph *g, const char *name, int ndim, const int64_t *dims, bool decay);

/* Ops; each returns its output node (or -1 when the graph is full or a shape is wrong). */
int graph_conv_ex(graph *g, const char *name, int in, const g_conv_spec *s);
/* "Same" padding (kernel / 2), dilation 1, no bias. */
int graph_conv(graph *g, const char *name, int in, int64_t k, int64_t kernel, int64_t stride, int64_t groups);
/* Modulated deformable convolution (DCNv2): offset (n, 2*k*k, oh, ow), mask (n, k*k, oh, ow). */
int graph_deform_conv(graph *g, const char *name, int in, int offset, int mask, const g_conv_spec *s);
int graph_bn(graph *g, const char *name, int in, clnn_activation act);
int graph_gap(graph *g, int in);
int graph_maxpool(graph *g, int in, int64_t kernel, int64_t stride, int64_t pad);
int graph_linear(graph *g, const char *name, int in, int64_t out_features);
int graph_act(graph *g, int in, clnn_activation act);
int graph_mul(graph *g, int x, int s);
int graph_add(graph *g, int a, int b);
/* torch.nn.Dropout(p) (per_sample false) or StochasticDepth(p, "row"). */
int graph_dropout(graph *g, int in, double p, bool per_sample);

/* Before graph_finalize: how node tensors share memory (see above). */
void graph_set_memory_plan(graph *g, g_mem_plan plan);
/* Before graph_finalize: the type of node values and gradients (float32 by default; see above). */
void graph_set_precision(graph *g, clnn_dtype dt);
/* The type a --precision value names: f32, f16 or bf16 (clnn-bench's dt= names); false otherwise. */
bool graph_precision_of(const char *name, clnn_dtype *dt);
/*
 * Allocate every tensor and the arenas. With G_MEM_INFER it also folds each
 * batch norm into the convolution before it (y = conv(x, w * s) + (beta -
 * mean * s), s = gamma / sqrt(var + eps), as torch.nn.utils.fusion's fuse_conv_bn_eval)
 * and lets readers of an eval-mode dropout read its input.
 */
clnn_status graph_finalize(graph *g);
void graph_free(graph *g);

/* ------------------------------------------------------------- running */

/*
 * Forward pass; training = batch statistics (and running-stat updates) and
 * dropout. An inference plan refolds its batch norms first when a parameter
 * changed (graph_load_state, or a caller's graph_params_changed).
 */
clnn_status graph_forward(graph *g, bool training);
/* Say that parameters or running statistics were written from outside the
 * graph: the next forward refolds batch norms and rewrites the model copies
 * from the masters. */
void graph_params_changed(graph *g);
/*
 * Backward pass from the gradient already written into node out's g (e.g.
 * by the loss): every parameter's gradient is overwritten.
 */
clnn_status graph_backward(graph *g, int out);

/* Data-parallel hooks (see g_dist_hooks); NULL removes them. */
void graph_set_dist(graph *g, const g_dist_hooks *hooks);

/* Total parameter count. */
size_t graph_param_count(const graph *g);

/*
 * Parameters the optimizer updates with one call each: a range of the
 * arena whose members share weight decay and type. w: the float32 masters;
 * g: their gradients (the graph's type when h is set, else float32); h: the
 * model copy in the graph's type that the optimizer rewrites with the
 * masters (NULL for float32). offset and numel in elements of the arena,
 * where optimizer state (m, v) mirrors the masters. Views owned by the
 * graph. Returns the number of groups (at most G_MAX_GROUPS).
 */
int graph_param_groups(const graph *g, const g_param_group **out);

/*
 * Whether any parameter gradient holds a NaN or an infinity (a float16
 * step whose loss scale overflowed: GradScaler's check before it steps),
 * from the global L2 norm of each group, read back: waits for the backward
 * pass. Every group is checked before any is updated, so a step is skipped
 * or taken whole.
 */
clnn_status graph_grads_overflow(graph *g, bool *overflow);

/* ---------------------------------------------------------- state dict */

struct st_tensor;
struct st_file;

/*
 * A list of safetensors entries read back from the device, whose float32
 * host arrays it owns: what a caller gathers before st_write. After a failed
 * add, ok is false, err says why and later adds do nothing.
 */
typedef struct g_state_list {
  struct st_tensor *t;
  int n, cap;
  bool ok;
  char err[256];
} g_state_list;

void g_state_list_init(g_state_list *l);
void g_state_list_free(g_state_list *l);
/* Entry name of dims holding src (any float type), converted to float32. */
bool g_state_list_add(g_state_list *l, const char *name, int ndim, const int64_t *dims, const clnn_tensor *src);
/* Entry name holding numel float32 elements of buf from element offset. */
bool g_state_list_add_buffer(g_state_list *l, const char *name, int ndim, const int64_t *dims, clnn_buffer *buf,
                             size_t offset);
/* Entry name holding a copy of numel host values. */
bool g_state_list_add_host(g_state_list *l, const char *name, int ndim, const int64_t *dims, const float *data);

/* What graph_state_append adds: every parameter (under prefix + its name),
 * or every parameter's gradient, and optionally the batch-norm running
 * statistics and num_batches_tracked (a float32 scalar), torch's names. */
typedef struct g_state_what {
  const char *prefix;
  bool grads, stats, counts;
} g_state_what;
bool graph_state_append(graph *g, g_state_list *l, g_state_what what);

/*
 * Parameters and batch-norm running statistics under their torch state-dict
 * names (conv1.weight, bn1.running_mean, ...). graph_load_state reads a
 * safetensors file (every tensor of the graph must be there, float32, with
 * its shape; num_batches_tracked is optional); graph_load_state_from does
 * the same from a file already read (a caller that reads more of it).
 * graph_save_state writes one (num_batches_tracked as a float32 scalar).
 * False with a message in err.
 */
bool graph_load_state(graph *g, const char *path, char *err, size_t errlen);
bool graph_load_state_from(graph *g, const struct st_file *f, char *err, size_t errlen);
bool graph_save_state(graph *g, const char *path, char *err, size_t errlen);

#endif
