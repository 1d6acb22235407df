// CPU tier of the polynomial-kernel row sums (see kernel_sum.h): rows split over threads, each
// row one vectorised float64 reduction (an AVX2 + FMA clone picked at run time where the CPU has
// it; the sum's order then differs from the scalar build's only by the SIMD lanes' partial sums).
#include "kernel_sum/kernel_sum.h"

#include "common/cpu_dispatch.h"
#include "common/parallel.h"

namespace fastgan {
namespace kernel_sum {
namespace {

// DEG < 0: the degree is read at run time (p.degree); else the compile-time constant.
template <int DEG, typename T>
FASTGAN_ALWAYS_INLINE double row_body(const T* __restrict x, int64_t n, double gamma, double coef0,
                                   int degree) {
  const int d = DEG < 0 ? degree : DEG;
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t j = 0; j < n; ++j) acc += term(static_cast<double>(x[j]), gamma, coef0, d);
  return acc;
}

template <int DEG, typename T>
double row_default(const T* x, int64_t n, double gamma, double coef0, int degree) {
  return row_body<DEG, T>(x, n, gamma, coef0, degree);
}

#if FASTGAN_HAVE_AVX2_CLONE
template <int DEG, typename T>
FASTGAN_AVX2 double row_avx2(const T* x, int64_t n, double gamma, double coef0, int degree) {
  return row_body<DEG, T>(x, n, gamma, coef0, degree);
}
#endif

template <typename T>
using RowFn = double (*)(const T*, int64_t, double, double, int);

template <int DEG, typename T>
RowFn<T> pick() {
#if FASTGAN_HAVE_AVX2_CLONE
  if (cpu_has_avx2()) return &row_avx2<DEG, T>;
#endif
  return &row_default<DEG, T>;
}

template <typename T>
void run(const Params& p, int num_threads) {
  RowFn<T> fn = p.degree == 1 ? pick<1, T>() : p.degree == 2 ? pick<2, T>()
              : p.degree == 3 ? pick<3, T>() : pick<-1, T>();
  const T* s = static_cast<const T*>(p.s);
  const int64_t grain = p.cols > 0 ? (int64_t(1) << 16) / p.cols + 1 : p.rows;
  parallel_for(p.rows, grain, num_threads, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t b, e;
      row_range(p, i, &b, &e);
      p.out[i] = e > b ? fn(s + i * p.ld + b, e - b, p.gamma, p.coef0, p.degree) : 0.0;
    }
  });
}

}  // namespace

void kernel_row_sums_cpu(const Params& p, int num_threads) {
  if (p.dtype == 1) {
    run<double>(p, num_threads);
  } else {
    run<float>(p, num_threads);
  }
}

}  // namespace kernel_sum
}  // namespace fastgan
