#include "core/backend/cpu/thread_pool.h"

#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>  // defines: _mm_pause
#endif

namespace enclave {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#endif
}
// Spinning bridges the few microseconds between two ops of a step; past that a thread yields its core
// and then sleeps, so an idle engine uses no CPU and an oversubscribed machine (tests running side by side)
// does not starve the thread being waited for. A pause costs 10-140 cycles depending on the CPU.
constexpr int spin_iterations = 2000;
constexpr int yield_iterations = 64;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads), cursors_(static_cast<size_t>(n_threads_)) {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_erased(Trampoline tramp, void* ctx) {
    if (n_threads_ == 1) {
        tramp(ctx, 0, 1);
        return;
    }
    tramp_ = tramp;
    ctx_ = ctx;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes tramp_/ctx_
    generation_.notify_all();
    tramp(ctx, 0, n_threads_);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < spin_iterations)
            cpu_relax();
        else
            std::this_thread::yield();
    }
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < spin_iterations + yield_iterations; ++spin) {
            if (spin < spin_iterations)
                cpu_relax();
            else
                std::this_thread::yield();
            gen = generation_.load(std::memory_order_acquire);
        }
        while (gen == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        if (stop_.load(std::memory_order_acquire)) return;
        tramp_(ctx_, index, n_threads_);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

}  // namespace enclave
