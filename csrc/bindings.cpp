// The one pybind11 module of fastgan: fastgan._C.
//
// _C never includes or links libtorch. Every entry point takes raw data
// pointers (as integers), sizes, a dtype code (see common/host_device.h) and,
// for CUDA, a device index and a cudaStream_t handle. The Python wrappers in
// fastgan/ validate dtype, device, contiguity and sizes first; the checks here
// repeat the size checks and raise Python exceptions instead of aborting.
//
// Layout: one bind_<op>() per op folder in csrc/<op>/ (fdiv, kernel_sum, sqrtm, tridiag), called from the module
// definition at the bottom. Entry points used only by tests start with "_".

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "common/cuda_info.h"
#include "common/errors.h"
#include "common/host_device.h"
#include "fdiv/fdiv.h"
#include "kernel_sum/kernel_sum.h"
#include "sqrtm/sqrtm.h"
#include "tridiag/tridiag.h"

namespace py = pybind11;

namespace {

// setup.py passes the package version (fastgan/_version.py), so the module and the package agree
#ifndef FASTGAN_VERSION
#define FASTGAN_VERSION "unknown"
#endif
constexpr const char* kVersion = FASTGAN_VERSION;

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
void bind_fdiv(py::module_& m) {
  namespace fd = fastgan::fdiv;
  // Kernel id, term, dtype and alpha/coef checks shared by every entry point.
  auto check_kernel_args = [](int dtype, int kernel, int term, double alpha, double coef) {
    FASTGAN_CHECK_ARG(dtype >= 0 && dtype <= 3, "fdiv: unsupported dtype code ", dtype);
    FASTGAN_CHECK_ARG(kernel >= 0 && kernel < fd::NUM_KERNELS, "fdiv: unknown kernel id ", kernel);
    FASTGAN_CHECK_ARG(term == fd::ACTIVATION || term == fd::CONJUGATE, "fdiv: term must be 0 or 1, got ",
                      term);
    FASTGAN_CHECK_ARG(std::isfinite(alpha) && std::isfinite(coef), "fdiv: alpha and coef must be finite");
    if (kernel == fd::ALPHA_LT1)
      FASTGAN_CHECK_ARG(alpha < 1.0 && alpha != 0.0, "fdiv: kernel ALPHA_LT1 needs alpha < 1, alpha != 0, got ",
                        alpha);
    if (kernel == fd::ALPHA_GT1)
      FASTGAN_CHECK_ARG(alpha > 1.0, "fdiv: kernel ALPHA_GT1 needs alpha > 1, got ", alpha);
  };
  // Shared argument checks for the CPU and CUDA forward entry points. optional_grad: grad_numel == 0
  // (null grad) is accepted and means "store no derivative" (CUDA only).
  auto make_params = [check_kernel_args](uintptr_t x, uintptr_t out, uintptr_t grad, int64_t n,
                                          int64_t out_numel, int64_t grad_numel, int dtype, int kernel,
                                          int term, bool reduce, double alpha, double coef,
                                          bool optional_grad) {
    FASTGAN_CHECK_ARG(n >= 0, "fdiv: n must be >= 0, got ", n);
    const bool no_grad = optional_grad && grad_numel == 0 && grad == 0;
    FASTGAN_CHECK_ARG(no_grad || grad_numel == n, "fdiv: grad buffer has ", grad_numel,
                      " elements, expected n = ", n, optional_grad ? " (or 0 with a null pointer)" : "");
    const int64_t want_out = reduce ? 1 : n;
    FASTGAN_CHECK_ARG(out_numel == want_out, "fdiv: out buffer has ", out_numel, " elements, expected ",
                      want_out, reduce ? " (reduce=True writes one value)" : " (one per input element)");
    FASTGAN_CHECK_ARG(n == 0 || (x != 0 && (grad != 0 || no_grad)), "fdiv: null data pointer");
    FASTGAN_CHECK_ARG(out != 0 || out_numel == 0, "fdiv: null out pointer");
    check_kernel_args(dtype, kernel, term, alpha, coef);
    fd::Params p;
    p.x = reinterpret_cast<const void*>(x);
    p.out = reinterpret_cast<void*>(out);
    p.grad = no_grad ? nullptr : reinterpret_cast<void*>(grad);
    p.n = n;
    p.dtype = dtype;
    p.kernel = kernel;
    p.term = term;
    p.reduce = reduce ? 1 : 0;
    p.alpha = alpha;
    p.coef = coef;
    return p;
  };

  m.def(
      "fdiv_term_cpu",
      [make_params](uintptr_t x, uintptr_t out, uintptr_t grad, int64_t n, int64_t out_numel,
                    int64_t grad_numel, int dtype, int kernel, int term, bool reduce, double alpha,
                    double coef, int num_threads) {
        fd::Params p = make_params(x, out, grad, n, out_numel, grad_numel, dtype, kernel, term, reduce,
                                   alpha, coef, false);
        FASTGAN_CHECK_ARG(num_threads >= 1, "fdiv: num_threads must be >= 1, got ", num_threads);
        py::gil_scoped_release release;
        fd::fdiv_term_cpu(p, num_threads);
      },
      py::arg("x"), py::arg("out"), py::arg("grad"), py::arg("n"), py::arg("out_numel"),
      py::arg("grad_numel"), py::arg("dtype"), py::arg("kernel"), py::arg("term"), py::arg("reduce"),
      py::arg("alpha"), py::arg("coef"), py::arg("num_threads"),
      "Fused f-GAN term on CPU buffers: grad[i] = coef * dterm/dx(x[i]); out = coef * term(x) "
      "(elementwise, out_numel == n) or coef * sum term(x) (reduce, out_numel == 1).");

  m.def(
      "fdiv_term_cuda_workspace_size",
      [](int64_t n) -> int64_t {
        FASTGAN_CHECK_ARG(n >= 0, "fdiv: n must be >= 0, got ", n);
#ifdef WITH_CUDA
        return fd::fdiv_term_cuda_workspace_size(n);
#else
        require_cuda_build("fdiv_term_cuda_workspace_size");
        return 0;
#endif
      },
      py::arg("n"), "float64 workspace elements needed by fdiv_term_cuda with reduce=True.");

  m.def(
      "fdiv_term_cuda",
      [make_params](uintptr_t x, uintptr_t out, uintptr_t grad, int64_t n, int64_t out_numel,
                    int64_t grad_numel, int dtype, int kernel, int term, bool reduce, double alpha,
                    double coef, uintptr_t workspace, int64_t workspace_numel, int device,
                    uintptr_t stream) {
        fd::Params p = make_params(x, out, grad, n, out_numel, grad_numel, dtype, kernel, term, reduce,
                                   alpha, coef, true);
#ifdef WITH_CUDA
        if (reduce) {
          const int64_t need = fd::fdiv_term_cuda_workspace_size(n);
          FASTGAN_CHECK_ARG(workspace != 0 && workspace_numel >= need, "fdiv: workspace has ",
                            workspace_numel, " float64 elements, needs ", need);
        }
        FASTGAN_CHECK_ARG(device >= 0, "fdiv: device index must be >= 0, got ", device);
        py::gil_scoped_release release;
        fd::fdiv_term_cuda(p, reinterpret_cast<double*>(workspace), device, reinterpret_cast<void*>(stream));
#else
        (void)p; (void)workspace; (void)workspace_numel; (void)device; (void)stream;
        require_cuda_build("fdiv_term_cuda");
#endif
      },
      py::arg("x"), py::arg("out"), py::arg("grad"), py::arg("n"), py::arg("out_numel"),
      py::arg("grad_numel"), py::arg("dtype"), py::arg("kernel"), py::arg("term"), py::arg("reduce"),
      py::arg("alpha"), py::arg("coef"), py::arg("workspace"), py::arg("workspace_numel"),
      py::arg("device"), py::arg("stream"),
      "fdiv_term_cpu on device buffers, launched on the given stream (workspace: float64 block partials). "
      "grad may be null with grad_numel == 0: no derivative is stored (see fdiv_term_cuda_backward).");

  m.def(
      "fdiv_term_cuda_backward",
      [check_kernel_args](uintptr_t x, uintptr_t grad_out, uintptr_t grad, int64_t n, int64_t grad_out_numel,
                          int64_t grad_numel, int dtype, int kernel, int term, double alpha, double coef,
                          int device, uintptr_t stream) {
        FASTGAN_CHECK_ARG(n >= 0, "fdiv: n must be >= 0, got ", n);
        FASTGAN_CHECK_ARG(grad_numel == n, "fdiv: grad buffer has ", grad_numel, " elements, expected n = ", n);
        FASTGAN_CHECK_ARG(grad_out_numel == 1 || grad_out_numel == n, "fdiv: grad_out has ", grad_out_numel,
                          " elements, expected 1 or n = ", n);
        FASTGAN_CHECK_ARG(n == 0 || (x != 0 && grad != 0 && grad_out != 0), "fdiv: null data pointer");
        check_kernel_args(dtype, kernel, term, alpha, coef);
#ifdef WITH_CUDA
        FASTGAN_CHECK_ARG(device >= 0, "fdiv: device index must be >= 0, got ", device);
        fd::BackwardParams p;
        p.x = reinterpret_cast<const void*>(x);
        p.grad_out = reinterpret_cast<const void*>(grad_out);
        p.grad = reinterpret_cast<void*>(grad);
        p.n = n;
        p.elementwise = (grad_out_numel == n && n != 1) ? 1 : 0;
        p.dtype = dtype;
        p.kernel = kernel;
        p.term = term;
        p.alpha = alpha;
        p.coef = coef;
        py::gil_scoped_release release;
        fd::fdiv_term_cuda_backward(p, device, reinterpret_cast<void*>(stream));
#else
        (void)x; (void)grad_out; (void)grad; (void)device; (void)stream;
        require_cuda_build("fdiv_term_cuda_backward");
#endif
      },
      py::arg("x"), py::arg("grad_out"), py::arg("grad"), py::arg("n"), py::arg("grad_out_numel"),
      py::arg("grad_numel"), py::arg("dtype"), py::arg("kernel"), py::arg("term"), py::arg("alpha"),
      py::arg("coef"), py::arg("device"), py::arg("stream"),
      "Backward of fdiv_term_cuda from x: grad[i] = grad_out[i or 0] * (coef * dterm/dx(x[i]) rounded to the "
      "storage dtype), i.e. what grad_out * the saved derivative gives, without a saved buffer.");

  // Test-only entry point: the scalar log-space Lambert W used by the kernels.
  m.def(
      "_log_lambert_w0_exp",
      [](uintptr_t x, uintptr_t out, int64_t n, int dtype) {
        FASTGAN_CHECK_ARG(n >= 0, "_log_lambert_w0_exp: n must be >= 0");
        FASTGAN_CHECK_ARG(dtype == 0 || dtype == 1, "_log_lambert_w0_exp: dtype must be float32 or float64");
        FASTGAN_CHECK_ARG(n == 0 || (x != 0 && out != 0), "_log_lambert_w0_exp: null pointer");
        py::gil_scoped_release release;
        for (int64_t i = 0; i < n; ++i) {
          if (dtype == 0)
            reinterpret_cast<float*>(out)[i] =
                fd::log_lambert_w0_exp(reinterpret_cast<const float*>(x)[i]);
          else
            reinterpret_cast<double*>(out)[i] =
                fd::log_lambert_w0_exp(reinterpret_cast<const double*>(x)[i]);
        }
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("dtype"),
      "log W0(exp(y)) elementwise (test-only).");
}

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
    const bool empty = batch == 0 || n == 0;
    FASTGAN_CHECK_ARG(empty || (a != 0 && out != 0), op, ": null data pointer");
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
             int threads, uintptr_t neg_ratio) -> int64_t {
        sq::sqrtm_params p = make("sqrtm_sym_cpu", a, 0, out, batch, n, dtype, max_sweeps, tol);
        FASTGAN_CHECK_ARG(threads >= 1, "sqrtm_sym_cpu: num_threads must be >= 1, got ", threads);
        p.neg_ratio = reinterpret_cast<double*>(neg_ratio);
        py::gil_scoped_release release;
        return sq::sqrtm_sym_cpu(p, threads);
      },
      py::arg("a"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"), py::arg("max_sweeps"),
      py::arg("tol"), py::arg("num_threads"), py::arg("neg_ratio") = 0,
      "out[b] = principal sqrt of symmetric PSD a[b] ([batch, n, n], float32/64) by cyclic Jacobi. "
      "Returns the number of matrices that did not converge.");
  m.def(
      "trace_sqrt_product_cpu",
      [make](uintptr_t a, uintptr_t b, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int threads, uintptr_t neg_ratio) -> int64_t {
        sq::sqrtm_params p = make("trace_sqrt_product_cpu", a, b, out, batch, n, dtype, max_sweeps, tol);
        FASTGAN_CHECK_ARG(batch == 0 || n == 0 || b != 0, "trace_sqrt_product_cpu: null data pointer");
        FASTGAN_CHECK_ARG(threads >= 1, "trace_sqrt_product_cpu: num_threads must be >= 1, got ", threads);
        p.neg_ratio = reinterpret_cast<double*>(neg_ratio);
        py::gil_scoped_release release;
        return sq::trace_sqrt_product_cpu(p, threads);
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("dtype"),
      py::arg("max_sweeps"), py::arg("tol"), py::arg("num_threads"), py::arg("neg_ratio") = 0,
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
             uintptr_t stream, uintptr_t neg_ratio) -> int64_t {
        sq::sqrtm_params p = make("sqrtm_sym_cuda", a, 0, out, batch, n, dtype, max_sweeps, tol);
        p.neg_ratio = reinterpret_cast<double*>(neg_ratio);
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
      py::arg("tol"), py::arg("device"), py::arg("stream"), py::arg("neg_ratio") = 0);
  m.def(
      "trace_sqrt_product_cuda",
      [make](uintptr_t a, uintptr_t b, uintptr_t out, int64_t batch, int64_t n, int dtype, int max_sweeps, double tol,
             int device, uintptr_t stream, uintptr_t neg_ratio) -> int64_t {
        sq::sqrtm_params p = make("trace_sqrt_product_cuda", a, b, out, batch, n, dtype, max_sweeps, tol);
        p.neg_ratio = reinterpret_cast<double*>(neg_ratio);
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
      py::arg("max_sweeps"), py::arg("tol"), py::arg("device"), py::arg("stream"), py::arg("neg_ratio") = 0);
}

// ------------------------------------------------------------ kernel_sum ----
void bind_kernel_sum(py::module_& m) {
  namespace ks = fastgan::kernel_sum;
  auto make = [](uintptr_t s, uintptr_t out, int64_t rows, int64_t cols, int64_t ld, int64_t s_numel,
                 int64_t out_numel, int dtype, int region, int degree, double gamma, double coef0) {
    FASTGAN_CHECK_ARG(rows >= 0 && cols >= 0 && ld >= cols, "kernel_sum: need rows, cols >= 0 and ld >= cols, got rows = ",
                      rows, ", cols = ", cols, ", ld = ", ld);
    FASTGAN_CHECK_ARG(rows == 0 || cols == 0 || s_numel >= (rows - 1) * ld + cols, "kernel_sum: s has ", s_numel,
                      " elements, fewer than (rows - 1) * ld + cols = ", (rows - 1) * ld + cols);
    FASTGAN_CHECK_ARG(out_numel == rows, "kernel_sum: out has ", out_numel, " elements, expected rows = ", rows);
    FASTGAN_CHECK_ARG(dtype == 0 || dtype == 1, "kernel_sum: dtype must be float32 or float64, got ",
                      fastgan::dtype_name(dtype));
    FASTGAN_CHECK_ARG(region >= 0 && region <= 2, "kernel_sum: region must be 0 (full), 1 (lower) or 2 (upper), got ",
                      region);
    FASTGAN_CHECK_ARG(degree >= 0, "kernel_sum: degree must be >= 0, got ", degree);
    FASTGAN_CHECK_ARG(rows == 0 || (out != 0 && (cols == 0 || s != 0)), "kernel_sum: null data pointer");
    ks::Params p;
    p.s = reinterpret_cast<const void*>(s);
    p.out = reinterpret_cast<double*>(out);
    p.rows = rows;
    p.cols = cols;
    p.ld = ld;
    p.dtype = dtype;
    p.region = region;
    p.degree = degree;
    p.gamma = gamma;
    p.coef0 = coef0;
    return p;
  };
  m.def(
      "kernel_row_sums_cpu",
      [make](uintptr_t s, uintptr_t out, int64_t rows, int64_t cols, int64_t ld, int64_t s_numel, int64_t out_numel,
             int dtype, int region, int degree, double gamma, double coef0, int num_threads) {
        ks::Params p = make(s, out, rows, cols, ld, s_numel, out_numel, dtype, region, degree, gamma, coef0);
        FASTGAN_CHECK_ARG(num_threads >= 1, "kernel_sum: num_threads must be >= 1, got ", num_threads);
        py::gil_scoped_release release;
        ks::kernel_row_sums_cpu(p, num_threads);
      },
      py::arg("s"), py::arg("out"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("s_numel"),
      py::arg("out_numel"), py::arg("dtype"), py::arg("region"), py::arg("degree"), py::arg("gamma"),
      py::arg("coef0"), py::arg("num_threads"),
      "Row sums of (gamma s + coef0) ** degree over a block s (float32 or float64, row stride ld) into "
      "float64 out [rows]; region 0: all columns, 1: j < i, 2: j > i.");
  m.def(
      "kernel_row_sums_cuda",
      [make](uintptr_t s, uintptr_t out, int64_t rows, int64_t cols, int64_t ld, int64_t s_numel, int64_t out_numel,
             int dtype, int region, int degree, double gamma, double coef0, int device, uintptr_t stream) {
        ks::Params p = make(s, out, rows, cols, ld, s_numel, out_numel, dtype, region, degree, gamma, coef0);
#ifdef WITH_CUDA
        FASTGAN_CHECK_ARG(device >= 0, "kernel_sum: device index must be >= 0, got ", device);
        py::gil_scoped_release release;
        ks::kernel_row_sums_cuda(p, device, reinterpret_cast<void*>(stream));
#else
        (void)p; (void)device; (void)stream;
        require_cuda_build("kernel_row_sums_cuda");
#endif
      },
      py::arg("s"), py::arg("out"), py::arg("rows"), py::arg("cols"), py::arg("ld"), py::arg("s_numel"),
      py::arg("out_numel"), py::arg("dtype"), py::arg("region"), py::arg("degree"), py::arg("gamma"),
      py::arg("coef0"), py::arg("device"), py::arg("stream"),
      "kernel_row_sums_cpu on device buffers, one block per row, on the given stream.");
}

// ------------------------------------------------------------- tridiag ----
void bind_tridiag(py::module_& m) {
  namespace td = fastgan::tridiag;
  auto make = [](uintptr_t d, uintptr_t e2, uintptr_t out, int64_t batch, int64_t n, int64_t d_numel,
                 int64_t e2_numel, int64_t out_numel) {
    FASTGAN_CHECK_ARG(batch >= 0 && n >= 1, "tridiag: need batch >= 0 and n >= 1, got batch = ", batch,
                      ", n = ", n);
    FASTGAN_CHECK_ARG(d_numel == batch * n, "tridiag: d has ", d_numel, " elements, expected batch * n = ",
                      batch * n);
    FASTGAN_CHECK_ARG(e2_numel == batch * (n - 1), "tridiag: e2 has ", e2_numel,
                      " elements, expected batch * (n - 1) = ", batch * (n - 1));
    FASTGAN_CHECK_ARG(out_numel == batch * n, "tridiag: out has ", out_numel,
                      " elements, expected batch * n = ", batch * n);
    FASTGAN_CHECK_ARG(batch == 0 || (d != 0 && out != 0 && (n == 1 || e2 != 0)), "tridiag: null data pointer");
    td::Params p;
    p.d = reinterpret_cast<const double*>(d);
    p.e2 = reinterpret_cast<const double*>(e2);
    p.out = reinterpret_cast<double*>(out);
    p.batch = batch;
    p.n = n;
    return p;
  };
  m.def(
      "tridiagonal_eigvalsh_cpu",
      [make](uintptr_t d, uintptr_t e2, uintptr_t out, int64_t batch, int64_t n, int64_t d_numel,
             int64_t e2_numel, int64_t out_numel, int num_threads) {
        td::Params p = make(d, e2, out, batch, n, d_numel, e2_numel, out_numel);
        FASTGAN_CHECK_ARG(num_threads >= 1, "tridiag: num_threads must be >= 1, got ", num_threads);
        py::gil_scoped_release release;
        td::tridiagonal_eigvalsh_cpu(p, num_threads);
      },
      py::arg("d"), py::arg("e2"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("d_numel"),
      py::arg("e2_numel"), py::arg("out_numel"), py::arg("num_threads"),
      "Ascending eigenvalues of batched symmetric tridiagonal matrices (float64 buffers: diagonals d "
      "[batch, n], squared off-diagonals e2 [batch, n - 1], out [batch, n]) by Sturm bisection.");
  m.def(
      "tridiagonal_eigvalsh_cuda",
      [make](uintptr_t d, uintptr_t e2, uintptr_t out, int64_t batch, int64_t n, int64_t d_numel,
             int64_t e2_numel, int64_t out_numel, int device, uintptr_t stream) {
        td::Params p = make(d, e2, out, batch, n, d_numel, e2_numel, out_numel);
#ifdef WITH_CUDA
        FASTGAN_CHECK_ARG(device >= 0, "tridiag: device index must be >= 0, got ", device);
        py::gil_scoped_release release;
        td::tridiagonal_eigvalsh_cuda(p, device, reinterpret_cast<void*>(stream));
#else
        (void)p; (void)device; (void)stream;
        require_cuda_build("tridiagonal_eigvalsh_cuda");
#endif
      },
      py::arg("d"), py::arg("e2"), py::arg("out"), py::arg("batch"), py::arg("n"), py::arg("d_numel"),
      py::arg("e2_numel"), py::arg("out_numel"), py::arg("device"), py::arg("stream"),
      "tridiagonal_eigvalsh_cpu on device buffers, one thread per eigenvalue, on the given stream.");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastgan native kernels (pybind11, libtorch-free)";
  m.attr("__version__") = kVersion;
  m.attr("WITH_CUDA") = kWithCuda;
  m.def("cuda_info", &cuda_info_dict,
        "Dict with compiled, device_count, runtime_version, driver_version, message. Never raises.");
  bind_fdiv(m);
  bind_kernel_sum(m);
  bind_sqrtm(m);
  bind_tridiag(m);
}
