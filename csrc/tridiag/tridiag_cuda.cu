// CUDA tier of the batched tridiagonal eigenvalue bisection (see tridiag.h):
// one thread per (matrix, k). Threads of a warp mostly share the matrix, so
// their reads of d and e2 are broadcasts served from L1.
#include <cuda_runtime.h>

#include "common/cuda_utils.h"
#include "common/errors.h"
#include "tridiag/tridiag.h"

namespace fastgan {
namespace tridiag {
namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads) eigvalsh_kernel(Params p) {
  const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= p.batch * p.n) return;
  p.out[t] = eigenvalue(p, t / p.n, t % p.n);
}

}  // namespace

void tridiagonal_eigvalsh_cuda(const Params& p, int device, void* stream) {
  const int64_t total = p.batch * p.n;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  const int64_t blocks = ceil_div(total, (int64_t)kThreads);
  FASTGAN_CHECK_ARG(blocks < (int64_t(1) << 31), "tridiag: batch * n too large for one launch: ", total);
  eigvalsh_kernel<<<(unsigned)blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  FASTGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace tridiag
}  // namespace fastgan
