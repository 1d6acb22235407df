// Shared macros and dtype helpers for fastgan's native code.
//
// Everything here compiles with both g++ and nvcc. No libtorch, no ATen: the
// extension receives raw pointers, sizes and a dtype code from Python.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FASTGAN_HD __host__ __device__ __forceinline__
#define FASTGAN_DEVICE __device__ __forceinline__
#else
#define FASTGAN_HD inline
#define FASTGAN_DEVICE inline
#endif

namespace fastgan {

//! float64 unit roundoff bound (2^-52) and smallest normal float64, for the kernels' tolerances.
constexpr double kEps64 = 2.220446049250313e-16;
constexpr double kSafeMin64 = 2.2250738585072014e-308;

// dtype codes shared with fastgan/_ext.py (DTYPE_CODES). Keep in sync.
enum class DType : int {
  Float32 = 0,
  Float64 = 1,
  Float16 = 2,
  BFloat16 = 3,
};

inline const char* dtype_name(int code) {
  switch (code) {
    case 0: return "float32";
    case 1: return "float64";
    case 2: return "float16";
    case 3: return "bfloat16";
    default: return "unknown";
  }
}

// Portable storage types for the 16-bit floats. Conversion to and from float
// is done by hand so the same code runs on host and device without cuda_fp16.
struct half_t { uint16_t bits; };
struct bf16_t { uint16_t bits; };

FASTGAN_HD float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((man & 0x400u) == 0) { man <<= 1; --exp; }
      man &= 0x3ffu;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}

// Round-to-nearest-even float -> half.
FASTGAN_HD uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof(x));
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal half or zero
    if (absx < 0x33000000u) return (uint16_t)sign;
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // value / 2^-24 = m >> (126 - e), shift in [14, 24]
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1);
    uint32_t r = m >> shift;
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return (uint16_t)(sign | r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t mant_rem = r & 0x1fffu;
  r >>= 13;
  if (mant_rem > 0x1000u || (mant_rem == 0x1000u && (r & 1u))) ++r;
  return (uint16_t)(sign | r);
}

FASTGAN_HD float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}

FASTGAN_HD uint16_t float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof(x));
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);  // quiet nan
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return (uint16_t)(x >> 16);
}

// Load/store element i of a buffer as the compute type T (float or double).
template <typename Storage> struct io;
template <> struct io<float> {
  FASTGAN_HD static float load(const float* p, int64_t i) { return p[i]; }
  FASTGAN_HD static void store(float* p, int64_t i, float v) { p[i] = v; }
};
template <> struct io<double> {
  FASTGAN_HD static double load(const double* p, int64_t i) { return p[i]; }
  FASTGAN_HD static void store(double* p, int64_t i, double v) { p[i] = v; }
};
template <> struct io<half_t> {
  FASTGAN_HD static float load(const half_t* p, int64_t i) { return half_to_float(p[i].bits); }
  FASTGAN_HD static void store(half_t* p, int64_t i, float v) { p[i].bits = float_to_half(v); }
};
template <> struct io<bf16_t> {
  FASTGAN_HD static float load(const bf16_t* p, int64_t i) { return bf16_to_float(p[i].bits); }
  FASTGAN_HD static void store(bf16_t* p, int64_t i, float v) { p[i].bits = float_to_bf16(v); }
};

// Compute type for a storage type: double for double, float otherwise.
template <typename Storage> struct compute_type { using type = float; };
template <> struct compute_type<double> { using type = double; };

}  // namespace fastgan
