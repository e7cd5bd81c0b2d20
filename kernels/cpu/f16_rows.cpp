// f16_rows.h: one implementation per ISA level, chosen by detect_cpu_isa() (so ENCLAVE_CPU_ISA lowers it
// like the matmul kernels).
#include "f16_rows.h"

#include <cstring>

#include "enclave/kernels/cpu_matmul.h"

#if defined(ENCLAVE_X86)
#include <immintrin.h>
#endif

namespace enclave::kernels::detail {
namespace {

void rows_scalar(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < n; ++d) {
            _Float16 h;
            std::memcpy(&h, src + r * stride + d, sizeof h);
            dst[r * n + d] = static_cast<float>(h);
        }
}

#if defined(ENCLAVE_X86)
__attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
void rows_avx512(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept {
    // maskz conversions: GCC 12's plain _mm512_cvtph_ps trips -Wmaybe-uninitialized on its undefined source.
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

}  // namespace enclave::kernels::detail
