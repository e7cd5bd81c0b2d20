// What the GGUF fuzzer and the corpus replay test do with one input: open it, check that an opened file
// keeps every promise of gguf_file.h, touch all its data, and re-encode it with GgufWriter to check that
// the writer accepts what the reader accepted and that the round trip is lossless.
//
// exercise_gguf throws ModelFormatError when the file is rejected (the expected outcome for bad input)
// and std::logic_error when a promise is broken; anything else escaping is a bug as well.
#pragma once

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"

namespace gguf_fuzz {

using namespace enclave;
using namespace enclave::gguf;

// Stores bytes somewhere GgufFile::open can read them and returns that path.
using StoreFn = std::function<std::filesystem::path(const std::vector<uint8_t>&)>;

inline void expect(bool ok, const std::string& what) {
    if (!ok) throw std::logic_error("GGUF contract broken: " + what);
}

inline bool same_value(const Value& a, const Value& b) {
    if (a.type != b.type || a.data.index() != b.data.index()) return false;
    auto same_doubles = [](const std::vector<double>& x, const std::vector<double>& y) {
        if (x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i)
            if (std::bit_cast<uint64_t>(x[i]) != std::bit_cast<uint64_t>(y[i])) return false;
        return true;
    };
    if (const auto* x = std::get_if<Array>(&a.data)) {
        const auto& y = std::get<Array>(b.data);
        return x->element_type == y.element_type && x->ints == y.ints && x->strings == y.strings &&
               same_doubles(x->floats, y.floats);
    }
    if (const auto* d = std::get_if<double>(&a.data))
        return std::bit_cast<uint64_t>(*d) == std::bit_cast<uint64_t>(std::get<double>(b.data));
    if (const auto* u = std::get_if<uint64_t>(&a.data)) return *u == std::get<uint64_t>(b.data);
    if (const auto* i = std::get_if<int64_t>(&a.data)) return *i == std::get<int64_t>(b.data);
    if (const auto* f = std::get_if<bool>(&a.data)) return *f == std::get<bool>(b.data);
    return std::get<std::string>(a.data) == std::get<std::string>(b.data);
}

inline void check_tensors(const GgufFile& f) {
    const uint64_t ds = f.data_section_offset();
    expect(ds % f.alignment() == 0, "data section aligned");
    std::vector<const TensorInfo*> by_offset;
    unsigned sum = 0;
    for (const TensorInfo& t : f.tensors()) {
        expect(!t.ne.empty() && t.ne.size() <= max_dims, "1..4 dims");
        int64_t n = 1;
        for (int64_t d : t.ne) {
            expect(d > 0, "positive dims");
            expect(!__builtin_mul_overflow(n, d, &n), "element count fits");
        }
        expect(n == t.n_elements(), "n_elements");
        const auto rb = row_bytes(t.type, t.ne[0]);
        expect(rb.has_value(), "ne[0] whole blocks");
        expect(t.n_bytes == *rb * static_cast<uint64_t>(n / t.ne[0]), "n_bytes matches the type");
        expect(t.data_offset >= ds && (t.data_offset - ds) % f.alignment() == 0, "data offset aligned");
        expect(t.data_offset <= f.file_size() && t.n_bytes <= f.file_size() - t.data_offset, "data inside the file");
        expect(f.find_tensor(t.name) == &t, "find_tensor");
        const uint8_t* p = f.tensor_data(t);
        expect(p == f.mapped_bytes() + t.data_offset, "tensor_data");
        sum += p[0] + p[t.n_bytes - 1];  // touches the mapping at both ends of the range
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->data_offset < b->data_offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
        expect(by_offset[i - 1]->data_offset + by_offset[i - 1]->n_bytes <= by_offset[i]->data_offset, "no overlap");
    volatile unsigned sink = sum;
    (void)sink;
}

inline void check_metadata(const GgufFile& f) {
    for (const KeyValue& kv : f.metadata()) {
        expect(f.find(kv.key) == &kv.value, "find");
        expect(kv.offset < f.file_size(), "key offset");
        // Each getter either converts or throws ModelFormatError; none may throw anything else.
        try {
            (void)f.get_uint(kv.key);
        } catch (const ModelFormatError&) {
        }
        try {
            (void)f.get_int(kv.key);
        } catch (const ModelFormatError&) {
        }
        try {
            (void)f.get_float(kv.key);
        } catch (const ModelFormatError&) {
        }
        try {
            (void)f.get_bool(kv.key);
        } catch (const ModelFormatError&) {
        }
        try {
            (void)f.get_string(kv.key);
        } catch (const ModelFormatError&) {
        }
        try {
            if (const Array* a = f.get_array(kv.key)) {
                const size_t filled = !a->ints.empty() + !a->floats.empty() + !a->strings.empty();
                expect(filled <= 1 && a->size() == a->ints.size() + a->floats.size() + a->strings.size(),
                       "one array vector filled");
                expect(a->element_type != ValueType::ARRAY, "no nested arrays");
            }
        } catch (const ModelFormatError&) {
        }
    }
    const uint64_t a = f.alignment();
    expect(a != 0 && (a & (a - 1)) == 0, "alignment power of two");
    expect(f.version() == 2 || f.version() == 3, "version");
}

// Re-encodes an opened file and checks the copy reads back the same. Skipped for alignments so large
// that the copy's padding would dwarf the input.
inline void check_round_trip(const GgufFile& f, const StoreFn& store) {
    if (f.alignment() > 4096) return;
    GgufWriter w(static_cast<uint32_t>(f.alignment()));
    for (const KeyValue& kv : f.metadata()) w.set_value(kv.key, kv.value);
    for (const TensorInfo& t : f.tensors()) {
        const uint8_t* p = f.tensor_data(t);
        w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(p, p + t.n_bytes));
    }
    const GgufFile g = GgufFile::open(store(w.to_bytes()));
    expect(g.metadata().size() == f.metadata().size(), "round trip: key count");
    for (const KeyValue& kv : f.metadata()) {
        const Value* v = g.find(kv.key);
        expect(v && same_value(*v, kv.value), "round trip: value of a key");
    }
    expect(g.tensors().size() == f.tensors().size(), "round trip: tensor count");
    for (size_t i = 0; i < f.tensors().size(); ++i) {
        const TensorInfo& a = f.tensors()[i];
        const TensorInfo& b = g.tensors()[i];
        expect(a.name == b.name && a.type == b.type && a.ne == b.ne && a.n_bytes == b.n_bytes,
               "round trip: tensor info");
        expect(std::memcmp(f.tensor_data(a), g.tensor_data(b), a.n_bytes) == 0, "round trip: tensor data");
    }
}

inline void exercise_gguf(const std::filesystem::path& path, const StoreFn& store) {
    const GgufFile f = GgufFile::open(path);
    check_metadata(f);
    check_tensors(f);
    check_round_trip(f, store);
}

}  // namespace gguf_fuzz
