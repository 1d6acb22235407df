// CPU loop for the fused f-GAN terms (see fdiv.h).
//
// Work is split into fixed blocks of kBlock elements (independent of the
// thread count, so sums are bitwise reproducible); each block converts its
// input to the compute type, runs a vectorised loop over the shared formulas
// in fdiv.h, and writes coef * dterm/dv (and coef * term, or the block sum).
// The loops are compiled twice: for AVX2+FMA and for baseline x86-64, chosen
// at run time.
//
// -fno-trapping-math for this file only: with trapping math GCC may not
// evaluate both arms of a floating-point select, so the branch-free formulas in
// fdiv.h would not vectorise. Nothing here relies on floating-point traps.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cstdint>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "common/cpu_dispatch.h"
#include "common/errors.h"
#include "common/host_device.h"
#include "common/parallel.h"
#include "fdiv/fdiv.h"

namespace fastgan {
namespace fdiv {
namespace {

constexpr int64_t kBlock = 512;          // elements per inner block (fits L1)
constexpr int64_t kBlocksPerTask = 128;  // 64K elements per parallel task

// One block: val/grad from x (all in compute type T). Returns the block sum
// of the values when SUM, else writes coef * value to out.
template <int K, int TERM, bool SUM, typename T>
FASTGAN_ALWAYS_INLINE T block_body(const T* __restrict x, T* __restrict out,
                                                   T* __restrict grad, int64_t n, const Consts c,
                                                   T coef) {
  T acc = T(0);
  if constexpr (SUM) {
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) {
      T v, g;
      fused_term<K, TERM, T>(x[i], c, v, g);
      acc += v;
      grad[i] = coef * g;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T v, g;
      fused_term<K, TERM, T>(x[i], c, v, g);
      out[i] = coef * v;
      grad[i] = coef * g;
    }
  }
  return acc;
}

template <int K, int TERM, bool SUM, typename T>
T block_default(const T* x, T* out, T* grad, int64_t n, const Consts c, T coef) {
  return block_body<K, TERM, SUM, T>(x, out, grad, n, c, coef);
}

#if FASTGAN_HAVE_AVX2_CLONE
template <int K, int TERM, bool SUM, typename T>
FASTGAN_AVX2 T block_avx2(const T* x, T* out, T* grad, int64_t n, const Consts c, T coef) {
  return block_body<K, TERM, SUM, T>(x, out, grad, n, c, coef);
}
#endif

template <typename T>
using BlockFn = T (*)(const T*, T*, T*, int64_t, const Consts, T);

template <int K, int TERM, bool SUM, typename T>
BlockFn<T> pick3() {
#if FASTGAN_HAVE_AVX2_CLONE
  if (cpu_has_avx2()) return &block_avx2<K, TERM, SUM, T>;
#endif
  return &block_default<K, TERM, SUM, T>;
}

template <int K, typename T>
BlockFn<T> pick2(int term, bool sum) {
  if (term == ACTIVATION) return sum ? pick3<K, ACTIVATION, true, T>() : pick3<K, ACTIVATION, false, T>();
  return sum ? pick3<K, CONJUGATE, true, T>() : pick3<K, CONJUGATE, false, T>();
}

template <typename T>
struct Pick {
  int term;
  bool sum;
  BlockFn<T>& fn;
  template <int K> void run() const { fn = pick2<K, T>(term, sum); }
};

template <typename T>
BlockFn<T> pick(int kernel, int term, bool sum) {
  BlockFn<T> fn = nullptr;
  dispatch_kernel(kernel, Pick<T>{term, sum, fn});
  return fn;
}

// The output buffers are usually fresh allocations (the gradient becomes
// param.grad and is freed at zero_grad), so first-touch page faults can cost
// more than the arithmetic: ask for transparent huge pages on the 2 MiB-aligned
// interior of large buffers (one fault per 2 MiB instead of per 4 KiB). Purely
// advisory; errors are ignored.
void advise_huge_pages(void* ptr, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  if (ptr == nullptr || bytes < int64_t(2 * kHuge)) return;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(ptr) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(ptr) + uintptr_t(bytes)) & ~(kHuge - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)ptr;
  (void)bytes;
#endif
}

// Storage S, compute type T.
template <typename S>
void run(const Params& p, int num_threads) {
  using T = typename compute_type<S>::type;
  constexpr bool direct = sizeof(S) == sizeof(T);  // float/double: no conversion buffers
  const bool sum = p.reduce != 0;
  BlockFn<T> fn = pick<T>(p.kernel, p.term, sum);
  const Consts c = make_consts(p.kernel, p.alpha);
  const T coef = T(p.coef);
  const S* x = static_cast<const S*>(p.x);
  S* out = static_cast<S*>(p.out);
  S* grad = static_cast<S*>(p.grad);
  const int64_t n = p.n;
  advise_huge_pages(grad, n * int64_t(sizeof(S)));
  if (!sum) advise_huge_pages(out, n * int64_t(sizeof(S)));
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  const int64_t ntasks = (nblocks + kBlocksPerTask - 1) / kBlocksPerTask;
  std::vector<double> partial(sum ? ntasks : 0, 0.0);
  parallel_for(ntasks, 1, num_threads, [&](int64_t tb, int64_t te) {
    constexpr int64_t kBuf = direct ? 1 : kBlock;
    T bx[kBuf], bo[kBuf], bg[kBuf];
    for (int64_t t = tb; t < te; ++t) {
      double task_sum = 0.0;
      const int64_t b0 = t * kBlocksPerTask, b1 = std::min(nblocks, b0 + kBlocksPerTask);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t i0 = b * kBlock, len = std::min(kBlock, n - i0);
        T s;
        if constexpr (direct) {
          s = fn(reinterpret_cast<const T*>(x) + i0, sum ? nullptr : reinterpret_cast<T*>(out) + i0,
                 reinterpret_cast<T*>(grad) + i0, len, c, coef);
        } else {
          for (int64_t i = 0; i < len; ++i) bx[i] = io<S>::load(x, i0 + i);
          s = fn(bx, bo, bg, len, c, coef);
          for (int64_t i = 0; i < len; ++i) io<S>::store(grad, i0 + i, bg[i]);
          if (!sum)
            for (int64_t i = 0; i < len; ++i) io<S>::store(out, i0 + i, bo[i]);
        }
        task_sum += double(s);
      }
      if (sum) partial[t] = task_sum;
    }
  });
  if (sum) {
    double total = 0.0;
    for (double v : partial) total += v;  // fixed order: reproducible
    io<S>::store(out, 0, T(total * p.coef));
  }
}

}  // namespace

void fdiv_term_cpu(const Params& p, int num_threads) {
  FASTGAN_CHECK_ARG(p.n >= 0, "fdiv: n must be >= 0, got ", p.n);
  FASTGAN_CHECK_ARG(p.kernel >= 0 && p.kernel < NUM_KERNELS, "fdiv: unknown kernel id ", p.kernel);
  FASTGAN_CHECK_ARG(p.term == ACTIVATION || p.term == CONJUGATE, "fdiv: term must be 0 or 1, got ",
                    p.term);
  switch (p.dtype) {
    case 0: run<float>(p, num_threads); break;
    case 1: run<double>(p, num_threads); break;
    case 2: run<half_t>(p, num_threads); break;
    case 3: run<bf16_t>(p, num_threads); break;
    default: FASTGAN_CHECK_ARG(false, "fdiv: unsupported dtype code ", p.dtype);
  }
}

}  // namespace fdiv
}  // namespace fastgan
