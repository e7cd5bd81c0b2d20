// The CPU backend's thread pool: parallel_for covers [0, n) exactly once in pieces that depend only on n and
// the pool's size, and a thread that stalls (loses its core to another process) holds up one piece while the
// others take the rest of its share.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "core/backend/cpu/thread_pool.h"

using namespace enclave;

ENCLAVE_TEST(parallel_for_covers_every_index_once_in_fixed_pieces) {
    for (const int threads : {1, 2, 3, 7}) {
        ThreadPool pool(threads);
        for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{28}, int64_t{29}, int64_t{1000}}) {
            std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
            std::mutex m;
            std::vector<std::pair<int64_t, int64_t>> pieces;
            for (int rep = 0; rep < 20; ++rep) {
                std::vector<std::pair<int64_t, int64_t>> these;
                pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
                    REQUIRE(t >= 0 && t < threads);
                    for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
                    std::lock_guard lock(m);
                    these.emplace_back(b, e);
                });
                std::sort(these.begin(), these.end());
                if (rep == 0) pieces = these;
                CHECK_MSG(these == pieces, "pieces changed between runs: n " + std::to_string(n));
            }
            for (int64_t i = 0; i < n; ++i)
                CHECK_MSG(seen[static_cast<size_t>(i)].load() == 20,
                          std::to_string(threads) + " threads, n " + std::to_string(n) + ": index " + std::to_string(i) +
                              " ran " + std::to_string(seen[static_cast<size_t>(i)].load()) + " times in 20 runs");
            int64_t expect_begin = 0;
            for (const auto& [b, e] : pieces) {  // contiguous, in order, no gaps
                CHECK_EQ(b, expect_begin);
                expect_begin = e;
            }
            CHECK_EQ(expect_begin, n);
            CHECK(static_cast<int64_t>(pieces.size()) <= std::min<int64_t>(n, int64_t{threads} * ThreadPool::pieces_per_thread));
        }
    }
}

ENCLAVE_TEST(a_stalled_thread_holds_up_one_piece_not_its_share) {
    ThreadPool pool(2);
    const int64_t n = 64;  // 8 pieces: 4 of thread 0's, 4 of thread 1's
    std::atomic<int64_t> indices_of[2] = {0, 0};
    std::atomic<bool> stalled{false};
    pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
        if (t == 1 && !stalled.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        indices_of[t].fetch_add(e - b);
    });
    // With one share a thread, thread 1 would have done its 32 indices after its stall; here thread 0 takes
    // every piece thread 1 did not start, so thread 1 does at most the one piece (8 indices) it stalled in.
    CHECK_MSG(indices_of[1].load() <= 8, "the stalled thread ran " + std::to_string(indices_of[1].load()) + " indices");
    CHECK_EQ(indices_of[0].load() + indices_of[1].load(), n);
}

ENCLAVE_TEST_MAIN()
