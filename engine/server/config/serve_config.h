// ServeConfig: what `enclave-engine serve` needs, from a TOML file (--config) and then flags over it.
//
// The file is strict: an unknown key, a value of the wrong type or out of range is an error that names
// the file and the key (a typo must not silently fall back to a default). Example:
//
//   model = "SmolLM2-135M-Instruct.Q4_1"   # a name in model_dir, or a path
//   model_dir = "/srv/enclave/models"
//   backend = "cpu"                       # cpu | cuda
//   threads = 8
//   ctx = 8192                            # KV cache tokens
//   [scheduler]
//   max_running = 64
//   batch = 512
//   queue = 256
//   [listen]
//   http = "127.0.0.1:8080"
//   http_threads = 128
//   socket = "/run/enclave/engine.sock"
//   tls = "0.0.0.0:9443"                  # gRPC over TCP, TLS only
//   tls_cert = "/etc/enclave/engine.crt"
//   tls_key = "/etc/enclave/engine.key"
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace enclave::server {

struct ServeConfig {
    std::string model;        // empty: the default model
    std::string model_dir;    // empty: the default model directory
    std::string backend = "cpu";
    int64_t threads = 0;      // 0: all cores
    int64_t ctx = 0;          // 0: min(4096, the model's trained context)
    std::string chat_template;  // empty: detect from the file
    int64_t max_running = 64;
    int64_t batch = 512;
    int64_t queue = 256;
    std::string http = "127.0.0.1:8080";
    int64_t http_threads = 128;
    std::string socket;       // empty: $XDG_RUNTIME_DIR/enclave/engine.sock
    std::string tls;          // HOST:PORT of gRPC over TCP with TLS; empty: none
    std::string tls_cert;     // PEM files for it
    std::string tls_key;

    // Throws InvalidArgument naming the file and the key.
    static ServeConfig from_toml_file(const std::filesystem::path& path);
};

}  // namespace enclave::server
