// bench: prompt processing (pp) and generation (tg) speed measured as llama-bench measures them, so the
// two can be compared side by side: pp = one forward over n random tokens from an empty cache (logits of
// the last only), tg = n single-token forwards from an empty cache; a warm-up run first; mean and
// standard deviation of tokens/s over --reps repetitions. Adds what llama-bench does not print: weight
// bytes read per generated token, the bandwidth that implies, and resident memory.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "args.h"
#include "commands.h"
#include "json_writer.h"
#include "loaded_model.h"

namespace enclave::cli {
namespace {

using clock_type = std::chrono::steady_clock;

struct Stats {
    double mean = 0, stddev = 0;
    std::vector<double> samples;
};

Stats stats_of(std::vector<double> v) {
    Stats s;
    s.samples = v;
    for (double x : v) s.mean += x;
    s.mean /= static_cast<double>(v.size());
    if (v.size() > 1) {
        double ss = 0;
        for (double x : v) ss += (x - s.mean) * (x - s.mean);
        s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
    }
    return s;
}

double run_pp(LoadedModel& m, int64_t n, int64_t n_batch, std::mt19937& rng) {
    std::vector<TokenId> tokens(static_cast<size_t>(n));
    std::uniform_int_distribution<TokenId> pick(0, static_cast<TokenId>(m.model->config().n_vocab - 1));
    for (auto& t : tokens) t = pick(rng);
    KvCache& cache = *m.cache;
    const auto seq = cache.create_sequence();
    if (!cache.reserve(seq, n)) throw InvalidArgument("--pp " + std::to_string(n) + " does not fit the context; raise --ctx");
    std::vector<float> logits;
    const auto t0 = clock_type::now();
    for (int64_t done = 0; done < n; done += n_batch) {
        const int64_t chunk = std::min(n_batch, n - done);
        StepSequence s{seq, std::span<const TokenId>(tokens).subspan(static_cast<size_t>(done), static_cast<size_t>(chunk)),
                       done + chunk == n ? LogitsWanted::last : LogitsWanted::none};
        m.model->forward(std::span(&s, 1), cache, logits);
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    cache.release_sequence(seq);
    return static_cast<double>(n) / secs;
}

double run_tg(LoadedModel& m, int64_t n, std::mt19937& rng) {
    std::uniform_int_distribution<TokenId> pick(0, static_cast<TokenId>(m.model->config().n_vocab - 1));
    KvCache& cache = *m.cache;
    const auto seq = cache.create_sequence();
    if (!cache.reserve(seq, n)) throw InvalidArgument("--tg " + std::to_string(n) + " does not fit the context; raise --ctx");
    std::vector<float> logits;
    const auto t0 = clock_type::now();
    for (int64_t i = 0; i < n; ++i) {
        const TokenId t = pick(rng);
        StepSequence s{seq, std::span(&t, 1), LogitsWanted::last};
        m.model->forward(std::span(&s, 1), cache, logits);
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    cache.release_sequence(seq);
    return static_cast<double>(n) / secs;
}

// Batched decode: `sequences` sequences generate n tokens each, one forward a step over all of them (what
// serving many streams does). Returns generated tokens a second, all sequences together.
double run_tg_batched(LoadedModel& m, int64_t n, int64_t sequences, std::mt19937& rng) {
    std::uniform_int_distribution<TokenId> pick(0, static_cast<TokenId>(m.model->config().n_vocab - 1));
    KvCache& cache = *m.cache;
    std::vector<KvCache::SeqId> seqs;
    for (int64_t i = 0; i < sequences; ++i) {
        seqs.push_back(cache.create_sequence());
        if (!cache.reserve(seqs.back(), n))
            throw InvalidArgument("--sequences " + std::to_string(sequences) + " x --tg " + std::to_string(n) +
                                  " do not fit the context; raise --ctx");
    }
    std::vector<TokenId> tokens(static_cast<size_t>(sequences));
    std::vector<StepSequence> step(static_cast<size_t>(sequences));
    std::vector<float> logits;
    const auto t0 = clock_type::now();
    for (int64_t i = 0; i < n; ++i) {
        for (size_t k = 0; k < step.size(); ++k) {
            tokens[k] = pick(rng);
            step[k] = StepSequence{seqs[k], std::span(&tokens[k], 1), LogitsWanted::last};
        }
        m.model->forward(step, cache, logits);
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    for (const auto s : seqs) cache.release_sequence(s);
    return static_cast<double>(n * sequences) / secs;
}

// Bytes of weights one decode step reads: every matrix and norm, one embedding row, the output matrix.
uint64_t weight_bytes_per_token(const Model& model) {
    uint64_t total = 0;
    const auto& c = model.config();
    for (const auto& t : model.file().tensors()) {
        if (t.name == "token_embd.weight") {
            total += c.tied_output ? t.n_bytes : t.n_bytes / static_cast<uint64_t>(c.n_vocab);
        } else {
            total += t.n_bytes;
        }
    }
    return total;
}

int64_t resident_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
    return -1;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& argv) {
    const Args args("bench", argv,
                    {ENCLAVE_MODEL_FLAGS,
                     {"pp", true, "prompt tokens (default 512; 0 skips)"},
                     {"tg", true, "generated tokens (default 128; 0 skips)"},
                     {"reps", true, "repetitions (default 3)"},
                     {"batch", true, "prefill chunk (default 512)"},
                     {"sequences", true, "decode this many sequences at once in tg (default 1; the aggregate rate is reported)"},
                     {"seed", true, "token seed (default 1)"},
                     {"json", false, "print JSON"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    const int64_t pp = args.get_int("pp", 512, 0, 1 << 20);
    const int64_t tg = args.get_int("tg", 128, 0, 1 << 20);
    const int64_t reps = args.get_int("reps", 3, 1, 1000);
    const int64_t n_batch = args.get_int("batch", 512, 1, 1 << 16);
    const int64_t sequences = args.get_int("sequences", 1, 1, 4096);
    LoadedModel m = load_model_from_args(args, std::max<int64_t>(pp + 16, sequences * (tg + 16)), false);
    std::mt19937 rng(static_cast<uint32_t>(args.get_int("seed", 1, 0, UINT32_MAX)));

    std::vector<double> pp_samples, tg_samples;
    if (pp > 0) {
        // Warm-up: pages, caches, thread spin-up. On a GPU at the measured size: a library's first call for each
        // product shape (cuBLAS picks and loads its kernels then) otherwise lands in the first repetition.
        run_pp(m, m.backend->name() == "cpu" ? std::min<int64_t>(pp, 32) : pp, n_batch, rng);
        for (int64_t r = 0; r < reps; ++r) pp_samples.push_back(run_pp(m, pp, n_batch, rng));
    }
    if (tg > 0) {
        if (sequences > 1) {
            run_tg_batched(m, std::min<int64_t>(tg, 4), sequences, rng);
            for (int64_t r = 0; r < reps; ++r) tg_samples.push_back(run_tg_batched(m, tg, sequences, rng));
        } else {
            run_tg(m, std::min<int64_t>(tg, 8), rng);
            for (int64_t r = 0; r < reps; ++r) tg_samples.push_back(run_tg(m, tg, rng));
        }
    }
    const uint64_t bytes_per_token = weight_bytes_per_token(*m.model);
    const int64_t rss = resident_bytes();
    const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
    const int n_threads = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());

    JsonWriter j;
    j.begin_object();
    j.key("model_filename").value(m.model->file().path().string());
    j.key("model_size").value(m.model->file().file_size());
    j.key("backend").value(std::string(m.backend->name())).key("n_threads").value(static_cast<int64_t>(n_threads));
    j.key("results").begin_array();
    auto emit = [&](const char* name, int64_t n_prompt, int64_t n_gen, const std::vector<double>& samples) {
        if (samples.empty()) return;
        const Stats s = stats_of(samples);
        j.begin_object().key("test").value(std::string(name) + std::to_string(n_prompt + n_gen));
        j.key("n_prompt").value(n_prompt).key("n_gen").value(n_gen);
        j.key("avg_ts").value(s.mean).key("stddev_ts").value(s.stddev).key("samples_ts").array(s.samples);
        if (n_gen > 0) {
            j.key("weight_bytes_per_token").value(bytes_per_token);
            j.key("bandwidth_gbs").value(static_cast<double>(bytes_per_token) * s.mean / 1e9);
        }
        j.end_object();
    };
    emit("pp", pp, 0, pp_samples);
    emit("tg", 0, tg, tg_samples);
    j.end_array();
    j.key("rss_bytes").value(rss).key("kv_cache_bytes").value(static_cast<uint64_t>(m.cache->bytes()));
    j.end_object();
    if (args.has("json")) {
        std::printf("%s\n", j.str().c_str());
    } else {
        std::printf("| model | backend | threads | test | t/s |\n|---|---|---|---|---|\n");
        auto row = [&](const char* name, int64_t n, const std::vector<double>& samples) {
            if (samples.empty()) return;
            const Stats s = stats_of(samples);
            std::printf("| %s | %s | %d | %s%lld | %.2f ± %.2f |\n", m.model->config().name.c_str(),
                        std::string(m.backend->name()).c_str(), n_threads, name, static_cast<long long>(n), s.mean, s.stddev);
        };
        row("pp", pp, pp_samples);
        row("tg", tg, tg_samples);
        if (!tg_samples.empty())
            std::printf("weights read per token: %.1f MiB; at tg: %.1f GB/s; resident: %.1f MiB (KV cache %.1f MiB)\n",
                        static_cast<double>(bytes_per_token) / 1048576.0,
                        static_cast<double>(bytes_per_token) * stats_of(tg_samples).mean / 1e9,
                        static_cast<double>(rss) / 1048576.0, static_cast<double>(m.cache->bytes()) / 1048576.0);
    }
    return 0;
}

}  // namespace enclave::cli
