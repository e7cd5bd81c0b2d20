#include <array>

#include "core/model/architecture.h"

namespace enclave {

std::span<const ArchitectureSpec> known_architectures() {
    static const std::array<ArchitectureSpec, 2> table = {llama_architecture(), qwen2_architecture()};  // immutable
    return table;
}

const ArchitectureSpec* find_architecture(std::string_view name) {
    for (const auto& a : known_architectures())
        if (a.name == name) return &a;
    return nullptr;
}

}  // namespace enclave
