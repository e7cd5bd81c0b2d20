// f16 <-> f32 rows (cpu_ops.h): one implementation per ISA level, chosen by detect_cpu_isa() (so ENCLAVE_CPU_ISA
// lowers it like the matmul kernels). The conversions are IEEE (exact widening, rounding to nearest even), so
// every level gives the bits of a _Float16 cast.
#include <cstring>

#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/cpu_ops.h"

#if defined(ENCLAVE_X86)
#include <immintrin.h>
#endif

namespace enclave::kernels {
namespace {

void rows_scalar(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < n; ++d) {
            _Float16 h;
            std::memcpy(&h, src + r * stride + d, sizeof h);
            dst[r * n + d] = static_cast<float>(h);
        }
}

void scale_round_scalar(float* x, float scale, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<_Float16>(x[i] * scale));
}

#if defined(ENCLAVE_X86)
__attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
void scale_round_avx512(float* x, float scale, int64_t n) noexcept {
    // maskz forms of the conversions here and below: GCC 12's plain _mm512_cvtps_ph / _mm512_cvtph_ps trip
    // -Wmaybe-uninitialized on their undefined pass-through operand.
    const __m512 s = _mm512_set1_ps(scale);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm512_maskz_cvtps_ph(0xFFFF, _mm512_mul_ps(_mm512_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT);
        _mm512_storeu_ps(x + i, _mm512_maskz_cvtph_ps(0xFFFF, h));
    }
    scale_round_scalar(x + i, scale, n - i);
}

__attribute__((target("avx2,f16c")))
void scale_round_avx2(float* x, float scale, int64_t n) noexcept {
    const __m256 s = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    scale_round_scalar(x + i, scale, n - i);
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
void rows_avx512(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
    const int64_t whole = n & ~int64_t{15};
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - whole)) - 1u);
    for (int64_t r = 0; r < rows; ++r) {
        const uint16_t* s = src + r * stride;
        float* o = dst + r * n;
        for (int64_t d = 0; d < whole; d += 16)
            _mm512_storeu_ps(o + d, _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + d))));
        if (tail) _mm512_mask_storeu_ps(o + whole, tail, _mm512_maskz_cvtph_ps(tail, _mm256_maskz_loadu_epi16(tail, s + whole)));
    }
}

__attribute__((target("avx2,f16c")))
void rows_avx2(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
    const int64_t whole = n & ~int64_t{7};
    for (int64_t r = 0; r < rows; ++r) {
        const uint16_t* s = src + r * stride;
        float* o = dst + r * n;
        for (int64_t d = 0; d < whole; d += 8)
            _mm256_storeu_ps(o + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + d))));
        for (int64_t d = whole; d < n; ++d) o[d] = _cvtsh_ss(s[d]);
    }
}
#endif

}  // namespace

void scale_round_to_f16(float* x, float scale, int64_t n) noexcept {
#if defined(ENCLAVE_X86)
    switch (detect_cpu_isa()) {
        case CpuIsa::avx512: return scale_round_avx512(x, scale, n);
        case CpuIsa::avx2: return scale_round_avx2(x, scale, n);
        case CpuIsa::scalar: break;
    }
#endif
    scale_round_scalar(x, scale, n);
}

void f16_rows_to_f32(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
#if defined(ENCLAVE_X86)
    switch (detect_cpu_isa()) {
        case CpuIsa::avx512: return rows_avx512(src, stride, rows, n, dst);
        case CpuIsa::avx2: return rows_avx2(src, stride, rows, n, dst);
        case CpuIsa::scalar: break;
    }
#endif
    rows_scalar(src, stride, rows, n, dst);
}

}  // namespace enclave::kernels
