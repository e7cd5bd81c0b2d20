// ThreadPool: a fixed set of workers that run one parallel region at a time, for the CPU backend's ops.
//
// Contract
// - run(fn) calls fn(thread_index, n_threads) once on every thread, the calling thread being index 0,
//   and returns when all calls have returned. One caller at a time (the backend's driving thread).
// - Workers spin briefly between regions (a decode step runs hundreds of short regions back to back, and
//   waking a sleeping thread costs more than the region) and then sleep, so an idle engine uses no CPU.
// - fn must not throw; an op validates its arguments before entering a region.
#pragma once

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

    // Splits [0, n) into contiguous chunks, one per thread: fn(begin, end, thread_index).
    template <class Fn>
    void parallel_for(int64_t n, Fn&& fn) {
        run([&](int t, int nt) {
            const int64_t begin = n * t / nt;
            const int64_t end = n * (t + 1) / nt;
            if (begin < end) fn(begin, end, t);
        });
    }

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
};

}  // namespace enclave
