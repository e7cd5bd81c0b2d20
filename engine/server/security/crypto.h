// The security code's cryptography, all from libsodium: argon2id password hashes, random tokens, SHA-256
// and constant-time comparison.
//
// PasswordHasher never goes below OWASP's argon2id floor (m = 19 MiB, t = 2, p = 1); the engine's
// default is t = 3, m = 64 MiB. At most four hashes run at once (each holds its memory), so a burst of
// logins queues instead of exhausting RAM. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace enclave::server::security {

using Sha256 = std::array<uint8_t, 32>;

class PasswordHasher {
public:
    static constexpr unsigned long long kMinOpsLimit = 2;
    static constexpr size_t kMinMemLimit = 19u << 20;
    PasswordHasher(unsigned long long opslimit, size_t memlimit);  // raised to the floor when below it

    std::string hash(std::string_view password) const;  // "$argon2id$v=19$m=...,t=...,p=1$..."
    bool verify(std::string_view stored, std::string_view password) const;
    // Spends the same time as verify() against a hash that matches nothing (unknown users, locked accounts).
    void dummy_verify(std::string_view password) const;
    bool needs_rehash(std::string_view stored) const;  // made with lower parameters than ours
    unsigned long long opslimit() const { return opslimit_; }
    size_t memlimit() const { return memlimit_; }

private:
    unsigned long long opslimit_;
    size_t memlimit_;
    std::string dummy_;
};

// Throws InvalidArgument naming the rule: 12 to 1024 bytes; at least three of lower case, upper case,
// digits and other characters unless it is 20 or more characters long (a passphrase); not containing
// the user name.
void check_password_rules(std::string_view password, std::string_view user_name);

// prefix + 43 characters of URL-safe base64 (256 random bits).
std::string random_token(std::string_view prefix);
std::string random_bytes(size_t n);

Sha256 sha256(std::string_view data);
std::string to_hex(const uint8_t* data, size_t n);
inline std::string to_hex(const Sha256& h) { return to_hex(h.data(), h.size()); }
bool constant_time_equal(std::string_view a, std::string_view b);

// Initialises libsodium once (idempotent, thread-safe); throws Error when it cannot.
void init_sodium();

}  // namespace enclave::server::security
