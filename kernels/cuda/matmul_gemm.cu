// matmul_gemm: y = x · Wᵀ for many tokens (prefill) on the tensor cores.
//
// Quantized weights (Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K): a block computes a 128-row x 64-token tile of y.
// Each stage, the threads unpack 4 units (128 columns) of 128 weight rows from their stored layout into
// shared memory as int8 with one scale pair and offset per unit (quant_unit.cuh), next to the tile's 8-bit
// activations; eight warps (4 along rows x 2 along tokens, 32x32 each) multiply them with int8 mma.sync
// m16n8k32 (m16n8k16 twice for Q6_K, whose scale changes every 16 values), and scale each unit's exact
// integer sums into f32 accumulators: acc += scale_w * d_x * Σ q_w q_x + m_w * s_x — the CPU's arithmetic.
// F16/BF16 weights: the same tile shape with wmma 16x16x16 f16/bf16 and f32 accumulation; activations are
// rounded to f16/bf16 as they are staged, as the CPU rounds them.
// Shared-memory rows are padded by 16 bytes so the fragment loads of a warp hit 32 different banks.
// For many tokens the backend instead dequantizes quantized weights to f16 (dequantize_rows_f16, here) and
// runs a library f16 GEMM: the int8 kernel above reaches ~130 TFLOP/s, far below the f16 tensor cores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
#include "quant_unit.cuh"

namespace enclave::kernels::cuda {
namespace {

using namespace cuda_detail;

constexpr int k_bm = 128;   // weight rows (outputs) per block
constexpr int k_bn = 64;    // tokens per block
constexpr int k_units = 4;  // units of 32 columns per stage
constexpr int k_threads = 256;
constexpr int k_row = k_units * 32 + 16;  // bytes of one shared row, padded

__device__ __forceinline__ void mma_k32(int (&c)[4], const int (&a)[4], int b0, int b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void mma_k16(int (&c)[4], int a0, int a1, int b0) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(b0));
}

// Two blocks per multiprocessor: the register cap (128) keeps the accumulators and fragments in registers.
template <TensorType T>
__global__ void __launch_bounds__(k_threads, 2)
    gemm_q8_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_out, int n_units,
                   const int8_t* __restrict__ xqs, const float* __restrict__ xd, const float* __restrict__ xs,
                   int64_t n_in, int n_tok, float* __restrict__ y, const float* __restrict__ bias, bool split) {
    using Tr = QTraits<T>;
    __shared__ __align__(16) int8_t s_w[k_bm * k_row];  // [row][unit * 32 + k] weight values
    __shared__ float2 s_wd[k_bm][k_units];              // (scale of values 0..15, of 16..31)
    __shared__ float s_wm[k_bm][k_units];               // offset
    __shared__ __align__(16) int8_t s_x[k_bn * k_row];  // [token][unit * 32 + k] activation values
    __shared__ float s_xd[k_bn][k_units];
    __shared__ float s_xs[k_bn][k_units];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
    const int row0 = blockIdx.x * k_bm, tok0 = blockIdx.y * k_bn;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    for (int u0 = 0; u0 < n_units; u0 += k_units) {
        // Weights: 128 rows x 4 units, two per thread; neighbouring threads read neighbouring units.
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int v = tid + i * k_threads;
            const int r = v >> 2, uu = v & 3;
            const int row = row0 + r, u = u0 + uu;
            int4 lo = make_int4(0, 0, 0, 0), hi = lo;
            float2 d = make_float2(0.0f, 0.0f);
            float m = 0.0f;
            if (row < n_out && u < n_units) {
                const QUnit q = load_unit_any<T>(w + static_cast<size_t>(row) * row_bytes, u, n_units, split);
                lo = make_int4(q.q[0], q.q[1], q.q[2], q.q[3]);
                hi = make_int4(q.q[4], q.q[5], q.q[6], q.q[7]);
                d = make_float2(q.d_lo, q.d_hi);
                m = q.m;
            }
            int4* dst = reinterpret_cast<int4*>(s_w + r * k_row + uu * 32);
            dst[0] = lo;
            dst[1] = hi;
            s_wd[r][uu] = d;
            s_wm[r][uu] = m;
        }
        // Activations: 64 tokens x 128 bytes in 16-byte pieces, two per thread; their scales, one per thread.
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int v = tid + i * k_threads;
            const int tk = v >> 3, piece = v & 7;
            const int tok = tok0 + tk;
            const int64_t col = static_cast<int64_t>(u0) * 32 + piece * 16;
            int4 val = make_int4(0, 0, 0, 0);
            if (tok < n_tok && col < n_in) val = __ldg(reinterpret_cast<const int4*>(xqs + tok * n_in + col));
            *reinterpret_cast<int4*>(s_x + tk * k_row + piece * 16) = val;
        }
        {
            const int tk = tid >> 2, uu = tid & 3;
            const int tok = tok0 + tk, u = u0 + uu;
            const bool ok = tok < n_tok && u < n_units;
            s_xd[tk][uu] = ok ? __ldg(xd + static_cast<int64_t>(tok) * n_units + u) : 0.0f;
            s_xs[tk][uu] = ok ? __ldg(xs + static_cast<int64_t>(tok) * n_units + u) : 0.0f;
        }
        __syncthreads();

#pragma unroll
        for (int uu = 0; uu < k_units; ++uu) {
            int a[2][4], b[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
                const int8_t* base = s_w + (wm * 32 + mt * 16 + g) * k_row + uu * 32 + 4 * t4;
                a[mt][0] = *reinterpret_cast<const int*>(base);
                a[mt][1] = *reinterpret_cast<const int*>(base + 8 * k_row);
                a[mt][2] = *reinterpret_cast<const int*>(base + 16);
                a[mt][3] = *reinterpret_cast<const int*>(base + 8 * k_row + 16);
            }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                const int8_t* base = s_x + (wn * 32 + nt * 8 + g) * k_row + uu * 32 + 4 * t4;
                b[nt][0] = *reinterpret_cast<const int*>(base);
                b[nt][1] = *reinterpret_cast<const int*>(base + 16);
            }
            float2 wd[2][2];
            float wmin[2][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int r = wm * 32 + mt * 16 + g + 8 * h;
                    wd[mt][h] = s_wd[r][uu];
                    wmin[mt][h] = Tr::has_min ? s_wm[r][uu] : 0.0f;
                }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                float dx[2], sx[2];
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int c = wn * 32 + nt * 8 + 2 * t4 + e;
                    dx[e] = s_xd[c][uu];
                    sx[e] = Tr::has_min ? s_xs[c][uu] : 0.0f;
                }
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    if constexpr (Tr::split) {
                        int lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
                        mma_k16(lo, a[mt][0], a[mt][1], b[nt][0]);
                        mma_k16(hi, a[mt][2], a[mt][3], b[nt][1]);
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            const float2 d = wd[mt][e >> 1];
                            acc[mt][nt][e] +=
                                (d.x * static_cast<float>(lo[e]) + d.y * static_cast<float>(hi[e])) * dx[e & 1];
                        }
                    } else {
                        int c[4] = {0, 0, 0, 0};
                        mma_k32(c, a[mt], b[nt][0], b[nt][1]);
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            float v = static_cast<float>(c[e]) * (wd[mt][e >> 1].x * dx[e & 1]);
                            if constexpr (Tr::has_min) v += wmin[mt][e >> 1] * sx[e & 1];
                            acc[mt][nt][e] += v;
                        }
                    }
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int row = row0 + wm * 32 + mt * 16 + g + 8 * (e >> 1);
                const int tok = tok0 + wn * 32 + nt * 8 + 2 * t4 + (e & 1);
                if (row < n_out && tok < n_tok)
                    y[static_cast<int64_t>(tok) * n_out + row] = acc[mt][nt][e] + (bias ? bias[row] : 0.0f);
            }
}

// ---- f16 / bf16 weights -----------------------------------------------------------------------------------

constexpr int k_fk = 32;          // columns per stage
constexpr int k_frow = k_fk + 8;  // halves of one shared row, padded (a multiple of 8, as wmma wants)
constexpr int k_crow = k_bm + 8;  // floats of one row of the staged output [token][row]

template <typename H>
__device__ __forceinline__ H to_h(float v);
template <>
__device__ __forceinline__ __half to_h<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 to_h<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

template <typename H, bool VEC>
__global__ void __launch_bounds__(k_threads)
    gemm_f16_kernel(const H* __restrict__ w, int n_out, int64_t n_in, const float* __restrict__ x, int n_tok,
                    float* __restrict__ y, const float* __restrict__ bias) {
    namespace wmma = nvcuda::wmma;
    struct Tiles {
        H a[k_bm * k_frow];  // [row][k]
        H b[k_bn * k_frow];  // [token][k]
    };
    union Shared {
        Tiles t;
        float c[k_bn * k_crow];  // [token][row]
    };
    __shared__ __align__(32) Shared sm;

    const int tid = threadIdx.x, warp = tid >> 5;
    const int wm = warp & 3, wn = warp >> 2;
    const int row0 = blockIdx.x * k_bm, tok0 = blockIdx.y * k_bn;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    for (int64_t k0 = 0; k0 < n_in; k0 += k_fk) {
        // Weights: 128 rows x 32 columns in pieces of 8, two per thread.
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int v = tid + i * k_threads;
            const int r = v >> 2, piece = v & 3;
            const int row = row0 + r;
            const int64_t col = k0 + piece * 8;
            H* dst = sm.t.a + r * k_frow + piece * 8;
            if constexpr (VEC) {
                uint4 val = make_uint4(0, 0, 0, 0);
                if (row < n_out && col < n_in)
                    val = __ldg(reinterpret_cast<const uint4*>(w + static_cast<int64_t>(row) * n_in + col));
                *reinterpret_cast<uint4*>(dst) = val;
            } else {
#pragma unroll
                for (int e = 0; e < 8; ++e)
                    dst[e] =
                        row < n_out && col + e < n_in ? w[static_cast<int64_t>(row) * n_in + col + e] : to_h<H>(0.0f);
            }
        }
        // Activations: 64 tokens x 32 columns, 8 per thread, rounded to H.
        {
            const int tk = tid >> 2, piece = tid & 3;
            const int tok = tok0 + tk;
            const int64_t col = k0 + piece * 8;
            H vals[8];
            if constexpr (VEC) {
                float4 p0 = make_float4(0, 0, 0, 0), p1 = p0;
                if (tok < n_tok && col < n_in) {
                    const float4* src = reinterpret_cast<const float4*>(x + static_cast<int64_t>(tok) * n_in + col);
                    p0 = __ldg(src);
                    p1 = __ldg(src + 1);
                }
                vals[0] = to_h<H>(p0.x), vals[1] = to_h<H>(p0.y), vals[2] = to_h<H>(p0.z), vals[3] = to_h<H>(p0.w);
                vals[4] = to_h<H>(p1.x), vals[5] = to_h<H>(p1.y), vals[6] = to_h<H>(p1.z), vals[7] = to_h<H>(p1.w);
            } else {
#pragma unroll
                for (int e = 0; e < 8; ++e)
                    vals[e] =
                        to_h<H>(tok < n_tok && col + e < n_in ? x[static_cast<int64_t>(tok) * n_in + col + e] : 0.0f);
            }
            H* dst = sm.t.b + tk * k_frow + piece * 8;
#pragma unroll
            for (int e = 0; e < 8; ++e) dst[e] = vals[e];
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < k_fk; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, H, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, H, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; ++i)
                wmma::load_matrix_sync(fa[i], sm.t.a + (wm * 32 + i * 16) * k_frow + kk, k_frow);
#pragma unroll
            for (int j = 0; j < 2; ++j)
                wmma::load_matrix_sync(fb[j], sm.t.b + (wn * 32 + j * 16) * k_frow + kk, k_frow);
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    // Stage the tile as [token][row] so the stores to y (row-major over tokens) are coalesced.
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(sm.c + (wn * 32 + j * 16) * k_crow + wm * 32 + i * 16, acc[i][j], k_crow,
                                    wmma::mem_col_major);
    __syncthreads();
    for (int v = tid; v < k_bm * k_bn; v += k_threads) {
        const int r = v % k_bm, tk = v / k_bm;
        const int row = row0 + r, tok = tok0 + tk;
        if (row < n_out && tok < n_tok)
            y[static_cast<int64_t>(tok) * n_out + row] = sm.c[tk * k_crow + r] + (bias ? bias[row] : 0.0f);
    }
}

__global__ void __launch_bounds__(256)
    round_to_f16_kernel(const float* __restrict__ x, __half* __restrict__ h, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * 256;
    for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n; i += stride) h[i] = __float2half_rn(x[i]);
}

__global__ void __launch_bounds__(256)
    add_bias_rows_kernel(float* __restrict__ y, const float* __restrict__ bias, int64_t n, int64_t n_out) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * 256;
    for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n; i += stride) y[i] += bias[i % n_out];
}

// Four threads a unit of 32 values, each its 8 values as one 16-byte store: a warp writes 8 units, 512
// contiguous bytes, per store. The four read the same unit (one request; split layout: a 16-byte load). Each
// thread does k_dq_items such pieces, k_dq_items * 256 apart, all loads issued before the first store.
constexpr int k_dq_items = 2;

template <TensorType T>
__device__ __forceinline__ uint4 dequant_piece(const QUnit& q, int quarter) {
    // Values 8 * quarter .. + 7: bytes of q.q[2 * quarter] and q.q[2 * quarter + 1] (picked without a run-time
    // index into q.q, which would put it in local memory).
    const int w0 = quarter == 0 ? q.q[0] : quarter == 1 ? q.q[2] : quarter == 2 ? q.q[4] : q.q[6];
    const int w1 = quarter == 0 ? q.q[1] : quarter == 1 ? q.q[3] : quarter == 2 ? q.q[5] : q.q[7];
    const float d = quarter < 2 ? q.d_lo : q.d_hi;
    __align__(16) __half2 h[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const int wk = k < 2 ? w0 : w1;
        const int b0 = static_cast<int8_t>((wk >> (16 * (k & 1))) & 0xFF);
        const int b1 = static_cast<int8_t>((wk >> (16 * (k & 1) + 8)) & 0xFF);
        // As unit_value: scale * q + m, in f32, then rounded to f16.
        h[k] = __floats2half2_rn(d * static_cast<float>(b0) + q.m, d * static_cast<float>(b1) + q.m);
    }
    return *reinterpret_cast<const uint4*>(h);
}

template <TensorType T>
__global__ void __launch_bounds__(256)
    dequantize_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t row0, int64_t n_rows, int n_units,
                          bool split, __half* __restrict__ w16) {
    const int64_t n_pieces = n_rows * n_units * 4;  // (row, unit, quarter)
    const int64_t first = blockIdx.x * (256ll * k_dq_items) + threadIdx.x;
    QUnit q[k_dq_items];
#pragma unroll
    for (int it = 0; it < k_dq_items; ++it) {
        const int64_t i = first + it * 256;
        if (i >= n_pieces) continue;
        const int64_t unit = i >> 2;
        const int64_t r = unit / n_units;
        const int u = static_cast<int>(unit - r * n_units);
        q[it] = load_unit_any<T>(w + static_cast<size_t>(row0 + r) * row_bytes, u, n_units, split);
    }
#pragma unroll
    for (int it = 0; it < k_dq_items; ++it) {
        const int64_t i = first + it * 256;
        if (i >= n_pieces) continue;
        *reinterpret_cast<uint4*>(w16 + (i >> 2) * 32 + (i & 3) * 8) = dequant_piece<T>(q[it], static_cast<int>(i & 3));
    }
}

// f16 of 4 floats a thread (16-byte loads, 8-byte stores), grid-stride.
__global__ void __launch_bounds__(256)
    round_to_f16_vec_kernel(const float4* __restrict__ x, uint2* __restrict__ h, int64_t n4) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * 256;
    for (int64_t i = blockIdx.x * 256ll + threadIdx.x; i < n4; i += stride) {
        const float4 v = __ldg(x + i);
        const __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
        h[i] = make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
    }
}

unsigned grid_of(int64_t n) {
    const int64_t b = (n + 255) / 256;
    return static_cast<unsigned>(b < 1 ? 1 : b > 8192 ? 8192 : b);
}

template <TensorType T>
void launch_q8(const void* w, size_t rb, int n_out, int64_t n_in, const Q8Activations& xq, int n_tok, float* y,
               const float* bias, bool split, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((n_out + k_bm - 1) / k_bm), static_cast<unsigned>((n_tok + k_bn - 1) / k_bn));
    gemm_q8_kernel<T><<<grid, k_threads, 0, stream>>>(static_cast<const uint8_t*>(w), rb, n_out,
                                                      static_cast<int>(n_in / 32), xq.qs, xq.d, xq.s, n_in, n_tok, y,
                                                      bias, split);
}

template <typename H>
void launch_f16(const void* w, int n_out, int64_t n_in, const float* x, int n_tok, float* y, const float* bias,
                cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((n_out + k_bm - 1) / k_bm), static_cast<unsigned>((n_tok + k_bn - 1) / k_bn));
    if (n_in % 8 == 0)
        gemm_f16_kernel<H, true>
            <<<grid, k_threads, 0, stream>>>(static_cast<const H*>(w), n_out, n_in, x, n_tok, y, bias);
    else
        gemm_f16_kernel<H, false>
            <<<grid, k_threads, 0, stream>>>(static_cast<const H*>(w), n_out, n_in, x, n_tok, y, bias);
}

}  // namespace

bool matmul_gemm_supported(TensorType t) noexcept {
    switch (t) {
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q8_0:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
            return true;
        default:
            return false;
    }
}

Status matmul_gemm(TensorType weight_type, WeightLayout layout, const void* w, int64_t n_out, int64_t n_in,
                   const float* x, const Q8Activations& xq, int64_t n_tok, float* y, const float* bias,
                   cudaStream_t stream) {
    if (n_tok == 0 || n_out == 0) return Status::ok();
    const std::string type_name(tensor_type_name(weight_type));
    if (!matmul_gemm_supported(weight_type))
        return Status::unsupported("cuda matmul_gemm: weights of type " + type_name + " have no GEMM path");
    const auto rb = enclave::row_bytes(weight_type, n_in);
    if (n_tok < 0 || n_tok > 65535 * static_cast<int64_t>(k_bn) || n_out < 0 || n_out > 0x7fffffff || n_in <= 0 ||
        !rb || n_in > 0x7fffffff)
        return Status::invalid_argument("cuda matmul_gemm: bad shape: w [" + std::to_string(n_out) + ", " +
                                        std::to_string(n_in) + "] " + type_name + ", " + std::to_string(n_tok) +
                                        " tokens");
    const bool q8 = matmul_uses_q8(weight_type);
    if (!w || !y || (q8 ? (!xq.qs || !xq.d || !xq.s) : !x))
        return Status::invalid_argument("cuda matmul_gemm: null pointer");
    const bool split = layout == WeightLayout::split;
    if (split && !split_layout_supported(weight_type, n_in))
        return Status::invalid_argument("cuda matmul_gemm: " + type_name + " has no split layout for rows of " +
                                        std::to_string(n_in));
    const int no = static_cast<int>(n_out), nt = static_cast<int>(n_tok);
    switch (weight_type) {
        case TensorType::F16:
            launch_f16<__half>(w, no, n_in, x, nt, y, bias, stream);
            break;
        case TensorType::BF16:
            launch_f16<__nv_bfloat16>(w, no, n_in, x, nt, y, bias, stream);
            break;
        case TensorType::Q4_0:
            launch_q8<TensorType::Q4_0>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        case TensorType::Q4_1:
            launch_q8<TensorType::Q4_1>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        case TensorType::Q8_0:
            launch_q8<TensorType::Q8_0>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        case TensorType::Q4_K:
            launch_q8<TensorType::Q4_K>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        case TensorType::Q5_K:
            launch_q8<TensorType::Q5_K>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        case TensorType::Q6_K:
            launch_q8<TensorType::Q6_K>(w, *rb, no, n_in, xq, nt, y, bias, split, stream);
            break;
        default:
            break;
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("matmul_gemm");
    return Status::ok();
}

bool dequantize_f16_supported(TensorType t) noexcept {
    return matmul_gemm_supported(t) && matmul_uses_q8(t);
}

Status dequantize_rows_f16(TensorType weight_type, WeightLayout layout, const void* w, int64_t row0, int64_t n_rows,
                           int64_t n_in, uint16_t* w16, cudaStream_t stream) {
    if (n_rows == 0) return Status::ok();
    const std::string type_name(tensor_type_name(weight_type));
    if (!dequantize_f16_supported(weight_type))
        return Status::unsupported("cuda dequantize_rows_f16: no path for " + type_name + " weights");
    const auto rb = enclave::row_bytes(weight_type, n_in);
    if (!w || !w16 || row0 < 0 || n_rows < 0 || !rb || n_in % 32 != 0 || n_in / 32 > 0x7fffffff)
        return Status::invalid_argument("cuda dequantize_rows_f16: bad arguments: rows " + std::to_string(row0) + " + " +
                                        std::to_string(n_rows) + " of " + std::to_string(n_in) + " " + type_name);
    const bool split = layout == WeightLayout::split;
    if (split && !split_layout_supported(weight_type, n_in))
        return Status::invalid_argument("cuda dequantize_rows_f16: " + type_name + " has no split layout for rows of " +
                                        std::to_string(n_in));
    const int n_units = static_cast<int>(n_in / 32);
    const int64_t pieces = n_rows * n_units * 4;
    const auto blocks = static_cast<unsigned>((pieces + 256 * k_dq_items - 1) / (256 * k_dq_items));
    const auto* wb = static_cast<const uint8_t*>(w);
    auto* out = reinterpret_cast<__half*>(w16);
    switch (weight_type) {
#define ENCLAVE_DEQUANT_CASE(T)                                                                               \
    case T:                                                                                                   \
        dequantize_f16_kernel<T><<<blocks, 256, 0, stream>>>(wb, *rb, row0, n_rows, n_units, split, out); \
        break;
        ENCLAVE_DEQUANT_CASE(TensorType::Q4_0)
        ENCLAVE_DEQUANT_CASE(TensorType::Q4_1)
        ENCLAVE_DEQUANT_CASE(TensorType::Q8_0)
        ENCLAVE_DEQUANT_CASE(TensorType::Q4_K)
        ENCLAVE_DEQUANT_CASE(TensorType::Q5_K)
        ENCLAVE_DEQUANT_CASE(TensorType::Q6_K)
#undef ENCLAVE_DEQUANT_CASE
        default:
            break;
    }
    ENCLAVE_CUDA_CHECK_LAUNCH("dequantize_rows_f16");
    return Status::ok();
}

Status round_to_f16(const float* x, uint16_t* h, int64_t n, cudaStream_t stream) {
    if (n == 0) return Status::ok();
    if (!x || !h || n < 0) return Status::invalid_argument("cuda round_to_f16: null pointer or negative size");
    if (n % 4 == 0 && (reinterpret_cast<uintptr_t>(x) & 15u) == 0 && (reinterpret_cast<uintptr_t>(h) & 7u) == 0)
        round_to_f16_vec_kernel<<<grid_of(n / 4), 256, 0, stream>>>(reinterpret_cast<const float4*>(x),
                                                                     reinterpret_cast<uint2*>(h), n / 4);
    else
        round_to_f16_kernel<<<grid_of(n), 256, 0, stream>>>(x, reinterpret_cast<__half*>(h), n);
    ENCLAVE_CUDA_CHECK_LAUNCH("round_to_f16");
    return Status::ok();
}

Status add_bias_rows(float* y, const float* bias, int64_t n_tok, int64_t n_out, cudaStream_t stream) {
    if (n_tok == 0 || n_out == 0) return Status::ok();
    if (!y || !bias || n_tok < 0 || n_out < 0) return Status::invalid_argument("cuda add_bias_rows: bad arguments");
    add_bias_rows_kernel<<<grid_of(n_tok * n_out), 256, 0, stream>>>(y, bias, n_tok * n_out, n_out);
    ENCLAVE_CUDA_CHECK_LAUNCH("add_bias_rows");
    return Status::ok();
}

}  // namespace enclave::kernels::cuda
