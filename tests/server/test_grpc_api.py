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

    def test_socket_callers_are_audited_with_their_uid_and_pid(self):
        # The engine accepts the socket itself and reads SO_PEERCRED: this process is the peer.
        with self.assertRaises(grpc.RpcError):
            rpc.UsersStub(self.engine.channel).ListUsers(pb.ListUsersRequest(), timeout=30)
        page = rpc.AuditStub(self.channel).Query(pb.AuditQuery(result="denied", limit=5), timeout=30)
        self.assertEqual(page.records[0].source, f"socket uid={os.getuid()} pid={os.getpid()}", page.records[0])

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


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed(d, name, cn="localhost"):
    """A self-signed certificate for localhost and 127.0.0.1 (also usable as a CA): (cert, key)."""
    cert, key = f"{d}/{name}.crt", f"{d}/{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj",
            f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    return cert, key


def signed_by(d, name, ca, cn):
    """A client certificate `cn` signed by the CA (cert, key) `ca`: (cert, key)."""
    cert, key, csr = f"{d}/{name}.crt", f"{d}/{name}.key", f"{d}/{name}.csr"
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", cert, "-days", "1")
    return cert, key


def read(path):
    with open(path, "rb") as f:
        return f.read()


class ConversationsAndAlertsTest(unittest.TestCase):
    """Server-side conversations keep both sides of a chat; alert rules are listed, edited and validated;
    the metrics snapshot counts what was served."""

    setUpClass = classmethod(GrpcApiTest.setUpClass.__func__)
    tearDownClass = classmethod(GrpcApiTest.tearDownClass.__func__)

    def test_a_conversation_keeps_both_sides(self):
        conversations = rpc.ConversationsStub(self.channel)
        c = conversations.CreateConversation(pb.CreateConversationRequest(
            title="Capitals", system_prompt="Answer in one sentence.", sampling=pb.Sampling(temperature=0, max_tokens=24)),
            timeout=30)
        first = list(conversations.Send(pb.SendMessageRequest(conversation_id=c.summary.id, content=QUESTION), timeout=120))
        self.assertEqual(first[-1].WhichOneof("event"), "finished")
        answer = "".join(e.token.text for e in first if e.WhichOneof("event") == "token")
        second = list(conversations.Send(pb.SendMessageRequest(conversation_id=c.summary.id, content="And of Spain?"),
                                         timeout=120))
        # The second prompt holds the first exchange: more prompt tokens than the first.
        self.assertGreater(second[-1].finished.prompt_tokens, first[-1].finished.prompt_tokens + 5)
        got = conversations.GetConversation(pb.GetConversationRequest(id=c.summary.id), timeout=30)
        self.assertEqual([m.role for m in got.messages], ["user", "assistant", "user", "assistant"])
        self.assertEqual(got.messages[0].content, QUESTION)
        self.assertEqual(got.messages[1].content, answer)
        self.assertEqual(got.messages[1].tokens, first[-1].finished.generated_tokens)
        self.assertEqual(got.system_prompt, "Answer in one sentence.")
        self.assertEqual(got.sampling.max_tokens, 24)
        listed = conversations.ListConversations(pb.ListConversationsRequest(), timeout=30).conversations
        self.assertIn(c.summary.id, [x.id for x in listed])
        self.assertEqual([x.messages for x in listed if x.id == c.summary.id], [4])
        conversations.DeleteConversation(pb.DeleteConversationRequest(id=c.summary.id), timeout=30)
        with self.assertRaises(grpc.RpcError) as ctx:
            conversations.GetConversation(pb.GetConversationRequest(id=c.summary.id), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as ctx:
            list(conversations.Send(pb.SendMessageRequest(conversation_id=c.summary.id, content="hi"), timeout=30))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_alert_rules_are_edited_and_validated(self):
        alerts = rpc.AlertsStub(self.channel)
        reply = alerts.ListRules(pb.ListAlertRulesRequest(), timeout=30)
        by_metric = {r.metric: r for r in reply.rules}
        self.assertEqual((by_metric["gpu_temperature_celsius"].comparison, by_metric["gpu_temperature_celsius"].threshold),
                         (">", 85))
        self.assertIn("success_ratio", reply.metrics)
        rule = alerts.PutRule(pb.AlertRule(name="Busy", metric="running_requests", comparison=">=", threshold=1000,
                                           for_seconds=10, severity="warning", enabled=True), timeout=30)
        self.assertTrue(rule.id)
        self.assertIn(rule.id, [r.id for r in alerts.ListRules(pb.ListAlertRulesRequest(), timeout=30).rules])
        for bad, field in ((dict(metric="magic"), "metric"), (dict(comparison="=="), "comparison"),
                           (dict(severity="page"), "severity"), (dict(for_seconds=-1), "for_seconds")):
            fields = dict(name="x", metric="running_requests", comparison=">", threshold=1, severity="warning")
            fields.update(bad)
            with self.assertRaises(grpc.RpcError) as ctx:
                alerts.PutRule(pb.AlertRule(**fields), timeout=30)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(field, ctx.exception.details())
        alerts.DeleteRule(pb.DeleteAlertRuleRequest(id=rule.id), timeout=30)
        self.assertNotIn(rule.id, [r.id for r in alerts.ListRules(pb.ListAlertRulesRequest(), timeout=30).rules])
        events = alerts.ListEvents(pb.ListAlertEventsRequest(), timeout=30)
        self.assertEqual(len(events.firing), 0)  # an idle CPU engine fires nothing

    def test_metrics_snapshot_counts_what_was_served(self):
        telemetry = rpc.TelemetryStub(self.channel)
        time.sleep(0.3)  # the snapshot is the latest telemetry sample (100 ms period): let earlier tests' land
        before = telemetry.Metrics(pb.MetricsRequest(), timeout=30)
        events = list(rpc.GenerationStub(self.channel).Generate(pb.GenerateRequest(prompt="Once upon a time",
                                                                                   sampling=pb.Sampling(max_tokens=5)),
                                                                timeout=60))
        time.sleep(0.3)  # the next telemetry sample (100 ms period) takes the counters
        after = telemetry.Metrics(pb.MetricsRequest(), timeout=30)
        self.assertEqual(after.generated_tokens_total - before.generated_tokens_total, events[-1].finished.generated_tokens)
        self.assertEqual(after.requests_total - before.requests_total, 1)
        self.assertIn("enclave_requests_total", after.prometheus_text)
        self.assertEqual(after.success_ratio, 1.0)


class TlsTest(unittest.TestCase):
    """gRPC over TCP is TLS only (1.2 minimum, AEAD suites): a client that trusts the certificate is served;
    a plaintext one, one offering only TLS 1.0/1.1 or only non-AEAD suites is not."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-tls-")
        cls.cert, key = self_signed(d, "engine")
        cls.engine = Engine(ENGINE, [MODEL], ["--listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", key])
        m = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", cls.engine.ready_line)
        cls.address = m.group(1)

    def handshake(self, context):
        import socket
        host, port = self.address.split(":")
        context.set_alpn_protocols(["h2"])
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version(), tls.cipher()[0]

    def test_old_protocols_and_weak_suites_are_refused(self):
        import ssl
        version, _ = self.handshake(ssl.create_default_context(cafile=self.cert))
        self.assertEqual(version, "TLSv1.3")
        old = ssl.create_default_context(cafile=self.cert)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            old.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            self.handshake(old)
        cbc = ssl.create_default_context(cafile=self.cert)
        cbc.maximum_version = ssl.TLSVersion.TLSv1_2
        cbc.set_ciphers("ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256")  # no AEAD
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            self.handshake(cbc)
        aead12 = ssl.create_default_context(cafile=self.cert)
        aead12.maximum_version = ssl.TLSVersion.TLSv1_2
        version, cipher = self.handshake(aead12)
        self.assertEqual(version, "TLSv1.2")
        self.assertIn("GCM", cipher)

    def test_a_client_that_does_not_trust_the_certificate_or_names_another_host_fails(self):
        d = tempfile.mkdtemp(prefix="enclave-tls-other-")
        other, _ = self_signed(d, "other")
        with grpc.secure_channel(self.address, grpc.ssl_channel_credentials(root_certificates=read(other))) as ch:
            with self.assertRaises(grpc.RpcError) as ctx:
                rpc.HealthStub(ch).Check(pb.HealthRequest(), timeout=10)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
        options = [("grpc.ssl_target_name_override", "engine.example")]
        with grpc.secure_channel(self.address, grpc.ssl_channel_credentials(root_certificates=read(self.cert)),
                                 options=options) as ch:
            with self.assertRaises(grpc.RpcError) as ctx:
                rpc.HealthStub(ch).Check(pb.HealthRequest(), timeout=10)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)

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

    def test_a_client_ca_without_listen_is_refused(self):
        p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--tls-client-ca", self.cert, "--state-dir",
                            tempfile.mkdtemp()], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--listen", p.stderr)

    def test_listen_without_a_certificate_is_refused(self):
        p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--listen", "127.0.0.1:0", "--state-dir",
                            tempfile.mkdtemp()], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS only", p.stderr)


class ClientCertificateTest(unittest.TestCase):
    """--tls-client-ca: TLS clients must present a certificate that CA signed (the call still needs a
    session); the certificate's common name is in the audit record's source."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-mtls-")
        cls.cert, key = self_signed(d, "engine")
        cls.ca = self_signed(d, "clients-ca", cn="Enclave clients")
        cls.client = signed_by(d, "client1", cls.ca, "console-1")
        cls.stranger = signed_by(d, "stranger", self_signed(d, "other-ca", cn="Other CA"), "console-2")
        cls.engine = Engine(ENGINE, [MODEL], ["--listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", key,
                                              "--tls-client-ca", cls.ca[0]])
        cls.address = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", cls.engine.ready_line).group(1)

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

    def channel(self, client=None):
        kw = {}
        if client:
            kw = dict(private_key=read(client[1]), certificate_chain=read(client[0]))
        return grpc.secure_channel(self.address, grpc.ssl_channel_credentials(root_certificates=read(self.cert), **kw))

    def test_a_client_with_a_certificate_of_the_ca_is_served_and_audited_by_name(self):
        with self.channel(self.client) as ch:
            self.assertTrue(rpc.HealthStub(ch).Check(pb.HealthRequest(), timeout=30).serving)
            with self.assertRaises(grpc.RpcError) as ctx:
                rpc.UsersStub(ch).ListUsers(pb.ListUsersRequest(), timeout=30)  # a certificate is not a session
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        page = rpc.AuditStub(self.engine.channel).Query(pb.AuditQuery(result="denied", limit=5),
                                                        metadata=self.engine.md(self.engine.admin), timeout=30)
        self.assertTrue(page.records[0].source.startswith("tls ipv4:127.0.0.1:"), page.records[0].source)
        self.assertTrue(page.records[0].source.endswith(" cn=console-1"), page.records[0].source)

    def test_clients_without_a_certificate_or_with_another_cas_are_refused(self):
        for client in (None, self.stranger):
            with self.channel(client) as ch:
                with self.assertRaises(grpc.RpcError) as ctx:
                    rpc.HealthStub(ch).Check(pb.HealthRequest(), timeout=10)
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE, client)


if __name__ == "__main__":
    run_tests()
