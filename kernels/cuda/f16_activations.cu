// The several-token norm and swiglu that also write the f16 activations a library GEMM reads (cuBLAS with f16
// weights, or quantized weights dequantized to f16): one pass instead of the op plus a round_to_f16 launch
// that reads its f32 output back (prefill and batched decode: 97 of a step's 129 roundings on 8b).
//
// The f32 outputs are written too (the Backend contract: `out` and `gate` hold the op's result), with the
// arithmetic of norm.cu's wide kernels and elementwise.cu's swiglu, value for value; the f16 values are
// round_to_f16's (__float2half_rn of those f32 values). So the GEMM sees the same bits as on the unfused path.
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"  // defines: exp_ggml
#include "norm_row.cuh"  // defines: rms_row_scale, rms_row_apply

namespace enclave::kernels::cuda {
namespace {

constexpr int k_norm_threads = 1024;
constexpr int k_norm_max_vpt = 4;  // float4 per thread: rows up to 16,384 values
constexpr int k_swiglu_threads = 256;

__device__ __forceinline__ uint2 to_half4(float4 v) {
    const __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
    return make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
}

// One block a row, blockDim.x a multiple of 32 (<= 1,024), n4 = n_cols / 4 <= VPT * blockDim.x, x / residual /
// w / out 16-byte aligned, out16 8-byte aligned. norm.cu's rms_norm_fused_kernel without the 8-bit output:
// x += residual (written back), squares summed in double, mean and scale in f32. `out` may alias `x` (every
// read of x happens before the barrier, every write after it).
template <int VPT>
__global__ void __launch_bounds__(k_norm_threads)
    rms_norm_f16_kernel(float* x, const float* residual, const float* __restrict__ w, float eps, float* out,
                        uint2* __restrict__ out16, int n4) {
    const int64_t row = blockIdx.x;
    float4* xr = reinterpret_cast<float4*>(x) + row * n4;
    const float4* rr = residual ? reinterpret_cast<const float4*>(residual) + row * n4 : nullptr;
    float4* yr = reinterpret_cast<float4*>(out) + row * n4;
    uint2* hr = out16 + row * n4;
    float4 xv[VPT], wv[VPT];
    const float scale =
        cuda_detail::rms_row_scale<VPT, k_norm_threads>(xr, rr, reinterpret_cast<const float4*>(w), n4, eps, xv, wv);
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
        const int i = threadIdx.x + j * blockDim.x;
        if (i < n4) {
            const float4 y = cuda_detail::rms_row_apply(xv[j], scale, wv[j]);
            yr[i] = y;
            hr[i] = to_half4(y);
        }
    }
}

// As the CPU's swiglu_row and elementwise.cu's silu_mul, bit for bit: (g / (1 + exp_ggml(0 - g))) * u.
__device__ __forceinline__ float silu_mul(float g, float u) {
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, cuda_detail::exp_ggml(__fsub_rn(0.0f, g)))), u);
}

// gate = swiglu(gate, up) and h = f16(gate), a float4 a thread, grid-stride; gate / up 16-byte aligned.
__global__ void __launch_bounds__(k_swiglu_threads)
    swiglu_f16_kernel(float4* __restrict__ gate, const float4* __restrict__ up, uint2* __restrict__ h, int64_t n4) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * k_swiglu_threads;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(k_swiglu_threads) + threadIdx.x; i < n4; i += stride) {
        float4 g = gate[i];
        const float4 u = up[i];
        g.x = silu_mul(g.x, u.x), g.y = silu_mul(g.y, u.y), g.z = silu_mul(g.z, u.z), g.w = silu_mul(g.w, u.w);
        gate[i] = g;
        h[i] = to_half4(g);
    }
}

bool aligned(const void* p, uintptr_t bytes) {
    return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0;
}

}  // namespace

bool f16_activations_ok(int64_t n_cols) noexcept {
    return n_cols > 0 && n_cols % 4 == 0 && n_cols / 4 <= static_cast<int64_t>(k_norm_max_vpt) * k_norm_threads;
}

Status rms_norm_f16(float* x, const float* residual, const float* weight, float eps, float* out, uint16_t* out16,
                    int64_t n_rows, int64_t n_cols, cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!x || !weight || !out || !out16) return Status::invalid_argument("cuda rms_norm_f16: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || !f16_activations_ok(n_cols) || !aligned(x, 16) || !aligned(weight, 16) ||
        !aligned(out, 16) || !aligned(out16, 8) || (residual && !aligned(residual, 16)))
        return Status::invalid_argument("cuda rms_norm_f16: bad shape [" + std::to_string(n_rows) + ", " +
                                        std::to_string(n_cols) + "] or unaligned rows");
    const unsigned grid = static_cast<unsigned>(n_rows);
    const int64_t n4 = n_cols / 4;
    const int vpt = n4 <= k_norm_threads ? 1 : n4 <= 2 * k_norm_threads ? 2 : 4;
    const int64_t per_block = (n4 + vpt - 1) / vpt;
    const unsigned threads = static_cast<unsigned>((per_block + 31) / 32 * 32);
    const int n4i = static_cast<int>(n4);
    auto* h = reinterpret_cast<uint2*>(out16);
    if (vpt == 1)
        rms_norm_f16_kernel<1><<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, h, n4i);
    else if (vpt == 2)
        rms_norm_f16_kernel<2><<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, h, n4i);
    else
        rms_norm_f16_kernel<4><<<grid, threads, 0, stream>>>(x, residual, weight, eps, out, h, n4i);
    ENCLAVE_CUDA_CHECK_LAUNCH("rms_norm_f16");
    return Status::ok();
}

Status swiglu_f16(float* gate, const float* up, uint16_t* h, int64_t n, cudaStream_t stream) {
    if (n == 0) return Status::ok();
    if (!gate || !up || !h) return Status::invalid_argument("cuda swiglu_f16: null pointer");
    if (n < 0 || n % 4 != 0 || !aligned(gate, 16) || !aligned(up, 16) || !aligned(h, 8))
        return Status::invalid_argument("cuda swiglu_f16: " + std::to_string(n) +
                                        " values (a multiple of 4, 16-byte aligned, is needed)");
    const int64_t n4 = n / 4;
    const int64_t blocks = (n4 + k_swiglu_threads - 1) / k_swiglu_threads;
    swiglu_f16_kernel<<<static_cast<unsigned>(blocks < 1      ? 1
                                              : blocks > 8192 ? 8192
                                                              : blocks),
                        k_swiglu_threads, 0, stream>>>(
        reinterpret_cast<float4*>(gate), reinterpret_cast<const float4*>(up), reinterpret_cast<uint2*>(h), n4);
    ENCLAVE_CUDA_CHECK_LAUNCH("swiglu_f16");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
