// The one pybind11 module of fastgan: fastgan._C.
//
// _C never includes or links libtorch. Every entry point takes raw data
// pointers (as integers), sizes, a dtype code (see common/host_device.h) and,
// for CUDA, a device index and a cudaStream_t handle. The Python wrappers in
// fastgan/ validate dtype, device, contiguity and sizes first; the checks here
// repeat the size checks and raise Python exceptions instead of aborting.
//
// Layout: one bind_<op>() per op folder in csrc/<op>/, called from the module
// definition at the bottom. Entry points used only by tests start with "_".

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "common/cuda_info.h"
#include "common/errors.h"
#include "common/host_device.h"

namespace py = pybind11;

namespace {

constexpr const char* kVersion = "0.1.0";

#ifdef WITH_CUDA
constexpr bool kWithCuda = true;
#else
constexpr bool kWithCuda = false;
#endif

[[maybe_unused]] void require_cuda_build(const char* op) {
  FASTGAN_CHECK_RT(kWithCuda, "fastgan._C.", op, ": this build of fastgan has no CUDA kernels ",
                   "(nvcc was not found at install time or FASTGAN_NO_CUDA was set)");
}

py::dict cuda_info_dict() {
  py::dict d;
#ifdef WITH_CUDA
  fastgan::CudaInfo info = fastgan::cuda_info();
  d["compiled"] = true;
  d["device_count"] = info.device_count;
  d["runtime_version"] = info.runtime_version;
  d["driver_version"] = info.driver_version;
  d["message"] = info.message;
#else
  d["compiled"] = false;
  d["device_count"] = 0;
  d["runtime_version"] = 0;
  d["driver_version"] = 0;
  d["message"] = std::string("built without CUDA kernels");
#endif
  return d;
}

// ---------------------------------------------------------------- fdiv ----
void bind_fdiv(py::module_& m) { (void)m; }

// --------------------------------------------------------------- sqrtm ----
void bind_sqrtm(py::module_& m) { (void)m; }

// ----------------------------------------------------------------- knn ----
void bind_knn(py::module_& m) { (void)m; }

// ----------------------------------------------------------------- mmd ----
void bind_mmd(py::module_& m) { (void)m; }

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastgan native kernels (pybind11, libtorch-free)";
  m.attr("__version__") = kVersion;
  m.attr("WITH_CUDA") = kWithCuda;
  m.def("cuda_info", &cuda_info_dict,
        "Dict with compiled, device_count, runtime_version, driver_version, message. Never raises.");
  m.def("dtype_name", [](int code) { return std::string(fastgan::dtype_name(code)); });
  bind_fdiv(m);
  bind_sqrtm(m);
  bind_knn(m);
  bind_mmd(m);
}
