// top_k_row (cpu_ops.h): the reference for the CUDA top_k_rows, and the CPU backend's top_k.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

#include "enclave/kernels/cpu_ops.h"

namespace enclave::kernels {

uint32_t top_k_key(float v) noexcept {
    uint32_t u = std::bit_cast<uint32_t>(v);
    if (u == 0x80000000u) u = 0;                                          // -0 -> +0
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return 0;  // NaN: lowest
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

void top_k_row(const float* x, int64_t n, int64_t k, int32_t* ids, float* vals) noexcept {
    // One pass keeping the k best seen in a min-heap by (key, -index), then sorted: O(n log k).
    struct Entry {
        uint32_t key;
        int32_t id;
    };
    auto better = [](const Entry& a, const Entry& b) { return a.key > b.key || (a.key == b.key && a.id < b.id); };
    std::array<Entry, top_k_row_max> heap;  // [0, size): the worst kept entry at the front
    const auto kk = static_cast<size_t>(std::clamp<int64_t>(std::min(k, n), 0, top_k_row_max));
    size_t size = 0;
    for (int64_t i = 0; i < n; ++i) {
        const Entry e{top_k_key(x[i]), static_cast<int32_t>(i)};
        if (size < kk) {
            heap[size++] = e;
            std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), better);
        } else if (kk > 0 && better(e, heap[0])) {
            std::pop_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), better);
            heap[size - 1] = e;
            std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), better);
        }
    }
    std::sort(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), better);
    for (size_t j = 0; j < size; ++j) {
        ids[j] = heap[j].id;
        vals[j] = x[heap[j].id];
    }
}

}  // namespace enclave::kernels
