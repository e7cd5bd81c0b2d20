// Exceptions of the engine core. Library code throws these on bad input or a failed device call; the
// process boundary (CLI exit code, gRPC status, HTTP error) converts them. Messages name what was wrong
// (the file, the field, the byte offset, the flag) so a user can act on them.
#pragma once

#include <stdexcept>
#include <string>

namespace enclave {

// Base of every error the core throws on purpose.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A model file that is malformed, truncated or uses something we do not support.
class ModelFormatError : public Error {
public:
    using Error::Error;
};

// A caller's argument out of range or inconsistent (sampling values, prompt too long, unknown template).
class InvalidArgument : public Error {
public:
    using Error::Error;
};

// A resource ran out: KV cache blocks, memory, file descriptors.
class ResourceExhausted : public Error {
public:
    using Error::Error;
};

// Something a caller named does not exist (or is not theirs to see: the message does not tell apart).
class NotFound : public Error {
public:
    using Error::Error;
};

}  // namespace enclave
