"""The engine's gRPC API on its Unix socket, driven by the official grpcio client with stubs generated
from engine/server/api/enclave.proto at test time.

usage: test_grpc_api.py ENGINE_EXE MODEL PROTO_DIR
Prints "N passed, N failed" last; exit status 1 on any failure.
"""
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
from grpc_tools import protoc

ENGINE, MODEL, PROTO_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
STUBS = tempfile.mkdtemp(prefix="enclave-stubs-")
if protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={STUBS}", f"--grpc_python_out={STUBS}",
                os.path.join(PROTO_DIR, "enclave.proto")]) != 0:
    raise SystemExit("protoc failed on enclave.proto")
sys.path.insert(0, STUBS)
import enclave_pb2 as pb  # noqa: E402
import enclave_pb2_grpc as rpc  # noqa: E402

QUESTION = "What is the capital of France?"


class GrpcApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.socket = tempfile.mkdtemp(prefix="enclave-grpc-") + "/run/engine.sock"
        cls.proc = subprocess.Popen([ENGINE, "serve", "--model", MODEL, "--http", "127.0.0.1:0", "--threads", "2",
                                     "--socket", cls.socket, "--telemetry-period-ms", "100"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        if "ready" not in line:
            cls.proc.kill()
            raise RuntimeError("engine did not start: " + line + cls.proc.stderr.read())
        cls.channel = grpc.insecure_channel("unix:" + cls.socket)
        cls.generation = rpc.GenerationStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.terminate()
        cls.proc.wait(timeout=30)

    def chat_request(self, content, **sampling):
        sampling.setdefault("temperature", 0)
        return pb.GenerateRequest(chat=pb.ChatInput(messages=[pb.ChatMessage(role="user", content=content)]),
                                  sampling=pb.Sampling(**sampling))

    def test_socket_is_private_to_the_engine_user(self):
        mode = stat.S_IMODE(os.stat(self.socket).st_mode)
        self.assertEqual(mode, 0o600, oct(mode))

    def test_generate_streams_the_cli_answer_then_finishes(self):
        cli = json.loads(subprocess.run([ENGINE, "run", "--model", MODEL, "--chat", "--prompt", QUESTION,
                                         "--temperature", "0", "--max-tokens", "40", "--json"],
                                        capture_output=True, text=True, check=True).stdout)
        events = list(self.generation.Generate(self.chat_request(QUESTION, max_tokens=40), timeout=120))
        self.assertEqual(events[-1].WhichOneof("event"), "finished")
        text = "".join(e.token.text for e in events if e.WhichOneof("event") == "token")
        ids = [e.token.id for e in events if e.WhichOneof("event") == "token" and e.token.id >= 0]
        self.assertEqual(text, cli["text"])
        self.assertEqual(ids, [i for i in cli["ids"] if i != cli["ids"][-1] or cli["finish_reason"] != "eos"])
        fin = events[-1].finished
        self.assertEqual(fin.reason, cli["finish_reason"])
        self.assertEqual(fin.prompt_tokens, len(cli["prompt_ids"]))
        self.assertEqual(fin.generated_tokens, len(cli["ids"]))

    def test_bad_requests_get_invalid_argument_naming_the_field(self):
        for sampling, needle in ((dict(temperature=-1), "temperature"), (dict(top_p=2), "top_p"),
                                 (dict(max_tokens=0), "max_tokens")):
            with self.assertRaises(grpc.RpcError) as ctx:
                list(self.generation.Generate(self.chat_request("hi", **sampling), timeout=30))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(needle, ctx.exception.details())
        with self.assertRaises(grpc.RpcError) as ctx:
            list(self.generation.Generate(pb.GenerateRequest(), timeout=30))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as ctx:
            list(self.generation.Generate(pb.GenerateRequest(model="nope", prompt="x"), timeout=30))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_cancel_mid_stream_leaves_the_engine_serving(self):
        call = self.generation.Generate(self.chat_request("Write a long story about a dragon.", max_tokens=300),
                                        timeout=120)
        for i, _ in enumerate(call):
            if i == 3:
                call.cancel()
                break
        self.assertTrue(rpc.HealthStub(self.channel).Check(pb.HealthRequest(), timeout=30).serving)
        events = list(self.generation.Generate(self.chat_request("hi", max_tokens=3), timeout=60))
        self.assertEqual(events[-1].WhichOneof("event"), "finished")

    def test_telemetry_history_and_live_stream(self):
        telemetry = rpc.TelemetryStub(self.channel)
        time.sleep(0.6)
        reply = telemetry.History(pb.HistoryRequest(), timeout=30)
        self.assertEqual(reply.period_ms, 100)
        self.assertGreaterEqual(len(reply.samples), 3)
        times = [s.time_ms for s in reply.samples]
        self.assertEqual(times, sorted(times))
        self.assertGreater(reply.samples[-1].process_resident_bytes, 0)
        self.assertGreater(reply.samples[-1].host_memory_total_bytes, reply.samples[-1].host_memory_available_bytes)
        thinned = telemetry.History(pb.HistoryRequest(max_samples=2), timeout=30).samples
        self.assertEqual([s.time_ms for s in thinned], [times[0], thinned[-1].time_ms])
        recent = telemetry.History(pb.HistoryRequest(since_ms=times[-1]), timeout=30).samples
        self.assertTrue(all(s.time_ms >= times[-1] for s in recent))
        live = telemetry.Live(pb.LiveRequest(), timeout=30)
        first, second = next(live), next(live)
        live.cancel()
        self.assertGreater(second.time_ms, first.time_ms)
        with self.assertRaises(grpc.RpcError) as ctx:
            telemetry.History(pb.HistoryRequest(max_samples=-1), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_models_and_health(self):
        models = rpc.ModelsStub(self.channel).ListModels(pb.ListModelsRequest(), timeout=30).models
        self.assertEqual(len(models), 1)
        self.assertEqual(models[0].id, re.sub(r"\.gguf$", "", os.path.basename(MODEL)))
        self.assertEqual(models[0].architecture, "llama")
        self.assertGreater(models[0].context_tokens, 0)
        self.assertTrue(rpc.HealthStub(self.channel).Check(pb.HealthRequest(), timeout=30).serving)


class TlsTest(unittest.TestCase):
    """gRPC over TCP is TLS only: a client that trusts the certificate is served, a plaintext one is not."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-tls-")
        cls.cert, key = d + "/engine.crt", d + "/engine.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.proc = subprocess.Popen([ENGINE, "serve", "--model", MODEL, "--http", "127.0.0.1:0", "--threads", "2",
                                     "--socket", d + "/engine.sock", "--listen", "127.0.0.1:0", "--tls-cert", cls.cert,
                                     "--tls-key", key], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        m = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", line)
        if not m:
            cls.proc.kill()
            raise RuntimeError("engine did not start with TLS: " + line + cls.proc.stderr.read())
        cls.address = m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)

    def test_tls_client_is_served(self):
        with open(self.cert, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel(self.address, creds) as channel:
            self.assertTrue(rpc.HealthStub(channel).Check(pb.HealthRequest(), timeout=30).serving)

    def test_plaintext_client_is_refused(self):
        with grpc.insecure_channel(self.address) as channel:
            with self.assertRaises(grpc.RpcError) as ctx:
                rpc.HealthStub(channel).Check(pb.HealthRequest(), timeout=10)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_listen_without_certificate_is_refused(self):
        p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS only", p.stderr)


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
