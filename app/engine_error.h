// EngineError: a failed gRPC call as the console shows it. Every error from the engine reaches the user
// through text() (translated), never as a silent failure; code keeps the gRPC status for decisions
// (UNAUTHENTICATED brings the login back, UNIMPLEMENTED says the engine lacks the feature).
#pragma once

#include <QMetaType>
#include <QString>

namespace enclave::app {

struct EngineError {
    int code = 0;         // grpc::StatusCode
    QString method;       // "Models.Load"
    QString message;      // the engine's own message (already names what was wrong)

    bool isUnavailable() const;      // the engine cannot be reached
    bool isUnimplemented() const;    // this engine does not offer the call yet
    bool isUnauthenticated() const;  // no, expired or revoked session
    bool isCancelled() const;        // we cancelled it (stop button, shutdown): not worth showing
    // One readable, translated sentence: what failed and why, in the user's language, followed by the
    // engine's own message in parentheses. Call it when showing, not when the error arrives, so a
    // language switch shows it again in the new language.
    QString text() const;
    // The translated part alone ("Users.CreateUser: the engine refused a value"); `message` is the rest.
    QString summary() const;
    // A TLS failure (untrusted certificate, wrong host name, pinned certificate mismatch).
    bool isTlsFailure() const;
    // The gRPC code's name, e.g. "UNAVAILABLE" (for logs).
    QString codeName() const;
};

}  // namespace enclave::app

Q_DECLARE_METATYPE(enclave::app::EngineError)
