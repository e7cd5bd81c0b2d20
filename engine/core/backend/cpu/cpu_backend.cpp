// The CPU backend: weights mapped in place, every op split over a spinning thread pool, quantized matrix
// products through enclave_kernels' ISA-dispatched paths.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "core/backend/backend.h"
#include "core/backend/cpu/thread_pool.h"
#include "enclave/kernels/cpu_matmul.h"
#include "enclave/kernels/cpu_ops.h"
#include "enclave/kernels/quant.h"

namespace enclave {
namespace {

// Zero-filled host memory. Large buffers (a KV cache sized from a share of memory) are anonymous mappings, which
// the kernel zeroes page by page on first touch: memory is taken as the cache fills, not all at load.
class HostBuffer final : public DeviceBuffer {
public:
    explicit HostBuffer(size_t bytes) : size_(bytes) {
        const size_t rounded = (bytes + 63) / 64 * 64;
        if (rounded >= k_mapped_min_bytes) {
            void* p = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                throw ResourceExhausted("cannot map " + std::to_string(bytes) + " bytes of host memory");
            data_ = p;
            mapped_ = rounded;
            return;
        }
        data_ = rounded ? std::aligned_alloc(64, rounded) : nullptr;
        if (rounded && !data_)
            throw ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes of host memory");
        if (data_) std::memset(data_, 0, rounded);
    }
    ~HostBuffer() override {
        if (mapped_)
            munmap(data_, mapped_);
        else
            std::free(data_);
    }
    void* data() override { return data_; }
    size_t size() const override { return size_; }

private:
    static constexpr size_t k_mapped_min_bytes = size_t{1} << 20;
    void* data_ = nullptr;
    size_t mapped_ = 0;  // bytes mapped, 0 when from the heap
    size_t size_;
};

// Shape checks run on every op of every step: the message is built only when the check fails.
#define ENCLAVE_OP_CHECK(cond, op, what)                                                   \
    do {                                                                                   \
        if (!(cond)) throw InvalidArgument(std::string(op) + ": " + std::string(what)); \
    } while (0)

// Grow-only 64-byte aligned scratch (SIMD loads of converted activations), so steady-state steps
// allocate nothing.
class ScratchBuffer {
public:
    uint8_t* get(size_t bytes) {
        if (bytes > capacity_) {
            const size_t rounded = (bytes + 63) / 64 * 64;
            void* p = std::aligned_alloc(64, rounded);
            if (!p) throw ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes of scratch memory");
            data_.reset(static_cast<uint8_t*>(p));
            capacity_ = rounded;
        }
        return data_.get();
    }

private:
    struct Free {
        void operator()(uint8_t* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<uint8_t, Free> data_;
    size_t capacity_ = 0;
};

// Rows per task boundary for matrix products: whole groups keep the kernels' 4-row paths busy.
constexpr int64_t row_granule = 16;

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads)
        : pool_(n_threads), isa_(kernels::detect_cpu_isa()), thread_status_(static_cast<size_t>(pool_.size())) {}

    std::string_view name() const override { return "cpu"; }

    size_t available_memory() const override {
        // MemAvailable: what the kernel can hand out without swapping (free memory plus reclaimable cache).
        std::FILE* f = std::fopen("/proc/meminfo", "r");
        if (!f) throw Error("cannot read /proc/meminfo for the memory available");
        char line[256];
        unsigned long long kib = 0;
        bool found = false;
        while (!found && std::fgets(line, sizeof line, f)) found = std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
        std::fclose(f);
        if (!found) throw Error("/proc/meminfo has no MemAvailable line");
        return static_cast<size_t>(kib) * 1024;
    }

    std::unique_ptr<DeviceBuffer> allocate(size_t bytes) override { return std::make_unique<HostBuffer>(bytes); }

    Tensor load_weight(const void* host_bytes, TensorType type, const int64_t ne[4]) override {
        Tensor t;
        t.data = const_cast<void*>(host_bytes);  // read-only by contract: weights are never written
        t.type = type;
        for (int i = 0; i < 4; ++i) t.ne[i] = ne[i];
        return t;
    }

    void upload(const Tensor& dst, const void* src, size_t bytes) override { std::memcpy(dst.data, src, bytes); }
    void download(void* dst, const Tensor& src, size_t bytes) override { std::memcpy(dst, src.data, bytes); }
    void synchronize() override {}

    void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) override {
        ENCLAVE_OP_CHECK(ids.type == TensorType::I32, "get_rows", "ids must be i32");
        ENCLAVE_OP_CHECK(out.type == TensorType::F32 && out.cols() == table.cols() && out.rows() == ids.n_elements(),
              "get_rows", "out " + out.shape_string() + " does not fit table " + table.shape_string());
        const auto* id = static_cast<const int32_t*>(ids.data);
        const int64_t n_rows = table.rows();
        for (int64_t i = 0; i < ids.n_elements(); ++i)
            ENCLAVE_OP_CHECK(id[i] >= 0 && id[i] < n_rows, "get_rows", "id " + std::to_string(id[i]) + " out of range");
        const size_t rb = table.row_bytes();
        pool_.parallel_for(ids.n_elements(), [&](int64_t b, int64_t e, int) {
            for (int64_t i = b; i < e; ++i) {
                const auto* src = static_cast<const uint8_t*>(table.data) + static_cast<size_t>(id[i]) * rb;
                (void)kernels::dequantize_row(table.type, src, row_f32(out, i), table.cols());
            }
        });
    }

    void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override {
        ENCLAVE_OP_CHECK(x.type == TensorType::F32 && out.type == TensorType::F32 && weight.type == TensorType::F32 &&
                  weight.n_elements() == x.cols() && out.cols() == x.cols() && out.rows() == x.rows(),
              "rms_norm", "x " + x.shape_string() + ", weight " + weight.shape_string() + ", out " + out.shape_string());
        const int64_t n = x.cols();
        pool_.parallel_for(x.rows(), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r)
                kernels::rms_norm_row(row_f32(x, r), static_cast<const float*>(weight.data), eps, row_f32(out, r), n);
        });
    }

    void matmul(const Tensor& w, const Tensor& x, const Tensor& out, const Tensor* bias) override {
        ENCLAVE_OP_CHECK(x.type == TensorType::F32 && out.type == TensorType::F32 && x.cols() == w.cols() &&
                  out.cols() == w.rows() && out.rows() == x.rows(),
              "matmul", "w " + w.shape_string() + ", x " + x.shape_string() + ", out " + out.shape_string());
        ENCLAVE_OP_CHECK(!bias || (bias->type == TensorType::F32 && bias->n_elements() == w.rows()), "matmul",
              "bias does not match w " + w.shape_string());
        const int64_t n_in = w.cols(), n_out = w.rows(), n_tok = x.rows();
        const TensorType act = kernels::activation_type(w.type);
        const size_t act_row = tensor_row_bytes(act, n_in);
        auto* xq = scratch(static_cast<size_t>(n_tok) * act_row);
        pool_.parallel_for(n_tok, [&](int64_t b, int64_t e, int thread) {
            // A thread may run several pieces: keep the first failure it saw.
            const auto st = kernels::convert_activations(isa_, w.type, static_cast<const float*>(x.data), n_in, n_in, b, e, xq);
            if (!st.is_ok()) thread_status_[thread] = st;
        });
        check_thread_status("matmul");
        const int64_t n_granules = (n_out + row_granule - 1) / row_granule;
        pool_.parallel_for(n_granules, [&](int64_t b, int64_t e, int thread) {
            const int64_t r0 = b * row_granule, r1 = std::min(n_out, e * row_granule);
            const auto st = kernels::matmul_rows(isa_, w.type, w.data, n_in, xq, n_tok, static_cast<float*>(out.data),
                                                 n_out, r0, r1);
            if (!st.is_ok()) thread_status_[thread] = st;
            if (bias)
                for (int64_t t = 0; t < n_tok; ++t)
                    kernels::add_bias_row(row_f32(out, t) + r0, static_cast<const float*>(bias->data) + r0, r1 - r0);
        });
        check_thread_status("matmul");
    }

    void rope(const Tensor& q, const Tensor& k, int64_t head_dim, const Tensor& pos, const RopeParams& p) override {
        ENCLAVE_OP_CHECK(q.type == TensorType::F32 && k.type == TensorType::F32 && pos.type == TensorType::I32 &&
                  q.rows() == pos.n_elements() && k.rows() == pos.n_elements() && head_dim > 0 &&
                  q.cols() % head_dim == 0 && k.cols() % head_dim == 0 && p.n_dims > 0 && p.n_dims <= head_dim &&
                  p.n_dims % 2 == 0 && p.n_dims <= 1024,
              "rope", "q " + q.shape_string() + ", k " + k.shape_string() + ", n_dims " + std::to_string(p.n_dims));
        const auto* positions = static_cast<const int32_t*>(pos.data);
        pool_.parallel_for(q.rows(), [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t) {
                kernels::rope_row(row_f32(q, t), q.cols() / head_dim, head_dim, p.n_dims, positions[t], p.freq_base,
                                  p.freq_scale, p.neox, p.freq_factors);
                kernels::rope_row(row_f32(k, t), k.cols() / head_dim, head_dim, p.n_dims, positions[t], p.freq_base,
                                  p.freq_scale, p.neox, p.freq_factors);
            }
        });
    }

    void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cache_k, const Tensor& cache_v,
                   const AttentionPlan& plan, int64_t n_head, int64_t n_kv_head, int64_t head_dim, float scale,
                   const Tensor& out) override {
        const int64_t n_tok = q.rows();
        const int64_t kv_row = n_kv_head * head_dim;
        ENCLAVE_OP_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0 && head_dim > 0 && head_dim <= 512, "attention",
              "heads " + std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " of " + std::to_string(head_dim));
        ENCLAVE_OP_CHECK(q.cols() == n_head * head_dim && out.cols() == q.cols() && out.rows() == n_tok && k.cols() == kv_row &&
                  v.cols() == kv_row && k.rows() == n_tok && v.rows() == n_tok,
              "attention", "q " + q.shape_string() + ", k " + k.shape_string() + ", v " + v.shape_string());
        ENCLAVE_OP_CHECK(cache_k.type == TensorType::F16 && cache_v.type == TensorType::F16 && cache_k.cols() == kv_row &&
                  cache_v.cols() == kv_row && cache_k.rows() == cache_v.rows(),
              "attention", "cache " + cache_k.shape_string());
        const auto* slot = static_cast<const int32_t*>(plan.token_slot.data);
        const auto* seq = static_cast<const int32_t*>(plan.token_seq.data);
        const auto* pos = static_cast<const int32_t*>(plan.token_pos.data);
        const auto* tables = static_cast<const int32_t*>(plan.block_tables.data);
        const auto* lens = static_cast<const int32_t*>(plan.seq_lens.data);
        const int64_t n_slots = cache_k.rows();
        for (int64_t t = 0; t < n_tok; ++t) {
            ENCLAVE_OP_CHECK(slot[t] >= 0 && slot[t] < n_slots && seq[t] >= 0 && seq[t] < plan.n_seqs && pos[t] >= 0 &&
                      pos[t] < lens[seq[t]],
                  "attention", "token " + std::to_string(t) + " has an invalid slot, sequence or position");
        }
        auto* ck = static_cast<uint16_t*>(cache_k.data);
        auto* cv = static_cast<uint16_t*>(cache_v.data);
        pool_.parallel_for(n_tok, [&](int64_t b, int64_t e, int) {
            for (int64_t t = b; t < e; ++t) {
                kernels::fp32_to_fp16_row(row_f32(k, t), ck + static_cast<int64_t>(slot[t]) * kv_row, kv_row);
                kernels::fp32_to_fp16_row(row_f32(v, t), cv + static_cast<int64_t>(slot[t]) * kv_row, kv_row);
            }
        });
        const int64_t group = n_head / n_kv_head;
        // llama.cpp's summation order follows the size of its step (cpu_ops.h: AttentionOrder).
        const kernels::AttentionOrder order = kernels::attention_order(n_tok);
        const auto scratch_floats =
            static_cast<size_t>(kernels::attention_scratch_floats(plan.max_seq_len, head_dim));
        if (order == kernels::AttentionOrder::single_token) {
            // One token (a single sequence's decode step): one work item per query head, so both threads
            // have work with few heads.
            auto* scratch_all = reinterpret_cast<float*>(scratch2(scratch_floats * sizeof(float) * pool_.size()));
            pool_.parallel_for(n_tok * n_head, [&](int64_t b, int64_t e, int thread) {
                float* sc = scratch_all + scratch_floats * static_cast<size_t>(thread);
                for (int64_t i = b; i < e; ++i) {
                    const int64_t t = i / n_head, h = i % n_head;
                    const int32_t* table = tables + static_cast<int64_t>(seq[t]) * plan.max_blocks_per_seq;
                    kernels::attention_head(row_f32(q, t) + h * head_dim, ck, cv, kv_row, (h / group) * head_dim, table,
                                            plan.block_size, static_cast<int64_t>(pos[t]) + 1, head_dim, scale, order,
                                            sc, row_f32(out, t) + h * head_dim);
                }
            });
            return;
        }
        // Several tokens (a prompt chunk, or one decode token of each of several sequences): a work item is one
        // token and one KV head; it reads that head's f16 keys and values once for all the query heads of its
        // group (at most attention_group_max at a time).
        const int64_t sub = std::min(group, kernels::attention_group_max);
        const size_t per_thread = static_cast<size_t>(sub) * scratch_floats;
        auto* scratch_all = reinterpret_cast<float*>(scratch2(per_thread * sizeof(float) * pool_.size()));
        pool_.parallel_for_dynamic(n_tok * n_kv_head, [&](int64_t i, int thread) {
            float* sc = scratch_all + per_thread * static_cast<size_t>(thread);
            const int64_t t = i / n_kv_head, kh = i % n_kv_head;
            const int32_t* table = tables + static_cast<int64_t>(seq[t]) * plan.max_blocks_per_seq;
            for (int64_t h = kh * group; h < (kh + 1) * group; h += sub)
                kernels::attention_group(row_f32(q, t) + h * head_dim, std::min(sub, (kh + 1) * group - h), ck, cv,
                                         kv_row, kh * head_dim, table, plan.block_size, static_cast<int64_t>(pos[t]) + 1,
                                         head_dim, scale, order, sc, row_f32(out, t) + h * head_dim);
        });
    }

    void swiglu(const Tensor& gate, const Tensor& up) override {
        ENCLAVE_OP_CHECK(gate.type == TensorType::F32 && up.type == TensorType::F32 && gate.cols() == up.cols() &&
                  gate.rows() == up.rows(),
              "swiglu", "gate " + gate.shape_string() + ", up " + up.shape_string());
        pool_.parallel_for(gate.rows(), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) kernels::swiglu_row(row_f32(gate, r), row_f32(up, r), gate.cols());
        });
    }

    void add(const Tensor& x, const Tensor& y) override {
        ENCLAVE_OP_CHECK(x.type == TensorType::F32 && y.type == TensorType::F32 && x.cols() == y.cols() && x.rows() == y.rows(),
              "add", "x " + x.shape_string() + ", y " + y.shape_string());
        pool_.parallel_for(x.rows(), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r) kernels::add_row(row_f32(x, r), row_f32(y, r), x.cols());
        });
    }

    void top_k(const Tensor& x, int64_t k, const Tensor& ids, const Tensor& vals) override {
        static_assert(k_max_top_k == kernels::top_k_row_max);
        ENCLAVE_OP_CHECK(x.type == TensorType::F32 && ids.type == TensorType::I32 && vals.type == TensorType::F32 &&
                             k >= 1 && k <= std::min(x.cols(), k_max_top_k) && ids.rows() == x.rows() &&
                             vals.rows() == x.rows() && ids.cols() == k && vals.cols() == k,
                         "top_k",
                         "x " + x.shape_string() + ", k " + std::to_string(k) + ", ids " + ids.shape_string() +
                             ", vals " + vals.shape_string());
        pool_.parallel_for(x.rows(), [&](int64_t b, int64_t e, int) {
            for (int64_t r = b; r < e; ++r)
                kernels::top_k_row(row_f32(x, r), x.cols(), k, static_cast<int32_t*>(ids.data) + r * k,
                                   row_f32(vals, r));
        });
    }

private:
    static float* row_f32(const Tensor& t, int64_t r) { return static_cast<float*>(t.data) + r * t.cols(); }
    static size_t tensor_row_bytes(TensorType type, int64_t n) {
        const auto b = enclave::row_bytes(type, n);
        if (!b) throw InvalidArgument("row of " + std::to_string(n) + " is not whole blocks of " +
                                      std::string(tensor_type_name(type)));
        return *b;
    }
    uint8_t* scratch(size_t bytes) { return scratch_.get(bytes); }
    uint8_t* scratch2(size_t bytes) { return scratch2_.get(bytes); }

    void check_thread_status(const char* op) {
        for (auto& st : thread_status_) {
            if (!st.is_ok()) {
                const std::string message = st.message();
                for (auto& clear : thread_status_) clear = kernels::Status::ok();
                throw Error(std::string(op) + ": " + message);
            }
        }
    }

    ThreadPool pool_;
    kernels::CpuIsa isa_;
    std::vector<kernels::Status> thread_status_;  // [n_threads] what each thread's kernel call returned
    ScratchBuffer scratch_;   // [n_tokens, activation row bytes] converted activations
    ScratchBuffer scratch2_;  // [n_threads, attention scratch] scores, partial sums (and unpacked K/V)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::make_unique<CpuBackend>(n_threads);
}

}  // namespace enclave
