// bench_cuda_batch: many sequences at once on the CUDA backend, as llama-batched-bench measures them
// (-npp P -ntg G, B parallel sequences): each sequence is prefilled with P random tokens (steps of up to
// --chunk tokens, several sequences a step), then G decode steps of B tokens (one per sequence) run, every
// step returning the logits of all B tokens as the serving loop does. Prints one JSON line: prefill and
// generated tokens/s (all sequences together) and the device memory in use at the end.
// ENCLAVE_BENCH_LOGITS picks what a decode step returns, as the serving loop (Scheduler) would use it:
//   top (default): each sequence's 40 largest logits (Model::forward's top output, selected on the device), then
//                  a draw by the default sampler (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8) per sequence;
//   full:          every sequence's whole row of logits copied back, no sampling (sessions 2-4's measurement);
//   full_sample:   whole rows, then the same sampler on each row on the host (the serving loop before top).
// The JSON line also splits a step's wall time into the forward call and the host's sampling.
//   usage: bench_cuda_batch MODEL [B=256] [P=128] [G=128] [chunk=2048]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/backend/cuda/cuda_backend.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/runtime/kv_cache.h"
#include "core/runtime/sampler.h"

using namespace enclave;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL [B=256] [P=128] [G=128] [chunk=2048]\n", argv[0]);
        return 2;
    }
    const int64_t B = argc > 2 ? std::atoll(argv[2]) : 256, P = argc > 3 ? std::atoll(argv[3]) : 128,
                  G = argc > 4 ? std::atoll(argv[4]) : 128, chunk = argc > 5 ? std::atoll(argv[5]) : 2048;
    if (B < 1 || P < 1 || G < 1 || chunk < P) {
        std::fprintf(stderr, "bad arguments\n");
        return 2;
    }
    try {
        auto backend = make_cuda_backend(0);
        auto model = Model::load(gguf::GgufFile::open(argv[1]), *backend);
        const int64_t per_seq = (P + G + 15) / 16 * 16;
        // Warm-up: one step of as many tokens as a decode step, every row's logits (module load, cuBLAS handle,
        // first allocations, and each GEMM shape of the decode steps: cuBLAS's first call per shape and
        // ENCLAVE_CUDA_GEMM_TUNE's timed pick happen here, not in the timed steps).
        const int64_t warm = std::min(B, chunk);
        KvCache cache(*backend, model->config(), B * per_seq + (warm + 15) / 16 * 16, 16);  // + the warm-up's blocks
        std::mt19937 rng(1);
        std::uniform_int_distribution<TokenId> pick(0, static_cast<TokenId>(model->config().n_vocab - 1));
        std::vector<KvCache::SeqId> seqs;
        for (int64_t i = 0; i < B; ++i) {
            seqs.push_back(cache.create_sequence());
            if (!cache.reserve(seqs.back(), P + G)) throw Error("KV cache too small");
        }
        std::vector<std::vector<TokenId>> prompts(static_cast<size_t>(B), std::vector<TokenId>(static_cast<size_t>(P)));
        for (auto& p : prompts)
            for (auto& t : p) t = pick(rng);
        std::vector<float> logits;
        {
            auto w = cache.create_sequence();
            if (!cache.reserve(w, warm)) throw Error("KV cache too small for the warm-up");
            std::vector<TokenId> t(static_cast<size_t>(warm), 1);
            StepSequence s{w, t, LogitsWanted::all};
            model->forward(std::span(&s, 1), cache, logits);
            cache.release_sequence(w);
        }
        const auto t0 = clock_type::now();
        const int64_t per_step = std::max<int64_t>(1, chunk / P);
        for (int64_t i = 0; i < B; i += per_step) {
            std::vector<StepSequence> step;
            for (int64_t j = i; j < std::min(B, i + per_step); ++j)
                step.push_back({seqs[static_cast<size_t>(j)], prompts[static_cast<size_t>(j)], LogitsWanted::last});
            model->forward(step, cache, logits);
        }
        backend->synchronize();
        const double t_pp = std::chrono::duration<double>(clock_type::now() - t0).count();
        std::vector<TokenId> next(static_cast<size_t>(B));
        for (auto& t : next) t = pick(rng);
        const char* mode_env = std::getenv("ENCLAVE_BENCH_LOGITS");
        const std::string mode = mode_env && *mode_env ? mode_env : "top";
        if (mode != "top" && mode != "full" && mode != "full_sample") throw Error("ENCLAVE_BENCH_LOGITS: " + mode);
        const int32_t n_vocab = static_cast<int32_t>(model->config().n_vocab);
        std::vector<Sampler> samplers;
        for (int64_t j = 0; j < B; ++j) {
            SamplingParams sp;  // the defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
            sp.seed = static_cast<uint64_t>(j + 1);
            samplers.emplace_back(sp, n_vocab);
        }
        std::vector<TopLogit> top;
        std::vector<int32_t> top_ids;
        std::vector<float> top_logits;
        double t_forward = 0, t_sample = 0;
        const auto t1 = clock_type::now();
        for (int64_t g = 0; g < G; ++g) {
            std::vector<StepSequence> step;
            for (int64_t j = 0; j < B; ++j) {
                const auto sj = static_cast<size_t>(j);
                const int32_t k = mode == "top" ? samplers[sj].candidates_needed(prompts[sj], 256) : 0;
                step.push_back({seqs[sj], std::span(&next[sj], 1), LogitsWanted::last, k});
            }
            const auto f0 = clock_type::now();
            if (mode == "top")
                model->forward(step, cache, logits, top);
            else
                model->forward(step, cache, logits);
            const auto f1 = clock_type::now();
            if (mode == "full") {
                for (auto& t : next) t = pick(rng);
            } else {
                size_t at = 0;
                for (int64_t j = 0; j < B; ++j) {
                    const auto sj = static_cast<size_t>(j);
                    if (mode == "top") {
                        const auto k = static_cast<size_t>(step[sj].top_k);
                        top_ids.resize(k);
                        top_logits.resize(k);
                        for (size_t i = 0; i < k; ++i) top_ids[i] = top[at + i].id, top_logits[i] = top[at + i].logit;
                        at += k;
                        next[sj] = samplers[sj].sample_top(top_ids, top_logits);
                    } else {
                        next[sj] = samplers[sj].sample(
                            std::span<const float>(logits).subspan(sj * static_cast<size_t>(n_vocab),
                                                                   static_cast<size_t>(n_vocab)),
                            prompts[sj]);
                    }
                }
            }
            t_forward += std::chrono::duration<double>(f1 - f0).count();
            t_sample += std::chrono::duration<double>(clock_type::now() - f1).count();
        }
        const double t_tg = std::chrono::duration<double>(clock_type::now() - t1).count();
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        std::printf(
            "{\"B\": %lld, \"npp\": %lld, \"ntg\": %lld, \"logits\": \"%s\", \"pp_ts\": %.1f, \"tg_ts\": %.1f, "
            "\"tg_step_ms\": %.3f, \"forward_ms\": %.3f, \"sample_ms\": %.3f, \"device_mib_in_use\": %.0f}\n",
            static_cast<long long>(B), static_cast<long long>(P), static_cast<long long>(G), mode.c_str(),
            static_cast<double>(B * P) / t_pp, static_cast<double>(B * G) / t_tg, 1e3 * t_tg / static_cast<double>(G),
            1e3 * t_forward / static_cast<double>(G), 1e3 * t_sample / static_cast<double>(G),
            static_cast<double>(total_b - free_b) / 1048576.0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_batch: %s\n", e.what());
        return 1;
    }
    return 0;
}
