/*
 * test_rf.c - clnn_receptive_field against values computed by hand for
 * ResNet-18 (every stage) and VGG-16 (every pooling stage), dilation,
 * padding past the kernel's half width, bad arguments, and the
 * `clnn-info --rf` command line.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"

/* One expected row: after layer `after` (1-based), field size, jump, centre. */
typedef struct rf_expect {
  int after;
  int64_t size, jump;
  double start;
} rf_expect;

static int append(clnn_rf_layer *l, int n, int64_t k, int64_t s, int64_t p, int repeat) {
  while (repeat--) l[n++] = (clnn_rf_layer){k, s, p, 1};
  return n;
}

static void check_expectations(const char *net, const clnn_rf_layer *layers, int n, const rf_expect *e, int ne) {
  clnn_rf_info *info = calloc((size_t)n, sizeof *info), last;
  TU_OK(clnn_receptive_field(layers, n, info, &last));
  for (int i = 0; i < ne; i++) {
    const clnn_rf_info *got = &info[e[i].after - 1];
    ck_assert_msg(got->size == e[i].size && got->jump == e[i].jump && got->start == e[i].start,
                  "%s after layer %d: r %lld j %lld start %g, by hand r %lld j %lld start %g", net, e[i].after,
                  (long long)got->size, (long long)got->jump, got->start, (long long)e[i].size, (long long)e[i].jump,
                  e[i].start);
  }
  ck_assert(last.size == info[n - 1].size && last.jump == info[n - 1].jump && last.start == info[n - 1].start);
  free(info);
}

/*
 * ResNet-18's longest path (the 1x1 stride-2 shortcuts never widen it):
 * conv1 7x7/2 p3: r = 7, j = 2, start = 0 + (3 - 3) * 1 = 0
 * maxpool 3x3/2 p1: r = 7 + 2 * 2 = 11, j = 4, start = 0 + (1 - 1) * 2 = 0
 * layer1, 4 x 3x3 p1: r = 11 + 4 * (2 * 4) = 43
 * layer2 3x3/2 then 3 x 3x3: r = 43 + 2 * 4 = 51 (j = 8), then 51 + 3 * 16 = 99
 * layer3: 99 + 2 * 8 = 115 (j = 16), then 115 + 3 * 32 = 211
 * layer4: 211 + 2 * 16 = 243 (j = 32), then 243 + 3 * 64 = 435
 * Every padding is half the kernel, so every centre stays at pixel 0.
 */
START_TEST(test_resnet18) {
  clnn_rf_layer l[32];
  int n = 0;
  n = append(l, n, 7, 2, 3, 1);
  n = append(l, n, 3, 2, 1, 1);
  n = append(l, n, 3, 1, 1, 4);
  for (int stage = 0; stage < 3; stage++) {
    n = append(l, n, 3, 2, 1, 1);
    n = append(l, n, 3, 1, 1, 3);
  }
  const rf_expect e[] = {{1, 7, 2, 0.0},    {2, 11, 4, 0.0},   {6, 43, 4, 0.0},   {7, 51, 8, 0.0},
                         {10, 99, 8, 0.0},  {11, 115, 16, 0.0}, {14, 211, 16, 0.0}, {15, 243, 32, 0.0},
                         {18, 435, 32, 0.0}};
  ck_assert_int_eq(n, 18);
  check_expectations("ResNet-18", l, n, e, (int)(sizeof e / sizeof e[0]));
}
END_TEST

/*
 * VGG-16: 3x3 p1 convolutions keep the centre; each 2x2/2 pool (no padding)
 * moves it by (2 - 1) / 2 * j_in = j_in / 2 and adds j_in to r:
 * conv1_2: r 5 | pool1: 6, j 2, start 0.5 | conv2_2: 6 + 2 * 2 * 2 = 14 | pool2: 16, j 4, 1.5
 * conv3_3: 16 + 3 * 8 = 40 | pool3: 44, j 8, 3.5 | conv4_3: 44 + 3 * 16 = 92 | pool4: 100, j 16, 7.5
 * conv5_3: 100 + 3 * 32 = 196 | pool5: 212, j 32, 15.5
 */
START_TEST(test_vgg16) {
  clnn_rf_layer l[32];
  static const int convs[5] = {2, 2, 3, 3, 3};
  int n = 0;
  for (int b = 0; b < 5; b++) {
    n = append(l, n, 3, 1, 1, convs[b]);
    n = append(l, n, 2, 2, 0, 1);
  }
  const rf_expect e[] = {{2, 5, 1, 0.0},   {3, 6, 2, 0.5},    {5, 14, 2, 0.5},  {6, 16, 4, 1.5},
                         {9, 40, 4, 1.5},  {10, 44, 8, 3.5},  {13, 92, 8, 3.5}, {14, 100, 16, 7.5},
                         {17, 196, 16, 7.5}, {18, 212, 32, 15.5}};
  check_expectations("VGG-16", l, n, e, (int)(sizeof e / sizeof e[0]));
}
END_TEST

/* Dilation widens the kernel; padding beyond half the kernel moves the centre left. */
START_TEST(test_dilation_and_padding) {
  const clnn_rf_layer l[3] = {{3, 1, 2, 2}, {3, 1, 2, 2}, {3, 2, 2, 1}};
  /* k_eff 5: r 5, then 9; last: r 9 + 2 = 11, j 2, start (1 - 2) * 1 = -1 */
  const rf_expect e[] = {{1, 5, 1, 0.0}, {2, 9, 1, 0.0}, {3, 11, 2, -1.0}};
  check_expectations("dilated", l, 3, e, 3);
  clnn_rf_info out;
  TU_OK(clnn_receptive_field(l, 1, NULL, &out)); /* per_layer may be NULL */
  ck_assert(out.size == 5 && out.jump == 1);
}
END_TEST

START_TEST(test_bad_arguments) {
  clnn_rf_layer l[2] = {{3, 1, 1, 1}, {3, 1, 1, 1}};
  clnn_rf_info out = {-7, -7, -7.0}, per[2] = {{-7, -7, -7.0}, {-7, -7, -7.0}};
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_receptive_field(NULL, 2, NULL, &out));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_receptive_field(l, 2, NULL, NULL));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_receptive_field(l, 0, NULL, &out));
  l[1].stride = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_receptive_field(l, 2, per, &out));
  ck_assert(strstr(clnn_context_errmsg(NULL), "layers[1].stride") != NULL);
  l[1] = (clnn_rf_layer){3, 1, -1, 1};
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_receptive_field(l, 2, per, &out));
  l[1] = (clnn_rf_layer){0, 1, 0, 1};
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_receptive_field(l, 2, per, &out));
  l[1] = (clnn_rf_layer){3, 1, 0, 0};
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_receptive_field(l, 2, per, &out));
  /* 70 stride-2 layers: the jump passes 2^62 */
  clnn_rf_layer deep[70];
  for (int i = 0; i < 70; i++) deep[i] = (clnn_rf_layer){3, 2, 1, 1};
  clnn_rf_info deep_info[70];
  deep_info[0].size = -7;
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_receptive_field(deep, 70, deep_info, &out));
  ck_assert(deep_info[0].size == -7); /* a failed call writes nothing */
  ck_assert(out.size == -7 && per[0].size == -7 && per[1].size == -7);
}
END_TEST

/* clnn-info --rf prints the table and the summary (clnn-info sits next to clnn-bench's folder). */
START_TEST(test_clnn_info_rf) {
  const char *bench = getenv("CLNN_BENCH");
  if (!bench) {
    fprintf(stderr, "test_clnn_info_rf: CLNN_BENCH not set (run through ctest); skipped\n");
    return;
  }
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s", bench);
  char *slash = strrchr(cmd, '/');
  ck_assert(slash != NULL);
  *slash = '\0';
  slash = strrchr(cmd, '/');
  ck_assert(slash != NULL);
  snprintf(slash, sizeof cmd - (size_t)(slash - cmd), "/tools/clnn-info --rf 'k7s2p3,k3s2p1,k3p1*4' 2>&1");
  FILE *f = popen(cmd, "r");
  ck_assert(f != NULL);
  char out[8192] = "";
  size_t len = fread(out, 1, sizeof out - 1, f);
  out[len] = '\0';
  ck_assert_int_eq(pclose(f), 0);
  ck_assert_msg(strstr(out, "receptive field 43, jump 4, first centre 0.0") != NULL, "output:\n%s", out);
  snprintf(slash, sizeof cmd - (size_t)(slash - cmd), "/tools/clnn-info --rf 'k3q1' >/dev/null 2>&1");
  f = popen(cmd, "r");
  ck_assert(f != NULL);
  ck_assert_int_ne(pclose(f), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rf");
  TCase *tc = tcase_create("receptive_field");
  tcase_add_test(tc, test_resnet18);
  tcase_add_test(tc, test_vgg16);
  tcase_add_test(tc, test_dilation_and_padding);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_clnn_info_rf);
  suite_add_tcase(s, tc);
  /* pure host arithmetic: no OpenCL context, so no tu_run (which skips without a device) */
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
