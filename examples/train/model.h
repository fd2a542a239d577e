/*
 * model.h - an EfficientNet-style network (MBConv blocks with expansion,
 * depthwise convolution, squeeze-and-excitation and residuals) built from a
 * small table of stages and scaled by EfficientNet's compound rule.
 */
#ifndef CLNN_TRAIN_MODEL_H
#define CLNN_TRAIN_MODEL_H

#include <stdio.h>

#include "graph.h"

/* One stage of MBConv blocks (EfficientNet-B0's table, Tan & Le 2019). */
typedef struct stage_spec {
  int expand;   /* expansion ratio of the 1x1 conv (1: no expansion conv) */
  int kernel;   /* depthwise kernel, 3 or 5 */
  int stride;   /* of the first block */
  int channels; /* output channels before width scaling */
  int repeats;  /* blocks before depth scaling */
} stage_spec;

typedef struct model_config {
  double phi;      /* compound coefficient: depth 1.2^phi, width 1.1^phi, resolution 1.15^phi */
  int in_channels; /* 1 for Fashion-MNIST */
  int base_size;   /* 28: image side at phi = 0 */
  int classes;
} model_config;

/* What one layer of the printed table holds. */
typedef struct layer_info {
  char name[64];
  char shape[48]; /* output shape C x H x W */
  size_t params;
  double flops; /* per image, forward (multiply-adds x 2) */
} layer_info;

typedef struct model {
  model_config cfg;
  int image_size; /* after resolution scaling */
  int input;      /* graph node of the images */
  int logits;     /* graph node of the logits (n, classes, 1, 1) */
  layer_info layers[256];
  int n_layers;
  /* receptive field of the last feature map (before pooling) */
  double rf_size, rf_jump, rf_start;
} model;

/* Image side for a config: round(base_size * 1.15^phi). */
int model_image_size(const model_config *cfg);

/* Build the network for batch n into g (not finalized). */
bool model_build(model *m, graph *g, const model_config *cfg, int64_t batch);

/* Initialise the parameters (He-normal convs, PyTorch-default linears, BN 1/0). */
clnn_status model_init_params(graph *g, uint64_t seed);

/* Print the layer table, parameter count, FLOPs per image and receptive field. */
void model_print(const model *m, const graph *g, FILE *f);

#endif
