// attention: paged attention over the f16 KV cache, causal within each sequence, grouped-query heads, in the
// CPU kernels' order of float operations (cpu_ops.h, kernels/cpu/attention.cpp: llama.cpp's unfused CPU
// attention), so both backends produce the same bits and the same tokens.
//
// The order, which also decides the parallel structure here:
//   - q rounded to f16; s_j = (q·k_j) * scale, the products summed one of two ways: one-token steps
//     (ggml_vec_dot_f16) 4 x 16 partial sums over chunks of 64, combined 0+2, 1+3, then the two, reduced as
//     reduce16, a tail past a multiple of 64 in double; several tokens (tinyBLAS) 16 partial sums over chunks
//     of 16, reduce16. Products of two f16 values are exact in f32, so a fused multiply-add rounds as the
//     CPU's separate multiply and add.
//   - e_j = exp_ggml(s_j - max s); Σ e over chunks of 16 keys (zeros past the end), each chunk by reduce16, the
//     chunk sums added in order in double; p_j = f16(e_j * float(1 / Σ)).
//   - out[d] = Σ_j p_j v_j[d] as ROWS partial sums (ROWS = 64 for one token, 16 for several; key j into row
//     j % ROWS, in key order), combined by a fixed tree.
// So each block, one per (token, query head), runs: four threads a key for the scores (the four quarters of
// a key's partial sums, joined by shuffles in the CPU's combination order); one thread a chunk of 16 for the
// sums; and ROWS x head_dim / 8 independent chains for the values (a thread per (row, 8 dimensions), one
// 16-byte load a key), joined in shared memory by the CPU's tree. Scores of up to k_window keys live in shared
// memory; longer histories are walked in windows, the scores recomputed per pass (same values).
//
// Several-token steps (prefill, batched decode) run attention_tiled_kernel instead when its scores fit in shared
// memory: the same order and bits, a block per (run of tokens of one sequence, KV head) sharing K/V tiles (below);
// AttentionArgs::tiled_rows = 0 keeps them on this kernel (ENCLAVE_CUDA_ATTN_V2=0, for A/B).
//
// One-token steps fuse more (AttentionFusion): the token's K/V are stored by the first block of each KV group
// and the current key is read from shared memory (no other block of the step writes a key it reads); rope of q
// and k; the 8-bit quantization of the output for the next product. Otherwise kv_store_kernel runs first.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"
#include "pdl.cuh"  // defines: pdl_trigger
#include "q8_act.cuh"
#include "quant_unit.cuh"
#include "rope.cuh"

namespace enclave::kernels::cuda {
namespace {

using cuda_detail::exp_ggml;
using cuda_detail::half_bits_to_float;

constexpr int k_store_threads = 256;
constexpr int k_max_threads = 1024;
constexpr int k_max_head_dim = 256;
constexpr int k_window = 8192;            // keys whose scores and slots are held in shared memory at once
constexpr int k_smem_limit = 200 * 1024;  // dynamic shared memory a block may ask for (allow_large_smem)

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

__device__ __forceinline__ uint16_t f16_bits(float x) {
    return __half_as_ushort(__float2half_rn(x));
}

// N f16 values at p as floats: 16-byte (N = 8, 16) or 8-byte (N = 4) loads when VEC, else one at a time.
template <int N, bool VEC>
__device__ __forceinline__ void load_f16(const uint16_t* p, float (&out)[N]) {
    if constexpr (VEC && N % 8 == 0) {
#pragma unroll
        for (int b = 0; b < N / 8; ++b) {
            const uint4 v = *reinterpret_cast<const uint4*>(p + 8 * b);
            const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
                out[8 * b + 2 * i] = f.x;
                out[8 * b + 2 * i + 1] = f.y;
            }
        }
    } else if constexpr (VEC && N == 4) {
        const uint2 v = *reinterpret_cast<const uint2*>(p);
        const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&v.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&v.y));
        out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
    } else {
#pragma unroll
        for (int i = 0; i < N; ++i) out[i] = half_bits_to_float(p[i]);
    }
}

// q·k of one key by the four consecutive threads c = 0..3 of a quad (all four call it, the whole warp in step);
// the result is valid in c == 0. kr: the key's f16 row (null: treat as zeros). q: rounded to f16, in shared
// memory. SINGLE: ggml_vec_dot_f16's order (thread c holds the partial sums (i / 16) % 4 == c, lanes i % 16);
// else tinyBLAS's (thread c holds lanes 4c..4c+3 over chunks of 16; head_dim % 16 == 0).
template <bool SINGLE, bool VEC>
__device__ __forceinline__ float quad_dot(const uint16_t* kr, const float* __restrict__ q, int hd, int c) {
    constexpr unsigned full = 0xffffffffu;
    if constexpr (SINGLE) {
        float acc[16];
#pragma unroll
        for (int l = 0; l < 16; ++l) acc[l] = 0.0f;
        const int np = hd & ~63;
        if (kr) {
            for (int i = 0; i < np; i += 64) {
                float kv[16];
                load_f16<16, VEC>(kr + i + 16 * c, kv);
#pragma unroll
                for (int l = 0; l < 16; ++l) acc[l] = __fmaf_rn(kv[l], q[i + 16 * c + l], acc[l]);
            }
        }
        // acc0 += acc2, acc1 += acc3, acc0 += acc1 (per lane), as ggml_vec_dot_f16 combines its four sums.
#pragma unroll
        for (int l = 0; l < 16; ++l) acc[l] = __fadd_rn(acc[l], __shfl_xor_sync(full, acc[l], 2));
#pragma unroll
        for (int l = 0; l < 16; ++l) acc[l] = __fadd_rn(acc[l], __shfl_xor_sync(full, acc[l], 1));
        if (c != 0) return 0.0f;
        float a[8], b[4];
#pragma unroll
        for (int i = 0; i < 8; ++i) a[i] = __fadd_rn(acc[i + 8], acc[i]);
#pragma unroll
        for (int i = 0; i < 4; ++i) b[i] = __fadd_rn(a[i + 4], a[i]);
        const float r16 = __fadd_rn(__fadd_rn(b[0], b[2]), __fadd_rn(b[1], b[3]));
        if (np == hd || !kr) return r16;
        double sum = r16;
        for (int i = np; i < hd; ++i) sum += static_cast<double>(__fmul_rn(half_bits_to_float(kr[i]), q[i]));
        return static_cast<float>(sum);
    } else {
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (kr) {
            for (int i = 0; i < hd; i += 16) {
                float kv[4];
                load_f16<4, VEC>(kr + i + 4 * c, kv);
#pragma unroll
                for (int m = 0; m < 4; ++m) acc[m] = __fmaf_rn(kv[m], q[i + 4 * c + m], acc[m]);
            }
        }
        // reduce16 over the 16 lanes: a[i] = v[i + 8] + v[i] (threads 0, 1), b[i] = a[i + 4] + a[i] (thread 0).
#pragma unroll
        for (int m = 0; m < 4; ++m) acc[m] = __fadd_rn(acc[m], __shfl_xor_sync(full, acc[m], 2));
#pragma unroll
        for (int m = 0; m < 4; ++m) acc[m] = __fadd_rn(acc[m], __shfl_xor_sync(full, acc[m], 1));
        return __fadd_rn(__fadd_rn(acc[0], acc[2]), __fadd_rn(acc[1], acc[3]));
    }
}

// 16 bytes global -> shared without a register round trip; cp_async_wait_group waits for this thread's copies.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most N of this thread's newest commit groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

struct AttnParams {
    const float* q;  // [n_tok, n_head * hd]
    const float* k;  // [n_tok, kv_row] this step's keys and values
    const float* v;
    uint16_t* cache_k;  // [n_slots, kv_row]
    uint16_t* cache_v;
    AttentionArgs plan;
    int n_head, n_kv_head, hd;
    float scale;
    float* out;  // [n_tok, n_head * hd]
    int* error_flags;
    int window;  // keys a pass holds in shared memory (a multiple of 16)
    int v_keys;  // keys whose V rows are copied to shared memory while the scores are computed (0: none; needs
                 // the whole history in one window and hd % 8 == 0)
    // One-token fusions.
    bool fused_kv;  // store this token's K/V here and take the current key from them
    bool rope;      // rotate q and k first
    int rope_pairs;
    float theta_scale, freq_scale;
    bool neox;
    const float* freq_factors;
    const int32_t* rope_pos;
    Q8Activations xq;  // xq.qs: also write out's 8-bit activations
    bool q8_1;
};

__device__ __forceinline__ float block_max(float v, float* s_red) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();  // s_red may still be read from a previous reduction
    if ((threadIdx.x & 31) == 0) s_red[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = s_red[0];
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) r = fmaxf(r, s_red[w]);
    return r;
}

// Dynamic shared memory: s_win [window] scores / exps / probabilities of the window's keys, s_slot [window]
// their cache slots (-1: none, -2: the current key held in s_kcur/s_vcur), s_chunk [window / 16] chunk sums,
// part [ROWS, hd] the value partial sums, then (16-byte aligned) s_v [v_keys, hd] f16 the staged V rows.
//
// Global reads come in three dependent rounds, the fewest the plan allows: (1) all that the token's index
// locates (its sequence, position, slot, rope position, this thread's q/k/v values); (2) the sequence's length
// and block table (the slots of every key); (3) the K rows (scores) and V rows (copied to shared memory in the
// background, used after the softmax). A history longer than one window recomputes slots per window instead.
template <bool SINGLE, bool VEC>
__global__ void __launch_bounds__(k_max_threads) attention_kernel(AttnParams a) {
    // The O product (a PDL launch) may start loading its weights on the multiprocessors this launch leaves idle.
    cuda_detail::pdl_trigger();
    constexpr int ROWS = SINGLE ? 64 : 16;
    extern __shared__ __align__(16) float smem[];
    float* s_win = smem;
    int* s_slot = reinterpret_cast<int*>(s_win + a.window);
    float* s_chunk = reinterpret_cast<float*>(s_slot + a.window);
    float* part = s_chunk + a.window / 16;
    __shared__ __align__(16) float s_q[k_max_head_dim];
    __shared__ __align__(16) uint16_t s_kcur[k_max_head_dim];
    __shared__ __align__(16) uint16_t s_vcur[k_max_head_dim];
    __shared__ float s_cos[k_max_head_dim / 2], s_sin[k_max_head_dim / 2];
    __shared__ float s_red[k_max_threads / 32];
    __shared__ double s_sum;

    const int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, nthr = blockDim.x, hd = a.hd;
    const AttentionArgs& plan = a.plan;
    float* o = a.out + (static_cast<int64_t>(t) * a.n_head + h) * hd;
    const int64_t kv_row = static_cast<int64_t>(a.n_kv_head) * hd;
    const int group = a.n_head / a.n_kv_head;
    const int kvh = h / group;
    const int64_t kv_off = static_cast<int64_t>(kvh) * hd;
    const float* qh = a.q + (static_cast<int64_t>(t) * a.n_head + h) * hd;
    const float* kh = a.k + static_cast<int64_t>(t) * kv_row + kv_off;
    const float* vh = a.v + static_cast<int64_t>(t) * kv_row + kv_off;

    // Round 1. The launcher gives at least hd threads: thread d < hd holds dimension d of q (and, fused, of this
    // token's k and v) and the other member of its rotary pair: pairs (2i, 2i + 1), or (i, i + pairs) for neox.
    const int32_t seq = plan.token_seq[t];
    const int32_t pos = plan.token_pos[t];
    const bool own = tid < hd;
    const bool rotated = a.rope && tid < 2 * a.rope_pairs;
    int pair = 0, d_a = tid, d_b = tid;
    if (rotated) {
        pair = a.neox ? (tid < a.rope_pairs ? tid : tid - a.rope_pairs) : tid / 2;
        d_a = a.neox ? pair : 2 * pair;
        d_b = a.neox ? pair + a.rope_pairs : 2 * pair + 1;
    }
    float q_a = 0.0f, q_b = 0.0f, k_a = 0.0f, k_b = 0.0f, v_d = 0.0f;
    if (own) {
        q_a = qh[d_a], q_b = qh[d_b];
        if (a.fused_kv) k_a = kh[d_a], k_b = kh[d_b], v_d = vh[tid];
    }
    float rope_p = 0.0f, rope_ff = 1.0f;
    if (a.rope) {
        rope_p = static_cast<float>(a.rope_pos[t]);
        if (a.freq_factors && tid < a.rope_pairs) rope_ff = a.freq_factors[tid];
    }
    const bool stores_kv = a.fused_kv && h % group == 0;  // the group's first block stores the token's K/V
    const int32_t own_slot = stores_kv ? plan.token_slot[t] : -1;

    // Round 2: the length (requested first, so it travels with the table reads) and the slots of the keys.
    const bool placed = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos / plan.block_size < plan.max_blocks_per_seq;
    const int32_t len = placed ? plan.seq_lens[seq] : 0;
    const int n_keys = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(placed ? seq : 0) * plan.max_blocks_per_seq;
    // Cache slot of key j: -1 for a block outside the cache (reported, skipped), -2 for the fused current key.
    auto slot_of = [&](int j) -> int {
        if (a.fused_kv && j == pos) return -2;
        const int32_t block = table[j / plan.block_size];
        const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
        if (block >= 0 && slot < plan.n_slots) return static_cast<int>(slot);
        if (a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        return -1;
    };
    const int W = a.window;
    const bool one_window = n_keys <= W;  // then s_slot holds every key's slot from here on
    if (placed && pos < len && one_window)
        for (int j = tid; j < n_keys; j += nthr) s_slot[j] = slot_of(j);
    if (!(placed && pos < len)) {  // uniform over the block
        if (tid == 0 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        for (int d = tid; d < hd; d += nthr) o[d] = 0.0f;
        return;
    }
    if (a.rope && tid < a.rope_pairs)
        cuda_detail::rope_cos_sin(tid, rope_p, a.theta_scale, a.freq_scale, rope_ff, &s_cos[tid], &s_sin[tid]);
    __syncthreads();  // s_slot, s_cos, s_sin

    // Round 3 starts: the V rows of the first v_keys keys, in flight through the scores and the softmax.
    const int v_staged = one_window ? min(n_keys, a.v_keys) : 0;
    uint16_t* s_v = reinterpret_cast<uint16_t*>((reinterpret_cast<uintptr_t>(part + ROWS * hd) + 15) & ~uintptr_t{15});
    if (v_staged > 0) {
        const int vpr = hd / 8;  // 16-byte pieces a row (hd % 8 == 0: the launcher)
        for (int e = tid; e < v_staged * vpr; e += nthr) {
            const int kk = e / vpr, col = e - kk * vpr;
            const int slot = s_slot[kk];
            if (slot >= 0)
                cp_async16(s_v + kk * hd + 8 * col, a.cache_v + static_cast<int64_t>(slot) * kv_row + kv_off + 8 * col);
        }
        cp_async_commit();
    }

    // q (rotated first when fused), rounded to f16 as the CPU rounds it; the current K/V when fused.
    if (own) {
        float qv = q_a, kv = k_a;
        if (rotated) {
            float y0, y1;
            cuda_detail::rope_rotate(q_a, q_b, s_cos[pair], s_sin[pair], &y0, &y1);
            qv = tid == d_a ? y0 : y1;
            if (a.fused_kv) {
                cuda_detail::rope_rotate(k_a, k_b, s_cos[pair], s_sin[pair], &y0, &y1);
                kv = tid == d_a ? y0 : y1;
            }
            // q as the separate rope would leave it (its owner block writes it; every thread of the block read
            // its q values before the barrier above, and nothing else reads them)
            const_cast<float*>(qh)[tid] = qv;
        }
        s_q[tid] = __half2float(__float2half_rn(qv));
        if (a.fused_kv) {
            const uint16_t kb = f16_bits(kv), vb = f16_bits(v_d);
            s_kcur[tid] = kb;
            s_vcur[tid] = vb;
            if (stores_kv && own_slot >= 0 && own_slot < plan.n_slots) {
                a.cache_k[static_cast<int64_t>(own_slot) * kv_row + kv_off + tid] = kb;
                a.cache_v[static_cast<int64_t>(own_slot) * kv_row + kv_off + tid] = vb;
            }
        }
    }
    if (stores_kv && !(own_slot >= 0 && own_slot < plan.n_slots) && tid == 0 && a.error_flags)
        atomicOr(a.error_flags, k_error_bad_plan);
    __syncthreads();

    auto key_row = [&](int slot) -> const uint16_t* {
        return slot == -2 ? s_kcur : slot < 0 ? nullptr : a.cache_k + static_cast<int64_t>(slot) * kv_row + kv_off;
    };
    // Scores of keys [w0, w0 + n) into s_win (and their slots into s_slot): a quad of threads a key.
    auto scores = [&](int w0, int n) {
        const int c = tid & 3;
        for (int j0 = 0; j0 < n; j0 += nthr / 4) {  // the same trip count for every thread of the block
            const int jj = j0 + tid / 4;
            const bool live = jj < n;
            const int slot = !live ? -1 : one_window ? s_slot[jj] : slot_of(w0 + jj);
            const float d = quad_dot<SINGLE, VEC>(live ? key_row(slot) : nullptr, s_q, hd, c);
            if (live && c == 0) {
                s_win[jj] = slot == -1 ? -INFINITY : __fmul_rn(d, a.scale);
                if (!one_window) s_slot[jj] = slot;
            }
        }
    };

    // 1. The maximum score.
    float mx = -INFINITY;
    for (int w0 = 0; w0 < n_keys; w0 += W) {
        const int n = min(W, n_keys - w0);
        scores(w0, n);
        __syncthreads();
        for (int j = tid; j < n; j += nthr) mx = fmaxf(mx, s_win[j]);
        __syncthreads();
    }
    mx = block_max(mx, s_red);
    if (mx == -INFINITY) {  // no usable key (a bad plan, already reported)
        for (int d = tid; d < hd; d += nthr) o[d] = 0.0f;
        return;
    }
    // 2. e = exp(s - max) and Σ e: chunks of 16 by reduce16, the chunk sums in order in double (one thread).
    if (tid == 0) s_sum = 0.0;
    for (int w0 = 0; w0 < n_keys; w0 += W) {
        const int n = min(W, n_keys - w0);
        const int n_pad = (n + 15) / 16 * 16;
        if (!one_window) {
            scores(w0, n);
            __syncthreads();
        }
        for (int j = tid; j < n_pad; j += nthr) s_win[j] = j < n ? exp_ggml(__fsub_rn(s_win[j], mx)) : 0.0f;
        __syncthreads();
        for (int m = tid; m < n_pad / 16; m += nthr) {
            const float* e = s_win + 16 * m;
            float x[8], y[4];
#pragma unroll
            for (int i = 0; i < 8; ++i) x[i] = __fadd_rn(e[i + 8], e[i]);
#pragma unroll
            for (int i = 0; i < 4; ++i) y[i] = __fadd_rn(x[i + 4], x[i]);
            s_chunk[m] = __fadd_rn(__fadd_rn(y[0], y[2]), __fadd_rn(y[1], y[3]));
        }
        __syncthreads();
        if (tid == 0) {
            double s = s_sum;
            for (int m = 0; m < n_pad / 16; ++m) s += static_cast<double>(s_chunk[m]);
            s_sum = s;
        }
        __syncthreads();
    }
    const float inv = static_cast<float>(1.0 / s_sum);
    // 3. p = f16(e * inv); the values into ROWS partial sums, a chain per (row, 8 dimensions).
    const int n_groups = (hd + 7) / 8;
    const int n_items = ROWS * n_groups;
    for (int w0 = 0; w0 < n_keys; w0 += W) {
        const int n = min(W, n_keys - w0);
        if (!one_window) {
            scores(w0, n);
            __syncthreads();
            for (int j = tid; j < n; j += nthr) s_win[j] = exp_ggml(__fsub_rn(s_win[j], mx));
        }
        for (int j = tid; j < n; j += nthr) s_win[j] = __half2float(__float2half_rn(__fmul_rn(s_win[j], inv)));
        if (v_staged > 0) cp_async_wait_group<0>();  // this thread's V copies; the barrier shows everyone's
        __syncthreads();
        for (int it = tid; it < n_items; it += nthr) {
            const int r = it / n_groups, g = it % n_groups, d0 = 8 * g;
            float acc[8];
            float* pr = part + r * hd + d0;
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[i] = (w0 == 0 || d0 + i >= hd) ? 0.0f : pr[i];
            // keys of this window with (w0 + jj) % ROWS == r
            for (int jj = ((r - w0) % ROWS + ROWS) % ROWS; jj < n; jj += ROWS) {
                const int slot = s_slot[jj];
                if (slot == -1) continue;
                const uint16_t* vr = slot == -2     ? s_vcur + d0
                                     : jj < v_staged ? s_v + jj * hd + d0
                                                     : a.cache_v + static_cast<int64_t>(slot) * kv_row + kv_off + d0;
                const float p = s_win[jj];
                float vv[8];
                if (VEC) {
                    load_f16<8, true>(vr, vv);
                } else {
#pragma unroll
                    for (int i = 0; i < 8; ++i) vv[i] = d0 + i < hd ? half_bits_to_float(vr[i]) : 0.0f;
                }
#pragma unroll
                for (int i = 0; i < 8; ++i) acc[i] = __fmaf_rn(p, vv[i], acc[i]);  // p * v exact: as mul + add
            }
#pragma unroll
            for (int i = 0; i < 8; ++i)
                if (d0 + i < hd) pr[i] = acc[i];
        }
        __syncthreads();
    }
    // 4. The partial sums combined in the CPU's tree (combine_partials), then the output and its 8-bit form.
    for (int d = tid; d < hd; d += nthr) {
        float r16[16];
#pragma unroll
        for (int l = 0; l < 16; ++l) {
            if (SINGLE)
                r16[l] = __fadd_rn(__fadd_rn(part[l * hd + d], part[(32 + l) * hd + d]),
                                   __fadd_rn(part[(16 + l) * hd + d], part[(48 + l) * hd + d]));
            else
                r16[l] = part[l * hd + d];
        }
        float x[8], y[4];
#pragma unroll
        for (int i = 0; i < 8; ++i) x[i] = __fadd_rn(r16[i + 8], r16[i]);
#pragma unroll
        for (int i = 0; i < 4; ++i) y[i] = __fadd_rn(x[i + 4], x[i]);
        s_q[d] = __fadd_rn(__fadd_rn(y[0], y[2]), __fadd_rn(y[1], y[3]));  // q is no longer needed
    }
    __syncthreads();
    for (int d = tid; d < hd; d += nthr) o[d] = s_q[d];
    if (a.xq.qs && tid < hd) {  // hd % 32 == 0: a warp a group of 32 (the launcher checks)
        const float val[1] = {s_q[tid]};
        const int64_t n_in = static_cast<int64_t>(a.n_head) * hd;
        const int64_t e = static_cast<int64_t>(t) * n_in + static_cast<int64_t>(h) * hd + tid;
        cuda_detail::quantize_group32<32, 1>(val, a.q8_1, true, a.xq.qs + e, a.xq.d + e / 32, a.xq.s + e / 32);
    }
}

// ---- Several-token steps, tiled ------------------------------------------------------------------------------
// The same several-token order as attention_kernel<false, ...> (tinyBLAS's q·k, the chunked Σ e, 16 partial rows
// for p·v combined by reduce16's tree), so the same bits, but a block serves the query rows (token, head) of up
// to tokens_per_block consecutive tokens of one sequence and all the query heads of one KV head: each key and
// value row is read from memory once per block into a shared tile (16-byte loads, all in flight at once) and
// used by every row, instead of once per (token, head) in a chain of dependent loads.
//   1. Scores: K tiles of tile_keys keys (cp.async, all of a tile in flight at once); a quad of threads a (row,
//      key), q of its row in registers (the quad's four quarters of tinyBLAS's 16 lanes, joined by shuffles as
//      before); all scores of the run kept in shared memory ([rows, window]: the launcher sizes window from
//      max_seq_len and falls back to attention_kernel when it does not fit).
//   2. A warp a row: max, e = exp_ggml(s - max), chunk sums by reduce16 in order in double, p = f16(e * inv).
//   3. V tiles (the first one requested before step 2); a thread an item (row, 8 dims, partial row r = key % 16)
//      accumulating its keys in key order, k_items items a thread (rows taken in passes when they do not fit);
//      the 16 partial rows of an (row, 8 dims) sit in 16 consecutive lanes and are combined by shuffles in
//      reduce16's tree.
// Tokens of the block that belong to different sequences are served one run of equal sequence after another.
constexpr int k_tile_threads = 256;
constexpr int k_tile_keys_min = 64;  // keys a K or V tile at least (the launcher halves AttentionArgs::tiled_keys
                                     // down to this when shared memory is short)
constexpr int k_tile_rows = 64;      // query rows a block at most (= quads of the block)
constexpr int k_items = 4;           // p·v items a thread a pass

struct TiledParams {
    const float* q;           // [n_tok, n_head * hd]
    const uint16_t* cache_k;  // [n_slots, kv_row]
    const uint16_t* cache_v;
    AttentionArgs plan;
    int n_tok, n_head, n_kv_head, hd;
    int group;             // query heads a KV head
    int tokens_per_block;  // tokens_per_block * group <= k_tile_rows
    float scale;
    float* out;  // [n_tok, n_head * hd]
    int* error_flags;
    int window;     // scores a row holds: >= every served token's pos + 1, a multiple of 16
    int tile_keys;  // keys a K or V tile, a multiple of 16
    int stages;     // tile buffers (1..3): tiles in flight while one is used
};

// reduce16 (ggml's order) of 16 floats in shared memory.
__device__ __forceinline__ float reduce16_smem(const float* e) {
    float x[8], y[4];
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = __fadd_rn(e[i + 8], e[i]);
#pragma unroll
    for (int i = 0; i < 4; ++i) y[i] = __fadd_rn(x[i + 4], x[i]);
    return __fadd_rn(__fadd_rn(y[0], y[2]), __fadd_rn(y[1], y[3]));
}

// Dynamic shared memory: s_tile [stages, tile_keys, hd + 8] f16 (rows padded by 16 bytes: the 16-byte loads of
// eight consecutive keys hit distinct banks), s_sc [tokens_per_block * group, window] scores, then exps, then
// probabilities, s_slot [window] cache slots of the run's keys (-1: outside the cache, reported and skipped).
// MAXCH: chunks of 16 of a head held in registers (hd <= 16 * MAXCH); hd % 16 == 0.
//
// Tiles of a run, in the order they are used: the K tiles of the scores, then the V tiles of each p·v pass. With
// stages = S buffers, tile i + S - 1 is in flight while tile i is used (S = 1: requested when tile i - 1 is done,
// so only the first V tile overlaps the softmax). Which tile comes next depends on positions alone, so the V tiles
// load while the last K tiles are scored and the softmax runs.
template <int MAXCH>
__global__ void __launch_bounds__(k_tile_threads, MAXCH <= 8 ? 3 : 2) attention_tiled_kernel(TiledParams a) {
    cuda_detail::pdl_trigger();
    constexpr unsigned full = 0xffffffffu;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int hd = a.hd, G = a.group, W = a.window, ld = hd + 8;
    uint16_t* s_tile = reinterpret_cast<uint16_t*>(smem_raw);
    const int TK = a.tile_keys, S = a.stages;
    float* s_sc = reinterpret_cast<float*>(s_tile + S * TK * ld);
    int* s_slot = reinterpret_cast<int*>(s_sc + static_cast<int64_t>(a.tokens_per_block) * G * W);
    __shared__ int s_n[k_tile_rows];      // keys of each row of the run (0: the row's output is zeros)
    __shared__ int s_npass[k_tile_rows];  // keys of each p·v pass of the run (its rows' largest count, by position)
    __shared__ int32_t s_tseq[k_tile_rows], s_tpos[k_tile_rows];  // the block's tokens (tokens_per_block <= rows)

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int kvh = blockIdx.y;
    const int t_begin = blockIdx.x * a.tokens_per_block;
    const int t_end = min(a.n_tok, t_begin + a.tokens_per_block);
    const AttentionArgs& plan = a.plan;
    const int64_t kv_row = static_cast<int64_t>(a.n_kv_head) * hd;
    const int64_t kv_off = static_cast<int64_t>(kvh) * hd;
    const int vpr = hd / 8;  // 16-byte vectors a key row
    const int per_row = 16 * vpr;  // p·v items a row: (8 dims, partial row)
    const int rows_pass = max(1, k_tile_threads * k_items / per_row);

    // The sequences and positions of all the block's tokens in one round trip (not token, then position).
    if (tid < t_end - t_begin) {
        s_tseq[tid] = plan.token_seq[t_begin + tid];
        s_tpos[tid] = plan.token_pos[t_begin + tid];
    }
    __syncthreads();

    // Requests keys [k0, k0 + nt) of the run into buffer buf (keys outside the cache are left as they are: never
    // used) as one commit group.
    auto issue_keys = [&](const uint16_t* __restrict__ cache, int k0, int nt, uint16_t* buf) {
        for (int e = tid; e < nt * vpr; e += k_tile_threads) {
            const int kk = e / vpr, col = e - kk * vpr;
            const int slot = s_slot[k0 + kk];
            if (slot >= 0)
                cp_async16(buf + kk * ld + 8 * col, cache + static_cast<int64_t>(slot) * kv_row + kv_off + 8 * col);
        }
    };

    for (int ts = t_begin; ts < t_end;) {  // runs of consecutive tokens of one sequence (uniform over the block)
        const int32_t seq = s_tseq[ts - t_begin];
        int te = ts + 1;
        while (te < t_end && s_tseq[te - t_begin] == seq) ++te;
        const int R = (te - ts) * G;  // rows: (token, head) = (ts + row / G, kvh * G + row % G)
        const bool seq_ok = seq >= 0 && seq < plan.n_seqs;
        // Keys token t may see by its position alone: sizes the slots and the tiles before seq_lens (loaded with
        // the block table) is known; a row whose position fails seq_lens is zeroed in s_n only.
        auto keys_of = [&](int t) {
            const int32_t pos = s_tpos[t - t_begin];
            return seq_ok && pos >= 0 && pos < W && pos / plan.block_size < plan.max_blocks_per_seq ? pos + 1 : 0;
        };
        int n_max = 0;
        for (int t = ts; t < te; ++t) n_max = max(n_max, keys_of(t));
        const int n_passes = (R + rows_pass - 1) / rows_pass;
        if (tid < R) {
            const int n = keys_of(ts + tid / G);
            const bool ok = n > 0 && n - 1 < plan.seq_lens[seq];
            if (!ok && tid % G == 0 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
            s_n[tid] = ok ? n : 0;
        }
        if (tid < n_passes) {
            const int r_last = min(R, (tid + 1) * rows_pass) - 1;
            int m = 0;
            for (int t = ts + tid * rows_pass / G; t <= ts + r_last / G; ++t) m = max(m, keys_of(t));
            s_npass[tid] = m;
        }
        if (n_max > 0) {
            const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
            for (int j = tid; j < n_max; j += k_tile_threads) {
                const int32_t block = table[j / plan.block_size];
                const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
                const bool good = block >= 0 && slot < plan.n_slots;
                if (!good && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
                s_slot[j] = good ? static_cast<int>(slot) : -1;
            }
        }
        __syncthreads();

        // Tile i of the run into buffer i % S, as one commit group (empty past the last tile, so that "all but
        // the newest S - 1 groups" is always "up to tile i").
        const int n_ktiles = (n_max + TK - 1) / TK;
        auto issue = [&](int i) {
            uint16_t* buf = s_tile + (i % S) * TK * ld;
            if (i < n_ktiles) {
                issue_keys(a.cache_k, i * TK, min(TK, n_max - i * TK), buf);
            } else {
                i -= n_ktiles;
                for (int p = 0; p < n_passes; ++p) {
                    const int np = s_npass[p], nv = (np + TK - 1) / TK;
                    if (i < nv) {
                        issue_keys(a.cache_v, i * TK, min(TK, np - i * TK), buf);
                        break;
                    }
                    i -= nv;
                }
            }
            cp_async_commit();
        };
        int cur = 0;  // the next tile to use
        for (int i = 0; i < S; ++i) issue(i);
        auto acquire = [&]() -> const uint16_t* {  // waits for tile cur and makes it visible to the block
            if (S >= 3)
                cp_async_wait_group<2>();
            else if (S == 2)
                cp_async_wait_group<1>();
            else
                cp_async_wait_group<0>();
            __syncthreads();
            return s_tile + (cur % S) * TK * ld;
        };
        auto release = [&] {  // every thread is done with tile cur: its buffer takes tile cur + S
            __syncthreads();
            issue(cur + S);
            ++cur;
        };

        // 1. Scores. Quad qi serves row qi % R and the tile's keys kofs, kofs + kstep, ... (kofs = qi / R).
        {
            const int qi = tid >> 2, c = tid & 3;
            const int kstep = max(1, k_tile_rows / R);
            const bool active = qi < kstep * R;
            const int row = active ? qi % R : 0, kofs = active ? qi / R : 0;
            float qr[MAXCH][4];  // q rounded to f16: lanes 4c..4c+3 of each chunk of 16
            {
                const int t = ts + row / G, h = kvh * G + row % G;
                const float* qh = a.q + (static_cast<int64_t>(t) * a.n_head + h) * hd;
#pragma unroll
                for (int i = 0; i < MAXCH; ++i)
#pragma unroll
                    for (int m = 0; m < 4; ++m)
                        qr[i][m] = 16 * i < hd ? __half2float(__float2half_rn(qh[16 * i + 4 * c + m])) : 0.0f;
            }
            float* srow = s_sc + static_cast<int64_t>(row) * W;
            for (int k0 = 0; k0 < n_max; k0 += TK) {
                const int nt = min(TK, n_max - k0);
                const uint16_t* tile = acquire();
                for (int b = 0; b < nt; b += kstep) {  // the same trip count for every thread
                    const int kk = b + kofs;
                    const bool live = active && kk < nt;
                    const uint16_t* kr = tile + (live ? kk : 0) * ld + 4 * c;
                    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                    for (int i = 0; i < MAXCH; ++i) {
                        if (16 * i < hd) {
                            float kv[4];
                            load_f16<4, true>(kr + 16 * i, kv);
#pragma unroll
                            for (int m = 0; m < 4; ++m) acc[m] = __fmaf_rn(kv[m], qr[i][m], acc[m]);
                        }
                    }
#pragma unroll
                    for (int m = 0; m < 4; ++m) acc[m] = __fadd_rn(acc[m], __shfl_xor_sync(full, acc[m], 2));
#pragma unroll
                    for (int m = 0; m < 4; ++m) acc[m] = __fadd_rn(acc[m], __shfl_xor_sync(full, acc[m], 1));
                    if (live && c == 0) {
                        const float d = __fadd_rn(__fadd_rn(acc[0], acc[2]), __fadd_rn(acc[1], acc[3]));
                        srow[k0 + kk] = s_slot[k0 + kk] == -1 ? -INFINITY : __fmul_rn(d, a.scale);
                    }
                }
                release();  // also: every score of this tile is in s_sc
            }
        }

        // 2. Softmax, a warp a row; the first V tiles are in flight meanwhile (step 3 leaves s_sc alone until its
        // first acquire, whose barrier follows this step).
        for (int r = warp; r < R; r += k_tile_threads / 32) {
            const int n = s_n[r];
            float* sr = s_sc + static_cast<int64_t>(r) * W;
            float mx = -INFINITY;
            for (int j = lane; j < n; j += 32) mx = fmaxf(mx, sr[j]);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(full, mx, o));
            if (mx == -INFINITY) {  // no key, or none usable (a bad plan, already reported)
                if (lane == 0) s_n[r] = 0;
                continue;
            }
            const int n_pad = (n + 15) / 16 * 16;
            for (int j = lane; j < n_pad; j += 32) sr[j] = j < n ? exp_ggml(__fsub_rn(sr[j], mx)) : 0.0f;
            __syncwarp();
            const int n_chunks = n_pad / 16;
            double sum = 0.0;  // every lane adds the chunk sums in order, so every lane holds it
            for (int m0 = 0; m0 < n_chunks; m0 += 32) {
                const float cs = m0 + lane < n_chunks ? reduce16_smem(sr + 16 * (m0 + lane)) : 0.0f;
                const int cnt = min(32, n_chunks - m0);
                for (int i = 0; i < cnt; ++i) sum += static_cast<double>(__shfl_sync(full, cs, i));
            }
            const float inv = static_cast<float>(1.0 / sum);
            __syncwarp();
            for (int j = lane; j < n; j += 32) sr[j] = __half2float(__float2half_rn(__fmul_rn(sr[j], inv)));
        }
        __syncthreads();

        // 3. p·v. Item it = tid + k * k_tile_threads of a pass: row r0 + it / per_row, dims 8 * ((it / 16) % vpr),
        // partial row it % 16 = tid % 16 (k_tile_threads % 16 == 0).
        const int pr = tid & 15;
        for (int r0 = 0; r0 < R; r0 += rows_pass) {
            const int rp = min(rows_pass, R - r0);
            float acc[k_items][8];
#pragma unroll
            for (int k = 0; k < k_items; ++k)
#pragma unroll
                for (int i = 0; i < 8; ++i) acc[k][i] = 0.0f;
            const int n_pass = s_npass[r0 / rows_pass];  // the tiles issue() requested for this pass
            for (int k0 = 0; k0 < n_pass; k0 += TK) {
                const int nt = min(TK, n_pass - k0);
                const uint16_t* tile = acquire();
#pragma unroll
                for (int k = 0; k < k_items; ++k) {
                    const int it = tid + k * k_tile_threads;
                    const int ri = it / per_row;
                    if (ri >= rp) continue;
                    const int row = r0 + ri, g = (it / 16) % vpr;
                    const int n_here = min(nt, s_n[row] - k0);
                    const float* sr = s_sc + static_cast<int64_t>(row) * W + k0;
                    for (int jj = pr; jj < n_here; jj += 16) {
                        if (s_slot[k0 + jj] == -1) continue;
                        const float p = sr[jj];
                        float vv[8];
                        load_f16<8, true>(tile + jj * ld + 8 * g, vv);
#pragma unroll
                        for (int i = 0; i < 8; ++i) acc[k][i] = __fmaf_rn(p, vv[i], acc[k][i]);  // p * v exact
                    }
                }
                release();
            }
            // reduce16's tree over the 16 partial rows (lanes pr = 0..15 of a half warp): a[i] = p[i + 8] + p[i],
            // b[i] = a[i + 4] + a[i], (b0 + b2) + (b1 + b3).
#pragma unroll
            for (int k = 0; k < k_items; ++k) {
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    float x = acc[k][i];
                    x = __fadd_rn(x, __shfl_down_sync(full, x, 8, 16));
                    x = __fadd_rn(x, __shfl_down_sync(full, x, 4, 16));
                    x = __fadd_rn(x, __shfl_down_sync(full, x, 2, 16));
                    x = __fadd_rn(x, __shfl_down_sync(full, x, 1, 16));
                    acc[k][i] = x;
                }
                const int it = tid + k * k_tile_threads;
                const int ri = it / per_row;
                if (pr == 0 && ri < rp) {
                    const int row = r0 + ri, g = (it / 16) % vpr;
                    const int t = ts + row / G, h = kvh * G + row % G;
                    float* o = a.out + (static_cast<int64_t>(t) * a.n_head + h) * hd + 8 * g;
                    const bool has = s_n[row] > 0;
#pragma unroll
                    for (int i = 0; i < 8; ++i) o[i] = has ? acc[k][i] : 0.0f;
                }
            }
        }
        __syncthreads();  // s_n, s_npass, s_slot and s_sc are reused by the next run
        ts = te;
    }
}

// Shared memory beyond 48 KB must be asked for once per kernel.
Status allow_large_smem() {
    static const cudaError_t err = [] {
        const int bytes = k_smem_limit;
        cudaError_t e = cudaSuccess;
        const auto set = [&](auto kernel) {
            if (e == cudaSuccess) e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
        };
        set(attention_kernel<true, true>);
        set(attention_kernel<true, false>);
        set(attention_kernel<false, true>);
        set(attention_kernel<false, false>);
        set(attention_tiled_kernel<8>);
        set(attention_tiled_kernel<16>);
        return e;
    }();
    ENCLAVE_CUDA_CHECK(err);
    return Status::ok();
}

}  // namespace

Status attention(const float* q, const float* k, const float* v, uint16_t* cache_k, uint16_t* cache_v,
                 const AttentionArgs& plan, int64_t n_tok, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                 float scale, float* out, int* error_flags, cudaStream_t stream, const AttentionFusion& fuse) {
    if (n_tok == 0) return Status::ok();
    if (!q || !k || !v || !cache_k || !cache_v || !out || !plan.token_seq || !plan.token_pos || !plan.token_slot ||
        !plan.block_tables || !plan.seq_lens)
        return Status::invalid_argument("cuda attention: null pointer");
    if (n_tok < 0 || n_tok > 0x7fffffff || n_head <= 0 || n_head > 65535 || n_kv_head <= 0 || n_head % n_kv_head != 0 ||
        head_dim <= 0 || head_dim > k_max_head_dim || plan.n_seqs <= 0 || plan.block_size <= 0 ||
        plan.max_blocks_per_seq <= 0 || plan.n_slots <= 0 || plan.n_slots > 0x7fffffff)
        return Status::invalid_argument("cuda attention: bad shape: " + std::to_string(n_tok) + " tokens, heads " +
                                        std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " +
                                        std::to_string(head_dim) + " (at most 256), " + std::to_string(plan.n_seqs) +
                                        " sequences, block size " + std::to_string(plan.block_size));
    if ((fuse.rope || fuse.xq.qs) && n_tok != 1)
        return Status::invalid_argument("cuda attention: rope and quantization fuse into one-token steps only");
    if (fuse.xq.qs && (head_dim % 32 != 0 || !fuse.xq.d || !fuse.xq.s))
        return Status::invalid_argument("cuda attention: quantized output needs heads of a multiple of 32");
    if (fuse.rope && (!fuse.rope_pos || fuse.rope_args.n_dims <= 0 || fuse.rope_args.n_dims % 2 != 0 ||
                      fuse.rope_args.n_dims > head_dim))
        return Status::invalid_argument("cuda attention: bad fused rope");
    const int64_t kv_row = n_kv_head * head_dim;
    AttnParams a{};
    a.q = q, a.k = k, a.v = v, a.cache_k = cache_k, a.cache_v = cache_v, a.plan = plan;
    a.n_head = static_cast<int>(n_head), a.n_kv_head = static_cast<int>(n_kv_head), a.hd = static_cast<int>(head_dim);
    a.scale = scale, a.out = out, a.error_flags = error_flags;
    a.fused_kv = n_tok == 1;  // one token: no other block of the step writes a key this one reads
    if (!a.fused_kv) {
        kv_store_kernel<<<static_cast<unsigned>(n_tok), k_store_threads, 0, stream>>>(
            k, v, cache_k, cache_v, plan.token_slot, plan.n_slots, kv_row, error_flags);
        ENCLAVE_CUDA_CHECK_LAUNCH("kv_store");
    }
    if (fuse.rope) {
        a.rope = true;
        a.rope_pairs = fuse.rope_args.n_dims / 2;
        a.theta_scale = std::pow(fuse.rope_args.freq_base, -2.0f / static_cast<float>(fuse.rope_args.n_dims));
        a.freq_scale = fuse.rope_args.freq_scale;
        a.neox = fuse.rope_args.neox;
        a.freq_factors = fuse.rope_args.freq_factors;
        a.rope_pos = fuse.rope_pos;
    }
    a.xq = fuse.xq;
    a.q8_1 = fuse.q8_type == TensorType::Q4_1;
    if (Status st = allow_large_smem(); !st) return st;
    // The CPU's order: one-token steps and heads that are not a multiple of 16 sum as ggml_vec_dot_f16.
    const bool single = n_tok == 1 || head_dim % 16 != 0;
    const int rows = single ? 64 : 16;
    const int64_t max_len = plan.max_seq_len > 0 ? plan.max_seq_len : k_window;
    a.window = static_cast<int>(std::min<int64_t>(k_window, (max_len + 15) / 16 * 16));
    size_t smem = static_cast<size_t>(a.window) * 2 * sizeof(float) + a.window / 16 * sizeof(float) +
                  static_cast<size_t>(rows) * head_dim * sizeof(float);
    // A thread per value chain (rows x head_dim / 8) up to 1024; at least 128. That is at least head_dim threads
    // (rows >= 16), which the kernel's first round of loads counts on (a thread a dimension).
    const int items = rows * static_cast<int>((head_dim + 7) / 8);
    const int threads = std::max(128, std::min(k_max_threads, (items + 31) / 32 * 32));
    const bool vec = head_dim % 8 == 0;
    // One-token steps (a block a head, 32 blocks for 8b, so shared memory is plentiful): the V rows of up to
    // plan.one_token_v_keys keys, as many as fit, staged while the scores are computed.
    if (n_tok == 1 && vec && plan.one_token_v_keys > 0) {
        const int64_t fit = (static_cast<int64_t>(k_smem_limit) - static_cast<int64_t>(smem) - 16) / (head_dim * 2);
        a.v_keys = static_cast<int>(std::min<int64_t>({fit, a.window, plan.one_token_v_keys}) / 16 * 16);
        if (a.v_keys > 0) smem += 16 + static_cast<size_t>(a.v_keys) * head_dim * 2;
    }
    // Several tokens: the tiled kernel when its scores fit in shared memory (the bits are the same).
    const int64_t group = n_head / n_kv_head;
    if (!single && plan.tiled_rows > 0 && plan.max_seq_len > 0 && group <= k_tile_rows) {
        // About tiled_rows rows a block when the step has several tokens a sequence (prefill), else a token.
        int64_t tpb = 1;
        if (n_tok >= 2 * plan.n_seqs) tpb = std::max<int64_t>(1, std::min(plan.tiled_rows, k_tile_rows) / group);
        const int64_t w = (plan.max_seq_len + 15) / 16 * 16;
        int64_t tk = std::clamp<int64_t>(plan.tiled_keys / k_tile_keys_min * k_tile_keys_min, k_tile_keys_min, 512);
        int64_t stages = std::clamp(plan.tiled_stages, 1, 3);
        const auto bytes = [&](int64_t t) { return stages * tk * (head_dim + 8) * 2 + t * group * w * 4 + w * 4; };
        while (tk > k_tile_keys_min && bytes(tpb) > k_smem_limit) tk /= 2;
        while (stages > 1 && bytes(tpb) > k_smem_limit) --stages;
        while (tpb > 1 && bytes(tpb) > k_smem_limit) tpb /= 2;
        if (bytes(tpb) <= k_smem_limit) {
            TiledParams t{};
            t.q = q, t.cache_k = cache_k, t.cache_v = cache_v, t.plan = plan;
            t.n_tok = static_cast<int>(n_tok), t.n_head = static_cast<int>(n_head);
            t.n_kv_head = static_cast<int>(n_kv_head), t.hd = static_cast<int>(head_dim);
            t.group = static_cast<int>(group), t.tokens_per_block = static_cast<int>(tpb);
            t.scale = scale, t.out = out, t.error_flags = error_flags, t.window = static_cast<int>(w);
            t.tile_keys = static_cast<int>(tk);
            t.stages = static_cast<int>(stages);
            const dim3 tgrid(static_cast<unsigned>((n_tok + tpb - 1) / tpb), static_cast<unsigned>(n_kv_head));
            const size_t tsmem = static_cast<size_t>(bytes(tpb));
            if (head_dim <= 128)
                attention_tiled_kernel<8><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            else
                attention_tiled_kernel<16><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            ENCLAVE_CUDA_CHECK_LAUNCH("attention_tiled");
            return Status::ok();
        }
    }
    const dim3 grid(static_cast<unsigned>(n_tok), static_cast<unsigned>(n_head));
    if (single) {
        if (vec)
            attention_kernel<true, true><<<grid, threads, smem, stream>>>(a);
        else
            attention_kernel<true, false><<<grid, threads, smem, stream>>>(a);
    } else {
        if (vec)
            attention_kernel<false, true><<<grid, threads, smem, stream>>>(a);
        else
            attention_kernel<false, false><<<grid, threads, smem, stream>>>(a);
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("attention");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
