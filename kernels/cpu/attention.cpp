// CPU attention over the paged f16 KV cache (cpu_ops.h), in llama.cpp's order of float operations.
//
// Compiled with -ffp-contract=off (kernels/CMakeLists.txt): the order below is the order executed. The hot
// loops are plain C over arrays of 16 lanes that GCC vectorizes in the x86-64-v4/v3 clones; float additions
// are never reassociated, so every clone gives the same bits as the scalar code.
#include <algorithm>
#include <cmath>

#include "enclave/kernels/cpu_ops.h"
#include "ggml_order.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENCLAVE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENCLAVE_CLONES
#endif

namespace enclave::kernels {
namespace {

using detail::exp_ggml;
using detail::reduce16;

// The f16 helpers go through _Float16 so the x86-64-v3/v4 clones convert with F16C (vcvtph2ps/vcvtps2ph);
// rounding is IEEE round-to-nearest-even either way, as in fp32_to_fp16().
inline const _Float16* as_f16(const uint16_t* p) {
    return reinterpret_cast<const _Float16*>(p);
}

ENCLAVE_CLONES
void round_to_f16(const float* __restrict src, float* __restrict dst, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<_Float16>(src[i]));
}

ENCLAVE_CLONES
void f16_to_f32_row(const uint16_t* __restrict src, float* __restrict dst, int64_t n) noexcept {
    const _Float16* x = as_f16(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(x[i]);
}

// k·q for one key, f16 k, q already rounded to f16: ggml_vec_dot_f16's order (4 x 16 partial sums, a tail
// past a multiple of 64 in double).
ENCLAVE_CLONES
float dot_single_token(const uint16_t* __restrict k16, const float* __restrict q, int64_t n) noexcept {
    const _Float16* k = as_f16(k16);
    float acc[4][16] = {};
    const int64_t np = n & ~int64_t{63};
    for (int64_t i = 0; i < np; i += 64)
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 16; ++l) acc[c][l] += static_cast<float>(k[i + 16 * c + l]) * q[i + 16 * c + l];
    for (int l = 0; l < 16; ++l) {
        acc[0][l] = acc[0][l] + acc[2][l];
        acc[1][l] = acc[1][l] + acc[3][l];
        acc[0][l] = acc[0][l] + acc[1][l];
    }
    double sum = reduce16(acc[0]);
    for (int64_t i = np; i < n; ++i) sum += static_cast<double>(static_cast<float>(k[i]) * q[i]);
    return static_cast<float>(sum);
}

// k·q in tinyBLAS's order: 16 partial sums over chunks of 16 in order (n a multiple of 16).
ENCLAVE_CLONES
float dot_multi_token(const uint16_t* __restrict k16, const float* __restrict q, int64_t n) noexcept {
    const _Float16* k = as_f16(k16);
    float acc[16] = {};
    for (int64_t i = 0; i < n; i += 16)
        for (int l = 0; l < 16; ++l) acc[l] += static_cast<float>(k[i + l]) * q[i + l];
    return reduce16(acc);
}

// e_j = exp_ggml(s_j - max) for j < n (s padded to a multiple of 16 with zeros written here); returns
// Σ e as ggml's soft_max: each chunk of 16 summed by reduce16, the chunk sums in double.
ENCLAVE_CLONES
double exp_and_sum(float* s, int64_t n, float max_score) noexcept {
    const int64_t padded = (n + 15) / 16 * 16;
    for (int64_t j = 0; j < n; ++j) s[j] = exp_ggml(s[j] - max_score);
    for (int64_t j = n; j < padded; ++j) s[j] = 0.0f;
    double sum = 0.0;
    for (int64_t j = 0; j < padded; j += 16) sum += static_cast<double>(reduce16(s + j));
    return sum;
}

// p = f16(e * float(1 / Σ e)), as the probabilities enter the f16 product with the values.
ENCLAVE_CLONES
void normalise_to_f16(float* s, int64_t n, double sum) noexcept {
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < n; ++j) s[j] = static_cast<float>(static_cast<_Float16>(s[j] * inv));
}

// row[i] += a * x[i]: one key's contribution to its partial sums (a * x exact: both are f16 values).
ENCLAVE_CLONES
void axpy_f32(float* __restrict row, const float* __restrict x, float a, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) row[i] = row[i] + a * x[i];
}

// out[d] from the partial sums part[r][d] (r < 64 for one token, 16 for several), combined in ggml's order.
ENCLAVE_CLONES
void combine_partials(float* __restrict part, int64_t head_dim, AttentionOrder order, float* __restrict out) noexcept {
    if (order == AttentionOrder::single_token) {
        // rows 16c + l: sum c=0 += c=2, c=1 += c=3, then c=0 += c=1; leaves rows 0..15.
        for (int l = 0; l < 16; ++l) {
            float* r0 = part + l * head_dim;
            const float* r1 = part + (16 + l) * head_dim;
            const float* r2 = part + (32 + l) * head_dim;
            const float* r3 = part + (48 + l) * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) r0[d] = (r0[d] + r2[d]) + (r1[d] + r3[d]);
        }
    }
    // reduce16 over rows 0..15 for every d: a[i] = p[i+8] + p[i], b[i] = a[i+4] + a[i], (b0+b2) + (b1+b3).
    for (int i = 0; i < 8; ++i) {
        float* a = part + i * head_dim;
        const float* hi = part + (i + 8) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) a[d] = hi[d] + a[d];
    }
    for (int i = 0; i < 4; ++i) {
        float* b = part + i * head_dim;
        const float* hi = part + (i + 4) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) b[d] = hi[d] + b[d];
    }
    const float* b0 = part;
    const float* b1 = part + head_dim;
    const float* b2 = part + 2 * head_dim;
    const float* b3 = part + 3 * head_dim;
    for (int64_t d = 0; d < head_dim; ++d) out[d] = (b0[d] + b2[d]) + (b1[d] + b3[d]);
}

inline int64_t slot_of(const int32_t* block_table, int64_t block_size, int64_t j) {
    return static_cast<int64_t>(block_table[j / block_size]) * block_size + j % block_size;
}

inline int partial_rows(AttentionOrder order) {
    return order == AttentionOrder::single_token ? 64 : 16;
}

}  // namespace

void attention_head(const float* q, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset,
                    const int32_t* block_table, int64_t block_size, int64_t n_keys, int64_t head_dim, float scale,
                    AttentionOrder order, float* scratch, float* out) noexcept {
    constexpr int64_t max_head_dim = 512;
    float q_rounded[max_head_dim];  // [head_dim] q as f16 holds it
    round_to_f16(q, q_rounded, head_dim);
    const bool tiny_blas = order == AttentionOrder::multi_token && head_dim % 16 == 0;
    if (!tiny_blas) order = AttentionOrder::single_token;
    float* scores = scratch;                          // [n_keys padded to 16]
    float* part = scratch + (n_keys + 15) / 16 * 16;  // [64 or 16, head_dim]
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
        const uint16_t* k = cache_k + slot_of(block_table, block_size, j) * kv_row + kv_offset;
        const float dot =
            tiny_blas ? dot_multi_token(k, q_rounded, head_dim) : dot_single_token(k, q_rounded, head_dim);
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
    }
    normalise_to_f16(scores, n_keys, exp_and_sum(scores, n_keys, max_score));
    const int rows = partial_rows(order);
    std::fill(part, part + rows * head_dim, 0.0f);
    float v_row[max_head_dim];  // [head_dim]
    for (int64_t j = 0; j < n_keys; ++j) {
        f16_to_f32_row(cache_v + slot_of(block_table, block_size, j) * kv_row + kv_offset, v_row, head_dim);
        axpy_f32(part + (j % rows) * head_dim, v_row, scores[j], head_dim);
    }
    combine_partials(part, head_dim, order, out);
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

namespace {

// scores[j0 .. j0+16) = q·k_j in tinyBLAS's order, keys transposed: lane l of key j sums q[d] k[d][j] over
// d = l, l+16, ... in order, then reduce16 over the lanes.
ENCLAVE_CLONES
void scores16_multi_token(const float* __restrict q, const float* __restrict keys_t, int64_t stride, int64_t j0,
                          int64_t head_dim, float* __restrict scores) noexcept {
    float lane[16][16] = {};  // [l][key]
    for (int64_t d = 0; d < head_dim; ++d) {
        const float* k = keys_t + d * stride + j0;
        float* acc = lane[d % 16];
        for (int i = 0; i < 16; ++i) acc[i] = acc[i] + q[d] * k[i];
    }
    for (int l = 0; l < 8; ++l)
        for (int i = 0; i < 16; ++i) lane[l][i] = lane[l + 8][i] + lane[l][i];
    for (int l = 0; l < 4; ++l)
        for (int i = 0; i < 16; ++i) lane[l][i] = lane[l + 4][i] + lane[l][i];
    for (int i = 0; i < 16; ++i) scores[i] = (lane[0][i] + lane[2][i]) + (lane[1][i] + lane[3][i]);
}

// The same for one key (the last keys of a range that is not a multiple of 16).
float score_multi_token(const float* q, const float* keys_t, int64_t stride, int64_t j, int64_t head_dim) {
    float acc[16] = {};
    for (int64_t d = 0; d < head_dim; ++d) acc[d % 16] = acc[d % 16] + q[d] * keys_t[d * stride + j];
    return reduce16(acc);
}

}  // namespace

void attention_query_packed(const float* q, const float* keys_t, const float* values, int64_t n_keys_packed,
                            int64_t n_keys, int64_t head_dim, float scale, float* scratch, float* out) noexcept {
    float q_rounded[512];  // [head_dim]
    round_to_f16(q, q_rounded, head_dim);
    // Several tokens always (this path serves steps of attention_packed_min_rows or more tokens).
    const AttentionOrder order = head_dim % 16 == 0 ? AttentionOrder::multi_token : AttentionOrder::single_token;
    float* scores = scratch;
    float* part = scratch + (n_keys + 15) / 16 * 16;
    int64_t j = 0;
    if (order == AttentionOrder::multi_token) {
        for (; j + 16 <= n_keys; j += 16)
            scores16_multi_token(q_rounded, keys_t, n_keys_packed, j, head_dim, scores + j);
        for (; j < n_keys; ++j) scores[j] = score_multi_token(q_rounded, keys_t, n_keys_packed, j, head_dim);
    } else {
        float k_row[512];
        for (; j < n_keys; ++j) {
            // the one-token order on a transposed key: gather it, then the same sum as attention_head
            float acc[4][16] = {};
            for (int64_t d = 0; d < head_dim; ++d) k_row[d] = keys_t[d * n_keys_packed + j];
            const int64_t np = head_dim & ~int64_t{63};
            for (int64_t i = 0; i < np; ++i) acc[(i / 16) % 4][i % 16] += k_row[i] * q_rounded[i];
            for (int l = 0; l < 16; ++l) acc[0][l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
            double sum = reduce16(acc[0]);
            for (int64_t i = np; i < head_dim; ++i) sum += static_cast<double>(k_row[i] * q_rounded[i]);
            scores[j] = static_cast<float>(sum);
        }
    }
    float max_score = -INFINITY;
    for (j = 0; j < n_keys; ++j) {
        scores[j] = scores[j] * scale;
        max_score = std::max(max_score, scores[j]);
    }
    normalise_to_f16(scores, n_keys, exp_and_sum(scores, n_keys, max_score));
    const int rows = partial_rows(order);
    std::fill(part, part + rows * head_dim, 0.0f);
    for (j = 0; j < n_keys; ++j) axpy_f32(part + (j % rows) * head_dim, values + j * head_dim, scores[j], head_dim);
    combine_partials(part, head_dim, order, out);
}

}  // namespace enclave::kernels
