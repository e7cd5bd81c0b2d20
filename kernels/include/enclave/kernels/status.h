// Status: what every kernel launcher returns instead of throwing or aborting.
//
// Kernels never throw and never terminate the process on bad input: they validate shapes and types
// at the launcher and report through Status. The engine converts a failed Status into an exception
// (engine/core) and that into a gRPC status / HTTP error / exit code at the process boundary.
#pragma once

#include <string>
#include <utility>

namespace enclave::kernels {

class Status {
public:
    enum class Code { ok, invalid_argument, unsupported, device_error };

    Status() = default;
    static Status ok() { return {}; }
    static Status invalid_argument(std::string message) { return {Code::invalid_argument, std::move(message)}; }
    static Status unsupported(std::string message) { return {Code::unsupported, std::move(message)}; }
    static Status device_error(std::string message) { return {Code::device_error, std::move(message)}; }

    bool is_ok() const { return code_ == Code::ok; }
    explicit operator bool() const { return is_ok(); }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
    Code code_ = Code::ok;
    std::string message_;
};

}  // namespace enclave::kernels
