#include "app/engine_client.h"

#include <grpcpp/create_channel.h>  // defines: grpc::CreateCustomChannel

namespace enclave::app {

void StreamHandle::cancel() {
    QMutexLocker lock(&m_mutex);
    m_cancelled = true;
    if (m_context) m_context->TryCancel();
}

EngineClient::EngineClient(QObject* parent) : QObject(parent) {
    qRegisterMetaType<EngineError>();
    // Streams hold a thread each (chat, live telemetry, alert events, model loads): room for all at once.
    m_pool.setMaxThreadCount(32);
    m_pool.setExpiryTimeout(60000);
    m_pollTimer.setSingleShot(true);
    connect(&m_pollTimer, &QTimer::timeout, this, &EngineClient::poll);
}

EngineClient::~EngineClient() {
    m_pollTimer.stop();
    {
        QMutexLocker lock(&m_liveMutex);
        for (grpc::ClientContext* ctx : std::as_const(m_live)) ctx->TryCancel();
    }
    m_pool.waitForDone();
}

void EngineClient::setTarget(const EngineTarget& target) {
    m_target = target;
    if (!target.isValid()) {  // never a plaintext TCP channel, never TLS without a trust anchor
        m_stubs.reset();
        if (m_connected) {
            m_connected = false;
            emit connectionChanged(false);
        }
        return;
    }
    grpc::ChannelArguments args;
    // An engine restarted by the supervisor should be reachable again within about a second.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(64 << 20);  // telemetry history of 24 h, audit pages
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (target.tls) {
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = target.rootCertsPem.toStdString();
        creds = grpc::SslCredentials(ssl);
        // The name the certificate must carry when it differs from the address's host.
        if (!target.serverName.isEmpty()) args.SetSslTargetNameOverride(target.serverName.toStdString());
    } else {
        creds = grpc::InsecureChannelCredentials();  // only ever for the 0600 Unix socket (isValid())
    }
    auto channel = grpc::CreateCustomChannel(target.address.toStdString(), creds, args);
    m_stubs = std::make_shared<Stubs>(v1::Generation::NewStub(channel), v1::Models::NewStub(channel),
                                      v1::Telemetry::NewStub(channel), v1::Health::NewStub(channel),
                                      v1::Auth::NewStub(channel), v1::Users::NewStub(channel),
                                      v1::Audit::NewStub(channel), v1::Conversations::NewStub(channel),
                                      v1::Alerts::NewStub(channel));
    if (m_connected) {
        m_connected = false;
        emit connectionChanged(false);
    }
    checkConnection();
}

void EngineClient::setSessionToken(const QString& token) {
    QMutexLocker lock(&m_tokenMutex);
    m_token = token;
}

QString EngineClient::sessionToken() const {
    QMutexLocker lock(&m_tokenMutex);
    return m_token;
}

void EngineClient::prepare(grpc::ClientContext& ctx) const {
    const QString token = sessionToken();
    if (!token.isEmpty()) ctx.AddMetadata("authorization", "Bearer " + token.toStdString());
}

void EngineClient::track(grpc::ClientContext* ctx, bool add) {
    QMutexLocker lock(&m_liveMutex);
    if (add)
        m_live.insert(ctx);
    else
        m_live.remove(ctx);
}

EngineError EngineClient::toError(const char* method, const grpc::Status& status) const {
    return EngineError{int(status.error_code()), QString::fromLatin1(method), QString::fromStdString(status.error_message())};
}

void EngineClient::deliverFailure(QPointer<QObject> context, const EngineError& error, OnError onError) {
    if (error.isUnauthenticated()) QMetaObject::invokeMethod(this, &EngineClient::sessionExpired, Qt::QueuedConnection);
    if (onError && context) {
        QMetaObject::invokeMethod(context.data(), [onError, error] { onError(error); }, Qt::QueuedConnection);
        return;
    }
    if (onError) return;  // its owner is gone: nobody left to tell
    QMetaObject::invokeMethod(this, [this, error] { emit callFailed(error); }, Qt::QueuedConnection);
}

void EngineClient::noteReachable(bool reachable) {
    QMetaObject::invokeMethod(
        this,
        [this, reachable] {
            if (m_connected == reachable) return;
            m_connected = reachable;
            emit connectionChanged(reachable);
            if (!reachable) checkConnection();  // start polling quickly for its return
        },
        Qt::QueuedConnection);
}

void EngineClient::checkConnection() {
    m_pollTimer.stop();
    poll();
}

void EngineClient::poll() {
    if (!m_stubs || m_pollInFlight) return;
    m_pollInFlight = true;
    auto stubs = m_stubs;
    m_pool.start([this, stubs] {
        grpc::ClientContext ctx;
        // Health answers after a round trip through every model's step loop: on a loaded host a step can
        // take a second or more, so the deadline is generous.
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        track(&ctx, true);
        v1::HealthReply reply;
        const grpc::Status status = std::get<std::unique_ptr<v1::Health::Stub>>(*stubs)->Check(&ctx, v1::HealthRequest{}, &reply);
        track(&ctx, false);
        // Any answer but UNAVAILABLE/DEADLINE means a live engine (UNAUTHENTICATED included).
        const bool up = status.ok() || (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
                                        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
                                        status.error_code() != grpc::StatusCode::CANCELLED);
        const bool refused = status.error_code() == grpc::StatusCode::UNAVAILABLE;  // nothing listening
        QMetaObject::invokeMethod(
            this,
            [this, up, refused] {
                m_pollInFlight = false;
                // One check without an answer in time may be a busy host; two in a row (half a second apart)
                // is a lost engine, and so is a refused connection at once.
                m_missedPolls = up ? 0 : m_missedPolls + 1;
                const bool connected = up || (m_connected && !refused && m_missedPolls < 2);
                if (m_connected != connected) {
                    m_connected = connected;
                    emit connectionChanged(connected);
                }
                m_pollTimer.start(up ? m_pollMs : 500);
            },
            Qt::QueuedConnection);
    });
}

}  // namespace enclave::app
