/* quickstart.c: a 3x3 convolution with a fused ReLU on the default device,
 * checked against the library's host reference. Exits 77 without a device. */
#include <clnn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 2
#define C 16
#define H 28
#define W 28
#define K 32 /* output channels */

static float host_x[N * C * H * W], host_w[K * C * 3 * 3], host_y[N * K * H * W], ref_y[N * K * H * W];

int main(void) {
  for (size_t i = 0; i < sizeof host_x / sizeof *host_x; i++) host_x[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < sizeof host_w / sizeof *host_w; i++) host_w[i] = (float)rand() / RAND_MAX - 0.5f;

  clnn_context *ctx;
  clnn_status st = clnn_context_create(NULL, &ctx); /* first GPU, else first device */
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "%s\n", clnn_context_errmsg(NULL));
    return st == CLNN_ERR_NO_DEVICE ? 77 : 1;
  }
  clnn_conv2d_desc d = clnn_conv2d_desc_make(N, C, H, W, K, 3, 3); /* n c h w k kh kw */
  d.pad_h = d.pad_w = 1;
  d.act = CLNN_ACT_RELU; /* fused epilogue */
  int64_t xd[4] = {N, C, H, W}, wd[4] = {K, C, 3, 3}, yd[4] = {N, K, H, W};
  clnn_tensor *x = NULL, *w = NULL, *y = NULL;
  if ((st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x)) ||
      (st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w)) ||
      (st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &y)) ||
      (st = clnn_tensor_write(x, host_x, clnn_tensor_bytes(x))) ||
      (st = clnn_tensor_write(w, host_w, clnn_tensor_bytes(w))) ||
      (st = clnn_conv2d_fwd(ctx, &d, x, w, NULL, y)) || /* enqueued, not waited for */
      (st = clnn_tensor_read(y, host_y, clnn_tensor_bytes(y))))  /* waits for y */
    fprintf(stderr, "%s: %s\n", clnn_status_str(st), clnn_context_errmsg(ctx));
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(y);
  clnn_context_free(ctx);
  if (st != CLNN_SUCCESS) return 1;

  /* The same convolution on the CPU (double accumulation), then the largest difference. */
  if (clnn_ref_conv2d_fwd(&d, host_x, host_w, NULL, ref_y) != CLNN_SUCCESS) {
    fprintf(stderr, "%s\n", clnn_context_errmsg(NULL));
    return 1;
  }
  double max_err = 0;
  for (size_t i = 0; i < sizeof ref_y / sizeof *ref_y; i++) max_err = fmax(max_err, fabs(host_y[i] - ref_y[i]));
  int ok = max_err < 1e-4; /* a sum of 144 products of terms under 0.5 */
  printf("conv %dx%dx%dx%d -> %d channels: max abs error %.2g vs the host reference: %s\n", N, C, H, W, K,
         max_err, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
