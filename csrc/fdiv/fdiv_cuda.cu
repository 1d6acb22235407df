// CUDA kernels for the fused f-GAN terms (formulas in fdiv.h, shared with the
// CPU loop). One grid-stride kernel per (storage type, divergence kernel id):
// each element is loaded once, its term and derivative are computed together,
// coef * derivative is stored for the backward pass, and either coef * term is
// stored (elementwise) or the terms are summed: per thread in float32 (float64
// for float64 input), per block through warp shuffles, block partials written
// as float64 to a workspace, then summed in a fixed order by a one-block
// finalize kernel (bitwise deterministic, no atomics).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_utils.h"
#include "common/errors.h"
#include "common/host_device.h"
#include "fdiv/fdiv.h"

namespace fastgan {
namespace fdiv {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

template <typename S, int K>
__global__ void __launch_bounds__(kThreads)
fdiv_kernel(const S* __restrict__ x, S* __restrict__ out, S* __restrict__ grad, int64_t n, int term,
            int reduce, Consts c, typename compute_type<S>::type coef,
            double* __restrict__ partial) {
  using T = typename compute_type<S>::type;
  using A = typename Acc<T>::type;
  A acc = A(0);
  const int64_t stride = (int64_t)blockDim.x * gridDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    T v = io<S>::load(x, i);
    T val, g;
    if (term == ACTIVATION) {
      fused_term<K, ACTIVATION, T>(v, c, val, g);
    } else {
      fused_term<K, CONJUGATE, T>(v, c, val, g);
    }
    io<S>::store(grad, i, coef * g);
    if (reduce) {
      acc += A(val);
    } else {
      io<S>::store(out, i, coef * val);
    }
  }
  if (reduce) {
    __shared__ A shared[kThreads / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    acc = warp_sum(acc);
    if (lane == 0) shared[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < (int)(blockDim.x >> 5) ? shared[lane] : A(0);
      acc = warp_sum(acc);
      if (lane == 0) partial[blockIdx.x] = double(acc);
    }
  }
}

template <typename S>
__global__ void __launch_bounds__(kThreads)
fdiv_finalize(const double* __restrict__ partial, int nparts, double coef, S* __restrict__ out) {
  using T = typename compute_type<S>::type;
  __shared__ double shared[kThreads];
  double s = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partial[i];
  shared[threadIdx.x] = s;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) shared[threadIdx.x] += shared[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) io<S>::store(out, 0, T(shared[0] * coef));
}

int num_blocks(int64_t n) {
  int64_t b = ceil_div(n, kThreads);
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return (int)b;
}

template <typename S, int K>
void launch_k(const Params& p, double* workspace, cudaStream_t stream) {
  using T = typename compute_type<S>::type;
  const int blocks = num_blocks(p.n);
  fdiv_kernel<S, K><<<blocks, kThreads, 0, stream>>>(
      static_cast<const S*>(p.x), static_cast<S*>(p.out), static_cast<S*>(p.grad), p.n, p.term, p.reduce,
      make_consts(p.kernel, p.alpha), T(p.coef), workspace);
  FASTGAN_CUDA_LAUNCH_CHECK();
  if (p.reduce) {
    fdiv_finalize<S><<<1, kThreads, 0, stream>>>(workspace, blocks, p.coef, static_cast<S*>(p.out));
    FASTGAN_CUDA_LAUNCH_CHECK();
  }
}

template <typename S>
void launch(const Params& p, double* workspace, cudaStream_t stream) {
  switch (p.kernel) {
    case KL: return launch_k<S, KL>(p, workspace, stream);
    case REVERSE_KL: return launch_k<S, REVERSE_KL>(p, workspace, stream);
    case PEARSON: return launch_k<S, PEARSON>(p, workspace, stream);
    case NEYMAN: return launch_k<S, NEYMAN>(p, workspace, stream);
    case HELLINGER: return launch_k<S, HELLINGER>(p, workspace, stream);
    case JEFFREY: return launch_k<S, JEFFREY>(p, workspace, stream);
    case JS: return launch_k<S, JS>(p, workspace, stream);
    case GAN: return launch_k<S, GAN>(p, workspace, stream);
    case TOTAL_VARIATION: return launch_k<S, TOTAL_VARIATION>(p, workspace, stream);
    case ALPHA_LT1: return launch_k<S, ALPHA_LT1>(p, workspace, stream);
    case ALPHA_GT1: return launch_k<S, ALPHA_GT1>(p, workspace, stream);
    case WGAN: return launch_k<S, WGAN>(p, workspace, stream);
    case HINGE: return launch_k<S, HINGE>(p, workspace, stream);
    default: FASTGAN_CHECK_ARG(false, "fdiv: unknown kernel id ", p.kernel);
  }
}

}  // namespace

int64_t fdiv_cuda_workspace_size(int64_t n) { return num_blocks(n); }

void fdiv_cuda(const Params& p, double* workspace, int device, void* stream) {
  FASTGAN_CHECK_ARG(p.n >= 0, "fdiv: n must be >= 0, got ", p.n);
  FASTGAN_CHECK_ARG(p.term == ACTIVATION || p.term == CONJUGATE, "fdiv: term must be 0 or 1, got ", p.term);
  CudaDeviceGuard guard(device);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (p.dtype) {
    case 0: launch<float>(p, workspace, s); break;
    case 1: launch<double>(p, workspace, s); break;
    case 2: launch<half_t>(p, workspace, s); break;
    case 3: launch<bf16_t>(p, workspace, s); break;
    default: FASTGAN_CHECK_ARG(false, "fdiv: unsupported dtype code ", p.dtype);
  }
}

}  // namespace fdiv
}  // namespace fastgan
