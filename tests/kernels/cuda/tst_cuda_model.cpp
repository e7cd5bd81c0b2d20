// Whole-model forward on the CUDA backend against the CPU backend: random-weight tiny llama and qwen2
// models of every weight type (tiny_model.h), a prefill (GEMM path) then decode steps (matrix-vector path),
// logits within 1e-2 normalised error (or the models' own quantization noise, see allowed()); and batched steps
// of several sequences of different lengths equal to running each alone. Skipped without a CUDA device.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "cuda_test_util.h"
#include "reference_forward.h"
#include "tiny_model.h"
#include "top_output_check.h"

using namespace enclave;
using namespace cuda_test;
using enclave_test::TinySpec;

namespace {

std::filesystem::path temp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() /
           ("enclave_tst_cuda_model_" + std::to_string(getpid()) + "_" + name + ".gguf");
}

// Members in this order so the cache and model (which hold backend memory) go before the backend.
struct Loaded {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
    std::unique_ptr<KvCache> cache;
};

Loaded load(const std::filesystem::path& p, bool gpu, int64_t cache_tokens = 1024) {
    Loaded l;
    l.backend = gpu ? make_cuda_backend(0) : make_cpu_backend(4);
    l.model = Model::load(gguf::GgufFile::open(p), *l.backend);
    l.cache = std::make_unique<KvCache>(*l.backend, l.model->config(), cache_tokens, 16);
    return l;
}

std::vector<int32_t> some_tokens(size_t n, std::mt19937& rng, int64_t n_vocab) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
    return t;
}

std::vector<float> step(Loaded& l, KvCache::SeqId seq, const std::vector<int32_t>& tokens) {
    StepSequence s{seq, tokens, LogitsWanted::last};
    std::vector<float> logits;
    l.model->forward(std::span(&s, 1), *l.cache, logits);
    return logits;
}

int32_t argmax(const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// How far CUDA may be from the CPU: 1e-2, or three times as far as the CPU itself is from exact arithmetic
// (reference_forward.h), whichever is larger. Both backends compute the same integer sums and round attention
// and swiglu identically, so most steps agree to ~1e-7; but their float sums of a matrix product differ in
// order, and once in a while that moves an activation across an 8-bit rounding boundary. On these small random
// models one such flip grows, layer by layer, to the models' 8-bit quantization noise (1-4%), the distance
// the CPU has from exact arithmetic anyway. A wrong kernel is off by far more (normalised error ~1).
double allowed(const std::vector<float>& cpu, const std::vector<double>& exact) {
    return std::max(1e-2, 3.0 * enclave_check::normalised_error(cpu, exact));
}

// A prompt of n_prompt tokens, then n_decode greedy steps (tokens chosen from the CPU's logits and fed to
// both), comparing the last-token logits of every step.
void compare_with_cpu(const TinySpec& spec, const std::string& label, size_t n_prompt, int n_decode) {
    const auto path = temp_path(label);
    const auto tiny = enclave_test::make_tiny_model(spec, path);
    Loaded cpu = load(path, false), gpu = load(path, true);
    std::mt19937 rng(run_seed() + spec.seed);
    auto tokens = some_tokens(n_prompt, rng, spec.n_vocab);
    const auto sc = cpu.cache->create_sequence(), sg = gpu.cache->create_sequence();
    REQUIRE(cpu.cache->reserve(sc, static_cast<int64_t>(n_prompt) + n_decode) &&
            gpu.cache->reserve(sg, static_cast<int64_t>(n_prompt) + n_decode));
    auto want = step(cpu, sc, tokens);
    auto got = step(gpu, sg, tokens);
    int same = argmax(got) == argmax(want);
    auto report = [&](const std::string& what) {
        const auto exact = enclave_test::reference_logits(tiny, tokens);
        std::fprintf(stderr, "  %-40s CPU vs exact %.3g, CUDA vs exact %.3g\n", what.c_str(),
                     enclave_check::normalised_error(want, exact), enclave_check::normalised_error(got, exact));
        expect_close(what + " CUDA vs CPU", got, want, allowed(want, exact));
    };
    report(label + " prefill " + std::to_string(n_prompt));
    for (int i = 0; i < n_decode; ++i) {
        const std::vector<int32_t> next = {argmax(want)};
        tokens.push_back(next[0]);
        want = step(cpu, sc, next);
        got = step(gpu, sg, next);
        report(label + " decode step " + std::to_string(i + 1));
        same += argmax(got) == argmax(want);
    }
    std::fprintf(stderr, "  %s: greedy token equal in %d of %d steps\n", label.c_str(), same, n_decode + 1);
    std::filesystem::remove(path);
}

const TensorType k_types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                              TensorType::Q4_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

bool is_k_quant(TensorType t) {
    return t == TensorType::Q4_K || t == TensorType::Q5_K || t == TensorType::Q6_K;
}

}  // namespace

ENCLAVE_TEST(llama_and_qwen2_every_type_match_cpu) {
    REQUIRE_CUDA_DEVICE();
    for (const char* arch : {"llama", "qwen2"}) {
        for (const TensorType t : k_types) {
            TinySpec s;
            s.arch = arch;
            s.type = t;
            s.seed = 100 + static_cast<uint32_t>(t) + (std::string(arch) == "qwen2" ? 50 : 0);
            if (std::string(arch) == "qwen2") s.rope_base = 1000000.0f;
            if (is_k_quant(t)) {
                s.n_embd = 256;
                s.n_ff = 512;
                s.n_head = 4;
                s.n_kv_head = 1;
            }
            compare_with_cpu(s, std::string(arch) + "_" + std::string(tensor_type_name(t)), 13, 3);
        }
    }
}

// Shapes that cross the GEMM's tiles (768 outputs = 6 row tiles, 150 tokens = 3 token tiles), 128-wide heads.
ENCLAVE_TEST(larger_shapes_match_cpu) {
    REQUIRE_CUDA_DEVICE();
    for (const TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::F16, TensorType::Q6_K}) {
        TinySpec s;
        s.type = t;
        s.n_embd = 512;
        s.n_ff = 768;
        s.n_head = 4;
        s.n_kv_head = 2;
        s.n_vocab = 1000;
        s.n_layer = 3;
        s.tied = false;
        s.seed = 300 + static_cast<uint32_t>(t);
        compare_with_cpu(s, "wide_" + std::string(tensor_type_name(t)), quick() ? 40 : 150, 2);
    }
}

// One step over several sequences (a decode token, short and long prefills, a second chunk) equals each alone.
ENCLAVE_TEST(batched_step_equals_sequences_alone) {
    REQUIRE_CUDA_DEVICE();
    TinySpec spec;
    spec.type = TensorType::Q4_0;
    spec.seed = 5;
    const auto path = temp_path("batched");
    enclave_test::make_tiny_model(spec, path);
    Loaded batched = load(path, true), alone = load(path, true);
    std::mt19937 rng(run_seed() + 7);
    struct Case {
        size_t history, now;
    };
    const Case cases[] = {{0, 1}, {6, 1}, {0, 17}, {20, 9}, {3, 40}};
    std::vector<std::vector<int32_t>> hist, now;
    std::vector<KvCache::SeqId> seqs;
    std::vector<float> logits;
    for (const auto& c : cases) {
        hist.push_back(some_tokens(c.history, rng, spec.n_vocab));
        now.push_back(some_tokens(c.now, rng, spec.n_vocab));
        const auto seq = batched.cache->create_sequence();
        REQUIRE(batched.cache->reserve(seq, static_cast<int64_t>(c.history + c.now)));
        if (!hist.back().empty()) {
            StepSequence s{seq, hist.back(), LogitsWanted::none};
            batched.model->forward(std::span(&s, 1), *batched.cache, logits);
        }
        seqs.push_back(seq);
    }
    std::vector<StepSequence> steps;
    for (size_t i = 0; i < std::size(cases); ++i) steps.push_back({seqs[i], now[i], LogitsWanted::last});
    batched.model->forward(steps, *batched.cache, logits);
    const auto V = static_cast<size_t>(spec.n_vocab);
    REQUIRE(logits.size() == std::size(cases) * V);
    for (size_t i = 0; i < std::size(cases); ++i) {
        std::vector<int32_t> all = hist[i];
        all.insert(all.end(), now[i].begin(), now[i].end());
        const auto seq = alone.cache->create_sequence();
        REQUIRE(alone.cache->reserve(seq, static_cast<int64_t>(all.size())));
        const auto single = step(alone, seq, all);
        alone.cache->release_sequence(seq);
        const std::vector<float> mine(logits.begin() + static_cast<std::ptrdiff_t>(i * V),
                                      logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * V));
        // Different token counts take different kernels (GEMM or matrix-vector) whose float sums differ in
        // order; the integer sums are the same.
        expect_close("batched mixed step, sequence " + std::to_string(i), mine, single, 1e-3);
    }
    std::filesystem::remove(path);
}

// Decode of several sequences of different lengths in one step (the continuous-batching steady state) gives
// what decoding each alone gives, up to the attention's order: like llama.cpp (and the CPU backend, cpu_ops.h:
// AttentionOrder), a step of several tokens sums q·k and p·v in tinyBLAS's order (16 partial sums), a step of
// one token in ggml_vec_dot_f16's (4 x 16). The two differ by float rounding (~1e-7); on these random tiny
// models a 1e-7 difference that moves one activation across an 8-bit (or f16) rounding step grows to their
// quantization noise, as in the CPU-vs-CUDA comparisons: so 1e-3 for float weights, 3e-2 for quantized ones.
ENCLAVE_TEST(batched_decode_equals_decode_alone) {
    REQUIRE_CUDA_DEVICE();
    for (const TensorType t : {TensorType::Q4_1, TensorType::Q4_K, TensorType::F16}) {
        TinySpec spec;
        spec.type = t;
        spec.seed = 9 + static_cast<uint32_t>(t);
        if (is_k_quant(t)) spec.n_embd = 256, spec.n_ff = 512, spec.n_head = 4, spec.n_kv_head = 1;
        const auto path = temp_path("decode_" + std::string(tensor_type_name(t)));
        const auto tiny = enclave_test::make_tiny_model(spec, path);
        // 64 sequences of 1..100 tokens (the batched decode), so a step takes the several-token kernels.
        Loaded batched = load(path, true, 8192), alone = load(path, true, 8192);
        std::mt19937 rng(run_seed() + 11);
        std::vector<size_t> prompt_lens;
        for (size_t i = 0; i < 64; ++i) prompt_lens.push_back(1 + (i * 37) % 100);
        const int n_steps = 4;
        std::vector<KvCache::SeqId> sb, sa;
        std::vector<std::vector<int32_t>> next, history;
        for (const size_t n : prompt_lens) {
            const auto prompt = some_tokens(n, rng, spec.n_vocab);
            const auto b = batched.cache->create_sequence(), a = alone.cache->create_sequence();
            REQUIRE(batched.cache->reserve(b, static_cast<int64_t>(n) + n_steps) &&
                    alone.cache->reserve(a, static_cast<int64_t>(n) + n_steps));
            const auto lb = step(batched, b, prompt);
            const auto la = step(alone, a, prompt);
            sb.push_back(b), sa.push_back(a);
            next.push_back({argmax(la)});
            history.push_back(prompt);
            (void)lb;
        }
        // A batched step sums its products in another order than a one-token step (GEMM or matrix-vector), and
        // on quantized models an 8-bit rounding flip grows layer by layer to the model's quantization noise (see
        // allowed()). So batched and alone may differ by about as much as alone differs from exact arithmetic:
        // the bound is max(base, 3 x that distance), sequence by sequence; a wrong row or a mixed-up sequence
        // is off by ~1.
        const double base = (t == TensorType::F16 || t == TensorType::BF16 || t == TensorType::F32) ? 1e-3 : 1e-2;
        const auto V = static_cast<size_t>(spec.n_vocab);
        double worst = 0, worst_ratio = 0;
        for (int s = 0; s < n_steps; ++s) {
            std::vector<StepSequence> steps;
            for (size_t i = 0; i < sb.size(); ++i) steps.push_back({sb[i], next[i], LogitsWanted::last});
            std::vector<float> logits;
            batched.model->forward(steps, *batched.cache, logits);
            REQUIRE(logits.size() == sb.size() * V);
            for (size_t i = 0; i < sb.size(); ++i) {
                const auto single = step(alone, sa[i], next[i]);
                history[i].push_back(next[i][0]);
                const std::vector<float> mine(logits.begin() + static_cast<std::ptrdiff_t>(i * V),
                                              logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * V));
                const double err = enclave_check::normalised_error(mine, single);
                const double bound = std::max(
                    base, 3.0 * enclave_check::normalised_error(single, enclave_test::reference_logits(tiny, history[i])));
                worst = std::max(worst, err);
                worst_ratio = std::max(worst_ratio, err / bound);
                next[i] = {argmax(single)};
            }
        }
        std::fprintf(stderr,
                     "  batched decode %s: worst normalised error %.3g (%.2f of its bound) over %d steps of %zu "
                     "sequences\n",
                     std::string(tensor_type_name(t)).c_str(), worst, worst_ratio, n_steps, sb.size());
        CHECK_MSG(worst_ratio <= 1.0, std::string(tensor_type_name(t)) + ": batched decode differs from alone by " +
                                          std::to_string(worst_ratio) + " of its bound");
        std::filesystem::remove(path);
    }
}

// Model::forward's top output on the CUDA backend (top_k on the device) equals the top of the whole rows.
ENCLAVE_TEST(forward_top_output_is_the_top_of_the_rows) {
    REQUIRE_CUDA_DEVICE();
    for (const TensorType t : {TensorType::Q4_0, TensorType::F16}) {
        TinySpec spec;
        spec.type = t;
        spec.seed = 21 + static_cast<uint32_t>(t);
        const auto path = temp_path("top_output");
        enclave_test::make_tiny_model(spec, path);
        Loaded a = load(path, true), b = load(path, true);
        enclave_test::check_top_output(*a.model, *a.cache, *b.model, *b.cache, spec.n_vocab);
        std::filesystem::remove(path);
    }
}

ENCLAVE_TEST_MAIN()
