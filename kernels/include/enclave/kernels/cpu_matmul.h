// Quantized matrix products on the CPU, never dequantizing a whole matrix.
//
// y = x · Wᵀ, with W a weight matrix as stored in the model file and x the activations:
//   W  [n_rows, n_cols]   type weight_type, row r at w + r * row_bytes(weight_type, n_cols)
//   xq [n_tokens, n_cols] type activation_type(weight_type), produced by convert_activations()
//   y  [n_tokens, n_rows] float, element (t, r) at y[t * y_stride + r]
// The caller splits work among threads by rows (matmul_rows) and by tokens (convert_activations); every
// function is reentrant and allocation-free. Each ISA path computes the same products as the scalar
// reference path up to float summation order; tests compare every path with scalar.
#pragma once

#include <cstdint>
#include <string_view>

#include "enclave/kernels/status.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels {

enum class CpuIsa { scalar, avx2, avx512 };

// The best path this CPU and this build support. ENCLAVE_CPU_ISA=scalar|avx2|avx512 lowers it (never raises
// it past what the CPU has).
CpuIsa detect_cpu_isa() noexcept;
bool cpu_isa_supported(CpuIsa isa) noexcept;
std::string_view cpu_isa_name(CpuIsa isa) noexcept;

// The type activations are converted to before a dot product with weight_type (ggml's vec_dot_type):
// Q4_0,Q8_0 -> Q8_0; Q4_1 -> Q8_1; Q4_K,Q5_K,Q6_K -> Q8_K; F16 -> F16; BF16 -> BF16; F32 -> F32.
TensorType activation_type(TensorType weight_type) noexcept;

// xq rows [token_begin, token_end) = activation_type(weight_type) encoding of x rows.
//   x  [n_tokens, n_cols] float, row t at x + t * x_stride
//   xq [n_tokens, n_cols] row t at xq + t * row_bytes(activation_type(weight_type), n_cols)
Status convert_activations(CpuIsa isa, TensorType weight_type, const float* x, int64_t x_stride, int64_t n_cols,
                           int64_t token_begin, int64_t token_end, void* xq) noexcept;

// y(t, r) = dot(W row r, xq row t) for r in [row_begin, row_end) and t in [0, n_tokens).
Status matmul_rows(CpuIsa isa, TensorType weight_type, const void* w, int64_t n_cols, const void* xq,
                   int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept;

}  // namespace enclave::kernels
