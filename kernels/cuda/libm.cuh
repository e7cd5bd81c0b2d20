// Two exps of the CPU backend, bit for bit. exp_ggml: ggml_v_expf's AVX-512 variant (kernels/cpu/ggml_order.h),
// which the CPU uses for the attention softmax and swiglu since it follows llama.cpp's order. expf_glibc:
// glibc's expf, kept for reference and tests.
//
// expf_glibc is a port of glibc's expf (sysdeps/ieee754/flt-32/e_expf.c, from ARM's
// optimized-routines; glibc >= 2.27, in the variant x86-64 machines with FMA select), so that the attention
// softmax and swiglu give the same bits on both backends. CUDA's expf differs from it by an ulp now and then,
// which is enough to flip the f16 rounding of the attention accumulator that the CPU path keeps.
// Double-precision arithmetic throughout, as the original; a few dozen instructions.
#pragma once

#include <cstdint>

namespace enclave::kernels::cuda_detail {

// tab[i] = bits(2^(i/32)) - (i << 47)
__device__ __constant__ const unsigned long long k_exp2f_tab[32] = {
    0x3FF0000000000000ull, 0x3FEFD9B0D3158574ull, 0x3FEFB5586CF9890Full, 0x3FEF9301D0125B51ull, 0x3FEF72B83C7D517Bull,
    0x3FEF54873168B9AAull, 0x3FEF387A6E756238ull, 0x3FEF1E9DF51FDEE1ull, 0x3FEF06FE0A31B715ull, 0x3FEEF1A7373AA9CBull,
    0x3FEEDEA64C123422ull, 0x3FEECE086061892Dull, 0x3FEEBFDAD5362A27ull, 0x3FEEB42B569D4F82ull, 0x3FEEAB07DD485429ull,
    0x3FEEA47EB03A5585ull, 0x3FEEA09E667F3BCDull, 0x3FEE9F75E8EC5F74ull, 0x3FEEA11473EB0187ull, 0x3FEEA589994CCE13ull,
    0x3FEEACE5422AA0DBull, 0x3FEEB737B0CDC5E5ull, 0x3FEEC49182A3F090ull, 0x3FEED503B23E255Dull, 0x3FEEE89F995AD3ADull,
    0x3FEEFF76F2FB5E47ull, 0x3FEF199BDD85529Cull, 0x3FEF3720DCEF9069ull, 0x3FEF5818DCFBA487ull, 0x3FEF7C97337B9B5Full,
    0x3FEFA4AFA2A490DAull, 0x3FEFD0765B6E4540ull,
};

__device__ __forceinline__ float expf_glibc(float x) {
    constexpr double inv_ln2_n = 0x1.71547652b82fep+0 * 32;
    constexpr double shift = 0x1.8p+52;
    constexpr double c0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32;
    constexpr double c1 = 0x1.ebfce50fac4f3p-3 / 32 / 32;
    constexpr double c2 = 0x1.62e42ff0c52d6p-1 / 32;
    const uint32_t ux = __float_as_uint(x);
    const uint32_t abstop = (ux >> 20) & 0x7ff;
    if (abstop >= 0x42b) {  // |x| >= 88 or NaN
        if (ux == 0xff800000u) return 0.0f;
        if (abstop >= 0x7f8) return x + x;
        if (x > 0x1.62e42ep6f) return __int_as_float(0x7f800000);  // overflow
        if (x < -0x1.9fe368p6f) return 0.0f;                       // underflow
    }
    const double xd = static_cast<double>(x);
    // x*N/ln2 = k + r with |r| <= 1/2; the products fused into the additions as GCC does with FMA.
    double kd = __fma_rn(inv_ln2_n, xd, shift);
    const unsigned long long ki = static_cast<unsigned long long>(__double_as_longlong(kd));
    kd = __dsub_rn(kd, shift);
    const double r = __fma_rn(inv_ln2_n, xd, -kd);
    const unsigned long long t = k_exp2f_tab[ki % 32] + (ki << 47);
    const double s = __longlong_as_double(static_cast<long long>(t));
    const double z = __fma_rn(c0, r, c1);
    const double r2 = __dmul_rn(r, r);
    double y = __fma_rn(c2, r, 1.0);
    y = __fma_rn(z, r2, y);
    y = __dmul_rn(y, s);
    return __double2float_rn(y);
}

// e^x as kernels/cpu/ggml_order.h's exp_ggml computes it: x = n ln2 + b, e^b by a degree-5 polynomial, then
// j * 2^n in two products (the first exact). Every step rounded as written there (no contraction).
__device__ __forceinline__ float pow2_normal(int k) {
    return __uint_as_float(static_cast<uint32_t>(k + 127) << 23);
}
__device__ __forceinline__ float exp_ggml(float x) {
    const float shift = 0x1.8p23f;
    const float z = __fmaf_rn(x, 0x1.715476p+0f, shift);
    const float n = __fsub_rn(z, shift);
    if (fabsf(n) > 192.0f) return n > 0.0f ? __int_as_float(0x7f800000) : 0.0f;
    if (n != n) return n;
    const float b = __fmaf_rn(-n, 0x1.7f7d1cp-20f, __fmaf_rn(-n, 0x1.62e4p-1f, x));
    const float u = __fmul_rn(b, b);
    const float j = __fmaf_rn(
        __fmaf_rn(__fmaf_rn(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, __fmaf_rn(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
        __fmaf_rn(0x1.ffffecp-1f, b, 1.0f));
    const int ni = static_cast<int>(n);
    const int n1 = ni < -125 ? -125 : (ni > 127 ? 127 : ni);
    return __fmul_rn(__fmul_rn(j, pow2_normal(n1)), pow2_normal(ni - n1));
}

}  // namespace enclave::kernels::cuda_detail
