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
void axpy_f16_into_f16(uint16_t* __restrict y, const uint16_t* __restrict x, float a, int64_t n) noexcept {
    _Float16* ys = as_f16(y);
    const _Float16* xs = as_f16(x);
    for (int64_t i = 0; i < n; ++i)
        ys[i] = static_cast<_Float16>(std::fma(static_cast<float>(xs[i]), a, static_cast<float>(ys[i])));
}

ENCLAVE_CLONES
void scale_f16(uint16_t* __restrict y, float a, int64_t n) noexcept {
    _Float16* ys = as_f16(y);
    for (int64_t i = 0; i < n; ++i) ys[i] = static_cast<_Float16>(static_cast<float>(ys[i]) * a);
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
                    int64_t head_dim, float scale, AttentionPrecision precision, float* scratch, float* out) noexcept {
    constexpr int64_t max_head_dim = 512;
    if (precision == AttentionPrecision::f16_accumulate) {
        // ggml's one-row flash attention: q rounded to f16, online softmax, V accumulated in f16.
        float q_rounded[max_head_dim];  // [head_dim]
        uint16_t acc[max_head_dim];     // [head_dim] f16
        for (int64_t i = 0; i < head_dim; ++i) {
            q_rounded[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
            acc[i] = 0;
        }
        float m = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j < n_keys; ++j) {
            const int64_t slot = slot_of(block_table, block_size, j);
            const float s = dot_f16_f32(cache_k + slot * kv_row + kv_offset, q_rounded, head_dim) * scale;
            float ms = 1.0f, vs = 1.0f;
            if (s > m) {
                const float m_old = m;
                m = s;
                ms = std::exp(m_old - m);
                scale_f16(acc, ms, head_dim);
            } else {
                vs = std::exp(s - m);
            }
            axpy_f16_into_f16(acc, cache_v + slot * kv_row + kv_offset, vs, head_dim);
            sum = sum * ms + vs;
        }
        const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
        for (int64_t i = 0; i < head_dim; ++i) out[i] = fp16_to_fp32(acc[i]) * inv;
        return;
    }
    // f32: q as it is, scores and the weighted sum of V in f32 (ggml's tiled flash attention).
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
        const int64_t slot = slot_of(block_table, block_size, j);
        const float s = dot_f16_f32(cache_k + slot * kv_row + kv_offset, q, head_dim) * scale;
        scratch[j] = s;
        if (s > max_score) max_score = s;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
        const float e = std::exp(scratch[j] - max_score);
        scratch[j] = e;
        sum += e;
    }
    const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;
    float v_row[max_head_dim];  // [head_dim]
    for (int64_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
        const int64_t slot = slot_of(block_table, block_size, j);
        f16_to_f32_row(cache_v + slot * kv_row + kv_offset, v_row, head_dim);
        axpy_f32(out, v_row, scratch[j], head_dim);
    }
    for (int64_t i = 0; i < head_dim; ++i) out[i] *= inv_sum;
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

void attention_query_f32(const float* q, const float* keys_t, const float* values, int64_t n_keys_packed,
                         int64_t n_keys, int64_t head_dim, float scale, float* scores, float* out) noexcept {
    for (int64_t j = 0; j < n_keys; ++j) scores[j] = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) axpy_f32(scores, keys_t + d * n_keys_packed, q[d], n_keys);
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] *= scale;
        max_score = std::max(max_score, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
    }
    const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) axpy_f32(out, values + j * head_dim, scores[j], head_dim);
    for (int64_t i = 0; i < head_dim; ++i) out[i] *= inv_sum;
}

}  // namespace enclave::kernels
