// bench_gemm_shapes (not a test): the f16 GEMMs of one 8b Llama layer step on cuBLAS, shape by shape, to tell
// how far the backend's calls (cublasGemmEx, CUBLAS_GEMM_DEFAULT; f16 x f16 -> f32, f32 compute) are from what
// the library can do on the same shape:
//   default   the backend's call;
//   lt0       cuBLASLt's first heuristic candidate (what a plain Lt call would take);
//   best      the fastest of up to 32 heuristic candidates, each timed (what a timed pick at load would take);
//   pair      two products of one input (K/V, gate/up) as one strided-batched cublasGemmStridedBatchedEx;
//   stacked   the products of one input as one taller product (Q/K/V 6,144 rows, gate+up 28,672), as weights
//             placed side by side at load would allow.
// Weights rotate over copies that together exceed L2 (a step reads each weight once, cold); random f16 values.
// Times are the mean of 20 launches after 3 warm-ups, from CUDA events. One table row a shape and token count.
//   usage: bench_gemm_shapes [n_tok ...]   (default: 256 512)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "enclave/kernels/half.h"  // defines: fp32_to_fp16
#include "exit_on_error.h"          // defines: CK

namespace {

constexpr int k_warm = 3, k_reps = 20;
constexpr size_t k_workspace = 64u << 20;

struct Ctx {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    cublasLtHandle_t lt = nullptr;
    void* workspace = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
};

// Mean microseconds of f(copy) over k_reps launches, copies rotating.
template <class F>
double time_us(Ctx& c, int n_copies, F&& f) {
    for (int i = 0; i < k_warm; ++i) f(i % n_copies);
    CK(cudaEventRecord(c.e0, c.stream));
    for (int i = 0; i < k_reps; ++i) f(i % n_copies);
    CK(cudaEventRecord(c.e1, c.stream));
    CK(cudaEventSynchronize(c.e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, c.e0, c.e1));
    return 1e3 * ms / k_reps;
}

struct LtResult {
    double first_us = 0, best_us = 0;
    int best_index = -1, candidates = 0;
};

// cuBLASLt on y[b] [n_tok, m] = x [n_tok, k] · W[b]ᵀ for `batch` products (W and y strided by one product).
LtResult time_lt(Ctx& c, const uint16_t* w, int n_copies, int64_t m, int64_t k, const uint16_t* x, int64_t n_tok,
                 float* y, int batch) {
    cublasLtMatmulDesc_t op = nullptr;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    CK(cublasLtMatrixLayoutCreate(&a, CUDA_R_16F, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
    CK(cublasLtMatrixLayoutCreate(&b, CUDA_R_16F, static_cast<uint64_t>(k), static_cast<uint64_t>(n_tok), k));
    CK(cublasLtMatrixLayoutCreate(&d, CUDA_R_32F, static_cast<uint64_t>(m), static_cast<uint64_t>(n_tok), m));
    if (batch > 1) {
        const int32_t n = batch;
        const int64_t sa = m * k, sb = 0, sd = m * n_tok;
        CK(cublasLtMatrixLayoutSetAttribute(a, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n));
        CK(cublasLtMatrixLayoutSetAttribute(b, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n));
        CK(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n));
        CK(cublasLtMatrixLayoutSetAttribute(a, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sa, sizeof sa));
        CK(cublasLtMatrixLayoutSetAttribute(b, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sb, sizeof sb));
        CK(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sd, sizeof sd));
    }
    cublasLtMatmulPreference_t pref = nullptr;
    CK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = k_workspace;
    CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t res[32];
    int n_res = 0;
    CK(cublasLtMatmulAlgoGetHeuristic(c.lt, op, a, b, d, d, pref, 32, res, &n_res));
    LtResult r;
    r.candidates = n_res;
    const float one = 1.0f, zero = 0.0f;
    for (int i = 0; i < n_res; ++i) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        bool failed = false;
        const double us = time_us(c, n_copies, [&](int copy) {
            const auto st = cublasLtMatmul(c.lt, op, &one, w + static_cast<size_t>(copy) * batch * m * k, a, x, b,
                                           &zero, y, d, y, d, &res[i].algo, c.workspace, k_workspace, c.stream);
            if (st != CUBLAS_STATUS_SUCCESS) failed = true;
        });
        if (failed) continue;
        if (i == 0) r.first_us = us;
        if (r.best_index < 0 || us < r.best_us) r.best_us = us, r.best_index = i;
    }
    CK(cublasLtMatmulPreferenceDestroy(pref));
    CK(cublasLtMatrixLayoutDestroy(a));
    CK(cublasLtMatrixLayoutDestroy(b));
    CK(cublasLtMatrixLayoutDestroy(d));
    CK(cublasLtMatmulDescDestroy(op));
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int64_t> toks;
    for (int i = 1; i < argc; ++i) toks.push_back(std::atoll(argv[i]));
    if (toks.empty()) toks = {256, 512};
    Ctx c;
    CK(cudaStreamCreate(&c.stream));
    CK(cublasCreate(&c.blas));
    CK(cublasSetStream(c.blas, c.stream));
    CK(cublasLtCreate(&c.lt));
    CK(cudaMalloc(&c.workspace, k_workspace));
    CK(cudaEventCreate(&c.e0));
    CK(cudaEventCreate(&c.e1));
    // A pool of random f16 values copied over every buffer.
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<uint16_t> pool(1u << 22);
    for (auto& h : pool) h = enclave::kernels::fp32_to_fp16(nd(rng) * 0.05f);
    auto fill = [&](uint16_t* dst, size_t n) {
        for (size_t at = 0; at < n; at += pool.size())
            CK(cudaMemcpy(dst + at, pool.data(), std::min(pool.size(), n - at) * 2, cudaMemcpyHostToDevice));
    };
    struct Shape {
        const char* name;
        int64_t m, k;
        bool pair;  // also as one strided-batched launch of two
    };
    const Shape shapes[] = {{"Q / O", 4096, 4096, false},
                            {"K, V", 1024, 4096, true},
                            {"Q/K/V stacked", 6144, 4096, false},
                            {"gate, up", 14336, 4096, true},
                            {"gate+up stacked", 28672, 4096, false},
                            {"down", 4096, 14336, false},
                            {"output", 128256, 4096, false}};
    std::printf(
        "| shape | m x k | n_tok | default us | TFLOP/s | lt0 us | best us (candidate of n) | TFLOP/s | pair us "
        "(vs 2 x default) |\n|---|---|---|---|---|---|---|---|---|\n");
    for (const int64_t n_tok : toks) {
        uint16_t* x = nullptr;
        CK(cudaMalloc(reinterpret_cast<void**>(&x), static_cast<size_t>(n_tok) * 28672 * 2));
        fill(x, static_cast<size_t>(n_tok) * 28672);
        for (const auto& s : shapes) {
            const size_t w_elems = static_cast<size_t>(s.m * s.k);
            // Copies (in pairs for the batched launch) that together exceed ~3x L2.
            const int n_copies = static_cast<int>(std::max<size_t>(2, (200u << 20) / (2 * w_elems * 2) * 2));
            uint16_t* w = nullptr;
            float* y = nullptr;
            CK(cudaMalloc(reinterpret_cast<void**>(&w), w_elems * 2 * n_copies));
            CK(cudaMalloc(reinterpret_cast<void**>(&y), static_cast<size_t>(n_tok * s.m) * 4 * 2));
            fill(w, w_elems * n_copies);
            const float one = 1.0f, zero = 0.0f;
            const int m = static_cast<int>(s.m), k = static_cast<int>(s.k), n = static_cast<int>(n_tok);
            const double def = time_us(c, n_copies, [&](int copy) {
                CK(cublasGemmEx(c.blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w + copy * w_elems, CUDA_R_16F, k, x,
                                CUDA_R_16F, k, &zero, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
            });
            const LtResult lt = time_lt(c, w, n_copies, s.m, s.k, x, n_tok, y, 1);
            std::string pair = "-";
            if (s.pair) {
                const int pairs = n_copies / 2;
                const double p = time_us(c, pairs, [&](int copy) {
                    CK(cublasGemmStridedBatchedEx(
                        c.blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w + 2 * copy * w_elems, CUDA_R_16F, k,
                        static_cast<long long>(w_elems), x, CUDA_R_16F, k, 0LL, &zero, y, CUDA_R_32F, m,
                        static_cast<long long>(s.m * n_tok), 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
                });
                const LtResult lp = time_lt(c, w, pairs, s.m, s.k, x, n_tok, y, 2);
                char buf[128];
                std::snprintf(buf, sizeof buf, "%.1f (vs %.1f); Lt best %.1f", p, 2 * def, lp.best_us);
                pair = buf;
            }
            const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(n_tok);
            std::printf("| %s | %lld x %lld | %lld | %.1f | %.0f | %.1f | %.1f (%d of %d) | %.0f | %s |\n", s.name,
                        static_cast<long long>(s.m), static_cast<long long>(s.k), static_cast<long long>(n_tok), def,
                        flop / def * 1e-6, lt.first_us, lt.best_us, lt.best_index, lt.candidates,
                        flop / lt.best_us * 1e-6, pair.c_str());
            std::fflush(stdout);
            CK(cudaFree(w));
            CK(cudaFree(y));
        }
        CK(cudaFree(x));
    }
    return 0;
}
