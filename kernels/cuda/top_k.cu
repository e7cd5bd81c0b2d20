// top_k: the k largest logits of each row, so a step of many sequences copies k (id, logit) pairs a row back
// to the host instead of the whole vocabulary (256 rows x 128,256 floats = 131 MB a step for Llama 3).
//
// Order (the CPU reference, top_k_rows in cpu_ops.h, is the same function): values compare by
// top_k_key() — -0 equals +0, NaN ranks below every number — and equal values by lower index, so the first
// entry is the first maximum (std::max_element's pick). Output is largest first.
//
// One block of 1,024 threads a row: a radix select over the 32-bit keys finds the k-th key T, by digits of 11,
// 11 and 10 bits (3 passes over the row, 16-byte loads where rows allow; a row of Llama 3's 128,256 logits is
// 513 KB, so 256 rows do not stay in L2 and every pass reads HBM) or, with digit_bits 8, four passes of 8 bits;
// then one more pass collects every key > T (fewer than k) and the lowest-index keys == T in index order (a
// block-wide prefix scan per tile); the k survivors are ranked in shared memory (each thread counts who beats
// it) and written in order.
#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"

namespace enclave::kernels::cuda {
namespace {

constexpr int k_threads = 1024;
constexpr int k_warps = k_threads / 32;

__device__ __forceinline__ uint32_t top_k_key(float v) {
    uint32_t u = __float_as_uint(v);
    if (u == 0x80000000u) u = 0;                                          // -0 -> +0
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return 0;  // NaN: lowest
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// V values an item: 4 (one 16-byte load; rows of a multiple of 4 at 16-byte aligned addresses) or 1.
template <int V>
__device__ __forceinline__ void load_item(const float* row, int64_t j, float (&v)[V]) {
    if constexpr (V == 4) {
        const float4 f = __ldg(reinterpret_cast<const float4*>(row) + j);
        v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
        v[0] = __ldg(row + j);
    }
}

// The digit passes: the first digit's shift and width; each next digit sits right below, the last ends at bit 0.
template <bool Wide>
struct Digits {
    static constexpr int n_passes = Wide ? 3 : 4;
    static constexpr int bins = Wide ? 2048 : 256;
    __device__ static constexpr int width(int pass) { return Wide ? (pass < 2 ? 11 : 10) : 8; }
    __device__ static constexpr int shift(int pass) { return Wide ? (pass == 0 ? 21 : pass == 1 ? 10 : 0) : 24 - 8 * pass; }
};

template <int V, bool Wide>
__global__ void __launch_bounds__(k_threads) top_k_kernel(const float* __restrict__ logits, int64_t n, int k,
                                                          int32_t* __restrict__ ids, float* __restrict__ vals) {
    using D = Digits<Wide>;
    __shared__ unsigned hist[D::bins];
    __shared__ uint32_t s_prefix;
    __shared__ int s_need;  // keys == T still to take
    __shared__ uint32_t s_key[k_top_k_max];
    __shared__ int32_t s_id[k_top_k_max];
    __shared__ int s_gt;  // keys > T collected so far
    __shared__ int s_warp_eq[k_warps];
    __shared__ int s_eq_taken;  // keys == T taken in earlier tiles

    constexpr unsigned full = 0xffffffffu;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const float* row = logits + static_cast<int64_t>(blockIdx.x) * n;
    const int64_t n_items = n / V;  // the launcher picks V == 4 only when n % 4 == 0

    uint32_t prefix = 0, mask = 0;
    int need = k;
    for (int pass = 0; pass < D::n_passes; ++pass) {
        const int shift = D::shift(pass);
        const uint32_t digit_mask = (1u << D::width(pass)) - 1u;
        for (int i = tid; i < D::bins; i += k_threads) hist[i] = 0;
        __syncthreads();
        // Logits crowd into a few digits of the high bits: lanes with the same digit add once (their leader).
        for (int64_t base = 0; base < n_items; base += k_threads) {
            const int64_t j = base + tid;
            float v[V];
            if (j < n_items) load_item<V>(row, j, v);
#pragma unroll
            for (int e = 0; e < V; ++e) {
                unsigned digit = D::bins;  // none
                if (j < n_items) {
                    const uint32_t key = top_k_key(v[e]);
                    if ((key & mask) == prefix) digit = (key >> shift) & digit_mask;
                }
                // After the first pass few keys still match the prefix: most warps skip the match entirely.
                if (__ballot_sync(full, digit < D::bins) == 0) continue;
                const unsigned peers = __match_any_sync(full, digit);
                if (digit < D::bins && lane == __ffs(peers) - 1)
                    atomicAdd(&hist[digit], static_cast<unsigned>(__popc(peers)));
            }
        }
        __syncthreads();
        // The digit d where the count of keys with a larger digit is < need <= that count + hist[d]: thread t
        // holds bins [b t, b t + b) (b = bins / threads, at least 1), sums the bins of the threads above it (a
        // suffix scan: shuffles in the warp, then the totals of the warps above), and the one whose bins hold
        // the crossing names d. Exactly one does: 1 <= need <= the keys still matching the prefix.
        constexpr int per_thread = D::bins / k_threads > 0 ? D::bins / k_threads : 1;
        int mine = 0;
        if (tid * per_thread < D::bins)
            for (int i = 0; i < per_thread; ++i) mine += static_cast<int>(hist[tid * per_thread + i]);
        int incl = mine;  // this lane's and the lanes' above it in the warp
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_down_sync(full, incl, o);
            if (lane + o < 32) incl += y;
        }
        if (lane == 0) s_warp_eq[warp] = incl;
        __syncthreads();
        int above = incl - mine;
        for (int w = warp + 1; w < k_warps; ++w) above += s_warp_eq[w];
        if (tid * per_thread < D::bins && above < need && need <= above + mine) {
            for (int i = per_thread - 1; i >= 0; --i) {
                const int d = tid * per_thread + i;
                const int h = static_cast<int>(hist[d]);
                if (above + h >= need) {
                    s_need = need - above;
                    s_prefix = prefix | (static_cast<uint32_t>(d) << shift);
                    break;
                }
                above += h;
            }
        }
        __syncthreads();
        need = s_need;
        prefix = s_prefix;
        mask |= digit_mask << shift;
        __syncthreads();  // hist and s_warp_eq are written again next pass
    }
    const uint32_t T = prefix;  // exactly k - need keys are > T; need of the keys == T are taken
    if (tid == 0) {
        s_gt = 0;
        s_eq_taken = 0;
    }
    __syncthreads();
    const int n_gt = k - need;
    // Tiles of k_threads items; within a tile the values lie in index order by (thread, e).
    for (int64_t base = 0; base < n_items; base += k_threads) {
        const int64_t j = base + tid;
        float v[V];
        uint32_t key[V];
        int n_eq = 0;
        if (j < n_items) load_item<V>(row, j, v);
#pragma unroll
        for (int e = 0; e < V; ++e) {
            key[e] = j < n_items ? top_k_key(v[e]) : 0u;
            if (j < n_items && key[e] > T) {
                const int slot = atomicAdd(&s_gt, 1);
                s_key[slot] = key[e];
                s_id[slot] = static_cast<int32_t>(j * V + e);
            }
            n_eq += (j < n_items && key[e] == T) ? 1 : 0;
        }
        // Exclusive prefix of n_eq over the block (warp scan, then the warps before).
        int incl = n_eq;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(full, incl, o);
            if (lane >= o) incl += y;
        }
        if (lane == 31) s_warp_eq[warp] = incl;
        __syncthreads();
        const int taken = s_eq_taken;
        if (n_eq > 0) {
            int rank = taken + incl - n_eq;
            for (int w = 0; w < warp; ++w) rank += s_warp_eq[w];
#pragma unroll
            for (int e = 0; e < V; ++e) {
                if (j < n_items && key[e] == T) {
                    if (rank < need) {
                        s_key[n_gt + rank] = key[e];
                        s_id[n_gt + rank] = static_cast<int32_t>(j * V + e);
                    }
                    ++rank;
                }
            }
        }
        __syncthreads();
        if (tid == 0) {
            int total = 0;
            for (int w = 0; w < k_warps; ++w) total += s_warp_eq[w];
            s_eq_taken = taken + total;
        }
        __syncthreads();
        // Every key > T sits somewhere in the row, so the scan cannot stop early on the equal ones alone.
    }
    // Rank: larger key first, equal keys by lower index (all indices differ).
    if (tid < k) {
        const uint32_t my = s_key[tid];
        const int32_t id = s_id[tid];
        int rank = 0;
        for (int j = 0; j < k; ++j) {
            const uint32_t o = s_key[j];
            rank += (o > my) || (o == my && s_id[j] < id);
        }
        const int64_t out = static_cast<int64_t>(blockIdx.x) * k + rank;
        ids[out] = id;
        vals[out] = row[id];
    }
}

}  // namespace

Status top_k_rows(const float* logits, int64_t n_rows, int64_t n, int64_t k, int32_t* ids, float* vals,
                  cudaStream_t stream, int digit_bits) {
    if (n_rows == 0) return Status::ok();
    if (!logits || !ids || !vals) return Status::invalid_argument("cuda top_k_rows: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || n <= 0 || k < 1 || k > k_top_k_max || k > n)
        return Status::invalid_argument("cuda top_k_rows: bad shape: " + std::to_string(n_rows) + " rows of " +
                                        std::to_string(n) + ", k " + std::to_string(k) + " (1 .. " +
                                        std::to_string(k_top_k_max) + ")");
    // Rows of a multiple of 4 floats from a 16-byte aligned start: every row is, and 16-byte loads.
    if (digit_bits != 8 && digit_bits != 11)
        return Status::invalid_argument("cuda top_k_rows: digits of " + std::to_string(digit_bits) + " bits (8 or 11)");
    const bool vec4 = n % 4 == 0 && (reinterpret_cast<uintptr_t>(logits) & 15u) == 0;
    const auto grid = static_cast<unsigned>(n_rows);
    const int ki = static_cast<int>(k);
    if (digit_bits == 11) {
        if (vec4)
            top_k_kernel<4, true><<<grid, k_threads, 0, stream>>>(logits, n, ki, ids, vals);
        else
            top_k_kernel<1, true><<<grid, k_threads, 0, stream>>>(logits, n, ki, ids, vals);
    } else {
        if (vec4)
            top_k_kernel<4, false><<<grid, k_threads, 0, stream>>>(logits, n, ki, ids, vals);
        else
            top_k_kernel<1, false><<<grid, k_threads, 0, stream>>>(logits, n, ki, ids, vals);
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("top_k_rows");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
