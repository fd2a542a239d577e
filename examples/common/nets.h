/*
 * nets.h - torchvision's ImageNet networks built into a graph (graph.h):
 * the same layers in the same order, and the same state-dict names, so a
 * torchvision state_dict exported to safetensors loads as it is.
 *
 *   resnet18         torchvision.models.resnet18
 *   mobilenet_v2     torchvision.models.mobilenet_v2
 *   efficientnet_b0  torchvision.models.efficientnet_b0
 *   resnet18_dcn     resnet18 whose layer3 and layer4 3x3 convs are modulated
 *                    deformable convs (DCNv2): each conv X gets X.offset (a 3x3
 *                    conv to 2*9 channels, bias) and X.mask (3x3 conv to 9
 *                    channels, bias, then a sigmoid), both initialised to
 *                    zero as in the DCNv2 paper; X.weight stays the main kernel.
 */
#ifndef CLNN_COMMON_NETS_H
#define CLNN_COMMON_NETS_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

typedef enum net_kind { NET_RESNET18, NET_MOBILENET_V2, NET_EFFICIENTNET_B0, NET_RESNET18_DCN, NET_COUNT_ } net_kind;

typedef struct net {
  net_kind kind;
  int input;  /* node of the images (n, 3, size, size) */
  int logits; /* node of the logits (n, classes, 1, 1) */
  int64_t classes;
} net;

/* The kind called name ("resnet18", ...), or NET_COUNT_. */
net_kind net_kind_of(const char *name);
const char *net_name(net_kind kind);

/* Build the network for (batch, 3, size, size) images into g (not
 * finalized). False when size is too small for the network's strides or
 * the graph's tables are full. */
bool net_build(net *m, graph *g, net_kind kind, int64_t batch, int64_t size, int64_t classes);

/* Parameters initialised as torchvision initialises them (the same
 * distributions, drawn from this library's generator with seed). */
clnn_status net_init_params(const net *m, graph *g, uint64_t seed);

#endif
