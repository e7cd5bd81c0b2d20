// swiglu_row (cpu_ops.h): silu(g) * u with ggml's vector exp, in ggml_vec_swiglu_f32's order of operations:
// (g / (1 + e^(0 - g))) * u, each step rounded. Compiled with -ffp-contract=off (kernels/CMakeLists.txt)
// so the exp's last product is not fused into the 1 + e that follows it.
#include "enclave/kernels/cpu_ops.h"
#include "ggml_order.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENCLAVE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENCLAVE_CLONES
#endif

namespace enclave::kernels {

ENCLAVE_CLONES
void swiglu_row(float* gate, const float* up, int64_t n) noexcept {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = (g / (1.0f + detail::exp_ggml(0.0f - g))) * up[i];
    }
}

}  // namespace enclave::kernels
