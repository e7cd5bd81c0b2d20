// Element-wise ops of the transformer block: swiglu and the residual add. Grid-stride loops, four values a
// thread at a time when both arrays are 16-byte aligned (the backend's buffers are 256-byte aligned).
#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 256;

// As the CPU's swiglu_row, bit for bit: glibc's expf, no contraction.
__device__ __forceinline__ float silu_mul(float g, float u) {
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, cuda_detail::expf_glibc(-g))), u);
}

__global__ void __launch_bounds__(k_threads)
    swiglu_kernel(float* __restrict__ gate, const float* __restrict__ up, int64_t n, int64_t n4) {
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

}  // namespace enclave::kernels::cuda
