// ServerParts: what the request fronts (gRPC and HTTP) share, built once by `serve` and outliving them.
// The fronts only validate, authorise, enqueue and stream; everything here is thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "server/model_registry.h"
#include "server/security/authorizer.h"
#include "server/telemetry/telemetry_history.h"

namespace enclave::server {

class ConversationStore;
class AlertEngine;

struct ServerParts {
    ModelRegistry& models;
    TelemetryHistory& telemetry;
    security::Authorizer& authorizer;
    ConversationStore& conversations;
    AlertEngine& alerts;
    std::filesystem::path model_dir;
    int64_t default_context_tokens = 0;  // for load requests and memory estimates; 0: min(4096, trained)
    std::string version;
};

}  // namespace enclave::server
