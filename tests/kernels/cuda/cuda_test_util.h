// Shared by the CUDA tests: the seed of this run, the skip without a GPU, and tensors that live in both the
// CPU backend (the reference) and the CUDA backend with the same contents.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_backend.h"
#include "enclave/kernels/half.h"
#include "enclave/kernels/quant.h"

namespace cuda_test {

using namespace enclave;

// Inputs are drawn fresh each run; ENCLAVE_TEST_SEED repeats a run.
inline uint32_t run_seed() {
    static const uint32_t seed = [] {
        const char* e = std::getenv("ENCLAVE_TEST_SEED");
        const uint32_t s = e ? static_cast<uint32_t>(std::strtoul(e, nullptr, 10)) : std::random_device{}();
        std::fprintf(stderr, "seed %u (set ENCLAVE_TEST_SEED=%u to repeat this run)\n", s, s);
        return s;
    }();
    return seed;
}

inline bool quick() {
    return std::getenv("ENCLAVE_TEST_QUICK") != nullptr;
}

#define REQUIRE_CUDA_DEVICE()                                            \
    do {                                                                 \
        if (::enclave::cuda_device_count() == 0) SKIP("no CUDA device"); \
    } while (0)

struct Backends {
    std::unique_ptr<Backend> cpu = make_cpu_backend(4);
    std::unique_ptr<Backend> gpu = make_cuda_backend(0);
};

// One tensor in both backends.
struct Twin {
    std::unique_ptr<DeviceBuffer> cpu_buf, gpu_buf;
    Tensor cpu, gpu;
};

inline Twin make_twin(Backends& b, TensorType type, int64_t rows, int64_t cols, const void* bytes) {
    Twin t;
    t.cpu = Tensor::matrix(nullptr, type, rows, cols);
    const size_t n = t.cpu.n_bytes();
    t.cpu_buf = b.cpu->allocate(n);
    t.gpu_buf = b.gpu->allocate(n);
    t.cpu.data = t.cpu_buf->data();
    t.gpu = t.cpu;
    t.gpu.data = t.gpu_buf->data();
    if (bytes) {
        b.cpu->upload(t.cpu, bytes, n);
        b.gpu->upload(t.gpu, bytes, n);
    }
    return t;
}

inline Twin twin_f32(Backends& b, int64_t rows, int64_t cols, const std::vector<float>& v) {
    return make_twin(b, TensorType::F32, rows, cols, v.data());
}
inline Twin twin_i32(Backends& b, const std::vector<int32_t>& v) {
    return make_twin(b, TensorType::I32, static_cast<int64_t>(v.size()), 1, v.data());
}

// Fills the GPU side with NaN so an element the kernel forgets to write fails the comparison.
inline void poison(Backends& b, const Twin& t) {
    std::vector<uint8_t> nan_bytes(t.gpu.n_bytes(), 0xFF);  // 0xFFFF.. is a NaN in f32 and f16
    b.gpu->upload(t.gpu, nan_bytes.data(), nan_bytes.size());
}

inline std::vector<float> read_f32(Backend& be, const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    be.download(v.data(), t, v.size() * sizeof(float));
    return v;
}

inline std::vector<float> read_f16(Backend& be, const Tensor& t) {
    std::vector<uint16_t> h(static_cast<size_t>(t.n_elements()));
    be.download(h.data(), t, h.size() * sizeof(uint16_t));
    std::vector<float> v(h.size());
    for (size_t i = 0; i < h.size(); ++i) v[i] = kernels::fp16_to_fp32(h[i]);
    return v;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// The bytes of a [rows, cols] matrix of `type` that encodes v (row-major floats) as the GGUF writer would.
inline std::vector<uint8_t> encode(TensorType type, const std::vector<float>& v, int64_t rows, int64_t cols) {
    const size_t rb = *row_bytes(type, cols);
    std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        const auto st =
            kernels::quantize_row_ref(type, v.data() + r * cols, out.data() + static_cast<size_t>(r) * rb, cols);
        if (!st) throw Error("encode: " + st.message());
    }
    return out;
}

// Compares got (CUDA) with want (CPU): records a check and prints the error.
inline bool expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                         double tolerance) {
    const double err = enclave_check::normalised_error(got, want);
    size_t n_nan = 0;
    for (float g : got) n_nan += std::isfinite(g) ? 0 : 1;
    std::fprintf(stderr, "  %-60s normalised error %.3g (tolerance %.0e)%s\n", what.c_str(), err, tolerance,
                 n_nan ? (" NON-FINITE: " + std::to_string(n_nan)).c_str() : "");
    return CHECK_MSG(err <= tolerance, what + ": normalised error " + std::to_string(err));
}

}  // namespace cuda_test
