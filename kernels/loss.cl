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
#define LCHUNK CLNN_LOSS_CHUNK

/*
 * loss_count_valid: part[c] = how many labels of chunk c (positions
 * [c * LCHUNK, (c + 1) * LCHUNK)) are not ignore_index.
 * NDRange (chunks), local (1). ws: the workspace.
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
 * order. NDRange (chunks), local (1).
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

#define KIND_XENT CLNN_LOSS_XENT
#define KIND_SOFTACC CLNN_LOSS_SOFTACC
#ifndef KIND
#define KIND KIND_XENT
#endif
#ifndef HAS_GRAD
#define HAS_GRAD 1
#endif

/* Sum of the 16 lanes in a fixed (pairwise) order. */
inline float hsum16(const float16 v) {
  const float8 s8 = v.lo + v.hi;
  const float4 s4 = s8.lo + s8.hi;
  const float2 s2 = s4.lo + s4.hi;
  return s2.x + s2.y;
}

inline float hmax16(const float16 v) {
  const float8 s8 = fmax(v.lo, v.hi);
  const float4 s4 = fmax(s8.lo, s8.hi);
  const float2 s2 = fmax(s4.lo, s4.hi);
  return fmax(s2.x, s2.y);
}

/*
 * The three class kernels share their arguments:
 *   n, classes, inner; logits; labels; dlogits (HAS_GRAD); rowloss (one term per
 *   position); count (the mean's divisor); smoothing; ignore_index; grad_scale.
 * The loss term of a position is logsumexp(z) - sum_k q_k z_k for
 * cross-entropy (q = (1 - e) one-hot + e / classes) and p_y for soft
 * accuracy; its gradient row is scaled by grad_scale / *count. A NaN logit
 * reaches the sum of exponentials, so the term and the row become NaN;
 * ignored positions get 0 and a zero row, labels out of range NaN.
 * Maxima use fmax: a NaN logit still reaches the sum of exponentials.
 */
#define CLASS_ARGS                                                                                 \
  const int n, const int classes, const int inner, CTENSOR_DT(logits), CITENSOR(labels),            \
      TENSOR_DT(dlogits), TENSOR(rowloss), CTENSOR(count), const float smoothing, const int ignore_index, \
      const float grad_scale

/*
 * loss_class_rows: one position per work-item, positions p0 + i of sample b
 * (classes strided by inner). Used for per-pixel tails (and inner < 16).
 * -D: KIND, HAS_GRAD. NDRange (positions, n), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_class_rows(CLASS_ARGS, const int p0) {
  const int p = p0 + get_global_id(0), b = get_global_id(1);
  const int r = b * inner + p;
  __global const STORE_T *z = AT(logits) + (size_t)b * classes * inner + p;
  const int y = AT(labels)[r];
  if (y == ignore_index || y < 0 || y >= classes) {
    const float v = y == ignore_index ? 0.0f : NAN;
    AT(rowloss)[r] = v;
#if HAS_GRAD
    __global STORE_T *g = AT(dlogits) + (size_t)b * classes * inner + p;
    for (int k = 0; k < classes; k++) STORE1(v, g, (size_t)k * inner);
#endif
    return;
  }
  float m = -INFINITY;
  for (int k = 0; k < classes; k++) m = fmax(m, LOAD1(z, (size_t)k * inner));
  float sum = 0.0f, zsum = 0.0f; /* zsum: sum of z - m, for the smoothing term */
  for (int k = 0; k < classes; k++) {
    const float v = LOAD1(z, (size_t)k * inner) - m;
    sum += exp(v);
    zsum += v;
  }
  const float zy = LOAD1(z, (size_t)y * inner) - m, q_off = smoothing / classes;
#if KIND == KIND_XENT
  AT(rowloss)[r] = log(sum) - ((1.0f - smoothing) * zy + q_off * zsum);
#else
  const float py = exp(zy) / sum;
  AT(rowloss)[r] = py;
  (void)zsum;
  (void)q_off;
#endif
#if HAS_GRAD
  __global STORE_T *g = AT(dlogits) + (size_t)b * classes * inner + p;
  const float gs = grad_scale / AT(count)[0], inv_sum = 1.0f / sum;
  for (int k = 0; k < classes; k++) {
    const float pk = exp(LOAD1(z, (size_t)k * inner) - m) * inv_sum;
#if KIND == KIND_XENT
    STORE1(gs * (pk - (k == y ? 1.0f - smoothing + q_off : q_off)), g, (size_t)k * inner);
#else
    STORE1(-gs * py * ((k == y ? 1.0f : 0.0f) - pk), g, (size_t)k * inner);
#endif
  }
#endif
}

/*
 * loss_class_contig: plain (n, classes) logits, one row per work-item, the
 * classes in float16 strides then a scalar tail (vector exp).
 * -D: KIND, HAS_GRAD. NDRange (n), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_class_contig(CLASS_ARGS) {
  const int r = get_global_id(0);
  __global const STORE_T *z = AT(logits) + (size_t)r * classes;
  const int y = AT(labels)[r];
  const int kv = classes / 16 * 16;
  if (y == ignore_index || y < 0 || y >= classes) {
    const float v = y == ignore_index ? 0.0f : NAN;
    AT(rowloss)[r] = v;
#if HAS_GRAD
    __global STORE_T *g = AT(dlogits) + (size_t)r * classes;
    for (int k = 0; k < kv; k += 16) STOREU16((float16)(v), g + k);
    for (int k = kv; k < classes; k++) STORE1(v, g, k);
#endif
    return;
  }
  float16 m16 = (float16)(-INFINITY);
  for (int k = 0; k < kv; k += 16) m16 = fmax(m16, LOADU16(z + k));
  float m = hmax16(m16);
  for (int k = kv; k < classes; k++) m = fmax(m, LOAD1(z, k));
  float16 s16 = (float16)(0.0f), zs16 = (float16)(0.0f);
  for (int k = 0; k < kv; k += 16) {
    const float16 v = LOADU16(z + k) - m;
    s16 += exp(v);
    zs16 += v;
  }
  float sum = hsum16(s16), zsum = hsum16(zs16);
  for (int k = kv; k < classes; k++) {
    const float v = LOAD1(z, k) - m;
    sum += exp(v);
    zsum += v;
  }
  const float inv_sum = 1.0f / sum, zy = LOAD1(z, y) - m, q_off = smoothing / classes;
  (void)inv_sum; /* unused by cross-entropy without gradient */
#if KIND == KIND_XENT
  AT(rowloss)[r] = log(sum) - ((1.0f - smoothing) * zy + q_off * zsum);
#else
  const float py = exp(zy) * inv_sum;
  AT(rowloss)[r] = py;
  (void)zsum;
  (void)q_off;
#endif
#if HAS_GRAD
  /* every class as if it were not the label, then the label's entry */
  __global STORE_T *g = AT(dlogits) + (size_t)r * classes;
  const float gs = grad_scale / AT(count)[0];
#if KIND == KIND_XENT
  const float a = gs * inv_sum, c = -gs * q_off, label_fix = -gs * (1.0f - smoothing);
#else
  const float a = gs * py * inv_sum, c = 0.0f, label_fix = -gs * py;
#endif
  for (int k = 0; k < kv; k += 16) STOREU16(fma(exp(LOADU16(z + k) - m), a, c), g + k);
  for (int k = kv; k < classes; k++) STORE1(fma(exp(LOAD1(z, k) - m), a, c), g, k);
  STORE1(fma(exp(zy), a, c) + label_fix, g, y); /* from float32: still one rounding */
#endif
}

/*
 * loss_class_pix: per-pixel logits (n, classes, inner), 16 consecutive
 * positions of one sample per work-item as float16 lanes; positions
 * 16 * get_global_id(0) + lane of sample get_global_id(1).
 * -D: KIND, HAS_GRAD. NDRange (inner / 16, n), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void loss_class_pix(CLASS_ARGS) {
  const int p = get_global_id(0) * 16, b = get_global_id(1);
  const int r = b * inner + p;
  __global const STORE_T *z = AT(logits) + (size_t)b * classes * inner + p;
  const int16 y = vload16(0, AT(labels) + r);
  const int16 ignored = y == (int16)(ignore_index);
  const int16 bad = ~ignored & (y < (int16)(0) | y >= (int16)(classes));
  float16 m = (float16)(-INFINITY);
  for (int k = 0; k < classes; k++) m = fmax(m, LOADU16(z + (size_t)k * inner));
  float16 sum = (float16)(0.0f), zsum = (float16)(0.0f), zy = (float16)(0.0f);
  for (int k = 0; k < classes; k++) {
    const float16 v = LOADU16(z + (size_t)k * inner) - m;
    sum += exp(v);
    zsum += v;
    zy = select(zy, v, y == (int16)(k));
  }
  const float16 inv_sum = 1.0f / sum;
  const float q_off = smoothing / classes, q_on = 1.0f - smoothing + q_off;
#if KIND == KIND_XENT
  float16 term = log(sum) - ((1.0f - smoothing) * zy + q_off * zsum);
#else
  const float16 py = exp(zy) * inv_sum;
  float16 term = py;
  (void)zsum;
#endif
  (void)inv_sum;
  (void)q_on;
  term = select(term, (float16)(0.0f), ignored);
  term = select(term, (float16)(NAN), bad);
  vstore16(term, 0, AT(rowloss) + r);
#if HAS_GRAD
  __global STORE_T *g = AT(dlogits) + (size_t)b * classes * inner + p;
  const float gs = grad_scale / AT(count)[0];
  for (int k = 0; k < classes; k++) {
    const float16 pk = exp(LOADU16(z + (size_t)k * inner) - m) * inv_sum;
    const int16 is_y = y == (int16)(k);
#if KIND == KIND_XENT
    float16 gk = gs * (pk - select((float16)(q_off), (float16)(q_on), is_y));
#else
    float16 gk = -gs * py * (select((float16)(0.0f), (float16)(1.0f), is_y) - pk);
#endif
    gk = select(gk, (float16)(0.0f), ignored);
    gk = select(gk, (float16)(NAN), bad);
    STOREU16(gk, g + (size_t)k * inner);
  }
#endif
}

/* -------------------------------------------------------------- InfoNCE */

/*
 * NT-Xent: rows i < 2n of the similarity matrix S = U U^T / t are the
 * anchors, z1's rows then z2's. Anchor i's positive is (i + n) mod 2n; every
 * k != i is a candidate (two ranges: [0, i) and (i, 2n)).
 */
/*
 * infonce_normalize: u_i = z_i / max(|z_i|, eps) into U (row i, stride ldu)
 * and U^T (column i, stride ldt); norm[i] = |z_i|.
 * -D: none. NDRange (2n), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_normalize(
    const int n, const int dim, CTENSOR_DT(z1), CTENSOR_DT(z2), const float eps, TENSOR(u), const int ldu,
    TENSOR(ut), const int ldt, TENSOR(norm)) {
  const int i = get_global_id(0);
  __global const STORE_T *z = i < n ? AT(z1) + (size_t)i * dim : AT(z2) + (size_t)(i - n) * dim;
  float16 acc = (float16)(0.0f);
  int c = 0;
  for (; c + 16 <= dim; c += 16) {
    const float16 v = LOADU16(z + c);
    acc = fma(v, v, acc);
  }
  float ss = hsum16(acc);
  for (; c < dim; c++) ss = fma(LOAD1(z, c), LOAD1(z, c), ss);
  const float r = sqrt(ss);
  const float inv = 1.0f / fmax(r, eps);
  __global float *urow = AT(u) + (size_t)i * ldu;
  __global float *ucol = AT(ut) + i;
  for (c = 0; c < dim; c++) {
    const float v = LOAD1(z, c) * inv;
    urow[c] = v;
    ucol[(size_t)c * ldt] = v;
  }
  AT(norm)[i] = r;
}

/* Maximum and sum of exp(v - m) of row[k0 .. k1): float16 strides, then the tail. */
inline float range_max(__global const float *row, const int k0, const int k1) {
  float16 m16 = (float16)(-INFINITY);
  int k = k0;
  for (; k + 16 <= k1; k += 16) m16 = fmax(m16, vload16(0, row + k));
  float m = hmax16(m16);
  for (; k < k1; k++) m = fmax(m, row[k]);
  return m;
}

inline float range_sum_exp(__global const float *row, const int k0, const int k1, const float m) {
  float16 s16 = (float16)(0.0f);
  int k = k0;
  for (; k + 16 <= k1; k += 16) s16 += exp(vload16(0, row + k) - m);
  float s = hsum16(s16);
  for (; k < k1; k++) s += exp(row[k] - m);
  return s;
}

/*
 * infonce_row_stats: for the rows i = i0 + r of a block of the similarity
 * matrix S (row r at s + r * lds): mx[i] = max over candidates, se[i] = sum
 * of exp(S - mx) over candidates, rowloss[i] = log(se) + mx - S[i][pos(i)].
 * -D: none. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_row_stats(
    const int n, const int i0, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss)) {
  const int r = get_global_id(0), i = i0 + r;
  __global const float *row = AT(s) + (size_t)r * lds;
  const float m = fmax(range_max(row, 0, i), range_max(row, i + 1, 2 * n));
  const float sum = range_sum_exp(row, 0, i, m) + range_sum_exp(row, i + 1, 2 * n, m);
  const int pos = i < n ? i + n : i - n;
  AT(mx)[i] = m;
  AT(se)[i] = sum;
  AT(rowloss)[i] = log(sum) + m - row[pos];
}

/*
 * infonce_grad_sym: overwrite a block of S with the symmetrised gradient
 *   G[i][k] = c (P_ik + P_ki - 2 [k == pos(i)]) for candidates, else 0,
 * with P_ik = exp(S_ik - mx[i]) / se[i], using S_ki = S_ik (S = U U^T / t),
 * c = grad_scale / (2n). Then dU = G U / t (one GEMM). Every k is computed
 * in float16 strides; the positive and the diagonal are fixed after.
 * -D: none. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_grad_sym(
    const int n, const int i0, TENSOR(s), const int lds, CTENSOR(mx), CTENSOR(se), const float c) {
  const int r = get_global_id(0), i = i0 + r, m2 = 2 * n;
  __global float *row = AT(s) + (size_t)r * lds;
  __global const float *m = AT(mx);
  __global const float *e = AT(se);
  const float mi = m[i], ci = c / e[i];
  int k = 0;
  for (; k + 16 <= m2; k += 16) {
    const float16 v = vload16(0, row + k);
    const float16 g = exp(v - mi) * ci + c * exp(v - vload16(0, m + k)) / vload16(0, e + k);
    vstore16(g, 0, row + k);
  }
  for (; k < m2; k++) row[k] = exp(row[k] - mi) * ci + c * exp(row[k] - m[k]) / e[k];
  const int pos = i < n ? i + n : i - n;
  row[pos] -= 2.0f * c;
  row[i] = 0.0f; /* not a candidate */
}

/*
 * Cross-view InfoNCE needs only S12 = U1 U2^T / t (n x n): anchor i < n
 * (view 1) sees row i, anchor n + j (view 2) sees column j; the positive
 * of both is the diagonal. Statistics of view 1 go to mx[i], se[i], of
 * view 2 to mx[n + j], se[n + j].
 *
 * infonce_cv_row_stats: rows i = i0 + r of a block of S12: row maximum and
 * sum of exponentials, rowloss[i], and the diagonal diag[i] = S12[i][i].
 * -D: none. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_cv_row_stats(
    const int n, const int i0, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss),
    TENSOR(diag)) {
  const int r = get_global_id(0), i = i0 + r;
  __global const float *row = AT(s) + (size_t)r * lds;
  const float m = range_max(row, 0, n);
  const float sum = range_sum_exp(row, 0, n, m);
  AT(mx)[i] = m;
  AT(se)[i] = sum;
  AT(rowloss)[i] = log(sum) + m - row[i];
  AT(diag)[i] = row[i];
}

/*
 * infonce_cv_col_stats: fold the rows of one block of S12 into the column
 * statistics (a running maximum and sum of exponentials, rows in order;
 * first: start from nothing), and after the last block write the view-2
 * loss terms rowloss[n + j] = log(se) + mx - diag[j].
 * -D: none. NDRange (ceil(n / 16)), local (1): 16 columns per work-item.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_cv_col_stats(
    const int n, const int rows, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss),
    CTENSOR(diag), const int first, const int last) {
  const int j0 = get_global_id(0) * 16, jn = min(16, n - j0);
  __global float *m2 = AT(mx) + n + j0;
  __global float *e2 = AT(se) + n + j0;
  __global const float *col = AT(s) + j0;
  if (jn == 16) {
    float16 m = first ? (float16)(-INFINITY) : vload16(0, m2);
    float16 e = first ? (float16)(0.0f) : vload16(0, e2);
    for (int r = 0; r < rows; r++) {
      const float16 v = vload16(0, col + (size_t)r * lds), m_new = fmax(m, v);
      e = e * exp(m - m_new) + exp(v - m_new);
      m = m_new;
    }
    vstore16(m, 0, m2);
    vstore16(e, 0, e2);
    if (last) vstore16(log(e) + m - vload16(0, AT(diag) + j0), 0, AT(rowloss) + n + j0);
    return;
  }
  for (int j = 0; j < jn; j++) {
    float m = first ? -INFINITY : m2[j], e = first ? 0.0f : e2[j];
    for (int r = 0; r < rows; r++) {
      const float v = col[(size_t)r * lds + j], m_new = fmax(m, v);
      e = e * exp(m - m_new) + exp(v - m_new);
      m = m_new;
    }
    m2[j] = m;
    e2[j] = e;
    if (last) AT(rowloss)[n + j0 + j] = log(e) + m - AT(diag)[j0 + j];
  }
}

/*
 * infonce_cv_grad: overwrite rows i = i0 + r of S12 with the gradient of
 * the loss with respect to S12, times c = grad_scale / (2n):
 *   G[i][j] = c (P1_ij + P2_ij - 2 [i == j]),
 *   P1_ij = exp(S_ij - mx[i]) / se[i], P2_ij = exp(S_ij - mx[n + j]) / se[n + j].
 * Then dU1 = G U2 / t and dU2 = G^T U1 / t (GEMMs).
 * -D: none. NDRange (rows), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void infonce_cv_grad(
    const int n, const int i0, TENSOR(s), const int lds, CTENSOR(mx), CTENSOR(se), const float c) {
  const int r = get_global_id(0), i = i0 + r;
  __global float *row = AT(s) + (size_t)r * lds;
  __global const float *m2 = AT(mx) + n;
  __global const float *e2 = AT(se) + n;
  const float mi = AT(mx)[i], ci = c / AT(se)[i];
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const float16 v = vload16(0, row + j);
    vstore16(exp(v - mi) * ci + c * exp(v - vload16(0, m2 + j)) / vload16(0, e2 + j), 0, row + j);
  }
  for (; j < n; j++) row[j] = exp(row[j] - mi) * ci + c * exp(row[j] - m2[j]) / e2[j];
  row[i] -= 2.0f * c;
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
    const float eps, TENSOR_DT(dz1), TENSOR_DT(dz2)) {
  const int i = get_global_id(0);
  const bool wanted = i < n ? HAS_DZ1 : HAS_DZ2;
  if (!wanted) return;
  __global STORE_T *dz = i < n ? AT(dz1) + (size_t)i * dim : AT(dz2) + (size_t)(i - n) * dim;
  __global const float *ur = AT(u) + (size_t)i * ldu;
  __global const float *dur = AT(du) + (size_t)i * ldu;
  const float r = AT(norm)[i];
  float dot = 0.0f;
  for (int c = 0; c < dim; c++) dot = fma(ur[c], dur[c], dot);
  if (r > eps) {
    const float inv = 1.0f / r;
    for (int c = 0; c < dim; c++) STORE1((dur[c] - ur[c] * dot) * inv, dz, c);
  } else {
    const float inv = 1.0f / eps;
    for (int c = 0; c < dim; c++) STORE1(dur[c] * inv, dz, c);
  }
}

/* ------------------------------------------------------------ GPU variants
 * Shaped for GPUs (docs/DESIGN.md, "Kernels on GPU devices"); the host plans them for
 * GPU-class devices. Work-groups of WG work-items (a power of two, -DWG):
 *  - a row of classes (plain logits), a row of the similarity matrix, an
 *    embedding: one work-group, each work-item over its elements strided by
 *    WG (coalesced), then a tree in local memory for the maximum and the
 *    sums, in a fixed order;
 *  - per-pixel logits: one position per work-item, neighbouring work-items
 *    on neighbouring pixels (coalesced for every class), the classes of a
 *    position in order;
 *  - means: work-groups sum slices of SLICE values (tree), one work-group
 *    sums the partials (tree) and divides.
 * The cut of every reduction depends on the shape and WG only: same inputs,
 * same bits; no atomics. Every barrier is reached by every work-item: no
 * work-item returns before the last barrier of its kernel.
 */
#ifndef WG
#define WG CLNN_GPU_WG
#endif
#define SLICE (CLNN_LOSS_GPU_SLICE_ITEMS * WG)
/* Means: sum floats or count the labels that are not ignore_index. */
#define MODE_SUM CLNN_LOSS_MEAN_SUM
#define MODE_COUNT CLNN_LOSS_MEAN_COUNT
#ifndef MODE
#define MODE MODE_SUM
#endif

/* This work-item's share, in order, of elements [i0, i1) of v (MODE_SUM)
 * or of the labels that are not ignore_index (MODE_COUNT, exact as an int). */
inline float strided_share(__global const float *v, __global const int *labels, const int ignore_index,
                           const int i0, const int i1) {
#if MODE == MODE_COUNT
  int count = 0;
  for (int i = i0 + (int)get_local_id(0); i < i1; i += WG) count += labels[i] != ignore_index;
  return (float)count;
#else
  float sum = 0.0f;
  for (int i = i0 + (int)get_local_id(0); i < i1; i += WG) sum += v[i];
  return sum;
#endif
}

/*
 * loss_reduce_gpu: part[g] = the sum (MODE_SUM) or count (MODE_COUNT) of
 * slice g, elements [g * SLICE, min(n, (g + 1) * SLICE)).
 * -D: WG, MODE. NDRange (slices * WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void loss_reduce_gpu(
    const int n, CTENSOR(v), CITENSOR(labels), const int ignore_index, TENSOR(part)) {
  __local float red[WG];
  const int g = get_group_id(0), i0 = g * SLICE, i1 = min(n, i0 + SLICE);
  const float s = clnn_group_sum(strided_share(AT(v), AT(labels), ignore_index, i0, i1), red, WG);
  if (get_local_id(0) == 0) AT(part)[g] = s;
}

/*
 * loss_finish_gpu: s = the sum or count of the np values (one work-group);
 * d = *count when HAS_COUNT else divisor; out[0] = ONE_MINUS ? 1 - s / d : s / d.
 * -D: WG, MODE, HAS_COUNT, ONE_MINUS. NDRange (WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void loss_finish_gpu(
    const int np, CTENSOR(v), CITENSOR(labels), const int ignore_index, CTENSOR(count), const float divisor,
    TENSOR(out)) {
  __local float red[WG];
  const float s = clnn_group_sum(strided_share(AT(v), AT(labels), ignore_index, 0, np), red, WG);
  if (get_local_id(0) != 0) return;
#if HAS_COUNT
  const float d = AT(count)[0];
#else
  const float d = divisor;
#endif
  const float mean = s / d; /* 0 / 0 = NaN when every label is ignored, as PyTorch */
  AT(out)[0] = ONE_MINUS ? 1.0f - mean : mean;
}

/*
 * The loss term of a position and its gradient row as g_k = fma(e_k, a, c)
 * (+ fix at the label), e_k = exp(z_k - max): from sum = the sum of e_k,
 * zy = z_y - max, zsum = the sum of z_k - max (for the smoothing), gs =
 * grad_scale / count. The same algebra as loss_class_contig.
 */
typedef struct class_coefs {
  float term, a, c, fix;
} class_coefs;

inline class_coefs class_coefs_of(const float sum, const float zy, const float zsum, const float smoothing,
                                  const int classes, const float gs) {
  class_coefs r;
  const float inv_sum = 1.0f / sum, q_off = smoothing / classes;
#if KIND == KIND_XENT
  r.term = log(sum) - ((1.0f - smoothing) * zy + q_off * zsum);
  r.a = gs * inv_sum;
  r.c = -gs * q_off;
  r.fix = -gs * (1.0f - smoothing);
#else
  const float py = exp(zy) * inv_sum;
  r.term = py;
  r.a = gs * py * inv_sum;
  r.c = 0.0f;
  r.fix = -gs * py;
  (void)zsum;
  (void)q_off;
#endif
  return r;
}

/* An ignored label: term 0 and a zero row; a label out of range: NaN. */
inline float skipped_value(const int y, const int ignore_index) { return y == ignore_index ? 0.0f : NAN; }
inline bool skipped(const int y, const int ignore_index, const int classes) {
  return y == ignore_index || y < 0 || y >= classes;
}

/*
 * loss_class_row_gpu: plain (n, classes) logits, one work-group per row:
 * maximum, sum of exponentials (and of z - max for the smoothing) by trees,
 * then every work-item writes its classes' gradients.
 * -D: WG, KIND, HAS_GRAD. NDRange (n * WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void loss_class_row_gpu(CLASS_ARGS) {
  __local float red[WG];
  const int r = get_group_id(0), lid = get_local_id(0);
  __global const STORE_T *z = AT(logits) + (size_t)r * classes;
  __global STORE_T *g = AT(dlogits) + (size_t)r * classes;
  const int y = AT(labels)[r];
  /* The reductions run for a skipped row too, so that no work-item leaves
   * before the barriers (the whole group would, but PoCL's work-group
   * loops do not take an early return before a barrier). */
  float m = -INFINITY;
  for (int k = lid; k < classes; k += WG) m = fmax(m, LOAD1(z, k));
  m = clnn_group_max(m, red, WG);
  float sum = 0.0f, zsum = 0.0f;
  for (int k = lid; k < classes; k += WG) {
    const float v = LOAD1(z, k) - m;
    sum += exp(v);
    zsum += v;
  }
  sum = clnn_group_sum(sum, red, WG);
#if KIND == KIND_XENT
  zsum = clnn_group_sum(zsum, red, WG);
#endif
  if (skipped(y, ignore_index, classes)) {
    const float v = skipped_value(y, ignore_index);
    if (lid == 0) AT(rowloss)[r] = v;
    if (HAS_GRAD)
      for (int k = lid; k < classes; k += WG) STORE1(v, g, k);
    return;
  }
  const float gs = HAS_GRAD ? grad_scale / AT(count)[0] : 0.0f;
  const class_coefs q = class_coefs_of(sum, LOAD1(z, y) - m, zsum, smoothing, classes, gs);
  if (lid == 0) AT(rowloss)[r] = q.term;
#if HAS_GRAD
  for (int k = lid; k < classes; k += WG)
    STORE1(fma(exp(LOAD1(z, k) - m), q.a, q.c) + (k == y ? q.fix : 0.0f), g, k);
#endif
}

/*
 * loss_class_pix_gpu: per-pixel (n, classes, inner) logits, one position
 * r = b * inner + p per work-item (classes strided by inner, in order).
 * -D: KIND, HAS_GRAD. NDRange (n * inner rounded up to the work-group), local: any.
 */
__kernel void loss_class_pix_gpu(CLASS_ARGS) {
  const int r = get_global_id(0);
  if (r >= n * inner) return;
  const int b = r / inner, p = r - b * inner;
  const size_t at = (size_t)b * classes * inner + p;
  __global const STORE_T *z = AT(logits) + at;
  __global STORE_T *g = AT(dlogits) + at;
  const int y = AT(labels)[r];
  if (skipped(y, ignore_index, classes)) {
    const float v = skipped_value(y, ignore_index);
    AT(rowloss)[r] = v;
    if (HAS_GRAD)
      for (int k = 0; k < classes; k++) STORE1(v, g, (size_t)k * inner);
    return;
  }
  float m = -INFINITY;
  for (int k = 0; k < classes; k++) m = fmax(m, LOAD1(z, (size_t)k * inner));
  float sum = 0.0f, zsum = 0.0f;
  for (int k = 0; k < classes; k++) {
    const float v = LOAD1(z, (size_t)k * inner) - m;
    sum += exp(v);
    zsum += v;
  }
  const float gs = HAS_GRAD ? grad_scale / AT(count)[0] : 0.0f;
  const class_coefs q = class_coefs_of(sum, LOAD1(z, (size_t)y * inner) - m, zsum, smoothing, classes, gs);
  AT(rowloss)[r] = q.term;
#if HAS_GRAD
  for (int k = 0; k < classes; k++)
    STORE1(fma(exp(LOAD1(z, (size_t)k * inner) - m), q.a, q.c) + (k == y ? q.fix : 0.0f), g, (size_t)k * inner);
#endif
}

/* ------------------------------------------------------ InfoNCE on GPUs
 * The same arguments as the CPU kernels above; one work-group per row
 * (NDRange rows * WG, local WG) unless said otherwise.
 */

/* infonce_normalize_gpu: as infonce_normalize; the sum of squares by a tree. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_normalize_gpu(
    const int n, const int dim, CTENSOR_DT(z1), CTENSOR_DT(z2), const float eps, TENSOR(u), const int ldu,
    TENSOR(ut), const int ldt, TENSOR(norm)) {
  __local float red[WG];
  const int i = get_group_id(0), lid = get_local_id(0);
  __global const STORE_T *z = i < n ? AT(z1) + (size_t)i * dim : AT(z2) + (size_t)(i - n) * dim;
  float ss = 0.0f;
  for (int c = lid; c < dim; c += WG) ss = fma(LOAD1(z, c), LOAD1(z, c), ss);
  const float r = sqrt(clnn_group_sum(ss, red, WG));
  const float inv = 1.0f / fmax(r, eps);
  __global float *urow = AT(u) + (size_t)i * ldu;
  __global float *ucol = AT(ut) + i;
  for (int c = lid; c < dim; c += WG) {
    const float v = LOAD1(z, c) * inv;
    urow[c] = v;
    ucol[(size_t)c * ldt] = v;
  }
  if (lid == 0) AT(norm)[i] = r;
}

/* infonce_row_stats_gpu: as infonce_row_stats (candidates k != i of 2n). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_row_stats_gpu(
    const int n, const int i0, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss)) {
  __local float red[WG];
  const int r = get_group_id(0), i = i0 + r, lid = get_local_id(0);
  __global const float *row = AT(s) + (size_t)r * lds;
  float m = -INFINITY;
  for (int k = lid; k < 2 * n; k += WG)
    if (k != i) m = fmax(m, row[k]);
  m = clnn_group_max(m, red, WG);
  float sum = 0.0f;
  for (int k = lid; k < 2 * n; k += WG)
    if (k != i) sum += exp(row[k] - m);
  sum = clnn_group_sum(sum, red, WG);
  if (lid != 0) return;
  const int pos = i < n ? i + n : i - n;
  AT(mx)[i] = m;
  AT(se)[i] = sum;
  AT(rowloss)[i] = log(sum) + m - row[pos];
}

/* infonce_cv_row_stats_gpu: as infonce_cv_row_stats (all n columns). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_cv_row_stats_gpu(
    const int n, const int i0, CTENSOR(s), const int lds, TENSOR(mx), TENSOR(se), TENSOR(rowloss),
    TENSOR(diag)) {
  __local float red[WG];
  const int r = get_group_id(0), i = i0 + r, lid = get_local_id(0);
  __global const float *row = AT(s) + (size_t)r * lds;
  float m = -INFINITY;
  for (int k = lid; k < n; k += WG) m = fmax(m, row[k]);
  m = clnn_group_max(m, red, WG);
  float sum = 0.0f;
  for (int k = lid; k < n; k += WG) sum += exp(row[k] - m);
  sum = clnn_group_sum(sum, red, WG);
  if (lid != 0) return;
  AT(mx)[i] = m;
  AT(se)[i] = sum;
  AT(rowloss)[i] = log(sum) + m - row[i];
  AT(diag)[i] = row[i];
}

/*
 * infonce_cv_col_stats_gpu: as infonce_cv_col_stats with one column per
 * work-item (neighbouring work-items on neighbouring columns), the block's
 * rows folded in order. NDRange (n rounded up to the work-group), local: any.
 */
__kernel void infonce_cv_col_stats_gpu(const int n, const int rows, CTENSOR(s), const int lds, TENSOR(mx),
                                       TENSOR(se), TENSOR(rowloss), CTENSOR(diag), const int first,
                                       const int last) {
  const int j = get_global_id(0);
  if (j >= n) return;
  __global const float *col = AT(s) + j;
  float m = first ? -INFINITY : AT(mx)[n + j], e = first ? 0.0f : AT(se)[n + j];
  for (int r = 0; r < rows; r++) {
    const float v = col[(size_t)r * lds], m_new = fmax(m, v);
    e = e * exp(m - m_new) + exp(v - m_new);
    m = m_new;
  }
  AT(mx)[n + j] = m;
  AT(se)[n + j] = e;
  if (last) AT(rowloss)[n + j] = log(e) + m - AT(diag)[j];
}

/* infonce_grad_sym_gpu: as infonce_grad_sym; the work-item that owns the
 * positive or the diagonal writes its fixed value (no second pass). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_grad_sym_gpu(
    const int n, const int i0, TENSOR(s), const int lds, CTENSOR(mx), CTENSOR(se), const float c) {
  const int r = get_group_id(0), i = i0 + r, lid = get_local_id(0);
  __global float *row = AT(s) + (size_t)r * lds;
  __global const float *m = AT(mx);
  __global const float *e = AT(se);
  const float mi = m[i], ci = c / e[i];
  const int pos = i < n ? i + n : i - n;
  for (int k = lid; k < 2 * n; k += WG) {
    const float v = row[k];
    const float g = exp(v - mi) * ci + c * exp(v - m[k]) / e[k];
    row[k] = k == i ? 0.0f : k == pos ? g - 2.0f * c : g;
  }
}

/* infonce_cv_grad_gpu: as infonce_cv_grad. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_cv_grad_gpu(
    const int n, const int i0, TENSOR(s), const int lds, CTENSOR(mx), CTENSOR(se), const float c) {
  const int r = get_group_id(0), i = i0 + r, lid = get_local_id(0);
  __global float *row = AT(s) + (size_t)r * lds;
  __global const float *m2 = AT(mx) + n;
  __global const float *e2 = AT(se) + n;
  const float mi = AT(mx)[i], ci = c / AT(se)[i];
  for (int j = lid; j < n; j += WG) {
    const float v = row[j];
    const float g = exp(v - mi) * ci + c * exp(v - m2[j]) / e2[j];
    row[j] = j == i ? g - 2.0f * c : g;
  }
}

/* infonce_normalize_bwd_gpu: as infonce_normalize_bwd; u_i . du_i by a tree. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void infonce_normalize_bwd_gpu(
    const int n, const int dim, CTENSOR(u), CTENSOR(du), const int ldu, CTENSOR(norm), const float eps,
    TENSOR_DT(dz1), TENSOR_DT(dz2)) {
  __local float red[WG];
  const int i = get_group_id(0), lid = get_local_id(0);
  const bool wanted = i < n ? HAS_DZ1 : HAS_DZ2;
  __global STORE_T *dz = i < n ? AT(dz1) + (size_t)i * dim : AT(dz2) + (size_t)(i - n) * dim;
  __global const float *ur = AT(u) + (size_t)i * ldu;
  __global const float *dur = AT(du) + (size_t)i * ldu;
  const float r = AT(norm)[i];
  float dot = 0.0f;
  for (int c = lid; c < dim; c += WG) dot = fma(ur[c], dur[c], dot);
  dot = clnn_group_sum(dot, red, WG);
  if (!wanted) return; /* after the barriers (see loss_class_row_gpu) */
  const float inv = 1.0f / (r > eps ? r : eps);
  for (int c = lid; c < dim; c += WG) STORE1(r > eps ? (dur[c] - ur[c] * dot) * inv : dur[c] * inv, dz, c);
}
