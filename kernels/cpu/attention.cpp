// CPU attention over the paged f16 KV cache (cpu_ops.h), in llama.cpp's order of float operations.
//
// Compiled with -ffp-contract=off (kernels/CMakeLists.txt): the order below is the order executed. The hot
// loops are plain C over arrays of 16 lanes that GCC vectorizes in the x86-64-v4/v3 clones; float additions
// are never reassociated, so every clone gives the same bits as the scalar code. Keys and values are
// converted from f16 a row or a run of rows at a time (f16_rows_to_f32), then summed in f32. On AVX-512,
// several-token steps take attention_avx512.cpp's forms of the score and value loops instead: the same
// additions of the same values (tst_cpu_attention compares them with attention_head bit for bit).
#include <algorithm>
#include <cmath>

#if defined(ENCLAVE_X86)
#include "attention_avx512.h"
#endif
#include "enclave/kernels/cpu_matmul.h"  // defines: detect_cpu_isa
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

// f16 conversions both ways go through f16_rows_to_f32 / scale_round_to_f16 (cpu_ops.h: IEEE, ties to even, as
// fp32_to_fp16()), whose hand-written vector code GCC does not produce from _Float16 itself.
void round_to_f16(const float* __restrict src, float* __restrict dst, int64_t n) noexcept {
    std::copy(src, src + n, dst);
    scale_round_to_f16(dst, 1.0f, n);
}

void f16_to_f32_row(const uint16_t* __restrict src, float* __restrict dst, int64_t n) noexcept {
    f16_rows_to_f32(src, n, 1, n, dst);
}

// k·q for one key (converted to f32: exact), q already rounded to f16: ggml_vec_dot_f16's order (4 x 16
// partial sums, a tail past a multiple of 64 in double).
ENCLAVE_CLONES
float dot_single_token(const float* __restrict k, const float* __restrict q, int64_t n) noexcept {
    float acc[4][16] = {};
    const int64_t np = n & ~int64_t{63};
    for (int64_t i = 0; i < np; i += 64)
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 16; ++l) acc[c][l] += k[i + 16 * c + l] * q[i + 16 * c + l];
    for (int l = 0; l < 16; ++l) {
        acc[0][l] = acc[0][l] + acc[2][l];
        acc[1][l] = acc[1][l] + acc[3][l];
        acc[0][l] = acc[0][l] + acc[1][l];
    }
    double sum = reduce16(acc[0]);
    for (int64_t i = np; i < n; ++i) sum += static_cast<double>(k[i] * q[i]);
    return static_cast<float>(sum);
}

// k·q in tinyBLAS's order: 16 partial sums over chunks of 16 in order (n a multiple of 16).
ENCLAVE_CLONES
float dot_multi_token(const float* __restrict k, const float* __restrict q, int64_t n) noexcept {
    float acc[16] = {};
    for (int64_t i = 0; i < n; i += 16)
        for (int l = 0; l < 16; ++l) acc[l] += k[i + l] * q[i + l];
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
void normalise_to_f16(float* s, int64_t n, double sum) noexcept {
    scale_round_to_f16(s, static_cast<float>(1.0 / sum), n);
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
    float k[max_head_dim];  // [head_dim] one key in f32
    for (int64_t j = 0; j < n_keys; ++j) {
        f16_to_f32_row(cache_k + slot_of(block_table, block_size, j) * kv_row + kv_offset, k, head_dim);
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

namespace {

constexpr int64_t k_max_head_dim = 512;
constexpr int64_t k_run_keys = 16;  // keys converted at a time (runs are cut to this and to cache blocks)

// The several-token order over a run of keys in consecutive slots (one cache block): each key converted to f32
// once, then dot_multi_token's sum for every head of the group. One call a run, so that the conversion and the
// products stay in registers instead of a call per key.
//   k16 [n, stride] f16 (this head's keys at the start of each row); q [group, q_stride]; scores[g * per_head + j]
ENCLAVE_CLONES
void scores_run_multi_token(const uint16_t* __restrict k16, int64_t stride, int64_t n, const float* __restrict q,
                            int64_t q_stride, int64_t group, int64_t head_dim, float scale, float* __restrict scores,
                            int64_t per_head, float* __restrict max_score) noexcept {
    float keys[k_run_keys * k_max_head_dim];  // [n, head_dim] the run's keys in f32
    f16_rows_to_f32(k16, stride, n, head_dim, keys);
    for (int64_t j = 0; j < n; ++j) {
        const float* k = keys + j * head_dim;
        for (int64_t g = 0; g < group; ++g) {
            const float* qg = q + g * q_stride;
            float acc[16] = {};
            for (int64_t i = 0; i < head_dim; i += 16)
                for (int l = 0; l < 16; ++l) acc[l] += k[i + l] * qg[i + l];
            const float score = reduce16(acc) * scale;
            scores[g * per_head + j] = score;
            max_score[g] = std::max(max_score[g], score);
        }
    }
}

// p·v over a run of values in consecutive slots: each value converted once, then axpy_f32 into every head's
// partial-sum row (first_key + j) % rows.
//   v16 [n, stride] f16; p[g * per_head + first_key + j]; part[g * per_head + r * head_dim + d]
ENCLAVE_CLONES
void values_run(const uint16_t* __restrict v16, int64_t stride, int64_t n, int64_t first_key, int rows, int64_t group,
                int64_t head_dim, const float* __restrict p, float* __restrict part, int64_t per_head) noexcept {
    float values[k_run_keys * k_max_head_dim];  // [n, head_dim] the run's values in f32
    f16_rows_to_f32(v16, stride, n, head_dim, values);
    for (int64_t j = 0; j < n; ++j) {
        const float* v = values + j * head_dim;
        const int64_t key = first_key + j;
        for (int64_t g = 0; g < group; ++g) {
            const float a = p[g * per_head + key];
            float* row = part + g * per_head + (key % rows) * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) row[d] = row[d] + a * v[d];
        }
    }
}

// values_run over every run of keys (cut to cache blocks and to k_run_keys).
void values_all_runs(const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset, const int32_t* block_table,
                     int64_t block_size, int64_t n_keys, int rows, int64_t group, int64_t head_dim, float* scratch,
                     int64_t per_head, int64_t padded) noexcept {
    for (int64_t j = 0; j < n_keys;) {
        const int64_t n = std::min({block_size - j % block_size, n_keys - j, k_run_keys});
        values_run(cache_v + slot_of(block_table, block_size, j) * kv_row + kv_offset, kv_row, n, j, rows, group,
                   head_dim, scratch, scratch + padded, per_head);
        j += n;
    }
}

}  // namespace

void attention_group(const float* q, int64_t group, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row,
                     int64_t kv_offset, const int32_t* block_table, int64_t block_size, int64_t n_keys,
                     int64_t head_dim, float scale, AttentionOrder order, float* scratch, float* out) noexcept {
    constexpr int64_t max_group = 16;
    if (order == AttentionOrder::multi_token && head_dim % 16 != 0) order = AttentionOrder::single_token;
    const int rows = partial_rows(order);
    const int64_t padded = (n_keys + 15) / 16 * 16;
    const int64_t per_head = attention_scratch_floats(n_keys, head_dim);
    float q_rounded[max_group][k_max_head_dim];  // [group, head_dim] q as f16 holds it
    for (int64_t g = 0; g < group; ++g) round_to_f16(q + g * head_dim, q_rounded[g], head_dim);
    float max_score[max_group];
    std::fill(max_score, max_score + group, -INFINITY);
#if defined(ENCLAVE_X86)
    const bool avx512 = detect_cpu_isa() == CpuIsa::avx512;
#endif
    // Keys run by cache block: slots within a block are consecutive rows of kv_row values.
    for (int64_t j = 0; j < n_keys;) {
        const int64_t n = std::min({block_size - j % block_size, n_keys - j, k_run_keys});
        const uint16_t* k16 = cache_k + slot_of(block_table, block_size, j) * kv_row + kv_offset;
#if defined(ENCLAVE_X86)
        if (order == AttentionOrder::multi_token && avx512) {
            detail::attention_scores_run_avx512(k16, kv_row, n, q_rounded[0], k_max_head_dim, group, head_dim, scale,
                                                scratch + j, per_head, max_score);
        } else
#endif
        if (order == AttentionOrder::multi_token) {
            scores_run_multi_token(k16, kv_row, n, q_rounded[0], k_max_head_dim, group, head_dim, scale, scratch + j,
                                   per_head, max_score);
        } else {
            float k[k_max_head_dim];
            for (int64_t i = 0; i < n; ++i)
                for (int64_t g = 0; g < group; ++g) {
                    if (g == 0) f16_to_f32_row(k16 + i * kv_row, k, head_dim);
                    const float score = dot_single_token(k, q_rounded[g], head_dim) * scale;
                    scratch[g * per_head + j + i] = score;
                    max_score[g] = std::max(max_score[g], score);
                }
        }
        j += n;
    }
    for (int64_t g = 0; g < group; ++g) {
        float* scores = scratch + g * per_head;
        normalise_to_f16(scores, n_keys, exp_and_sum(scores, n_keys, max_score[g]));
    }
#if defined(ENCLAVE_X86)
    if (order == AttentionOrder::multi_token && avx512) {
        detail::attention_values_avx512(cache_v, kv_row, kv_offset, block_table, block_size, n_keys, group, head_dim,
                                        scratch, per_head, scratch + padded);
    } else
#endif
    {
        for (int64_t g = 0; g < group; ++g)
            std::fill(scratch + g * per_head + padded, scratch + g * per_head + padded + rows * head_dim, 0.0f);
        values_all_runs(cache_v, kv_row, kv_offset, block_table, block_size, n_keys, rows, group, head_dim, scratch,
                        per_head, padded);
    }
    for (int64_t g = 0; g < group; ++g)
        combine_partials(scratch + g * per_head + padded, head_dim, order, out + g * head_dim);
}

}  // namespace enclave::kernels
