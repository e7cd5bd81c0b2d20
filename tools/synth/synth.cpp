// enclave-synth: writes a small random-weight model of a supported architecture and tensor type, for
// tests and golden files. Deterministic: the same arguments write the same bytes (a seeded splitmix64
// generator, no std:: distributions whose output differs between standard libraries).
//
//   enclave-synth OUT --arch llama|qwen2 --type f32|f16|bf16|q8_0|q4_0|q4_1|q4_k|q5_k|q6_k --seed N
//                 [--vocab VOCAB.gguf] [--n-embd 256] [--n-ff 512] [--n-layer 2] [--n-head 4]
//                 [--n-kv-head 2] [--ctx 2048] [--untied]
// The tokenizer.* keys are copied from VOCAB (a vocabulary-only GGUF); without it a byte-fallback
// SentencePiece vocabulary of 512 tokens is made up.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"

using namespace enclave;

namespace {

struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    float normal() {  // Box-Muller; one value per call keeps the stream simple
        const double u1 = 1.0 - uniform(), u2 = uniform();
        return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "enclave-synth: %s\nusage: enclave-synth OUT --arch llama|qwen2 --type TYPE --seed N "
                         "[--vocab FILE] [--n-embd N] [--n-ff N] [--n-layer N] [--n-head N] [--n-kv-head N] "
                         "[--ctx N] [--untied]\n", why.c_str());
    std::exit(2);
}

void copy_tokenizer(const gguf::GgufFile& vocab, gguf::GgufWriter& w, int64_t& n_vocab) {
    for (const auto& kv : vocab.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0) continue;
        const auto& v = kv.value;
        if (const auto* a = std::get_if<gguf::Array>(&v.data)) {
            if (!a->strings.empty() || a->element_type == gguf::ValueType::STRING) {
                w.set_string_array(kv.key, a->strings);
                if (kv.key == "tokenizer.ggml.tokens") n_vocab = static_cast<int64_t>(a->strings.size());
            } else if (!a->floats.empty() || a->element_type == gguf::ValueType::FLOAT32) {
                w.set_float32_array(kv.key, std::vector<float>(a->floats.begin(), a->floats.end()));
            } else {
                w.set_int32_array(kv.key, std::vector<int32_t>(a->ints.begin(), a->ints.end()));
            }
        } else if (const auto* s = std::get_if<std::string>(&v.data)) {
            w.set_string(kv.key, *s);
        } else if (const auto* b = std::get_if<bool>(&v.data)) {
            w.set_bool(kv.key, *b);
        } else if (const auto* u = std::get_if<uint64_t>(&v.data)) {
            w.set_uint32(kv.key, static_cast<uint32_t>(*u));
        } else if (const auto* i = std::get_if<int64_t>(&v.data)) {
            w.set_int32(kv.key, static_cast<int32_t>(*i));
        } else if (const auto* f = std::get_if<double>(&v.data)) {
            w.set_float32(kv.key, static_cast<float>(*f));
        }
    }
}

void made_up_vocab(gguf::GgufWriter& w, int64_t n_vocab) {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        tokens.push_back(buf);
        scores.push_back(0);
        types.push_back(6);
    }
    for (int64_t i = static_cast<int64_t>(tokens.size()); i < n_vocab; ++i) {
        tokens.push_back("\xE2\x96\x81t" + std::to_string(i));
        scores.push_back(-static_cast<float>(i));
        types.push_back(1);
    }
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_float32_array("tokenizer.ggml.scores", scores);
    w.set_int32_array("tokenizer.ggml.token_type", types);
    w.set_uint32("tokenizer.ggml.bos_token_id", 1);
    w.set_uint32("tokenizer.ggml.eos_token_id", 2);
    w.set_uint32("tokenizer.ggml.unknown_token_id", 0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') usage("needs an output path first");
    const std::string out = argv[1];
    std::string arch, type_name, vocab_path;
    int64_t seed = -1, n_embd = 256, n_ff = 512, n_layer = 2, n_head = 4, n_kv_head = 2, ctx = 2048;
    bool untied = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        auto number = [&]() -> int64_t {
            const std::string v = next();
            char* end = nullptr;
            const long long x = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end || x < 0 || x > (1ll << 40)) usage(a + " needs a non-negative whole number");
            return x;
        };
        if (a == "--arch") arch = next();
        else if (a == "--type") type_name = next();
        else if (a == "--seed") seed = number();
        else if (a == "--vocab") vocab_path = next();
        else if (a == "--n-embd") n_embd = number();
        else if (a == "--n-ff") n_ff = number();
        else if (a == "--n-layer") n_layer = number();
        else if (a == "--n-head") n_head = number();
        else if (a == "--n-kv-head") n_kv_head = number();
        else if (a == "--ctx") ctx = number();
        else if (a == "--untied") untied = true;
        else usage("unknown flag " + a);
    }
    if (arch != "llama" && arch != "qwen2") usage("--arch must be llama or qwen2");
    const auto type = tensor_type_from_name(type_name);
    if (!type || !tensor_type_info(*type).is_weight_type) usage("--type must be a weight type such as q4_k");
    if (seed < 0) usage("--seed is required");
    if (n_head == 0 || n_kv_head == 0 || n_embd % n_head || n_head % n_kv_head || n_layer == 0)
        usage("inconsistent head counts");
    const int64_t head_dim = n_embd / n_head, kv_dim = n_kv_head * head_dim;
    const int64_t block = tensor_type_info(*type).block_elems;
    if (n_embd % block || n_ff % block) usage("--n-embd and --n-ff must be multiples of the type's block (" + std::to_string(block) + ")");

    try {
        gguf::GgufWriter w;
        int64_t n_vocab = 512;
        w.set_string("general.architecture", arch);
        w.set_string("general.name", arch + "-synthetic-" + type_name);
        w.set_uint32("general.alignment", 32);
        if (!vocab_path.empty()) {
            const auto vocab = gguf::GgufFile::open(vocab_path);
            copy_tokenizer(vocab, w, n_vocab);
        } else {
            made_up_vocab(w, n_vocab);
        }
        const std::string p = arch + ".";
        w.set_uint32(p + "context_length", static_cast<uint32_t>(ctx));
        w.set_uint32(p + "embedding_length", static_cast<uint32_t>(n_embd));
        w.set_uint32(p + "block_count", static_cast<uint32_t>(n_layer));
        w.set_uint32(p + "feed_forward_length", static_cast<uint32_t>(n_ff));
        w.set_uint32(p + "attention.head_count", static_cast<uint32_t>(n_head));
        w.set_uint32(p + "attention.head_count_kv", static_cast<uint32_t>(n_kv_head));
        w.set_float32(p + "rope.freq_base", arch == "qwen2" ? 1000000.0f : 10000.0f);
        w.set_uint32(p + "rope.dimension_count", static_cast<uint32_t>(head_dim));
        w.set_float32(p + "attention.layer_norm_rms_epsilon", 1e-6f);
        w.set_uint32(p + "vocab_size", static_cast<uint32_t>(n_vocab));

        SplitMix64 rng{static_cast<uint64_t>(seed)};
        // Matrices with std 1/sqrt(fan_in) keep activations O(1) so the logits are far from flat.
        auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, TensorType t) {
            std::vector<float> v(static_cast<size_t>(rows * cols));
            const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
            for (auto& x : v) x = rng.normal() * scale;
            w.add_tensor_f32(name, t, {cols, rows}, v);
        };
        auto vector = [&](const std::string& name, int64_t n, float base, float spread) {
            std::vector<float> v(static_cast<size_t>(n));
            for (auto& x : v) x = base + rng.normal() * spread;
            w.add_tensor_f32(name, TensorType::F32, {n}, v);
        };
        matrix("token_embd.weight", n_vocab, n_embd, *type);
        vector("output_norm.weight", n_embd, 1.0f, 0.1f);
        if (untied) matrix("output.weight", n_vocab, n_embd, *type);
        for (int64_t l = 0; l < n_layer; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            vector(b + "attn_norm.weight", n_embd, 1.0f, 0.1f);
            matrix(b + "attn_q.weight", n_embd, n_embd, *type);
            matrix(b + "attn_k.weight", kv_dim, n_embd, *type);
            matrix(b + "attn_v.weight", kv_dim, n_embd, *type);
            if (arch == "qwen2") {
                vector(b + "attn_q.bias", n_embd, 0.0f, 0.5f);
                vector(b + "attn_k.bias", kv_dim, 0.0f, 0.5f);
                vector(b + "attn_v.bias", kv_dim, 0.0f, 0.5f);
            }
            matrix(b + "attn_output.weight", n_embd, n_embd, *type);
            vector(b + "ffn_norm.weight", n_embd, 1.0f, 0.1f);
            matrix(b + "ffn_gate.weight", n_ff, n_embd, *type);
            matrix(b + "ffn_up.weight", n_ff, n_embd, *type);
            matrix(b + "ffn_down.weight", n_embd, n_ff, *type);
        }
        w.write(out);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "enclave-synth: %s\n", e.what());
        return 1;
    }
    return 0;
}
