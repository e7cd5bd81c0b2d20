// ServeConfig: what `enclave-engine serve` needs, from a TOML file (--config) and then flags over it.
//
// The file is strict: an unknown key, a value of the wrong type or out of range is an error that names
// the file and the key (a typo must not silently fall back to a default). Example:
//
//   load = ["SmolLM2-135M-Instruct.Q4_1"] # names in model_dir (or paths), loaded at start
//   model_dir = "/srv/enclave/models"
//   state_dir = "/var/lib/enclave"        # users, audit log, conversations, alert rules
//   backend = "cpu"                       # cpu | cuda
//   threads = 8
//   ctx = 8192                            # KV cache tokens
//   kv_cache_share = 0.5                  # or: this share of the memory free after the weights
//   [scheduler]
//   max_running = 64
//   batch = 512
//   queue = 256
//   prefix_cache = true                 # reuse the K/V of prompt prefixes other requests computed
//   [listen]
//   http = "127.0.0.1:8080"
//   http_threads = 128
//   http_hosts = ["localhost", "127.0.0.1"] # Host header names HTTP accepts
//   http_tls_cert = "/etc/enclave/http.crt" # HTTPS; required when http is not on loopback
//   http_tls_key = "/etc/enclave/http.key"
//   socket = "/run/enclave/engine.sock"
//   tls = "0.0.0.0:9443"                  # gRPC over TCP, TLS only
//   tls_cert = "/etc/enclave/engine.crt"
//   tls_key = "/etc/enclave/engine.key"
//   tls_client_ca = "/etc/enclave/clients-ca.crt" # require client certificates signed by this CA
//   [security]
//   session_idle_seconds = 1800           # a session unused this long expires (up to 7 days)
//   session_absolute_seconds = 43200      # and every session after this long (up to 30 days)
//   retention_days = 180                  # audit records older than this are archived, then pruned
//   audit_archive_dir = "/var/lib/enclave/audit-archive" # default <state_dir>/audit-archive
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace enclave::server {

// Past this the weights of a hot swap's second model would find no room beside the first's KV cache.
inline constexpr double k_max_kv_cache_share = 0.95;

struct ServeConfig {
    std::string model;        // one more model to load (the older single-model key); empty: none
    std::vector<std::string> load;  // models loaded at start; none at all: the default model
    std::string model_dir;    // empty: the default model directory
    std::string state_dir;    // empty: $XDG_STATE_HOME/enclave or ~/.local/state/enclave
    std::string backend = "cpu";
    int64_t threads = 0;      // 0: all cores
    int64_t ctx = 0;          // KV cache tokens; 0: kv_cache_share, or the trained context (at most 16,384)
    double kv_cache_share = 0;  // > 0 (and ctx 0): the KV cache takes this share of the memory free after the weights
    std::string chat_template;  // empty: detect from the file
    int64_t max_running = 64;
    int64_t batch = 512;
    int64_t queue = 256;
    bool prefix_cache = true;
    std::string http = "127.0.0.1:8080";
    int64_t http_threads = 128;
    std::vector<std::string> http_hosts;  // empty: the loopback names and the listening host
    std::string http_tls_cert;  // HTTPS for the OpenAI API; needed when `http` is not a loopback address
    std::string http_tls_key;
    std::string socket;       // empty: $XDG_RUNTIME_DIR/enclave/engine.sock
    std::string tls;          // HOST:PORT of gRPC over TCP with TLS; empty: none
    std::string tls_cert;     // PEM files for it
    std::string tls_key;
    std::string tls_client_ca;  // PEM CA file: TLS clients must present a certificate it signed; empty: none

    int64_t session_idle_seconds = 30 * 60;
    int64_t session_absolute_seconds = 12 * 3600;
    int64_t retention_days = 180;  // never less than 180 (MLPS 2.0: six months)
    std::string audit_archive_dir;  // empty: <state_dir>/audit-archive

    // Throws InvalidArgument naming the file and the key.
    static ServeConfig from_toml_file(const std::filesystem::path& path);
};

}  // namespace enclave::server
