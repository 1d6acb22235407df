// Run-time choice between an AVX2 + FMA build of a loop and the baseline x86-64 one (the CPU
// loops of fdiv and kernel_sum): the function attribute for the AVX2 copy, a forced-inline
// marker for the shared loop body, and the CPU check, cached once per process.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define FASTGAN_HAVE_AVX2_CLONE 1
#define FASTGAN_AVX2 __attribute__((target("avx2,fma")))
#else
#define FASTGAN_HAVE_AVX2_CLONE 0
#define FASTGAN_AVX2
#endif

#if defined(__GNUC__)
#define FASTGAN_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define FASTGAN_ALWAYS_INLINE inline
#endif

namespace fastgan {

// True when the AVX2 + FMA copies may run on this CPU.
inline bool cpu_has_avx2() {
#if FASTGAN_HAVE_AVX2_CLONE
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

}  // namespace fastgan
