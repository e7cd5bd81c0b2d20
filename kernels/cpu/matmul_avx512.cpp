// AVX-512 (F/BW/VL/DQ/VNNI) matrix products, compiled for that ISA only (kernels/CMakeLists.txt) and
// reached through matmul.cpp after detection. Two kernel families, chosen by the number of tokens:
//
// Few tokens (decode, small batches; n_tokens < k_panel_min_tokens): columns in the vector lanes.
//   - The columns are cut into steps (4 blocks of 32 for Q4_0/Q4_1/Q8_0, one super-block of 256 for the
//     K-quants, 16 values for the float types) and the steps into chunks of up to 2048 columns.
//   - For a tile of up to 4 tokens, the chunk's activations are repacked once into a stack buffer in the
//     lane order the weight unpacking produces (and with their block scales pre-broadcast), so the inner
//     loop reads them with plain aligned loads.
//   - A micro-kernel then sweeps the rows 4 at a time (1-3 for the tail): each weight step is loaded and
//     unpacked once per row and used for every token of the tile; 4 rows x 4 tokens = 16 accumulators.
//     n_tokens == 1 (decode) is the same code with a tile of one token: each weight byte is read once,
//     with the rows two tiles ahead prefetched.
//   - Integer dot products use vpdpbusd (u8 x s8 -> s32); the weight is the unsigned side (nibbles as they
//     are, Q8_0 offset by 128) and the offsets are taken out with per-block sums of the activations,
//     precomputed in the repack. Block scales multiply the exact int32 sums in float, as ggml does.
// Many tokens (prefill): weight rows in the vector lanes ("panel GEMM", further down), which moves the
// per-block scale work from every (row, token) pair to every 16 rows.
//
// Only intrinsics and functions with internal linkage are used here, so no AVX-512 instruction can leak
// into code that other files call on a CPU without it. Stack use is at most ~40 KB per call.
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

template <class Q>
struct KernelK {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t step_bytes = Q::step_bytes;
    static constexpr size_t pack_bytes = 384;

    static void pack(const uint8_t* x_row, int64_t, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const auto* xb = reinterpret_cast<const block_q8_K*>(x_row);
        for (int64_t s = 0; s < n_steps; ++s) {
            const block_q8_K& b = xb[first_step + s];
            uint8_t* p = dst + s * 384;
            if constexpr (Q::interleaved_halves) {
                ENCLAVE_UNROLL
                for (int v = 0; v < 4; ++v) {  // v0 = [0,32)+[64,96), v1 = [32,64)+[96,128), v2, v3 likewise
                    const int base = 128 * (v / 2) + 32 * (v % 2);
                    std::memcpy(p + 64 * v, b.qs + base, 32);
                    std::memcpy(p + 64 * v + 32, b.qs + base + 64, 32);
                }
            } else {
                std::memcpy(p, b.qs, 256);
            }
            float* dx = reinterpret_cast<float*>(p + 256);   // [16] d_x broadcast
            float* bsx = reinterpret_cast<float*>(p + 320);  // [16] bsums * d_x
            ENCLAVE_UNROLL
            for (int i = 0; i < 16; ++i) {
                dx[i] = b.d;
                bsx[i] = static_cast<float>(b.bsums[i]) * b.d;
            }
        }
    }

    // Per super-block, row and token: the sub-block scales multiply the vpmaddubsw pair sums in int32
    // (vpdpwssd), exact as in ggml; then
    //   acc += float(isum) * (d * d_x)                       (lanes: partial sums)
    //   acc += (-dmin * coef_j) * (bsums_j * d_x)             (lane j: one of the 16 bsums)
    // The lanes of acc are summed once at the end, so both terms share the accumulator.
    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int, float (&out)[R][T]) {
        __m512 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        for (int64_t s = 0; s < n_full; ++s) {
            const uint8_t* ps[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) ps[t] = pk[t] + s * 384;
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                UnpackedK u;
                Q::unpack(w[r] + s * step_bytes, u);
                const __m512 d = _mm512_set1_ps(u.d);
                const __m512 neg_min =
                    _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(u.coef)), _mm512_set1_ps(-u.dmin));
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    __m512i isum = _mm512_setzero_si512();
                    ENCLAVE_UNROLL
                    for (int v = 0; v < 4; ++v)
                        isum = _mm512_dpwssd_epi32(
                            isum, _mm512_maddubs_epi16(u.v[v], _mm512_load_si512(ps[t] + 64 * v)), u.sc16[v]);
                    const __m512 dx = _mm512_load_ps(ps[t] + 256);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, dx), acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(neg_min, _mm512_load_ps(ps[t] + 320), acc[r][t]);
                }
            }
        }
        store_sums(acc, out);
    }
};

// =========================================================================================================
// F16 / BF16 / F32: a step is 16 values; activations are widened to float once in the repack (exactly),
// weights per row, and every product is one FMA.
// =========================================================================================================

template <TensorType type>
struct KernelFloat {
    static constexpr int64_t step_elems = 16;
    static constexpr int64_t block_elems = 1;
    static constexpr size_t elem_bytes = type == TensorType::F32 ? 4 : 2;
    static constexpr size_t step_bytes = 16 * elem_bytes;
    static constexpr size_t pack_bytes = 64;

    static __m512 load_weights(const uint8_t* p, int n) {
        if constexpr (type == TensorType::F32) {
            return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
        } else {
            const __m256i h = n >= 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                      : _mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p);
            if constexpr (type == TensorType::F16) return _mm512_cvtph_ps(h);
            return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        }
    }

    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        for (int64_t s = 0; s < n_steps; ++s) {
            const int64_t c0 = (first_step + s) * 16;
            const int n = static_cast<int>(min_i64(16, n_cols - c0));
            _mm512_store_ps(dst + s * 64, load_weights(x_row + c0 * elem_bytes, n));
        }
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_elems,
                        float (&out)[R][T]) {
        __m512 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        auto step = [&](int64_t s, int n) ENCLAVE_INLINE {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m512 wv = load_weights(w[r] + s * step_bytes, n);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, _mm512_load_ps(pk[t] + s * 64), acc[r][t]);
            }
        };
        for (int64_t s = 0; s < n_full; ++s) step(s, 16);
        if (tail_elems > 0) step(n_full, tail_elems);
        store_sums(acc, out);
    }
};

// =========================================================================================================
// Panel GEMM for many tokens (prefill). The kernels above put columns in the vector lanes, so every
// (row, token) pair pays for converting its block sums and applying block scales; with hundreds of tokens
// that overhead, not the int8 products, sets the speed. Here the lanes are 16 weight rows instead:
//   - a panel of 16 rows x up to 512 columns is unpacked once into unsigned 8-bit codes, transposed so that
//     each 64-byte vector holds 4 consecutive columns of all 16 rows, with its block scales as vectors;
//   - each activation dword (4 columns of one token) is broadcast from memory straight into vpdpbusd, so one
//     instruction does 64 multiply-adds for 16 rows; a block's scale work is then one convert and two FMAs
//     per token for all 16 rows;
//   - the panel is reused by every token of the call (tiles of 8 tokens, 8 int32 + 8 float accumulators).
// The integer sums are the same as in the kernels above (and ggml's); only float rounding order differs,
// except for Q4_1, whose panels follow ggml's order (run_panels_q4_1).
// =========================================================================================================

constexpr int k_panel_rows = 16;
constexpr int64_t k_panel_cols = 512;  // columns per chunk: a multiple of the K-quants' 256
constexpr int k_panel_token_block = 64;
constexpr int k_panel_tile = 8;
constexpr int64_t k_panel_min_tokens = 6;  // measured crossover with the per-(row, token) kernels

// One panel of unpacked weights: 16 rows x k_panel_cols columns.
struct Panel {
    alignas(64) uint8_t q[k_panel_cols / 4][64];     // [column group][row * 4 + j]: codes of columns 4g+j
    alignas(64) float scale[k_panel_cols / 16][16];  // [block or sub-block][row]: d, or d * sub-block scale
    alignas(64) float extra[k_panel_cols / 16][16];  // [block or bsums slot][row]: Q4_1 m; K-quants -dmin * m
};

// Per-token scales of a token block for one column chunk.
struct PanelActs {
    alignas(64) float dx[k_panel_token_block][k_panel_cols / 32];      // [token][block or super-block]
    alignas(64) float extra[k_panel_token_block][k_panel_cols / 16];   // [token][block or bsums slot]
    alignas(64) int32_t corr[k_panel_token_block][k_panel_cols / 32];  // [token][block]: -8 or -128 * sum(q_x)
};

// 16 x 16 transpose of 32-bit elements: out[c] lane r = in[r] lane c.
ENCLAVE_INLINE inline void transpose16(__m512i (&m)[16]) {
    __m512i t[16], u[16];
    ENCLAVE_UNROLL
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(m[2 * i], m[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(m[2 * i], m[2 * i + 1]);
    }
    // u[4g + i], lane L: column 4L + i of rows 4g..4g+3.
    ENCLAVE_UNROLL
    for (int g = 0; g < 4; ++g) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    ENCLAVE_UNROLL
    for (int i = 0; i < 4; ++i) {
        const __m512i a = _mm512_shuffle_i32x4(u[i], u[4 + i], 0x88);       // row groups 0,1: lanes 0, 2
        const __m512i b = _mm512_shuffle_i32x4(u[i], u[4 + i], 0xDD);       // lanes 1, 3
        const __m512i c = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0x88);  // row groups 2,3
        const __m512i d = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0xDD);
        m[i] = _mm512_shuffle_i32x4(a, c, 0x88);
        m[8 + i] = _mm512_shuffle_i32x4(a, c, 0xDD);
        m[4 + i] = _mm512_shuffle_i32x4(b, d, 0x88);
        m[12 + i] = _mm512_shuffle_i32x4(b, d, 0xDD);
    }
}

// codes [16][k_panel_cols] row-major -> panel.q, for the first n_cols columns (a multiple of 64).
void transpose_codes(const uint8_t (&codes)[k_panel_rows][k_panel_cols], int64_t n_cols, Panel& panel) {
    for (int64_t c = 0; c < n_cols; c += 64) {
        __m512i m[16];
        ENCLAVE_UNROLL
        for (int r = 0; r < 16; ++r) m[r] = _mm512_load_si512(&codes[r][c]);
        transpose16(m);
        ENCLAVE_UNROLL
        for (int i = 0; i < 16; ++i) _mm512_store_si512(panel.q[c / 4 + i], m[i]);
    }
}

// Block-32 weights (Q4_0, Q4_1, Q8_0). Codes are unsigned: Q4 nibbles as stored, Q8_0 + 128; the
// activation side supplies -8 * sum(q_x) or -128 * sum(q_x) per block.
template <TensorType type>
struct PanelB32 {
    static constexpr size_t w_block = type == TensorType::Q4_0   ? sizeof(block_q4_0)
                                      : type == TensorType::Q4_1 ? sizeof(block_q4_1)
                                                                 : sizeof(block_q8_0);
    static constexpr size_t x_block = type == TensorType::Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    static constexpr int x_qs = type == TensorType::Q4_1 ? 4 : 2;  // offset of qs in an activation block
    static constexpr int64_t unit = 32;                            // columns per block

    // Row r's blocks [b0, b0 + nb) -> codes[r][0 .. 32 nb), scales.
    static void unpack_row(const uint8_t* w_row, int64_t b0, int64_t nb, int r,
                           uint8_t (&codes)[k_panel_rows][k_panel_cols], Panel& panel) {
        const __m128i low4 = _mm_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = w_row + static_cast<size_t>(b0 + b) * w_block;
            uint16_t d_bits;
            std::memcpy(&d_bits, blk, 2);
            panel.scale[b][r] = half_to_float(d_bits);
            uint8_t* dst = &codes[r][32 * b];
            if constexpr (type == TensorType::Q8_0) {
                const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                                    _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80))));
            } else {
                const int qs = type == TensorType::Q4_1 ? 4 : 2;
                const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + qs));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_and_si128(q, low4));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_and_si128(_mm_srli_epi16(q, 4), low4));
                if constexpr (type == TensorType::Q4_1) {
                    uint16_t m_bits;
                    std::memcpy(&m_bits, blk + 2, 2);
                    panel.extra[b][r] = half_to_float(m_bits);
                }
            }
        }
    }

    // Token t's blocks [b0, b0 + nb): d_x, and s_x (Q4_1) or the correction (Q4_0, Q8_0).
    static void unpack_acts(const uint8_t* x_row, int64_t b0, int64_t nb, int t, PanelActs& acts) {
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = x_row + static_cast<size_t>(b0 + b) * x_block;
            uint16_t bits;
            std::memcpy(&bits, blk, 2);
            acts.dx[t][b] = half_to_float(bits);
            if constexpr (type == TensorType::Q4_1) {
                std::memcpy(&bits, blk + 2, 2);
                acts.extra[t][b] = half_to_float(bits);
            } else {
                const __m256i q = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
                const __m256i q2 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18)));
                const __m256i s32 = _mm256_madd_epi16(_mm256_add_epi16(q, q2), _mm256_set1_epi16(1));
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
                s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
                s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
                acts.corr[t][b] = (type == TensorType::Q8_0 ? -128 : -8) * _mm_cvtsi128_si32(s4);
            }
        }
    }

    // acc[t] lanes (rows) += the products of nb blocks for T tokens. x[t]: token t's row at block b0.
    template <int T>
    ENCLAVE_INLINE static void tile(const Panel& panel, const PanelActs& acts, int t0, const uint8_t* const* x,
                                    int64_t nb, __m512 (&acc)[T]) {
        for (int64_t b = 0; b < nb; ++b) {
            __m512i isum[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                if constexpr (type == TensorType::Q4_1)
                    isum[t] = _mm512_setzero_si512();
                else
                    isum[t] = _mm512_set1_epi32(acts.corr[t0 + t][b]);
            }
            ENCLAVE_UNROLL
            for (int g = 0; g < 8; ++g) {
                const __m512i wq = _mm512_load_si512(panel.q[8 * b + g]);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    int32_t xd;
                    std::memcpy(&xd, x[t] + static_cast<size_t>(b) * x_block + x_qs + 4 * g, 4);
                    isum[t] = _mm512_dpbusd_epi32(isum[t], wq, _mm512_set1_epi32(xd));
                }
            }
            const __m512 dw = _mm512_load_ps(panel.scale[b]);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(acts.dx[t0 + t][b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, acc[t]);
                if constexpr (type == TensorType::Q4_1)
                    acc[t] =
                        _mm512_fmadd_ps(_mm512_load_ps(panel.extra[b]), _mm512_set1_ps(acts.extra[t0 + t][b]), acc[t]);
            }
        }
    }
};

// K-quant weights. Codes are the unpacked values (Q6_K stored + 32); per sub-block (32 columns, Q6_K 16)
// the panel holds d * scale, per bsums slot -dmin * min (Q6_K: -32 * d * scale); the activation side holds
// d_x per super-block and (bsums * d_x) per slot.
template <class Q, int sub>
struct PanelK {
    static constexpr int64_t unit = 256;
    static constexpr int n_sub = 256 / sub;             // sub-blocks per super-block
    static constexpr int n_slots = sub == 32 ? 8 : 16;  // bsums terms per super-block

    static void unpack_row(const uint8_t* w_row, int64_t s0, int64_t ns, int r,
                           uint8_t (&codes)[k_panel_rows][k_panel_cols], Panel& panel) {
        for (int64_t s = 0; s < ns; ++s) {
            const uint8_t* blk = w_row + static_cast<size_t>(s0 + s) * Q::step_bytes;
            UnpackedK u;
            Q::unpack(blk, u);
            uint8_t* dst = &codes[r][256 * s];
            for (int v = 0; v < 4; ++v) {
                // Q4_K/Q5_K: register v holds columns [64(v/2)*2 + 32(v%2)) and +64 (see KernelQ4_K).
                const int lo = Q::interleaved_halves ? 128 * (v / 2) + 32 * (v % 2) : 64 * v;
                const int hi = Q::interleaved_halves ? lo + 64 : lo + 32;
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + lo), _mm512_castsi512_si256(u.v[v]));
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + hi), _mm512_extracti64x4_epi64(u.v[v], 1));
            }
            float* sc = &panel.scale[s * n_sub][0];
            float* ex = &panel.extra[s * n_slots][0];
            if constexpr (sub == 32) {
                uint64_t scales, mins;
                unpack_k4_scales(reinterpret_cast<const uint8_t*>(blk) + 4, &scales, &mins);
                for (int j = 0; j < 8; ++j) {
                    sc[16 * j + r] = u.d * static_cast<float>((scales >> (8 * j)) & 0xFF);
                    ex[16 * j + r] = -u.dmin * static_cast<float>((mins >> (8 * j)) & 0xFF);
                }
            } else {
                const auto* q6 = reinterpret_cast<const block_q6_K*>(blk);
                for (int j = 0; j < 16; ++j) {
                    sc[16 * j + r] = u.d * static_cast<float>(q6->scales[j]);
                    ex[16 * j + r] = -u.dmin * static_cast<float>(q6->scales[j]);  // dmin = 32 d
                }
            }
        }
    }

    static void unpack_acts(const uint8_t* x_row, int64_t s0, int64_t ns, int t, PanelActs& acts) {
        const auto* xb = reinterpret_cast<const block_q8_K*>(x_row);
        for (int64_t s = 0; s < ns; ++s) {
            const block_q8_K& b = xb[s0 + s];
            acts.dx[t][s] = b.d;
            for (int j = 0; j < n_slots; ++j) {
                const int bs = sub == 32 ? b.bsums[2 * j] + b.bsums[2 * j + 1] : b.bsums[j];
                acts.extra[t][s * n_slots + j] = static_cast<float>(bs) * b.d;
            }
        }
    }

    template <int T>
    ENCLAVE_INLINE static void tile(const Panel& panel, const PanelActs& acts, int t0, const uint8_t* const* x,
                                    int64_t ns, __m512 (&acc)[T]) {
        for (int64_t s = 0; s < ns; ++s) {
            __m512 part[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) part[t] = _mm512_setzero_ps();
            for (int j = 0; j < n_sub; ++j) {
                __m512i isum[T];
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
                const int64_t col = 256 * s + sub * j;
                ENCLAVE_UNROLL
                for (int g = 0; g < sub / 4; ++g) {
                    const __m512i wq = _mm512_load_si512(panel.q[col / 4 + g]);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        int32_t xd;
                        std::memcpy(&xd, x[t] + static_cast<size_t>(s) * sizeof(block_q8_K) + 4 + sub * j + 4 * g, 4);
                        isum[t] = _mm512_dpbusd_epi32(isum[t], wq, _mm512_set1_epi32(xd));
                    }
                }
                const __m512 sc = _mm512_load_ps(panel.scale[s * n_sub + j]);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), sc, part[t]);
            }
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                acc[t] = _mm512_fmadd_ps(part[t], _mm512_set1_ps(acts.dx[t0 + t][s]), acc[t]);
                ENCLAVE_UNROLL
                for (int j = 0; j < n_slots; ++j)
                    acc[t] = _mm512_fmadd_ps(_mm512_load_ps(panel.extra[s * n_slots + j]),
                                             _mm512_set1_ps(acts.extra[t0 + t][s * n_slots + j]), acc[t]);
            }
        }
    }
};

// Q4_1 panels in ggml's order (see KernelQ4_1): column group g of a block is ggml's lane g, so each
// vpdpbusd of one group gives 16 rows' lane sums, converted and fused into that lane's float accumulator
// with d_w * d_x; m_w * s_x is fused into a ninth accumulator. A token's 9 accumulators for 16 rows live
// across the column chunks (state below) because ggml's chain runs over the whole row.
struct PanelQ4_1State {
    alignas(64) float lane[k_panel_token_block][9][16];  // [token][ggml lane 0..7, then m * s_x][row]
};

// Two (or one) tokens over the panel's nb blocks: state in, state out.
template <int T>
ENCLAVE_INLINE inline void panel_q4_1_tokens(const Panel& panel, const uint8_t* const* x, int64_t nb,
                                              float (*state)[9][16]) {
    __m512 acc[T][9];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) ENCLAVE_UNROLL
    for (int l = 0; l < 9; ++l) acc[t][l] = _mm512_load_ps(state[t][l]);
    for (int64_t b = 0; b < nb; ++b) {
        const __m512 dw = _mm512_load_ps(panel.scale[b]);
        const __m512 mw = _mm512_load_ps(panel.extra[b]);
        __m512 scale[T];
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) {
            const auto* blk = reinterpret_cast<const block_q8_1*>(x[t]) + b;
            scale[t] = _mm512_mul_ps(dw, _mm512_set1_ps(half_to_float(blk->d)));
            acc[t][8] = _mm512_fmadd_ps(mw, _mm512_set1_ps(half_to_float(blk->s)), acc[t][8]);
        }
        ENCLAVE_UNROLL
        for (int g = 0; g < 8; ++g) {
            const __m512i wq = _mm512_load_si512(panel.q[8 * b + g]);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                int32_t xd;
                std::memcpy(&xd, reinterpret_cast<const block_q8_1*>(x[t])[b].qs + 4 * g, 4);
                const __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, _mm512_set1_epi32(xd));
                acc[t][g] = _mm512_fmadd_ps(scale[t], _mm512_cvtepi32_ps(isum), acc[t][g]);
            }
        }
    }
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) ENCLAVE_UNROLL
    for (int l = 0; l < 9; ++l) _mm512_store_ps(state[t][l], acc[t][l]);
}

void run_panels_q4_1(const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end) {
    using P = PanelB32<TensorType::Q4_1>;
    const size_t w_row = *row_bytes(TensorType::Q4_1, n_cols);
    const size_t x_row = *row_bytes(TensorType::Q8_1, n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(xq);
    constexpr int64_t blocks_per_chunk = k_panel_cols / 32;
    const int64_t n_blocks = n_cols / 32;

    alignas(64) Panel panel;
    alignas(64) uint8_t codes[k_panel_rows][k_panel_cols];
    alignas(64) PanelQ4_1State st;

    for (int64_t tb = 0; tb < n_tokens; tb += k_panel_token_block) {
        const int ntb = static_cast<int>(min_i64(k_panel_token_block, n_tokens - tb));
        for (int64_t r0 = row_begin; r0 < row_end; r0 += k_panel_rows) {
            const int nr = static_cast<int>(min_i64(k_panel_rows, row_end - r0));
            std::memset(&st, 0, sizeof(st));
            for (int64_t b0 = 0; b0 < n_blocks; b0 += blocks_per_chunk) {
                const int64_t nb = min_i64(blocks_per_chunk, n_blocks - b0);
                const int64_t chunk_cols = nb * 32;
                for (int r = 0; r < k_panel_rows; ++r) {
                    if (r < nr) {
                        P::unpack_row(wb + static_cast<size_t>(r0 + r) * w_row, b0, nb, r, codes, panel);
                    } else {  // missing rows: zero codes and scales, never stored
                        std::memset(codes[r], 0, static_cast<size_t>(chunk_cols));
                        for (int64_t i = 0; i < k_panel_cols / 16; ++i) panel.scale[i][r] = panel.extra[i][r] = 0.0f;
                    }
                }
                const int64_t padded = (chunk_cols + 63) / 64 * 64;
                if (padded != chunk_cols)
                    for (int r = 0; r < k_panel_rows; ++r)
                        std::memset(&codes[r][chunk_cols], 0, static_cast<size_t>(padded - chunk_cols));
                transpose_codes(codes, padded, panel);
                for (int t = 0; t < ntb; t += 2) {
                    const uint8_t* x[2];
                    for (int i = 0; i < 2 && t + i < ntb; ++i)
                        x[i] = xb + static_cast<size_t>(tb + t + i) * x_row +
                               static_cast<size_t>(b0) * sizeof(block_q8_1);
                    if (t + 1 < ntb)
                        panel_q4_1_tokens<2>(panel, x, nb, &st.lane[t]);
                    else
                        panel_q4_1_tokens<1>(panel, x, nb, &st.lane[t]);
                }
            }
            // hsum8 over the 8 lanes, plus the m * s_x sum, for 16 rows at once.
            const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1);
            for (int t = 0; t < ntb; ++t) {
                __m512 v[9];
                for (int l = 0; l < 9; ++l) v[l] = _mm512_load_ps(st.lane[t][l]);
                __m512 a[4];
                for (int i = 0; i < 4; ++i) a[i] = _mm512_add_ps(v[i + 4], v[i]);
                const __m512 lanes = _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]));
                const __m512 sum = _mm512_add_ps(lanes, v[8]);
                _mm512_mask_storeu_ps(y + (tb + t) * y_stride + r0, rows, sum);
            }
        }
    }
}

// y(t, rows) (+)= panel x tokens [t0, t0 + T) over the chunk's nu units.
template <class P, int T>
void panel_tile(const Panel& panel, const PanelActs& acts, int t_in_block, const uint8_t* const* x, int64_t nu,
                float* y, int64_t y_stride, __mmask16 rows, bool first_chunk) {
    __m512 acc[T];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    P::template tile<T>(panel, acts, t_in_block, x, nu, acc);
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) {
        float* dst = y + t * y_stride;
        const __m512 v = first_chunk ? acc[t] : _mm512_add_ps(acc[t], _mm512_maskz_loadu_ps(rows, dst));
        _mm512_mask_storeu_ps(dst, rows, v);
    }
}

template <class P>
void run_panels(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
                int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const size_t w_row = *row_bytes(weight_type, n_cols);
    const size_t x_row = *row_bytes(activation_type(weight_type), n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(xq);
    // Units are blocks of 32 (or super-blocks of 256); unit byte offsets are unit_index * unit bytes.
    const size_t w_unit = w_row / static_cast<size_t>(n_cols / P::unit);
    const size_t x_unit = x_row / static_cast<size_t>(n_cols / P::unit);
    constexpr int64_t units_per_chunk = k_panel_cols / P::unit;
    const int64_t n_units = n_cols / P::unit;

    alignas(64) Panel panel;
    alignas(64) PanelActs acts;
    alignas(64) uint8_t codes[k_panel_rows][k_panel_cols];

    for (int64_t tb = 0; tb < n_tokens; tb += k_panel_token_block) {
        const int ntb = static_cast<int>(min_i64(k_panel_token_block, n_tokens - tb));
        for (int64_t u0 = 0; u0 < n_units; u0 += units_per_chunk) {
            const int64_t nu = min_i64(units_per_chunk, n_units - u0);
            const int64_t chunk_cols = nu * P::unit;
            const bool first_chunk = u0 == 0;
            for (int t = 0; t < ntb; ++t) P::unpack_acts(xb + static_cast<size_t>(tb + t) * x_row, u0, nu, t, acts);
            for (int64_t r0 = row_begin; r0 < row_end; r0 += k_panel_rows) {
                const int nr = static_cast<int>(min_i64(k_panel_rows, row_end - r0));
                for (int r = 0; r < k_panel_rows; ++r) {
                    if (r < nr) {
                        P::unpack_row(wb + static_cast<size_t>(r0 + r) * w_row, u0, nu, r, codes, panel);
                    } else {  // missing rows: zero codes and scales give exact zeros, never stored
                        std::memset(codes[r], 0, static_cast<size_t>(chunk_cols));
                        for (int64_t i = 0; i < k_panel_cols / 16; ++i) panel.scale[i][r] = panel.extra[i][r] = 0.0f;
                    }
                }
                // The transpose works in groups of 64 columns; pad a 32-column tail with zeros.
                const int64_t padded = (chunk_cols + 63) / 64 * 64;
                if (padded != chunk_cols)
                    for (int r = 0; r < k_panel_rows; ++r)
                        std::memset(&codes[r][chunk_cols], 0, static_cast<size_t>(padded - chunk_cols));
                transpose_codes(codes, padded, panel);
                const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1);
                for (int t = 0; t < ntb; t += k_panel_tile) {
                    const int nt =
                        min_i64(k_panel_tile, ntb - t) > 0 ? static_cast<int>(min_i64(k_panel_tile, ntb - t)) : 0;
                    const uint8_t* x[k_panel_tile];
                    for (int i = 0; i < nt; ++i)
                        x[i] = xb + static_cast<size_t>(tb + t + i) * x_row + static_cast<size_t>(u0) * x_unit;
                    float* yt = y + (tb + t) * y_stride + r0;
                    switch (nt) {
                        case 1:
                            panel_tile<P, 1>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 2:
                            panel_tile<P, 2>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 3:
                            panel_tile<P, 3>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 4:
                            panel_tile<P, 4>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 5:
                            panel_tile<P, 5>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 6:
                            panel_tile<P, 6>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        case 7:
                            panel_tile<P, 7>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                        default:
                            panel_tile<P, 8>(panel, acts, t, x, nu, yt, y_stride, rows, first_chunk);
                            break;
                    }
                }
            }
        }
    }
    (void)w_unit;
}

// =========================================================================================================
// Driver: chunks of columns, tiles of tokens, rows in groups of 4.
// =========================================================================================================

template <class K, int R, int T>
void tile(const uint8_t* w, size_t w_row, int64_t row, int64_t first_step, int64_t n_full, int tail,
          const uint8_t* const* pk, float* y, int64_t y_stride, bool first_chunk) {
    const uint8_t* wr[R];
    ENCLAVE_UNROLL
    for (int r = 0; r < R; ++r) wr[r] = w + static_cast<size_t>(row + r) * w_row + first_step * K::step_bytes;
    float out[R][T];
    K::template compute<R, T>(wr, pk, n_full, tail, out);
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) ENCLAVE_UNROLL
    for (int r = 0; r < R; ++r) {
        float* dst = y + t * y_stride + row + r;
        *dst = first_chunk ? out[r][t] : *dst + out[r][t];
    }
}

// Decode streams each weight byte once, from L3 or DRAM: small matrices are over before the hardware
// prefetchers ramp up, so the rows k_prefetch_rows ahead are requested explicitly.
constexpr int64_t k_prefetch_rows = 8;

// Prefetches the chunk's bytes (first_step .. + n_bytes) of rows [r0, r1).
inline void prefetch_rows(const uint8_t* w, size_t w_row, int64_t r0, int64_t r1, size_t offset, size_t n_bytes) {
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* p = w + static_cast<size_t>(r) * w_row + offset;
        for (size_t b = 0; b < n_bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T0);
    }
}

template <class K, int T>
void sweep_rows(const uint8_t* w, size_t w_row, int64_t row_begin, int64_t row_end, int64_t first_step, int64_t n_full,
                int tail, const uint8_t* const* pk, float* y, int64_t y_stride, bool first_chunk) {
    int64_t r = row_begin;
    const size_t offset = static_cast<size_t>(first_step) * K::step_bytes;
    const size_t n_bytes = static_cast<size_t>(n_full + (tail > 0 ? 1 : 0)) * K::step_bytes;
    constexpr bool prefetch = T == 1;
    if constexpr (prefetch)
        prefetch_rows(w, w_row, r, r + k_prefetch_rows < row_end ? r + k_prefetch_rows : row_end, offset, n_bytes);
    for (; r + k_tile_rows <= row_end; r += k_tile_rows) {
        if constexpr (prefetch) {
            const int64_t p0 = r + k_prefetch_rows, p1 = p0 + k_tile_rows;
            if (p0 < row_end) prefetch_rows(w, w_row, p0, p1 < row_end ? p1 : row_end, offset, n_bytes);
        }
        tile<K, k_tile_rows, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
    }
    switch (row_end - r) {
        case 3:
            tile<K, 3, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
            break;
        case 2:
            tile<K, 2, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
            break;
        case 1:
            tile<K, 1, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
            break;
        default:
            break;
    }
}

template <class K>
void run(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
         int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const size_t w_row = *row_bytes(weight_type, n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    run_row_kernel<K, k_tile_tokens, k_chunk_cols>(
        weight_type, xq, n_cols, n_tokens, y, y_stride,
        [&](auto nt, int64_t s0, int64_t n_full, int tail, const uint8_t* const* pk, float* yt, bool first) {
            sweep_rows<K, decltype(nt)::value>(wb, w_row, row_begin, row_end, s0, n_full, tail, pk, yt, y_stride, first);
        });
}

}  // namespace

void matmul_rows_avx512(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                        float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    const auto go = [&](auto kernel) {
        run<decltype(kernel)>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const auto panels = [&](auto kernel) {
        run_panels<decltype(kernel)>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const bool many = n_tokens >= k_panel_min_tokens;
    switch (weight_type) {
        case TensorType::Q4_0:
            many ? panels(PanelB32<TensorType::Q4_0>{}) : go(KernelQ4_0{});
            break;
        case TensorType::Q4_1:
            many ? run_panels_q4_1(w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end) : go(KernelQ4_1{});
            break;
        case TensorType::Q8_0:
            many ? panels(PanelB32<TensorType::Q8_0>{}) : go(KernelQ8_0{});
            break;
        case TensorType::Q4_K:
            many ? panels(PanelK<KernelQ4_K, 32>{}) : go(KernelK<KernelQ4_K>{});
            break;
        case TensorType::Q5_K:
            many ? panels(PanelK<KernelQ5_K, 32>{}) : go(KernelK<KernelQ5_K>{});
            break;
        case TensorType::Q6_K:
            many ? panels(PanelK<KernelQ6_K, 16>{}) : go(KernelK<KernelQ6_K>{});
            break;
        case TensorType::F16:
            go(KernelFloat<TensorType::F16>{});
            break;
        case TensorType::BF16:
            go(KernelFloat<TensorType::BF16>{});
            break;
        case TensorType::F32:
            go(KernelFloat<TensorType::F32>{});
            break;
        case TensorType::Q8_1:
        case TensorType::Q8_K:
        case TensorType::I32:
            break;  // not weight types, refused by the dispatcher
    }
}

}  // namespace enclave::kernels::detail
