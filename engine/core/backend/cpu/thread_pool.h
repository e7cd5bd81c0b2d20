// ThreadPool: a fixed set of workers that run one parallel region at a time, for the CPU backend's ops.
//
// Contract
// - run(fn) calls fn(thread_index, n_threads) once on every thread, the calling thread being index 0,
//   and returns when all calls have returned. One caller at a time (the backend's driving thread).
// - Workers spin briefly between regions (a decode step runs hundreds of short regions back to back, and
//   waking a sleeping thread costs more than the region) and then sleep, so an idle engine uses no CPU.
// - fn must not throw; an op validates its arguments before entering a region.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace enclave {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    template <class Fn>
    void run(Fn&& fn) {
        run_erased(&invoke<std::remove_reference_t<Fn>>, &fn);
    }

    // Splits [0, n) into contiguous pieces, pieces_per_thread for each thread: fn(begin, end, thread_index),
    // possibly several times on one thread. Each thread first works through its own pieces (its cursor's cache
    // line is its own, so on an idle machine this is the static split at the cost of a few uncontended atomic
    // adds), then takes what is left of the others'. On a machine shared with other work (the server's HTTP
    // threads, a client, other processes) a thread that loses its core then holds up one piece, not its whole
    // share. Piece bounds depend only on n and the pool's size, so results do not depend on who ran what.
    template <class Fn>
    void parallel_for(int64_t n, Fn&& fn) {
        if (n <= 0) return;
        const int64_t pieces = std::min<int64_t>(n, int64_t{n_threads_} * pieces_per_thread);
        for (int t = 0; t < n_threads_; ++t) {
            cursors_[static_cast<size_t>(t)].next.store(pieces * t / n_threads_, std::memory_order_relaxed);
            cursors_[static_cast<size_t>(t)].end = pieces * (t + 1) / n_threads_;
        }
        run([&](int t, int nt) {
            for (int k = 0; k < nt; ++k) {  // own pieces first, then the next thread's, and so on
                Cursor& c = cursors_[static_cast<size_t>((t + k) % nt)];
                if (c.next.load(std::memory_order_relaxed) >= c.end) continue;
                for (int64_t p = c.next.fetch_add(1, std::memory_order_relaxed); p < c.end;
                     p = c.next.fetch_add(1, std::memory_order_relaxed)) {
                    const int64_t begin = n * p / pieces;
                    const int64_t end = n * (p + 1) / pieces;
                    if (begin < end) fn(begin, end, t);
                }
            }
        });
    }
    static constexpr int pieces_per_thread = 4;

    // Hands out [0, n) one index at a time to whichever thread is free: fn(index, thread_index). For work
    // items of uneven cost (causal attention: later queries see more keys).
    template <class Fn>
    void parallel_for_dynamic(int64_t n, Fn&& fn) {
        std::atomic<int64_t> next{0};
        run([&](int t, int) {
            for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
                 i = next.fetch_add(1, std::memory_order_relaxed))
                fn(i, t);
        });
    }

private:
    using Trampoline = void (*)(void*, int, int);
    template <class Fn>
    static void invoke(void* ctx, int t, int nt) {
        (*static_cast<Fn*>(ctx))(t, nt);
    }
    void run_erased(Trampoline tramp, void* ctx);
    void worker_loop(int index);

    int n_threads_;
    std::vector<std::thread> workers_;
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> pending_{0};
    Trampoline tramp_ = nullptr;
    void* ctx_ = nullptr;
    std::atomic<bool> stop_{false};
    struct alignas(64) Cursor {  // a thread's pieces in parallel_for: [next, end)
        std::atomic<int64_t> next{0};
        int64_t end = 0;
    };
    std::vector<Cursor> cursors_;  // [n_threads], written before each region (run() publishes them)
};

}  // namespace enclave
