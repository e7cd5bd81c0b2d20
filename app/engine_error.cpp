#include "app/engine_error.h"

#include <grpcpp/support/status_code_enum.h>  // defines: grpc::StatusCode

#include <QCoreApplication>

namespace enclave::app {

bool EngineError::isUnavailable() const { return code == grpc::StatusCode::UNAVAILABLE; }
bool EngineError::isUnimplemented() const { return code == grpc::StatusCode::UNIMPLEMENTED; }
bool EngineError::isUnauthenticated() const { return code == grpc::StatusCode::UNAUTHENTICATED; }
bool EngineError::isCancelled() const { return code == grpc::StatusCode::CANCELLED; }

QString EngineError::codeName() const {
    static const char* const names[] = {"OK",           "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
                                        "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",   "PERMISSION_DENIED",
                                        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",
                                        "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",      "DATA_LOSS",
                                        "UNAUTHENTICATED"};
    if (code >= 0 && code < int(std::size(names))) return QString::fromLatin1(names[code]);
    return QString::number(code);
}

bool EngineError::isTlsFailure() const {
    // gRPC reports a refused handshake as UNAVAILABLE with the TLS library's words in the message.
    return code == grpc::StatusCode::UNAVAILABLE &&
           (message.contains(QLatin1String("CERTIFICATE_VERIFY_FAILED")) || message.contains(QLatin1String("andshake")) ||
            message.contains(QLatin1String("peer certificate")) || message.contains(QLatin1String("SSL_ERROR")) ||
            message.contains(QLatin1String("ssl_transport_security")));
}

QString EngineError::summary() const {
    const auto tr = [](const char* s) { return QCoreApplication::translate("enclave::app::EngineError", s); };
    QString reason;
    switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
        reason = isTlsFailure() ? tr("the engine's TLS certificate was refused: it is not signed by the trusted CA, is not "
                                     "the pinned certificate, or was not issued for this host name")
                                : tr("the engine cannot be reached");
        break;
    case grpc::StatusCode::UNIMPLEMENTED: reason = tr("this engine does not offer it yet"); break;
    case grpc::StatusCode::UNAUTHENTICATED: reason = tr("the session is missing or has expired; please sign in"); break;
    case grpc::StatusCode::PERMISSION_DENIED: reason = tr("your role may not do this"); break;
    case grpc::StatusCode::INVALID_ARGUMENT: reason = tr("the engine refused a value"); break;
    case grpc::StatusCode::NOT_FOUND: reason = tr("not found"); break;
    case grpc::StatusCode::ALREADY_EXISTS: reason = tr("it already exists"); break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: reason = tr("the engine is busy or a limit was reached"); break;
    case grpc::StatusCode::DEADLINE_EXCEEDED: reason = tr("the engine did not answer in time"); break;
    case grpc::StatusCode::FAILED_PRECONDITION: reason = tr("not possible in the current state"); break;
    case grpc::StatusCode::CANCELLED: reason = tr("cancelled"); break;
    default: reason = tr("the engine reported an error"); break;
    }
    return QCoreApplication::translate("enclave::app::EngineError", "%1: %2").arg(method, reason);
}

QString EngineError::text() const {
    // The reason in the user's language; the engine's message follows as it is (it names fields and values).
    if (message.isEmpty()) return summary();
    return QCoreApplication::translate("enclave::app::EngineError", "%1 (%2)").arg(summary(), message);
}

}  // namespace enclave::app
