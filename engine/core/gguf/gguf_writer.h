// GgufWriter: builds a GGUF v3 file in memory and writes it atomically (temp file + rename), so a failed
// write (full disk) never leaves a truncated file under the final name. Used by tests and the synthetic
// model tool; not on any serving path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf/gguf_file.h"

namespace enclave::gguf {

class GgufWriter {
public:
    explicit GgufWriter(uint32_t alignment = 32);

    void set_uint32(std::string_view key, uint32_t v);
    void set_int32(std::string_view key, int32_t v);
    void set_uint64(std::string_view key, uint64_t v);
    void set_float32(std::string_view key, float v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    void set_string_array(std::string_view key, const std::vector<std::string>& v);
    void set_float32_array(std::string_view key, const std::vector<float>& v);
    void set_int32_array(std::string_view key, const std::vector<int32_t>& v);
    // Setting a key twice replaces its value; keys keep the order in which they were first set.

    // Adds a tensor whose data is already encoded in `type` (bytes.size() must equal the encoded size).
    void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne, std::vector<uint8_t> bytes);
    // Adds a tensor from float values, quantizing with the reference quantizer of `type`.
    void add_tensor_f32(std::string_view name, TensorType type, const std::vector<int64_t>& ne, const std::vector<float>& values);

    std::vector<uint8_t> to_bytes() const;
    void write(const std::filesystem::path& path) const;  // throws Error naming the path and errno text

private:
    struct Entry;
    uint32_t alignment_;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> kv_;  // key -> encoded (type + value) bytes
    struct PendingTensor {
        std::string name;
        TensorType type;
        std::vector<int64_t> ne;
        std::vector<uint8_t> bytes;
    };
    std::vector<PendingTensor> tensors_;
    void set_raw(std::string_view key, std::vector<uint8_t> encoded);
};

}  // namespace enclave::gguf
