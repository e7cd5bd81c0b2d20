// Block formats and row conversions (quant.h, tensor_type.h): geometry, hand-computed blocks in both
// directions, round-trip error per type, and the Q8_1 s / Q8_K bsums fields.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "check.h"
#include "enclave/kernels/half.h"
#include "enclave/kernels/quant.h"
#include "enclave/kernels/tensor_type.h"
#include "test_util.h"

using namespace enclave;
using namespace enclave::kernels;
using enclave_check::normalised_error;

namespace {

const TensorType k_all_types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                                  TensorType::Q4_1, TensorType::Q8_0, TensorType::Q8_1, TensorType::Q4_K,
                                  TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K};

std::vector<float> roundtrip(TensorType type, const std::vector<float>& x) {
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<uint8_t> q(*row_bytes(type, n));
    std::vector<float> back(x.size(), NAN);
    if (!quantize_row_ref(type, x.data(), q.data(), n)) return {};
    if (!dequantize_row(type, q.data(), back.data(), n)) return {};
    return back;
}

}  // namespace

ENCLAVE_TEST(geometry_matches_block_structs) {
    CHECK_EQ(tensor_type_info(TensorType::Q4_0).block_bytes, sizeof(block_q4_0));
    CHECK_EQ(tensor_type_info(TensorType::Q4_1).block_bytes, sizeof(block_q4_1));
    CHECK_EQ(tensor_type_info(TensorType::Q8_0).block_bytes, sizeof(block_q8_0));
    CHECK_EQ(tensor_type_info(TensorType::Q8_1).block_bytes, sizeof(block_q8_1));
    CHECK_EQ(tensor_type_info(TensorType::Q4_K).block_bytes, sizeof(block_q4_K));
    CHECK_EQ(tensor_type_info(TensorType::Q5_K).block_bytes, sizeof(block_q5_K));
    CHECK_EQ(tensor_type_info(TensorType::Q6_K).block_bytes, sizeof(block_q6_K));
    CHECK_EQ(tensor_type_info(TensorType::Q8_K).block_bytes, sizeof(block_q8_K));
    CHECK_EQ(tensor_type_info(TensorType::F16).block_bytes, 2u);
    CHECK_EQ(tensor_type_info(TensorType::BF16).block_bytes, 2u);
    CHECK_EQ(tensor_type_info(TensorType::F32).block_bytes, 4u);
    CHECK_EQ(tensor_type_info(TensorType::I32).block_bytes, 4u);
    CHECK_EQ(tensor_type_info(TensorType::Q4_K).block_elems, 256);
    CHECK_EQ(tensor_type_info(TensorType::Q8_0).block_elems, 32);
    // GGUF numbers are ggml's.
    CHECK(tensor_type_info(14u).has_value() && tensor_type_info(14u)->type == TensorType::Q6_K);
    CHECK(tensor_type_info(30u).has_value() && tensor_type_info(30u)->type == TensorType::BF16);
    CHECK(!tensor_type_info(7u).has_value());  // Q5_1: not supported
    CHECK(!tensor_type_info(1000u).has_value());
    CHECK(!tensor_type_info(TensorType::Q8_K).is_weight_type);
    CHECK(tensor_type_info(TensorType::Q4_K).is_weight_type && tensor_type_info(TensorType::Q4_K).is_quantized);
    for (TensorType t : k_all_types) {
        const auto back = tensor_type_from_name(tensor_type_name(t));
        CHECK_MSG(back.has_value() && *back == t, std::string(tensor_type_name(t)));
    }
    CHECK(!tensor_type_from_name("q3_k").has_value());
}

ENCLAVE_TEST(row_bytes_validates) {
    CHECK_EQ(*row_bytes(TensorType::Q4_1, 576), 18u * 20u);
    CHECK_EQ(*row_bytes(TensorType::Q6_K, 512), 2u * 210u);
    CHECK_EQ(*row_bytes(TensorType::F16, 7), 14u);
    CHECK_EQ(*row_bytes(TensorType::F32, 0), 0u);
    CHECK(!row_bytes(TensorType::Q4_0, 33).has_value());
    CHECK(!row_bytes(TensorType::Q4_K, 128).has_value());
    CHECK(!row_bytes(TensorType::F32, -1).has_value());
    CHECK(!row_bytes(TensorType::F32, INT64_MAX).has_value());  // overflows size_t
}

ENCLAVE_TEST(bad_rows_are_refused) {
    float x[64] = {};
    uint8_t q[64 * 4] = {};
    CHECK(quantize_row_ref(TensorType::Q8_0, x, q, 31).code() == Status::Code::invalid_argument);
    CHECK(dequantize_row(TensorType::Q4_K, q, x, 32).code() == Status::Code::invalid_argument);
    CHECK(dequantize_row(TensorType::Q8_0, nullptr, x, 32).code() == Status::Code::invalid_argument);
    CHECK(quantize_row_ref(TensorType::I32, x, q, 4).code() == Status::Code::unsupported);
}

// ---------------------------------------------------------------------------------------------------------
// Hand-computed blocks. Expected bytes come from the format definitions, worked out on paper (the inputs
// are chosen so that every scale is exact), not from running the code under test.

ENCLAVE_TEST(q8_0_and_q8_1_hand_block) {
    // amax = 127, so d = 1 exactly (fp16 0x3c00) and the quants are round(x), halves away from zero.
    const float x[32] = {-127.0f, 2.5f,   -2.5f,  0.5f,  -0.5f, 1.5f,  3.49f, -3.51f, 100.4f, -99.6f, 0.0f,
                         126.5f,  64.25f, -7.75f, 12.0f, 33.3f, 0.0f,  1.5f,  3.0f,   4.5f,   6.0f,   7.5f,
                         9.0f,    10.5f,  12.0f,  13.5f, 15.0f, 16.5f, 18.0f, 19.5f,  21.0f,  22.5f};
    const int8_t want[32] = {-127, 3, -3, 1, -1, 2, 3, -4, 100, -100, 0,  127, 64, -8, 12, 33,
                             0,    2, 3,  5, 6,  8, 9, 11, 12,  14,   15, 17,  18, 20, 21, 23};
    block_q8_0 b0;
    REQUIRE(quantize_row_ref(TensorType::Q8_0, x, &b0, 32));
    CHECK_EQ(b0.d, 0x3c00);
    CHECK(std::memcmp(b0.qs, want, 32) == 0);
    block_q8_1 b1;
    REQUIRE(quantize_row_ref(TensorType::Q8_1, x, &b1, 32));
    CHECK_EQ(b1.d, 0x3c00);
    CHECK(std::memcmp(b1.qs, want, 32) == 0);
    // sum(q) = 286 = 1.1171875 * 2^8: fp16 exponent 8 + 15 = 23, mantissa 0.1171875 * 1024 = 120 -> 0x5c78.
    CHECK_EQ(b1.s, 0x5c78);
    float back[32];
    REQUIRE(dequantize_row(TensorType::Q8_0, &b0, back, 32));
    for (int j = 0; j < 32; ++j) CHECK_EQ(back[j], static_cast<float>(want[j]));
}

ENCLAVE_TEST(q4_0_hand_block) {
    // x_j = ((j % 16) - 8) / 2: the largest magnitude is -4 (first at j = 0), so d = -4 / -8 = 0.5 (0x3800)
    // and q = trunc(x / d + 8.5) = j % 16; byte j holds value j (low) and value j + 16 (high nibble).
    float x[32];
    for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j % 16) - 8) * 0.5f;
    block_q4_0 b;
    REQUIRE(quantize_row_ref(TensorType::Q4_0, x, &b, 32));
    CHECK_EQ(b.d, 0x3800);
    for (int j = 0; j < 16; ++j) CHECK_EQ(static_cast<int>(b.qs[j]), j | (j << 4));
    float back[32];
    REQUIRE(dequantize_row(TensorType::Q4_0, &b, back, 32));
    for (int j = 0; j < 32; ++j) CHECK_EQ(back[j], x[j]);
}

ENCLAVE_TEST(q4_1_hand_block) {
    // x_j = 1 + (j % 16) / 2: min 1 (m = 0x3c00), max 8.5, d = 7.5 / 15 = 0.5 (0x3800), q = j % 16.
    float x[32];
    for (int j = 0; j < 32; ++j) x[j] = 1.0f + static_cast<float>(j % 16) * 0.5f;
    block_q4_1 b;
    REQUIRE(quantize_row_ref(TensorType::Q4_1, x, &b, 32));
    CHECK_EQ(b.d, 0x3800);
    CHECK_EQ(b.m, 0x3c00);
    for (int j = 0; j < 16; ++j) CHECK_EQ(static_cast<int>(b.qs[j]), j | (j << 4));
    float back[32];
    REQUIRE(dequantize_row(TensorType::Q4_1, &b, back, 32));
    for (int j = 0; j < 32; ++j) CHECK_EQ(back[j], x[j]);
}

ENCLAVE_TEST(q8_k_hand_block) {
    // x_0 = -127 is the largest magnitude, so iscale = -127 / -127 = 1, d = 1 and q = x for integer x.
    float x[256];
    int want[256];
    x[0] = -127.0f;
    want[0] = -127;
    for (int j = 1; j < 256; ++j) {
        want[j] = (j * 37) % 101 - 50;
        x[j] = static_cast<float>(want[j]);
    }
    block_q8_K b;
    REQUIRE(quantize_row_ref(TensorType::Q8_K, x, &b, 256));
    CHECK_EQ(b.d, 1.0f);
    bool same = true;
    for (int j = 0; j < 256; ++j) same = same && b.qs[j] == want[j];
    CHECK(same);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += want[16 * g + j];
        CHECK_EQ(static_cast<int>(b.bsums[g]), sum);
    }
}

ENCLAVE_TEST(zero_rows_quantize_to_zero) {
    float x[256] = {};
    for (TensorType t : k_all_types) {
        std::vector<uint8_t> q(*row_bytes(t, 256), 0xAB);
        REQUIRE(quantize_row_ref(t, x, q.data(), 256));
        float back[256];
        REQUIRE(dequantize_row(t, q.data(), back, 256));
        bool zero = true;
        for (float v : back) zero = zero && v == 0.0f;
        CHECK_MSG(zero, std::string(tensor_type_name(t)));
    }
}

// K-quant dequantization against blocks built by hand from the layout definitions.
ENCLAVE_TEST(q4_k_and_q5_k_hand_dequant) {
    // Sub-block scales 1..7 and 40, mins 0, 2, ..., 10, 50, 14: 40 and 50 need the two high bits that live
    // in bytes 3 (bits 6-7 of scale 7) and 6 (bits 6-7 of min 6).
    const uint8_t sc[8] = {1, 2, 3, 4, 5, 6, 7, 40};
    const uint8_t mn[8] = {0, 2, 4, 6, 8, 10, 50, 14};
    uint8_t packed[12] = {};
    for (int j = 0; j < 4; ++j) {
        packed[j] = sc[j];
        packed[j + 4] = mn[j];
    }
    for (int j = 4; j < 8; ++j) {
        packed[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
        packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((sc[j] >> 4) << 6));
        packed[j] = static_cast<uint8_t>(packed[j] | ((mn[j] >> 4) << 6));
    }
    CHECK_EQ(static_cast<int>(packed[3]), 4 | 0x80);  // scale 7 = 40 = 0b10'1000
    CHECK_EQ(static_cast<int>(packed[6]), 4 | 0xC0);  // min 2 = 4, plus min 6 = 50 = 0b11'0010 >> 4
    const float d = 0.25f, dmin = 0.5f;
    block_q4_K b4{};
    block_q5_K b5{};
    b4.d = b5.d = fp32_to_fp16(d);
    b4.dmin = b5.dmin = fp32_to_fp16(dmin);
    std::memcpy(b4.scales, packed, 12);
    std::memcpy(b5.scales, packed, 12);
    for (int l = 0; l < 128; ++l) b4.qs[l] = b5.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
    for (int l = 0; l < 32; ++l) b5.qh[l] = static_cast<uint8_t>(l * 7 + 3);
    float got4[256], got5[256];
    REQUIRE(dequantize_row(TensorType::Q4_K, &b4, got4, 256));
    REQUIRE(dequantize_row(TensorType::Q5_K, &b5, got5, 256));
    bool ok4 = true, ok5 = true;
    for (int c = 0; c < 4; ++c) {       // 64 values per 32 qs bytes
        for (int l = 0; l < 32; ++l) {  // value 64c + l: low nibble, sub-block 2c; 64c + 32 + l: high, 2c+1
            const int lo = b4.qs[32 * c + l] & 0xF, hi = b4.qs[32 * c + l] >> 4;
            const int h_lo = (b5.qh[l] >> (2 * c)) & 1, h_hi = (b5.qh[l] >> (2 * c + 1)) & 1;
            const float e4_lo = d * sc[2 * c] * lo - dmin * mn[2 * c];
            const float e4_hi = d * sc[2 * c + 1] * hi - dmin * mn[2 * c + 1];
            const float e5_lo = d * sc[2 * c] * (lo + 16 * h_lo) - dmin * mn[2 * c];
            const float e5_hi = d * sc[2 * c + 1] * (hi + 16 * h_hi) - dmin * mn[2 * c + 1];
            ok4 = ok4 && got4[64 * c + l] == e4_lo && got4[64 * c + 32 + l] == e4_hi;
            ok5 = ok5 && got5[64 * c + l] == e5_lo && got5[64 * c + 32 + l] == e5_hi;
        }
    }
    CHECK(ok4);
    CHECK(ok5);
}

ENCLAVE_TEST(q6_k_hand_dequant) {
    block_q6_K b{};
    for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i * 13 + 5);
    for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<uint8_t>(i * 29 + 1);
    for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i * 17 - 128);
    const float d = 0.125f;
    b.d = fp32_to_fp16(d);
    float got[256];
    REQUIRE(dequantize_row(TensorType::Q6_K, &b, got, 256));
    bool ok = true;
    for (int e = 0; e < 256; ++e) {
        // Half h = e / 128; within it, quarter g = (e % 128) / 32 and l = e % 32 select
        // g0: ql[l] low + qh[l] bits 0-1, g1: ql[l+32] low + bits 2-3, g2: ql[l] high + bits 4-5,
        // g3: ql[l+32] high + bits 6-7; the scale is scales[e / 16]; value = d * scale * (q - 32).
        const int h = e / 128, g = (e % 128) / 32, l = e % 32;
        const uint8_t ql = b.ql[64 * h + l + (g % 2) * 32];
        const int low = g < 2 ? (ql & 0xF) : (ql >> 4);
        const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
        const float want = d * b.scales[e / 16] * static_cast<float>((low | (high << 4)) - 32);
        ok = ok && got[e] == want;
    }
    CHECK(ok);
}

// ---------------------------------------------------------------------------------------------------------
// Round trip: dequantize(quantize_ref(x)) against x, normalised L2 error. The inputs (test_util.h) vary
// their scale per block of 32 and have 1% outliers of 8 sigma, which widen the range a block (or a
// super-block of 256, for Q8_K) must cover. The bounds are about 1.5x the worst seen over 60 random rows
// per type, and far below what a wrong nibble order, scale or offset produces (errors of order 1):
//   f32 0 | f16 5e-4 (11-bit mantissa) | bf16 4e-3 (8-bit) | q8_0/q8_1 0.015 (255 levels per 32)
//   q8_k 0.04 (255 levels per 256) | q6_k 0.045 | q5_k 0.08 | q4_k 0.15 | q4_1 0.16 | q4_0 0.22

ENCLAVE_TEST(roundtrip_error_per_type) {
    auto rng = enclave_test::rng_for("roundtrip_error_per_type");
    const struct {
        TensorType type;
        double tol;
    } cases[] = {{TensorType::F32, 0.0},    {TensorType::F16, 5e-4},   {TensorType::BF16, 4e-3},
                 {TensorType::Q8_0, 0.015}, {TensorType::Q8_1, 0.015}, {TensorType::Q8_K, 0.04},
                 {TensorType::Q6_K, 0.045}, {TensorType::Q5_K, 0.08},  {TensorType::Q4_K, 0.15},
                 {TensorType::Q4_1, 0.16},  {TensorType::Q4_0, 0.22}};
    for (const auto& c : cases) {
        for (int rep = 0; rep < 4; ++rep) {
            const auto x = enclave_test::random_values(rng, 4096, rep == 0 ? 1e-3f : 3.0f);
            const auto back = roundtrip(c.type, x);
            const double err = normalised_error(back, x);
            CHECK_MSG(err <= c.tol, std::string(tensor_type_name(c.type)) + enclave_test::fmt("error", err));
            // The bound must be able to fail: a result off by one quantization level in every 8th value
            // (as a wrong rounding or a swapped nibble would produce) exceeds it.
            if (c.type != TensorType::F32 && rep == 1) {
                auto broken = back;
                for (size_t i = 0; i < broken.size(); i += 8) broken[i] += 0.7f * std::fabs(x[i]) + 0.3f;
                CHECK_MSG(normalised_error(broken, x) > c.tol, std::string(tensor_type_name(c.type)));
            }
        }
    }
}

// Q8_1's s is d * sum(q) rounded to fp16 once (from the unrounded d, as ggml does).
ENCLAVE_TEST(q8_1_s_field) {
    auto rng = enclave_test::rng_for("q8_1_s_field");
    const auto x = enclave_test::random_values(rng, 32 * 64);
    std::vector<block_q8_1> b(64);
    REQUIRE(quantize_row_ref(TensorType::Q8_1, x.data(), b.data(), static_cast<int64_t>(x.size())));
    int exact = 0;
    for (int i = 0; i < 64; ++i) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * i + j]));
        const float d = amax / 127;
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += b[i].qs[j];
        exact += b[i].s == fp32_to_fp16(static_cast<float>(sum) * d);
        CHECK_EQ(b[i].d, fp32_to_fp16(d));
    }
    CHECK_EQ(exact, 64);
}

ENCLAVE_TEST(q8_k_bsums_field) {
    auto rng = enclave_test::rng_for("q8_k_bsums_field");
    const auto x = enclave_test::random_values(rng, 256 * 16, 5.0f);
    std::vector<block_q8_K> b(16);
    REQUIRE(quantize_row_ref(TensorType::Q8_K, x.data(), b.data(), static_cast<int64_t>(x.size())));
    int wrong = 0;
    for (const auto& blk : b) {
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += blk.qs[16 * g + j];
            wrong += sum != blk.bsums[g];
        }
        // -127/max scaling: every quant within [-127, 127] and the largest magnitude exactly 127.
        int qmax = 0;
        for (int j = 0; j < 256; ++j) qmax = std::max(qmax, std::abs(static_cast<int>(blk.qs[j])));
        CHECK_EQ(qmax, 127);
    }
    CHECK_EQ(wrong, 0);
}

ENCLAVE_TEST_MAIN()
