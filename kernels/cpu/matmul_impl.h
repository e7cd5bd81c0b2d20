// Private seam between the matmul dispatcher (matmul.cpp) and the per-ISA implementations.
//
// matmul.cpp validates every argument and then calls exactly one of these; they trust their arguments:
// weight_type is a weight type, n_cols a whole number of its blocks, n_tokens >= 1, row_begin < row_end,
// and for n_tokens > 1 y_stride >= row_end. The _avx2 and _avx512 functions live in files compiled with
// those ISAs enabled and must only be called after cpu_isa_supported() said yes.
#pragma once

#include <cstdint>

#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels::detail {

//   w  [n_rows, n_cols] weight_type     xq [n_tokens, n_cols] activation_type(weight_type)
//   y  [n_tokens, y_stride] float, columns [row_begin, row_end) written
void matmul_rows_scalar(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                        float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept;
void matmul_rows_avx2(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens, float* y,
                      int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept;
void matmul_rows_avx512(TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                        float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept;

// Q8_0 / Q8_1 activations the way ggml's x86 build makes them (quantize_row_q8_0/q8_1 under AVX2):
// d = amax/127, q = round-half-even(x * (127/amax)), s = d * sum(q). The reference (quantize_row_ref)
// multiplies by 1/d and rounds half away from zero, which differs in the last bit now and then; llama.cpp on
// an AVX2/AVX-512 machine uses this variant, so our SIMD paths do too.
//   x [n_cols] float, dst one row of act_type (Q8_0 or Q8_1)
// Compiled for AVX2 (every AVX-512 machine here has it too), so both SIMD paths call it.
void quantize_row_q8_x86_avx2(TensorType act_type, const float* x, void* dst, int64_t n_cols) noexcept;

}  // namespace enclave::kernels::detail
