// f-divergence kernels: fused closed forms of the f-GAN terms and their
// derivatives, shared by the CPU loop (fdiv_cpu.cpp) and the CUDA kernels
// (fdiv_cuda.cu). No ATen, no libtorch.
//
// For a critic output v (any real number) and a divergence with output
// activation g_f and Fenchel conjugate f* (Nowozin, Cseke, Tomioka, "f-GAN",
// NeurIPS 2016, Table 6) each element gets one of two terms:
//
//   term ACTIVATION: T(v) = g_f(v)          and dT/dv
//   term CONJUGATE:  F(v) = f*(g_f(v))      and dF/dv
//
// both computed in one pass from a closed form that stays finite wherever the
// true value is representable (softplus / log1p / expm1 instead of composing
// g_f and f* in floating point). fastgan/losses/_ref.py writes the same closed
// forms with torch ops; keep the two in sync (kernel ids below are also listed
// in fastgan/divergences.py).
//
// The elementary functions in namespace fm are branch-free (range reduction +
// polynomial, selects instead of branches, no libm calls) so that the CPU loop
// vectorises; on the device they map to the CUDA math library's accurate
// versions. Accuracy on the host: exp/expm1 < 1 ulp, log/log1p about 1 ulp
// (Taylor/atanh series truncated far below the unit roundoff).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/errors.h"
#include "common/host_device.h"

// Host: force inlining so the vectorised CPU loops contain no calls.
#if defined(__CUDACC__)
#define FDIV_HD FASTGAN_HD
#elif defined(__GNUC__)
#define FDIV_HD inline __attribute__((always_inline))
#else
#define FDIV_HD inline
#endif

namespace fastgan {
namespace fdiv {

// Kernel ids (fastgan/divergences.py: Divergence.kernel_id).
enum Kernel : int {
  KL = 0,
  REVERSE_KL = 1,
  PEARSON = 2,
  NEYMAN = 3,
  HELLINGER = 4,
  JEFFREY = 5,
  JS = 6,
  GAN = 7,
  TOTAL_VARIATION = 8,
  ALPHA_LT1 = 9,   // alpha-divergence, alpha < 1, alpha != 0
  ALPHA_GT1 = 10,  // alpha-divergence, alpha > 1
  WGAN = 11,       // T(v) = v, F(v) = v (Wasserstein critic losses)
  HINGE = 12,      // T(v) = -relu(1 - v), F(v) = relu(1 + v) (hinge losses)
  NUM_KERNELS = 13,
};

enum Term : int { ACTIVATION = 0, CONJUGATE = 1 };

// Per-call constants derived from the divergence parameter (alpha), always in
// double: the alpha conjugates are evaluated in double (see fused_term).
//   ALPHA_LT1: c0 = 1/(1-a), c1 = log(1-a), c2 = a/(a-1), c3 = 1/a
//   ALPHA_GT1: c0 = a-1,     c1 = a/(a-1),  c2 = 1/(a-1), c3 = 1/a
struct Consts {
  double c0, c1, c2, c3;
};

inline Consts make_consts(int kernel, double alpha) {
  Consts c{0.0, 0.0, 0.0, 0.0};
  if (kernel == ALPHA_LT1) {
    c.c0 = 1.0 / (1.0 - alpha);
    c.c1 = std::log(1.0 - alpha);
    c.c2 = alpha / (alpha - 1.0);
    c.c3 = 1.0 / alpha;
  } else if (kernel == ALPHA_GT1) {
    c.c0 = alpha - 1.0;
    c.c1 = alpha / (alpha - 1.0);
    c.c2 = 1.0 / (alpha - 1.0);
    c.c3 = 1.0 / alpha;
  }
  return c;
}

// Elementwise launch parameters. Shapes: x, grad: [n] (contiguous, storage
// dtype given by dtype code); out: [n] when reduce == 0, [1] when reduce != 0.
//   out  = coef * term(x)            (reduce == 0)
//   out  = coef * sum_i term(x_i)    (reduce != 0; accumulated in float32 blocks
//                                     combined in float64, float64 for fp64 input)
//   grad = coef * dterm/dx           (backward is grad_out * grad; the CUDA
//                                     launcher also takes grad == nullptr and
//                                     then stores no derivative, see
//                                     BackwardParams)
struct Params {
  const void* x;
  void* out;
  void* grad;
  int64_t n;
  int dtype;   // 0 f32, 1 f64, 2 f16, 3 bf16 (common/host_device.h)
  int kernel;  // Kernel
  int term;    // Term
  int reduce;  // 0: elementwise, 1: sum (coef carries 1/n for a mean)
  double alpha;
  double coef;
};

// Backward from x (CUDA): grad[i] = grad_out[elementwise ? i : 0] * S(coef *
// dterm/dx(x_i)), S the storage dtype, i.e. bitwise grad_out * (the grad that
// Params would have stored). Shapes: x, grad: [n]; grad_out: [n] or [1].
struct BackwardParams {
  const void* x;
  const void* grad_out;
  void* grad;
  int64_t n;
  int elementwise;  // grad_out has n elements (else one)
  int dtype;
  int kernel;
  int term;
  double alpha;
  double coef;
};

// ------------------------------------------------------------------------
// Branch-free elementary functions.
namespace fm {

FDIV_HD int32_t as_int(float x) { int32_t i; memcpy(&i, &x, sizeof(i)); return i; }
FDIV_HD float as_float(int32_t i) { float x; memcpy(&x, &i, sizeof(x)); return x; }
FDIV_HD int64_t as_int(double x) { int64_t i; memcpy(&i, &x, sizeof(i)); return i; }
FDIV_HD double as_double(int64_t i) { double x; memcpy(&x, &i, sizeof(x)); return x; }

template <typename T> FDIV_HD T inf() { return std::numeric_limits<T>::infinity(); }
template <typename T> FDIV_HD T qnan() { return std::numeric_limits<T>::quiet_NaN(); }

// Select helpers written as ternaries on values (compile to blends).
template <typename T> FDIV_HD T max0(T x) { return x > T(0) ? x : T(0); }
template <typename T> FDIV_HD T fabs_(T x) { return x < T(0) ? -x : x; }

#if !defined(__CUDA_ARCH__)
// Shared by exp_ and expm1_: x = n ln2 + r with n = round(x / ln2) and |r| <=
// ln2/2 (Cody-Waite: ln2 split in a high part exact in n * hi and a low part),
// and the power 2^n split as 2^n1 * 2^n2 so that results in the subnormal range
// and the overflow to inf come out right when applied as (v * s1) * s2.
struct Ln2Reduced32 {
  float r, s1, s2;
};
FDIV_HD Ln2Reduced32 reduce_ln2_(float xc) {
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float t = xc * 1.44269504088896341f + magic;
  float nf = t - magic;
  int32_t n = as_int(t) - as_int(magic);
  float r = xc - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  int32_t n1 = as_int(nf * 0.5f + magic) - as_int(magic);
  int32_t n2 = n - n1;
  return {r, as_float((n1 + 127) << 23), as_float((n2 + 127) << 23)};
}

struct Ln2Reduced64 {
  double r, s1, s2;
};
FDIV_HD Ln2Reduced64 reduce_ln2_(double xc) {
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  double t = xc * 1.4426950408889634074 + magic;
  double nf = t - magic;
  int64_t n = as_int(t) - as_int(magic);
  double r = xc - nf * 6.93145751953125E-1;
  r = r - nf * 1.42860682030941723212E-6;
  int64_t n1 = as_int(nf * 0.5 + magic) - as_int(magic);
  int64_t n2 = n - n1;
  return {r, as_double((n1 + 1023) << 52), as_double((n2 + 1023) << 52)};
}

// exp(x) = 2^n * e^r, e^r by its Taylor polynomial (degree 7 float, 13 double:
// truncation < 0.05 ulp).
FDIV_HD float exp_(float x) {
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  Ln2Reduced32 q = reduce_ln2_(xc);
  float r = q.r;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  float res = (p * q.s1) * q.s2;
  return x != x ? x : res;
}

FDIV_HD double exp_(double x) {
  double xc = x < -746.0 ? -746.0 : x;
  xc = xc > 710.0 ? 710.0 : xc;
  Ln2Reduced64 q = reduce_ln2_(xc);
  double r = q.r;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  double res = (p * q.s1) * q.s2;
  return x != x ? x : res;
}

// expm1(x) = 2^n * q + (2^n - 1) with q = expm1(r): exact in relative terms
// near 0 (n = 0 gives q itself).
FDIV_HD float expm1_(float x) {
  float xc = x < -90.0f ? -90.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  Ln2Reduced32 q = reduce_ln2_(xc);
  float r = q.r;
  float p = 1.0f / 40320.0f;
  p = p * r + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  float e = r + (r * r) * p;
  float res = (e * q.s1) * q.s2 + (q.s1 * q.s2 - 1.0f);
  return x != x ? x : res;
}

FDIV_HD double expm1_(double x) {
  double xc = x < -750.0 ? -750.0 : x;
  xc = xc > 710.0 ? 710.0 : xc;
  Ln2Reduced64 q = reduce_ln2_(xc);
  double r = q.r;
  double p = 1.0 / 87178291200.0;
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  double e = r + (r * r) * p;
  double res = (e * q.s1) * q.s2 + (q.s1 * q.s2 - 1.0);
  return x != x ? x : res;
}

FDIV_HD float log_(float x) {
  bool tiny = x < 1.17549435e-38f;
  float xs = tiny ? x * 33554432.0f : x;  // 2^25 lifts subnormals
  int32_t bits = as_int(xs);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  float m = as_float((bits & 0x007fffff) | 0x3f800000);
  bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  e = tiny ? e - 25 : e;
  float f = m - 1.0f;
  float s = f / (2.0f + f);
  float z = s * s;
  float R = 2.0f / 9.0f;
  R = R * z + 2.0f / 7.0f;
  R = R * z + 2.0f / 5.0f;
  R = R * z + 2.0f / 3.0f;
  R = R * z;
  float hfsq = 0.5f * f * f;
  float ef = (float)e;
  float res = ef * 0.693359375f - ((hfsq - (s * (hfsq + R) + ef * -2.12194440e-4f)) - f);
  res = x == 0.0f ? -inf<float>() : res;
  res = x < 0.0f ? qnan<float>() : res;
  res = x == inf<float>() ? x : res;
  return x != x ? x : res;
}

FDIV_HD double log_(double x) {
  bool tiny = x < 2.2250738585072014e-308;
  double xs = tiny ? x * 18014398509481984.0 : x;  // 2^54
  int64_t bits = as_int(xs);
  // The exponent field as a double without an int64 -> double conversion
  // (which has no AVX2 instruction): 2^52 + k, built from its bits, minus 2^52.
  int64_t ebits = (int64_t)((uint64_t)bits >> 52) & 0x7ff;
  double ef = as_double(ebits | 0x4330000000000000LL) - (4503599627370496.0 + 1023.0);
  double m = as_double((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  bool big = m > 1.4142135623730951;
  m = big ? m * 0.5 : m;
  ef = big ? ef + 1.0 : ef;
  ef = tiny ? ef - 54.0 : ef;
  double f = m - 1.0;
  double s = f / (2.0 + f);
  double z = s * s;
  double R = 2.0 / 23.0;
  R = R * z + 2.0 / 21.0;
  R = R * z + 2.0 / 19.0;
  R = R * z + 2.0 / 17.0;
  R = R * z + 2.0 / 15.0;
  R = R * z + 2.0 / 13.0;
  R = R * z + 2.0 / 11.0;
  R = R * z + 2.0 / 9.0;
  R = R * z + 2.0 / 7.0;
  R = R * z + 2.0 / 5.0;
  R = R * z + 2.0 / 3.0;
  R = R * z;
  double hfsq = 0.5 * f * f;
  double res = ef * 6.93147180369123816490e-01 -
               ((hfsq - (s * (hfsq + R) + ef * 1.90821492927058770002e-10)) - f);
  res = x == 0.0 ? -inf<double>() : res;
  res = x < 0.0 ? qnan<double>() : res;
  res = x == inf<double>() ? x : res;
  return x != x ? x : res;
}

// log1p(x) = log(u) + (x - (u - 1)) / u with u = fl(1 + x): the second term
// restores what rounding 1 + x lost.
template <typename T>
FDIV_HD T log1p_(T x) {
  T u = T(1) + x;
  T l = log_(u);
  T c = (x - (u - T(1))) / u;
  // u <= 0, u = inf or NaN: log(u) alone is the answer (-inf / NaN / inf).
  T uc = u < inf<T>() ? u : T(0);
  return uc > T(0) ? l + c : l;
}
// log1p(e) for e in [0, 1] (the softplus correction log1p(exp(-|v|))): no
// range reduction needed, log1p(e) = 2 atanh(s) = 2s + s R(s^2) with
// s = e / (2 + e) in [0, 1/3]; Taylor terms of R up to s^14 (float) / s^32
// (double), truncation < 0.1 ulp; written as e - (e^2/2 - s (e^2/2 + R)) so
// the exact e leads. One division, no special cases.
FDIV_HD float log1p_unit_(float e) {
  float s = e / (2.0f + e);
  float z = s * s;
  float R = 2.0f / 15.0f;
  R = R * z + 2.0f / 13.0f;
  R = R * z + 2.0f / 11.0f;
  R = R * z + 2.0f / 9.0f;
  R = R * z + 2.0f / 7.0f;
  R = R * z + 2.0f / 5.0f;
  R = R * z + 2.0f / 3.0f;
  R = R * z;
  float hfsq = 0.5f * e * e;
  return e - (hfsq - s * (hfsq + R));  // = 2s + s R with e exact in front
}

FDIV_HD double log1p_unit_(double e) {
  double s = e / (2.0 + e);
  double z = s * s;
  double R = 2.0 / 33.0;
  R = R * z + 2.0 / 31.0;
  R = R * z + 2.0 / 29.0;
  R = R * z + 2.0 / 27.0;
  R = R * z + 2.0 / 25.0;
  R = R * z + 2.0 / 23.0;
  R = R * z + 2.0 / 21.0;
  R = R * z + 2.0 / 19.0;
  R = R * z + 2.0 / 17.0;
  R = R * z + 2.0 / 15.0;
  R = R * z + 2.0 / 13.0;
  R = R * z + 2.0 / 11.0;
  R = R * z + 2.0 / 9.0;
  R = R * z + 2.0 / 7.0;
  R = R * z + 2.0 / 5.0;
  R = R * z + 2.0 / 3.0;
  R = R * z;
  double hfsq = 0.5 * e * e;
  return e - (hfsq - s * (hfsq + R));
}
#else
FDIV_HD float log1p_unit_(float e) { return ::log1pf(e); }
FDIV_HD double log1p_unit_(double e) { return ::log1p(e); }
FDIV_HD float exp_(float x) { return ::expf(x); }
FDIV_HD double exp_(double x) { return ::exp(x); }
FDIV_HD float expm1_(float x) { return ::expm1f(x); }
FDIV_HD double expm1_(double x) { return ::expm1(x); }
FDIV_HD float log_(float x) { return ::logf(x); }
FDIV_HD double log_(double x) { return ::log(x); }
FDIV_HD float log1p_(float x) { return ::log1pf(x); }
FDIV_HD double log1p_(double x) { return ::log1p(x); }
#endif

FDIV_HD float sqrt_(float x) { return ::sqrtf(x); }
FDIV_HD double sqrt_(double x) { return ::sqrt(x); }

}  // namespace fm

// ------------------------------------------------------------------------
// Lambert W.

// l = log(W0(e^y)), i.e. the root of l + e^l = y, for any real y, branch-free
// with a fixed number of Halley steps (vectorises). Initial guess: y - e^y for
// y < -1, a quadratic about y = 1 on [-1, 1], log(y - log y + log y / y) above;
// its error is < 0.1, and three cubically convergent steps take it below
// double precision. The residual uses expm1 so that l near 0 (y near 1) keeps
// full relative accuracy.
template <typename T>
FDIV_HD T log_lambert_w0_exp(T y) {
  T ym = y > T(1) ? y : T(1);
  T ly = fm::log_(ym);
  T g_hi = fm::log_(ym - ly + ly / ym);
  T yl = y < T(-1) ? y : T(-1);
  T g_lo = yl - fm::exp_(yl);
  T d = y - T(1);
  T g_mid = d * (T(0.5) - T(0.0625) * d);
  T l = y > T(1) ? g_hi : (y < T(-1) ? g_lo : g_mid);
  const T ym1 = y - T(1);
  for (int it = 0; it < 3; ++it) {
    T em = fm::expm1_(l);        // e^l - 1
    T s = l + em - ym1;          // l + e^l - y
    T s1 = T(2) + em;            // 1 + e^l
    T r = (em + T(1)) / s1;      // e^l / (1 + e^l), in (0, 1): no overflow
    l = l - (T(2) * s) / (T(2) * s1 - s * r);  // Halley: 2 s s' / (2 s'^2 - s s'')
  }
  return l;
}

// ------------------------------------------------------------------------
// Fused terms. Each writes the value and its derivative w.r.t. v.
//
// Stable pieces (e = exp(-|v|)):
//   softplus(v)  = max(v, 0) + log1p(e),  softplus(-v) = softplus(v) - v
//   sigmoid(v)   = v >= 0 ? 1/(1+e) : e/(1+e)
template <typename T>
struct SoftplusSigmoid {
  T sp_pos;   // softplus(v)
  T sp_neg;   // softplus(-v)
  T sig_pos;  // sigmoid(v)
  T sig_neg;  // sigmoid(-v)
};

template <typename T>
FDIV_HD SoftplusSigmoid<T> softplus_sigmoid(T v) {
  T e = fm::exp_(-fm::fabs_(v));
  T l = fm::log1p_unit_(e);
  T inv = T(1) / (T(1) + e);
  SoftplusSigmoid<T> r;
  r.sp_pos = fm::max0(v) + l;
  r.sp_neg = fm::max0(-v) + l;
  bool pos = v >= T(0);
  r.sig_pos = pos ? inv : e * inv;
  r.sig_neg = pos ? e * inv : inv;
  return r;
}

// log(softplus(x)), finite for every finite x: for x below the threshold
// log(log1p(e^x)) = x - e^x/2 + ... equals x to working precision.
template <typename T>
FDIV_HD T log_softplus(T x) {
  const T thr = sizeof(T) == 8 ? T(-38) : T(-18);
  T xc = x < thr ? thr : x;
  T ax = fm::fabs_(xc);
  T sp = fm::max0(xc) + fm::log1p_unit_(fm::exp_(-ax));
  T r = fm::log_(sp);
  return x < thr ? x : r;
}

// The conjugate term of Jeffrey: F = f*(v) = W + 1/W + v - 2 with
// W = W0(e^{1-v}); with l = log W this is expm1(-l) - l (no cancellation:
// both parts have the sign of -l), and dF/dv = 1/W = e^{-l}.
template <typename T>
FDIV_HD void jeffrey_conjugate(T v, T& val, T& grad) {
  T l = log_lambert_w0_exp(T(1) - v);
  val = fm::expm1_(-l) - l;
  grad = fm::exp_(-l);
}

template <int K, int TERM, typename T>
FDIV_HD void fused_term(T v, const Consts& c, T& val, T& grad) {
  const T ln2 = T(0.69314718055994530941723212145818);
  if constexpr (K == KL) {
    if constexpr (TERM == ACTIVATION) { val = v; grad = T(1); }
    else { T e = fm::exp_(v - T(1)); val = e; grad = e; }
  } else if constexpr (K == REVERSE_KL) {
    if constexpr (TERM == ACTIVATION) { T e = fm::exp_(-v); val = -e; grad = e; }
    else { val = v - T(1); grad = T(1); }
  } else if constexpr (K == PEARSON) {
    if constexpr (TERM == ACTIVATION) { val = v; grad = T(1); }
    else { val = v * (T(0.25) * v + T(1)); grad = T(0.5) * v + T(1); }
  } else if constexpr (K == NEYMAN) {
    if constexpr (TERM == ACTIVATION) { val = -fm::expm1_(v); grad = -fm::exp_(v); }
    else { T h = T(0.5) * v; val = T(-2) * fm::expm1_(h); grad = -fm::exp_(h); }
  } else if constexpr (K == HELLINGER) {
    if constexpr (TERM == ACTIVATION) { val = -fm::expm1_(v); grad = -fm::exp_(v); }
    else { val = fm::expm1_(-v); grad = -fm::exp_(-v); }
  } else if constexpr (K == JEFFREY) {
    if constexpr (TERM == ACTIVATION) { val = v; grad = T(1); }
    else { jeffrey_conjugate(v, val, grad); }
  } else if constexpr (K == JS) {
    SoftplusSigmoid<T> s = softplus_sigmoid(v);
    if constexpr (TERM == ACTIVATION) { val = ln2 - s.sp_neg; grad = s.sig_neg; }
    else { val = s.sp_pos - ln2; grad = s.sig_pos; }
  } else if constexpr (K == GAN) {
    SoftplusSigmoid<T> s = softplus_sigmoid(v);
    if constexpr (TERM == ACTIVATION) { val = -s.sp_neg; grad = s.sig_neg; }
    else { val = s.sp_pos; grad = s.sig_pos; }
  } else if constexpr (K == TOTAL_VARIATION) {
    // T = F = tanh(v)/2; tanh|v| = -expm1(-2|v|) / (2 + expm1(-2|v|)),
    // d/dv = (1 - tanh^2)/2 = 2 e / (1 + e)^2 with e = exp(-2|v|).
    T a = T(-2) * fm::fabs_(v);
    T m = fm::expm1_(a);
    T e = fm::exp_(a);
    T th = -m / (T(2) + m);
    val = T(0.5) * (v < T(0) ? -th : th);
    T d = T(1) + e;
    grad = T(2) * e / (d * d);
  } else if constexpr (K == ALPHA_LT1) {
    // g(v) = 1/(1-a) - softplus(-v); with s = softplus(-v) the conjugate is
    // F = ((1-a) s)^{a/(a-1)} / a - 1/a = expm1(p L) / a, L = log(1-a) + log s,
    // dF/dv = ((1-a) s)^{1/(a-1)} sigmoid(-v) = exp((p-1) L - softplus(v)).
    // The conjugate goes through exp of p L (|p L| up to ~90): its float
    // rounding error would be amplified by |p L|, so it is evaluated in double.
    if constexpr (TERM == ACTIVATION) {
      SoftplusSigmoid<T> s = softplus_sigmoid(v);
      val = T(c.c0) - s.sp_neg;
      grad = s.sig_neg;
    } else {
      const double vd = double(v);
      double L = c.c1 + log_softplus(-vd);
      double av = fm::fabs_(vd);
      double sp_pos = fm::max0(vd) + fm::log1p_unit_(fm::exp_(-av));
      val = T(fm::expm1_(c.c2 * L) * c.c3);
      grad = T(fm::exp_((c.c2 - 1.0) * L - sp_pos));
    }
  } else if constexpr (K == ALPHA_GT1) {
    // g(v) = v; exact conjugate over u >= 0 (see fastgan/divergences.py):
    // b = 1 + (a-1) v; F = (b^{a/(a-1)} - 1)/a for b > 0, -1/a otherwise;
    // dF/dv = b^{1/(a-1)} (0 for b <= 0). log b = log1p((a-1) v). In double,
    // as for ALPHA_LT1.
    if constexpr (TERM == ACTIVATION) { val = v; grad = T(1); }
    else {
      double x = c.c0 * double(v);
      bool pos = x > -1.0;
      double lb = fm::log1p_(pos ? x : 0.0);
      double f = fm::expm1_(c.c1 * lb) * c.c3;
      double g = fm::exp_(c.c2 * lb);
      val = T(pos ? f : -c.c3);
      grad = T(pos ? g : 0.0);
    }
  } else if constexpr (K == WGAN) {
    val = v; grad = T(1);
  } else if constexpr (K == HINGE) {
    if constexpr (TERM == ACTIVATION) {
      T h = T(1) - v;
      bool act = h > T(0);
      val = act ? -h : T(0);
      grad = act ? T(1) : T(0);
    } else {
      T h = T(1) + v;
      bool act = h > T(0);
      val = act ? h : T(0);
      grad = act ? T(1) : T(0);
    }
  }
}

// Calls f.template run<K>() for the runtime kernel id (one instantiation per
// closed form); the one list of kernel ids for the CPU and CUDA launchers.
template <typename F>
void dispatch_kernel(int kernel, F&& f) {
  switch (kernel) {
    case KL: return f.template run<KL>();
    case REVERSE_KL: return f.template run<REVERSE_KL>();
    case PEARSON: return f.template run<PEARSON>();
    case NEYMAN: return f.template run<NEYMAN>();
    case HELLINGER: return f.template run<HELLINGER>();
    case JEFFREY: return f.template run<JEFFREY>();
    case JS: return f.template run<JS>();
    case GAN: return f.template run<GAN>();
    case TOTAL_VARIATION: return f.template run<TOTAL_VARIATION>();
    case ALPHA_LT1: return f.template run<ALPHA_LT1>();
    case ALPHA_GT1: return f.template run<ALPHA_GT1>();
    case WGAN: return f.template run<WGAN>();
    case HINGE: return f.template run<HINGE>();
    default: FASTGAN_CHECK_ARG(false, "fdiv: unknown kernel id ", kernel);
  }
}

// Launchers.
void fdiv_term_cpu(const Params& p, int num_threads);
#ifdef WITH_CUDA
// workspace: float64 buffer of at least fdiv_term_cuda_workspace_size(n) elements
// (block partial sums for reduce != 0); device: CUDA device index (made
// current for the call); stream: a cudaStream_t on that device.
int64_t fdiv_term_cuda_workspace_size(int64_t n);
void fdiv_term_cuda(const Params& p, double* workspace, int device, void* stream);
void fdiv_term_cuda_backward(const BackwardParams& p, int device, void* stream);
#endif

}  // namespace fdiv
}  // namespace fastgan
