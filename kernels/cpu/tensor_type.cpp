// Geometry of the GGUF tensor types Enclave supports (see tensor_type.h).
#include "enclave/kernels/tensor_type.h"

#include <array>
#include <limits>

namespace enclave {
namespace {

// One row per supported type; the sizes are those of ggml's block structs (checked against quant.h's
// static_asserts in the tests), so row sizes agree with GGUF files byte for byte.
constexpr std::array<TensorTypeInfo, 12> k_types = {{
    {TensorType::F32, "f32", 1, 4, false, true},
    {TensorType::F16, "f16", 1, 2, false, true},
    {TensorType::Q4_0, "q4_0", 32, 18, true, true},
    {TensorType::Q4_1, "q4_1", 32, 20, true, true},
    {TensorType::Q8_0, "q8_0", 32, 34, true, true},
    {TensorType::Q8_1, "q8_1", 32, 36, true, false},
    {TensorType::Q4_K, "q4_k", 256, 144, true, true},
    {TensorType::Q5_K, "q5_k", 256, 176, true, true},
    {TensorType::Q6_K, "q6_k", 256, 210, true, true},
    {TensorType::Q8_K, "q8_k", 256, 292, true, false},
    {TensorType::I32, "i32", 1, 4, false, false},
    {TensorType::BF16, "bf16", 1, 2, false, true},
}};

const TensorTypeInfo* find_info(uint32_t raw_type) noexcept {
    for (const auto& info : k_types)
        if (static_cast<uint32_t>(info.type) == raw_type) return &info;
    return nullptr;
}

}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t raw_type) noexcept {
    const TensorTypeInfo* info = find_info(raw_type);
    if (!info) return std::nullopt;
    return *info;
}

TensorTypeInfo tensor_type_info(TensorType type) noexcept {
    const TensorTypeInfo* info = find_info(static_cast<uint32_t>(type));
    // Every enumerator has a row above; an out-of-range cast value gets a zero-sized placeholder that
    // makes row_bytes() fail instead of a crash.
    if (!info) return {type, "unknown", 0, 0, false, false};
    return *info;
}

std::string_view tensor_type_name(TensorType type) noexcept {
    return tensor_type_info(type).name;
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) noexcept {
    for (const auto& info : k_types)
        if (info.name == name) return info.type;
    return std::nullopt;
}

std::optional<size_t> row_bytes(TensorType type, int64_t n_elems) noexcept {
    const TensorTypeInfo info = tensor_type_info(type);
    if (n_elems < 0 || info.block_elems <= 0 || n_elems % info.block_elems != 0) return std::nullopt;
    const uint64_t n_blocks = static_cast<uint64_t>(n_elems / info.block_elems);
    // A corrupt file can claim any element count: refuse sizes that overflow size_t instead of wrapping.
    if (n_blocks > std::numeric_limits<size_t>::max() / info.block_bytes) return std::nullopt;
    return static_cast<size_t>(n_blocks) * info.block_bytes;
}

}  // namespace enclave
