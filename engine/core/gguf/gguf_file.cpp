// GgufFile: maps a GGUF file and validates all of it before anything is used. Contract in gguf_file.h.
//
// The parser reads through a bounds-checked cursor: every read first checks the bytes left, and every
// count is checked against the bytes left (count * smallest encoding) before anything is reserved, so a
// hostile count can neither run past the mapping nor make us allocate in proportion to it.
#include "core/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <type_traits>
#include <utility>

namespace enclave::gguf {

namespace {

constexpr uint8_t gguf_magic[4] = {'G', 'G', 'U', 'F'};
constexpr uint64_t no_element = std::numeric_limits<uint64_t>::max();

// Smallest encodings, used to reject counts that cannot fit in the bytes left before looping over them.
constexpr uint64_t min_kv_bytes = 8 + 4 + 1;                   // key length, value type, a 1-byte value
constexpr uint64_t min_tensor_info_bytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, ne[0], type, offset

bool is_known_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::FLOAT64); }

// Bytes of one element of a scalar type in the file; for STRING the smallest (an empty string).
uint64_t min_encoded_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8:
        case ValueType::INT8:
        case ValueType::BOOL: return 1;
        case ValueType::UINT16:
        case ValueType::INT16: return 2;
        case ValueType::UINT32:
        case ValueType::INT32:
        case ValueType::FLOAT32: return 4;
        case ValueType::UINT64:
        case ValueType::INT64:
        case ValueType::FLOAT64:
        case ValueType::STRING: return 8;
        case ValueType::ARRAY: return 4 + 8;
    }
    return 1;
}

// Little-endian load that works on any host and any alignment (compilers turn it into one load).
template <class U>
U load_le(const uint8_t* p) {
    static_assert(std::is_unsigned_v<U>);
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
    return v;
}

// Keys and names are arbitrary bytes: quote them for messages with control and non-ASCII bytes escaped
// and long ones shortened, so a hostile name cannot flood or garble a log line.
std::string quote_name(std::string_view s) {
    constexpr size_t max_shown = 96;
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > max_shown) out += "...";
    out += "'";
    return out;
}

// The part of a message that says which field was wrong: "key 'general.name' value", "tensor 'x' ne[1]".
struct Field {
    std::string_view what;
    uint64_t element = no_element;  // index inside an array value

    std::string str() const {
        std::string s(what);
        if (element != no_element) s += " element " + std::to_string(element);
        return s;
    }
};

class Cursor {
public:
    Cursor(std::string path, const uint8_t* data, uint64_t size) : path_(std::move(path)), data_(data), size_(size) {}

    uint64_t pos() const { return pos_; }
    uint64_t size() const { return size_; }
    uint64_t remaining() const { return size_ - pos_; }
    const std::string& path() const { return path_; }

    [[noreturn]] void fail(uint64_t at, const Field& field, const std::string& problem) const {
        throw ModelFormatError(path_ + ": " + field.str() + " at byte " + std::to_string(at) + ": " + problem);
    }

    void need(uint64_t n, const Field& field) const {
        if (n > remaining())
            fail(pos_, field,
                 "file is truncated: " + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) + " left");
    }

    template <class U>
    U take(const Field& field) {
        need(sizeof(U), field);
        const U v = load_le<U>(data_ + pos_);
        pos_ += sizeof(U);
        return v;
    }

    // A gguf string: uint64 length + bytes. `max_len` is a hard cap for keys and names.
    std::string take_string(const Field& field, uint64_t max_len = std::numeric_limits<uint64_t>::max()) {
        const uint64_t at = pos_;
        const uint64_t len = take<uint64_t>(field);
        if (len > max_len)
            fail(
                at, field,
                "string length " + std::to_string(len) + " exceeds the limit of " + std::to_string(max_len) + " bytes");
        if (len > remaining())
            fail(at, field,
                 "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                     " bytes left in the file");
        std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
        pos_ += len;
        return s;
    }

    // Consumes n elements of fixed size already known to fit; used for arrays after their count check.
    const uint8_t* take_checked_block(uint64_t n_bytes) {
        const uint8_t* p = data_ + pos_;
        pos_ += n_bytes;
        return p;
    }

private:
    std::string path_;
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

// A scalar value of type t at p (known to hold enough bytes), as it is stored in Value / Array.
template <class Visit>
void decode_scalar(ValueType t, const uint8_t* p, Visit&& visit) {
    switch (t) {
        case ValueType::UINT8: visit(uint64_t{p[0]}); break;
        case ValueType::INT8: visit(int64_t{static_cast<int8_t>(p[0])}); break;
        case ValueType::UINT16: visit(uint64_t{load_le<uint16_t>(p)}); break;
        case ValueType::INT16: visit(int64_t{static_cast<int16_t>(load_le<uint16_t>(p))}); break;
        case ValueType::UINT32: visit(uint64_t{load_le<uint32_t>(p)}); break;
        case ValueType::INT32: visit(int64_t{static_cast<int32_t>(load_le<uint32_t>(p))}); break;
        case ValueType::UINT64: visit(load_le<uint64_t>(p)); break;
        case ValueType::INT64: visit(static_cast<int64_t>(load_le<uint64_t>(p))); break;
        case ValueType::FLOAT32: visit(static_cast<double>(std::bit_cast<float>(load_le<uint32_t>(p)))); break;
        case ValueType::FLOAT64: visit(std::bit_cast<double>(load_le<uint64_t>(p))); break;
        // Writers emit 0 or 1; any other byte is read as true rather than failing an otherwise sound file.
        case ValueType::BOOL: visit(p[0] != 0); break;
        case ValueType::STRING:
        case ValueType::ARRAY: break;  // not scalars; the callers handle them
    }
}

Array read_array(Cursor& cur, const std::string& ctx) {
    const std::string type_field = ctx + " array type";
    const uint64_t type_at = cur.pos();
    const uint32_t raw = cur.take<uint32_t>(Field{type_field});
    if (!is_known_value_type(raw))
        cur.fail(type_at, Field{type_field}, "unknown array element type " + std::to_string(raw));
    const auto et = static_cast<ValueType>(raw);
    if (et == ValueType::ARRAY) cur.fail(type_at, Field{type_field}, "arrays of arrays are not supported");

    const std::string count_field = ctx + " array count";
    const uint64_t count_at = cur.pos();
    const uint64_t count = cur.take<uint64_t>(Field{count_field});
    const uint64_t elem = min_encoded_size(et);
    if (count > cur.remaining() / elem)
        cur.fail(count_at, Field{count_field},
                 "array of " + std::to_string(count) + " " + std::string(value_type_name(et)) +
                     " elements cannot fit in the " + std::to_string(cur.remaining()) + " bytes left in the file");

    Array a{et, {}, {}, {}};
    const auto n = static_cast<size_t>(count);
    if (et == ValueType::STRING) {
        a.strings.reserve(n);
        for (uint64_t i = 0; i < count; ++i) a.strings.push_back(cur.take_string(Field{ctx, i}));
        return a;
    }
    const uint8_t* p = cur.take_checked_block(count * elem);
    if (et == ValueType::FLOAT32 || et == ValueType::FLOAT64)
        a.floats.reserve(n);
    else
        a.ints.reserve(n);
    for (uint64_t i = 0; i < count; ++i, p += elem) {
        decode_scalar(et, p, [&](auto v) {
            using V = decltype(v);
            if constexpr (std::is_same_v<V, double>)
                a.floats.push_back(v);
            else
                a.ints.push_back(static_cast<int64_t>(v));  // UINT64 keeps its bits, as the header says
        });
    }
    return a;
}

Value read_value(Cursor& cur, ValueType t, const std::string& ctx) {
    if (t == ValueType::ARRAY) return Value{t, read_array(cur, ctx)};
    const std::string value_field = ctx + " value";
    if (t == ValueType::STRING) return Value{t, cur.take_string(Field{value_field})};
    const uint64_t n = min_encoded_size(t);
    cur.need(n, Field{value_field});
    Value v{t, uint64_t{0}};
    decode_scalar(t, cur.take_checked_block(n), [&](auto x) { v.data = x; });
    return v;
}

struct TensorRecord {
    uint64_t info_at;     // where the tensor's info begins (its name)
    uint64_t offset_at;   // where its offset field is
    uint64_t rel_offset;  // offset relative to the data section
};

uint64_t align_up_checked(Cursor& cur, uint64_t x, uint64_t alignment, const Field& field) {
    const uint64_t rem = x % alignment;
    if (rem == 0) return x;
    uint64_t out = 0;
    if (__builtin_add_overflow(x, alignment - rem, &out)) cur.fail(x, field, "aligned offset overflows");
    return out;
}

}  // namespace

std::string_view value_type_name(ValueType t) noexcept {
    switch (t) {
        case ValueType::UINT8: return "uint8";
        case ValueType::INT8: return "int8";
        case ValueType::UINT16: return "uint16";
        case ValueType::INT16: return "int16";
        case ValueType::UINT32: return "uint32";
        case ValueType::INT32: return "int32";
        case ValueType::FLOAT32: return "float32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "uint64";
        case ValueType::INT64: return "int64";
        case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

size_t Array::size() const {
    switch (element_type) {
        case ValueType::STRING: return strings.size();
        case ValueType::FLOAT32:
        case ValueType::FLOAT64: return floats.size();
        default: return ints.size();
    }
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;  // validated when the file was opened: cannot overflow
    return n;
}

struct GgufFile::Impl {
    std::filesystem::path path;
    const uint8_t* map = nullptr;
    uint64_t size = 0;
    uint32_t version = 0;
    uint64_t alignment = default_alignment;
    uint64_t data_section_offset = 0;
    std::vector<KeyValue> metadata;
    std::map<std::string, size_t, std::less<>> key_index;
    std::vector<TensorInfo> tensors;
    std::map<std::string, size_t, std::less<>> tensor_index;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        if (map) munmap(const_cast<uint8_t*>(map), static_cast<size_t>(size));
    }

    void map_file();
    void parse();
    void parse_header(Cursor& cur, uint64_t& tensor_count, uint64_t& kv_count);
    void parse_kv(Cursor& cur, uint64_t index);
    void parse_tensor_info(Cursor& cur, uint64_t index, std::vector<TensorRecord>& records);
    void check_tensor_ranges(Cursor& cur, const std::vector<TensorRecord>& records);
    const KeyValue* find_kv(std::string_view key) const;
    [[noreturn]] void type_mismatch(const KeyValue& kv, std::string_view expected) const;
};

namespace {

[[noreturn]] void throw_io(const std::filesystem::path& path, const char* what, int err) {
    throw Error(path.string() + ": " + what + ": " + std::strerror(err));
}

// Closes the descriptor on every path out of map_file; the mapping does not need it once made.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

void GgufFile::Impl::map_file() {
    // O_NONBLOCK: opening a FIFO by mistake must fail below, not wait for a writer forever.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw_io(path, "cannot open", errno);
    FdGuard guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_io(path, "cannot stat", errno);
    if (!S_ISREG(st.st_mode)) throw Error(path.string() + ": not a regular file");
    if (st.st_size == 0) throw ModelFormatError(path.string() + ": file is empty (0 bytes), not a GGUF file");
    if (static_cast<uint64_t>(st.st_size) > std::numeric_limits<size_t>::max())
        throw Error(path.string() + ": file too large to map");
    size = static_cast<uint64_t>(st.st_size);
    void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) throw_io(path, "cannot map", errno);
    map = static_cast<const uint8_t*>(p);
    // Metadata is parsed front to back now; tensor data is read later by the model loader, which decides
    // its own access pattern, so only the first bytes get a hint.
    ::madvise(p, static_cast<size_t>(std::min<uint64_t>(size, uint64_t{1} << 24)), MADV_WILLNEED);
}

void GgufFile::Impl::parse_header(Cursor& cur, uint64_t& tensor_count, uint64_t& kv_count) {
    cur.need(4, Field{"header.magic"});
    const uint8_t* m = cur.take_checked_block(4);
    if (std::memcmp(m, gguf_magic, 4) != 0) {
        static constexpr char hex[] = "0123456789abcdef";
        std::string found;
        for (int i = 0; i < 4; ++i) {
            if (i) found += ' ';
            found += hex[m[i] >> 4];
            found += hex[m[i] & 15];
        }
        cur.fail(0, Field{"header.magic"},
                 "not a GGUF file (magic bytes " + found + ", expected 47 47 55 46 \"GGUF\")");
    }

    version = cur.take<uint32_t>(Field{"header.version"});
    if (version == 1)
        cur.fail(4, Field{"header.version"}, "GGUF v1 is not supported (only v2 and v3); re-convert the model");
    if (version != 2 && version != 3) {
        const uint32_t swapped = __builtin_bswap32(version);
        if (swapped == 2 || swapped == 3)
            cur.fail(4, Field{"header.version"},
                     "big-endian GGUF v" + std::to_string(swapped) + " is not supported (only little-endian)");
        cur.fail(4, Field{"header.version"}, "unsupported GGUF version " + std::to_string(version) + " (only 2 and 3)");
    }

    tensor_count = cur.take<uint64_t>(Field{"header.tensor_count"});
    kv_count = cur.take<uint64_t>(Field{"header.kv_count"});
    if (tensor_count > max_tensor_count)
        cur.fail(8, Field{"header.tensor_count"},
                 std::to_string(tensor_count) + " tensors exceed the limit of " + std::to_string(max_tensor_count));
    if (kv_count > max_kv_count)
        cur.fail(16, Field{"header.kv_count"},
                 std::to_string(kv_count) + " keys exceed the limit of " + std::to_string(max_kv_count));
    // Both are now below 2^20, so these products cannot overflow.
    if (tensor_count * min_tensor_info_bytes > cur.remaining())
        cur.fail(8, Field{"header.tensor_count"},
                 std::to_string(tensor_count) + " tensor infos cannot fit in the " + std::to_string(cur.remaining()) +
                     " bytes left in the file");
    if (kv_count * min_kv_bytes + tensor_count * min_tensor_info_bytes > cur.remaining())
        cur.fail(16, Field{"header.kv_count"},
                 std::to_string(kv_count) + " key/values cannot fit in the " + std::to_string(cur.remaining()) +
                     " bytes left in the file");
}

void GgufFile::Impl::parse_kv(Cursor& cur, uint64_t index) {
    const uint64_t key_at = cur.pos();
    std::string key = cur.take_string(Field{"metadata key #" + std::to_string(index)}, max_name_bytes);
    const std::string ctx = "key " + quote_name(key);

    if (const auto it = key_index.find(key); it != key_index.end())
        cur.fail(key_at, Field{ctx},
                 "duplicate key (first at byte " + std::to_string(metadata[it->second].offset) + ")");

    const std::string type_field = ctx + " type";
    const uint64_t type_at = cur.pos();
    const uint32_t raw_type = cur.take<uint32_t>(Field{type_field});
    if (!is_known_value_type(raw_type))
        cur.fail(type_at, Field{type_field}, "unknown value type " + std::to_string(raw_type));
    const auto type = static_cast<ValueType>(raw_type);

    const uint64_t value_at = cur.pos();
    Value value = read_value(cur, type, ctx);

    if (key == "general.alignment") {
        // ggml reads it as uint32 only; other types would be read differently by other tools.
        if (type != ValueType::UINT32)
            cur.fail(type_at, Field{type_field},
                     "general.alignment must be uint32, found " + std::string(value_type_name(type)));
        const uint64_t a = std::get<uint64_t>(value.data);
        if (a == 0 || (a & (a - 1)) != 0)
            cur.fail(value_at, Field{ctx + " value"},
                     "alignment " + std::to_string(a) + " is not a nonzero power of two");
        alignment = a;
    }

    key_index.emplace(key, metadata.size());
    metadata.push_back(KeyValue{std::move(key), std::move(value), key_at});
}

void GgufFile::Impl::parse_tensor_info(Cursor& cur, uint64_t index, std::vector<TensorRecord>& records) {
    const uint64_t info_at = cur.pos();
    std::string name = cur.take_string(Field{"tensor #" + std::to_string(index) + " name"}, max_name_bytes);
    const std::string ctx = "tensor " + quote_name(name);

    if (const auto it = tensor_index.find(name); it != tensor_index.end())
        cur.fail(info_at, Field{ctx},
                 "duplicate tensor name (first at byte " + std::to_string(records[it->second].info_at) + ")");

    const std::string dims_field = ctx + " n_dims";
    const uint64_t dims_at = cur.pos();
    const uint32_t n_dims = cur.take<uint32_t>(Field{dims_field});
    if (n_dims == 0 || n_dims > max_dims)
        cur.fail(dims_at, Field{dims_field},
                 "n_dims " + std::to_string(n_dims) + " is outside 1.." + std::to_string(max_dims));

    std::vector<int64_t> ne;
    ne.reserve(n_dims);
    int64_t n_elements = 1;
    const uint64_t ne_at = cur.pos();
    for (uint32_t d = 0; d < n_dims; ++d) {
        const std::string ne_field = ctx + " ne[" + std::to_string(d) + "]";
        const uint64_t at = cur.pos();
        const uint64_t raw = cur.take<uint64_t>(Field{ne_field});
        if (raw == 0 || raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            cur.fail(at, Field{ne_field},
                     "dimension " + std::to_string(static_cast<int64_t>(raw)) + " is not positive");
        const auto dim = static_cast<int64_t>(raw);
        if (__builtin_mul_overflow(n_elements, dim, &n_elements))
            cur.fail(at, Field{ne_field}, "element count overflows int64");
        ne.push_back(dim);
    }

    const std::string type_field = ctx + " type";
    const uint64_t type_at = cur.pos();
    const uint32_t raw_type = cur.take<uint32_t>(Field{type_field});
    const std::optional<TensorTypeInfo> info = tensor_type_info(raw_type);
    if (!info) cur.fail(type_at, Field{type_field}, "unknown or unsupported tensor type " + std::to_string(raw_type));
    if (ne[0] % info->block_elems != 0)
        cur.fail(ne_at, Field{ctx + " ne[0]"},
                 std::to_string(ne[0]) + " is not a multiple of the " + std::string(info->name) + " block size " +
                     std::to_string(info->block_elems));
    uint64_t n_bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements / info->block_elems),
                               static_cast<uint64_t>(info->block_bytes), &n_bytes))
        cur.fail(type_at, Field{type_field}, "data size of " + std::to_string(n_elements) + " elements overflows");

    const std::string offset_field = ctx + " offset";
    const uint64_t offset_at = cur.pos();
    const uint64_t rel = cur.take<uint64_t>(Field{offset_field});
    if (rel % alignment != 0)
        cur.fail(offset_at, Field{offset_field},
                 "offset " + std::to_string(rel) + " is not a multiple of the alignment " + std::to_string(alignment));

    tensor_index.emplace(name, tensors.size());
    records.push_back(TensorRecord{info_at, offset_at, rel});
    tensors.push_back(TensorInfo{std::move(name), info->type, std::move(ne), rel, n_bytes});
}

void GgufFile::Impl::check_tensor_ranges(Cursor& cur, const std::vector<TensorRecord>& records) {
    for (size_t i = 0; i < tensors.size(); ++i) {
        TensorInfo& t = tensors[i];
        uint64_t begin = 0, end = 0;
        if (__builtin_add_overflow(data_section_offset, records[i].rel_offset, &begin) ||
            __builtin_add_overflow(begin, t.n_bytes, &end) || end > size) {
            const std::string field_str = "tensor " + quote_name(t.name) + " offset";
            cur.fail(records[i].offset_at, Field{field_str},
                     "data of " + std::to_string(t.n_bytes) + " bytes at relative offset " +
                         std::to_string(records[i].rel_offset) + " (data section at byte " +
                         std::to_string(data_section_offset) + ") lies past the end of the file (" +
                         std::to_string(size) + " bytes)");
        }
        t.data_offset = begin;
    }

    // Tensors do not have to be stored in table order; sort by offset to check neighbours only.
    std::vector<size_t> order(tensors.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].data_offset < tensors[b].data_offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = tensors[order[k - 1]];
        const TensorInfo& cur_t = tensors[order[k]];
        if (prev.data_offset + prev.n_bytes > cur_t.data_offset) {
            const std::string field_str = "tensor " + quote_name(cur_t.name) + " offset";
            cur.fail(records[order[k]].offset_at, Field{field_str},
                     "data [" + std::to_string(cur_t.data_offset) + ", " +
                         std::to_string(cur_t.data_offset + cur_t.n_bytes) + ") overlaps tensor " +
                         quote_name(prev.name) + " data [" + std::to_string(prev.data_offset) + ", " +
                         std::to_string(prev.data_offset + prev.n_bytes) + ")");
        }
    }
}

void GgufFile::Impl::parse() {
    Cursor cur(path.string(), map, size);
    uint64_t tensor_count = 0, kv_count = 0;
    parse_header(cur, tensor_count, kv_count);

    for (uint64_t i = 0; i < kv_count; ++i) parse_kv(cur, i);

    std::vector<TensorRecord> records;
    records.reserve(static_cast<size_t>(tensor_count));  // checked against the file size in parse_header
    tensors.reserve(static_cast<size_t>(tensor_count));
    for (uint64_t i = 0; i < tensor_count; ++i) parse_tensor_info(cur, i, records);

    // With no tensors a file may end right after the table, without padding up to the data section.
    data_section_offset = align_up_checked(cur, cur.pos(), alignment, Field{"data section"});
    check_tensor_ranges(cur, records);
}

const KeyValue* GgufFile::Impl::find_kv(std::string_view key) const {
    const auto it = key_index.find(key);
    return it == key_index.end() ? nullptr : &metadata[it->second];
}

void GgufFile::Impl::type_mismatch(const KeyValue& kv, std::string_view expected) const {
    std::string found(value_type_name(kv.value.type));
    if (const auto* i = std::get_if<int64_t>(&kv.value.data)) found += " " + std::to_string(*i);
    if (const auto* u = std::get_if<uint64_t>(&kv.value.data)) found += " " + std::to_string(*u);
    throw ModelFormatError(path.string() + ": key " + quote_name(kv.key) + " at byte " + std::to_string(kv.offset) +
                           ": expected " + std::string(expected) + ", found " + found);
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->map_file();
    impl->parse();
    return GgufFile(std::move(impl));
}

const std::filesystem::path& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::file_size() const { return impl_->size; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
const std::vector<KeyValue>& GgufFile::metadata() const { return impl_->metadata; }

const Value* GgufFile::find(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    return kv ? &kv->value : nullptr;
}

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return std::nullopt;
    if (const auto* u = std::get_if<uint64_t>(&kv->value.data)) return *u;
    if (const auto* i = std::get_if<int64_t>(&kv->value.data); i && *i >= 0) return static_cast<uint64_t>(*i);
    impl_->type_mismatch(*kv, "a non-negative integer");
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return std::nullopt;
    if (const auto* i = std::get_if<int64_t>(&kv->value.data)) return *i;
    if (const auto* u = std::get_if<uint64_t>(&kv->value.data);
        u && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return static_cast<int64_t>(*u);
    impl_->type_mismatch(*kv, "an integer that fits in int64");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return std::nullopt;
    if (const auto* d = std::get_if<double>(&kv->value.data)) return *d;
    if (const auto* i = std::get_if<int64_t>(&kv->value.data)) return static_cast<double>(*i);
    if (const auto* u = std::get_if<uint64_t>(&kv->value.data)) return static_cast<double>(*u);
    impl_->type_mismatch(*kv, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return std::nullopt;
    if (const auto* b = std::get_if<bool>(&kv->value.data)) return *b;
    impl_->type_mismatch(*kv, "a bool");
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return std::nullopt;
    if (const auto* s = std::get_if<std::string>(&kv->value.data)) return *s;
    impl_->type_mismatch(*kv, "a string");
}

const Array* GgufFile::get_array(std::string_view key) const {
    const KeyValue* kv = impl_->find_kv(key);
    if (!kv) return nullptr;
    if (const auto* a = std::get_if<Array>(&kv->value.data)) return a;
    impl_->type_mismatch(*kv, "an array");
}

const std::vector<TensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
    const auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* GgufFile::tensor_data(const TensorInfo& t) const { return impl_->map + t.data_offset; }
uint64_t GgufFile::data_section_offset() const { return impl_->data_section_offset; }
const uint8_t* GgufFile::mapped_bytes() const { return impl_->map; }

}  // namespace enclave::gguf
