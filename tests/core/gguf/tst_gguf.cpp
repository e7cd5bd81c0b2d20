// GGUF writer -> reader round trips, the typed getters, v2 files, alignment, and the writer's own errors.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <bit>
#include <cmath>
#include <numbers>

#include "check.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "enclave/kernels/half.h"
#include "enclave/kernels/quant.h"
#include "gguf_test_util.h"

using namespace enclave;
using namespace enclave::gguf;
using gguf_test::Bytes;
using gguf_test::TempDir;

namespace {

GgufFile write_and_open(const GgufWriter& w, const TempDir& dir, std::string_view name = "model.gguf") {
    const auto p = dir.file(name);
    w.write(p);
    return GgufFile::open(p);
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x = x * 1664525u + 1013904223u;
        b = static_cast<uint8_t>(x >> 24);
    }
    return v;
}

std::vector<float> ramp(size_t n, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + 0.1f);
    return v;
}

bool same_value(const Value& a, const Value& b) {
    if (a.type != b.type || a.data.index() != b.data.index()) return false;
    if (const auto* x = std::get_if<Array>(&a.data)) {
        const auto& y = std::get<Array>(b.data);
        if (x->element_type != y.element_type || x->ints != y.ints || x->strings != y.strings) return false;
        if (x->floats.size() != y.floats.size()) return false;
        for (size_t i = 0; i < x->floats.size(); ++i)  // bitwise, so NaN and -0.0 compare too
            if (std::bit_cast<uint64_t>(x->floats[i]) != std::bit_cast<uint64_t>(y.floats[i])) return false;
        return true;
    }
    if (const auto* d = std::get_if<double>(&a.data))
        return std::bit_cast<uint64_t>(*d) == std::bit_cast<uint64_t>(std::get<double>(b.data));
    if (const auto* u = std::get_if<uint64_t>(&a.data)) return *u == std::get<uint64_t>(b.data);
    if (const auto* i = std::get_if<int64_t>(&a.data)) return *i == std::get<int64_t>(b.data);
    if (const auto* f = std::get_if<bool>(&a.data)) return *f == std::get<bool>(b.data);
    return std::get<std::string>(a.data) == std::get<std::string>(b.data);
}

}  // namespace

ENCLAVE_TEST(typed_setters_round_trip) {
    TempDir dir;
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_uint32("llama.context_length", 8192);
    w.set_int32("test.negative", -42);
    w.set_uint64("test.big", (uint64_t{1} << 63) + 7);
    w.set_float32("llama.rope.freq_base", 10000.5f);
    w.set_bool("test.flag", true);
    w.set_bool("test.off", false);
    w.set_string_array("tokenizer.ggml.tokens", {"<s>", "", std::string("a\0b", 3), "\xe4\xbd\xa0"});
    w.set_float32_array("tokenizer.ggml.scores", {0.0f, -1.5f, 3.25f});
    w.set_int32_array("tokenizer.ggml.token_type", {1, 2, -3});
    w.set_uint32("llama.context_length", 4096);  // replaces, keeps its first position

    const GgufFile f = write_and_open(w, dir);
    CHECK_EQ(f.version(), 3u);
    CHECK_EQ(f.metadata().size(), size_t{10});
    CHECK_EQ(f.metadata()[1].key, std::string("llama.context_length"));
    CHECK_EQ(f.get_string("general.architecture").value_or(""), std::string("llama"));
    CHECK_EQ(f.get_uint("llama.context_length").value_or(0), uint64_t{4096});
    CHECK_EQ(f.find("llama.context_length")->type, ValueType::UINT32);
    CHECK_EQ(f.get_int("test.negative").value_or(0), int64_t{-42});
    CHECK_EQ(f.find("test.negative")->type, ValueType::INT32);
    CHECK_EQ(f.get_uint("test.big").value_or(0), (uint64_t{1} << 63) + 7);
    CHECK_EQ(f.get_float("llama.rope.freq_base").value_or(0), 10000.5);
    CHECK_EQ(f.get_bool("test.flag").value_or(false), true);
    CHECK_EQ(f.get_bool("test.off").value_or(true), false);

    const Array* tokens = f.get_array("tokenizer.ggml.tokens");
    REQUIRE(tokens != nullptr);
    CHECK_EQ(tokens->element_type, ValueType::STRING);
    REQUIRE(tokens->size() == 4);
    CHECK_EQ(tokens->strings[1], std::string());
    CHECK_EQ(tokens->strings[2], std::string("a\0b", 3));
    CHECK_EQ(tokens->strings[3], std::string("\xe4\xbd\xa0"));
    const Array* scores = f.get_array("tokenizer.ggml.scores");
    REQUIRE(scores != nullptr && scores->size() == 3);
    CHECK_EQ(scores->element_type, ValueType::FLOAT32);
    CHECK_EQ(scores->floats[1], -1.5);
    CHECK_EQ(scores->floats[2], 3.25);
    const Array* types = f.get_array("tokenizer.ggml.token_type");
    REQUIRE(types != nullptr && types->size() == 3);
    CHECK_EQ(types->ints[2], int64_t{-3});

    // Every key's offset points at its length field, which holds the key's length.
    const auto bytes = gguf_test::read_file(f.path());
    for (const auto& kv : f.metadata()) {
        uint64_t len = 0;
        std::memcpy(&len, bytes.data() + kv.offset, 8);
        CHECK_EQ(len, kv.key.size());
    }
}

ENCLAVE_TEST(every_value_type_and_array_kind_round_trips) {
    std::vector<std::pair<std::string, Value>> values = {
        {"u8", {ValueType::UINT8, uint64_t{200}}},
        {"i8", {ValueType::INT8, int64_t{-100}}},
        {"u16", {ValueType::UINT16, uint64_t{60000}}},
        {"i16", {ValueType::INT16, int64_t{-30000}}},
        {"u32", {ValueType::UINT32, uint64_t{4000000000u}}},
        {"i32", {ValueType::INT32, int64_t{-2000000000}}},
        {"f32", {ValueType::FLOAT32, double{0.15625}}},
        {"bool", {ValueType::BOOL, true}},
        {"str", {ValueType::STRING, std::string("hello \xf0\x9f\x90\x8d")}},
        {"u64", {ValueType::UINT64, uint64_t{0xfedcba9876543210ull}}},
        {"i64", {ValueType::INT64, int64_t{-(int64_t{1} << 40)}}},
        {"f64", {ValueType::FLOAT64, std::numbers::pi}},
        {"a.u8", {ValueType::ARRAY, Array{ValueType::UINT8, {0, 255, 7}, {}, {}}}},
        {"a.i8", {ValueType::ARRAY, Array{ValueType::INT8, {-128, 127}, {}, {}}}},
        {"a.u16", {ValueType::ARRAY, Array{ValueType::UINT16, {65535, 1}, {}, {}}}},
        {"a.i16", {ValueType::ARRAY, Array{ValueType::INT16, {-32768, 5}, {}, {}}}},
        {"a.u32", {ValueType::ARRAY, Array{ValueType::UINT32, {4294967295ll, 0}, {}, {}}}},
        {"a.i32", {ValueType::ARRAY, Array{ValueType::INT32, {-2147483648ll, 9}, {}, {}}}},
        {"a.u64", {ValueType::ARRAY, Array{ValueType::UINT64, {-1, 3}, {}, {}}}},  // -1 = bits of 2^64-1
        {"a.i64", {ValueType::ARRAY, Array{ValueType::INT64, {INT64_MIN, INT64_MAX}, {}, {}}}},
        {"a.f32", {ValueType::ARRAY, Array{ValueType::FLOAT32, {}, {1.5, -0.0, INFINITY}, {}}}},
        {"a.f64", {ValueType::ARRAY, Array{ValueType::FLOAT64, {}, {1e300, -2.5}, {}}}},
        {"a.bool", {ValueType::ARRAY, Array{ValueType::BOOL, {1, 0, 1}, {}, {}}}},
        {"a.str", {ValueType::ARRAY, Array{ValueType::STRING, {}, {}, {"x", "", "yz"}}}},
        {"a.empty", {ValueType::ARRAY, Array{ValueType::UINT32, {}, {}, {}}}},
    };
    TempDir dir;
    GgufWriter w;
    for (const auto& [k, v] : values) w.set_value(k, v);
    const GgufFile f = write_and_open(w, dir);
    REQUIRE(f.metadata().size() == values.size());
    for (size_t i = 0; i < values.size(); ++i) {
        const auto& kv = f.metadata()[i];
        CHECK_EQ(kv.key, values[i].first);
        CHECK_MSG(same_value(kv.value, values[i].second), "value of " + values[i].first);
    }
    CHECK_EQ(f.get_array("a.u64")->ints[0], int64_t{-1});
    CHECK_EQ(f.get_array("a.str")->size(), size_t{3});
    CHECK_EQ(f.get_array("a.empty")->size(), size_t{0});
    // A NaN round trips bit for bit through FLOAT32 too.
    GgufWriter w2;
    w2.set_float32("nan", std::numeric_limits<float>::quiet_NaN());
    const GgufFile f2 = write_and_open(w2, dir, "nan.gguf");
    CHECK(std::isnan(f2.get_float("nan").value_or(0)));
}

ENCLAVE_TEST(typed_getters_convert_or_name_the_key) {
    TempDir dir;
    GgufWriter w;
    w.set_int32("neg", -5);
    w.set_int32("pos", 17);
    w.set_uint64("huge", ~uint64_t{0});
    w.set_string("name", "x");
    w.set_bool("flag", true);
    w.set_float32("f", 2.5f);
    const GgufFile f = write_and_open(w, dir);

    CHECK_EQ(f.get_uint("pos").value_or(0), uint64_t{17});
    CHECK_EQ(f.get_int("pos").value_or(0), int64_t{17});
    CHECK_EQ(f.get_float("pos").value_or(0), 17.0);
    CHECK_EQ(f.get_float("f").value_or(0), 2.5);
    CHECK(!f.get_uint("absent").has_value());
    CHECK(!f.get_string("absent").has_value());
    CHECK(f.get_array("absent") == nullptr);
    CHECK(f.find("absent") == nullptr);
    CHECK_THROWS_WITH(f.get_uint("neg"), ModelFormatError, "key 'neg'");
    CHECK_THROWS_WITH(f.get_uint("neg"), ModelFormatError, "-5");
    CHECK_THROWS_WITH(f.get_int("huge"), ModelFormatError, "key 'huge'");
    CHECK_THROWS_WITH(f.get_string("pos"), ModelFormatError, "expected a string, found int32");
    CHECK_THROWS_WITH(f.get_bool("name"), ModelFormatError, "key 'name'");
    CHECK_THROWS_WITH(f.get_float("name"), ModelFormatError, "model.gguf");
    CHECK_THROWS_WITH(f.get_uint("flag"), ModelFormatError, "found bool");
    CHECK_THROWS_WITH(f.get_array("f"), ModelFormatError, "expected an array");
}

ENCLAVE_TEST(tensors_of_several_types_round_trip) {
    TempDir dir;
    GgufWriter w;
    const std::vector<float> f32_values = ramp(3 * 5, 2.0f);
    const std::vector<float> f16_values = ramp(8 * 2, 100.0f);
    const std::vector<float> q8_values = ramp(64 * 3, 1.0f);
    const auto q4k = pattern(2 * 144, 1);             // [512, 1] as 2 Q4_K blocks
    const auto q6k = pattern(4 * 210, 2);             // [256, 2, 2] as 4 Q6_K blocks
    const auto bf16 = pattern(2 * 3 * 2 * 2 * 2, 3);  // [2, 3, 2, 2]
    w.add_tensor_f32("f32", TensorType::F32, {5, 3}, f32_values);
    w.add_tensor_f32("f16", TensorType::F16, {8, 2}, f16_values);
    w.add_tensor_f32("q8_0", TensorType::Q8_0, {64, 3}, q8_values);
    w.add_tensor("q4_k", TensorType::Q4_K, {512, 1}, q4k);
    w.add_tensor("q6_k", TensorType::Q6_K, {256, 2, 2}, q6k);
    w.add_tensor("bf16", TensorType::BF16, {2, 3, 2, 2}, bf16);
    const GgufFile f = write_and_open(w, dir);

    REQUIRE(f.tensors().size() == 6);
    const uint64_t ds = f.data_section_offset();
    CHECK_EQ(ds % 32, uint64_t{0});
    for (const auto& t : f.tensors()) {
        CHECK_MSG((t.data_offset - ds) % 32 == 0, t.name);
        CHECK_MSG(t.data_offset + t.n_bytes <= f.file_size(), t.name);
        CHECK(f.tensor_data(t) == f.mapped_bytes() + t.data_offset);
    }

    const TensorInfo* t = f.find_tensor("f32");
    REQUIRE(t != nullptr);
    CHECK_EQ(t->type, TensorType::F32);
    CHECK(t->ne == (std::vector<int64_t>{5, 3}));
    CHECK_EQ(t->n_elements(), int64_t{15});
    CHECK_EQ(t->n_bytes, uint64_t{60});
    CHECK(std::memcmp(f.tensor_data(*t), f32_values.data(), 60) == 0);

    t = f.find_tensor("f16");
    REQUIRE(t != nullptr);
    CHECK_EQ(t->n_bytes, uint64_t{32});
    bool f16_ok = true;
    for (size_t i = 0; i < f16_values.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, f.tensor_data(*t) + 2 * i, 2);
        f16_ok = f16_ok && h == kernels::fp32_to_fp16(f16_values[i]);
    }
    CHECK(f16_ok);

    t = f.find_tensor("q8_0");
    REQUIRE(t != nullptr);
    CHECK_EQ(t->type, TensorType::Q8_0);
    CHECK_EQ(t->n_bytes, uint64_t{6 * 34});
    std::vector<float> back(q8_values.size());
    CHECK(kernels::dequantize_row(TensorType::Q8_0, f.tensor_data(*t), back.data(), 64 * 3).is_ok());
    CHECK(enclave_check::normalised_error(back, q8_values) < 0.02);

    t = f.find_tensor("q4_k");
    REQUIRE(t != nullptr);
    CHECK_EQ(t->n_bytes, uint64_t{288});
    CHECK(std::memcmp(f.tensor_data(*t), q4k.data(), q4k.size()) == 0);
    t = f.find_tensor("q6_k");
    REQUIRE(t != nullptr);
    CHECK(t->ne == (std::vector<int64_t>{256, 2, 2}));
    CHECK(std::memcmp(f.tensor_data(*t), q6k.data(), q6k.size()) == 0);
    t = f.find_tensor("bf16");
    REQUIRE(t != nullptr);
    CHECK_EQ(t->ne.size(), size_t{4});
    CHECK_EQ(t->n_bytes, uint64_t{48});
    CHECK(std::memcmp(f.tensor_data(*t), bf16.data(), bf16.size()) == 0);
    CHECK(f.find_tensor("missing") == nullptr);
}

ENCLAVE_TEST(alignment_64_is_written_and_honoured) {
    TempDir dir;
    GgufWriter w(64);
    w.set_string("general.name", "aligned");
    w.add_tensor("a", TensorType::F32, {3}, pattern(12, 4));
    w.add_tensor("b", TensorType::F32, {5}, pattern(20, 5));
    const GgufFile f = write_and_open(w, dir);
    CHECK_EQ(f.alignment(), uint64_t{64});
    CHECK_EQ(f.get_uint("general.alignment").value_or(0), uint64_t{64});
    CHECK_EQ(f.data_section_offset() % 64, uint64_t{0});
    REQUIRE(f.tensors().size() == 2);
    CHECK_EQ(f.tensors()[1].data_offset - f.tensors()[0].data_offset, uint64_t{64});
    CHECK_EQ(f.file_size() % 64, uint64_t{0});

    GgufWriter plain;
    plain.add_tensor("a", TensorType::F32, {3}, pattern(12, 4));
    const GgufFile g = write_and_open(plain, dir, "plain.gguf");
    CHECK_EQ(g.alignment(), uint64_t{32});
    CHECK(g.find("general.alignment") == nullptr);
}

ENCLAVE_TEST(hand_made_v2_file_opens) {
    TempDir dir;
    Bytes b;
    b.header(2, 2, /*version=*/2);
    b.kv_str("general.architecture", "llama");
    b.kv_u32("general.alignment", 16);
    b.tensor("second_in_table_first_in_data", {4}, 0, 16);
    b.tensor("w", {4}, 0, 0);
    b.pad_to(16);
    const uint64_t ds = b.mark();
    for (int i = 0; i < 4; ++i) b.f32(static_cast<float>(i) + 0.5f);
    for (int i = 0; i < 4; ++i) b.f32(-static_cast<float>(i));
    const auto p = gguf_test::write_file(dir.file("v2.gguf"), b.data);
    const GgufFile f = GgufFile::open(p);
    CHECK_EQ(f.version(), 2u);
    CHECK_EQ(f.alignment(), uint64_t{16});
    CHECK_EQ(f.data_section_offset(), ds);
    const TensorInfo* w = f.find_tensor("w");
    REQUIRE(w != nullptr);
    CHECK_EQ(w->data_offset, ds);
    float first;
    std::memcpy(&first, f.tensor_data(*w), 4);
    CHECK_EQ(first, 0.5f);
    CHECK_EQ(f.find_tensor("second_in_table_first_in_data")->data_offset, ds + 16);
}

ENCLAVE_TEST(metadata_only_file_without_padding_opens) {
    TempDir dir;
    Bytes b;
    b.header(0, 1).kv_str("general.name", "x");  // ends unpadded: no data section is needed
    const GgufFile f = GgufFile::open(gguf_test::write_file(dir.file("meta.gguf"), b.data));
    CHECK(f.tensors().empty());
    CHECK_EQ(f.get_string("general.name").value_or(""), std::string("x"));
}

ENCLAVE_TEST(moved_file_keeps_its_mapping) {
    TempDir dir;
    GgufWriter w;
    const auto data = pattern(16, 9);
    w.add_tensor("t", TensorType::F32, {4}, data);
    GgufFile a = write_and_open(w, dir);
    const uint8_t* p = a.tensor_data(a.tensors()[0]);
    GgufFile b = std::move(a);
    CHECK(b.tensor_data(b.tensors()[0]) == p);
    CHECK(std::memcmp(p, data.data(), 16) == 0);
    GgufFile c = write_and_open(GgufWriter{}, dir, "empty.gguf");
    c = std::move(b);
    CHECK(c.find_tensor("t") != nullptr);
}

ENCLAVE_TEST(to_bytes_matches_the_written_file) {
    TempDir dir;
    GgufWriter w(128);
    w.set_string("k", "v");
    w.add_tensor("t", TensorType::Q8_0, {32, 2}, pattern(68, 11));
    const auto p = dir.file("x.gguf");
    w.write(p);
    CHECK(gguf_test::read_file(p) == w.to_bytes());
    CHECK_EQ(w.to_bytes().size() % 128, size_t{0});
    // Overwriting an existing file replaces it and leaves no temporary file.
    GgufWriter w2;
    w2.set_string("k", "second");
    w2.write(p);
    CHECK_EQ(GgufFile::open(p).get_string("k").value_or(""), std::string("second"));
    size_t n_files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n_files;
    CHECK_EQ(n_files, size_t{1});
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0644u);
}

ENCLAVE_TEST(writer_rejects_what_the_reader_would) {
    CHECK_THROWS_WITH(GgufWriter(0), InvalidArgument, "alignment 0");
    CHECK_THROWS_WITH(GgufWriter(3), InvalidArgument, "alignment 3");
    GgufWriter w;
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {4}, pattern(15, 1)), InvalidArgument, "15 bytes given");
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::Q8_0, {33}, pattern(34, 1)), InvalidArgument, "block size 32");
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {}, {}), InvalidArgument, "0 dimensions");
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {1, 1, 1, 1, 1}, pattern(4, 1)), InvalidArgument,
                      "5 dimensions");
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {4, 0}, {}), InvalidArgument, "dimension 0");
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {int64_t{1} << 40, int64_t{1} << 40}, {}), InvalidArgument,
                      "overflows");
    CHECK_THROWS_WITH(w.add_tensor("t", static_cast<TensorType>(77), {4}, {}), InvalidArgument,
                      "unknown tensor type 77");
    CHECK_THROWS_WITH(w.add_tensor_f32("t", TensorType::F32, {4}, {1, 2, 3}), InvalidArgument, "3 values given");
    w.add_tensor("t", TensorType::F32, {1}, pattern(4, 1));
    CHECK_THROWS_WITH(w.add_tensor("t", TensorType::F32, {1}, pattern(4, 1)), InvalidArgument,
                      "duplicate tensor name 't'");
    CHECK_THROWS_WITH(w.set_uint32("general.alignment", 64), InvalidArgument, "general.alignment");
    CHECK_THROWS_WITH(w.set_string("general.alignment", "32"), InvalidArgument, "general.alignment");
    w.set_uint32("general.alignment", 32);  // the value it has anyway
    CHECK_THROWS_WITH(w.set_value("k", Value{ValueType::INT8, int64_t{300}}), InvalidArgument,
                      "300 does not fit in int8");
    CHECK_THROWS_WITH(w.set_value("k", Value{ValueType::UINT16, int64_t{-1}}), InvalidArgument,
                      "does not fit in uint16");
    CHECK_THROWS_WITH(w.set_value("k", Value{ValueType::STRING, uint64_t{1}}), InvalidArgument, "does not match");
    CHECK_THROWS_WITH(w.set_value("k", Value{ValueType::ARRAY, Array{ValueType::ARRAY, {}, {}, {}}}), InvalidArgument,
                      "arrays of arrays");
    CHECK_THROWS_WITH(w.set_string(std::string(max_name_bytes + 1, 'k'), "v"), InvalidArgument, "longer than");
}

ENCLAVE_TEST(write_errors_name_the_path_and_leave_nothing_behind) {
    TempDir dir;
    GgufWriter w;
    w.add_tensor("t", TensorType::F32, {1024}, pattern(4096, 2));
    const auto missing = dir.file("no/such/dir/m.gguf");
    CHECK_THROWS_WITH(w.write(missing), Error, "no/such/dir/m.gguf");
    CHECK_THROWS_WITH(w.write(missing), Error, "No such file or directory");

    // A write that fails half way (here: the file size limit, as a full disk would) must keep the old
    // file under the final name and remove the temporary file.
    const auto p = dir.file("keep.gguf");
    GgufWriter small;
    small.set_string("k", "old");
    small.write(p);
    struct rlimit old_limit {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old_limit;
    lim.rlim_cur = 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::string what;
    try {
        w.write(p);
    } catch (const Error& e) {
        what = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    CHECK_MSG(what.find("keep.gguf") != std::string::npos, what);
    CHECK_MSG(what.find(std::strerror(EFBIG)) != std::string::npos, what);
    CHECK_EQ(GgufFile::open(p).get_string("k").value_or(""), std::string("old"));
    size_t n_files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n_files;
    CHECK_EQ(n_files, size_t{1});
}

ENCLAVE_TEST(io_errors_name_the_path) {
    TempDir dir;
    CHECK_THROWS_WITH(GgufFile::open(dir.file("absent.gguf")), Error,
                      "absent.gguf: cannot open: No such file or directory");
    CHECK_THROWS_WITH(GgufFile::open(dir.path()), Error, "not a regular file");
    const auto fifo = dir.file("fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(GgufFile::open(fifo), Error, "not a regular file");  // and does not block
    const auto empty = gguf_test::write_file(dir.file("empty.gguf"), {});
    CHECK_THROWS_WITH(GgufFile::open(empty), ModelFormatError, "empty.gguf: file is empty");
}

ENCLAVE_TEST_MAIN()
