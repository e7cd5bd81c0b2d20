// The shared decoder block of the llama-like families: weights bound from the file with their shapes
// checked, and the step that runs them (pre-norm attention with GQA and RoPE, SwiGLU feed-forward).
#pragma once

#include <vector>

#include "core/backend/backend.h"
#include "core/gguf/gguf_file.h"
#include "core/model/architecture.h"
#include "core/model/model_config.h"

namespace enclave {

struct LayerWeights {
    Tensor attn_norm;  // [n_embd] f32
    Tensor wq;         // [q_dim, n_embd]
    Tensor wk;         // [kv_dim, n_embd]
    Tensor wv;         // [kv_dim, n_embd]
    Tensor wo;         // [n_embd, q_dim]
    Tensor bq, bk, bv, bo;  // [q_dim], [kv_dim], [kv_dim], [n_embd] f32; data == nullptr when absent
    Tensor ffn_norm;   // [n_embd] f32
    Tensor ffn_gate;   // [n_ff, n_embd]
    Tensor ffn_up;     // [n_ff, n_embd]
    Tensor ffn_down;   // [n_embd, n_ff]
};

struct TransformerWeights {
    Tensor tok_embd;     // [n_vocab, n_embd]
    Tensor output_norm;  // [n_embd] f32
    Tensor output;       // [n_vocab, n_embd] (tok_embd when tied)
    Tensor rope_freqs;   // [n_rot / 2] f32, or data == nullptr
    std::vector<LayerWeights> layers;  // [n_layer]
};

// Binds every tensor the spec and config call for; throws ModelFormatError naming the first problem.
// Fills config.n_vocab and config.tied_output from the tensors.
TransformerWeights bind_transformer_weights(const gguf::GgufFile& file, const ArchitectureSpec& spec,
                                            ModelConfig& config, Backend& backend);

}  // namespace enclave
