// The serving side of the gRPC API (api/enclave.proto): Generation, Models, Telemetry, Health,
// Conversations and Alerts. Each handler authorises through ServerParts::authorizer first, then only
// validates, enqueues and streams. Identity services (Auth, Users, Audit) live in security's files.
#pragma once

#include <grpcpp/impl/service_type.h>

#include <memory>

#include "server/server_parts.h"

namespace enclave::server::grpc_api {

std::unique_ptr<grpc::Service> make_generation_service(ServerParts& parts);
std::unique_ptr<grpc::Service> make_models_service(ServerParts& parts);
std::unique_ptr<grpc::Service> make_telemetry_service(ServerParts& parts);
std::unique_ptr<grpc::Service> make_health_service(ServerParts& parts);
std::unique_ptr<grpc::Service> make_conversations_service(ServerParts& parts);
std::unique_ptr<grpc::Service> make_alerts_service(ServerParts& parts);

}  // namespace enclave::server::grpc_api
