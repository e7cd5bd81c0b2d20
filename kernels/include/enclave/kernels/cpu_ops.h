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

// gate = silu(gate) * up                               gate, up [n]
void swiglu_row(float* gate, const float* up, int64_t n) noexcept;

// x += y                                               x, y [n]
void add_row(float* x, const float* y, int64_t n) noexcept;

// x += b                                               (same as add_row; named for the bias use)
inline void add_bias_row(float* x, const float* b, int64_t n) noexcept { add_row(x, b, n); }

// dst = f16(src)                                        src [n] float, dst [n] f16 bits
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) noexcept;

// Attention rounds as llama.cpp's unfused CPU attention, our oracle: q is rounded to f16 for the q·k
// products with f16 keys, softmax runs in f32 (its sum in double), and the probabilities are rounded to
// f16 before the weighted sum of f16 values, accumulated in f32. Every rounding is once per element, so
// the result does not depend on how a step is batched. (llama.cpp's fused CPU flash attention instead
// accumulates V in f16, which moves logits of small models by 1-5%; the goldens are made without it.)
inline constexpr int64_t attention_packed_min_rows = 64;  // steps this large unpack K/V once per KV head

// One query head attending over n_keys cached keys of one sequence in a paged f16 cache.
//   q          [head_dim] float
//   cache_k/v  [n_slots, kv_row] f16, slot = block_table[pos / block_size] * block_size + pos % block_size;
//              this head's keys start at element kv_offset of a slot's row
//   scratch    [n_keys] float
//   out        [head_dim] float = Σ softmax(q·k * scale)_j v_j
void attention_head(const float* q, const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row,
                    int64_t kv_offset, const int32_t* block_table, int64_t block_size, int64_t n_keys,
                    int64_t head_dim, float scale, float* scratch, float* out) noexcept;

// The path for many queries of one sequence: the keys and values of one KV head are unpacked once to
// f32, keys transposed so a query's scores are computed as head_dim vector updates over all keys.
//   keys_t [head_dim, n_keys] f32, values [n_keys, head_dim] f32
void pack_keys_values_f32(const uint16_t* cache_k, const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset,
                          const int32_t* block_table, int64_t block_size, int64_t n_keys, int64_t head_dim,
                          float* keys_t, float* values) noexcept;
// out = softmax(q·K[0..n_keys) * scale)·V over the packed keys (n_keys <= n_keys_packed, the causal limit).
//   q, out [head_dim]; scores [n_keys] scratch
void attention_query_packed(const float* q, const float* keys_t, const float* values, int64_t n_keys_packed,
                            int64_t n_keys, int64_t head_dim, float scale, float* scores, float* out) noexcept;

}  // namespace enclave::kernels
