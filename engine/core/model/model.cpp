#include "core/model/model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/model/architecture.h"
#include "core/model/transformer.h"

namespace enclave {

namespace {

// Activations of one step, in backend memory, grown to the largest step seen.
struct Workspace {
    int64_t capacity_tokens = 0;
    int64_t capacity_seqs = 0;
    int64_t capacity_blocks = 0;
    int64_t capacity_logit_rows = 0;
    std::unique_ptr<DeviceBuffer> buffer;
    Tensor x;       // [n, n_embd] residual stream
    Tensor xn;      // [n, n_embd] normalised input of a sub-block
    Tensor q;       // [n, q_dim]
    Tensor k;       // [n, kv_dim]
    Tensor v;       // [n, kv_dim]
    Tensor attn;    // [n, q_dim] attention output
    Tensor proj;    // [n, n_embd] output of a projection back to the residual width
    Tensor gate;    // [n, n_ff]
    Tensor up;      // [n, n_ff]
    Tensor ids;     // i32 [n]
    Tensor pos;     // i32 [n]
    Tensor slot;    // i32 [n]
    Tensor seq;     // i32 [n]
    Tensor logit_rows;  // i32 [m] rows of x whose logits are wanted
    Tensor xl;          // [m, n_embd]
    Tensor logits;      // [m, n_vocab]: the rows wanted whole first, then those reduced to their top k
    Tensor top_ids;     // i32 [m, Backend::k_max_top_k] (used as [m_top, k] for the step's k)
    Tensor top_vals;    // [m, Backend::k_max_top_k]
    Tensor seq_lens;    // i32 [n_seqs]
    Tensor tables;      // i32 [n_seqs, max_blocks]
};

}  // namespace

struct Model::Impl {
    gguf::GgufFile file;
    Backend& backend;
    ModelConfig config;
    const ArchitectureSpec* spec = nullptr;
    TransformerWeights weights;
    Workspace ws;

    Impl(gguf::GgufFile f, Backend& b) : file(std::move(f)), backend(b) {}

    void ensure_workspace(int64_t n, int64_t n_seqs, int64_t max_blocks, int64_t m);
    void run_layers(int64_t n, const AttentionPlan& plan, KvCache& cache);
    void forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out,
                 std::vector<TopLogit>* top_out);
};

void Model::Impl::ensure_workspace(int64_t n, int64_t n_seqs, int64_t max_blocks, int64_t m) {
    if (n <= ws.capacity_tokens && n_seqs <= ws.capacity_seqs && n_seqs * max_blocks <= ws.capacity_blocks &&
        m <= ws.capacity_logit_rows)
        return;
    // Grow geometrically so a run of slightly larger steps does not reallocate every time.
    auto grow = [](int64_t have, int64_t want) { return std::max(want, have + have / 2); };
    ws.capacity_tokens = grow(ws.capacity_tokens, n);
    ws.capacity_seqs = grow(ws.capacity_seqs, n_seqs);
    ws.capacity_blocks = grow(ws.capacity_blocks, n_seqs * max_blocks);
    ws.capacity_logit_rows = grow(ws.capacity_logit_rows, m);
    const ModelConfig& c = config;
    const int64_t N = ws.capacity_tokens, M = ws.capacity_logit_rows;
    struct Slot {
        Tensor* t;
        TensorType type;
        int64_t rows, cols;
    };
    const Slot slots[] = {
        {&ws.x, TensorType::F32, N, c.n_embd},      {&ws.xn, TensorType::F32, N, c.n_embd},
        {&ws.q, TensorType::F32, N, c.q_dim()},     {&ws.k, TensorType::F32, N, c.kv_dim()},
        {&ws.v, TensorType::F32, N, c.kv_dim()},    {&ws.attn, TensorType::F32, N, c.q_dim()},
        {&ws.proj, TensorType::F32, N, c.n_embd},   {&ws.gate, TensorType::F32, N, c.n_ff},
        {&ws.up, TensorType::F32, N, c.n_ff},       {&ws.ids, TensorType::I32, N, 1},
        {&ws.pos, TensorType::I32, N, 1},           {&ws.slot, TensorType::I32, N, 1},
        {&ws.seq, TensorType::I32, N, 1},           {&ws.logit_rows, TensorType::I32, M, 1},
        {&ws.xl, TensorType::F32, M, c.n_embd},     {&ws.logits, TensorType::F32, M, c.n_vocab},
        {&ws.top_ids, TensorType::I32, M, Backend::k_max_top_k}, {&ws.top_vals, TensorType::F32, M, Backend::k_max_top_k},
        {&ws.seq_lens, TensorType::I32, ws.capacity_seqs, 1},
        {&ws.tables, TensorType::I32, ws.capacity_blocks, 1},
    };
    auto aligned = [](size_t b) { return (b + 255) / 256 * 256; };
    size_t total = 0;
    for (const auto& s : slots) total += aligned(static_cast<size_t>(s.rows * s.cols) * 4);
    ws.buffer.reset();
    ws.buffer = backend.allocate(total);
    auto* base = static_cast<uint8_t*>(ws.buffer->data());
    size_t offset = 0;
    for (const auto& s : slots) {
        *s.t = Tensor::matrix(base + offset, s.type, s.rows, s.cols);
        offset += aligned(static_cast<size_t>(s.rows * s.cols) * 4);
    }
}

void Model::Impl::run_layers(int64_t n, const AttentionPlan& plan, KvCache& cache) {
    const ModelConfig& c = config;
    Backend& be = backend;
    const Tensor x = ws.x.first_rows(n), xn = ws.xn.first_rows(n), q = ws.q.first_rows(n), k = ws.k.first_rows(n),
                 v = ws.v.first_rows(n), attn = ws.attn.first_rows(n), proj = ws.proj.first_rows(n),
                 gate = ws.gate.first_rows(n), up = ws.up.first_rows(n), pos = ws.pos.first_rows(n);
    RopeParams rope;
    rope.n_dims = static_cast<int>(c.n_rot);
    rope.freq_base = c.rope_freq_base;
    rope.freq_scale = c.rope_freq_scale;
    rope.neox = c.rope_neox;
    rope.freq_factors = static_cast<const float*>(weights.rope_freqs.data);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    auto bias = [](const Tensor& t) { return t.data ? &t : nullptr; };

    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = weights.layers[static_cast<size_t>(l)];
        // Attention sub-block: x += Wo · attention(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
        be.rms_norm(x, L.attn_norm, c.rms_eps, xn);
        be.matmul(L.wq, xn, q, bias(L.bq));
        be.matmul(L.wk, xn, k, bias(L.bk));
        be.matmul(L.wv, xn, v, bias(L.bv));
        be.rope(q, k, c.head_dim, pos, rope);
        be.attention(q, k, v, cache.keys(l), cache.values(l), plan, c.n_head, c.n_kv_head, c.head_dim, scale, attn);
        be.matmul(L.wo, attn, proj, bias(L.bo));
        be.add(x, proj);
        // Feed-forward sub-block: x += W_down · (silu(W_gate·n(x)) * W_up·n(x))
        be.rms_norm(x, L.ffn_norm, c.rms_eps, xn);
        be.matmul(L.ffn_gate, xn, gate, nullptr);
        be.matmul(L.ffn_up, xn, up, nullptr);
        be.swiglu(gate, up);
        be.matmul(L.ffn_down, gate, proj, nullptr);
        be.add(x, proj);
    }
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(gguf::GgufFile file, Backend& backend) {
    auto impl = std::make_unique<Impl>(std::move(file), backend);
    const auto arch = impl->file.get_string("general.architecture");
    if (!arch) throw ModelFormatError(impl->file.path().string() + ": general.architecture is missing");
    impl->spec = find_architecture(*arch);
    if (!impl->spec) {
        std::string known;
        for (const auto& a : known_architectures()) known += (known.empty() ? "" : ", ") + std::string(a.name);
        throw ModelFormatError(impl->file.path().string() + ": architecture \"" + *arch +
                               "\" is not supported (supported: " + known + ")");
    }
    impl->config = ModelConfig::from_gguf(impl->file, *arch);
    impl->config.rope_neox = impl->spec->rope_neox;
    impl->config.qkv_bias = impl->spec->qkv_bias;
    if (impl->spec->read_extra_config) impl->spec->read_extra_config(impl->file, impl->config);
    impl->weights = bind_transformer_weights(impl->file, *impl->spec, impl->config, backend);
    return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelConfig& Model::config() const { return impl_->config; }
const gguf::GgufFile& Model::file() const { return impl_->file; }
Backend& Model::backend() const { return impl_->backend; }

void Model::forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out) {
    impl_->forward(step, cache, logits_out, nullptr);
}

void Model::forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out,
                    std::vector<TopLogit>& top_out) {
    impl_->forward(step, cache, logits_out, &top_out);
}

void Model::Impl::forward(std::span<const StepSequence> step, KvCache& cache, std::vector<float>& logits_out,
                          std::vector<TopLogit>* top_out) {
    Impl& m = *this;
    const ModelConfig& c = m.config;
    if (step.empty()) throw InvalidArgument("forward: empty step");

    // Host-side plan: token ids, positions, cache slots, per-sequence block tables.
    int64_t n = 0, max_blocks = 0, max_len = 0, n_logit_rows = 0, n_top_rows = 0, top_k = 0;
    // A sequence's last-token logits reduced to its top k on the backend (forward with a top output).
    auto reduced = [&](const StepSequence& s) { return top_out && s.logits == LogitsWanted::last && s.top_k > 0; };
    for (const auto& s : step) {
        if (top_out && (s.top_k < 0 || s.top_k > Backend::k_max_top_k))
            throw InvalidArgument("forward: top_k " + std::to_string(s.top_k) + " is outside 0 .. " +
                                  std::to_string(Backend::k_max_top_k));
        if (reduced(s)) {
            ++n_top_rows;
            top_k = std::max<int64_t>(top_k, std::min<int64_t>(s.top_k, c.n_vocab));
        }
        if (s.tokens.empty()) throw InvalidArgument("forward: a sequence with no tokens");
        const int64_t len = cache.length(s.seq) + static_cast<int64_t>(s.tokens.size());
        if (static_cast<int64_t>(cache.block_table(s.seq).size()) * cache.block_size() < len)
            throw InvalidArgument("forward: sequence " + std::to_string(s.seq) + " has no KV room reserved for " +
                                  std::to_string(len) + " tokens");
        n += static_cast<int64_t>(s.tokens.size());
        max_blocks = std::max<int64_t>(max_blocks, static_cast<int64_t>(cache.block_table(s.seq).size()));
        max_len = std::max(max_len, len);
        n_logit_rows += s.logits == LogitsWanted::all ? static_cast<int64_t>(s.tokens.size())
                        : s.logits == LogitsWanted::last ? 1 : 0;
    }
    const int64_t n_seqs = static_cast<int64_t>(step.size());
    std::vector<int32_t> ids, pos, slot, seq_of, logit_rows, top_rows, lens(static_cast<size_t>(n_seqs));
    std::vector<int32_t> tables(static_cast<size_t>(n_seqs * max_blocks), 0);
    ids.reserve(static_cast<size_t>(n));
    for (int64_t si = 0; si < n_seqs; ++si) {
        const auto& s = step[static_cast<size_t>(si)];
        const auto& table = cache.block_table(s.seq);
        std::copy(table.begin(), table.end(), tables.begin() + si * max_blocks);
        const int64_t start = cache.length(s.seq);
        for (size_t i = 0; i < s.tokens.size(); ++i) {
            const TokenId t = s.tokens[i];
            if (t < 0 || t >= c.n_vocab)
                throw InvalidArgument("forward: token id " + std::to_string(t) + " is outside the vocabulary (" +
                                      std::to_string(c.n_vocab) + ")");
            const int64_t p = start + static_cast<int64_t>(i);
            if (s.logits == LogitsWanted::all || (s.logits == LogitsWanted::last && i + 1 == s.tokens.size()))
                (reduced(s) ? top_rows : logit_rows).push_back(static_cast<int32_t>(ids.size()));
            ids.push_back(t);
            pos.push_back(static_cast<int32_t>(p));
            slot.push_back(table[static_cast<size_t>(p / cache.block_size())] * static_cast<int32_t>(cache.block_size()) +
                           static_cast<int32_t>(p % cache.block_size()));
            seq_of.push_back(static_cast<int32_t>(si));
        }
        lens[static_cast<size_t>(si)] = static_cast<int32_t>(start + static_cast<int64_t>(s.tokens.size()));
    }

    m.ensure_workspace(n, n_seqs, max_blocks, std::max<int64_t>(n_logit_rows, 1));
    Backend& be = m.backend;
    be.upload(ws.ids, ids.data(), ids.size() * 4);
    be.upload(ws.pos, pos.data(), pos.size() * 4);
    be.upload(ws.slot, slot.data(), slot.size() * 4);
    be.upload(ws.seq, seq_of.data(), seq_of.size() * 4);
    be.upload(ws.seq_lens, lens.data(), lens.size() * 4);
    be.upload(ws.tables, tables.data(), tables.size() * 4);

    AttentionPlan plan;
    plan.token_seq = ws.seq.first_rows(n);
    plan.token_pos = ws.pos.first_rows(n);
    plan.token_slot = ws.slot.first_rows(n);
    plan.block_tables = Tensor::matrix(ws.tables.data, TensorType::I32, n_seqs, std::max<int64_t>(max_blocks, 1));
    plan.seq_lens = ws.seq_lens.first_rows(n_seqs);
    plan.n_seqs = n_seqs;
    plan.max_blocks_per_seq = max_blocks;
    plan.block_size = cache.block_size();
    plan.max_seq_len = max_len;

    be.get_rows(m.weights.tok_embd, ws.ids.first_rows(n), ws.x.first_rows(n));
    m.run_layers(n, plan, cache);

    for (const auto& s : step) cache.set_length(s.seq, cache.length(s.seq) + static_cast<int64_t>(s.tokens.size()));

    const int64_t n_full_rows = n_logit_rows - n_top_rows;
    logit_rows.insert(logit_rows.end(), top_rows.begin(), top_rows.end());  // whole rows first, then reduced
    logits_out.assign(static_cast<size_t>(n_full_rows * c.n_vocab), 0.0f);
    if (top_out) top_out->clear();
    if (n_logit_rows == 0) {
        be.synchronize();
        return;
    }
    const Tensor rows = ws.logit_rows.first_rows(n_logit_rows);
    const Tensor xl = ws.xl.first_rows(n_logit_rows);
    const Tensor logits = ws.logits.first_rows(n_logit_rows);
    be.upload(rows, logit_rows.data(), logit_rows.size() * 4);
    be.get_rows(ws.x.first_rows(n), rows, xl);
    be.rms_norm(xl, m.weights.output_norm, c.rms_eps, xl);
    be.matmul(m.weights.output, xl, logits, nullptr);
    if (n_top_rows == 0) {
        be.download(logits_out.data(), logits, logits_out.size() * sizeof(float));
        return;
    }
    // [n_top_rows, top_k] ids and values of the reduced rows (the last n_top_rows of logits).
    const Tensor reduced_rows = Tensor::matrix(static_cast<float*>(ws.logits.data) + n_full_rows * c.n_vocab,
                                               TensorType::F32, n_top_rows, c.n_vocab);
    const Tensor top_ids = Tensor::matrix(ws.top_ids.data, TensorType::I32, n_top_rows, top_k);
    const Tensor top_vals = Tensor::matrix(ws.top_vals.data, TensorType::F32, n_top_rows, top_k);
    be.top_k(reduced_rows, top_k, top_ids, top_vals);
    if (n_full_rows > 0) be.download(logits_out.data(), logits, logits_out.size() * sizeof(float));
    std::vector<int32_t> host_ids(static_cast<size_t>(n_top_rows * top_k));
    std::vector<float> host_vals(host_ids.size());
    be.download(host_ids.data(), top_ids, host_ids.size() * sizeof(int32_t));
    be.download(host_vals.data(), top_vals, host_vals.size() * sizeof(float));
    size_t r = 0;
    for (const auto& s : step) {
        if (!reduced(s)) continue;
        const size_t k = static_cast<size_t>(std::min<int64_t>(s.top_k, c.n_vocab));
        for (size_t j = 0; j < k; ++j) {
            const size_t at = r * static_cast<size_t>(top_k) + j;
            top_out->push_back({host_ids[at], host_vals[at]});
        }
        ++r;
    }
}

}  // namespace enclave
