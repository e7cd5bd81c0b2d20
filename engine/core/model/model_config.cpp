#include "core/model/model_config.h"

#include <string>

namespace enclave {
namespace {

std::string where(const gguf::GgufFile& f, const std::string& key) { return f.path().string() + ": " + key; }

int64_t required_count(const gguf::GgufFile& f, const std::string& key, int64_t max) {
    const auto v = f.get_uint(key);
    if (!v) throw ModelFormatError(where(f, key) + " is missing");
    if (*v == 0 || *v > static_cast<uint64_t>(max))
        throw ModelFormatError(where(f, key) + " = " + std::to_string(*v) + " is outside 1.." + std::to_string(max));
    return static_cast<int64_t>(*v);
}

int64_t optional_count(const gguf::GgufFile& f, const std::string& key, int64_t fallback, int64_t max) {
    if (!f.find(key)) return fallback;
    return required_count(f, key, max);
}

float optional_positive_float(const gguf::GgufFile& f, const std::string& key, float fallback) {
    const auto v = f.get_float(key);
    if (!v) return fallback;
    if (!(*v > 0.0) || *v > 1e12) throw ModelFormatError(where(f, key) + " = " + std::to_string(*v) + " is not a positive number");
    return static_cast<float>(*v);
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const gguf::GgufFile& f, const std::string& arch) {
    // Bounds are generous sanity limits: far above any released model, low enough that sizes computed from
    // them cannot overflow 64 bits.
    ModelConfig c;
    c.architecture = arch;
    c.name = f.get_string("general.name").value_or("");
    const std::string p = arch + ".";
    c.n_ctx_train = required_count(f, p + "context_length", int64_t{1} << 24);
    c.n_embd = required_count(f, p + "embedding_length", 1 << 17);
    c.n_layer = required_count(f, p + "block_count", 1024);
    c.n_ff = required_count(f, p + "feed_forward_length", 1 << 20);
    c.n_head = required_count(f, p + "attention.head_count", 1024);
    c.n_kv_head = optional_count(f, p + "attention.head_count_kv", c.n_head, 1024);
    if (c.n_head % c.n_kv_head != 0)
        throw ModelFormatError(where(f, p + "attention.head_count_kv") + " = " + std::to_string(c.n_kv_head) +
                               " does not divide attention.head_count = " + std::to_string(c.n_head));
    if (!f.find(p + "attention.key_length") && c.n_embd % c.n_head != 0)
        throw ModelFormatError(where(f, p + "embedding_length") + " is not a multiple of attention.head_count");
    c.head_dim = optional_count(f, p + "attention.key_length", c.n_embd / c.n_head, 512);
    if (const auto vl = f.get_uint(p + "attention.value_length"); vl && static_cast<int64_t>(*vl) != c.head_dim)
        throw ModelFormatError(where(f, p + "attention.value_length") + " differs from key_length (unsupported)");
    c.n_rot = optional_count(f, p + "rope.dimension_count", c.head_dim, c.head_dim);
    if (c.n_rot % 2 != 0) throw ModelFormatError(where(f, p + "rope.dimension_count") + " is odd");
    c.rms_eps = optional_positive_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5f);
    c.rope_freq_base = optional_positive_float(f, p + "rope.freq_base", 10000.0f);
    if (const auto type = f.get_string(p + "rope.scaling.type"); type && *type != "none") {
        if (*type != "linear")
            throw ModelFormatError(where(f, p + "rope.scaling.type") + " = \"" + *type + "\" is not supported (linear, none)");
        c.rope_freq_scale = 1.0f / optional_positive_float(f, p + "rope.scaling.factor", 1.0f);
    }
    return c;
}

}  // namespace enclave
