// Public entry points of cpu_matmul.h: validate, then dispatch to the scalar / AVX2 / AVX-512 files.
// Every check lives here so the ISA files can trust their arguments (see matmul_impl.h).
#include <string>

#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/quant.h"
#include "matmul_impl.h"

namespace enclave::kernels {
namespace {

// Every weight type has a product on every ISA path; activation-only types (Q8_1, Q8_K) and I32 do not.
bool is_matmul_weight(TensorType t) { return tensor_type_info(t).is_weight_type; }

std::string type_str(TensorType t) {
    return std::string(tensor_type_name(t));
}

Status check_common(const char* fn, CpuIsa isa, TensorType weight_type, int64_t n_cols) {
    if (!cpu_isa_supported(isa))
        return Status::unsupported(std::string(fn) + ": ISA " + std::string(cpu_isa_name(isa)) +
                                   " is not supported by this CPU or build");
    if (!is_matmul_weight(weight_type))
        return Status::unsupported(std::string(fn) + ": " + type_str(weight_type) + " is not a weight type");
    if (n_cols <= 0 || !row_bytes(weight_type, n_cols) || !row_bytes(activation_type(weight_type), n_cols))
        return Status::invalid_argument(std::string(fn) + ": n_cols " + std::to_string(n_cols) +
                                        " is not a positive whole number of " + type_str(weight_type) + " blocks");
    return Status::ok();
}

}  // namespace

TensorType activation_type(TensorType weight_type) noexcept {
    switch (weight_type) {
        case TensorType::Q4_0:
        case TensorType::Q8_0:
            return TensorType::Q8_0;
        case TensorType::Q4_1:
            return TensorType::Q8_1;
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
            return TensorType::Q8_K;
        case TensorType::F16:
            return TensorType::F16;
        case TensorType::BF16:
            return TensorType::BF16;
        case TensorType::F32:
        case TensorType::Q8_1:
        case TensorType::Q8_K:
        case TensorType::I32:
            return TensorType::F32;
    }
    return TensorType::F32;
}

Status convert_activations(CpuIsa isa, TensorType weight_type, const float* x, int64_t x_stride, int64_t n_cols,
                           int64_t token_begin, int64_t token_end, void* xq) noexcept {
    if (Status s = check_common("convert_activations", isa, weight_type, n_cols); !s) return s;
    if (token_begin < 0 || token_end < token_begin)
        return Status::invalid_argument("convert_activations: bad token range [" + std::to_string(token_begin) + ", " +
                                        std::to_string(token_end) + ")");
    if (token_begin == token_end) return Status::ok();
    if (!x || !xq) return Status::invalid_argument("convert_activations: null pointer");
    if (x_stride < n_cols)
        return Status::invalid_argument("convert_activations: x_stride " + std::to_string(x_stride) + " < n_cols " +
                                        std::to_string(n_cols));
    const TensorType act = activation_type(weight_type);
    const size_t dst_row = *row_bytes(act, n_cols);
    for (int64_t t = token_begin; t < token_end; ++t) {
        const float* src = x + t * x_stride;
        void* dst = static_cast<uint8_t*>(xq) + static_cast<size_t>(t) * dst_row;
        const bool ggml_x86_q8 = isa != CpuIsa::scalar && (act == TensorType::Q8_0 || act == TensorType::Q8_1);
        if (ggml_x86_q8) {
            detail::quantize_row_q8_x86_avx2(act, src, dst, n_cols);
        } else {
            // Q8_K: ggml's x86 build uses the reference too. F16/BF16/F32: the one correctly rounded result.
            if (Status s = quantize_row_ref(act, src, dst, n_cols); !s) return s;
        }
    }
    return Status::ok();
}

Status matmul_rows(CpuIsa isa, TensorType weight_type, const void* w, int64_t n_cols, const void* xq, int64_t n_tokens,
                   float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) noexcept {
    if (Status s = check_common("matmul_rows", isa, weight_type, n_cols); !s) return s;
    if (n_tokens < 0) return Status::invalid_argument("matmul_rows: n_tokens " + std::to_string(n_tokens) + " < 0");
    if (row_begin < 0 || row_end < row_begin)
        return Status::invalid_argument("matmul_rows: bad row range [" + std::to_string(row_begin) + ", " +
                                        std::to_string(row_end) + ")");
    if (n_tokens == 0 || row_begin == row_end) return Status::ok();
    if (!w || !xq || !y) return Status::invalid_argument("matmul_rows: null pointer");
    if (n_tokens > 1 && y_stride < row_end)
        return Status::invalid_argument("matmul_rows: y_stride " + std::to_string(y_stride) + " < row_end " +
                                        std::to_string(row_end));
    switch (isa) {
        case CpuIsa::scalar:
            detail::matmul_rows_scalar(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case CpuIsa::avx2:
            detail::matmul_rows_avx2(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
        case CpuIsa::avx512:
            detail::matmul_rows_avx512(weight_type, w, n_cols, xq, n_tokens, y, y_stride, row_begin, row_end);
            break;
    }
    return Status::ok();
}

}  // namespace enclave::kernels
