#include "server/security/crypto.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>

#include "core/common/error.h"

namespace enclave::server::security {
namespace {

// Argon2id holds memlimit bytes for each running hash: bound how many run at once.
class HashSlots {
public:
    void acquire() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return free_ > 0; });
        --free_;
    }
    void release() {
        {
            std::lock_guard lock(m_);
            ++free_;
        }
        cv_.notify_one();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    int free_ = 4;
};

HashSlots& slots() {
    static HashSlots s;  // process-wide bound on argon2 memory, shared by every hasher by design
    return s;
}

struct SlotGuard {
    SlotGuard() { slots().acquire(); }
    ~SlotGuard() { slots().release(); }
    SlotGuard(const SlotGuard&) = delete;
    SlotGuard& operator=(const SlotGuard&) = delete;
};

}  // namespace

void init_sodium() {
    static const int rc = sodium_init();  // thread-safe once; < 0 is failure
    if (rc < 0) throw Error("libsodium could not be initialised");
}

PasswordHasher::PasswordHasher(unsigned long long opslimit, size_t memlimit)
    : opslimit_(std::max(opslimit, kMinOpsLimit)), memlimit_(std::max(memlimit, kMinMemLimit)) {
    init_sodium();
    dummy_ = hash(random_token("dummy-"));
}

std::string PasswordHasher::hash(std::string_view password) const {
    char out[crypto_pwhash_STRBYTES];
    SlotGuard slot;
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), opslimit_, memlimit_,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw ResourceExhausted("argon2id could not allocate its memory for a password hash");
    return out;
}

bool PasswordHasher::verify(std::string_view stored, std::string_view password) const {
    const std::string s(stored);  // NUL-terminated for libsodium
    SlotGuard slot;
    return crypto_pwhash_str_verify(s.c_str(), password.data(), password.size()) == 0;
}

void PasswordHasher::dummy_verify(std::string_view password) const { (void)verify(dummy_, password); }

bool PasswordHasher::needs_rehash(std::string_view stored) const {
    const std::string s(stored);
    return crypto_pwhash_str_needs_rehash(s.c_str(), opslimit_, memlimit_) != 0;
}

void check_password_rules(std::string_view password, std::string_view user_name) {
    if (password.size() < 12) throw InvalidArgument("password: at least 12 characters");
    if (password.size() > 1024) throw InvalidArgument("password: at most 1024 bytes");
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (const unsigned char c : password) {
        if (c >= 'a' && c <= 'z') lower = 1;
        else if (c >= 'A' && c <= 'Z') upper = 1;
        else if (c >= '0' && c <= '9') digit = 1;
        else other = 1;
    }
    if (password.size() < 20 && lower + upper + digit + other < 3)
        throw InvalidArgument(
            "password: use three of lower case, upper case, digits and other characters, or 20 or more characters");
    if (!user_name.empty()) {
        std::string p(password), u(user_name);
        for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (auto& c : u) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (p.find(u) != std::string::npos) throw InvalidArgument("password: must not contain the user name");
    }
}

std::string random_bytes(size_t n) {
    init_sodium();
    std::string out(n, '\0');
    randombytes_buf(out.data(), n);
    return out;
}

std::string random_token(std::string_view prefix) {
    const std::string raw = random_bytes(32);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return std::string(prefix) + b64;
}

Sha256 sha256(std::string_view data) {
    Sha256 out;
    crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size());
    return out;
}

std::string to_hex(const uint8_t* data, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = digits[data[i] >> 4];
        s[2 * i + 1] = digits[data[i] & 15];
    }
    return s;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace enclave::server::security
