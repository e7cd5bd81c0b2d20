// CPU element-wise kernels (cpu_ops.h); attention.cpp and swiglu.cpp hold the ops that use ggml's exp. Hot
// loops are compiled for x86-64-v4/v3 and plain x86-64 with target_clones, so one portable binary still uses
// AVX-512/AVX2 where present.
#include "enclave/kernels/cpu_ops.h"

#include <algorithm>
#include <cmath>

#include "enclave/kernels/half.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENCLAVE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENCLAVE_CLONES
#endif

namespace enclave::kernels {

ENCLAVE_CLONES
void rms_norm_row(const float* x, const float* w, float eps, float* y, int64_t n) noexcept {
    double sum = 0.0;  // ggml accumulates the squares in double
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

ENCLAVE_CLONES
void rope_row(float* x, int64_t n_heads, int64_t head_dim, int n_dims, int32_t pos, float freq_base,
              float freq_scale, bool neox, const float* freq_factors) noexcept {
    // The angle of pair i is pos * base^(-2i/n_dims); ggml advances it by repeated float multiplication,
    // and so do we, to land on the same floats.
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
    constexpr int max_pairs = 512;
    float cos_cache[max_pairs];
    float sin_cache[max_pairs];
    const int n_pairs = n_dims / 2 < max_pairs ? n_dims / 2 : max_pairs;
    float theta = static_cast<float>(pos);
    for (int i = 0; i < n_pairs; ++i) {
        const float ff = freq_factors ? freq_factors[i] : 1.0f;
        const float angle = freq_scale * (theta / ff);
        cos_cache[i] = std::cos(angle);
        sin_cache[i] = std::sin(angle);
        theta *= theta_scale;
    }
    for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + h * head_dim;
        for (int i = 0; i < n_pairs; ++i) {
            const int64_t a = neox ? i : 2 * i;
            const int64_t b = neox ? i + n_dims / 2 : 2 * i + 1;
            const float x0 = v[a], x1 = v[b];
            // ggml's rotate_pairs as GCC compiles it with -march=native (one product of each sum fused;
            // verified bit for bit against llama.cpp's rope output)
            v[a] = std::fma(x0, cos_cache[i], -(x1 * sin_cache[i]));
            v[b] = std::fma(x0, sin_cache[i], x1 * cos_cache[i]);
        }
    }
}

ENCLAVE_CLONES
void add_row(float* x, const float* y, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

ENCLAVE_CLONES
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

}  // namespace enclave::kernels
