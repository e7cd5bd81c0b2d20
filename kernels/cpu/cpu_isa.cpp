// Which x86 vector ISA the matmul kernels may use: cpuid for what the CPU implements, xgetbv for what the
// OS saves on a context switch (a CPU with AVX-512 under an OS or hypervisor that does not enable the
// zmm state must not run AVX-512 code), and ENCLAVE_CPU_ISA to lower the choice for tests and A/B runs.
#include <atomic>
#include <cstdlib>
#include <string_view>

#include "enclave/kernels/cpu_matmul.h"

#if defined(ENCLAVE_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>  // defines: __get_cpuid_count
#define ENCLAVE_HAVE_CPUID 1
#endif

namespace enclave::kernels {
namespace {

struct IsaSupport {
    bool avx2 = false;    // AVX2 + FMA + F16C, ymm state enabled
    bool avx512 = false;  // AVX-512 F/BW/VL/DQ/VNNI, zmm and opmask state enabled
};

IsaSupport probe() noexcept {
    IsaSupport s;
#ifdef ENCLAVE_HAVE_CPUID
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(0, 0, &a, &b, &c, &d)) return s;
    const unsigned max_leaf = a;
    if (max_leaf < 7) return s;
    __get_cpuid_count(1, 0, &a, &b, &c, &d);
    const bool osxsave = (c >> 27) & 1;
    const bool fma = (c >> 12) & 1;
    const bool f16c = (c >> 29) & 1;
    const bool avx = (c >> 28) & 1;
    if (!osxsave || !avx) return s;
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool ymm_state = (xcr0_lo & 0x6u) == 0x6u;    // SSE + AVX state
    const bool zmm_state = (xcr0_lo & 0xe6u) == 0xe6u;  // + opmask, ZMM_Hi256, Hi16_ZMM
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    const bool avx2 = (b >> 5) & 1;
    const bool avx512f = (b >> 16) & 1;
    const bool avx512dq = (b >> 17) & 1;
    const bool avx512bw = (b >> 30) & 1;
    const bool avx512vl = (b >> 31) & 1;
    const bool avx512vnni = (c >> 11) & 1;
    s.avx2 = ymm_state && avx2 && fma && f16c;
    s.avx512 = s.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni;
#endif
    return s;
}

// The detection cache: the only mutable global of the kernels, written once (racing writers store the
// same value, hence relaxed atomics suffice).
std::atomic<int> g_detected{-1};
std::atomic<int> g_supported_mask{-1};

int supported_mask() noexcept {
    int m = g_supported_mask.load(std::memory_order_relaxed);
    if (m < 0) {
        const IsaSupport s = probe();
        m = 1 | (s.avx2 ? 2 : 0) | (s.avx512 ? 4 : 0);
        g_supported_mask.store(m, std::memory_order_relaxed);
    }
    return m;
}

int isa_bit(CpuIsa isa) noexcept {
    switch (isa) {
        case CpuIsa::scalar:
            return 1;
        case CpuIsa::avx2:
            return 2;
        case CpuIsa::avx512:
            return 4;
    }
    return 0;
}

}  // namespace

bool cpu_isa_supported(CpuIsa isa) noexcept {
    return (supported_mask() & isa_bit(isa)) != 0;
}

std::string_view cpu_isa_name(CpuIsa isa) noexcept {
    switch (isa) {
        case CpuIsa::scalar:
            return "scalar";
        case CpuIsa::avx2:
            return "avx2";
        case CpuIsa::avx512:
            return "avx512";
    }
    return "unknown";
}

CpuIsa detect_cpu_isa() noexcept {
    int cached = g_detected.load(std::memory_order_relaxed);
    if (cached < 0) {
        CpuIsa best = cpu_isa_supported(CpuIsa::avx512) ? CpuIsa::avx512
                      : cpu_isa_supported(CpuIsa::avx2) ? CpuIsa::avx2
                                                        : CpuIsa::scalar;
        // The override may only lower the choice: asking for AVX-512 on an AVX2 machine keeps AVX2.
        if (const char* env = std::getenv("ENCLAVE_CPU_ISA")) {
            const std::string_view want(env);
            if (want == "scalar")
                best = CpuIsa::scalar;
            else if (want == "avx2" && best == CpuIsa::avx512)
                best = CpuIsa::avx2;
        }
        cached = static_cast<int>(best);
        g_detected.store(cached, std::memory_order_relaxed);
    }
    return static_cast<CpuIsa>(cached);
}

}  // namespace enclave::kernels
