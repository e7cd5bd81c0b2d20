// The CUDA backend (see cuda_backend.h): device memory from cudaMalloc, one stream, pinned staging for
// uploads and downloads, a grow-only device scratch for 8-bit activations, and a device word of error flags
// that the kernels set for bad indices and that is read back with every download.
#include "core/backend/cuda/cuda_backend.h"

#include "core/backend/cuda/cublaslt_gemm.h"

#include <cublas_v2.h>  // defines: the cuBLAS types (the library itself is loaded with dlopen)
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "enclave/kernels/cuda_ops.h"

namespace enclave {
namespace {

namespace kc = kernels::cuda;

[[noreturn]] void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
    (void)cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    const std::string msg = std::string("CUDA: ") + what + " failed (" + file + ":" + std::to_string(line) +
                            "): " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
    if (err == cudaErrorMemoryAllocation) throw ResourceExhausted(msg);
    throw Error(msg);
}

#define ENCLAVE_CUDA_THROW(call)                                                              \
    do {                                                                                      \
        const cudaError_t enclave_err_ = (call);                                              \
        if (enclave_err_ != cudaSuccess) throw_cuda(enclave_err_, #call, __FILE__, __LINE__); \
    } while (0)

// The message is built only on failure: these checks run for every op of every step.
template <class MakeMessage>
void check(bool ok, const char* op, MakeMessage&& what) {
    if (!ok) throw InvalidArgument(std::string(op) + ": " + std::string(what()));
}

void check_status(const kernels::Status& s, const char* op) {
    if (s.is_ok()) return;
    switch (s.code()) {
        case kernels::Status::Code::invalid_argument:
        case kernels::Status::Code::unsupported:
            throw InvalidArgument(std::string(op) + ": " + s.message());
        default:
            throw Error(std::string(op) + ": " + s.message());
    }
}

std::string mib(size_t bytes) {
    return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

// The device and stream, shared by the backend and every buffer it hands out.
struct CudaContext {
    int device = 0;
    cudaStream_t stream = nullptr;
    // Launches the ops the backend has recorded but not yet launched (set while the backend lives), so a
    // buffer is never freed under a recorded op.
    std::function<void()> flush_recorded;

    explicit CudaContext(int dev) : device(dev) {
        ENCLAVE_CUDA_THROW(cudaSetDevice(dev));
        ENCLAVE_CUDA_THROW(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    }
    ~CudaContext() {
        if (stream) {
            (void)cudaStreamSynchronize(stream);
            (void)cudaStreamDestroy(stream);
        }
    }
    CudaContext(const CudaContext&) = delete;
    CudaContext& operator=(const CudaContext&) = delete;

    void* malloc_device(size_t bytes) const {
        void* p = nullptr;
        const cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            (void)cudaMemGetInfo(&free_b, &total_b);
            const std::string msg = "cannot allocate " + std::to_string(bytes) + " bytes (" + mib(bytes) +
                                    ") of GPU memory on CUDA device " + std::to_string(device) + ": " + mib(free_b) +
                                    " free of " + mib(total_b) + " (" + cudaGetErrorString(err) + ")";
            if (err == cudaErrorMemoryAllocation) throw ResourceExhausted(msg);
            throw Error(msg);
        }
        return p;
    }
};

class CudaBuffer final : public DeviceBuffer {
public:
    CudaBuffer(std::shared_ptr<CudaContext> ctx, size_t bytes) : ctx_(std::move(ctx)), size_(bytes) {
        data_ = ctx_->malloc_device(bytes);
        const cudaError_t err = cudaMemsetAsync(data_, 0, std::max<size_t>(bytes, 1), ctx_->stream);
        if (err != cudaSuccess) {
            (void)cudaFree(data_);
            throw_cuda(err, "cudaMemsetAsync", __FILE__, __LINE__);
        }
    }
    ~CudaBuffer() override {
        // Work recorded or still queued may use this memory: let it run and finish first.
        if (ctx_->flush_recorded) {
            try {
                ctx_->flush_recorded();
            } catch (const std::exception&) {  // reported by the backend's next call, if it matters
            }
        }
        (void)cudaStreamSynchronize(ctx_->stream);
        (void)cudaFree(data_);
    }
    void* data() override { return data_; }
    size_t size() const override { return size_; }

private:
    std::shared_ptr<CudaContext> ctx_;
    void* data_ = nullptr;
    size_t size_;
};

// Grow-only pinned host memory.
class PinnedBuffer {
public:
    ~PinnedBuffer() { release(); }
    uint8_t* data() { return data_; }
    size_t capacity() const { return capacity_; }
    // The caller has made sure no copy still reads or writes the old memory.
    void reserve(size_t bytes) {
        if (bytes <= capacity_) return;
        release();
        const size_t want = std::max<size_t>(bytes, 2 * capacity_);
        void* p = nullptr;
        ENCLAVE_CUDA_THROW(cudaMallocHost(&p, want));
        data_ = static_cast<uint8_t*>(p);
        capacity_ = want;
    }

private:
    void release() {
        if (data_) (void)cudaFreeHost(data_);
        data_ = nullptr;
        capacity_ = 0;
    }
    uint8_t* data_ = nullptr;
    size_t capacity_ = 0;
};

// ---- step recording ------------------------------------------------------------------------------------
// With CUDA graphs on, the ops of a step are recorded (launcher + arguments) instead of launched, and run when
// the step's results are downloaded: as a captured graph when the same step (the same launchers with the
// same arguments: pointers, shapes, scalars) ran just before, else one by one. Decode steps repeat exactly
// (their inputs change in memory, not in the arguments), so a step of ~600 small launches becomes one
// graph launch. The key of a step is every argument of every launch, so a replay can never use stale ones.

using Key = std::vector<uint64_t>;

template <class T>
inline constexpr bool k_always_false = false;

template <class T>
void put_key(Key& k, const T& v) {
    if constexpr (std::is_pointer_v<T>) {
        k.push_back(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(v)));
    } else if constexpr (std::is_enum_v<T> || std::is_integral_v<T>) {
        k.push_back(static_cast<uint64_t>(v));
    } else if constexpr (std::is_same_v<T, float>) {
        k.push_back(std::bit_cast<uint32_t>(v));
    } else if constexpr (std::is_same_v<T, kc::MatvecSegments>) {
        put_key(k, v.n), put_key(k, v.variant), put_key(k, v.pdl), put_key(k, v.l2_prefetch_mib);
        for (int i = 0; i < v.n; ++i)
            put_key(k, v.seg[i].w), put_key(k, v.seg[i].n_out), put_key(k, v.seg[i].y), put_key(k, v.seg[i].bias);
    } else if constexpr (std::is_same_v<T, kc::Q8Activations>) {
        put_key(k, v.qs), put_key(k, v.d), put_key(k, v.s);
    } else if constexpr (std::is_same_v<T, kc::RopeArgs>) {
        put_key(k, v.n_dims), put_key(k, v.freq_base), put_key(k, v.freq_scale), put_key(k, v.neox);
        put_key(k, v.freq_factors);
    } else if constexpr (std::is_same_v<T, kc::AttentionArgs>) {
        put_key(k, v.token_seq), put_key(k, v.token_pos), put_key(k, v.token_slot), put_key(k, v.block_tables);
        put_key(k, v.seq_lens), put_key(k, v.n_seqs), put_key(k, v.max_blocks_per_seq), put_key(k, v.block_size);
        put_key(k, v.n_slots), put_key(k, v.max_seq_len);
    } else if constexpr (std::is_same_v<T, kc::AttentionFusion>) {
        put_key(k, v.rope), put_key(k, v.rope_pos), put_key(k, v.q8_type), put_key(k, v.xq);
        if (v.rope) put_key(k, v.rope_args);
    } else {
        static_assert(k_always_false<T>, "put_key: add this argument type");
    }
}

// An upload's copy from pinned staging memory, as a launcher.
kernels::Status copy_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
    const cudaError_t err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream);
    if (err != cudaSuccess)
        return kernels::Status::device_error(std::string("cudaMemcpyAsync to the device: ") + cudaGetErrorString(err));
    return kernels::Status::ok();
}

bool env_flag(const char* name, bool fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

// cuBLAS, loaded at run time when it is installed (the CUDA toolkit's libcublas): the f16 GEMM of prefill and
// of large batches. Without it the backend's own tensor-core kernel runs; nothing links against it.
struct Cublas {
    using CreateFn = cublasStatus_t (*)(cublasHandle_t*);
    using DestroyFn = cublasStatus_t (*)(cublasHandle_t);
    using SetStreamFn = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
    using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                        const void*, const void*, cudaDataType_t, int, const void*, cudaDataType_t, int,
                                        const void*, void*, cudaDataType_t, int, cublasComputeType_t, cublasGemmAlgo_t);
    using GemmStridedBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                                      int, const void*, const void*, cudaDataType_t, int, long long,
                                                      const void*, cudaDataType_t, int, long long, const void*, void*,
                                                      cudaDataType_t, int, long long, int, cublasComputeType_t,
                                                      cublasGemmAlgo_t);
    void* lib = nullptr;
    cublasHandle_t handle = nullptr;
    DestroyFn destroy = nullptr;
    GemmExFn gemm_ex = nullptr;
    GemmStridedBatchedExFn gemm_strided_batched_ex = nullptr;  // optional: products of one input in one launch

    Cublas(cudaStream_t stream) {
        for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
            lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
            if (lib) break;
        }
        if (!lib) return;
        auto create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
        destroy = reinterpret_cast<DestroyFn>(dlsym(lib, "cublasDestroy_v2"));
        auto set_stream = reinterpret_cast<SetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
        gemm_ex = reinterpret_cast<GemmExFn>(dlsym(lib, "cublasGemmEx"));
        gemm_strided_batched_ex = reinterpret_cast<GemmStridedBatchedExFn>(dlsym(lib, "cublasGemmStridedBatchedEx"));
        if (!create || !destroy || !set_stream || !gemm_ex || create(&handle) != CUBLAS_STATUS_SUCCESS ||
            set_stream(handle, stream) != CUBLAS_STATUS_SUCCESS) {
            if (handle && destroy) destroy(handle);
            handle = nullptr;
        }
    }
    ~Cublas() {
        if (handle) destroy(handle);
        if (lib) dlclose(lib);
    }
    bool ok() const { return handle != nullptr; }
};

// y [n_tok, ldy] (columns [0, n_out)) = x16 [n_tok, n_in] · Wᵀ, W f16 [n_out, n_in] (row-major, so column-major
// Wᵀ), f32 sums. ldy > n_out writes a column block of a wider y (a chunk of W's rows).
// lt (ENCLAVE_CUDA_GEMM_TUNE): cuBLASLt with the algorithm timed fastest for the shape, else cublasGemmEx.
kernels::Status cublas_gemm_f16(Cublas* cb, cuda_detail::LtGemm* lt, const void* w, int64_t n_out, int64_t n_in,
                                const uint16_t* x16, int64_t n_tok, float* y, int64_t ldy) {
    if (lt) {
        kernels::Status st = lt->gemm(w, 0, n_out, n_in, x16, n_tok, y, ldy, 0, 1);
        if (st.code() != kernels::Status::Code::unsupported) return st;
    }
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t st = cb->gemm_ex(cb->handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_out),
                                          static_cast<int>(n_tok), static_cast<int>(n_in), &one, w, CUDA_R_16F,
                                          static_cast<int>(n_in), x16, CUDA_R_16F, static_cast<int>(n_in), &zero, y,
                                          CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return kernels::Status::device_error("cublasGemmEx failed with status " + std::to_string(static_cast<int>(st)));
    return kernels::Status::ok();
}

// Two products of the same x16 with W and y as a pair of equal shapes at fixed distances in memory (K and V,
// gate and up): y + i * y_stride [n_tok, n_out] = x16 · (W + i * w_stride)ᵀ for i = 0, 1, one cuBLAS launch, so
// the pair's tiles fill the SMs together instead of one small grid after another. Strides in elements, > 0.
kernels::Status cublas_gemm_f16_pair(Cublas* cb, cuda_detail::LtGemm* lt, const void* w, int64_t w_stride,
                                     int64_t n_out, int64_t n_in, const uint16_t* x16, int64_t n_tok, float* y,
                                     int64_t y_stride) {
    if (lt) {
        kernels::Status st = lt->gemm(w, w_stride, n_out, n_in, x16, n_tok, y, n_out, y_stride, 2);
        if (st.code() != kernels::Status::Code::unsupported) return st;
    }
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t st = cb->gemm_strided_batched_ex(
        cb->handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_out), static_cast<int>(n_tok), static_cast<int>(n_in),
        &one, w, CUDA_R_16F, static_cast<int>(n_in), static_cast<long long>(w_stride), x16, CUDA_R_16F,
        static_cast<int>(n_in), 0LL, &zero, y, CUDA_R_32F, static_cast<int>(n_out), static_cast<long long>(y_stride), 2,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return kernels::Status::device_error("cublasGemmStridedBatchedEx failed with status " +
                                             std::to_string(static_cast<int>(st)));
    return kernels::Status::ok();
}

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : ctx_(std::make_shared<CudaContext>(device)) {
        cudaDeviceProp prop{};
        ENCLAVE_CUDA_THROW(cudaGetDeviceProperties(&prop, device));
        device_name_ = prop.name;
        flags_ = std::make_unique<CudaBuffer>(ctx_, sizeof(int));
        ENCLAVE_CUDA_THROW(cudaMallocHost(reinterpret_cast<void**>(&host_flags_), sizeof(int)));
        *host_flags_ = 0;
        upload_staging_.reserve(1 << 20);
        download_staging_.reserve(1 << 20);
        graphs_enabled_ = env_flag("ENCLAVE_CUDA_GRAPHS", true);
        split_enabled_ = env_flag("ENCLAVE_CUDA_SPLIT", true);
        fuse_enabled_ = env_flag("ENCLAVE_CUDA_FUSE", true);
        // ENCLAVE_CUDA_MMVQ_RING=0: one-token products on session 4's streaming kernel, not the ring kernel (A/B).
        matvec_variant_ = env_flag("ENCLAVE_CUDA_MMVQ_RING", true) ? 2 : 0;
        // ENCLAVE_CUDA_MMVQ_BIG_ROWS=0: the ring kernel for large one-token launches too (session 6's A/B).
        if (matvec_variant_ == 2 && env_flag("ENCLAVE_CUDA_MMVQ_BIG_ROWS", true)) matvec_variant_ = 3;
        if (!env_flag("ENCLAVE_CUDA_MMVQ_STREAM", true)) matvec_variant_ = 1;
        matvec_pdl_ = env_flag("ENCLAVE_CUDA_PDL", true);
        // ENCLAVE_CUDA_L2_PREFETCH (off by default: it cost 11% on 8b q4_0, NOTES.md): a number > 1 is the
        // window in MiB, any other true value 32.
        if (env_flag("ENCLAVE_CUDA_L2_PREFETCH", false)) {
            const char* v = std::getenv("ENCLAVE_CUDA_L2_PREFETCH");
            matvec_l2_prefetch_mib_ = std::atoi(v) > 1 ? std::min(std::atoi(v), 1024) : 32;
        }
        if (env_flag("ENCLAVE_CUDA_CUBLAS", true)) {
            cublas_ = std::make_unique<Cublas>(ctx_->stream);
            if (!cublas_->ok()) cublas_.reset();
        }
        // ENCLAVE_CUDA_GEMM_TUNE=1: f16 GEMMs through cuBLASLt, each shape's algorithm timed at its first use.
        if (cublas_ && env_flag("ENCLAVE_CUDA_GEMM_TUNE", false))
            lt_gemm_ = cuda_detail::LtGemm::load(ctx_->stream, size_t{32} << 20);
        print_stats_ = env_flag("ENCLAVE_CUDA_STATS", false);
        // ENCLAVE_CUDA_DEQUANT_GEMM=N: quantized products of >= N tokens dequantize to f16 + cuBLAS (0: never).
        if (const char* v = std::getenv("ENCLAVE_CUDA_DEQUANT_GEMM"); v && *v)
            dequant_min_tokens_ = std::max(0, std::atoi(v));
        // ENCLAVE_CUDA_F16_REUSE=0 rounds x to f16 again for every product of it (A/B).
        f16_reuse_ = env_flag("ENCLAVE_CUDA_F16_REUSE", true);
        // ENCLAVE_CUDA_F16_FUSE=0: the norm and swiglu before a library GEMM write f32 only, and a round_to_f16
        // launch makes its f16 input (A/B). ENCLAVE_CUDA_GEMM_PAIR=0: K/V and gate/up as two GEMM launches (A/B).
        f16_fuse_ = env_flag("ENCLAVE_CUDA_F16_FUSE", true);
        gemm_pair_ = env_flag("ENCLAVE_CUDA_GEMM_PAIR", true);
        // ENCLAVE_CUDA_ATTN_V2=0: several-token attention on the per-(token, head) kernel (A/B); a number > 1 is
        // the query rows a block of the tiled kernel aims at (default 8). ENCLAVE_CUDA_ATTN_TILE: its keys a tile.
        if (env_flag("ENCLAVE_CUDA_ATTN_V2", true)) {
            const char* v = std::getenv("ENCLAVE_CUDA_ATTN_V2");
            if (v && std::atoi(v) > 1) attn_tiled_rows_ = std::min(std::atoi(v), 64);
        } else {
            attn_tiled_rows_ = 0;
        }
        if (const char* v = std::getenv("ENCLAVE_CUDA_ATTN_TILE"); v && std::atoi(v) >= 64)
            attn_tiled_keys_ = std::min(std::atoi(v), 512);
        // ENCLAVE_CUDA_F16_CACHE_MIB=N (0, off, by default): quantized weights that many-token products
        // dequantize keep their f16 copy, up to N MiB in all (8b q4_0: 15.0 GiB for every product), so the
        // dequantization runs once instead of at every step: memory traded for batched and prefill speed.
        if (const char* v = std::getenv("ENCLAVE_CUDA_F16_CACHE_MIB"); v && *v)
            f16_cache_cap_ = static_cast<size_t>(std::max(0L, std::atol(v))) << 20;
        // ENCLAVE_CUDA_ATTN_SHARE: where the tiled kernel converts K/V values once for several rows (AttentionArgs::
        // tiled_share): 0 nowhere (session 5's kernel, A/B), 1 decode batches (default), 2 every several-token step.
        if (const char* v = std::getenv("ENCLAVE_CUDA_ATTN_SHARE"); v && *v)
            attn_tiled_share_ = std::atoi(v) >= 2 ? 2 : env_flag("ENCLAVE_CUDA_ATTN_SHARE", true) ? 1 : 0;
        // ENCLAVE_CUDA_ATTN_ONE: one-token attention (AttentionArgs::one_token): 0 session 6's kernel (A/B), 1 the
        // one-token kernel, 2 it as a PDL launch (default).
        if (const char* v = std::getenv("ENCLAVE_CUDA_ATTN_ONE"); v && *v) attn_one_ = std::clamp(std::atoi(v), 0, 2);
        if (const char* v = std::getenv("ENCLAVE_CUDA_DEQUANT_MIB"); v && *v)
            dequant_scratch_mib_ = std::clamp(std::atoi(v), 1, 4096);
        // ENCLAVE_CUDA_PROFILE: every op launched at once (no graphs) between two events; a table of device time
        // per op name, and the host time in downloads, printed at exit (print_profile).
        // ENCLAVE_CUDA_PROFILE=2: also a table (and a fresh start) at every synchronize(), so a program can split
        // its phases (bench_cuda_batch: prefill, then the decode steps).
        profile_ = env_flag("ENCLAVE_CUDA_PROFILE", false);
        if (profile_) {
            graphs_enabled_ = false;
            profile_each_sync_ = std::atoi(std::getenv("ENCLAVE_CUDA_PROFILE")) >= 2;
        }
        ctx_->flush_recorded = [this] { flush(); };
    }

    ~CudaBackend() override {
        try {
            flush();
        } catch (const std::exception&) {  // a destructor reports nothing; the work is abandoned
        }
        ctx_->flush_recorded = nullptr;  // buffers may outlive the backend
        (void)cudaStreamSynchronize(ctx_->stream);
        for (auto& g : graphs_) (void)cudaGraphExecDestroy(g.exec);
        if (host_flags_) (void)cudaFreeHost(host_flags_);
        if (profile_) print_profile();
        for (auto e : profile_events_) (void)cudaEventDestroy(e);
        if (print_stats_) {
            std::fprintf(stderr, "cuda backend: %ld steps run op by op, %ld captured as graphs, %ld graph replays\n",
                         stats_eager_, stats_captured_, stats_replayed_);
            std::fprintf(stderr,
                         "cuda backend: %ld fused norms, %ld matrix-vector launches carrying %ld products, "
                         "%ld fused swiglu, %ld attentions with their quantization, cuBLAS %s, split weights %zu, "
                         "%ld dequantized GEMMs (from %ld tokens), %ld norm/swiglu with f16 output, %ld GEMM pairs, "
                         "%ld shapes tuned, f16 copies of quantized weights %s\n",
                         stats_fused_norms_, stats_matvec_launches_, stats_matvec_products_, stats_fused_swiglu_,
                         stats_fused_attention_, cublas_ ? "on" : "off", split_weights_.size(), stats_dequant_gemms_,
                         static_cast<long>(dequant_min_tokens_), stats_f16_fused_, stats_gemm_pairs_,
                         lt_gemm_ ? lt_gemm_->shapes_tuned() : -1L, mib(f16_cache_used_).c_str());
            size_t free_b = 0, total_b = 0;
            if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
                std::fprintf(stderr, "cuda backend: device memory in use at exit %s of %s\n",
                             mib(total_b - free_b).c_str(), mib(total_b).c_str());
        }
    }

    std::string_view name() const override { return "cuda"; }

    size_t available_memory() const override {
        ENCLAVE_CUDA_THROW(cudaSetDevice(ctx_->device));
        size_t free_b = 0, total_b = 0;
        ENCLAVE_CUDA_THROW(cudaMemGetInfo(&free_b, &total_b));
        return free_b;
    }

    std::unique_ptr<DeviceBuffer> allocate(size_t bytes) override {
        q8_last_.valid = false;
        flush();
        load_stage_.reset();  // weights are loaded before activations are allocated
        ENCLAVE_CUDA_THROW(cudaSetDevice(ctx_->device));
        return std::make_unique<CudaBuffer>(ctx_, bytes);
    }

    Tensor load_weight(const void* host_bytes, TensorType type, const int64_t ne[4]) override {
        Tensor t;
        t.type = type;
        for (int i = 0; i < 4; ++i) t.ne[i] = ne[i];
        const size_t bytes = t.n_bytes();
        flush();
        ENCLAVE_CUDA_THROW(cudaSetDevice(ctx_->device));
        auto buf = std::make_unique<CudaBuffer>(ctx_, bytes);
        // Q4_0, Q4_1 and Q8_0 matrices are repacked to the split row layout (cuda_ops.h, WeightLayout): the
        // same bytes per row, read by the kernels in 8- and 16-byte loads. Every kernel that reads a weight
        // is told its layout (layout_of).
        const bool split = split_enabled_ && bytes > 0 && kc::split_layout_supported(type, ne[0]);
        if (split) {
            if (!load_stage_ || load_stage_->size() < bytes) {
                load_stage_.reset();
                load_stage_ = std::make_unique<CudaBuffer>(ctx_, bytes);
            }
            ENCLAVE_CUDA_THROW(
                cudaMemcpyAsync(load_stage_->data(), host_bytes, bytes, cudaMemcpyHostToDevice, ctx_->stream));
            check_status(kc::repack_split(type, load_stage_->data(), buf->data(), t.rows(), t.cols(), stream()),
                         "load_weight");
            const auto start = reinterpret_cast<uintptr_t>(buf->data());
            split_weights_[start] = start + bytes;
        } else if (bytes) {
            ENCLAVE_CUDA_THROW(cudaMemcpyAsync(buf->data(), host_bytes, bytes, cudaMemcpyHostToDevice, ctx_->stream));
        }
        // The host bytes are the caller's (a mapped file); the copy must be done before we return.
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        t.data = buf->data();
        weights_.push_back(std::move(buf));
        return t;
    }

    void upload(const Tensor& dst, const void* src, size_t bytes) override {
        settle();
        q8_last_.valid = false;
        if (bytes == 0) return;
        check(dst.data != nullptr, "upload", [&] { return "null destination"; });
        const size_t need = (bytes + 255) / 256 * 256;
        if (upload_offset_ + need > upload_staging_.capacity()) {
            // Every staged copy must have run before its memory is reused or freed.
            flush();
            ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
            upload_offset_ = 0;
            upload_staging_.reserve(need);
        }
        uint8_t* stage = upload_staging_.data() + upload_offset_;
        std::memcpy(stage, src, bytes);
        upload_offset_ += need;
        submit("upload", copy_to_device, dst.data, static_cast<const void*>(stage), bytes, stream());
    }

    void download(void* dst, const Tensor& src, size_t bytes) override {
        check(bytes == 0 || src.data != nullptr, "download", [&] { return "null source"; });
        flush();
        download_staging_.reserve(bytes);  // only download() uses it, and it is idle between calls
        ENCLAVE_CUDA_THROW(
            cudaMemcpyAsync(host_flags_, flags_->data(), sizeof(int), cudaMemcpyDeviceToHost, ctx_->stream));
        if (profile_) profile_mark("download (device to pinned)");
        if (bytes)
            ENCLAVE_CUDA_THROW(
                cudaMemcpyAsync(download_staging_.data(), src.data, bytes, cudaMemcpyDeviceToHost, ctx_->stream));
        if (profile_) profile_mark(nullptr);
        const auto t0 = std::chrono::steady_clock::now();
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        const auto t1 = std::chrono::steady_clock::now();
        upload_offset_ = 0;
        check_flags();
        if (bytes) std::memcpy(dst, download_staging_.data(), bytes);
        if (profile_) {
            const auto t2 = std::chrono::steady_clock::now();
            profile_collect();
            profile_host_["host: waiting for the device in download"].add(ms_between(t0, t1));
            profile_host_["host: copy out of pinned memory in download"].add(ms_between(t1, t2));
            profile_download_bytes_ += bytes;
        }
    }

    void synchronize() override {
        flush();
        ENCLAVE_CUDA_THROW(
            cudaMemcpyAsync(host_flags_, flags_->data(), sizeof(int), cudaMemcpyDeviceToHost, ctx_->stream));
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        upload_offset_ = 0;
        if (profile_) {
            profile_collect();
            if (profile_each_sync_) {
                print_profile();
                profile_device_.clear();
                profile_host_.clear();
                profile_download_bytes_ = 0;
            }
        }
        check_flags();
    }

    void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) override {
        settle();
        q8_last_.valid = false;
        check(ids.type == TensorType::I32, "get_rows", [&] { return "ids must be i32"; });
        check(out.type == TensorType::F32 && out.cols() == table.cols() && out.rows() == ids.n_elements(), "get_rows",
              [&] { return "out " + out.shape_string() + " does not fit table " + table.shape_string(); });
        submit("get_rows", kc::get_rows, table.type, layout_of(table), static_cast<const void*>(table.data),
               table.rows(), table.cols(), static_cast<const int32_t*>(ids.data), ids.n_elements(), f32(out), flags(),
               stream());
    }

    void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override {
        q8_last_.valid = false;
        check(x.type == TensorType::F32 && out.type == TensorType::F32 && weight.type == TensorType::F32 &&
                  weight.n_elements() == x.cols() && out.cols() == x.cols() && out.rows() == x.rows(),
              "rms_norm", [&] {
                  return "x " + x.shape_string() + ", weight " + weight.shape_string() + ", out " + out.shape_string();
              });
        // Deferred, to be fused with the add before it (x += proj; norm(x)) and with the 8-bit quantization of
        // its output that the next products need.
        const bool fusable = fuse_enabled_ && kc::rms_norm_fused_ok(x.cols()) && aligned16(x.data) &&
                             aligned16(weight.data) && aligned16(out.data);
        const float* residual = nullptr;
        if (fusable && pending_add_.valid && pending_add_.x == f32(x) && pending_add_.n == x.n_elements() &&
            aligned16(pending_add_.y)) {
            const auto* ob = static_cast<const uint8_t*>(out.data);
            const auto* yb = reinterpret_cast<const uint8_t*>(pending_add_.y);
            const size_t nb = x.n_bytes();
            if (!(ob < yb + nb && yb < ob + nb)) {  // the residual is read while out is written
                residual = pending_add_.y;
                pending_add_.valid = false;
            }
        }
        settle();
        if (!fusable) {
            submit("rms_norm", kc::rms_norm, f32(x), f32(weight), eps, f32(out), x.rows(), x.cols(), stream());
            return;
        }
        pending_norm_ = {f32(x), residual, f32(weight), eps, f32(out), x.rows(), x.cols(), true};
    }

    void matmul(const Tensor& w, const Tensor& x, const Tensor& out, const Tensor* bias) override {
        check(x.type == TensorType::F32 && out.type == TensorType::F32 && x.cols() == w.cols() &&
                  out.cols() == w.rows() && out.rows() == x.rows(),
              "matmul",
              [&] { return "w " + w.shape_string() + ", x " + x.shape_string() + ", out " + out.shape_string(); });
        check(!bias || (bias->type == TensorType::F32 && bias->n_elements() == w.rows()), "matmul",
              [&] { return "bias does not match w " + w.shape_string(); });
        check(kc::matmul_supported(w.type), "matmul", [&] {
            return "the CUDA backend has no matrix product for " + std::string(tensor_type_name(w.type)) + " weights";
        });
        (void)w.row_bytes();  // throws when the rows are not whole blocks
        const int64_t n_in = w.cols(), n_out = w.rows(), n_tok = x.rows();
        if (n_tok == 0) return;
        const float* b = bias ? f32(*bias) : nullptr;
        const kc::WeightLayout layout = layout_of(w);
        const bool vec = n_tok <= kc::k_matmul_vec_max_tokens;
        // Many tokens on quantized weights: dequantize to f16 + cuBLAS instead of the 8-bit GEMM (no 8-bit
        // activations then). ENCLAVE_CUDA_DEQUANT_GEMM sets the fewest tokens (0: never).
        const bool dequant = !vec && cublas_ && dequant_min_tokens_ > 0 && n_tok >= dequant_min_tokens_ &&
                             kc::dequantize_f16_supported(w.type) && n_in % 32 == 0;
        const bool q8 = kc::matmul_uses_q8(w.type) && !dequant;
        // ENCLAVE_CUDA_F16_CACHE_MIB: the f16 copy kept from the weight's first dequantization, a plain f16 GEMM.
        const Tensor* w_f16 = dequant ? f16_cached(w, layout) : nullptr;
        const bool dequant_now = dequant && !w_f16;
        bool x16_ready = false;
        const auto* xb = static_cast<const uint8_t*>(x.data);
        const auto* ob = static_cast<const uint8_t*>(out.data);
        const bool out_overlaps_x = ob < xb + x.n_bytes() && xb < ob + out.n_bytes();

        // Products of the same activations one after another (Q, K, V; gate, up) become one launch.
        if (vec && fuse_enabled_ && !out_overlaps_x && pending_mv_.valid && pending_mv_.x == x.data &&
            pending_mv_.n_tok == n_tok && pending_mv_.n_in == n_in && pending_mv_.type == w.type &&
            pending_mv_.layout == layout && pending_mv_.segs.n < kc::k_matvec_max_segments) {
            bool clash = false;
            for (int i = 0; i < pending_mv_.segs.n; ++i) {
                const auto* yb = reinterpret_cast<const uint8_t*>(pending_mv_.segs.seg[i].y);
                const size_t yn = static_cast<size_t>(pending_mv_.segs.seg[i].n_out * n_tok) * sizeof(float);
                if (ob < yb + yn && yb < ob + out.n_bytes()) clash = true;
            }
            if (!clash) {
                pending_mv_.segs.seg[pending_mv_.segs.n++] = {w.data, n_out, f32(out), b};
                return;
            }
        }

        kc::Q8Activations xq;
        if (q8) {
            const int group = q8_group(w.type);
            const bool fusable_q8 =
                w.type == TensorType::Q4_0 || w.type == TensorType::Q4_1 || w.type == TensorType::Q8_0;
            const bool reuse = !pending_norm_.valid && !pending_swiglu_.valid && !pending_attn_.valid &&
                               q8_last_.valid && q8_last_.x == x.data && q8_last_.n_tok == n_tok &&
                               q8_last_.n_in == n_in && q8_last_.group == group;
            settle_matvec();
            if (reuse) {
                xq = kc::q8_activations(scratch_->data(), n_tok, n_in);
            } else {
                // scratch() may settle what is pending (when it grows): check the pending ops after it.
                void* buf = scratch(kc::q8_activation_bytes(n_tok, n_in));
                xq = kc::q8_activations(buf, n_tok, n_in);
                if (vec && fusable_q8 && pending_norm_.valid && pending_norm_.out == x.data &&
                    pending_norm_.rows == n_tok && pending_norm_.cols == n_in) {
                    const PendingNorm pn = pending_norm_;
                    pending_norm_.valid = false;
                    settle();
                    submit("rms_norm", kc::rms_norm_fused, pn.x, pn.residual, pn.w, pn.eps, pn.out, pn.rows, pn.cols,
                           w.type, xq, stream());
                    ++stats_fused_norms_;
                } else if (vec && fusable_q8 && pending_attn_.valid && pending_attn_.out == x.data && n_tok == 1 &&
                           pending_attn_.n_tok == 1 && n_in == pending_attn_.n_head * pending_attn_.head_dim) {
                    PendingAttention pa = pending_attn_;
                    pending_attn_.valid = false;
                    settle();
                    pa.fuse.q8_type = w.type;
                    pa.fuse.xq = xq;
                    submit_attention(pa);
                    ++stats_fused_attention_;
                } else if (vec && fusable_q8 && pending_swiglu_.valid && pending_swiglu_.gate == x.data &&
                           pending_swiglu_.rows == n_tok && pending_swiglu_.cols == n_in && n_in % 32 == 0) {
                    const PendingSwiglu ps = pending_swiglu_;
                    pending_swiglu_.valid = false;
                    settle();
                    submit("swiglu", kc::swiglu_q8, ps.gate, ps.up, ps.rows, ps.cols, w.type, xq, stream());
                    ++stats_fused_swiglu_;
                } else {
                    settle();
                    submit("matmul.quantize", kc::quantize_activations, w.type, f32(x), n_tok, n_in, xq, stream());
                }
            }
            q8_last_ = {x.data, n_tok, n_in, group, true};
        } else {
            // The f16 activations of x are still in half_scratch_ when the last op was a product of the same x
            // (Q, K, V; gate, up): rounded once, not once a product.
            x16_ready = f16_reuse_ && !vec && !pending_norm_.valid && !pending_swiglu_.valid && !pending_attn_.valid &&
                        q8_last_.valid && q8_last_.group == k_group_f16 && q8_last_.x == x.data &&
                        q8_last_.n_tok == n_tok && q8_last_.n_in == n_in;
            const bool f16_gemm = !vec && ((w.type == TensorType::F16 && cublas_) || dequant);
            // V after K, up after gate: one launch with the product held back (pending_gemm_).
            if (f16_gemm && !dequant_now && x16_ready &&
                pair_with_pending_gemm((w_f16 ? w_f16 : &w)->data, n_tok, n_in, n_out, f32(out), b)) {
                if (out_overlaps_x) q8_last_.valid = false;
                return;
            }
            // The norm or swiglu that makes x writes its f16 copy for the GEMM too (no round_to_f16 launch).
            if (f16_gemm && !x16_ready && f16_fuse_) x16_ready = write_x16_with_producer(x, n_tok, n_in);
            settle();
            q8_last_.valid = false;
        }
        settle();
        if (vec) {
            pending_mv_.valid = true;
            pending_mv_.type = w.type;
            pending_mv_.layout = layout;
            pending_mv_.x = x.data;
            pending_mv_.xq = xq;
            pending_mv_.n_in = n_in;
            pending_mv_.n_tok = n_tok;
            pending_mv_.segs = kc::MatvecSegments{};
            pending_mv_.segs.seg[0] = {w.data, n_out, f32(out), b};
            pending_mv_.segs.n = 1;
            pending_mv_.segs.variant = matvec_variant_;
            pending_mv_.segs.pdl = matvec_pdl_;
            pending_mv_.segs.l2_prefetch_mib = matvec_l2_prefetch_mib_;
            if (!fuse_enabled_) settle_matvec();
        } else if ((w.type == TensorType::F16 && cublas_) || dequant) {
            gemm_via_f16(w_f16 ? *w_f16 : w, w_f16 ? kc::WeightLayout::gguf : layout, dequant_now, x, n_tok, n_in,
                         n_out, f32(out), b, x16_ready);
        } else if (kc::matmul_gemm_supported(w.type)) {
            step_graphable_ = false;
            submit("matmul.gemm", kc::matmul_gemm, w.type, layout, static_cast<const void*>(w.data), n_out, n_in,
                   static_cast<const float*>(f32(x)), xq, n_tok, f32(out), b, stream());
        } else {
            // No GEMM for this type (F32): the matrix-vector kernel over chunks of tokens.
            for (int64_t t0 = 0; t0 < n_tok; t0 += kc::k_matmul_vec_max_tokens) {
                const int64_t n = std::min(kc::k_matmul_vec_max_tokens, n_tok - t0);
                kc::Q8Activations part = xq;
                if (xq.qs) {
                    part.qs += t0 * n_in;
                    part.d += t0 * (n_in / 32);
                    part.s += t0 * (n_in / 32);
                }
                step_graphable_ = false;
                submit("matmul", kc::matmul_vec, w.type, layout, static_cast<const void*>(w.data), n_out, n_in,
                       static_cast<const float*>(f32(x) + t0 * n_in), part, n, f32(out) + t0 * n_out, b, stream());
            }
        }
        if (out_overlaps_x) q8_last_.valid = false;  // out overwrote x
    }

    void rope(const Tensor& q, const Tensor& k, int64_t head_dim, const Tensor& pos, const RopeParams& p) override {
        settle();
        q8_last_.valid = false;
        check(q.type == TensorType::F32 && k.type == TensorType::F32 && pos.type == TensorType::I32 &&
                  q.rows() == pos.n_elements() && k.rows() == pos.n_elements() && head_dim > 0 &&
                  q.cols() % head_dim == 0 && k.cols() % head_dim == 0 && p.n_dims > 0 && p.n_dims <= head_dim &&
                  p.n_dims % 2 == 0 && p.n_dims <= 1024,
              "rope", [&] {
                  return "q " + q.shape_string() + ", k " + k.shape_string() + ", n_dims " + std::to_string(p.n_dims);
              });
        kc::RopeArgs a;
        a.n_dims = p.n_dims;
        a.freq_base = p.freq_base;
        a.freq_scale = p.freq_scale;
        a.neox = p.neox;
        a.freq_factors = p.freq_factors;
        // Deferred for a one-token step: the attention that follows rotates q and k itself (AttentionFusion).
        if (fuse_enabled_ && q.rows() == 1) {
            pending_rope_ = {f32(q),
                             f32(k),
                             q.cols() / head_dim,
                             k.cols() / head_dim,
                             head_dim,
                             static_cast<const int32_t*>(pos.data),
                             a,
                             true};
            return;
        }
        submit("rope", kc::rope, f32(q), f32(k), q.rows(), q.cols() / head_dim, k.cols() / head_dim, head_dim,
               static_cast<const int32_t*>(pos.data), a, stream());
    }

    void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cache_k, const Tensor& cache_v,
                   const AttentionPlan& plan, int64_t n_head, int64_t n_kv_head, int64_t head_dim, float scale,
                   const Tensor& out) override {
        const int64_t n_tok = q.rows();
        // A pending rope of exactly these q and k is folded into the launch (one-token steps).
        kc::AttentionFusion fuse;
        if (pending_rope_.valid && pending_rope_.q == q.data && pending_rope_.k == k.data && n_tok == 1 &&
            pending_rope_.n_head == n_head && pending_rope_.n_kv_head == n_kv_head &&
            pending_rope_.head_dim == head_dim) {
            pending_rope_.valid = false;
            fuse.rope = true;
            fuse.rope_args = pending_rope_.args;
            fuse.rope_pos = pending_rope_.pos;
        }
        settle();
        q8_last_.valid = false;
        const int64_t kv_row = n_kv_head * head_dim;
        check(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0 && head_dim > 0 && head_dim <= 256, "attention",
              [&] {
                  return "heads " + std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " +
                         std::to_string(head_dim) + " (the CUDA backend supports heads of at most 256)";
              });
        check(q.type == TensorType::F32 && k.type == TensorType::F32 && v.type == TensorType::F32 &&
                  out.type == TensorType::F32 && q.cols() == n_head * head_dim && out.cols() == q.cols() &&
                  out.rows() == n_tok && k.cols() == kv_row && v.cols() == kv_row && k.rows() == n_tok &&
                  v.rows() == n_tok,
              "attention",
              [&] { return "q " + q.shape_string() + ", k " + k.shape_string() + ", v " + v.shape_string(); });
        check(cache_k.type == TensorType::F16 && cache_v.type == TensorType::F16 && cache_k.cols() == kv_row &&
                  cache_v.cols() == kv_row && cache_k.rows() == cache_v.rows(),
              "attention", [&] { return "cache " + cache_k.shape_string(); });
        check(plan.n_seqs > 0 && plan.block_size > 0 && plan.max_blocks_per_seq > 0 &&
                  plan.token_seq.n_elements() >= n_tok && plan.token_pos.n_elements() >= n_tok &&
                  plan.token_slot.n_elements() >= n_tok && plan.seq_lens.n_elements() >= plan.n_seqs,
              "attention", [&] {
                  return "inconsistent plan: " + std::to_string(plan.n_seqs) + " sequences, block size " +
                         std::to_string(plan.block_size) + ", " + std::to_string(plan.max_blocks_per_seq) +
                         " blocks per sequence";
              });
        kc::AttentionArgs a;
        a.token_seq = static_cast<const int32_t*>(plan.token_seq.data);
        a.token_pos = static_cast<const int32_t*>(plan.token_pos.data);
        a.token_slot = static_cast<const int32_t*>(plan.token_slot.data);
        a.block_tables = static_cast<const int32_t*>(plan.block_tables.data);
        a.seq_lens = static_cast<const int32_t*>(plan.seq_lens.data);
        a.n_seqs = plan.n_seqs;
        a.max_blocks_per_seq = plan.max_blocks_per_seq;
        a.block_size = plan.block_size;
        a.n_slots = cache_k.rows();
        // Rounded up so the launch (its shared memory) stays the same for 1024 decode steps: graph replays.
        a.max_seq_len = (plan.max_seq_len + 1023) / 1024 * 1024;
        a.tiled_rows = attn_tiled_rows_;
        a.tiled_keys = attn_tiled_keys_;
        a.tiled_share = attn_tiled_share_;
        a.one_token = attn_one_;
        const PendingAttention pa{f32(q),
                                  f32(k),
                                  f32(v),
                                  static_cast<uint16_t*>(cache_k.data),
                                  static_cast<uint16_t*>(cache_v.data),
                                  a,
                                  n_tok,
                                  n_head,
                                  n_kv_head,
                                  head_dim,
                                  scale,
                                  f32(out),
                                  fuse,
                                  true};
        // Deferred for a one-token step: the quantization its output needs for the next product goes in too.
        if (fuse_enabled_ && n_tok == 1 && head_dim % 32 == 0) {
            pending_attn_ = pa;
            return;
        }
        submit_attention(pa);
    }

    void swiglu(const Tensor& gate, const Tensor& up) override {
        settle();
        q8_last_.valid = false;
        check(gate.type == TensorType::F32 && up.type == TensorType::F32 && gate.cols() == up.cols() &&
                  gate.rows() == up.rows(),
              "swiglu", [&] { return "gate " + gate.shape_string() + ", up " + up.shape_string(); });
        // Deferred: fused with the quantization of its output for the down projection (matmul).
        if (fuse_enabled_ && gate.cols() % 32 == 0 && aligned16(gate.data) && aligned16(up.data)) {
            pending_swiglu_ = {f32(gate), f32(up), gate.rows(), gate.cols(), true};
            return;
        }
        submit("swiglu", kc::swiglu, f32(gate), f32(up), gate.n_elements(), stream());
    }

    void top_k(const Tensor& x, int64_t k, const Tensor& ids, const Tensor& vals) override {
        static_assert(k_max_top_k == kc::k_top_k_max);
        settle();
        q8_last_.valid = false;
        check(x.type == TensorType::F32 && ids.type == TensorType::I32 && vals.type == TensorType::F32 && k >= 1 &&
                  k <= std::min(x.cols(), k_max_top_k) && ids.rows() == x.rows() && vals.rows() == x.rows() &&
                  ids.cols() == k && vals.cols() == k,
              "top_k", [&] {
                  return "x " + x.shape_string() + ", k " + std::to_string(k) + ", ids " + ids.shape_string() +
                         ", vals " + vals.shape_string();
              });
        submit("top_k", kc::top_k_rows, static_cast<const float*>(f32(x)), x.rows(), x.cols(), k,
               static_cast<int32_t*>(ids.data), f32(vals), stream());
    }

    void add(const Tensor& x, const Tensor& y) override {
        settle();
        q8_last_.valid = false;
        check(x.type == TensorType::F32 && y.type == TensorType::F32 && x.cols() == y.cols() && x.rows() == y.rows(),
              "add", [&] { return "x " + x.shape_string() + ", y " + y.shape_string(); });
        // Deferred: the next rms_norm of x takes it (x += y; norm(x) in one kernel).
        if (fuse_enabled_) {
            pending_add_ = {f32(x), f32(y), x.n_elements(), true};
            return;
        }
        submit("add", kc::add, f32(x), f32(y), x.n_elements(), stream());
    }

private:
    // A recorded launch, and a captured step.
    struct Pending {
        const char* name;
        std::function<kernels::Status()> launch;
    };
    struct CachedGraph {
        Key key;
        cudaGraphExec_t exec;
    };
    static float* f32(const Tensor& t) { return static_cast<float*>(t.data); }
    static bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

    // Ops held back for fusion (at most one kind at a time; see add, rms_norm, swiglu, matmul). settle()
    // submits them as they are; every op that cannot take them settles first, and so does flush().
    struct PendingAdd {
        float* x;
        const float* y;
        int64_t n;
        bool valid;
    };
    struct PendingNorm {
        float* x;
        const float* residual;  // x += residual first, or null
        const float* w;
        float eps;
        float* out;
        int64_t rows, cols;
        bool valid;
    };
    struct PendingSwiglu {
        float* gate;
        const float* up;
        int64_t rows, cols;
        bool valid;
    };
    struct PendingRope {
        float* q;
        float* k;
        int64_t n_head, n_kv_head, head_dim;
        const int32_t* pos;
        kc::RopeArgs args;
        bool valid;
    };
    struct PendingAttention {
        float* q;
        float* k;
        float* v;
        uint16_t* cache_k;
        uint16_t* cache_v;
        kc::AttentionArgs plan;
        int64_t n_tok, n_head, n_kv_head, head_dim;
        float scale;
        float* out;
        kc::AttentionFusion fuse;
        bool valid;
    };
    struct PendingGemm {  // an f16 GEMM held back for pairing (gemm_via_f16, pair_with_pending_gemm)
        const void* w;    // f16 [n_out, n_in]
        int64_t n_tok, n_in, n_out;
        const uint16_t* x16;  // f16 [n_tok, n_in] (half_scratch_)
        float* out;           // f32 [n_tok, n_out]
        const float* b;       // f32 [n_out] or null
        bool valid;
    };
    struct PendingMatvec {
        bool valid = false;
        TensorType type = TensorType::F32;
        kc::WeightLayout layout = kc::WeightLayout::gguf;
        const void* x = nullptr;
        kc::Q8Activations xq;
        int64_t n_in = 0, n_tok = 0;
        kc::MatvecSegments segs;
    };

    // ---- library products on f16 (cuBLAS): f16 weights, or quantized weights dequantized in chunks ----------
    //! out [n_tok, n_out] = x [n_tok, n_in] · Wᵀ (+ b); x16_ready: half_scratch_ already holds x rounded to f16.
    void gemm_via_f16(const Tensor& w, kc::WeightLayout layout, bool dequant, const Tensor& x, int64_t n_tok,
                      int64_t n_in, int64_t n_out, float* out, const float* b, bool x16_ready) {
        step_graphable_ = false;
        auto* x16 = static_cast<uint16_t*>(half_scratch(static_cast<size_t>(n_tok * n_in) * 2));
        // Dequantized products: W's rows in chunks of at most dequant_scratch_mib_, each multiplied by cuBLAS into
        // its column block of out. The activations meet f16 weights rounded to f16 (closer to exact than the
        // 8-bit path; see matmul_gemm.cu).
        int64_t chunk = n_out;
        uint16_t* w16 = nullptr;
        if (dequant) {
            const int64_t cap_rows = std::max<int64_t>(
                128, static_cast<int64_t>((static_cast<size_t>(dequant_scratch_mib_) << 20) /
                                          static_cast<size_t>(n_in * 2)) / 128 * 128);
            chunk = std::min(n_out, cap_rows);
            w16 = static_cast<uint16_t*>(dequant_scratch(static_cast<size_t>(chunk * n_in) * 2));
            ++stats_dequant_gemms_;
        }
        if (!x16_ready)
            submit("matmul.round_f16", kc::round_to_f16, static_cast<const float*>(f32(x)), x16, n_tok * n_in,
                   stream());
        q8_last_ = {x.data, n_tok, n_in, k_group_f16, true};
        if (!dequant && gemm_pair_ && cublas_->gemm_strided_batched_ex) {
            // Held back: the next product of the same x16 may pair with it (settle_gemm launches it alone).
            pending_gemm_ = {w.data, n_tok, n_in, n_out, x16, out, b, true};
            return;
        }
        for (int64_t r0 = 0; r0 < n_out; r0 += chunk) {
            const int64_t nr = std::min(chunk, n_out - r0);
            const void* wr = w.data;
            if (dequant) {
                submit("matmul.dequant", kc::dequantize_rows_f16, w.type, layout, static_cast<const void*>(w.data), r0,
                       nr, n_in, w16, stream());
                wr = w16;
            }
            submit("matmul.cublas", cublas_gemm_f16, cublas_.get(), lt_gemm_.get(), wr, nr, n_in,
                   static_cast<const uint16_t*>(x16), n_tok, out + r0, n_out);
        }
        if (b) submit("matmul.bias", kc::add_bias_rows, out, b, n_tok, n_out, stream());
    }

    //! The f16 copy of quantized weight w [n_out, n_in] (ENCLAVE_CUDA_F16_CACHE_MIB), dequantized on first use
    //! while the cache's budget allows; null otherwise (then the product dequantizes in chunks each time).
    const Tensor* f16_cached(const Tensor& w, kc::WeightLayout layout) {
        if (f16_cache_cap_ == 0) return nullptr;
        if (auto it = f16_cache_.find(w.data); it != f16_cache_.end()) return &it->second.second;
        const size_t bytes = static_cast<size_t>(w.rows() * w.cols()) * 2;
        if (f16_cache_used_ + bytes > f16_cache_cap_) return nullptr;
        auto buf = std::make_unique<CudaBuffer>(ctx_, bytes);
        Tensor t = Tensor::matrix(buf->data(), TensorType::F16, w.rows(), w.cols());
        submit("matmul.dequant_cache", kc::dequantize_rows_f16, w.type, layout, static_cast<const void*>(w.data),
               int64_t{0}, w.rows(), w.cols(), static_cast<uint16_t*>(buf->data()), stream());
        f16_cache_used_ += bytes;
        auto& entry = f16_cache_[w.data];
        entry = {std::move(buf), t};
        return &entry.second;
    }

    // The f16 GEMM held back by gemm_via_f16, launched alone.
    void settle_gemm() {
        if (!pending_gemm_.valid) return;
        pending_gemm_.valid = false;
        const PendingGemm& g = pending_gemm_;
        submit("matmul.cublas", cublas_gemm_f16, cublas_.get(), lt_gemm_.get(), g.w, g.n_out, g.n_in, g.x16, g.n_tok,
               g.out, g.n_out);
        if (g.b) submit("matmul.bias", kc::add_bias_rows, g.out, g.b, g.n_tok, g.n_out, stream());
    }

    //! The product out [n_tok, n_out] = x16 · Wᵀ (+ b) of the x16 the held-back GEMM reads, launched with it as one
    //! strided-batched GEMM when the shapes are equal and both W and out lie at the same-signed distance, whole
    //! outputs apart (the model allocates K before V and gate before up; whether the addresses follow is the
    //! allocator's). False: nothing done.
    bool pair_with_pending_gemm(const void* w, int64_t n_tok, int64_t n_in, int64_t n_out, float* out, const float* b) {
        const PendingGemm& g = pending_gemm_;
        if (!g.valid || g.n_tok != n_tok || g.n_in != n_in || g.n_out != n_out) return false;
        const auto w0 = reinterpret_cast<intptr_t>(g.w), w1 = reinterpret_cast<intptr_t>(w);
        const auto y0 = reinterpret_cast<intptr_t>(g.out), y1 = reinterpret_cast<intptr_t>(out);
        if ((w1 - w0) % 2 != 0 || (y1 - y0) % 4 != 0) return false;
        // Both strides positive once the lower one is first. Weights and outputs in opposite orders stay two
        // launches: cuBLAS 13.0 takes a negative stride without complaint and then faults (device run 2:
        // cudaErrorIllegalAddress). 8b f16's gate/up weights lie that way round (run 1: K/V paired in every
        // layer, gate/up in none).
        int64_t w_stride = (w1 - w0) / 2, y_stride = (y1 - y0) / 4;  // elements
        const bool forward = w_stride > 0 && y_stride > 0, backward = w_stride < 0 && y_stride < 0;
        if (!forward && !backward) return false;
        if (std::abs(y_stride) < n_tok * n_out) return false;  // the outputs would overlap
        const void* w_first = forward ? g.w : w;
        float* y_first = forward ? g.out : out;
        if (backward) w_stride = -w_stride, y_stride = -y_stride;
        pending_gemm_.valid = false;
        submit("matmul.cublas_pair", cublas_gemm_f16_pair, cublas_.get(), lt_gemm_.get(), w_first, w_stride, n_out,
               n_in, g.x16, n_tok, y_first, y_stride);
        if (g.b) submit("matmul.bias", kc::add_bias_rows, g.out, g.b, n_tok, n_out, stream());
        if (b) submit("matmul.bias", kc::add_bias_rows, out, b, n_tok, n_out, stream());
        ++stats_gemm_pairs_;
        return true;
    }

    //! When the op that makes x [n_tok, n_in] is a held-back norm or swiglu: launches it with its f16 copy of x
    //! into half_scratch_ for the GEMM that follows. False: nothing launched, x16 still to be made.
    bool write_x16_with_producer(const Tensor& x, int64_t n_tok, int64_t n_in) {
        const bool norm = pending_norm_.valid && pending_norm_.out == x.data && pending_norm_.rows == n_tok &&
                          pending_norm_.cols == n_in && kc::f16_activations_ok(n_in);
        const bool swiglu = pending_swiglu_.valid && pending_swiglu_.gate == x.data && pending_swiglu_.rows == n_tok &&
                            pending_swiglu_.cols == n_in && (n_tok * n_in) % 4 == 0;
        if (!norm && !swiglu) return false;
        // half_scratch() may flush (when it grows), which launches the held-back op as it is: look again after.
        auto* x16 = static_cast<uint16_t*>(half_scratch(static_cast<size_t>(n_tok * n_in) * 2));
        if (norm && pending_norm_.valid) {
            const PendingNorm p = pending_norm_;
            pending_norm_.valid = false;
            settle();
            submit("rms_norm_f16", kc::rms_norm_f16, p.x, p.residual, p.w, p.eps, p.out, x16, p.rows, p.cols, stream());
        } else if (swiglu && pending_swiglu_.valid) {
            const PendingSwiglu p = pending_swiglu_;
            pending_swiglu_.valid = false;
            settle();
            submit("swiglu_f16", kc::swiglu_f16, p.gate, p.up, x16, p.rows * p.cols, stream());
        } else {
            return false;
        }
        ++stats_f16_fused_;
        return true;
    }

    void settle_matvec() {
        if (!pending_mv_.valid) return;
        pending_mv_.valid = false;
        const PendingMatvec& m = pending_mv_;
        submit("matmul", kc::matmul_vec_multi, m.type, m.layout, m.segs, m.n_in, static_cast<const float*>(m.x), m.xq,
               m.n_tok, stream());
        ++stats_matvec_launches_;
        stats_matvec_products_ += m.segs.n;
    }
    void submit_attention(const PendingAttention& p) {
        submit("attention", kc::attention, static_cast<const float*>(p.q), static_cast<const float*>(p.k),
               static_cast<const float*>(p.v), p.cache_k, p.cache_v, p.plan, p.n_tok, p.n_head, p.n_kv_head, p.head_dim,
               p.scale, p.out, flags(), stream(), p.fuse);
    }
    void settle() {
        settle_gemm();  // held back after the ops below were launched, and before any op after it
        if (pending_rope_.valid) {
            const PendingRope& p = pending_rope_;
            pending_rope_.valid = false;
            submit("rope", kc::rope, p.q, p.k, int64_t{1}, p.n_head, p.n_kv_head, p.head_dim, p.pos, p.args, stream());
        }
        if (pending_attn_.valid) {
            pending_attn_.valid = false;
            submit_attention(pending_attn_);
        }
        if (pending_add_.valid) {
            pending_add_.valid = false;
            submit("add", kc::add, pending_add_.x, pending_add_.y, pending_add_.n, stream());
        }
        if (pending_norm_.valid) {
            const PendingNorm& p = pending_norm_;
            pending_norm_.valid = false;
            if (p.residual)
                submit("rms_norm", kc::rms_norm_fused, p.x, p.residual, p.w, p.eps, p.out, p.rows, p.cols,
                       TensorType::F32, kc::Q8Activations{}, stream());
            else
                submit("rms_norm", kc::rms_norm, static_cast<const float*>(p.x), p.w, p.eps, p.out, p.rows, p.cols,
                       stream());
        }
        if (pending_swiglu_.valid) {
            pending_swiglu_.valid = false;
            submit("swiglu", kc::swiglu, pending_swiglu_.gate, pending_swiglu_.up,
                   pending_swiglu_.rows * pending_swiglu_.cols, stream());
        }
        settle_matvec();
    }

    kc::WeightLayout layout_of(const Tensor& t) const {
        if (split_weights_.empty() || !t.data) return kc::WeightLayout::gguf;
        const auto a = reinterpret_cast<uintptr_t>(t.data);
        auto it = split_weights_.upper_bound(a);
        if (it == split_weights_.begin()) return kc::WeightLayout::gguf;
        --it;
        return a < it->second ? kc::WeightLayout::split : kc::WeightLayout::gguf;
    }

    void* half_scratch(size_t bytes) {
        if (!half_scratch_ || half_scratch_->size() < bytes) {
            flush();
            half_scratch_.reset();
            half_scratch_ = std::make_unique<CudaBuffer>(ctx_, bytes);
        }
        return half_scratch_->data();
    }
    void* dequant_scratch(size_t bytes) {
        if (!dequant_scratch_ || dequant_scratch_->size() < bytes) {
            flush();
            dequant_scratch_.reset();
            dequant_scratch_ = std::make_unique<CudaBuffer>(ctx_, bytes);
        }
        return dequant_scratch_->data();
    }
    cudaStream_t stream() const { return ctx_->stream; }
    int* flags() const { return static_cast<int*>(flags_->data()); }

    // Activations quantized the same way share a group; k_group_f16 marks f16 activations in half_scratch_.
    static constexpr int k_group_f16 = -1;
    static int q8_group(TensorType t) {
        if (t == TensorType::Q4_1) return 1;
        if (t == TensorType::Q4_K || t == TensorType::Q5_K || t == TensorType::Q6_K) return 2;
        return 0;
    }

    void* scratch(size_t bytes) {
        if (!scratch_ || scratch_->size() < bytes) {
            flush();           // recorded ops may still use the old buffer
            scratch_.reset();  // waits for queued work that may still read it
            scratch_ = std::make_unique<CudaBuffer>(ctx_, std::max(bytes, scratch_size_ + scratch_size_ / 2));
            scratch_size_ = scratch_->size();
        }
        return scratch_->data();
    }

    // Runs a launcher now (graphs off) or records it for flush().
    template <class... P, class... A>
    void submit(const char* op, kernels::Status (*fn)(P...), A&&... args) {
        std::tuple<std::decay_t<P>...> values(std::forward<A>(args)...);
        if (!graphs_enabled_) {
            if (profile_) profile_mark(op);
            check_status(std::apply(fn, values), op);
            if (profile_) profile_mark(nullptr);
            return;
        }
        key_.push_back(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(fn)));
        std::apply([&](const auto&... v) { (put_key(key_, v), ...); }, values);
        pending_.push_back({op, [fn, values]() { return std::apply(fn, values); }});
    }

    // Runs what submit() recorded: a cached graph of the same step, a new graph of a step seen twice in a row,
    // or op by op. Steps with a GEMM (prefill) always run op by op: they rarely repeat.
    void flush() {
        settle();
        if (pending_.empty()) return;
        std::vector<Pending> ops = std::move(pending_);
        Key key = std::move(key_);
        pending_.clear();
        key_.clear();
        const bool graphable = step_graphable_ && ops.size() >= k_min_graph_ops;
        step_graphable_ = true;
        if (graphable) {
            for (auto it = graphs_.begin(); it != graphs_.end(); ++it) {
                if (it->key != key) continue;
                ENCLAVE_CUDA_THROW(cudaGraphLaunch(it->exec, stream()));
                std::rotate(graphs_.begin(), it, it + 1);  // most recently used first
                ++stats_replayed_;
                return;
            }
            if (key == last_key_) {
                capture(ops, std::move(key));
                last_key_.clear();
                return;
            }
            last_key_ = std::move(key);
        }
        for (const auto& op : ops) check_status(op.launch(), op.name);
        ++stats_eager_;
    }

    void capture(const std::vector<Pending>& ops, Key key) {
        ENCLAVE_CUDA_THROW(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
        kernels::Status failed;
        const char* failed_op = "";
        for (const auto& op : ops) {
            failed = op.launch();
            if (!failed) {
                failed_op = op.name;
                break;
            }
        }
        cudaGraph_t graph = nullptr;
        const cudaError_t end = cudaStreamEndCapture(stream(), &graph);
        if (!failed) {
            if (graph) (void)cudaGraphDestroy(graph);
            check_status(failed, failed_op);
        }
        ENCLAVE_CUDA_THROW(end);
        cudaGraphExec_t exec = nullptr;
        const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
        (void)cudaGraphDestroy(graph);
        ENCLAVE_CUDA_THROW(inst);
        if (graphs_.size() >= k_max_graphs) {
            (void)cudaGraphExecDestroy(graphs_.back().exec);
            graphs_.pop_back();
        }
        graphs_.insert(graphs_.begin(), CachedGraph{std::move(key), exec});
        ENCLAVE_CUDA_THROW(cudaGraphLaunch(exec, stream()));
        ++stats_captured_;
    }

    // ---- ENCLAVE_CUDA_PROFILE: device time per op name (events around each launch), host time in downloads.
    // An op's time runs from the event before its launch to the one after: its kernels, plus the launch's own
    // latency when the device was idle waiting for the host.
    struct ProfileTotal {
        double ms = 0;
        long calls = 0;
        void add(double v) { ms += v, ++calls; }
    };
    static double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    }
    // name: an op starts (its start event); null: the op started last ends.
    void profile_mark(const char* name) {
        if (profile_used_ == profile_events_.size()) {
            cudaEvent_t e = nullptr;
            ENCLAVE_CUDA_THROW(cudaEventCreate(&e));
            profile_events_.push_back(e);
        }
        if (name) profile_ops_.push_back({name, profile_used_});
        ENCLAVE_CUDA_THROW(cudaEventRecord(profile_events_[profile_used_++], stream()));
    }
    void profile_collect() {  // after a stream synchronisation
        for (const auto& op : profile_ops_) {
            float ms = 0;
            if (op.second + 1 < profile_used_ &&
                cudaEventElapsedTime(&ms, profile_events_[op.second], profile_events_[op.second + 1]) == cudaSuccess)
                profile_device_[op.first].add(ms);
        }
        (void)cudaGetLastError();
        profile_ops_.clear();
        profile_used_ = 0;
    }
    void print_profile() const {
        double total = 0;
        for (const auto& [name, t] : profile_device_) total += t.ms;
        std::vector<std::pair<std::string, ProfileTotal>> rows(profile_device_.begin(), profile_device_.end());
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
        std::fprintf(stderr, "cuda profile: ---- %.1f ms of device time in ops (events around each launch)\n", total);
        for (const auto& [name, t] : rows)
            std::fprintf(stderr, "cuda profile: %10.2f ms %5.1f%% %7ld x %9.1f us  %s\n", t.ms,
                         total > 0 ? 100.0 * t.ms / total : 0.0, t.calls, 1e3 * t.ms / static_cast<double>(t.calls),
                         name.c_str());
        for (const auto& [name, t] : profile_host_)
            std::fprintf(stderr, "cuda profile: %10.2f ms        %7ld x %9.1f us  %s\n", t.ms, t.calls,
                         1e3 * t.ms / static_cast<double>(std::max(1L, t.calls)), name.c_str());
        std::fprintf(stderr, "cuda profile: %.1f MB downloaded\n", static_cast<double>(profile_download_bytes_) / 1e6);
    }

    // After a stream synchronisation: report (once) what the kernels flagged since the last check.
    void check_flags() {
        const int f = *host_flags_;
        if (f == 0) return;
        *host_flags_ = 0;
        ENCLAVE_CUDA_THROW(cudaMemsetAsync(flags_->data(), 0, sizeof(int), ctx_->stream));
        std::string what;
        if (f & kc::k_error_bad_row_id) what += "get_rows: an id was outside the table; ";
        if (f & kc::k_error_bad_plan)
            what += "attention: a token had an invalid cache slot, sequence, position or block; ";
        throw InvalidArgument("cuda backend: " + what + "the affected rows were left zero");
    }

    std::shared_ptr<CudaContext> ctx_;
    std::string device_name_;
    std::unique_ptr<CudaBuffer> flags_;  // int: k_error_* bits set by kernels
    int* host_flags_ = nullptr;          // pinned copy of flags_
    std::vector<std::unique_ptr<CudaBuffer>> weights_;
    std::unique_ptr<CudaBuffer> scratch_;           // [n_tok, n_in] 8-bit activations of the current matmul
    std::unique_ptr<CudaBuffer> half_scratch_;      // [n_tok, n_in] f16 activations for cuBLAS
    std::unique_ptr<CudaBuffer> dequant_scratch_;   // [rows of a chunk, n_in] f16 weights (dequantized GEMM)
    // ENCLAVE_CUDA_F16_CACHE_MIB: quantized weight's data -> its f16 copy [n_out, n_in] and that copy's tensor.
    std::map<const void*, std::pair<std::unique_ptr<CudaBuffer>, Tensor>> f16_cache_;
    size_t f16_cache_used_ = 0, f16_cache_cap_ = 0;
    int64_t dequant_min_tokens_ = 128;              // ENCLAVE_CUDA_DEQUANT_GEMM
    int dequant_scratch_mib_ = 256;                 // ENCLAVE_CUDA_DEQUANT_MIB: largest chunk
    long stats_dequant_gemms_ = 0;
    bool f16_reuse_ = true;                         // ENCLAVE_CUDA_F16_REUSE
    bool f16_fuse_ = true;                          // ENCLAVE_CUDA_F16_FUSE
    bool gemm_pair_ = true;                         // ENCLAVE_CUDA_GEMM_PAIR
    long stats_f16_fused_ = 0, stats_gemm_pairs_ = 0;
    int attn_tiled_rows_ = 8;                       // ENCLAVE_CUDA_ATTN_V2 (0: the per-(token, head) kernel)
    int attn_tiled_keys_ = 128;                     // ENCLAVE_CUDA_ATTN_TILE
    int attn_tiled_share_ = 1;                      // ENCLAVE_CUDA_ATTN_SHARE (AttentionArgs::tiled_share)
    int attn_one_ = 2;                              // ENCLAVE_CUDA_ATTN_ONE (AttentionArgs::one_token)
    std::unique_ptr<CudaBuffer> load_stage_;        // a weight in the file's layout, before repacking
    std::map<uintptr_t, uintptr_t> split_weights_;  // [start, end) of weights in the split layout
    std::unique_ptr<Cublas> cublas_;
    std::unique_ptr<cuda_detail::LtGemm> lt_gemm_;  // ENCLAVE_CUDA_GEMM_TUNE: cuBLASLt, timed pick per shape
    bool split_enabled_ = true;
    bool fuse_enabled_ = true;
    int matvec_variant_ = 0;
    bool matvec_pdl_ = true;          // ENCLAVE_CUDA_PDL: products start while the kernel before them runs
    int matvec_l2_prefetch_mib_ = 0;  // ENCLAVE_CUDA_L2_PREFETCH: products ask L2 for weights ahead (0: off)
    PendingAdd pending_add_{};
    PendingNorm pending_norm_{};
    PendingSwiglu pending_swiglu_{};
    PendingRope pending_rope_{};
    PendingAttention pending_attn_{};
    PendingMatvec pending_mv_;
    PendingGemm pending_gemm_{};
    long stats_fused_attention_ = 0;
    long stats_fused_norms_ = 0, stats_fused_swiglu_ = 0, stats_matvec_launches_ = 0, stats_matvec_products_ = 0;
    size_t scratch_size_ = 0;
    PinnedBuffer upload_staging_;  // host copies of uploads since the last stream synchronisation
    size_t upload_offset_ = 0;
    PinnedBuffer download_staging_;
    // Step recording (see submit / flush).
    static constexpr size_t k_min_graph_ops = 16;  // smaller steps are not worth a graph
    static constexpr size_t k_max_graphs = 8;      // one per batch shape in use, most recent first
    bool graphs_enabled_ = true;
    bool print_stats_ = false;
    bool step_graphable_ = true;    // no GEMM in the step so far
    std::vector<Pending> pending_;  // recorded, not yet launched
    Key key_;                       // the arguments of pending_
    Key last_key_;                  // the previous step's, when it ran op by op
    std::vector<CachedGraph> graphs_;
    long stats_eager_ = 0, stats_captured_ = 0, stats_replayed_ = 0;
    bool profile_ = false;                             // ENCLAVE_CUDA_PROFILE
    bool profile_each_sync_ = false;                   // ENCLAVE_CUDA_PROFILE=2
    std::vector<cudaEvent_t> profile_events_;          // reused after each collect
    size_t profile_used_ = 0;
    std::vector<std::pair<std::string, size_t>> profile_ops_;  // name, index of its start event
    std::map<std::string, ProfileTotal> profile_device_, profile_host_;
    size_t profile_download_bytes_ = 0;
    // What scratch_ holds: the 8-bit activations of x, valid while no other op has run since (any op may
    // have written x).
    struct {
        const void* x = nullptr;
        int64_t n_tok = 0, n_in = 0;
        int group = 0;
        bool valid = false;
    } q8_last_;
};

}  // namespace

int cuda_device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
    const int n = cuda_device_count();
    if (n == 0) throw Error("CUDA backend: no CUDA device is available (no driver, or no GPU visible to this process)");
    if (device < 0 || device >= n)
        throw InvalidArgument("CUDA backend: device " + std::to_string(device) + " does not exist (" +
                              std::to_string(n) + " device" + (n == 1 ? "" : "s") + " found)");
    return std::make_unique<CudaBackend>(device);
}

}  // namespace enclave
