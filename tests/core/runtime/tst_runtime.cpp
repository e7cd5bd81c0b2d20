// KV cache block accounting, the sampler's rules and parameter checks, and the stop-string filter.
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "check.h"
#include "core/backend/backend.h"
#include "core/runtime/generator.h"
#include "core/runtime/kv_cache.h"
#include "core/runtime/sampler.h"
#include "enclave/kernels/cpu_ops.h"

using namespace enclave;

namespace {
ModelConfig small_config() {
    ModelConfig c;
    c.n_layer = 2;
    c.n_embd = 32;
    c.n_head = 4;
    c.n_kv_head = 2;
    c.head_dim = 8;
    return c;
}
}  // namespace

ENCLAVE_TEST(kv_cache_hands_out_and_takes_back_blocks) {
    auto be = make_cpu_backend(1);
    KvCache cache(*be, small_config(), 100, 16);  // rounds up to 7 blocks
    CHECK_EQ(cache.n_blocks(), 7);
    CHECK_EQ(cache.capacity_tokens(), 112);
    CHECK_EQ(cache.keys(1).rows(), 112);
    CHECK_EQ(cache.keys(0).cols(), 16);  // n_kv_head * head_dim
    const auto a = cache.create_sequence();
    const auto b = cache.create_sequence();
    CHECK(cache.reserve(a, 33));  // 3 blocks
    CHECK_EQ(cache.free_blocks(), 4);
    CHECK(cache.reserve(a, 48));  // still 3
    CHECK_EQ(cache.free_blocks(), 4);
    CHECK(!cache.reserve(b, 80));  // 5 blocks do not fit: nothing changes
    CHECK_EQ(cache.free_blocks(), 4);
    CHECK(cache.block_table(b).empty());
    CHECK(cache.reserve(b, 64));
    CHECK_EQ(cache.free_blocks(), 0);
    std::set<int32_t> used(cache.block_table(a).begin(), cache.block_table(a).end());
    for (auto blk : cache.block_table(b)) CHECK(used.insert(blk).second);  // no block owned twice
    cache.set_length(a, 40);
    cache.truncate(a, 10);  // keeps 1 block
    CHECK_EQ(cache.block_table(a).size(), size_t{1});
    CHECK_EQ(cache.free_blocks(), 2);
    cache.release_sequence(b);
    CHECK_EQ(cache.free_blocks(), 6);
    CHECK(!cache.is_live(b));
    CHECK_THROWS_WITH(cache.length(b), InvalidArgument, "no live sequence");
    CHECK_THROWS_WITH(cache.set_length(a, 17), InvalidArgument, "exceeds the reserved capacity");
    CHECK_THROWS_WITH(KvCache(*be, small_config(), 0), InvalidArgument, "must be positive");
}

namespace {
std::vector<int32_t> tokens_of(size_t n, int32_t first) {
    std::vector<int32_t> t(n);
    std::iota(t.begin(), t.end(), first);
    return t;
}
}  // namespace

ENCLAVE_TEST(kv_cache_shares_the_blocks_of_a_published_prefix) {
    auto be = make_cpu_backend(1);
    KvCache cache(*be, small_config(), 128, 16);  // 8 blocks
    const auto text = tokens_of(40, 100);          // 2 full blocks + 8 tokens
    const auto a = cache.create_sequence();
    REQUIRE(cache.reserve(a, 40));
    cache.set_length(a, 40);
    cache.publish(a, text);

    // Same first 32 tokens, different after: the two full blocks are shared, not copied.
    auto other = text;
    other[35] = 7;
    const auto b = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(b, other, 39), 32);
    CHECK_EQ(cache.length(b), 32);
    REQUIRE(cache.block_table(b).size() == 2);
    CHECK_EQ(cache.block_table(b)[0], cache.block_table(a)[0]);
    CHECK_EQ(cache.block_table(b)[1], cache.block_table(a)[1]);
    CHECK_EQ(cache.free_blocks(), 5);  // a holds 3, b shares 2 of them
    CHECK(cache.reserve(b, 40));       // its own third block
    CHECK(cache.block_table(b)[2] != cache.block_table(a)[2]);
    CHECK_EQ(cache.free_blocks(), 4);

    // max_tokens and mismatches limit the match; blocks chain, so block 2 alone never matches.
    const auto c = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(c, text, 31), 16);
    cache.release_sequence(c);
    auto first_differs = text;
    first_differs[3] = 9;
    const auto d = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(d, first_differs, 40), 0);
    CHECK(cache.block_table(d).empty());
    cache.release_sequence(d);
    const auto e5 = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(e5, tokens_of(40, 116), 40), 0);  // text's block 1 at position 0
    cache.release_sequence(e5);

    // Writing into a shared block is refused; the partial third block is a's alone.
    CHECK_THROWS_WITH(cache.truncate(a, 20), InvalidArgument, "share");
    cache.truncate(a, 36);

    // Released, the registered blocks stay cached (free to take) and are found again.
    cache.release_sequence(a);
    cache.release_sequence(b);
    CHECK_EQ(cache.free_blocks(), 8);
    CHECK_EQ(cache.cached_blocks(), 2);
    const auto f2 = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(f2, text, 40), 32);
    CHECK_EQ(cache.cached_blocks(), 0);
    cache.release_sequence(f2);

    // Needed for new tokens, cached blocks are taken last and then forgotten.
    const auto g = cache.create_sequence();
    CHECK(cache.reserve(g, 6 * 16));
    CHECK_EQ(cache.cached_blocks(), 2);
    CHECK(cache.reserve(g, 8 * 16));
    CHECK_EQ(cache.cached_blocks(), 0);
    cache.set_length(g, 8 * 16);
    cache.release_sequence(g);
    const auto h = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(h, text, 40), 0);
}

ENCLAVE_TEST(kv_cache_publishes_a_duplicate_prefix_once_and_chains_past_it) {
    auto be = make_cpu_backend(1);
    KvCache cache(*be, small_config(), 128, 16);
    const auto text = tokens_of(48, 500);
    // Two sequences computed the same 32 tokens side by side; b then went on to 48.
    const auto a = cache.create_sequence();
    const auto b = cache.create_sequence();
    REQUIRE(cache.reserve(a, 32));
    REQUIRE(cache.reserve(b, 48));
    cache.set_length(a, 32);
    cache.set_length(b, 48);
    cache.publish(a, text);
    cache.publish(b, text);  // blocks 0-1 already held by a: b's third block chains on a's second
    const auto c = cache.create_sequence();
    CHECK_EQ(cache.attach_prefix(c, text, 48), 48);
    CHECK_EQ(cache.block_table(c)[0], cache.block_table(a)[0]);
    CHECK_EQ(cache.block_table(c)[2], cache.block_table(b)[2]);
}

ENCLAVE_TEST(greedy_picks_the_first_maximum) {
    SamplingParams p;
    p.temperature = 0;
    Sampler s(p, 6);
    const std::vector<float> logits = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    CHECK_EQ(s.sample(logits, {}), 1);
}

ENCLAVE_TEST(top_k_one_is_argmax_whatever_the_temperature) {
    SamplingParams p;
    p.temperature = 5.0f;
    p.top_k = 1;
    Sampler s(p, 5);
    const std::vector<float> logits = {0.5f, 0.4f, 0.9f, 0.1f, 0.2f};
    for (int i = 0; i < 50; ++i) CHECK_EQ(s.sample(logits, {}), 2);
}

ENCLAVE_TEST(top_p_and_min_p_keep_only_the_expected_set) {
    // Probabilities at temperature 1: softmax(log([0.5, 0.3, 0.15, 0.05])) = the same numbers.
    const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.top_p = 0.75f;  // 0.5 + 0.3 >= 0.75: tokens 0 and 1 only
    Sampler s(p, 4);
    std::map<int, int> seen;
    for (int i = 0; i < 2000; ++i) ++seen[s.sample(logits, {})];
    CHECK(seen.count(2) == 0 && seen.count(3) == 0);
    // Token 0 should come up ~62.5% (0.5 / 0.8); 2000 draws: 4 sigma is about ±4.3%.
    CHECK_MSG(std::abs(seen[0] / 2000.0 - 0.625) < 0.05, "token 0 share " + std::to_string(seen[0] / 2000.0));
    SamplingParams q = p;
    q.top_p = 1.0f;
    q.min_p = 0.35f;  // keep p >= 0.35 * 0.5 = 0.175: tokens 0 and 1
    Sampler s2(q, 4);
    for (int i = 0; i < 500; ++i) CHECK(s2.sample(logits, {}) < 2);
}

ENCLAVE_TEST(top_p_and_min_p_cut_deep_in_a_large_vocabulary) {
    // A slowly falling distribution over 5,000 tokens, shuffled so that token order says nothing: the
    // nucleus and the min-p set reach hundreds of tokens deep, past the sampler's first sorted prefix.
    const int n = 5000;
    std::vector<int> rank(n);
    std::iota(rank.begin(), rank.end(), 0);
    std::shuffle(rank.begin(), rank.end(), std::mt19937(7));
    std::vector<float> logits(n);
    for (int i = 0; i < n; ++i) logits[static_cast<size_t>(i)] = -0.002f * static_cast<float>(rank[static_cast<size_t>(i)]);
    // Reference, by brute force in double: ranks kept by top_p = 0.5 and by min_p = 0.5.
    double total = 0;
    for (int r = 0; r < n; ++r) total += std::exp(-0.002 * r);
    int nucleus = 0;
    for (double cum = 0; cum < 0.5 * total; ++nucleus) cum += std::exp(-0.002 * nucleus);
    const int min_p_keep = static_cast<int>(std::floor(std::log(2.0) / 0.002)) + 1;  // ranks 0..346
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 0.5f;
    Sampler top_p(p, n);
    int deepest = 0;
    for (int i = 0; i < 3000; ++i) {
        const int r = rank[static_cast<size_t>(top_p.sample(logits, {}))];
        CHECK(r < nucleus);
        deepest = std::max(deepest, r);
    }
    CHECK_MSG(nucleus > 300 && deepest > nucleus * 9 / 10,
              "nucleus " + std::to_string(nucleus) + ", deepest drawn " + std::to_string(deepest));
    p.top_p = 1.0f;
    p.min_p = 0.5f;
    Sampler min_p(p, n);
    deepest = 0;
    for (int i = 0; i < 3000; ++i) {
        const int r = rank[static_cast<size_t>(min_p.sample(logits, {}))];
        CHECK(r < min_p_keep);
        deepest = std::max(deepest, r);
    }
    CHECK_MSG(deepest > min_p_keep * 9 / 10, "min_p keeps " + std::to_string(min_p_keep) + ", deepest drawn " +
                                                 std::to_string(deepest));
    // No truncation: every token may come, in proportion to its probability (rank 0 vs rank 1000: e^2).
    SamplingParams all;
    all.temperature = 1.0f;
    all.top_k = 0;
    Sampler none(all, n);
    int low = 0, high = 0;
    for (int i = 0; i < 20000; ++i) {
        const int r = rank[static_cast<size_t>(none.sample(logits, {}))];
        low += r < 500;
        high += r >= 1000 && r < 1500;
    }
    const double expected = std::exp(2.0);  // sum over ranks 0..499 / sum over 1000..1499
    CHECK_MSG(std::abs(static_cast<double>(low) / high - expected) < 0.15 * expected,
              "ratio " + std::to_string(static_cast<double>(low) / high) + ", expected " + std::to_string(expected));
}

ENCLAVE_TEST(untruncated_draws_follow_softmax_across_chunk_boundaries) {
    // 1,000 tokens: three whole chunks of 256 and a short last one. Mass in runs that straddle the chunk
    // boundaries and sit at both ends; each share, drawn 60,000 times, within 5 sigma of softmax in double.
    const int n = 1000;
    std::vector<float> logits(n, -30.0f);  // ~e^-30: never drawn in practice
    const int runs[][3] = {{0, 3, 1}, {250, 262, 0}, {508, 515, 2}, {700, 820, 0}, {990, 1000, 1}};  // [begin, end, level]
    for (const auto& r : runs)
        for (int i = r[0]; i < r[1]; ++i) logits[static_cast<size_t>(i)] = 0.5f * static_cast<float>(r[2]) + 0.01f * static_cast<float>(i % 7);
    SamplingParams p;
    p.temperature = 0.8f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;  // the OpenAI defaults: no truncation
    Sampler sampler(p, n);
    std::vector<double> prob(n);
    double total = 0;
    for (int i = 0; i < n; ++i) total += prob[static_cast<size_t>(i)] = std::exp(static_cast<double>(logits[static_cast<size_t>(i)]) / 0.8);
    // Counted per run and chunk, so a draw landing in the wrong chunk of the right run is seen too.
    std::vector<std::pair<int, int>> buckets;
    for (const auto& r : runs)
        for (int b = r[0]; b < r[1];) {
            const int e = std::min(r[1], (b / 256 + 1) * 256);
            buckets.emplace_back(b, e);
            b = e;
        }
    std::vector<int> count(buckets.size(), 0);
    const int draws = 60000;
    for (int d = 0; d < draws; ++d) {
        const int t = sampler.sample(logits, {});
        REQUIRE(t >= 0 && t < n);
        for (size_t k = 0; k < buckets.size(); ++k) count[k] += t >= buckets[k].first && t < buckets[k].second;
    }
    for (size_t k = 0; k < buckets.size(); ++k) {
        double mass = 0;
        for (int i = buckets[k].first; i < buckets[k].second; ++i) mass += prob[static_cast<size_t>(i)] / total;
        const double sigma = std::sqrt(draws * mass * (1 - mass));
        CHECK_MSG(std::abs(count[k] - draws * mass) < 5 * sigma + 1,
                  "tokens " + std::to_string(buckets[k].first) + ".." + std::to_string(buckets[k].second) + ": drawn " +
                      std::to_string(count[k]) + ", expected " + std::to_string(draws * mass));
    }
}

ENCLAVE_TEST(same_seed_same_tokens_other_seed_other_tokens) {
    std::vector<float> logits(100);
    for (int i = 0; i < 100; ++i) logits[static_cast<size_t>(i)] = std::sin(static_cast<float>(i)) * 2.0f;
    SamplingParams p;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 1;
    p.temperature = 1.5f;
    auto draw = [&](uint64_t seed) {
        SamplingParams q = p;
        q.seed = seed;
        Sampler s(q, 100);
        std::vector<int32_t> out;
        for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits, {}));
        return out;
    };
    CHECK(draw(1) == draw(1));
    CHECK(draw(1) != draw(2));
}

// The GPU path of the serving loop: the sampler draws from the row's k largest logits (Backend::top_k, here
// its CPU reference top_k_row) exactly what it draws from the whole row, seed for seed, for greedy and for
// top-k chains with top-p, min-p and temperatures; and it asks for the whole row when it needs it.
ENCLAVE_TEST(sampling_from_the_top_k_equals_sampling_from_the_row) {
    std::mt19937 rng(1234);
    const int32_t n = 5000;
    std::normal_distribution<float> nd(0.0f, 3.0f);
    struct Case {
        float temperature, top_p, min_p;
        int32_t top_k;
    };
    const Case cases[] = {{0.8f, 0.95f, 0.05f, 40}, {0.0f, 1.0f, 0.0f, 40}, {1.5f, 1.0f, 0.0f, 7},
                          {0.7f, 0.5f, 0.0f, 256}, {2.0f, 0.99f, 0.01f, 1},  {1.0f, 1.0f, 0.2f, 100}};
    int draws = 0, equal = 0;
    for (const auto& c : cases) {
        SamplingParams p;
        p.temperature = c.temperature, p.top_p = c.top_p, p.min_p = c.min_p, p.top_k = c.top_k;
        p.seed = 77;
        Sampler whole(p, n), top(p, n);
        const std::vector<int32_t> history = {1, 2, 3};
        const int32_t k = top.candidates_needed(history, 256);
        CHECK(k == (c.temperature == 0.0f ? 1 : c.top_k));
        std::vector<int32_t> ids(static_cast<size_t>(k));
        std::vector<float> vals(static_cast<size_t>(k));
        for (int step = 0; step < 50; ++step) {
            std::vector<float> logits(static_cast<size_t>(n));
            for (auto& l : logits) l = std::round(nd(rng) * 4.0f) / 4.0f;  // quarter steps: ties among the top
            kernels::top_k_row(logits.data(), n, k, ids.data(), vals.data());
            const int32_t a = whole.sample(logits, history), b = top.sample_top(ids, vals);
            ++draws;
            equal += a == b;
        }
    }
    CHECK_MSG(equal == draws, std::to_string(equal) + " of " + std::to_string(draws) + " draws equal");
    SamplingParams pen;
    pen.repeat_penalty = 1.1f;
    CHECK(Sampler(pen, n).candidates_needed(std::vector<int32_t>{5}, 256) == 0);  // penalties read the whole row
    CHECK(Sampler(pen, n).candidates_needed({}, 256) == 40);                     // ... unless there is no history
    SamplingParams open;
    open.top_k = 0;
    CHECK(Sampler(open, n).candidates_needed({}, 256) == 0);
    SamplingParams wide;
    wide.top_k = 300;
    CHECK(Sampler(wide, n).candidates_needed({}, 256) == 0);
    CHECK_THROWS_WITH(Sampler(SamplingParams{}, n).sample_top(std::vector<int32_t>{1, 2}, std::vector<float>{1, 0}),
                      InvalidArgument, "top_k 40");
}

ENCLAVE_TEST(penalties_follow_their_definitions) {
    // Two equal logits; token 0 was just generated. A repetition penalty of 2 halves its positive logit,
    // so greedy-by-top_k=1 after penalties must pick token 1.
    const std::vector<float> logits = {2.0f, 1.5f, -5.0f};
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 1;
    p.repeat_penalty = 2.0f;
    const std::vector<int32_t> history = {0};
    Sampler s(p, 3);
    CHECK_EQ(s.sample(logits, history), 1);
    // Presence penalty 1 lowers token 0 to 1.0 < 1.5 as well; frequency 0.2 x 2 occurrences to 1.6 > 1.5.
    SamplingParams pres = p;
    pres.repeat_penalty = 1.0f;
    pres.presence_penalty = 1.0f;
    Sampler s2(pres, 3);
    CHECK_EQ(s2.sample(logits, history), 1);
    SamplingParams freq = p;
    freq.repeat_penalty = 1.0f;
    freq.frequency_penalty = 0.2f;
    Sampler s3(freq, 3);
    const std::vector<int32_t> twice = {0, 0};
    CHECK_EQ(s3.sample(logits, twice), 0);
}

ENCLAVE_TEST(out_of_range_parameters_name_the_field) {
    auto bad = [](auto mutate, const char* needle) {
        SamplingParams p;
        mutate(p);
        CHECK_THROWS_WITH(p.validate(), InvalidArgument, needle);
    };
    bad([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
    bad([](SamplingParams& p) { p.temperature = NAN; }, "temperature");
    bad([](SamplingParams& p) { p.top_k = -1; }, "top_k");
    bad([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p");
    bad([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
    bad([](SamplingParams& p) { p.min_p = 1.0f; }, "min_p");
    bad([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty");
    bad([](SamplingParams& p) { p.frequency_penalty = 3.0f; }, "frequency_penalty");
    bad([](SamplingParams& p) { p.presence_penalty = -2.5f; }, "presence_penalty");
    bad([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens");
    bad([](SamplingParams& p) { p.repeat_last_n = -1; }, "repeat_last_n");
    bad([](SamplingParams& p) { p.stop = {""}; }, "stop");
    bad([](SamplingParams& p) { p.stop = std::vector<std::string>(17, "x"); }, "stop");
    SamplingParams ok;
    ok.validate();
    CHECK_THROWS_WITH(Sampler(ok, 4).sample(std::vector<float>(5), {}), InvalidArgument, "5 logits");
}

ENCLAVE_TEST(stop_strings_are_cut_even_across_pieces) {
    StopStringFilter f({"</answer>", "STOP"});
    std::string shown = f.push("The result is 4");
    shown += f.push("2.</ans");
    CHECK_EQ(shown, std::string("The result is 42."));  // "</ans" held back: it may become the stop string
    shown += f.push("wer> and more");
    CHECK(f.stopped());
    CHECK_EQ(shown, std::string("The result is 42."));
    CHECK_EQ(f.push("ignored"), std::string());
    StopStringFilter g({"STOP"});
    std::string s = g.push("ST");
    s += g.push("ART");  // not a stop after all: released
    s += g.flush();
    CHECK_EQ(s, std::string("START"));
    CHECK(!g.stopped());
}

ENCLAVE_TEST(incomplete_utf8_is_held_until_whole) {
    StopStringFilter f({});
    const std::string yen = "\xE5\x86\x86";  // 円
    CHECK_EQ(f.push("a" + yen.substr(0, 1)), std::string("a"));
    CHECK_EQ(f.push(yen.substr(1, 1)), std::string());
    CHECK_EQ(f.push(yen.substr(2, 1) + "b"), yen + "b");
    CHECK_EQ(f.push("\xF0\x9F"), std::string());
    const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD
    CHECK_EQ(f.flush(), replacement + replacement);  // the end cut a character: one U+FFFD a byte
}

ENCLAVE_TEST(bytes_that_form_no_character_come_out_as_replacement_characters) {
    // A model can sample any byte token: what leaves the filter must still be valid UTF-8 (JSON, protobuf).
    const std::string r = "\xEF\xBF\xBD";
    StopStringFilter f({});
    CHECK_EQ(f.push("a\x80" "b"), "a" + r + "b");               // a stray continuation byte
    CHECK_EQ(f.push("\xC3(x"), r + "(x");                     // a lead byte whose next byte is no continuation
    CHECK_EQ(f.push("\xC0\xAF"), r + r);                     // an overlong '/'
    CHECK_EQ(f.push("\xED\xA0\x80"), r + r + r);            // a UTF-16 surrogate
    CHECK_EQ(f.push("\xF4\x90\x80\x80!"), r + r + r + r + "!");  // past U+10FFFF
    CHECK_EQ(f.push("\xFF\xC3\xA9"), r + "\xC3\xA9");            // 0xFF, then a valid é
    StopStringFilter stop({"END"});
    CHECK_EQ(stop.push("x\x80" "EN"), "x" + r);  // "EN" held back for the stop string
    CHECK_EQ(stop.push("D"), std::string());
    CHECK(stop.stopped());
}

ENCLAVE_TEST_MAIN()
