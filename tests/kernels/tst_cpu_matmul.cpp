// CPU matmul (cpu_matmul.h): every ISA path against the scalar path, the scalar path against an independent
// double-precision reference, activation conversion, argument validation.
//
// Each comparison poisons y with NaN first, checks that the rows outside [row_begin, row_end) stay NaN (no
// stray writes), and bounds the normalised L2 error ||a - b|| / ||b|| over the output plus every element's
// error relative to its magnitude sum_i |w_i x_i| (see compare()); NaN or Inf never passes. Tolerances:
//   ISA vs scalar, same activations    1e-5: the int8 block sums are exact in both; only the order of the
//                                      float additions differs (a few ulp of the largest partial sums).
//                                      Bit-equal where the AVX-512 path follows ggml's order (Q4_1, Q8_0 decode).
//   ISA vs scalar, own activations     2e-2 (Q8_0/Q8_1 types), 1e-5 otherwise: the SIMD paths round
//                                      activations like ggml's x86 code (127/amax, ties to even), the scalar
//                                      path like the reference (1/d, ties away), so an occasional quant
//                                      differs by one of 255 levels.
//   scalar vs double reference         1e-5 (Q4_1's reference uses the stored s = d * sum(q), rounded to
//                                      fp16 by the format, for its offset term); K-quants 1e-4 (d*isum and
//                                      dmin*msum cancel partly before the final rounding).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/half.h"
#include "enclave/kernels/quant.h"
#include "test_util.h"

using namespace enclave;
using namespace enclave::kernels;

namespace {

const TensorType k_weight_types[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0,
                                     TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                                     TensorType::F16,  TensorType::BF16, TensorType::F32};

bool is_k_quant(TensorType t) {
    return t == TensorType::Q4_K || t == TensorType::Q5_K || t == TensorType::Q6_K;
}

std::string name(TensorType t) {
    return std::string(tensor_type_name(t));
}

struct Problem {
    TensorType type;
    int64_t n_rows, n_cols, n_tokens;
    std::vector<uint8_t> w;  // [n_rows, n_cols] type
    std::vector<float> x;    // [n_tokens, n_cols]
};

Problem make_problem(std::mt19937_64& rng, TensorType type, int64_t n_rows, int64_t n_cols, int64_t n_tokens) {
    Problem p{type, n_rows, n_cols, n_tokens, {}, {}};
    const size_t rb = *row_bytes(type, n_cols);
    p.w = std::vector<uint8_t>(rb * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto row = enclave_test::random_values(rng, static_cast<size_t>(n_cols), 0.05f);
        if (!quantize_row_ref(type, row.data(), p.w.data() + rb * static_cast<size_t>(r), n_cols)) p.w.clear();
    }
    p.x = enclave_test::random_values(rng, static_cast<size_t>(n_cols * n_tokens));
    return p;
}

std::vector<uint8_t> convert(CpuIsa isa, const Problem& p, Status* st) {
    const size_t rb = *row_bytes(activation_type(p.type), p.n_cols);
    std::vector<uint8_t> xq(rb * static_cast<size_t>(p.n_tokens), 0xCD);
    *st = convert_activations(isa, p.type, p.x.data(), p.n_cols, p.n_cols, 0, p.n_tokens, xq.data());
    return xq;
}

// y [n_tokens, y_stride], poisoned with NaN; rows [row_begin, row_end) computed.
std::vector<float> run(CpuIsa isa, const Problem& p, const std::vector<uint8_t>& xq, int64_t y_stride,
                       int64_t row_begin, int64_t row_end, Status* st) {
    std::vector<float> y(static_cast<size_t>(p.n_tokens * y_stride), NAN);
    *st = matmul_rows(isa, p.type, p.w.data(), p.n_cols, xq.data(), p.n_tokens, y.data(), y_stride, row_begin, row_end);
    return y;
}

// Compares a computed y with a reference one over the rows [row_begin, row_end) of every token:
//   - anything written outside that range (not NaN any more) or anything inside that is not finite fails;
//   - the normalised error ||a - b|| / ||b|| over the whole range must be <= tol, for outputs of at least
//     8 values (one dot product alone can cancel to a tiny value, and its relative error says nothing);
//   - every element must satisfy |a - b| <= tol * sum_i |w_i x_i| (its magnitude scale `mag`), which holds
//     however much the sum cancels and catches a single wrong element or block.
// Returns the normalised error, or +inf when a check fails.
double compare(const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& mag,
               int64_t n_tokens, int64_t y_stride, int64_t row_begin, int64_t row_end, double tol) {
    std::vector<double> ra, rb;
    bool elements_ok = true;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < y_stride; ++r) {
            const size_t i = static_cast<size_t>(t * y_stride + r);
            if (r < row_begin || r >= row_end) {
                if (!std::isnan(a[i])) return INFINITY;
                continue;
            }
            ra.push_back(a[i]);
            rb.push_back(b[i]);
            elements_ok = elements_ok && std::fabs(double(a[i]) - double(b[i])) <= tol * mag[i] + 1e-30;
        }
    }
    const double err = enclave_check::normalised_error(ra, rb);
    if (!elements_ok || !std::isfinite(err)) return INFINITY;
    return ra.size() >= 8 ? err : 0.0;
}

// sum_i |w_i x_i| over the dequantized weight and activation rows, laid out like y.
std::vector<double> magnitudes(const Problem& p, const std::vector<uint8_t>& xq, int64_t y_stride) {
    const TensorType act = activation_type(p.type);
    const size_t wrb = *row_bytes(p.type, p.n_cols), xrb = *row_bytes(act, p.n_cols);
    std::vector<float> wf(static_cast<size_t>(p.n_cols)), xf(static_cast<size_t>(p.n_cols));
    std::vector<double> mag(static_cast<size_t>(p.n_tokens * y_stride), 0.0);
    for (int64_t t = 0; t < p.n_tokens; ++t) {
        (void)dequantize_row(act, xq.data() + xrb * static_cast<size_t>(t), xf.data(), p.n_cols);
        for (int64_t r = 0; r < p.n_rows; ++r) {
            (void)dequantize_row(p.type, p.w.data() + wrb * static_cast<size_t>(r), wf.data(), p.n_cols);
            double s = 0;
            for (int64_t i = 0; i < p.n_cols; ++i) s += std::fabs(double(wf[size_t(i)]) * double(xf[size_t(i)]));
            mag[static_cast<size_t>(t * y_stride + r)] = s;
        }
    }
    return mag;
}

// Every column count is tried with every token count: one block, a few blocks, the model's sizes
// (576 = 4.5 steps of 128, 1536), and more than one 2048-column chunk.
std::vector<int64_t> col_cases(TensorType t) {
    if (is_k_quant(t)) return {256, 768, 1536, 2304};
    if (t == TensorType::F16 || t == TensorType::BF16 || t == TensorType::F32) return {1, 7, 16, 33, 576, 2056};
    return {32, 96, 160, 576, 2080};
}

const int64_t k_token_cases[] = {1, 2, 3, 4, 5, 7, 16, 33, 70};

struct Range {
    int64_t n_rows, row_begin, row_end, y_stride;
};
// Whole matrices of awkward heights, a sub-range starting mid-group, and a y wider than the matrix.
const Range k_ranges[] = {{1, 0, 1, 1}, {7, 0, 7, 7}, {13, 2, 11, 13}, {30, 5, 30, 37}};

// Where the AVX-512 path sums in ggml's order (ggml_order.h) it must equal the scalar path bit for bit: Q4_1
// always (rows of up to 2048 columns for few tokens, whose row kernels sum per 2048-column chunk), Q8_0 for
// few tokens (decode; its many-token panels keep their own order), the K-quants always (rows of up to 32768
// columns, KernelK's chunk; the token cases cover Q4_K's gemv order (1-3 tokens), its gemm order with a gemv
// remainder (7, 33, 70), Q5_K/Q6_K's 8-lane order (< 8) and their tiled order (16, 33, 70)).
bool follows_ggml_order(TensorType type, int64_t n_cols, int64_t n_tokens) {
    const bool few = n_tokens < 6;
    if (type == TensorType::Q4_1) return !few || n_cols <= 2048;
    if (type == TensorType::Q8_0) return few && n_cols <= 2048;
    if (is_k_quant(type)) return n_cols <= 32768;
    return false;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b, int64_t n_tokens, int64_t y_stride,
               int64_t row_begin, int64_t row_end) {
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = row_begin; r < row_end; ++r) {
            const size_t i = static_cast<size_t>(t * y_stride + r);
            if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
        }
    return true;
}

void compare_isa_with_scalar(CpuIsa isa) {
    if (!cpu_isa_supported(isa)) SKIP(std::string(cpu_isa_name(isa)) + " is not available on this CPU");
    auto rng = enclave_test::rng_for(std::string("isa_vs_scalar_") + std::string(cpu_isa_name(isa)));
    for (TensorType type : k_weight_types) {
        for (int64_t n_cols : col_cases(type)) {
            for (int64_t n_tokens : k_token_cases) {
                const Range& rg = k_ranges[static_cast<size_t>(n_tokens + n_cols) % std::size(k_ranges)];
                const Problem p = make_problem(rng, type, rg.n_rows, n_cols, n_tokens);
                REQUIRE(!p.w.empty());
                const std::string what =
                    name(type) + " cols=" + std::to_string(n_cols) + " tokens=" + std::to_string(n_tokens) + " rows=[" +
                    std::to_string(rg.row_begin) + "," + std::to_string(rg.row_end) + ")/" + std::to_string(rg.n_rows);
                Status st;
                const auto xq_ref = convert(CpuIsa::scalar, p, &st);
                REQUIRE_MSG(st.is_ok(), st.message());
                const auto xq_isa = convert(isa, p, &st);
                REQUIRE_MSG(st.is_ok(), st.message());
                const auto y_ref = run(CpuIsa::scalar, p, xq_ref, rg.y_stride, rg.row_begin, rg.row_end, &st);
                REQUIRE_MSG(st.is_ok(), st.message());
                const auto mag = magnitudes(p, xq_ref, rg.y_stride);
                // Same activations: the kernels alone.
                const auto y_same = run(isa, p, xq_ref, rg.y_stride, rg.row_begin, rg.row_end, &st);
                REQUIRE_MSG(st.is_ok(), st.message());
                const double e_same =
                    compare(y_same, y_ref, mag, n_tokens, rg.y_stride, rg.row_begin, rg.row_end, 1e-5);
                CHECK_MSG(e_same <= 1e-5, what + enclave_test::fmt("same-activation error", e_same));
                if (isa == CpuIsa::avx512 && follows_ggml_order(type, n_cols, n_tokens))
                    CHECK_MSG(bit_equal(y_same, y_ref, n_tokens, rg.y_stride, rg.row_begin, rg.row_end),
                              what + ": not bit-equal to the scalar path, whose order (ggml's) it follows");
                // Own activations: what the engine runs.
                const auto y_own = run(isa, p, xq_isa, rg.y_stride, rg.row_begin, rg.row_end, &st);
                REQUIRE_MSG(st.is_ok(), st.message());
                const bool q8 = activation_type(type) == TensorType::Q8_0 || activation_type(type) == TensorType::Q8_1;
                const double tol_own = q8 ? 2e-2 : 1e-5;
                const double e_own =
                    compare(y_own, y_ref, mag, n_tokens, rg.y_stride, rg.row_begin, rg.row_end, tol_own);
                CHECK_MSG(e_own <= tol_own, what + enclave_test::fmt("own-activation error", e_own));
                // The comparison can fail: one output element off by 1% of its magnitude scale is caught.
                auto broken = y_same;
                const size_t last = static_cast<size_t>(rg.row_end - 1);
                broken[last] += static_cast<float>(0.01 * mag[last] + 1e-30);
                CHECK_MSG(compare(broken, y_ref, mag, n_tokens, rg.y_stride, rg.row_begin, rg.row_end, 1e-5) > 1e-5,
                          what);
            }
        }
    }
}

}  // namespace

ENCLAVE_TEST(avx2_matches_scalar) {
    compare_isa_with_scalar(CpuIsa::avx2);
}
ENCLAVE_TEST(avx512_matches_scalar) {
    compare_isa_with_scalar(CpuIsa::avx512);
}

// The scalar path against sum_i w_i * x_i in double over the dequantized rows (dequantize_row of the
// weight and of the converted activations): an independent reference for the integer arithmetic.
ENCLAVE_TEST(scalar_matches_double_reference) {
    auto rng = enclave_test::rng_for("scalar_matches_double_reference");
    for (TensorType type : k_weight_types) {
        for (int64_t n_cols : col_cases(type)) {
            const int64_t n_rows = 5, n_tokens = 3;
            const Problem p = make_problem(rng, type, n_rows, n_cols, n_tokens);
            REQUIRE(!p.w.empty());
            Status st;
            const auto xq = convert(CpuIsa::scalar, p, &st);
            REQUIRE(st.is_ok());
            const auto y = run(CpuIsa::scalar, p, xq, n_rows, 0, n_rows, &st);
            REQUIRE(st.is_ok());
            const TensorType act = activation_type(type);
            const size_t wrb = *row_bytes(type, n_cols), xrb = *row_bytes(act, n_cols);
            std::vector<float> wf(static_cast<size_t>(n_cols)), xf(static_cast<size_t>(n_cols));
            std::vector<double> ref(static_cast<size_t>(n_rows * n_tokens));
            for (int64_t t = 0; t < n_tokens; ++t) {
                REQUIRE(dequantize_row(act, xq.data() + xrb * static_cast<size_t>(t), xf.data(), n_cols));
                for (int64_t r = 0; r < n_rows; ++r) {
                    REQUIRE(dequantize_row(type, p.w.data() + wrb * static_cast<size_t>(r), wf.data(), n_cols));
                    double s = 0;
                    for (int64_t i = 0; i < n_cols; ++i) s += double(wf[size_t(i)]) * double(xf[size_t(i)]);
                    if (type == TensorType::Q4_1) {
                        // The format stores sum_j(x_j) of a Q8_1 block as s, rounded to fp16, and the offset
                        // m of a Q4_1 block multiplies s: replace the exact sum by the stored one.
                        const auto* wb = reinterpret_cast<const block_q4_1*>(p.w.data() + wrb * static_cast<size_t>(r));
                        const auto* xb = reinterpret_cast<const block_q8_1*>(xq.data() + xrb * static_cast<size_t>(t));
                        for (int64_t b = 0; b < n_cols / 32; ++b) {
                            double exact = 0;
                            for (int j = 0; j < 32; ++j) exact += double(xf[size_t(32 * b + j)]);
                            s += double(fp16_to_fp32(wb[b].m)) * (double(fp16_to_fp32(xb[b].s)) - exact);
                        }
                    }
                    ref[static_cast<size_t>(t * n_rows + r)] = s;
                }
            }
            const double tol = is_k_quant(type) ? 1e-4 : 1e-5;
            const double err = enclave_check::normalised_error(y, ref);
            CHECK_MSG(err <= tol, name(type) + " cols=" + std::to_string(n_cols) + enclave_test::fmt("error", err));
        }
    }
}

// SIMD activation conversion: Q8_0/Q8_1 like ggml's x86 quantize_row_q8_0/q8_1 (same d, quants within one
// level of the reference and rarely different, s consistent with the quants); other types byte-identical.
ENCLAVE_TEST(convert_activations_per_isa) {
    auto rng = enclave_test::rng_for("convert_activations_per_isa");
    for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
        if (!cpu_isa_supported(isa)) continue;
        for (TensorType type : k_weight_types) {
            const int64_t n_cols = is_k_quant(type) ? 1024 : 1056;
            const Problem p = make_problem(rng, type, 1, n_cols, 5);
            Status st;
            const auto a = convert(CpuIsa::scalar, p, &st);
            REQUIRE(st.is_ok());
            const auto b = convert(isa, p, &st);
            REQUIRE(st.is_ok());
            const TensorType act = activation_type(type);
            if (act != TensorType::Q8_0 && act != TensorType::Q8_1) {
                CHECK_MSG(a == b, name(type));
                continue;
            }
            const bool q8_1 = act == TensorType::Q8_1;
            const size_t bb = q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
            const size_t qoff = q8_1 ? 4 : 2;
            int64_t n_diff = 0, n_far = 0, n_bad_d = 0, n_bad_s = 0;
            for (size_t blk = 0; blk < a.size() / bb; ++blk) {
                const uint8_t* pa = a.data() + blk * bb;
                const uint8_t* pb = b.data() + blk * bb;
                n_bad_d += std::memcmp(pa, pb, 2) != 0;
                int sum = 0;
                for (size_t j = 0; j < 32; ++j) {
                    const int qa = static_cast<int8_t>(pa[qoff + j]), qb = static_cast<int8_t>(pb[qoff + j]);
                    n_diff += qa != qb;
                    n_far += std::abs(qa - qb) > 1;
                    sum += qb;
                }
                if (q8_1) {
                    uint16_t d_bits, s_bits;
                    std::memcpy(&d_bits, pb, 2);
                    std::memcpy(&s_bits, pb + 2, 2);
                    const float s_want = fp16_to_fp32(d_bits) * static_cast<float>(sum);
                    n_bad_s += std::fabs(fp16_to_fp32(s_bits) - s_want) > 2e-3f * std::fabs(s_want) + 1e-6f;
                }
            }
            CHECK_MSG(n_bad_d == 0 && n_far == 0 && n_bad_s == 0, name(type));
            CHECK_MSG(n_diff * 100 < static_cast<int64_t>(a.size()),
                      name(type) + " differing quants: " + std::to_string(n_diff));
        }
    }
}

// The hand block of tst_quant (d = 1 exactly): ggml's x86 conversion rounds halves to even.
ENCLAVE_TEST(simd_q8_conversion_rounds_half_to_even) {
    for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
        if (!cpu_isa_supported(isa)) continue;
        float x[32] = {-127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 3.49f, -3.51f, 100.4f, -99.6f, 0.0f, 126.5f};
        for (int j = 12; j < 32; ++j) x[j] = static_cast<float>(j - 12) * 1.5f;
        const int8_t want[12] = {-127, 2, -2, 0, 0, 2, 3, -4, 100, -100, 0, 126};
        block_q8_0 b;
        REQUIRE(convert_activations(isa, TensorType::Q8_0, x, 32, 32, 0, 1, &b));
        CHECK_EQ(b.d, 0x3c00);
        CHECK(std::memcmp(b.qs, want, sizeof want) == 0);
    }
}

ENCLAVE_TEST(arguments_are_validated) {
    std::vector<uint8_t> w(64 * 34), xq(64 * 36);
    std::vector<float> y(64, 0.0f), x(64, 1.0f);
    const CpuIsa s = CpuIsa::scalar;
    using C = Status::Code;
    CHECK(matmul_rows(s, TensorType::Q8_0, w.data(), 48, xq.data(), 1, y.data(), 1, 0, 1).code() ==
          C::invalid_argument);
    CHECK(matmul_rows(s, TensorType::Q8_0, w.data(), 0, xq.data(), 1, y.data(), 1, 0, 1).code() == C::invalid_argument);
    CHECK(matmul_rows(s, TensorType::Q8_K, w.data(), 256, xq.data(), 1, y.data(), 1, 0, 1).code() == C::unsupported);
    CHECK(matmul_rows(s, TensorType::Q8_0, w.data(), 32, xq.data(), 1, y.data(), 1, 3, 2).code() ==
          C::invalid_argument);
    CHECK(matmul_rows(s, TensorType::Q8_0, w.data(), 32, xq.data(), 2, y.data(), 2, 0, 4).code() ==
          C::invalid_argument);
    CHECK(matmul_rows(s, TensorType::Q8_0, nullptr, 32, xq.data(), 1, y.data(), 1, 0, 1).code() == C::invalid_argument);
    CHECK(matmul_rows(s, TensorType::Q8_0, w.data(), 32, xq.data(), -1, y.data(), 1, 0, 1).code() ==
          C::invalid_argument);
    // Empty work is fine and touches nothing.
    CHECK(matmul_rows(s, TensorType::Q8_0, nullptr, 32, nullptr, 0, nullptr, 1, 0, 1).is_ok());
    CHECK(matmul_rows(s, TensorType::Q8_0, nullptr, 32, nullptr, 1, nullptr, 1, 2, 2).is_ok());
    CHECK(convert_activations(s, TensorType::Q4_1, x.data(), 16, 32, 0, 1, xq.data()).code() == C::invalid_argument);
    CHECK(convert_activations(s, TensorType::Q4_K, x.data(), 64, 64, 0, 1, xq.data()).code() == C::invalid_argument);
    CHECK(convert_activations(s, TensorType::Q4_1, x.data(), 32, 32, 1, 0, xq.data()).code() == C::invalid_argument);
    if (!cpu_isa_supported(CpuIsa::avx512))
        CHECK(matmul_rows(CpuIsa::avx512, TensorType::Q8_0, w.data(), 32, xq.data(), 1, y.data(), 1, 0, 1).code() ==
              C::unsupported);
}

ENCLAVE_TEST(isa_detection) {
    CHECK(cpu_isa_supported(CpuIsa::scalar));
    const CpuIsa best = detect_cpu_isa();
    CHECK(cpu_isa_supported(best));
    CHECK(cpu_isa_supported(CpuIsa::avx512) <= cpu_isa_supported(CpuIsa::avx2));  // AVX-512 path implies AVX2
    CHECK_EQ(cpu_isa_name(CpuIsa::avx512), std::string_view("avx512"));
    std::fprintf(stderr, "detected ISA: %s\n", std::string(cpu_isa_name(best)).c_str());
    CHECK(activation_type(TensorType::Q4_1) == TensorType::Q8_1);
    CHECK(activation_type(TensorType::Q6_K) == TensorType::Q8_K);
    CHECK(activation_type(TensorType::Q4_0) == TensorType::Q8_0);
    CHECK(activation_type(TensorType::BF16) == TensorType::BF16);
}

ENCLAVE_TEST_MAIN()
