// Internal to the CPU attention (attention.cpp): the AVX-512 forms of its hot loops, compiled for AVX-512 only
// (kernels/CMakeLists.txt) and called only where detect_cpu_isa() says the CPU has it. Each gives the bits of
// the portable loop it replaces in attention.cpp, which stays the reference (tst_cpu_attention compares them).
#pragma once

#include <cstdint>

namespace enclave::kernels::detail {

// The several-token (tinyBLAS) scores of a run of n <= 16 keys in consecutive cache rows for `group` query heads:
//   k16 [n, stride] f16 (this KV head's keys at the start of each row); q [group, q_stride] f32 holding f16
//   values; head_dim a multiple of 16 (<= 512).
//   scores[g * per_head + j] = reduce16(Σ over chunks of 16 of k_j * q_g, lane by lane) * scale, for j < n;
//   max_score[g] = max(max_score[g], those scores).
void attention_scores_run_avx512(const uint16_t* k16, int64_t stride, int64_t n, const float* q, int64_t q_stride,
                                 int64_t group, int64_t head_dim, float scale, float* scores, int64_t per_head,
                                 float* max_score) noexcept;

// The several-token (tinyBLAS) value sums of `group` query heads over all n_keys keys of one sequence: for each
// head g, partial-sum row r (< 16) of its [16, head_dim] block = Σ over keys j ≡ r (mod 16), in key order, of
// p_g[j] * v_j, starting from 0 (values_run's rows, which combine_partials then joins).
//   cache_v: the f16 value cache, rows of kv_row, this KV head's values at kv_offset; the keys' slots through
//   block_table (block_size slots a block); p[g * per_head + j] the f16-rounded probabilities;
//   part[g * per_head + r * head_dim + d] written for every r < 16 and d < head_dim (a multiple of 16, <= 512).
void attention_values_avx512(const uint16_t* cache_v, int64_t kv_row, int64_t kv_offset, const int32_t* block_table,
                             int64_t block_size, int64_t n_keys, int64_t group, int64_t head_dim, const float* p,
                             int64_t per_head, float* part) noexcept;

}  // namespace enclave::kernels::detail
