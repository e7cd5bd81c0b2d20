"""The engine's gRPC API on its Unix socket, driven by the official grpcio client with stubs generated
from engine/server/api/enclave.proto at test time.

usage: test_grpc_api.py ENGINE_EXE MODEL
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

from engine_fixture import Engine, pb, rpc, run_tests

ENGINE, MODEL = sys.argv[1], sys.argv[2]

QUESTION = "What is the capital of France?"


class GrpcApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.engine = Engine(ENGINE, [MODEL], ["--telemetry-period-ms", "100"])
        cls.socket = cls.engine.socket
        cls.channel = cls.engine.authed(cls.engine.admin)
        cls.generation = rpc.GenerationStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

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
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("nope", ctx.exception.details())

    def test_calls_without_a_session_are_refused(self):
        anonymous = rpc.GenerationStub(self.engine.channel)
        with self.assertRaises(grpc.RpcError) as ctx:
            list(anonymous.Generate(self.chat_request("hi", max_tokens=2), timeout=30))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        bogus = rpc.GenerationStub(self.engine.authed("ens_" + "0" * 43))
        with self.assertRaises(grpc.RpcError) as ctx:
            list(bogus.Generate(self.chat_request("hi", max_tokens=2), timeout=30))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

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
        cls.engine = Engine(ENGINE, [MODEL], ["--listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", key])
        m = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", cls.engine.ready_line)
        cls.address = m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

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
        p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--listen", "127.0.0.1:0", "--state-dir",
                            tempfile.mkdtemp()], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS only", p.stderr)


if __name__ == "__main__":
    run_tests()
