// qwen2: Qwen2/2.5 and DeepSeek-R1-Distill-Qwen. NeoX-style RoPE over the whole head and biases on the
// Q, K and V projections (none on the output projection).
#include "core/model/architecture.h"

namespace enclave {

ArchitectureSpec qwen2_architecture() {
    return ArchitectureSpec{
        .name = "qwen2",
        .rope_neox = true,
        .qkv_bias = true,
        .read_extra_config = nullptr,
    };
}

}  // namespace enclave
