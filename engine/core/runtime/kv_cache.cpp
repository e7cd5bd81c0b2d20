#include "core/runtime/kv_cache.h"

#include <algorithm>
#include <string>

namespace enclave {

int64_t default_kv_cache_tokens(int64_t n_ctx_train) {
    return std::min(n_ctx_train, k_max_default_kv_tokens);
}

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
    info_.resize(static_cast<size_t>(n_blocks_));
    free_.reserve(static_cast<size_t>(n_blocks_));
    for (int64_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

size_t KvCache::bytes() const { return storage_->size(); }

KvCache::SeqId KvCache::create_sequence() {
    if (!free_seq_ids_.empty()) {
        const SeqId id = free_seq_ids_.back();
        free_seq_ids_.pop_back();
        seqs_[static_cast<size_t>(id)] = Sequence{true, 0, {}, 0, -1, 0};
        return id;
    }
    seqs_.push_back(Sequence{true, 0, {}, 0, -1, 0});
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
    // Tail first: a released prompt's last blocks are reused before its first ones, which other requests
    // are the likeliest to share (a system prompt).
    for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) drop_reference(*it);
    s = Sequence{};
    free_seq_ids_.push_back(seq);
}

int32_t KvCache::take_block() {
    int32_t b;
    if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
    } else {
        b = lru_.front();
        lru_.pop_front();
        unregister(b);
    }
    info_[static_cast<size_t>(b)].refs = 1;
    return b;
}

void KvCache::drop_reference(int32_t block) {
    BlockInfo& bi = info_[static_cast<size_t>(block)];
    if (--bi.refs > 0) return;
    if (bi.registered) {
        bi.lru = lru_.insert(lru_.end(), block);
    } else {
        free_.push_back(block);
    }
}

void KvCache::unregister(int32_t block) {
    BlockInfo& bi = info_[static_cast<size_t>(block)];
    if (!bi.registered) return;
    const auto it = by_hash_.find(bi.hash);
    if (it != by_hash_.end() && it->second == block) by_hash_.erase(it);
    bi.registered = false;
    bi.tokens.clear();
    bi.parent = -1;
}

uint64_t KvCache::chain_hash(uint64_t parent_hash, std::span<const int32_t> tokens) const {
    // FNV-1a over the parent's hash and the block's token ids: it only finds a candidate; attach_prefix
    // compares the tokens and the parent block before sharing anything.
    uint64_t h = 1469598103934665603ull ^ parent_hash;
    auto mix = [&h](uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            h ^= (v >> (8 * i)) & 0xffu;
            h *= 1099511628211ull;
        }
    };
    for (const int32_t t : tokens) mix(static_cast<uint32_t>(t));
    return h;
}

std::vector<int32_t> KvCache::match_prefix(std::span<const int32_t> tokens, int64_t max_tokens) const {
    std::vector<int32_t> found;
    const int64_t n_full = std::min<int64_t>(static_cast<int64_t>(tokens.size()), max_tokens) / block_size_;
    uint64_t parent_hash = 0;
    int32_t parent = -1;
    for (int64_t i = 0; i < n_full; ++i) {
        const auto block_tokens = tokens.subspan(static_cast<size_t>(i * block_size_), static_cast<size_t>(block_size_));
        const uint64_t h = chain_hash(parent_hash, block_tokens);
        const auto it = by_hash_.find(h);
        if (it == by_hash_.end()) break;
        const BlockInfo& bi = info_[static_cast<size_t>(it->second)];
        if (bi.parent != parent || !std::equal(block_tokens.begin(), block_tokens.end(), bi.tokens.begin(), bi.tokens.end()))
            break;
        found.push_back(it->second);
        parent = it->second;
        parent_hash = h;
    }
    return found;
}

int64_t KvCache::cached_prefix(std::span<const int32_t> tokens, int64_t max_tokens) const {
    return static_cast<int64_t>(match_prefix(tokens, max_tokens).size()) * block_size_;
}

int64_t KvCache::attach_prefix(SeqId seq, std::span<const int32_t> tokens, int64_t max_tokens) {
    Sequence& s = seq_ref(seq);
    if (!s.blocks.empty()) throw InvalidArgument("KV cache: attach_prefix needs an empty sequence");
    s.blocks = match_prefix(tokens, max_tokens);
    for (const int32_t b : s.blocks) {
        BlockInfo& bi = info_[static_cast<size_t>(b)];
        if (bi.refs++ == 0) lru_.erase(bi.lru);
    }
    s.length = static_cast<int64_t>(s.blocks.size()) * block_size_;
    s.published = s.blocks.size();
    s.chain_block = s.blocks.empty() ? -1 : s.blocks.back();
    s.chain_hash = s.blocks.empty() ? 0 : info_[static_cast<size_t>(s.blocks.back())].hash;
    return s.length;
}

void KvCache::publish(SeqId seq, std::span<const int32_t> tokens) {
    Sequence& s = seq_ref(seq);
    const size_t n_full = static_cast<size_t>(std::min<int64_t>(s.length, static_cast<int64_t>(tokens.size())) / block_size_);
    for (size_t i = s.published; i < n_full; ++i) {
        const auto block_tokens = tokens.subspan(i * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_));
        const uint64_t h = chain_hash(s.chain_hash, block_tokens);
        int32_t canonical;
        if (const auto it = by_hash_.find(h); it != by_hash_.end()) {
            // The same content was registered first by another block (two requests computed the same
            // prefix in one step): later blocks chain on that one. A hash collision ends the chain here.
            const BlockInfo& other = info_[static_cast<size_t>(it->second)];
            if (other.parent != s.chain_block ||
                !std::equal(block_tokens.begin(), block_tokens.end(), other.tokens.begin(), other.tokens.end()))
                return;
            canonical = it->second;
        } else {
            canonical = s.blocks[i];
            BlockInfo& bi = info_[static_cast<size_t>(canonical)];
            bi.registered = true;
            bi.hash = h;
            bi.parent = s.chain_block;
            bi.tokens.assign(block_tokens.begin(), block_tokens.end());
            by_hash_.emplace(h, canonical);
        }
        s.chain_block = canonical;
        s.chain_hash = h;
        s.published = i + 1;
    }
}

bool KvCache::reserve(SeqId seq, int64_t n_tokens) {
    Sequence& s = seq_ref(seq);
    const int64_t need = (n_tokens + block_size_ - 1) / block_size_ - static_cast<int64_t>(s.blocks.size());
    if (need <= 0) return true;
    if (need > free_blocks()) return false;
    for (int64_t i = 0; i < need; ++i) s.blocks.push_back(take_block());
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
    const size_t keep = static_cast<size_t>((n_tokens + block_size_ - 1) / block_size_);
    if (n_tokens % block_size_ != 0 && keep <= s.blocks.size()) {
        // The kept block is written again from n_tokens on: nobody else may read it, nor find it later.
        const int32_t partial = s.blocks[keep - 1];
        if (info_[static_cast<size_t>(partial)].refs > 1)
            throw InvalidArgument("KV cache: cannot truncate to " + std::to_string(n_tokens) +
                                  " inside a block other sequences share");
        unregister(partial);
    }
    s.length = n_tokens;
    while (s.blocks.size() > keep) {
        drop_reference(s.blocks.back());
        s.blocks.pop_back();
    }
    if (s.published > static_cast<size_t>(n_tokens / block_size_)) {
        s.published = 0;  // publish() walks the kept blocks again to find where the chain stands
        s.chain_block = -1;
        s.chain_hash = 0;
    }
}

int64_t KvCache::length(SeqId seq) const { return seq_ref(seq).length; }
const std::vector<int32_t>& KvCache::block_table(SeqId seq) const { return seq_ref(seq).blocks; }

}  // namespace enclave
