/*
 * model.c - see model.h. The stage table follows EfficientNet-B0 with the
 * first stride-2 layers removed (28 x 28 inputs instead of 224 x 224).
 */
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const stage_spec stages[] = {
    /* expand kernel stride channels repeats */
    {1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2}, {6, 3, 2, 80, 2}, {6, 5, 1, 112, 1},
};
#define N_STAGES (int)(sizeof stages / sizeof stages[0])
#define STEM_CHANNELS 32
#define HEAD_CHANNELS 256
#define SE_RATIO 0.25

/* EfficientNet's width rounding: to a multiple of 8, never down by more than 10%. */
static int64_t round_filters(int64_t c, double width) {
  double scaled = (double)c * width;
  int64_t r = (int64_t)(scaled + 4) / 8 * 8;
  if (r < 8) r = 8;
  if ((double)r < 0.9 * scaled) r += 8;
  return r;
}

static int round_repeats(int r, double depth) { return (int)ceil(r * depth); }

int model_image_size(const model_config *cfg) {
  return (int)lround(cfg->base_size * pow(1.15, cfg->phi));
}

/* ------------------------------------------------------------- builder */

typedef struct builder {
  model *m;
  graph *g;
  clnn_rf_layer rf[256];
  int n_rf;
} builder;

static void note_layer(builder *b, const char *name, int node, size_t params, double flops) {
  model *m = b->m;
  if (m->n_layers >= (int)(sizeof m->layers / sizeof m->layers[0]) || node < 0) return;
  layer_info *l = &m->layers[m->n_layers++];
  snprintf(l->name, sizeof l->name, "%s", name);
  const int64_t *d = b->g->nodes[node].dims;
  snprintf(l->shape, sizeof l->shape, "%lld x %lld x %lld", (long long)d[1], (long long)d[2], (long long)d[3]);
  l->params = params;
  l->flops = flops;
}

/* conv (no bias) + batch norm + activation; records the layer and its field. */
static int conv_bn(builder *b, const char *name, int in, int64_t k, int64_t kernel, int64_t stride,
                   int64_t groups, clnn_activation act) {
  char n1[64], n2[64];
  snprintf(n1, sizeof n1, "%s.conv", name);
  snprintf(n2, sizeof n2, "%s.bn", name);
  int64_t cin = b->g->nodes[in].dims[1];
  int c = graph_conv(b->g, n1, in, k, kernel, stride, groups);
  int y = graph_bn(b->g, n2, c, act);
  if (y < 0) return -1;
  const int64_t *d = b->g->nodes[y].dims;
  size_t params = (size_t)(k * (cin / groups) * kernel * kernel) + 2 * (size_t)k;
  double flops = 2.0 * (double)k * (double)(cin / groups) * (double)(kernel * kernel) * (double)(d[2] * d[3]);
  note_layer(b, name, y, params, flops);
  if (b->n_rf < 256) b->rf[b->n_rf++] = (clnn_rf_layer){kernel, stride, kernel / 2, 1};
  return y;
}

/* Squeeze-and-excitation: x * sigmoid(W2 silu(W1 mean_hw(x) + b1) + b2). */
static int squeeze_excite(builder *b, const char *name, int x, int64_t reduced) {
  char n1[64], n2[64];
  snprintf(n1, sizeof n1, "%s.fc1", name);
  snprintf(n2, sizeof n2, "%s.fc2", name);
  int64_t c = b->g->nodes[x].dims[1];
  int p = graph_gap(b->g, x);
  int z1 = graph_linear(b->g, n1, p, reduced);
  int a1 = graph_act(b->g, z1, CLNN_ACT_SILU);
  int z2 = graph_linear(b->g, n2, a1, c);
  int s = graph_act(b->g, z2, CLNN_ACT_SIGMOID);
  int y = graph_mul(b->g, x, s);
  note_layer(b, name, y, (size_t)(2 * c * reduced + c + reduced), 4.0 * (double)(c * reduced));
  return y;
}

/* MBConv: [1x1 expand + BN + SiLU] -> depthwise + BN + SiLU -> SE -> 1x1 project + BN (+ x). */
static int mbconv(builder *b, int index, int x, int expand, int64_t kernel, int64_t stride, int64_t cout) {
  char name[48];
  int64_t cin = b->g->nodes[x].dims[1], mid = cin * expand;
  int h = x;
  if (expand != 1) {
    snprintf(name, sizeof name, "blocks.%d.expand", index);
    h = conv_bn(b, name, h, mid, 1, 1, 1, CLNN_ACT_SILU);
  }
  snprintf(name, sizeof name, "blocks.%d.dw", index);
  h = conv_bn(b, name, h, mid, kernel, stride, mid, CLNN_ACT_SILU);
  snprintf(name, sizeof name, "blocks.%d.se", index);
  int64_t reduced = (int64_t)fmax(1.0, (double)cin * SE_RATIO);
  h = squeeze_excite(b, name, h, reduced);
  snprintf(name, sizeof name, "blocks.%d.proj", index);
  h = conv_bn(b, name, h, cout, 1, 1, 1, CLNN_ACT_IDENTITY);
  if (stride == 1 && cin == cout) h = graph_add(b->g, h, x);
  return h;
}

bool model_build(model *m, graph *g, const model_config *cfg, int64_t batch) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->image_size = model_image_size(cfg);
  builder b = {m, g, {{0}}, 0};
  double width = pow(1.1, cfg->phi), depth = pow(1.2, cfg->phi);
  int64_t in_dims[4] = {batch, cfg->in_channels, m->image_size, m->image_size};
  m->input = graph_node(g, 4, in_dims, false);
  int h = conv_bn(&b, "stem", m->input, round_filters(STEM_CHANNELS, width), 3, 1, 1, CLNN_ACT_SILU);
  int index = 0;
  for (int s = 0; s < N_STAGES; s++) {
    const stage_spec *st = &stages[s];
    int reps = round_repeats(st->repeats, depth);
    for (int r = 0; r < reps; r++)
      h = mbconv(&b, index++, h, st->expand, st->kernel, r == 0 ? st->stride : 1, round_filters(st->channels, width));
  }
  h = conv_bn(&b, "head", h, round_filters(HEAD_CHANNELS, width), 1, 1, 1, CLNN_ACT_SILU);
  clnn_rf_info rf;
  if (clnn_receptive_field(b.rf, b.n_rf, NULL, &rf) == CLNN_SUCCESS) {
    m->rf_size = (double)rf.size;
    m->rf_jump = (double)rf.jump;
    m->rf_start = rf.start;
  }
  int p = graph_gap(g, h);
  m->logits = graph_linear(g, "fc", p, cfg->classes);
  int64_t c = g->nodes[p].dims[1];
  note_layer(&b, "fc", m->logits, (size_t)(c * cfg->classes + cfg->classes), 2.0 * (double)(c * cfg->classes));
  return m->logits >= 0;
}

/* ---------------------------------------------------------------- init */

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) * 0x1.0p-53; }

static double normal(uint64_t *s) {
  return sqrt(-2.0 * log(uniform01(s))) * cos(6.283185307179586 * uniform01(s));
}

/* Whether a parameter name ends with suffix. */
static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

clnn_status model_init_params(graph *g, uint64_t seed) {
  uint64_t rng = seed * 0x2545F4914F6CDD1DULL + 7;
  for (int i = 0; i < g->n_params; i++) {
    g_param *p = &g->params[i];
    float *v = malloc(p->numel * sizeof *v);
    if (!v) return CLNN_ERR_HOST_OUT_OF_MEMORY;
    bool bn = strstr(p->name, ".bn.") != NULL;
    if (bn) {
      for (size_t k = 0; k < p->numel; k++) v[k] = ends_with(p->name, ".weight") ? 1.0f : 0.0f;
    } else if (p->ndim == 4) {
      /* He normal over fan-out, as torchvision's EfficientNet does */
      double fan_out = (double)(p->dims[0] * p->dims[2] * p->dims[3]);
      double sd = sqrt(2.0 / fan_out);
      for (size_t k = 0; k < p->numel; k++) v[k] = (float)(sd * normal(&rng));
    } else {
      /* linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch */
      double fan_in = p->ndim == 2 ? (double)p->dims[1] : 0.0;
      if (p->ndim == 1) {
        const g_param *w = i > 0 ? &g->params[i - 1] : NULL; /* the bias follows its weight */
        fan_in = w && w->ndim == 2 ? (double)w->dims[1] : 1.0;
      }
      double bound = 1.0 / sqrt(fan_in);
      for (size_t k = 0; k < p->numel; k++) v[k] = (float)(bound * (2.0 * uniform01(&rng) - 1.0));
    }
    clnn_status st = clnn_tensor_write(p->w, v, p->numel * sizeof *v);
    free(v);
    if (st != CLNN_SUCCESS) return st;
  }
  return CLNN_SUCCESS;
}

/* --------------------------------------------------------------- table */

void model_print(const model *m, const graph *g, FILE *f) {
  fprintf(f, "EfficientNet-style network, phi %.2f: input %d x %d x %d, %d classes\n", m->cfg.phi,
          m->cfg.in_channels, m->image_size, m->image_size, m->cfg.classes);
  fprintf(f, "%-22s %-16s %10s %12s\n", "layer", "output CxHxW", "params", "MFLOP/img");
  double flops = 0;
  for (int i = 0; i < m->n_layers; i++) {
    const layer_info *l = &m->layers[i];
    fprintf(f, "%-22s %-16s %10zu %12.3f\n", l->name, l->shape, l->params, l->flops * 1e-6);
    flops += l->flops;
  }
  fprintf(f, "total: %zu parameters, %.2f MFLOP per image (forward; conv and linear)\n", graph_param_count(g),
          flops * 1e-6);
  fprintf(f, "receptive field of the last feature map: %.0f pixels, jump %.0f, first centre at %.1f\n",
          m->rf_size, m->rf_jump, m->rf_start);
}
