// EngineClient: the console's one connection to an engine's gRPC API (engine/server/api/enclave.proto).
//
// Threads: create, configure and call it from the GUI thread only. Each call runs on the client's own
// worker threads (a QThreadPool; a stream holds one thread while it is open), and its reply, each stream
// event and its end are delivered as queued calls on the `context` object's thread. A context destroyed
// before delivery drops the delivery (nothing runs on a dead object).
//
// Session: the token from Auth.Login/Bootstrap is kept and sent with every call as
// `authorization: Bearer <token>`. A call answered UNAUTHENTICATED emits sessionExpired() (the UI brings
// the login back) and then fails normally.
//
// Errors: a failed call goes to its onError callback when given, otherwise to callFailed(); nothing fails
// silently. Cancelled streams (stop button, shutdown) end with an error whose isCancelled() is true.
//
// Connection: the client polls Health.Check and emits connectionChanged() when the engine goes away or
// comes back; gRPC reconnects the channel by itself with a short backoff (at most 1 s), so after an engine
// restart on the same address calls work again without a new target.
#pragma once

#include <grpcpp/grpcpp.h>  // defines: grpc::Channel, ClientContext, ClientReader, Status

#include <QMutex>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QThreadPool>
#include <QTimer>
#include <atomic>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>

#include "app/engine_error.h"
#include "enclave.grpc.pb.h"

namespace enclave::app {

namespace v1 = ::enclave::v1;

// Where the engine is. Local engines listen on a Unix socket (no TLS: the socket is mode 0600); remote
// ones on TCP with TLS, always. The engine's certificate must chain to rootCertsPem (a CA bundle, or the
// engine's own self-signed certificate: pinning trusts exactly that one) and name the host (or
// serverName) in its subjectAltName; otherwise every call fails UNAVAILABLE and EngineError::isTlsFailure().
// An empty rootCertsPem is refused (isValid()): the system's CAs are never trusted implicitly.
struct EngineTarget {
    QString address;          // "unix:/run/user/1000/enclave/engine.sock" or "host:port"
    bool tls = false;         // required for TCP
    QByteArray rootCertsPem;  // CA file contents, or the engine's own (pinned) certificate
    QString serverName;       // checked against the certificate instead of the host (e.g. connecting by IP)
    bool isValid() const {
        return !address.isEmpty() && (address.startsWith(QLatin1String("unix:")) || (tls && !rootCertsPem.isEmpty()));
    }
};

// An open server stream; cancel() ends it (its onDone then sees a cancelled error). Safe from any thread.
class StreamHandle {
public:
    void cancel();
    bool finished() const { return m_finished.load(); }

private:
    friend class EngineClient;
    QMutex m_mutex;
    grpc::ClientContext* m_context = nullptr;  // set while the call runs
    bool m_cancelled = false;
    std::atomic<bool> m_finished{false};
};
using Stream = std::shared_ptr<StreamHandle>;

class EngineClient : public QObject {
    Q_OBJECT
public:
    explicit EngineClient(QObject* parent = nullptr);
    ~EngineClient() override;  // cancels open streams and waits for every worker

    // A new channel to `target`; calls already running finish on the old one.
    void setTarget(const EngineTarget& target);
    EngineTarget target() const { return m_target; }
    bool hasTarget() const { return m_stubs != nullptr; }

    void setSessionToken(const QString& token);
    QString sessionToken() const;

    bool isConnected() const { return m_connected; }
    // Checks now (a Health.Check) instead of at the next poll.
    void checkConnection();
    // Poll period while connected; while disconnected it polls every 500 ms.
    void setPollInterval(int ms) { m_pollMs = ms; }

    template <class Reply>
    using OnReply = std::function<void(const Reply&)>;
    using OnError = std::function<void(const EngineError&)>;

    // A unary call, e.g. call("Models.ListModels", &v1::Models::Stub::ListModels, req, this, onReply).
    template <class Stub, class Req, class Reply>
    void call(const char* method, grpc::Status (Stub::*fn)(grpc::ClientContext*, const Req&, Reply*), const Req& req,
              QObject* context, std::type_identity_t<OnReply<Reply>> onReply, OnError onError = {},
              int deadlineMs = 30000);

    // A server stream, e.g. stream("Generation.Generate", &v1::Generation::Stub::Generate, req, this, onEvent,
    // onDone). onDone gets nullptr when the stream ended OK, else the error.
    template <class Stub, class Req, class Event>
    Stream stream(const char* method,
                  std::unique_ptr<grpc::ClientReader<Event>> (Stub::*fn)(grpc::ClientContext*, const Req&),
                  const std::type_identity_t<Req>& req, QObject* context,
                  std::type_identity_t<OnReply<Event>> onEvent, std::function<void(const EngineError*)> onDone);

signals:
    void connectionChanged(bool connected);
    void sessionExpired();
    void callFailed(const enclave::app::EngineError& error);  // calls without their own onError

private:
    using Stubs = std::tuple<std::unique_ptr<v1::Generation::Stub>, std::unique_ptr<v1::Models::Stub>,
                             std::unique_ptr<v1::Telemetry::Stub>, std::unique_ptr<v1::Health::Stub>,
                             std::unique_ptr<v1::Auth::Stub>, std::unique_ptr<v1::Users::Stub>,
                             std::unique_ptr<v1::Audit::Stub>, std::unique_ptr<v1::Conversations::Stub>,
                             std::unique_ptr<v1::Alerts::Stub>>;

    void prepare(grpc::ClientContext& ctx) const;  // session header
    void track(grpc::ClientContext* ctx, bool add);
    // Runs on a worker: turns a finished status into the delivery on the GUI side.
    EngineError toError(const char* method, const grpc::Status& status) const;
    void deliverFailure(QPointer<QObject> context, const EngineError& error, OnError onError);
    void noteReachable(bool reachable);  // any thread
    void poll();

    EngineTarget m_target;
    std::shared_ptr<Stubs> m_stubs;  // shared with running calls, so a new target does not pull it away
    mutable QMutex m_tokenMutex;
    QString m_token;
    QThreadPool m_pool;
    QMutex m_liveMutex;
    QSet<grpc::ClientContext*> m_live;  // running calls, cancelled on destruction
    QTimer m_pollTimer;
    int m_pollMs = 2000;
    bool m_connected = false;
    bool m_pollInFlight = false;
    int m_missedPolls = 0;  // health checks in a row without an answer
};

// ---- templates -----------------------------------------------------------------------------------

template <class Stub, class Req, class Reply>
void EngineClient::call(const char* method, grpc::Status (Stub::*fn)(grpc::ClientContext*, const Req&, Reply*),
                        const Req& req, QObject* context, std::type_identity_t<OnReply<Reply>> onReply,
                        OnError onError, int deadlineMs) {
    QPointer<QObject> ctxObj(context);
    if (!m_stubs) {
        deliverFailure(ctxObj, EngineError{grpc::StatusCode::UNAVAILABLE, QString::fromLatin1(method), tr("not connected")},
                       onError);
        return;
    }
    auto stubs = m_stubs;
    m_pool.start([=, this] {
        grpc::ClientContext ctx;
        prepare(ctx);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadlineMs));
        track(&ctx, true);
        auto reply = std::make_shared<Reply>();
        const grpc::Status status = (std::get<std::unique_ptr<Stub>>(*stubs).get()->*fn)(&ctx, req, reply.get());
        track(&ctx, false);
        if (status.ok()) {
            noteReachable(true);
            if (ctxObj && onReply)
                QMetaObject::invokeMethod(ctxObj.data(), [onReply, reply] { onReply(*reply); }, Qt::QueuedConnection);
            return;
        }
        const EngineError error = toError(method, status);
        noteReachable(!error.isUnavailable());
        deliverFailure(ctxObj, error, onError);
    });
}

template <class Stub, class Req, class Event>
Stream EngineClient::stream(const char* method,
                            std::unique_ptr<grpc::ClientReader<Event>> (Stub::*fn)(grpc::ClientContext*, const Req&),
                            const std::type_identity_t<Req>& req, QObject* context,
                            std::type_identity_t<OnReply<Event>> onEvent,
                            std::function<void(const EngineError*)> onDone) {
    auto handle = std::make_shared<StreamHandle>();
    QPointer<QObject> ctxObj(context);
    auto finish = [this, ctxObj, onDone, handle](std::shared_ptr<EngineError> error) {
        handle->m_finished = true;
        if (error && error->isUnauthenticated()) QMetaObject::invokeMethod(this, &EngineClient::sessionExpired, Qt::QueuedConnection);
        if (ctxObj && onDone)
            QMetaObject::invokeMethod(ctxObj.data(), [onDone, error] { onDone(error.get()); }, Qt::QueuedConnection);
        else if (error && !error->isCancelled())
            QMetaObject::invokeMethod(this, [this, error] { emit callFailed(*error); }, Qt::QueuedConnection);
    };
    if (!m_stubs) {
        finish(std::make_shared<EngineError>(
            EngineError{grpc::StatusCode::UNAVAILABLE, QString::fromLatin1(method), tr("not connected")}));
        return handle;
    }
    auto stubs = m_stubs;
    m_pool.start([=, this] {
        grpc::ClientContext ctx;
        prepare(ctx);
        {
            QMutexLocker lock(&handle->m_mutex);
            if (handle->m_cancelled) ctx.TryCancel();
            handle->m_context = &ctx;
        }
        track(&ctx, true);
        auto reader = (std::get<std::unique_ptr<Stub>>(*stubs).get()->*fn)(&ctx, req);
        Event event;
        bool any = false;
        while (reader->Read(&event)) {
            if (!any) noteReachable(any = true);
            if (ctxObj && onEvent)
                QMetaObject::invokeMethod(ctxObj.data(), [onEvent, event] { onEvent(event); }, Qt::QueuedConnection);
        }
        const grpc::Status status = reader->Finish();
        {
            QMutexLocker lock(&handle->m_mutex);
            handle->m_context = nullptr;
        }
        track(&ctx, false);
        if (status.ok()) {
            noteReachable(true);
            finish(nullptr);
            return;
        }
        auto error = std::make_shared<EngineError>(toError(method, status));
        if (error->isUnavailable()) noteReachable(false);
        finish(error);
    });
    return handle;
}

}  // namespace enclave::app
