// The one check harness of the plain (Qt-free) test executables.
//
// A test file defines test cases with ENCLAVE_TEST(name) { ... } and ends with ENCLAVE_TEST_MAIN().
// CHECK(cond) records a failure and continues; REQUIRE(cond) records it and leaves the current case.
// Every case runs even when an earlier one failed; an exception escaping a case is a failure.
// The last line printed is "N passed, N failed" (checks, not cases) and the exit code is non-zero on failure.
// A case may call SKIP(reason) to stop and report itself skipped (for instance the gpu label without a GPU).
#pragma once

#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace enclave_check {

struct Registry {
    struct Case {
        const char* name;
        std::function<void()> fn;
    };
    std::vector<Case> cases;
    long passed = 0;
    long failed = 0;
    long skipped = 0;
    static Registry& get() {  // test-harness registry: one per test executable by design
        static Registry r;
        return r;
    }
};

struct RequireFailed {};
struct Skipped {
    std::string reason;
};

inline bool record(bool ok, const char* expr, const char* file, int line, const std::string& detail = {}) {
    auto& r = Registry::get();
    if (ok) {
        ++r.passed;
    } else {
        ++r.failed;
        std::fprintf(stderr, "%s:%d: FAILED: %s%s%s\n", file, line, expr, detail.empty() ? "" : " -- ",
                     detail.c_str());
    }
    return ok;
}

struct Registrar {
    Registrar(const char* name, std::function<void()> fn) { Registry::get().cases.push_back({name, std::move(fn)}); }
};

inline int run_all(int argc, char** argv) {
    auto& r = Registry::get();
    const char* only = argc > 1 ? argv[1] : nullptr;
    for (auto& c : r.cases) {
        if (only && std::string(c.name).find(only) == std::string::npos) continue;
        std::fprintf(stderr, "[ RUN  ] %s\n", c.name);
        const long before = r.failed;
        try {
            c.fn();
        } catch (const RequireFailed&) {
        } catch (const Skipped& s) {
            ++r.skipped;
            std::fprintf(stderr, "[ SKIP ] %s: %s\n", c.name, s.reason.c_str());
            continue;
        } catch (const std::exception& e) {
            ++r.failed;
            std::fprintf(stderr, "[ FAIL ] %s: unexpected exception: %s\n", c.name, e.what());
        }
        std::fprintf(stderr, "[ %s ] %s\n", r.failed == before ? " OK " : "FAIL", c.name);
    }
    std::fflush(stderr);
    if (r.skipped)
        std::printf("%ld passed, %ld failed, %ld skipped\n", r.passed, r.failed, r.skipped);
    else
        std::printf("%ld passed, %ld failed\n", r.passed, r.failed);
    return r.failed == 0 ? 0 : 1;
}

template <class A, class B>
std::string describe_pair(const A& a, const B& b) {
    std::ostringstream os;
    os << "left=" << a << " right=" << b;
    return os.str();
}

// Evaluates each side once (the expressions may have side effects).
template <class A, class B>
bool check_eq(const A& a, const B& b, const char* expr, const char* file, int line) {
    const bool ok = a == b;
    return record(ok, expr, file, line, ok ? std::string() : describe_pair(a, b));
}

// Normalised L2 error ||a - b|| / ||b||; NaN or Inf anywhere gives +inf so it never passes a tolerance.
template <class VA, class VB>
double normalised_error(const VA& a, const VB& b) {
    double num = 0, den = 0;
    if (a.size() != b.size()) return INFINITY;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = b[i];
        if (!std::isfinite(x) || !std::isfinite(y)) return INFINITY;
        num += (x - y) * (x - y);
        den += y * y;
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return std::sqrt(num / den);
}

}  // namespace enclave_check

#define ENCLAVE_CHECK_CAT2(a, b) a##b
#define ENCLAVE_CHECK_CAT(a, b) ENCLAVE_CHECK_CAT2(a, b)
#define ENCLAVE_TEST(name)                                                                    \
    static void name();                                                                       \
    static ::enclave_check::Registrar ENCLAVE_CHECK_CAT(enclave_registrar_, name)(#name, name); \
    static void name()
#define ENCLAVE_TEST_MAIN() \
    int main(int argc, char** argv) { return ::enclave_check::run_all(argc, argv); }

#define CHECK(cond) ::enclave_check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ(a, b) ::enclave_check::check_eq((a), (b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_MSG(cond, msg) ::enclave_check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__, (msg))
#define REQUIRE(cond)                                                                     \
    do {                                                                                  \
        if (!::enclave_check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__)) \
            throw ::enclave_check::RequireFailed{};                                       \
    } while (0)
#define REQUIRE_MSG(cond, msg)                                                                   \
    do {                                                                                         \
        if (!::enclave_check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__, (msg))) \
            throw ::enclave_check::RequireFailed{};                                              \
    } while (0)
#define SKIP(reason) throw ::enclave_check::Skipped{reason}
// Expects `expr` to throw an exception of type `Ex` whose what() contains `needle`.
#define CHECK_THROWS_WITH(expr, Ex, needle)                                                               \
    do {                                                                                                  \
        std::string enclave_what_;                                                                        \
        bool enclave_threw_ = false;                                                                      \
        try {                                                                                             \
            (void)(expr);                                                                                 \
        } catch (const Ex& e) {                                                                           \
            enclave_threw_ = true;                                                                        \
            enclave_what_ = e.what();                                                                     \
        }                                                                                                 \
        const std::string enclave_needle_ = (needle);                                                    \
        ::enclave_check::record(enclave_threw_ && enclave_what_.find(enclave_needle_) != std::string::npos, \
                                #expr " throws " #Ex, __FILE__, __LINE__,                                 \
                                "expected a message containing \"" + enclave_needle_ + "\"; " +        \
                                    (enclave_threw_ ? "got: " + enclave_what_ : "did not throw"));       \
    } while (0)
