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
// and k; the 8-bit quantization of the output for the next product. Otherwise kv_store_kernel runs first. With
// heads of 64 or 128 they run attention_one_kernel (below: the same order and bits, four barriers, a PDL launch)
// unless AttentionArgs::one_token = 0.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "libm.cuh"
#include "pdl.cuh"  // defines: pdl_trigger, pdl_wait, launch_maybe_pdl
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
// then part [ROWS, hd] the value partial sums.
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
    const int32_t seq = plan.token_seq[t];
    const int32_t pos = plan.token_pos[t];
    const bool ok = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < plan.seq_lens[seq] &&
                    pos / plan.block_size < plan.max_blocks_per_seq;
    if (!ok) {  // uniform over the block
        if (tid == 0 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        for (int d = tid; d < hd; d += nthr) o[d] = 0.0f;
        return;
    }
    const int n_keys = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
    const int64_t kv_row = static_cast<int64_t>(a.n_kv_head) * hd;
    const int kvh = h / (a.n_head / a.n_kv_head);
    const int64_t kv_off = static_cast<int64_t>(kvh) * hd;
    const float* qh = a.q + (static_cast<int64_t>(t) * a.n_head + h) * hd;

    // q (rotated first when fused), rounded to f16 as the CPU rounds it; the current K/V when fused.
    if (a.rope) {
        const float p = static_cast<float>(a.rope_pos[t]);
        for (int i = tid; i < a.rope_pairs; i += nthr)
            cuda_detail::rope_cos_sin(i, p, a.theta_scale, a.freq_scale, a.freq_factors ? a.freq_factors[i] : 1.0f,
                                      &s_cos[i], &s_sin[i]);
        __syncthreads();
    }
    const float* kh = a.k + static_cast<int64_t>(t) * kv_row + kv_off;
    const float* vh = a.v + static_cast<int64_t>(t) * kv_row + kv_off;
    for (int d = tid; d < hd; d += nthr) {
        float qv = qh[d], kv = a.fused_kv ? kh[d] : 0.0f;
        if (a.rope && d < 2 * a.rope_pairs) {  // rotated dims: pairs (2i, 2i + 1), or (i, i + pairs) for neox
            const int i = a.neox ? (d < a.rope_pairs ? d : d - a.rope_pairs) : d / 2;
            const int d_a = a.neox ? i : 2 * i, d_b = a.neox ? i + a.rope_pairs : 2 * i + 1;
            float y0, y1;
            cuda_detail::rope_rotate(qh[d_a], qh[d_b], s_cos[i], s_sin[i], &y0, &y1);
            qv = d == d_a ? y0 : y1;
            if (a.fused_kv) {
                cuda_detail::rope_rotate(kh[d_a], kh[d_b], s_cos[i], s_sin[i], &y0, &y1);
                kv = d == d_a ? y0 : y1;
            }
        }
        s_q[d] = __half2float(__float2half_rn(qv));
        if (a.fused_kv) {
            s_kcur[d] = f16_bits(kv);
            s_vcur[d] = f16_bits(vh[d]);
        }
    }
    __syncthreads();
    if (a.rope) {  // q as the separate rope would leave it (its owner block writes it; nothing else reads it)
        float* qw = const_cast<float*>(qh);
        for (int i = tid; i < a.rope_pairs; i += nthr) {
            const int d_a = a.neox ? i : 2 * i, d_b = a.neox ? i + a.rope_pairs : 2 * i + 1;
            float y0, y1;
            cuda_detail::rope_rotate(qh[d_a], qh[d_b], s_cos[i], s_sin[i], &y0, &y1);
            qw[d_a] = y0, qw[d_b] = y1;
        }
    }
    if (a.fused_kv && h % (a.n_head / a.n_kv_head) == 0) {  // the group's first block stores the token's K/V
        const int32_t slot = plan.token_slot[t];
        if (slot >= 0 && slot < plan.n_slots) {
            for (int d = tid; d < hd; d += nthr) {
                a.cache_k[static_cast<int64_t>(slot) * kv_row + kv_off + d] = s_kcur[d];
                a.cache_v[static_cast<int64_t>(slot) * kv_row + kv_off + d] = s_vcur[d];
            }
        } else if (tid == 0 && a.error_flags) {
            atomicOr(a.error_flags, k_error_bad_plan);
        }
    }

    // Cache slot of key j: -1 for a block outside the cache (reported, skipped), -2 for the fused current key.
    auto slot_of = [&](int j) -> int {
        if (a.fused_kv && j == pos) return -2;
        const int32_t block = table[j / plan.block_size];
        const int64_t slot = static_cast<int64_t>(block) * plan.block_size + j % plan.block_size;
        if (block >= 0 && slot < plan.n_slots) return static_cast<int>(slot);
        if (a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        return -1;
    };
    auto key_row = [&](int slot) -> const uint16_t* {
        return slot == -2 ? s_kcur : slot < 0 ? nullptr : a.cache_k + static_cast<int64_t>(slot) * kv_row + kv_off;
    };
    // Scores of keys [w0, w0 + n) into s_win (and their slots into s_slot): a quad of threads a key.
    auto scores = [&](int w0, int n) {
        const int c = tid & 3;
        for (int j0 = 0; j0 < n; j0 += nthr / 4) {  // the same trip count for every thread of the block
            const int jj = j0 + tid / 4;
            const bool live = jj < n;
            const int slot = live ? slot_of(w0 + jj) : -1;
            const float d = quad_dot<SINGLE, VEC>(live ? key_row(slot) : nullptr, s_q, hd, c);
            if (live && c == 0) {
                s_win[jj] = slot == -1 ? -INFINITY : __fmul_rn(d, a.scale);
                s_slot[jj] = slot;
            }
        }
    };
    const int W = a.window;
    const bool one_window = n_keys <= W;

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
                const uint16_t* vr =
                    slot == -2 ? s_vcur + d0 : a.cache_v + static_cast<int64_t>(slot) * kv_row + kv_off + d0;
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

// ---- One-token steps: attention_one_kernel -------------------------------------------------------------------
// The same bits as attention_kernel<true, true> (the single-token order above), for the decode step of one sequence
// with heads of HD = 64 or 128 and all keys in one window, laid out for a short chain of dependent steps rather
// than for throughput (session 7: ncu put attention_kernel's 10.3 us at 61 keys in ~17.5k cycles of one block a
// head, latency-bound: a 4,300-instruction body fetched cold (20% of the warp samples waiting on instructions), 12
// barriers, three to four rounds of dependent loads before the first score). HD / 8 warps:
//   - Before anything this launch's own kernel-before writes: the token's plan, the block table, the K rows of the
//     first two rounds of scores and the V pieces of the first four keys of each thread go in flight (a PDL launch
//     does this while the Q/K/V product still runs); then pdl_wait, then q, k, v (rope, f16, the K/V store).
//   - Scores: a quad a key; thread c of the quad holds the lanes 4c..4c+3 of the CPU's 16 lanes in all four
//     partial sums, so the partial sums combine in the thread ((0 + 2) + (1 + 3)) and reduce16 takes two shuffles.
//   - Exps: a thread a key, a chunk of 16 keys a half warp (reduce16 by shuffles); every thread adds the chunk sums
//     in double itself (no barrier to share it).
//   - p·v: warp w owns dims 8w..8w+7, lane r the partial rows r and r + 32 (keys r + 32k in order, k even into row
//     r, odd into r + 32); the CPU's tree over the 64 rows is then one add in the thread and five shuffles.
// Four barriers in all (q ready, the maximum, the exps, the output for its 8-bit form).
constexpr int k_one_vpre = 4;  // V pieces a thread has in flight in p·v

template <int HD>
__global__ void __launch_bounds__(HD * 4) attention_one_kernel(AttnParams a) {
    constexpr int NT = HD * 4, NW = NT / 32, CH = HD / 64, KPR = NT / 4;  // threads, warps, chunks of 64, keys a round
    constexpr unsigned full = 0xffffffffu;
    static_assert(NW * 8 == HD, "a warp per 8 output dims");
    cuda_detail::pdl_trigger();
    extern __shared__ __align__(16) float smem[];
    float* s_e = smem;                                             // [window] scores, then exps
    int* s_slot = reinterpret_cast<int*>(s_e + a.window);          // [window] cache slot of each key (-1, -2 as above)
    float* s_chunk = reinterpret_cast<float*>(s_slot + a.window);  // [window / 16] chunk sums
    __shared__ __align__(16) float s_q[HD];
    __shared__ __align__(16) uint16_t s_kcur[HD];
    __shared__ __align__(16) uint16_t s_vcur[HD];
    __shared__ float s_red[NW];
    __shared__ float s_out[HD];

    const int h = blockIdx.y, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const AttentionArgs& plan = a.plan;
    // 1. What the kernel before does not write: the plan (uploaded), the cache's history, rope's frequencies.
    const int32_t seq = plan.token_seq[0], pos = plan.token_pos[0], cur_slot = plan.token_slot[0];
    const float rope_p = a.rope ? static_cast<float>(a.rope_pos[0]) : 0.0f;
    const int bs = static_cast<int>(plan.block_size);
    const bool pre_ok =
        seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < a.window && pos / bs < plan.max_blocks_per_seq;
    const int n = pos + 1;
    const int32_t* table = plan.block_tables + static_cast<int64_t>(seq) * plan.max_blocks_per_seq;
    const int64_t kv_row = static_cast<int64_t>(a.n_kv_head) * HD;
    const int64_t kv_off = static_cast<int64_t>(h / (a.n_head / a.n_kv_head)) * HD;
    auto slot_of = [&](int j) -> int {  // -1: outside the cache, -2: the current key
        if (j == pos) return -2;
        const int32_t block = table[j / bs];
        const int64_t slot = static_cast<int64_t>(block) * bs + j % bs;
        return block >= 0 && slot < plan.n_slots ? static_cast<int>(slot) : -1;
    };
    const int32_t seq_len = pre_ok ? plan.seq_lens[seq] : 0;
    // K of the first two rounds: thread c of quad kq holds k[64i + 16m + 4c .. + 4) of key kq + r * KPR.
    const int c = tid & 3, kq = tid >> 2;
    uint2 kraw0[4 * CH], kraw1[4 * CH];
    int kslot0 = -1, kslot1 = -1;
    auto load_k = [&](int slot, uint2(&kr)[4 * CH]) {
#pragma unroll
        for (int i = 0; i < 4 * CH; ++i) kr[i] = make_uint2(0u, 0u);
        if (slot >= 0) {
            const uint16_t* row = a.cache_k + static_cast<int64_t>(slot) * kv_row + kv_off + 4 * c;
#pragma unroll
            for (int i = 0; i < 4 * CH; ++i) kr[i] = *reinterpret_cast<const uint2*>(row + 16 * i);
        }
    };
    if (pre_ok && kq < n) kslot0 = slot_of(kq);
    if (pre_ok && kq + KPR < n) kslot1 = slot_of(kq + KPR);
    load_k(kslot0, kraw0);
    load_k(kslot1, kraw1);
    // V of keys lane + 32k, k < k_one_vpre, dims 8 * warp .. + 8.
    uint4 vraw[k_one_vpre];
    int vslot[k_one_vpre];
    const uint16_t* v_base = a.cache_v + kv_off + 8 * warp;
#pragma unroll
    for (int k = 0; k < k_one_vpre; ++k) {
        const int j = lane + 32 * k;
        vslot[k] = pre_ok && j < n ? slot_of(j) : -1;
        vraw[k] = vslot[k] >= 0 ? *reinterpret_cast<const uint4*>(v_base + static_cast<int64_t>(vslot[k]) * kv_row)
                                : make_uint4(0u, 0u, 0u, 0u);
    }
    float* o = a.out + static_cast<int64_t>(h) * HD;
    cuda_detail::pdl_wait();          // q, k, v come from the kernel before
    if (!pre_ok || pos >= seq_len) {  // uniform over the block
        if (tid == 0 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        if (tid < HD) o[tid] = 0.0f;
        return;
    }

    // 2. q (rotated first when fused) rounded to f16; this token's K/V as f16, stored by the group's first block.
    const float* qh = a.q + static_cast<int64_t>(h) * HD;
    const float* kh = a.k + kv_off;
    const bool store = h % (a.n_head / a.n_kv_head) == 0;
    const bool slot_ok = cur_slot >= 0 && cur_slot < plan.n_slots;
    uint16_t* kd = a.cache_k + static_cast<int64_t>(cur_slot) * kv_row + kv_off;
    uint16_t* vd = a.cache_v + static_cast<int64_t>(cur_slot) * kv_row + kv_off;
    auto put = [&](int d, float qv, float kv) {
        s_q[d] = __half2float(__float2half_rn(qv));
        s_kcur[d] = f16_bits(kv);
        if (store && slot_ok) kd[d] = s_kcur[d];
    };
    const int pairs = a.rope ? a.rope_pairs : 0;
    if (tid < pairs) {  // pair i = tid: dims (2i, 2i + 1), or (i, i + pairs) for neox
        const int i = tid, d_a = a.neox ? i : 2 * i, d_b = a.neox ? i + pairs : 2 * i + 1;
        float cs, sn, q0, q1, k0, k1;
        cuda_detail::rope_cos_sin(i, rope_p, a.theta_scale, a.freq_scale, a.freq_factors ? a.freq_factors[i] : 1.0f,
                                  &cs, &sn);
        cuda_detail::rope_rotate(qh[d_a], qh[d_b], cs, sn, &q0, &q1);
        cuda_detail::rope_rotate(kh[d_a], kh[d_b], cs, sn, &k0, &k1);
        float* qw = const_cast<float*>(qh);  // q as the separate rope would leave it (nothing else reads it)
        qw[d_a] = q0, qw[d_b] = q1;
        put(d_a, q0, k0);
        put(d_b, q1, k1);
    } else if (tid < HD - pairs) {  // the dims rope leaves as they are
        const int d = 2 * pairs + (tid - pairs);
        put(d, qh[d], kh[d]);
    }
    if (tid < HD) {
        s_vcur[tid] = f16_bits(a.v[kv_off + tid]);
        if (store && slot_ok) vd[tid] = s_vcur[tid];
    }
    if (tid == 0 && !slot_ok && store && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
    __syncthreads();

    // 3. Scores: s_e[j] = (q·k_j) * scale, its slot into s_slot; the block's maximum.
    float tmax = -INFINITY;
    auto score = [&](int j, int slot, const uint2(&kr)[4 * CH]) {
        float t[4];  // lanes 4c + m of the CPU's 16: ((P0 + P2) + (P1 + P3)), Pm over the chunks of 64 in order
#pragma unroll
        for (int m = 0; m < 4; ++m) t[m] = 0.0f;
        float acc[4][4];
#pragma unroll
        for (int s = 0; s < 4; ++s)
#pragma unroll
            for (int m = 0; m < 4; ++m) acc[s][m] = 0.0f;
#pragma unroll
        for (int i = 0; i < CH; ++i) {
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                uint2 w = kr[4 * i + s];
                if (slot == -2) w = *reinterpret_cast<const uint2*>(s_kcur + 64 * i + 16 * s + 4 * c);
                const float2 k01 = __half22float2(*reinterpret_cast<const __half2*>(&w.x));
                const float2 k23 = __half22float2(*reinterpret_cast<const __half2*>(&w.y));
                const float4 qv = *reinterpret_cast<const float4*>(s_q + 64 * i + 16 * s + 4 * c);
                acc[s][0] = __fmaf_rn(k01.x, qv.x, acc[s][0]);
                acc[s][1] = __fmaf_rn(k01.y, qv.y, acc[s][1]);
                acc[s][2] = __fmaf_rn(k23.x, qv.z, acc[s][2]);
                acc[s][3] = __fmaf_rn(k23.y, qv.w, acc[s][3]);
            }
        }
#pragma unroll
        for (int m = 0; m < 4; ++m) t[m] = __fadd_rn(__fadd_rn(acc[0][m], acc[2][m]), __fadd_rn(acc[1][m], acc[3][m]));
            // reduce16: a[i] = t[i + 8] + t[i] (quad threads 0, 1 from 2, 3), b[i] = a[i + 4] + a[i] (thread 0 from 1).
#pragma unroll
        for (int m = 0; m < 4; ++m) t[m] = __fadd_rn(__shfl_xor_sync(full, t[m], 2), t[m]);
#pragma unroll
        for (int m = 0; m < 4; ++m) t[m] = __fadd_rn(__shfl_xor_sync(full, t[m], 1), t[m]);
        if (c == 0 && j < n) {
            const float sc =
                slot == -1 ? -INFINITY : __fmul_rn(__fadd_rn(__fadd_rn(t[0], t[2]), __fadd_rn(t[1], t[3])), a.scale);
            s_e[j] = sc;
            s_slot[j] = slot;
            tmax = fmaxf(tmax, sc);
            if (slot == -1 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
        }
    };
    score(kq, kslot0, kraw0);
    if (KPR < n) score(kq + KPR, kslot1, kraw1);
    for (int j0 = 2 * KPR; j0 < n; j0 += KPR) {  // longer histories: a round at a time
        const int j = j0 + kq;
        const int slot = j < n ? slot_of(j) : -1;
        load_k(slot, kraw0);
        score(j, slot, kraw0);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(full, tmax, off));
    if (lane == 0) s_red[warp] = tmax;
    __syncthreads();
    float mx = s_red[0];
#pragma unroll
    for (int w = 1; w < NW; ++w) mx = fmaxf(mx, s_red[w]);
    if (mx == -INFINITY) {  // no usable key (a bad plan, already reported)
        if (tid < HD) o[tid] = 0.0f;
        return;
    }

    // 4. e = exp(s - max) in place; chunk sums of 16 keys (zeros past the end) by reduce16 over a half warp.
    const int n_pad = (n + 15) & ~15;
    for (int j0 = 0; j0 < n_pad; j0 += NT) {  // the same trip count for every thread
        const int j = j0 + tid;
        float e = 0.0f;
        if (j < n) {
            e = exp_ggml(__fsub_rn(s_e[j], mx));
            s_e[j] = e;
        }
        e = __fadd_rn(e, __shfl_down_sync(full, e, 8, 16));
        e = __fadd_rn(e, __shfl_down_sync(full, e, 4, 16));
        const float y2 = __shfl_down_sync(full, e, 2, 16);  // lanes 0, 1: (y0 + y2), (y1 + y3)
        e = __fadd_rn(e, y2);
        e = __fadd_rn(e, __shfl_down_sync(full, e, 1, 16));
        if ((lane & 15) == 0 && j < n_pad) s_chunk[j >> 4] = e;
    }
    __syncthreads();
    double sum = 0.0;  // the chunk sums in order, by every thread (the same value everywhere, no barrier)
    for (int m = 0; m < n_pad / 16; ++m) sum += static_cast<double>(s_chunk[m]);
    const float inv = static_cast<float>(1.0 / sum);

    // 5. p·v: keys lane + 32k in order, k even into partial row lane, odd into row lane + 32.
    float acc[2][8];
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r][i] = 0.0f;
    const int nk = lane < n ? (n - lane + 31) / 32 : 0;
    for (int k0 = 0; k0 < nk; k0 += k_one_vpre) {
#pragma unroll
        for (int u = 0; u < k_one_vpre; ++u) {
            const int k = k0 + u, j = lane + 32 * k;
            if (k < nk && vslot[u] != -1) {
                const uint4 w = vslot[u] == -2 ? *reinterpret_cast<const uint4*>(s_vcur + 8 * warp) : vraw[u];
                const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
                const float p = __half2float(__float2half_rn(__fmul_rn(s_e[j], inv)));
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&ws[i]));
                    acc[u & 1][2 * i] = __fmaf_rn(p, f.x, acc[u & 1][2 * i]);  // p * v exact: as mul + add
                    acc[u & 1][2 * i + 1] = __fmaf_rn(p, f.y, acc[u & 1][2 * i + 1]);
                }
            }
            const int kn = k + k_one_vpre;  // the piece k_one_vpre keys on (its slot from the scores)
            if (kn < nk) {
                vslot[u] = s_slot[lane + 32 * kn];
                if (vslot[u] >= 0)
                    vraw[u] = *reinterpret_cast<const uint4*>(v_base + static_cast<int64_t>(vslot[u]) * kv_row);
            }
        }
    }
    // The CPU's tree over the 64 rows: u_r = row r + row r + 32, r16[l] = u_l + u_l+16, then reduce16.
    float y[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        float x = __fadd_rn(acc[0][i], acc[1][i]);
        x = __fadd_rn(x, __shfl_down_sync(full, x, 16));
        x = __fadd_rn(x, __shfl_down_sync(full, x, 8));
        x = __fadd_rn(x, __shfl_down_sync(full, x, 4));
        x = __fadd_rn(x, __shfl_down_sync(full, x, 2));  // lanes 0, 1: (y0 + y2), (y1 + y3)
        y[i] = __fadd_rn(x, __shfl_down_sync(full, x, 1));
    }
    if (lane == 0) {
        *reinterpret_cast<float4*>(o + 8 * warp) = make_float4(y[0], y[1], y[2], y[3]);
        *reinterpret_cast<float4*>(o + 8 * warp + 4) = make_float4(y[4], y[5], y[6], y[7]);
#pragma unroll
        for (int i = 0; i < 8; ++i) s_out[8 * warp + i] = y[i];
    }
    // 6. The output's 8-bit form for the next product: a warp a group of 32.
    if (a.xq.qs) {
        __syncthreads();
        if (warp < HD / 32) {
            const float val[1] = {s_out[tid]};
            const int64_t e = static_cast<int64_t>(h) * HD + tid;
            cuda_detail::quantize_group32<32, 1>(val, a.q8_1, true, a.xq.qs + e, a.xq.d + e / 32, a.xq.s + e / 32);
        }
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
//
// SHARE (session 6): each f16 value of a tile is converted to f32 once per thread for several rows, not once per
// row. Scores: a quad serves a key for up to k_rows_quad rows (q of the run's rows rounded to f16 in shared
// memory as f32, read as 16-byte broadcasts) instead of one row with q in registers; p·v: a thread's k_items
// items share their 8 dims when 16 % (hd / 8) == 0, so a V piece loaded and converted once feeds all of them.
// Each row's sums keep their order, so the bits are the same; SHARE = false is session 5's kernel.
// AttentionArgs::tiled_share picks it for blocks of one token (decode batches, +2% on 8b f16 256 x 128) by
// default; in prefill blocks it measured 1% slower (NOTES.md, session 6).
constexpr int k_tile_threads = 256;
constexpr int k_tile_keys_min = 64;  // keys a K or V tile at least (the launcher halves AttentionArgs::tiled_keys
                                     // down to this when shared memory is short)
constexpr int k_tile_rows = 64;      // query rows a block at most (= quads of the block)
constexpr int k_items = 4;           // p·v items a thread a pass
constexpr int k_rows_quad = 4;       // SHARE: rows a quad scores against each key it loads

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
};

// 16 bytes global -> shared without a register round trip; cp_async_wait_all waits for this thread's copies.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// reduce16 (ggml's order) of 16 floats in shared memory.
__device__ __forceinline__ float reduce16_smem(const float* e) {
    float x[8], y[4];
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = __fadd_rn(e[i + 8], e[i]);
#pragma unroll
    for (int i = 0; i < 4; ++i) y[i] = __fadd_rn(x[i + 4], x[i]);
    return __fadd_rn(__fadd_rn(y[0], y[2]), __fadd_rn(y[1], y[3]));
}

// Dynamic shared memory: s_tile [tile_keys, hd + 8] f16 (rows padded by 16 bytes: the 16-byte loads of eight
// consecutive keys hit distinct banks), s_sc [tokens_per_block * group, window] scores, then exps, then
// probabilities, s_slot [window] cache slots of the run's keys (-1: outside the cache, reported and skipped),
// then (SHARE) s_qf [tokens_per_block * group, hd] the run's q rows rounded to f16, as f32.
// MAXCH: chunks of 16 of a head (hd <= 16 * MAXCH); hd % 16 == 0.
template <int MAXCH, bool SHARE>
__global__ void __launch_bounds__(k_tile_threads, MAXCH <= 8 ? 3 : 2) attention_tiled_kernel(TiledParams a) {
    cuda_detail::pdl_trigger();
    constexpr unsigned full = 0xffffffffu;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int hd = a.hd, G = a.group, W = a.window, ld = hd + 8;
    uint16_t* s_tile = reinterpret_cast<uint16_t*>(smem_raw);
    const int TK = a.tile_keys;
    float* s_sc = reinterpret_cast<float*>(s_tile + TK * ld);
    int* s_slot = reinterpret_cast<int*>(s_sc + static_cast<int64_t>(a.tokens_per_block) * G * W);
    float* s_qf = reinterpret_cast<float*>(s_slot + W);  // W % 16 == 0: 16-byte aligned
    __shared__ int s_n[k_tile_rows];                     // keys of each row of the run (0: the row's output is zeros)

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int kvh = blockIdx.y;
    const int t_begin = blockIdx.x * a.tokens_per_block;
    const int t_end = min(a.n_tok, t_begin + a.tokens_per_block);
    const AttentionArgs& plan = a.plan;
    const int64_t kv_row = static_cast<int64_t>(a.n_kv_head) * hd;
    const int64_t kv_off = static_cast<int64_t>(kvh) * hd;
    const int vpr = hd / 8;  // 16-byte vectors a key row

    // Requests keys [k0, k0 + nt) of the run into s_tile (keys outside the cache are left as they are: never
    // used); tile_ready() waits for them and makes them visible to the block.
    auto issue_tile = [&](const uint16_t* __restrict__ cache, int k0, int nt) {
        for (int e = tid; e < nt * vpr; e += k_tile_threads) {
            const int kk = e / vpr, col = e - kk * vpr;
            const int slot = s_slot[k0 + kk];
            if (slot >= 0)
                cp_async16(s_tile + kk * ld + 8 * col, cache + static_cast<int64_t>(slot) * kv_row + kv_off + 8 * col);
        }
        cp_async_commit();
    };
    auto tile_ready = [&] {
        cp_async_wait_all();
        __syncthreads();
    };

    for (int ts = t_begin; ts < t_end;) {  // runs of consecutive tokens of one sequence (uniform over the block)
        const int32_t seq = plan.token_seq[ts];
        int te = ts + 1;
        while (te < t_end && plan.token_seq[te] == seq) ++te;
        const int R = (te - ts) * G;  // rows: (token, head) = (ts + row / G, kvh * G + row % G)
        if (tid < R) {
            const int32_t pos = plan.token_pos[ts + tid / G];
            const bool ok = seq >= 0 && seq < plan.n_seqs && pos >= 0 && pos < plan.seq_lens[seq] &&
                            pos / plan.block_size < plan.max_blocks_per_seq && pos < W;
            if (!ok && tid % G == 0 && a.error_flags) atomicOr(a.error_flags, k_error_bad_plan);
            s_n[tid] = ok ? pos + 1 : 0;
        }
        __syncthreads();
        int n_max = 0;
        for (int r = 0; r < R; ++r) n_max = max(n_max, s_n[r]);
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
        if (SHARE) {  // q of the run's rows, rounded to f16 (read by the scores after the first tile's barrier)
            for (int e = tid; e < R * hd; e += k_tile_threads) {
                const int row = e / hd, d = e - row * hd;
                const int t = ts + row / G, h = kvh * G + row % G;
                s_qf[e] = __half2float(__float2half_rn(a.q[(static_cast<int64_t>(t) * a.n_head + h) * hd + d]));
            }
        }

        // 1. Scores. SHARE: quad qi serves rows k_rows_quad * rg .. (+ k_rows_quad) with rg = qi % n_rg, and the
        // tile's keys kofs, kofs + kstep, ... (kofs = qi / n_rg); each row's 16 lanes sum over the chunks in order.
        if constexpr (SHARE) {
            const int qi = tid >> 2, c = tid & 3;
            const int n_rg = (R + k_rows_quad - 1) / k_rows_quad;
            const int kstep = max(1, k_tile_rows / n_rg);
            const bool active = qi < kstep * n_rg;
            const int rg = active ? qi % n_rg : 0, kofs = active ? qi / n_rg : 0;
            const int row0 = k_rows_quad * rg, rows_here = min(k_rows_quad, R - row0);
            for (int k0 = 0; k0 < n_max; k0 += TK) {
                const int nt = min(TK, n_max - k0);
                __syncthreads();  // s_slot and s_qf written; the previous tile consumed
                issue_tile(a.cache_k, k0, nt);
                tile_ready();
                for (int b = 0; b < nt; b += kstep) {  // the same trip count for every thread
                    const int kk = b + kofs;
                    const bool live = active && kk < nt;
                    const uint16_t* kr = s_tile + (live ? kk : 0) * ld + 4 * c;
                    float acc[k_rows_quad][4];
#pragma unroll
                    for (int r = 0; r < k_rows_quad; ++r)
#pragma unroll
                        for (int m = 0; m < 4; ++m) acc[r][m] = 0.0f;
#pragma unroll
                    for (int i = 0; i < MAXCH; ++i) {
                        if (16 * i < hd) {
                            float kv[4];
                            load_f16<4, true>(kr + 16 * i, kv);
#pragma unroll
                            for (int r = 0; r < k_rows_quad; ++r) {
                                if (r < rows_here) {
                                    const float4 qv =
                                        *reinterpret_cast<const float4*>(s_qf + (row0 + r) * hd + 16 * i + 4 * c);
                                    acc[r][0] = __fmaf_rn(kv[0], qv.x, acc[r][0]);
                                    acc[r][1] = __fmaf_rn(kv[1], qv.y, acc[r][1]);
                                    acc[r][2] = __fmaf_rn(kv[2], qv.z, acc[r][2]);
                                    acc[r][3] = __fmaf_rn(kv[3], qv.w, acc[r][3]);
                                }
                            }
                        }
                    }
#pragma unroll
                    for (int r = 0; r < k_rows_quad; ++r) {
#pragma unroll
                        for (int m = 0; m < 4; ++m)
                            acc[r][m] = __fadd_rn(acc[r][m], __shfl_xor_sync(full, acc[r][m], 2));
#pragma unroll
                        for (int m = 0; m < 4; ++m)
                            acc[r][m] = __fadd_rn(acc[r][m], __shfl_xor_sync(full, acc[r][m], 1));
                        if (live && c == 0 && r < rows_here) {
                            const float d = __fadd_rn(__fadd_rn(acc[r][0], acc[r][2]), __fadd_rn(acc[r][1], acc[r][3]));
                            s_sc[static_cast<int64_t>(row0 + r) * W + k0 + kk] =
                                s_slot[k0 + kk] == -1 ? -INFINITY : __fmul_rn(d, a.scale);
                        }
                    }
                }
            }
        } else {  // session 5: quad qi serves row qi % R and the tile's keys kofs, kofs + kstep, ... (kofs = qi / R)
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
                __syncthreads();  // s_slot written; the previous tile consumed
                issue_tile(a.cache_k, k0, nt);
                tile_ready();
                for (int b = 0; b < nt; b += kstep) {  // the same trip count for every thread
                    const int kk = b + kofs;
                    const bool live = active && kk < nt;
                    const uint16_t* kr = s_tile + (live ? kk : 0) * ld + 4 * c;
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
            }
        }
        __syncthreads();
        // The first V tile of step 3 is requested now and arrives during step 2 (which leaves s_tile alone).
        const int per_row = 16 * vpr;
        const int rows_pass = max(1, k_tile_threads * k_items / per_row);
        int n_first = 0;  // keys of step 3's first pass as step 1 sees them (step 2 only lowers s_n to 0)
        for (int r = 0; r < min(rows_pass, R); ++r) n_first = max(n_first, s_n[r]);
        if (n_first > 0) issue_tile(a.cache_v, 0, min(TK, n_first));
        __syncthreads();  // every thread has read s_n before step 2 lowers it

        // 2. Softmax, a warp a row.
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
            int n_pass = 0;
            for (int r = r0; r < r0 + rp; ++r) n_pass = max(n_pass, s_n[r]);
            if (r0 == 0) n_pass = n_first;  // the tile requested before step 2 (rows zeroed there add nothing)
            for (int k0 = 0; k0 < n_pass; k0 += TK) {
                const int nt = min(TK, n_pass - k0);
                if (r0 != 0 || k0 != 0) {
                    __syncthreads();  // the previous tile consumed
                    issue_tile(a.cache_v, k0, nt);
                }
                tile_ready();
                if (SHARE && 16 % vpr == 0) {  // every item of this thread: dims 8 * g, partial row pr
                    const int g = (tid / 16) % vpr;
                    int n_k[k_items], off_k[k_items], n_any = 0;
#pragma unroll
                    for (int k = 0; k < k_items; ++k) {
                        const int ri = (tid + k * k_tile_threads) / per_row;
                        const int row = r0 + min(ri, rp - 1);
                        n_k[k] = ri < rp ? min(nt, s_n[row] - k0) : 0;
                        off_k[k] = row * W + k0;
                        n_any = max(n_any, n_k[k]);
                    }
                    for (int jj = pr; jj < n_any; jj += 16) {
                        if (s_slot[k0 + jj] == -1) continue;
                        float vv[8];
                        load_f16<8, true>(s_tile + jj * ld + 8 * g, vv);
#pragma unroll
                        for (int k = 0; k < k_items; ++k) {
                            if (jj < n_k[k]) {
                                const float p = s_sc[off_k[k] + jj];
#pragma unroll
                                for (int i = 0; i < 8; ++i) acc[k][i] = __fmaf_rn(p, vv[i], acc[k][i]);  // p * v exact
                            }
                        }
                    }
                    continue;
                }
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
                        load_f16<8, true>(s_tile + jj * ld + 8 * g, vv);
#pragma unroll
                        for (int i = 0; i < 8; ++i) acc[k][i] = __fmaf_rn(p, vv[i], acc[k][i]);  // p * v exact
                    }
                }
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
        __syncthreads();  // s_n, s_slot, s_sc and s_tile are reused by the next run
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
        set(attention_one_kernel<64>);
        set(attention_one_kernel<128>);
        set(attention_tiled_kernel<8, false>);
        set(attention_tiled_kernel<16, false>);
        set(attention_tiled_kernel<8, true>);
        set(attention_tiled_kernel<16, true>);
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
    const size_t smem = static_cast<size_t>(a.window) * 2 * sizeof(float) + a.window / 16 * sizeof(float) +
                        static_cast<size_t>(rows) * head_dim * sizeof(float);
    // A thread per value chain (rows x head_dim / 8) up to 1024; at least 128.
    const int items = rows * static_cast<int>((head_dim + 7) / 8);
    const int threads = std::max(128, std::min(k_max_threads, (items + 31) / 32 * 32));
    const bool vec = head_dim % 8 == 0;
    // Several tokens: the tiled kernel when its scores fit in shared memory (the bits are the same).
    const int64_t group = n_head / n_kv_head;
    if (!single && plan.tiled_rows > 0 && plan.max_seq_len > 0 && group <= k_tile_rows) {
        // About tiled_rows rows a block when the step has several tokens a sequence (prefill), else a token.
        int64_t tpb = 1;
        if (n_tok >= 2 * plan.n_seqs) tpb = std::max<int64_t>(1, std::min(plan.tiled_rows, k_tile_rows) / group);
        const int64_t w = (plan.max_seq_len + 15) / 16 * 16;
        int64_t tk = std::clamp<int64_t>(plan.tiled_keys / k_tile_keys_min * k_tile_keys_min, k_tile_keys_min, 512);
        const bool share = plan.tiled_share >= 2 || (plan.tiled_share == 1 && tpb == 1);
        const auto bytes = [&](int64_t t) {
            return tk * (head_dim + 8) * 2 + t * group * w * 4 + w * 4 + (share ? t * group * head_dim * 4 : 0);
        };
        while (tk > k_tile_keys_min && bytes(tpb) > k_smem_limit) tk /= 2;
        while (tpb > 1 && bytes(tpb) > k_smem_limit) tpb /= 2;
        if (bytes(tpb) <= k_smem_limit) {
            TiledParams t{};
            t.q = q, t.cache_k = cache_k, t.cache_v = cache_v, t.plan = plan;
            t.n_tok = static_cast<int>(n_tok), t.n_head = static_cast<int>(n_head);
            t.n_kv_head = static_cast<int>(n_kv_head), t.hd = static_cast<int>(head_dim);
            t.group = static_cast<int>(group), t.tokens_per_block = static_cast<int>(tpb);
            t.scale = scale, t.out = out, t.error_flags = error_flags, t.window = static_cast<int>(w);
            t.tile_keys = static_cast<int>(tk);
            const dim3 tgrid(static_cast<unsigned>((n_tok + tpb - 1) / tpb), static_cast<unsigned>(n_kv_head));
            const size_t tsmem = static_cast<size_t>(bytes(tpb));
            if (head_dim <= 128 && share)
                attention_tiled_kernel<8, true><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            else if (head_dim <= 128)
                attention_tiled_kernel<8, false><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            else if (share)
                attention_tiled_kernel<16, true><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            else
                attention_tiled_kernel<16, false><<<tgrid, k_tile_threads, tsmem, stream>>>(t);
            ENCLAVE_CUDA_CHECK_LAUNCH("attention_tiled");
            return Status::ok();
        }
    }
    // One token with heads of 64 or 128 and every key in one window: attention_one_kernel (the same bits); as a PDL
    // launch it loads the plan and the cache's history while the kernel before (the Q/K/V product) still runs.
    if (n_tok == 1 && plan.one_token > 0 && (head_dim == 64 || head_dim == 128) && plan.max_seq_len > 0 &&
        plan.max_seq_len <= a.window) {
        const size_t smem1 = static_cast<size_t>(a.window) * 2 * sizeof(float) + a.window / 16 * sizeof(float);
        const dim3 grid1(1, static_cast<unsigned>(n_head));
        const bool pdl = plan.one_token >= 2;
        const cudaError_t e =
            head_dim == 64
                ? cuda_detail::launch_maybe_pdl(pdl, attention_one_kernel<64>, grid1, dim3(64 * 4), smem1, stream, a)
                : cuda_detail::launch_maybe_pdl(pdl, attention_one_kernel<128>, grid1, dim3(128 * 4), smem1, stream, a);
        ENCLAVE_CUDA_CHECK(e);
        ENCLAVE_CUDA_CHECK_LAUNCH("attention_one");
        return Status::ok();
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
