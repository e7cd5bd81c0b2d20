// A tiny random-weight transformer built in memory for model tests: the float weights are kept so an
// independent reference forward (reference_forward.h) can run on exactly the values the file encodes.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/gguf/gguf_writer.h"
#include "enclave/kernels/quant.h"

namespace enclave_test {

struct TinySpec {
    std::string arch = "llama";
    enclave::TensorType type = enclave::TensorType::F32;
    int64_t n_embd = 64, n_ff = 96, n_layer = 2, n_head = 4, n_kv_head = 2, n_vocab = 300;
    float rope_base = 10000.0f;
    float eps = 1e-5f;
    bool tied = true;
    uint32_t seed = 7;
};

struct TinyModel {
    TinySpec spec;
    // name -> values as the file decodes them (after quantization), row-major [rows, cols]
    std::map<std::string, std::vector<float>> w;
    std::filesystem::path path;
};

inline std::vector<float> decoded(enclave::TensorType type, const std::vector<float>& v, int64_t cols) {
    if (type == enclave::TensorType::F32) return v;
    const auto rb = *enclave::row_bytes(type, cols);
    std::vector<uint8_t> q(rb);
    std::vector<float> out(v.size());
    for (size_t r = 0; r < v.size() / static_cast<size_t>(cols); ++r) {
        (void)enclave::kernels::quantize_row_ref(type, v.data() + r * cols, q.data(), cols);
        (void)enclave::kernels::dequantize_row(type, q.data(), out.data() + r * cols, cols);
    }
    return out;
}

inline TinyModel make_tiny_model(const TinySpec& s, const std::filesystem::path& path) {
    TinyModel m;
    m.spec = s;
    m.path = path;
    std::mt19937 rng(s.seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    enclave::gguf::GgufWriter wr;
    const std::string a = s.arch;
    wr.set_string("general.architecture", a);
    wr.set_uint32(a + ".context_length", 512);
    wr.set_uint32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
    wr.set_uint32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
    wr.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
    wr.set_uint32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
    wr.set_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_kv_head));
    wr.set_float32(a + ".rope.freq_base", s.rope_base);
    wr.set_float32(a + ".attention.layer_norm_rms_epsilon", s.eps);
    std::vector<std::string> tokens;
    for (int64_t i = 0; i < s.n_vocab; ++i) {
        std::string token = "t";  // appended rather than "t" + ...: GCC 12 -Wrestrict false positive (PR 105329)
        token += std::to_string(i);
        tokens.push_back(std::move(token));
    }
    wr.set_string("tokenizer.ggml.model", "llama");
    wr.set_string_array("tokenizer.ggml.tokens", tokens);
    const int64_t hd = s.n_embd / s.n_head, kv = s.n_kv_head * hd;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, enclave::TensorType t) {
        std::vector<float> v(static_cast<size_t>(rows * cols));
        for (auto& x : v) x = nd(rng) / std::sqrt(static_cast<float>(cols));
        wr.add_tensor_f32(name, t, {cols, rows}, v);
        m.w[name] = decoded(t, v, cols);
    };
    auto vec = [&](const std::string& name, int64_t n, float base, float spread) {
        std::vector<float> v(static_cast<size_t>(n));
        for (auto& x : v) x = base + spread * nd(rng);
        wr.add_tensor_f32(name, enclave::TensorType::F32, {n}, v);
        m.w[name] = v;
    };
    matrix("token_embd.weight", s.n_vocab, s.n_embd, s.type);
    vec("output_norm.weight", s.n_embd, 1.0f, 0.1f);
    if (!s.tied) matrix("output.weight", s.n_vocab, s.n_embd, s.type);
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        vec(p + "attn_norm.weight", s.n_embd, 1.0f, 0.1f);
        matrix(p + "attn_q.weight", s.n_embd, s.n_embd, s.type);
        matrix(p + "attn_k.weight", kv, s.n_embd, s.type);
        matrix(p + "attn_v.weight", kv, s.n_embd, s.type);
        if (s.arch == "qwen2") {
            vec(p + "attn_q.bias", s.n_embd, 0.0f, 0.3f);
            vec(p + "attn_k.bias", kv, 0.0f, 0.3f);
            vec(p + "attn_v.bias", kv, 0.0f, 0.3f);
        }
        matrix(p + "attn_output.weight", s.n_embd, s.n_embd, s.type);
        vec(p + "ffn_norm.weight", s.n_embd, 1.0f, 0.1f);
        matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd, s.type);
        matrix(p + "ffn_up.weight", s.n_ff, s.n_embd, s.type);
        matrix(p + "ffn_down.weight", s.n_embd, s.n_ff, s.type);
    }
    wr.write(path);
    return m;
}

}  // namespace enclave_test
