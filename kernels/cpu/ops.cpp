// CPU element-wise and attention kernels (see cpu_ops.h). Hot loops are compiled for x86-64-v4/v3 and
// plain x86-64 with target_clones, so one portable binary still uses AVX-512/AVX2 where present.
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
            v[a] = x0 * cos_cache[i] - x1 * sin_cache[i];
            v[b] = x0 * sin_cache[i] + x1 * cos_cache[i];
        }
    }
}

ENCLAVE_CLONES
void swiglu_row(float* gate, const float* up, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
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

namespace {

// The f16 helpers go through _Float16 so the x86-64-v3/v4 clones convert with F16C (vcvtph2ps/vcvtps2ph),
// 8 or 16 lanes at a time; rounding is IEEE round-to-nearest-even either way, as in fp32_to_fp16().
inline const _Float16* as_f16(const uint16_t* p) { return reinterpret_cast<const _Float16*>(p); }
inline _Float16* as_f16(uint16_t* p) { return reinterpret_cast<_Float16*>(p); }

// Σ a[i] * b[i] with 16 partial sums, so the compiler can keep them in one vector register.
ENCLAVE_CLONES
float dot_f16_f32(const uint16_t* __restrict a, const float* __restrict b, int64_t n) noexcept {
    const _Float16* x = as_f16(a);
    float acc[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; ++k) acc[k] += static_cast<float>(x[i + k]) * b[i + k];
    float sum = 0.0f;
    for (int k = 0; k < 16; ++k) sum += acc[k];
    for (; i < n; ++i) sum += static_cast<float>(x[i]) * b[i];
    return sum;
}

ENCLAVE_CLONES
void round_to_f16(const float* __restrict src, float* __restrict dst, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<_Float16>(src[i]));
}

// p = f16(exp(s - max) / Σ exp(s - max)), the sum in double, as ggml's soft_max followed by the f16
// conversion of the probabilities for the product with f16 values.
ENCLAVE_CLONES
void softmax_rounded_to_f16(float* s, int64_t n, float max_score) noexcept {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
        s[j] = std::exp(s[j] - max_score);
        sum += s[j];
    }
    const float inv = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
    for (int64_t j = 0; j < n; ++j) s[j] = static_cast<float>(static_cast<_Float16>(s[j] * inv));
}

ENCLAVE_CLONES
void f16_to_f32_row(const uint16_t* __restrict src, float* __restrict dst, int64_t n) noexcept {
    const _Float16* x = as_f16(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(x[i]);
}

// scores[j] += q_d * kt_row[j]: one dimension's contribution to every key's score, vectorised over keys.
ENCLAVE_CLONES
void axpy_f32(float* __restrict y, const float* __restrict x, float a, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

inline int64_t slot_of(const int32_t* block_table, int64_t block_size, int64_t j) {
    return static_cast<int64_t>(block_table[j / block_size]) * block_size + j % block_size;
}

}  // namespace

void attention_head(const float* q, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row,
                    int64_t kv_offset, const int32_t* block_table, int64_t block_size, int64_t n_keys,
                    int64_t head_dim, float scale, float* scratch, float* out) noexcept {
    constexpr int64_t max_head_dim = 512;
    float q_rounded[max_head_dim];  // [head_dim] q as f16 holds it
    round_to_f16(q, q_rounded, head_dim);
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
        const int64_t slot = slot_of(block_table, block_size, j);
        const float s = dot_f16_f32(cache_k + slot * kv_row + kv_offset, q_rounded, head_dim) * scale;
        scratch[j] = s;
        max_score = std::max(max_score, s);
    }
    softmax_rounded_to_f16(scratch, n_keys, max_score);
    float v_row[max_head_dim];  // [head_dim]
    for (int64_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
        const int64_t slot = slot_of(block_table, block_size, j);
        f16_to_f32_row(cache_v + slot * kv_row + kv_offset, v_row, head_dim);
        axpy_f32(out, v_row, scratch[j], head_dim);
    }
}

void pack_keys_values_f32(const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset,
                          const int32_t* block_table, int64_t block_size, int64_t n_keys, int64_t head_dim,
                          float* keys_t, float* values) noexcept {
    float k_row[512];  // [head_dim]
    for (int64_t j = 0; j < n_keys; ++j) {
        const int64_t slot = slot_of(block_table, block_size, j);
        f16_to_f32_row(cache_k + slot * kv_row + kv_offset, k_row, head_dim);
        for (int64_t d = 0; d < head_dim; ++d) keys_t[d * n_keys + j] = k_row[d];
        f16_to_f32_row(cache_v + slot * kv_row + kv_offset, values + j * head_dim, head_dim);
    }
}

void attention_query_packed(const float* q, const float* keys_t, const float* values, int64_t n_keys_packed,
                            int64_t n_keys, int64_t head_dim, float scale, float* scores, float* out) noexcept {
    float q_rounded[512];  // [head_dim]
    round_to_f16(q, q_rounded, head_dim);
    for (int64_t j = 0; j < n_keys; ++j) scores[j] = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) axpy_f32(scores, keys_t + d * n_keys_packed, q_rounded[d], n_keys);
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] *= scale;
        max_score = std::max(max_score, scores[j]);
    }
    softmax_rounded_to_f16(scores, n_keys, max_score);
    for (int64_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) axpy_f32(out, values + j * head_dim, scores[j], head_dim);
}

}  // namespace enclave::kernels
