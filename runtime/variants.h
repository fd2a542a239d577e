/*
 * variants.h - every op family's variant tables, for runtime/variant.c's
 * registry (clnn-info --variants, CLNN_VARIANT checks). A family defines
 * its tables in ops/<family>.c and adds them here.
 */
#ifndef CLNN_VARIANTS_H
#define CLNN_VARIANTS_H

#include "internal.h"

#define CLNN_ALL_VARIANT_TABLES                      \
  CLNN_VARIANT_TABLE(clnn__conv_fwd_variants)        \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_data_variants)   \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_weights_variants) \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_bias_variants)    \
  CLNN_VARIANT_TABLE(clnn__act_fwd_variants)          \
  CLNN_VARIANT_TABLE(clnn__act_bwd_variants)          \
  /* eltwise, loss and resample (ops/eltwise.c, ops/loss.c, ops/resample.c) */ \
  CLNN_VARIANT_TABLE(clnn__eltwise_add_fwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__eltwise_add_bwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__eltwise_scale_fwd_variants) \
  CLNN_VARIANT_TABLE(clnn__eltwise_scale_bwd_variants) \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_fwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_bwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_add_fwd_variants) \
  CLNN_VARIANT_TABLE(clnn__loss_class_fwd_variants)    \
  CLNN_VARIANT_TABLE(clnn__loss_class_bwd_variants)    \
  CLNN_VARIANT_TABLE(clnn__loss_infonce_fwd_variants)  \
  CLNN_VARIANT_TABLE(clnn__loss_infonce_bwd_variants)  \
  CLNN_VARIANT_TABLE(clnn__resample_shuffle_fwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__resample_shuffle_bwd_variants)   \
  CLNN_VARIANT_TABLE(clnn__resample_unshuffle_fwd_variants) \
  CLNN_VARIANT_TABLE(clnn__resample_unshuffle_bwd_variants) \
  CLNN_VARIANT_TABLE(clnn__resample_resize_fwd_variants)    \
  CLNN_VARIANT_TABLE(clnn__resample_resize_bwd_variants)

#define CLNN_VARIANT_TABLE(sym) extern const clnn_variant_table sym;
CLNN_ALL_VARIANT_TABLES
#undef CLNN_VARIANT_TABLE

#endif /* CLNN_VARIANTS_H */
