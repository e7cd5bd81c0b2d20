// cuBLASLt with a timed pick of the algorithm per shape (see cublaslt_gemm.h).
#include "core/backend/cuda/cublaslt_gemm.h"

#include <cublasLt.h>  // defines: the cuBLASLt types (the library itself is loaded with dlopen)
#include <dlfcn.h>

#include <string>
#include <vector>

namespace enclave::cuda_detail {
namespace {

constexpr int k_candidates = 16;  // heuristic algorithms timed per shape
constexpr int k_tune_warm = 1, k_tune_reps = 3;

}  // namespace

// The entry points taken from libcublasLt.
struct LtGemm::Api {
    void* lib = nullptr;
    cublasStatus_t (*create)(cublasLtHandle_t*) = nullptr;
    cublasStatus_t (*destroy)(cublasLtHandle_t) = nullptr;
    cublasStatus_t (*desc_create)(cublasLtMatmulDesc_t*, cublasComputeType_t, cudaDataType_t) = nullptr;
    cublasStatus_t (*desc_destroy)(cublasLtMatmulDesc_t) = nullptr;
    cublasStatus_t (*desc_set)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void*, size_t) = nullptr;
    cublasStatus_t (*layout_create)(cublasLtMatrixLayout_t*, cudaDataType, uint64_t, uint64_t, int64_t) = nullptr;
    cublasStatus_t (*layout_destroy)(cublasLtMatrixLayout_t) = nullptr;
    cublasStatus_t (*layout_set)(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void*,
                                 size_t) = nullptr;
    cublasStatus_t (*pref_create)(cublasLtMatmulPreference_t*) = nullptr;
    cublasStatus_t (*pref_destroy)(cublasLtMatmulPreference_t) = nullptr;
    cublasStatus_t (*pref_set)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void*,
                               size_t) = nullptr;
    cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
                                cublasLtMatmulHeuristicResult_t*, int*) = nullptr;
    cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void*, const void*, cublasLtMatrixLayout_t,
                             const void*, cublasLtMatrixLayout_t, const void*, const void*, cublasLtMatrixLayout_t,
                             void*, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t*, void*, size_t,
                             cudaStream_t) = nullptr;

    template <class F>
    bool get(F& f, const char* name) {
        f = reinterpret_cast<F>(dlsym(lib, name));
        return f != nullptr;
    }
};

// One shape: its operation and layouts (kept for every launch) and the algorithm timed fastest.
struct LtGemm::Plan {
    const Api* api = nullptr;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool usable = false;  // some candidate ran
    ~Plan() {
        if (a) api->layout_destroy(a);
        if (b) api->layout_destroy(b);
        if (d) api->layout_destroy(d);
        if (op) api->desc_destroy(op);
    }
};

namespace {

bool set_strides(const LtGemm::Api& x, const LtGemm::Plan* p, int64_t w_stride, int64_t y_stride) {
    return x.layout_set(p->a, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &w_stride, sizeof w_stride) ==
               CUBLAS_STATUS_SUCCESS &&
           x.layout_set(p->d, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &y_stride, sizeof y_stride) ==
               CUBLAS_STATUS_SUCCESS;
}

}  // namespace

std::unique_ptr<LtGemm> LtGemm::load(cudaStream_t stream, size_t workspace_bytes) {
    auto api = std::make_unique<Api>();
    for (const char* name : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) {
        api->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (api->lib) break;
    }
    if (!api->lib) return nullptr;
    Api& x = *api;
    const bool all =
        x.get(x.create, "cublasLtCreate") && x.get(x.destroy, "cublasLtDestroy") &&
        x.get(x.desc_create, "cublasLtMatmulDescCreate") && x.get(x.desc_destroy, "cublasLtMatmulDescDestroy") &&
        x.get(x.desc_set, "cublasLtMatmulDescSetAttribute") && x.get(x.layout_create, "cublasLtMatrixLayoutCreate") &&
        x.get(x.layout_destroy, "cublasLtMatrixLayoutDestroy") &&
        x.get(x.layout_set, "cublasLtMatrixLayoutSetAttribute") &&
        x.get(x.pref_create, "cublasLtMatmulPreferenceCreate") &&
        x.get(x.pref_destroy, "cublasLtMatmulPreferenceDestroy") &&
        x.get(x.pref_set, "cublasLtMatmulPreferenceSetAttribute") &&
        x.get(x.heuristic, "cublasLtMatmulAlgoGetHeuristic") && x.get(x.matmul, "cublasLtMatmul");
    cublasLtHandle_t handle = nullptr;
    if (!all || x.create(&handle) != CUBLAS_STATUS_SUCCESS) {
        dlclose(x.lib);
        return nullptr;
    }
    std::unique_ptr<LtGemm> g(new LtGemm());
    g->api_ = std::move(api);
    g->handle_ = handle;
    g->stream_ = stream;
    if (cudaMalloc(&g->workspace_, workspace_bytes) != cudaSuccess || cudaEventCreate(&g->start_) != cudaSuccess ||
        cudaEventCreate(&g->stop_) != cudaSuccess) {
        (void)cudaGetLastError();
        return nullptr;  // the destructor frees what was made
    }
    g->workspace_bytes_ = workspace_bytes;
    return g;
}

LtGemm::~LtGemm() {
    plans_.clear();
    if (start_) (void)cudaEventDestroy(start_);
    if (stop_) (void)cudaEventDestroy(stop_);
    if (workspace_) {
        (void)cudaStreamSynchronize(stream_);
        (void)cudaFree(workspace_);
    }
    if (handle_) api_->destroy(static_cast<cublasLtHandle_t>(handle_));
    if (api_ && api_->lib) dlclose(api_->lib);
}

kernels::Status LtGemm::gemm(const void* w, int64_t w_stride, int64_t n_out, int64_t n_in, const uint16_t* x16,
                             int64_t n_tok, float* y, int64_t ldy, int64_t y_stride, int batch) {
    const Api& x = *api_;
    auto lt = static_cast<cublasLtHandle_t>(handle_);
    const float one = 1.0f, zero = 0.0f;
    const auto key = std::make_tuple(n_out, n_in, n_tok, ldy, batch);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
        auto plan = std::make_unique<Plan>();
        plan->api = &x;
        // Column-major view: A = W as [n_in, n_out] (lda n_in) transposed, B = x16 as [n_in, n_tok], D = y as
        // [n_out, n_tok] (ldd ldy): D = Aᵀ · B.
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        bool ok = x.desc_create(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS &&
                  x.desc_set(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == CUBLAS_STATUS_SUCCESS &&
                  x.desc_set(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == CUBLAS_STATUS_SUCCESS &&
                  x.layout_create(&plan->a, CUDA_R_16F, static_cast<uint64_t>(n_in), static_cast<uint64_t>(n_out),
                                  n_in) == CUBLAS_STATUS_SUCCESS &&
                  x.layout_create(&plan->b, CUDA_R_16F, static_cast<uint64_t>(n_in), static_cast<uint64_t>(n_tok),
                                  n_in) == CUBLAS_STATUS_SUCCESS &&
                  x.layout_create(&plan->d, CUDA_R_32F, static_cast<uint64_t>(n_out), static_cast<uint64_t>(n_tok),
                                  ldy) == CUBLAS_STATUS_SUCCESS;
        if (ok && batch > 1) {
            const int32_t n = batch;
            const int64_t sb = 0;
            for (auto layout : {plan->a, plan->b, plan->d})
                ok = ok &&
                     x.layout_set(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n) == CUBLAS_STATUS_SUCCESS;
            ok = ok && x.layout_set(plan->b, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sb, sizeof sb) ==
                           CUBLAS_STATUS_SUCCESS;
        }
        // The strides of a pair are set at every call (below): one plan serves every layer's pair.
        if (ok && batch > 1) ok = set_strides(x, plan.get(), w_stride, y_stride);
        std::vector<cublasLtMatmulHeuristicResult_t> cand(k_candidates);
        int n_cand = 0;
        if (ok) {
            cublasLtMatmulPreference_t pref = nullptr;
            const uint64_t ws = workspace_bytes_;
            ok = x.pref_create(&pref) == CUBLAS_STATUS_SUCCESS &&
                 x.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) == CUBLAS_STATUS_SUCCESS &&
                 x.heuristic(lt, plan->op, plan->a, plan->b, plan->d, plan->d, pref, k_candidates, cand.data(),
                             &n_cand) == CUBLAS_STATUS_SUCCESS;
            if (pref) x.pref_destroy(pref);
        }
        // Each candidate on this product's own operands: the output is written again by the launch below.
        float best_ms = 0;
        for (int i = 0; ok && i < n_cand; ++i) {
            if (cand[static_cast<size_t>(i)].state != CUBLAS_STATUS_SUCCESS) continue;
            const cublasLtMatmulAlgo_t* algo = &cand[static_cast<size_t>(i)].algo;
            bool runs = true;
            for (int r = 0; r < k_tune_warm + k_tune_reps && runs; ++r) {
                if (r == k_tune_warm) runs = cudaEventRecord(start_, stream_) == cudaSuccess;
                runs = runs && x.matmul(lt, plan->op, &one, w, plan->a, x16, plan->b, &zero, y, plan->d, y, plan->d,
                                        algo, workspace_, workspace_bytes_, stream_) == CUBLAS_STATUS_SUCCESS;
            }
            float ms = 0;
            runs = runs && cudaEventRecord(stop_, stream_) == cudaSuccess &&
                   cudaEventSynchronize(stop_) == cudaSuccess &&
                   cudaEventElapsedTime(&ms, start_, stop_) == cudaSuccess;
            if (!runs) {
                (void)cudaGetLastError();
                continue;
            }
            if (!plan->usable || ms < best_ms) plan->algo = *algo, best_ms = ms, plan->usable = true;
        }
        it = plans_.emplace(key, std::move(plan)).first;
    }
    const Plan& p = *it->second;
    if (p.usable && batch > 1 && !set_strides(x, &p, w_stride, y_stride))
        return kernels::Status::device_error("cuBLASLt: cannot set the batch strides");
    if (!p.usable)
        return kernels::Status::unsupported("cuBLASLt: no algorithm for this f16 product (" + std::to_string(n_out) +
                                            " x " + std::to_string(n_in) + ", " + std::to_string(n_tok) + " tokens)");
    const cublasStatus_t st = x.matmul(lt, p.op, &one, w, p.a, x16, p.b, &zero, y, p.d, y, p.d, &p.algo, workspace_,
                                       workspace_bytes_, stream_);
    if (st != CUBLAS_STATUS_SUCCESS)
        return kernels::Status::device_error("cublasLtMatmul failed with status " +
                                             std::to_string(static_cast<int>(st)));
    return kernels::Status::ok();
}

}  // namespace enclave::cuda_detail
