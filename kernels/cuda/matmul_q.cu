// matmul_q: y = x · Wᵀ for a few tokens (decode), reading each weight once in its stored layout, and the
// 8-bit activation quantization shared with the prefill GEMM (matmul_gemm.cu).
//
// Quantized weights: one warp per output row, a lane per unit of 32 weights (quant_unit.cuh); the unit's
// 8-bit values meet the activations' with __dp4a, per token, and the scales are applied per unit, so the
// integer sums are those of the CPU kernels. Q4_0, Q4_1 and Q8_0 weights in the split layout (cuda_ops.h)
// are read in 8- or 16-byte loads, several units in flight per lane; the GGUF layout in 2- and 4-byte pieces.
// Float weights: one warp per row, 16-byte loads, several in flight. One launch may carry up to three
// products of the same activations into separate outputs (segments: Q, K, V; gate, up).
// With MatvecSegments::pdl the split streaming and float products are PDL launches (pdl.cuh): they load their
// first weights while the kernel before them finishes and wait for it before reading the activations. One-token
// split products with rows of >= 64 units take the ring kernel (mmvq_split_ring_kernel: two register items a warp
// in flight, both requested before the wait), except launches of >= 48 MiB of weights (variant 3: 8b's gate/up and
// output), which chain faster one row a warp (mmvq_split_kernel as a PDL launch; bench_matvec, NOTES.md).
// Activations are quantized like the CPU's x86 path (ggml's quantize_row_q8_0/q8_1 under AVX2, and
// quantize_row_q8_K_ref) so both backends see the same 8-bit activations.
#include <algorithm>
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "pdl.cuh"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

using namespace cuda_detail;

constexpr int k_rows_per_block = 4;  // warps per block, one output row each

size_t align256(size_t b) {
    return (b + 255) / 256 * 256;
}

// ---- activation quantization --------------------------------------------------------------------------

enum class Q8Mode { q8_0, q8_1, q8_k };

__device__ __forceinline__ float round_to_half(float f) {
    return __half2float(__float2half_rn(f));
}

// One warp per group: 32 values (q8_0, q8_1) or 256 values (q8_k; written as 8 groups of 32 sharing d).
template <Q8Mode M>
__global__ void __launch_bounds__(128)
    quantize_q8_kernel(const float* __restrict__ x, int64_t n_in, int64_t n_groups, int8_t* __restrict__ qs,
                       float* __restrict__ d_out, float* __restrict__ s_out) {
    pdl_trigger();
    const int64_t gw = static_cast<int64_t>(blockIdx.x) * 4 + (threadIdx.x >> 5);
    if (gw >= n_groups) return;
    const int lane = threadIdx.x & 31;
    const int64_t n_units = n_in / 32;
    if constexpr (M == Q8Mode::q8_0 || M == Q8Mode::q8_1) {
        const int64_t tok = gw / n_units, u = gw % n_units;
        const int64_t idx = tok * n_in + u * 32 + lane;
        const float v = x[idx];
        const float amax = warp_max(fabsf(v));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const int q = static_cast<int>(rintf(v * id));
        qs[idx] = static_cast<int8_t>(q);
        const int sum = warp_sum_int(q);
        if (lane == 0) {
            d_out[tok * n_units + u] = round_to_half(d);
            s_out[tok * n_units + u] = M == Q8Mode::q8_1 ? round_to_half(d * static_cast<float>(sum)) : 0.0f;
        }
    } else {
        const int64_t n_sb = n_in / 256;
        const int64_t tok = gw / n_sb, b = gw % n_sb;
        const int64_t base = tok * n_in + b * 256;
        float v[8];
        float best_abs = 0.0f, best_val = 0.0f;
        int best_idx = 1 << 30;
        // The value of largest magnitude, the first one on ties (the CPU scans in order with '>').
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            v[i] = x[base + i * 32 + lane];
            const float a = fabsf(v[i]);
            if (a > best_abs) best_abs = a, best_val = v[i], best_idx = i * 32 + lane;
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float oa = __shfl_xor_sync(0xffffffffu, best_abs, o);
            const float ov = __shfl_xor_sync(0xffffffffu, best_val, o);
            const int oi = __shfl_xor_sync(0xffffffffu, best_idx, o);
            if (oa > best_abs || (oa == best_abs && oi < best_idx)) best_abs = oa, best_val = ov, best_idx = oi;
        }
        const bool zero = best_abs == 0.0f;
        const float iscale = zero ? 0.0f : -127.0f / best_val;
        const float d = zero ? 0.0f : 1.0f / iscale;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int q = zero ? 0 : min(127, static_cast<int>(rintf(iscale * v[i])));
            qs[base + i * 32 + lane] = static_cast<int8_t>(q);
            const int sum = warp_sum_int(q);
            if (lane == 0) {
                d_out[tok * n_units + b * 8 + i] = d;
                s_out[tok * n_units + b * 8 + i] = d * static_cast<float>(sum);
            }
        }
    }
}

// ---- segments ------------------------------------------------------------------------------------------

// The rows of one launch: segment s owns global rows [end[s-1], end[s]) of the grid.
struct SegArgs {
    const uint8_t* w[k_matvec_max_segments];
    float* y[k_matvec_max_segments];
    const float* bias[k_matvec_max_segments];
    int end[k_matvec_max_segments];  // cumulative row counts; unused segments repeat the total
};

struct RowRef {
    const uint8_t* w;  // the row's first byte
    float* y;          // y of the segment: [NCOLS, n_out]
    const float* bias;
    int row, n_out;
};

// Segment fields picked with constant indices (a run-time index would copy the arguments to local memory).
__device__ __forceinline__ RowRef row_ref(const SegArgs& a, int grow, size_t row_bytes) {
    const bool s1 = grow >= a.end[0], s2 = grow >= a.end[1];
    const int start = s2 ? a.end[1] : s1 ? a.end[0] : 0;
    const int end = s2 ? a.end[2] : s1 ? a.end[1] : a.end[0];
    RowRef r;
    r.row = grow - start;
    r.n_out = end - start;
    r.w = (s2 ? a.w[2] : s1 ? a.w[1] : a.w[0]) + static_cast<size_t>(r.row) * row_bytes;
    r.y = s2 ? a.y[2] : s1 ? a.y[1] : a.y[0];
    r.bias = s2 ? a.bias[2] : s1 ? a.bias[1] : a.bias[0];
    return r;
}

// Weights are read once: loaded without allocating in L1, which keeps the activations (read by every row) there.
__device__ __forceinline__ int4 ld_stream16(const void* p) {
    int4 v;
    asm("ld.global.nc.L1::no_allocate.v4.s32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}
__device__ __forceinline__ int2 ld_stream8(const void* p) {
    int2 v;
    asm("ld.global.nc.L1::no_allocate.v2.s32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t ld_stream_u16(const void* p) {
    unsigned short v;
    asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
}
__device__ __forceinline__ uint32_t ld_stream_u32(const void* p) {
    uint32_t v;
    asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}

template <int NCOLS>
__device__ __forceinline__ void store_row(const RowRef& r, const float (&acc)[NCOLS], int lane) {
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) {
        const float sum = warp_sum(acc[c]);
        if (lane == c) r.y[static_cast<int64_t>(c) * r.n_out + r.row] = sum + (r.bias ? r.bias[r.row] : 0.0f);
    }
}

// One unit's contribution to NCOLS tokens: the CPU's integer sums, scaled per unit.
template <TensorType T, int NCOLS>
__device__ __forceinline__ void unit_dot(const QUnit& q, int u, int n_units, const int8_t* __restrict__ xqs,
                                         const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in,
                                         float (&acc)[NCOLS]) {
    using Tr = QTraits<T>;
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) {
        const int4* xp = reinterpret_cast<const int4*>(xqs + c * n_in + static_cast<int64_t>(u) * 32);
        const int4 a = __ldg(xp), b = __ldg(xp + 1);
        const int lo = __dp4a(q.q[3], a.w, __dp4a(q.q[2], a.z, __dp4a(q.q[1], a.y, __dp4a(q.q[0], a.x, 0))));
        const int hi = __dp4a(q.q[7], b.w, __dp4a(q.q[6], b.z, __dp4a(q.q[5], b.y, __dp4a(q.q[4], b.x, 0))));
        const float dx = __ldg(xd + c * n_units + u);
        if constexpr (Tr::split)
            acc[c] += (q.d_lo * static_cast<float>(lo) + q.d_hi * static_cast<float>(hi)) * dx;
        else
            acc[c] += static_cast<float>(lo + hi) * (q.d_lo * dx);
        if constexpr (Tr::has_min) acc[c] += q.m * __ldg(xs + c * n_units + u);
    }
}

// ---- quantized weights, GGUF layout (every quantized type) -----------------------------------------------

// One warp per output row, a lane per unit of 32 weights, read in 2- and 4-byte pieces of the blocks.
template <TensorType T, int NCOLS>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmvq_kernel(SegArgs sa, int n_rows, size_t row_bytes, int n_units, const int8_t* __restrict__ xqs,
                const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in) {
    const int grow = blockIdx.x * k_rows_per_block + threadIdx.y;
    if (grow >= n_rows) return;  // whole warps only; no block barrier below
    const int lane = threadIdx.x;
    const RowRef r = row_ref(sa, grow, row_bytes);
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
#pragma unroll 2
    for (int u = lane; u < n_units; u += 32) {
        const QUnit q = load_unit<T>(r.w, u);
        unit_dot<T, NCOLS>(q, u, n_units, xqs, xd, xs, n_in, acc);
    }
    store_row<NCOLS>(r, acc, lane);
}

// ---- quantized weights, split layout (Q4_0, Q4_1, Q8_0) --------------------------------------------------

// One warp per output row, a lane per unit; a warp's 32 units are one contiguous run of quant bytes, read in
// 16-byte (V16: rows of a multiple of 16 bytes) or 8-byte loads, so a load instruction touches 4 to 8 cache
// lines where the GGUF blocks' 2-byte pieces touched ~45 per 576 bytes. Each lane issues the loads of U units
// before it uses the first, so U units' bytes are in flight per lane.
// As a PDL launch (variant 3's large launches) a warp requests its first round of weights before the wait.
template <TensorType T, int NCOLS, bool V16>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmvq_split_kernel(SegArgs sa, int n_rows, size_t row_bytes, int n_units, const int8_t* __restrict__ xqs,
                      const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in) {
    using S = SplitTraits<T>;
    constexpr int QW = S::quant_bytes / 4;  // quant words of a unit
    constexpr int U = NCOLS <= 2 ? 4 : 2;   // units in flight per lane
    pdl_trigger();
    const int grow = blockIdx.x * k_rows_per_block + threadIdx.y;
    if (grow >= n_rows) return;
    const int lane = threadIdx.x;
    const RowRef r = row_ref(sa, grow, row_bytes);
    const uint8_t* scales = r.w + static_cast<size_t>(n_units) * S::quant_bytes;
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
    for (int u0 = lane; u0 < n_units; u0 += 32 * U) {
        int w[U][QW];
        uint32_t sb[U];
#pragma unroll
        for (int i = 0; i < U; ++i) {
            const int u = u0 + 32 * i;
            if (u < n_units) {
                const uint8_t* qp = r.w + static_cast<size_t>(u) * S::quant_bytes;
                if constexpr (V16) {
#pragma unroll
                    for (int k = 0; k < QW / 4; ++k) {
                        const int4 v = __ldg(reinterpret_cast<const int4*>(qp) + k);
                        w[i][4 * k] = v.x, w[i][4 * k + 1] = v.y, w[i][4 * k + 2] = v.z, w[i][4 * k + 3] = v.w;
                    }
                } else {
#pragma unroll
                    for (int k = 0; k < QW / 2; ++k) {
                        const int2 v = __ldg(reinterpret_cast<const int2*>(qp) + k);
                        w[i][2 * k] = v.x, w[i][2 * k + 1] = v.y;
                    }
                }
                if constexpr (S::scale_bytes == 4)
                    sb[i] = __ldg(reinterpret_cast<const uint32_t*>(scales) + u);
                else
                    sb[i] = __ldg(reinterpret_cast<const uint16_t*>(scales) + u);
            } else {
#pragma unroll
                for (int k = 0; k < QW; ++k) w[i][k] = 0;
                sb[i] = 0;
            }
        }
        if (u0 == lane) pdl_wait();  // weights only before it: the kernel before may be writing the activations
#pragma unroll
        for (int i = 0; i < U; ++i) {
            const int u = u0 + 32 * i;
            if (u >= n_units) break;
            const QUnit q = unit_from_words<T>(w[i], sb[i]);
            unit_dot<T, NCOLS>(q, u, n_units, xqs, xd, xs, n_in, acc);
        }
    }
    store_row<NCOLS>(r, acc, lane);
}

// The same product with each warp owning rows_per_warp consecutive rows, walked as a stream of items (a row's
// next 32 * U units) with the next item's loads issued before the current item is computed (register double
// buffering), so a warp always has bytes in flight, and the grid is sized to the resident warps (no tail wave).
template <TensorType T, int U, bool V16>
struct SplitItem {
    using S = SplitTraits<T>;
    static constexpr int QW = S::quant_bytes / 4;
    int w[U][QW];
    uint32_t sb[U];

    __device__ __forceinline__ void load(const uint8_t* row, int n_units, int u0) {
        const uint8_t* scales = row + static_cast<size_t>(n_units) * S::quant_bytes;
#pragma unroll
        for (int i = 0; i < U; ++i) {
            const int u = u0 + 32 * i;
            if (u < n_units) {
                const uint8_t* qp = row + static_cast<size_t>(u) * S::quant_bytes;
                if constexpr (V16) {
#pragma unroll
                    for (int k = 0; k < QW / 4; ++k) {
                        const int4 v = ld_stream16(qp + 16 * k);
                        w[i][4 * k] = v.x, w[i][4 * k + 1] = v.y, w[i][4 * k + 2] = v.z, w[i][4 * k + 3] = v.w;
                    }
                } else {
#pragma unroll
                    for (int k = 0; k < QW / 2; ++k) {
                        const int2 v = ld_stream8(qp + 8 * k);
                        w[i][2 * k] = v.x, w[i][2 * k + 1] = v.y;
                    }
                }
                sb[i] = S::scale_bytes == 4 ? ld_stream_u32(scales + 4 * u) : ld_stream_u16(scales + 2 * u);
            } else {
#pragma unroll
                for (int k = 0; k < QW; ++k) w[i][k] = 0;
                sb[i] = 0;
            }
        }
    }
};

template <TensorType T, int NCOLS, bool V16>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmvq_split_stream_kernel(SegArgs sa, int n_rows, size_t row_bytes, int n_units, const int8_t* __restrict__ xqs,
                             const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in,
                             int rows_per_warp, int pf_rows) {
    constexpr int U = NCOLS <= 2 ? 4 : 2;
    using Item = SplitItem<T, U, V16>;
    pdl_trigger();
    const int lane = threadIdx.x;
    const int first = (blockIdx.x * k_rows_per_block + threadIdx.y) * rows_per_warp;
    const int last = min(n_rows, first + rows_per_warp);
    if (first >= last) return;
    const int chunks = (n_units + 32 * U - 1) / (32 * U);
    const int n_items = (last - first) * chunks;
    // Rows [g, g + pf_rows) of the warp asked of L2 ahead of the register loads (pf_rows 0: none).
    const auto prefetch_row = [&](int g) {
        const RowRef p = row_ref(sa, g, row_bytes);
        if constexpr (V16) {
            if (lane == 0) prefetch_l2_bulk(p.w, static_cast<uint32_t>(row_bytes));
        } else {
            prefetch_l2_lanes(p.w, static_cast<uint32_t>(row_bytes), lane);
        }
    };
    Item cur, nxt;
    RowRef r = row_ref(sa, first, row_bytes);
    // Weights only before the wait: the previous kernel may still be writing the activations.
    cur.load(r.w, n_units, lane);
    for (int j = 0; j < pf_rows && first + j < last; ++j) prefetch_row(first + j);
    pdl_wait();
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
    int chunk = 0;
    for (int k = 0; k < n_items; ++k) {
        // Issue the next item's loads first.
        const bool row_ends = chunk + 1 == chunks;
        const int next_chunk = row_ends ? 0 : chunk + 1;
        RowRef rn = r;
        if (k + 1 < n_items) {
            if (row_ends) {
                const int g = first + (k + 1) / chunks;
                rn = row_ref(sa, g, row_bytes);
                if (pf_rows > 0 && g + pf_rows - 1 < last) prefetch_row(g + pf_rows - 1);
            }
            nxt.load(rn.w, n_units, next_chunk * 32 * U + lane);
        }
        const int u0 = chunk * 32 * U + lane;
#pragma unroll
        for (int i = 0; i < U; ++i) {
            const int u = u0 + 32 * i;
            if (u >= n_units) break;
            const QUnit q = unit_from_words<T>(cur.w[i], cur.sb[i]);
            unit_dot<T, NCOLS>(q, u, n_units, xqs, xd, xs, n_in, acc);
        }
        if (row_ends) {
            store_row<NCOLS>(r, acc, lane);
#pragma unroll
            for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
        }
        cur = nxt;
        r = rn;
        chunk = next_chunk;
    }
}

// The one-token product as a ring: each warp owns rows_per_warp consecutive rows, walked as items of 32 * U units
// (U units a lane), and keeps R items in a ring of registers, walked unrolled by R (constant indices: the ring
// turns without register moves, so no move waits on a load; mmvq_split_stream_kernel's `cur = nxt` may). An item's
// buffer is refilled with the item R ahead as soon as it is computed, so R - 1 to R items are in flight a warp,
// and every warp requests its first R items before the PDL wait (Q/K/V and O of an 8B model: one or two rows of
// 128 units a warp, all of it in flight while the kernel before finishes). MinBlocks (4-warp blocks an SM) caps
// the registers: 8 -> 64 (32 warps an SM; session 4's kernel holds 80: 24 warps).
// Each lane sums its units in the order mmvq_split_stream_kernel does (u, u + 32, ...): bit-equal results.
//   rows of the launch: [n_rows, n_units * 32] in the split layout; xqs [n_in] int8, xd/xs [n_units]; one token.
//   U, R and MinBlocks: launch_ring (ptxas's report of registers and spills, and the A/B in NOTES.md).
// Rows shorter than k_ring_min_units units (SmolLM2's 576 and 1,536 values) keep session 4's kernel: the ring
// builds measured no gain there (smol tg128 within noise or -6%, session 5 run 2).
constexpr int k_ring_min_units = 64;
// Variant 3: one-token launches of at least this many bytes of weights take mmvq_split_kernel (PDL) instead.
constexpr size_t k_row_a_warp_min_bytes = size_t{48} << 20;

template <TensorType T, bool V16, int U, int R, int MinBlocks>
__global__ void __launch_bounds__(32 * k_rows_per_block, MinBlocks)
    mmvq_split_ring_kernel(SegArgs sa, int n_rows, size_t row_bytes, int n_units, const int8_t* __restrict__ xqs,
                           const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in, int rows_per_warp,
                           int /*pf_rows: no L2 prefetch here*/) {
    using Item = SplitItem<T, U, V16>;
    pdl_trigger();
    const int lane = threadIdx.x;
    const int first = (blockIdx.x * k_rows_per_block + threadIdx.y) * rows_per_warp;
    const int last = min(n_rows, first + rows_per_warp);
    if (first >= last) return;
    const int chunks = (n_units + 32 * U - 1) / (32 * U);

    // The loader walks items (row, chunk) R ahead of the compute; a row past `last` loads nothing.
    // (The row's address is recomputed per item rather than held: two registers fewer.)
    int ld_row = first, ld_chunk = 0;
    const auto issue = [&](Item& it) {
        if (ld_row >= last) return;
        it.load(row_ref(sa, ld_row, row_bytes).w, n_units, ld_chunk * 32 * U + lane);
        if (++ld_chunk == chunks) {
            ld_chunk = 0;
            ++ld_row;
        }
    };
    Item ring[R];
    // Weights only before the wait: the previous kernel may still be writing the activations.
#pragma unroll
    for (int j = 0; j < R; ++j) issue(ring[j]);
    pdl_wait();

    float acc[1] = {0.0f};
    int c_row = first, c_chunk = 0;
    // Computes the item in `it`, stores the row when it ends, then refills `it` with the item R ahead.
    const auto consume = [&](Item& it) {
        const int u0 = c_chunk * 32 * U + lane;
#pragma unroll
        for (int i = 0; i < U; ++i) {
            const int u = u0 + 32 * i;
            if (u >= n_units) break;
            const QUnit q = unit_from_words<T>(it.w[i], it.sb[i]);
            unit_dot<T, 1>(q, u, n_units, xqs, xd, xs, n_in, acc);
        }
        if (++c_chunk == chunks) {
            store_row<1>(row_ref(sa, c_row, row_bytes), acc, lane);
            acc[0] = 0.0f;
            c_chunk = 0;
            ++c_row;
        }
        issue(it);
    };
    while (c_row < last) {
#pragma unroll
        for (int j = 0; j < R; ++j) {  // constant indices: the ring stays in registers
            if (c_row >= last) break;
            consume(ring[j]);
        }
    }
}

// Repack: one thread per unit, GGUF block -> split row.
template <TensorType T>
__global__ void __launch_bounds__(256) repack_split_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst,
                                                           int64_t n_units_total, int nb, size_t row_bytes) {
    using S = SplitTraits<T>;
    using Tr = QTraits<T>;
    const int64_t i = static_cast<int64_t>(blockIdx.x) * 256 + threadIdx.x;
    if (i >= n_units_total) return;
    const int64_t row = i / nb;
    const int u = static_cast<int>(i % nb);
    const uint8_t* b = src + row * row_bytes + static_cast<size_t>(u) * Tr::block_bytes;
    uint8_t* q = dst + row * row_bytes + static_cast<size_t>(u) * S::quant_bytes;
    uint8_t* sc =
        dst + row * row_bytes + static_cast<size_t>(nb) * S::quant_bytes + static_cast<size_t>(u) * S::scale_bytes;
    const auto* bh = reinterpret_cast<const uint16_t*>(b);  // blocks are 2-byte aligned
    auto* qh = reinterpret_cast<uint16_t*>(q);
    auto* sh = reinterpret_cast<uint16_t*>(sc);
#pragma unroll
    for (int k = 0; k < S::scale_bytes / 2; ++k) sh[k] = bh[k];
#pragma unroll
    for (int k = 0; k < S::quant_bytes / 2; ++k) qh[k] = bh[S::scale_bytes / 2 + k];
}

// ---- float weights -------------------------------------------------------------------------------------

// The activation as the CPU meets the weight: rounded to f16 for f16 weights, to bf16 for bf16 ones.
template <TensorType T>
__device__ __forceinline__ float act_as(float v) {
    if constexpr (T == TensorType::F16)
        return __half2float(__float2half_rn(v));
    else if constexpr (T == TensorType::BF16)
        return __bfloat162float(__float2bfloat16_rn(v));
    else
        return v;
}

template <TensorType T>
__device__ __forceinline__ float weight_at(const void* row, int64_t i) {
    if constexpr (T == TensorType::F32)
        return static_cast<const float*>(row)[i];
    else if constexpr (T == TensorType::F16)
        return half_bits_to_float(static_cast<const uint16_t*>(row)[i]);
    else
        return bf16_bits_to_float(static_cast<const uint16_t*>(row)[i]);
}

// 8 consecutive weights at element i of a row, as loaded (16-byte aligned): F32 two int4, F16/BF16 one.
struct Raw8 {
    uint4 a, b;
};
template <TensorType T>
__device__ __forceinline__ Raw8 load_raw8(const void* row, int64_t i) {
    Raw8 r;
    if constexpr (T == TensorType::F32) {
        const uint4* p = reinterpret_cast<const uint4*>(static_cast<const float*>(row) + i);
        r.a = __ldg(p);
        r.b = __ldg(p + 1);
    } else {
        r.a = __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(row) + i));
        r.b = make_uint4(0, 0, 0, 0);
    }
    return r;
}
template <TensorType T>
__device__ __forceinline__ void decode8(const Raw8& r, float (&wv)[8]) {
    if constexpr (T == TensorType::F32) {
        const uint32_t words[8] = {r.a.x, r.a.y, r.a.z, r.a.w, r.b.x, r.b.y, r.b.z, r.b.w};
#pragma unroll
        for (int k = 0; k < 8; ++k) wv[k] = __uint_as_float(words[k]);
    } else {
        const uint32_t words[4] = {r.a.x, r.a.y, r.a.z, r.a.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            if constexpr (T == TensorType::F16) {
                wv[2 * k] = half_bits_to_float(static_cast<uint16_t>(words[k] & 0xFFFF));
                wv[2 * k + 1] = half_bits_to_float(static_cast<uint16_t>(words[k] >> 16));
            } else {
                wv[2 * k] = bf16_bits_to_float(static_cast<uint16_t>(words[k] & 0xFFFF));
                wv[2 * k + 1] = bf16_bits_to_float(static_cast<uint16_t>(words[k] >> 16));
            }
        }
    }
}

// One warp per row; VEC: 16-byte loads, lanes on consecutive 8-value pieces, U pieces per lane in flight.
template <TensorType T, int NCOLS, bool VEC>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmv_float_kernel(SegArgs sa, int n_rows, size_t row_bytes, int64_t n_in, const float* __restrict__ x,
                     int pf_rounds) {
    pdl_trigger();
    const int grow = blockIdx.x * k_rows_per_block + threadIdx.y;
    if (grow >= n_rows) return;
    const int lane = threadIdx.x;
    const RowRef r = row_ref(sa, grow, row_bytes);
    const void* wr = r.w;
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
    if constexpr (VEC) {
        constexpr int U = NCOLS <= 2 ? 4 : 2;
        // A round is the warp's U 16-byte loads per lane; L2 is asked for the row pf_rounds rounds ahead of them.
        constexpr uint32_t round_bytes = 256 * U * (T == TensorType::F32 ? 4 : 2);
        const uint32_t rb = static_cast<uint32_t>(row_bytes);
        const auto prefetch = [&](uint32_t from, uint32_t to) {
            to = min(to, rb);
            if (lane == 0 && from < to) prefetch_l2_bulk(static_cast<const uint8_t*>(wr) + from, to - from);
        };
        const uint32_t ahead = static_cast<uint32_t>(pf_rounds) * round_bytes;
        Raw8 raw[U];
        // Weights only before the wait: the previous kernel may still be writing the activations.
#pragma unroll
        for (int j = 0; j < U; ++j) {
            const int64_t i = lane * 8 + 256 * j;
            if (i < n_in) raw[j] = load_raw8<T>(wr, i);
        }
        if (ahead) prefetch(round_bytes, round_bytes + ahead);
        pdl_wait();
        uint32_t round_start = 0;
        for (int64_t i0 = lane * 8; i0 < n_in; i0 += 256 * U, round_start += round_bytes) {
            if (round_start != 0) {
                if (ahead) prefetch(round_start + ahead, round_start + ahead + round_bytes);
#pragma unroll
                for (int j = 0; j < U; ++j) {
                    const int64_t i = i0 + 256 * j;
                    if (i < n_in) raw[j] = load_raw8<T>(wr, i);
                }
            }
#pragma unroll
            for (int j = 0; j < U; ++j) {
                const int64_t i = i0 + 256 * j;
                if (i >= n_in) break;
                float wv[8];
                decode8<T>(raw[j], wv);
#pragma unroll
                for (int c = 0; c < NCOLS; ++c) {
                    const float4* xp = reinterpret_cast<const float4*>(x + c * n_in + i);
                    const float4 a = __ldg(xp), b = __ldg(xp + 1);
                    const float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int k = 0; k < 8; ++k) acc[c] += wv[k] * act_as<T>(xv[k]);
                }
            }
        }
    } else {
        pdl_wait();
        for (int64_t i = lane; i < n_in; i += 32) {
            const float wv = weight_at<T>(wr, i);
#pragma unroll
            for (int c = 0; c < NCOLS; ++c) acc[c] += wv * act_as<T>(x[c * n_in + i]);
        }
    }
    store_row<NCOLS>(r, acc, lane);
}

// ---- dispatch ------------------------------------------------------------------------------------------

struct VecArgs {
    TensorType type;
    bool split;
    SegArgs sa;
    int n_rows;
    size_t row_bytes;
    int64_t n_in;
    const float* x;
    Q8Activations xq;
    bool aligned16;       // every segment's weights start 16-byte aligned
    int variant;          // MatvecSegments::variant
    bool pdl;             // MatvecSegments::pdl
    int l2_prefetch_mib;  // MatvecSegments::l2_prefetch_mib
    cudaStream_t stream;
};

// Resident warps of a kernel on this device (its occupancy), asked once per kernel.
template <auto Kernel>
int resident_warps() {
    static const int n = [] {
        int dev = 0, sms = 0, blocks = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, Kernel, 32 * k_rows_per_block, 0) != cudaSuccess ||
            blocks < 1) {
            (void)cudaGetLastError();
            return 132 * 16;
        }
        return sms * blocks * k_rows_per_block;
    }();
    return n;
}

// The streaming kernels: rows split evenly over at most the resident warps. With l2_prefetch, each warp keeps
// its next pf_rows rows requested from L2 (units_per_item 0: a kernel without the prefetch) (enough to cover a row that
// is longer than one register item, or rows beyond the one the double buffer holds), capped at l2_prefetch_mib over the
// launch (L2 holds 50 MB).
template <auto Kernel>
void launch_stream(const VecArgs& a, int n_units, int units_per_item) {
    const int max_warps = resident_warps<Kernel>();
    const int rows_per_warp = (a.n_rows + max_warps - 1) / max_warps;
    const int n_warps = (a.n_rows + rows_per_warp - 1) / rows_per_warp;
    const unsigned grid = static_cast<unsigned>((n_warps + k_rows_per_block - 1) / k_rows_per_block);
    int pf_rows = 0;
    if (a.l2_prefetch_mib > 0 && units_per_item > 0 && (rows_per_warp > 1 || n_units > units_per_item)) {
        const double fit =
            a.l2_prefetch_mib * 1048576.0 / (static_cast<double>(n_warps) * static_cast<double>(a.row_bytes));
        pf_rows = static_cast<int>(std::min<double>(std::min(rows_per_warp, 8), std::max(1.0, fit)));
    }
    (void)launch_maybe_pdl(a.pdl, Kernel, dim3(grid), dim3(32, k_rows_per_block), 0, a.stream, a.sa, a.n_rows,
                           a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s, a.n_in, rows_per_warp, pf_rows);
}

// The ring kernel's build: U 4, R 2 and 64 registers (32 warps an SM; ptxas, sm_90, CUDA 13.0: 4-12 bytes of
// spills) for the 4-bit types; Q8_0's 32-byte units U 2, R 2 (64 registers, the same 64 bytes a lane an item).
// Session 5's A/B on 8b q4_0 tg128 (NOTES.md): this build 469 t/s; U 2, R 4 at 64 registers 466; U 4, R 2 at
// 72 registers (28 warps) 461; U 1, R 3 at 40 registers (48 warps) 431; session 4's kernel 455.
template <TensorType T, bool V16>
void launch_ring(const VecArgs& a, int n_units) {
    if constexpr (T == TensorType::Q8_0)
        launch_stream<mmvq_split_ring_kernel<T, V16, 2, 2, 8>>(a, n_units, 0);
    else
        launch_stream<mmvq_split_ring_kernel<T, V16, 4, 2, 8>>(a, n_units, 0);
}

template <TensorType T, int NCOLS>
void launch_vec(const VecArgs& a) {
    const dim3 block(32, k_rows_per_block);
    const unsigned grid = static_cast<unsigned>((a.n_rows + k_rows_per_block - 1) / k_rows_per_block);
    const int n_units = static_cast<int>(a.n_in / 32);
    if constexpr (T == TensorType::F32 || T == TensorType::F16 || T == TensorType::BF16) {
        // Two rounds (2-4 KB a warp) asked of L2 ahead of the registers' one.
        const int pf_rounds = a.l2_prefetch_mib > 0 ? 2 : 0;
        if (a.n_in % 8 == 0 && a.aligned16 && a.row_bytes % 16 == 0)
            (void)launch_maybe_pdl(a.pdl, mmv_float_kernel<T, NCOLS, true>, grid, block, 0, a.stream, a.sa, a.n_rows,
                                   a.row_bytes, a.n_in, a.x, pf_rounds);
        else
            (void)launch_maybe_pdl(a.pdl, mmv_float_kernel<T, NCOLS, false>, grid, block, 0, a.stream, a.sa, a.n_rows,
                                   a.row_bytes, a.n_in, a.x, pf_rounds);
    } else {
        if constexpr (T == TensorType::Q4_0 || T == TensorType::Q4_1 || T == TensorType::Q8_0) {
            if (a.split) {
                const bool v16 = a.row_bytes % 16 == 0 && a.aligned16;
                // MatvecSegments::variant 2 (the backend's default since session 5): one-token products with rows
                // of at least k_ring_min_units units on the ring kernel, others as variant 0.
                if constexpr (NCOLS == 1) {
                    // Variant 3: as 2, but launches of >= k_row_a_warp_min_bytes of weights (8b's gate/up and
                    // output) one row a warp as a PDL launch (bench_matvec: 19.4 vs 20.3 us chained for gate/up).
                    if (a.variant == 3 && n_units >= k_ring_min_units &&
                        static_cast<size_t>(a.n_rows) * a.row_bytes >= k_row_a_warp_min_bytes) {
                        if (v16)
                            (void)launch_maybe_pdl(a.pdl, mmvq_split_kernel<T, 1, true>, grid, block, 0, a.stream, a.sa,
                                                   a.n_rows, a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s, a.n_in);
                        else
                            (void)launch_maybe_pdl(a.pdl, mmvq_split_kernel<T, 1, false>, grid, block, 0, a.stream,
                                                   a.sa, a.n_rows, a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s,
                                                   a.n_in);
                        return;
                    }
                    if ((a.variant == 2 || a.variant == 3) && n_units >= k_ring_min_units) {
                        if (v16)
                            launch_ring<T, true>(a, n_units);
                        else
                            launch_ring<T, false>(a, n_units);
                        return;
                    }
                }
                if (a.variant != 1) {  // 0, and 2 or 3 for short rows or more than one token
                    constexpr int units_per_item = 32 * (NCOLS <= 2 ? 4 : 2);
                    if (v16)
                        launch_stream<mmvq_split_stream_kernel<T, NCOLS, true>>(a, n_units, units_per_item);
                    else
                        launch_stream<mmvq_split_stream_kernel<T, NCOLS, false>>(a, n_units, units_per_item);
                    return;
                }
                if (v16)
                    mmvq_split_kernel<T, NCOLS, true><<<grid, block, 0, a.stream>>>(
                        a.sa, a.n_rows, a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s, a.n_in);
                else
                    mmvq_split_kernel<T, NCOLS, false><<<grid, block, 0, a.stream>>>(
                        a.sa, a.n_rows, a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s, a.n_in);
                return;
            }
        }
        mmvq_kernel<T, NCOLS>
            <<<grid, block, 0, a.stream>>>(a.sa, a.n_rows, a.row_bytes, n_units, a.xq.qs, a.xq.d, a.xq.s, a.n_in);
    }
}

template <TensorType T>
void launch_vec_cols(const VecArgs& a, int64_t n_tok) {
    switch (n_tok) {
        case 1:
            launch_vec<T, 1>(a);
            break;
        case 2:
            launch_vec<T, 2>(a);
            break;
        case 3:
            launch_vec<T, 3>(a);
            break;
        case 4:
            launch_vec<T, 4>(a);
            break;
        case 5:
            launch_vec<T, 5>(a);
            break;
        case 6:
            launch_vec<T, 6>(a);
            break;
        case 7:
            launch_vec<T, 7>(a);
            break;
        default:
            launch_vec<T, 8>(a);
            break;
    }
}

bool is_split_type(TensorType t) {
    return t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q8_0;
}

}  // namespace

size_t q8_activation_bytes(int64_t n_tok, int64_t n_in) noexcept {
    const size_t n = static_cast<size_t>(n_tok) * static_cast<size_t>(n_in);
    return align256(n) + 2 * align256(n / 32 * sizeof(float));
}

Q8Activations q8_activations(void* scratch, int64_t n_tok, int64_t n_in) noexcept {
    const size_t n = static_cast<size_t>(n_tok) * static_cast<size_t>(n_in);
    auto* base = static_cast<uint8_t*>(scratch);
    Q8Activations a;
    a.qs = reinterpret_cast<int8_t*>(base);
    a.d = reinterpret_cast<float*>(base + align256(n));
    a.s = reinterpret_cast<float*>(base + align256(n) + align256(n / 32 * sizeof(float)));
    return a;
}

// Every weight type has a product here; activation-only types (Q8_1, Q8_K) and I32 do not.
bool matmul_supported(TensorType t) noexcept {
    return tensor_type_info(t).is_weight_type;
}

bool matmul_uses_q8(TensorType t) noexcept {
    return matmul_supported(t) && t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

Status quantize_activations(TensorType weight_type, const float* x, int64_t n_tok, int64_t n_in,
                            const Q8Activations& xq, cudaStream_t stream) {
    if (n_tok == 0) return Status::ok();
    if (!matmul_uses_q8(weight_type))
        return Status::invalid_argument("cuda quantize_activations: " + std::string(tensor_type_name(weight_type)) +
                                        " weights take f32 activations");
    if (!x || !xq.qs || !xq.d || !xq.s) return Status::invalid_argument("cuda quantize_activations: null pointer");
    const bool k_quant =
        weight_type == TensorType::Q4_K || weight_type == TensorType::Q5_K || weight_type == TensorType::Q6_K;
    const int64_t group = k_quant ? 256 : 32;
    if (n_tok < 0 || n_in <= 0 || n_in % group != 0)
        return Status::invalid_argument("cuda quantize_activations: " + std::to_string(n_in) +
                                        " columns are not whole groups of " + std::to_string(group));
    const int64_t n_groups = n_tok * (n_in / group);
    if ((n_groups + 3) / 4 > 0x7fffffff) return Status::invalid_argument("cuda quantize_activations: too large");
    const unsigned grid = static_cast<unsigned>((n_groups + 3) / 4);
    if (k_quant)
        quantize_q8_kernel<Q8Mode::q8_k><<<grid, 128, 0, stream>>>(x, n_in, n_groups, xq.qs, xq.d, xq.s);
    else if (weight_type == TensorType::Q4_1)
        quantize_q8_kernel<Q8Mode::q8_1><<<grid, 128, 0, stream>>>(x, n_in, n_groups, xq.qs, xq.d, xq.s);
    else
        quantize_q8_kernel<Q8Mode::q8_0><<<grid, 128, 0, stream>>>(x, n_in, n_groups, xq.qs, xq.d, xq.s);
    ENCLAVE_CUDA_CHECK_LAUNCH("quantize_q8");
    return Status::ok();
}

bool split_layout_supported(TensorType t, int64_t n_cols) noexcept {
    if (!is_split_type(t) || n_cols <= 0 || n_cols % 32 != 0) return false;
    const auto rb = enclave::row_bytes(t, n_cols);
    return rb && *rb % 8 == 0;
}

Status repack_split(TensorType t, const void* src, void* dst, int64_t n_rows, int64_t n_cols, cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    if (!split_layout_supported(t, n_cols) || n_rows < 0)
        return Status::invalid_argument("cuda repack_split: " + std::string(tensor_type_name(t)) + " rows of " +
                                        std::to_string(n_cols) + " values have no split layout");
    if (!src || !dst) return Status::invalid_argument("cuda repack_split: null pointer");
    const size_t rb = *enclave::row_bytes(t, n_cols);
    const int nb = static_cast<int>(n_cols / 32);
    const int64_t total = n_rows * nb;
    const auto grid = static_cast<unsigned>((total + 255) / 256);
    const auto* s8 = static_cast<const uint8_t*>(src);
    auto* d8 = static_cast<uint8_t*>(dst);
    if (t == TensorType::Q4_0)
        repack_split_kernel<TensorType::Q4_0><<<grid, 256, 0, stream>>>(s8, d8, total, nb, rb);
    else if (t == TensorType::Q4_1)
        repack_split_kernel<TensorType::Q4_1><<<grid, 256, 0, stream>>>(s8, d8, total, nb, rb);
    else
        repack_split_kernel<TensorType::Q8_0><<<grid, 256, 0, stream>>>(s8, d8, total, nb, rb);
    ENCLAVE_CUDA_CHECK_LAUNCH("repack_split");
    return Status::ok();
}

Status matmul_vec_multi(TensorType weight_type, WeightLayout layout, const MatvecSegments& segs, int64_t n_in,
                        const float* x, const Q8Activations& xq, int64_t n_tok, cudaStream_t stream) {
    if (n_tok == 0) return Status::ok();
    const std::string type_name(tensor_type_name(weight_type));
    if (!matmul_supported(weight_type))
        return Status::unsupported("cuda matmul: weights of type " + type_name + " are not supported");
    const auto rb = enclave::row_bytes(weight_type, n_in);
    if (n_tok < 0 || n_tok > k_matmul_vec_max_tokens || n_in <= 0 || !rb || segs.n < 1 ||
        segs.n > k_matvec_max_segments)
        return Status::invalid_argument("cuda matmul_vec: bad shape: w [*, " + std::to_string(n_in) + "] " + type_name +
                                        ", " + std::to_string(n_tok) + " tokens (at most " +
                                        std::to_string(k_matmul_vec_max_tokens) + "), " + std::to_string(segs.n) +
                                        " segments");
    const bool split = layout == WeightLayout::split;
    if (split && !split_layout_supported(weight_type, n_in))
        return Status::invalid_argument("cuda matmul_vec: " + type_name + " rows of " + std::to_string(n_in) +
                                        " values have no split layout");
    const bool q8 = matmul_uses_q8(weight_type);
    if (q8 ? (!xq.qs || !xq.d || !xq.s) : !x) return Status::invalid_argument("cuda matmul_vec: null pointer");
    VecArgs a{weight_type, split, {}, 0, *rb, n_in, x, xq, true, segs.variant, segs.pdl, segs.l2_prefetch_mib, stream};
    int64_t total = 0;
    for (int i = 0; i < k_matvec_max_segments; ++i) {
        const MatvecSegment& s = segs.seg[i < segs.n ? i : segs.n - 1];
        if (i < segs.n) {
            if (!s.w || !s.y || s.n_out < 0) return Status::invalid_argument("cuda matmul_vec: null pointer");
            total += s.n_out;
            if ((reinterpret_cast<uintptr_t>(s.w) & 15u) != 0) a.aligned16 = false;
        }
        if (total > 0x7fffffff) return Status::invalid_argument("cuda matmul_vec: too many rows");
        a.sa.w[i] = static_cast<const uint8_t*>(s.w);
        a.sa.y[i] = s.y;
        a.sa.bias[i] = s.bias;
        a.sa.end[i] = static_cast<int>(total);
    }
    a.n_rows = static_cast<int>(total);
    if (a.n_rows == 0) return Status::ok();
    switch (weight_type) {
        case TensorType::F32:
            launch_vec_cols<TensorType::F32>(a, n_tok);
            break;
        case TensorType::F16:
            launch_vec_cols<TensorType::F16>(a, n_tok);
            break;
        case TensorType::BF16:
            launch_vec_cols<TensorType::BF16>(a, n_tok);
            break;
        case TensorType::Q4_0:
            launch_vec_cols<TensorType::Q4_0>(a, n_tok);
            break;
        case TensorType::Q4_1:
            launch_vec_cols<TensorType::Q4_1>(a, n_tok);
            break;
        case TensorType::Q8_0:
            launch_vec_cols<TensorType::Q8_0>(a, n_tok);
            break;
        case TensorType::Q4_K:
            launch_vec_cols<TensorType::Q4_K>(a, n_tok);
            break;
        case TensorType::Q5_K:
            launch_vec_cols<TensorType::Q5_K>(a, n_tok);
            break;
        case TensorType::Q6_K:
            launch_vec_cols<TensorType::Q6_K>(a, n_tok);
            break;
        default:
            break;
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("matmul_vec");
    return Status::ok();
}

Status matmul_vec(TensorType weight_type, WeightLayout layout, const void* w, int64_t n_out, int64_t n_in,
                  const float* x, const Q8Activations& xq, int64_t n_tok, float* y, const float* bias,
                  cudaStream_t stream) {
    if (n_tok == 0 || n_out == 0) return Status::ok();
    if (n_out < 0 || n_out > 0x7fffffff)
        return Status::invalid_argument("cuda matmul_vec: bad shape: " + std::to_string(n_out) + " rows");
    MatvecSegments segs;
    segs.seg[0] = {w, n_out, y, bias};
    segs.n = 1;
    return matmul_vec_multi(weight_type, layout, segs, n_in, x, xq, n_tok, stream);
}

}  // namespace enclave::kernels::cuda
