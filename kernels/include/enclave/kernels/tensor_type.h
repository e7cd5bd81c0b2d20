// Tensor element types as GGUF numbers them (the values are ggml's `ggml_type`, part of the file format)
// and their block geometry. Only the types Enclave can read, compute with or use as activations are listed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace enclave {

enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 8,
    Q8_1 = 9,   // activation type for Q4_1 dot products
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,  // activation type for K-quant dot products
    I32 = 26,   // token ids, positions and block tables inside the engine (not a weight type)
    BF16 = 30,
};

struct TensorTypeInfo {
    TensorType type;
    std::string_view name;   // lower-case as llama.cpp prints it: "f32", "q4_k", ...
    int64_t block_elems;     // elements per block (1 for float types)
    size_t block_bytes;      // bytes per block
    bool is_quantized;
    bool is_weight_type;     // may appear as a weight in a model file (Q8_1 and Q8_K are activation-only)
};

// Geometry of a raw GGUF type number; nullopt for a number Enclave does not support.
std::optional<TensorTypeInfo> tensor_type_info(uint32_t raw_type) noexcept;
TensorTypeInfo tensor_type_info(TensorType type) noexcept;  // every enumerator is known
std::string_view tensor_type_name(TensorType type) noexcept;
std::optional<TensorType> tensor_type_from_name(std::string_view name) noexcept;

// Bytes of a row of n_elems elements, or nullopt when n_elems is negative or not a whole number of blocks.
std::optional<size_t> row_bytes(TensorType type, int64_t n_elems) noexcept;

}  // namespace enclave
