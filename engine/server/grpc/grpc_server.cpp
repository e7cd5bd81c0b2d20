#include "server/grpc/grpc_server.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>        // defines: grpc::Server, ServerBuilder, Status
#include <grpcpp/server_posix.h>  // defines: grpc::AddInsecureChannelFromFd
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/common/error.h"
#include "server/grpc/grpc_caller.h"

namespace enclave::server {

struct GrpcServer::Impl {
    std::vector<std::unique_ptr<grpc::Service>> services;
    std::string socket_path;
    grpc::ServerBuilder builder;
    std::vector<std::unique_ptr<int>> tls_ports;  // [listeners] the bound port, known after start()
    std::unique_ptr<grpc::Server> server;
    int listen_fd = -1;          // the Unix socket, accepted by `acceptor`
    int wake_fds[2] = {-1, -1};  // a pipe that tells the acceptor to stop
    std::thread acceptor;

    void accept_loop();
    void close_socket();
};

namespace {

std::string read_pem(const std::string& path, const char* what) {
    std::ifstream in(path);
    if (!in) throw Error(std::string("cannot read the TLS ") + what + " " + path);
    std::string pem((std::istreambuf_iterator<char>(in)), {});
    if (pem.find("-----BEGIN") == std::string::npos)
        throw Error(std::string("the TLS ") + what + " " + path + " is not PEM");
    return pem;
}

// Binds and listens on a Unix socket at `path` with mode 0600 from the start (umask), so there is no
// moment at which another user could connect.
int listen_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw Error("the socket path " + path + " is too long for a Unix socket");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(std::string("cannot create a Unix socket: ") + std::strerror(errno));
    const mode_t old = ::umask(0177);
    const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(old);
    if (bound != 0 || ::listen(fd, 128) != 0) {
        const std::string why = std::strerror(bound != 0 ? bind_errno : errno);
        ::close(fd);
        throw Error("cannot listen on the Unix socket " + path + ": " + why);
    }
    return fd;
}

}  // namespace

void GrpcServer::Impl::accept_loop() {
    const uid_t self = ::geteuid();
    for (;;) {
        pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fds[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;  // the client gave up already, or we ran out of fds: try the next one
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != self && cred.uid != 0)) {
            ::close(fd);  // the 0600 mode should have stopped it; belt and braces
            continue;
        }
        // Recorded before gRPC sees the connection, so the first call on it already finds its peer.
        record_unix_peer(fd, static_cast<int64_t>(cred.uid), static_cast<int64_t>(cred.pid));
        grpc::AddInsecureChannelFromFd(server.get(), fd);  // gRPC owns and closes fd from here
    }
}

void GrpcServer::Impl::close_socket() {
    if (acceptor.joinable()) {
        const char stop = 1;
        [[maybe_unused]] const auto n = ::write(wake_fds[1], &stop, 1);
        acceptor.join();
    }
    for (int& fd : {std::ref(listen_fd), std::ref(wake_fds[0]), std::ref(wake_fds[1])})
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
}

GrpcServer::GrpcServer() : impl_(std::make_unique<Impl>()) {}

void GrpcServer::add_service(std::unique_ptr<grpc::Service> service) {
    impl_->services.push_back(std::move(service));
}
GrpcServer::~GrpcServer() {
    stop();
}

void GrpcServer::set_unix_socket(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir = fs::path(path).parent_path();
    if (!dir.empty() && !fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec) throw Error("cannot create the socket directory " + dir.string() + ": " + ec.message());
        fs::permissions(dir, fs::perms::owner_all, ec);
    }
    impl_->socket_path = path;
}

size_t GrpcServer::add_tls_listener(const std::string& host, int port, const std::string& cert_file,
                                    const std::string& key_file, const std::string& client_ca_file) {
    // Read by gRPC once, when the first TLS credentials are created: only AEAD suites for TLS 1.2.
    ::setenv("GRPC_SSL_CIPHER_SUITES", kGrpcTlsCipherSuites, 1);
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({read_pem(key_file, "key"), read_pem(cert_file, "certificate")});
    if (!client_ca_file.empty()) {
        options.pem_root_certs = read_pem(client_ca_file, "client CA");
        options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    impl_->tls_ports.push_back(std::make_unique<int>(0));
    impl_->builder.AddListeningPort(host + ":" + std::to_string(port), grpc::SslServerCredentials(options),
                                    impl_->tls_ports.back().get());
    return impl_->tls_ports.size() - 1;
}

void GrpcServer::start() {
    auto& m = *impl_;
    if (!m.socket_path.empty()) {
        std::error_code ec;
        if (std::filesystem::is_socket(m.socket_path, ec)) std::filesystem::remove(m.socket_path, ec);  // a stale one
        m.listen_fd = listen_unix(m.socket_path);
        // Only the engine's OS user may connect to the socket: it is the engine's local front door.
        if (::chmod(m.socket_path.c_str(), 0600) != 0) {
            m.close_socket();
            throw Error("cannot set mode 0600 on " + m.socket_path);
        }
    }
    auto& b = m.builder;
    for (auto& service : m.services) b.RegisterService(service.get());
    b.SetMaxReceiveMessageSize(4 << 20);
    m.server = b.BuildAndStart();
    if (!m.server) {
        m.close_socket();
        throw Error("cannot listen on a TLS address (in use, or not an address here)");
    }
    for (const auto& p : m.tls_ports)
        if (*p == 0) {
            stop();
            throw Error("a TLS listener could not bind its address");
        }
    if (m.listen_fd >= 0) {
        if (::pipe2(m.wake_fds, O_CLOEXEC) != 0) {
            stop();
            throw Error("cannot create the socket acceptor's pipe");
        }
        m.acceptor = std::thread([&m] { m.accept_loop(); });
    }
}

int GrpcServer::tls_port(size_t listener) const {
    return *impl_->tls_ports.at(listener);
}

void GrpcServer::stop() {
    if (!impl_) return;
    impl_->close_socket();  // no new connections first
    if (impl_->server) {
        impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
        impl_->server->Wait();
        impl_->server.reset();
    }
    if (!impl_->socket_path.empty()) {
        std::error_code ec;
        std::filesystem::remove(impl_->socket_path, ec);
    }
}

}  // namespace enclave::server
