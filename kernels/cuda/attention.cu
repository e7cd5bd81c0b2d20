// attention: paged attention over the f16 KV cache, causal within each sequence, grouped-query heads.
//
// Two launches: this step's K and V are rounded to f16 and stored at their cache slots, then one block per
// (token, query head) walks the token's keys 0..pos through its sequence's block table. Each warp takes every
// fourth group of keys and keeps an online softmax (running max, sum and weighted V in registers; a lane
// holds P consecutive dimensions of the head); the warps' partial results are merged at the end.
// Numerics as the CPU kernel: q rounded to f16, q·k in f32, scaled, exp in f32.
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

using cuda_detail::half_bits_to_float;
using cuda_detail::warp_sum;

constexpr int k_store_threads = 256;
constexpr int k_warps = 4;
constexpr int k_threads = 32 * k_warps;
constexpr int k_keys_per_step = 4;  // keys a warp scores before one online-softmax update (independent loads)

__global__ void __launch_bounds__(k_store_threads)
    kv_store_kernel(const float* __restrict__ k, const float* __restrict__ v, uint16_t* __restrict__ cache_k,
                    uint16_t* __restrict__ cache_v, const int32_t* __restrict__ token_slot, int64_t n_slots,
                    int64_t kv_row, int* error_flags) {
    const int t = blockIdx.x;
    const int32_t slot = token_slot[t];
    if (slot < 0 || slot >= n_slots) {
        if (error_flags && threadIdx.x == 0) atomicOr(error_flags, k_error_bad_plan);
        return;
    }
    const float* ks = k + static_cast<int64_t>(t) * kv_row;
    const float* vs = v + static_cast<int64_t>(t) * kv_row;
    uint16_t* kd = cache_k + static_cast<int64_t>(slot) * kv_row;
    uint16_t* vd = cache_v + static_cast<int64_t>(slot) * kv_row;
    for (int64_t e = threadIdx.x; e < kv_row; e += k_store_threads) {
        kd[e] = __half_as_ushort(__float2half_rn(ks[e]));
        vd[e] = __half_as_ushort(__float2half_rn(vs[e]));
    }
}

// P f16 values at p (element lane*P of a head) into floats; FULL: the head is exactly 32*P wide, so the P
// values are contiguous, aligned and in range, and are read in one vector load.
template <int P, bool FULL>
__device__ __forceinline__ void load_head_part(const uint16_t* __restrict__ p, int first, int head_dim,
                                               float (&out)[P]) {
    if constexpr (FULL && P >= 2) {
        uint32_t w[P / 2];
        if constexpr (P == 8) {
            const uint4 x = *reinterpret_cast<const uint4*>(p);
            w[0] = x.x, w[1] = x.y, w[2] = x.z, w[3] = x.w;
        } else if constexpr (P == 4) {
            const uint2 x = *reinterpret_cast<const uint2*>(p);
            w[0] = x.x, w[1] = x.y;
        } else {
            w[0] = *reinterpret_cast<const uint32_t*>(p);
        }
#pragma unroll
        for (int i = 0; i < P / 2; ++i) {
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
            out[2 * i] = f.x;
            out[2 * i + 1] = f.y;
        }
    } else {
#pragma unroll
        for (int i = 0; i < P; ++i) out[i] = first + i < head_dim ? half_bits_to_float(p[i]) : 0.0f;
    }
}

template <int P, bool FULL>
__global__ void __launch_bounds__(k_threads)
    attention_kernel(const float* __restrict__ q, const uint16_t* __restrict__ cache_k,
                     const uint16_t* __restrict__ cache_v, AttentionArgs plan, int n_head, int n_kv_head, int head_dim,
                     float scale, float* __restrict__ out, int* error_flags) {
    const int t = blockIdx.x, h = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float* o = out + (static_cast<int64_t>(t) * n_head + h) * head_dim;

    const int32_t seq = plan.token_seq[t];
    const int32_t pos = plan.token_pos[t];
    const bool ok = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < plan.seq_lens[seq] &&
                    pos / plan.block_size < plan.max_blocks_per_seq;
    if (!ok) {  // uniform over the block
        if (threadIdx.x == 0 && error_flags) atomicOr(error_flags, k_error_bad_plan);
        for (int d = threadIdx.x; d < head_dim; d += k_threads) o[d] = 0.0f;
        return;
    }
    const int n_keys = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
    const int64_t kv_row = static_cast<int64_t>(n_kv_head) * head_dim;
    const int64_t kv_off = static_cast<int64_t>(h / (n_head / n_kv_head)) * head_dim;
    const int first = lane * P;

    float qr[P];  // this lane's dims of q, rounded to f16 as the CPU does
    {
        const float* qh = q + (static_cast<int64_t>(t) * n_head + h) * head_dim;
#pragma unroll
        for (int i = 0; i < P; ++i) qr[i] = first + i < head_dim ? __half2float(__float2half_rn(qh[first + i])) : 0.0f;
    }

    float m = -INFINITY, l = 0.0f;
    float acc[P];
#pragma unroll
    for (int i = 0; i < P; ++i) acc[i] = 0.0f;

    for (int j0 = warp * k_keys_per_step; j0 < n_keys; j0 += k_warps * k_keys_per_step) {
        int64_t row[k_keys_per_step];  // element offset of each key's row in the cache, -1: none
        float s[k_keys_per_step];
#pragma unroll
        for (int g = 0; g < k_keys_per_step; ++g) {
            const int j = j0 + g;
            row[g] = -1;
            if (j < n_keys) {
                const int32_t block = table[j / plan.block_size];
                const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
                if (block >= 0 && slot < plan.n_slots)
                    row[g] = slot * kv_row + kv_off;
                else if (lane == 0 && error_flags)
                    atomicOr(error_flags, k_error_bad_plan);
            }
            float kf[P];
            if (row[g] >= 0) load_head_part<P, FULL>(cache_k + row[g] + first, first, head_dim, kf);
            float part = 0.0f;
            if (row[g] >= 0) {
#pragma unroll
                for (int i = 0; i < P; ++i) part += qr[i] * kf[i];
            }
            s[g] = part;
        }
        float m_new = m;
#pragma unroll
        for (int g = 0; g < k_keys_per_step; ++g) {
            s[g] = row[g] >= 0 ? warp_sum(s[g]) * scale : -INFINITY;
            // row[] is uniform over the warp, so every lane joins the shuffles above.
            m_new = fmaxf(m_new, s[g]);
        }
        if (m_new == -INFINITY) continue;
        const float corr = expf(m - m_new);
        l *= corr;
#pragma unroll
        for (int i = 0; i < P; ++i) acc[i] *= corr;
#pragma unroll
        for (int g = 0; g < k_keys_per_step; ++g) {
            if (row[g] < 0) continue;
            const float p = expf(s[g] - m_new);
            l += p;
            float vf[P];
            load_head_part<P, FULL>(cache_v + row[g] + first, first, head_dim, vf);
#pragma unroll
            for (int i = 0; i < P; ++i) acc[i] += p * vf[i];
        }
        m = m_new;
    }

    __shared__ float s_m[k_warps], s_l[k_warps];
    __shared__ float s_acc[k_warps][32 * P];
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < P; ++i) s_acc[warp][first + i] = acc[i];
    __syncthreads();
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < k_warps; ++w) mx = fmaxf(mx, s_m[w]);
    float wgt[k_warps];
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < k_warps; ++w) {
        wgt[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - mx);
        total += s_l[w] * wgt[w];
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    for (int d = threadIdx.x; d < head_dim; d += k_threads) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < k_warps; ++w) sum += s_acc[w][d] * wgt[w];
        o[d] = sum * inv;
    }
}

template <int P>
void launch_attention(const float* q, const uint16_t* ck, const uint16_t* cv, const AttentionArgs& plan, int64_t n_tok,
                      int n_head, int n_kv_head, int head_dim, float scale, float* out, int* error_flags,
                      cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(n_tok), static_cast<unsigned>(n_head));
    if (head_dim == 32 * P)
        attention_kernel<P, true>
            <<<grid, k_threads, 0, stream>>>(q, ck, cv, plan, n_head, n_kv_head, head_dim, scale, out, error_flags);
    else
        attention_kernel<P, false>
            <<<grid, k_threads, 0, stream>>>(q, ck, cv, plan, n_head, n_kv_head, head_dim, scale, out, error_flags);
}

}  // namespace

Status attention(const float* q, const float* k, const float* v, uint16_t* cache_k, uint16_t* cache_v,
                 const AttentionArgs& plan, int64_t n_tok, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                 float scale, float* out, int* error_flags, cudaStream_t stream) {
    if (n_tok == 0) return Status::ok();
    if (!q || !k || !v || !cache_k || !cache_v || !out || !plan.token_seq || !plan.token_pos || !plan.token_slot ||
        !plan.block_tables || !plan.seq_lens)
        return Status::invalid_argument("cuda attention: null pointer");
    if (n_tok < 0 || n_tok > 0x7fffffff || n_head <= 0 || n_head > 65535 || n_kv_head <= 0 || n_head % n_kv_head != 0 ||
        head_dim <= 0 || head_dim > 256 || plan.n_seqs <= 0 || plan.block_size <= 0 || plan.max_blocks_per_seq <= 0 ||
        plan.n_slots <= 0)
        return Status::invalid_argument("cuda attention: bad shape: " + std::to_string(n_tok) + " tokens, heads " +
                                        std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " +
                                        std::to_string(head_dim) + " (at most 256), " + std::to_string(plan.n_seqs) +
                                        " sequences, block size " + std::to_string(plan.block_size));
    const int64_t kv_row = n_kv_head * head_dim;
    kv_store_kernel<<<static_cast<unsigned>(n_tok), k_store_threads, 0, stream>>>(
        k, v, cache_k, cache_v, plan.token_slot, plan.n_slots, kv_row, error_flags);
    ENCLAVE_CUDA_CHECK_LAUNCH("kv_store");
    const int nh = static_cast<int>(n_head), nkv = static_cast<int>(n_kv_head), hd = static_cast<int>(head_dim);
    if (head_dim <= 32)
        launch_attention<1>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    else if (head_dim <= 64)
        launch_attention<2>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    else if (head_dim <= 128)
        launch_attention<4>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    else
        launch_attention<8>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    ENCLAVE_CUDA_CHECK_LAUNCH("attention");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
