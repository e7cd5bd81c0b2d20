// KvCache: the paged key/value cache of one loaded model, shared by all its sequences.
//
// Contract
// - Memory is split into blocks of block_size token slots; each layer has one K and one V tensor
//   f16 [n_blocks * block_size, n_kv_head * head_dim] in backend memory, allocated once at construction.
// - A sequence owns an ordered list of blocks (its block table); reserve() grows it to hold a length and
//   returns false, changing nothing, when the free blocks do not suffice (the scheduler then preempts).
// - Block ids and sequence ids are small integers; releasing a sequence returns its blocks at once.
// - Not thread-safe: only the model's engine thread touches it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/model_config.h"

namespace enclave {

class KvCache {
public:
    // n_tokens_capacity is rounded up to whole blocks. Throws ResourceExhausted when the backend cannot
    // allocate it, InvalidArgument when it is not positive.
    KvCache(Backend& backend, const ModelConfig& config, int64_t n_tokens_capacity, int64_t block_size = 16);

    using SeqId = int32_t;
    SeqId create_sequence();
    void release_sequence(SeqId seq);
    bool reserve(SeqId seq, int64_t n_tokens);       // capacity for n_tokens total in this sequence
    void set_length(SeqId seq, int64_t n_tokens);     // tokens whose K/V are stored (<= capacity)
    void truncate(SeqId seq, int64_t n_tokens);       // forget tokens past n_tokens, freeing whole blocks
    int64_t length(SeqId seq) const;
    const std::vector<int32_t>& block_table(SeqId seq) const;
    bool is_live(SeqId seq) const;

    int64_t block_size() const { return block_size_; }
    int64_t n_blocks() const { return n_blocks_; }
    int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
    int64_t capacity_tokens() const { return n_blocks_ * block_size_; }
    size_t bytes() const;

    const Tensor& keys(int64_t layer) const { return k_[static_cast<size_t>(layer)]; }
    const Tensor& values(int64_t layer) const { return v_[static_cast<size_t>(layer)]; }

private:
    struct Sequence {
        bool live = false;
        int64_t length = 0;
        std::vector<int32_t> blocks;
    };
    Sequence& seq_ref(SeqId seq);
    const Sequence& seq_ref(SeqId seq) const;

    int64_t block_size_;
    int64_t n_blocks_;
    std::unique_ptr<DeviceBuffer> storage_;  // all layers' K then V
    std::vector<Tensor> k_;                  // [n_layer] views into storage_
    std::vector<Tensor> v_;                  // [n_layer]
    std::vector<int32_t> free_;              // free block ids, a stack
    std::vector<Sequence> seqs_;
    std::vector<SeqId> free_seq_ids_;
};

}  // namespace enclave
