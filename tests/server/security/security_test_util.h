// Shared by the security tests: a fresh state directory, a movable clock and fast argon2 parameters.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "server/security/crypto.h"
#include "server/security/security_service.h"

namespace sec_test {

namespace fs = std::filesystem;
using namespace enclave::server::security;

inline fs::path fresh_dir(const std::string& name) {
    const auto dir = fs::temp_directory_path() / ("enclave_tst_sec_" + std::to_string(getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

struct Clock {
    std::shared_ptr<std::atomic<int64_t>> t = std::make_shared<std::atomic<int64_t>>(1'750'000'000'000);
    std::function<int64_t()> fn() const {
        auto p = t;
        return [p] { return p->load(); };
    }
    void advance(int64_t ms) { *t += ms; }
};

inline SecurityOptions options(const fs::path& dir, const Clock& clock) {
    SecurityOptions o;
    o.state_dir = dir;
    o.clock_ms = clock.fn();
    o.password_opslimit = PasswordHasher::kMinOpsLimit;  // the floor: tests hash often
    o.password_memlimit = PasswordHasher::kMinMemLimit;
    return o;
}

inline std::string read_secret(const fs::path& file) {
    std::ifstream in(file);
    std::string s;
    std::getline(in, s);
    return s;
}

inline Caller socket_caller(const std::string& credential = {}) {
    Caller c;
    c.transport = Transport::unix_socket;
    c.peer = "uid=1000 pid=42";
    c.credential = credential;
    return c;
}

constexpr const char* kPassword = "Correct-Horse-42";

}  // namespace sec_test
