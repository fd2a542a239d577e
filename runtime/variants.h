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
  /* batch norm and pooling (ops/norm.c, ops/pool.c) */ \
  CLNN_VARIANT_TABLE(clnn__bnorm_fwd_train_variants)  \
  CLNN_VARIANT_TABLE(clnn__bnorm_fwd_infer_variants)  \
  CLNN_VARIANT_TABLE(clnn__bnorm_bwd_variants)        \
  CLNN_VARIANT_TABLE(clnn__pool_fwd_variants)         \
  CLNN_VARIANT_TABLE(clnn__pool_bwd_variants)

#define CLNN_VARIANT_TABLE(sym) extern const clnn_variant_table sym;
CLNN_ALL_VARIANT_TABLES
#undef CLNN_VARIANT_TABLE

#endif /* CLNN_VARIANTS_H */
