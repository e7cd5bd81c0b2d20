// matmul_q: y = x · Wᵀ for a few tokens (decode), reading each weight once in its stored layout, and the
// 8-bit activation quantization shared with the prefill GEMM (matmul_gemm.cu).
//
// Quantized weights: one warp per output row, a lane per unit of 32 weights (quant_unit.cuh); the unit's
// 8-bit values meet the activations' with __dp4a, per token, and the scales are applied per unit, so the
// integer sums are those of the CPU kernels. Float weights: one warp per row, 16-byte loads.
// Activations are quantized like the CPU's x86 path (ggml's quantize_row_q8_0/q8_1 under AVX2, and
// quantize_row_q8_K_ref) so both backends see the same 8-bit activations.
#include <string>

#include "cuda_check.h"
#include "enclave/kernels/cuda_ops.h"
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

// ---- quantized weights ---------------------------------------------------------------------------------

template <TensorType T, int NCOLS>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmvq_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_out, int n_units, const int8_t* __restrict__ xqs,
                const float* __restrict__ xd, const float* __restrict__ xs, int64_t n_in, float* __restrict__ y,
                const float* __restrict__ bias) {
    using Tr = QTraits<T>;
    const int row = blockIdx.x * k_rows_per_block + threadIdx.y;
    if (row >= n_out) return;  // whole warps only; no block barrier below
    const int lane = threadIdx.x;
    const uint8_t* wr = w + static_cast<size_t>(row) * row_bytes;
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
#pragma unroll 2
    for (int u = lane; u < n_units; u += 32) {
        const QUnit q = load_unit<T>(wr, u);
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
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) {
        const float sum = warp_sum(acc[c]);
        if (lane == c) y[static_cast<int64_t>(c) * n_out + row] = sum + (bias ? bias[row] : 0.0f);
    }
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

// 8 consecutive weights at element i of a row (16-byte aligned when VEC).
template <TensorType T>
__device__ __forceinline__ void weights8(const void* row, int64_t i, float (&wv)[8]) {
    if constexpr (T == TensorType::F32) {
        const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(row) + i);
        const float4 a = __ldg(p), b = __ldg(p + 1);
        wv[0] = a.x, wv[1] = a.y, wv[2] = a.z, wv[3] = a.w, wv[4] = b.x, wv[5] = b.y, wv[6] = b.z, wv[7] = b.w;
    } else {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(row) + i));
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
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

template <TensorType T, int NCOLS, bool VEC>
__global__ void __launch_bounds__(32 * k_rows_per_block)
    mmv_float_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int n_out, int64_t n_in,
                     const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ bias) {
    const int row = blockIdx.x * k_rows_per_block + threadIdx.y;
    if (row >= n_out) return;
    const int lane = threadIdx.x;
    const void* wr = w + static_cast<size_t>(row) * row_bytes;
    float acc[NCOLS];
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) acc[c] = 0.0f;
    if constexpr (VEC) {
        for (int64_t i = lane * 8; i < n_in; i += 256) {
            float wv[8];
            weights8<T>(wr, i, wv);
#pragma unroll
            for (int c = 0; c < NCOLS; ++c) {
                const float4* xp = reinterpret_cast<const float4*>(x + c * n_in + i);
                const float4 a = __ldg(xp), b = __ldg(xp + 1);
                const float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
                for (int k = 0; k < 8; ++k) acc[c] += wv[k] * act_as<T>(xv[k]);
            }
        }
    } else {
        for (int64_t i = lane; i < n_in; i += 32) {
            const float wv = weight_at<T>(wr, i);
#pragma unroll
            for (int c = 0; c < NCOLS; ++c) acc[c] += wv * act_as<T>(x[c * n_in + i]);
        }
    }
#pragma unroll
    for (int c = 0; c < NCOLS; ++c) {
        const float sum = warp_sum(acc[c]);
        if (lane == c) y[static_cast<int64_t>(c) * n_out + row] = sum + (bias ? bias[row] : 0.0f);
    }
}

// ---- dispatch ------------------------------------------------------------------------------------------

struct VecArgs {
    const uint8_t* w;
    size_t row_bytes;
    int n_out;
    int64_t n_in;
    const float* x;
    Q8Activations xq;
    float* y;
    const float* bias;
    cudaStream_t stream;
};

template <TensorType T, int NCOLS>
void launch_vec(const VecArgs& a) {
    const dim3 block(32, k_rows_per_block);
    const unsigned grid = static_cast<unsigned>((a.n_out + k_rows_per_block - 1) / k_rows_per_block);
    if constexpr (T == TensorType::F32 || T == TensorType::F16 || T == TensorType::BF16) {
        if (a.n_in % 8 == 0)
            mmv_float_kernel<T, NCOLS, true>
                <<<grid, block, 0, a.stream>>>(a.w, a.row_bytes, a.n_out, a.n_in, a.x, a.y, a.bias);
        else
            mmv_float_kernel<T, NCOLS, false>
                <<<grid, block, 0, a.stream>>>(a.w, a.row_bytes, a.n_out, a.n_in, a.x, a.y, a.bias);
    } else {
        mmvq_kernel<T, NCOLS><<<grid, block, 0, a.stream>>>(a.w, a.row_bytes, a.n_out, static_cast<int>(a.n_in / 32),
                                                            a.xq.qs, a.xq.d, a.xq.s, a.n_in, a.y, a.bias);
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
bool matmul_supported(TensorType t) noexcept { return tensor_type_info(t).is_weight_type; }

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

Status matmul_vec(TensorType weight_type, const void* w, int64_t n_out, int64_t n_in, const float* x,
                  const Q8Activations& xq, int64_t n_tok, float* y, const float* bias, cudaStream_t stream) {
    if (n_tok == 0 || n_out == 0) return Status::ok();
    const std::string type_name(tensor_type_name(weight_type));
    if (!matmul_supported(weight_type))
        return Status::unsupported("cuda matmul: weights of type " + type_name + " are not supported");
    const auto rb = enclave::row_bytes(weight_type, n_in);
    if (n_tok < 0 || n_tok > k_matmul_vec_max_tokens || n_out < 0 || n_out > 0x7fffffff || n_in <= 0 || !rb)
        return Status::invalid_argument("cuda matmul_vec: bad shape: w [" + std::to_string(n_out) + ", " +
                                        std::to_string(n_in) + "] " + type_name + ", " + std::to_string(n_tok) +
                                        " tokens (at most " + std::to_string(k_matmul_vec_max_tokens) + ")");
    const bool q8 = matmul_uses_q8(weight_type);
    if (!w || !y || (q8 ? (!xq.qs || !xq.d || !xq.s) : !x))
        return Status::invalid_argument("cuda matmul_vec: null pointer");
    const VecArgs a{static_cast<const uint8_t*>(w), *rb, static_cast<int>(n_out), n_in, x, xq, y, bias, stream};
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

}  // namespace enclave::kernels::cuda
