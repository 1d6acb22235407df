// CUDA tier of the polynomial-kernel row sums (see kernel_sum.h): one block per row, each thread
// a strided float64 partial sum of the row's terms, then warp shuffles and one shared-memory
// step. The order of the additions depends only on the launch shape: bitwise deterministic.
#include <cuda_runtime.h>

#include "common/cuda_utils.h"
#include "common/errors.h"
#include "kernel_sum/kernel_sum.h"

namespace fastgan {
namespace kernel_sum {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) row_sums_kernel(Params p) {
  __shared__ double partial[kThreads / 32];
  const int64_t i = blockIdx.x;
  int64_t b, e;
  row_range(p, i, &b, &e);
  const T* row = static_cast<const T*>(p.s) + i * p.ld;
  double acc = 0.0;
  for (int64_t j = b + threadIdx.x; j < e; j += kThreads) {
    acc += term(static_cast<double>(row[j]), p.gamma, p.coef0, p.degree);
  }
  acc = warp_sum(acc);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x < 32) {
    double v = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0;
    v = warp_sum(v);
    if (threadIdx.x == 0) p.out[i] = v;
  }
}

}  // namespace

void kernel_row_sums_cuda(const Params& p, int device, void* stream) {
  if (p.rows == 0) return;
  CudaDeviceGuard guard(device);
  FASTGAN_CHECK_ARG(p.rows < (int64_t(1) << 31), "kernel_sum: too many rows for one launch: ", p.rows);
  auto s = static_cast<cudaStream_t>(stream);
  if (p.dtype == 1) {
    row_sums_kernel<double><<<(unsigned)p.rows, kThreads, 0, s>>>(p);
  } else {
    row_sums_kernel<float><<<(unsigned)p.rows, kThreads, 0, s>>>(p);
  }
  FASTGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace kernel_sum
}  // namespace fastgan
