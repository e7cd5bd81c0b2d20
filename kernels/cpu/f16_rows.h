// f16 → f32 conversion of KV-cache rows, vectorised by hand: GCC 12 converts _Float16 one element at a time
// (vpinsrw + vcvtph2ps per value) even in the AVX-512 clones, which made the CPU attention spend most of its
// time converting keys and values. The conversion is exact, so every ISA gives the same bits.
#pragma once

#include <cstdint>

namespace enclave::kernels::detail {

// dst[r * n + d] = float(src[r * stride + d])       src [rows, stride] f16 bits (n <= stride), dst [rows, n]
void f16_rows_to_f32(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept;

}  // namespace enclave::kernels::detail
