// Element-wise and attention kernels for the CPU backend, one row (or one head) at a time.
//
// The caller splits rows among threads; every function is reentrant and allocation-free (scratch comes
// from the caller). Numerics follow ggml's CPU backend where it matters for token-exact agreement with
// llama.cpp: RMS sums in double, RoPE angles advanced by repeated float multiplication, keys and values
// stored as f16, attention rounding as described below.
#pragma once

#include <cstddef>
#include <cstdint>

namespace enclave::kernels {

// y = x / sqrt(mean(x²) + eps) * w                     x, w, y [n]; y may alias x
void rms_norm_row(const float* x, const float* w, float eps, float* y, int64_t n) noexcept;

// Rotates the first n_dims dims of each of n_heads heads of one token in place.
//   x [n_heads, head_dim]; freq_factors [n_dims / 2] or null
// neox=false rotates (x[2i], x[2i+1]); neox=true rotates (x[i], x[i + n_dims/2]).
void rope_row(float* x, int64_t n_heads, int64_t head_dim, int n_dims, int32_t pos, float freq_base,
              float freq_scale, bool neox, const float* freq_factors) noexcept;

// gate = silu(gate) * up, silu(g) = g / (1 + e^-g) with ggml's vector exp (exp_ggml in ggml_order.h) for
// every value. (ggml takes libm's expf for the last n % 16 values of a row; every model we serve has rows
// that are whole multiples of 16, and one exp everywhere keeps a value's result independent of its row.)
//                                                      gate, up [n]
void swiglu_row(float* gate, const float* up, int64_t n) noexcept;

// x += y                                               x, y [n]
void add_row(float* x, const float* y, int64_t n) noexcept;

// x += b                                               (same as add_row; named for the bias use)
inline void add_bias_row(float* x, const float* b, int64_t n) noexcept { add_row(x, b, n); }

// Sampling over a whole vocabulary (softmax_weights.cpp).
// max_of_row: the largest of x[0..n) (-inf when n == 0; NaN compares false and is skipped).
float max_of_row(const float* x, int64_t n) noexcept;
// w[i] = e^((x[i] - max_x) * scale) with ggml's vector exp, for i < n; chunk_sums[c] = Σ w over
// [c * softmax_chunk, (c + 1) * softmax_chunk), summed in float. chunk_sums has ceil(n / softmax_chunk) entries.
inline constexpr int64_t softmax_chunk = 256;
void softmax_weights_row(const float* x, float max_x, float scale, float* w, float* chunk_sums, int64_t n) noexcept;

// f16 <-> f32 in bulk, with F16C / AVX-512 instructions chosen by detect_cpu_isa() (GCC 12 converts _Float16
// one value at a time, even in AVX-512 code). Exact widening; rounding to nearest, ties to even.
// dst[r * n + d] = float(src[r * stride + d])       src [rows, stride] f16 bits (n <= stride), dst [rows, n]
void f16_rows_to_f32(const uint16_t* src, int64_t stride, int64_t rows, int64_t n, float* dst) noexcept;

// x[i] = float(f16(x[i] * scale)): scaled, then rounded to the nearest f16 (ties to even; as a _Float16 cast)
// and widened back. The product is one float multiply, rounded before the f16 rounding.    x [n]
void scale_round_to_f16(float* x, float scale, int64_t n) noexcept;

// dst = f16(src)                                        src [n] float, dst [n] f16 bits
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) noexcept;

// Attention computes what llama.cpp's unfused CPU attention (flash attention off, our oracle) computes, in
// its order of float operations:
//   - q is rounded to f16; s_j = (q·k_j) * scale with the products summed in ggml's order (below);
//   - p_j = f16(e_j * float(1 / Σ e)), e_j = exp_ggml(s_j - max s): the keys in chunks of 16 (the last one
//     padded with zeros), each chunk summed in float as _mm512_reduce_add_ps does, the chunk sums in double;
//   - out[d] = Σ_j p_j v_j[d], summed in ggml's order.
// Products of two f16 values are exact in f32, so only the order of the additions matters. llama.cpp sums
// q·k and p·v in one of two orders, chosen by the number of tokens in its step (ubatch):
//   - one token (decode): ggml_vec_dot_f16, 4 x 16 partial sums (element i into sum (i/16)%4, lane i%16),
//     combined (0+2, 1+3, then the two) and reduced as reduce16; a tail past a multiple of 64 in double;
//   - several tokens: tinyBLAS (llamafile_sgemm), 16 partial sums over chunks of 16 in order, then
//     reduce16 (head_dim not a multiple of 16 falls back to the one-token order, as tinyBLAS does).
// llama.cpp pads the key range to a multiple of 256 with zeros, which adds nothing in either order.
enum class AttentionOrder { single_token, multi_token };
inline AttentionOrder attention_order(int64_t step_tokens) noexcept {
    return step_tokens == 1 ? AttentionOrder::single_token : AttentionOrder::multi_token;
}

// Floats of scratch attention_head needs: the scores, then 64 partial sums per dimension.
inline constexpr int64_t attention_scratch_floats(int64_t n_keys, int64_t head_dim) noexcept {
    return (n_keys + 15) / 16 * 16 + 64 * head_dim;
}

// One query head attending over n_keys cached keys of one sequence in a paged f16 cache.
//   q          [head_dim] float
//   cache_k/v  [n_slots, kv_row] f16, slot = block_table[pos / block_size] * block_size + pos % block_size;
//              this head's keys start at element kv_offset of a slot's row
//   scratch    [attention_scratch_floats(n_keys, head_dim)] float
//   out        [head_dim] float = Σ softmax(q·k * scale)_j v_j
void attention_head(const float* q, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row,
                    int64_t kv_offset, const int32_t* block_table, int64_t block_size, int64_t n_keys,
                    int64_t head_dim, float scale, AttentionOrder order, float* scratch, float* out) noexcept;

// The query heads of one GQA group (one token) over their KV head, reading the f16 cache directly: keys and
// values are converted a run of 16 at a time and serve every head of the group. Bit for bit attention_head
// per head, in either order. The path of every step of several tokens (prompt chunks, and decode steps of
// several sequences); it replaced unpacking a KV head's keys transposed into f32 once per step, which cost
// more than it saved (2x slower at one query row and slower
// still at 32 rows, one thread side by side; docs/performance.md, serving).
//   q, out   [group, head_dim] float (group <= 16); scratch [group * attention_scratch_floats(n_keys, head_dim)]
void attention_group(const float* q, int64_t group, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row,
                     int64_t kv_offset, const int32_t* block_table, int64_t block_size, int64_t n_keys,
                     int64_t head_dim, float scale, AttentionOrder order, float* scratch, float* out) noexcept;
inline constexpr int64_t attention_group_max = 16;

// The k largest values of x, largest first: ids [k], vals [k] (1 <= k <= min(n, top_k_row_max)). Values compare by
// top_k_key(): -0 equals +0 and NaN ranks below every number; equal values come by lower index, so ids[0] is
// the first maximum. The CUDA backend's top_k_rows (cuda_ops.h) selects exactly the same entries.
inline constexpr int64_t top_k_row_max = 256;
uint32_t top_k_key(float v) noexcept;
void top_k_row(const float* x, int64_t n, int64_t k, int32_t* ids, float* vals) noexcept;

}  // namespace enclave::kernels
