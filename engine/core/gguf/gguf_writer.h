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
    // alignment: a nonzero power of two (else InvalidArgument); written as general.alignment unless 32.
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
    // Any value a GgufFile can hold (every scalar type and arrays of them), e.g. to copy metadata from a
    // file. Integers must fit the declared type (UINT64 arrays hold the bits in `ints`, as the reader does).
    void set_value(std::string_view key, const Value& v);
    // Setting a key twice replaces its value; keys keep the order in which they were first set.
    // Keys longer than max_name_bytes, and general.alignment with another type or value than the
    // constructor's, throw InvalidArgument.

    // Tensors are laid out in the order added, each at an aligned offset. A shape the reader would reject
    // (not 1..4 dims, a dimension <= 0, ne[0] not a multiple of the block size), a duplicate name or a
    // size mismatch throws InvalidArgument.
    // Adds a tensor whose data is already encoded in `type` (bytes.size() must equal the encoded size).
    void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne, std::vector<uint8_t> bytes);
    // Adds a tensor from float values, quantizing with the reference quantizer of `type`.
    void add_tensor_f32(std::string_view name, TensorType type, const std::vector<int64_t>& ne, const std::vector<float>& values);

    std::vector<uint8_t> to_bytes() const;
    // Writes `path.tmp-XXXXXX` beside `path`, fsyncs it and renames it over `path`; on failure the
    // temporary file is removed and an existing file at `path` is left untouched.
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
    std::vector<uint8_t> encode_head() const;  // header, metadata, tensor table, padding to the data section
};

}  // namespace enclave::gguf
