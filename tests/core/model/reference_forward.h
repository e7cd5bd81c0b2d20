// An independent, deliberately plain reference of the llama/qwen2 forward pass in double precision, written
// from the architecture's definition (not from the engine's code): embeddings, pre-norm GQA attention with
// RoPE (adjacent pairs for llama, halves for qwen2), SwiGLU, final norm, output projection.
#pragma once

#include <cmath>
#include <vector>

#include "tiny_model.h"

namespace enclave_test {

// Logits [n_vocab] of the last token of `tokens`.
inline std::vector<double> reference_logits(const TinyModel& m, const std::vector<int32_t>& tokens) {
    const TinySpec& s = m.spec;
    const int64_t E = s.n_embd, H = s.n_head, HK = s.n_kv_head, hd = E / H, KV = HK * hd, F = s.n_ff;
    const int64_t T = static_cast<int64_t>(tokens.size());
    auto W = [&](const std::string& n) -> const std::vector<float>& { return m.w.at(n); };
    auto has = [&](const std::string& n) { return m.w.count(n) != 0; };
    auto matvec = [](const std::vector<float>& w, const std::vector<double>& x, int64_t rows) {
        const int64_t cols = static_cast<int64_t>(x.size());
        std::vector<double> y(static_cast<size_t>(rows), 0.0);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c) y[r] += static_cast<double>(w[r * cols + c]) * x[c];
        return y;
    };
    auto rmsnorm = [&](const std::vector<double>& x, const std::vector<float>& g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        const double k = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + s.eps);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * k * g[i];
        return y;
    };
    const bool neox = s.arch == "qwen2";
    auto rope = [&](std::vector<double>& v, int64_t n_heads, int64_t pos) {
        for (int64_t h = 0; h < n_heads; ++h)
            for (int64_t i = 0; i < hd / 2; ++i) {
                const double theta = static_cast<double>(pos) * std::pow(static_cast<double>(s.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(hd));
                const int64_t a = h * hd + (neox ? i : 2 * i), b = h * hd + (neox ? i + hd / 2 : 2 * i + 1);
                const double x0 = v[a], x1 = v[b];
                v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
                v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
            }
    };
    std::vector<std::vector<double>> x(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
        x[t].resize(static_cast<size_t>(E));
        for (int64_t i = 0; i < E; ++i) x[t][i] = W("token_embd.weight")[tokens[t] * E + i];
    }
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        std::vector<std::vector<double>> K(static_cast<size_t>(T)), V(static_cast<size_t>(T)), Q(static_cast<size_t>(T));
        for (int64_t t = 0; t < T; ++t) {
            const auto xn = rmsnorm(x[t], W(p + "attn_norm.weight"));
            Q[t] = matvec(W(p + "attn_q.weight"), xn, E);
            K[t] = matvec(W(p + "attn_k.weight"), xn, KV);
            V[t] = matvec(W(p + "attn_v.weight"), xn, KV);
            if (has(p + "attn_q.bias")) {
                for (int64_t i = 0; i < E; ++i) Q[t][i] += W(p + "attn_q.bias")[i];
                for (int64_t i = 0; i < KV; ++i) K[t][i] += W(p + "attn_k.bias")[i], V[t][i] += W(p + "attn_v.bias")[i];
            }
            rope(Q[t], H, t);
            rope(K[t], HK, t);
        }
        for (int64_t t = 0; t < T; ++t) {
            std::vector<double> attn(static_cast<size_t>(E), 0.0);
            for (int64_t h = 0; h < H; ++h) {
                const int64_t kh = h / (H / HK);
                std::vector<double> sc(static_cast<size_t>(t + 1));
                double mx = -1e300;
                for (int64_t j = 0; j <= t; ++j) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; ++i) d += Q[t][h * hd + i] * K[j][kh * hd + i];
                    sc[j] = d / std::sqrt(static_cast<double>(hd));
                    mx = std::max(mx, sc[j]);
                }
                double sum = 0;
                for (auto& v : sc) sum += (v = std::exp(v - mx));
                for (int64_t j = 0; j <= t; ++j)
                    for (int64_t i = 0; i < hd; ++i) attn[h * hd + i] += sc[j] / sum * V[j][kh * hd + i];
            }
            const auto o = matvec(W(p + "attn_output.weight"), attn, E);
            for (int64_t i = 0; i < E; ++i) x[t][i] += o[i];
            const auto xn = rmsnorm(x[t], W(p + "ffn_norm.weight"));
            auto g = matvec(W(p + "ffn_gate.weight"), xn, F);
            const auto u = matvec(W(p + "ffn_up.weight"), xn, F);
            for (int64_t i = 0; i < F; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
            const auto d = matvec(W(p + "ffn_down.weight"), g, E);
            for (int64_t i = 0; i < E; ++i) x[t][i] += d[i];
        }
    }
    const auto xn = rmsnorm(x[T - 1], W("output_norm.weight"));
    return matvec(has("output.weight") ? W("output.weight") : W("token_embd.weight"), xn, s.n_vocab);
}

}  // namespace enclave_test
