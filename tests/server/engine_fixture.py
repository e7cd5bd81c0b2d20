"""A real `enclave-engine serve` for the Python tests: a private state directory, socket and HTTP port,
the first admin created with the one-time bootstrap secret (as an admin would), and helpers to make
users, sessions and API keys through the engine's own gRPC API.

Stubs are generated from engine/server/api/enclave.proto with grpcio-tools at import time.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "engine", "server", "api")
STUBS = tempfile.mkdtemp(prefix="enclave-stubs-")
if protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={STUBS}", f"--grpc_python_out={STUBS}",
                os.path.join(PROTO_DIR, "enclave.proto")]) != 0:
    raise SystemExit("protoc failed on enclave.proto")
sys.path.insert(0, STUBS)
import enclave_pb2 as pb  # noqa: E402
import enclave_pb2_grpc as rpc  # noqa: E402

ADMIN_PASSWORD = "Correct-Horse-Battery-Staple-9"



def gguf_metadata(path):
    """A GGUF file's scalar metadata (numbers, booleans, strings; arrays skipped), read here rather than asked of
    the engine under test."""
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    out = {}
    with open(path, "rb") as f:
        magic, _version, _tensors, n_kv = struct.unpack("<4sIQQ", f.read(24))
        if magic != b"GGUF":
            raise ValueError(path + " is not a GGUF file")

        def string():
            return f.read(struct.unpack("<Q", f.read(8))[0]).decode("utf-8", "replace")

        def value(kind):
            if kind == 8:
                return string()
            if kind == 9:
                item, count = struct.unpack("<IQ", f.read(12))
                for _ in range(count):
                    value(item)
                return None
            fmt = scalar[kind]
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        for _ in range(n_kv):
            key = string()
            v = value(struct.unpack("<I", f.read(4))[0])
            if v is not None:
                out[key] = v
    return out

class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, d, metadata):
        self.method, self.timeout, self.credentials = d.method, d.timeout, d.credentials
        self.wait_for_ready, self.compression, self.metadata = d.wait_for_ready, d.compression, metadata


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call, as the console's client does."""

    def __init__(self, token):
        self.token = token

    def _with_token(self, d):
        return _CallDetails(d, list(d.metadata or []) + [("authorization", "Bearer " + self.token)])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)


class Engine:
    """Starts the engine; `admin` is a bearer session of the first admin, `admin_key` an admin API key."""

    def __init__(self, engine, load, extra=(), model_dir=None, state_dir=None, bootstrap=True):
        self.root = tempfile.mkdtemp(prefix="enclave-engine-")
        self.state_dir = state_dir or os.path.join(self.root, "state")
        self.socket = os.path.join(self.root, "run", "engine.sock")
        args = [engine, "serve", "--http", "127.0.0.1:0", "--threads", "2", "--socket", self.socket,
                "--state-dir", self.state_dir]
        if model_dir:
            args += ["--model-dir", model_dir]
        for m in load:
            args += ["--load", m]
        self.proc = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ready_line = self.proc.stdout.readline()
        if "ready" not in self.ready_line:
            self.proc.kill()
            raise RuntimeError("engine did not start: " + self.ready_line + self.proc.stderr.read())
        m = re.search(r"(https?://[\d.]+:\d+)/v1", self.ready_line)
        self.http = m.group(1)
        self.channel = grpc.insecure_channel("unix:" + self.socket)
        self.admin = None
        self.admin_key = None
        if bootstrap:
            self.admin = self.bootstrap_admin()
            self.admin_key = self.create_key("tests-admin", pb.ROLE_ADMIN, self.admin)

    def authed(self, token):
        """A channel whose every call carries `token`."""
        return grpc.intercept_channel(self.channel, _Bearer(token))

    def md(self, token):
        return [("authorization", "Bearer " + token)] if token else []

    def bootstrap_admin(self, name="admin", password=ADMIN_PASSWORD):
        secret_file = os.path.join(self.state_dir, "bootstrap-secret")
        for _ in range(100):
            if os.path.exists(secret_file):
                break
            time.sleep(0.05)
        with open(secret_file) as f:
            secret = f.read().strip()
        reply = rpc.AuthStub(self.channel).Bootstrap(
            pb.BootstrapRequest(secret=secret, username=name, password=password), timeout=60)
        return reply.session_token

    def create_user(self, name, role, password="Tr0ubadour-And-Three-Dogs"):
        rpc.UsersStub(self.channel).CreateUser(pb.CreateUserRequest(name=name, role=role, password=password),
                                               metadata=self.md(self.admin), timeout=60)
        return rpc.AuthStub(self.channel).Login(pb.LoginRequest(username=name, password=password),
                                                timeout=60).session_token

    def create_key(self, name, role, token, models=()):
        reply = rpc.UsersStub(self.channel).CreateKey(pb.CreateKeyRequest(name=name, role=role, models=list(models)),
                                                      metadata=self.md(token), timeout=60)
        return reply.secret

    def stop(self):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_tests():
    import unittest
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
