// Row sums of a polynomial kernel over a Gram block: the reduction of KID's unbiased MMD
// estimate (Binkowski et al. 2018, eq. 3) after the block's GEMM.
//
// For a block S (rows x cols, element (i, j) at s[i * ld + j]) of inner products,
//   out[i] = sum over the row's region of (gamma * s_ij + coef0) ^ degree,
// every term and sum in float64 (float32 blocks are widened element by element), so no
// float32 sum of many terms enters KID. The region of row i is all columns ("full"), the
// columns left of the diagonal (j < i, "lower") or right of it (j > i, "upper"): the strict
// triangles of a symmetric block without its diagonal, as a BLAS ?syrk leaves them.
//
// One CUDA block per row in kernel_sum_cuda.cu (tree reduction in shared memory, no atomics:
// bitwise deterministic), a loop over rows in kernel_sum_cpu.cpp: the term below, once.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace fastgan {
namespace kernel_sum {

enum Region : int { kFull = 0, kLower = 1, kUpper = 2 };

struct Params {
  const void* s = nullptr;
  double* out = nullptr;  // [rows]
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // elements between the starts of two rows (>= cols)
  int dtype = 0;   // 0 float32, 1 float64
  int region = kFull;
  int degree = 3;  // >= 0
  double gamma = 1.0;
  double coef0 = 1.0;
};

// (gamma s + coef0) ^ degree in float64; degrees 1..3 unrolled (KID's cubic kernel).
FASTGAN_HD double term(double s, double gamma, double coef0, int degree) {
  const double u = gamma * s + coef0;
  switch (degree) {
    case 0: return 1.0;
    case 1: return u;
    case 2: return u * u;
    case 3: return u * u * u;
    default: {
      double r = u * u * u;
      for (int i = 3; i < degree; ++i) r *= u;
      return r;
    }
  }
}

// The columns [begin, end) of row i in the region.
FASTGAN_HD void row_range(const Params& p, int64_t i, int64_t* begin, int64_t* end) {
  *begin = p.region == kUpper ? (i + 1 < p.cols ? i + 1 : p.cols) : 0;
  *end = p.region == kLower ? (i < p.cols ? i : p.cols) : p.cols;
}

// out[i] for every row; num_threads splits the rows (each row is summed by one thread).
void kernel_row_sums_cpu(const Params& p, int num_threads);
// The same on device buffers, on the given stream.
void kernel_row_sums_cuda(const Params& p, int device, void* stream);

}  // namespace kernel_sum
}  // namespace fastgan
