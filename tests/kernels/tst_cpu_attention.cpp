// CPU attention over a paged f16 cache: the grouped path (a GQA group's heads from the f16 cache at once; every
// step of several tokens) equals attention_head bit for bit in both orders, and attention_head in both of
// llama.cpp's orders agrees with softmax attention computed in double from the same f16 values.
#include <cmath>
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "enclave/kernels/cpu_ops.h"

using namespace enclave::kernels;

namespace {

struct Case {
    int64_t head_dim, group, n_kv_head, n_keys, block_size;
};

// f16 bits of a float (round to nearest even), and back: through _Float16 as the kernels do.
uint16_t to_f16(float x) {
    const _Float16 h = static_cast<_Float16>(x);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}
float from_f16(uint16_t bits) {
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    return static_cast<float>(h);
}

void run_case(const Case& c, AttentionOrder order, std::mt19937& rng) {
    const int64_t kv_row = c.n_kv_head * c.head_dim;
    const int64_t n_blocks = (c.n_keys + c.block_size - 1) / c.block_size + 3;
    std::vector<int32_t> table(static_cast<size_t>(n_blocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);  // a sequence's blocks anywhere in the cache
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<uint16_t> cache_k(static_cast<size_t>(n_blocks * c.block_size * kv_row));
    std::vector<uint16_t> cache_v(cache_k.size());
    for (auto& x : cache_k) x = to_f16(normal(rng));
    for (auto& x : cache_v) x = to_f16(normal(rng));
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    for (int64_t kh = 0; kh < c.n_kv_head; ++kh) {
        std::vector<float> q(static_cast<size_t>(c.group * c.head_dim));
        for (auto& x : q) x = 2.0f * normal(rng);
        const size_t per_head = static_cast<size_t>(attention_scratch_floats(c.n_keys, c.head_dim));
        std::vector<float> scratch(per_head);
        std::vector<float> alone(q.size(), NAN);
        for (int64_t g = 0; g < c.group; ++g)
            attention_head(q.data() + g * c.head_dim, cache_k.data(), cache_v.data(), kv_row, kh * c.head_dim,
                           table.data(), c.block_size, c.n_keys, c.head_dim, scale, order, scratch.data(),
                           alone.data() + g * c.head_dim);
        const std::string where = "head_dim " + std::to_string(c.head_dim) + " group " + std::to_string(c.group) +
                                  " keys " + std::to_string(c.n_keys) + " kv head " + std::to_string(kh) +
                                  (order == AttentionOrder::single_token ? " one-token order" : " several-token order");
        {
            // The whole group at once from the f16 cache (a decode step of several sequences).
            std::vector<float> grouped(q.size(), NAN);
            std::vector<float> group_scratch(per_head * static_cast<size_t>(c.group), NAN);
            attention_group(q.data(), c.group, cache_k.data(), cache_v.data(), kv_row, kh * c.head_dim, table.data(),
                            c.block_size, c.n_keys, c.head_dim, scale, order, group_scratch.data(), grouped.data());
            CHECK_MSG(std::memcmp(grouped.data(), alone.data(), grouped.size() * sizeof(float)) == 0,
                      where + ": attention_group differs from attention_head");
        }
        // Independent reference: softmax attention in double over the same f16 values (q rounded to f16 too).
        double worst = 0.0;
        for (int64_t g = 0; g < c.group; ++g) {
            std::vector<double> s(static_cast<size_t>(c.n_keys));
            double max_s = -INFINITY;
            for (int64_t j = 0; j < c.n_keys; ++j) {
                const int64_t slot = table[static_cast<size_t>(j / c.block_size)] * c.block_size + j % c.block_size;
                double dot = 0.0;
                for (int64_t d = 0; d < c.head_dim; ++d)
                    dot += static_cast<double>(from_f16(to_f16(q[static_cast<size_t>(g * c.head_dim + d)]))) *
                           from_f16(cache_k[static_cast<size_t>(slot * kv_row + kh * c.head_dim + d)]);
                s[static_cast<size_t>(j)] = dot * scale;
                max_s = std::max(max_s, s[static_cast<size_t>(j)]);
            }
            double sum = 0.0;
            for (auto& x : s) sum += (x = std::exp(x - max_s));
            for (int64_t d = 0; d < c.head_dim; ++d) {
                double ref = 0.0;
                for (int64_t j = 0; j < c.n_keys; ++j) {
                    const int64_t slot = table[static_cast<size_t>(j / c.block_size)] * c.block_size + j % c.block_size;
                    ref += s[static_cast<size_t>(j)] / sum * from_f16(cache_v[static_cast<size_t>(slot * kv_row + kh * c.head_dim + d)]);
                }
                const float got = alone[static_cast<size_t>(g * c.head_dim + d)];
                REQUIRE_MSG(std::isfinite(got), where + ": not finite");
                worst = std::max(worst, std::abs(got - ref));
            }
        }
        // The kernel rounds the probabilities to f16 (relative 2^-11 each) before the product with V.
        CHECK_MSG(worst < 4e-3, where + ": off from double-precision attention by " + std::to_string(worst));
    }
}

}  // namespace

ENCLAVE_TEST(grouped_attention_equals_attention_head_and_both_the_double_reference) {
    std::mt19937 rng(std::random_device{}());
    const Case cases[] = {
        {64, 3, 3, 1, 16},   {64, 3, 3, 17, 16},  {64, 3, 3, 100, 16}, {48, 4, 2, 33, 16},
        {128, 4, 2, 70, 32}, {64, 1, 4, 20, 16},  {16, 7, 1, 45, 8},   {96, 2, 3, 129, 16}, {40, 2, 2, 30, 16}, {20, 2, 2, 37, 16},
        // Hundreds of keys: every (key mod 64) row of the one-token order's value sums takes several keys, and a
        // score summed in another order shows in the output.
        {64, 3, 3, 300, 16}, {128, 2, 2, 257, 16},
    };
    for (const Case& c : cases)
        for (const AttentionOrder order : {AttentionOrder::single_token, AttentionOrder::multi_token}) run_case(c, order, rng);
}

// The bulk f16 conversions the attention uses, against _Float16 casts one value at a time: every f16 bit pattern
// widened, and rounding at ties, subnormals, overflow, signed zeros, NaN and random values, at row lengths that
// leave each ISA's vector tail.
ENCLAVE_TEST(bulk_f16_conversions_equal_float16_casts) {
    std::vector<uint16_t> all(65536);
    std::iota(all.begin(), all.end(), uint16_t{0});
    std::vector<float> wide(all.size(), NAN);
    f16_rows_to_f32(all.data(), 4096, 16, 4096, wide.data());
    int wrong = 0;
    for (size_t i = 0; i < all.size(); ++i) {
        const float want = from_f16(all[i]);
        wrong += std::isnan(want) ? !std::isnan(wide[i]) : std::memcmp(&want, &wide[i], 4) != 0;
    }
    CHECK_MSG(wrong == 0, std::to_string(wrong) + " of 65536 f16 values widened wrongly");
    std::mt19937 rng(std::random_device{}());
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::vector<float> x = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65520.0f, 1e6f, -1e6f, 6e-8f, 3e-8f,
                            -0.0f, 0.0f, NAN, INFINITY, -INFINITY, 2.98e-8f, 6.1e-5f, -6.09e-5f};
    while (x.size() < 1000) x.push_back(normal(rng) * (rng() % 2 ? 1.0f : 1e-5f));
    for (const float scale : {1.0f, 0.37f, 1.0f / 3.0f}) {
        for (const size_t n : {size_t{1}, size_t{7}, size_t{15}, size_t{17}, size_t{33}, x.size()}) {
            std::vector<float> got(x.begin(), x.begin() + static_cast<long>(n));
            scale_round_to_f16(got.data(), scale, static_cast<int64_t>(n));
            for (size_t i = 0; i < n; ++i) {
                const float want = static_cast<float>(static_cast<_Float16>(x[i] * scale));
                const bool same = std::isnan(want) ? std::isnan(got[i]) : std::memcmp(&want, &got[i], 4) == 0;
                CHECK_MSG(same, "scale_round_to_f16(" + std::to_string(x[i]) + " * " + std::to_string(scale) +
                                    ") = " + std::to_string(got[i]) + ", a _Float16 cast gives " + std::to_string(want));
            }
        }
    }
}

ENCLAVE_TEST_MAIN()
