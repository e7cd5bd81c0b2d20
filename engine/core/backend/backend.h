// Backend: where a model's tensors live and where its operations run (CPU now, CUDA next).
//
// Contract
// - A Backend owns device memory it hands out (DeviceBuffer) and runs the operations below on Tensors that
//   point into its own memory. Operations are enqueued in call order and may run asynchronously; results
//   are visible to the host after download() or synchronize().
// - One thread drives a Backend at a time (the model's engine thread). The CPU backend parallelises each
//   operation internally over its own thread pool; callers never share a Backend between threads.
// - Shapes are checked at the op: a mismatch throws InvalidArgument naming the op and the shapes (a bug in
//   the caller, not user input). Device failures throw Error with the device's message.
// - Weights are never converted to another type on load; the CPU backend maps them in place (zero copy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/common/error.h"
#include "enclave/kernels/tensor_type.h"

namespace enclave {

// A view of backend memory: contiguous, ne[0] innermost (GGUF/ggml order). A 2-D tensor [rows, cols] has
// ne = {cols, rows, 1, 1}.
struct Tensor {
    void* data = nullptr;
    TensorType type = TensorType::F32;
    int64_t ne[4] = {1, 1, 1, 1};

    int64_t cols() const { return ne[0]; }
    int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    size_t row_bytes() const;  // bytes of one ne[0] row
    size_t n_bytes() const { return row_bytes() * static_cast<size_t>(rows()); }
    std::string shape_string() const;  // "[rows, cols] q4_1" style, for messages

    static Tensor matrix(void* data, TensorType type, int64_t rows, int64_t cols) {
        Tensor t;
        t.data = data;
        t.type = type;
        t.ne[0] = cols;
        t.ne[1] = rows;
        return t;
    }
    // The first `n` rows of a 2-D tensor, same storage.
    Tensor first_rows(int64_t n) const;
};

class DeviceBuffer {
public:
    virtual ~DeviceBuffer() = default;
    virtual void* data() = 0;
    virtual size_t size() const = 0;
};

struct RopeParams {
    int n_dims = 0;             // rotated dimensions of each head (the first n_dims of head_dim)
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;    // linear position scaling (1 / factor)
    bool neox = false;          // false: rotate pairs (x[2i], x[2i+1]) (llama); true: (x[i], x[i + n_dims/2]) (qwen2)
    const float* freq_factors = nullptr;  // device memory, [n_dims / 2] or null (llama 3.1 long-context factors)
};

// Where each token of a step sits: its sequence, its position and its KV cache slot; and each sequence's
// block table. All arrays live in backend memory (upload() them). Sequence s owns cache blocks
// block_tables[s * max_blocks_per_seq + i] for i < ceil(seq_lens[s] / block_size).
struct AttentionPlan {
    Tensor token_seq;     // i32 [n_tokens]  index of the token's sequence in this step
    Tensor token_pos;     // i32 [n_tokens]  position of the token in its sequence
    Tensor token_slot;    // i32 [n_tokens]  cache slot (block * block_size + offset) the token's K/V go to
    Tensor block_tables;  // i32 [n_seqs, max_blocks_per_seq]
    Tensor seq_lens;      // i32 [n_seqs]    tokens in the cache for the sequence after this step
    int64_t n_seqs = 0;
    int64_t max_blocks_per_seq = 0;
    int64_t block_size = 0;
    int64_t max_seq_len = 0;  // max of seq_lens (host copy; sizes scratch)
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const = 0;

    // --- memory --------------------------------------------------------------------------------------
    virtual std::unique_ptr<DeviceBuffer> allocate(size_t bytes) = 0;  // zero-filled; throws ResourceExhausted
    // Bytes that allocations could still take now: free device memory (GPU), MemAvailable (CPU). Sizes the KV
    // cache when it is configured as a share of memory.
    virtual size_t available_memory() const = 0;
    // A weight as stored in the model file. The CPU backend returns a view of `host_bytes` (which must
    // outlive the backend's use of it); a GPU backend copies it to device memory it owns.
    virtual Tensor load_weight(const void* host_bytes, TensorType type, const int64_t ne[4]) = 0;
    virtual void upload(const Tensor& dst, const void* src, size_t bytes) = 0;
    virtual void download(void* dst, const Tensor& src, size_t bytes) = 0;  // waits for pending work
    virtual void synchronize() = 0;

    // --- operations (shapes as [rows, cols]; all f32 unless said) -----------------------------------
    // out[i, :] = dequantized table[ids[i], :]        table [n_vocab, dim] any type, ids i32 [n], out [n, dim]
    virtual void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
    // out = x / rms(x) * weight, row-wise             x, out [n, dim]; weight [dim]
    virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) = 0;
    // out = x · Wᵀ (+ bias)                            w [n_out, n_in] any weight type; x [n, n_in]; out [n, n_out]; bias [n_out] or null
    virtual void matmul(const Tensor& w, const Tensor& x, const Tensor& out, const Tensor* bias) = 0;
    // Rotates q and k in place at positions pos.      q [n, n_head * hd]; k [n, n_kv_head * hd]; pos i32 [n]
    virtual void rope(const Tensor& q, const Tensor& k, int64_t head_dim, const Tensor& pos, const RopeParams& p) = 0;
    // Writes this step's k, v into the layer's cache at plan.token_slot, then
    // out = softmax(q·Kᵀ · scale, causal within each sequence) · V over each token's sequence.
    //   q, out [n, n_head * hd]; k, v [n, n_kv_head * hd]; cache_k, cache_v f16 [n_blocks * block_size, n_kv_head * hd]
    virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cache_k,
                           const Tensor& cache_v, const AttentionPlan& plan, int64_t n_head, int64_t n_kv_head,
                           int64_t head_dim, float scale, const Tensor& out) = 0;
    // gate = silu(gate) * up                           gate, up [n, n_ff]
    virtual void swiglu(const Tensor& gate, const Tensor& up) = 0;
    // x += y                                           x, y [n, dim]
    virtual void add(const Tensor& x, const Tensor& y) = 0;
    // The k largest values of each row, largest first; equal values by lower index, -0 equal to +0, NaN below
    // every number (kernels' top_k_row), so ids[r, 0] is the row's first maximum. A GPU backend selects them
    // on the device, so a sampler reads k pairs a row instead of the whole vocabulary.
    //   x [m, n]; ids i32 [m, k]; vals [m, k]; 1 <= k <= min(n, k_max_top_k)
    static constexpr int64_t k_max_top_k = 256;
    virtual void top_k(const Tensor& x, int64_t k, const Tensor& ids, const Tensor& vals) = 0;
};

// The CPU backend with `n_threads` worker threads (0: one per core).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace enclave
