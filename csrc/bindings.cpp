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
#include "sqrtm/sqrtm.h"

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
void bind_sqrtm(py::module_& m) {
  namespace sq = fastgan::sqrtm;
  // Builds the params struct, re-checking sizes (ValueError on bad input).
  auto make = [](const char* op, uintptr_t a, uintptr_t b, uintptr_t out, int64_t batch, int64_t n, int dtype,
                 int max_sweeps, double tol) {
    FASTGAN_CHECK_ARG(batch >= 0, op, ": batch must be >= 0, got ", batch);
    FASTGAN_CHECK_ARG(n >= 0 && n <= (1 << 15), op, ": n must be in [0, 32768], got ", n);
    FASTGAN_CHECK_ARG(dtype == 0 || dtype == 1, op, ": dtype code must be 0 (float32) or 1 (float64), got ", dtype,
                      " (", fastgan::dtype_name(dtype), ")");
    FASTGAN_CHECK_ARG(max_sweeps >= 1 && max_sweeps <= 1000, op, ": max_sweeps must be in [1, 1000], got ", max_sweeps);
    FASTGAN_CHECK_ARG(tol >= 0.0 && tol < 1.0, op, ": tol must be in [0, 1), got ", tol);
    sq::sqrtm_params p;
    p.a = reinterpret_cast<const void*>(a);
    p.b = reinterpret_cast<const void*>(b);
    p.out = reinterpret_cast<void*>(out);
    p.batch = batch;
    p.n = static_cast<int>(n);
    p.dtype = dtype;
    p.max_sweeps = max_sweeps;
    p.tol = tol;
    return p;
  };
  m.attr("SQRTM_CUDA_MAX_N") = sq::kCudaMaxN;
  m.def(
      "sqrtm_sym_cpu",
      [make](uintptr_t a, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int threads) -> int64_t {
        sq::sqrtm_params p = make("sqrtm_sym_cpu", a, 0, out, batch, n, dtype, max_sweeps, tol);
        py::gil_scoped_release release;
        return sq::sqrtm_sym_cpu(p, threads);
      },
      py::arg("a"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"), py::arg("max_sweeps"),
      py::arg("tol"), py::arg("num_threads"),
      "out[b] = principal sqrt of symmetric PSD a[b] ([batch, n, n], float32/64) by cyclic Jacobi. "
      "Returns the number of matrices that did not converge.");
  m.def(
      "trace_sqrt_product_cpu",
      [make](uintptr_t a, uintptr_t b, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int threads) -> int64_t {
        sq::sqrtm_params p = make("trace_sqrt_product_cpu", a, b, out, batch, n, dtype, max_sweeps, tol);
        py::gil_scoped_release release;
        return sq::trace_sqrt_product_cpu(p, threads);
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"),
      py::arg("max_sweeps"), py::arg("tol"), py::arg("num_threads"),
      "out[b] (float64) = tr sqrt(a^1/2 b a^1/2). Returns the number of matrices that did not converge.");
  // Test-only: the raw Jacobi eigen-decomposition (w [batch, n] float64 unsorted, vt [batch, n, n]
  // float64 with eigenvectors as rows, or 0 to skip vectors).
  m.def(
      "_sym_eigh_cpu",
      [make](uintptr_t a, uintptr_t w, uintptr_t vt, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int threads) -> int64_t {
        sq::sqrtm_params p = make("_sym_eigh_cpu", a, 0, w, batch, n, dtype, max_sweeps, tol);
        py::gil_scoped_release release;
        return sq::sym_eigh_cpu(p, reinterpret_cast<double*>(w), reinterpret_cast<double*>(vt), threads);
      },
      py::arg("a"), py::arg("w"), py::arg("vt"), py::arg("batch"), py::arg("n"), py::arg("dtype"),
      py::arg("max_sweeps"), py::arg("tol"), py::arg("num_threads"));
  m.def(
      "sqrtm_sym_cuda",
      [make](uintptr_t a, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol, int device,
             uintptr_t stream) -> int64_t {
        sq::sqrtm_params p = make("sqrtm_sym_cuda", a, 0, out, batch, n, dtype, max_sweeps, tol);
        FASTGAN_CHECK_ARG(n <= sq::kCudaMaxN, "sqrtm_sym_cuda: n must be <= ", sq::kCudaMaxN, ", got ", n);
#ifdef WITH_CUDA
        py::gil_scoped_release release;
        return sq::sqrtm_sym_cuda(p, device, stream);
#else
        (void)p; (void)device; (void)stream;
        require_cuda_build("sqrtm_sym_cuda");
        return 0;
#endif
      },
      py::arg("a"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"), py::arg("max_sweeps"),
      py::arg("tol"), py::arg("device"), py::arg("stream"));
  m.def(
      "trace_sqrt_product_cuda",
      [make](uintptr_t a, uintptr_t b, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int device, uintptr_t stream) -> int64_t {
        sq::sqrtm_params p = make("trace_sqrt_product_cuda", a, b, out, batch, n, dtype, max_sweeps, tol);
        FASTGAN_CHECK_ARG(n <= sq::kCudaMaxN, "trace_sqrt_product_cuda: n must be <= ", sq::kCudaMaxN, ", got ", n);
#ifdef WITH_CUDA
        py::gil_scoped_release release;
        return sq::trace_sqrt_product_cuda(p, device, stream);
#else
        (void)p; (void)device; (void)stream;
        require_cuda_build("trace_sqrt_product_cuda");
        return 0;
#endif
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"),
      py::arg("max_sweeps"), py::arg("tol"), py::arg("device"), py::arg("stream"));
}

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
