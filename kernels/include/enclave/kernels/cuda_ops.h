// CUDA launchers of the CUDA backend (kernels/cuda/<family>.cu), one family per file.
//
// Contract
// - Every pointer is device memory; shapes are explicit; work is enqueued on `stream` and the launcher
//   returns at once (no host synchronisation, no allocation: scratch comes from the caller).
// - Launchers validate what they can see on the host (sizes, types, null pointers) and return a Status;
//   they never throw or abort. A launch failure is reported; a fault inside a kernel surfaces at the
//   caller's next synchronising call.
// - Indices that only the device sees (token ids, cache slots, block tables) are checked by the kernels:
//   a bad one is skipped (never read or written out of bounds) and sets a bit in `error_flags` (device int,
//   may be null), which the backend reads back with the step's results.
// - Numerics follow the CPU kernels (cpu_ops.h, cpu_matmul.h) so both backends give the same tokens:
//   activations of quantized matrix products are quantized to 8 bits the way the CPU does (per 32 for
//   Q4_0/Q4_1/Q8_0, per 256 for the K-quants) so the integer sums are equal, f16/bf16 weights meet
//   activations rounded to f16/bf16, the KV cache is f16, attention and swiglu round as the CPU does
//   (ggml's exp and summation orders, cpu_ops.h) and rms_norm sums in double. Float sums of matrix products
//   differ from the CPU's in order only.
#pragma once

#include <cuda_runtime_api.h>  // defines: cudaStream_t

#include <cstddef>
#include <cstdint>

#include "enclave/kernels/status.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels::cuda {

// Bits of the device error flags word.
inline constexpr int k_error_bad_row_id = 1;  // get_rows: an id outside the table
inline constexpr int k_error_bad_plan = 2;    // attention: a slot, sequence, position or block out of range

// 8-bit activations for the quantized weight types, in three planes (a scratch buffer the caller owns):
//   qs i8 [n_tok, n_in]; d f32 [n_tok, n_in / 32] scale of each group of 32; s f32 [n_tok, n_in / 32] the
//   group's offset term (Q4_1: f16(d * sum q); K-quants: d * sum q; unused otherwise).
struct Q8Activations {
    int8_t* qs = nullptr;
    float* d = nullptr;
    float* s = nullptr;
};

// ---- weight layouts --------------------------------------------------------------------------------
// How a quantized weight's rows sit in device memory. gguf: the file's blocks. split (Q4_0, Q4_1, Q8_0 only,
// rows of a multiple of 8 bytes): each row of nb units of 32 values is [the units' quant bytes, 16 each
// (Q8_0: 32), in the block's byte order][the units' f16 scales, 2 bytes each (Q4_1: d then m, 4 bytes)].
// Same bytes per row, so a row starts where it did; the quants of consecutive units are one contiguous run
// that a warp reads in 8- or 16-byte loads. The CUDA backend repacks weights to split at load.
enum class WeightLayout : uint8_t { gguf = 0, split = 1 };
//! Whether rows of n_cols values of type t can take the split layout.
bool split_layout_supported(TensorType t, int64_t n_cols) noexcept;
//! dst = src repacked from the GGUF layout to the split one (dst and src must not overlap).
//! \param src, dst [n_rows, n_cols] of type t
Status repack_split(TensorType t, const void* src, void* dst, int64_t n_rows, int64_t n_cols, cudaStream_t stream);

// ---- get_rows.cu -------------------------------------------------------------------------------------
//! out[i, :] = dequantized table[ids[i], :]
//! \param table [n_rows, n_cols] any weight type (or F32)   \param ids i32 [n_ids]   \param out f32 [n_ids, n_cols]
Status get_rows(TensorType type, WeightLayout layout, const void* table, int64_t n_rows, int64_t n_cols,
                const int32_t* ids, int64_t n_ids, float* out, int* error_flags, cudaStream_t stream);

// ---- norm.cu -----------------------------------------------------------------------------------------
//! out = x / sqrt(mean(x²) + eps) * weight, row-wise; out may alias x.
//! \param x, out f32 [n_rows, n_cols]   \param weight f32 [n_cols]
Status rms_norm(const float* x, const float* weight, float eps, float* out, int64_t n_rows, int64_t n_cols,
                cudaStream_t stream);
//! The decode step's fused norm: x += residual (when residual is not null), then out = rms_norm(x) and, when
//! xq.qs is not null, xq = the 8-bit activations of out for products with weight_type (Q4_0, Q4_1 or Q8_0; the
//! same values quantize_activations writes). Rows as rms_norm's wide kernel takes them (rms_norm_fused_ok).
//! \param x f32 [n_rows, n_cols] (updated in place when residual is given)   \param residual f32 [n_rows, n_cols]
Status rms_norm_fused(float* x, const float* residual, const float* weight, float eps, float* out, int64_t n_rows,
                      int64_t n_cols, TensorType weight_type, const Q8Activations& xq, cudaStream_t stream);
//! Whether rms_norm_fused takes these rows (n_cols % 32 == 0, at most 16,384 values, 16-byte aligned).
bool rms_norm_fused_ok(int64_t n_cols) noexcept;

// ---- rope.cu -----------------------------------------------------------------------------------------
struct RopeArgs {
    int n_dims = 0;  // rotated dims of each head (even, <= head_dim, <= 1024)
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;
    bool neox = false;                    // false: pairs (2i, 2i+1); true: pairs (i, i + n_dims/2)
    const float* freq_factors = nullptr;  // device f32 [n_dims / 2] or null
};
//! Rotates q and k in place at the tokens' positions.
//! \param q f32 [n_tok, n_head * head_dim]   \param k f32 [n_tok, n_kv_head * head_dim]   \param pos i32 [n_tok]
Status rope(float* q, float* k, int64_t n_tok, int64_t n_head, int64_t n_kv_head, int64_t head_dim, const int32_t* pos,
            const RopeArgs& args, cudaStream_t stream);

// ---- attention.cu ------------------------------------------------------------------------------------
struct AttentionArgs {
    const int32_t* token_seq = nullptr;     // i32 [n_tok] the token's sequence in this step
    const int32_t* token_pos = nullptr;     // i32 [n_tok] its position; it attends to positions 0..pos
    const int32_t* token_slot = nullptr;    // i32 [n_tok] cache slot its K/V go to
    const int32_t* block_tables = nullptr;  // i32 [n_seqs, max_blocks_per_seq]
    const int32_t* seq_lens = nullptr;      // i32 [n_seqs] cache length after this step
    int64_t n_seqs = 0;
    int64_t max_blocks_per_seq = 0;
    int64_t block_size = 0;
    int64_t n_slots = 0;      // rows of the cache
    int64_t max_seq_len = 0;  // host copy of max(seq_lens): sizes shared memory (0: unknown)
    // Several-token steps: query rows (tokens x query heads of one KV head) a block of the tiled kernel aims
    // at; 0 runs them on the per-(token, head) kernel instead (A/B; both give the CPU's bits).
    int tiled_rows = 8;
    int tiled_keys = 128;  // keys a K/V tile of the tiled kernel (a multiple of 64, 64..512)
    // Where the tiled kernel converts each f16 value of a tile once for several rows instead of once a row (the
    // same bits either way): 0 nowhere (session 5's kernel), 1 blocks of one token (decode batches: +2% on 8b f16
    // 256 x 128), 2 every block (prefill too, where it measured 1% slower).
    int tiled_share = 1;
    // One-token steps with heads of 64 or 128: 0 attention_kernel (A/B), 1 attention_one_kernel (the same bits, fewer
    // barriers and dependent loads), 2 that as a PDL launch (its plan and history loads overlap the kernel before).
    int one_token = 2;
};
// What a one-token step (n_tok == 1, a decode step of one sequence) folds into its attention launch.
struct AttentionFusion {
    // Rotate q and k first, as rope() with these arguments at rope_pos would. q is rotated in place; k is left
    // as it was (its rotated f16 form goes to the cache; models read k through attention only).
    bool rope = false;
    RopeArgs rope_args;
    const int32_t* rope_pos = nullptr;  // i32 [n_tok]
    // xq.qs not null: also write out's 8-bit activations for products with q8_type (Q4_0, Q4_1 or Q8_0), the
    // bytes quantize_activations would write (head_dim % 32 == 0).
    TensorType q8_type = TensorType::F32;
    Q8Activations xq;
};
//! Writes this step's k, v (rounded to f16) into the cache at token_slot, then
//! out = softmax(q·Kᵀ · scale, causal within each sequence) · V over the token's own sequence, rounded
//! exactly as the CPU kernels round (cpu_ops.h: the same summation orders for one and several tokens, ggml's
//! exp). One-token steps can fold rope and the output's quantization in (fuse).
//! \param q, out f32 [n_tok, n_head * head_dim]   \param k, v f32 [n_tok, n_kv_head * head_dim]
//! \param cache_k, cache_v f16 bits [n_slots, n_kv_head * head_dim]   head_dim <= 256
Status attention(const float* q, const float* k, const float* v, uint16_t* cache_k, uint16_t* cache_v,
                 const AttentionArgs& plan, int64_t n_tok, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                 float scale, float* out, int* error_flags, cudaStream_t stream, const AttentionFusion& fuse = {});

// ---- elementwise.cu ----------------------------------------------------------------------------------
//! gate = silu(gate) * up                 \param gate, up f32 [n]
Status swiglu(float* gate, const float* up, int64_t n, cudaStream_t stream);
//! gate = silu(gate) * up, then xq = its 8-bit activations for weight_type (Q4_0, Q4_1 or Q8_0), rows of n_cols.
//! \param gate, up f32 [n_rows, n_cols], n_cols % 32 == 0
Status swiglu_q8(float* gate, const float* up, int64_t n_rows, int64_t n_cols, TensorType weight_type,
                 const Q8Activations& xq, cudaStream_t stream);
//! x += y                                  \param x, y f32 [n]
Status add(float* x, const float* y, int64_t n, cudaStream_t stream);

// ---- matmul_q.cu: y = x · Wᵀ (+ bias) for a few tokens, and the activation quantization ---------------
// Bytes of scratch that q8_activations() lays the three planes out in.
size_t q8_activation_bytes(int64_t n_tok, int64_t n_in) noexcept;
Q8Activations q8_activations(void* scratch, int64_t n_tok, int64_t n_in) noexcept;

// Weight types with a matrix product here, and which of them take 8-bit activations.
bool matmul_supported(TensorType weight_type) noexcept;
bool matmul_uses_q8(TensorType weight_type) noexcept;
// Most tokens matmul_vec takes in one launch.
inline constexpr int64_t k_matmul_vec_max_tokens = 8;

//! xq = the 8-bit activations of x for products with weight_type (see matmul_uses_q8).
//! \param x f32 [n_tok, n_in]
Status quantize_activations(TensorType weight_type, const float* x, int64_t n_tok, int64_t n_in,
                            const Q8Activations& xq, cudaStream_t stream);

//! y = x · Wᵀ (+ bias) for n_tok <= k_matmul_vec_max_tokens: weights read once, in their own layout.
//! \param w [n_out, n_in] weight_type   \param x f32 [n_tok, n_in] (float weight types)
//! \param xq from quantize_activations (quantized weight types)   \param y f32 [n_tok, n_out]   \param bias f32 [n_out]
//! or null
Status matmul_vec(TensorType weight_type, WeightLayout layout, const void* w, int64_t n_out, int64_t n_in,
                  const float* x, const Q8Activations& xq, int64_t n_tok, float* y, const float* bias,
                  cudaStream_t stream);

// Several products of the same activations in one launch (Q, K and V; gate and up): segment i multiplies
// its own weight (all of one type, layout and n_in) into its own output.
struct MatvecSegment {
    const void* w = nullptr;  // [n_out, n_in]
    int64_t n_out = 0;
    float* y = nullptr;           // f32 [n_tok, n_out]
    const float* bias = nullptr;  // f32 [n_out] or null
};
inline constexpr int k_matvec_max_segments = 3;
struct MatvecSegments {
    MatvecSegment seg[k_matvec_max_segments];
    int n = 0;
    int variant = 0;  // split layout: 0 rows streamed per resident warp, 1 one row per warp, 2 one-token products
                      // with rows of >= 2,048 values on the ring kernel (matmul_q.cu), other products as 0; 3 (the
                      // backend's default) as 2, but one-token launches of >= 48 MiB of weights one row a warp
    // Programmatic dependent launch: the launch may start while the stream's previous kernel runs and loads
    // its first weights before it waits for that kernel (its activations). Split-layout streaming and float
    // products; the weights must not be written by any kernel still in flight.
    bool pdl = false;
    // Weights asked of L2 ahead of the register loads: the split-layout streaming kernel keeps a window of rows
    // per warp, at most this many MiB over the launch; float products keep two load rounds ahead. 0: none.
    int l2_prefetch_mib = 0;
};
//! matmul_vec over each segment, one launch.
Status matmul_vec_multi(TensorType weight_type, WeightLayout layout, const MatvecSegments& segs, int64_t n_in,
                        const float* x, const Q8Activations& xq, int64_t n_tok, cudaStream_t stream);

// ---- matmul_gemm.cu: the same product for many tokens (prefill) on the tensor cores ------------------
// Types with a tiled GEMM: Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K (int8 mma on 8-bit activations) and F16, BF16
// (f16/bf16 mma with f32 accumulation). The caller runs matmul_vec over chunks of tokens for the others.
bool matmul_gemm_supported(TensorType weight_type) noexcept;
//! Arguments as matmul_vec, any n_tok.
Status matmul_gemm(TensorType weight_type, WeightLayout layout, const void* w, int64_t n_out, int64_t n_in,
                   const float* x, const Q8Activations& xq, int64_t n_tok, float* y, const float* bias,
                   cudaStream_t stream);
//! h = x rounded to f16 (as the CPU rounds activations for f16 weights), for a library GEMM.
//! \param x f32 [n]   \param h f16 bits [n]
Status round_to_f16(const float* x, uint16_t* h, int64_t n, cudaStream_t stream);
//! y[t, :] += bias for every row t.   \param y f32 [n_tok, n_out]   \param bias f32 [n_out]
Status add_bias_rows(float* y, const float* bias, int64_t n_tok, int64_t n_out, cudaStream_t stream);

// ---- f16_activations.cu: the several-token norm and swiglu writing a library GEMM's f16 input too ------
//! Whether rms_norm_f16 takes rows of n_cols values (n_cols % 4 == 0, at most 16,384).
bool f16_activations_ok(int64_t n_cols) noexcept;
//! x += residual (when not null), out = rms_norm(x) with rms_norm's arithmetic, and out16 = out rounded to f16
//! (round_to_f16's values). x, residual, weight, out 16-byte aligned, out16 8-byte aligned; out may alias x.
//! \param x f32 [n_rows, n_cols]   \param residual f32 [n_rows, n_cols] or null   \param weight f32 [n_cols]
//! \param out f32 [n_rows, n_cols]   \param out16 f16 bits [n_rows, n_cols]
Status rms_norm_f16(float* x, const float* residual, const float* weight, float eps, float* out, uint16_t* out16,
                    int64_t n_rows, int64_t n_cols, cudaStream_t stream);
//! gate = swiglu(gate, up) with swiglu's arithmetic, and h = gate rounded to f16. n % 4 == 0; gate and up
//! 16-byte aligned, h 8-byte aligned.   \param gate, up f32 [n]   \param h f16 bits [n]
Status swiglu_f16(float* gate, const float* up, uint16_t* h, int64_t n, cudaStream_t stream);

//! Whether dequantize_rows_f16 reads weights of this type (the types with an 8-bit GEMM).
bool dequantize_f16_supported(TensorType weight_type) noexcept;
//! w16 = rows [row0, row0 + n_rows) of W, each value as the CPU's dequantize_row computes it, rounded to f16:
//! quantized prefill hands them to a library f16 GEMM (many tokens amortise the n_rows * n_in * 2 bytes written).
//! \param w [n_out, n_in] weight_type in `layout`   \param w16 f16 bits [n_rows, n_in]   n_in % 32 == 0 (256: K-quants)
Status dequantize_rows_f16(TensorType weight_type, WeightLayout layout, const void* w, int64_t row0, int64_t n_rows,
                           int64_t n_in, uint16_t* w16, cudaStream_t stream);

// ---- top_k.cu: the largest logits of each row, selected on the device --------------------------------
inline constexpr int64_t k_top_k_max = 256;
//! ids[r, :], vals[r, :] = the k largest values of row r, largest first; equal values by lower index, -0 equal
//! to +0, NaN below every number (cpu_ops.h: top_k_rows is the same function).
//! \param logits f32 [n_rows, n]   \param ids i32 [n_rows, k]   \param vals f32 [n_rows, k]   1 <= k <= min(n, k_top_k_max)
Status top_k_rows(const float* logits, int64_t n_rows, int64_t n, int64_t k, int32_t* ids, float* vals,
                  cudaStream_t stream);

}  // namespace enclave::kernels::cuda
