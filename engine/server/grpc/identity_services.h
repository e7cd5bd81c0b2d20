// The identity services of enclave.proto: Auth (bootstrap, login, logout, own account), Users (users,
// roles, limits, API keys, GDPR export and erase) and Audit (query, verify, export). Each handler
// authorises through the SecurityService with the action the permission table gives its method
// (security/permissions.h), then does the per-resource check (own keys, own data) in SecurityService.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "server/security/security_service.h"

namespace enclave::server {

// Auth, Users and Audit, for GrpcServer::add_service. They keep a reference to `security`, which must
// outlive the server.
std::vector<std::unique_ptr<grpc::Service>> make_identity_services(security::SecurityService& security);

}  // namespace enclave::server
