// rms_norm: one block per row. As the CPU (and ggml): the squares are rounded to f32 and summed in double,
// the mean is rounded to f32; the double sum's order differs from the CPU's sequential one by far less than
// the f32 rounding of the mean, so both backends get the same scale.
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 256;

// `out` may alias `x`: every thread reads the values it later writes, and writes only after the
// reduction's barrier.
__global__ void __launch_bounds__(k_threads)
    rms_norm_kernel(const float* x, const float* __restrict__ w, float eps, float* out, int64_t n_cols) {
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * n_cols;
    float* yr = out + static_cast<int64_t>(blockIdx.x) * n_cols;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < n_cols; i += k_threads) sum += static_cast<double>(__fmul_rn(xr[i], xr[i]));
    __shared__ double partial[k_threads / 32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
    __syncthreads();
    double total = 0.0;
#pragma unroll
    for (int i = 0; i < k_threads / 32; ++i) total += partial[i];
    const float mean = static_cast<float>(total / static_cast<double>(n_cols));
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < n_cols; i += k_threads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
}

}  // namespace

Status rms_norm(const float* x, const float* weight, float eps, float* out, int64_t n_rows, int64_t n_cols,
                cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!x || !weight || !out) return Status::invalid_argument("cuda rms_norm: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || n_cols <= 0)
        return Status::invalid_argument("cuda rms_norm: bad shape [" + std::to_string(n_rows) + ", " +
                                        std::to_string(n_cols) + "]");
    rms_norm_kernel<<<static_cast<unsigned>(n_rows), k_threads, 0, stream>>>(x, weight, eps, out, n_cols);
    ENCLAVE_CUDA_CHECK_LAUNCH("rms_norm");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
