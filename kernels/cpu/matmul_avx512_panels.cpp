// AVX-512 panel GEMM: the matrix products of many tokens (prefill and large batches), reached through
// matmul_avx512.cpp's dispatcher (n_tokens >= k_panel_min_tokens; Q5_K and Q6_K from 8 tokens). Compiled for
// AVX-512 only (kernels/CMakeLists.txt); the helpers and weight-unit decoders it shares with the few-token
// kernels are in matmul_avx512_units.h.
#include "matmul_avx512_units.h"

namespace enclave::kernels::detail {
namespace {

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
// except for Q4_1 and the K-quants, whose panels follow ggml's order (run_panels_q4_1, run_panels_k).
// =========================================================================================================

constexpr int k_panel_rows = 16;
constexpr int64_t k_panel_cols = 512;  // columns per chunk: a multiple of the K-quants' 256
constexpr int k_panel_token_block = 64;
constexpr int k_panel_tile = 8;

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

    // Q4_0 / Q4_1: block b of the panel's rows straight into panel.q[8b .. 8b + 7] and the scales, without the
    // row-major codes and transpose_codes (which cost a fifth of a 32-token product). blk0: row 0's block;
    // w_row: bytes between rows; rows >= nr get zero codes and scales. Row r's 16 code bytes hold columns
    // 4g'..4g'+3 (low nibbles: group g') and 16+4g'.. (high nibbles: group g'+4) in their dword g', so
    // gathering dword g' of every row gives both groups' 64 bytes at once. Same codes and scales as
    // unpack_row + transpose_codes (half_to_float and vcvtph2ps are both the exact widening).
    static void unpack_block_rows(const uint8_t* blk0, size_t w_row, int nr, int64_t b, Panel& panel) {
        static_assert(type == TensorType::Q4_0 || type == TensorType::Q4_1);
        constexpr int qs = type == TensorType::Q4_1 ? 4 : 2;
        // a[k] 128-bit lane i: row 4k + i's 16 code bytes.
        __m512i a[4];
        ENCLAVE_UNROLL
        for (int k = 0; k < 4; ++k) {
            a[k] = _mm512_setzero_si512();
            ENCLAVE_UNROLL
            for (int i = 0; i < 4; ++i)
                if (4 * k + i < nr)
                    a[k] = _mm512_mask_broadcast_i32x4(
                        a[k], static_cast<__mmask16>(0xFu << (4 * i)),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk0 + (4 * k + i) * w_row + qs)));
        }
        // Within each a[k], dwords to [dword 0 of its 4 rows, dword 1 ..., dword 2 ..., dword 3 ...].
        const __m512i by_dword = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        ENCLAVE_UNROLL
        for (int k = 0; k < 4; ++k) a[k] = _mm512_maskz_permutexvar_epi32(0xFFFF, by_dword, a[k]);
        // 4 x 4 transpose of 128-bit lanes: g[d] = dword d of rows 0..15.
        const __m512i u0 = _mm512_maskz_shuffle_i32x4(0xFFFF, a[0], a[1], 0x44);
        const __m512i u1 = _mm512_maskz_shuffle_i32x4(0xFFFF, a[0], a[1], 0xEE);
        const __m512i u2 = _mm512_maskz_shuffle_i32x4(0xFFFF, a[2], a[3], 0x44);
        const __m512i u3 = _mm512_maskz_shuffle_i32x4(0xFFFF, a[2], a[3], 0xEE);
        const __m512i g[4] = {_mm512_maskz_shuffle_i32x4(0xFFFF, u0, u2, 0x88),
                              _mm512_maskz_shuffle_i32x4(0xFFFF, u0, u2, 0xDD),
                              _mm512_maskz_shuffle_i32x4(0xFFFF, u1, u3, 0x88),
                              _mm512_maskz_shuffle_i32x4(0xFFFF, u1, u3, 0xDD)};
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        ENCLAVE_UNROLL
        for (int d = 0; d < 4; ++d) {
            _mm512_store_si512(panel.q[8 * b + d], _mm512_and_si512(g[d], low4));
            _mm512_store_si512(panel.q[8 * b + d + 4], _mm512_and_si512(_mm512_srli_epi16(g[d], 4), low4));
        }
        // d (and m) of the 16 rows: the block's first dword, row by row.
        const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1u);
        const __m512i offsets =
            _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                               _mm512_set1_epi32(static_cast<int32_t>(w_row)));
        const __m512i dm = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, offsets, blk0, 1);
        _mm512_store_ps(panel.scale[b], _mm512_maskz_cvtph_ps(0xFFFF, _mm512_cvtepi32_epi16(dm)));
        if constexpr (type == TensorType::Q4_1)
            _mm512_store_ps(panel.extra[b],
                            _mm512_maskz_cvtph_ps(0xFFFF, _mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))));
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
    alignas(64) PanelQ4_1State st;

    for (int64_t tb = 0; tb < n_tokens; tb += k_panel_token_block) {
        const int ntb = static_cast<int>(min_i64(k_panel_token_block, n_tokens - tb));
        for (int64_t r0 = row_begin; r0 < row_end; r0 += k_panel_rows) {
            const int nr = static_cast<int>(min_i64(k_panel_rows, row_end - r0));
            std::memset(&st, 0, static_cast<size_t>(ntb) * sizeof(st.lane[0]));  // the block's tokens only
            for (int64_t b0 = 0; b0 < n_blocks; b0 += blocks_per_chunk) {
                const int64_t nb = min_i64(blocks_per_chunk, n_blocks - b0);
                for (int64_t b = 0; b < nb; ++b)
                    P::unpack_block_rows(wb + static_cast<size_t>(r0) * w_row + static_cast<size_t>(b0 + b) * P::w_block,
                                         w_row, nr, b, panel);
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

// K-quant panels in the scalar reference's order (matmul_scalar.cpp): Q4_K in llama.cpp's gemm order for
// tokens below n_tokens - n_tokens % 4 and its gemv order for the rest, Q5_K/Q6_K in the tiled order (taken
// for 8 tokens or more; fewer go to KernelK). Each sub-block's exact integer sum is scaled by its integer
// scale in int32 (exact, as in ggml), and every output's float chains (Q4_K: isum and mins; others: one)
// live in a state that runs across the column chunks, like PanelQ4_1State. Mins and Q6_K's offset terms are
// exact integers below 2^24, summed exactly in float.
struct PanelKScales {
    alignas(64) int32_t sc[k_panel_cols / 16][16];   // [sub-block][row]: integer scale
    alignas(64) float scf[k_panel_cols / 16][16];    // the same as float (Q6_K's offset)
    alignas(64) float mn[k_panel_cols / 32][16];     // [sub-block][row]: Q4_K/Q5_K min
    alignas(64) float d[k_panel_cols / 256][16];     // [super-block][row]: d_w
    alignas(64) float dmin[k_panel_cols / 256][16];  // [super-block][row]: dmin_w
};

struct PanelKState {
    alignas(64) float chain[k_panel_token_block][2][16];  // [token][isum chain, mins chain][row]
};

constexpr int k_panel_k_tile = 4;  // tokens per call: Q4_K's gemm/gemv split falls on multiples of 4

template <class Q, int sub>
void unpack_k_row(const uint8_t* w_row, int64_t s0, int64_t ns, int r, uint8_t (&codes)[k_panel_rows][k_panel_cols],
                  PanelKScales& ps) {
    constexpr int n_sub = 256 / sub;
    for (int64_t s = 0; s < ns; ++s) {
        const uint8_t* blk = w_row + static_cast<size_t>(s0 + s) * Q::step_bytes;
        UnpackedK u;
        Q::unpack(blk, u);
        uint8_t* dst = &codes[r][256 * s];
        for (int v = 0; v < 4; ++v) {
            const int lo = Q::interleaved_halves ? 128 * (v / 2) + 32 * (v % 2) : 64 * v;
            const int hi = Q::interleaved_halves ? lo + 64 : lo + 32;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + lo), _mm512_castsi512_si256(u.v[v]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + hi), _mm512_extracti64x4_epi64(u.v[v], 1));
        }
        if constexpr (sub == 32) {
            uint64_t scales, mins;
            unpack_k4_scales(blk + 4, &scales, &mins);
            for (int j = 0; j < 8; ++j) {
                const auto sc = static_cast<int32_t>((scales >> (8 * j)) & 0xFF);
                ps.sc[s * n_sub + j][r] = sc;
                ps.scf[s * n_sub + j][r] = static_cast<float>(sc);
                ps.mn[s * n_sub + j][r] = static_cast<float>((mins >> (8 * j)) & 0xFF);
            }
        } else {
            const auto* q6 = reinterpret_cast<const block_q6_K*>(blk);
            for (int j = 0; j < 16; ++j) {
                ps.sc[s * n_sub + j][r] = q6->scales[j];
                ps.scf[s * n_sub + j][r] = static_cast<float>(q6->scales[j]);
            }
        }
        ps.d[s][r] = u.d;
        ps.dmin[s][r] = sub == 32 ? u.dmin : 0.0f;
    }
}

// Q4_K's gemv order, Q5_K/Q6_K's tiled order: T tokens over the panel's ns super-blocks, state in, state out.
// x[t]: token t's row at the chunk's first super-block.
template <class Q, int sub, int T>
ENCLAVE_INLINE inline void panel_k_tokens(const Panel& panel, const PanelKScales& ps, const uint8_t* const* x,
                                          int64_t ns, float (*state)[2][16]) {
    constexpr int n_sub = 256 / sub;
    constexpr bool q4 = std::is_same_v<Q, KernelQ4_K>;
    constexpr bool q6 = sub == 16;
    __m512 acc[T], accm[T];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm512_load_ps(state[t][0]);
        accm[t] = _mm512_load_ps(state[t][1]);
    }
    for (int64_t s = 0; s < ns; ++s) {
        const block_q8_K* xb[T];
        __m512 d[T], dm[T];
        __m512i tot[T];
        // Q4_K/Q5_K: bsum32_j (sums of bsums 2j, 2j + 1); Q6_K: bsums_j; as floats (exact) for broadcasts.
        alignas(64) float bsf[T][16];
        const __m512 dw = _mm512_load_ps(ps.d[s]);
        const __m512 dmw = _mm512_load_ps(ps.dmin[s]);
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) {
            xb[t] = reinterpret_cast<const block_q8_K*>(x[t]) + s;
            const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[t]->bsums));
            if constexpr (q6)
                _mm512_store_ps(bsf[t], _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(bs)));
            else
                _mm256_store_ps(bsf[t], _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, _mm256_set1_epi16(1))));
            const __m512 dx = _mm512_set1_ps(xb[t]->d);
            d[t] = _mm512_mul_ps(dw, dx);  // d_w * d_x, rounded once as in the scalar path
            dm[t] = _mm512_mul_ps(dmw, dx);
            tot[t] = _mm512_setzero_si512();
        }
        ENCLAVE_UNROLL
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
                    std::memcpy(&xd, xb[t]->qs + sub * j + 4 * g, 4);
                    isum[t] = _mm512_dpbusd_epi32(isum[t], wq, _mm512_set1_epi32(xd));
                }
            }
            // A super-block's total can pass 2^24: summed in int32.
            const __m512i sc = _mm512_load_si512(ps.sc[s * n_sub + j]);
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) tot[t] = _mm512_add_epi32(tot[t], _mm512_mullo_epi32(isum[t], sc));
        }
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) {
            __m512 extra = _mm512_setzero_ps();  // Q4_K/Q5_K: sum m_j * bsum32_j; Q6_K: sum sc_j * bsum_j
            ENCLAVE_UNROLL
            for (int j = 0; j < n_sub; ++j) {
                const __m512 c = q6 ? _mm512_load_ps(ps.scf[s * n_sub + j]) : _mm512_load_ps(ps.mn[s * n_sub + j]);
                extra = _mm512_fmadd_ps(c, _mm512_set1_ps(bsf[t][j]), extra);
            }
            if constexpr (q4) {
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[t]), d[t], acc[t]);
                accm[t] = _mm512_fmadd_ps(extra, dm[t], accm[t]);
            } else if constexpr (q6) {
                const __m512i isum = _mm512_sub_epi32(tot[t], _mm512_slli_epi32(_mm512_cvtps_epi32(extra), 5));
                acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), dw), _mm512_set1_ps(xb[t]->d), acc[t]);
            } else {
                const __m512 r = _mm512_fnmadd_ps(dmw, extra, _mm512_mul_ps(_mm512_cvtepi32_ps(tot[t]), dw));
                acc[t] = _mm512_fmadd_ps(r, _mm512_set1_ps(xb[t]->d), acc[t]);
            }
        }
    }
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) {
        _mm512_store_ps(state[t][0], acc[t]);
        _mm512_store_ps(state[t][1], accm[t]);
    }
}

// Q4_K's gemm order, isum chain only (the mins chain is panel_k_gemm_mins): T tokens over the panel's ns
// super-blocks. Per pair of sub-blocks, sc_j * isum_j < 2^23 and the pair's sum < 2^24, so the pair sum is
// exact in float and equals the scalar path's float(sub[p]).
template <int T>
ENCLAVE_INLINE inline void panel_k_gemm(const Panel& panel, const PanelKScales& ps, const uint8_t* const* x, int64_t ns,
                                        float (*state)[2][16]) {
    __m512 acc[T];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) acc[t] = _mm512_load_ps(state[t][0]);
    for (int64_t s = 0; s < ns; ++s) {
        const block_q8_K* xb[T];
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) xb[t] = reinterpret_cast<const block_q8_K*>(x[t]) + s;
        const __m512 dw = _mm512_load_ps(ps.d[s]);
        alignas(64) float d[T][16];  // d_w * d_x, read as a memory operand (the registers hold the sums)
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) _mm512_store_ps(d[t], _mm512_mul_ps(dw, _mm512_set1_ps(xb[t]->d)));
        ENCLAVE_UNROLL
        for (int p = 0; p < 4; ++p) {
            __m512 pair[T];
            ENCLAVE_UNROLL
            for (int h = 0; h < 2; ++h) {
                const int j = 2 * p + h;
                __m512i isum[T];
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
                ENCLAVE_UNROLL
                for (int g = 0; g < 8; ++g) {
                    const __m512i wq = _mm512_load_si512(panel.q[64 * s + 8 * j + g]);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        int32_t xd;
                        std::memcpy(&xd, xb[t]->qs + 32 * j + 4 * g, 4);
                        isum[t] = _mm512_dpbusd_epi32(isum[t], wq, _mm512_set1_epi32(xd));
                    }
                }
                const __m512 sc = _mm512_load_ps(ps.scf[8 * s + j]);
                ENCLAVE_UNROLL
                for (int t = 0; t < T; ++t)
                    pair[t] = h == 0 ? _mm512_mul_ps(_mm512_cvtepi32_ps(isum[t]), sc)
                                     : _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), sc, pair[t]);
            }
            ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t)
                acc[t] = _mm512_fmadd_ps(pair[t], _mm512_load_ps(d[t]), acc[t]);
        }
    }
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) _mm512_store_ps(state[t][0], acc[t]);
}

// Q4_K's gemm order, mins chain: per pair p, m_2p * bsum32_2p + m_2p+1 * bsum32_2p+1 (exact) fused with
// dmin_w * d_x.
template <int T>
ENCLAVE_INLINE inline void panel_k_gemm_mins(const PanelKScales& ps, const uint8_t* const* x, int64_t ns,
                                             float (*state)[2][16]) {
    __m512 accm[T];
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) accm[t] = _mm512_load_ps(state[t][1]);
    for (int64_t s = 0; s < ns; ++s) {
        const __m512 dmw = _mm512_load_ps(ps.dmin[s]);
        ENCLAVE_UNROLL
        for (int t = 0; t < T; ++t) {
            const block_q8_K* xb = reinterpret_cast<const block_q8_K*>(x[t]) + s;
            alignas(32) float bsf[8];
            const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->bsums));
            _mm256_store_ps(bsf, _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, _mm256_set1_epi16(1))));
            const __m512 dm = _mm512_mul_ps(dmw, _mm512_set1_ps(xb->d));
            ENCLAVE_UNROLL
            for (int p = 0; p < 4; ++p) {
                const __m512 msub = _mm512_fmadd_ps(
                    _mm512_load_ps(ps.mn[8 * s + 2 * p]), _mm512_set1_ps(bsf[2 * p]),
                    _mm512_mul_ps(_mm512_load_ps(ps.mn[8 * s + 2 * p + 1]), _mm512_set1_ps(bsf[2 * p + 1])));
                accm[t] = _mm512_fmadd_ps(msub, dm, accm[t]);
            }
        }
    }
    ENCLAVE_UNROLL
    for (int t = 0; t < T; ++t) _mm512_store_ps(state[t][1], accm[t]);
}

template <class Q, int sub>
void run_panels_k(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
                  int64_t y_stride, int64_t row_begin, int64_t row_end) {
    constexpr bool q4 = std::is_same_v<Q, KernelQ4_K>;
    const size_t w_row = *row_bytes(weight_type, n_cols);
    const size_t x_row = *row_bytes(TensorType::Q8_K, n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(xq);
    constexpr int64_t sb_per_chunk = k_panel_cols / 256;
    const int64_t n_sb = n_cols / 256;
    const int64_t gemm_tokens = q4 ? n_tokens - n_tokens % 4 : 0;

    alignas(64) Panel panel;
    alignas(64) PanelKScales ps;
    alignas(64) uint8_t codes[k_panel_rows][k_panel_cols];
    alignas(64) PanelKState st;

    for (int64_t tb = 0; tb < n_tokens; tb += k_panel_token_block) {
        const int ntb = static_cast<int>(min_i64(k_panel_token_block, n_tokens - tb));
        for (int64_t r0 = row_begin; r0 < row_end; r0 += k_panel_rows) {
            const int nr = static_cast<int>(min_i64(k_panel_rows, row_end - r0));
            std::memset(&st, 0, sizeof(st));
            for (int64_t s0 = 0; s0 < n_sb; s0 += sb_per_chunk) {
                const int64_t ns = min_i64(sb_per_chunk, n_sb - s0);
                const int64_t chunk_cols = ns * 256;
                for (int r = 0; r < k_panel_rows; ++r) {
                    if (r < nr) {
                        unpack_k_row<Q, sub>(wb + static_cast<size_t>(r0 + r) * w_row, s0, ns, r, codes, ps);
                    } else {  // missing rows: zero codes and scales, never stored
                        std::memset(codes[r], 0, static_cast<size_t>(chunk_cols));
                        for (int i = 0; i < k_panel_cols / 16; ++i) {
                            ps.sc[i][r] = 0;
                            ps.scf[i][r] = 0.0f;
                        }
                        for (int i = 0; i < k_panel_cols / 32; ++i) ps.mn[i][r] = 0.0f;
                        for (int i = 0; i < k_panel_cols / 256; ++i) ps.d[i][r] = ps.dmin[i][r] = 0.0f;
                    }
                }
                transpose_codes(codes, chunk_cols, panel);
                for (int t = 0; t < ntb;) {
                    // Gemm tokens in tiles of 8 (then 4), from a multiple of 4: a tile never straddles the
                    // gemm/gemv boundary.
                    const bool gemm = tb + t < gemm_tokens;
                    const int nt = gemm ? (tb + t + 8 <= gemm_tokens && t + 8 <= ntb ? 8 : 4)
                                        : static_cast<int>(min_i64(k_panel_k_tile, ntb - t));
                    const uint8_t* x[8];
                    for (int i = 0; i < nt; ++i)
                        x[i] =
                            xb + static_cast<size_t>(tb + t + i) * x_row + static_cast<size_t>(s0) * sizeof(block_q8_K);
                    float(*s)[2][16] = &st.chain[t];
                    t += nt;
                    if (gemm) {
                        if constexpr (q4) {
                            if (nt == 8) {
                                panel_k_gemm<8>(panel, ps, x, ns, s);
                                panel_k_gemm_mins<8>(ps, x, ns, s);
                            } else {
                                panel_k_gemm<4>(panel, ps, x, ns, s);
                                panel_k_gemm_mins<4>(ps, x, ns, s);
                            }
                        }
                        continue;
                    }
                    switch (nt) {
                        case 1:
                            panel_k_tokens<Q, sub, 1>(panel, ps, x, ns, s);
                            break;
                        case 2:
                            panel_k_tokens<Q, sub, 2>(panel, ps, x, ns, s);
                            break;
                        case 3:
                            panel_k_tokens<Q, sub, 3>(panel, ps, x, ns, s);
                            break;
                        default:
                            panel_k_tokens<Q, sub, 4>(panel, ps, x, ns, s);
                            break;
                    }
                }
            }
            const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1);
            for (int t = 0; t < ntb; ++t) {
                const __m512 v = _mm512_sub_ps(_mm512_load_ps(st.chain[t][0]), _mm512_load_ps(st.chain[t][1]));
                _mm512_mask_storeu_ps(y + (tb + t) * y_stride + r0, rows, v);
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

}  // namespace

void matmul_panels_avx512(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                          float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    switch (weight_type) {
        case TensorType::Q4_0:
            run_panels<PanelB32<TensorType::Q4_0>>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case TensorType::Q4_1:
            run_panels_q4_1(w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case TensorType::Q8_0:
            run_panels<PanelB32<TensorType::Q8_0>>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case TensorType::Q4_K:
            run_panels_k<KernelQ4_K, 32>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case TensorType::Q5_K:
            run_panels_k<KernelQ5_K, 32>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case TensorType::Q6_K:
            run_panels_k<KernelQ6_K, 16>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        default:
            break;  // float types have no panels: the dispatcher never sends them here
    }
}

}  // namespace enclave::kernels::detail
