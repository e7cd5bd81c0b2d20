// The driver of the row kernels (decode: few tokens), shared by the AVX2 and AVX-512 files.
//
// It walks the columns in chunks, packs each tile of tokens' activations once per chunk and hands every
// (chunk, tile) to the ISA file's sweep, which runs the row kernel K over [row_begin, row_end). Each ISA
// file instantiates it with its own K (types in its anonymous namespace), so the code is compiled with that
// file's ISA flags and no instruction leaks across files.
#pragma once

#include <cstdint>
#include <type_traits>

#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave::kernels::detail {

// sweep(std::integral_constant<int, NT>, first_step, n_full_steps, tail_blocks, packed[NT], y_tile, first_chunk)
template <class K, int TileTokens, int64_t ChunkCols, class Sweep>
void run_row_kernel(TensorType weight_type, const void* xq, int64_t n_cols, int64_t n_tokens, float* y,
                    int64_t y_stride, Sweep&& sweep) {
    static_assert(TileTokens == 4, "the dispatch below covers tiles of up to 4 tokens");
    constexpr int64_t chunk_steps = ChunkCols / K::step_elems;
    const size_t x_row = *row_bytes(activation_type(weight_type), n_cols);
    const auto* xb = static_cast<const uint8_t*>(xq);
    const int64_t n_steps = (n_cols + K::step_elems - 1) / K::step_elems;
    // What the last step holds when n_cols is not a whole number of steps (blocks, or values for floats).
    const int last_partial = static_cast<int>((n_cols % K::step_elems) / K::block_elems);

    alignas(64) uint8_t pack[TileTokens][chunk_steps * K::pack_bytes];  // [token][step][pack_bytes]
    const uint8_t* pk[TileTokens];
    for (int t = 0; t < TileTokens; ++t) pk[t] = pack[t];

    for (int64_t s0 = 0; s0 < n_steps; s0 += chunk_steps) {
        const int64_t ns = chunk_steps < n_steps - s0 ? chunk_steps : n_steps - s0;
        const bool has_tail = last_partial > 0 && s0 + ns == n_steps;
        const int64_t n_full = has_tail ? ns - 1 : ns;
        const int tail = has_tail ? last_partial : 0;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += TileTokens) {
            const int nt = static_cast<int>(TileTokens < n_tokens - t0 ? TileTokens : n_tokens - t0);
            for (int t = 0; t < nt; ++t) K::pack(xb + static_cast<size_t>(t0 + t) * x_row, n_cols, s0, ns, pack[t]);
            float* yt = y + t0 * y_stride;
            const bool first = s0 == 0;
            switch (nt) {
                case 1: sweep(std::integral_constant<int, 1>{}, s0, n_full, tail, pk, yt, first); break;
                case 2: sweep(std::integral_constant<int, 2>{}, s0, n_full, tail, pk, yt, first); break;
                case 3: sweep(std::integral_constant<int, 3>{}, s0, n_full, tail, pk, yt, first); break;
                default: sweep(std::integral_constant<int, 4>{}, s0, n_full, tail, pk, yt, first); break;
            }
        }
    }
}

}  // namespace enclave::kernels::detail
