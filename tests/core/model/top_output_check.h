// Shared by tst_model (CPU backend) and tst_cuda_model (CUDA backend): Model::forward's top output equals the
// top k of the whole rows that the plain forward returns for the same step, with rows wanted whole, reduced and
// not wanted interleaved in one step (the reduced rows are moved behind the whole ones inside forward).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "check.h"
#include "core/model/model.h"
#include "enclave/kernels/cpu_ops.h"

namespace enclave_test {

// a and b: the same model file on the same kind of backend, each with its own cache (fresh).
inline void check_top_output(enclave::Model& ma, enclave::KvCache& ca, enclave::Model& mb, enclave::KvCache& cb,
                             int64_t n_vocab) {
    using namespace enclave;
    struct Case {
        size_t n;
        LogitsWanted logits;
        int32_t top_k;
    };
    const int32_t big = static_cast<int32_t>(std::min<int64_t>(n_vocab + 5, Backend::k_max_top_k));  // clamped
    const Case cases[] = {{5, LogitsWanted::last, 40}, {3, LogitsWanted::last, 0}, {1, LogitsWanted::none, 9},
                          {7, LogitsWanted::last, 1},  {2, LogitsWanted::all, 5},  {1, LogitsWanted::last, big}};
    std::vector<std::vector<int32_t>> tokens;
    std::vector<StepSequence> sa, sb;
    uint32_t x = 12345;
    for (const auto& c : cases) {
        std::vector<int32_t> t(c.n);
        for (auto& v : t) v = static_cast<int32_t>((x = x * 1103515245u + 12345u) % static_cast<uint32_t>(n_vocab));
        tokens.push_back(t);
    }
    for (size_t i = 0; i < std::size(cases); ++i) {
        const auto qa = ca.create_sequence(), qb = cb.create_sequence();
        REQUIRE(ca.reserve(qa, static_cast<int64_t>(cases[i].n)) && cb.reserve(qb, static_cast<int64_t>(cases[i].n)));
        sa.push_back({qa, tokens[i], cases[i].logits, cases[i].top_k});
        sb.push_back({qb, tokens[i], cases[i].logits, cases[i].top_k});
    }
    std::vector<float> la, lb;
    std::vector<TopLogit> top;
    ma.forward(sa, ca, la, top);
    mb.forward(sb, cb, lb);  // top_k ignored: every wanted row whole
    const auto V = static_cast<size_t>(n_vocab);
    size_t row_a = 0, row_b = 0, at = 0;
    bool same = true;
    for (size_t i = 0; i < std::size(cases); ++i) {
        const auto& c = cases[i];
        const size_t rows = c.logits == LogitsWanted::all ? c.n : c.logits == LogitsWanted::last ? 1 : 0;
        const bool reduced = c.logits == LogitsWanted::last && c.top_k > 0;
        for (size_t r = 0; r < rows; ++r, ++row_b) {
            const float* want = lb.data() + row_b * V;
            if (!reduced) {
                same &= std::equal(want, want + V, la.begin() + static_cast<std::ptrdiff_t>(row_a * V));
                ++row_a;
                continue;
            }
            const auto k = static_cast<size_t>(std::min<int64_t>(c.top_k, n_vocab));
            std::vector<int32_t> ids(k);
            std::vector<float> vals(k);
            kernels::top_k_row(want, n_vocab, static_cast<int64_t>(k), ids.data(), vals.data());
            for (size_t j = 0; j < k; ++j) same &= top.at(at + j).id == ids[j] && top.at(at + j).logit == vals[j];
            at += k;
        }
    }
    CHECK_MSG(same, "forward's top output or its whole rows differ from the plain forward's rows");
    CHECK_EQ(row_a * V, la.size());
    CHECK_EQ(at, top.size());
    sa[0].top_k = Backend::k_max_top_k + 1;
    CHECK_THROWS_WITH(ma.forward(std::span(sa.data(), 1), ca, la, top), InvalidArgument, "top_k");
}

}  // namespace enclave_test
