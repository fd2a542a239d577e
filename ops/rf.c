/*
 * rf.c - receptive field arithmetic of a stack of convolution / pooling
 * layers (pure host computation; no device work). The recurrence, from the
 * input (r = 1, j = 1, centre 0) layer by layer:
 *   k_eff = dilation (kernel - 1) + 1
 *   r_out = r_in + (k_eff - 1) j_in          size of the field
 *   j_out = j_in stride                      distance between neighbouring outputs
 *   c_out = c_in + ((k_eff - 1) / 2 - padding) j_in   centre of the first output's field
 */
#include "../runtime/internal.h"

/* Layer fields beyond these are not meaningful and would overflow the products. */
#define RF_FIELD_MAX ((int64_t)1 << 30)
#define RF_RESULT_MAX ((int64_t)1 << 62)

static clnn_status check_layer(const clnn_rf_layer *l, int i) {
  struct {
    const char *name;
    int64_t v, lo;
  } f[4] = {{"kernel", l->kernel, 1}, {"stride", l->stride, 1}, {"padding", l->padding, 0},
            {"dilation", l->dilation, 1}};
  for (int k = 0; k < 4; k++)
    if (f[k].v < f[k].lo || f[k].v > RF_FIELD_MAX)
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "layers[%d].%s = %lld is outside [%lld, 2^30]", i,
                        f[k].name, (long long)f[k].v, (long long)f[k].lo);
  return CLNN_SUCCESS;
}

/* The field after layer l (index i) from the field cur before it. */
static clnn_status rf_step(const clnn_rf_info *cur, const clnn_rf_layer *l, int i, clnn_rf_info *next) {
  const int64_t k_eff = l->dilation * (l->kernel - 1) + 1; /* <= 2^60 */
  int64_t grow, jump;
  if (!clnn__mul_ok(k_eff - 1, cur->jump, &grow) || grow > RF_RESULT_MAX - cur->size ||
      !clnn__mul_ok(cur->jump, l->stride, &jump) || jump > RF_RESULT_MAX)
    return clnn__fail(NULL, CLNN_ERR_SIZE_OVERFLOW, "the receptive field after layer %d passes 2^62", i);
  const clnn_rf_info out = {cur->size + grow, jump,
                           cur->start + ((double)(k_eff - 1) / 2.0 - (double)l->padding) * (double)cur->jump};
  *next = out; /* next may be cur */
  return CLNN_SUCCESS;
}

clnn_status clnn_receptive_field(const clnn_rf_layer *layers, int count, clnn_rf_info *per_layer,
                                 clnn_rf_info *out) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, layers);
  CLNN_CHECK_NULL(NULL, out);
  if (count < 1) return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "count = %d must be at least 1", count);
  for (int i = 0; i < count; i++) CLNN_TRY(check_layer(&layers[i], i));
  /* first walk: only check, so that a failure writes nothing */
  clnn_rf_info cur = {1, 1, 0.0};
  for (int i = 0; i < count; i++) CLNN_TRY(rf_step(&cur, &layers[i], i, &cur));
  *out = cur;
  if (per_layer) {
    cur = (clnn_rf_info){1, 1, 0.0};
    for (int i = 0; i < count; i++) {
      rf_step(&cur, &layers[i], i, &cur);
      per_layer[i] = cur;
    }
  }
  return CLNN_SUCCESS;
}
