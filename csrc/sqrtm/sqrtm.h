// Symmetric PSD square roots and tr sqrt(A^1/2 B A^1/2) by cyclic Jacobi iteration.
//
// The scalar math (rotation angles, round-robin pair ordering, Cholesky pivot and rank
// thresholds) lives here as FASTGAN_HD functions; sqrtm_cpu.cpp runs it serially per
// matrix (parallel over the batch) and sqrtm_cuda.cu runs one thread block per matrix
// with all rotations of a round applied in parallel. Both tiers execute the same
// sequence of rotations: per round, every pair (p, q) of the round-robin schedule gets
// its rotation from the matrix as it was at the start of the round, then
// A <- J^T A J with J the product of those disjoint rotations, then the 2x2 blocks are
// set to their exact values (a_pp - t a_pq, a_qq + t a_pq, 0).
//
// All arithmetic is float64 whatever the storage dtype (float32 or float64).
#pragma once

#include <cmath>
#include <cstdint>

#include "common/host_device.h"

namespace fastgan {
namespace sqrtm {

//! Largest n for the CUDA kernels (three n x n float64 matrices in shared memory).
constexpr int kCudaMaxN = 64;

// Parameters of a batched call. Matrices are row-major, contiguous, batch-major.
struct sqrtm_params {
  const void* a = nullptr;  // [batch, n, n] symmetric PSD, dtype `dtype`
  const void* b = nullptr;  // [batch, n, n] symmetric PSD (trace_sqrt_product only)
  void* out = nullptr;      // sqrtm_sym: [batch, n, n] dtype `dtype`; trace: [batch] float64
  int64_t batch = 0;
  int n = 0;
  int dtype = 1;            // 0 = float32, 1 = float64
  int max_sweeps = 30;
  double tol = 1e-14;       // rotate (p, q) while |a_pq| > tol * sqrt(|a_pp a_qq|)
  double* neg_ratio = nullptr;  // optional [batch] float64: clamped negative eigenvalue mass
                                // sum(max(-w, 0)) / sum(|w|), the largest over the eigenproblems solved
};


FASTGAN_HD int even_size(int n) { return n + (n & 1); }

// Round-robin ("circle method") schedule over m = even_size(n) indices: round r in
// [0, m - 1) holds the m / 2 disjoint pairs k in [0, m / 2); every unordered pair
// appears in exactly one round of a sweep. Pairs touching index n (padding for odd n)
// are to be skipped by the caller (p or q >= n).
FASTGAN_HD void round_robin_pair(int round, int k, int m, int* p, int* q) {
  const int mm = m - 1;
  int x, y;
  if (k == 0) {
    x = mm;
    y = round;
  } else {
    x = (round + k) % mm;
    y = (round - k + mm) % mm;
  }
  *p = x < y ? x : y;
  *q = x < y ? y : x;
}

// Rotation that annihilates a_pq (Rutishauser's stable form). Returns false (c = 1,
// s = t = 0) when a_pq is already negligible relative to sqrt(|a_pp a_qq|) (this
// threshold gives eigenvalues with high relative accuracy) or exactly zero.
FASTGAN_HD bool jacobi_rotation(double app, double aqq, double apq, double tol, double* c, double* s,
                                double* t) {
  *c = 1.0;
  *s = 0.0;
  *t = 0.0;
  const double aapq = fabs(apq);
  if (aapq == 0.0 || aapq <= tol * sqrt(fabs(app) * fabs(aqq))) return false;
  const double theta = (aqq - app) / (2.0 * apq);
  double tt;
  if (fabs(theta) > 1e150) {
    tt = 0.5 / theta;  // theta^2 would overflow; t ~ 1 / (2 theta)
  } else {
    tt = (theta >= 0.0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
  }
  const double cc = 1.0 / sqrt(tt * tt + 1.0);
  *c = cc;
  *s = tt * cc;
  *t = tt;
  return true;
}

// (x, y) <- (c x - s y, s x + c y): the row/column update of a rotation in plane (p, q).
FASTGAN_HD void rotate2(double c, double s, double* x, double* y) {
  const double xv = *x, yv = *y;
  *x = c * xv - s * yv;
  *y = s * xv + c * yv;
}

// Exact values of the rotated 2x2 block: a_pp' = a_pp - t a_pq, a_qq' = a_qq + t a_pq, a_pq' = 0.
FASTGAN_HD double rotated_app(double app, double apq, double t) { return app - t * apq; }
FASTGAN_HD double rotated_aqq(double aqq, double apq, double t) { return aqq + t * apq; }

// A Cholesky pivot at or below this is treated as zero: the matrix is numerically
// singular and the rank-revealing eigen route is used instead (same rule as the torch
// reference, fastgan/linalg/_ref.py).
FASTGAN_HD double pivot_threshold(int n, double max_diag) { return 10.0 * n * kEps64 * max_diag; }

// Eigenvalues at or below this are dropped from a PSD factor F = V diag(sqrt(w)).
FASTGAN_HD double rank_threshold(int n, double max_abs_eig) { return 10.0 * n * kEps64 * max_abs_eig; }

FASTGAN_HD double sqrt_clamped(double w) { return w > 0.0 ? sqrt(w) : 0.0; }

// Accumulates the clamped (negative) and total eigenvalue mass of one eigenvalue.
FASTGAN_HD void add_mass(double w, double* neg, double* tot) {
  if (w < 0.0) *neg -= w;
  *tot += fabs(w);
}

FASTGAN_HD double mass_ratio(double neg, double tot) { return tot > 0.0 ? neg / tot : 0.0; }

// Load element i of a float32 / float64 buffer as double.
FASTGAN_HD double load_as_double(const void* p, int dtype, int64_t i) {
  return dtype == 0 ? static_cast<double>(static_cast<const float*>(p)[i]) : static_cast<const double*>(p)[i];
}

FASTGAN_HD void store_from_double(void* p, int dtype, int64_t i, double v) {
  if (dtype == 0) {
    static_cast<float*>(p)[i] = static_cast<float>(v);
  } else {
    static_cast<double*>(p)[i] = v;
  }
}

// ---- host entry points (sqrtm_cpu.cpp); each returns the number of matrices whose
// ---- Jacobi iteration did not converge within max_sweeps.
int64_t sqrtm_sym_cpu(const sqrtm_params& p, int num_threads);
int64_t trace_sqrt_product_cpu(const sqrtm_params& p, int num_threads);
// Eigen-decomposition for tests: w [batch, n] (unsorted), vt [batch, n, n] with rows = eigenvectors.
int64_t sym_eigh_cpu(const sqrtm_params& p, double* w, double* vt, int num_threads);

#ifdef WITH_CUDA
int64_t sqrtm_sym_cuda(const sqrtm_params& p, int device, uintptr_t stream);
int64_t trace_sqrt_product_cuda(const sqrtm_params& p, int device, uintptr_t stream);
#endif

}  // namespace sqrtm
}  // namespace fastgan
