// Device discovery, implemented in cuda_info.cu when built with CUDA.
#pragma once

#include <string>

namespace fastgan {

struct CudaInfo {
  int device_count = 0;
  int runtime_version = 0;
  int driver_version = 0;
  std::string message;  // empty when devices are usable, else the reason they are not
};

#ifdef WITH_CUDA
CudaInfo cuda_info();
#endif

}  // namespace fastgan
