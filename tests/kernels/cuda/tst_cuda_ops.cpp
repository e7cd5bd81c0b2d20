// Every CUDA backend op against the CPU backend on awkward sizes (odd row counts, partial tiles, token counts
// either side of the matrix-vector / GEMM switch), on inputs drawn fresh each run, with the CUDA output
// poisoned with NaN beforehand so an unwritten element fails. Skipped without a CUDA device.
#include <algorithm>
#include <cmath>
#include <cstdlib>  // defines: setenv, unsetenv
#include <cstring>
#include <numeric>

#include "enclave/kernels/cpu_ops.h"
#include "enclave/kernels/half.h"
#include "enclave/kernels/quant.h"

#include "cuda_test_util.h"

using namespace enclave;
using namespace cuda_test;

namespace {

const TensorType k_weight_types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                     TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0,
                                     TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

bool is_k_quant(TensorType t) {
    return t == TensorType::Q4_K || t == TensorType::Q5_K || t == TensorType::Q6_K;
}
bool is_float(TensorType t) {
    return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16;
}
std::string tname(TensorType t) {
    return std::string(tensor_type_name(t));
}

}  // namespace

ENCLAVE_TEST(get_rows_every_type) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 1);
    for (const TensorType t : k_weight_types) {
        const int64_t cols = is_k_quant(t) ? 512 : is_float(t) ? 67 : 96, rows = 37;
        const auto bytes = encode(t, random_floats(rng, static_cast<size_t>(rows * cols)), rows, cols);
        const Tensor cpu_table = b.cpu->load_weight(bytes.data(), t, std::vector<int64_t>{cols, rows, 1, 1}.data());
        const Tensor gpu_table = b.gpu->load_weight(bytes.data(), t, std::vector<int64_t>{cols, rows, 1, 1}.data());
        std::vector<int32_t> ids(13);
        for (auto& id : ids) id = static_cast<int32_t>(rng() % rows);
        ids[3] = ids[7];  // a repeat
        Twin id_twin = twin_i32(b, ids);
        Twin out = make_twin(b, TensorType::F32, 13, cols, nullptr);
        poison(b, out);
        b.cpu->get_rows(cpu_table, id_twin.cpu, out.cpu);
        b.gpu->get_rows(gpu_table, id_twin.gpu, out.gpu);
        expect_close("get_rows " + tname(t), read_f32(*b.gpu, out.gpu), read_f32(*b.cpu, out.cpu), 1e-6);
    }
}

ENCLAVE_TEST(get_rows_reports_a_bad_id) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    const std::vector<float> table(5 * 32, 1.0f);
    Twin tab = twin_f32(b, 5, 32, table);
    Twin ids = twin_i32(b, {0, 5});
    Twin out = make_twin(b, TensorType::F32, 2, 32, nullptr);
    b.gpu->get_rows(tab.gpu, ids.gpu, out.gpu);
    std::vector<float> host(64);
    CHECK_THROWS_WITH(b.gpu->download(host.data(), out.gpu, host.size() * 4), InvalidArgument, "outside the table");
    b.gpu->download(host.data(), out.gpu, host.size() * 4);  // the flag was reported once and cleared
    CHECK(host[0] == 1.0f && host[32] == 0.0f);
}

ENCLAVE_TEST(rms_norm_rows) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 2);
    const int64_t shapes[][2] = {{1, 7}, {5, 576}, {3, 4099}, {17, 4096}};
    for (const auto& s : shapes) {
        const int64_t rows = s[0], cols = s[1];
        Twin x = twin_f32(b, rows, cols, random_floats(rng, static_cast<size_t>(rows * cols), 3.0f));
        Twin w = twin_f32(b, 1, cols, random_floats(rng, static_cast<size_t>(cols)));
        Twin out = make_twin(b, TensorType::F32, rows, cols, nullptr);
        poison(b, out);
        const Tensor wc = Tensor::matrix(w.cpu.data, TensorType::F32, 1, cols),
                     wg = Tensor::matrix(w.gpu.data, TensorType::F32, 1, cols);
        b.cpu->rms_norm(x.cpu, wc, 1e-5f, out.cpu);
        b.gpu->rms_norm(x.gpu, wg, 1e-5f, out.gpu);
        expect_close("rms_norm [" + std::to_string(rows) + ", " + std::to_string(cols) + "]", read_f32(*b.gpu, out.gpu),
                     read_f32(*b.cpu, out.cpu), 1e-6);
        // In place, as the model normalises the logit rows.
        b.cpu->rms_norm(x.cpu, wc, 1e-6f, x.cpu);
        b.gpu->rms_norm(x.gpu, wg, 1e-6f, x.gpu);
        expect_close("rms_norm in place", read_f32(*b.gpu, x.gpu), read_f32(*b.cpu, x.cpu), 1e-6);
    }
}

namespace {

void check_matmul(Backends& b, std::mt19937& rng, TensorType t, int64_t n_out, int64_t n_in, int64_t n_tok,
                  bool with_bias) {
    const auto bytes = encode(t, random_floats(rng, static_cast<size_t>(n_out * n_in)), n_out, n_in);
    const int64_t ne[4] = {n_in, n_out, 1, 1};
    const Tensor wc = b.cpu->load_weight(bytes.data(), t, ne);
    const Tensor wg = b.gpu->load_weight(bytes.data(), t, ne);
    Twin x = twin_f32(b, n_tok, n_in, random_floats(rng, static_cast<size_t>(n_tok * n_in)));
    Twin bias = twin_f32(b, 1, n_out, random_floats(rng, static_cast<size_t>(n_out)));
    Twin out = make_twin(b, TensorType::F32, n_tok, n_out, nullptr);
    poison(b, out);
    b.cpu->matmul(wc, x.cpu, out.cpu, with_bias ? &bias.cpu : nullptr);
    b.gpu->matmul(wg, x.gpu, out.gpu, with_bias ? &bias.gpu : nullptr);
    // Float weights: the same products, summed in another order. Quantized: the same integer sums per block.
    const double tol = is_float(t) ? 1e-5 : 1e-4;
    expect_close("matmul " + tname(t) + " w[" + std::to_string(n_out) + ", " + std::to_string(n_in) + "] x " +
                     std::to_string(n_tok) + (with_bias ? " +bias" : ""),
                 read_f32(*b.gpu, out.gpu), read_f32(*b.cpu, out.cpu), tol);
}

}  // namespace

ENCLAVE_TEST(matmul_every_type_and_shape) {
    REQUIRE_CUDA_DEVICE();
    // The 8-bit GEMM at every token count here (130 tokens would otherwise take the dequantized f16 GEMM,
    // which matmul_dequantized_gemm checks with its own tolerance).
    setenv("ENCLAVE_CUDA_DEQUANT_GEMM", "0", 1);
    Backends b;
    unsetenv("ENCLAVE_CUDA_DEQUANT_GEMM");
    std::mt19937 rng(run_seed() + 3);
    struct Shape {
        int64_t n_out, n_in_blocks, n_tok;
        bool bias;
    };
    // n_in in blocks of the type (32 or 256 values; 1 for float types, then plus an odd tail).
    const Shape full[] = {{37, 3, 1, false},   {129, 25, 3, true},   {300, 3, 8, false}, {37, 25, 9, true},
                          {129, 7, 77, false}, {300, 25, 130, true}, {1, 1, 2, false},   {257, 2, 64, false}};
    const Shape small[] = {{37, 3, 1, false}, {129, 7, 9, true}, {130, 2, 70, false}};
    for (const TensorType t : k_weight_types) {
        const int64_t block = is_k_quant(t) ? 256 : 32;
        const auto run = [&](const Shape& s) {
            const int64_t n_in = s.n_in_blocks * block + (is_float(t) ? 3 : 0);
            check_matmul(b, rng, t, s.n_out, n_in, s.n_tok, s.bias);
        };
        if (quick())
            for (const auto& s : small) run(s);
        else
            for (const auto& s : full) run(s);
        if (!quick() && is_float(t)) check_matmul(b, rng, t, 70, 256, 100, true);  // aligned rows: the vector paths
    }
}

// Quantized weights, many tokens: rows dequantized to f16 (in chunks of a 1 MiB scratch here, so several
// chunks a product) and multiplied by cuBLAS. Two references:
// - exact: Σ f16(CPU dequantize_row(w)) · f16(x) in double. The CUDA path computes exactly these products and
//   differs only in the f32 accumulation order: 1e-5 (measured ~1e-7; a wrong unit, scale or chunk is ~1).
// - the CPU backend, which multiplies 8-bit activations: it is itself off the exact product by its 8-bit
//   quantization noise (~4e-3 on these normal inputs); the CUDA result must sit no farther from the CPU than
//   that noise allows (2x the CPU's own distance to the exact product of the unrounded x, + 1e-4).
ENCLAVE_TEST(matmul_dequantized_gemm) {
    REQUIRE_CUDA_DEVICE();
    setenv("ENCLAVE_CUDA_DEQUANT_GEMM", "64", 1);
    setenv("ENCLAVE_CUDA_DEQUANT_MIB", "1", 1);
    Backends b;
    // The same products with f16 copies kept (ENCLAVE_CUDA_F16_CACHE_MIB): 8 MiB holds the first shapes' copies
    // (12 MB in all), the last ones go back to dequantizing in chunks.
    setenv("ENCLAVE_CUDA_F16_CACHE_MIB", "8", 1);
    std::unique_ptr<Backend> cached = make_cuda_backend(0);
    unsetenv("ENCLAVE_CUDA_F16_CACHE_MIB");
    unsetenv("ENCLAVE_CUDA_DEQUANT_GEMM");
    unsetenv("ENCLAVE_CUDA_DEQUANT_MIB");
    std::mt19937 rng(run_seed() + 10);
    struct Shape {
        TensorType t;
        int64_t n_out, n_in, n_tok;
        bool bias;
    };
    // 1 MiB holds 256 rows of 2,048 (700 rows: 3 chunks), 128 rows of 4,096 (300: 3 chunks, the last short).
    const Shape shapes[] = {{TensorType::Q4_0, 700, 2048, 130, true}, {TensorType::Q4_1, 300, 4096, 64, false},
                            {TensorType::Q8_0, 129, 2048, 200, true}, {TensorType::Q4_K, 300, 4096, 77, false},
                            {TensorType::Q5_K, 257, 2048, 65, true},  {TensorType::Q6_K, 700, 2048, 130, false}};
    for (const auto& s : shapes) {
        const auto wv = random_floats(rng, static_cast<size_t>(s.n_out * s.n_in));
        const auto bytes = encode(s.t, wv, s.n_out, s.n_in);
        const int64_t ne[4] = {s.n_in, s.n_out, 1, 1};
        const Tensor wc = b.cpu->load_weight(bytes.data(), s.t, ne);
        const Tensor wg = b.gpu->load_weight(bytes.data(), s.t, ne);
        const auto xv = random_floats(rng, static_cast<size_t>(s.n_tok * s.n_in));
        const auto bv = random_floats(rng, static_cast<size_t>(s.n_out));
        Twin x = twin_f32(b, s.n_tok, s.n_in, xv);
        Twin bias = twin_f32(b, 1, s.n_out, bv);
        Twin out = make_twin(b, TensorType::F32, s.n_tok, s.n_out, nullptr);
        poison(b, out);
        b.cpu->matmul(wc, x.cpu, out.cpu, s.bias ? &bias.cpu : nullptr);
        b.gpu->matmul(wg, x.gpu, out.gpu, s.bias ? &bias.gpu : nullptr);
        const auto got = read_f32(*b.gpu, out.gpu), cpu = read_f32(*b.cpu, out.cpu);
        // The references, from the CPU's dequantized rows.
        const size_t rb = *row_bytes(s.t, s.n_in);
        std::vector<float> w16(static_cast<size_t>(s.n_out * s.n_in)), x16(xv.size());
        for (int64_t r = 0; r < s.n_out; ++r) {
            float* row = w16.data() + r * s.n_in;
            REQUIRE(kernels::dequantize_row(s.t, bytes.data() + static_cast<size_t>(r) * rb, row, s.n_in).is_ok());
        }
        std::vector<float> wd = w16;  // dequantized, unrounded
        for (auto& v : w16) v = kernels::fp16_to_fp32(kernels::fp32_to_fp16(v));
        for (size_t i = 0; i < xv.size(); ++i) x16[i] = kernels::fp16_to_fp32(kernels::fp32_to_fp16(xv[i]));
        std::vector<float> exact16(got.size()), exact(got.size());
        for (int64_t t = 0; t < s.n_tok; ++t)
            for (int64_t r = 0; r < s.n_out; ++r) {
                double a = 0, e = 0;
                for (int64_t i = 0; i < s.n_in; ++i) {
                    a += static_cast<double>(w16[r * s.n_in + i]) * x16[t * s.n_in + i];
                    e += static_cast<double>(wd[r * s.n_in + i]) * xv[t * s.n_in + i];
                }
                const double bb = s.bias ? bv[r] : 0.0;
                exact16[t * s.n_out + r] = static_cast<float>(a + bb);
                exact[t * s.n_out + r] = static_cast<float>(e + bb);
            }
        const std::string shape = tname(s.t) + " w[" + std::to_string(s.n_out) + ", " + std::to_string(s.n_in) +
                                  "] x " + std::to_string(s.n_tok);
        expect_close("dequantized GEMM vs f16 products " + shape, got, exact16, 1e-5);
        {
            const Tensor wk = cached->load_weight(bytes.data(), s.t, ne);
            Tensor xk = Tensor::matrix(nullptr, TensorType::F32, s.n_tok, s.n_in);
            Tensor bk = Tensor::matrix(nullptr, TensorType::F32, 1, s.n_out);
            Tensor ok = Tensor::matrix(nullptr, TensorType::F32, s.n_tok, s.n_out);
            auto xb = cached->allocate(xk.n_bytes()), bb = cached->allocate(bk.n_bytes());
            auto obuf = cached->allocate(ok.n_bytes());
            xk.data = xb->data(), bk.data = bb->data(), ok.data = obuf->data();
            cached->upload(xk, xv.data(), xk.n_bytes());
            cached->upload(bk, bv.data(), bk.n_bytes());
            for (int use = 0; use < 2; ++use) {  // the first use makes the copy, the second reads it
                const std::vector<uint8_t> nan_bytes(ok.n_bytes(), 0xFF);
                cached->upload(ok, nan_bytes.data(), nan_bytes.size());
                cached->matmul(wk, xk, ok, s.bias ? &bk : nullptr);
                expect_close("f16 copy kept, use " + std::to_string(use + 1) + ", vs f16 products " + shape,
                             read_f32(*cached, ok), exact16, 1e-5);
            }
        }
        const double cpu_noise = enclave_check::normalised_error(cpu, exact);
        expect_close("dequantized GEMM vs CPU (8-bit noise " + std::to_string(cpu_noise) + ") " + shape, got, cpu,
                     2.0 * cpu_noise + 1e-4);
    }
}

// The largest logits of each row (what a sampler reads), on rows with ties (the maximum repeated, -0 and +0),
// a NaN and -inf, and rows of one value repeated: the same ids and values as the CPU reference, which is also
// checked against a full sort.
ENCLAVE_TEST(top_k_rows_match_cpu) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 11);
    struct Shape {
        int64_t rows, n, k;
        bool flat;  // one value repeated (then -0, +0, NaN, -inf)
    };
    const Shape shapes[] = {{3, 7, 7, false},        {5, 1000, 1, false},   {4, 50000, 40, false},
                            {2, 128256, 256, false}, {9, 3000, 100, false}, {3, 4099, 200, true}};
    for (const auto& s : shapes) {
        auto v = random_floats(rng, static_cast<size_t>(s.rows * s.n), 4.0f);
        for (int64_t r = 0; r < s.rows; ++r) {
            float* row = v.data() + r * s.n;
            for (int64_t i = 0; i < s.n; ++i) row[i] = s.flat ? 1.5f : std::round(row[i] * 8.0f) / 8.0f;  // ties
            const int64_t top = std::max_element(row, row + s.n) - row;
            row[rng() % s.n] = row[top];  // the maximum twice (or at the same place)
            if (s.n > 10) {
                row[1] = -0.0f, row[2] = 0.0f, row[3] = std::nanf(""), row[4] = -INFINITY;
            }
        }
        Twin x = twin_f32(b, s.rows, s.n, v);
        Twin ids = make_twin(b, TensorType::I32, s.rows, s.k, nullptr), vals = make_twin(b, TensorType::F32, s.rows, s.k, nullptr);
        poison(b, ids);
        poison(b, vals);
        b.cpu->top_k(x.cpu, s.k, ids.cpu, vals.cpu);
        b.gpu->top_k(x.gpu, s.k, ids.gpu, vals.gpu);
        std::vector<int32_t> gi(static_cast<size_t>(s.rows * s.k)), ci(gi.size());
        b.gpu->download(gi.data(), ids.gpu, gi.size() * 4);
        b.cpu->download(ci.data(), ids.cpu, ci.size() * 4);
        const auto gv = read_f32(*b.gpu, vals.gpu), cv = read_f32(*b.cpu, vals.cpu);
        const std::string what = "top_k " + std::to_string(s.k) + " of [" + std::to_string(s.rows) + ", " +
                                 std::to_string(s.n) + "]" + (s.flat ? " flat" : "");
        CHECK_MSG(gi == ci, what + ": ids differ from the CPU's");
        CHECK_MSG(std::memcmp(gv.data(), cv.data(), gv.size() * 4) == 0, what + ": values differ from the CPU's");
        // The CPU reference against a full sort by (key desc, index asc).
        for (int64_t r = 0; r < s.rows; ++r) {
            std::vector<int32_t> order(static_cast<size_t>(s.n));
            std::iota(order.begin(), order.end(), 0);
            const float* row = v.data() + r * s.n;
            std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t c) {
                return kernels::top_k_key(row[a]) > kernels::top_k_key(row[c]);
            });
            CHECK_MSG(std::equal(order.begin(), order.begin() + s.k, ci.begin() + r * s.k),
                      what + ": the CPU reference is not the sorted prefix");
        }
        std::fprintf(stderr, "  %-60s ids and values equal to the CPU's: %s\n", what.c_str(), gi == ci ? "yes" : "NO");
    }
}

ENCLAVE_TEST(matmul_refuses_what_it_cannot_compute) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    const std::vector<uint8_t> bytes(292 * 4, 0);
    const int64_t ne[4] = {256, 4, 1, 1};
    const Tensor w = b.gpu->load_weight(bytes.data(), TensorType::Q8_K, ne);  // an activation type, not a weight type
    Twin x = twin_f32(b, 2, 256, std::vector<float>(512, 1.0f));
    Twin out = make_twin(b, TensorType::F32, 2, 4, nullptr);
    CHECK_THROWS_WITH(b.gpu->matmul(w, x.gpu, out.gpu, nullptr), InvalidArgument, "no matrix product for q8_k");
    Twin wrong = make_twin(b, TensorType::F32, 2, 5, nullptr);
    const Tensor w2 = b.gpu->load_weight(std::vector<float>(4 * 256, 0.0f).data(), TensorType::F32, ne);
    CHECK_THROWS_WITH(b.gpu->matmul(w2, x.gpu, wrong.gpu, nullptr), InvalidArgument, "matmul");
}

ENCLAVE_TEST(rope_variants) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 4);
    struct Case {
        const char* name;
        int64_t head_dim;
        int n_dims;
        bool neox, factors;
        float base, scale;
    };
    const Case cases[] = {{"llama pairs", 64, 64, false, false, 10000.0f, 1.0f},
                          {"neox", 128, 128, true, false, 1000000.0f, 1.0f},
                          {"partial neox", 96, 32, true, false, 10000.0f, 1.0f},
                          {"freq factors, linear scaling", 64, 64, false, true, 500000.0f, 0.25f}};
    for (const auto& c : cases) {
        const int64_t n_tok = 7, n_head = 4, n_kv = 2;
        Twin q = twin_f32(b, n_tok, n_head * c.head_dim,
                          random_floats(rng, static_cast<size_t>(n_tok * n_head * c.head_dim)));
        Twin k =
            twin_f32(b, n_tok, n_kv * c.head_dim, random_floats(rng, static_cast<size_t>(n_tok * n_kv * c.head_dim)));
        std::vector<int32_t> pos(n_tok);
        for (auto& p : pos) p = static_cast<int32_t>(rng() % 5000);
        pos[0] = 0;
        Twin pt = twin_i32(b, pos);
        std::vector<float> ff(static_cast<size_t>(c.n_dims / 2));
        for (auto& f : ff) f = 1.0f + static_cast<float>(rng() % 64) / 8.0f;
        Twin fft = twin_f32(b, 1, static_cast<int64_t>(ff.size()), ff);
        RopeParams p;
        p.n_dims = c.n_dims;
        p.freq_base = c.base;
        p.freq_scale = c.scale;
        p.neox = c.neox;
        p.freq_factors = c.factors ? static_cast<const float*>(fft.cpu.data) : nullptr;
        b.cpu->rope(q.cpu, k.cpu, c.head_dim, pt.cpu, p);
        p.freq_factors = c.factors ? static_cast<const float*>(fft.gpu.data) : nullptr;
        b.gpu->rope(q.gpu, k.gpu, c.head_dim, pt.gpu, p);
        expect_close(std::string("rope q ") + c.name, read_f32(*b.gpu, q.gpu), read_f32(*b.cpu, q.cpu), 1e-5);
        expect_close(std::string("rope k ") + c.name, read_f32(*b.gpu, k.gpu), read_f32(*b.cpu, k.cpu), 1e-5);
    }
}

namespace {

// A step of several sequences over a paged cache whose blocks are handed out in shuffled order; the cache
// already holds random keys and values for each sequence's history.
void check_attention(Backends& b, std::mt19937& rng, int64_t n_head, int64_t n_kv, int64_t hd,
                     const std::vector<std::pair<int, int>>& seqs /* history, new tokens */, bool interleave = false) {
    const int64_t block_size = 16;
    int64_t blocks_needed = 0, max_blocks = 0;
    for (const auto& [h, n] : seqs) {
        const int64_t nb = (h + n + block_size - 1) / block_size;
        blocks_needed += nb;
        max_blocks = std::max(max_blocks, nb);
    }
    const int64_t n_blocks = blocks_needed + 5, n_slots = n_blocks * block_size, kv_row = n_kv * hd;
    std::vector<int32_t> perm(static_cast<size_t>(n_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const int64_t n_seqs = static_cast<int64_t>(seqs.size());
    std::vector<int32_t> tables(static_cast<size_t>(n_seqs * max_blocks), 0), lens, tok_seq, tok_pos, tok_slot;
    size_t next = 0;
    for (int64_t s = 0; s < n_seqs; ++s) {
        const auto [h, n] = seqs[static_cast<size_t>(s)];
        const int64_t nb = (h + n + block_size - 1) / block_size;
        for (int64_t i = 0; i < nb; ++i) tables[static_cast<size_t>(s * max_blocks + i)] = perm[next++];
        lens.push_back(h + n);
        for (int i = 0; i < n; ++i) {
            const int p = h + i;
            tok_seq.push_back(static_cast<int32_t>(s));
            tok_pos.push_back(p);
            tok_slot.push_back(tables[static_cast<size_t>(s * max_blocks + p / block_size)] *
                                   static_cast<int32_t>(block_size) +
                               p % static_cast<int32_t>(block_size));
        }
    }
    const int64_t n_tok = static_cast<int64_t>(tok_seq.size());
    if (interleave) {  // the step's tokens round-robin over the sequences (each sequence's in order)
        std::vector<int> rank(tok_seq.size());
        for (size_t i = 0, r = 0; i < tok_seq.size(); ++i)
            r = (i > 0 && tok_seq[i] == tok_seq[i - 1]) ? r + 1 : 0, rank[i] = static_cast<int>(r);
        std::vector<size_t> order(tok_seq.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rank[x] < rank[y]; });
        std::vector<int32_t> s2, p2, l2;
        for (const size_t i : order) s2.push_back(tok_seq[i]), p2.push_back(tok_pos[i]), l2.push_back(tok_slot[i]);
        tok_seq = s2, tok_pos = p2, tok_slot = l2;
    }
    std::vector<uint16_t> cache_init(static_cast<size_t>(n_slots * kv_row));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& h : cache_init) h = kernels::fp32_to_fp16(nd(rng));
    Twin ck = make_twin(b, TensorType::F16, n_slots, kv_row, cache_init.data());
    for (auto& h : cache_init) h = kernels::fp32_to_fp16(nd(rng));
    Twin cv = make_twin(b, TensorType::F16, n_slots, kv_row, cache_init.data());
    Twin q = twin_f32(b, n_tok, n_head * hd, random_floats(rng, static_cast<size_t>(n_tok * n_head * hd)));
    Twin k = twin_f32(b, n_tok, kv_row, random_floats(rng, static_cast<size_t>(n_tok * kv_row)));
    Twin v = twin_f32(b, n_tok, kv_row, random_floats(rng, static_cast<size_t>(n_tok * kv_row)));
    Twin ts = twin_i32(b, tok_seq), tp = twin_i32(b, tok_pos), tsl = twin_i32(b, tok_slot), tl = twin_i32(b, lens);
    Twin tt = make_twin(b, TensorType::I32, n_seqs, max_blocks, tables.data());
    Twin out = make_twin(b, TensorType::F32, n_tok, n_head * hd, nullptr);
    poison(b, out);
    auto plan_of = [&](bool gpu) {
        AttentionPlan p;
        p.token_seq = gpu ? ts.gpu : ts.cpu;
        p.token_pos = gpu ? tp.gpu : tp.cpu;
        p.token_slot = gpu ? tsl.gpu : tsl.cpu;
        p.block_tables = gpu ? tt.gpu : tt.cpu;
        p.seq_lens = gpu ? tl.gpu : tl.cpu;
        p.n_seqs = n_seqs;
        p.max_blocks_per_seq = max_blocks;
        p.block_size = block_size;
        p.max_seq_len = *std::max_element(lens.begin(), lens.end());
        return p;
    };
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    b.cpu->attention(q.cpu, k.cpu, v.cpu, ck.cpu, cv.cpu, plan_of(false), n_head, n_kv, hd, scale, out.cpu);
    b.gpu->attention(q.gpu, k.gpu, v.gpu, ck.gpu, cv.gpu, plan_of(true), n_head, n_kv, hd, scale, out.gpu);
    const std::string what = "attention heads " + std::to_string(n_head) + "/" + std::to_string(n_kv) + " x " +
                             std::to_string(hd) + ", " + std::to_string(n_seqs) + " seqs, " + std::to_string(n_tok) +
                             " tokens" + (interleave ? " interleaved" : "");
    expect_close(what, read_f32(*b.gpu, out.gpu), read_f32(*b.cpu, out.cpu), 1e-6);
    expect_close(what + " (K cache)", read_f16(*b.gpu, ck.gpu), read_f16(*b.cpu, ck.cpu), 0.0);
    expect_close(what + " (V cache)", read_f16(*b.gpu, cv.gpu), read_f16(*b.cpu, cv.cpu), 0.0);
}

}  // namespace

ENCLAVE_TEST(attention_paged_gqa_causal) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 5);
    // Decode tokens after histories of various lengths, a prefill chunk, a continued chunk, a lone first token.
    const std::vector<std::pair<int, int>> mixed = {{0, 1}, {21, 1}, {37, 5}, {0, 70}, {130, 3}};
    check_attention(b, rng, 8, 2, 64, mixed);
    check_attention(b, rng, 8, 2, 128, mixed);
    check_attention(b, rng, 6, 3, 80, mixed);  // a head that is not a multiple of 32
    check_attention(b, rng, 4, 4, 32, {{5, 2}, {0, 33}});
    check_attention(b, rng, 4, 1, 256, {{300, 1}, {17, 9}});
    // One-token steps: the single-token order, and the current key taken from this step's K/V (not the cache).
    check_attention(b, rng, 8, 2, 128, {{200, 1}});
    check_attention(b, rng, 6, 3, 80, {{0, 1}});
    check_attention(b, rng, 9, 3, 64, {{70, 1}});
    if (!quick()) check_attention(b, rng, 32, 8, 128, {{0, 200}, {1000, 1}});
}

// Several-token steps on the tiled kernel (attention.cu: a block a run of tokens of one sequence x a KV head, K/V
// tiles in shared memory) in the CPU's order, so the same 1e-6 as above (measured on the H200: error 0, the same
// bits), at several rows-a-block and keys-a-tile settings (ENCLAVE_CUDA_ATTN_V2, ENCLAVE_CUDA_ATTN_TILE), with each
// tile value converted once for several rows or once a row (ENCLAVE_CUDA_ATTN_SHARE=2: every block, 1: blocks of
// one token, the default, 0: none), and on the per-(token, head) kernel (ENCLAVE_CUDA_ATTN_V2=0). The shapes cross
// its edges: 1 to 16 query heads a KV head (rows that do not divide the block's 64 quads, nor a quad's 4 rows),
// heads of 16..256 (p·v items sharing their dims up to 128, not at 256), keys past one and several tiles and not a
// multiple of 16, several passes of p·v rows, more tokens a sequence than a block serves, blocks whose tokens
// belong to several sequences (interleaved steps), a first token at position 0, and (not quick) a decode batch of
// 40 sequences of 100-300 keys, as the 256-sequence bench has.
ENCLAVE_TEST(attention_tiled_several_tokens) {
    REQUIRE_CUDA_DEVICE();
    struct Setting {
        const char *rows, *tile, *share;
    };
    const Setting settings[] = {{"8", "128", "2"}, {"16", "64", "2"}, {"64", "256", "2"}, {"4", "512", "2"},
                                {"8", "128", "1"}, {"8", "128", "0"}, {"16", "64", "0"},  {"0", "128", "1"}};
    for (const auto& [rows, tile, share] : settings) {
        setenv("ENCLAVE_CUDA_ATTN_V2", rows, 1);
        setenv("ENCLAVE_CUDA_ATTN_TILE", tile, 1);
        setenv("ENCLAVE_CUDA_ATTN_SHARE", share, 1);
        Backends b;
        std::mt19937 rng(run_seed() + 50);
        const std::vector<std::pair<int, int>> mixed = {{0, 1}, {21, 1}, {37, 5}, {0, 70}, {130, 3}};
        check_attention(b, rng, 8, 2, 128, mixed);
        check_attention(b, rng, 8, 2, 128, mixed, true);
        check_attention(b, rng, 3, 1, 16, {{0, 67}, {63, 2}});
        check_attention(b, rng, 9, 3, 48, {{5, 20}, {64, 64}}, true);
        check_attention(b, rng, 16, 1, 64, {{100, 17}, {0, 1}});
        check_attention(b, rng, 8, 8, 256, {{0, 40}, {191, 2}});
        check_attention(b, rng, 32, 8, 128, {{0, 1}, {1, 1}, {250, 1}, {77, 1}});  // a decode batch
        check_attention(b, rng, 4, 1, 256, {{300, 1}, {17, 9}});
        if (!quick()) {
            check_attention(b, rng, 32, 8, 128, {{0, 200}, {1000, 3}});
            std::vector<std::pair<int, int>> batch;
            std::uniform_int_distribution<int> hist(100, 300);
            for (int i = 0; i < 40; ++i) batch.push_back({hist(rng), 1});
            check_attention(b, rng, 32, 8, 128, batch);
            check_attention(b, rng, 32, 8, 128, {{0, 130}, {60, 129}, {7, 70}}, true);
        }
    }
    unsetenv("ENCLAVE_CUDA_ATTN_V2");
    unsetenv("ENCLAVE_CUDA_ATTN_TILE");
    unsetenv("ENCLAVE_CUDA_ATTN_SHARE");
}

// One-token steps (decode of one sequence) on attention_one_kernel (heads of 64 and 128; ENCLAVE_CUDA_ATTN_ONE=1,
// and =2 as a PDL launch) and on session 6's attention_kernel (=0): the CPU's bits (1e-6; the H200 gives error 0)
// at histories around its edges: the first key, a chunk of 16, a round of scores (64 or 128 quads), the V pieces a
// thread keeps in flight (4 keys of 32) and past them, and (not quick) long histories of several rounds.
ENCLAVE_TEST(attention_one_token_kernels) {
    REQUIRE_CUDA_DEVICE();
    for (const char* one : {"2", "1", "0"}) {
        setenv("ENCLAVE_CUDA_ATTN_ONE", one, 1);
        Backends b;
        std::mt19937 rng(run_seed() + 51);
        for (const int hist : {0, 1, 15, 16, 31, 63, 64, 100, 127, 128, 129, 200, 255, 256})
            check_attention(b, rng, 9, 3, 64, {{hist, 1}});
        for (const int hist : {0, 5, 127, 128, 200, 300, 511}) check_attention(b, rng, 32, 8, 128, {{hist, 1}});
        check_attention(b, rng, 4, 4, 64, {{77, 1}});    // a KV head a query head
        check_attention(b, rng, 16, 1, 128, {{40, 1}});  // 16 query heads a KV head
        if (!quick()) {
            for (const int hist : {600, 1023, 1500, 4000}) check_attention(b, rng, 9, 3, 64, {{hist, 1}});
            for (const int hist : {1000, 2047, 3000}) check_attention(b, rng, 32, 8, 128, {{hist, 1}});
        }
    }
    unsetenv("ENCLAVE_CUDA_ATTN_ONE");
}

// attention_one_kernel reports a key outside the cache and a bad slot for this token (heads of 64).
ENCLAVE_TEST(attention_one_token_reports_a_bad_plan) {
    REQUIRE_CUDA_DEVICE();
    const int64_t hd = 64, n_slots = 32;
    for (const bool bad_block : {true, false}) {
        Backends b;
        Twin ck = make_twin(b, TensorType::F16, n_slots, hd, nullptr),
             cv = make_twin(b, TensorType::F16, n_slots, hd, nullptr);
        const std::vector<float> ones(hd, 1.0f);
        Twin q = twin_f32(b, 1, hd, ones), k = twin_f32(b, 1, hd, ones), v = twin_f32(b, 1, hd, ones);
        // bad_block: keys 0..15 lie in block 7 (outside the cache's 2 blocks); else this token's slot is 999.
        Twin ts = twin_i32(b, {0}), tp = twin_i32(b, {bad_block ? 17 : 3}), tsl = twin_i32(b, {bad_block ? 17 : 999}),
             tl = twin_i32(b, {bad_block ? 18 : 4}), tt = twin_i32(b, {bad_block ? 7 : 0, 1});
        Twin out = make_twin(b, TensorType::F32, 1, hd, nullptr);
        AttentionPlan p;
        p.token_seq = ts.gpu, p.token_pos = tp.gpu, p.token_slot = tsl.gpu, p.block_tables = tt.gpu;
        p.seq_lens = tl.gpu, p.n_seqs = 1, p.max_blocks_per_seq = 2, p.block_size = 16, p.max_seq_len = 18;
        b.gpu->attention(q.gpu, k.gpu, v.gpu, ck.gpu, cv.gpu, p, 1, 1, hd, 1.0f, out.gpu);
        CHECK_THROWS_WITH(b.gpu->synchronize(), InvalidArgument, "invalid cache slot");
    }
}

ENCLAVE_TEST(attention_tiled_reports_a_bad_block) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    const int64_t hd = 32, n_slots = 32;
    Twin ck = make_twin(b, TensorType::F16, n_slots, hd, nullptr),
         cv = make_twin(b, TensorType::F16, n_slots, hd, nullptr);
    const std::vector<float> ones(2 * hd, 1.0f);  // [2, hd]
    Twin q = twin_f32(b, 2, hd, ones), k = twin_f32(b, 2, hd, ones), v = twin_f32(b, 2, hd, ones);
    // Two tokens of one sequence (the tiled kernel) whose second block of keys is outside the cache.
    Twin ts = twin_i32(b, {0, 0}), tp = twin_i32(b, {16, 17}), tsl = twin_i32(b, {0, 1}), tl = twin_i32(b, {18}),
         tt = twin_i32(b, {1, 7});
    Twin out = make_twin(b, TensorType::F32, 2, hd, nullptr);
    AttentionPlan p;
    p.token_seq = ts.gpu, p.token_pos = tp.gpu, p.token_slot = tsl.gpu, p.block_tables = tt.gpu, p.seq_lens = tl.gpu;
    p.n_seqs = 1, p.max_blocks_per_seq = 2, p.block_size = 16, p.max_seq_len = 18;
    b.gpu->attention(q.gpu, k.gpu, v.gpu, ck.gpu, cv.gpu, p, 1, 1, hd, 1.0f, out.gpu);
    CHECK_THROWS_WITH(b.gpu->synchronize(), InvalidArgument, "invalid cache slot");
}

ENCLAVE_TEST(attention_reports_a_bad_slot) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    const int64_t hd = 32, n_slots = 32;
    Twin ck = make_twin(b, TensorType::F16, n_slots, hd, nullptr),
         cv = make_twin(b, TensorType::F16, n_slots, hd, nullptr);
    const std::vector<float> ones(hd, 1.0f);
    Twin q = twin_f32(b, 1, hd, ones), k = twin_f32(b, 1, hd, ones), v = twin_f32(b, 1, hd, ones);
    Twin ts = twin_i32(b, {0}), tp = twin_i32(b, {0}), tsl = twin_i32(b, {999}), tl = twin_i32(b, {1}),
         tt = twin_i32(b, {0});
    Twin out = make_twin(b, TensorType::F32, 1, hd, nullptr);
    AttentionPlan p;
    p.token_seq = ts.gpu, p.token_pos = tp.gpu, p.token_slot = tsl.gpu, p.block_tables = tt.gpu, p.seq_lens = tl.gpu;
    p.n_seqs = 1, p.max_blocks_per_seq = 1, p.block_size = 16, p.max_seq_len = 1;
    b.gpu->attention(q.gpu, k.gpu, v.gpu, ck.gpu, cv.gpu, p, 1, 1, hd, 1.0f, out.gpu);
    CHECK_THROWS_WITH(b.gpu->synchronize(), InvalidArgument, "invalid cache slot");
}

ENCLAVE_TEST(swiglu_and_add) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 6);
    for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{1536}, int64_t{4099}}) {
        const int64_t rows = 3;
        Twin g = twin_f32(b, rows, n, random_floats(rng, static_cast<size_t>(rows * n), 4.0f));
        Twin u = twin_f32(b, rows, n, random_floats(rng, static_cast<size_t>(rows * n)));
        b.cpu->swiglu(g.cpu, u.cpu);
        b.gpu->swiglu(g.gpu, u.gpu);
        expect_close("swiglu [3, " + std::to_string(n) + "]", read_f32(*b.gpu, g.gpu), read_f32(*b.cpu, g.cpu), 1e-7);
        b.cpu->add(g.cpu, u.cpu);
        b.gpu->add(g.gpu, u.gpu);
        expect_close("add [3, " + std::to_string(n) + "]", read_f32(*b.gpu, g.gpu), read_f32(*b.cpu, g.cpu), 1e-7);
    }
}

namespace {

// The op sequence of a transformer layer as the model issues it (residual add, norm, several products of the
// normalised activations, swiglu, the down product), which the CUDA backend fuses: add + norm + 8-bit
// quantization in one kernel, Q/K/V and gate/up each as one launch of several products, swiglu + quantization.
// Every intermediate is compared with the CPU after the whole sequence (a download in between would settle
// the fusions early).
void check_layer_sequence(Backends& b, std::mt19937& rng, TensorType t, int64_t n_embd, int64_t n_ff, int64_t n_kv,
                          int64_t n_tok) {
    struct W {
        Tensor c, g;
    };
    std::vector<std::vector<uint8_t>> files;  // the CPU backend's weights are views of these bytes
    auto weight = [&](int64_t rows, int64_t cols) {
        files.push_back(encode(t, random_floats(rng, static_cast<size_t>(rows * cols)), rows, cols));
        const int64_t ne[4] = {cols, rows, 1, 1};
        return W{b.cpu->load_weight(files.back().data(), t, ne), b.gpu->load_weight(files.back().data(), t, ne)};
    };
    const W wq = weight(n_embd, n_embd), wk = weight(n_kv, n_embd), wv = weight(n_kv, n_embd);
    const W wg = weight(n_ff, n_embd), wu = weight(n_ff, n_embd), wd = weight(n_embd, n_ff);
    Twin x = twin_f32(b, n_tok, n_embd, random_floats(rng, static_cast<size_t>(n_tok * n_embd), 2.0f));
    Twin proj = twin_f32(b, n_tok, n_embd, random_floats(rng, static_cast<size_t>(n_tok * n_embd)));
    Twin nw = twin_f32(b, 1, n_embd, random_floats(rng, static_cast<size_t>(n_embd)));
    Twin bq = twin_f32(b, 1, n_embd, random_floats(rng, static_cast<size_t>(n_embd)));
    Twin bk = twin_f32(b, 1, n_kv, random_floats(rng, static_cast<size_t>(n_kv)));
    Twin xn = make_twin(b, TensorType::F32, n_tok, n_embd, nullptr);
    Twin q = make_twin(b, TensorType::F32, n_tok, n_embd, nullptr);
    Twin k = make_twin(b, TensorType::F32, n_tok, n_kv, nullptr);
    Twin v = make_twin(b, TensorType::F32, n_tok, n_kv, nullptr);
    Twin gate = make_twin(b, TensorType::F32, n_tok, n_ff, nullptr);
    Twin up = make_twin(b, TensorType::F32, n_tok, n_ff, nullptr);
    Twin down = make_twin(b, TensorType::F32, n_tok, n_embd, nullptr);
    for (const Twin* o : {&xn, &q, &k, &v, &gate, &up, &down}) poison(b, *o);
    const Tensor nwc = Tensor::matrix(nw.cpu.data, TensorType::F32, 1, n_embd),
                 nwg = Tensor::matrix(nw.gpu.data, TensorType::F32, 1, n_embd);
    const Tensor bqc = Tensor::matrix(bq.cpu.data, TensorType::F32, 1, n_embd),
                 bqg = Tensor::matrix(bq.gpu.data, TensorType::F32, 1, n_embd);
    const Tensor bkc = Tensor::matrix(bk.cpu.data, TensorType::F32, 1, n_kv),
                 bkg = Tensor::matrix(bk.gpu.data, TensorType::F32, 1, n_kv);
    for (int side = 0; side < 2; ++side) {
        Backend& be = side == 0 ? *b.cpu : *b.gpu;
        auto pick = [&](const Twin& tw) { return side == 0 ? tw.cpu : tw.gpu; };
        auto pw = [&](const W& w) { return side == 0 ? w.c : w.g; };
        be.add(pick(x), pick(proj));
        be.rms_norm(pick(x), side == 0 ? nwc : nwg, 1e-5f, pick(xn));
        const Tensor bqt = side == 0 ? bqc : bqg, bkt = side == 0 ? bkc : bkg;
        be.matmul(pw(wq), pick(xn), pick(q), &bqt);
        be.matmul(pw(wk), pick(xn), pick(k), &bkt);
        be.matmul(pw(wv), pick(xn), pick(v), nullptr);
        be.add(pick(x), pick(q));
        be.rms_norm(pick(x), side == 0 ? nwc : nwg, 1e-5f, pick(xn));
        be.matmul(pw(wg), pick(xn), pick(gate), nullptr);
        be.matmul(pw(wu), pick(xn), pick(up), nullptr);
        be.swiglu(pick(gate), pick(up));
        be.matmul(pw(wd), pick(gate), pick(down), nullptr);
    }
    const std::string label = tname(t) + " [" + std::to_string(n_tok) + " x " + std::to_string(n_embd) + ", ff " +
                              std::to_string(n_ff) + "] ";
    // q, k, v come from the first xn, which both backends compute bit for bit: they differ by the order of the
    // products' float sums only (measured ~3e-7). The second xn follows x += q, so it differs by ~1e-7 too, and
    // the products after it round their activations again: an element within ~1e-7 of a rounding step lands on
    // the other side on one backend. f16: about one element in 8,000 (2^-24 / 2^-11), moving by 2^-11
    // relative; one such element among 256 moves the outputs by ~4.9e-4 / sqrt(256) = 3e-5 of their norm
    // (measured 3.5e-6..8e-5, with the inputs). 8-bit: rarer, but a step of 1/127: one flip among 576 values
    // gives 1/127 / sqrt(576) = 3.3e-4 (seen 2026-11-28: q4_1 [8 x 576] swiglu 3.4e-4, down 1.1e-3). So 1e-5
    // before the second norm, one flip's worth after it (down: 10x, its inputs flip again).
    const double tol = 1e-5;
    const double tol2 = t == TensorType::F16 ? 1e-4 : 1e-3;
    expect_close(label + "x", read_f32(*b.gpu, x.gpu), read_f32(*b.cpu, x.cpu), 1e-6);
    expect_close(label + "xn", read_f32(*b.gpu, xn.gpu), read_f32(*b.cpu, xn.cpu), 1e-6);
    expect_close(label + "q", read_f32(*b.gpu, q.gpu), read_f32(*b.cpu, q.cpu), tol);
    expect_close(label + "k", read_f32(*b.gpu, k.gpu), read_f32(*b.cpu, k.cpu), tol);
    expect_close(label + "v", read_f32(*b.gpu, v.gpu), read_f32(*b.cpu, v.cpu), tol);
    expect_close(label + "swiglu", read_f32(*b.gpu, gate.gpu), read_f32(*b.cpu, gate.cpu), tol2);
    expect_close(label + "up", read_f32(*b.gpu, up.gpu), read_f32(*b.cpu, up.cpu), tol2);
    expect_close(label + "down", read_f32(*b.gpu, down.gpu), read_f32(*b.cpu, down.cpu), 10 * tol2);
}

}  // namespace

ENCLAVE_TEST(fused_layer_sequences) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 7);
    // Q4_0 rows of 256 (16-byte split loads) and 128 values (8-byte), Q4_1 rows of 576 (8-byte), Q8_0, f16,
    // a K-quant (separate quantization); 1..8 tokens (matrix-vector) and 20 (GEMM, cuBLAS for f16).
    struct Case {
        TensorType t;
        int64_t n_embd, n_ff, n_kv, n_tok;
    };
    const Case cases[] = {{TensorType::Q4_0, 256, 512, 64, 1},   {TensorType::Q4_0, 128, 384, 32, 3},
                          {TensorType::Q4_1, 576, 1536, 192, 1}, {TensorType::Q4_1, 576, 1536, 192, 8},
                          {TensorType::Q8_0, 256, 640, 64, 2},   {TensorType::F16, 256, 512, 64, 1},
                          {TensorType::F16, 256, 512, 64, 20},   {TensorType::Q4_K, 256, 512, 256, 1},
                          {TensorType::Q4_0, 256, 512, 64, 20},  {TensorType::Q4_1, 576, 1536, 192, 5}};
    for (const auto& c : cases) {
        if (quick() && c.n_tok > 8 && c.t != TensorType::F16) continue;
        check_layer_sequence(b, rng, c.t, c.n_embd, c.n_ff, c.n_kv, c.n_tok);
    }
}

namespace {

// One transformer layer's op sequence (as check_layer_sequence) on one backend, with K/V and gate/up weights and
// outputs placed as halves of one buffer each, in the order `arrangement` names: 0 K before V in both (the
// model's order: the GEMMs may pair forward), 1 V before K in both (pair backward), 2 weights K first but
// outputs V first (no pair). Outputs are poisoned first on CUDA backends.
struct LayerRun {
    std::vector<std::unique_ptr<DeviceBuffer>> bufs;
    Tensor x, xn, q, k, v, gate, up, down;
};

struct LayerInputs {
    TensorType t;
    int64_t n_embd, n_ff, n_kv, n_tok;
    // Encoded weights: wq [n_embd, n_embd], wkv [2 n_kv, n_embd], wgu [2 n_ff, n_embd], wd [n_embd, n_ff].
    std::vector<uint8_t> wq, wkv, wgu, wd;
    std::vector<float> x, proj, nw, bq, bk;
};

LayerRun run_layer_arranged(Backend& be, const LayerInputs& in, int arrangement, bool poison_outputs) {
    LayerRun r;
    const TensorType t = in.t;
    auto act = [&](int64_t rows, int64_t cols, const std::vector<float>* v) {
        Tensor m = Tensor::matrix(nullptr, TensorType::F32, rows, cols);
        r.bufs.push_back(be.allocate(m.n_bytes()));
        m.data = r.bufs.back()->data();
        if (v) be.upload(m, v->data(), m.n_bytes());
        if (!v && poison_outputs) {
            std::vector<uint8_t> nan_bytes(m.n_bytes(), 0xFF);
            be.upload(m, nan_bytes.data(), nan_bytes.size());
        }
        return m;
    };
    auto weight = [&](const std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
        const int64_t ne[4] = {cols, rows, 1, 1};
        return be.load_weight(bytes.data(), t, ne);
    };
    // Rows [r0, r0 + rows) of a weight, or of an activation buffer.
    auto rows_of = [](const Tensor& m, int64_t r0, int64_t rows) {
        return Tensor::matrix(static_cast<uint8_t*>(m.data) + static_cast<size_t>(r0) * m.row_bytes(), m.type, rows,
                              m.cols());
    };
    const Tensor wq = weight(in.wq, in.n_embd, in.n_embd), wkv = weight(in.wkv, 2 * in.n_kv, in.n_embd);
    const Tensor wgu = weight(in.wgu, 2 * in.n_ff, in.n_embd), wd = weight(in.wd, in.n_embd, in.n_ff);
    r.x = act(in.n_tok, in.n_embd, &in.x);
    const Tensor proj = act(in.n_tok, in.n_embd, &in.proj), nw = act(1, in.n_embd, &in.nw);
    const Tensor bq = act(1, in.n_embd, &in.bq), bk = act(1, in.n_kv, &in.bk);
    r.xn = act(in.n_tok, in.n_embd, nullptr);
    r.q = act(in.n_tok, in.n_embd, nullptr);
    const Tensor kv = act(2 * in.n_tok, in.n_kv, nullptr), gu = act(2 * in.n_tok, in.n_ff, nullptr);
    r.down = act(in.n_tok, in.n_embd, nullptr);
    const bool w_first = arrangement != 1, out_first = arrangement == 0;
    const Tensor wk = rows_of(wkv, w_first ? 0 : in.n_kv, in.n_kv), wv = rows_of(wkv, w_first ? in.n_kv : 0, in.n_kv);
    const Tensor wg = rows_of(wgu, w_first ? 0 : in.n_ff, in.n_ff), wu = rows_of(wgu, w_first ? in.n_ff : 0, in.n_ff);
    r.k = rows_of(kv, out_first ? 0 : in.n_tok, in.n_tok), r.v = rows_of(kv, out_first ? in.n_tok : 0, in.n_tok);
    r.gate = rows_of(gu, out_first ? 0 : in.n_tok, in.n_tok), r.up = rows_of(gu, out_first ? in.n_tok : 0, in.n_tok);
    be.add(r.x, proj);
    be.rms_norm(r.x, nw, 1e-5f, r.xn);
    be.matmul(wq, r.xn, r.q, &bq);
    be.matmul(wk, r.xn, r.k, &bk);
    be.matmul(wv, r.xn, r.v, nullptr);
    be.add(r.x, r.q);
    be.rms_norm(r.x, nw, 1e-5f, r.xn);
    be.matmul(wg, r.xn, r.gate, nullptr);
    be.matmul(wu, r.xn, r.up, nullptr);
    be.swiglu(r.gate, r.up);
    be.matmul(wd, r.gate, r.down, nullptr);
    return r;
}

}  // namespace

// Products through the library f16 GEMM (f16 weights; quantized weights dequantized at >= 128 tokens): the norm
// and swiglu before them write the f16 activations themselves (no round_to_f16), and K/V and gate/up run as one
// strided-batched launch when weights and outputs lie at same-signed distances. Against the unfused CUDA path
// (ENCLAVE_CUDA_F16_FUSE=0, ENCLAVE_CUDA_GEMM_PAIR=0): x and both norms bit for bit (the same arithmetic), the
// products within the f32 summation order of another cuBLAS algorithm; f16 weights also against the CPU with
// check_layer_sequence's tolerances. Every arrangement: paired forward, paired backward, not paired. Quantized
// weights also with their f16 copies kept (ENCLAVE_CUDA_F16_CACHE_MIB: plain f16 GEMMs, which pair as f16 weights
// do), against the unfused path within the f32 order of another cuBLAS call.
ENCLAVE_TEST(f16_gemm_fusions_and_pairs) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    setenv("ENCLAVE_CUDA_F16_FUSE", "0", 1);
    setenv("ENCLAVE_CUDA_GEMM_PAIR", "0", 1);
    std::unique_ptr<Backend> unfused = make_cuda_backend(0);
    unsetenv("ENCLAVE_CUDA_F16_FUSE");
    unsetenv("ENCLAVE_CUDA_GEMM_PAIR");
    setenv("ENCLAVE_CUDA_F16_CACHE_MIB", "64", 1);
    std::unique_ptr<Backend> cached = make_cuda_backend(0);
    unsetenv("ENCLAVE_CUDA_F16_CACHE_MIB");
    std::mt19937 rng(run_seed() + 12);
    struct Case {
        TensorType t;
        int64_t n_embd, n_ff, n_kv, n_tok;
    };
    const Case cases[] = {{TensorType::F16, 256, 512, 64, 20},
                          {TensorType::F16, 192, 320, 32, 131},
                          {TensorType::Q4_0, 256, 512, 64, 130},
                          {TensorType::Q4_1, 192, 352, 96, 129}};
    for (const auto& c : cases) {
        for (int arrangement = 0; arrangement < 3; ++arrangement) {
            if (quick() && arrangement == 2 && c.t != TensorType::F16) continue;
            LayerInputs in{c.t, c.n_embd, c.n_ff, c.n_kv, c.n_tok, {}, {}, {}, {}, {}, {}, {}, {}, {}};
            auto enc = [&](int64_t rows, int64_t cols) {
                return encode(c.t, random_floats(rng, static_cast<size_t>(rows * cols)), rows, cols);
            };
            in.wq = enc(c.n_embd, c.n_embd), in.wkv = enc(2 * c.n_kv, c.n_embd);
            in.wgu = enc(2 * c.n_ff, c.n_embd), in.wd = enc(c.n_embd, c.n_ff);
            in.x = random_floats(rng, static_cast<size_t>(c.n_tok * c.n_embd), 2.0f);
            in.proj = random_floats(rng, static_cast<size_t>(c.n_tok * c.n_embd));
            in.nw = random_floats(rng, static_cast<size_t>(c.n_embd));
            in.bq = random_floats(rng, static_cast<size_t>(c.n_embd));
            in.bk = random_floats(rng, static_cast<size_t>(c.n_kv));
            const LayerRun got = run_layer_arranged(*b.gpu, in, arrangement, true);
            const LayerRun old = run_layer_arranged(*unfused, in, arrangement, true);
            const std::string label = tname(c.t) + " [" + std::to_string(c.n_tok) + " x " + std::to_string(c.n_embd) +
                                      ", ff " + std::to_string(c.n_ff) + "] arrangement " +
                                      std::to_string(arrangement) + " ";
            auto vs_old = [&](const char* what, const Tensor& g, const Tensor& o, double tol) {
                expect_close(label + what + " vs unfused", read_f32(*b.gpu, g), read_f32(*unfused, o), tol);
            };
            // Bit for bit: the same cuBLAS call on the same bits for q. With ENCLAVE_CUDA_GEMM_TUNE each backend
            // times its own pick, so q (and x after x += q) may differ by the f32 summation order.
            const double same = std::getenv("ENCLAVE_CUDA_GEMM_TUNE") ? 1e-6 : 0.0;
            vs_old("x", got.x, old.x, same);
            vs_old("xn", got.xn, old.xn, same);
            vs_old("q", got.q, old.q, same);
            vs_old("k", got.k, old.k, 1e-6);
            vs_old("v", got.v, old.v, 1e-6);
            vs_old("up", got.up, old.up, 1e-6);
            vs_old("swiglu", got.gate, old.gate, 1e-6);
            // down's f16 inputs come from gate and up, which may differ by f32 ordering: a rounding flip's worth
            // (check_layer_sequence's reasoning).
            vs_old("down", got.down, old.down, 1e-4);
            if (c.t != TensorType::F16) {  // the CPU multiplies quantized weights by 8-bit activations
                const LayerRun kept = run_layer_arranged(*cached, in, arrangement, true);
                auto vs_old_kept = [&](const char* what, const Tensor& g, const Tensor& o, double tol) {
                    expect_close(label + what + " (f16 copies kept) vs unfused", read_f32(*cached, g),
                                 read_f32(*unfused, o), tol);
                };
                vs_old_kept("x", kept.x, old.x, 1e-6);
                vs_old_kept("xn", kept.xn, old.xn, 1e-6);
                vs_old_kept("q", kept.q, old.q, 1e-6);
                vs_old_kept("k", kept.k, old.k, 1e-6);
                vs_old_kept("v", kept.v, old.v, 1e-6);
                vs_old_kept("up", kept.up, old.up, 1e-6);
                vs_old_kept("swiglu", kept.gate, old.gate, 1e-6);
                vs_old_kept("down", kept.down, old.down, 1e-4);
                continue;
            }
            const LayerRun cpu = run_layer_arranged(*b.cpu, in, arrangement, false);
            auto vs_cpu = [&](const char* what, const Tensor& g, const Tensor& w, double tol) {
                expect_close(label + what + " vs CPU", read_f32(*b.gpu, g), read_f32(*b.cpu, w), tol);
            };
            vs_cpu("x", got.x, cpu.x, 1e-6);
            vs_cpu("xn", got.xn, cpu.xn, 1e-6);
            vs_cpu("q", got.q, cpu.q, 1e-5);
            vs_cpu("k", got.k, cpu.k, 1e-5);
            vs_cpu("v", got.v, cpu.v, 1e-5);
            vs_cpu("up", got.up, cpu.up, 1e-4);
            vs_cpu("swiglu", got.gate, cpu.gate, 1e-4);
            vs_cpu("down", got.down, cpu.down, 1e-3);
        }
    }
}

ENCLAVE_TEST(get_rows_split_layout) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 8);
    for (const TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0}) {
        const int64_t cols = 256, rows = 41;
        const auto bytes = encode(t, random_floats(rng, static_cast<size_t>(rows * cols)), rows, cols);
        const int64_t ne[4] = {cols, rows, 1, 1};
        const Tensor tc = b.cpu->load_weight(bytes.data(), t, ne), tg = b.gpu->load_weight(bytes.data(), t, ne);
        std::vector<int32_t> ids = {0, 40, 7, 7, 13};
        Twin id = twin_i32(b, ids);
        Twin out = make_twin(b, TensorType::F32, 5, cols, nullptr);
        poison(b, out);
        b.cpu->get_rows(tc, id.cpu, out.cpu);
        b.gpu->get_rows(tg, id.gpu, out.gpu);
        expect_close("get_rows split " + tname(t), read_f32(*b.gpu, out.gpu), read_f32(*b.cpu, out.cpu), 1e-7);
    }
}

// The decode products' streaming paths: rows longer than one register item (Q4_1's rows of 20-byte units are
// not 16-byte multiples: the per-lane L2 prefetch), more rows than resident warps (several rows a warp: the
// rolling L2 window), f16 rows of several rounds. Then the same products launched right after the fused norm
// that writes their activations, with programmatic dependent launch (the default) and the L2 prefetch (off by
// default) on and off: the results must be equal bit for bit (only the timing of the weight loads changes).
ENCLAVE_TEST(matvec_prefetch_and_pdl) {
    REQUIRE_CUDA_DEVICE();
    Backends b;
    std::mt19937 rng(run_seed() + 9);
    struct Shape {
        TensorType t;
        int64_t n_out, n_in, n_tok;
    };
    const Shape shapes[] = {{TensorType::Q4_0, 300, 8192, 1},  {TensorType::Q4_1, 300, 8256, 2},
                            {TensorType::Q8_0, 200, 8192, 1},  {TensorType::Q4_0, 20000, 256, 1},
                            {TensorType::Q4_1, 20000, 576, 3}, {TensorType::F16, 300, 8192, 1},
                            {TensorType::F16, 260, 4096, 3}};
    for (const auto& s : shapes) check_matmul(b, rng, s.t, s.n_out, s.n_in, s.n_tok, true);

    const char* names[] = {"ENCLAVE_CUDA_PDL", "ENCLAVE_CUDA_L2_PREFETCH"};
    for (const char* n : names) setenv(n, "0", 1);
    Backends off;
    setenv("ENCLAVE_CUDA_PDL", "1", 1);
    setenv("ENCLAVE_CUDA_L2_PREFETCH", "32", 1);
    Backends l2;
    for (const char* n : names) unsetenv(n);
    for (const auto& s : shapes) {
        const auto bytes = encode(s.t, random_floats(rng, static_cast<size_t>(s.n_out * s.n_in)), s.n_out, s.n_in);
        const int64_t ne[4] = {s.n_in, s.n_out, 1, 1};
        const auto xv = random_floats(rng, static_cast<size_t>(s.n_tok * s.n_in), 2.0f);
        const auto nv = random_floats(rng, static_cast<size_t>(s.n_in));
        std::vector<float> result[3];
        for (int side = 0; side < 3; ++side) {
            Backends& bs = side == 0 ? b : side == 1 ? off : l2;
            const Tensor w = bs.gpu->load_weight(bytes.data(), s.t, ne);
            Twin x = twin_f32(bs, s.n_tok, s.n_in, xv);
            Twin nw = twin_f32(bs, 1, s.n_in, nv);
            Twin xn = make_twin(bs, TensorType::F32, s.n_tok, s.n_in, nullptr);
            Twin out = make_twin(bs, TensorType::F32, s.n_tok, s.n_out, nullptr);
            poison(bs, out);
            bs.gpu->rms_norm(x.gpu, Tensor::matrix(nw.gpu.data, TensorType::F32, 1, s.n_in), 1e-5f, xn.gpu);
            bs.gpu->matmul(w, xn.gpu, out.gpu, nullptr);
            result[side] = read_f32(*bs.gpu, out.gpu);
        }
        const std::string shape = tname(s.t) + " w[" + std::to_string(s.n_out) + ", " + std::to_string(s.n_in) +
                                  "] x " + std::to_string(s.n_tok);
        expect_close("pdl on vs off " + shape, result[0], result[1], 0.0);
        expect_close("pdl + L2 prefetch on vs off " + shape, result[2], result[1], 0.0);
    }
}

// The one-token products' ring kernel (the default) against the CPU and against session 4's streaming kernel
// (ENCLAVE_CUDA_MMVQ_RING=0): rows of 64 to 448 units (one to four register items of 128 units for the 4-bit
// types, one to seven of 64 for Q8_0, so the ring turns mid-row and ends on either slot; 65 and 130 units: a last
// item of one or two units), more rows than resident warps (items of several rows a warp), 16-byte and 8-byte
// loads (Q4_1 rows of 20-byte units that are not 16-byte multiples), each launched after the norm that writes its
// activations (PDL); rows shorter than 64 units, which keep session 4's kernel, alongside; launches of >= 48 MiB of
// weights, which take one row a warp (PDL) instead of the ring. Each lane sums its units in the same order in
// every kernel, so they must agree bit for bit.
ENCLAVE_TEST(matvec_ring_one_token) {
    REQUIRE_CUDA_DEVICE();
    std::mt19937 rng(run_seed() + 11);
    const char* builds[] = {"0", "1"};  // "0" first: session 4's kernel, the bit-exact reference; "1" the ring
    std::vector<std::unique_ptr<Backends>> be;
    for (const char* v : builds) {
        setenv("ENCLAVE_CUDA_MMVQ_RING", v, 1);
        be.push_back(std::make_unique<Backends>());
    }
    unsetenv("ENCLAVE_CUDA_MMVQ_RING");
    struct Shape {
        TensorType t;
        int64_t n_out, n_in;
    };
    const Shape shapes[] = {
        {TensorType::Q4_0, 50, 2048},   {TensorType::Q4_0, 300, 4096},  {TensorType::Q4_0, 129, 6144},
        {TensorType::Q4_0, 77, 14336},  {TensorType::Q4_0, 9000, 2080}, {TensorType::Q4_1, 5000, 4160},
        {TensorType::Q4_1, 9000, 2080}, {TensorType::Q8_0, 300, 4096},  {TensorType::Q8_0, 9000, 2080},
        {TensorType::Q8_0, 77, 14336},  {TensorType::Q4_0, 37, 96},     {TensorType::Q4_0, 20000, 576},
        {TensorType::Q4_1, 300, 800},   {TensorType::Q4_1, 1000, 576},
        // >= 48 MiB of weights: one row a warp as a PDL launch (variant 3, the default since session 6)
        {TensorType::Q4_0, 24000, 4096}, {TensorType::Q4_1, 10000, 8256}, {TensorType::Q8_0, 12500, 4096}};
    for (const auto& s : shapes) {
        if (quick() && s.n_out * s.n_in > 4'000'000) continue;
        const auto bytes = encode(s.t, random_floats(rng, static_cast<size_t>(s.n_out * s.n_in)), s.n_out, s.n_in);
        const int64_t ne[4] = {s.n_in, s.n_out, 1, 1};
        const auto xv = random_floats(rng, static_cast<size_t>(s.n_in), 2.0f);
        const auto nv = random_floats(rng, static_cast<size_t>(s.n_in));
        const std::string shape =
            tname(s.t) + " w[" + std::to_string(s.n_out) + ", " + std::to_string(s.n_in) + "] x 1";
        std::vector<float> ref;
        for (size_t side = 0; side < be.size(); ++side) {
            Backends& bs = *be[side];
            const Tensor wg = bs.gpu->load_weight(bytes.data(), s.t, ne);
            Twin x = twin_f32(bs, 1, s.n_in, xv);   // [1, n_in]
            Twin nw = twin_f32(bs, 1, s.n_in, nv);  // [1, n_in] norm weights
            Twin xn = make_twin(bs, TensorType::F32, 1, s.n_in, nullptr);
            Twin out = make_twin(bs, TensorType::F32, 1, s.n_out, nullptr);  // [1, n_out]
            poison(bs, out);
            bs.gpu->rms_norm(x.gpu, Tensor::matrix(nw.gpu.data, TensorType::F32, 1, s.n_in), 1e-5f, xn.gpu);
            bs.gpu->matmul(wg, xn.gpu, out.gpu, nullptr);
            const auto got = read_f32(*bs.gpu, out.gpu);
            if (side == 0) {
                ref = got;
                continue;
            }
            const Tensor wc = bs.cpu->load_weight(bytes.data(), s.t, ne);
            bs.cpu->rms_norm(x.cpu, Tensor::matrix(nw.cpu.data, TensorType::F32, 1, s.n_in), 1e-5f, xn.cpu);
            bs.cpu->matmul(wc, xn.cpu, out.cpu, nullptr);
            expect_close("ring vs cpu " + shape, got, read_f32(*bs.cpu, out.cpu), 1e-4);
            expect_close("ring vs session 4 stream " + shape, got, ref, 0.0);
        }
    }
}

ENCLAVE_TEST(allocation_failure_names_the_size) {
    REQUIRE_CUDA_DEVICE();
    auto gpu = make_cuda_backend(0);
    CHECK_THROWS_WITH(gpu->allocate(size_t{1} << 50), ResourceExhausted, "GPU memory");
    auto buf = gpu->allocate(1024);  // the backend is still usable
    std::vector<uint8_t> host(1024, 7);
    gpu->download(host.data(), Tensor::matrix(buf->data(), TensorType::F32, 1, 256), 1024);
    CHECK(std::all_of(host.begin(), host.end(), [](uint8_t x) { return x == 0; }));  // zero-filled
}

ENCLAVE_TEST_MAIN()
