// rope: rotary position embedding of q and k in place. One block per (token, group of heads): the block
// builds the cos/sin table of the token's position in shared memory (a thread per pair, all pairs at once),
// then rotates every (head, pair) of its group, a thread per pair. A decode step (one token) so spreads over
// (n_head + n_kv_head) / heads-per-group blocks instead of one.
// The angles are advanced by repeated float multiplication as the CPU (and ggml) do, so both land on the
// same floats; the rotation fuses exactly the products the CPU's compiled rope_row fuses (rope.cuh).
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "rope.cuh"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 256;
constexpr int k_max_pairs = 512;

// Heads [blockIdx.y * hpb, min(+hpb, n_head + n_kv_head)) of token blockIdx.x; q's heads first, then k's.
__global__ void __launch_bounds__(k_threads)
    rope_kernel(float* __restrict__ q, float* __restrict__ k, int n_head, int n_kv_head, int head_dim,
                const int32_t* __restrict__ pos, int n_dims, float theta_scale, float freq_scale, bool neox,
                const float* __restrict__ freq_factors, int hpb) {
    __shared__ float cos_cache[k_max_pairs];
    __shared__ float sin_cache[k_max_pairs];
    const int t = blockIdx.x;
    const int n_pairs = n_dims / 2;
    const float p = static_cast<float>(pos[t]);
    for (int i = threadIdx.x; i < n_pairs; i += blockDim.x) {
        cuda_detail::rope_cos_sin(i, p, theta_scale, freq_scale, freq_factors ? freq_factors[i] : 1.0f, &cos_cache[i],
                                  &sin_cache[i]);
    }
    __syncthreads();
    const int h0 = blockIdx.y * hpb;
    const int n_h = min(hpb, n_head + n_kv_head - h0);
    const int total = n_h * n_pairs;
    for (int idx = threadIdx.x; idx < total; idx += blockDim.x) {
        const int h = h0 + idx / n_pairs, i = idx % n_pairs;
        float* v = h < n_head ? q + (static_cast<int64_t>(t) * n_head + h) * head_dim
                              : k + (static_cast<int64_t>(t) * n_kv_head + (h - n_head)) * head_dim;
        const int a = neox ? i : 2 * i;
        const int b = neox ? i + n_pairs : 2 * i + 1;
        const float x0 = v[a], x1 = v[b], c = cos_cache[i], s = sin_cache[i];
        cuda_detail::rope_rotate(x0, x1, c, s, &v[a], &v[b]);
    }
}

}  // namespace

Status rope(float* q, float* k, int64_t n_tok, int64_t n_head, int64_t n_kv_head, int64_t head_dim, const int32_t* pos,
            const RopeArgs& args, cudaStream_t stream) {
    if (n_tok == 0) return Status::ok();
    if (!q || !k || !pos) return Status::invalid_argument("cuda rope: null pointer");
    if (n_tok < 0 || n_tok > 0x7fffffff || n_head <= 0 || n_kv_head <= 0 || head_dim <= 0 || args.n_dims <= 0 ||
        args.n_dims % 2 != 0 || args.n_dims > head_dim || args.n_dims > 2 * k_max_pairs ||
        (n_head + n_kv_head) * head_dim > 0x7fffffff || n_head + n_kv_head > 65535)
        return Status::invalid_argument("cuda rope: bad shape: " + std::to_string(n_tok) + " tokens, heads " +
                                        std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " +
                                        std::to_string(head_dim) + ", n_dims " + std::to_string(args.n_dims));
    // Computed on the host exactly as the CPU kernel computes it.
    const float theta_scale = std::pow(args.freq_base, -2.0f / static_cast<float>(args.n_dims));
    // Heads per block: a thread per (head, pair), at most k_threads pairs a block, at least one head.
    const int n_pairs = args.n_dims / 2;
    const int n_heads = static_cast<int>(n_head + n_kv_head);
    const int hpb = std::max(1, std::min(n_heads, k_threads / n_pairs));
    const int n_groups = (n_heads + hpb - 1) / hpb;
    const int threads = std::min(k_threads, (hpb * n_pairs + 31) / 32 * 32);
    const dim3 grid(static_cast<unsigned>(n_tok), static_cast<unsigned>(n_groups));
    rope_kernel<<<grid, threads, 0, stream>>>(q, k, static_cast<int>(n_head), static_cast<int>(n_kv_head),
                                              static_cast<int>(head_dim), pos, args.n_dims, theta_scale,
                                              args.freq_scale, args.neox, args.freq_factors, hpb);
    ENCLAVE_CUDA_CHECK_LAUNCH("rope");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
