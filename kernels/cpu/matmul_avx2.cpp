// AVX2 (+FMA, F16C) matrix products, compiled for that ISA only (kernels/CMakeLists.txt) and reached
// through matmul.cpp after detection. Same two kernel families as matmul_avx512.cpp, with 256-bit registers:
//   - few tokens: repack a tile of tokens' activations once per column chunk, sweep the rows with a
//     rows x tokens micro-kernel that unpacks each weight step once and reuses it for every token;
//     16 registers allow 2 rows x 4 tokens or 4 rows x 1 token (decode, with prefetch); the K-quants scale
//     their sub-blocks in int16/int32 like ggml's AVX2 code, one row at a time;
//   - many tokens: the panel GEMM with 8 weight rows in the lanes (Q4_0, Q4_1 and the K-quants).
//   - without vpdpbusd the int8 products are vpmaddubsw (u8 x s8 -> s16 pairs) + vpmaddwd (-> s32).
// Only intrinsics and functions with internal linkage are used here (see matmul_avx512.cpp for why).
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "enclave/kernels/cpu_matmul.h"  // defines: activation_type
#include "enclave/kernels/quant.h"       // defines: block layouts
#include "matmul_impl.h"
#include "matmul_row_driver.h"

namespace enclave::kernels::detail {
namespace {

// The per-step lambdas must be inlined into their loops (see matmul_avx512.cpp).
#define ENCLAVE_INLINE __attribute__((always_inline))
// Loops over the rows and tokens of a tile must be unrolled so the accumulators stay in registers
// (indexed by a run-time counter they would live on the stack).
#define ENCLAVE_UNROLL _Pragma("GCC unroll 16")

constexpr int k_tile_tokens = 4;
constexpr int64_t k_chunk_cols = 2048;

inline int64_t min_i64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
inline float half_to_float(uint16_t h) {
    return _cvtsh_ss(h);
}

inline float hsum8(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// Copies n bytes (0..32) into a zero-filled register without reading past p + n.
inline __m256i load_bytes32(const uint8_t* p, int n) {
    if (n >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    alignas(32) uint8_t tmp[32] = {};
    if (n > 0) std::memcpy(tmp, p, static_cast<size_t>(n));
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
}

inline __m256i sum_pairs_i16(__m256i v) {
    return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

// =========================================================================================================
// Q4_1 x Q8_1 and Q4_0 x Q8_0: a step is 2 blocks. The 16 nibble bytes of both blocks form one register;
// its low nibbles are values 0..15 of each block, its high nibbles values 16..31, so lanes 0..3 of a dot
// product belong to the first block and 4..7 to the second. Repacked step (128 bytes):
//   [0, 32) low-half activation bytes [b0 | b1]   [32, 64) high-half bytes
//   [64, 96) d_x per lane (float)                 [96, 128) Q4_1: s_x in lanes 0 and 4, else 0 (float)
//                                                            Q4_0: -8 * sum(q_x) in lanes 0 and 4 (int32)
// =========================================================================================================

template <bool q4_1>
struct KernelQ4 {
    static constexpr int64_t step_elems = 64;
    static constexpr int64_t block_elems = 32;
    static constexpr size_t w_block = q4_1 ? sizeof(block_q4_1) : sizeof(block_q4_0);
    static constexpr size_t step_bytes = 2 * w_block;
    static constexpr size_t pack_bytes = 128;
    static constexpr int tile_rows_prefill = 2;

    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const size_t x_block = q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
        const int64_t n_blocks = n_cols / 32;
        for (int64_t s = 0; s < n_steps; ++s) {
            uint8_t* p = dst + s * 128;
            float* dx = reinterpret_cast<float*>(p + 64);     // [8]
            float* extra = reinterpret_cast<float*>(p + 96);  // [8]
            int32_t* corr = reinterpret_cast<int32_t*>(p + 96);
            std::memset(p, 0, 128);
            ENCLAVE_UNROLL
            for (int k = 0; k < 2; ++k) {
                const int64_t b = (first_step + s) * 2 + k;
                if (b >= n_blocks) continue;
                const uint8_t* blk = x_row + static_cast<size_t>(b) * x_block;
                const int8_t* qs = reinterpret_cast<const int8_t*>(blk + (q4_1 ? 4 : 2));
                std::memcpy(p + 16 * k, qs, 16);
                std::memcpy(p + 32 + 16 * k, qs + 16, 16);
                uint16_t bits;
                std::memcpy(&bits, blk, 2);
                const float d = half_to_float(bits);
                ENCLAVE_UNROLL
                for (int i = 0; i < 4; ++i) dx[4 * k + i] = d;
                if constexpr (q4_1) {
                    std::memcpy(&bits, blk + 2, 2);
                    extra[4 * k] = half_to_float(bits);
                } else {
                    int32_t sum = 0;
                    for (int j = 0; j < 32; ++j) sum += qs[j];
                    corr[4 * k] = -8 * sum;
                }
            }
        }
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_blocks,
                        float (&out)[R][T]) {
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        const __m256i idx_d = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);
        const __m256i idx_m = _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3);
        constexpr int qs_off = q4_1 ? 4 : 2;
        __m256 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();

        auto step = [&](int64_t s, int n_blocks) ENCLAVE_INLINE {
            const uint8_t* ps[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) ps[t] = pk[t] + s * 128;
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w[r] + s * step_bytes;
                __m256i nib;
                uint32_t h0 = 0, h1 = 0;  // d (and m) of the two blocks as fp16 bits
                if (n_blocks == 2) {
                    nib = _mm256_inserti128_si256(
                        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qs_off))),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + w_block + qs_off)), 1);
                    std::memcpy(&h0, p, q4_1 ? 4 : 2);
                    std::memcpy(&h1, p + w_block, q4_1 ? 4 : 2);
                } else {  // tail: one block, the second reads as zero
                    nib = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qs_off)));
                    nib = _mm256_inserti128_si256(nib, _mm_setzero_si128(), 1);
                    std::memcpy(&h0, p, q4_1 ? 4 : 2);
                }
                const __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32(static_cast<int>(h0), static_cast<int>(h1), 0, 0));
                const __m256 dw = _mm256_permutevar8x32_ps(dm, idx_d);
                const __m256i lo = _mm256_and_si256(nib, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(nib, 4), low4);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    // Both halves stay within +-2*15*127 per int16 lane, so adding them cannot overflow.
                    const __m256i p16 = _mm256_add_epi16(
                        _mm256_maddubs_epi16(lo, _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t]))),
                        _mm256_maddubs_epi16(hi, _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t] + 32))));
                    __m256i isum = sum_pairs_i16(p16);
                    if constexpr (!q4_1)
                        isum = _mm256_add_epi32(isum, _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t] + 96)));
                    const __m256 scale = _mm256_mul_ps(dw, _mm256_load_ps(reinterpret_cast<const float*>(ps[t] + 64)));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[r][t]);
                    if constexpr (q4_1) {
                        const __m256 mw = _mm256_permutevar8x32_ps(dm, idx_m);
                        acc[r][t] =
                            _mm256_fmadd_ps(mw, _mm256_load_ps(reinterpret_cast<const float*>(ps[t] + 96)), acc[r][t]);
                    }
                }
            }
        };
        for (int64_t s = 0; s < n_full; ++s) step(s, 2);
        if (tail_blocks > 0) step(n_full, tail_blocks);
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) out[r][t] = hsum8(acc[r][t]);
    }
};

// =========================================================================================================
// Q8_0 x Q8_0: a step is one block. vpmaddubsw needs one unsigned operand, so as ggml does the weight's
// sign moves onto the activation: |w| * (sign(w) * x). Repacked step (64 bytes): the 32 activation bytes
// and d_x broadcast.
// =========================================================================================================

struct KernelQ8_0 {
    static constexpr int64_t step_elems = 32;
    static constexpr int64_t block_elems = 32;
    static constexpr size_t step_bytes = sizeof(block_q8_0);
    static constexpr size_t pack_bytes = 64;
    static constexpr int tile_rows_prefill = 2;

    static void pack(const uint8_t* x_row, int64_t, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const auto* xb = reinterpret_cast<const block_q8_0*>(x_row);
        for (int64_t s = 0; s < n_steps; ++s) {
            uint8_t* p = dst + s * 64;
            std::memcpy(p, xb[first_step + s].qs, 32);
            const float d = half_to_float(xb[first_step + s].d);
            float* dx = reinterpret_cast<float*>(p + 32);
            for (int i = 0; i < 8; ++i) dx[i] = d;
        }
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int, float (&out)[R][T]) {
        __m256 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        for (int64_t s = 0; s < n_full; ++s) {
            const uint8_t* ps[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) ps[t] = pk[t] + s * 64;
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const auto* blk = reinterpret_cast<const block_q8_0*>(w[r] + s * step_bytes);
                const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
                const __m256i abs_q = _mm256_sign_epi8(q, q);
                const __m256 dw = _mm256_set1_ps(half_to_float(blk->d));
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t]));
                    const __m256i isum = sum_pairs_i16(_mm256_maddubs_epi16(abs_q, _mm256_sign_epi8(x, q)));
                    const __m256 scale = _mm256_mul_ps(dw, _mm256_load_ps(reinterpret_cast<const float*>(ps[t] + 32)));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[r][t]);
                }
            }
        }
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) out[r][t] = hsum8(acc[r][t]);
    }
};

// =========================================================================================================
// K-quants x Q8_K, one super-block per step, one row at a time (the unpacked super-block and per-token
// integer sums fill the register file). Per 32 values: vpmaddubsw, then vpmaddwd by the sub-block scale
// (int16), summed exactly in int32 per super-block; d * d_x scales the sum once. The bsums term (mins, or
// Q6_K's -32 offset) is an int16 dot product as in matmul_avx512.cpp. Repacked super-block (320 bytes):
//   [0, 256) activation bytes in natural order   [256, 288) d_x broadcast   [288, 320) bsums
// =========================================================================================================

// One 32-value slice of a super-block: 32 unsigned values and the scales of its halves (16 values each).
struct SliceK {
    __m256i q;
    __m256i scale;  // int16 per pair lane
};

inline void unpack_k4_scales(const uint8_t* q, uint8_t* sc, uint8_t* m) {
    uint32_t a, b, c;
    std::memcpy(&a, q, 4);
    std::memcpy(&b, q + 4, 4);
    std::memcpy(&c, q + 8, 4);
    const uint32_t s[2] = {a & 0x3f3f3f3fu, (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4)};
    const uint32_t mm[2] = {b & 0x3f3f3f3fu, ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4)};
    std::memcpy(sc, s, 8);
    std::memcpy(m, mm, 8);
}

struct KernelKBase {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t pack_bytes = 320;
    static constexpr int tile_rows_prefill = 1;

    static void pack(const uint8_t* x_row, int64_t, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const auto* xb = reinterpret_cast<const block_q8_K*>(x_row);
        for (int64_t s = 0; s < n_steps; ++s) {
            const block_q8_K& b = xb[first_step + s];
            uint8_t* p = dst + s * 320;
            std::memcpy(p, b.qs, 256);
            float* dx = reinterpret_cast<float*>(p + 256);
            for (int i = 0; i < 8; ++i) dx[i] = b.d;
            std::memcpy(p + 288, b.bsums, 32);
        }
    }
};

// Q4_K / Q5_K: slice j = values [32j, 32j+32) = sub-block j. Q6_K: slice j holds sub-blocks 2j, 2j+1.
template <class Q>
struct KernelK : KernelKBase {
    static constexpr size_t step_bytes = Q::step_bytes;

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int, float (&out)[R][T]) {
        static_assert(R == 1, "K-quant tiles are one row");
        __m256 acc[T];
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
        for (int64_t s = 0; s < n_full; ++s) {
            const uint8_t* ps[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) ps[t] = pk[t] + s * 320;
            const uint8_t* blk = w[0] + s * step_bytes;
            typename Q::Header h;
            Q::header(blk, h);
            __m256i isum[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
            for (int j = 0; j < 8; j += 2) {
                SliceK a, b;
                Q::slices(blk, h, j, a, b);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    const __m256i xa = _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t] + 32 * j));
                    const __m256i xb = _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t] + 32 * j + 32));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(a.q, xa), a.scale));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(b.q, xb), b.scale));
                }
            }
            const __m256 d = _mm256_set1_ps(h.d);
            const __m256 neg_dmin = _mm256_set1_ps(-h.dmin);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                const __m256 dx = _mm256_load_ps(reinterpret_cast<const float*>(ps[t] + 256));
                const __m256i bsums = _mm256_load_si256(reinterpret_cast<const __m256i*>(ps[t] + 288));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[t]);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(h.coef, bsums)),
                                         _mm256_mul_ps(neg_dmin, dx), acc[t]);
            }
        }
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) out[0][t] = hsum8(acc[t]);
    }
};

struct Q45Header {
    uint8_t sc[8];
    __m256i coef;  // int16 x16 multiplying the bsums: m0 m0 m1 m1 ... m7 m7
    float d, dmin;
};

inline void q45_header(const uint8_t* scales, uint16_t d, uint16_t dmin, Q45Header& h) {
    uint8_t m[8];
    unpack_k4_scales(scales, h.sc, m);
    uint64_t m64;
    std::memcpy(&m64, m, 8);
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(m64));
    h.coef = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    h.d = half_to_float(d);
    h.dmin = half_to_float(dmin);
}

struct KernelQ4_K {
    static constexpr size_t step_bytes = sizeof(block_q4_K);
    using Header = Q45Header;
    static void header(const uint8_t* p, Header& h) {
        const auto* blk = reinterpret_cast<const block_q4_K*>(p);
        q45_header(blk->scales, blk->d, blk->dmin, h);
    }
    // Sub-blocks j (low nibbles of qs[16j .. 16j+32)) and j+1 (their high nibbles), j even.
    static void slices(const uint8_t* p, const Header& h, int j, SliceK& a, SliceK& b) {
        const auto* blk = reinterpret_cast<const block_q4_K*>(p);
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 16 * j));
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        a.q = _mm256_and_si256(q, low4);
        b.q = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        a.scale = _mm256_set1_epi16(h.sc[j]);
        b.scale = _mm256_set1_epi16(h.sc[j + 1]);
    }
};

struct KernelQ5_K {
    static constexpr size_t step_bytes = sizeof(block_q5_K);
    using Header = Q45Header;
    static void header(const uint8_t* p, Header& h) {
        const auto* blk = reinterpret_cast<const block_q5_K*>(p);
        q45_header(blk->scales, blk->d, blk->dmin, h);
    }
    static void slices(const uint8_t* p, const Header& h, int j, SliceK& a, SliceK& b) {
        const auto* blk = reinterpret_cast<const block_q5_K*>(p);
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 16 * j));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh));
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        const __m256i bit = _mm256_set1_epi8(0x01);
        // qh[l] bit j: fifth bit of sub-block j's value l.
        const __m128i cnt_a = _mm_cvtsi32_si128(j);
        const __m128i cnt_b = _mm_cvtsi32_si128(j + 1);
        const __m256i ha = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, cnt_a), bit), 4);
        const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, cnt_b), bit), 4);
        a.q = _mm256_or_si256(_mm256_and_si256(q, low4), ha);
        b.q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), hb);
        a.scale = _mm256_set1_epi16(h.sc[j]);
        b.scale = _mm256_set1_epi16(h.sc[j + 1]);
    }
};

struct KernelQ6_K {
    static constexpr size_t step_bytes = sizeof(block_q6_K);
    struct Header {
        __m256i coef;  // the 16 scales as int16, multiplying the bsums
        float d, dmin;
    };
    static void header(const uint8_t* p, Header& h) {
        const auto* blk = reinterpret_cast<const block_q6_K*>(p);
        h.coef = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales)));
        h.d = half_to_float(blk->d);
        h.dmin = 32.0f * h.d;  // values are stored + 32
    }
    // Slices j and j+1 (j even) = values [32j, 32j+64) = one quarter c = j/2 of a 128-value half.
    static void slices(const uint8_t* p, const Header&, int j, SliceK& a, SliceK& b) {
        const auto* blk = reinterpret_cast<const block_q6_K*>(p);
        const int half = j / 4;           // 128-value half
        const int quarter = (j / 2) % 2;  // 0: values 0..63 of the half, 1: 64..127
        const uint8_t* ql = blk->ql + 64 * half;
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * half));
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        const __m256i two = _mm256_set1_epi8(0x03);
        // Value l of the half: ql[l] low nibble + qh bits 0-1; value 32+l: ql[32+l] low + bits 2-3;
        // value 64+l: ql[l] high + bits 4-5; value 96+l: ql[32+l] high + bits 6-7.
        const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
        const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
        const int sh = 4 * quarter;
        const __m256i n0 = quarter ? _mm256_and_si256(_mm256_srli_epi16(q0, 4), low4) : _mm256_and_si256(q0, low4);
        const __m256i n1 = quarter ? _mm256_and_si256(_mm256_srli_epi16(q1, 4), low4) : _mm256_and_si256(q1, low4);
        const __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(sh)), two);
        const __m256i h1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(sh + 2)), two);
        a.q = _mm256_or_si256(n0, _mm256_slli_epi16(h0, 4));
        b.q = _mm256_or_si256(n1, _mm256_slli_epi16(h1, 4));
        // 16 values per scale: the low 128 bits of a slice use one scale, the high 128 bits the next.
        const int sc0 = 4 * (j / 2);  // first scale of value 32j
        a.scale = _mm256_setr_m128i(_mm_set1_epi16(blk->scales[sc0]), _mm_set1_epi16(blk->scales[sc0 + 1]));
        b.scale = _mm256_setr_m128i(_mm_set1_epi16(blk->scales[sc0 + 2]), _mm_set1_epi16(blk->scales[sc0 + 3]));
    }
};

// =========================================================================================================
// F16 / BF16 / F32: a step is 8 values; activations widened to float once in the repack.
// =========================================================================================================

template <TensorType type>
struct KernelFloat {
    static constexpr int64_t step_elems = 8;
    static constexpr int64_t block_elems = 1;
    static constexpr size_t elem_bytes = type == TensorType::F32 ? 4 : 2;
    static constexpr size_t step_bytes = 8 * elem_bytes;
    static constexpr size_t pack_bytes = 32;
    static constexpr int tile_rows_prefill = 2;

    static __m256 widen(const uint8_t* p, int n) {
        if constexpr (type == TensorType::F32) {
            if (n >= 8) return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
            alignas(32) float tmp[8] = {};
            std::memcpy(tmp, p, static_cast<size_t>(n) * 4);
            return _mm256_load_ps(tmp);
        } else {
            __m128i h;
            if (n >= 8) {
                h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            } else {
                alignas(16) uint16_t tmp[8] = {};
                std::memcpy(tmp, p, static_cast<size_t>(n) * 2);
                h = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
            }
            if constexpr (type == TensorType::F16) return _mm256_cvtph_ps(h);
            return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        }
    }

    static void pack(const uint8_t* x_row, int64_t n_cols, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        for (int64_t s = 0; s < n_steps; ++s) {
            const int64_t c0 = (first_step + s) * 8;
            const int n = static_cast<int>(min_i64(8, n_cols - c0));
            _mm256_store_ps(reinterpret_cast<float*>(dst + s * 32), widen(x_row + c0 * elem_bytes, n));
        }
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int tail_elems,
                        float (&out)[R][T]) {
        __m256 acc[R][T];
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        auto step = [&](int64_t s, int n) ENCLAVE_INLINE {
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m256 wv = widen(w[r] + s * step_bytes, n);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t)
                    acc[r][t] =
                        _mm256_fmadd_ps(wv, _mm256_load_ps(reinterpret_cast<const float*>(pk[t] + s * 32)), acc[r][t]);
            }
        };
        for (int64_t s = 0; s < n_full; ++s) step(s, 8);
        if (tail_elems > 0) step(n_full, tail_elems);
        ENCLAVE_UNROLL
        for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) out[r][t] = hsum8(acc[r][t]);
    }
};

// =========================================================================================================
// Panel GEMM for many tokens (prefill), as in matmul_avx512.cpp but 8 rows per 256-bit register: the
// codes of 8 rows x 4 columns form one register, each activation dword is broadcast from memory, and
// vpmaddubsw products are summed in int16 for as many column groups as cannot overflow (codes up to 15:
// 8 groups, 31: 4, 63: 2: 2 * code * 127 per product pair) before one vpmaddwd widens them to int32, by 1
// or by the sub-block scale. Q8_0's codes reach 255 and would saturate vpmaddubsw; it keeps the kernel
// above.
// =========================================================================================================

constexpr int k_panel_rows = 8;
constexpr int64_t k_panel_cols = 512;
constexpr int k_panel_token_block = 64;
constexpr int64_t k_panel_min_tokens = 6;

struct Panel {
    alignas(32) uint8_t q[k_panel_cols / 4][32];      // [column group][row * 4 + j]
    alignas(32) float scale[k_panel_cols / 16][8];    // [block][row]: d; K-quants [super-block][row]: d
    alignas(32) int16_t sc16[k_panel_cols / 16][16];  // K-quants [sub-block][2 row + i]: sub-block scale
    alignas(32) float extra[k_panel_cols / 16][8];    // Q4_1 [block][row] m; K-quants [slot][row] -dmin * min
};

struct PanelActs {
    alignas(32) float dx[k_panel_token_block][k_panel_cols / 32];      // [token][block or super-block]
    alignas(32) float extra[k_panel_token_block][k_panel_cols / 16];   // [token][block or bsums slot]
    alignas(32) int32_t corr[k_panel_token_block][k_panel_cols / 32];  // [token][block]: -8 * sum(q_x)
};

// 8 x 8 transpose of 32-bit elements: out[c] lane r = in[r] lane c.
ENCLAVE_INLINE inline void transpose8(__m256i (&m)[8]) {
    __m256i t[8], u[8];
    ENCLAVE_UNROLL
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_epi32(m[2 * i], m[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(m[2 * i], m[2 * i + 1]);
    }
    ENCLAVE_UNROLL
    for (int g = 0; g < 2; ++g) {  // u[4g + i], 128-bit lane L: column 4L + i of rows 4g..4g+3
        u[4 * g + 0] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    ENCLAVE_UNROLL
    for (int i = 0; i < 4; ++i) {
        m[i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x20);
        m[4 + i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x31);
    }
}

void transpose_codes(const uint8_t (&codes)[k_panel_rows][k_panel_cols], int64_t n_cols, Panel& panel) {
    for (int64_t c = 0; c < n_cols; c += 32) {
        __m256i m[8];
        ENCLAVE_UNROLL
        for (int r = 0; r < 8; ++r) m[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&codes[r][c]));
        transpose8(m);
        ENCLAVE_UNROLL
        for (int i = 0; i < 8; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(panel.q[c / 4 + i]), m[i]);
    }
}

inline int32_t broadcast_bytes(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

template <bool q4_1>
struct PanelQ4 {
    static constexpr int64_t unit = 32;
    static constexpr int tile_tokens = 6;  // 6 int16 + 6 float accumulators
    static constexpr size_t w_block = q4_1 ? sizeof(block_q4_1) : sizeof(block_q4_0);
    static constexpr size_t x_block = q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    static constexpr int qs = q4_1 ? 4 : 2;

    static void unpack_row(const uint8_t* w_row, int64_t b0, int64_t nb, int r,
                           uint8_t (&codes)[k_panel_rows][k_panel_cols], Panel& panel) {
        const __m128i low4 = _mm_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = w_row + static_cast<size_t>(b0 + b) * w_block;
            uint16_t bits;
            std::memcpy(&bits, blk, 2);
            panel.scale[b][r] = half_to_float(bits);
            if constexpr (q4_1) {
                std::memcpy(&bits, blk + 2, 2);
                panel.extra[b][r] = half_to_float(bits);
            }
            const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + qs));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(&codes[r][32 * b]), _mm_and_si128(q, low4));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(&codes[r][32 * b + 16]),
                             _mm_and_si128(_mm_srli_epi16(q, 4), low4));
        }
    }

    static void unpack_acts(const uint8_t* x_row, int64_t b0, int64_t nb, int t, PanelActs& acts) {
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = x_row + static_cast<size_t>(b0 + b) * x_block;
            uint16_t bits;
            std::memcpy(&bits, blk, 2);
            acts.dx[t][b] = half_to_float(bits);
            if constexpr (q4_1) {
                std::memcpy(&bits, blk + 2, 2);
                acts.extra[t][b] = half_to_float(bits);
            } else {
                int32_t sum = 0;
                for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(blk[2 + j]);
                acts.corr[t][b] = -8 * sum;
            }
        }
    }

    template <int T>
    ENCLAVE_INLINE static void tile(const Panel& panel, const PanelActs& acts, int t0, const uint8_t* const* x,
                                    int64_t nb, __m256 (&acc)[T]) {
        const __m256i ones = _mm256_set1_epi16(1);
        for (int64_t b = 0; b < nb; ++b) {
            __m256i p16[T];
            ENCLAVE_UNROLL
            for (int g = 0; g < 8; ++g) {
                const __m256i wq = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel.q[8 * b + g]));
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) {
                    const __m256i xd = _mm256_set1_epi32(broadcast_bytes(x[t] + b * x_block + qs + 4 * g));
                    const __m256i p = _mm256_maddubs_epi16(wq, xd);
                    p16[t] = g == 0 ? p : _mm256_add_epi16(p16[t], p);
                }
            }
            const __m256 dw = _mm256_load_ps(panel.scale[b]);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                __m256i isum = _mm256_madd_epi16(p16[t], ones);
                if constexpr (!q4_1) isum = _mm256_add_epi32(isum, _mm256_set1_epi32(acts.corr[t0 + t][b]));
                const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(acts.dx[t0 + t][b]));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
                if constexpr (q4_1)
                    acc[t] =
                        _mm256_fmadd_ps(_mm256_load_ps(panel.extra[b]), _mm256_set1_ps(acts.extra[t0 + t][b]), acc[t]);
            }
        }
    }
};

// K-quants: Q is the row kernel's type (its slices give the codes in column order), sub the sub-block
// size, g16 the column groups vpmaddubsw products may be summed over in int16.
template <class Q, int sub, int g16>
struct PanelK {
    static constexpr int64_t unit = 256;
    static constexpr int tile_tokens = 4;  // 4 int16 + 4 int32 + 4 float accumulators
    static constexpr int n_sub = 256 / sub;
    static constexpr int n_slots = sub == 32 ? 8 : 16;

    static void unpack_row(const uint8_t* w_row, int64_t s0, int64_t ns, int r,
                           uint8_t (&codes)[k_panel_rows][k_panel_cols], Panel& panel) {
        for (int64_t s = 0; s < ns; ++s) {
            const uint8_t* blk = w_row + static_cast<size_t>(s0 + s) * Q::step_bytes;
            typename Q::Header h;
            Q::header(blk, h);
            for (int j = 0; j < 8; j += 2) {
                SliceK a, b;
                Q::slices(blk, h, j, a, b);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(&codes[r][256 * s + 32 * j]), a.q);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(&codes[r][256 * s + 32 * j + 32]), b.q);
            }
            panel.scale[s][r] = h.d;
            int16_t* sc = &panel.sc16[s * n_sub][0];
            float* ex = &panel.extra[s * n_slots][0];
            if constexpr (sub == 32) {
                uint8_t scales[8], mins[8];
                unpack_k4_scales(blk + 4, scales, mins);
                for (int j = 0; j < 8; ++j) {
                    sc[16 * j + 2 * r] = sc[16 * j + 2 * r + 1] = scales[j];
                    ex[8 * j + r] = -h.dmin * static_cast<float>(mins[j]);
                }
            } else {
                const auto* q6 = reinterpret_cast<const block_q6_K*>(blk);
                for (int j = 0; j < 16; ++j) {
                    sc[16 * j + 2 * r] = sc[16 * j + 2 * r + 1] = q6->scales[j];
                    ex[8 * j + r] = -h.dmin * static_cast<float>(q6->scales[j]);  // dmin = 32 d
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
                                    int64_t ns, __m256 (&acc)[T]) {
        for (int64_t s = 0; s < ns; ++s) {
            __m256i isum[T];
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
            for (int j = 0; j < n_sub; ++j) {
                const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel.sc16[s * n_sub + j]));
                ENCLAVE_UNROLL
                for (int h = 0; h < sub / 4; h += g16) {
                    __m256i p16[T];
                    ENCLAVE_UNROLL
                    for (int g = 0; g < g16; ++g) {
                        const int64_t col = 256 * s + sub * j + 4 * (h + g);
                        const __m256i wq = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel.q[col / 4]));
                        ENCLAVE_UNROLL
                        for (int t = 0; t < T; ++t) {
                            const __m256i xd = _mm256_set1_epi32(broadcast_bytes(
                                x[t] + static_cast<size_t>(s) * sizeof(block_q8_K) + 4 + col - 256 * s));
                            const __m256i p = _mm256_maddubs_epi16(wq, xd);
                            p16[t] = g == 0 ? p : _mm256_add_epi16(p16[t], p);
                        }
                    }
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p16[t], sc));
                }
            }
            const __m256 d = _mm256_load_ps(panel.scale[s]);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]),
                                         _mm256_mul_ps(d, _mm256_set1_ps(acts.dx[t0 + t][s])), acc[t]);
                ENCLAVE_UNROLL
                for (int j = 0; j < n_slots; ++j)
                    acc[t] = _mm256_fmadd_ps(_mm256_load_ps(panel.extra[s * n_slots + j]),
                                             _mm256_set1_ps(acts.extra[t0 + t][s * n_slots + j]), acc[t]);
            }
        }
    }
};

template <class P, int T>
void panel_tile(const Panel& panel, const PanelActs& acts, int t_in_block, const uint8_t* const* x, int64_t nu,
                float* y, int64_t y_stride, int n_rows, bool first_chunk) {
    __m256 acc[T];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    P::template tile<T>(panel, acts, t_in_block, x, nu, acc);
    // Lanes past n_rows belong to rows this call does not own.
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) {
        float* dst = y + t * y_stride;
        const __m256 v = first_chunk ? acc[t] : _mm256_add_ps(acc[t], _mm256_maskload_ps(dst, mask));
        _mm256_maskstore_ps(dst, mask, v);
    }
}

template <class P>
void run_panels(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
                int64_t y_stride, int64_t row_begin, int64_t row_end) {
    const size_t w_row = *row_bytes(weight_type, n_cols);
    const size_t x_row = *row_bytes(activation_type(weight_type), n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(xq);
    const size_t x_unit = x_row / static_cast<size_t>(n_cols / P::unit);
    constexpr int64_t units_per_chunk = k_panel_cols / P::unit;
    constexpr int tt = P::tile_tokens;
    const int64_t n_units = n_cols / P::unit;

    alignas(32) Panel panel;
    alignas(32) PanelActs acts;
    alignas(32) uint8_t codes[k_panel_rows][k_panel_cols];  // [row][column]

    for (int64_t tb = 0; tb < n_tokens; tb += k_panel_token_block) {
        const int ntb = static_cast<int>(min_i64(k_panel_token_block, n_tokens - tb));
        for (int64_t u0 = 0; u0 < n_units; u0 += units_per_chunk) {
            const int64_t nu = min_i64(units_per_chunk, n_units - u0);
            const int64_t chunk_cols = nu * P::unit;
            for (int t = 0; t < ntb; ++t) P::unpack_acts(xb + static_cast<size_t>(tb + t) * x_row, u0, nu, t, acts);
            for (int64_t r0 = row_begin; r0 < row_end; r0 += k_panel_rows) {
                const int nr = static_cast<int>(min_i64(k_panel_rows, row_end - r0));
                for (int r = 0; r < k_panel_rows; ++r) {
                    if (r < nr) {
                        P::unpack_row(wb + static_cast<size_t>(r0 + r) * w_row, u0, nu, r, codes, panel);
                    } else {  // missing rows: zero codes and scales give exact zeros, never stored
                        std::memset(codes[r], 0, static_cast<size_t>(chunk_cols));
                        for (int64_t i = 0; i < k_panel_cols / 16; ++i) {
                            panel.scale[i][r] = panel.extra[i][r] = 0.0f;
                            panel.sc16[i][2 * r] = panel.sc16[i][2 * r + 1] = 0;
                        }
                    }
                }
                transpose_codes(codes, chunk_cols, panel);
                for (int t = 0; t < ntb; t += tt) {
                    const int nt = static_cast<int>(min_i64(tt, ntb - t));
                    const uint8_t* x[tt];
                    for (int i = 0; i < nt; ++i)
                        x[i] = xb + static_cast<size_t>(tb + t + i) * x_row + static_cast<size_t>(u0) * x_unit;
                    float* yt = y + (tb + t) * y_stride + r0;
                    const bool first = u0 == 0;
                    switch (nt) {
                        case 1:
                            panel_tile<P, 1>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                        case 2:
                            panel_tile<P, 2>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                        case 3:
                            panel_tile<P, 3>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                        case 4:
                            panel_tile<P, 4>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                        case 5:
                            if constexpr (tt >= 5) panel_tile<P, 5>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                        default:
                            if constexpr (tt >= 6) panel_tile<P, 6>(panel, acts, t, x, nu, yt, y_stride, nr, first);
                            break;
                    }
                }
            }
        }
    }
}

// =========================================================================================================
// Driver (as in matmul_avx512.cpp): chunks of columns, tiles of tokens, rows in groups.
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

constexpr int64_t k_prefetch_rows = 8;

// Prefetches the chunk's bytes (offset .. offset + n_bytes) of rows [r0, r1).
inline void prefetch_rows(const uint8_t* w, size_t w_row, int64_t r0, int64_t r1, size_t offset, size_t n_bytes) {
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* p = w + static_cast<size_t>(r) * w_row + offset;
        for (size_t b = 0; b < n_bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T0);
    }
}

template <class K, int T>
void sweep_rows(const uint8_t* w, size_t w_row, int64_t row_begin, int64_t row_end, int64_t first_step, int64_t n_full,
                int tail, const uint8_t* const* pk, float* y, int64_t y_stride, bool first_chunk) {
    // Decode keeps 4 rows in flight; with several tokens the accumulators of 2 rows fill the registers.
    // The K-quant kernels always work on one row.
    constexpr int rows = K::tile_rows_prefill == 1 ? 1 : (T == 1 ? 4 : K::tile_rows_prefill);
    // Decode streams the weights once from L3 or DRAM; request the rows k_prefetch_rows ahead (see
    // matmul_avx512.cpp).
    constexpr bool prefetch = T == 1;
    const size_t offset = static_cast<size_t>(first_step) * K::step_bytes;
    const size_t n_bytes = static_cast<size_t>(n_full + (tail > 0 ? 1 : 0)) * K::step_bytes;
    int64_t r = row_begin;
    if constexpr (prefetch)
        prefetch_rows(w, w_row, r, r + k_prefetch_rows < row_end ? r + k_prefetch_rows : row_end, offset, n_bytes);
    for (; r + rows <= row_end; r += rows) {
        if constexpr (prefetch) {
            const int64_t p0 = r + k_prefetch_rows, p1 = p0 + rows;
            if (p0 < row_end) prefetch_rows(w, w_row, p0, p1 < row_end ? p1 : row_end, offset, n_bytes);
        }
        tile<K, rows, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
    }
    if constexpr (rows > 1) {
        for (; r < row_end; ++r) tile<K, 1, T>(w, w_row, r, first_step, n_full, tail, pk, y, y_stride, first_chunk);
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

void matmul_rows_avx2(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
                      int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    const auto go = [&](auto kernel) {
        run<decltype(kernel)>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const auto panels = [&](auto kernel) {
        run_panels<decltype(kernel)>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const bool many = n_tokens >= k_panel_min_tokens;
    switch (weight_type) {
        case TensorType::Q4_0:
            many ? panels(PanelQ4<false>{}) : go(KernelQ4<false>{});
            break;
        case TensorType::Q4_1:
            many ? panels(PanelQ4<true>{}) : go(KernelQ4<true>{});
            break;
        case TensorType::Q8_0:
            go(KernelQ8_0{});
            break;
        case TensorType::Q4_K:
            many ? panels(PanelK<KernelQ4_K, 32, 8>{}) : go(KernelK<KernelQ4_K>{});
            break;
        case TensorType::Q5_K:
            many ? panels(PanelK<KernelQ5_K, 32, 4>{}) : go(KernelK<KernelQ5_K>{});
            break;
        case TensorType::Q6_K:
            many ? panels(PanelK<KernelQ6_K, 16, 2>{}) : go(KernelK<KernelQ6_K>{});
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

void quantize_row_q8_x86_avx2(TensorType act_type, const float* x, void* dst, int64_t n_cols) noexcept {
    const bool with_sum = act_type == TensorType::Q8_1;
    const size_t block_bytes = with_sum ? sizeof(block_q8_1) : sizeof(block_q8_0);
    auto* out = static_cast<uint8_t*>(dst);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n_cols / 32; ++b, x += 32, out += block_bytes) {
        __m256 v[4];
        __m256 max_abs = _mm256_setzero_ps();
        ENCLAVE_UNROLL
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            max_abs = _mm256_max_ps(max_abs, _mm256_andnot_ps(sign_bit, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(max_abs, 1), _mm256_castps256_ps128(max_abs));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.f;
        // 127 / amax rather than 1 / d: ggml's x86 code, whose results we want to match bit for bit.
        const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m256i q[4];
        ENCLAVE_UNROLL
        for (int i = 0; i < 4; ++i)
            q[i] = _mm256_cvtps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[i], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const uint16_t d_bits = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        std::memcpy(out, &d_bits, 2);
        if (with_sum) {
            const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
            s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
            const float s = d * static_cast<float>(_mm_cvtsi128_si32(s4));
            const uint16_t s_bits = static_cast<uint16_t>(_cvtss_sh(s, _MM_FROUND_TO_NEAREST_INT));
            std::memcpy(out + 2, &s_bits, 2);
        }
        // Saturating packs interleave the 128-bit halves; the permutation restores element order.
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
        const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i p8 =
            _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (with_sum ? 4 : 2)), p8);
    }
}

}  // namespace enclave::kernels::detail
