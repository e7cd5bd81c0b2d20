// Device-side reading of the GGUF block layouts (quant.h), shared by get_rows, matmul_q and matmul_gemm.
//
// Every quantized weight type is read in "units" of 32 consecutive values of a row: 32 signed 8-bit
// integers q (packed four to an int) and the affine map value = scale * q + m, where the scale may differ
// between the first and the second 16 values (Q6_K's sub-blocks of 16):
//   Q4_0  q = nibble - 8            scale = d                m = 0
//   Q4_1  q = nibble                scale = d                m = min
//   Q8_0  q = byte                  scale = d                m = 0
//   Q4_K  q = nibble                scale = d * sc_j         m = -dmin * m_j    (sub-block j of 32)
//   Q5_K  q = nibble | high bit     scale = d * sc_j         m = -dmin * m_j
//   Q6_K  q = 6 bits - 32           scale = d * sc (per 16)  m = 0
// So a dot product with 8-bit activations (xq, xd per 32) is scale * xd * Σ q·xq + m * Σ xd·xq, exactly the
// CPU kernels' integer sums. Blocks of 18, 34 and 210 bytes are only 2-byte aligned: they are read in
// 16-bit halves.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels::cuda_detail {

struct QUnit {
    int q[8];    // 32 signed 8-bit values, value e in byte e % 4 of q[e / 4]
    float d_lo;  // scale of values 0..15
    float d_hi;  // scale of values 16..31
    float m;     // added to every value
};

template <TensorType T>
struct QTraits;
template <>
struct QTraits<TensorType::Q4_0> {
    static constexpr int block_elems = 32, block_bytes = 18;
    static constexpr bool has_min = false, split = false;
};
template <>
struct QTraits<TensorType::Q4_1> {
    static constexpr int block_elems = 32, block_bytes = 20;
    static constexpr bool has_min = true, split = false;
};
template <>
struct QTraits<TensorType::Q8_0> {
    static constexpr int block_elems = 32, block_bytes = 34;
    static constexpr bool has_min = false, split = false;
};
template <>
struct QTraits<TensorType::Q4_K> {
    static constexpr int block_elems = 256, block_bytes = 144;
    static constexpr bool has_min = true, split = false;
};
template <>
struct QTraits<TensorType::Q5_K> {
    static constexpr int block_elems = 256, block_bytes = 176;
    static constexpr bool has_min = true, split = false;
};
template <>
struct QTraits<TensorType::Q6_K> {
    static constexpr int block_elems = 256, block_bytes = 210;
    static constexpr bool has_min = false, split = true;
};

__device__ __forceinline__ float half_bits_to_float(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}
__device__ __forceinline__ float bf16_bits_to_float(uint16_t h) {
    return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) {
    return *reinterpret_cast<const uint16_t*>(p);
}
// Four bytes from a 2-byte aligned address.
__device__ __forceinline__ int load_int_b2(const uint8_t* p) {
    const auto* h = reinterpret_cast<const uint16_t*>(p);
    return static_cast<int>(static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16));
}
__device__ __forceinline__ int load_int_b4(const uint8_t* p) {
    return *reinterpret_cast<const int*>(p);
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4).
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* scales, int& sc, int& mn) {
    if (j < 4) {
        sc = scales[j] & 63;
        mn = scales[j + 4] & 63;
    } else {
        sc = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

//! Unit u (values 32u .. 32u+31) of a weight row.   \param row the row's first byte (16-byte aligned)
template <TensorType T>
__device__ __forceinline__ QUnit load_unit(const uint8_t* row, int u) {
    QUnit r;
    if constexpr (T == TensorType::Q4_0) {
        const uint8_t* p = row + u * 18;
        r.d_lo = r.d_hi = half_bits_to_float(load_u16(p));
        r.m = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int v = load_int_b2(p + 2 + 4 * k);
            r.q[k] = static_cast<int>(__vsub4(v & 0x0F0F0F0F, 0x08080808));
            r.q[k + 4] = static_cast<int>(__vsub4((v >> 4) & 0x0F0F0F0F, 0x08080808));
        }
    } else if constexpr (T == TensorType::Q4_1) {
        const uint8_t* p = row + u * 20;
        r.d_lo = r.d_hi = half_bits_to_float(load_u16(p));
        r.m = half_bits_to_float(load_u16(p + 2));
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int v = load_int_b4(p + 4 + 4 * k);
            r.q[k] = v & 0x0F0F0F0F;
            r.q[k + 4] = (v >> 4) & 0x0F0F0F0F;
        }
    } else if constexpr (T == TensorType::Q8_0) {
        const uint8_t* p = row + u * 34;
        r.d_lo = r.d_hi = half_bits_to_float(load_u16(p));
        r.m = 0.0f;
#pragma unroll
        for (int k = 0; k < 8; ++k) r.q[k] = load_int_b2(p + 2 + 4 * k);
    } else if constexpr (T == TensorType::Q4_K || T == TensorType::Q5_K) {
        constexpr bool five = T == TensorType::Q5_K;
        const int j = u & 7;
        const uint8_t* p = row + (u >> 3) * (five ? 176 : 144);
        const float d = half_bits_to_float(load_u16(p));
        const float dmin = half_bits_to_float(load_u16(p + 2));
        int sc, mn;
        scale_min_k4(j, p + 4, sc, mn);
        r.d_lo = r.d_hi = d * static_cast<float>(sc);
        r.m = -(dmin * static_cast<float>(mn));
        const uint8_t* ql = p + (five ? 48 : 16) + 32 * (j >> 1);
        const int shift = 4 * (j & 1);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            int v = (load_int_b4(ql + 4 * k) >> shift) & 0x0F0F0F0F;
            if constexpr (five) v |= ((load_int_b4(p + 16 + 4 * k) >> j) & 0x01010101) << 4;
            r.q[k] = v;
        }
    } else if constexpr (T == TensorType::Q6_K) {
        const int j = u & 7;
        const int n = j >> 2, part = j & 3;
        const uint8_t* p = row + (u >> 3) * 210;
        const float d = half_bits_to_float(load_u16(p + 208));
        const auto* sc = reinterpret_cast<const int8_t*>(p + 192 + 8 * n + 2 * part);
        r.d_lo = d * static_cast<float>(sc[0]);
        r.d_hi = d * static_cast<float>(sc[1]);
        r.m = 0.0f;
        const uint8_t* ql = p + 64 * n + 32 * (part & 1);
        const uint8_t* qh = p + 128 + 32 * n;
        const int shift_l = 4 * (part >> 1), shift_h = 2 * part;
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            const int lo = (load_int_b2(ql + 4 * k) >> shift_l) & 0x0F0F0F0F;
            const int hi = ((load_int_b2(qh + 4 * k) >> shift_h) & 0x03030303) << 4;
            r.q[k] = static_cast<int>(__vsub4(lo | hi, 0x20202020));
        }
    }
    return r;
}

// ---- the split row layout (WeightLayout::split, cuda_ops.h) ---------------------------------------------
// Q4_0, Q4_1 and Q8_0 rows may be stored by the CUDA backend as [the units' quant bytes][the units' scales]:
// unit u's 16 (Q8_0: 32) quant bytes at 16u (32u), in the GGUF block's byte order, then its f16 d (Q4_1: d, m)
// at nb * 16 (nb * 32) + 2u (4u). Same bytes per row as GGUF, so strides stay; the quants of a warp's 32
// units are one contiguous run, read in 8- or 16-byte loads.
template <TensorType T>
struct SplitTraits;
template <>
struct SplitTraits<TensorType::Q4_0> {
    static constexpr int quant_bytes = 16, scale_bytes = 2;
};
template <>
struct SplitTraits<TensorType::Q4_1> {
    static constexpr int quant_bytes = 16, scale_bytes = 4;
};
template <>
struct SplitTraits<TensorType::Q8_0> {
    static constexpr int quant_bytes = 32, scale_bytes = 2;
};

// A unit from its quant words (4 for Q4_0/Q4_1, 8 for Q8_0) and its f16 scale bits (Q4_1: d | m << 16).
template <TensorType T>
__device__ __forceinline__ QUnit unit_from_words(const int* w, uint32_t scale_bits) {
    QUnit r;
    r.d_lo = r.d_hi = half_bits_to_float(static_cast<uint16_t>(scale_bits & 0xFFFF));
    if constexpr (T == TensorType::Q4_0) {
        r.m = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            r.q[k] = static_cast<int>(__vsub4(w[k] & 0x0F0F0F0F, 0x08080808));
            r.q[k + 4] = static_cast<int>(__vsub4((w[k] >> 4) & 0x0F0F0F0F, 0x08080808));
        }
    } else if constexpr (T == TensorType::Q4_1) {
        r.m = half_bits_to_float(static_cast<uint16_t>(scale_bits >> 16));
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            r.q[k] = w[k] & 0x0F0F0F0F;
            r.q[k + 4] = (w[k] >> 4) & 0x0F0F0F0F;
        }
    } else {
        static_assert(T == TensorType::Q8_0, "split layout: Q4_0, Q4_1, Q8_0");
        r.m = 0.0f;
#pragma unroll
        for (int k = 0; k < 8; ++k) r.q[k] = w[k];
    }
    return r;
}

__device__ __forceinline__ uint32_t load_split_scale_bits(const uint8_t* p, int scale_bytes) {
    return scale_bytes == 4 ? *reinterpret_cast<const uint32_t*>(p) : *reinterpret_cast<const uint16_t*>(p);
}

//! Unit u of a split-layout row of nb units (row 8-byte aligned).
template <TensorType T>
__device__ __forceinline__ QUnit load_unit_split(const uint8_t* row, int u, int nb) {
    using S = SplitTraits<T>;
    int w[S::quant_bytes / 4];
    const uint2* q = reinterpret_cast<const uint2*>(row + static_cast<size_t>(u) * S::quant_bytes);
#pragma unroll
    for (int k = 0; k < S::quant_bytes / 8; ++k) {
        const uint2 v = q[k];
        w[2 * k] = static_cast<int>(v.x);
        w[2 * k + 1] = static_cast<int>(v.y);
    }
    const uint32_t sb = load_split_scale_bits(
        row + static_cast<size_t>(nb) * S::quant_bytes + static_cast<size_t>(u) * S::scale_bytes, S::scale_bytes);
    return unit_from_words<T>(w, sb);
}

// Either layout: split when `split` (T must then be Q4_0, Q4_1 or Q8_0), else GGUF blocks.
template <TensorType T>
__device__ __forceinline__ QUnit load_unit_any(const uint8_t* row, int u, int nb, bool split) {
    if constexpr (T == TensorType::Q4_0 || T == TensorType::Q4_1 || T == TensorType::Q8_0) {
        if (split) return load_unit_split<T>(row, u, nb);
    }
    return load_unit<T>(row, u);
}

// Value e (0..31) of a unit, as the CPU's dequantize_row computes it.
__device__ __forceinline__ float unit_value(const QUnit& u, int e) {
    const int q = static_cast<int8_t>((u.q[e >> 2] >> (8 * (e & 3))) & 0xFF);
    return (e < 16 ? u.d_lo : u.d_hi) * static_cast<float>(q) + u.m;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

}  // namespace enclave::kernels::cuda_detail
