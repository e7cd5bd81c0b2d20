// audit verify|export|query: the tamper-evident log, for auditors and scripts.
#include <cstdio>
#include <fstream>

#include "commands.h"
#include "identity_client.h"
#include "json_writer.h"

namespace enclave::cli {

namespace {
constexpr const char* kAuditUsage =
    "usage: enclave-engine audit <verify|export|query> [flags]\n"
    "  verify [--archive FILE]            check the hash chain (or a pruned archive); exit 1 when broken\n"
    "  export --format csv|json [--out FILE] [filters]\n"
    "  query  [filters] [--limit N] [--before-seq S] [--json]\n"
    "filters: --since-ms T --until-ms T --actor NAME|PSEUDONYM --class AUTH|USER|KEY|MODEL|CONFIG|INFERENCE|AUDIT\n"
    "         --result ok|denied|error --text SUBSTRING\n";

sec::AuditFilter filter_of(const Args& a) {
    sec::AuditFilter f;
    f.since_ms = a.get_int("since-ms", 0, 0, INT64_MAX);
    f.until_ms = a.get_int("until-ms", 0, 0, INT64_MAX);
    f.action_class = a.get_or("class", "");
    f.result = a.get_or("result", "");
    f.text = a.get_or("text", "");
    f.limit = static_cast<int>(a.get_int("limit", 100, 1, 1000));
    f.before_seq = a.get_int("before-seq", 0, 0, INT64_MAX);
    return f;
}
}  // namespace

int cmd_audit(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0] == "--help") {
        std::fputs(kAuditUsage, argv.empty() ? stderr : stdout);
        return argv.empty() ? 2 : 0;
    }
    const std::string verb = argv[0];
    const Args args("audit " + verb, {argv.begin() + 1, argv.end()},
                    {ENCLAVE_IDENTITY_FLAGS,
                     {"archive", true, "verify this archive written by a retention prune"},
                     {"format", true, "csv or json"},
                     {"out", true, "write the export here (default stdout)"},
                     {"since-ms", true, "from this Unix time (ms)"},
                     {"until-ms", true, "up to this Unix time (ms)"},
                     {"actor", true, "a user name, pseudonym, cli:<user> or anonymous"},
                     {"class", true, "action class"},
                     {"result", true, "ok, denied or error"},
                     {"text", true, "substring of target or details"},
                     {"limit", true, "records per page (1-1000, default 100)"},
                     {"before-seq", true, "the page after this record (from the previous page)"},
                     {"json", false, "print JSON"}});
    if (args.has("help")) {
        std::fputs(kAuditUsage, stdout);
        return 0;
    }
    if (verb == "verify") {
        sec::VerifyResult v;
        if (const auto archive = args.get("archive")) v = sec::AuditLog::verify_archive(*archive);
        else v = open_identity_client(args)->verify();
        if (v.ok) std::printf("ok: %lld records, the chain is intact\n", static_cast<long long>(v.records_checked));
        else
            std::printf("BROKEN at seq %lld: %s (%lld records read)\n", static_cast<long long>(v.first_bad_seq),
                        v.problem.c_str(), static_cast<long long>(v.records_checked));
        return v.ok ? 0 : 1;
    }
    auto client = open_identity_client(args);
    const auto filter = filter_of(args);
    const std::string actor = args.get_or("actor", "");
    if (verb == "export") {
        const std::string format = args.get_or("format", "json");
        std::ofstream file;
        if (const auto out = args.get("out")) {
            file.open(*out, std::ios::binary | std::ios::trunc);
            if (!file) throw UsageError("cannot write --out " + *out);
        }
        client->export_audit(filter, actor, format, [&](const std::string& chunk) {
            if (file.is_open()) file << chunk;
            else std::fwrite(chunk.data(), 1, chunk.size(), stdout);
        });
        if (file.is_open() && !file.flush()) throw Error("writing the export failed (disk full?)");
        return 0;
    }
    if (verb == "query") {
        const auto page = client->query(filter, actor);
        if (args.has("json")) {
            JsonWriter j;
            j.begin_object().key("records").begin_array();
            for (const auto& v : page.records) {
                const auto& r = v.record;
                j.begin_object()
                    .key("seq").value(r.seq)
                    .key("time_ms").value(r.time_ms)
                    .key("actor").value(r.actor)
                    .key("actor_name").value(v.actor_name)
                    .key("role").value(r.role)
                    .key("source").value(r.source)
                    .key("action_class").value(r.action_class)
                    .key("action").value(r.action)
                    .key("target").value(r.target)
                    .key("result").value(r.result)
                    .key("details").value(r.details)
                    .key("hash").value(r.hash)
                    .end_object();
            }
            j.end_array().key("next_before_seq").value(page.next_before_seq);
            j.key("total_matching").value(page.total_matching).end_object();
            std::printf("%s\n", j.str().c_str());
        } else {
            for (const auto& v : page.records) {
                const auto& r = v.record;
                std::printf("%8lld %lld %-20s %-8s %-9s %-22s %-24s %-6s %s\n", static_cast<long long>(r.seq),
                            static_cast<long long>(r.time_ms),
                            (v.actor_name.empty() ? r.actor : v.actor_name).c_str(), r.role.c_str(),
                            r.action_class.c_str(), r.action.c_str(), r.target.c_str(), r.result.c_str(),
                            r.details.c_str());
            }
            if (page.next_before_seq)
                std::printf("more: --before-seq %lld\n", static_cast<long long>(page.next_before_seq));
        }
        return 0;
    }
    throw UsageError("unknown audit command '" + verb + "'\n" + kAuditUsage);
}

}  // namespace enclave::cli
