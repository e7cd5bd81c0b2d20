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

// Q4_K and Q5_K: x = d*sc*q - dmin*m per sub-block of 32; the mins term uses Q8_K's bsums.
template <bool five_bit>
float dot_qk45(const void* wv, const block_q8_K* x, int64_t nb) {
    float sum = 0;
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* qs;
        const uint8_t* qh = nullptr;
        const uint8_t* scales;
        uint16_t d_bits, dmin_bits;
        if constexpr (five_bit) {
            const auto& w = static_cast<const block_q5_K*>(wv)[b];
            qs = w.qs, qh = w.qh, scales = w.scales, d_bits = w.d, dmin_bits = w.dmin;
        } else {
            const auto& w = static_cast<const block_q4_K*>(wv)[b];
            qs = w.qs, scales = w.scales, d_bits = w.d, dmin_bits = w.dmin;
        }
        uint8_t sc[8], m[8];
        unpack_scales_k4(scales, sc, m);
        int isum = 0;
        for (int c = 0; c < 4; ++c) {  // 4 chunks of 64: low nibbles = sub-block 2c, high = 2c+1
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; ++l) {
                int q_lo = qs[32 * c + l] & 0xF, q_hi = qs[32 * c + l] >> 4;
                if constexpr (five_bit) {
                    q_lo += ((qh[l] >> (2 * c)) & 1) << 4;
                    q_hi += ((qh[l] >> (2 * c + 1)) & 1) << 4;
                }
                lo += q_lo * x[b].qs[64 * c + l];
                hi += q_hi * x[b].qs[64 * c + 32 + l];
            }
            isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
        }
        int msum = 0;
        for (int j = 0; j < 16; ++j) msum += x[b].bsums[j] * m[j / 2];
        const float d = h2f(d_bits) * x[b].d;
        const float dmin = h2f(dmin_bits) * x[b].d;
        sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
    }
    return sum;
}

float dot_q6_k(const block_q6_K* w, const block_q8_K* x, int64_t nb) {
    float sum = 0;
    for (int64_t b = 0; b < nb; ++b) {
        int isum = 0;
        for (int half = 0; half < 2; ++half) {  // 128 values each: ql[64], qh[32], scales[8]
            const uint8_t* ql = w[b].ql + 64 * half;
            const uint8_t* qh = w[b].qh + 32 * half;
            const int8_t* sc = w[b].scales + 8 * half;
            const int8_t* a = x[b].qs + 128 * half;
            int part[8] = {};  // one per sub-block of 16
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                part[is + 0] += q1 * a[l];
                part[is + 2] += q2 * a[l + 32];
                part[is + 4] += q3 * a[l + 64];
                part[is + 6] += q4 * a[l + 96];
            }
            for (int j = 0; j < 8; ++j) isum += sc[j] * part[j];
        }
        sum += h2f(w[b].d) * x[b].d * static_cast<float>(isum);
    }
    return sum;
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

float dot_row(TensorType type, const void* w, const void* x, int64_t n_cols) {
    switch (type) {
        case TensorType::Q4_0:
            return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(x), n_cols / QK4_0);
        case TensorType::Q4_1:
            return dot_q4_1(static_cast<const block_q4_1*>(w), static_cast<const block_q8_1*>(x), n_cols / QK4_1);
        case TensorType::Q8_0:
            return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(x), n_cols / QK8_0);
        case TensorType::Q4_K:
            return dot_qk45<false>(w, static_cast<const block_q8_K*>(x), n_cols / QK_K);
        case TensorType::Q5_K:
            return dot_qk45<true>(w, static_cast<const block_q8_K*>(x), n_cols / QK_K);
        case TensorType::Q6_K:
            return dot_q6_k(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(x), n_cols / QK_K);
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
    for (int64_t r = row_begin; r < row_end; ++r)
        for (int64_t t = 0; t < n_tokens; ++t)
            y[t * y_stride + r] =
                dot_row(weight_type, wb + static_cast<size_t>(r) * w_row, xb + static_cast<size_t>(t) * x_row, n_cols);
}

}  // namespace enclave::kernels::detail
