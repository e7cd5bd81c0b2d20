// ModelConfig: the hyperparameters of a decoder-only transformer, read from a GGUF file's
// `<architecture>.*` keys and checked for consistency (every error names the key).
#pragma once

#include <cstdint>
#include <string>

#include "core/gguf/gguf_file.h"

namespace enclave {

struct ModelConfig {
    std::string architecture;  // general.architecture: "llama", "qwen2"
    std::string name;          // general.name, for display
    int64_t n_ctx_train = 0;   // context length the model was trained for
    int64_t n_embd = 0;        // hidden size
    int64_t n_layer = 0;
    int64_t n_ff = 0;          // feed-forward inner size
    int64_t n_head = 0;
    int64_t n_kv_head = 0;     // grouped-query attention: n_head is a multiple of it
    int64_t head_dim = 0;      // attention.key_length or n_embd / n_head
    int64_t n_rot = 0;         // rope.dimension_count or head_dim
    int64_t n_vocab = 0;       // rows of token_embd
    float rms_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
    bool rope_neox = false;        // set by the architecture
    bool qkv_bias = false;         // set by the architecture
    bool tied_output = false;      // no output.weight: the embedding matrix is reused

    int64_t q_dim() const { return n_head * head_dim; }
    int64_t kv_dim() const { return n_kv_head * head_dim; }

    // Reads the common keys for `architecture`; throws ModelFormatError naming a missing or bad key.
    static ModelConfig from_gguf(const gguf::GgufFile& file, const std::string& architecture);
};

}  // namespace enclave
