#include "server/config/serve_config.h"

#include <cstdio>

#include <toml++/toml.h>  // defines: toml::parse_file, toml::table

#include <set>

#include "core/common/error.h"

namespace enclave::server {
namespace {

class Reader {
public:
    Reader(const std::filesystem::path& file, const toml::table& root) : file_(file.string()), root_(root) {}

    // Every key of `table` (at `prefix`) must be one of `known`.
    void only(const toml::table& table, const std::string& prefix, const std::set<std::string>& known) const {
        for (const auto& [key, value] : table) {
            const std::string k(key.str());
            if (!known.count(k)) fail(prefix + k, "is not a known setting");
        }
    }

    void string(const toml::node* node, const std::string& key, std::string& out) const {
        if (!node) return;
        const auto v = node->value<std::string>();
        if (!node->is_string() || !v) fail(key, "must be a string");
        out = *v;
    }

    void strings(const toml::node* node, const std::string& key, std::vector<std::string>& out) const {
        if (!node) return;
        const toml::array* a = node->as_array();
        if (!a) fail(key, "must be an array of strings");
        out.clear();
        for (const auto& v : *a) {
            const auto s = v.value<std::string>();
            if (!v.is_string() || !s) fail(key, "must be an array of strings");
            out.push_back(*s);
        }
    }

    void integer(const toml::node* node, const std::string& key, int64_t min, int64_t max, int64_t& out) const {
        if (!node) return;
        if (!node->is_integer()) fail(key, "must be a whole number");
        const int64_t v = *node->value<int64_t>();
        if (v < min || v > max) fail(key, "= " + std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
                                              std::to_string(max) + ")");
        out = v;
    }

    void number(const toml::node* node, const std::string& key, double min, double max, double& out) const {
        if (!node) return;
        if (!node->is_number()) fail(key, "must be a number");
        const double v = node->is_integer() ? static_cast<double>(*node->value<int64_t>()) : *node->value<double>();
        const auto text = [](double x) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", x);
            return std::string(buf);
        };
        if (!(v >= min && v <= max)) fail(key, "= " + text(v) + " is out of range (" + text(min) + " to " + text(max) + ")");
        out = v;
    }

    void boolean(const toml::node* node, const std::string& key, bool& out) const {
        if (!node) return;
        if (!node->is_boolean()) fail(key, "must be true or false");
        out = *node->value<bool>();
    }

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw InvalidArgument(file_ + ": '" + key + "' " + what);
    }

private:
    std::string file_;
    const toml::table& root_;
};

}  // namespace

ServeConfig ServeConfig::from_toml_file(const std::filesystem::path& path) {
    toml::table root;
    try {
        root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw InvalidArgument(path.string() + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                              ": " + std::string(e.description()));
    }
    const Reader r(path, root);
    r.only(root, "", {"model", "load", "model_dir", "state_dir", "backend", "threads", "ctx", "kv_cache_share", "chat_template", "scheduler", "listen", "security"});
    ServeConfig c;
    r.string(root.get("model"), "model", c.model);
    r.strings(root.get("load"), "load", c.load);
    r.string(root.get("model_dir"), "model_dir", c.model_dir);
    r.string(root.get("state_dir"), "state_dir", c.state_dir);
    r.string(root.get("backend"), "backend", c.backend);
    if (c.backend != "cpu" && c.backend != "cuda") r.fail("backend", "must be \"cpu\" or \"cuda\"");
    r.integer(root.get("threads"), "threads", 0, 1024, c.threads);
    r.integer(root.get("ctx"), "ctx", 0, int64_t{1} << 24, c.ctx);
    r.number(root.get("kv_cache_share"), "kv_cache_share", 0.0, k_max_kv_cache_share, c.kv_cache_share);
    r.string(root.get("chat_template"), "chat_template", c.chat_template);
    if (const toml::node* s = root.get("scheduler")) {
        if (!s->is_table()) r.fail("scheduler", "must be a table");
        const toml::table& t = *s->as_table();
        r.only(t, "scheduler.", {"max_running", "batch", "queue", "prefix_cache"});
        r.integer(t.get("max_running"), "scheduler.max_running", 1, 4096, c.max_running);
        r.integer(t.get("batch"), "scheduler.batch", 1, 1 << 16, c.batch);
        r.integer(t.get("queue"), "scheduler.queue", 1, 1 << 20, c.queue);
        r.boolean(t.get("prefix_cache"), "scheduler.prefix_cache", c.prefix_cache);
    }
    if (const toml::node* l = root.get("listen")) {
        if (!l->is_table()) r.fail("listen", "must be a table");
        const toml::table& t = *l->as_table();
        r.only(t, "listen.", {"http", "http_threads", "http_hosts", "http_tls_cert", "http_tls_key", "socket", "tls",
                      "tls_cert", "tls_key", "tls_client_ca"});
        r.string(t.get("http_tls_cert"), "listen.http_tls_cert", c.http_tls_cert);
        r.string(t.get("http_tls_key"), "listen.http_tls_key", c.http_tls_key);
        r.strings(t.get("http_hosts"), "listen.http_hosts", c.http_hosts);
        r.string(t.get("http"), "listen.http", c.http);
        r.integer(t.get("http_threads"), "listen.http_threads", 2, 4096, c.http_threads);
        r.string(t.get("socket"), "listen.socket", c.socket);
        r.string(t.get("tls"), "listen.tls", c.tls);
        r.string(t.get("tls_cert"), "listen.tls_cert", c.tls_cert);
        r.string(t.get("tls_key"), "listen.tls_key", c.tls_key);
        r.string(t.get("tls_client_ca"), "listen.tls_client_ca", c.tls_client_ca);
    }
    if (const toml::node* s = root.get("security")) {
        if (!s->is_table()) r.fail("security", "must be a table");
        const toml::table& t = *s->as_table();
        r.only(t, "security.", {"session_idle_seconds", "session_absolute_seconds", "retention_days", "audit_archive_dir"});
        r.integer(t.get("session_idle_seconds"), "security.session_idle_seconds", 1, 7 * 86'400, c.session_idle_seconds);
        r.integer(t.get("session_absolute_seconds"), "security.session_absolute_seconds", 1, 30 * 86'400,
                  c.session_absolute_seconds);
        r.integer(t.get("retention_days"), "security.retention_days", 180, 36'500, c.retention_days);
        r.string(t.get("audit_archive_dir"), "security.audit_archive_dir", c.audit_archive_dir);
    }
    return c;
}

}  // namespace enclave::server
