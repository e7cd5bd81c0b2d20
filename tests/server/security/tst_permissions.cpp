// The permission tables against the API and the docs: every method of enclave.proto has exactly one
// rule (and no rule names a method that does not exist), and docs/security.md carries the table that
// permissions_markdown() generates. ENCLAVE_UPDATE_DOCS=1 rewrites that section instead of failing.
#include <google/protobuf/descriptor.h>

#include <fstream>
#include <iterator>
#include <set>

#include "check.h"
#include "enclave.pb.h"
#include "server/security/permissions.h"

using namespace enclave::server::security;

static const char* g_docs = nullptr;

ENCLAVE_TEST(every_method_of_the_api_has_one_rule) {
    const auto* file = enclave::v1::AuditRecord::descriptor()->file();
    std::set<std::string> api;
    for (int s = 0; s < file->service_count(); ++s) {
        const auto* svc = file->service(s);
        for (int m = 0; m < svc->method_count(); ++m)
            api.insert("/" + svc->full_name() + "/" + svc->method(m)->name());
    }
    CHECK(api.size() > 30);
    for (const auto& m : api) CHECK_MSG(action_for_grpc_method(m).has_value(), "no rule for " + m);
    std::set<std::string> ruled;
    for (const auto& r : grpc_method_rules()) {
        CHECK_MSG(api.count(r.method) == 1, std::string("a rule for a method the API does not have: ") + r.method);
        CHECK_MSG(ruled.insert(r.method).second, std::string("two rules for ") + r.method);
    }
    std::set<int> actions;
    for (const auto& a : action_rules()) CHECK_MSG(actions.insert(static_cast<int>(a.action)).second, a.name);
}

ENCLAVE_TEST(docs_carry_the_generated_table) {
    REQUIRE(g_docs != nullptr);
    std::ifstream in(g_docs);
    REQUIRE_MSG(in.good(), std::string("cannot read ") + g_docs);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const std::string begin = "<!-- permissions:begin (generated from engine/server/security/permissions.cpp) -->\n";
    const std::string end = "<!-- permissions:end -->";
    const auto b = text.find(begin);
    const auto e = text.find(end);
    REQUIRE_MSG(b != std::string::npos && e != std::string::npos && e > b, "the markers are missing");
    const std::string current = text.substr(b + begin.size(), e - b - begin.size());
    const std::string want = permissions_markdown();
    if (current != want && std::getenv("ENCLAVE_UPDATE_DOCS")) {
        text = text.substr(0, b + begin.size()) + want + text.substr(e);
        std::ofstream(g_docs, std::ios::trunc) << text;
        return;
    }
    CHECK_MSG(current == want, "docs/security.md is out of date: run this test with ENCLAVE_UPDATE_DOCS=1");
}

int main(int argc, char** argv) {
    g_docs = argc > 1 ? argv[1] : nullptr;
    char* rest[] = {argv[0], argc > 2 ? argv[2] : nullptr};
    return ::enclave_check::run_all(argc > 2 ? 2 : 1, rest);
}
