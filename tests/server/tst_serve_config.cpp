// The serve config file: every setting read, and every mistake (unknown key, wrong type, out of range,
// broken TOML, missing file) refused with the file and the key named.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "core/common/error.h"
#include "server/config/serve_config.h"

using enclave::InvalidArgument;
using enclave::server::ServeConfig;

namespace {
std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / ("enclave_tst_cfg_" + std::to_string(getpid()) + name);
    std::ofstream(p) << text;
    return p;
}
}  // namespace

ENCLAVE_TEST(every_setting_is_read) {
    const auto p = write("ok.toml", R"(
model = "m.gguf"
model_dir = "/srv/models"
backend = "cuda"
threads = 6
ctx = 2048
kv_cache_share = 0.4
chat_template = "chatml"
[scheduler]
max_running = 8
batch = 128
queue = 9
[listen]
http = "0.0.0.0:9000"
http_threads = 16
socket = "/run/e.sock"
tls_client_ca = "/etc/enclave/clients.crt"
[security]
session_idle_seconds = 600
session_absolute_seconds = 7200
retention_days = 365
audit_archive_dir = "/srv/audit-archive"
)");
    const ServeConfig c = ServeConfig::from_toml_file(p);
    CHECK_EQ(c.model, std::string("m.gguf"));
    CHECK_EQ(c.model_dir, std::string("/srv/models"));
    CHECK_EQ(c.backend, std::string("cuda"));
    CHECK_EQ(c.threads, 6);
    CHECK_EQ(c.ctx, 2048);
    CHECK_EQ(c.kv_cache_share, 0.4);
    CHECK_EQ(c.chat_template, std::string("chatml"));
    CHECK_EQ(c.max_running, 8);
    CHECK_EQ(c.batch, 128);
    CHECK_EQ(c.queue, 9);
    CHECK_EQ(c.http, std::string("0.0.0.0:9000"));
    CHECK_EQ(c.http_threads, 16);
    CHECK_EQ(c.socket, std::string("/run/e.sock"));
    CHECK_EQ(c.tls_client_ca, std::string("/etc/enclave/clients.crt"));
    CHECK_EQ(c.session_idle_seconds, 600);
    CHECK_EQ(c.session_absolute_seconds, 7200);
    CHECK_EQ(c.retention_days, 365);
    CHECK_EQ(c.audit_archive_dir, std::string("/srv/audit-archive"));
    std::filesystem::remove(p);
}

ENCLAVE_TEST(an_empty_file_keeps_the_defaults) {
    const auto p = write("empty.toml", "");
    const ServeConfig c = ServeConfig::from_toml_file(p);
    const ServeConfig d;
    CHECK_EQ(c.http, d.http);
    CHECK_EQ(c.max_running, d.max_running);
    CHECK_EQ(c.backend, d.backend);
    CHECK_EQ(c.session_idle_seconds, 30 * 60);
    CHECK_EQ(c.session_absolute_seconds, 12 * 3600);
    CHECK_EQ(c.retention_days, 180);
    CHECK(c.audit_archive_dir.empty());
    std::filesystem::remove(p);
}

ENCLAVE_TEST(mistakes_name_the_file_and_key) {
    struct Case {
        const char* text;
        const char* needle;
    };
    const Case cases[] = {
        {"modle = \"x\"\n", "'modle' is not a known setting"},
        {"[scheduler]\nmax_runing = 3\n", "'scheduler.max_runing' is not a known setting"},
        {"threads = \"eight\"\n", "'threads' must be a whole number"},
        {"model = 3\n", "'model' must be a string"},
        {"backend = \"tpu\"\n", "'backend' must be \"cpu\" or \"cuda\""},
        {"[scheduler]\nbatch = 0\n", "'scheduler.batch' = 0 is out of range"},
        {"listen = 5\n", "'listen' must be a table"},
        {"kv_cache_share = 1.5\n", "'kv_cache_share' = 1.5"},
        {"kv_cache_share = -0.1\n", "is out of range (0"},
        {"kv_cache_share = \"half\"\n", "'kv_cache_share' must be a number"},
        {"[security]\nretention_days = 90\n", "'security.retention_days' = 90 is out of range (180 to"},
        {"[security]\nsession_idle_seconds = 0\n", "'security.session_idle_seconds' = 0 is out of range"},
        {"[security]\nsession_idle = 60\n", "'security.session_idle' is not a known setting"},
        {"security = \"strict\"\n", "'security' must be a table"},
        {"model = \"unterminated\n", ":1:"},
    };
    int i = 0;
    for (const auto& c : cases) {
        const auto p = write("bad" + std::to_string(i++) + ".toml", c.text);
        CHECK_THROWS_WITH(ServeConfig::from_toml_file(p), InvalidArgument, c.needle);
        CHECK_THROWS_WITH(ServeConfig::from_toml_file(p), InvalidArgument, p.string());
        std::filesystem::remove(p);
    }
    CHECK_THROWS_WITH(ServeConfig::from_toml_file("/nonexistent/enclave.toml"), InvalidArgument, "/nonexistent/enclave.toml");
}

ENCLAVE_TEST_MAIN()
