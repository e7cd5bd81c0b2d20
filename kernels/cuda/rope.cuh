// The arithmetic of one rotary pair, shared by rope.cu and the fused decode attention (attention.cu), as the
// CPU's rope_row computes it: the angle of pair i advanced from the position by i float products (ggml's
// order), and the rotation with one product of each sum fused (GCC's code for ggml's rotate_pairs).
#pragma once

#include <cstdint>

namespace enclave::kernels::cuda_detail {

// cos and sin of pair i's angle at position p; ff: the pair's frequency factor (1 when none).
__device__ __forceinline__ void rope_cos_sin(int i, float p, float theta_scale, float freq_scale, float ff, float* c,
                                             float* s) {
    float theta = p;
    for (int j = 0; j < i; ++j) theta = __fmul_rn(theta, theta_scale);
    const float angle = __fmul_rn(freq_scale, __fdiv_rn(theta, ff));
    *c = cosf(angle);
    *s = sinf(angle);
}

// (x0, x1) rotated by the angle of (c, s).
__device__ __forceinline__ void rope_rotate(float x0, float x1, float c, float s, float* y0, float* y1) {
    *y0 = __fmaf_rn(x0, c, -__fmul_rn(x1, s));
    *y1 = __fmaf_rn(x0, s, __fmul_rn(x1, c));
}

}  // namespace enclave::kernels::cuda_detail
