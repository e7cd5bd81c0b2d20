// The float arithmetic of llama.cpp's x86 CPU build (ggml-cpu compiled with -march=native on an AVX-512
// machine, our oracle), written out as scalar code so every ISA path here can follow it step by step.
//
// SmolLM2-135M picks different greedy tokens when a single float rounding differs, so agreeing with
// llama.cpp needs its exact order of operations, not only its maths. This header defines:
//   - reduce16: a 16-lane horizontal sum as GCC expands _mm512_reduce_add_ps (halves, quarters, pairs);
//   - hsum8:    ggml's hsum_float_8 (the same tree on 8 lanes);
//   - exp_ggml: ggml_v_expf's AVX-512 variant (Arm's optimized-routines polynomial, scaled by vscalefps),
//               which ggml uses for softmax and SiLU in place of libm's expf.
// Callers must keep the compiler from fusing a multiply into a following add where these functions do not
// (compile with -ffp-contract=off, or use the explicit std::fma written here).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace enclave::kernels::detail {

// v[0] + ... + v[15] in _mm512_reduce_add_ps order: a[i] = v[i] + v[i+8], b[i] = a[i] + a[i+4],
// then (b0 + b2) + (b1 + b3).
inline float reduce16(const float* v) noexcept {
    float a[8], b[4];
    for (int i = 0; i < 8; ++i) a[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) b[i] = a[i + 4] + a[i];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

// v[0] + ... + v[7] in hsum_float_8 order: a[i] = v[i] + v[i+4], then (a0 + a2) + (a1 + a3).
inline float hsum8(const float* v) noexcept {
    float a[4];
    for (int i = 0; i < 4; ++i) a[i] = v[i + 4] + v[i];
    return (a[0] + a[2]) + (a[1] + a[3]);
}

// 2^k as a float, for k in [-126, 127].
inline float pow2_normal(int32_t k) noexcept {
    return std::bit_cast<float>(static_cast<uint32_t>(k + 127) << 23);
}

// e^x as ggml_v_expf computes it with AVX-512 (max error ~1.5 ulp; 0 below about -104, inf above 88.7).
// x = n ln2 + b with n integral and |b| <= ln2/2; e^b by a degree-5 polynomial; then j * 2^n rounded once
// (vscalefps). The scaling is two exact-or-once-rounded products, so scalar, AVX2 and AVX-512 code agree.
inline float exp_ggml(float x) noexcept {
    const float shift = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, shift);
    const float n = z - shift;  // round(x / ln2), exactly integral
    if (std::fabs(n) > 192.0f) return n > 0.0f ? INFINITY : 0.0f;
    if (n != n) return n;  // NaN in, NaN out
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j =
        std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                 u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    // j in [0.7, 1.5]: j * 2^n1 is exact for n1 in [-125, 127]; the second product rounds once.
    const auto ni = static_cast<int32_t>(n);
    const int32_t n1 = ni < -125 ? -125 : (ni > 127 ? 127 : ni);
    return (j * pow2_normal(n1)) * pow2_normal(ni - n1);
}

}  // namespace enclave::kernels::detail
