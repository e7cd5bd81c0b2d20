// attention: paged attention over the f16 KV cache, causal within each sequence, grouped-query heads,
// computing exactly what the CPU kernels compute (cpu_ops.h: attention_head's f16-accumulate path and
// attention_query_f32), so both backends produce the same bits and the same tokens.
//
// Two launches: this step's K and V are rounded to f16 and stored at their cache slots; then one block per
// (token, query head) walks the token's keys 0..pos through its sequence's block table, in chunks of 128 keys:
//   1. scores: a thread per key, q·k summed in the CPU's order (16 partial sums for the f16 path, one running
//      sum over the dimensions for the f32 path), then scaled;
//   2. softmax weights: f16 path: ggml's online rule per key (a new maximum rescales, others are weighted by
//      exp(s - m)), found for 32 keys at once from a prefix maximum; f32 path: exp(s - max) after a first
//      pass that found the maximum;
//   3. values: a thread per dimension accumulates the chunk's keys in order, in f16 (rounded after every
//      key, as ggml's one-row flash attention does) or in f32; the normaliser is summed in the same order.
// exp is glibc's expf (libm.cuh). Sequential over the keys by design (that order is what the CPU rounds in):
// fast at the contexts of a chat turn, slower than a split-K kernel at tens of thousands of keys.
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

using cuda_detail::expf_glibc;
using cuda_detail::half_bits_to_float;

constexpr int k_store_threads = 256;
constexpr int k_threads = 128;  // also the keys of a chunk (one per thread) and dims per pass
constexpr int k_max_head_dim = 256;

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

__device__ __forceinline__ float round_f16(float x) { return __half2float(__float2half_rn(x)); }

// Eight f16 values at p (16-byte aligned) as floats.
__device__ __forceinline__ void load8(const uint16_t* p, float (&out)[8]) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
        out[2 * i] = f.x;
        out[2 * i + 1] = f.y;
    }
}

// q·k in the CPU's order. F16ACC (dot_f16_f32): 16 running partial sums over i % 16, added in order, then the
// tail. Otherwise (attention_query_f32): one running sum over the dimensions in order. No FMA contraction.
// VEC: head_dim is a multiple of 16 and rows are 32-byte aligned.
template <bool F16ACC, bool VEC>
__device__ __forceinline__ float dot_cpu_order(const uint16_t* __restrict__ k, const float* __restrict__ q, int hd) {
    if constexpr (F16ACC) {
        float p[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) p[j] = 0.0f;
        int i = 0;
        for (; i + 16 <= hd; i += 16) {
            float kv[16];
            if constexpr (VEC) {
                float a[8], b[8];
                load8(k + i, a);
                load8(k + i + 8, b);
#pragma unroll
                for (int j = 0; j < 8; ++j) kv[j] = a[j], kv[j + 8] = b[j];
            } else {
#pragma unroll
                for (int j = 0; j < 16; ++j) kv[j] = half_bits_to_float(k[i + j]);
            }
#pragma unroll
            for (int j = 0; j < 16; ++j) p[j] = __fadd_rn(p[j], __fmul_rn(kv[j], q[i + j]));
        }
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < 16; ++j) sum = __fadd_rn(sum, p[j]);
        for (; i < hd; ++i) sum = __fadd_rn(sum, __fmul_rn(half_bits_to_float(k[i]), q[i]));
        return sum;
    } else {
        float sum = 0.0f;
        int i = 0;
        if constexpr (VEC) {
            for (; i + 8 <= hd; i += 8) {
                float a[8];
                load8(k + i, a);
#pragma unroll
                for (int j = 0; j < 8; ++j) sum = __fadd_rn(sum, __fmul_rn(q[i + j], a[j]));
            }
        }
        for (; i < hd; ++i) sum = __fadd_rn(sum, __fmul_rn(q[i], half_bits_to_float(k[i])));
        return sum;
    }
}

template <bool F16ACC, bool VEC>
__global__ void __launch_bounds__(k_threads)
    attention_kernel(const float* __restrict__ q, const uint16_t* __restrict__ cache_k,
                     const uint16_t* __restrict__ cache_v, AttentionArgs plan, int n_head, int n_kv_head, int head_dim,
                     float scale, float* __restrict__ out, int* error_flags) {
    const int t = blockIdx.x, h = blockIdx.y;
    const int tid = threadIdx.x;
    float* o = out + (static_cast<int64_t>(t) * n_head + h) * head_dim;

    const int32_t seq = plan.token_seq[t];
    const int32_t pos = plan.token_pos[t];
    const bool ok = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < plan.seq_lens[seq] &&
                    pos / plan.block_size < plan.max_blocks_per_seq;
    if (!ok) {  // uniform over the block
        if (tid == 0 && error_flags) atomicOr(error_flags, k_error_bad_plan);
        for (int d = tid; d < head_dim; d += k_threads) o[d] = 0.0f;
        return;
    }
    const int n_keys = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
    const int64_t kv_row = static_cast<int64_t>(n_kv_head) * head_dim;
    const int64_t kv_off = static_cast<int64_t>(h / (n_head / n_kv_head)) * head_dim;

    __shared__ float s_q[k_max_head_dim];  // q as the CPU meets it (rounded to f16 on the f16 path)
    __shared__ float s_score[k_threads];   // scores of the chunk, then (f32 path) their weights
    __shared__ float s_ms[k_threads];      // f16 path: rescale factor of the accumulator at each key
    __shared__ float s_vs[k_threads];      // f16 path: weight of each key's value
    __shared__ int64_t s_row[k_threads];   // element offset of each key's head in the cache, -1: skipped
    __shared__ float s_max[k_threads / 32];
    __shared__ float s_norm;  // f32 path: the running sum of weights (thread 0's)

    const float* qh = q + (static_cast<int64_t>(t) * n_head + h) * head_dim;
    for (int i = tid; i < head_dim; i += k_threads) s_q[i] = F16ACC ? round_f16(qh[i]) : qh[i];
    __syncthreads();

    // Score of key c0 + tid (or -inf past the end / for a bad block), its row noted in s_row.
    auto score_of = [&](int c0) -> float {
        const int j = c0 + tid;
        float s = -INFINITY;
        int64_t row = -1;
        if (j < n_keys) {
            const int32_t block = table[j / plan.block_size];
            const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
            if (block >= 0 && slot < plan.n_slots) {
                row = slot * kv_row + kv_off;
                s = __fmul_rn(dot_cpu_order<F16ACC, VEC>(cache_k + row, s_q, head_dim), scale);
            } else if (error_flags) {
                atomicOr(error_flags, k_error_bad_plan);
            }
        }
        s_row[tid] = row;
        return s;
    };

    // This thread's dims of the output: tid and tid + 128.
    const int d0 = tid, d1 = tid + k_threads;
    float acc0 = 0.0f, acc1 = 0.0f, norm = 0.0f;

    if constexpr (F16ACC) {
        float m = -INFINITY;  // running maximum (warp 0's copy)
        for (int c0 = 0; c0 < n_keys; c0 += k_threads) {
            const int n = min(k_threads, n_keys - c0);
            s_score[tid] = score_of(c0);
            __syncthreads();
            if (tid < 32) {
                // ggml's rule per key j with m the maximum before it: s > m → (ms, vs) = (exp(m - s), 1), m = s;
                // else (1, exp(s - m)). m before j is the prefix maximum, found 32 keys at a time.
                for (int b = 0; b < n; b += 32) {
                    const int j = b + tid;
                    const float s = j < n ? s_score[j] : -INFINITY;
                    float incl = s;  // max over keys b..j
#pragma unroll
                    for (int o = 1; o < 32; o <<= 1) {
                        const float other = __shfl_up_sync(0xffffffffu, incl, o);
                        if (tid >= o) incl = fmaxf(incl, other);
                    }
                    float before = __shfl_up_sync(0xffffffffu, incl, 1);
                    before = tid == 0 ? m : fmaxf(m, before);
                    if (j < n) {
                        if (s_row[j] < 0) {
                            s_ms[j] = 1.0f, s_vs[j] = 0.0f;
                        } else if (s > before) {
                            s_ms[j] = expf_glibc(before - s), s_vs[j] = 1.0f;
                        } else {
                            s_ms[j] = 1.0f, s_vs[j] = expf_glibc(s - before);
                        }
                    }
                    m = fmaxf(m, __shfl_sync(0xffffffffu, incl, 31));
                }
            }
            __syncthreads();
            for (int j = 0; j < n; ++j) {
                const int64_t row = s_row[j];
                if (row < 0) continue;
                const float ms = s_ms[j], vs = s_vs[j];
                const uint16_t* vr = cache_v + row;
                if (d0 < head_dim)
                    acc0 = round_f16(__fmaf_rn(half_bits_to_float(vr[d0]), vs, round_f16(__fmul_rn(acc0, ms))));
                if (d1 < head_dim)
                    acc1 = round_f16(__fmaf_rn(half_bits_to_float(vr[d1]), vs, round_f16(__fmul_rn(acc1, ms))));
                norm = __fadd_rn(__fmul_rn(norm, ms), vs);
            }
            __syncthreads();  // before the next chunk overwrites the shared arrays
        }
        const float inv = norm == 0.0f ? 0.0f : 1.0f / norm;
        if (d0 < head_dim) o[d0] = __fmul_rn(acc0, inv);
        if (d1 < head_dim) o[d1] = __fmul_rn(acc1, inv);
    } else {
        // Pass 1: the maximum score.
        float mx = -INFINITY;
        for (int c0 = 0; c0 < n_keys; c0 += k_threads) mx = fmaxf(mx, score_of(c0));
#pragma unroll
        for (int o2 = 16; o2 > 0; o2 >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o2));
        if ((tid & 31) == 0) s_max[tid >> 5] = mx;
        __syncthreads();
        mx = s_max[0];
#pragma unroll
        for (int w = 1; w < k_threads / 32; ++w) mx = fmaxf(mx, s_max[w]);
        if (tid == 0) s_norm = 0.0f;
        // Pass 2: weights, their sum in key order (thread 0), the weighted values in key order.
        for (int c0 = 0; c0 < n_keys; c0 += k_threads) {
            const int n = min(k_threads, n_keys - c0);
            __syncthreads();  // the previous chunk's readers are done
            const float s = score_of(c0);
            s_score[tid] = s_row[tid] >= 0 ? expf_glibc(__fsub_rn(s, mx)) : 0.0f;
            __syncthreads();
            if (tid == 0) {
                float sum = s_norm;
                for (int j = 0; j < n; ++j) sum = __fadd_rn(sum, s_score[j]);
                s_norm = sum;
            }
            for (int j = 0; j < n; ++j) {
                const int64_t row = s_row[j];
                if (row < 0) continue;
                const float e = s_score[j];
                const uint16_t* vr = cache_v + row;
                if (d0 < head_dim) acc0 = __fadd_rn(acc0, __fmul_rn(e, half_bits_to_float(vr[d0])));
                if (d1 < head_dim) acc1 = __fadd_rn(acc1, __fmul_rn(e, half_bits_to_float(vr[d1])));
            }
        }
        __syncthreads();
        norm = s_norm;
        const float inv = norm > 0.0f ? 1.0f / norm : 0.0f;
        if (d0 < head_dim) o[d0] = __fmul_rn(acc0, inv);
        if (d1 < head_dim) o[d1] = __fmul_rn(acc1, inv);
    }
}

template <bool F16ACC>
void launch_attention(const float* q, const uint16_t* ck, const uint16_t* cv, const AttentionArgs& plan, int64_t n_tok,
                      int n_head, int n_kv_head, int head_dim, float scale, float* out, int* error_flags,
                      cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(n_tok), static_cast<unsigned>(n_head));
    if (head_dim % 16 == 0)
        attention_kernel<F16ACC, true>
            <<<grid, k_threads, 0, stream>>>(q, ck, cv, plan, n_head, n_kv_head, head_dim, scale, out, error_flags);
    else
        attention_kernel<F16ACC, false>
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
        head_dim <= 0 || head_dim > k_max_head_dim || plan.n_seqs <= 0 || plan.block_size <= 0 ||
        plan.max_blocks_per_seq <= 0 || plan.n_slots <= 0)
        return Status::invalid_argument("cuda attention: bad shape: " + std::to_string(n_tok) + " tokens, heads " +
                                        std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " +
                                        std::to_string(head_dim) + " (at most 256), " + std::to_string(plan.n_seqs) +
                                        " sequences, block size " + std::to_string(plan.block_size));
    const int64_t kv_row = n_kv_head * head_dim;
    kv_store_kernel<<<static_cast<unsigned>(n_tok), k_store_threads, 0, stream>>>(
        k, v, cache_k, cache_v, plan.token_slot, plan.n_slots, kv_row, error_flags);
    ENCLAVE_CUDA_CHECK_LAUNCH("kv_store");
    const int nh = static_cast<int>(n_head), nkv = static_cast<int>(n_kv_head), hd = static_cast<int>(head_dim);
    if (plan.f16_accumulate)
        launch_attention<true>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    else
        launch_attention<false>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    ENCLAVE_CUDA_CHECK_LAUNCH("attention");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
