// The CPU EMA kernel over one contiguous span, written once with at::vec and compiled twice:
// ema_cpu_default.cc (portable) and ema_cpu_avx2.cc (-mavx2 -mfma -mf16c). The AVX2 build uses at::vec's
// AVX2 specialisations (CPU_CAPABILITY_AVX2) where the LibTorch headers can (they need sleef.h, which
// Debian's libtorch-dev does not pull in); otherwise at::vec's generic vectors, which the compiler turns
// into AVX2 code under those flags.
// Each including file defines CPU_CAPABILITY first, so at::vec's types and these functions live in a
// namespace of their own per build (see ATen's Note [CPU_CAPABILITY namespace]); nothing here may be
// included anywhere else.
//
// Math: t = t * tau + s * (1 - tau), rounded once to the storage type; float32 math for 16-bit types.
// With tau = 1 this is t + 0 (t exactly); with tau = 0 it is 0 + s (s exactly).
#pragma once

#ifndef CPU_CAPABILITY
#error "define CPU_CAPABILITY before including ema_cpu_kernel.h"
#endif

#include <ATen/cpu/vec/vec.h>
#include <c10/core/ScalarType.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>

#if defined(__F16C__) && defined(__FMA__) && defined(__AVX2__)
#include <immintrin.h>
#endif

namespace byol::ema_cpu {
inline namespace CPU_CAPABILITY {

using at::vec::Vectorized;

// Scalar form: no std::fma, which is a library call (and blocks vectorisation) where the build lacks FMA; the
// compiler contracts this to an FMA where it has one. Exact at the ends either way: t·1 + s·0, t·0 + s·1.
inline float blend(float t, float s, float tau, float omt) { return t * tau + s * omt; }
inline double blend(double t, double s, double tau, double omt) { return t * tau + s * omt; }

template <typename T>
inline Vectorized<T> blend(const Vectorized<T>& t, const Vectorized<T>& s, const Vectorized<T>& tau,
                           const Vectorized<T>& omt) {
  return at::vec::fmadd(t, tau, s * omt);
}

// at::vec's specialised vectors exist in builds that define CPU_CAPABILITY_AVX2 / _AVX512. Its generic
// Vectorized<T> (an array in a struct) compiles to stores and reloads through the stack with store-forwarding
// stalls (measured: under half the speed of a plain loop here), so the other builds use plain loops over
// restrict pointers, which the compiler vectorises for the build's instruction set.
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
#define BYOL_EMA_AT_VEC 1
#else
#define BYOL_EMA_AT_VEC 0
#endif

// float32 and float64.
template <typename T>
void spanFloating(T* __restrict__ t, const T* __restrict__ s, int64_t n, T tau, T omt) {
  int64_t i = 0;
#if BYOL_EMA_AT_VEC
  using V = Vectorized<T>;
  constexpr int64_t W = V::size();
  const V vtau(tau), vomt(omt);
  for (; i + 2 * W <= n; i += 2 * W) {
    const V t0 = V::loadu(t + i), t1 = V::loadu(t + i + W);
    const V s0 = V::loadu(s + i), s1 = V::loadu(s + i + W);
    blend(t0, s0, vtau, vomt).store(t + i);
    blend(t1, s1, vtau, vomt).store(t + i + W);
  }
  for (; i + W <= n; i += W) blend(V::loadu(t + i), V::loadu(s + i), vtau, vomt).store(t + i);
#endif
  for (; i < n; ++i) t[i] = blend(t[i], s[i], tau, omt);
}

// bfloat16: at::vec converts a vector of 16-bit values to two float vectors and back (round to nearest even).
inline void spanBFloat16(c10::BFloat16* __restrict__ t, const c10::BFloat16* __restrict__ s, int64_t n, float tau,
                         float omt) {
  int64_t i = 0;
#if BYOL_EMA_AT_VEC
  using VB = Vectorized<c10::BFloat16>;
  using VF = Vectorized<float>;
  constexpr int64_t W = VB::size();
  const VF vtau(tau), vomt(omt);
  for (; i + W <= n; i += W) {
    auto [t0, t1] = at::vec::convert_bfloat16_float(VB::loadu(t + i));
    auto [s0, s1] = at::vec::convert_bfloat16_float(VB::loadu(s + i));
    at::vec::convert_float_bfloat16(blend(t0, s0, vtau, vomt), blend(t1, s1, vtau, vomt)).store(t + i);
  }
#endif
  for (; i < n; ++i) t[i] = c10::BFloat16(blend(static_cast<float>(t[i]), static_cast<float>(s[i]), tau, omt));
}

// float16: at::vec of LibTorch 1.13 has no half vectors. Where the build has F16C (the AVX2 build) 8 values
// convert per instruction and the math is AVX2 FMA; the portable build converts element by element.
inline void spanHalf(c10::Half* __restrict__ t, const c10::Half* __restrict__ s, int64_t n, float tau, float omt) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__FMA__) && defined(__AVX2__)
  const __m256 vtau = _mm256_set1_ps(tau), vomt = _mm256_set1_ps(omt);
  for (; i + 8 <= n; i += 8) {
    const __m256 tv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + i)));
    const __m256 sv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    const __m256 r = _mm256_fmadd_ps(tv, vtau, _mm256_mul_ps(sv, vomt));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(t + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
#endif
  for (; i < n; ++i) t[i] = c10::Half(blend(static_cast<float>(t[i]), static_cast<float>(s[i]), tau, omt));
}

// One span of `n` elements of `type`; the caller has checked the dtype.
inline void span(c10::ScalarType type, void* target, const void* source, int64_t n, double tau) {
  const double omt = 1.0 - tau;
  switch (type) {
    case c10::ScalarType::Float:
      spanFloating(static_cast<float*>(target), static_cast<const float*>(source), n, static_cast<float>(tau),
                   static_cast<float>(omt));
      break;
    case c10::ScalarType::Double:
      spanFloating(static_cast<double*>(target), static_cast<const double*>(source), n, tau, omt);
      break;
    case c10::ScalarType::BFloat16:
      spanBFloat16(static_cast<c10::BFloat16*>(target), static_cast<const c10::BFloat16*>(source), n,
                   static_cast<float>(tau), static_cast<float>(omt));
      break;
    case c10::ScalarType::Half:
      spanHalf(static_cast<c10::Half*>(target), static_cast<const c10::Half*>(source), n, static_cast<float>(tau),
               static_cast<float>(omt));
      break;
    default:
      break;
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace byol::ema_cpu
