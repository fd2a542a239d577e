/*
 * nets.c - see nets.h. Each builder follows torchvision 0.14's module tree
 * (models/resnet.py, mobilenetv2.py, efficientnet.py): the parameter names
 * below are the paths of its state_dict.
 */
#include "nets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[NET_COUNT_] = {"resnet18", "mobilenet_v2", "efficientnet_b0", "resnet18_dcn"};

net_kind net_kind_of(const char *name) {
  for (int i = 0; i < NET_COUNT_; i++)
    if (!strcmp(name, names[i])) return (net_kind)i;
  return NET_COUNT_;
}

const char *net_name(net_kind kind) { return kind >= 0 && kind < NET_COUNT_ ? names[kind] : "?"; }

/* A conv + batch norm (+ activation), torchvision's Conv2dNormActivation:
 * padding (kernel - 1) / 2, no bias; prefix.0 is the conv, prefix.1 the BN. */
static int conv_bn(graph *g, const char *prefix, int in, int64_t out, int64_t kernel, int64_t stride,
                   int64_t groups, clnn_activation act) {
  char n0[96], n1[96];
  snprintf(n0, sizeof n0, "%s.0", prefix);
  snprintf(n1, sizeof n1, "%s.1", prefix);
  g_conv_spec s = {out, kernel, stride, (kernel - 1) / 2, 1, groups, false};
  return graph_bn(g, n1, graph_conv_ex(g, n0, in, &s), act);
}

/* ------------------------------------------------------------- ResNet-18 */

/* A 3x3 conv, padding 1, no bias; deformable (DCNv2) when dcn. */
static int conv3x3(graph *g, const char *name, int in, int64_t out, int64_t stride, bool dcn) {
  g_conv_spec s = {out, 3, stride, 1, 1, 1, false};
  if (!dcn) return graph_conv_ex(g, name, in, &s);
  char n_off[96], n_mask[96];
  snprintf(n_off, sizeof n_off, "%s.offset", name);
  snprintf(n_mask, sizeof n_mask, "%s.mask", name);
  g_conv_spec so = {2 * 9, 3, stride, 1, 1, 1, true}, sm = {9, 3, stride, 1, 1, 1, true};
  int offset = graph_conv_ex(g, n_off, in, &so);
  int mask = graph_act(g, graph_conv_ex(g, n_mask, in, &sm), CLNN_ACT_SIGMOID);
  return graph_deform_conv(g, name, in, offset, mask, &s);
}

/* torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
static int basic_block(graph *g, const char *prefix, int x, int64_t out, int64_t stride, bool dcn) {
  char name[80], name2[80];
  snprintf(name, sizeof name, "%s.conv1", prefix);
  snprintf(name2, sizeof name2, "%s.bn1", prefix);
  int h = graph_bn(g, name2, conv3x3(g, name, x, out, stride, dcn), CLNN_ACT_RELU);
  snprintf(name, sizeof name, "%s.conv2", prefix);
  snprintf(name2, sizeof name2, "%s.bn2", prefix);
  h = graph_bn(g, name2, conv3x3(g, name, h, out, 1, dcn), CLNN_ACT_IDENTITY);
  int shortcut = x;
  if (x >= 0 && (stride != 1 || g->nodes[x].dims[1] != out)) {
    snprintf(name, sizeof name, "%s.downsample", prefix);
    shortcut = conv_bn(g, name, x, out, 1, stride, 1, CLNN_ACT_IDENTITY);
  }
  return graph_act(g, graph_add(g, h, shortcut), CLNN_ACT_RELU);
}

static int resnet18(graph *g, int x, int64_t classes, bool dcn) {
  g_conv_spec stem = {64, 7, 2, 3, 1, 1, false};
  int h = graph_bn(g, "bn1", graph_conv_ex(g, "conv1", x, &stem), CLNN_ACT_RELU);
  h = graph_maxpool(g, h, 3, 2, 1);
  for (int stage = 1; stage <= 4; stage++)
    for (int b = 0; b < 2; b++) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "layer%d.%d", stage, b);
      h = basic_block(g, prefix, h, (int64_t)64 << (stage - 1), stage > 1 && b == 0 ? 2 : 1, dcn && stage >= 3);
    }
  return graph_linear(g, "fc", graph_gap(g, h), classes);
}

/* ----------------------------------------------------------- MobileNetV2 */

/* torchvision's InvertedResidual: [1x1 expand] -> 3x3 depthwise -> 1x1 project, + x when shapes allow. */
static int inverted_residual(graph *g, int feature, int x, int64_t out, int64_t stride, int64_t expand) {
  if (x < 0) return -1;
  const int64_t in = g->nodes[x].dims[1], hidden = in * expand;
  char name[80]; /* conv_bn appends two characters to fit graph_param's 96 */
  int h = x, j = 0;
  if (expand != 1) {
    snprintf(name, sizeof name, "features.%d.conv.%d", feature, j++);
    h = conv_bn(g, name, h, hidden, 1, 1, 1, CLNN_ACT_RELU6);
  }
  snprintf(name, sizeof name, "features.%d.conv.%d", feature, j++);
  h = conv_bn(g, name, h, hidden, 3, stride, hidden, CLNN_ACT_RELU6);
  g_conv_spec project = {out, 1, 1, 0, 1, 1, false};
  snprintf(name, sizeof name, "features.%d.conv.%d", feature, j++);
  h = graph_conv_ex(g, name, h, &project);
  snprintf(name, sizeof name, "features.%d.conv.%d", feature, j);
  h = graph_bn(g, name, h, CLNN_ACT_IDENTITY);
  return stride == 1 && in == out ? graph_add(g, x, h) : h;
}

static int mobilenet_v2(graph *g, int x, int64_t classes) {
  /* expansion t, channels c, repeats n, stride s (Sandler et al. 2018, table 2) */
  static const int settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                     {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int h = conv_bn(g, "features.0", x, 32, 3, 2, 1, CLNN_ACT_RELU6);
  int feature = 1;
  for (int s = 0; s < 7; s++)
    for (int i = 0; i < settings[s][2]; i++)
      h = inverted_residual(g, feature++, h, settings[s][1], i == 0 ? settings[s][3] : 1, settings[s][0]);
  h = conv_bn(g, "features.18", h, 1280, 1, 1, 1, CLNN_ACT_RELU6);
  h = graph_dropout(g, graph_gap(g, h), 0.2, false);
  return graph_linear(g, "classifier.1", h, classes);
}

/* -------------------------------------------------------- EfficientNet-B0 */

/* torchvision's SqueezeExcitation: x * sigmoid(fc2(silu(fc1(avgpool(x))))), fc1 and fc2 1x1 convs with bias. */
static int squeeze_excitation(graph *g, const char *prefix, int x, int64_t squeeze) {
  if (x < 0) return -1;
  const int64_t c = g->nodes[x].dims[1];
  char name[96];
  g_conv_spec fc1 = {squeeze, 1, 1, 0, 1, 1, true}, fc2 = {c, 1, 1, 0, 1, 1, true};
  snprintf(name, sizeof name, "%s.fc1", prefix);
  int s = graph_act(g, graph_conv_ex(g, name, graph_gap(g, x), &fc1), CLNN_ACT_SILU);
  snprintf(name, sizeof name, "%s.fc2", prefix);
  s = graph_act(g, graph_conv_ex(g, name, s, &fc2), CLNN_ACT_SIGMOID);
  return graph_mul(g, x, s);
}

/* torchvision's MBConv: [1x1 expand] -> kxk depthwise -> SE -> 1x1 project,
 * + stochastic_depth(.) + x when shapes allow. */
static int mbconv(graph *g, const char *prefix, int x, int64_t out, int64_t kernel, int64_t stride, int64_t expand,
                  double sd_prob) {
  if (x < 0) return -1;
  const int64_t in = g->nodes[x].dims[1], hidden = in * expand;
  char name[80]; /* conv_bn appends two characters to fit graph_param's 96 */
  int h = x, j = 0;
  if (hidden != in) {
    snprintf(name, sizeof name, "%s.block.%d", prefix, j++);
    h = conv_bn(g, name, h, hidden, 1, 1, 1, CLNN_ACT_SILU);
  }
  snprintf(name, sizeof name, "%s.block.%d", prefix, j++);
  h = conv_bn(g, name, h, hidden, kernel, stride, hidden, CLNN_ACT_SILU);
  snprintf(name, sizeof name, "%s.block.%d", prefix, j++);
  h = squeeze_excitation(g, name, h, in / 4 > 1 ? in / 4 : 1);
  snprintf(name, sizeof name, "%s.block.%d", prefix, j);
  h = conv_bn(g, name, h, out, 1, 1, 1, CLNN_ACT_IDENTITY);
  if (stride != 1 || in != out) return h;
  return graph_add(g, graph_dropout(g, h, sd_prob, true), x);
}

static int efficientnet_b0(graph *g, int x, int64_t classes) {
  /* expansion, kernel, stride, output channels, repeats (Tan & Le 2019, table 1) */
  static const int stages[7][5] = {{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2},  {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3},
                                   {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}};
  int total_blocks = 0;
  for (int s = 0; s < 7; s++) total_blocks += stages[s][4];
  int h = conv_bn(g, "features.0", x, 32, 3, 2, 1, CLNN_ACT_SILU);
  int block = 0;
  for (int s = 0; s < 7; s++)
    for (int i = 0; i < stages[s][4]; i++, block++) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "features.%d.%d", s + 1, i);
      const double sd_prob = 0.2 * block / total_blocks; /* stochastic depth grows linearly with depth */
      h = mbconv(g, prefix, h, stages[s][3], stages[s][1], i == 0 ? stages[s][2] : 1, stages[s][0], sd_prob);
    }
  h = conv_bn(g, "features.8", h, 1280, 1, 1, 1, CLNN_ACT_SILU);
  h = graph_dropout(g, graph_gap(g, h), 0.2, false);
  return graph_linear(g, "classifier.1", h, classes);
}

bool net_build(net *m, graph *g, net_kind kind, int64_t batch, int64_t size, int64_t classes) {
  memset(m, 0, sizeof *m);
  m->kind = kind;
  m->classes = classes;
  int64_t dims[4] = {batch, 3, size, size};
  m->input = graph_node(g, 4, dims, false);
  switch (kind) {
    case NET_RESNET18:
    case NET_RESNET18_DCN:
      m->logits = resnet18(g, m->input, classes, kind == NET_RESNET18_DCN);
      break;
    case NET_MOBILENET_V2:
      m->logits = mobilenet_v2(g, m->input, classes);
      break;
    case NET_EFFICIENTNET_B0:
      m->logits = efficientnet_b0(g, m->input, classes);
      break;
    default:
      return false;
  }
  return m->input >= 0 && m->logits >= 0;
}

/* ---------------------------------------------------------- initialisation */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double rng_uniform(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double rng_normal(rng *r) { /* Box-Muller */
  double u1 = rng_uniform(r), u2 = rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* Is p a batch norm's gamma or beta? */
static bool is_bn_param(const graph *g, const g_param *p) {
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_BN && (g->ops[i].w == p || g->ops[i].b == p)) return true;
  return false;
}

/* The in_features of the linear layer that owns p (0: none). */
static int64_t linear_fan_in(const graph *g, const g_param *p) {
  for (int i = 0; i < g->n_ops; i++)
    if (g->ops[i].kind == G_LINEAR && (g->ops[i].w == p || g->ops[i].b == p)) return g->ops[i].linear.in_features;
  return 0;
}

/*
 * One parameter's values, as torchvision's constructors set them:
 * - conv weights: kaiming_normal_(mode="fan_out", nonlinearity="relu"), std sqrt(2 / (k * kh * kw));
 * - conv biases and the DCN offset/mask convs: 0; batch norm: gamma 1, beta 0;
 * - the classifier: ResNet keeps nn.Linear's default, U(+-1/sqrt(fan_in)) for
 *   weight and bias; MobileNetV2 N(0, 0.01) and bias 0; EfficientNet
 *   U(+-1/sqrt(out_features)) and bias 0.
 */
static void init_values(const net *m, const graph *g, const g_param *p, rng *r, float *v) {
  const bool offset_conv = strstr(p->name, ".offset.") || strstr(p->name, ".mask.");
  for (size_t i = 0; i < p->numel; i++) v[i] = 0.0f;
  if (offset_conv) return;
  if (p->ndim == 4) {
    const double std = sqrt(2.0 / (double)(p->dims[0] * p->dims[2] * p->dims[3]));
    for (size_t i = 0; i < p->numel; i++) v[i] = (float)(std * rng_normal(r));
    return;
  }
  if (is_bn_param(g, p)) {
    if (ends_with(p->name, ".weight"))
      for (size_t i = 0; i < p->numel; i++) v[i] = 1.0f;
    return;
  }
  const bool linear_weight = p->ndim == 2, linear_bias = p->ndim == 1 && !strncmp(p->name, "fc.", 3);
  if (m->kind == NET_RESNET18 || m->kind == NET_RESNET18_DCN) {
    if (!linear_weight && !linear_bias) return;
    const double bound = 1.0 / sqrt((double)linear_fan_in(g, p));
    for (size_t i = 0; i < p->numel; i++) v[i] = (float)(bound * (2.0 * rng_uniform(r) - 1.0));
  } else if (linear_weight && m->kind == NET_MOBILENET_V2) {
    for (size_t i = 0; i < p->numel; i++) v[i] = (float)(0.01 * rng_normal(r));
  } else if (linear_weight) {
    const double bound = 1.0 / sqrt((double)p->dims[0]);
    for (size_t i = 0; i < p->numel; i++) v[i] = (float)(bound * (2.0 * rng_uniform(r) - 1.0));
  }
}

clnn_status net_init_params(const net *m, graph *g, uint64_t seed) {
  rng r = {seed * 0x2545f4914f6cdd1dull + 1};
  clnn_status st = CLNN_SUCCESS;
  for (int i = 0; st == CLNN_SUCCESS && i < g->n_params; i++) {
    const g_param *p = &g->params[i];
    float *v = malloc(p->numel * sizeof *v);
    if (!v) return CLNN_ERR_HOST_OUT_OF_MEMORY;
    init_values(m, g, p, &r, v);
    st = clnn_tensor_write(p->w, v, p->numel * sizeof *v);
    free(v);
  }
  graph_params_changed(g);
  return st;
}
