// 8-bit activations of a group of 32 values held by LANES consecutive, aligned lanes of a warp (VPT values
// each, in order; every lane of the warp calls it, `active` ones write), with the arithmetic of matmul_q.cu's
// quantize_q8_kernel (ggml's x86 quantize_row_q8_0 and q8_1): d = amax / 127, q = rint(v * 127 / amax), the Q8_1 offset
// f16(d * Σq). Used where a kernel that produces activations writes their 8-bit form too (the fused norm, swiglu), so
// both give the same bytes.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace enclave::kernels::cuda_detail {

template <int LANES, int VPT>
__device__ __forceinline__ void quantize_group32(const float (&v)[VPT], bool q8_1, bool active, int8_t* qs,
                                                 float* d_out, float* s_out) {
    static_assert(LANES * VPT == 32 && (LANES & (LANES - 1)) == 0, "a group is 32 values on 2^k lanes");
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < VPT; ++i) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
    for (int o = LANES / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    uint32_t packed[(VPT + 3) / 4] = {};
#pragma unroll
    for (int i = 0; i < VPT; ++i) {
        const int q = static_cast<int>(rintf(v[i] * id));
        sum += q;
        packed[i / 4] |= (static_cast<uint32_t>(q) & 0xFFu) << (8 * (i % 4));
    }
    if (active) {
        if constexpr (VPT % 4 == 0) {
#pragma unroll
            for (int i = 0; i < VPT / 4; ++i) reinterpret_cast<uint32_t*>(qs)[i] = packed[i];
        } else {
#pragma unroll
            for (int i = 0; i < VPT; ++i) qs[i] = static_cast<int8_t>((packed[i / 4] >> (8 * (i % 4))) & 0xFFu);
        }
    }
#pragma unroll
    for (int o = LANES / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (active && (threadIdx.x & (LANES - 1)) == 0) {
        *d_out = __half2float(__float2half_rn(d));
        *s_out = q8_1 ? __half2float(__float2half_rn(d * static_cast<float>(sum))) : 0.0f;
    }
}

}  // namespace enclave::kernels::cuda_detail
