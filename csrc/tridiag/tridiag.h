// Eigenvalues of batched symmetric tridiagonal matrices by Sturm-sequence
// bisection (Barth, Martin, Wilkinson 1967; the counting recurrence of LAPACK's
// dstebz/dlaebz, with its pivot floor).
//
// Each eigenvalue is found independently: lambda_k (k-th smallest, 0-based) is
// the limit of the interval [lo, hi] with count(lo) <= k < count(hi), where
// count(x) = number of eigenvalues < x = number of negative pivots of the LDL^T
// factorisation of T - x I. One CUDA thread per (matrix, k) in
// tridiag_cuda.cu, a loop over them in tridiag_cpu.cpp: the same functions
// below, in float64, so both tiers return the same bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/host_device.h"

namespace fastgan {
namespace tridiag {

// d: [batch, n] diagonals, e2: [batch, n - 1] squared off-diagonals (float64,
// contiguous); out: [batch, n] ascending eigenvalues (float64).
struct Params {
  const double* d = nullptr;
  const double* e2 = nullptr;
  double* out = nullptr;
  int64_t batch = 0;
  int64_t n = 0;
};

FASTGAN_HD double fabs_(double x) { return x < 0.0 ? -x : x; }
FASTGAN_HD double fmax_(double a, double b) { return a > b ? a : b; }
FASTGAN_HD double fmin_(double a, double b) { return a < b ? a : b; }

// Gershgorin interval [lo, hi] containing every eigenvalue, widened slightly so
// that count(lo) = 0 and count(hi) = n hold in floating point; pivmin is the
// pivot floor of the counting recurrence (a zero pivot is replaced by -pivmin).
FASTGAN_HD void bounds(const double* d, const double* e2, int64_t n, double* lo, double* hi,
                       double* pivmin) {
  double l = d[0], h = d[0], emax = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double left = i > 0 ? sqrt(e2[i - 1]) : 0.0;
    const double right = i + 1 < n ? sqrt(e2[i]) : 0.0;
    const double r = left + right;
    l = fmin_(l, d[i] - r);
    h = fmax_(h, d[i] + r);
    if (i + 1 < n) emax = fmax_(emax, e2[i]);
  }
  const double width = fmax_(fabs_(l), fabs_(h));
  const double pad = 2.0 * kEps64 * width * double(n) + 2.0 * kSafeMin64;
  *lo = l - pad;
  *hi = h + pad;
  *pivmin = kSafeMin64 * fmax_(1.0, emax);
}

// Number of eigenvalues of T strictly below x (negative pivots of T - x I).
FASTGAN_HD int64_t sturm_count(const double* d, const double* e2, int64_t n, double x, double pivmin) {
  int64_t count = 0;
  double q = d[0] - x;
  if (fabs_(q) < pivmin) q = -pivmin;
  if (q < 0.0) ++count;
  for (int64_t i = 1; i < n; ++i) {
    q = d[i] - x - e2[i - 1] / q;
    if (fabs_(q) < pivmin) q = -pivmin;
    if (q < 0.0) ++count;
  }
  return count;
}

// Maximum bisection steps: the interval halves each step, so 128 steps take
// any finite Gershgorin width below the stopping tolerance.
constexpr int kMaxSteps = 128;

// lambda_k (0-based, ascending) of one tridiagonal matrix, to an absolute
// accuracy of about 2 eps max|lambda| + pivmin.
FASTGAN_HD double bisect(const double* d, const double* e2, int64_t n, int64_t k, double lo, double hi,
                         double pivmin) {
  const double tol = 2.0 * kEps64 * fmax_(fabs_(lo), fabs_(hi)) + 4.0 * pivmin;
  for (int step = 0; step < kMaxSteps; ++step) {
    if (hi - lo <= tol) break;
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;  // no representable midpoint left
    if (sturm_count(d, e2, n, mid, pivmin) > k) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return 0.5 * (lo + hi);
}

// One eigenvalue of matrix `b`: the unit of work of both tiers.
FASTGAN_HD double eigenvalue(const Params& p, int64_t b, int64_t k) {
  const double* d = p.d + b * p.n;
  const double* e2 = p.e2 + b * (p.n - 1);
  if (p.n == 1) return d[0];
  double lo, hi, pivmin;
  bounds(d, e2, p.n, &lo, &hi, &pivmin);
  return bisect(d, e2, p.n, k, lo, hi, pivmin);
}

void tridiagonal_eigvalsh_cpu(const Params& p, int num_threads);
#ifdef WITH_CUDA
void tridiagonal_eigvalsh_cuda(const Params& p, int device, void* stream);
#endif

}  // namespace tridiag
}  // namespace fastgan
