/*
 * main.c - a program outside the libclnn tree, built against an installed
 * libclnn (pkg-config and find_package) to prove the package is usable.
 * Runs a 1x1 convolution and checks it; exits 77 without an OpenCL device.
 */
#include <clnn.h>
#include <stdio.h>

int main(void) {
  printf("libclnn %s\n", clnn_version());
  clnn_context *ctx;
  clnn_status st = clnn_context_create(NULL, &ctx);
  if (st == CLNN_ERR_NO_DEVICE) return 77;
  if (st != CLNN_SUCCESS) {
    fprintf(stderr, "%s: %s\n", clnn_status_str(st), clnn_context_errmsg(NULL));
    return 1;
  }
  /* y = 2 * x through a 1x1 convolution with one channel. */
  clnn_conv2d_desc d = clnn_conv2d_desc_make(1, 1, 2, 3, 1, 1, 1);
  int64_t xd[4] = {1, 1, 2, 3}, wd[4] = {1, 1, 1, 1};
  float x[6] = {1, 2, 3, 4, 5, 6}, w[1] = {2}, y[6];
  clnn_tensor *tx = NULL, *tw = NULL, *ty = NULL;
  if ((st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &tx)) ||
      (st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &tw)) ||
      (st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &ty)) || (st = clnn_tensor_write(tx, x, sizeof x)) ||
      (st = clnn_tensor_write(tw, w, sizeof w)) || (st = clnn_conv2d_fwd(ctx, &d, tx, tw, NULL, ty)) ||
      (st = clnn_tensor_read(ty, y, sizeof y))) {
    fprintf(stderr, "%s: %s\n", clnn_status_str(st), clnn_context_errmsg(ctx));
    return 1;
  }
  int bad = 0;
  for (int i = 0; i < 6; i++) bad |= y[i] != 2 * x[i];
  clnn_tensor_free(tx);
  clnn_tensor_free(tw);
  clnn_tensor_free(ty);
  clnn_context_free(ctx);
  printf("%s\n", bad ? "wrong result" : "ok");
  return bad;
}
