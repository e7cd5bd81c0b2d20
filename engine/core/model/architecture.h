// Architecture: what distinguishes one decoder-only transformer family from another. Each family is one
// file (llama.cpp, qwen2.cpp) that fills in an ArchitectureSpec; the shared block in transformer.cpp runs
// all of them. docs/adding-an-architecture.md says how to add one.
#pragma once

#include <span>
#include <string_view>

#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"

namespace enclave {

struct ArchitectureSpec {
    std::string_view name;  // general.architecture value
    bool rope_neox;         // rotate halves (NeoX/GPT-J style) instead of adjacent pairs
    bool qkv_bias;          // attn_q/k/v.bias are required (qwen2); otherwise optional
    // Hook for keys only this family has; may adjust the config. Null when there are none.
    void (*read_extra_config)(const gguf::GgufFile& file, ModelConfig& config);
};

// The architectures this build knows, one entry per file under engine/core/model/.
std::span<const ArchitectureSpec> known_architectures();
// nullptr when unknown.
const ArchitectureSpec* find_architecture(std::string_view name);

// Defined by the per-architecture files.
ArchitectureSpec llama_architecture();
ArchitectureSpec qwen2_architecture();

}  // namespace enclave
