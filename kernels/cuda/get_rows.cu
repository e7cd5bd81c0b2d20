// get_rows: gathers rows of a table (the token embeddings, or rows of the residual stream) and dequantizes
// them to f32 (quantized tables in either WeightLayout). One block per gathered row; a thread per unit of 32 values
// (quantized) or per value (float).
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

using namespace cuda_detail;

constexpr int k_threads = 128;

__device__ __forceinline__ bool valid_row(int32_t id, int64_t n_rows, int* error_flags) {
    if (id >= 0 && id < n_rows) return true;
    if (error_flags && threadIdx.x == 0) atomicOr(error_flags, k_error_bad_row_id);
    return false;
}

template <TensorType T>
__global__ void __launch_bounds__(k_threads)
    get_rows_quant_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                          const int32_t* __restrict__ ids, float* __restrict__ out, int* error_flags, bool split) {
    const int32_t id = ids[blockIdx.x];
    float* dst = out + static_cast<int64_t>(blockIdx.x) * n_cols;
    const bool ok = valid_row(id, n_rows, error_flags);
    const int n_units = static_cast<int>(n_cols / 32);
    for (int u = threadIdx.x; u < n_units; u += k_threads) {
        if (!ok) {
            for (int e = 0; e < 32; ++e) dst[u * 32 + e] = 0.0f;
            continue;
        }
        const QUnit q = load_unit_any<T>(table + static_cast<size_t>(id) * row_bytes, u, n_units, split);
#pragma unroll
        for (int e = 0; e < 32; e += 4) {
            const float4 v =
                make_float4(unit_value(q, e), unit_value(q, e + 1), unit_value(q, e + 2), unit_value(q, e + 3));
            *reinterpret_cast<float4*>(dst + u * 32 + e) = v;
        }
    }
}

template <TensorType T>
__global__ void __launch_bounds__(k_threads)
    get_rows_float_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                          const int32_t* __restrict__ ids, float* __restrict__ out, int* error_flags) {
    const int32_t id = ids[blockIdx.x];
    float* dst = out + static_cast<int64_t>(blockIdx.x) * n_cols;
    const bool ok = valid_row(id, n_rows, error_flags);
    const uint8_t* src = table + static_cast<size_t>(ok ? id : 0) * row_bytes;
    for (int64_t i = threadIdx.x; i < n_cols; i += k_threads) {
        float v = 0.0f;
        if (ok) {
            if constexpr (T == TensorType::F32)
                v = reinterpret_cast<const float*>(src)[i];
            else if constexpr (T == TensorType::F16)
                v = half_bits_to_float(reinterpret_cast<const uint16_t*>(src)[i]);
            else
                v = bf16_bits_to_float(reinterpret_cast<const uint16_t*>(src)[i]);
        }
        dst[i] = v;
    }
}

template <TensorType T, bool quantized>
Status launch(const void* table, int64_t n_rows, int64_t n_cols, const int32_t* ids, int64_t n_ids, float* out,
              int* error_flags, bool split, cudaStream_t stream) {
    const size_t rb = *enclave::row_bytes(T, n_cols);
    const auto* t = static_cast<const uint8_t*>(table);
    if constexpr (quantized)
        get_rows_quant_kernel<T><<<static_cast<unsigned>(n_ids), k_threads, 0, stream>>>(t, rb, n_rows, n_cols, ids,
                                                                                         out, error_flags, split);
    else
        get_rows_float_kernel<T>
            <<<static_cast<unsigned>(n_ids), k_threads, 0, stream>>>(t, rb, n_rows, n_cols, ids, out, error_flags);
    ENCLAVE_CUDA_CHECK_LAUNCH("get_rows");
    return Status::ok();
}

}  // namespace

Status get_rows(TensorType type, WeightLayout layout, const void* table, int64_t n_rows, int64_t n_cols,
                const int32_t* ids, int64_t n_ids, float* out, int* error_flags, cudaStream_t stream) {
    if (n_ids == 0) return Status::ok();
    if (!table || !ids || !out) return Status::invalid_argument("cuda get_rows: null pointer");
    if (n_ids < 0 || n_ids > 0x7fffffff || n_rows <= 0 || n_cols <= 0 || !enclave::row_bytes(type, n_cols))
        return Status::invalid_argument("cuda get_rows: bad shape: " + std::to_string(n_ids) + " ids of a [" +
                                        std::to_string(n_rows) + ", " + std::to_string(n_cols) + "] " +
                                        std::string(tensor_type_name(type)) + " table");
    const bool split = layout == WeightLayout::split;
    if (split && !split_layout_supported(type, n_cols))
        return Status::invalid_argument("cuda get_rows: " + std::string(tensor_type_name(type)) +
                                        " has no split layout for rows of " + std::to_string(n_cols));
    switch (type) {
        case TensorType::F32:
            return launch<TensorType::F32, false>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::F16:
            return launch<TensorType::F16, false>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::BF16:
            return launch<TensorType::BF16, false>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q4_0:
            return launch<TensorType::Q4_0, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q4_1:
            return launch<TensorType::Q4_1, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q8_0:
            return launch<TensorType::Q8_0, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q4_K:
            return launch<TensorType::Q4_K, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q5_K:
            return launch<TensorType::Q5_K, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        case TensorType::Q6_K:
            return launch<TensorType::Q6_K, true>(table, n_rows, n_cols, ids, n_ids, out, error_flags, split, stream);
        default:
            break;
    }
    return Status::unsupported("cuda get_rows: tables of type " + std::string(tensor_type_name(type)) +
                               " are not supported");
}

}  // namespace enclave::kernels::cuda
