// The CUDA backend (see cuda_backend.h): device memory from cudaMalloc, one stream, pinned staging for
// uploads and downloads, a grow-only device scratch for 8-bit activations, and a device word of error flags
// that the kernels set for bad indices and that is read back with every download.
#include "core/backend/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "enclave/kernels/cpu_ops.h"  // defines: attention_packed_min_rows
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
    } else if constexpr (std::is_same_v<T, kc::Q8Activations>) {
        put_key(k, v.qs), put_key(k, v.d), put_key(k, v.s);
    } else if constexpr (std::is_same_v<T, kc::RopeArgs>) {
        put_key(k, v.n_dims), put_key(k, v.freq_base), put_key(k, v.freq_scale), put_key(k, v.neox);
        put_key(k, v.freq_factors);
    } else if constexpr (std::is_same_v<T, kc::AttentionArgs>) {
        put_key(k, v.token_seq), put_key(k, v.token_pos), put_key(k, v.token_slot), put_key(k, v.block_tables);
        put_key(k, v.seq_lens), put_key(k, v.n_seqs), put_key(k, v.max_blocks_per_seq), put_key(k, v.block_size);
        put_key(k, v.n_slots), put_key(k, v.max_seq_len), put_key(k, v.dot_partials);
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
        print_stats_ = env_flag("ENCLAVE_CUDA_STATS", false);
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
        if (print_stats_)
            std::fprintf(stderr, "cuda backend: %ld steps run op by op, %ld captured as graphs, %ld graph replays\n",
                         stats_eager_, stats_captured_, stats_replayed_);
    }

    std::string_view name() const override { return "cuda"; }

    std::unique_ptr<DeviceBuffer> allocate(size_t bytes) override {
        q8_last_.valid = false;
        flush();
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
        if (bytes)
            ENCLAVE_CUDA_THROW(cudaMemcpyAsync(buf->data(), host_bytes, bytes, cudaMemcpyHostToDevice, ctx_->stream));
        // The host bytes are the caller's (a mapped file); the copy must be done before we return.
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        t.data = buf->data();
        weights_.push_back(std::move(buf));
        return t;
    }

    void upload(const Tensor& dst, const void* src, size_t bytes) override {
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
        if (bytes)
            ENCLAVE_CUDA_THROW(
                cudaMemcpyAsync(download_staging_.data(), src.data, bytes, cudaMemcpyDeviceToHost, ctx_->stream));
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        upload_offset_ = 0;
        check_flags();
        if (bytes) std::memcpy(dst, download_staging_.data(), bytes);
    }

    void synchronize() override {
        flush();
        ENCLAVE_CUDA_THROW(
            cudaMemcpyAsync(host_flags_, flags_->data(), sizeof(int), cudaMemcpyDeviceToHost, ctx_->stream));
        ENCLAVE_CUDA_THROW(cudaStreamSynchronize(ctx_->stream));
        upload_offset_ = 0;
        check_flags();
    }

    void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) override {
        q8_last_.valid = false;
        check(ids.type == TensorType::I32, "get_rows", [&] { return "ids must be i32"; });
        check(out.type == TensorType::F32 && out.cols() == table.cols() && out.rows() == ids.n_elements(), "get_rows",
              [&] { return "out " + out.shape_string() + " does not fit table " + table.shape_string(); });
        submit("get_rows", kc::get_rows, table.type, static_cast<const void*>(table.data), table.rows(), table.cols(),
               static_cast<const int32_t*>(ids.data), ids.n_elements(), f32(out), flags(), stream());
    }

    void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override {
        q8_last_.valid = false;
        check(x.type == TensorType::F32 && out.type == TensorType::F32 && weight.type == TensorType::F32 &&
                  weight.n_elements() == x.cols() && out.cols() == x.cols() && out.rows() == x.rows(),
              "rms_norm", [&] {
                  return "x " + x.shape_string() + ", weight " + weight.shape_string() + ", out " + out.shape_string();
              });
        submit("rms_norm", kc::rms_norm, f32(x), f32(weight), eps, f32(out), x.rows(), x.cols(), stream());
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
        kc::Q8Activations xq;
        if (kc::matmul_uses_q8(w.type)) {
            // Q, K, V (and gate, up) multiply the same activations one after another: quantize them once.
            const int group = q8_group(w.type);
            const bool reuse = q8_last_.valid && q8_last_.x == x.data && q8_last_.n_tok == n_tok &&
                               q8_last_.n_in == n_in && q8_last_.group == group;
            if (!reuse) {
                q8_last_.valid = false;
                xq = kc::q8_activations(scratch(kc::q8_activation_bytes(n_tok, n_in)), n_tok, n_in);
                submit("matmul", kc::quantize_activations, w.type, f32(x), n_tok, n_in, xq, stream());
            } else {
                xq = kc::q8_activations(scratch_->data(), n_tok, n_in);
            }
            q8_last_ = {x.data, n_tok, n_in, group, true};
        } else {
            q8_last_.valid = false;
        }
        if (n_tok <= kc::k_matmul_vec_max_tokens) {
            submit("matmul", kc::matmul_vec, w.type, static_cast<const void*>(w.data), n_out, n_in, f32(x), xq, n_tok,
                   f32(out), b, stream());
        } else if (kc::matmul_gemm_supported(w.type)) {
            step_graphable_ = false;
            submit("matmul", kc::matmul_gemm, w.type, static_cast<const void*>(w.data), n_out, n_in, f32(x), xq, n_tok,
                   f32(out), b, stream());
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
                submit("matmul", kc::matmul_vec, w.type, static_cast<const void*>(w.data), n_out, n_in,
                       f32(x) + t0 * n_in, part, n, f32(out) + t0 * n_out, b, stream());
            }
        }
        const auto* xb = static_cast<const uint8_t*>(x.data);
        const auto* ob = static_cast<const uint8_t*>(out.data);
        if (ob < xb + x.n_bytes() && xb < ob + out.n_bytes()) q8_last_.valid = false;  // out overwrote x
    }

    void rope(const Tensor& q, const Tensor& k, int64_t head_dim, const Tensor& pos, const RopeParams& p) override {
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
        submit("rope", kc::rope, f32(q), f32(k), q.rows(), q.cols() / head_dim, k.cols() / head_dim, head_dim,
               static_cast<const int32_t*>(pos.data), a, stream());
    }

    void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cache_k, const Tensor& cache_v,
                   const AttentionPlan& plan, int64_t n_head, int64_t n_kv_head, int64_t head_dim, float scale,
                   const Tensor& out) override {
        const int64_t n_tok = q.rows();
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
        a.dot_partials = n_tok < kernels::attention_packed_min_rows;  // the CPU backend's choice of kernel
        submit("attention", kc::attention, f32(q), f32(k), f32(v), static_cast<uint16_t*>(cache_k.data),
               static_cast<uint16_t*>(cache_v.data), a, n_tok, n_head, n_kv_head, head_dim, scale, f32(out), flags(),
               stream());
    }

    void swiglu(const Tensor& gate, const Tensor& up) override {
        q8_last_.valid = false;
        check(gate.type == TensorType::F32 && up.type == TensorType::F32 && gate.cols() == up.cols() &&
                  gate.rows() == up.rows(),
              "swiglu", [&] { return "gate " + gate.shape_string() + ", up " + up.shape_string(); });
        submit("swiglu", kc::swiglu, f32(gate), f32(up), gate.n_elements(), stream());
    }

    void add(const Tensor& x, const Tensor& y) override {
        q8_last_.valid = false;
        check(x.type == TensorType::F32 && y.type == TensorType::F32 && x.cols() == y.cols() && x.rows() == y.rows(),
              "add", [&] { return "x " + x.shape_string() + ", y " + y.shape_string(); });
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
    cudaStream_t stream() const { return ctx_->stream; }
    int* flags() const { return static_cast<int*>(flags_->data()); }

    // Activations quantized the same way share a group.
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
            check_status(std::apply(fn, values), op);
            return;
        }
        key_.push_back(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(fn)));
        std::apply([&](const auto&... v) { (put_key(key_, v), ...); }, values);
        pending_.push_back({op, [fn, values]() { return std::apply(fn, values); }});
    }

    // Runs what submit() recorded: a cached graph of the same step, a new graph of a step seen twice in a row,
    // or op by op. Steps with a GEMM (prefill) always run op by op: they rarely repeat.
    void flush() {
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
    std::unique_ptr<CudaBuffer> scratch_;  // [n_tok, n_in] 8-bit activations of the current matmul
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
