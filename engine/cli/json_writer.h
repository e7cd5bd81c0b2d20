// A small streaming JSON writer for the CLI's --json output (the GPU machine has no JSON library, and
// the CLI must build there from the C++ standard library alone).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace enclave::cli {

class JsonWriter {
public:
    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }
    JsonWriter& key(std::string_view k) {
        separator();
        quote(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    JsonWriter& value(std::string_view s) { return raw_value([&] { quote(s); }); }
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
    JsonWriter& value(int64_t v) { return raw(std::to_string(v)); }
    JsonWriter& value(int32_t v) { return raw(std::to_string(v)); }
    JsonWriter& value(uint64_t v) { return raw(std::to_string(v)); }
    JsonWriter& value(double v) {
        if (!(v == v) || v > 1e308 || v < -1e308) return raw("null");  // JSON has no NaN/Inf
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return raw(buf);
    }
    JsonWriter& null() { return raw("null"); }
    template <class T>
    JsonWriter& array(const std::vector<T>& v) {
        begin_array();
        for (const auto& x : v) value(x);
        return end_array();
    }
    const std::string& str() const { return out_; }

private:
    JsonWriter& open(char c) {
        separator();
        out_ += c;
        first_ = true;
        return *this;
    }
    JsonWriter& close(char c) {
        out_ += c;
        first_ = false;
        return *this;
    }
    JsonWriter& raw(std::string_view s) {
        separator();
        out_ += s;
        return *this;
    }
    template <class F>
    JsonWriter& raw_value(F f) {
        separator();
        f();
        return *this;
    }
    void separator() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_) out_ += ',';
        first_ = false;
    }
    // Invalid UTF-8 becomes U+FFFD so the output is always valid JSON.
    void quote(std::string_view s);

    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

}  // namespace enclave::cli
