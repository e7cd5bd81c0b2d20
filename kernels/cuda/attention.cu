// attention: paged attention over the f16 KV cache, causal within each sequence, grouped-query heads,
// computing what the CPU kernels compute (cpu_ops.h: attention_head, attention_query_packed) with the same
// roundings in the same order, so both backends produce the same bits and the same tokens: q rounded to f16,
// q·k summed in the CPU's order and scaled, p = f16(exp(s - max) / Σ exp), the sum in double, and the
// weighted f16 values summed in f32 in key order, multiply-adds fused where the CPU's compiler fuses them.
//
// Two launches: this step's K and V are rounded to f16 and stored at their cache slots; then one block per
// (token, query head) makes three passes over the token's keys 0..pos (through its sequence's block table):
// the maximum score (a thread per key), the exponentials and their sum, and the weighted sum of the values
// (a thread per dimension, keys in order, 128 at a time). Scores are kept in shared memory when the longest
// sequence fits (40960 keys), else recomputed. exp is glibc's expf (libm.cuh).
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

__device__ __forceinline__ float round_f16(float x) {
    return __half2float(__float2half_rn(x));
}

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

// q·k in the CPU's order. PARTIALS (dot_f16_f32): 16 running partial sums over i % 16, added in order, then
// the tail. Otherwise (attention_query_packed): one running sum over the dimensions in order. Multiply-adds
// are fused as GCC fuses them in the CPU kernels' x86-64-v3/v4 clones (every x86 GPU host has FMA).
// VEC: head_dim is a multiple of 16 and rows are 32-byte aligned.
template <bool PARTIALS, bool VEC>
__device__ __forceinline__ float dot_cpu_order(const uint16_t* __restrict__ k, const float* __restrict__ q, int hd) {
    if constexpr (PARTIALS) {
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
            for (int j = 0; j < 16; ++j) p[j] = __fmaf_rn(kv[j], q[i + j], p[j]);
        }
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < 16; ++j) sum = __fadd_rn(sum, p[j]);
        for (; i < hd; ++i) sum = __fmaf_rn(half_bits_to_float(k[i]), q[i], sum);
        return sum;
    } else {
        float sum = 0.0f;
        int i = 0;
        if constexpr (VEC) {
            for (; i + 8 <= hd; i += 8) {
                float a[8];
                load8(k + i, a);
#pragma unroll
                for (int j = 0; j < 8; ++j) sum = __fmaf_rn(q[i + j], a[j], sum);
            }
        }
        for (; i < hd; ++i) sum = __fmaf_rn(q[i], half_bits_to_float(k[i]), sum);
        return sum;
    }
}

// The largest key count whose weights fit in shared memory (then the scores are computed once, not thrice).
constexpr int64_t k_max_stored_keys = 40 * 1024;

__device__ __forceinline__ float block_max(float v, float* s_red) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();  // s_red may still be read from a previous reduction
    if ((threadIdx.x & 31) == 0) s_red[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = s_red[0];
#pragma unroll
    for (int w = 1; w < k_threads / 32; ++w) r = fmaxf(r, s_red[w]);
    return r;
}

__device__ __forceinline__ double block_sum(double v, double* s_red) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) s_red[threadIdx.x >> 5] = v;
    __syncthreads();
    double r = 0.0;
#pragma unroll
    for (int w = 0; w < k_threads / 32; ++w) r += s_red[w];
    return r;
}

// PARTIALS: the CPU's dot_f16_f32 order (steps of fewer than 64 tokens), else its packed order.
// STORED: the scores and weights of all keys live in dynamic shared memory [n_keys]; else recomputed.
template <bool PARTIALS, bool VEC, bool STORED>
__global__ void __launch_bounds__(k_threads)
    attention_kernel(const float* __restrict__ q, const uint16_t* __restrict__ cache_k,
                     const uint16_t* __restrict__ cache_v, AttentionArgs plan, int n_head, int n_kv_head, int head_dim,
                     float scale, float* __restrict__ out, int* error_flags) {
    extern __shared__ float s_keys[];  // STORED: [n_keys] scores, then exp(s - max)
    const int t = blockIdx.x, h = blockIdx.y;
    const int tid = threadIdx.x;
    float* o = out + (static_cast<int64_t>(t) * n_head + h) * head_dim;

    const int32_t seq = plan.token_seq[t];
    const int32_t pos = plan.token_pos[t];
    const bool ok = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < plan.seq_lens[seq] &&
                    pos / plan.block_size < plan.max_blocks_per_seq && (!STORED || pos < plan.max_seq_len);
    if (!ok) {  // uniform over the block
        if (tid == 0 && error_flags) atomicOr(error_flags, k_error_bad_plan);
        for (int d = tid; d < head_dim; d += k_threads) o[d] = 0.0f;
        return;
    }
    const int n_keys = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
    const int64_t kv_row = static_cast<int64_t>(n_kv_head) * head_dim;
    const int64_t kv_off = static_cast<int64_t>(h / (n_head / n_kv_head)) * head_dim;

    __shared__ float s_q[k_max_head_dim];  // q rounded to f16, as the CPU rounds it
    __shared__ float s_p[k_threads];       // the chunk's probabilities, rounded to f16
    __shared__ int64_t s_row[k_threads];   // element offset of each chunk key's head in the cache, -1: none
    __shared__ float s_red_f[k_threads / 32];
    __shared__ double s_red_d[k_threads / 32];

    const float* qh = q + (static_cast<int64_t>(t) * n_head + h) * head_dim;
    for (int i = tid; i < head_dim; i += k_threads) s_q[i] = round_f16(qh[i]);
    __syncthreads();

    // Cache row of key j (-1 for a block outside the cache, which is reported and skipped).
    auto row_of = [&](int j) -> int64_t {
        const int32_t block = table[j / plan.block_size];
        const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
        if (block >= 0 && slot < plan.n_slots) return slot * kv_row + kv_off;
        if (error_flags) atomicOr(error_flags, k_error_bad_plan);
        return -1;
    };
    auto score_of = [&](int j) -> float {
        const int64_t row = row_of(j);
        if (row < 0) return -INFINITY;
        return __fmul_rn(dot_cpu_order<PARTIALS, VEC>(cache_k + row, s_q, head_dim), scale);
    };

    // 1. The maximum score.
    float mx = -INFINITY;
    for (int j = tid; j < n_keys; j += k_threads) {
        const float s = score_of(j);
        if constexpr (STORED) s_keys[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, s_red_f);
    if (mx == -INFINITY) {  // no usable key (a bad plan, already reported)
        for (int d = tid; d < head_dim; d += k_threads) o[d] = 0.0f;
        return;
    }
    // 2. exp(s - max) and their sum in double (the order of a double sum does not reach the f32 result).
    double sum = 0.0;
    for (int j = tid; j < n_keys; j += k_threads) {
        const float e = expf_glibc(__fsub_rn(STORED ? s_keys[j] : score_of(j), mx));
        if constexpr (STORED) s_keys[j] = e;
        sum += static_cast<double>(e);
    }
    sum = block_sum(sum, s_red_d);
    const float inv = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
    // 3. Probabilities rounded to f16, then the weighted values summed in key order, a thread per dimension.
    const int d0 = tid, d1 = tid + k_threads;
    float acc0 = 0.0f, acc1 = 0.0f;
    for (int c0 = 0; c0 < n_keys; c0 += k_threads) {
        const int n = min(k_threads, n_keys - c0);
        if (tid < n) {
            const int j = c0 + tid;
            const int64_t row = row_of(j);
            const float e = STORED ? s_keys[j] : (row < 0 ? 0.0f : expf_glibc(__fsub_rn(score_of(j), mx)));
            s_row[tid] = row;
            s_p[tid] = round_f16(__fmul_rn(e, inv));
        }
        __syncthreads();
        for (int j = 0; j < n; ++j) {
            const int64_t row = s_row[j];
            if (row < 0) continue;
            const float p = s_p[j];
            const uint16_t* vr = cache_v + row;
            if (d0 < head_dim) acc0 = __fmaf_rn(p, half_bits_to_float(vr[d0]), acc0);
            if (d1 < head_dim) acc1 = __fmaf_rn(p, half_bits_to_float(vr[d1]), acc1);
        }
        __syncthreads();  // before the next chunk overwrites s_row and s_p
    }
    if (d0 < head_dim) o[d0] = acc0;
    if (d1 < head_dim) o[d1] = acc1;
}

template <bool PARTIALS, bool STORED>
void launch_attention_stored(const float* q, const uint16_t* ck, const uint16_t* cv, const AttentionArgs& plan,
                             int64_t n_tok, int n_head, int n_kv_head, int head_dim, float scale, float* out,
                             int* error_flags, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(n_tok), static_cast<unsigned>(n_head));
    const size_t smem = STORED ? static_cast<size_t>(plan.max_seq_len) * sizeof(float) : 0;
    if (head_dim % 16 == 0)
        attention_kernel<PARTIALS, true, STORED>
            <<<grid, k_threads, smem, stream>>>(q, ck, cv, plan, n_head, n_kv_head, head_dim, scale, out, error_flags);
    else
        attention_kernel<PARTIALS, false, STORED>
            <<<grid, k_threads, smem, stream>>>(q, ck, cv, plan, n_head, n_kv_head, head_dim, scale, out, error_flags);
}

template <bool PARTIALS>
void launch_attention(const float* q, const uint16_t* ck, const uint16_t* cv, const AttentionArgs& plan, int64_t n_tok,
                      int n_head, int n_kv_head, int head_dim, float scale, float* out, int* error_flags,
                      cudaStream_t stream) {
    if (plan.max_seq_len > 0 && plan.max_seq_len <= k_max_stored_keys)
        launch_attention_stored<PARTIALS, true>(q, ck, cv, plan, n_tok, n_head, n_kv_head, head_dim, scale, out,
                                                error_flags, stream);
    else
        launch_attention_stored<PARTIALS, false>(q, ck, cv, plan, n_tok, n_head, n_kv_head, head_dim, scale, out,
                                                 error_flags, stream);
}

// Shared memory beyond 48 KB must be asked for once per kernel.
Status allow_large_smem() {
    static const cudaError_t err = [] {
        const int bytes = static_cast<int>(k_max_stored_keys * sizeof(float));
        cudaError_t e = cudaSuccess;
        const auto set = [&](auto kernel) {
            if (e == cudaSuccess) e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
        };
        set(attention_kernel<true, true, true>);
        set(attention_kernel<true, false, true>);
        set(attention_kernel<false, true, true>);
        set(attention_kernel<false, false, true>);
        return e;
    }();
    ENCLAVE_CUDA_CHECK(err);
    return Status::ok();
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
    if (Status st = allow_large_smem(); !st) return st;
    const int nh = static_cast<int>(n_head), nkv = static_cast<int>(n_kv_head), hd = static_cast<int>(head_dim);
    if (plan.dot_partials)
        launch_attention<true>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    else
        launch_attention<false>(q, cache_k, cache_v, plan, n_tok, nh, nkv, hd, scale, out, error_flags, stream);
    ENCLAVE_CUDA_CHECK_LAUNCH("attention");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
