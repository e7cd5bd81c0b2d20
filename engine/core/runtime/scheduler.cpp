#include "core/runtime/scheduler.h"

#include <algorithm>
#include <span>

namespace enclave {

struct Scheduler::Sequence {
    RequestId id = 0;
    SamplingParams params;
    Callback on_event;
    std::vector<TokenId> tokens;  // [prompt + generated] the whole history
    int64_t prompt_len = 0;
    int64_t generated = 0;
    int64_t computed = 0;         // tokens of `tokens` whose K/V are in the cache
    KvCache::SeqId seq = -1;      // the cache sequence, -1 while waiting
    Sampler sampler;
    StopStringFilter filter;
    bool cancelled = false;

    Sequence(RequestId id_, std::vector<TokenId> prompt, const SamplingParams& p, Callback cb, int32_t n_vocab)
        : id(id_), params(p), on_event(std::move(cb)), tokens(std::move(prompt)),
          prompt_len(static_cast<int64_t>(tokens.size())), sampler(p, n_vocab), filter(p.stop) {}

    int64_t pending() const { return static_cast<int64_t>(tokens.size()) - computed; }
};

Scheduler::Scheduler(Model& model, KvCache& cache, const Tokenizer& tokenizer, SchedulerConfig config)
    : model_(model), cache_(cache), tokenizer_(tokenizer), config_(config) {
    if (config_.max_batch_tokens <= 0 || config_.max_running <= 0 || config_.prefill_chunk <= 0)
        throw InvalidArgument("scheduler: max_batch_tokens, max_running and prefill_chunk must be positive");
}

Scheduler::~Scheduler() {
    for (auto& s : running_)
        if (s->seq >= 0) cache_.release_sequence(s->seq);
}

void Scheduler::validate_request(const std::vector<TokenId>& prompt, const SamplingParams& params) const {
    params.validate();
    if (prompt.empty()) throw InvalidArgument("prompt: empty (no tokens)");
    const int64_t n_vocab = model_.config().n_vocab;
    for (const TokenId t : prompt)
        if (t < 0 || t >= n_vocab)
            throw InvalidArgument("prompt: token id " + std::to_string(t) + " is outside the vocabulary (" +
                                  std::to_string(n_vocab) + ")");
    const int64_t needed = static_cast<int64_t>(prompt.size()) + params.max_tokens;
    const int64_t trained = model_.config().n_ctx_train;
    if (needed > trained)  // the cache may hold more (it is shared by all sequences); one sequence may not
        throw InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens + max_tokens " +
                              std::to_string(params.max_tokens) + " exceeds the model's trained context of " +
                              std::to_string(trained) + " tokens");
    if (needed > cache_.capacity_tokens())
        throw InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens + max_tokens " +
                              std::to_string(params.max_tokens) + " exceeds the KV cache of " +
                              std::to_string(cache_.capacity_tokens()) + " tokens");
}

RequestId Scheduler::submit(std::vector<TokenId> prompt, const SamplingParams& params, Callback on_event) {
    validate_request(prompt, params);
    const int64_t n_vocab = model_.config().n_vocab;
    const RequestId id = next_id_++;
    waiting_.push_back(std::make_unique<Sequence>(id, std::move(prompt), params, std::move(on_event),
                                                  static_cast<int32_t>(n_vocab)));
    return id;
}

void Scheduler::cancel(RequestId id) {
    for (auto& s : running_)
        if (s->id == id) s->cancelled = true;
    for (auto& s : waiting_)
        if (s->id == id) s->cancelled = true;
}

size_t Scheduler::waiting() const { return waiting_.size(); }
size_t Scheduler::running() const { return running_.size(); }
int64_t Scheduler::preemptions() const { return preemptions_; }

void Scheduler::finish(Sequence& s, FinishReason reason) {
    RequestEvent e;
    e.id = s.id;
    e.finished = true;
    e.finish = reason;
    if (reason != FinishReason::cancelled && reason != FinishReason::stop) e.text = s.filter.flush();
    e.prompt_tokens = s.prompt_len;
    e.generated_tokens = s.generated;
    if (s.seq >= 0) {
        cache_.release_sequence(s.seq);
        s.seq = -1;
    }
    if (s.on_event) s.on_event(e);
}

void Scheduler::preempt_newest() {
    std::unique_ptr<Sequence> victim = std::move(running_.back());
    running_.pop_back();
    cache_.release_sequence(victim->seq);
    victim->seq = -1;
    victim->computed = 0;  // recomputed from prompt + generated when admitted again
    ++preemptions_;
    waiting_.push_front(std::move(victim));
}

struct Scheduler::Planned {
    Sequence* s;
    int64_t n;  // tokens computed for it in this step
};

bool Scheduler::admit(Sequence& s, int64_t& budget_tokens) {
    if (budget_tokens <= 0) return false;
    s.seq = cache_.create_sequence();
    // At least the last token is computed: its logits give the next token.
    const int64_t reused = config_.prefix_cache ? cache_.attach_prefix(s.seq, s.tokens, s.pending() - 1) : 0;
    s.computed = reused;
    const int64_t chunk = std::min({config_.prefill_chunk, s.pending(), budget_tokens});
    if (!cache_.reserve(s.seq, s.computed + chunk)) {
        cache_.release_sequence(s.seq);
        s.seq = -1;
        s.computed = 0;
        return false;
    }
    prefix_hit_tokens_ += reused;
    return true;
}

bool Scheduler::waits_for_inflight_prefix(const Sequence& s, const std::vector<Planned>& plan) const {
    // Worth a step's wait when a sequence prefilling in this step computes at least one full block more of
    // s's leading tokens than the cache holds now: s then attaches it next step instead of computing it too.
    // Runs for each waiting request at each step: the cache is only looked up when a full block is shared.
    const int64_t bs = cache_.block_size();
    const int64_t usable = static_cast<int64_t>(s.tokens.size()) - 1;
    int64_t shared = 0;  // the most leading tokens of s that one prefilling sequence will hold after this step
    for (const Planned& p : plan) {
        const Sequence& o = *p.s;
        if (o.computed >= o.prompt_len) continue;  // decoding: its prompt blocks are published already
        const int64_t limit = std::min(usable, o.computed + p.n);
        int64_t common = 0;
        while (common < limit && s.tokens[static_cast<size_t>(common)] == o.tokens[static_cast<size_t>(common)]) ++common;
        shared = std::max(shared, common / bs * bs);
    }
    return shared > 0 && shared > cache_.cached_prefix(s.tokens, shared);
}

bool Scheduler::step() {
    // Cancelled requests leave first and give their blocks back.
    for (size_t i = 0; i < running_.size();) {
        if (running_[i]->cancelled) {
            finish(*running_[i], FinishReason::cancelled);
            running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if ((*it)->cancelled) {
            finish(**it, FinishReason::cancelled);
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }

    // Plan: every running sequence (oldest first) gets its next tokens if the cache can hold them;
    // when it cannot, the newest running sequence is preempted until it can.
    int64_t budget = config_.max_batch_tokens;
    std::vector<Planned> plan;
    const int64_t preemptions_before = preemptions_;
    for (size_t i = 0; i < running_.size() && budget > 0;) {
        Sequence& s = *running_[i];
        const int64_t n = std::min({s.pending(), config_.prefill_chunk, budget});
        bool room = cache_.reserve(s.seq, s.computed + n);
        while (!room && running_.back().get() != &s) {
            preempt_newest();
            room = cache_.reserve(s.seq, s.computed + n);
        }
        if (!room) {  // s itself is the newest: it waits for room
            preempt_newest();
            break;
        }
        plan.push_back({&s, n});
        budget -= n;
        ++i;
    }
    // Admission: waiting requests join while the step and the cache have room, but not in a step that had to
    // preempt (the cache is full: admitting now would only be preempted again next step).
    for (size_t w = 0; preemptions_ == preemptions_before && w < waiting_.size() && budget > 0 &&
                       static_cast<int64_t>(running_.size()) < config_.max_running;) {
        Sequence& s = *waiting_[w];
        if (config_.prefix_cache && waits_for_inflight_prefix(s, plan)) {
            ++w;
            continue;
        }
        if (!admit(s, budget)) break;
        const int64_t n = std::min({s.pending(), config_.prefill_chunk, budget});
        running_.push_back(std::move(waiting_[w]));
        waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(w));
        plan.push_back({running_.back().get(), n});
        budget -= n;
    }
    if (plan.empty()) return false;

    std::vector<StepSequence> step;
    step.reserve(plan.size());
    for (const auto& p : plan) {
        const bool completes = p.s->computed + p.n == static_cast<int64_t>(p.s->tokens.size());
        // A sampler that reads only the row's k largest logits gets them selected by the backend (Model::forward's
        // top output): k pairs a sequence come back instead of n_vocab floats.
        const int32_t top_k =
            completes ? p.s->sampler.candidates_needed(p.s->tokens, static_cast<int32_t>(Backend::k_max_top_k)) : 0;
        step.push_back({p.s->seq,
                        std::span<const TokenId>(p.s->tokens).subspan(static_cast<size_t>(p.s->computed),
                                                                      static_cast<size_t>(p.n)),
                        completes ? LogitsWanted::last : LogitsWanted::none, top_k});
    }
    model_.forward(step, cache_, logits_, top_);
    if (config_.prefix_cache)
        for (const auto& p : plan) cache_.publish(p.s->seq, p.s->tokens);

    const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
    size_t row = 0, top_at = 0;
    std::vector<Sequence*> done;
    std::vector<FinishReason> reasons;
    for (size_t i = 0; i < plan.size(); ++i) {
        Sequence& s = *plan[i].s;
        s.computed += plan[i].n;
        if (step[i].logits != LogitsWanted::last) continue;
        TokenId next;
        if (step[i].top_k > 0) {
            const auto k = static_cast<size_t>(step[i].top_k);
            top_ids_.resize(k);
            top_logits_.resize(k);
            for (size_t j = 0; j < k; ++j) {
                top_ids_[j] = top_[top_at + j].id;
                top_logits_[j] = top_[top_at + j].logit;
            }
            top_at += k;
            next = s.sampler.sample_top(top_ids_, top_logits_);
        } else {
            const std::span<const float> logits(logits_.data() + row * n_vocab, n_vocab);
            ++row;
            next = s.sampler.sample(logits, s.tokens);
        }
        s.tokens.push_back(next);
        ++s.generated;
        if (tokenizer_.is_end_of_generation(next)) {
            done.push_back(&s);
            reasons.push_back(FinishReason::end_of_generation);
            continue;
        }
        RequestEvent e;
        e.id = s.id;
        e.token = next;
        e.text = s.filter.push(tokenizer_.token_to_piece(next, false));
        e.prompt_tokens = s.prompt_len;
        e.generated_tokens = s.generated;
        if (s.on_event) s.on_event(e);
        if (s.filter.stopped()) {
            done.push_back(&s);
            reasons.push_back(FinishReason::stop);
        } else if (s.generated >= s.params.max_tokens) {
            done.push_back(&s);
            reasons.push_back(FinishReason::length);
        }
    }
    for (size_t i = 0; i < done.size(); ++i) {
        finish(*done[i], reasons[i]);
        running_.erase(std::find_if(running_.begin(), running_.end(),
                                    [&](const std::unique_ptr<Sequence>& p) { return p.get() == done[i]; }));
    }
    return true;
}

}  // namespace enclave
