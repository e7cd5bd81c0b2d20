// top_k: the k largest logits of each row, so a step of many sequences copies k (id, logit) pairs a row back
// to the host instead of the whole vocabulary (256 rows x 128,256 floats = 131 MB a step for Llama 3).
//
// Order (the CPU reference, top_k_rows in cpu_ops.h, is the same function): values compare by
// top_k_key() — -0 equals +0, NaN ranks below every number — and equal values by lower index, so the first
// entry is the first maximum (std::max_element's pick). Output is largest first.
//
// One block of 1,024 threads a row: a radix select over the 32-bit keys, 8 bits a pass (4 passes over the
// row, 16-byte loads where rows allow), finds the k-th key T; then one more pass collects every key > T (fewer
// than k) and the lowest-index keys == T in index order (a block-wide prefix scan per tile); the k survivors
// are ranked in shared memory (each thread counts who beats it) and written in order.
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

template <int V>
__global__ void __launch_bounds__(k_threads) top_k_kernel(const float* __restrict__ logits, int64_t n, int k,
                                                          int32_t* __restrict__ ids, float* __restrict__ vals) {
    __shared__ unsigned hist[256];
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
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += k_threads) hist[i] = 0;
        __syncthreads();
        // Logits crowd into a few digits of the high bits: lanes with the same digit add once (their leader).
        for (int64_t base = 0; base < n_items; base += k_threads) {
            const int64_t j = base + tid;
            float v[V];
            if (j < n_items) load_item<V>(row, j, v);
#pragma unroll
            for (int e = 0; e < V; ++e) {
                unsigned digit = 256;  // none
                if (j < n_items) {
                    const uint32_t key = top_k_key(v[e]);
                    if ((key & mask) == prefix) digit = (key >> shift) & 255u;
                }
                // After the first pass few keys still match the prefix: most warps skip the match entirely.
                if (__ballot_sync(full, digit < 256) == 0) continue;
                const unsigned peers = __match_any_sync(full, digit);
                if (digit < 256 && lane == __ffs(peers) - 1)
                    atomicAdd(&hist[digit], static_cast<unsigned>(__popc(peers)));
            }
        }
        __syncthreads();
        if (tid == 0) {
            // The digit d where the count of keys with a larger digit is < need <= that count + hist[d].
            int above = 0, d = 255;
            for (; d > 0; --d) {
                const int h = static_cast<int>(hist[d]);
                if (above + h >= need) break;
                above += h;
            }
            s_need = need - above;
            s_prefix = prefix | (static_cast<uint32_t>(d) << shift);
        }
        __syncthreads();
        need = s_need;
        prefix = s_prefix;
        mask |= 255u << shift;
        __syncthreads();  // hist is cleared again next pass
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
                  cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!logits || !ids || !vals) return Status::invalid_argument("cuda top_k_rows: null pointer");
    if (n_rows < 0 || n_rows > 0x7fffffff || n <= 0 || k < 1 || k > k_top_k_max || k > n)
        return Status::invalid_argument("cuda top_k_rows: bad shape: " + std::to_string(n_rows) + " rows of " +
                                        std::to_string(n) + ", k " + std::to_string(k) + " (1 .. " +
                                        std::to_string(k_top_k_max) + ")");
    // Rows of a multiple of 4 floats from a 16-byte aligned start: every row is, and 16-byte loads.
    if (n % 4 == 0 && (reinterpret_cast<uintptr_t>(logits) & 15u) == 0)
        top_k_kernel<4>
            <<<static_cast<unsigned>(n_rows), k_threads, 0, stream>>>(logits, n, static_cast<int>(k), ids, vals);
    else
        top_k_kernel<1>
            <<<static_cast<unsigned>(n_rows), k_threads, 0, stream>>>(logits, n, static_cast<int>(k), ids, vals);
    ENCLAVE_CUDA_CHECK_LAUNCH("top_k_rows");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
