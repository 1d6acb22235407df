// CUDA helpers shared by the *_cuda.cu files. Include only from .cu sources.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/errors.h"

#define FASTGAN_CUDA_CHECK(expr)                                                        \
  do {                                                                                  \
    cudaError_t fastgan_err_ = (expr);                                                  \
    if (fastgan_err_ != cudaSuccess) {                                                  \
      (void)cudaGetLastError();                                                         \
      throw std::runtime_error(::fastgan::str_cat("CUDA error in ", #expr, ": ",        \
                                                  cudaGetErrorString(fastgan_err_)));   \
    }                                                                                   \
  } while (0)

// Check the last kernel launch (configuration errors surface here).
#define FASTGAN_CUDA_LAUNCH_CHECK() FASTGAN_CUDA_CHECK(cudaGetLastError())

namespace fastgan {

// Makes `device` current for the lifetime of the guard, then restores.
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int device) {
    FASTGAN_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) FASTGAN_CUDA_CHECK(cudaSetDevice(device));
  }
  ~CudaDeviceGuard() { cudaSetDevice(previous_); }
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline cudaStream_t as_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

}  // namespace fastgan
