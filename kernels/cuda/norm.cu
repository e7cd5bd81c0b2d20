// rms_norm: one block per row. As the CPU (and ggml): the squares are rounded to f32 and summed in double,
// the mean is rounded to f32; the double sum's order differs from the CPU's sequential one by far less than
// the f32 rounding of the mean, so both backends get the same scale.
//
// Rows whose length is a multiple of 4 (every model's) take the wide kernel: up to 1,024 threads, each
// holding its 1..4 float4 of x and of the weight in registers, so a row costs one round of 16-byte loads
// instead of a serial strided loop. Other rows (and rows over 16,384 values) take the plain 256-thread loop.
#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "norm_row.cuh"  // defines: rms_row_scale, rms_row_apply, warp_sum_double
#include "pdl.cuh"  // defines: pdl_trigger
#include "q8_act.cuh"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 256;
constexpr int k_wide_threads = 1024;
constexpr int k_wide_max_vpt = 4;  // float4 per thread: rows up to 16,384 values

using cuda_detail::rms_row_apply;
using cuda_detail::rms_row_scale;
using cuda_detail::warp_sum_double;

// `out` may alias `x`: every thread reads the values it later writes, and writes only after the
// reduction's barrier.
__global__ void __launch_bounds__(k_threads)
    rms_norm_kernel(const float* x, const float* __restrict__ w, float eps, float* out, int64_t n_cols) {
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * n_cols;
    float* yr = out + static_cast<int64_t>(blockIdx.x) * n_cols;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < n_cols; i += k_threads) sum += static_cast<double>(__fmul_rn(xr[i], xr[i]));
    __shared__ double partial[k_threads / 32];
    sum = warp_sum_double(sum);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
    __syncthreads();
    double total = 0.0;
#pragma unroll
    for (int i = 0; i < k_threads / 32; ++i) total += partial[i];
    const float mean = static_cast<float>(total / static_cast<double>(n_cols));
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < n_cols; i += k_threads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
}

// Wide kernel: blockDim.x is a multiple of 32 (<= 1,024), n4 = n_cols / 4 <= VPT * blockDim.x; x, w and out
// are 16-byte aligned. Same arithmetic as rms_norm_kernel, element by element; only the (double) sum's order
// differs. `out` may alias `x` (all reads of x happen before the barrier, all writes after it).
template <int VPT>
__global__ void __launch_bounds__(k_wide_threads)
    rms_norm_wide_kernel(const float* x, const float* __restrict__ w, float eps, float* out, int n4) {
    cuda_detail::pdl_trigger();
    const int64_t n_cols = static_cast<int64_t>(n4) * 4;
    // No residual, so rms_row_scale never writes through xr.
    float4* xr = reinterpret_cast<float4*>(const_cast<float*>(x) + static_cast<int64_t>(blockIdx.x) * n_cols);
    float4* yr = reinterpret_cast<float4*>(out + static_cast<int64_t>(blockIdx.x) * n_cols);
    float4 xv[VPT], wv[VPT];
    const float scale =
        rms_row_scale<VPT, k_wide_threads>(xr, nullptr, reinterpret_cast<const float4*>(w), n4, eps, xv, wv);
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
        const int i = threadIdx.x + j * blockDim.x;
        if (i < n4) yr[i] = rms_row_apply(xv[j], scale, wv[j]);
    }
}

// The decode step's fused norm (rms_norm_fused): the wide kernel's arithmetic, preceded by the residual add
// (x += residual, one f32 add per value as add_kernel does, written back to x) and followed by the 8-bit
// quantization of the output in groups of 32 (8 consecutive threads' float4: blockDim.x is a multiple of 32).
template <int VPT>
__global__ void __launch_bounds__(k_wide_threads)
    rms_norm_fused_kernel(float* x, const float* residual, const float* __restrict__ w, float eps, float* out, int n4,
                          int8_t* __restrict__ qs, float* __restrict__ qd, float* __restrict__ qsum, bool q8_1) {
    // The next product (a PDL launch) may start loading its weights on the other multiprocessors now.
    cuda_detail::pdl_trigger();
    const int64_t n_cols = static_cast<int64_t>(n4) * 4;
    float4* xr = reinterpret_cast<float4*>(x + static_cast<int64_t>(blockIdx.x) * n_cols);
    const float4* rr =
        residual ? reinterpret_cast<const float4*>(residual + static_cast<int64_t>(blockIdx.x) * n_cols) : nullptr;
    float4* yr = reinterpret_cast<float4*>(out + static_cast<int64_t>(blockIdx.x) * n_cols);
    float4 xv[VPT], wv[VPT];
    const float scale = rms_row_scale<VPT, k_wide_threads>(xr, rr, reinterpret_cast<const float4*>(w), n4, eps, xv, wv);
    const int64_t n_units = n_cols / 32;
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
        const int i = threadIdx.x + j * blockDim.x;
        const bool active = i < n4;
        const float4 y = rms_row_apply(xv[j], scale, wv[j]);
        if (active) yr[i] = y;
        if (qs) {
            const float v[4] = {y.x, y.y, y.z, y.w};
            const int64_t g = static_cast<int64_t>(blockIdx.x) * n_units + i / 8;
            cuda_detail::quantize_group32<8, 4>(v, q8_1, active, qs + static_cast<int64_t>(blockIdx.x) * n_cols + 4 * i,
                                                qd + g, qsum + g);
        }
    }
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

}  // namespace

Status rms_norm(const float* x, const float* weight, float eps, float* out, int64_t n_rows, int64_t n_cols,
                cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!x || !weight || !out) return Status::invalid_argument("cuda rms_norm: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || n_cols <= 0)
        return Status::invalid_argument("cuda rms_norm: bad shape [" + std::to_string(n_rows) + ", " +
                                        std::to_string(n_cols) + "]");
    const unsigned grid = static_cast<unsigned>(n_rows);
    const int64_t n4 = n_cols / 4;
    if (n_cols % 4 == 0 && n4 <= static_cast<int64_t>(k_wide_max_vpt) * k_wide_threads && aligned16(x) &&
        aligned16(weight) && aligned16(out)) {
        const int vpt = n4 <= k_wide_threads ? 1 : n4 <= 2 * k_wide_threads ? 2 : 4;
        const int64_t per_block = (n4 + vpt - 1) / vpt;
        const unsigned threads = static_cast<unsigned>((per_block + 31) / 32 * 32);
        const int n4i = static_cast<int>(n4);
        if (vpt == 1)
            rms_norm_wide_kernel<1><<<grid, threads, 0, stream>>>(x, weight, eps, out, n4i);
        else if (vpt == 2)
            rms_norm_wide_kernel<2><<<grid, threads, 0, stream>>>(x, weight, eps, out, n4i);
        else
            rms_norm_wide_kernel<4><<<grid, threads, 0, stream>>>(x, weight, eps, out, n4i);
    } else {
        rms_norm_kernel<<<grid, k_threads, 0, stream>>>(x, weight, eps, out, n_cols);
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("rms_norm");
    return Status::ok();
}

bool rms_norm_fused_ok(int64_t n_cols) noexcept {
    return n_cols > 0 && n_cols % 32 == 0 && n_cols / 4 <= static_cast<int64_t>(k_wide_max_vpt) * k_wide_threads;
}

Status rms_norm_fused(float* x, const float* residual, const float* weight, float eps, float* out, int64_t n_rows,
                      int64_t n_cols, TensorType weight_type, const Q8Activations& xq, cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!x || !weight || !out) return Status::invalid_argument("cuda rms_norm_fused: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || !rms_norm_fused_ok(n_cols) || !aligned16(x) || !aligned16(weight) ||
        !aligned16(out) || (residual && !aligned16(residual)))
        return Status::invalid_argument("cuda rms_norm_fused: bad shape [" + std::to_string(n_rows) + ", " +
                                        std::to_string(n_cols) + "] or unaligned rows");
    const bool quant = xq.qs != nullptr;
    if (quant &&
        (weight_type != TensorType::Q4_0 && weight_type != TensorType::Q4_1 && weight_type != TensorType::Q8_0))
        return Status::invalid_argument("cuda rms_norm_fused: no fused quantization for " +
                                        std::string(tensor_type_name(weight_type)) + " weights");
    if (quant && (!xq.d || !xq.s)) return Status::invalid_argument("cuda rms_norm_fused: null pointer");
    const bool q8_1 = weight_type == TensorType::Q4_1;
    const unsigned grid = static_cast<unsigned>(n_rows);
    const int64_t n4 = n_cols / 4;
    const int vpt = n4 <= k_wide_threads ? 1 : n4 <= 2 * k_wide_threads ? 2 : 4;
    const int64_t per_block = (n4 + vpt - 1) / vpt;
    const unsigned threads = static_cast<unsigned>((per_block + 31) / 32 * 32);
    const int n4i = static_cast<int>(n4);
    if (vpt == 1)
        rms_norm_fused_kernel<1>
            <<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, n4i, xq.qs, xq.d, xq.s, q8_1);
    else if (vpt == 2)
        rms_norm_fused_kernel<2>
            <<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, n4i, xq.qs, xq.d, xq.s, q8_1);
    else
        rms_norm_fused_kernel<4>
            <<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, n4i, xq.qs, xq.d, xq.s, q8_1);
    ENCLAVE_CUDA_CHECK_LAUNCH("rms_norm_fused");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
