/*
 * loss.cl - losses with their gradients: softmax cross-entropy and soft
 * accuracy over class logits with int32 labels, and InfoNCE / NT-Xent over
 * two batches of embeddings (its similarity GEMMs run on runtime/gemm.c).
 *
 * Softmaxes subtract the row maximum before exp (log-sum-exp), so logits of
 * magnitude 1e4 stay finite. Means are deterministic gathers: per-row
 * values go to a buffer, chunks of LCHUNK rows are summed in order by one
 * work-item each, and one work-item sums the chunk sums in order.
 *
 * Class layout: position r = b * inner + p (sample b, spatial index p) has
 * its label at labels[r] and class k at logits[(b * classes + k) * inner + p].
 */
#ifndef LCHUNK
#define LCHUNK 4096
#endif

/*
 * loss_count_valid: part[c] = how many labels of chunk c (positions
 * [c * LCHUNK, (c + 1) * LCHUNK)) are not ignore_index.
 * -D: LCHUNK. NDRange (chunks), local (1). ws: the workspace.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_count_valid(
    const int npos, CITENSOR(labels), const int ignore_index, TENSOR(part)) {
  const int c = get_global_id(0);
  const int i1 = min(npos, (c + 1) * LCHUNK);
  int count = 0;
  for (int i = c * LCHUNK; i < i1; i++) count += AT(labels)[i] != ignore_index;
  AT(part)[c] = (float)count;
}

/*
 * loss_sum_chunks: part[c] = sum of v[c * LCHUNK ...] over one chunk, in
 * order. -D: LCHUNK. NDRange (chunks), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_sum_chunks(const int n, CTENSOR(v),
                                                                             TENSOR(part)) {
  const int c = get_global_id(0);
  const int i1 = min(n, (c + 1) * LCHUNK);
  float sum = 0.0f;
  for (int i = c * LCHUNK; i < i1; i++) sum += AT(v)[i];
  AT(part)[c] = sum;
}

/*
 * loss_finish: s = sum of part[0 .. np) in order; d = *count when HAS_COUNT
 * else divisor; out[0] = ONE_MINUS ? 1 - s / d : s / d.
 * -D: HAS_COUNT, ONE_MINUS. NDRange (1), local (1).
 */
#ifndef HAS_COUNT
#define HAS_COUNT 1
#endif
#ifndef ONE_MINUS
#define ONE_MINUS 0
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_finish(
    const int np, CTENSOR(part), CTENSOR(count), const float divisor, TENSOR(out)) {
  float sum = 0.0f;
  for (int i = 0; i < np; i++) sum += AT(part)[i];
#if HAS_COUNT
  const float d = AT(count)[0];
#else
  const float d = divisor;
#endif
  const float mean = sum / d; /* 0 / 0 = NaN when every label is ignored, as PyTorch */
  AT(out)[0] = ONE_MINUS ? 1.0f - mean : mean;
}

/* ---------------------------------------------------- classification */

#define KIND_XENT 0
#define KIND_SOFTACC 1
#ifndef KIND
#define KIND KIND_XENT
#endif
#ifndef HAS_GRAD
#define HAS_GRAD 1
#endif

/*
 * loss_class_rows: one position per work-item: its loss term into
 * rowloss[r] (cross-entropy: logsumexp(z) - sum_k q_k z_k; soft accuracy:
 * p_y) and, with HAS_GRAD, its gradient row scaled by grad_scale / *count.
 * Ignored positions get 0 and a zero row; labels out of range get NaN.
 * -D: KIND, HAS_GRAD. NDRange (npos rounded up to 16), local (16).
 */
__kernel __attribute__((reqd_work_group_size(16, 1, 1))) void loss_class_rows(
    const int npos, const int classes, const int inner, CTENSOR(logits), CITENSOR(labels),
    TENSOR(dlogits), TENSOR(rowloss), CTENSOR(count), const float smoothing,
    const int ignore_index, const float grad_scale) {
  const int r = get_global_id(0);
  if (r >= npos) return;
  const int b = r / inner, p = r % inner;
  const size_t base = (size_t)b * classes * inner + p;
  __global const float *z = AT(logits) + base;
#if HAS_GRAD
  __global float *g = AT(dlogits) + base;
#endif
  const int y = AT(labels)[r];
  if (y == ignore_index || y < 0 || y >= classes) {
    const float v = y == ignore_index ? 0.0f : NAN;
    AT(rowloss)[r] = v;
#if HAS_GRAD
    for (int k = 0; k < classes; k++) g[(size_t)k * inner] = v;
#endif
    return;
  }
  float m = z[0];
  for (int k = 1; k < classes; k++) {
    const float v = z[(size_t)k * inner];
    m = (v > m || isnan(v)) ? v : m; /* NaN propagates, unlike fmax */
  }
  float sum = 0.0f;
  for (int k = 0; k < classes; k++) sum += exp(z[(size_t)k * inner] - m);
  const float inv_sum = 1.0f / sum;
#if HAS_GRAD
  const float gs = grad_scale / AT(count)[0];
#endif
#if KIND == KIND_XENT
  /* -sum_k q_k log p_k = log(sum) - sum_k q_k (z_k - m), as sum_k q_k = 1 */
  const float q_off = smoothing / classes, q_on = 1.0f - smoothing + q_off;
  float qz = 0.0f;
  for (int k = 0; k < classes; k++) {
    const float zk = z[(size_t)k * inner] - m, q = k == y ? q_on : q_off;
    qz += q * zk;
#if HAS_GRAD
    g[(size_t)k * inner] = gs * (exp(zk) * inv_sum - q);
#endif
  }
  AT(rowloss)[r] = log(sum) - qz;
#else
  const float py = exp(z[(size_t)y * inner] - m) * inv_sum;
  AT(rowloss)[r] = py;
#if HAS_GRAD
  for (int k = 0; k < classes; k++) {
    const float pk = exp(z[(size_t)k * inner] - m) * inv_sum;
    g[(size_t)k * inner] = -gs * py * ((k == y ? 1.0f : 0.0f) - pk);
  }
#endif
#endif
}

/* -------------------------------------------------------------- InfoNCE */

/*
 * Rows i < 2n of the similarity matrix are the anchors: z1's rows then
 * z2's. Anchor i's positive is (i + n) mod 2n. CROSS_VIEW = 0 (NT-Xent):
 * every k != i is a candidate; CROSS_VIEW = 1: only the other view's rows.
 * Candidates of row i form at most two ranges [k0, k1) and [k2, k3).
 */
#ifndef CROSS_VIEW
#define CROSS_VIEW 0
#endif
#define CANDIDATE_RANGES(i, n, k0, k1, k2, k3) \
  int k0, k1, k2, k3;                          \
  if (CROSS_VIEW) {                            \
    k0 = (i) < (n) ? (n) : 0;                  \
    k1 = k0 + (n);                             \
    k2 = k3 = 0;                               \
  } else {                                     \
    k0 = 0;                                    \
    k1 = (i);                                  \
    k2 = (i) + 1;                              \
    k3 = 2 * (n);                              \
  }

/*
 * infonce_normalize: u_i = z_i / max(|z_i|, eps) into U (row i, stride ldu)
 * and U^T (column i, stride ldt); norm[i] = |z_i|.
 * -D: none. NDRange (2n), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_normalize(
    const int n, const int dim, CTENSOR(z1), CTENSOR(z2), const float eps, TENSOR(u), const int ldu,
    TENSOR(ut), const int ldt, TENSOR(norm)) {
  const int i = get_global_id(0);
  __global const float *z = i < n ? AT(z1) + (size_t)i * dim : AT(z2) + (size_t)(i - n) * dim;
  float16 acc = (float16)(0.0f);
  int c = 0;
  for (; c + 16 <= dim; c += 16) {
    const float16 v = vload16(0, z + c);
    acc = fma(v, v, acc);
  }
  const float8 s8 = acc.lo + acc.hi;
  const float4 s4 = s8.lo + s8.hi;
  const float2 s2 = s4.lo + s4.hi;
  float ss = s2.x + s2.y;
  for (; c < dim; c++) ss = fma(z[c], z[c], ss);
  const float r = sqrt(ss);
  const float inv = 1.0f / fmax(r, eps);
  __global float *urow = AT(u) + (size_t)i * ldu;
  __global float *ucol = AT(ut) + i;
  for (c = 0; c < dim; c++) {
    const float v = z[c] * inv;
    urow[c] = v;
    ucol[(size_t)c * ldt] = v;
  }
  AT(norm)[i] = r;
}

/*
 * infonce_row_stats: for the rows i = i0 + r of a block of the similarity
 * matrix S (row r at s + r * lds): mx[i] = max over candidates, se[i] = sum
 * of exp(S - mx) over candidates, rowloss[i] = log(se) + mx - S[i][pos(i)].
 * -D: CROSS_VIEW. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_row_stats(
    const int n, const int i0, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss)) {
  const int r = get_global_id(0), i = i0 + r;
  __global const float *row = AT(s) + (size_t)r * lds;
  CANDIDATE_RANGES(i, n, k0, k1, k2, k3);
  float m = -INFINITY;
  for (int k = k0; k < k1; k++) m = fmax(m, row[k]);
  for (int k = k2; k < k3; k++) m = fmax(m, row[k]);
  float sum = 0.0f;
  for (int k = k0; k < k1; k++) sum += exp(row[k] - m);
  for (int k = k2; k < k3; k++) sum += exp(row[k] - m);
  const int pos = i < n ? i + n : i - n;
  AT(mx)[i] = m;
  AT(se)[i] = sum;
  AT(rowloss)[i] = log(sum) + m - row[pos];
}

/*
 * infonce_grad_sym: overwrite a block of S with the symmetrised gradient
 *   G[i][k] = c (P_ik + P_ki - 2 [k == pos(i)]) for candidates, else 0,
 * with P_ik = exp(S_ik - mx[i]) / se[i], using S_ki = S_ik (S = U U^T / t),
 * c = grad_scale / (2n). Then dU = G U / t (one GEMM).
 * -D: CROSS_VIEW. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_grad_sym(
    const int n, const int i0, TENSOR(s), const int lds, CTENSOR(mx), CTENSOR(se), const float c) {
  const int r = get_global_id(0), i = i0 + r;
  __global float *row = AT(s) + (size_t)r * lds;
  __global const float *m = AT(mx);
  __global const float *e = AT(se);
  const float mi = m[i], inv_ei = 1.0f / e[i];
  const int pos = i < n ? i + n : i - n;
  CANDIDATE_RANGES(i, n, k0, k1, k2, k3);
  for (int k = 0; k < 2 * n; k++) {
    const bool cand = (k >= k0 && k < k1) || (k >= k2 && k < k3);
    const float v = row[k];
    const float g = exp(v - mi) * inv_ei + exp(v - m[k]) / e[k] - (k == pos ? 2.0f : 0.0f);
    row[k] = cand ? c * g : 0.0f;
  }
}

/*
 * infonce_normalize_bwd: dz_i = (du_i - u_i (u_i . du_i)) / |z_i|, or
 * du_i / eps where |z_i| <= eps (the clamp of the normalisation), into dz1
 * (rows i < n) or dz2 (rows n..2n-1); a NULL output's rows are skipped.
 * -D: HAS_DZ1, HAS_DZ2. NDRange (2n), local (1).
 */
#ifndef HAS_DZ1
#define HAS_DZ1 1
#endif
#ifndef HAS_DZ2
#define HAS_DZ2 1
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_normalize_bwd(
    const int n, const int dim, CTENSOR(u), CTENSOR(du), const int ldu, CTENSOR(norm),
    const float eps, TENSOR(dz1), TENSOR(dz2)) {
  const int i = get_global_id(0);
  const bool wanted = i < n ? HAS_DZ1 : HAS_DZ2;
  if (!wanted) return;
  __global float *dz = i < n ? AT(dz1) + (size_t)i * dim : AT(dz2) + (size_t)(i - n) * dim;
  __global const float *ur = AT(u) + (size_t)i * ldu;
  __global const float *dur = AT(du) + (size_t)i * ldu;
  const float r = AT(norm)[i];
  float dot = 0.0f;
  for (int c = 0; c < dim; c++) dot = fma(ur[c], dur[c], dot);
  if (r > eps) {
    const float inv = 1.0f / r;
    for (int c = 0; c < dim; c++) dz[c] = (dur[c] - ur[c] * dot) * inv;
  } else {
    const float inv = 1.0f / eps;
    for (int c = 0; c < dim; c++) dz[c] = dur[c] * inv;
  }
}
