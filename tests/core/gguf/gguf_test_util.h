// Helpers of the GGUF tests: a byte builder for hand-made (often malformed) files, whose field offsets
// the tests know exactly, and a temporary directory that removes itself.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf/gguf_file.h"

// Printers for CHECK_EQ's failure messages.
namespace enclave::gguf {
inline std::ostream& operator<<(std::ostream& os, ValueType t) { return os << value_type_name(t); }
}  // namespace enclave::gguf
namespace enclave {
inline std::ostream& operator<<(std::ostream& os, TensorType t) { return os << static_cast<uint32_t>(t); }
}  // namespace enclave

namespace gguf_test {

// Appends little-endian GGUF fields; `mark()` returns the offset where the next field starts.
class Bytes {
public:
    uint64_t mark() const { return data.size(); }
    Bytes& raw(std::string_view s) {
        data.insert(data.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& u8(uint8_t v) { return le(v, 1); }
    Bytes& u16(uint16_t v) { return le(v, 2); }
    Bytes& u32(uint32_t v) { return le(v, 4); }
    Bytes& u64(uint64_t v) { return le(v, 8); }
    Bytes& f32(float v) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        return u32(bits);
    }
    Bytes& str(std::string_view s) {
        u64(s.size());
        return raw(s);
    }
    // magic, version, tensor_count, kv_count
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        raw("GGUF");
        u32(version);
        u64(n_tensors);
        return u64(n_kv);
    }
    Bytes& kv_u32(std::string_view key, uint32_t v) {
        str(key);
        u32(4);
        return u32(v);
    }
    Bytes& kv_str(std::string_view key, std::string_view v) {
        str(key);
        u32(8);
        return str(v);
    }
    // name, n_dims, ne..., type, offset
    Bytes& tensor(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
        str(name);
        u32(static_cast<uint32_t>(ne.size()));
        for (uint64_t d : ne) u64(d);
        u32(type);
        return u64(offset);
    }
    Bytes& pad_to(uint64_t alignment, uint8_t fill = 0) {
        while (data.size() % alignment) data.push_back(fill);
        return *this;
    }
    Bytes& zeros(size_t n) {
        data.insert(data.end(), n, 0);
        return *this;
    }

    std::vector<uint8_t> data;

private:
    Bytes& le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) data.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
};

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "enclave-gguf-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

inline std::filesystem::path write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + p.string());
    return p;
}

inline std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace gguf_test
