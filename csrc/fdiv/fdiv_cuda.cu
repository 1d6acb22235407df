// CUDA kernels for the fused f-GAN terms (formulas in fdiv.h, shared with the
// CPU loop). One grid-stride kernel per (storage type, divergence kernel id):
// each element is loaded once, its term and derivative are computed together,
// coef * derivative is stored for the backward pass, and either coef * term is
// stored (elementwise) or the terms are summed: per thread in float32 (float64
// for float64 input), per block through warp shuffles, block partials written
// as float64 to a workspace, then summed in a fixed order by a one-block
// finalize kernel (bitwise deterministic, no atomics). With grad == nullptr the
// derivative is not stored: fdiv_backward_kernel recomputes it from x in the
// backward pass, fused with the upstream gradient (on a GPU the arithmetic is
// free and a saved buffer costs a write and a read of n elements).
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
constexpr int kUnroll = 4;

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// Term and derivative of one element for the runtime term (uniform per launch).
template <int K, typename T>
__device__ __forceinline__ void eval_term(int term, T v, const Consts& c, T& val, T& g) {
  if (term == ACTIVATION) {
    fused_term<K, ACTIVATION, T>(v, c, val, g);
  } else {
    fused_term<K, CONJUGATE, T>(v, c, val, g);
  }
}

// One element: its term and derivative, coef * derivative stored when
// STORE_GRAD (the saved-gradient route), coef * term stored or accumulated.
// Without STORE_GRAD the derivative is dead code and compiled away: the
// forward pass then evaluates the term alone.
template <typename S, int K, bool STORE_GRAD>
__device__ __forceinline__ void fdiv_one(S* __restrict__ out, S* __restrict__ grad, int64_t i,
                                         typename compute_type<S>::type v, int term, int reduce,
                                         const Consts& c, typename compute_type<S>::type coef,
                                         typename Acc<typename compute_type<S>::type>::type& acc) {
  using T = typename compute_type<S>::type;
  using A = typename Acc<T>::type;
  T val, g;
  eval_term<K, T>(term, v, c, val, g);
  if (STORE_GRAD) io<S>::store(grad, i, coef * g);
  if (reduce) {
    acc += A(val);
  } else {
    io<S>::store(out, i, coef * val);
  }
}

// Grid-stride loop, kUnroll coalesced loads issued before any math so each
// thread keeps several memory requests in flight.
template <typename S, int K, bool STORE_GRAD>
__global__ void __launch_bounds__(kThreads)
fdiv_kernel(const S* __restrict__ x, S* __restrict__ out, S* __restrict__ grad, int64_t n, int term,
            int reduce, Consts c, typename compute_type<S>::type coef,
            double* __restrict__ partial) {
  using T = typename compute_type<S>::type;
  using A = typename Acc<T>::type;
  A acc = A(0);
  const int64_t stride = (int64_t)blockDim.x * gridDim.x;
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n; i += kUnroll * stride) {
    T v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = io<S>::load(x, i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      fdiv_one<S, K, STORE_GRAD>(out, grad, i + u * stride, v[u], term, reduce, c, coef, acc);
  }
  for (; i < n; i += stride) fdiv_one<S, K, STORE_GRAD>(out, grad, i, io<S>::load(x, i), term, reduce, c, coef, acc);
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

// Backward from x alone (the derivative is recomputed, not saved):
// grad[i] = grad_out[gi] * S(coef * dterm/dx(x[i])), gi = 0 for a reduced
// output (one upstream gradient) or i for an elementwise one. The inner
// rounding to S makes it bitwise equal to grad_out * saved_grad.
template <typename S, int K>
__global__ void __launch_bounds__(kThreads)
fdiv_backward_kernel(const S* __restrict__ x, const S* __restrict__ grad_out, S* __restrict__ grad, int64_t n,
                     int elementwise, int term, Consts c, typename compute_type<S>::type coef) {
  using T = typename compute_type<S>::type;
  const int64_t stride = (int64_t)blockDim.x * gridDim.x;
  const T g0 = elementwise ? T(0) : T(io<S>::load(grad_out, 0));
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  auto one = [&](int64_t j, T v, T go) {
    T val, g;
    eval_term<K, T>(term, v, c, val, g);
    S saved;
    io<S>::store(&saved, 0, coef * g);
    io<S>::store(grad, j, go * T(io<S>::load(&saved, 0)));
  };
  for (; i + (kUnroll - 1) * stride < n; i += kUnroll * stride) {
    T v[kUnroll], go[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      v[u] = io<S>::load(x, i + u * stride);
      go[u] = elementwise ? T(io<S>::load(grad_out, i + u * stride)) : g0;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) one(i + u * stride, v[u], go[u]);
  }
  for (; i < n; i += stride) one(i, io<S>::load(x, i), elementwise ? T(io<S>::load(grad_out, i)) : g0);
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
  int64_t b = ceil_div(n, (int64_t)kThreads * kUnroll);
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return (int)b;
}

template <typename S, int K>
void launch_k(const Params& p, double* workspace, cudaStream_t stream) {
  using T = typename compute_type<S>::type;
  const int blocks = num_blocks(p.n);
  auto kernel = p.grad != nullptr ? fdiv_kernel<S, K, true> : fdiv_kernel<S, K, false>;
  kernel<<<blocks, kThreads, 0, stream>>>(
      static_cast<const S*>(p.x), static_cast<S*>(p.out), static_cast<S*>(p.grad), p.n, p.term, p.reduce,
      make_consts(p.kernel, p.alpha), T(p.coef), workspace);
  FASTGAN_CUDA_LAUNCH_CHECK();
  if (p.reduce) {
    fdiv_finalize<S><<<1, kThreads, 0, stream>>>(workspace, blocks, p.coef, static_cast<S*>(p.out));
    FASTGAN_CUDA_LAUNCH_CHECK();
  }
}

template <typename S>
struct ForwardLaunch {
  const Params& p;
  double* workspace;
  cudaStream_t stream;
  template <int K> void run() const { launch_k<S, K>(p, workspace, stream); }
};

template <typename S>
struct BackwardLaunch {
  const BackwardParams& p;
  cudaStream_t stream;
  template <int K> void run() const {
    using T = typename compute_type<S>::type;
    if (p.n == 0) return;
    fdiv_backward_kernel<S, K><<<num_blocks(p.n), kThreads, 0, stream>>>(
        static_cast<const S*>(p.x), static_cast<const S*>(p.grad_out), static_cast<S*>(p.grad), p.n,
        p.elementwise, p.term, make_consts(p.kernel, p.alpha), T(p.coef));
    FASTGAN_CUDA_LAUNCH_CHECK();
  }
};

template <template <typename> class L, typename... Args>
void dispatch_dtype(int dtype, int kernel, Args&&... args) {
  switch (dtype) {
    case 0: return dispatch_kernel(kernel, L<float>{args...});
    case 1: return dispatch_kernel(kernel, L<double>{args...});
    case 2: return dispatch_kernel(kernel, L<half_t>{args...});
    case 3: return dispatch_kernel(kernel, L<bf16_t>{args...});
    default: FASTGAN_CHECK_ARG(false, "fdiv: unsupported dtype code ", dtype);
  }
}

}  // namespace

int64_t fdiv_term_cuda_workspace_size(int64_t n) { return num_blocks(n); }

void fdiv_term_cuda(const Params& p, double* workspace, int device, void* stream) {
  FASTGAN_CHECK_ARG(p.n >= 0, "fdiv: n must be >= 0, got ", p.n);
  FASTGAN_CHECK_ARG(p.term == ACTIVATION || p.term == CONJUGATE, "fdiv: term must be 0 or 1, got ", p.term);
  CudaDeviceGuard guard(device);
  dispatch_dtype<ForwardLaunch>(p.dtype, p.kernel, p, workspace, static_cast<cudaStream_t>(stream));
}

void fdiv_term_cuda_backward(const BackwardParams& p, int device, void* stream) {
  FASTGAN_CHECK_ARG(p.n >= 0, "fdiv: n must be >= 0, got ", p.n);
  FASTGAN_CHECK_ARG(p.term == ACTIVATION || p.term == CONJUGATE, "fdiv: term must be 0 or 1, got ", p.term);
  CudaDeviceGuard guard(device);
  dispatch_dtype<BackwardLaunch>(p.dtype, p.kernel, p, static_cast<cudaStream_t>(stream));
}

}  // namespace fdiv
}  // namespace fastgan
