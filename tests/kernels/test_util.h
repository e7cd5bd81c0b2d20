// Helpers shared by the kernel tests: a seeded random source whose seed is printed (ENCLAVE_TEST_SEED
// replays a failure), normal-ish random rows, and float-vector comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace enclave_test {

// The run's seed: fresh each run unless ENCLAVE_TEST_SEED is set; printed once so a failure can be replayed.
inline uint64_t seed() {
    static const uint64_t s = [] {
        uint64_t v;
        if (const char* env = std::getenv("ENCLAVE_TEST_SEED")) {
            v = std::strtoull(env, nullptr, 0);
        } else {
            std::random_device rd;
            v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
        }
        std::fprintf(stderr, "seed: ENCLAVE_TEST_SEED=%llu\n", static_cast<unsigned long long>(v));
        return v;
    }();
    return s;
}

// One generator per test case, derived from the run seed and the case name, so cases do not depend on the
// order (or the filter) they run in.
inline std::mt19937_64 rng_for(const std::string& name) {
    uint64_t h = seed();
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return std::mt19937_64(h);
}

// Values like a transformer's activations and weights: Gaussian with a few large outliers and a scale
// that varies between blocks of 32.
inline std::vector<float> random_values(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uni(0.0f, 1.0f);
    std::vector<float> v(n);
    float block_scale = scale;
    for (size_t i = 0; i < n; ++i) {
        if (i % 32 == 0) block_scale = scale * (0.25f + 1.75f * uni(rng));
        v[i] = normal(rng) * block_scale;
        if (uni(rng) < 0.01f) v[i] *= 8.0f;  // outlier
    }
    return v;
}

// " <label> <v>" with v to 3 significant digits, for failure messages.
inline std::string fmt(const char* label, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return std::string(" ") + label + " " + buf;
}

}  // namespace enclave_test
