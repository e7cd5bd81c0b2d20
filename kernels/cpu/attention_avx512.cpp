// AVX-512 forms of the CPU attention's hot loops (attention_avx512.h). Compiled with -ffp-contract=off like
// attention.cpp: every multiply-add written here is an explicit FMA whose product is exact (f16 x f16 values), so
// it rounds as the separate multiply and add of the portable loop.
#include "attention_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace enclave::kernels::detail {
namespace {

// Lane j of the result = reduce16(v[j]) (ggml_order.h: a[i] = v[i + 8] + v[i], b[i] = a[i + 4] + a[i], then
// (b0 + b2) + (b1 + b3)) for the 16 vectors v[0..15], each addition the same pair of values as reduce16's
// (float addition is commutative bit for bit), by a transposing tree: 15 additions and 30 shuffles for 16
// sums instead of 15 scalar additions each.
inline __m512 reduce16_x16(const __m512 (&v)[16]) noexcept {
    // Level 1: a of keys j and j + 8 side by side: lanes 0-7 a_j, lanes 8-15 a_{j+8}.
    __m512 a[8];
    for (int j = 0; j < 8; ++j) {
        const __m512 lo = _mm512_maskz_shuffle_f32x4(0xFFFF, v[j], v[j + 8], 0x44);  // v_j[0..7], v_{j+8}[0..7]
        const __m512 hi = _mm512_maskz_shuffle_f32x4(0xFFFF, v[j], v[j + 8], 0xEE);  // v_j[8..15], v_{j+8}[8..15]
        a[j] = _mm512_add_ps(hi, lo);
    }
    // Level 2: b of four keys: 128-bit block 0 b_j, 1 b_{j+8}, 2 b_{j+4}, 3 b_{j+12} (j < 4).
    __m512 b[4];
    for (int j = 0; j < 4; ++j) {
        const __m512 lo = _mm512_maskz_shuffle_f32x4(0xFFFF, a[j], a[j + 4], 0x88);  // blocks 0, 2 of each: a[0..3]
        const __m512 hi = _mm512_maskz_shuffle_f32x4(0xFFFF, a[j], a[j + 4], 0xDD);  // blocks 1, 3 of each: a[4..7]
        b[j] = _mm512_add_ps(hi, lo);
    }
    // Level 3: within each block, c0 = b0 + b2 and c1 = b1 + b3 of two keys: [c0, c1] of b[j]'s key, then of
    // b[j + 2]'s key (the same block).
    __m512 c[2];
    for (int j = 0; j < 2; ++j) {
        const __m512 lo = _mm512_shuffle_ps(b[j], b[j + 2], _MM_SHUFFLE(1, 0, 1, 0));  // b0, b1 of each
        const __m512 hi = _mm512_shuffle_ps(b[j], b[j + 2], _MM_SHUFFLE(3, 2, 3, 2));  // b2, b3 of each
        c[j] = _mm512_add_ps(lo, hi);
    }
    // Level 4: c0 + c1, four keys a block: [c[0] key 1, c[0] key 2, c[1] key 1, c[1] key 2].
    const __m512 lo = _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 hi = _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 sums = _mm512_add_ps(lo, hi);
    // Block p (of 4) lane r holds key base_p + offset_r: bases from level 2 (block 0: j, 1: j + 8, 2: j + 4,
    // 3: j + 12), offsets from levels 3-4 (b[0], b[2], b[1], b[3]: j = 0, 2, 1, 3). So lane L holds key
    // holder[L] below, and since that map is its own inverse, result lane j takes lane holder[j].
    const __m512i holder = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
    return _mm512_maskz_permutexvar_ps(0xFFFF, holder, sums);
}

// The largest of the lanes in `lanes` (not empty; no NaN among them). Maskz forms of the shuffles here and
// above: GCC 12's plain ones trip -Wmaybe-uninitialized on their undefined pass-through operand.
inline float max_of_lanes(__mmask16 lanes, __m512 v) noexcept {
    __m512 m = _mm512_mask_blend_ps(lanes, _mm512_set1_ps(-INFINITY), v);
    m = _mm512_maskz_max_ps(0xFFFF, m, _mm512_maskz_shuffle_f32x4(0xFFFF, m, m, 0x4E));  // 256-bit halves swapped
    m = _mm512_maskz_max_ps(0xFFFF, m, _mm512_maskz_shuffle_f32x4(0xFFFF, m, m, 0xB1));  // 128-bit blocks swapped in pairs
    m = _mm512_maskz_max_ps(0xFFFF, m, _mm512_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm512_maskz_max_ps(0xFFFF, m, _mm512_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_cvtss_f32(m);
}

}  // namespace

void attention_scores_run_avx512(const uint16_t* k16, int64_t stride, int64_t n, const float* q, int64_t q_stride,
                                 int64_t group, int64_t head_dim, float scale, float* scores, int64_t per_head,
                                 float* max_score) noexcept {
    constexpr int64_t max_head_dim = 512;
    alignas(64) float keys[16 * max_head_dim];  // [16, head_dim] the run's keys in f32, zero rows past n
    for (int64_t j = 0; j < 16; ++j)
        for (int64_t i = 0; i < head_dim; i += 16)
            _mm512_store_ps(keys + j * head_dim + i,
                            j < n ? _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                                                      k16 + j * stride + i)))
                                  : _mm512_setzero_ps());
    const __mmask16 live = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int64_t g = 0; g < group; ++g) {
        const float* qg = q + g * q_stride;
        __m512 acc[16];
        for (int j = 0; j < 16; ++j) acc[j] = _mm512_setzero_ps();
        for (int64_t i = 0; i < head_dim; i += 16) {
            const __m512 qv = _mm512_loadu_ps(qg + i);
            for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(_mm512_load_ps(keys + j * head_dim + i), qv, acc[j]);
        }
        const __m512 s = _mm512_mul_ps(reduce16_x16(acc), vscale);
        _mm512_mask_storeu_ps(scores + g * per_head, live, s);
        // std::max(max, s_j) key by key never takes a NaN: leave NaN lanes out (the maximum of the rest does not
        // depend on the order taken).
        const __mmask16 numbers = _mm512_mask_cmp_ps_mask(live, s, s, _CMP_ORD_Q);
        if (numbers) max_score[g] = std::max(max_score[g], max_of_lanes(numbers, s));
    }
}

// Each row's sum stays in a register over all its keys (one per head of the group), so a key costs one load and
// conversion of its 16 values and one FMA a head: the product p * v is exact (two f16 values), so the FMA rounds
// as the portable loop's separate multiply and add into the row in memory.
void attention_values_avx512(const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset, const int32_t* block_table,
                             int64_t block_size, int64_t n_keys, int64_t group, int64_t head_dim, const float* p,
                             int64_t per_head, float* part) noexcept {
    constexpr int rows = 16;
    for (int64_t i = 0; i < head_dim; i += 16) {
        for (int r = 0; r < rows; ++r) {
            __m512 acc[16];
            for (int64_t g = 0; g < group; ++g) acc[g] = _mm512_setzero_ps();
            int64_t block = r / block_size, offset = r % block_size;  // key j = r, r + 16, ...: its cache block
            for (int64_t j = r; j < n_keys; j += rows) {
                const int64_t slot = static_cast<int64_t>(block_table[block]) * block_size + offset;
                const __m512 v = _mm512_maskz_cvtph_ps(
                    0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cache_v + slot * kv_row + kv_offset + i)));
                for (int64_t g = 0; g < group; ++g)
                    acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(p[g * per_head + j]), v, acc[g]);
                for (offset += rows; offset >= block_size; offset -= block_size) ++block;
            }
            for (int64_t g = 0; g < group; ++g) _mm512_storeu_ps(part + g * per_head + r * head_dim + i, acc[g]);
        }
    }
}

}  // namespace enclave::kernels::detail
