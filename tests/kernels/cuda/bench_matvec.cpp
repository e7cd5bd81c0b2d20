// bench_matvec: the one-token products of a decode step timed one shape at a time on the CUDA launchers alone (no
// backend, no model): NOTES.md's micro-benchmark, so a variant of the mat-vec can be swept in seconds of device time.
//
// Each shape is a launch of matmul_vec_multi as the backend makes it (Q/K/V and gate/up as segments of one launch)
// over split-layout weights written on the host (random quants, valid f16 scales: timing does not depend on the
// values, but no NaN or zero rows), with as many weight sets as make >= 256 MB (five times L2; at most 64 sets, so
// SmolLM2's small products stay L2-sized as they are in its step), rotated so that no launch finds its weights in L2.
// The 8-bit activations come from quantize_activations of a random row. For each shape and configuration
// (MatvecSegments::variant 2 ring / 0 stream / 1 one row a warp / 3 ring, but one row a warp for launches of >= 48 MiB;
// PDL on or off):
//   alone  the median over 15 launches of one launch between two events, synchronised each time (the launch as ncu
//          sees it: its start-up, first bytes and tail included);
//   chain  64 launches over the rotating sets captured in one CUDA graph, the graph timed with events (the median of
//          5 replays) and divided by 64: launches back to back as in a decode step, with PDL overlapping a launch's
//          first weight loads with the launch before it.
// Prints one table row per shape and configuration: us a launch and TB/s of weights read, alone and chained.
//   usage: bench_matvec [8b|smol|all] [q4_0|q4_1|q8_0]      (default: all, each model's own type)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "enclave/kernels/cuda_ops.h"

namespace kc = enclave::kernels::cuda;
using enclave::TensorType;

namespace {

#define BENCH_CHECK(call)                                                                               \
    do {                                                                                                \
        const cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                        \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                               \
        }                                                                                               \
    } while (0)

struct Shape {
    const char* name;
    int64_t n_in;
    std::vector<int64_t> n_out;  // one per segment
};

// Bytes a unit of 32 weights takes in the split layout: quants, then the unit's scale(s) (cuda_ops.h).
struct UnitBytes {
    int quants, scales;
};
UnitBytes unit_bytes(TensorType t) {
    if (t == TensorType::Q8_0) return {32, 2};
    if (t == TensorType::Q4_1) return {16, 4};
    return {16, 2};
}

// One weight set: [rows, n_in] in the split layout, random quants, scales drawn from f16 values in [2^-7, 2^-4).
std::vector<uint8_t> make_weights(std::mt19937& rng, TensorType t, int64_t rows, int64_t n_in) {
    const UnitBytes ub = unit_bytes(t);
    const int64_t n_units = n_in / 32, row_bytes = n_units * (ub.quants + ub.scales);
    std::vector<uint8_t> w(static_cast<size_t>(rows * row_bytes));
    std::uniform_int_distribution<uint32_t> byte(0, 255);
    std::uniform_int_distribution<uint32_t> mant(0, 0x3FF), expo(8, 10);  // f16 exponent field 8..10: 2^-7..2^-5
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t* row = w.data() + r * row_bytes;
        for (int64_t i = 0; i < n_units * ub.quants; ++i) row[i] = static_cast<uint8_t>(byte(rng));
        auto* sc = reinterpret_cast<uint16_t*>(row + n_units * ub.quants);
        for (int64_t i = 0; i < n_units * ub.scales / 2; ++i)
            sc[i] = static_cast<uint16_t>((expo(rng) << 10) | mant(rng));
    }
    return w;
}

struct Config {
    const char* name;
    int variant;
    bool pdl;
};

float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void bench_shape(std::mt19937& rng, TensorType t, const Shape& s, cudaStream_t stream) {
    const UnitBytes ub = unit_bytes(t);
    const int64_t row_bytes = s.n_in / 32 * (ub.quants + ub.scales);
    int64_t rows = 0;
    for (int64_t n : s.n_out) rows += n;
    const size_t set_bytes = static_cast<size_t>(rows * row_bytes);
    const int n_sets = static_cast<int>(std::clamp<size_t>((size_t{256} << 20) / set_bytes + 1, 1, 64));
    // Weights: n_sets sets of every segment, one allocation per set and segment (256-byte aligned); the sets hold
    // the same bytes (drawn once per segment: the values do not matter, the addresses do).
    std::vector<std::vector<void*>> w(static_cast<size_t>(n_sets));
    for (int64_t n : s.n_out) {
        const auto host = make_weights(rng, t, n, s.n_in);
        for (auto& set : w) {
            void* p = nullptr;
            BENCH_CHECK(cudaMalloc(&p, host.size()));
            BENCH_CHECK(cudaMemcpy(p, host.data(), host.size(), cudaMemcpyHostToDevice));
            set.push_back(p);
        }
    }
    // Activations: one random row, quantized for t (q8_activation_bytes' three planes).
    std::vector<float> xh(static_cast<size_t>(s.n_in));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : xh) v = nd(rng);
    float* x = nullptr;   // f32 [1, n_in]
    void* xqb = nullptr;  // the 8-bit planes of x
    float* y = nullptr;   // f32 [rows]: the segments' outputs one after another
    BENCH_CHECK(cudaMalloc(reinterpret_cast<void**>(&x), xh.size() * sizeof(float)));
    BENCH_CHECK(cudaMemcpy(x, xh.data(), xh.size() * sizeof(float), cudaMemcpyHostToDevice));
    BENCH_CHECK(cudaMalloc(&xqb, kc::q8_activation_bytes(1, s.n_in)));
    BENCH_CHECK(cudaMalloc(reinterpret_cast<void**>(&y), static_cast<size_t>(rows) * sizeof(float)));
    const kc::Q8Activations xq = kc::q8_activations(xqb, 1, s.n_in);
    if (const auto st = kc::quantize_activations(t, x, 1, s.n_in, xq, stream); !st) {
        std::fprintf(stderr, "quantize_activations: %s\n", st.message().c_str());
        std::exit(1);
    }
    const auto segs_of = [&](int set, const Config& c) {
        kc::MatvecSegments segs;
        float* yp = y;
        for (size_t i = 0; i < s.n_out.size(); ++i) {
            segs.seg[i] = {w[static_cast<size_t>(set)][i], s.n_out[i], yp, nullptr};
            yp += s.n_out[i];
        }
        segs.n = static_cast<int>(s.n_out.size());
        segs.variant = c.variant;
        segs.pdl = c.pdl;
        return segs;
    };
    const auto launch = [&](int set, const Config& c) {
        const auto st = kc::matmul_vec_multi(t, kc::WeightLayout::split, segs_of(set, c), s.n_in, x, xq, 1, stream);
        if (!st) {
            std::fprintf(stderr, "matmul_vec_multi: %s\n", st.message().c_str());
            std::exit(1);
        }
    };
    const Config configs[] = {{"ring, pdl", 2, true},
                              {"ring", 2, false},
                              {"stream, pdl", 0, true},
                              {"row a warp", 1, false},
                              {"variant 3, pdl", 3, true}};
    cudaEvent_t e0, e1;
    BENCH_CHECK(cudaEventCreate(&e0));
    BENCH_CHECK(cudaEventCreate(&e1));
    const double gb = static_cast<double>(set_bytes) / 1e9;
    for (const Config& c : configs) {
        for (int i = 0; i < n_sets; ++i) launch(i, c);  // warm-up: module load, occupancy queries
        BENCH_CHECK(cudaStreamSynchronize(stream));
        std::vector<float> alone;
        for (int r = 0; r < 15; ++r) {
            BENCH_CHECK(cudaEventRecord(e0, stream));
            launch(r % n_sets, c);
            BENCH_CHECK(cudaEventRecord(e1, stream));
            BENCH_CHECK(cudaEventSynchronize(e1));
            float ms = 0;
            BENCH_CHECK(cudaEventElapsedTime(&ms, e0, e1));
            alone.push_back(ms * 1e3f);
        }
        constexpr int k_chain = 64;
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        BENCH_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        for (int i = 0; i < k_chain; ++i) launch(i % n_sets, c);
        BENCH_CHECK(cudaStreamEndCapture(stream, &graph));
        BENCH_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        BENCH_CHECK(cudaGraphLaunch(exec, stream));  // warm-up replay
        std::vector<float> chain;
        for (int r = 0; r < 5; ++r) {
            BENCH_CHECK(cudaEventRecord(e0, stream));
            BENCH_CHECK(cudaGraphLaunch(exec, stream));
            BENCH_CHECK(cudaEventRecord(e1, stream));
            BENCH_CHECK(cudaEventSynchronize(e1));
            float ms = 0;
            BENCH_CHECK(cudaEventElapsedTime(&ms, e0, e1));
            chain.push_back(ms * 1e3f / k_chain);
        }
        BENCH_CHECK(cudaGraphExecDestroy(exec));
        BENCH_CHECK(cudaGraphDestroy(graph));
        const float a = median(alone), ch = median(chain);
        std::printf("| %s %s | %s | %.1f MB x %d sets | %.2f us, %.2f TB/s | %.2f us, %.2f TB/s |\n", s.name,
                    std::string(enclave::tensor_type_name(t)).c_str(), c.name, gb * 1e3, n_sets, a,
                    gb / (a * 1e-6) / 1e3, ch, gb / (ch * 1e-6) / 1e3);
        std::fflush(stdout);
    }
    BENCH_CHECK(cudaEventDestroy(e0));
    BENCH_CHECK(cudaEventDestroy(e1));
    for (auto& set : w)
        for (void* p : set) BENCH_CHECK(cudaFree(p));
    BENCH_CHECK(cudaFree(x));
    BENCH_CHECK(cudaFree(xqb));
    BENCH_CHECK(cudaFree(y));
}

}  // namespace

int main(int argc, char** argv) {
    const std::string which = argc > 1 ? argv[1] : "all";
    const std::string type = argc > 2 ? argv[2] : "";
    const auto type_or = [&](TensorType dflt) {
        if (type == "q4_0") return TensorType::Q4_0;
        if (type == "q4_1") return TensorType::Q4_1;
        if (type == "q8_0") return TensorType::Q8_0;
        return dflt;
    };
    // The products of one layer and the output, as synth_gguf.py shapes them (Llama-3-8B, SmolLM2-135M).
    const std::vector<Shape> b8 = {{"8b Q/K/V", 4096, {4096, 1024, 1024}},
                                   {"8b O", 4096, {4096}},
                                   {"8b gate/up", 4096, {14336, 14336}},
                                   {"8b down", 14336, {4096}},
                                   {"8b output", 4096, {128256}}};
    const std::vector<Shape> smol = {{"smol Q/K/V", 576, {576, 192, 192}},
                                     {"smol O", 576, {576}},
                                     {"smol gate/up", 576, {1536, 1536}},
                                     {"smol down", 1536, {576}},
                                     {"smol output", 576, {49152}}};
    cudaStream_t stream;
    BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    std::mt19937 rng(1);
    std::printf("| shape | configuration | weights | alone (one launch, synchronised) | chained (64 in a graph) |\n");
    std::printf("|---|---|---|---|---|\n");
    if (which == "8b" || which == "all")
        for (const Shape& s : b8) bench_shape(rng, type_or(TensorType::Q4_0), s, stream);
    if (which == "smol" || which == "all")
        for (const Shape& s : smol) bench_shape(rng, type_or(TensorType::Q4_1), s, stream);
    BENCH_CHECK(cudaStreamDestroy(stream));
    return 0;
}
