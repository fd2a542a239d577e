/*
 * variants.h - every op family's variant tables, for runtime/variant.c's
 * registry (clnn-info --variants, CLNN_VARIANT checks). A family defines
 * its tables in ops/<family>.c and adds them here, one line a table.
 */
#ifndef CLNN_VARIANTS_H
#define CLNN_VARIANTS_H

#include "internal.h"

#define CLNN_ALL_VARIANT_TABLES                                \
  CLNN_VARIANT_TABLE(clnn__gemm_variants)                      \
  CLNN_VARIANT_TABLE(clnn__conv_fwd_variants)                  \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_data_variants)             \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_weights_variants)          \
  CLNN_VARIANT_TABLE(clnn__conv_bwd_bias_variants)             \
  CLNN_VARIANT_TABLE(clnn__deconv_fwd_variants)                \
  CLNN_VARIANT_TABLE(clnn__deconv_bwd_variants)                \
  CLNN_VARIANT_TABLE(clnn__deform_conv_fwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__deform_conv_bwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__deform_conv_bwd_bias_variants)      \
  CLNN_VARIANT_TABLE(clnn__linear_fwd_variants)                \
  CLNN_VARIANT_TABLE(clnn__linear_bwd_data_variants)           \
  CLNN_VARIANT_TABLE(clnn__linear_bwd_weights_variants)        \
  CLNN_VARIANT_TABLE(clnn__act_fwd_variants)                   \
  CLNN_VARIANT_TABLE(clnn__act_bwd_variants)                   \
  CLNN_VARIANT_TABLE(clnn__bnorm_fwd_train_variants)           \
  CLNN_VARIANT_TABLE(clnn__bnorm_fwd_infer_variants)           \
  CLNN_VARIANT_TABLE(clnn__bnorm_bwd_variants)                 \
  CLNN_VARIANT_TABLE(clnn__pool_fwd_variants)                  \
  CLNN_VARIANT_TABLE(clnn__pool_bwd_variants)                  \
  CLNN_VARIANT_TABLE(clnn__optim_adam_variants)                \
  CLNN_VARIANT_TABLE(clnn__optim_sgd_variants)                 \
  CLNN_VARIANT_TABLE(clnn__optim_ema_variants)                 \
  CLNN_VARIANT_TABLE(clnn__optim_clip_variants)                \
  CLNN_VARIANT_TABLE(clnn__roi_fwd_variants)                   \
  CLNN_VARIANT_TABLE(clnn__roi_bwd_variants)                   \
  CLNN_VARIANT_TABLE(clnn__eltwise_add_fwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__eltwise_add_bwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__eltwise_scale_fwd_variants)         \
  CLNN_VARIANT_TABLE(clnn__eltwise_scale_bwd_variants)         \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_fwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_bwd_variants)           \
  CLNN_VARIANT_TABLE(clnn__eltwise_mul_add_fwd_variants)       \
  CLNN_VARIANT_TABLE(clnn__loss_class_fwd_variants)            \
  CLNN_VARIANT_TABLE(clnn__loss_class_bwd_variants)            \
  CLNN_VARIANT_TABLE(clnn__loss_infonce_fwd_variants)          \
  CLNN_VARIANT_TABLE(clnn__loss_infonce_bwd_variants)          \
  CLNN_VARIANT_TABLE(clnn__resample_shuffle_fwd_variants)      \
  CLNN_VARIANT_TABLE(clnn__resample_shuffle_bwd_variants)      \
  CLNN_VARIANT_TABLE(clnn__resample_unshuffle_fwd_variants)    \
  CLNN_VARIANT_TABLE(clnn__resample_unshuffle_bwd_variants)    \
  CLNN_VARIANT_TABLE(clnn__resample_resize_fwd_variants)       \
  CLNN_VARIANT_TABLE(clnn__resample_resize_bwd_variants)

#define CLNN_VARIANT_TABLE(sym) extern const clnn_variant_table sym;
CLNN_ALL_VARIANT_TABLES
#undef CLNN_VARIANT_TABLE

#endif /* CLNN_VARIANTS_H */
