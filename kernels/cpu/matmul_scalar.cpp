// The scalar reference path: one dot product per (row, token) with ggml's integer arithmetic (int8 products
// summed exactly per block, then scaled by the product of the block scales). It is the yardstick the AVX2
// and AVX-512 paths are tested against and the fallback on CPUs without AVX2, so it favours clarity.

#include <cmath>

#include "enclave/kernels/cpu_matmul.h"  // defines: activation_type
#include "enclave/kernels/half.h"        // defines: fp16_to_fp32, bf16_to_fp32
#include "enclave/kernels/quant.h"
#include "ggml_order.h"  // defines: hsum8
#include "matmul_impl.h"

namespace enclave::kernels::detail {
namespace {

using detail::hsum8;

float h2f(uint16_t h) {
    return fp16_to_fp32(h);
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4 for all j).
void unpack_scales_k4(const uint8_t* q, uint8_t* sc, uint8_t* m) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
    }
    for (int j = 4; j < 8; ++j) {
        sc[j] = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

float dot_q4_0(const block_q4_0* w, const block_q8_0* x, int64_t nb) {
    float sum = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + 16];
        }
        sum += static_cast<float>(isum) * (h2f(w[b].d) * h2f(x[b].d));
    }
    return sum;
}

// ggml's order (ggml_vec_dot_q4_1_q8_1 on x86): per block, 8 lanes of 4 products each (values 4l..4l+3),
// each lane's exact sum times d_w * d_x fused into its float accumulator; the m * s_x terms fused into one
// running sum; at the end hsum8 of the lanes plus that sum.
float dot_q4_1(const block_q4_1* w, const block_q8_1* x, int64_t nb) {
    float acc[8] = {};
    float summs = 0;
    for (int64_t b = 0; b < nb; ++b) {
        const float d = h2f(w[b].d) * h2f(x[b].d);
        summs = std::fma(h2f(w[b].m), h2f(x[b].s), summs);
        for (int l = 0; l < 8; ++l) {
            int isum = 0;
            for (int k = 0; k < 4; ++k) {
                const int v = 4 * l + k;  // value index in the block: low nibbles 0..15, high nibbles 16..31
                const int q = v < 16 ? (w[b].qs[v] & 0xF) : (w[b].qs[v - 16] >> 4);
                isum += q * x[b].qs[v];
            }
            acc[l] = std::fma(d, static_cast<float>(isum), acc[l]);
        }
    }
    return hsum8(acc) + summs;
}

// ggml's order (ggml_vec_dot_q8_0_q8_0 on x86): 8 lanes of 4 products per block, fused into float lanes
// with d_w * d_x, then hsum8.
float dot_q8_0(const block_q8_0* w, const block_q8_0* x, int64_t nb) {
    float acc[8] = {};
    for (int64_t b = 0; b < nb; ++b) {
        const float d = h2f(w[b].d) * h2f(x[b].d);
        for (int l = 0; l < 8; ++l) {
            int isum = 0;
            for (int k = 0; k < 4; ++k) isum += w[b].qs[4 * l + k] * x[b].qs[4 * l + k];
            acc[l] = std::fma(d, static_cast<float>(isum), acc[l]);
        }
    }
    return hsum8(acc);
}

// The exact integer parts of a Q4_K/Q5_K super-block against Q8_K, in ggml's AVX2 lanes: lane[l] (l = 0..7)
// holds, for every 32-value sub-block j, sc_j times the 4 products of values 4l..4l+3 of that sub-block, so
// the lane sums depend on the lane split only through which products share a lane (exact integers either
// way); sub[p] is the same total per pair of sub-blocks (2p, 2p+1) and msub[p] their mins against Q8_K's
// bsums (m_2p * bsum32_2p + m_2p+1 * bsum32_2p+1).
template <bool five_bit>
void qk45_sums(const uint8_t* qs, const uint8_t* qh, const uint8_t* scales, const block_q8_K& x, int (&lane)[8],
               int (&sub)[4], int (&msub)[4]) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(scales, sc, m);
    for (int l = 0; l < 8; ++l) lane[l] = 0;
    for (int c = 0; c < 4; ++c) {  // 4 chunks of 64: low nibbles = sub-block 2c, high = 2c+1
        sub[c] = 0;
        for (int l = 0; l < 8; ++l) {
            int lo = 0, hi = 0;
            for (int k = 0; k < 4; ++k) {
                const int v = 4 * l + k;
                int q_lo = qs[32 * c + v] & 0xF, q_hi = qs[32 * c + v] >> 4;
                if constexpr (five_bit) {
                    q_lo += ((qh[v] >> (2 * c)) & 1) << 4;
                    q_hi += ((qh[v] >> (2 * c + 1)) & 1) << 4;
                }
                lo += q_lo * x.qs[64 * c + v];
                hi += q_hi * x.qs[64 * c + 32 + v];
            }
            lane[l] += sc[2 * c] * lo + sc[2 * c + 1] * hi;
            sub[c] += sc[2 * c] * lo + sc[2 * c + 1] * hi;
        }
        const int bs_lo = x.bsums[4 * c] + x.bsums[4 * c + 1], bs_hi = x.bsums[4 * c + 2] + x.bsums[4 * c + 3];
        msub[c] = m[2 * c] * bs_lo + m[2 * c + 1] * bs_hi;
    }
}

// Q4_K in the order of llama.cpp's x86 build, which repacks Q4_K matrices (rows a multiple of 8) into
// interleaved 8-row blocks: for one token (ggml_gemv_q4_K_8x8_q8_K) each super-block's whole integer sum is
// fused into a float chain with d_w * d_x and its mins sum into a second chain with dmin_w * d_x, and the
// result is the difference of the chains; for tokens handled four at a time (ggml_gemm_q4_K_8x8_q8_K, every
// token below n_tokens - n_tokens % 4) both chains advance once per pair of sub-blocks instead.
float dot_q4_k(const block_q4_K* w, const block_q8_K* x, int64_t nb, bool gemm) {
    float acc = 0, acc_min = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int lane[8], sub[4], msub[4];
        qk45_sums<false>(w[b].qs, nullptr, w[b].scales, x[b], lane, sub, msub);
        const float d = h2f(w[b].d) * x[b].d;
        const float dmin = h2f(w[b].dmin) * x[b].d;
        if (gemm) {
            for (int p = 0; p < 4; ++p) {
                acc = std::fma(static_cast<float>(sub[p]), d, acc);
                acc_min = std::fma(static_cast<float>(msub[p]), dmin, acc_min);
            }
        } else {
            acc = std::fma(static_cast<float>(sub[0] + sub[1] + sub[2] + sub[3]), d, acc);
            acc_min = std::fma(static_cast<float>(msub[0] + msub[1] + msub[2] + msub[3]), dmin, acc_min);
        }
    }
    return acc - acc_min;
}

// Q5_K and Q6_K for 8 tokens or more: llama.cpp's tiled K-quant matmul (ggml-cpu/tiled, taken for batches of
// at least 8 rows of non-repacked K-quant weights). Per super-block the exact integer sum is scaled by d_w
// (one rounding), the mins sum taken off with one fused -dmin_w product, and the result fused into the
// running float with d_x.
float dot_q5_k_tiled(const block_q5_K* w, const block_q8_K* x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int lane[8], sub[4], msub[4];
        qk45_sums<true>(w[b].qs, w[b].qh, w[b].scales, x[b], lane, sub, msub);
        float r = static_cast<float>(sub[0] + sub[1] + sub[2] + sub[3]) * h2f(w[b].d);
        r = std::fma(-h2f(w[b].dmin), static_cast<float>(msub[0] + msub[1] + msub[2] + msub[3]), r);
        acc = std::fma(r, x[b].d, acc);
    }
    return acc;
}

// Q5_K in ggml's order (ggml_vec_dot_q5_K_q8_K under AVX2; x86 never repacks Q5_K): per super-block, the
// 8 integer lanes (qk45_sums) each fused into a float lane with d_w * d_x; the mins sum fused into one
// running float with -(d_x * dmin_w); at the end hsum8 of the lanes plus that sum.
float dot_q5_k(const block_q5_K* w, const block_q8_K* x, int64_t nb) {
    float acc[8] = {};
    float summs = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int lane[8], sub[4], msub[4];
        qk45_sums<true>(w[b].qs, w[b].qh, w[b].scales, x[b], lane, sub, msub);
        const float d = x[b].d * h2f(w[b].d);
        const float dmin = -x[b].d * h2f(w[b].dmin);
        summs = std::fma(dmin, static_cast<float>(msub[0] + msub[1] + msub[2] + msub[3]), summs);
        for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(lane[l]), acc[l]);
    }
    return hsum8(acc) + summs;
}

// Q6_K in ggml's order (ggml_vec_dot_q6_K_q8_K under AVX2; x86 never repacks Q6_K): lane l (0..7) holds,
// for each 32-value chunk of the super-block, scale times the 4 products of values 4l..4l+3 (unsigned
// 0..63 codes), minus 32 * (bsums[2l] * sc[2l] + bsums[2l+1] * sc[2l+1]); each lane fused into its float
// lane with d_w * d_x per super-block; then hsum8.
// The 8 integer lanes of a Q6_K super-block against Q8_K (see dot_q6_k).
void q6_k_lanes(const block_q6_K& w, const block_q8_K& x, int (&lane)[8]) {
    for (int l = 0; l < 8; ++l) lane[l] = 0;
    for (int half = 0; half < 2; ++half) {  // 128 values each: ql[64], qh[32], scales[8]
        const uint8_t* ql = w.ql + 64 * half;
        const uint8_t* qh = w.qh + 32 * half;
        const int8_t* sc = w.scales + 8 * half;
        const int8_t* a = x.qs + 128 * half;
        for (int c = 0; c < 4; ++c) {  // chunk c: values 32c..32c+31 of the half
            for (int l = 0; l < 8; ++l) {
                int s = 0;
                for (int k = 0; k < 4; ++k) {
                    const int v = 4 * l + k;
                    const int lo = c & 1 ? ql[v + 32] : ql[v];
                    const int q = (c < 2 ? lo & 0xF : lo >> 4) | (((qh[v] >> (2 * c)) & 3) << 4);
                    s += q * a[32 * c + v];
                }
                lane[l] += sc[2 * c + l / 4] * s;
            }
        }
    }
    for (int l = 0; l < 8; ++l)
        lane[l] -= 32 * (x.bsums[2 * l] * w.scales[2 * l] + x.bsums[2 * l + 1] * w.scales[2 * l + 1]);
}

int q6_k_isum(const block_q6_K& w, const block_q8_K& x) {
    int lane[8];
    q6_k_lanes(w, x, lane);
    int isum = 0;
    for (int l = 0; l < 8; ++l) isum += lane[l];
    return isum;
}

float dot_q6_k(const block_q6_K* w, const block_q8_K* x, int64_t nb) {
    float acc[8] = {};
    for (int64_t b = 0; b < nb; ++b) {
        int lane[8];
        q6_k_lanes(w[b], x[b], lane);
        const float d = x[b].d * h2f(w[b].d);
        for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(lane[l]), acc[l]);
    }
    return hsum8(acc);
}

float dot_q6_k_tiled(const block_q6_K* w, const block_q8_K* x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; ++b) {
        const int isum = q6_k_isum(w[b], x[b]);
        acc = std::fma(static_cast<float>(isum) * h2f(w[b].d), x[b].d, acc);
    }
    return acc;
}

// Float types: products in float (exact for f16/bf16 inputs), summed in double like ggml's scalar code.
float dot_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(h2f(w[i]) * h2f(x[i]));
    return static_cast<float>(sum);
}

float dot_bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_fp32(w[i]) * bf16_to_fp32(x[i]));
    return static_cast<float>(sum);
}

float dot_f32(const float* w, const float* x, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(w[i] * x[i]);
    return static_cast<float>(sum);
}

float dot_row(TensorType type, const void* w, const void* x, int64_t n_cols, bool gemm, bool tiled) {
    switch (type) {
        case TensorType::Q4_0:
            return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(x), n_cols / QK4_0);
        case TensorType::Q4_1:
            return dot_q4_1(static_cast<const block_q4_1*>(w), static_cast<const block_q8_1*>(x), n_cols / QK4_1);
        case TensorType::Q8_0:
            return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(x), n_cols / QK8_0);
        case TensorType::Q4_K:
            return dot_q4_k(static_cast<const block_q4_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K, gemm);
        case TensorType::Q5_K:
            return tiled ? dot_q5_k_tiled(static_cast<const block_q5_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K)
                         : dot_q5_k(static_cast<const block_q5_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K);
        case TensorType::Q6_K:
            return tiled ? dot_q6_k_tiled(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K)
                         : dot_q6_k(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K);
        case TensorType::F16:
            return dot_f16(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n_cols);
        case TensorType::BF16:
            return dot_bf16(static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x), n_cols);
        case TensorType::F32:
            return dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n_cols);
        case TensorType::Q8_1:
        case TensorType::Q8_K:
        case TensorType::I32:
            break;  // not weight types, refused by the dispatcher
    }
    return 0.0f;
}

}  // namespace

void matmul_rows_scalar(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                        float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    const size_t w_row = *row_bytes(weight_type, n_cols);
    const size_t x_row = *row_bytes(activation_type(weight_type), n_cols);
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(xq);
    const int64_t gemm_tokens = n_tokens - n_tokens % 4;  // Q4_K: see dot_q4_k
    const bool tiled = n_tokens >= 8;                     // Q5_K, Q6_K: see dot_q5_k_tiled
    for (int64_t r = row_begin; r < row_end; ++r)
        for (int64_t t = 0; t < n_tokens; ++t)
            y[t * y_stride + r] = dot_row(weight_type, wb + static_cast<size_t>(r) * w_row,
                                          xb + static_cast<size_t>(t) * x_row, n_cols, t < gemm_tokens, tiled);
}

}  // namespace enclave::kernels::detail
