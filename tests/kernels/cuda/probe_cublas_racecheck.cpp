// probe_cublas_racecheck (not a test): cuBLAS alone, none of our kernels, on the products of tst_cuda_ops'
// matmul_dequantized_gemm, so that `compute-sanitizer --tool racecheck` can tell whether hazards it reports in
// cuBLAS's nvjet_* kernels come from cuBLAS itself. The calls are the backend's (cublas_gemm_f16 in
// cuda_backend.cpp): cublasGemmEx, Wᵀ·x with W f16 [n_out, n_in] row-major, x f16 [n_tok, n_in], y f32, f32
// compute, CUBLAS_GEMM_DEFAULT, on a non-blocking stream. As in the test (ENCLAVE_CUDA_DEQUANT_MIB=1), W's rows go
// in chunks of max(128, 1 MiB / (2 n_in) rounded down to 128) rows, each product writing its column block of y
// (ldc = n_out). Inputs are random; the first y value is printed so the products cannot be skipped.
//   usage: compute-sanitizer --tool racecheck probe_cublas_racecheck
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "enclave/kernels/half.h"  // defines: fp32_to_fp16
#include "exit_on_error.h"          // defines: CK

namespace {

struct Shape {
    int n_out, n_in, n_tok;
};

}  // namespace

int main() {
    // The shapes whose products racecheck flagged in tst_cuda_ops (quick sizes), session 7.
    const Shape shapes[] = {{700, 2048, 130}, {300, 4096, 64}, {300, 4096, 77}, {129, 2048, 200}, {257, 2048, 65}};
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CK(cublasCreate(&blas));
    CK(cublasSetStream(blas, stream));
    std::mt19937 rng(std::random_device{}());
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const Shape& s : shapes) {
        // w [n_out, n_in] f16, x [n_tok, n_in] f16, y [n_tok, n_out] f32
        std::vector<uint16_t> w(size_t(s.n_out) * s.n_in), x(size_t(s.n_tok) * s.n_in);
        for (auto& v : w) v = enclave::kernels::fp32_to_fp16(dist(rng));
        for (auto& v : x) v = enclave::kernels::fp32_to_fp16(dist(rng));
        void *dw = nullptr, *dx = nullptr, *dy = nullptr;
        CK(cudaMalloc(&dw, w.size() * 2));
        CK(cudaMalloc(&dx, x.size() * 2));
        CK(cudaMalloc(&dy, size_t(s.n_tok) * s.n_out * 4));
        CK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
        const float one = 1.0f, zero = 0.0f;
        const int chunk = std::min(s.n_out, std::max(128, (1 << 20) / (2 * s.n_in) / 128 * 128));
        for (int r0 = 0; r0 < s.n_out; r0 += chunk) {
            const int nr = std::min(chunk, s.n_out - r0);
            CK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, s.n_tok, s.n_in, &one,
                            static_cast<const uint16_t*>(dw) + size_t(r0) * s.n_in, CUDA_R_16F, s.n_in, dx,
                            CUDA_R_16F, s.n_in, &zero, static_cast<float*>(dy) + r0, CUDA_R_32F, s.n_out,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }
        float y0 = 0;
        CK(cudaMemcpyAsync(&y0, dy, 4, cudaMemcpyDeviceToHost, stream));
        CK(cudaStreamSynchronize(stream));
        std::printf("w[%d, %d] x %d: y[0] = %g\n", s.n_out, s.n_in, s.n_tok, y0);
        CK(cudaFree(dw));
        CK(cudaFree(dx));
        CK(cudaFree(dy));
    }
    CK(cublasDestroy(blas));
    CK(cudaStreamDestroy(stream));
    return 0;
}
