// The part the wide RMS norms share (norm.cu's rms_norm_wide_kernel and rms_norm_fused_kernel,
// f16_activations.cu's rms_norm_f16_kernel): one block a row, thread t holding the row's float4 number
// t + j * blockDim.x for j < VPT in registers. It loads them (x += residual first, one f32 add a value, written
// back to x, as add_kernel does), sums their squares rounded to f32 in double, and returns the row's scale
// 1 / sqrt(mean + eps) with the mean rounded to f32, as the CPU (and ggml) compute it. Callers then write
// x * scale * w in their own forms. blockDim.x is a multiple of 32 (<= MAX_THREADS); n4 = n_cols / 4 <=
// VPT * blockDim.x; pointers 16-byte aligned. Every read of x happens before the barrier inside, so the caller
// may write an output that aliases x afterwards.
#pragma once

#include <cstdint>

namespace enclave::kernels::cuda_detail {

__device__ __forceinline__ double warp_sum_double(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// xr, rr (null: no residual), wr: the row's float4 of x, of the residual and of the weight.
// Out: xv, wv [VPT] (zeros past n4). Returns the scale.
template <int VPT, int MAX_THREADS>
__device__ __forceinline__ float rms_row_scale(float4* xr, const float4* rr, const float4* __restrict__ wr, int n4,
                                               float eps, float4 (&xv)[VPT], float4 (&wv)[VPT]) {
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
        const int i = threadIdx.x + j * blockDim.x;
        if (i < n4) {
            xv[j] = xr[i];
            if (rr) {
                const float4 r = rr[i];
                xv[j].x = __fadd_rn(xv[j].x, r.x), xv[j].y = __fadd_rn(xv[j].y, r.y);
                xv[j].z = __fadd_rn(xv[j].z, r.z), xv[j].w = __fadd_rn(xv[j].w, r.w);
                xr[i] = xv[j];
            }
            wv[j] = __ldg(wr + i);
        } else {
            xv[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            wv[j] = xv[j];
        }
    }
    double sum = 0.0;
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
        sum += static_cast<double>(__fmul_rn(xv[j].x, xv[j].x));
        sum += static_cast<double>(__fmul_rn(xv[j].y, xv[j].y));
        sum += static_cast<double>(__fmul_rn(xv[j].z, xv[j].z));
        sum += static_cast<double>(__fmul_rn(xv[j].w, xv[j].w));
    }
    __shared__ double partial[MAX_THREADS / 32];
    sum = warp_sum_double(sum);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
    __syncthreads();
    const int n_warps = blockDim.x >> 5;
    double total = 0.0;
    for (int i = 0; i < n_warps; ++i) total += partial[i];
    const float mean = static_cast<float>(total / static_cast<double>(static_cast<int64_t>(n4) * 4));
    return 1.0f / sqrtf(mean + eps);
}

// x * scale * w, value by value.
__device__ __forceinline__ float4 rms_row_apply(float4 x, float scale, float4 w) {
    float4 y;
    y.x = __fmul_rn(__fmul_rn(x.x, scale), w.x);
    y.y = __fmul_rn(__fmul_rn(x.y, scale), w.y);
    y.z = __fmul_rn(__fmul_rn(x.z, scale), w.z);
    y.w = __fmul_rn(__fmul_rn(x.w, scale), w.w);
    return y;
}

}  // namespace enclave::kernels::cuda_detail
