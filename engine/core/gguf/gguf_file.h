// GgufFile: a read-only, memory-mapped GGUF (v2 or v3) file, fully validated when opened.
//
// Contract
// - open() maps the file and parses the header, the metadata and the tensor table. Every count, string
//   length, array length, dimension, dimension product, tensor type, offset and the alignment is checked
//   with overflow-safe arithmetic against the file size before it is used; nothing is allocated in
//   proportion to a count before the count is known to fit in the remaining bytes. A violation throws
//   ModelFormatError whose message names the file, the field (key or tensor name) and the byte offset.
// - Tensor data ranges are checked to lie inside the file, be aligned, and not overlap each other.
// - Hard limits beyond the file size (documented below: tensor and key counts, name length, dimensions)
//   reject files no real model needs; they keep memory bounded by the file size: at most about 8 bytes
//   per file byte for metadata arrays (integers widen to 64 bits), plus the tables.
// - I/O problems (missing, unreadable, not a regular file) throw Error naming the path and strerror; an
//   empty file is a ModelFormatError. The mapping is read-only and private: if another process
//   truncates the file while it is mapped, touching the lost pages raises SIGBUS (as for any mmap).
// - After open() the object is immutable; all const methods may be called from any thread.
// - Tensor data pointers point into the mapping and stay valid for the lifetime of the GgufFile
//   (it is movable, not copyable; moving keeps the mapping).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/common/error.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave::gguf {

// Limits of the reader (a file over them is rejected with ModelFormatError).
inline constexpr uint64_t max_tensor_count = uint64_t{1} << 20;
inline constexpr uint64_t max_kv_count = uint64_t{1} << 20;
inline constexpr uint64_t max_name_bytes = 65535;  // a metadata key or a tensor name
inline constexpr uint32_t max_dims = 4;
inline constexpr uint64_t default_alignment = 32;  // when general.alignment is absent

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t) noexcept;

// An array value: all elements of one scalar or string type (arrays of arrays are rejected as unsupported).
struct Array {
    ValueType element_type;
    // Exactly one of these is filled, by element type: integers (any width, bool) widen to int64 except
    // UINT64 which is kept as uint64 bits in `ints` too; floats widen to double; strings as std::string.
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;
    size_t size() const;
};

struct Value {
    ValueType type;
    std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;
};

struct KeyValue {
    std::string key;
    Value value;
    uint64_t offset;  // byte offset of the key in the file, for error messages
};

struct TensorInfo {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;  // dimensions, ne[0] innermost (contiguous), as GGUF stores them; 1..4 of them
    uint64_t data_offset;     // absolute byte offset of the data in the file
    uint64_t n_bytes;         // size of the data in bytes
    int64_t n_elements() const;
};

class GgufFile {
public:
    static GgufFile open(const std::filesystem::path& path);  // throws ModelFormatError, Error (I/O)

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::filesystem::path& path() const;
    uint32_t version() const;
    uint64_t file_size() const;
    uint64_t alignment() const;  // general.alignment or 32

    const std::vector<KeyValue>& metadata() const;
    const Value* find(std::string_view key) const;  // nullptr when absent

    // Typed getters: nullopt when the key is absent; ModelFormatError naming the key when present with a
    // type that does not convert losslessly (any integer type converts to another if the value fits).
    std::optional<uint64_t> get_uint(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;  // accepts float and integer values
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    const Array* get_array(std::string_view key) const;  // nullptr when absent; throws when not an array

    const std::vector<TensorInfo>& tensors() const;
    const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent
    const uint8_t* tensor_data(const TensorInfo& t) const;      // into the mapping

    // Where the tensor data begins (aligned offset after the tensor table) and the mapped bytes.
    uint64_t data_section_offset() const;
    const uint8_t* mapped_bytes() const;

private:
    struct Impl;
    explicit GgufFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace enclave::gguf
