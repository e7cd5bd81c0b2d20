// Block layouts of the quantized types (byte-compatible with ggml/GGUF) and row conversions.
//
// Contract: every function here works on whole rows; n must be a multiple of the type's block_elems
// (the caller has checked it with row_bytes()). Pointers may be unaligned. No allocation, no threads.
#pragma once

#include <cstdint>

#include "enclave/kernels/status.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels {

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK8_1 = 32;
inline constexpr int QK_K = 256;
inline constexpr int K_SCALE_SIZE = 12;

#pragma pack(push, 1)
struct block_q4_0 {  // x = (q - 8) * d; elements 0..15 in the low nibbles, 16..31 in the high nibbles
    uint16_t d;      // fp16
    uint8_t qs[QK4_0 / 2];
};
struct block_q4_1 {  // x = q * d + m
    uint16_t d;      // fp16
    uint16_t m;      // fp16
    uint8_t qs[QK4_1 / 2];
};
struct block_q8_0 {  // x = q * d
    uint16_t d;      // fp16
    int8_t qs[QK8_0];
};
struct block_q8_1 {  // x = q * d; s = d * sum(qs) (used to apply Q4_1's offset m in one multiply)
    uint16_t d;      // fp16
    uint16_t s;      // fp16
    int8_t qs[QK8_1];
};
struct block_q4_K {  // 8 sub-blocks of 32 with 6-bit scales and mins: x = d*sc*q - dmin*m
    uint16_t d;      // fp16, super-block scale for the scales
    uint16_t dmin;   // fp16, super-block scale for the mins
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
};
struct block_q5_K {  // as Q4_K with a fifth bit per weight in qh
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
struct block_q6_K {  // 16 sub-blocks of 16 with int8 scales: x = d * sc * (q - 32)
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;      // fp16
};
struct block_q8_K {  // activation type for K-quant dot products
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  // sums of groups of 16 qs
};
#pragma pack(pop)

static_assert(sizeof(block_q4_0) == 18);
static_assert(sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q8_1) == 36);
static_assert(sizeof(block_q4_K) == 144);
static_assert(sizeof(block_q5_K) == 176);
static_assert(sizeof(block_q6_K) == 210);
static_assert(sizeof(block_q8_K) == 292);

// dst[0..n) = the values that src's row of n elements of `type` encodes. Any type of TensorType.
Status dequantize_row(TensorType type, const void* src, float* dst, int64_t n) noexcept;

// Reference quantization of a row, as ggml's quantize_row_*_ref (round to nearest, same scale choice),
// so that files we write and llama.cpp's tools agree. Any type of TensorType. Used by the GGUF writer,
// tests and the activation conversion of the scalar matmul path.
Status quantize_row_ref(TensorType type, const float* src, void* dst, int64_t n) noexcept;

}  // namespace enclave::kernels
