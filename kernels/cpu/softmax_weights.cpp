// Sampling helpers (cpu_ops.h): the largest logit and softmax weights over a whole vocabulary, vectorized.
// The sampler draws from softmax(logits / T) for every generated token of every sequence; with ~50k-150k
// logits, libm's scalar expf made that ~0.5 ms a token on the engine thread. ggml's vector exp (exp_ggml,
// ~1.5 ulp) vectorizes in the clones below.
#include <algorithm>
#include <cmath>

#include "enclave/kernels/cpu_ops.h"
#include "ggml_order.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ENCLAVE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ENCLAVE_CLONES
#endif

namespace enclave::kernels {

ENCLAVE_CLONES
float max_of_row(const float* x, int64_t n) noexcept {
    float lanes[16];
    std::fill(lanes, lanes + 16, -INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; ++l) lanes[l] = std::max(lanes[l], x[i + l]);
    float m = -INFINITY;
    for (int l = 0; l < 16; ++l) m = std::max(m, lanes[l]);
    for (; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

ENCLAVE_CLONES
void softmax_weights_row(const float* x, float max_x, float scale, float* w, float* chunk_sums, int64_t n) noexcept {
    for (int64_t c = 0; c * softmax_chunk < n; ++c) {
        const int64_t begin = c * softmax_chunk, end = std::min(n, begin + softmax_chunk);
        float lanes[16] = {};
        int64_t i = begin;
        for (; i + 16 <= end; i += 16)
            for (int l = 0; l < 16; ++l) {
                const float e = detail::exp_ggml((x[i + l] - max_x) * scale);
                w[i + l] = e;
                lanes[l] += e;
            }
        float sum = detail::reduce16(lanes);
        for (; i < end; ++i) {
            w[i] = detail::exp_ggml((x[i] - max_x) * scale);
            sum += w[i];
        }
        chunk_sums[c] = sum;
    }
}

}  // namespace enclave::kernels
