// CUDA tier of the Jacobi square-root kernels: one thread block per matrix, the matrix
// (and its eigenvectors / the second operand) in shared memory as float64, all rotations
// of a round-robin round applied in parallel (rows, then columns), a convergence check
// per sweep. The scalar formulas are those of sqrtm.h, shared with sqrtm_cpu.cpp.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/cuda_utils.h"
#include "common/errors.h"
#include "sqrtm/sqrtm.h"

namespace fastgan {
namespace sqrtm {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPairs = kCudaMaxN / 2;

struct Rot {
  int p, q;
  double c, s, t, app, aqq, apq;
};

struct Smem {
  double* x;
  double* y;
  double* v;
  Rot* rots;
  double* scal;  // [2]
  int* ints;     // [4]
};

__device__ Smem carve(double* base, int n, int nmat) {
  Smem s;
  const int nn = n * n;
  s.x = base;
  s.y = nmat > 1 ? base + nn : nullptr;
  s.v = base + (nmat - 1) * nn;
  s.rots = reinterpret_cast<Rot*>(base + nmat * nn);
  s.scal = reinterpret_cast<double*>(s.rots + kMaxPairs);
  s.ints = reinterpret_cast<int*>(s.scal + 2);
  return s;
}

size_t smem_bytes(int n, int nmat) {
  return sizeof(double) * static_cast<size_t>(nmat) * n * n + sizeof(Rot) * kMaxPairs + 2 * sizeof(double) +
         4 * sizeof(int);
}

__device__ void block_load_sym(const void* src, int dtype, int64_t off, int n, double* dst) {
  for (int idx = threadIdx.x; idx < n * n; idx += blockDim.x) {
    const int i = idx / n, j = idx % n;
    double v;
    if (i == j) {
      v = load_as_double(src, dtype, off + idx);
    } else {
      const int lo = i < j ? i : j, hi = i < j ? j : i;
      v = 0.5 * (load_as_double(src, dtype, off + static_cast<int64_t>(lo) * n + hi) +
                 load_as_double(src, dtype, off + static_cast<int64_t>(hi) * n + lo));
    }
    dst[idx] = v;
  }
  __syncthreads();
}

// Cyclic Jacobi, parallel over the pairs of each round. Returns true when a full sweep
// performed no rotation. a's diagonal ends with the eigenvalues; vt (optional) with the
// eigenvectors as rows.
__device__ bool block_jacobi(double* a, double* vt, int n, int max_sweeps, double tol, Rot* rots, int* ints) {
  const int tid = threadIdx.x;
  if (vt != nullptr) {
    for (int idx = tid; idx < n * n; idx += blockDim.x) vt[idx] = (idx / n == idx % n) ? 1.0 : 0.0;
  }
  if (tid == 0) ints[0] = 0;
  __syncthreads();
  if (n <= 1) return true;
  const int m = even_size(n);
  const int half = m / 2;
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    for (int r = 0; r < m - 1; ++r) {
      if (tid < half) {
        int p, q;
        round_robin_pair(r, tid, m, &p, &q);
        Rot rt;
        rt.p = p;
        rt.q = q;
        rt.app = rt.aqq = rt.apq = 0.0;
        bool on = false;
        if (q < n) {
          rt.app = a[p * n + p];
          rt.aqq = a[q * n + q];
          rt.apq = a[p * n + q];
          on = jacobi_rotation(rt.app, rt.aqq, rt.apq, tol, &rt.c, &rt.s, &rt.t);
        }
        if (!on) {
          rt.c = 1.0;
          rt.s = 0.0;
          rt.t = 0.0;
          rt.p = -1;  // marks "no rotation"
        } else {
          atomicAdd(&ints[0], 1);
        }
        rots[tid] = rt;
      }
      __syncthreads();
      // rows: A <- J^T A (and V^T <- J^T V^T)
      for (int idx = tid; idx < half * n; idx += blockDim.x) {
        const Rot& rt = rots[idx / n];
        if (rt.p < 0) continue;
        const int j = idx % n;
        rotate2(rt.c, rt.s, &a[rt.p * n + j], &a[rt.q * n + j]);
        if (vt != nullptr) rotate2(rt.c, rt.s, &vt[rt.p * n + j], &vt[rt.q * n + j]);
      }
      __syncthreads();
      // columns: A <- A J
      for (int idx = tid; idx < half * n; idx += blockDim.x) {
        const Rot& rt = rots[idx / n];
        if (rt.p < 0) continue;
        const int i = idx % n;
        rotate2(rt.c, rt.s, &a[i * n + rt.p], &a[i * n + rt.q]);
      }
      __syncthreads();
      if (tid < half) {
        const Rot& rt = rots[tid];
        if (rt.p >= 0) {
          a[rt.p * n + rt.p] = rotated_app(rt.app, rt.apq, rt.t);
          a[rt.q * n + rt.q] = rotated_aqq(rt.aqq, rt.apq, rt.t);
          a[rt.p * n + rt.q] = 0.0;
          a[rt.q * n + rt.p] = 0.0;
        }
      }
      __syncthreads();
    }
    const int count = ints[0];
    __syncthreads();
    if (tid == 0) ints[0] = 0;
    __syncthreads();
    if (count == 0) return true;
  }
  return false;
}

// In-place right-looking Cholesky (lower; upper zeroed). False when a pivot is at or below
// pivot_threshold (uniform across the block).
__device__ bool block_cholesky(double* a, int n, double* scal) {
  const int tid = threadIdx.x;
  if (tid == 0) {
    double md = 0.0;
    for (int i = 0; i < n; ++i) md = fmax(md, fabs(a[i * n + i]));
    scal[0] = pivot_threshold(n, md);
  }
  __syncthreads();
  const double thr = scal[0];
  for (int k = 0; k < n; ++k) {
    const double piv = a[k * n + k];
    if (!(piv > thr)) return false;
    const double lkk = sqrt(piv);
    __syncthreads();
    if (tid == 0) a[k * n + k] = lkk;
    for (int i = k + 1 + tid; i < n; i += blockDim.x) a[i * n + k] /= lkk;
    __syncthreads();
    const int rest = n - k - 1;
    for (int idx = tid; idx < rest * rest; idx += blockDim.x) {
      const int i = k + 1 + idx / rest, j = k + 1 + idx % rest;
      if (j <= i) a[i * n + j] -= a[i * n + k] * a[j * n + k];
    }
    __syncthreads();
  }
  for (int idx = tid; idx < n * n; idx += blockDim.x) {
    if (idx % n > idx / n) a[idx] = 0.0;
  }
  __syncthreads();
  return true;
}

// out = F^T Y F, symmetrised. w is scratch; out may alias y (y is consumed first), but
// not f or w.
__device__ void block_congruence(const double* f, double* y, double* w, double* out, int n) {
  const int tid = threadIdx.x;
  for (int idx = tid; idx < n * n; idx += blockDim.x) {
    const int i = idx / n, j = idx % n;
    double acc = 0.0;
    for (int k = 0; k < n; ++k) {
      const double yik = y[i * n + k];
      if (yik != 0.0) acc += yik * f[k * n + j];
    }
    w[idx] = acc;
  }
  __syncthreads();
  for (int idx = tid; idx < n * n; idx += blockDim.x) {
    const int i = idx / n, j = idx % n;
    double acc = 0.0;
    for (int k = 0; k < n; ++k) {
      const double fki = f[k * n + i];
      if (fki != 0.0) acc += fki * w[k * n + j];
    }
    out[idx] = acc;
  }
  __syncthreads();
  for (int idx = tid; idx < n * n; idx += blockDim.x) {
    const int i = idx / n, j = idx % n;
    if (i < j) {
      const double v = 0.5 * (out[i * n + j] + out[j * n + i]);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  __syncthreads();
}

// f = V diag(sqrt(w)) with eigenvalues at or below rank_threshold dropped.
__device__ void block_psd_factor(const double* x, const double* vt, double* f, int n, double* scal) {
  const int tid = threadIdx.x;
  if (tid == 0) {
    double wmax = 0.0;
    for (int i = 0; i < n; ++i) wmax = fmax(wmax, fabs(x[i * n + i]));
    scal[1] = rank_threshold(n, wmax);
  }
  __syncthreads();
  const double thr = scal[1];
  for (int idx = tid; idx < n * n; idx += blockDim.x) {
    const int i = idx / n, j = idx % n;
    const double wj = x[j * n + j];
    const double sj = wj > thr ? sqrt(wj) : 0.0;
    f[idx] = vt[j * n + i] * sj;
  }
  __syncthreads();
}

__global__ void sqrtm_sym_kernel(sqrtm_params p, int* bad) {
  extern __shared__ double smem_raw[];
  const int n = p.n;
  Smem s = carve(smem_raw, n, 2);
  const int64_t nn = static_cast<int64_t>(n) * n;
  for (int64_t bi = blockIdx.x; bi < p.batch; bi += gridDim.x) {
    block_load_sym(p.a, p.dtype, bi * nn, n, s.x);
    const bool conv = block_jacobi(s.x, s.v, n, p.max_sweeps, p.tol, s.rots, s.ints);
    if (threadIdx.x == 0) {
      if (!conv) atomicAdd(bad, 1);
      if (p.neg_ratio != nullptr) {
        double neg = 0.0, tot = 0.0;
        for (int k = 0; k < n; ++k) add_mass(s.x[k * n + k], &neg, &tot);
        p.neg_ratio[bi] = mass_ratio(neg, tot);
      }
    }
    for (int idx = threadIdx.x; idx < n * n; idx += blockDim.x) {
      const int i = idx / n, j = idx % n;
      double tij = 0.0, tji = 0.0;
      for (int k = 0; k < n; ++k) {
        const double sk = sqrt_clamped(s.x[k * n + k]);
        if (sk == 0.0) continue;
        const double vi = s.v[k * n + i], vj = s.v[k * n + j];
        tij += (sk * vi) * vj;
        tji += (sk * vj) * vi;
      }
      store_from_double(p.out, p.dtype, bi * nn + idx, 0.5 * (tij + tji));
    }
    __syncthreads();
  }
}

__global__ void trace_sqrt_product_kernel(sqrtm_params p, int* bad) {
  extern __shared__ double smem_raw[];
  const int n = p.n;
  Smem s = carve(smem_raw, n, 3);
  const int64_t nn = static_cast<int64_t>(n) * n;
  double* out = static_cast<double*>(p.out);
  for (int64_t bi = blockIdx.x; bi < p.batch; bi += gridDim.x) {
    block_load_sym(p.b, p.dtype, bi * nn, n, s.x);
    const bool ok_b = block_cholesky(s.x, n, s.scal);
    __syncthreads();
    block_load_sym(p.a, p.dtype, bi * nn, n, s.x);
    const bool ok_a = block_cholesky(s.x, n, s.scal);
    __syncthreads();
    bool conv = true;
    double ratio = 0.0;
    double* m;
    if (ok_a && ok_b) {
      // M = L^T B L (x = L); result in y.
      block_load_sym(p.b, p.dtype, bi * nn, n, s.y);
      block_congruence(s.x, s.y, s.v, s.y, n);
      m = s.y;
    } else {
      const void* sing = ok_a ? p.b : p.a;
      const void* other = ok_a ? p.a : p.b;
      block_load_sym(sing, p.dtype, bi * nn, n, s.x);
      conv = block_jacobi(s.x, s.v, n, p.max_sweeps, p.tol, s.rots, s.ints);
      if (threadIdx.x == 0) {
        double neg = 0.0, tot = 0.0;
        for (int i = 0; i < n; ++i) add_mass(s.x[i * n + i], &neg, &tot);
        ratio = mass_ratio(neg, tot);
      }
      block_psd_factor(s.x, s.v, s.y, n, s.scal);  // y = F
      block_load_sym(other, p.dtype, bi * nn, n, s.x);
      block_congruence(s.y, s.x, s.v, s.x, n);  // x = F^T O F
      m = s.x;
    }
    conv = block_jacobi(m, nullptr, n, p.max_sweeps, p.tol, s.rots, s.ints) && conv;
    if (threadIdx.x == 0) {
      double acc = 0.0, neg = 0.0, tot = 0.0;
      for (int i = 0; i < n; ++i) {
        const double lam = m[i * n + i];
        acc += sqrt_clamped(lam);
        add_mass(lam, &neg, &tot);
      }
      out[bi] = acc;
      if (p.neg_ratio != nullptr) p.neg_ratio[bi] = fmax(ratio, mass_ratio(neg, tot));
      if (!conv) atomicAdd(bad, 1);
    }
    __syncthreads();
  }
}

template <typename Kernel>
int64_t launch(Kernel kernel, const sqrtm_params& p, int nmat, int device, uintptr_t stream, const char* name) {
  FASTGAN_CHECK_ARG(p.n >= 0 && p.n <= kCudaMaxN, name, ": the CUDA kernel supports 0 <= n <= ", kCudaMaxN, ", got n=", p.n);
  FASTGAN_CHECK_ARG(p.batch >= 0, name, ": batch must be >= 0, got ", p.batch);
  FASTGAN_CHECK_ARG(p.dtype == 0 || p.dtype == 1, name, ": dtype code must be 0 (float32) or 1 (float64), got ", p.dtype);
  FASTGAN_CHECK_ARG(p.max_sweeps >= 1, name, ": max_sweeps must be >= 1, got ", p.max_sweeps);
  FASTGAN_CHECK_ARG(p.tol >= 0.0, name, ": tol must be >= 0, got ", p.tol);
  if (p.batch == 0 || p.n == 0) return 0;
  FASTGAN_CHECK_ARG(p.a != nullptr && p.out != nullptr && (nmat < 3 || p.b != nullptr), name, ": null data pointer");
  CudaDeviceGuard guard(device);
  cudaStream_t s = as_stream(stream);
  const size_t bytes = smem_bytes(p.n, nmat);
  int optin = 0;
  FASTGAN_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  FASTGAN_CHECK_ARG(bytes <= static_cast<size_t>(optin), name, ": n=", p.n, " needs ", bytes,
                    " bytes of shared memory, the device allows ", optin);
  FASTGAN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  int* d_bad = nullptr;
  FASTGAN_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&d_bad), sizeof(int), s));
  FASTGAN_CUDA_CHECK(cudaMemsetAsync(d_bad, 0, sizeof(int), s));
  const int64_t grid = std::min<int64_t>(p.batch, 1 << 20);
  kernel<<<static_cast<unsigned>(grid), kThreads, bytes, s>>>(p, d_bad);
  cudaError_t launch_err = cudaGetLastError();
  int h_bad = 0;
  cudaError_t copy_err = cudaMemcpyAsync(&h_bad, d_bad, sizeof(int), cudaMemcpyDeviceToHost, s);
  cudaError_t sync_err = cudaStreamSynchronize(s);
  cudaFreeAsync(d_bad, s);
  FASTGAN_CUDA_CHECK(launch_err);
  FASTGAN_CUDA_CHECK(copy_err);
  FASTGAN_CUDA_CHECK(sync_err);
  return h_bad;
}

}  // namespace

int64_t sqrtm_sym_cuda(const sqrtm_params& p, int device, uintptr_t stream) {
  return launch(sqrtm_sym_kernel, p, 2, device, stream, "sqrtm_sym_cuda");
}

int64_t trace_sqrt_product_cuda(const sqrtm_params& p, int device, uintptr_t stream) {
  return launch(trace_sqrt_product_kernel, p, 3, device, stream, "trace_sqrt_product_cuda");
}

}  // namespace sqrtm
}  // namespace fastgan
