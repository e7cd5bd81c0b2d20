// GgufWriter: encodes GGUF v3 (little-endian) and writes it atomically. Contract in gguf_writer.h.
#include "core/gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "enclave/kernels/quant.h"

namespace enclave::gguf {

namespace {

constexpr uint32_t gguf_version = 3;
constexpr std::string_view alignment_key = "general.alignment";

template <class U>
void put_le(std::vector<uint8_t>& out, U v) {
    static_assert(std::is_unsigned_v<U>);
    for (size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put_le<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

void put_type(std::vector<uint8_t>& out, ValueType t) { put_le<uint32_t>(out, static_cast<uint32_t>(t)); }

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

[[noreturn]] void invalid(std::string_view key, const std::string& problem) {
    throw InvalidArgument("GGUF writer: key '" + std::string(key) + "': " + problem);
}

// Bytes and signedness of an integer value type.
struct IntegerType {
    int bytes;
    bool is_signed;
};

IntegerType integer_type(ValueType t, std::string_view key) {
    switch (t) {
        case ValueType::UINT8: return {1, false};
        case ValueType::INT8: return {1, true};
        case ValueType::UINT16: return {2, false};
        case ValueType::INT16: return {2, true};
        case ValueType::UINT32: return {4, false};
        case ValueType::INT32: return {4, true};
        case ValueType::UINT64: return {8, false};
        case ValueType::INT64: return {8, true};
        default: invalid(key, "value type " + std::string(value_type_name(t)) + " is not an integer type");
    }
}

// Encodes an integer held as `bits` (two's complement when `from_signed`) as type t, checking it fits.
void put_integer(std::vector<uint8_t>& out, ValueType t, bool from_signed, uint64_t bits, std::string_view key) {
    const IntegerType it = integer_type(t, key);
    const auto sv = static_cast<int64_t>(bits);
    const int value_bits = 8 * it.bytes;
    bool fits;
    if (it.is_signed) {
        const int64_t hi = value_bits == 64 ? INT64_MAX : (int64_t{1} << (value_bits - 1)) - 1;
        fits = from_signed ? (sv >= -hi - 1 && sv <= hi) : bits <= static_cast<uint64_t>(hi);
    } else {
        const uint64_t hi = value_bits == 64 ? UINT64_MAX : (uint64_t{1} << value_bits) - 1;
        fits = !(from_signed && sv < 0) && bits <= hi;
    }
    if (!fits)
        invalid(key, (from_signed ? std::to_string(sv) : std::to_string(bits)) + " does not fit in " +
                         std::string(value_type_name(t)));
    for (int i = 0; i < it.bytes; ++i) out.push_back(static_cast<uint8_t>(bits >> (8 * i)));  // truncates to width
}

void put_float(std::vector<uint8_t>& out, ValueType t, double v) {
    if (t == ValueType::FLOAT32)
        put_le<uint32_t>(out, std::bit_cast<uint32_t>(static_cast<float>(v)));
    else
        put_le<uint64_t>(out, std::bit_cast<uint64_t>(v));
}

bool is_integer_type(ValueType t) {
    switch (t) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::UINT16:
        case ValueType::INT16:
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::UINT64:
        case ValueType::INT64: return true;
        default: return false;
    }
}

bool is_float_type(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

void put_array(std::vector<uint8_t>& out, const Array& a, std::string_view key) {
    const ValueType et = a.element_type;
    if (et == ValueType::ARRAY) invalid(key, "arrays of arrays are not supported");
    if (static_cast<uint32_t>(et) > static_cast<uint32_t>(ValueType::FLOAT64))
        invalid(key, "unknown array element type");
    put_type(out, et);
    if (et == ValueType::STRING) {
        put_le<uint64_t>(out, a.strings.size());
        for (const auto& s : a.strings) put_string(out, s);
    } else if (is_float_type(et)) {
        put_le<uint64_t>(out, a.floats.size());
        for (double f : a.floats) put_float(out, et, f);
    } else if (et == ValueType::BOOL) {
        put_le<uint64_t>(out, a.ints.size());
        for (int64_t i : a.ints) put_le<uint8_t>(out, i != 0 ? 1 : 0);
    } else {
        put_le<uint64_t>(out, a.ints.size());
        // UINT64 elements are stored as their bits in int64 (see Array), so they are unsigned here.
        const bool is_signed = et != ValueType::UINT64;
        for (int64_t i : a.ints) put_integer(out, et, is_signed, static_cast<uint64_t>(i), key);
    }
}

[[noreturn]] void data_mismatch(std::string_view key, ValueType t) {
    invalid(key, "data does not match value type " + std::string(value_type_name(t)));
}

std::vector<uint8_t> encode_value(const Value& v, std::string_view key) {
    std::vector<uint8_t> out;
    put_type(out, v.type);
    auto mismatch = [&] { data_mismatch(key, v.type); };
    if (is_integer_type(v.type)) {
        if (const auto* u = std::get_if<uint64_t>(&v.data))
            put_integer(out, v.type, false, *u, key);
        else if (const auto* i = std::get_if<int64_t>(&v.data))
            put_integer(out, v.type, true, static_cast<uint64_t>(*i), key);
        else
            mismatch();
    } else if (is_float_type(v.type)) {
        const auto* d = std::get_if<double>(&v.data);
        if (!d) mismatch();
        put_float(out, v.type, *d);
    } else if (v.type == ValueType::BOOL) {
        const auto* b = std::get_if<bool>(&v.data);
        if (!b) mismatch();
        put_le<uint8_t>(out, *b ? 1 : 0);
    } else if (v.type == ValueType::STRING) {
        const auto* s = std::get_if<std::string>(&v.data);
        if (!s) mismatch();
        put_string(out, *s);
    } else if (v.type == ValueType::ARRAY) {
        const auto* a = std::get_if<Array>(&v.data);
        if (!a) mismatch();
        put_array(out, *a, key);
    } else {
        invalid(key, "unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
    }
    return out;
}

std::vector<uint8_t> encode_u32(uint32_t v) {
    std::vector<uint8_t> out;
    put_type(out, ValueType::UINT32);
    put_le<uint32_t>(out, v);
    return out;
}

[[noreturn]] void invalid_tensor(std::string_view name, const std::string& problem) {
    throw InvalidArgument("GGUF writer: tensor '" + std::string(name) + "': " + problem);
}

// Checks a tensor shape as the reader would and returns its encoded size in bytes.
uint64_t checked_tensor_bytes(std::string_view name, TensorType type, const std::vector<int64_t>& ne) {
    auto fail = [&](const std::string& problem) { invalid_tensor(name, problem); };
    const std::optional<TensorTypeInfo> info = tensor_type_info(static_cast<uint32_t>(type));
    if (!info) invalid_tensor(name, "unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
    if (name.size() > max_name_bytes) fail("name longer than " + std::to_string(max_name_bytes) + " bytes");
    if (ne.empty() || ne.size() > max_dims) fail(std::to_string(ne.size()) + " dimensions (1..4 allowed)");
    int64_t n = 1;
    for (int64_t d : ne) {
        if (d <= 0) fail("dimension " + std::to_string(d) + " is not positive");
        if (__builtin_mul_overflow(n, d, &n)) fail("element count overflows int64");
    }
    if (ne[0] % info->block_elems != 0)
        fail("ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " + std::string(info->name) +
             " block size " + std::to_string(info->block_elems));
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n / info->block_elems), uint64_t{info->block_bytes}, &bytes))
        fail("data size overflows");
    return bytes;
}

// Writes all of buf, retrying short writes and EINTR; returns errno or 0.
int write_all(int fd, const uint8_t* p, size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return 0;
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        throw InvalidArgument("GGUF writer: alignment " + std::to_string(alignment) + " is not a nonzero power of two");
    if (alignment != default_alignment) set_raw(alignment_key, encode_u32(alignment));
}

void GgufWriter::set_raw(std::string_view key, std::vector<uint8_t> encoded) {
    if (key.size() > max_name_bytes)
        invalid(key.substr(0, 64), "key longer than " + std::to_string(max_name_bytes) + " bytes");
    // The reader derives the layout from general.alignment; a different value would misplace every tensor.
    if (key == alignment_key && encoded != encode_u32(alignment_))
        invalid(key,
                "general.alignment is set by the GgufWriter constructor (uint32 " + std::to_string(alignment_) + ")");
    for (auto& [k, v] : kv_) {
        if (k == key) {
            v = std::move(encoded);
            return;
        }
    }
    kv_.emplace_back(std::string(key), std::move(encoded));
}

void GgufWriter::set_uint32(std::string_view key, uint32_t v) { set_raw(key, encode_u32(v)); }
void GgufWriter::set_int32(std::string_view key, int32_t v) { set_value(key, Value{ValueType::INT32, int64_t{v}}); }
void GgufWriter::set_uint64(std::string_view key, uint64_t v) { set_value(key, Value{ValueType::UINT64, v}); }
void GgufWriter::set_float32(std::string_view key, float v) { set_value(key, Value{ValueType::FLOAT32, double{v}}); }
void GgufWriter::set_bool(std::string_view key, bool v) { set_value(key, Value{ValueType::BOOL, v}); }

void GgufWriter::set_string(std::string_view key, std::string_view v) {
    std::vector<uint8_t> out;
    put_type(out, ValueType::STRING);
    put_string(out, v);
    set_raw(key, std::move(out));
}

void GgufWriter::set_string_array(std::string_view key, const std::vector<std::string>& v) {
    std::vector<uint8_t> out;
    put_type(out, ValueType::ARRAY);
    put_type(out, ValueType::STRING);
    put_le<uint64_t>(out, v.size());
    for (const auto& s : v) put_string(out, s);
    set_raw(key, std::move(out));
}

void GgufWriter::set_float32_array(std::string_view key, const std::vector<float>& v) {
    std::vector<uint8_t> out;
    put_type(out, ValueType::ARRAY);
    put_type(out, ValueType::FLOAT32);
    put_le<uint64_t>(out, v.size());
    for (float f : v) put_le<uint32_t>(out, std::bit_cast<uint32_t>(f));
    set_raw(key, std::move(out));
}

void GgufWriter::set_int32_array(std::string_view key, const std::vector<int32_t>& v) {
    std::vector<uint8_t> out;
    put_type(out, ValueType::ARRAY);
    put_type(out, ValueType::INT32);
    put_le<uint64_t>(out, v.size());
    for (int32_t i : v) put_le<uint32_t>(out, static_cast<uint32_t>(i));
    set_raw(key, std::move(out));
}

void GgufWriter::set_value(std::string_view key, const Value& v) { set_raw(key, encode_value(v, key)); }

void GgufWriter::add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                            std::vector<uint8_t> bytes) {
    const uint64_t expected = checked_tensor_bytes(name, type, ne);
    if (bytes.size() != expected)
        throw InvalidArgument("GGUF writer: tensor '" + std::string(name) + "': " + std::to_string(bytes.size()) +
                              " bytes given, its shape and type need " + std::to_string(expected));
    for (const auto& t : tensors_)
        if (t.name == name) throw InvalidArgument("GGUF writer: duplicate tensor name '" + std::string(name) + "'");
    tensors_.push_back(PendingTensor{std::string(name), type, ne, std::move(bytes)});
}

void GgufWriter::add_tensor_f32(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                                const std::vector<float>& values) {
    const uint64_t n_bytes = checked_tensor_bytes(name, type, ne);
    const int64_t row_elems = ne[0];
    const auto n_values = static_cast<uint64_t>(values.size());
    uint64_t n_elements = 1;
    for (int64_t d : ne) n_elements *= static_cast<uint64_t>(d);
    if (n_values != n_elements)
        throw InvalidArgument("GGUF writer: tensor '" + std::string(name) + "': " + std::to_string(n_values) +
                              " values given, its shape has " + std::to_string(n_elements));

    std::vector<uint8_t> bytes(static_cast<size_t>(n_bytes));
    const uint64_t rows = n_elements / static_cast<uint64_t>(row_elems);
    const uint64_t row_size = n_bytes / rows;
    for (uint64_t r = 0; r < rows; ++r) {
        const float* src = values.data() + r * static_cast<uint64_t>(row_elems);
        uint8_t* dst = bytes.data() + r * row_size;
        if (type == TensorType::F32) {
            // Bytes in file order (little-endian) whatever the host, as the reader expects.
            for (int64_t i = 0; i < row_elems; ++i) {
                const uint32_t bits = std::bit_cast<uint32_t>(src[i]);
                for (int b = 0; b < 4; ++b) dst[4 * i + b] = static_cast<uint8_t>(bits >> (8 * b));
            }
            continue;
        }
        const kernels::Status st = kernels::quantize_row_ref(type, src, dst, row_elems);
        if (!st)
            throw InvalidArgument("GGUF writer: tensor '" + std::string(name) + "': cannot quantize to " +
                                  std::string(tensor_type_name(type)) + ": " + st.message());
    }
    add_tensor(name, type, ne, std::move(bytes));
}

std::vector<uint8_t> GgufWriter::encode_head() const {
    std::vector<uint8_t> out{'G', 'G', 'U', 'F'};
    put_le<uint32_t>(out, gguf_version);
    put_le<uint64_t>(out, tensors_.size());
    put_le<uint64_t>(out, kv_.size());
    for (const auto& [key, encoded] : kv_) {
        put_string(out, key);
        out.insert(out.end(), encoded.begin(), encoded.end());
    }
    uint64_t offset = 0;  // relative to the data section
    for (const auto& t : tensors_) {
        put_string(out, t.name);
        put_le<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
        for (int64_t d : t.ne) put_le<uint64_t>(out, static_cast<uint64_t>(d));
        put_le<uint32_t>(out, static_cast<uint32_t>(t.type));
        put_le<uint64_t>(out, offset);
        offset += align_up(t.bytes.size(), alignment_);
    }
    out.resize(static_cast<size_t>(align_up(out.size(), alignment_)), 0);
    return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out = encode_head();
    for (const auto& t : tensors_) {
        out.insert(out.end(), t.bytes.begin(), t.bytes.end());
        out.resize(static_cast<size_t>(align_up(out.size(), alignment_)), 0);
    }
    return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
    std::string tmp = path.string() + ".tmp-XXXXXX";
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        throw Error(path.string() + ": cannot create temporary file " + tmp + ": " + std::strerror(err));
    }
    // Every failure below closes and removes the temporary file, so no partial file is left behind.
    auto fail = [&](const char* step, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(path.string() + ": " + step + " (temporary file " + tmp + "): " + std::strerror(err));
    };
    if (::fchmod(fd, 0644) != 0) fail("cannot set permissions", errno);  // mkostemp creates it 0600

    const std::vector<uint8_t> head = encode_head();
    static constexpr uint8_t zeros[4096] = {};
    if (int err = write_all(fd, head.data(), head.size())) fail("cannot write", err);
    for (const auto& t : tensors_) {
        if (int err = write_all(fd, t.bytes.data(), t.bytes.size())) fail("cannot write", err);
        uint64_t pad = align_up(t.bytes.size(), alignment_) - t.bytes.size();
        while (pad > 0) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof zeros));
            if (int err = write_all(fd, zeros, n)) fail("cannot write", err);
            pad -= n;
        }
    }
    if (::fsync(fd) != 0) fail("cannot sync", errno);
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path.string() + ": cannot close (temporary file " + tmp + "): " + std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(path.string() + ": cannot rename " + tmp + " to it: " + std::strerror(err));
    }
    // Make the rename itself durable; best effort, since the data is already safe under the new name.
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace enclave::gguf
