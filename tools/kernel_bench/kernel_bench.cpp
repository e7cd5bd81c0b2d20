// kernel_bench: times the CPU matmul kernels (cpu_matmul.h) on the SmolLM2-135M shapes, per ISA.
//
//   kernel_bench [--isa all|scalar|avx2|avx512] [--threads N] [--reps N] [--tokens 1,512]
//                [--types q4_1,q8_0,...] [--model-only] [--shapes-only] [--cpu-time]
//
// Two measurements:
//   shapes  each matrix alone, repeated (warm in L2 when it fits): decode (1 token) reports GB/s of weight
//           bytes read, prefill reports GFLOP/s (2 * rows * cols * tokens).
//   model   the whole model's matmuls in forward order over distinct weight buffers (30 layers of q, k, v,
//           o, gate, up, down + the 49152 x 576 output), as a forward pass touches them, so nothing is
//           warm that would not be: matmul-only tokens/s for decode and for a 512-token prefill (the
//           output matrix only for the last token, as llama.cpp does).
// Rows are split among --threads like the CPU backend does (granules of 16 rows); times are the minimum over
// --reps runs (the development machines are shared, minimums are the stable statistic). --cpu-time
// measures the calling thread's CPU time instead (one thread), which ignores time spent descheduled.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/quant.h"

using namespace enclave;
using namespace enclave::kernels;

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>  // defines: _mm_pause
#define SPIN_PAUSE() _mm_pause()
#else
#define SPIN_PAUSE() std::this_thread::yield()
#endif

namespace {

struct Options {
    std::vector<CpuIsa> isas;
    int threads = 1;
    int reps = 5;
    std::vector<int64_t> tokens = {1, 512};
    std::vector<TensorType> types = {TensorType::Q4_1, TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K,
                                     TensorType::Q5_K, TensorType::Q6_K, TensorType::F16};
    bool shapes = true;
    bool model = true;
};

struct Shape {
    const char* name;
    int64_t rows, cols;
};

// SmolLM2-135M: n_embd 576, n_ff 1536, 9 heads / 3 KV heads of 64, vocab 49152.
const Shape k_layer_shapes[] = {{"attn_q", 576, 576},   {"attn_k", 192, 576},    {"attn_v", 192, 576},
                                {"attn_out", 576, 576}, {"ffn_gate", 1536, 576}, {"ffn_up", 1536, 576},
                                {"ffn_down", 576, 1536}};
const Shape k_output_shape = {"output", 49152, 576};
constexpr int k_layers = 30;

bool g_cpu_time = false;  // --cpu-time: this thread's CPU time instead of wall time (single thread only)

double now_s() {
    if (g_cpu_time) {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// K-quants need whole 256-value rows: 576 columns are not, so those shapes use 512 (llama.cpp's Q4_K_M
// files fall back to another type for such tensors).
int64_t cols_for(TensorType t, int64_t cols) {
    const int64_t be = tensor_type_info(t).block_elems;
    return cols / be * be;
}

struct Matrix {
    TensorType type;
    int64_t rows, cols;
    std::vector<uint8_t> data;  // [rows, cols] type
};

Matrix make_matrix(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    Matrix m{type, rows, cols_for(type, cols), {}};
    const size_t rb = *row_bytes(type, m.cols);
    m.data.assign(rb * static_cast<size_t>(rows), 0);
    // Quantizing every row is slow for the big matrices; a few distinct rows repeated give the same work.
    std::normal_distribution<float> normal(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(m.cols));
    const int64_t distinct = std::min<int64_t>(rows, 64);
    for (int64_t r = 0; r < distinct; ++r) {
        for (auto& v : row) v = normal(rng);
        (void)quantize_row_ref(type, row.data(), m.data.data() + rb * static_cast<size_t>(r), m.cols);
    }
    for (int64_t r = distinct; r < rows; ++r)
        std::memcpy(m.data.data() + rb * static_cast<size_t>(r), m.data.data() + rb * static_cast<size_t>(r % distinct),
                    rb);
    return m;
}

// The activations of one matmul, converted for its weight type: xq [tokens, cols].
std::vector<uint8_t> make_activations(CpuIsa isa, TensorType type, int64_t cols, int64_t tokens, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(cols * tokens));
    for (auto& v : x) v = normal(rng);
    std::vector<uint8_t> xq(*row_bytes(activation_type(type), cols) * static_cast<size_t>(tokens));
    (void)convert_activations(isa, type, x.data(), cols, cols, 0, tokens, xq.data());
    return xq;
}

// A minimal spinning pool, as the CPU backend's: a decode step is hundreds of short matmuls, so starting
// threads per call (tens of microseconds) would swamp what is measured.
class SpinPool {
public:
    explicit SpinPool(int n) : n_(n) {
        for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { loop(i); });
    }
    ~SpinPool() {
        stop_.store(true);
        generation_.fetch_add(1);
        for (auto& t : workers_) t.join();
    }
    int size() const { return n_; }
    // fn(thread_index) on every thread, the caller being index 0.
    template <class Fn>
    void run(Fn&& fn) {
        if (n_ == 1) {
            fn(0);
            return;
        }
        job_ = [&fn](int i) { fn(i); };
        pending_.store(n_ - 1);
        generation_.fetch_add(1, std::memory_order_release);
        fn(0);
        while (pending_.load(std::memory_order_acquire) != 0) SPIN_PAUSE();
    }

private:
    void loop(int index) {
        uint64_t seen = 0;
        for (;;) {
            uint64_t g;
            while ((g = generation_.load(std::memory_order_acquire)) == seen) SPIN_PAUSE();
            seen = g;
            if (stop_.load()) return;
            job_(index);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }
    int n_;
    std::vector<std::thread> workers_;
    std::function<void(int)> job_;
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

// y = x W^T with the rows split among the pool's threads in granules of 16, as the CPU backend does.
void matmul(CpuIsa isa, const Matrix& m, const std::vector<uint8_t>& xq, int64_t tokens, std::vector<float>& y,
            SpinPool& pool) {
    const int threads = pool.size();
    const int64_t granules = (m.rows + 15) / 16;
    pool.run([&](int i) {
        const int64_t g0 = granules * i / threads, g1 = granules * (i + 1) / threads;
        const int64_t r0 = g0 * 16, r1 = std::min(m.rows, g1 * 16);
        if (r0 < r1) (void)matmul_rows(isa, m.type, m.data.data(), m.cols, xq.data(), tokens, y.data(), m.rows, r0, r1);
    });
}

void bench_shapes(const Options& o, CpuIsa isa, TensorType type, std::mt19937& rng, SpinPool& pool) {
    std::vector<Shape> shapes(std::begin(k_layer_shapes), std::end(k_layer_shapes));
    shapes.push_back(k_output_shape);
    for (const Shape& s : shapes) {
        const Matrix m = make_matrix(type, s.rows, s.cols, rng);
        const double bytes = static_cast<double>(m.data.size());
        for (int64_t tokens : o.tokens) {
            if (tokens > 1 && s.rows == k_output_shape.rows) continue;  // logits of the last token only
            const auto xq = make_activations(isa, type, m.cols, tokens, rng);
            std::vector<float> y(static_cast<size_t>(m.rows * tokens));
            // Enough calls per timing to last ~20 ms.
            matmul(isa, m, xq, tokens, y, pool);
            const double t_one = [&] {
                const double t0 = now_s();
                matmul(isa, m, xq, tokens, y, pool);
                return now_s() - t0;
            }();
            const int inner = std::max(1, static_cast<int>(0.02 / std::max(t_one, 1e-7)));
            double best = 1e30;
            for (int rep = 0; rep < o.reps; ++rep) {
                const double t0 = now_s();
                for (int i = 0; i < inner; ++i) matmul(isa, m, xq, tokens, y, pool);
                best = std::min(best, (now_s() - t0) / inner);
            }
            const double flops =
                2.0 * static_cast<double>(m.rows) * static_cast<double>(m.cols) * static_cast<double>(tokens);
            std::printf("%-7s %-5s %-9s %6lld x %-5lld tok %4lld  %9.1f us  %7.2f GB/s  %7.2f GFLOP/s\n",
                        std::string(cpu_isa_name(isa)).c_str(), std::string(tensor_type_name(type)).c_str(), s.name,
                        static_cast<long long>(m.rows), static_cast<long long>(m.cols), static_cast<long long>(tokens),
                        best * 1e6, bytes / best / 1e9, flops / best / 1e9);
        }
    }
}

// The whole model's matmuls in forward order; returns seconds per forward of `tokens` tokens.
void bench_model(const Options& o, CpuIsa isa, TensorType type, std::mt19937& rng, SpinPool& pool) {
    std::vector<Matrix> layers;  // [k_layers * 7]
    for (int l = 0; l < k_layers; ++l)
        for (const Shape& s : k_layer_shapes) layers.push_back(make_matrix(type, s.rows, s.cols, rng));
    const Matrix output = make_matrix(TensorType::Q8_0, k_output_shape.rows, k_output_shape.cols, rng);
    double bytes = static_cast<double>(output.data.size());
    for (const auto& m : layers) bytes += static_cast<double>(m.data.size());
    for (int64_t tokens : o.tokens) {
        std::vector<std::vector<uint8_t>> xqs;  // one per distinct shape
        for (const Shape& s : k_layer_shapes)
            xqs.push_back(make_activations(isa, type, cols_for(type, s.cols), tokens, rng));
        const auto xq_out = make_activations(isa, TensorType::Q8_0, k_output_shape.cols, 1, rng);
        std::vector<float> y(static_cast<size_t>(k_output_shape.rows * std::max<int64_t>(tokens, 1)));
        auto forward = [&] {
            for (size_t i = 0; i < layers.size(); ++i)
                matmul(isa, layers[i], xqs[i % std::size(k_layer_shapes)], tokens, y, pool);
            matmul(isa, output, xq_out, 1, y, pool);
        };
        forward();
        double best = 1e30;
        for (int rep = 0; rep < o.reps; ++rep) {
            const double t0 = now_s();
            forward();
            best = std::min(best, now_s() - t0);
        }
        if (tokens == 1)
            std::printf("model   %-7s %-5s decode : %7.3f ms/token  %7.1f tokens/s  %6.2f GB/s (%.1f MB of weights)\n",
                        std::string(cpu_isa_name(isa)).c_str(), std::string(tensor_type_name(type)).c_str(), best * 1e3,
                        1.0 / best, bytes / best / 1e9, bytes / 1e6);
        else
            std::printf("model   %-7s %-5s prefill: %7.1f ms / %lld tokens  %7.1f tokens/s\n",
                        std::string(cpu_isa_name(isa)).c_str(), std::string(tensor_type_name(type)).c_str(), best * 1e3,
                        static_cast<long long>(tokens), static_cast<double>(tokens) / best);
    }
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t b = 0;
    while (b <= s.size()) {
        const size_t e = std::min(s.find(',', b), s.size());
        if (e > b) out.push_back(s.substr(b, e - b));
        b = e + 1;
    }
    return out;
}

int usage() {
    std::fprintf(stderr,
                 "usage: kernel_bench [--isa all|scalar|avx2|avx512] [--threads N] [--reps N] [--tokens 1,512]\n"
                 "                    [--types q4_1,q8_0,...] [--model-only] [--shapes-only] [--cpu-time]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::string isa_arg = "all";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--isa" && has_value)
            isa_arg = argv[++i];
        else if (a == "--threads" && has_value)
            o.threads = std::max(1, std::atoi(argv[++i]));
        else if (a == "--reps" && has_value)
            o.reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--tokens" && has_value) {
            o.tokens.clear();
            for (const auto& t : split(argv[++i])) o.tokens.push_back(std::max<int64_t>(1, std::atoll(t.c_str())));
        } else if (a == "--types" && has_value) {
            o.types.clear();
            for (const auto& t : split(argv[++i])) {
                const auto type = tensor_type_from_name(t);
                if (!type || !tensor_type_info(*type).is_weight_type) {
                    std::fprintf(stderr, "unknown weight type %s\n", t.c_str());
                    return 2;
                }
                o.types.push_back(*type);
            }
        } else if (a == "--cpu-time")
            g_cpu_time = true;
        else if (a == "--model-only")
            o.shapes = false;
        else if (a == "--shapes-only")
            o.model = false;
        else
            return usage();
    }
    for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512})
        if ((isa_arg == "all" && isa != CpuIsa::scalar) || isa_arg == cpu_isa_name(isa)) {
            if (cpu_isa_supported(isa))
                o.isas.push_back(isa);
            else
                std::printf("(%s not available on this CPU)\n", std::string(cpu_isa_name(isa)).c_str());
        }
    std::printf("threads %d, reps %d, detected ISA %s\n", o.threads, o.reps,
                std::string(cpu_isa_name(detect_cpu_isa())).c_str());
    std::mt19937 rng(1234);
    SpinPool pool(g_cpu_time ? 1 : o.threads);
    for (TensorType type : o.types)
        for (CpuIsa isa : o.isas) {
            if (o.shapes) bench_shapes(o, isa, type, rng, pool);
            if (o.model) bench_model(o, isa, type, rng, pool);
        }
    return 0;
}
