// Internal to the AVX-512 matrix products (matmul_avx512.cpp: few tokens; matmul_avx512_panels.cpp: many):
// the helpers and weight-unit decoders both use. Everything has internal linkage (an anonymous namespace),
// so each file compiled for AVX-512 gets its own copy and no AVX-512 code can be reached from elsewhere.
// Include only from files compiled with the AVX-512 flags (kernels/CMakeLists.txt).
#pragma once

// GCC 12's AVX-512 headers initialise "undefined" vectors from themselves and then warn about it
// (GCC PR 105593, fixed in 13): silence that one false positive for this file only.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "enclave/kernels/cpu_matmul.h"  // defines: activation_type
#include "enclave/kernels/quant.h"       // defines: block layouts
#include "ggml_order.h"                  // defines: hsum8
#include "matmul_impl.h"
#include "matmul_row_driver.h"

namespace enclave::kernels::detail {
namespace {

// The per-step lambdas must be inlined into their loops: called out of line, the accumulators and unpacked
// weights go through memory on every step.
#define ENCLAVE_INLINE __attribute__((always_inline))
// Loops over the rows and tokens of a tile must be unrolled so the accumulators stay in registers
// (indexed by a run-time counter they would live on the stack).
#define ENCLAVE_UNROLL _Pragma("GCC unroll 16")

constexpr int k_tile_tokens = 4;
constexpr int k_tile_rows = 4;
constexpr int64_t k_chunk_cols = 2048;

inline int64_t min_i64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
inline float half_to_float(uint16_t h) {
    return _cvtsh_ss(h);
}

// Loads n bytes (0..64) from p without touching memory past p + n: the tail of the last row of a
// matrix may end at an unmapped page.
inline __m512i load_bytes(const uint8_t* p, int n) {
    if (n >= 64) return _mm512_loadu_si512(p);
    if (n <= 0) return _mm512_setzero_si512();
    return _mm512_maskz_loadu_epi8((~0ull) >> (64 - n), p);
}

// Lanes 0..7: sums of adjacent lane pairs of a; lanes 8..15: of b.
ENCLAVE_INLINE inline __m512 merge_pairs(__m512 a, __m512 b) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

// Lane i of the result = the sum of the lanes of v[i] (N <= 16): a tree of pairwise merges, 15 for 16
// vectors instead of a full horizontal reduction each.
template <int N>
ENCLAVE_INLINE inline __m512 lane_sums(const __m512* v) {
    static_assert(N >= 1 && N <= 16);
    const __m512 z = _mm512_setzero_ps();
    constexpr int n1 = (N + 1) / 2, n2 = (n1 + 1) / 2, n3 = (n2 + 1) / 2;
    __m512 l1[8], l2[4], l3[2];
    ENCLAVE_UNROLL
    for (int i = 0; i < 8; ++i) l1[i] = 2 * i < N ? merge_pairs(v[2 * i], 2 * i + 1 < N ? v[2 * i + 1] : z) : z;
    ENCLAVE_UNROLL
    for (int i = 0; i < 4; ++i) l2[i] = 2 * i < n1 ? merge_pairs(l1[2 * i], 2 * i + 1 < n1 ? l1[2 * i + 1] : z) : z;
    ENCLAVE_UNROLL
    for (int i = 0; i < 2; ++i) l3[i] = 2 * i < n2 ? merge_pairs(l2[2 * i], 2 * i + 1 < n2 ? l2[2 * i + 1] : z) : z;
    return merge_pairs(l3[0], n3 > 1 ? l3[1] : z);
}

// out[r][t] = the sum of the lanes of acc[r][t].
template <int R, int T>
ENCLAVE_INLINE inline void store_sums(const __m512 (&acc)[R][T], float (&out)[R][T]) {
    alignas(64) float sums[16];
    _mm512_store_ps(sums, lane_sums<R * T>(&acc[0][0]));
    ENCLAVE_UNROLL
    for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) out[r][t] = sums[r * T + t];
}

// [v lanes 4r..4r+3] repeated four times.
template <int r>
inline __m512 quad_broadcast(__m512 v) {
    return _mm512_shuffle_f32x4(v, v, r * 0x55);
}

// =========================================================================================================
// Q4_0 x Q8_0 (pack_q4_activations<false>; Q4_1 has its own layout below): a step is 4 blocks (128 values).
//
// Weight unpacking puts dword i of block k's 16 nibble bytes in lane 4*i + k, so after masking the low
// nibbles a lane holds values 4i..4i+3 of block k and the high nibbles values 16+4i..16+4i+3. Every lane
// of a vpdpbusd result then belongs to block k = lane % 4, and a block's scale is one 128-bit quad
// broadcast. The repacked activation step (256 bytes) is:
//   [0, 64)    low-half bytes in that lane order      [64, 128)  high-half bytes
//   [128, 192) d_x of block lane%4 (float)            [192, 256) Q4_1: s_x of block lane%4 (float)
//                                                                Q4_0: -8 * sum(q_x) in lanes 0..3 (int32)
// =========================================================================================================

template <bool q4_1>
void pack_q4_activations(const uint8_t* x_row, int64_t n_blocks, int64_t first_step, int64_t n_steps, uint8_t* dst) {
    const size_t x_block = q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    for (int64_t s = 0; s < n_steps; ++s) {
        uint8_t* p = dst + s * 256;
        float* dx = reinterpret_cast<float*>(p + 128);     // [16]
        float* extra = reinterpret_cast<float*>(p + 192);  // [16]
        int32_t* corr = reinterpret_cast<int32_t*>(p + 192);
        std::memset(p, 0, 256);
        ENCLAVE_UNROLL
        for (int k = 0; k < 4; ++k) {
            const int64_t b = (first_step + s) * 4 + k;
            if (b >= n_blocks) continue;  // zero bytes and zero scales: the block adds exactly 0
            const uint8_t* blk = x_row + static_cast<size_t>(b) * x_block;
            const int8_t* qs = reinterpret_cast<const int8_t*>(blk + (q4_1 ? 4 : 2));
            ENCLAVE_UNROLL
            for (int i = 0; i < 4; ++i) {
                std::memcpy(p + 16 * i + 4 * k, qs + 4 * i, 4);
                std::memcpy(p + 64 + 16 * i + 4 * k, qs + 16 + 4 * i, 4);
            }
            uint16_t d_bits;
            std::memcpy(&d_bits, blk, 2);
            const float d = half_to_float(d_bits);
            ENCLAVE_UNROLL
            for (int i = 0; i < 4; ++i) dx[4 * i + k] = d;
            if constexpr (q4_1) {
                uint16_t s_bits;
                std::memcpy(&s_bits, blk + 2, 2);
                const float sx = half_to_float(s_bits);
                ENCLAVE_UNROLL
                for (int i = 0; i < 4; ++i) extra[4 * i + k] = sx;
            } else {
                int32_t sum = 0;
                for (int j = 0; j < 32; ++j) sum += qs[j];
                corr[k] = -8 * sum;  // the nibbles are used unsigned (q, not q - 8)
            }
        }
    }
}

// out[2p][t], out[2p+1][t] = hsum8 of lanes 0..7 and 8..15 of acc[p][t] (ggml_order.h):
// a_i = v[i] + v[i+4], then (a0 + a2) + (a1 + a3).
template <int R, int T>
ENCLAVE_INLINE inline void hsum8_pairs(const __m512 (&acc)[(R + 1) / 2][T], float (&out)[R][T]) {
    ENCLAVE_UNROLL
    for (int p = 0; p < (R + 1) / 2; ++p) ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) {
        __m512 v = acc[p][t];
        v = _mm512_add_ps(_mm512_shuffle_f32x4(v, v, 0xB1), v);  // lane i: v[i^4] + v[i]
        v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));         // lane 0: a0 + a2, lane 1: a1 + a3
        v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));         // lane 0: (a0 + a2) + (a1 + a3)
        alignas(64) float h[16];
        _mm512_store_ps(h, v);
        out[2 * p][t] = h[0];
        if (2 * p + 1 < R) out[2 * p + 1][t] = h[8];
    }
}

// Q4_1 x Q8_1 in ggml's order (ggml_order.h; ggml_vec_dot_q4_1_q8_1): per block, 8 int32 lanes of 4
// products (values 4l..4l+3, low nibbles for 0..15, high for 16..31), each converted and fused into its
// own float lane with d_w * d_x, block after block; m_w * s_x fused into one running float per row; then
// hsum8 of the lanes plus that running sum. One vector holds one block of a pair of rows (8 lanes each),
// so one FMA advances both rows' chains; the pairs and tokens of a tile are independent chains.
// Repacked step (4 blocks, 384 bytes):
//   [64k, 64k + 64)  block k's 32 activation bytes, twice (one copy per row of a pair), k = 0..3
//   [256, 320)       d_x of block lane%4 (float x16)          [320, 336)  s_x of blocks 0..3 (float)
struct KernelQ4_1 {
    static constexpr int64_t step_elems = 128;
    static constexpr int64_t block_elems = 32;
    static constexpr size_t step_bytes = 4 * sizeof(block_q4_1);  // 80
    static constexpr size_t pack_bytes = 384;

    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const int64_t n_blocks = n_cols / 32;
        for (int64_t s = 0; s < n_steps; ++s) {
            uint8_t* p = dst + s * pack_bytes;
            float* dx = reinterpret_cast<float*>(p + 256);
            float* sx = reinterpret_cast<float*>(p + 320);
            std::memset(p, 0, pack_bytes);
            for (int k = 0; k < 4; ++k) {
                const int64_t b = (first_step + s) * 4 + k;
                if (b >= n_blocks) continue;  // zero bytes and scales: the block adds exactly 0
                const auto* blk = reinterpret_cast<const block_q8_1*>(x_row) + b;
                std::memcpy(p + 64 * k, blk->qs, 32);
                std::memcpy(p + 64 * k + 32, blk->qs, 32);
                for (int i = 0; i < 4; ++i) dx[4 * i + k] = half_to_float(blk->d);
                sx[k] = half_to_float(blk->s);
            }
        }
    }

    // R rows x T tokens over n_full whole steps and then, if tail_blocks > 0, one step of that many blocks.
    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_blocks,
                        float (&out)[R][T]) {
        constexpr int P = (R + 1) / 2;  // row pairs; an odd last row is paired with itself
        // Step bytes of block k: [20k, 20k+20) = d|m (dword 5k), then qs dwords 5k+1 .. 5k+4 (block 3's qs
        // are the 16 bytes past the first 64, loaded separately). Nibble dwords of (row 2p, row 2p+1):
        // lanes 0..3 and 4..7 the first row's qs dwords (low, then high nibbles), 8..15 the second's.
        const __m512i idx_q0 = _mm512_setr_epi32(1, 2, 3, 4, 1, 2, 3, 4, 17, 18, 19, 20, 17, 18, 19, 20);
        const __m512i idx_q3 = _mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 16, 17, 18, 19, 16, 17, 18, 19);
        const __m512i idx_dm = _mm512_setr_epi32(0, 5, 10, 15, 16, 21, 26, 31, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        constexpr __mmask32 high_words = 0xFF00FF00u;  // dwords 4..7 and 12..15: the high nibbles
        __m512 acc[P][T];
        __m512 summs[T];  // lane 4r (all of quad r): row r's running m_w * s_x
        ENCLAVE_UNROLL
        for (int p = 0; p < P; ++p) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[p][t] = _mm512_setzero_ps();
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) summs[t] = _mm512_setzero_ps();

        auto step = [&](const __m512i(&a)[R], const __m512i(&b)[R], int64_t s) ENCLAVE_INLINE {
            const __m512i x01 = _mm512_permutex2var_epi32(a[0], idx_dm, a[R > 1 ? 1 : 0]);
            const __m512i x23 = _mm512_permutex2var_epi32(a[R > 2 ? 2 : 0], idx_dm, a[R > 3 ? 3 : 0]);
            const __m512i dm = _mm512_shuffle_i32x4(x01, x23, 0x44);  // lane 4r+k: d | m << 16 of row r block k
            const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
            const __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16)));
            __m512 scale[T];  // lane 4r+k: d_w(r, k) * d_x(k), rounded as ggml rounds it
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) scale[t] = _mm512_mul_ps(d, _mm512_load_ps(pk[t] + s * pack_bytes + 256));
            auto block = [&](auto kc) ENCLAVE_INLINE {
                constexpr int k = decltype(kc)::value;
                // m_w * s_x, block k: lanes of quad r = m(r, k)
                const __m512 mk = _mm512_permute_ps(m, k * 0x55);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    const float sx = reinterpret_cast<const float*>(pk[t] + s * pack_bytes + 320)[k];
                    summs[t] = _mm512_fmadd_ps(mk, _mm512_set1_ps(sx), summs[t]);
                }
                ENCLAVE_UNROLL
                for (int p = 0; p < P; ++p) {
                    const int r0 = 2 * p, r1 = 2 * p + 1 < R ? 2 * p + 1 : 2 * p;
                    const __m512i idx_qk = _mm512_add_epi32(idx_q0, _mm512_set1_epi32(5 * k));
                    const __m512i nib = k < 3 ? _mm512_permutex2var_epi32(a[r0], idx_qk, a[r1])
                                              : _mm512_permutex2var_epi32(b[r0], idx_q3, b[r1]);
                    const __m512i q = _mm512_and_si512(_mm512_mask_srli_epi16(nib, high_words, nib, 4), low4);
                    const __m512i sel = _mm512_setr_epi32(4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r0 + k,
                                                          4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r1 + k, 4 * r1 + k,
                                                          4 * r1 + k, 4 * r1 + k, 4 * r1 + k, 4 * r1 + k, 4 * r1 + k,
                                                          4 * r1 + k);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                                                 _mm512_load_si512(pk[t] + s * pack_bytes + 64 * k));
                        acc[p][t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(sel, scale[t]), _mm512_cvtepi32_ps(isum),
                                                    acc[p][t]);
                    }
                }
            };
            block(std::integral_constant<int, 0>{});
            block(std::integral_constant<int, 1>{});
            block(std::integral_constant<int, 2>{});
            block(std::integral_constant<int, 3>{});
        };

        __m512i a[R], b[R];
        for (int64_t s = 0; s < n_full; ++s) {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + s * step_bytes;
                a[r] = _mm512_loadu_si512(p);
                b[r] = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 64)));
            }
            step(a, b, s);
        }
        if (tail_blocks > 0) {
            // Missing blocks load as zero weights and have zero d_x, s_x: fma(0, 0, acc) leaves acc as it is.
            const int n = tail_blocks * static_cast<int>(sizeof(block_q4_1));  // < 80
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + n_full * step_bytes;
                a[r] = load_bytes(p, n);
                b[r] = load_bytes(p + 64, n - 64);
            }
            step(a, b, n_full);
        }
        hsum8_pairs<R, T>(acc, out);
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) {
            alignas(64) float sm[16];
            _mm512_store_ps(sm, summs[t]);
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) out[r][t] = out[r][t] + sm[4 * r];
        }
    }
};

struct KernelQ4_0 {
    static constexpr int64_t step_elems = 128;
    static constexpr int64_t block_elems = 32;
    static constexpr size_t step_bytes = 4 * sizeof(block_q4_0);  // 72
    static constexpr size_t pack_bytes = 256;

    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        pack_q4_activations<false>(x_row, n_cols / 32, first_step, n_steps, dst);
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_blocks,
                        float (&out)[R][T]) {
        // Blocks are 18 bytes, so a step's words are: d of block k at word 9k, its qs at words 9k+1..9k+8.
        // a = bytes [0, 64) (words 0..31), b = bytes [56, 72) (words 28..35 -> indices 32..39): block 3's
        // qs are b's first 8 words. Dword lane 4i+k takes qs words 2i, 2i+1 of block k.
        alignas(64) static constexpr int16_t idx_qs_words[32] = {1,  2,  10, 11, 19, 20, 32, 33, 3,  4,  12,
                                                                 13, 21, 22, 34, 35, 5,  6,  14, 15, 23, 24,
                                                                 36, 37, 7,  8,  16, 17, 25, 26, 38, 39};
        alignas(64) static constexpr int16_t idx_d_words[32] = {0, 9, 18, 27, 32, 41, 50, 59, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                0, 0, 0,  0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0};
        const __m512i idx_qs = _mm512_load_si512(idx_qs_words);
        const __m512i idx_d = _mm512_load_si512(idx_d_words);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        __m512 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();

        auto step = [&](const __m512i(&a)[R], const __m512i(&b)[R], int64_t s) ENCLAVE_INLINE {
            const __m512i x01 = _mm512_permutex2var_epi16(a[0], idx_d, a[R > 1 ? 1 : 0]);
            const __m512i x23 = _mm512_permutex2var_epi16(a[R > 2 ? 2 : 0], idx_d, a[R > 3 ? 3 : 0]);
            const __m256i d16 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_castsi512_si128(x01)),
                                                        _mm512_castsi512_si128(x23), 1);
            const __m512 d = _mm512_cvtph_ps(d16);  // lane 4r+k: d of row r block k
            const uint8_t* ps[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) ps[t] = pk[t] + s * 256;
            const __m512 d_or_dx = T == 1 ? _mm512_mul_ps(d, _mm512_load_ps(ps[0] + 128)) : d;
            auto row = [&](auto rc) ENCLAVE_INLINE {
                constexpr int r = decltype(rc)::value;
                const __m512i nib = _mm512_permutex2var_epi16(a[r], idx_qs, b[r]);
                const __m512i lo = _mm512_and_si512(nib, low4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(nib, 4), low4);
                const __m512 dw = quad_broadcast<r>(d_or_dx);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    // Starting from -8 * sum(q_x) turns sum(q * q_x) into sum((q - 8) * q_x).
                    __m512i isum = _mm512_dpbusd_epi32(_mm512_load_si512(ps[t] + 192), lo, _mm512_load_si512(ps[t]));
                    isum = _mm512_dpbusd_epi32(isum, hi, _mm512_load_si512(ps[t] + 64));
                    const __m512 scale = T == 1 ? dw : _mm512_mul_ps(dw, _mm512_load_ps(ps[t] + 128));
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[r][t]);
                }
            };
            row(std::integral_constant<int, 0>{});
            if constexpr (R > 1) row(std::integral_constant<int, 1>{});
            if constexpr (R > 2) row(std::integral_constant<int, 2>{});
            if constexpr (R > 3) row(std::integral_constant<int, 3>{});
        };

        __m512i a[R], b[R];
        for (int64_t s = 0; s < n_full; ++s) {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + s * step_bytes;
                a[r] = _mm512_loadu_si512(p);
                b[r] = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 56)));
            }
            step(a, b, s);
        }
        if (tail_blocks > 0) {
            const int n = tail_blocks * static_cast<int>(sizeof(block_q4_0));  // < 72
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + n_full * step_bytes;
                a[r] = load_bytes(p, n);
                b[r] = load_bytes(p + 56, n - 56);
            }
            step(a, b, n_full);
        }
        store_sums(acc, out);
    }
};

// =========================================================================================================
// Q8_0 x Q8_0: a step is 4 blocks (128 values) held as two registers of two whole blocks each
// ([block 0 | block 1], [block 2 | block 3]); lanes 0..7 of a dot product belong to the first block of the
// register and lanes 8..15 to the second. The weights are made unsigned by flipping the sign bit (q + 128),
// and -128 * sum(q_x) per block, kept in the repack, takes the offset out again. Repacked step (384 bytes):
//   [0, 128)   activation bytes of blocks 0..3 in order
//   [128, 256) d_x: lanes of [b0 | b1] then [b2 | b3]
//   [256, 384) int32 corrections: lane 0 and 8 of [b0 | b1], then of [b2 | b3]
// =========================================================================================================

struct KernelQ8_0 {
    static constexpr int64_t step_elems = 128;
    static constexpr int64_t block_elems = 32;
    static constexpr size_t step_bytes = 4 * sizeof(block_q8_0);  // 136
    static constexpr size_t pack_bytes = 576;

    // [64k, 64k+64): block k's activation bytes twice; [256 + 64k, +64): its lane corrections twice
    // (-128 * the sum of the lane's 4 activations); [512, 576): d_x of block lane%4 (float x16).
    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const int64_t n_blocks = n_cols / 32;
        const auto* xb = reinterpret_cast<const block_q8_0*>(x_row);
        for (int64_t s = 0; s < n_steps; ++s) {
            uint8_t* p = dst + s * pack_bytes;
            float* dx = reinterpret_cast<float*>(p + 512);
            std::memset(p, 0, pack_bytes);
            ENCLAVE_UNROLL
            for (int k = 0; k < 4; ++k) {
                const int64_t b = (first_step + s) * 4 + k;
                if (b >= n_blocks) continue;
                std::memcpy(p + 64 * k, xb[b].qs, 32);
                std::memcpy(p + 64 * k + 32, xb[b].qs, 32);
                auto* corr = reinterpret_cast<int32_t*>(p + 256 + 64 * k);
                for (int l = 0; l < 8; ++l) {
                    int32_t sum = 0;
                    for (int j = 0; j < 4; ++j) sum += xb[b].qs[4 * l + j];
                    corr[l] = corr[l + 8] = -128 * sum;
                }
                for (int i = 0; i < 4; ++i) dx[4 * i + k] = half_to_float(xb[b].d);
            }
        }
    }

    // The first n_bytes (< 136) of a step, the blocks past them reading as zero.
    static void load_tail(const uint8_t* p, int n_bytes, __m512i& w01, __m512i& w23, __m512i& e) {
        auto part = [&](int off) {
            return _mm512_castsi512_si256(load_bytes(p + off, n_bytes - off < 32 ? n_bytes - off : 32));
        };
        const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
        // Flipping the sign bit of the zero padding gives 128, but its activations are zero too.
        w01 = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(part(2)), part(36), 1), sign);
        w23 = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(part(70)), part(104), 1), sign);
        e = _mm512_mask_blend_epi16(0x00080004u, load_bytes(p, n_bytes), load_bytes(p + 64, n_bytes - 64));
    }

    // ggml's order (ggml_vec_dot_q8_0_q8_0): per block 8 lanes of 4 products, fused into float lanes with
    // d_w * d_x block after block, then hsum8. As for Q4_1, one vector holds one block of a pair of rows.
    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_blocks,
                        float (&out)[R][T]) {
        constexpr int P = (R + 1) / 2;
        // The four d's of a step are words 0, 17, 34, 51; e = bytes [0,64) with words 2 and 19 taken from
        // bytes [64,128) holds them at words 0, 17, 2, 19.
        alignas(64) static constexpr int16_t idx_d_words[32] = {0, 17, 2, 19, 32, 49, 34, 51, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                0, 0,  0, 0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0};
        const __m512i idx_d = _mm512_load_si512(idx_d_words);
        const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
        __m512 acc[P][T];
        ENCLAVE_UNROLL
        for (int p = 0; p < P; ++p) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[p][t] = _mm512_setzero_ps();

        auto step = [&](const __m512i(&w01)[R], const __m512i(&w23)[R], const __m512i(&e)[R],
                        int64_t s) ENCLAVE_INLINE {
            const __m512i x01 = _mm512_permutex2var_epi16(e[0], idx_d, e[R > 1 ? 1 : 0]);
            const __m512i x23 = _mm512_permutex2var_epi16(e[R > 2 ? 2 : 0], idx_d, e[R > 3 ? 3 : 0]);
            const __m256i d16 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_castsi512_si128(x01)),
                                                        _mm512_castsi512_si128(x23), 1);
            const __m512 d = _mm512_cvtph_ps(d16);  // lane 4r+k: d of row r block k
            __m512 scale[T];                        // lane 4r+k: d_w(r, k) * d_x(k)
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) scale[t] = _mm512_mul_ps(d, _mm512_load_ps(pk[t] + s * pack_bytes + 512));
            auto block = [&](auto kc) ENCLAVE_INLINE {
                constexpr int k = decltype(kc)::value;
                ENCLAVE_UNROLL
                for (int p = 0; p < P; ++p) {
                    const int r0 = 2 * p, r1 = 2 * p + 1 < R ? 2 * p + 1 : 2 * p;
                    const __m512i& v0 = k < 2 ? w01[r0] : w23[r0];
                    const __m512i& v1 = k < 2 ? w01[r1] : w23[r1];
                    const __m512i q = _mm512_shuffle_i64x2(v0, v1, k % 2 == 0 ? 0x44 : 0xEE);
                    const __m512i sel = _mm512_setr_epi32(4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r0 + k,
                                                          4 * r0 + k, 4 * r0 + k, 4 * r0 + k, 4 * r1 + k, 4 * r1 + k,
                                                          4 * r1 + k, 4 * r1 + k, 4 * r1 + k, 4 * r1 + k, 4 * r1 + k,
                                                          4 * r1 + k);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const uint8_t* ps = pk[t] + s * pack_bytes;
                        const __m512i isum = _mm512_dpbusd_epi32(_mm512_load_si512(ps + 256 + 64 * k), q,
                                                                 _mm512_load_si512(ps + 64 * k));
                        acc[p][t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(sel, scale[t]), _mm512_cvtepi32_ps(isum),
                                                    acc[p][t]);
                    }
                }
            };
            block(std::integral_constant<int, 0>{});
            block(std::integral_constant<int, 1>{});
            block(std::integral_constant<int, 2>{});
            block(std::integral_constant<int, 3>{});
        };

        __m512i w01[R], w23[R], e[R];
        for (int64_t s = 0; s < n_full; ++s) {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + s * step_bytes;
                w01[r] = _mm512_xor_si512(
                    _mm512_inserti64x4(
                        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2))),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36)), 1),
                    sign);
                w23[r] = _mm512_xor_si512(
                    _mm512_inserti64x4(
                        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 70))),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 104)), 1),
                    sign);
                e[r] = _mm512_mask_blend_epi16(0x00080004u, _mm512_loadu_si512(p), _mm512_loadu_si512(p + 64));
            }
            step(w01, w23, e, s);
        }
        if (tail_blocks > 0) {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r)
                load_tail(w[r] + n_full * step_bytes, tail_blocks * static_cast<int>(sizeof(block_q8_0)), w01[r],
                          w23[r], e[r]);
            step(w01, w23, e, n_full);
        }
        hsum8_pairs<R, T>(acc, out);
    }
};

// =========================================================================================================
// K-quants x Q8_K: a step is one super-block (256 values) unpacked into four registers v0..v3 of 64
// unsigned values. Each register's two 32-byte halves belong to one sub-block each (Q4_K/Q5_K), or its four
// 128-bit lanes to one sub-block of 16 each (Q6_K). vpmaddubsw sums byte pairs to int16 and vpdpwssd
// multiplies them by the sub-block scale into int32 (exact, as ggml's integer sums), so a super-block costs
// one conversion and one FMA by d * d_x per row and token. The mins (Q4_K/Q5_K) and Q6_K's -32 offset are
// sum_j c_j * bsums_j, added lane-wise as (-dmin * c_j) * (bsums_j * d_x) (Q6_K: dmin = 32 d).
// Repacked super-block (384 bytes):
//   [0, 256)   activation bytes in the order of v0..v3
//   [256, 320) d_x broadcast (float x16)         [320, 384) bsums_j * d_x (float x16)
// =========================================================================================================

struct UnpackedK {
    __m512i v[4];
    __m512i sc16[4];  // int16 per word lane: the sub-block scale of the byte pair vpmaddubsw sums there
    __m256i coef;     // int16 x16: multiplies the 16 bsums
    float d;          // super-block scale
    float dmin;       // scale of the bsums term (subtracted)
};

// The eight 6-bit scales (low 8 bytes) and mins (high 8 bytes) of a Q4_K/Q5_K super-block.
inline void unpack_k4_scales(const uint8_t* q, uint64_t* scales, uint64_t* mins) {
    uint32_t a, b, c;
    std::memcpy(&a, q, 4);
    std::memcpy(&b, q + 4, 4);
    std::memcpy(&c, q + 8, 4);
    const uint32_t sc_lo = a & 0x3f3f3f3fu;
    const uint32_t m_lo = b & 0x3f3f3f3fu;
    const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    *scales = static_cast<uint64_t>(sc_lo) | (static_cast<uint64_t>(sc_hi) << 32);
    *mins = static_cast<uint64_t>(m_lo) | (static_cast<uint64_t>(m_hi) << 32);
}

// vpshufb control repeating word j of each 128-bit lane.
constexpr int word_ctrl(int j) {
    return (2 * j) | ((2 * j + 1) << 8) | ((2 * j) << 16) | ((2 * j + 1) << 24);
}
inline __m512i word_select(int lo, int hi) {  // word lo in the low 256 bits, word hi in the high 256 bits
    const int a = word_ctrl(lo), b = word_ctrl(hi);
    return _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b);
}

// Sub-block scales of Q4_K/Q5_K per register half: v0 = [sb 0 | sb 2], v1 = [1 | 3], v2 = [4 | 6], v3 = [5 | 7].
inline void k4_scale_vectors(uint64_t scales, uint64_t mins, UnpackedK& u) {
    // Every 128-bit lane: the eight scales as words.
    const __m512i sc = _mm512_cvtepu8_epi16(_mm256_set1_epi64x(static_cast<long long>(scales)));
    u.sc16[0] = _mm512_shuffle_epi8(sc, word_select(0, 2));
    u.sc16[1] = _mm512_shuffle_epi8(sc, word_select(1, 3));
    u.sc16[2] = _mm512_shuffle_epi8(sc, word_select(4, 6));
    u.sc16[3] = _mm512_shuffle_epi8(sc, word_select(5, 7));
    // Each min covers two bsums (two sub-blocks of 16): m0 m0 m1 m1 ... m7 m7.
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(mins));
    u.coef = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
}

struct KernelQ4_K {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t step_bytes = sizeof(block_q4_K);
    static constexpr bool interleaved_halves = true;  // v0 = values [0,32) and [64,96), ...

    static void unpack(const uint8_t* p, UnpackedK& u) {
        const auto* blk = reinterpret_cast<const block_q4_K*>(p);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        const __m512i q0 = _mm512_loadu_si512(blk->qs);
        const __m512i q1 = _mm512_loadu_si512(blk->qs + 64);
        u.v[0] = _mm512_and_si512(q0, low4);
        u.v[1] = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
        u.v[2] = _mm512_and_si512(q1, low4);
        u.v[3] = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
        uint64_t scales, mins;
        unpack_k4_scales(blk->scales, &scales, &mins);
        k4_scale_vectors(scales, mins, u);
        u.d = half_to_float(blk->d);
        u.dmin = half_to_float(blk->dmin);
    }
};

struct KernelQ5_K {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t step_bytes = sizeof(block_q5_K);
    static constexpr bool interleaved_halves = true;

    static void unpack(const uint8_t* p, UnpackedK& u) {
        const auto* blk = reinterpret_cast<const block_q5_K*>(p);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        const __m512i bit4 = _mm512_set1_epi8(0x10);
        const __m512i q0 = _mm512_loadu_si512(blk->qs);
        const __m512i q1 = _mm512_loadu_si512(blk->qs + 64);
        // qh[l] bit 2c is the fifth bit of the low nibble of qs[32c + l], bit 2c+1 of its high nibble. Both
        // register halves see qh; a per-half bit pattern tests the bit of each half's chunk into a mask.
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh)));
        auto bits = [](int lo, int hi) {  // byte pattern: 1 << lo in the low half, 1 << hi in the high half
            const long long a = static_cast<long long>(0x0101010101010101ull * (1u << lo));
            const long long b = static_cast<long long>(0x0101010101010101ull * (1u << hi));
            return _mm512_setr_epi64(a, a, a, a, b, b, b, b);
        };
        const __m512i n0 = _mm512_and_si512(q0, low4);
        u.v[0] = _mm512_mask_add_epi8(n0, _mm512_test_epi8_mask(qh, bits(0, 2)), n0, bit4);
        const __m512i n1 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
        u.v[1] = _mm512_mask_add_epi8(n1, _mm512_test_epi8_mask(qh, bits(1, 3)), n1, bit4);
        const __m512i n2 = _mm512_and_si512(q1, low4);
        u.v[2] = _mm512_mask_add_epi8(n2, _mm512_test_epi8_mask(qh, bits(4, 6)), n2, bit4);
        const __m512i n3 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
        u.v[3] = _mm512_mask_add_epi8(n3, _mm512_test_epi8_mask(qh, bits(5, 7)), n3, bit4);
        uint64_t scales, mins;
        unpack_k4_scales(blk->scales, &scales, &mins);
        k4_scale_vectors(scales, mins, u);
        u.d = half_to_float(blk->d);
        u.dmin = half_to_float(blk->dmin);
    }
};

struct KernelQ6_K {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t step_bytes = sizeof(block_q6_K);
    static constexpr bool interleaved_halves = false;  // v0 = values [0, 64), v1 = [64, 128), ...

    static void unpack(const uint8_t* p, UnpackedK& u) {
        const auto* blk = reinterpret_cast<const block_q6_K*>(p);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        const __m512i two = _mm512_set1_epi8(0x03);
        const __m512i shift_lo = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002ll, 0x0002000200020002ll,
                                                   0x0002000200020002ll, 0x0002000200020002ll);
        const __m512i shift_hi =
            _mm512_setr_epi64(0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll,
                              0x0006000600060006ll, 0x0006000600060006ll, 0x0006000600060006ll, 0x0006000600060006ll);
        for (int half = 0; half < 2; ++half) {
            // ql[64 half + l] low nibble + qh[32 half + l] bits 0-1 -> value l; ql[64 half + 32 + l] low
            // nibble + bits 2-3 -> value 32 + l; the high nibbles with bits 4-5 / 6-7 -> 64 + l / 96 + l.
            const __m512i ql = _mm512_loadu_si512(blk->ql + 64 * half);
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * half)));
            const __m512i h_lo = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), two);
            const __m512i h_hi = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), two);
            u.v[2 * half] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(h_lo, 4));
            u.v[2 * half + 1] =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_slli_epi16(h_hi, 4));
        }
        // Sixteen int8 scales, one per 16 values = one 128-bit lane: register v uses scales 4v .. 4v+3.
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales));
        const __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc8));
        ENCLAVE_UNROLL
        for (int v = 0; v < 4; ++v) {
            const __m512i idx = _mm512_or_si512(
                _mm512_set1_epi16(static_cast<short>(4 * v)),
                _mm512_setr_epi64(0, 0, 0x0001000100010001ll, 0x0001000100010001ll, 0x0002000200020002ll,
                                  0x0002000200020002ll, 0x0003000300030003ll, 0x0003000300030003ll));
            u.sc16[v] = _mm512_permutexvar_epi16(idx, sc);
        }
        // Values are stored as q + 32: subtract 32 * sum_j scale_j * bsum_j.
        u.coef = _mm256_cvtepi8_epi16(sc8);
        u.d = half_to_float(blk->d);
        u.dmin = 32.0f * u.d;
    }
};

// Integer lane merges (exact): lanes 0..7 = sums of adjacent lane pairs of a, lanes 8..15 of b.
ENCLAVE_INLINE inline __m512i merge_pairs_i(__m512i a, __m512i b) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, even, b), _mm512_permutex2var_epi32(a, odd, b));
}

// Lane 2i + g of the result = the sum of the eight lanes of half g of v[i] (N <= 8).
template <int N>
ENCLAVE_INLINE inline __m512i half_sums(const __m512i* v) {
    static_assert(N >= 1 && N <= 8);
    const __m512i z = _mm512_setzero_si512();
    constexpr int n1 = (N + 1) / 2;
    __m512i l1[4], l2[2];
    ENCLAVE_UNROLL
    for (int i = 0; i < 4; ++i) l1[i] = 2 * i < N ? merge_pairs_i(v[2 * i], 2 * i + 1 < N ? v[2 * i + 1] : z) : z;
    ENCLAVE_UNROLL
    for (int i = 0; i < 2; ++i) l2[i] = 2 * i < n1 ? merge_pairs_i(l1[2 * i], 2 * i + 1 < n1 ? l1[2 * i + 1] : z) : z;
    return merge_pairs_i(l2[0], n1 > 2 ? l2[1] : z);
}

// [fold(a) | fold(b)], fold(v) = its low 256 bits + its high 256 bits (lane l + lane l + 8).
ENCLAVE_INLINE inline __m512i fold_pair(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE));
}

// Tokens from which the panels take over from the per-(row, token) kernels (measured crossover).
constexpr int64_t k_panel_min_tokens = 6;

}  // namespace

// Panel GEMM for n_tokens >= k_panel_min_tokens (Q5_K, Q6_K: >= 8), in matmul_avx512_panels.cpp.
void matmul_panels_avx512(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                          float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept;

}  // namespace enclave::kernels::detail
