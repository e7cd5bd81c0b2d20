// The CUDA backend's f16 GEMMs through cuBLASLt with an algorithm picked per shape by timing: libcublasLt is
// loaded at run time (nothing links against it); at the first product of a shape, up to k_candidates of the
// library's heuristic algorithms each run a few times on that product's own operands (timed with events, the
// stream synchronised), and the fastest serves that shape from then on. cublasGemmEx takes the heuristic's
// first candidate, which for the short-and-wide products of batched decode (256 tokens) is not always the
// fastest (bench_gemm_shapes measures it).
//
// Contract: one object per backend stream; called from the backend's thread only. gemm() must not run while
// the stream is being captured into a graph (tuning synchronises; the backend never captures a step with a
// GEMM). The picked algorithm computes the same product in another f32 summation order than cublasGemmEx.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "enclave/kernels/status.h"

namespace enclave::cuda_detail {

class LtGemm {
public:
    //! Null when libcublasLt cannot be loaded or its handle made; workspace_bytes of device memory are taken.
    static std::unique_ptr<LtGemm> load(cudaStream_t stream, size_t workspace_bytes);
    ~LtGemm();
    LtGemm(const LtGemm&) = delete;
    LtGemm& operator=(const LtGemm&) = delete;

    //! For b < batch (1 or 2): y + b * y_stride [n_tok, ldy] (columns [0, n_out)) = x16 [n_tok, n_in] ·
    //! (w + b * w_stride)ᵀ, w f16 [n_out, n_in] row-major, f32 sums and output. Strides in elements.
    //! Returns an error Status when no candidate algorithm runs this shape (the caller falls back to cuBLAS).
    kernels::Status gemm(const void* w, int64_t w_stride, int64_t n_out, int64_t n_in, const uint16_t* x16,
                         int64_t n_tok, float* y, int64_t ldy, int64_t y_stride, int batch);

    long shapes_tuned() const { return static_cast<long>(plans_.size()); }

    struct Api;   // the library's entry points
    struct Plan;  // one shape's layouts and algorithm

private:
    LtGemm() = default;
    std::unique_ptr<Api> api_;
    void* handle_ = nullptr;
    cudaStream_t stream_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = 0;
    cudaEvent_t start_ = nullptr, stop_ = nullptr;
    // n_out, n_in, n_tok, ldy, batch -> the shape's layouts and picked algorithm
    std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int>, std::unique_ptr<Plan>> plans_;
};

}  // namespace enclave::cuda_detail
