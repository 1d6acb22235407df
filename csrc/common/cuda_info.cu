#include "common/cuda_info.h"

#include <cuda_runtime.h>

namespace fastgan {

// Never throws: a machine without a driver or GPU is reported, not fatal.
CudaInfo cuda_info() {
  CudaInfo info;
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaError_t err = cudaDriverGetVersion(&info.driver_version);
  if (err != cudaSuccess) {
    info.message = std::string("cannot query the CUDA driver: ") + cudaGetErrorString(err);
    (void)cudaGetLastError();
    return info;
  }
  if (info.driver_version == 0) {
    info.message = "no CUDA driver is installed";
    return info;
  }
  int count = 0;
  err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.message = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    (void)cudaGetLastError();
    return info;
  }
  info.device_count = count;
  if (count == 0) info.message = "no CUDA device found";
  return info;
}

}  // namespace fastgan
