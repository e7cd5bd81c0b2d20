// Malformed GGUF files: each must be rejected with a ModelFormatError that names the file, the field and
// the byte offset of the problem; truncations and corruptions of a valid file must never crash.
#include <cstring>
#include <limits>

#include "check.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "gguf_test_util.h"

using namespace enclave;
using namespace enclave::gguf;
using gguf_test::Bytes;
using gguf_test::TempDir;

namespace {

constexpr uint32_t f32 = 0, q8_0 = 8;
constexpr uint32_t t_uint32 = 4, t_string = 8, t_array = 9, t_uint64 = 10, t_uint8 = 0;

struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string field;  // expected "<field> at byte <offset>"
    uint64_t offset;
    std::string problem;  // expected in the message too
};

// A file with one tensor header and room after it, so the header's fit checks pass.
Bytes one_tensor_header() {
    Bytes b;
    b.header(1, 0);
    return b;
}

std::vector<Case> malformed_cases() {
    std::vector<Case> cases;
    auto add = [&](std::string name, Bytes b, std::string field, uint64_t offset, std::string problem) {
        cases.push_back({std::move(name), std::move(b.data), std::move(field), offset, std::move(problem)});
    };
    {
        Bytes b;
        b.raw("GGML").u32(3).u64(0).u64(0);
        add("bad magic", b, "header.magic", 0, "not a GGUF file (magic bytes 47 47 4d 4c");
    }
    {
        Bytes b;
        b.raw("GG");
        add("shorter than the magic", b, "header.magic", 0, "truncated");
    }
    add("version 1", Bytes().header(0, 0, 1), "header.version", 4, "GGUF v1 is not supported");
    add("version 4", Bytes().header(0, 0, 4), "header.version", 4, "unsupported GGUF version 4");
    add("version 0", Bytes().header(0, 0, 0), "header.version", 4, "unsupported GGUF version 0");
    add("big-endian v3", Bytes().header(0, 0, 0x03000000), "header.version", 4, "big-endian GGUF v3");
    {
        Bytes b;
        b.raw("GGUF").u32(3).u32(0).u16(0);
        add("truncated tensor_count", b, "header.tensor_count", 8, "truncated: 8 bytes needed, 6 left");
    }
    add("tensor_count 2^60", Bytes().header(uint64_t{1} << 60, 0), "header.tensor_count", 8, "exceed the limit");
    add("tensor_count 2^64-1", Bytes().header(~uint64_t{0}, 0), "header.tensor_count", 8, "exceed the limit");
    add("tensor_count that cannot fit", Bytes().header(1000, 0).zeros(100), "header.tensor_count", 8, "cannot fit");
    add("kv_count 2^60", Bytes().header(0, uint64_t{1} << 60), "header.kv_count", 16, "exceed the limit");
    add("kv_count that cannot fit", Bytes().header(0, 100).zeros(50), "header.kv_count", 16, "cannot fit");
    {
        Bytes b = Bytes().header(0, 1);
        b.u64(~uint64_t{0}).zeros(20);
        add("key length 2^64-1", b, "metadata key #0", 24, "exceeds the limit of 65535 bytes");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.u64(100).raw("abc").zeros(10);
        add("key longer than the rest of the file", b, "metadata key #0", 24, "exceeds the 13 bytes left");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("k").u32(t_string);
        const uint64_t at = b.mark();
        b.u64(uint64_t{1} << 62).raw("xyz");
        add("string value longer than the file", b, "key 'k' value", at, "string length 4611686018427387904 exceeds");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array).u32(t_uint8);
        const uint64_t at = b.mark();
        b.u64(uint64_t{1} << 60).zeros(16);
        add("uint8 array count 2^60", b, "key 'arr' array count", at,
            "array of 1152921504606846976 uint8 elements cannot fit");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array).u32(t_string);
        const uint64_t at = b.mark();
        b.u64(uint64_t{1} << 60).zeros(16);
        add("string array count 2^60", b, "key 'arr' array count", at, "cannot fit");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array).u32(t_uint64);
        const uint64_t at = b.mark();
        b.u64(3).zeros(16);  // 3 x 8 bytes needed, 16 left
        add("uint64 array one element short", b, "key 'arr' array count", at, "16 bytes left");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array).u32(t_string).u64(2).str("a");
        const uint64_t at = b.mark();
        b.u64(1000).raw("bc");
        add("string element longer than the file", b, "key 'arr' element 1", at, "string length 1000 exceeds");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array);
        const uint64_t at = b.mark();
        b.u32(t_array).u64(1).u32(t_uint8).u64(1).u8(1);
        add("nested arrays", b, "key 'arr' array type", at, "arrays of arrays are not supported");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("k");
        const uint64_t at = b.mark();
        b.u32(13).u64(0);
        add("unknown value type", b, "key 'k' type", at, "unknown value type 13");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("arr").u32(t_array);
        const uint64_t at = b.mark();
        b.u32(42).u64(0);
        add("unknown array element type", b, "key 'arr' array type", at, "unknown array element type 42");
    }
    {
        Bytes b = Bytes().header(0, 2);
        b.kv_u32("k", 1);
        const uint64_t at = b.mark();
        b.kv_u32("k", 2);
        add("duplicate key", b, "key 'k'", at, "duplicate key (first at byte 24)");
    }
    {
        Bytes b = Bytes().header(0, 2);
        b.kv_u32("\n\xff", 1);
        const uint64_t at = b.mark();
        b.kv_u32("\n\xff", 2);
        add("duplicate key with unprintable bytes", b, "key '\\x0a\\xff'", at, "duplicate key");
    }
    for (uint32_t bad : {0u, 3u, 48u}) {
        Bytes b = Bytes().header(0, 1);
        b.str("general.alignment").u32(t_uint32);
        const uint64_t at = b.mark();
        b.u32(bad);
        add("alignment " + std::to_string(bad), b, "key 'general.alignment' value", at,
            "alignment " + std::to_string(bad) + " is not a nonzero power of two");
    }
    {
        Bytes b = Bytes().header(0, 1);
        b.str("general.alignment");
        const uint64_t at = b.mark();
        b.u32(t_uint64).u64(32);
        add("alignment as uint64", b, "key 'general.alignment' type", at, "must be uint32, found uint64");
    }
    for (uint32_t n_dims : {0u, 5u}) {
        Bytes b = one_tensor_header();
        b.str("t");
        const uint64_t at = b.mark();
        b.u32(n_dims).zeros(64);
        add("n_dims " + std::to_string(n_dims), b, "tensor 't' n_dims", at,
            "n_dims " + std::to_string(n_dims) + " is outside 1..4");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(2).u64(4);
        const uint64_t at = b.mark();
        b.u64(0).u32(f32).u64(0).pad_to(32).zeros(64);
        add("dimension 0", b, "tensor 't' ne[1]", at, "dimension 0 is not positive");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(1);
        const uint64_t at = b.mark();
        b.u64(uint64_t{1} << 63).u32(f32).u64(0);
        add("negative dimension", b, "tensor 't' ne[0]", at, "is not positive");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(3).u64(uint64_t{1} << 32);
        const uint64_t at = b.mark();
        b.u64(uint64_t{1} << 32).u64(1).u32(f32).u64(0);
        add("element count overflow", b, "tensor 't' ne[1]", at, "element count overflows int64");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(1).u64(uint64_t{1} << 62);
        const uint64_t at = b.mark();
        b.u32(f32).u64(0);
        add("data size overflow", b, "tensor 't' type", at, "data size of 4611686018427387904 elements overflows");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(2);
        const uint64_t at = b.mark();
        b.u64(33).u64(1).u32(q8_0).u64(0).pad_to(32).zeros(64);
        add("ne[0] not a whole number of blocks", b, "tensor 't' ne[0]", at,
            "33 is not a multiple of the q8_0 block size 32");
    }
    for (uint32_t type : {6u, 99u, 0xffffffffu}) {
        Bytes b = one_tensor_header();
        b.str("t").u32(1).u64(32);
        const uint64_t at = b.mark();
        b.u32(type).u64(0).pad_to(32).zeros(256);
        add("tensor type " + std::to_string(type), b, "tensor 't' type", at,
            "unknown or unsupported tensor type " + std::to_string(type));
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(8).pad_to(32).zeros(64);
        add("misaligned offset", b, "tensor 't' offset", at, "offset 8 is not a multiple of the alignment 32");
    }
    {
        Bytes b = Bytes().header(1, 1);
        b.kv_u32("general.alignment", 64);
        b.str("t").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(32).pad_to(64).zeros(128);
        add("offset aligned to 32 but not 64", b, "tensor 't' offset", at, "not a multiple of the alignment 64");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(0).pad_to(32).zeros(8);  // 16 bytes needed
        add("data past the end of the file", b, "tensor 't' offset", at, "lies past the end of the file");
    }
    {
        Bytes b = one_tensor_header();
        b.str("t").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(~uint64_t{0} - 31).pad_to(32).zeros(64);
        add("offset that overflows", b, "tensor 't' offset", at, "past the end");
    }
    {
        Bytes b = Bytes().header(2, 0);
        b.tensor("a", {16}, f32, 0);  // [0, 64)
        b.str("b").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(32).pad_to(32).zeros(128);
        add("overlapping tensors", b, "tensor 'b' offset", at, "overlaps tensor 'a'");
    }
    {
        Bytes b = Bytes().header(2, 0);
        b.str("b").u32(1).u64(4).u32(f32);
        const uint64_t at = b.mark();
        b.u64(32);
        b.tensor("a", {16}, f32, 0);
        b.pad_to(32).zeros(128);
        add("overlapping tensors listed out of order", b, "tensor 'b' offset", at, "overlaps tensor 'a'");
    }
    {
        Bytes b = Bytes().header(2, 0);
        b.tensor("t", {4}, f32, 0);
        const uint64_t at = b.mark();
        b.tensor("t", {4}, f32, 32);
        b.pad_to(32).zeros(64);
        add("duplicate tensor name", b, "tensor 't'", at, "duplicate tensor name (first at byte 24)");
    }
    {
        Bytes b = one_tensor_header();
        b.u64(70000).zeros(70100);
        add("tensor name over the limit", b, "tensor #0 name", 24, "exceeds the limit of 65535 bytes");
    }
    return cases;
}

// A small valid file with metadata of several kinds and two tensors, made by the writer.
std::vector<uint8_t> small_valid_file() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_uint32("llama.block_count", 1);
    w.set_string_array("tokenizer.ggml.tokens", {"a", "bc"});
    w.set_float32_array("tokenizer.ggml.scores", {0.5f, -1.0f});
    w.add_tensor("a", TensorType::F32, {3}, std::vector<uint8_t>(12, 0x11));
    w.add_tensor("b", TensorType::Q8_0, {32}, std::vector<uint8_t>(34, 0x22));
    return w.to_bytes();
}

}  // namespace

ENCLAVE_TEST(malformed_files_name_field_and_offset) {
    TempDir dir;
    int i = 0;
    for (const Case& c : malformed_cases()) {
        const auto p = gguf_test::write_file(dir.file("case" + std::to_string(i++) + ".gguf"), c.bytes);
        std::string what;
        bool right_type = false;
        try {
            (void)GgufFile::open(p);
            what = "opened without error";
        } catch (const ModelFormatError& e) {
            right_type = true;
            what = e.what();
        } catch (const std::exception& e) {
            what = std::string("wrong exception type: ") + e.what();
        }
        const std::string where = c.field + " at byte " + std::to_string(c.offset) + ": ";
        CHECK_MSG(right_type, c.name + ": " + what);
        CHECK_MSG(what.rfind(p.string() + ": ", 0) == 0, c.name + ": path missing: " + what);
        CHECK_MSG(what.find(where) != std::string::npos, c.name + ": expected \"" + where + "\" in: " + what);
        CHECK_MSG(what.find(c.problem) != std::string::npos, c.name + ": expected \"" + c.problem + "\" in: " + what);
    }
}

ENCLAVE_TEST(every_truncation_is_rejected) {
    TempDir dir;
    const std::vector<uint8_t> full = small_valid_file();
    const auto full_path = gguf_test::write_file(dir.file("full.gguf"), full);
    const GgufFile f = GgufFile::open(full_path);
    REQUIRE(f.tensors().size() == 2);
    // Padding after the last tensor is optional, so a file is complete once that tensor's data is.
    const uint64_t needed = f.tensors()[1].data_offset + f.tensors()[1].n_bytes;
    REQUIRE(needed < full.size());

    const auto p = dir.file("prefix.gguf");
    size_t rejected = 0, opened = 0;
    for (size_t len = 0; len <= full.size(); ++len) {
        gguf_test::write_file(p, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(len)));
        std::string what;
        bool ok = false;
        try {
            (void)GgufFile::open(p);
            ok = true;
        } catch (const ModelFormatError& e) {
            what = e.what();
        }
        if (len < needed) {
            rejected += !ok;
            CHECK_MSG(!ok, "prefix of " + std::to_string(len) + " bytes opened");
            CHECK_MSG(ok || what.find(" at byte ") != std::string::npos || len == 0, what);
        } else {
            opened += ok;
            CHECK_MSG(ok, "prefix of " + std::to_string(len) + " bytes: " + what);
        }
    }
    CHECK_EQ(rejected, static_cast<size_t>(needed));
    CHECK_EQ(opened, full.size() + 1 - static_cast<size_t>(needed));
}

ENCLAVE_TEST(corrupted_bytes_open_or_throw_model_format_error) {
    TempDir dir;
    const std::vector<uint8_t> full = small_valid_file();
    const auto p = dir.file("corrupt.gguf");
    size_t rejected = 0;
    long other = 0;
    for (size_t pos = 0; pos < full.size(); ++pos) {
        for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, static_cast<uint8_t>(full[pos] + 1), uint8_t{0x80}}) {
            std::vector<uint8_t> bytes = full;
            bytes[pos] = v;
            gguf_test::write_file(p, bytes);
            try {
                (void)GgufFile::open(p);
            } catch (const ModelFormatError&) {
                ++rejected;
            } catch (...) {
                ++other;
            }
        }
    }
    CHECK_EQ(other, 0L);
    CHECK(rejected > 0);  // the magic bytes alone give 4 x 4 rejections
}

ENCLAVE_TEST_MAIN()
