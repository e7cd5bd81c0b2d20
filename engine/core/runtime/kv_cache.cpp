#include "core/runtime/kv_cache.h"

#include <string>

namespace enclave {

KvCache::KvCache(Backend& backend, const ModelConfig& config, int64_t n_tokens_capacity, int64_t block_size)
    : block_size_(block_size) {
    if (n_tokens_capacity <= 0 || block_size <= 0)
        throw InvalidArgument("KV cache capacity must be positive (got " + std::to_string(n_tokens_capacity) + " tokens)");
    n_blocks_ = (n_tokens_capacity + block_size - 1) / block_size;
    const int64_t slots = n_blocks_ * block_size_;
    const size_t layer_bytes = static_cast<size_t>(slots) * static_cast<size_t>(config.kv_dim()) * sizeof(uint16_t);
    storage_ = backend.allocate(layer_bytes * 2 * static_cast<size_t>(config.n_layer));
    auto* base = static_cast<uint8_t*>(storage_->data());
    for (int64_t l = 0; l < config.n_layer; ++l) {
        k_.push_back(Tensor::matrix(base + layer_bytes * static_cast<size_t>(2 * l), TensorType::F16, slots, config.kv_dim()));
        v_.push_back(Tensor::matrix(base + layer_bytes * static_cast<size_t>(2 * l + 1), TensorType::F16, slots, config.kv_dim()));
    }
    free_.reserve(static_cast<size_t>(n_blocks_));
    for (int64_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

size_t KvCache::bytes() const { return storage_->size(); }

KvCache::SeqId KvCache::create_sequence() {
    if (!free_seq_ids_.empty()) {
        const SeqId id = free_seq_ids_.back();
        free_seq_ids_.pop_back();
        seqs_[static_cast<size_t>(id)] = Sequence{true, 0, {}};
        return id;
    }
    seqs_.push_back(Sequence{true, 0, {}});
    return static_cast<SeqId>(seqs_.size() - 1);
}

KvCache::Sequence& KvCache::seq_ref(SeqId seq) {
    if (seq < 0 || static_cast<size_t>(seq) >= seqs_.size() || !seqs_[static_cast<size_t>(seq)].live)
        throw InvalidArgument("KV cache: no live sequence " + std::to_string(seq));
    return seqs_[static_cast<size_t>(seq)];
}

const KvCache::Sequence& KvCache::seq_ref(SeqId seq) const { return const_cast<KvCache*>(this)->seq_ref(seq); }

bool KvCache::is_live(SeqId seq) const {
    return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() && seqs_[static_cast<size_t>(seq)].live;
}

void KvCache::release_sequence(SeqId seq) {
    Sequence& s = seq_ref(seq);
    for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) free_.push_back(*it);
    s = Sequence{};
    free_seq_ids_.push_back(seq);
}

bool KvCache::reserve(SeqId seq, int64_t n_tokens) {
    Sequence& s = seq_ref(seq);
    const int64_t need = (n_tokens + block_size_ - 1) / block_size_ - static_cast<int64_t>(s.blocks.size());
    if (need <= 0) return true;
    if (need > static_cast<int64_t>(free_.size())) return false;
    for (int64_t i = 0; i < need; ++i) {
        s.blocks.push_back(free_.back());
        free_.pop_back();
    }
    return true;
}

void KvCache::set_length(SeqId seq, int64_t n_tokens) {
    Sequence& s = seq_ref(seq);
    if (n_tokens < 0 || n_tokens > static_cast<int64_t>(s.blocks.size()) * block_size_)
        throw InvalidArgument("KV cache: length " + std::to_string(n_tokens) + " exceeds the reserved capacity");
    s.length = n_tokens;
}

void KvCache::truncate(SeqId seq, int64_t n_tokens) {
    Sequence& s = seq_ref(seq);
    if (n_tokens < 0 || n_tokens > s.length) throw InvalidArgument("KV cache: cannot truncate to " + std::to_string(n_tokens));
    s.length = n_tokens;
    const size_t keep = static_cast<size_t>((n_tokens + block_size_ - 1) / block_size_);
    while (s.blocks.size() > keep) {
        free_.push_back(s.blocks.back());
        s.blocks.pop_back();
    }
}

int64_t KvCache::length(SeqId seq) const { return seq_ref(seq).length; }
const std::vector<int32_t>& KvCache::block_table(SeqId seq) const { return seq_ref(seq).blocks; }

}  // namespace enclave
