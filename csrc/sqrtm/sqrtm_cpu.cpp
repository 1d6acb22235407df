// CPU tier of the Jacobi square-root kernels: the formulas of sqrtm.h run serially on
// one matrix per task, tasks spread over the batch with parallel_for.
//
// A <- J^T A J is done as: rotate rows (J^T A), transpose, rotate rows again. For a
// symmetric A this equals the CUDA kernel's rows-then-columns update element for
// element (stored transposed), and keeps every inner loop contiguous.

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/errors.h"
#include "common/parallel.h"
#include "sqrtm/sqrtm.h"

namespace fastgan {
namespace sqrtm {
namespace {

struct Rot {
  int p, q;
  double c, s, t, app, aqq, apq;
};

// Hot loop of the CPU tier: cloned for AVX2 (4 doubles per instruction) with a baseline
// fallback, so the build still runs on any x86-64. No FMA: the results stay bitwise equal
// to the baseline clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FASTGAN_SQRTM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FASTGAN_SQRTM_CLONES
#endif

FASTGAN_SQRTM_CLONES void rotate_rows(double* a, int n, int p, int q, double c, double s) {
  double* rp = a + static_cast<int64_t>(p) * n;
  double* rq = a + static_cast<int64_t>(q) * n;
#pragma omp simd
  for (int j = 0; j < n; ++j) {
    const double x = rp[j], y = rq[j];
    rp[j] = c * x - s * y;
    rq[j] = s * x + c * y;
  }
}

inline void transpose_inplace(double* a, int n) {
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) std::swap(a[static_cast<int64_t>(i) * n + j], a[static_cast<int64_t>(j) * n + i]);
}

// Cyclic Jacobi on the symmetric n x n matrix `a` (overwritten: its diagonal becomes the
// eigenvalues). When vt is given it starts as I and ends with eigenvectors as rows.
bool jacobi(double* a, double* vt, int n, int max_sweeps, double tol, std::vector<Rot>& rots) {
  if (vt != nullptr) {
    std::fill(vt, vt + static_cast<int64_t>(n) * n, 0.0);
    for (int i = 0; i < n; ++i) vt[static_cast<int64_t>(i) * n + i] = 1.0;
  }
  if (n <= 1) return true;
  const int m = even_size(n);
  rots.resize(m / 2);
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    int64_t rotated = 0;
    for (int r = 0; r < m - 1; ++r) {
      int nr = 0;
      for (int k = 0; k < m / 2; ++k) {
        int p, q;
        round_robin_pair(r, k, m, &p, &q);
        if (q >= n) continue;
        Rot rt;
        rt.p = p;
        rt.q = q;
        rt.app = a[static_cast<int64_t>(p) * n + p];
        rt.aqq = a[static_cast<int64_t>(q) * n + q];
        rt.apq = a[static_cast<int64_t>(p) * n + q];
        if (jacobi_rotation(rt.app, rt.aqq, rt.apq, tol, &rt.c, &rt.s, &rt.t)) rots[nr++] = rt;
      }
      if (nr == 0) continue;
      rotated += nr;
      for (int k = 0; k < nr; ++k) {
        rotate_rows(a, n, rots[k].p, rots[k].q, rots[k].c, rots[k].s);
        if (vt != nullptr) rotate_rows(vt, n, rots[k].p, rots[k].q, rots[k].c, rots[k].s);
      }
      transpose_inplace(a, n);
      for (int k = 0; k < nr; ++k) rotate_rows(a, n, rots[k].p, rots[k].q, rots[k].c, rots[k].s);
      for (int k = 0; k < nr; ++k) {
        const Rot& rt = rots[k];
        a[static_cast<int64_t>(rt.p) * n + rt.p] = rotated_app(rt.app, rt.apq, rt.t);
        a[static_cast<int64_t>(rt.q) * n + rt.q] = rotated_aqq(rt.aqq, rt.apq, rt.t);
        a[static_cast<int64_t>(rt.p) * n + rt.q] = 0.0;
        a[static_cast<int64_t>(rt.q) * n + rt.p] = 0.0;
      }
    }
    if (rotated == 0) return true;
  }
  return false;
}

// Load matrix `idx` of `src` as a symmetrised float64 matrix.
void load_sym(const void* src, int dtype, int64_t idx, int n, double* dst) {
  const int64_t off = idx * n * n;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) dst[static_cast<int64_t>(i) * n + j] = load_as_double(src, dtype, off + static_cast<int64_t>(i) * n + j);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double v = 0.5 * (dst[static_cast<int64_t>(i) * n + j] + dst[static_cast<int64_t>(j) * n + i]);
      dst[static_cast<int64_t>(i) * n + j] = v;
      dst[static_cast<int64_t>(j) * n + i] = v;
    }
}

// In-place right-looking Cholesky of the lower triangle (upper part zeroed). Returns false
// when a pivot is at or below pivot_threshold.
bool cholesky(double* a, int n) {
  double maxd = 0.0;
  for (int i = 0; i < n; ++i) maxd = std::max(maxd, std::fabs(a[static_cast<int64_t>(i) * n + i]));
  const double thr = pivot_threshold(n, maxd);
  for (int k = 0; k < n; ++k) {
    const double piv = a[static_cast<int64_t>(k) * n + k];
    if (!(piv > thr)) return false;
    const double lkk = std::sqrt(piv);
    a[static_cast<int64_t>(k) * n + k] = lkk;
    for (int i = k + 1; i < n; ++i) a[static_cast<int64_t>(i) * n + k] /= lkk;
    for (int i = k + 1; i < n; ++i) {
      const double lik = a[static_cast<int64_t>(i) * n + k];
      for (int j = k + 1; j <= i; ++j) a[static_cast<int64_t>(i) * n + j] -= lik * a[static_cast<int64_t>(j) * n + k];
    }
  }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) a[static_cast<int64_t>(i) * n + j] = 0.0;
  return true;
}

// out = F^T Y F for F [n, n] (dense), with scratch w [n, n].
void congruence(const double* f, const double* y, double* w, double* out, int n) {
  // w = Y F
  for (int i = 0; i < n; ++i) {
    double* wi = w + static_cast<int64_t>(i) * n;
    std::fill(wi, wi + n, 0.0);
    for (int k = 0; k < n; ++k) {
      const double yik = y[static_cast<int64_t>(i) * n + k];
      if (yik == 0.0) continue;
      const double* fk = f + static_cast<int64_t>(k) * n;
#pragma omp simd
      for (int j = 0; j < n; ++j) wi[j] += yik * fk[j];
    }
  }
  // out = F^T w
  std::fill(out, out + static_cast<int64_t>(n) * n, 0.0);
  for (int k = 0; k < n; ++k) {
    const double* fk = f + static_cast<int64_t>(k) * n;
    const double* wk = w + static_cast<int64_t>(k) * n;
    for (int i = 0; i < n; ++i) {
      const double fki = fk[i];
      if (fki == 0.0) continue;
      double* oi = out + static_cast<int64_t>(i) * n;
#pragma omp simd
      for (int j = 0; j < n; ++j) oi[j] += fki * wk[j];
    }
  }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double v = 0.5 * (out[static_cast<int64_t>(i) * n + j] + out[static_cast<int64_t>(j) * n + i]);
      out[static_cast<int64_t>(i) * n + j] = v;
      out[static_cast<int64_t>(j) * n + i] = v;
    }
}

// F = V diag(sqrt(w)) with eigenvalues at or below rank_threshold dropped (zero columns).
// x holds the Jacobi-converged matrix (eigenvalues on its diagonal), vt the eigenvectors as rows.
void psd_factor(const double* x, const double* vt, double* f, int n) {
  double wmax = 0.0;
  for (int i = 0; i < n; ++i) wmax = std::max(wmax, std::fabs(x[static_cast<int64_t>(i) * n + i]));
  const double thr = rank_threshold(n, wmax);
  for (int j = 0; j < n; ++j) {
    const double wj = x[static_cast<int64_t>(j) * n + j];
    const double sj = wj > thr ? std::sqrt(wj) : 0.0;
    for (int i = 0; i < n; ++i) f[static_cast<int64_t>(i) * n + j] = vt[static_cast<int64_t>(j) * n + i] * sj;
  }
}

void check_params(const sqrtm_params& p, bool need_b) {
  FASTGAN_CHECK_ARG(p.n >= 0, "sqrtm: n must be >= 0, got ", p.n);
  FASTGAN_CHECK_ARG(p.batch >= 0, "sqrtm: batch must be >= 0, got ", p.batch);
  FASTGAN_CHECK_ARG(p.dtype == 0 || p.dtype == 1, "sqrtm: dtype code must be 0 (float32) or 1 (float64), got ", p.dtype);
  FASTGAN_CHECK_ARG(p.max_sweeps >= 1, "sqrtm: max_sweeps must be >= 1, got ", p.max_sweeps);
  FASTGAN_CHECK_ARG(p.tol >= 0.0 && std::isfinite(p.tol), "sqrtm: tol must be finite and >= 0, got ", p.tol);
  if (p.batch > 0 && p.n > 0) {
    FASTGAN_CHECK_ARG(p.a != nullptr && p.out != nullptr, "sqrtm: null data pointer");
    FASTGAN_CHECK_ARG(!need_b || p.b != nullptr, "sqrtm: null data pointer for b");
  }
}

}  // namespace

int64_t sqrtm_sym_cpu(const sqrtm_params& p, int num_threads) {
  check_params(p, false);
  const int n = p.n;
  if (p.batch == 0 || n == 0) return 0;
  std::vector<int64_t> bad(p.batch, 0);
  parallel_for(p.batch, 1, num_threads, [&](int64_t b0, int64_t b1) {
    const int64_t nn = static_cast<int64_t>(n) * n;
    std::vector<double> a(nn), vt(nn), tmp(nn);
    std::vector<Rot> rots;
    for (int64_t bi = b0; bi < b1; ++bi) {
      load_sym(p.a, p.dtype, bi, n, a.data());
      if (!jacobi(a.data(), vt.data(), n, p.max_sweeps, p.tol, rots)) bad[bi] = 1;
      if (p.neg_ratio != nullptr) {
        double neg = 0.0, tot = 0.0;
        for (int k = 0; k < n; ++k) add_mass(a[static_cast<int64_t>(k) * n + k], &neg, &tot);
        p.neg_ratio[bi] = mass_ratio(neg, tot);
      }
      // S = V diag(sqrt(w)) V^T = sum_k s_k v_k v_k^T
      std::fill(tmp.begin(), tmp.end(), 0.0);
      for (int k = 0; k < n; ++k) {
        const double sk = sqrt_clamped(a[static_cast<int64_t>(k) * n + k]);
        if (sk == 0.0) continue;
        const double* vk = vt.data() + static_cast<int64_t>(k) * n;
        for (int i = 0; i < n; ++i) {
          const double f = sk * vk[i];
          double* ti = tmp.data() + static_cast<int64_t>(i) * n;
#pragma omp simd
          for (int j = 0; j < n; ++j) ti[j] += f * vk[j];
        }
      }
      const int64_t off = bi * nn;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          const double v = 0.5 * (tmp[static_cast<int64_t>(i) * n + j] + tmp[static_cast<int64_t>(j) * n + i]);
          store_from_double(p.out, p.dtype, off + static_cast<int64_t>(i) * n + j, v);
        }
    }
  });
  int64_t total = 0;
  for (int64_t v : bad) total += v;
  return total;
}

int64_t trace_sqrt_product_cpu(const sqrtm_params& p, int num_threads) {
  check_params(p, true);
  const int n = p.n;
  if (p.batch == 0) return 0;
  double* out = static_cast<double*>(p.out);
  if (n == 0) {
    std::fill(out, out + p.batch, 0.0);
    return 0;
  }
  std::vector<int64_t> bad(p.batch, 0);
  parallel_for(p.batch, 1, num_threads, [&](int64_t b0, int64_t b1) {
    const int64_t nn = static_cast<int64_t>(n) * n;
    std::vector<double> x(nn), y(nn), v(nn), w(nn);
    std::vector<Rot> rots;
    for (int64_t bi = b0; bi < b1; ++bi) {
      // Which side may be Cholesky-factored? (the same rule as the torch reference)
      load_sym(p.b, p.dtype, bi, n, x.data());
      const bool ok_b = cholesky(x.data(), n);
      load_sym(p.a, p.dtype, bi, n, x.data());
      const bool ok_a = cholesky(x.data(), n);
      bool conv = true;
      double ratio = 0.0;
      if (ok_a && ok_b) {
        // M = L^T B L with A = L L^T (x holds L).
        load_sym(p.b, p.dtype, bi, n, y.data());
        congruence(x.data(), y.data(), w.data(), v.data(), n);
      } else {
        // Rank-revealing route on the singular side S: S = F F^T, M = F^T O F.
        const void* sing = ok_a ? p.b : p.a;
        const void* other = ok_a ? p.a : p.b;
        load_sym(sing, p.dtype, bi, n, x.data());
        conv = jacobi(x.data(), v.data(), n, p.max_sweeps, p.tol, rots);
        double neg = 0.0, tot = 0.0;
        for (int i = 0; i < n; ++i) add_mass(x[static_cast<int64_t>(i) * n + i], &neg, &tot);
        ratio = mass_ratio(neg, tot);
        psd_factor(x.data(), v.data(), w.data(), n);  // w = F
        load_sym(other, p.dtype, bi, n, y.data());
        congruence(w.data(), y.data(), x.data(), v.data(), n);  // v = F^T O F
      }
      conv = jacobi(v.data(), nullptr, n, p.max_sweeps, p.tol, rots) && conv;
      double acc = 0.0, neg = 0.0, tot = 0.0;
      for (int i = 0; i < n; ++i) {
        const double lam = v[static_cast<int64_t>(i) * n + i];
        acc += sqrt_clamped(lam);
        add_mass(lam, &neg, &tot);
      }
      out[bi] = acc;
      if (p.neg_ratio != nullptr) p.neg_ratio[bi] = std::max(ratio, mass_ratio(neg, tot));
      if (!conv) bad[bi] = 1;
    }
  });
  int64_t total = 0;
  for (int64_t b : bad) total += b;
  return total;
}

int64_t sym_eigh_cpu(const sqrtm_params& p, double* w, double* vt, int num_threads) {
  check_params(p, false);
  const int n = p.n;
  if (p.batch == 0 || n == 0) return 0;
  FASTGAN_CHECK_ARG(w != nullptr, "sym_eigh: null pointer for w");
  std::vector<int64_t> bad(p.batch, 0);
  parallel_for(p.batch, 1, num_threads, [&](int64_t b0, int64_t b1) {
    const int64_t nn = static_cast<int64_t>(n) * n;
    std::vector<double> a(nn), v(nn);
    std::vector<Rot> rots;
    for (int64_t bi = b0; bi < b1; ++bi) {
      load_sym(p.a, p.dtype, bi, n, a.data());
      if (!jacobi(a.data(), vt != nullptr ? v.data() : nullptr, n, p.max_sweeps, p.tol, rots)) bad[bi] = 1;
      for (int i = 0; i < n; ++i) w[bi * n + i] = a[static_cast<int64_t>(i) * n + i];
      if (vt != nullptr) std::copy(v.begin(), v.end(), vt + bi * nn);
    }
  });
  int64_t total = 0;
  for (int64_t b : bad) total += b;
  return total;
}

}  // namespace sqrtm
}  // namespace fastgan
