// Row (de)quantization for every TensorType, byte-compatible with ggml's dequantize_row_* and
// quantize_row_*_ref (ggml/src/ggml-quants.c), written from the format definitions.
//
// Bit-compatibility notes: the float expressions below keep ggml's evaluation order (the products in
// make_qkx2_quants and make_qx_quants are accumulated left to right) because a different order changes
// which scale candidate wins and so the bytes. This file is compiled without FMA flags, so the compiler
// cannot contract a*b+c either, as in ggml-base.
#include "enclave/kernels/quant.h"

#include <cmath>
#include <cstring>
#include <string>

#include "enclave/kernels/half.h"  // defines: fp16/bf16 conversions

namespace enclave::kernels {
namespace {

// ggml's GROUP_MAX_EPS: below this a group counts as all zero.
constexpr float k_group_max_eps = 1e-15f;

// Round to nearest, ties to even, for |f| <= 4194303 (ggml's nearest_int): adding 1.5 * 2^23 pushes the
// fraction out of the mantissa so the FPU's rounding does the work.
inline int nearest_int(float f) {
    const float v = f + 12582912.f;
    int32_t i;
    std::memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

inline float h2f(uint16_t h) {
    return fp16_to_fp32(h);
}
inline uint16_t f2h(float f) {
    return fp32_to_fp16(f);
}

template <class T>
inline T min_of(T a, T b) {
    return b < a ? b : a;
}
template <class T>
inline T max_of(T a, T b) {
    return a < b ? b : a;
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block from its 12 packed bytes.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Dequantization

void dequantize_q4_0(const block_q4_0* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; ++i) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            y[i * QK4_0 + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
            y[i * QK4_0 + j + QK4_0 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const block_q4_1* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; ++i) {
        const float d = h2f(x[i].d);
        const float m = h2f(x[i].m);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            y[i * QK4_1 + j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
            y[i * QK4_1 + j + QK4_1 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_q8_0(const block_q8_0* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; ++i) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
    }
}

void dequantize_q8_1(const block_q8_1* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; ++i) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK8_1; ++j) y[i * QK8_1 + j] = static_cast<float>(x[i].qs[j]) * d;
    }
}

void dequantize_q4_k(const block_q4_K* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const uint8_t* q = x[i].qs;
        const float d = h2f(x[i].d);
        const float min = h2f(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < QK_K; j += 64) {
            scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

void dequantize_q5_k(const block_q5_K* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        const float d = h2f(x[i].d);
        const float min = h2f(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < QK_K; j += 64) {
            scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = static_cast<uint8_t>(u1 << 2);
            u2 = static_cast<uint8_t>(u2 << 2);
        }
    }
}

void dequantize_q6_k(const block_q6_K* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = h2f(x[i].d);
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        const int8_t* sc = x[i].scales;
        for (int k = 0; k < QK_K; k += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                // ggml multiplies d * scale first, then the quant (left to right); keep it for equal bits.
                y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
                y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
                y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
                y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void dequantize_q8_k(const block_q8_K* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * static_cast<float>(x[i].qs[j]);
}

// ---------------------------------------------------------------------------------------------------------
// Reference quantization

void quantize_q4_0(const float* x, block_q4_0* y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; ++i) {
        // The element of largest magnitude maps to -8 exactly (its sign kept), giving one extra level.
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; ++j) {
            const float v = x[i * QK4_0 + j];
            if (amax < std::fabs(v)) {
                amax = std::fabs(v);
                max = v;
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const float x0 = x[i * QK4_0 + j] * id;
            const float x1 = x[i * QK4_0 + QK4_0 / 2 + j] * id;
            // Truncation after +8.5 is ggml's rounding (x0 >= -8 here, so it rounds half up).
            const int xi0 = min_of(15, static_cast<int>(static_cast<int8_t>(static_cast<int>(x0 + 8.5f))));
            const int xi1 = min_of(15, static_cast<int>(static_cast<int8_t>(static_cast<int>(x1 + 8.5f))));
            y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

void quantize_q4_1(const float* x, block_q4_1* y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; ++i) {
        float min = 3.402823466e+38f, max = -3.402823466e+38f;
        for (int j = 0; j < QK4_1; ++j) {
            const float v = x[i * QK4_1 + j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        y[i].m = f2h(min);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const float x0 = (x[i * QK4_1 + j] - min) * id;
            const float x1 = (x[i * QK4_1 + QK4_1 / 2 + j] - min) * id;
            const int xi0 = min_of(15, static_cast<int>(static_cast<int8_t>(static_cast<int>(x0 + 0.5f))));
            const int xi1 = min_of(15, static_cast<int>(static_cast<int8_t>(static_cast<int>(x1 + 0.5f))));
            y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

void quantize_q8_0(const float* x, block_q8_0* y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; ++i) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; ++j) amax = max_of(amax, std::fabs(x[i * QK8_0 + j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[i * QK8_0 + j] * id));
    }
}

void quantize_q8_1(const float* x, block_q8_1* y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; ++i) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; ++j) amax = max_of(amax, std::fabs(x[i * QK8_1 + j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            y[i].qs[j] = static_cast<int8_t>(std::round(x[i * QK8_1 + j] * id));
            sum += y[i].qs[j];
        }
        // s carries d * sum(q) so a Q4_1 dot product applies its offset m with one multiply.
        y[i].s = f2h(static_cast<float>(sum) * d);
    }
}

// ggml's make_qkx2_quants: a scale and a (non-positive) min for n values with nmax+1 levels, found by a
// weighted least-squares fit over nstep+1 candidate scales.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = max_of(0, min_of(nmax, l));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights (the only use here: Q6_K): a signed
// scale for n values in [-nmax, nmax-1], refined over 18 candidate scales by weighted least squares.
float make_qx_quants_rmse1(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < k_group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = max_of(-nmax, min_of(nmax - 1, l));
        L[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = max_of(-nmax, min_of(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = static_cast<int8_t>(nmax + max_of(-nmax, min_of(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Packs eight 6-bit scales and mins into the 12 bytes of a Q4_K/Q5_K super-block (inverse of scale_min_k4).
void pack_scales_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
    for (int j = 0; j < QK_K / 32; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((ls[j] >> 4) << 6));
            scales[j - 0] = static_cast<uint8_t>(scales[j - 0] | ((lm[j] >> 4) << 6));
        }
    }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): sub-block scales/mins by make_qkx2_quants, quantized to 6
// bits against the super-block maxima, then every value re-quantized with the final scales. L [QK_K].
void quantize_k_super_block(const float* x, int nmax, float rmin, float rdelta, int nstep, uint16_t* d_out,
                            uint16_t* dmin_out, uint8_t* scales_out, uint8_t* L) {
    uint8_t Laux[32];
    float weights[32];
    float mins[QK_K / 32];
    float scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[QK_K / 32], lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        // ggml stores nearest_int in a uint8_t before clamping; the value is never negative here.
        ls[j] = min_of<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = min_of<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    std::memset(scales_out, 0, K_SCALE_SIZE);
    pack_scales_k4(ls, lm, scales_out);
    *d_out = f2h(max_scale / 63.f);
    *dmin_out = f2h(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, scales_out, &sc, &m);
        const float d = h2f(*d_out) * sc;
        if (d == 0.0f) continue;
        const float dm = h2f(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
        }
    }
}

void quantize_q4_k(const float* x, block_q4_K* y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        quantize_k_super_block(x, 15, -1.f, 0.1f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t* q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
        x += QK_K;
    }
}

void quantize_q5_k(const float* x, block_q5_K* y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        quantize_k_super_block(x, 31, -0.5f, 0.1f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t* qh = y[i].qh;
        uint8_t* ql = y[i].qs;
        std::memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int k = 0; k < QK_K; k += 64) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[k + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[k + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
            }
            m1 = static_cast<uint8_t>(m1 << 2);
            m2 = static_cast<uint8_t>(m2 << 2);
            ql += 32;
        }
        x += QK_K;
    }
}

void quantize_q6_k(const float* x, block_q6_K* y, int64_t n) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; ++i) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float scale = make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = std::fabs(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < k_group_max_eps) {
            std::memset(&y[i], 0, sizeof(block_q6_K));
            y[i].d = f2h(0.f);
            x += QK_K;
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = f2h(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib)
            y[i].scales[ib] = static_cast<int8_t>(min_of(127, nearest_int(iscale * scales[ib])));
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = h2f(y[i].d) * y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = max_of(-32, min_of(31, l));
                L[16 * j + ii] = static_cast<int8_t>(l + 32);
            }
        }
        uint8_t* ql = y[i].ql;
        uint8_t* qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF;
                const uint8_t q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF;
                const uint8_t q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
                ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
                qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                             ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
        x += QK_K;
    }
}

void quantize_q8_k(const float* x, block_q8_K* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            y[i].d = 0;
            std::memset(y[i].qs, 0, QK_K);
            std::memset(y[i].bsums, 0, sizeof y[i].bsums);
            x += QK_K;
            continue;
        }
        // -127 (not -128) so that every q fits in [-127, 127]: SIMD dot products may then take |q|.
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) y[i].qs[j] = static_cast<int8_t>(min_of(127, nearest_int(iscale * x[j])));
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = static_cast<int16_t>(sum);
        }
        y[i].d = 1 / iscale;
        x += QK_K;
    }
}

Status check_row(TensorType type, int64_t n, const void* src, const void* dst, const char* what) {
    if (!src || !dst) return Status::invalid_argument(std::string(what) + ": null pointer");
    if (!row_bytes(type, n))
        return Status::invalid_argument(std::string(what) + ": " + std::to_string(n) +
                                        " elements is not a whole number of " + std::string(tensor_type_name(type)) +
                                        " blocks");
    return Status::ok();
}

}  // namespace

Status dequantize_row(TensorType type, const void* src, float* dst, int64_t n) noexcept {
    if (Status s = check_row(type, n, src, dst, "dequantize_row"); !s) return s;
    switch (type) {
        case TensorType::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return Status::ok();
        case TensorType::F16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
            return Status::ok();
        }
        case TensorType::BF16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
            return Status::ok();
        }
        case TensorType::Q4_0:
            dequantize_q4_0(static_cast<const block_q4_0*>(src), dst, n);
            return Status::ok();
        case TensorType::Q4_1:
            dequantize_q4_1(static_cast<const block_q4_1*>(src), dst, n);
            return Status::ok();
        case TensorType::Q8_0:
            dequantize_q8_0(static_cast<const block_q8_0*>(src), dst, n);
            return Status::ok();
        case TensorType::Q8_1:
            dequantize_q8_1(static_cast<const block_q8_1*>(src), dst, n);
            return Status::ok();
        case TensorType::Q4_K:
            dequantize_q4_k(static_cast<const block_q4_K*>(src), dst, n);
            return Status::ok();
        case TensorType::Q5_K:
            dequantize_q5_k(static_cast<const block_q5_K*>(src), dst, n);
            return Status::ok();
        case TensorType::Q6_K:
            dequantize_q6_k(static_cast<const block_q6_K*>(src), dst, n);
            return Status::ok();
        case TensorType::Q8_K:
            dequantize_q8_k(static_cast<const block_q8_K*>(src), dst, n);
            return Status::ok();
        case TensorType::I32: {
            const auto* v = static_cast<const int32_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(v[i]);
            return Status::ok();
        }
    }
    return Status::unsupported("dequantize_row: unknown tensor type");
}

Status quantize_row_ref(TensorType type, const float* src, void* dst, int64_t n) noexcept {
    if (Status s = check_row(type, n, src, dst, "quantize_row_ref"); !s) return s;
    switch (type) {
        case TensorType::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return Status::ok();
        case TensorType::F16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
            return Status::ok();
        }
        case TensorType::BF16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
            return Status::ok();
        }
        case TensorType::Q4_0:
            quantize_q4_0(src, static_cast<block_q4_0*>(dst), n);
            return Status::ok();
        case TensorType::Q4_1:
            quantize_q4_1(src, static_cast<block_q4_1*>(dst), n);
            return Status::ok();
        case TensorType::Q8_0:
            quantize_q8_0(src, static_cast<block_q8_0*>(dst), n);
            return Status::ok();
        case TensorType::Q8_1:
            quantize_q8_1(src, static_cast<block_q8_1*>(dst), n);
            return Status::ok();
        case TensorType::Q4_K:
            quantize_q4_k(src, static_cast<block_q4_K*>(dst), n);
            return Status::ok();
        case TensorType::Q5_K:
            quantize_q5_k(src, static_cast<block_q5_K*>(dst), n);
            return Status::ok();
        case TensorType::Q6_K:
            quantize_q6_k(src, static_cast<block_q6_K*>(dst), n);
            return Status::ok();
        case TensorType::Q8_K:
            quantize_q8_k(src, static_cast<block_q8_K*>(dst), n);
            return Status::ok();
        case TensorType::I32:
            break;  // integers are not a quantization of floats
    }
    return Status::unsupported("quantize_row_ref: no reference quantization to " + std::string(tensor_type_name(type)));
}

}  // namespace enclave::kernels
