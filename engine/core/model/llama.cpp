// llama: Llama 2/3.x, SmolLM2, DeepSeek-R1-Distill-Llama, Mistral-style files that say "llama".
// Adjacent-pair RoPE (the converter permutes Q/K rows for it), optional attention biases, optional
// rope_freqs.weight (Llama 3.1 long-context frequency factors), optional separate output matrix.
#include "core/model/architecture.h"

namespace enclave {

ArchitectureSpec llama_architecture() {
    return ArchitectureSpec{
        .name = "llama",
        .rope_neox = false,
        .qkv_bias = false,
        .read_extra_config = nullptr,
    };
}

}  // namespace enclave
