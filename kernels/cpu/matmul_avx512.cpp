// AVX-512 (F/BW/VL/DQ/VNNI) matrix products, compiled for that ISA only (kernels/CMakeLists.txt) and
// reached through matmul.cpp after detection. Two kernel families, chosen by the number of tokens:
//
// Few tokens (decode, small batches; n_tokens < k_panel_min_tokens): columns in the vector lanes.
//   - The columns are cut into steps (4 blocks of 32 for Q4_0/Q4_1/Q8_0, one super-block of 256 for the
//     K-quants, 16 values for the float types) and the steps into chunks of up to 2048 columns (K-quants:
//     32768, so that ggml's float chains run over the whole row).
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
// Many tokens (prefill): weight rows in the vector lanes ("panel GEMM", matmul_avx512_panels.cpp), which
// moves the per-block scale work from every (row, token) pair to every 16 rows.
//
// Only intrinsics and functions with internal linkage are used here, so no AVX-512 instruction can leak
// into code that other files call on a CPU without it. Stack use is at most ~40 KB per call, ~170 KB for the
// K-quant row kernels (whole-row activation packs).
#include "matmul_avx512_units.h"

namespace enclave::kernels::detail {
namespace {

// The float order of every product follows the scalar reference (matmul_scalar.cpp), which follows
// llama.cpp's x86 build; the integer sums are exact, so any lane split of them is free, and the float chains
// of all (row, token) outputs of a tile advance side by side in the lanes of a few vectors:
//   Q4_K, one to three tokens (gemv order): per super-block, the whole isum and mins sum of each output
//     (half_sums puts them in lanes 2o and 2o + 1) fused into two chains with d_w * d_x and dmin_w * d_x;
//   Q4_K, a full tile of four tokens (below n_tokens - n_tokens % 4: gemm order): the same once per pair
//     of sub-blocks; isum halves are pairs (see KernelQ4_K's register layout);
//   Q5_K, Q6_K (ggml_vec_dot_*_q8_K, fewer than 8 tokens): ggml's 8 integer lanes (lane l + lane l + 8 of
//     isum, Q6_K less 32 * its two scale * bsum terms) fused into 8 float lanes per output; Q5_K's mins
//     into one running float per output.
// A row's chains must not restart, so one chunk covers it (chunk_cols; longer rows are summed per chunk).
// Repacked super-block (320 bytes):
//   [0, 256)   activation bytes in the order of v0..v3
//   [256, 288) bsums (int16 x16)                 [288, 292) d_x (float)
template <class Q>
struct KernelK {
    static constexpr int64_t step_elems = 256;
    static constexpr int64_t block_elems = 256;
    static constexpr size_t step_bytes = Q::step_bytes;
    static constexpr size_t pack_bytes = 320;
    static constexpr int64_t chunk_cols = 32768;

    static void pack(const uint8_t* x_row, int64_t, int64_t first_step, int64_t n_steps, uint8_t* dst) {
        const auto* xb = reinterpret_cast<const block_q8_K*>(x_row);
        for (int64_t s = 0; s < n_steps; ++s) {
            const block_q8_K& b = xb[first_step + s];
            uint8_t* p = dst + s * pack_bytes;
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
            std::memcpy(p + 256, b.bsums, 32);
            std::memcpy(p + 288, &b.d, 4);
        }
    }

    static float dx_of(const uint8_t* p) {
        float d;
        std::memcpy(&d, p + 288, 4);
        return d;
    }

    template <int R, int T>
    static void compute(const uint8_t* const* w, const uint8_t* const* pk, int64_t n_full, int, float (&out)[R][T]) {
        constexpr int N = R * T;  // outputs, o = r * T + t
        constexpr bool q4 = std::is_same_v<Q, KernelQ4_K>;
        constexpr bool gemm = q4 && T == 4;
        if constexpr (q4 && !gemm) {
            constexpr int G = (N + 7) / 8;  // groups of 8 outputs: lanes 2i (isum chain), 2i + 1 (mins chain)
            __m512 acc[G];
            ENCLAVE_UNROLL
            for (int g = 0; g < G; ++g) acc[g] = _mm512_setzero_ps();
            for (int64_t s = 0; s < n_full; ++s) {
                __m512i v[8 * G];
                alignas(64) float scale[16 * G] = {};
                ENCLAVE_UNROLL
                for (int r = 0; r < R; ++r) {
                    UnpackedK u;
                    Q::unpack(w[r] + s * step_bytes, u);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const uint8_t* p = pk[t] + s * pack_bytes;
                        __m512i isum = _mm512_setzero_si512();
                        ENCLAVE_UNROLL
                        for (int k = 0; k < 4; ++k)
                            isum = _mm512_dpwssd_epi32(
                                isum, _mm512_maddubs_epi16(u.v[k], _mm512_load_si512(p + 64 * k)), u.sc16[k]);
                        const __m256i mins =
                            _mm256_madd_epi16(u.coef, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 256)));
                        const __m256i folded =
                            _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
                        const int o = r * T + t;
                        v[o] = _mm512_inserti64x4(_mm512_castsi256_si512(folded), mins, 1);
                        const float dx = dx_of(p);
                        scale[2 * o] = u.d * dx;
                        scale[2 * o + 1] = u.dmin * dx;
                    }
                }
                static_assert(G <= 2);
                const __m512i sums0 = half_sums<(N < 8 ? N : 8)>(v);
                acc[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums0), _mm512_load_ps(scale), acc[0]);
                if constexpr (G == 2) {
                    const __m512i sums1 = half_sums<N - 8>(v + 8);
                    acc[G - 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums1), _mm512_load_ps(scale + 16), acc[G - 1]);
                }
            }
            alignas(64) float a[16 * G];
            ENCLAVE_UNROLL
            for (int g = 0; g < G; ++g) _mm512_store_ps(a + 16 * g, acc[g]);
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) out[r][t] = a[2 * (r * T + t)] - a[2 * (r * T + t) + 1];
        } else if constexpr (gemm) {
            // Lanes o of acc_i / acc_m: output o's isum and mins chains.
            __m512 acc_i = _mm512_setzero_ps(), acc_m = _mm512_setzero_ps();
            const __m512i z = _mm512_setzero_si512();
            for (int64_t s = 0; s < n_full; ++s) {
                __m512i i01[16], i23[16], mpair[8];
                alignas(64) float dsc[16] = {}, msc[16] = {};
                ENCLAVE_UNROLL
                for (int i = 0; i < 16; ++i) i01[i] = i23[i] = z;
                ENCLAVE_UNROLL
                for (int i = 0; i < 8; ++i) mpair[i] = z;
                ENCLAVE_UNROLL
                for (int r = 0; r < R; ++r) {
                    UnpackedK u;
                    Q::unpack(w[r] + s * step_bytes, u);
                    __m256i mins[T];
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const uint8_t* p = pk[t] + s * pack_bytes;
                        const int o = r * T + t;
                        __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
                        a = _mm512_dpwssd_epi32(a, _mm512_maddubs_epi16(u.v[0], _mm512_load_si512(p)), u.sc16[0]);
                        a = _mm512_dpwssd_epi32(a, _mm512_maddubs_epi16(u.v[1], _mm512_load_si512(p + 64)), u.sc16[1]);
                        b = _mm512_dpwssd_epi32(b, _mm512_maddubs_epi16(u.v[2], _mm512_load_si512(p + 128)), u.sc16[2]);
                        b = _mm512_dpwssd_epi32(b, _mm512_maddubs_epi16(u.v[3], _mm512_load_si512(p + 192)), u.sc16[3]);
                        i01[o] = a;  // halves: pair 0 (sub-blocks 0, 1) | pair 1 (2, 3)
                        i23[o] = b;  // pair 2 | pair 3
                        mins[t] =
                            _mm256_madd_epi16(u.coef, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 256)));
                        const float dx = dx_of(p);
                        dsc[o] = u.d * dx;
                        msc[o] = u.dmin * dx;
                    }
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; t += 2)
                        mpair[(r * T + t) / 2] = _mm512_inserti64x4(_mm512_castsi256_si512(mins[t]), mins[t + 1], 1);
                }
                // Pair sums in lanes 2i + h of g01[k] (outputs 8k + i, pair h) and g23[k] (pair 2 + h).
                const __m512i g01a = half_sums<8>(i01), g01b = half_sums<8>(i01 + 8);
                const __m512i g23a = half_sums<8>(i23), g23b = half_sums<8>(i23 + 8);
                // Mins per pair: lane 4j + p of mq[q] is output 4q + j's pair p.
                __m512i mq[4];
                ENCLAVE_UNROLL
                for (int q = 0; q < 4; ++q) mq[q] = merge_pairs_i(mpair[2 * q], mpair[2 * q + 1]);
                const __m512 dv = _mm512_load_ps(dsc), mv = _mm512_load_ps(msc);
                ENCLAVE_UNROLL
                for (int p = 0; p < 4; ++p) {
                    const __m512i idx_pair = _mm512_setr_epi32(
                        p % 2, 2 + p % 2, 4 + p % 2, 6 + p % 2, 8 + p % 2, 10 + p % 2, 12 + p % 2, 14 + p % 2,
                        16 + p % 2, 18 + p % 2, 20 + p % 2, 22 + p % 2, 24 + p % 2, 26 + p % 2, 28 + p % 2, 30 + p % 2);
                    const __m512i sub = p < 2 ? _mm512_permutex2var_epi32(g01a, idx_pair, g01b)
                                              : _mm512_permutex2var_epi32(g23a, idx_pair, g23b);
                    const __m512i idx_min = _mm512_setr_epi32(p, 4 + p, 8 + p, 12 + p, 16 + p, 20 + p, 24 + p, 28 + p,
                                                              p, 4 + p, 8 + p, 12 + p, 16 + p, 20 + p, 24 + p, 28 + p);
                    const __m512i lo = _mm512_permutex2var_epi32(mq[0], idx_min, mq[1]);
                    const __m512i hi = _mm512_permutex2var_epi32(mq[2], idx_min, mq[3]);
                    const __m512i msub = _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1);
                    acc_i = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sub), dv, acc_i);
                    acc_m = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msub), mv, acc_m);
                }
            }
            alignas(64) float a[16], m[16];
            _mm512_store_ps(a, acc_i);
            _mm512_store_ps(m, acc_m);
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) out[r][t] = a[r * T + t] - m[r * T + t];
        } else {
            // Q5_K / Q6_K: outputs 2j and 2j + 1 share acc[j] (8 lanes each).
            constexpr bool q5 = std::is_same_v<Q, KernelQ5_K>;
            constexpr int P = (N + 1) / 2;
            constexpr int G = (N + 7) / 8;
            __m512 acc[P];
            __m512 summs[G];
            ENCLAVE_UNROLL
            for (int j = 0; j < P; ++j) acc[j] = _mm512_setzero_ps();
            ENCLAVE_UNROLL
            for (int g = 0; g < G; ++g) summs[g] = _mm512_setzero_ps();
            for (int64_t s = 0; s < n_full; ++s) {
                __m512i isum[2 * P], mins[2 * P];
                float dsc[2 * P] = {};                                // [output]: d_x * d_w
                [[maybe_unused]] alignas(64) float msc[16 * G] = {};  // [group][lane]: -d_x * dmin_w
                ENCLAVE_UNROLL
                for (int r = 0; r < R; ++r) {
                    UnpackedK u;
                    Q::unpack(w[r] + s * step_bytes, u);
                    ENCLAVE_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const uint8_t* p = pk[t] + s * pack_bytes;
                        const int o = r * T + t;
                        __m512i is = _mm512_setzero_si512();
                        ENCLAVE_UNROLL
                        for (int k = 0; k < 4; ++k)
                            is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(u.v[k], _mm512_load_si512(p + 64 * k)),
                                                     u.sc16[k]);
                        isum[o] = is;
                        // Q5_K: m_j * bsum32_j; Q6_K: sc[2l] * bsums[2l] + sc[2l + 1] * bsums[2l + 1] (lane l).
                        mins[o] = _mm512_castsi256_si512(
                            _mm256_madd_epi16(u.coef, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 256))));
                        const float dx = dx_of(p);
                        dsc[o] = dx * u.d;
                        if constexpr (q5) msc[16 * (o / 8) + o % 8] = -dx * u.dmin;
                    }
                }
                if constexpr (N % 2 == 1) {
                    isum[N] = _mm512_setzero_si512();
                    mins[N] = _mm512_setzero_si512();
                }
                ENCLAVE_UNROLL
                for (int j = 0; j < P; ++j) {
                    __m512i lanes = fold_pair(isum[2 * j], isum[2 * j + 1]);
                    if constexpr (!q5)
                        lanes = _mm512_sub_epi32(
                            lanes, _mm512_slli_epi32(
                                       _mm512_inserti64x4(mins[2 * j], _mm512_castsi512_si256(mins[2 * j + 1]), 1), 5));
                    const __m512 d = _mm512_insertf32x8(_mm512_set1_ps(dsc[2 * j]), _mm256_set1_ps(dsc[2 * j + 1]), 1);
                    acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), d, acc[j]);
                }
                if constexpr (q5) {
                    ENCLAVE_UNROLL
                    for (int g = 0; g < G; ++g) {
                        constexpr int per = 4;  // vectors of two outputs' 8 lanes per half_sums input
                        __m512i mp[per];
                        ENCLAVE_UNROLL
                        for (int k = 0; k < per; ++k) {
                            const int o = 8 * g + 2 * k;
                            mp[k] = o < N ? _mm512_inserti64x4(mins[o], _mm512_castsi512_si256(mins[o + 1]), 1)
                                          : _mm512_setzero_si512();
                        }
                        // half_sums of 4 vectors: lane 2k + h = output 8g + 2k + h.
                        const __m512i msum = half_sums<per>(mp);
                        summs[g] = _mm512_fmadd_ps(_mm512_load_ps(msc + 16 * g), _mm512_cvtepi32_ps(msum), summs[g]);
                    }
                }
            }
            alignas(64) float a[2 * P][16];
            alignas(64) float sm[16 * G];
            ENCLAVE_UNROLL
            for (int j = 0; j < P; ++j) _mm512_store_ps(a[j], acc[j]);
            ENCLAVE_UNROLL
            for (int g = 0; g < G; ++g) _mm512_store_ps(sm + 16 * g, summs[g]);
            ENCLAVE_UNROLL
            for (int r = 0; r < R; ++r) ENCLAVE_UNROLL
            for (int t = 0; t < T; ++t) {
                const int o = r * T + t;
                const float lanes = hsum8(&a[o / 2][8 * (o % 2)]);
                out[r][t] = q5 ? lanes + sm[16 * (o / 8) + o % 8] : lanes;
            }
        }
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
    constexpr int64_t chunk_cols = [] {
        if constexpr (requires { K::chunk_cols; })
            return K::chunk_cols;
        else
            return k_chunk_cols;
    }();
    run_row_kernel<K, k_tile_tokens, chunk_cols>(
        weight_type, xq, n_cols, n_tokens, y, y_stride,
        [&](auto nt, int64_t s0, int64_t n_full, int tail, const uint8_t* const* pk, float* yt, bool first) {
            sweep_rows<K, decltype(nt)::value>(wb, w_row, row_begin, row_end, s0, n_full, tail, pk, yt, y_stride,
                                               first);
        });
}

}  // namespace

void matmul_rows_avx512(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                        float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    const auto go = [&](auto kernel) {
        run<decltype(kernel)>(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const auto panels = [&] {
        matmul_panels_avx512(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
    };
    const bool many = n_tokens >= k_panel_min_tokens;
    switch (weight_type) {
        case TensorType::Q4_0:
            many ? panels() : go(KernelQ4_0{});
            break;
        case TensorType::Q4_1:
            many ? panels() : go(KernelQ4_1{});
            break;
        case TensorType::Q8_0:
            many ? panels() : go(KernelQ8_0{});
            break;
        // Q5_K/Q6_K below 8 tokens follow ggml_vec_dot's 8-lane order, which only KernelK implements.
        case TensorType::Q4_K:
            many ? panels() : go(KernelK<KernelQ4_K>{});
            break;
        case TensorType::Q5_K:
            n_tokens >= 8 ? panels() : go(KernelK<KernelQ5_K>{});
            break;
        case TensorType::Q6_K:
            n_tokens >= 8 ? panels() : go(KernelK<KernelQ6_K>{});
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
