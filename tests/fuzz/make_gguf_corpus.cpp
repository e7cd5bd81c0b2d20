// Generator of the seed corpus in tests/fuzz/corpus/gguf: small valid files made by GgufWriter (named
// valid_*, which the replay test requires to open), truncations and byte corruptions of them, and
// hand-made malformed files, one per kind of check. Deterministic: rerunning it rewrites the same bytes.
//
//   make_gguf_corpus <dir>      (fuzzer findings, crash-* / timeout-*, are added to <dir> by hand)
#include <cmath>
#include <cstdio>
#include <map>

#include "../core/gguf/gguf_test_util.h"
#include "core/gguf/gguf_writer.h"

using namespace enclave;
using namespace enclave::gguf;
using gguf_test::Bytes;

namespace {

std::vector<uint8_t> bytes_of(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) {
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<uint8_t>(seed >> 24);
    }
    return v;
}

std::vector<float> floats_of(size_t n) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.7f);
    return v;
}

std::vector<uint8_t> valid_metadata() {
    GgufWriter w;
    w.set_value("u8", {ValueType::UINT8, uint64_t{200}});
    w.set_value("i8", {ValueType::INT8, int64_t{-7}});
    w.set_value("u16", {ValueType::UINT16, uint64_t{65535}});
    w.set_value("i16", {ValueType::INT16, int64_t{-300}});
    w.set_uint32("u32", 123456);
    w.set_int32("i32", -123456);
    w.set_float32("f32", 0.5f);
    w.set_bool("bool", true);
    w.set_string("str", "text");
    w.set_uint64("u64", ~uint64_t{0});
    w.set_value("i64", {ValueType::INT64, int64_t{-1}});
    w.set_value("f64", {ValueType::FLOAT64, 2.25});
    w.set_value("a.u8", {ValueType::ARRAY, Array{ValueType::UINT8, {1, 2, 3}, {}, {}}});
    w.set_value("a.bool", {ValueType::ARRAY, Array{ValueType::BOOL, {1, 0}, {}, {}}});
    w.set_value("a.u64", {ValueType::ARRAY, Array{ValueType::UINT64, {-1, 5}, {}, {}}});
    w.set_value("a.f64", {ValueType::ARRAY, Array{ValueType::FLOAT64, {}, {1.0, -1.0}, {}}});
    w.set_string_array("a.str", {"x", "", "yz"});
    w.set_float32_array("a.f32", {1.5f, 2.5f});
    w.set_int32_array("a.i32", {-1, 0, 1});
    return w.to_bytes();
}

std::vector<uint8_t> valid_tensors() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.add_tensor_f32("f32", TensorType::F32, {4, 2}, floats_of(8));
    w.add_tensor("f16", TensorType::F16, {8}, bytes_of(16, 1));
    w.add_tensor("q8_0", TensorType::Q8_0, {32}, bytes_of(34, 2));
    w.add_tensor("q4_0", TensorType::Q4_0, {32, 2}, bytes_of(36, 3));
    w.add_tensor("q4_1", TensorType::Q4_1, {32, 1, 1}, bytes_of(20, 4));
    w.add_tensor("q4_k", TensorType::Q4_K, {256}, bytes_of(144, 5));
    w.add_tensor("bf16", TensorType::BF16, {2, 1, 1, 2}, bytes_of(8, 6));
    return w.to_bytes();
}

std::vector<uint8_t> valid_llama_like() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "tiny");
    w.set_uint32("llama.block_count", 1);
    w.set_uint32("llama.embedding_length", 8);
    w.set_uint32("llama.attention.head_count", 2);
    w.set_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_string("tokenizer.ggml.model", "gpt2");
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int i = 0; i < 24; ++i) {
        tokens.push_back(i < 3 ? std::string(i == 0   ? "<s>"
                                             : i == 1 ? "</s>"
                                                      : "<unk>")
                               : std::string(1, char('a' + i)));
        types.push_back(i < 3 ? 3 : 1);
    }
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_int32_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", {"d e", "f g"});
    w.set_uint32("tokenizer.ggml.bos_token_id", 0);
    w.add_tensor_f32("token_embd.weight", TensorType::F32, {8, 24}, floats_of(8 * 24));
    w.add_tensor_f32("blk.0.attn_norm.weight", TensorType::F32, {8}, floats_of(8));
    w.add_tensor("blk.0.attn_q.weight", TensorType::Q8_0, {32, 8}, bytes_of(34 * 8, 7));
    w.add_tensor("blk.0.ffn_down.weight", TensorType::Q6_K, {256, 1}, bytes_of(210, 8));
    return w.to_bytes();
}

std::vector<uint8_t> valid_align64() {
    GgufWriter w(64);
    w.set_string("general.name", "aligned");
    w.add_tensor("a", TensorType::F32, {3}, bytes_of(12, 9));
    w.add_tensor("b", TensorType::F16, {5}, bytes_of(10, 10));
    return w.to_bytes();
}

std::vector<uint8_t> valid_v2() {
    Bytes b;
    b.header(2, 2, 2).kv_str("general.architecture", "llama").kv_u32("general.alignment", 16);
    b.tensor("late", {4}, 0, 16).tensor("early", {4}, 0, 0).pad_to(16);
    b.raw(std::string(32, '\x3f'));
    return b.data;
}

std::map<std::string, std::vector<uint8_t>> hand_made_malformed() {
    std::map<std::string, std::vector<uint8_t>> m;
    m["bad_magic"] = Bytes().raw("GGML").u32(3).u64(0).u64(0).data;
    m["bad_version1"] = Bytes().header(0, 0, 1).data;
    m["bad_version4"] = Bytes().header(0, 0, 4).data;
    m["bad_tensor_count"] = Bytes().header(uint64_t{1} << 60, 0).zeros(16).data;
    m["bad_kv_count"] = Bytes().header(0, 1000).zeros(64).data;
    m["bad_key_length"] = Bytes().header(0, 1).u64(~uint64_t{0}).zeros(16).data;
    m["bad_string_length"] = Bytes().header(0, 1).str("k").u32(8).u64(uint64_t{1} << 62).zeros(8).data;
    m["bad_array_count"] = Bytes().header(0, 1).str("a").u32(9).u32(4).u64(uint64_t{1} << 60).zeros(16).data;
    m["bad_nested_array"] = Bytes().header(0, 1).str("a").u32(9).u32(9).u64(1).u32(0).u64(1).u8(0).data;
    m["bad_value_type"] = Bytes().header(0, 1).str("k").u32(13).u64(0).data;
    m["bad_duplicate_key"] = Bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).data;
    m["bad_alignment0"] = Bytes().header(0, 1).kv_u32("general.alignment", 0).data;
    m["bad_alignment3"] = Bytes().header(0, 1).kv_u32("general.alignment", 3).data;
    m["bad_n_dims5"] = Bytes().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad_to(32).zeros(32).data;
    m["bad_dim0"] = Bytes().header(1, 0).tensor("t", {4, 0}, 0, 0).pad_to(32).zeros(32).data;
    m["bad_ne_overflow"] =
        Bytes().header(1, 0).tensor("t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0).pad_to(32).data;
    m["bad_block"] = Bytes().header(1, 0).tensor("t", {33}, 8, 0).pad_to(32).zeros(64).data;
    m["bad_tensor_type"] = Bytes().header(1, 0).tensor("t", {4}, 99, 0).pad_to(32).zeros(32).data;
    m["bad_misaligned"] = Bytes().header(1, 0).tensor("t", {4}, 0, 8).pad_to(32).zeros(32).data;
    m["bad_past_eof"] = Bytes().header(1, 0).tensor("t", {64}, 0, 0).pad_to(32).zeros(32).data;
    m["bad_overlap"] = Bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad_to(32).zeros(64).data;
    m["bad_duplicate_tensor"] =
        Bytes().header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad_to(32).zeros(64).data;
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    size_t n = 0, total = 0;
    auto put = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
        gguf_test::write_file(dir / (name + ".gguf"), bytes);
        ++n;
        total += bytes.size();
    };

    const std::map<std::string, std::vector<uint8_t>> valid = {
        {"minimal", GgufWriter().to_bytes()},
        {"metadata", valid_metadata()},
        {"tensors", valid_tensors()},
        {"llama_like", valid_llama_like()},
        {"align64", valid_align64()},
        {"v2", valid_v2()},
        {"meta_unpadded", Bytes().header(0, 1).kv_str("general.name", "x").data},
    };
    for (const auto& [name, bytes] : valid) put("valid_" + name, bytes);

    // Truncations at a spread of positions, and bytes overwritten at pseudo-random positions.
    for (const char* name : {"metadata", "tensors", "llama_like"}) {
        const auto& full = valid.at(name);
        for (size_t k = 1; k <= 8; ++k) {
            const size_t len = full.size() * k / 9 + k;  // + k: not always on a field boundary
            put("trunc_" + std::string(name) + "_" + std::to_string(len),
                std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(std::min(len, full.size() - 1))));
        }
        uint32_t seed = 12345;
        for (int k = 0; k < 8; ++k) {
            std::vector<uint8_t> bytes = full;
            for (int j = 0; j <= k % 3; ++j) {
                seed = seed * 1664525u + 1013904223u;
                const size_t pos = (seed >> 8) % std::min<size_t>(bytes.size(), 512);  // mostly the tables
                seed = seed * 1664525u + 1013904223u;
                bytes[pos] = static_cast<uint8_t>(seed >> 24);
            }
            put("corrupt_" + std::string(name) + "_" + std::to_string(k), bytes);
        }
    }
    for (const auto& [name, bytes] : hand_made_malformed()) put(name, bytes);
    std::printf("%zu files, %zu bytes in %s\n", n, total, dir.c_str());
    return 0;
}
