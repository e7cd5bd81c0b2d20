// KvCache: the paged key/value cache of one loaded model, shared by all its sequences.
//
// Contract
// - Memory is split into blocks of block_size token slots; each layer has one K and one V tensor
//   f16 [n_blocks * block_size, n_kv_head * head_dim] in backend memory, allocated once at construction.
// - A sequence owns an ordered list of blocks (its block table); reserve() grows it to hold a length and
//   returns false, changing nothing, when the free blocks do not suffice (the scheduler then preempts).
// - Block ids and sequence ids are small integers; releasing a sequence returns its blocks at once.
// - Prefix sharing (vLLM's automatic prefix caching): publish() registers a sequence's full blocks under
//   their content (the token ids of the block and of every block before it); attach_prefix() gives a new,
//   empty sequence the registered blocks that hold its own leading tokens, so their K/V is not computed again.
//   A shared block is referenced, never copied or written: only full blocks are shared, and a sequence
//   writes only past its length, into blocks it alone holds. A registered block whose last reference goes
//   stays cached (its K/V intact) until reserve() needs it: cached blocks count as free and are reused
//   least recently released first, the tail of a released sequence before its head.
//   Matches compare token ids exactly (a hash only finds the candidate), so a collision cannot share K/V.
// - Not thread-safe: only the model's engine thread touches it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/model_config.h"

namespace enclave {

// The KV cache size (tokens, all sequences together) a server gives a model when its config names none:
// the model's trained context, at most k_max_default_kv_tokens. One sequence may then use the whole context
// it was trained for, and a server's concurrent streams share it: 32 streams of 150 tokens fit SmolLM2's
// 8,192 where the old default of 4,096 preempted five of them and recomputed them at the end of the run.
// The cap keeps long-context models (Llama 3.1: 131,072) at 2 GiB of f16 K/V for an 8B model.
inline constexpr int64_t k_max_default_kv_tokens = 16384;
int64_t default_kv_cache_tokens(int64_t n_ctx_train);
inline constexpr int64_t k_max_kv_cache_tokens = int64_t{1} << 24;  // a cache sized from memory stops here

class KvCache {
public:
    // n_tokens_capacity is rounded up to whole blocks. Throws ResourceExhausted when the backend cannot
    // allocate it, InvalidArgument when it is not positive.
    static constexpr int64_t k_default_block_size = 16;
    KvCache(Backend& backend, const ModelConfig& config, int64_t n_tokens_capacity,
            int64_t block_size = k_default_block_size);
    // Bytes of K and V a token takes in every layer (f16).
    static size_t bytes_per_token(const ModelConfig& config) {
        return 2 * 2 * static_cast<size_t>(config.n_layer) * static_cast<size_t>(config.kv_dim());
    }

    using SeqId = int32_t;
    SeqId create_sequence();
    void release_sequence(SeqId seq);
    bool reserve(SeqId seq, int64_t n_tokens);       // capacity for n_tokens total in this sequence
    void set_length(SeqId seq, int64_t n_tokens);     // tokens whose K/V are stored (<= capacity)
    // Forget tokens past n_tokens, freeing whole blocks. Throws InvalidArgument when that would leave a
    // block other sequences share partly filled (it would be overwritten under them).
    void truncate(SeqId seq, int64_t n_tokens);
    int64_t length(SeqId seq) const;
    const std::vector<int32_t>& block_table(SeqId seq) const;
    bool is_live(SeqId seq) const;

    // Prefix sharing. attach_prefix: `seq` must hold no blocks; gives it the registered blocks whose
    // contents are the leading full blocks of `tokens`, at most max_tokens tokens' worth, and sets its length
    // to the tokens they hold (returned; a multiple of block_size, 0 when nothing matched).
    int64_t attach_prefix(SeqId seq, std::span<const int32_t> tokens, int64_t max_tokens);
    // Tokens attach_prefix would attach now (no change to anything).
    int64_t cached_prefix(std::span<const int32_t> tokens, int64_t max_tokens) const;
    // publish: registers the blocks of `seq` that are full (within its length) under the content `tokens`
    // (the sequence's tokens from position 0). A block whose content another block already holds stays
    // private; the chain continues from the block that holds it.
    void publish(SeqId seq, std::span<const int32_t> tokens);
    int64_t cached_blocks() const { return static_cast<int64_t>(lru_.size()); }  // unreferenced, kept for reuse

    int64_t block_size() const { return block_size_; }
    int64_t n_blocks() const { return n_blocks_; }
    // Blocks reserve() can hand out: never used, or cached (unreferenced registered blocks).
    int64_t free_blocks() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
    int64_t capacity_tokens() const { return n_blocks_ * block_size_; }
    size_t bytes() const;

    const Tensor& keys(int64_t layer) const { return k_[static_cast<size_t>(layer)]; }
    const Tensor& values(int64_t layer) const { return v_[static_cast<size_t>(layer)]; }

private:
    struct Sequence {
        bool live = false;
        int64_t length = 0;
        std::vector<int32_t> blocks;
        size_t published = 0;    // leading blocks already registered (here or as an equal block elsewhere)
        int32_t chain_block = -1;  // the registered block holding the content of block published - 1
        uint64_t chain_hash = 0;   // its chain hash
    };
    // What a block holds when it is registered: its tokens, and the block before it in the prefix.
    struct BlockInfo {
        int32_t refs = 0;
        bool registered = false;
        uint64_t hash = 0;      // chain hash of the prefix up to and including this block
        int32_t parent = -1;    // the registered block before it, -1 for a sequence's first block
        std::vector<int32_t> tokens;
        std::list<int32_t>::iterator lru;  // position in lru_ while refs == 0 and registered
    };
    Sequence& seq_ref(SeqId seq);
    const Sequence& seq_ref(SeqId seq) const;
    int32_t take_block();               // a free block, else the least recently cached one (unregistered)
    void drop_reference(int32_t block);  // refs - 1; at 0 the block is cached (registered) or free
    void unregister(int32_t block);
    uint64_t chain_hash(uint64_t parent_hash, std::span<const int32_t> tokens) const;
    // The registered blocks holding the leading full blocks of tokens (at most max_tokens of them).
    std::vector<int32_t> match_prefix(std::span<const int32_t> tokens, int64_t max_tokens) const;

    int64_t block_size_;
    int64_t n_blocks_;
    std::unique_ptr<DeviceBuffer> storage_;  // all layers' K then V
    std::vector<Tensor> k_;                  // [n_layer] views into storage_
    std::vector<Tensor> v_;                  // [n_layer]
    std::vector<int32_t> free_;              // free block ids, a stack
    std::vector<BlockInfo> info_;            // [n_blocks]
    std::list<int32_t> lru_;                 // cached blocks, least recently released first
    std::unordered_map<uint64_t, int32_t> by_hash_;  // registered blocks by chain hash
    std::vector<Sequence> seqs_;
    std::vector<SeqId> free_seq_ids_;
};

}  // namespace enclave
