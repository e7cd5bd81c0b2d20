// Continuous batching: requests joining and leaving at every step give the same greedy tokens as each
// alone; a small cache preempts and recomputes without changing any output; cancel frees blocks at once;
// long prompts are prefilled in chunks while running streams keep getting a token every step.
#include <unistd.h>

#include <filesystem>
#include <map>

#include "check.h"
#include "core/backend/backend.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/runtime/generator.h"
#include "core/runtime/scheduler.h"
#include "core/tokenizer/tokenizer.h"
#include "tiny_model.h"

using namespace enclave;

namespace {

struct Fixture {
    std::filesystem::path path;
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;

    Fixture() {
        // f32 weights: no 8-bit activations, so batching changes only float summation order (~1e-7) and
        // greedy tokens must not change.
        enclave_test::TinySpec spec;
        spec.seed = 77;
        path = std::filesystem::temp_directory_path() / ("enclave_tst_scheduler_" + std::to_string(getpid()) + ".gguf");
        enclave_test::make_tiny_model(spec, path);
        backend = make_cpu_backend(2);
        auto file = gguf::GgufFile::open(path);
        tokenizer = Tokenizer::from_gguf(file);
        model = Model::load(std::move(file), *backend);
    }
    ~Fixture() { std::filesystem::remove(path); }

    std::vector<TokenId> alone(const std::vector<TokenId>& prompt, int max_tokens) {
        KvCache cache(*backend, model->config(), 512);
        Generator gen(*model, *tokenizer, cache);
        SamplingParams p;
        p.temperature = 0;
        p.max_tokens = max_tokens;
        return gen.generate(prompt, p).generated;
    }
};

std::vector<TokenId> prompt_of(size_t n, uint32_t seed) {
    std::vector<TokenId> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<TokenId>(3 + (seed * 7919u + i * 104729u) % 290u);
    return p;
}

SamplingParams greedy(int max_tokens) {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = max_tokens;
    return p;
}

struct Collector {
    std::map<RequestId, std::vector<TokenId>> tokens;
    std::map<RequestId, RequestEvent> finished;
    Scheduler::Callback callback() {
        return [this](const RequestEvent& e) {
            if (e.token) tokens[e.id].push_back(*e.token);
            if (e.finished) finished[e.id] = e;
        };
    }
};

}  // namespace

ENCLAVE_TEST(requests_joining_at_any_step_get_the_tokens_they_get_alone) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 1024);
    Scheduler sched(*f.model, cache, *f.tokenizer, {48, 8, 16});
    Collector c;
    const std::vector<std::vector<TokenId>> prompts = {prompt_of(3, 1), prompt_of(10, 2), prompt_of(25, 3), prompt_of(40, 4)};
    std::vector<RequestId> ids;
    ids.push_back(sched.submit(prompts[0], greedy(12), c.callback()));
    ids.push_back(sched.submit(prompts[1], greedy(12), c.callback()));
    sched.step();
    sched.step();
    ids.push_back(sched.submit(prompts[2], greedy(12), c.callback()));
    sched.step();
    ids.push_back(sched.submit(prompts[3], greedy(12), c.callback()));
    int steps = 0;
    while (sched.step()) REQUIRE(++steps < 1000);
    for (size_t i = 0; i < ids.size(); ++i) {
        const auto want = f.alone(prompts[i], 12);
        CHECK_MSG(c.tokens[ids[i]] == want, "request " + std::to_string(i) + " differs from running alone");
        REQUIRE(c.finished.count(ids[i]) == 1);
        CHECK(c.finished[ids[i]].finish == FinishReason::length);
        CHECK_EQ(c.finished[ids[i]].generated_tokens, 12);
        CHECK_EQ(c.finished[ids[i]].prompt_tokens, static_cast<int64_t>(prompts[i].size()));
    }
    CHECK_EQ(cache.free_blocks(), cache.n_blocks());
}

ENCLAVE_TEST(a_small_cache_preempts_and_recomputes_without_changing_outputs) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 96, 16);  // 6 blocks; each request needs 3 at its end
    Scheduler sched(*f.model, cache, *f.tokenizer, {64, 8, 32});
    Collector c;
    std::vector<std::vector<TokenId>> prompts;
    std::vector<RequestId> ids;
    for (uint32_t i = 0; i < 3; ++i) {
        prompts.push_back(prompt_of(20, 10 + i));
        ids.push_back(sched.submit(prompts.back(), greedy(20), c.callback()));
    }
    int steps = 0;
    while (sched.step()) REQUIRE(++steps < 2000);
    CHECK_MSG(sched.preemptions() > 0, "the cache was meant to run out");
    for (size_t i = 0; i < ids.size(); ++i)
        CHECK_MSG(c.tokens[ids[i]] == f.alone(prompts[i], 20), "request " + std::to_string(i) + " changed by preemption");
    CHECK_EQ(cache.free_blocks(), cache.n_blocks());
}

ENCLAVE_TEST(cancel_frees_the_sequence_at_the_next_step) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 512);
    Scheduler sched(*f.model, cache, *f.tokenizer);
    Collector c;
    const RequestId a = sched.submit(prompt_of(30, 5), greedy(50), c.callback());
    const RequestId b = sched.submit(prompt_of(30, 6), greedy(50), c.callback());
    for (int i = 0; i < 4; ++i) sched.step();
    const int64_t free_before = cache.free_blocks();
    sched.cancel(a);
    sched.step();
    REQUIRE(c.finished.count(a) == 1);
    CHECK(c.finished[a].finish == FinishReason::cancelled);
    CHECK(cache.free_blocks() > free_before - 1);  // a's blocks back (b may have taken at most one)
    CHECK_EQ(sched.running(), size_t{1});
    CHECK(c.finished.count(b) == 0);
    while (sched.step()) {
    }
    CHECK(c.finished.count(b) == 1);
}

ENCLAVE_TEST(long_prompts_are_prefilled_in_chunks_while_streams_flow) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 512);
    Scheduler sched(*f.model, cache, *f.tokenizer, {64, 8, 32});
    Collector c;
    const RequestId a = sched.submit(prompt_of(5, 7), greedy(40), c.callback());
    sched.step();  // a prefilled and gets its first token
    const RequestId b = sched.submit(prompt_of(200, 8), greedy(5), c.callback());
    // b needs ceil(200 / 32) = 7 steps of prefill; a must get one token in every one of them.
    for (int i = 0; i < 7; ++i) {
        const size_t before = c.tokens[a].size();
        sched.step();
        CHECK_EQ(c.tokens[a].size(), before + 1);
    }
    CHECK(!c.tokens[b].empty());  // b's prompt completed in the 7th step and sampled its first token
    while (sched.step()) {
    }
    CHECK(c.tokens[b] == f.alone(prompt_of(200, 8), 5));
}

std::vector<TokenId> with_shared_head(const std::vector<TokenId>& head, size_t tail, uint32_t seed) {
    std::vector<TokenId> p = head;
    const auto t = prompt_of(tail, seed);
    p.insert(p.end(), t.begin(), t.end());
    return p;
}

ENCLAVE_TEST(requests_sharing_a_prefix_compute_it_once_and_get_the_tokens_they_get_alone) {
    Fixture f;
    const auto head = prompt_of(40, 21);  // 2 full blocks of 16 shared, 8 more tokens in the third
    std::vector<std::vector<TokenId>> prompts;
    for (uint32_t i = 0; i < 4; ++i) prompts.push_back(with_shared_head(head, 5 + i, 30 + i));

    for (const bool prefix_cache : {true, false}) {
        KvCache cache(*f.backend, f.model->config(), 1024, 16);
        Scheduler sched(*f.model, cache, *f.tokenizer, {512, 8, 256, prefix_cache});
        Collector c;
        std::vector<RequestId> ids;
        for (const auto& p : prompts) ids.push_back(sched.submit(p, greedy(10), c.callback()));  // all at once
        int steps = 0;
        while (sched.step()) REQUIRE(++steps < 1000);
        for (size_t i = 0; i < ids.size(); ++i)
            CHECK_MSG(c.tokens[ids[i]] == f.alone(prompts[i], 10),
                      "request " + std::to_string(i) + (prefix_cache ? " with" : " without") + " the prefix cache");
        // With the cache the first request computes the head; the other three wait one step for it and
        // attach its two full blocks instead of computing 32 tokens each.
        CHECK_EQ(sched.prefix_hit_tokens(), prefix_cache ? 3 * 32 : 0);
        CHECK_EQ(cache.free_blocks(), cache.n_blocks());

        // A later request with the same head finds the blocks cached though nobody holds them now.
        if (prefix_cache) {
            const auto later = with_shared_head(head, 3, 99);
            const RequestId id = sched.submit(later, greedy(10), c.callback());
            while (sched.step()) REQUIRE(++steps < 2000);
            CHECK_EQ(sched.prefix_hit_tokens(), 4 * 32);
            CHECK(c.tokens[id] == f.alone(later, 10));
        }
    }
}

ENCLAVE_TEST(a_repeated_conversation_reuses_its_generated_tokens_too) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 1024, 16);
    Scheduler sched(*f.model, cache, *f.tokenizer, {512, 8, 256});
    Collector c;
    const auto first = prompt_of(20, 41);
    const RequestId a = sched.submit(first, greedy(30), c.callback());
    while (sched.step()) {
    }
    // The next turn sends the whole history back: prompt, the 30 generated tokens, and a new question.
    // Its K/V was computed for the first 49 of them (the last sampled token never went through the model).
    auto turn2 = first;
    turn2.insert(turn2.end(), c.tokens[a].begin(), c.tokens[a].end());
    const auto question = prompt_of(7, 42);
    turn2.insert(turn2.end(), question.begin(), question.end());
    const RequestId b = sched.submit(turn2, greedy(8), c.callback());
    while (sched.step()) {
    }
    CHECK_EQ(sched.prefix_hit_tokens(), 48);  // 3 full blocks of the 49 computed tokens
    CHECK(c.tokens[b] == f.alone(turn2, 8));
}

ENCLAVE_TEST(submit_rejects_bad_requests_naming_the_problem) {
    Fixture f;
    KvCache cache(*f.backend, f.model->config(), 64);
    Scheduler sched(*f.model, cache, *f.tokenizer);
    CHECK_THROWS_WITH(sched.submit({}, greedy(4), {}), InvalidArgument, "prompt: empty");
    CHECK_THROWS_WITH(sched.submit(prompt_of(60, 1), greedy(10), {}), InvalidArgument, "exceeds the KV cache");
    CHECK_THROWS_WITH(sched.submit({1, 2, 999}, greedy(4), {}), InvalidArgument, "token id 999");
    SamplingParams bad = greedy(4);
    bad.top_p = 2.0f;
    CHECK_THROWS_WITH(sched.submit({1, 2}, bad, {}), InvalidArgument, "top_p");
    CHECK_EQ(sched.waiting(), size_t{0});
}

ENCLAVE_TEST(a_cache_larger_than_the_trained_context_still_limits_each_request_to_it) {
    Fixture f;
    const int64_t trained = f.model->config().n_ctx_train;  // 512 in the tiny model's file
    KvCache cache(*f.backend, f.model->config(), 4 * trained);  // shared by several sequences
    Scheduler sched(*f.model, cache, *f.tokenizer);
    CHECK_THROWS_WITH(sched.submit(prompt_of(10, 1), greedy(static_cast<int>(trained)), {}), InvalidArgument,
                      "exceeds the model's trained context of " + std::to_string(trained));
    sched.submit(prompt_of(10, 1), greedy(static_cast<int>(trained) - 10), {});  // exactly the trained context
    CHECK_EQ(sched.waiting(), size_t{1});
}

ENCLAVE_TEST_MAIN()
