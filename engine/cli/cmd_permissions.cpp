// permissions: the permission matrix and the gRPC method and HTTP route tables, straight from
// security/permissions.cpp. docs/security.md's table and the authorisation matrix test
// (tests/server/test_authorization.py) both read this, so neither keeps a copy of the rules.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "json_writer.h"
#include "server/security/permissions.h"

namespace enclave::cli {

int cmd_permissions(const std::vector<std::string>& argv) {
    namespace sec = enclave::server::security;
    const Args args(
        "permissions", argv,
        {{"json", false, "print JSON (actions, grpc_methods, http_routes)"}, {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    if (!args.has("json")) {
        std::fputs(sec::permissions_markdown().c_str(), stdout);
        return 0;
    }
    JsonWriter j;
    j.begin_object().key("actions").begin_array();
    for (const auto& r : sec::action_rules()) {
        j.begin_object().key("name").value(r.name).key("anonymous").value(r.anonymous).key("roles").begin_array();
        for (const auto role : {sec::Role::admin, sec::Role::analyst, sec::Role::auditor})
            if (sec::role_may(role, r.action)) j.value(std::string(sec::role_name(role)));
        j.end_array().key("description").value(r.description).end_object();
    }
    j.end_array().key("grpc_methods").begin_array();
    for (const auto& m : sec::grpc_method_rules())
        j.begin_object()
            .key("method")
            .value(m.method)
            .key("action")
            .value(std::string(sec::action_name(m.action)))
            .end_object();
    j.end_array().key("http_routes").begin_array();
    for (const auto& r : sec::http_route_rules())
        j.begin_object()
            .key("verb")
            .value(r.verb)
            .key("path")
            .value(r.path)
            .key("action")
            .value(std::string(sec::action_name(r.action)))
            .end_object();
    j.end_array().end_object();
    std::printf("%s\n", j.str().c_str());
    return 0;
}

}  // namespace enclave::cli
