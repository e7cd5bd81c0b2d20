// Element-wise ops of the transformer block: swiglu and the residual add. Grid-stride loops, four values a
// thread at a time when both arrays are 16-byte aligned (the backend's buffers are 256-byte aligned).
#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"
#include "pdl.cuh"  // defines: pdl_trigger
#include "q8_act.cuh"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 256;

// As the CPU's swiglu_row (kernels/cpu/swiglu.cpp), bit for bit: (g / (1 + exp_ggml(0 - g))) * u, no contraction.
__device__ __forceinline__ float silu_mul(float g, float u) {
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, cuda_detail::exp_ggml(__fsub_rn(0.0f, g)))), u);
}

__global__ void __launch_bounds__(k_threads)
    swiglu_kernel(float* __restrict__ gate, const float* __restrict__ up, int64_t n, int64_t n4) {
    cuda_detail::pdl_trigger();
    const int64_t stride = static_cast<int64_t>(gridDim.x) * k_threads;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(k_threads) + threadIdx.x; i < n4; i += stride) {
        float4 g = reinterpret_cast<float4*>(gate)[i];
        const float4 u = reinterpret_cast<const float4*>(up)[i];
        g.x = silu_mul(g.x, u.x), g.y = silu_mul(g.y, u.y), g.z = silu_mul(g.z, u.z), g.w = silu_mul(g.w, u.w);
        reinterpret_cast<float4*>(gate)[i] = g;
    }
    for (int64_t i = 4 * n4 + blockIdx.x * static_cast<int64_t>(k_threads) + threadIdx.x; i < n; i += stride)
        gate[i] = silu_mul(gate[i], up[i]);
}

// swiglu, then the 8-bit activations of its output (the down projection's input): a thread per float4, groups
// of 32 values on 8 consecutive threads. The whole array is n4 float4 (n % 32 == 0, 16-byte aligned).
__global__ void __launch_bounds__(k_threads)
    swiglu_q8_kernel(float* __restrict__ gate, const float* __restrict__ up, int64_t n4, int8_t* __restrict__ qs,
                     float* __restrict__ qd, float* __restrict__ qsum, bool q8_1) {
    cuda_detail::pdl_trigger();  // the down product (a PDL launch) may start loading its weights now
    const int64_t i = blockIdx.x * static_cast<int64_t>(k_threads) + threadIdx.x;
    const bool active = i < n4;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
        float4 g = reinterpret_cast<float4*>(gate)[i];
        const float4 u = reinterpret_cast<const float4*>(up)[i];
        g.x = silu_mul(g.x, u.x), g.y = silu_mul(g.y, u.y), g.z = silu_mul(g.z, u.z), g.w = silu_mul(g.w, u.w);
        reinterpret_cast<float4*>(gate)[i] = g;
        v[0] = g.x, v[1] = g.y, v[2] = g.z, v[3] = g.w;
    }
    cuda_detail::quantize_group32<8, 4>(v, q8_1, active, qs + 4 * i, qd + i / 8, qsum + i / 8);
}

__global__ void __launch_bounds__(k_threads)
    add_kernel(float* __restrict__ x, const float* __restrict__ y, int64_t n, int64_t n4) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * k_threads;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(k_threads) + threadIdx.x; i < n4; i += stride) {
        float4 a = reinterpret_cast<float4*>(x)[i];
        const float4 b = reinterpret_cast<const float4*>(y)[i];
        a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
        reinterpret_cast<float4*>(x)[i] = a;
    }
    for (int64_t i = 4 * n4 + blockIdx.x * static_cast<int64_t>(k_threads) + threadIdx.x; i < n; i += stride)
        x[i] += y[i];
}

unsigned grid_for(int64_t n) {
    const int64_t blocks = (n + 4 * k_threads - 1) / (4 * k_threads);
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 4096 ? 4096 : blocks));
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

}  // namespace

Status swiglu(float* gate, const float* up, int64_t n, cudaStream_t stream) {
    if (n == 0) return Status::ok();
    if (!gate || !up || n < 0) return Status::invalid_argument("cuda swiglu: null pointer or negative size");
    const int64_t n4 = aligned16(gate) && aligned16(up) ? n / 4 : 0;
    swiglu_kernel<<<grid_for(n), k_threads, 0, stream>>>(gate, up, n, n4);
    ENCLAVE_CUDA_CHECK_LAUNCH("swiglu");
    return Status::ok();
}

Status add(float* x, const float* y, int64_t n, cudaStream_t stream) {
    if (n == 0) return Status::ok();
    if (!x || !y || n < 0) return Status::invalid_argument("cuda add: null pointer or negative size");
    const int64_t n4 = aligned16(x) && aligned16(y) ? n / 4 : 0;
    add_kernel<<<grid_for(n), k_threads, 0, stream>>>(x, y, n, n4);
    ENCLAVE_CUDA_CHECK_LAUNCH("add");
    return Status::ok();
}

Status swiglu_q8(float* gate, const float* up, int64_t n_rows, int64_t n_cols, TensorType weight_type,
                 const Q8Activations& xq, cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!gate || !up || !xq.qs || !xq.d || !xq.s) return Status::invalid_argument("cuda swiglu_q8: null pointer");
    if (n_rows < 0 || n_cols <= 0 || n_cols % 32 != 0 || !aligned16(gate) || !aligned16(up) ||
        (weight_type != TensorType::Q4_0 && weight_type != TensorType::Q4_1 && weight_type != TensorType::Q8_0))
        return Status::invalid_argument("cuda swiglu_q8: rows of " + std::to_string(n_cols) + " values for " +
                                        std::string(tensor_type_name(weight_type)) + " weights");
    const int64_t n4 = n_rows * n_cols / 4;
    const int64_t blocks = (n4 + k_threads - 1) / k_threads;
    if (blocks > 0x7fffffff) return Status::invalid_argument("cuda swiglu_q8: too large");
    swiglu_q8_kernel<<<static_cast<unsigned>(blocks), k_threads, 0, stream>>>(gate, up, n4, xq.qs, xq.d, xq.s,
                                                                              weight_type == TensorType::Q4_1);
    ENCLAVE_CUDA_CHECK_LAUNCH("swiglu_q8");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
