/*
 * test_bench_cli.c - clnn-bench as users and scripts call it: R mode round
 * trips .npy files (output equal to the reference to float32 rounding; b.npy
 * present or not decides the bias), bad .npy files and descriptors exit 2
 * with a message, C and P modes write the JSON fields scripts read.
 * The binary's path comes from $CLNN_BENCH (set by CTest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench/npy.h"
#include "common/testutil.h"

#define DESC "conv mb2ic8ih13iw11oc16kh3kw3sh2sw2ph1pw1dh2dw2g2"

static char dir[128];

static const char *bench_path(void) {
  const char *p = getenv("CLNN_BENCH");
  ck_assert_msg(p != NULL, "set CLNN_BENCH to the clnn-bench binary");
  return p;
}

/* Run clnn-bench with args; return its exit code and its output in out. */
static int run_bench(const char *args, char *out, size_t outlen) {
  char cmd[2048], log[256];
  snprintf(log, sizeof log, "%s/out.txt", dir);
  snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1", bench_path(), args, log);
  int rc = system(cmd);
  FILE *f = fopen(log, "r");
  size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
  out[n] = '\0';
  if (f) fclose(f);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void write_npy(const char *name, int ndim, const int64_t *dims, const float *data) {
  char p[256], err[256];
  path_of(p, sizeof p, name);
  ck_assert_msg(npy_write(p, CLNN_FLOAT32, ndim, dims, data, err, sizeof err), "%s", err);
}

static clnn_conv2d_desc the_desc(void) {
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 8, 13, 11, 16, 3, 3);
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  d.dilation_h = d.dilation_w = 2;
  d.groups = 2;
  return d;
}

static float x[2 * 8 * 13 * 11], w[16 * 4 * 3 * 3], b[16];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/clnn-test-bench-XXXXXX");
  ck_assert(mkdtemp(dir) != NULL);
  tu_fill_normal(x, sizeof x / 4, 1, 0, 1);
  tu_fill_normal(w, sizeof w / 4, 2, 0, 0.3f);
  tu_fill_normal(b, sizeof b / 4, 3, 0, 1);
  int64_t xd[4] = {2, 8, 13, 11}, wd[4] = {16, 4, 3, 3}, bd[1] = {16};
  write_npy("x.npy", 4, xd, x);
  write_npy("w.npy", 4, wd, w);
  write_npy("b.npy", 1, bd, b);
}

static void teardown(void) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Read DIR/y.npy and compare with the reference (b may be NULL). */
static void check_y(const float *bias) {
  clnn_conv2d_desc d = the_desc();
  int64_t oh, ow;
  TU_OK(clnn_conv2d_desc_check(&d, &oh, &ow));
  size_t ny = (size_t)(2 * 16 * oh * ow);
  float *ref = tu_alloc(ny);
  TU_OK(clnn_ref_conv2d_fwd(&d, x, w, bias, ref));
  char p[256], err[256];
  path_of(p, sizeof p, "y.npy");
  npy_array y;
  ck_assert_msg(npy_read(p, &y, err, sizeof err), "%s", err);
  ck_assert_int_eq(y.ndim, 4);
  ck_assert(y.dims[0] == 2 && y.dims[1] == 16 && y.dims[2] == oh && y.dims[3] == ow);
  tu_cmp c;
  ck_assert(tu_compare(DESC, y.data, ref, ny, 1e-6, 1e-6, &c));
  ck_assert_msg(c.rel_l2_err < 1e-6, "rel L2 %g", c.rel_l2_err);
  free(y.data);
  free(ref);
}

START_TEST(test_r_mode_round_trip) {
  char out[8192], args[512];
  snprintf(args, sizeof args, "--mode=R --dir %s \"%s\"", dir, DESC);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  check_y(b);
  /* Without b.npy the problem has no bias. */
  char p[256];
  path_of(p, sizeof p, "b.npy");
  ck_assert_int_eq(remove(p), 0);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  check_y(NULL);
}
END_TEST

START_TEST(test_r_mode_bad_files) {
  char out[8192], args[512], p[256];
  snprintf(args, sizeof args, "--mode=R --dir %s \"%s\"", dir, DESC);
  /* w of the wrong shape */
  int64_t wd[4] = {16, 8, 3, 3};
  float *big = tu_alloc(16 * 8 * 9);
  tu_fill_normal(big, 16 * 8 * 9, 4, 0, 1);
  write_npy("w.npy", 4, wd, big);
  free(big);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "w.npy") && strstr(out, "shape"), "%s", out);
  /* truncated x */
  int64_t wd_ok[4] = {16, 4, 3, 3};
  write_npy("w.npy", 4, wd_ok, w);
  path_of(p, sizeof p, "x.npy");
  ck_assert_int_eq(truncate(p, 300), 0);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "truncated"), "%s", out);
  /* not a .npy file at all */
  FILE *f = fopen(p, "w");
  fputs("hello, I am not numpy\n", f);
  fclose(f);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "magic"), "%s", out);
  /* Fortran order and float64 are refused */
  static const char *const headers[] = {
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 8, 13, 11), }",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 8, 13, 11), }"};
  for (int i = 0; i < 2; i++) {
    f = fopen(p, "wb");
    unsigned short len = (unsigned short)strlen(headers[i]) + 1;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&len, 2, 1, f);
    fputs(headers[i], f);
    fputc('\n', f);
    fclose(f);
    ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, i == 0 ? "Fortran" : "dtype '<f8'"), "%s", out); /* says what it found */
  }
  /* missing x */
  remove(p);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "x.npy"), "%s", out);
  /* R mode without --dir */
  snprintf(args, sizeof args, "--mode=R \"%s\"", DESC);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
}
END_TEST

START_TEST(test_c_and_p_modes_json) {
  char out[8192], args[512], json[256];
  path_of(json, sizeof json, "r.jsonl");
  snprintf(args, sizeof args, "--mode=C --json %s \"%s\"", json, DESC);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  ck_assert_msg(strstr(out, "pass"), "%s", out);
  snprintf(args, sizeof args, "--mode=P --no-peak --min-runs 2 --max-runs 3 --json %s \"%s\"", json, DESC);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  FILE *f = fopen(json, "r");
  ck_assert(f != NULL);
  char line1[2048], line2[2048];
  ck_assert(fgets(line1, sizeof line1, f) && fgets(line2, sizeof line2, f));
  fclose(f);
  static const char *const c_keys[] = {"\"problem\": \"" DESC "\"", "\"mode\": \"C\"", "\"pass\": \"fwd\"",
                                       "\"device\"", "\"ok\": true", "\"max_abs_err\"", "\"rel_l2_err\""};
  for (size_t i = 0; i < sizeof c_keys / sizeof c_keys[0]; i++)
    ck_assert_msg(strstr(line1, c_keys[i]), "missing %s in %s", c_keys[i], line1);
  static const char *const p_keys[] = {"\"mode\": \"P\"", "\"median_ms\"", "\"min_ms\"", "\"max_ms\"",
                                       "\"gflops\"", "\"gbps\"", "\"algo\""};
  for (size_t i = 0; i < sizeof p_keys / sizeof p_keys[0]; i++)
    ck_assert_msg(strstr(line2, p_keys[i]), "missing %s in %s", p_keys[i], line2);
}
END_TEST

START_TEST(test_bad_descriptors) {
  char out[8192];
  ck_assert_int_eq(run_bench("--mode=C \"conv mb2ic8ih13oc16kh3xx5\"", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "xx"), "%s", out);
  ck_assert_int_eq(run_bench("--mode=C \"nosuchop mb2\"", out, sizeof out), 2);
  ck_assert_int_eq(run_bench("--mode=C \"conv mb2ic8ih13oc16kh3g3\"", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "groups"), "%s", out);
  ck_assert_int_eq(run_bench("--mode=C --pass=sideways \"conv mb2ic8ih13oc16kh3\"", out, sizeof out), 2);
  ck_assert_int_eq(run_bench("--mode=X \"conv mb2ic8ih13oc16kh3\"", out, sizeof out), 2);
  /* Each message names the key at fault: a misspelled required key (kx for
   * kh), a missing one, a non-integer value, and mb0 where an op takes no
   * empty batch (conv does: that one passes). */
  static const struct {
    const char *desc, *says[2];
  } named[] = {
      {"conv mb2ic8ih13oc16kx3", {"kh is missing", "'kx=3'"}},
      {"conv ic8ih13oc16kh3", {"mb is missing", "mb, ic, ih, oc and kh"}},
      {"conv mb2.5ic8ih13oc16kh3", {"'mb'", "'2.5'"}},
      {"deconv mb2ic8ih13oc16kh3g1.5", {"'g'", "'1.5'"}},
      {"pool max mb2ic3ih8kx2", {"kh is missing", "'kx=2'"}},
      {"linear mb2ic3", {"oc is missing", "linear"}},
      {"roi_align mb0ic3ih8oh2n2", {"mb is 0", "roi_align"}},
      {"mul mb0ic3ih4", {"mb is 0", "mul"}},
      {"resize nearest mb1ic2ih4 scale_h=x", {"'scale_h'", "non-numeric"}},
  };
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
    char args[256];
    snprintf(args, sizeof args, "--mode=C \"%s\"", named[i].desc);
    ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
    ck_assert_msg(strstr(out, named[i].says[0]) && strstr(out, named[i].says[1]), "%s: %s", named[i].desc, out);
  }
  ck_assert_msg(run_bench("--mode=C \"conv mb0ic8ih13oc16kh3\"", out, sizeof out) == 0, "%s", out);
  /* A batch file with comments and a bias-free line. */
  char p[256], args[512];
  path_of(p, sizeof p, "batch");
  FILE *f = fopen(p, "w");
  fputs("# comment\n\nconv mb1ic3ih7oc4kh3ph1 --no-bias   # trailing comment\nconv mb1ic4ih5oc4kh1 act=relu\n", f);
  fclose(f);
  snprintf(args, sizeof args, "--mode=C --batch %s", p);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  ck_assert_msg(strstr(out, "2 problem(s), 0 failed"), "%s", out);
  /* A relative rois= file in a batch file is found next to the batch file,
   * whatever the working directory (the test runs elsewhere). */
  path_of(p, sizeof p, "boxes.txt");
  f = fopen(p, "w");
  fputs("# batch x1 y1 x2 y2\n0 1 1 6 5\n1 0 2 7 7\n", f);
  fclose(f);
  path_of(p, sizeof p, "roi_batch");
  f = fopen(p, "w");
  fputs("roi_align mb2ic3ih8oh2 rois=boxes.txt\n", f);
  fclose(f);
  snprintf(args, sizeof args, "--mode=C --batch %s", p);
  ck_assert_msg(run_bench(args, out, sizeof out) == 0, "%s", out);
  ck_assert_msg(strstr(out, "boxes.txt") && strstr(out, "pass"), "%s", out);
}
END_TEST

/* Inputs that overflowed or were cut: each must exit 2 with a message, no
 * crash (the sanitizer build reports any overflow). */
START_TEST(test_hostile_arguments) {
  char out[8192], args[2048];
  ck_assert_int_eq(run_bench("--mode=P --min-runs 2000 \"add n7\"", out, sizeof out), 2); /* was a stack overflow */
  ck_assert_msg(strstr(out, "--min-runs"), "%s", out);
  ck_assert_int_eq(run_bench("--mode=P --time abc \"add n7\"", out, sizeof out), 2);
  ck_assert_int_eq(run_bench("--mode=C --seed -4 \"add n7\"", out, sizeof out), 2);
  ck_assert_int_eq(run_bench("--mode=C \"sgd n25800222222222222 tensors=resnet50\"", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "2^36"), "%s", out);
  ck_assert_int_eq(run_bench("--mode=C \"adam n5555555555555555502\"", out, sizeof out), 2);
  /* a descriptor over 511 characters is refused, not cut into another problem */
  char longdesc[700];
  snprintf(longdesc, sizeof longdesc, "add n7 %0600d", 0);
  snprintf(args, sizeof args, "--mode=C \"%s\"", longdesc);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "at most 511"), "%s", out);
  char p[256];
  path_of(p, sizeof p, "longbatch");
  FILE *f = fopen(p, "w");
  fprintf(f, "%s\n", longdesc);
  fclose(f);
  snprintf(args, sizeof args, "--mode=C --batch %s", p);
  ck_assert_int_eq(run_bench(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "over 511"), "%s", out);
  /* RoIs: none at all is a valid problem ("n0") */
  ck_assert_msg(run_bench("--mode=C --pass=all \"roi_align mb1ic4ih9iw9 n0 oh2ow2 sr2 scale0.5\"", out, sizeof out) == 0,
                "%s", out);
  ck_assert_msg(run_bench("--mode=C --pass=all \"deform_conv mb0ic4ih6iw5oc3kh3ph1\"", out, sizeof out) == 0, "%s",
                out);
}
END_TEST

/* --pass takes a comma-separated list (tests/oclgrind.sh runs fwd,bwd in
 * one process): each pass in turn, and an unknown one still fails. */
START_TEST(test_pass_list) {
  char out[8192];
  ck_assert_msg(run_bench("--mode=C --pass=fwd,bwd_w \"conv mb1ic3ih5oc4kh3ph1\"", out, sizeof out) == 0, "%s", out);
  ck_assert_msg(strstr(out, " fwd ") && strstr(out, " bwd_w ") && !strstr(out, " bwd_d "), "%s", out);
  ck_assert_int_eq(run_bench("--mode=C --pass=fwd,sideways \"conv mb1ic3ih5oc4kh3ph1\"", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "sideways"), "%s", out);
}
END_TEST

static Suite *bench_suite(void) {
  Suite *s = suite_create("bench_cli");
  TCase *tc = tcase_create("cli");
  tcase_set_timeout(tc, 600);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_r_mode_round_trip);
  tcase_add_test(tc, test_r_mode_bad_files);
  tcase_add_test(tc, test_c_and_p_modes_json);
  tcase_add_test(tc, test_bad_descriptors);
  tcase_add_test(tc, test_pass_list);
  tcase_add_test(tc, test_hostile_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run(bench_suite()); }
