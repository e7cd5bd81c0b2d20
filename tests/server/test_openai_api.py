"""The OpenAI-compatible HTTP API of a real `enclave-engine serve`, driven by the official `openai` client.

usage: test_openai_api.py ENGINE_EXE MODEL   (run by ctest with the venv that ./enclave makes)
Prints "N passed, N failed" last; exit status 1 on any failure.
"""
import json
import re
import shutil
import tempfile
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request

import openai

from engine_fixture import Engine, gguf_metadata, pb, rpc, run_tests

ENGINE, MODEL = sys.argv[1], sys.argv[2]
MODEL_ID = MODEL.rsplit("/", 1)[-1].removesuffix(".gguf")
QUESTION = "What is the capital of France?"


class OpenAiApiTest(unittest.TestCase):
    extra_flags = []

    @classmethod
    def setUpClass(cls):
        cls.engine = Engine(ENGINE, [MODEL], cls.extra_flags)
        cls.base = cls.engine.http + "/v1"
        cls.client = openai.OpenAI(base_url=cls.base, api_key=cls.engine.admin_key, max_retries=0, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

    def chat(self, content, **kw):
        kw.setdefault("temperature", 0)
        return self.client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": content}],
                                                   **kw)

    def test_models_lists_the_loaded_model(self):
        self.assertEqual([m.id for m in self.client.models.list()], [MODEL_ID])

    def test_chat_equals_the_cli_and_counts_usage(self):
        cli = json.loads(subprocess.run([ENGINE, "run", "--model", MODEL, "--chat", "--prompt", QUESTION,
                                         "--temperature", "0", "--max-tokens", "40", "--json"],
                                        capture_output=True, text=True, check=True).stdout)
        r = self.chat(QUESTION, max_tokens=40)
        self.assertEqual(r.choices[0].message.content, cli["text"])
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assertEqual(r.usage.prompt_tokens, len(cli["prompt_ids"]))
        self.assertEqual(r.usage.completion_tokens, len(cli["ids"]))
        self.assertEqual(r.choices[0].finish_reason, "stop")

    def test_stream_deltas_add_up_to_the_whole_answer(self):
        whole = self.chat(QUESTION, max_tokens=30).choices[0].message.content
        parts, finish = [], None
        for chunk in self.chat(QUESTION, max_tokens=30, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        self.assertGreater(len(parts), 1)
        self.assertEqual("".join(parts), whole)
        self.assertIn(finish, ("stop", "length"))

    def test_max_tokens_gives_length(self):
        r = self.chat("Write a long story about a dragon.", max_tokens=5)
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 5)

    def test_completions_endpoint(self):
        r = self.client.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=4,
                                           temperature=0)
        self.assertTrue(r.choices[0].text)
        self.assertEqual(r.usage.completion_tokens, 4)

    def test_bad_fields_get_400_naming_the_field(self):
        for kw, param in ((dict(temperature=-1), "temperature"), (dict(top_p=1.5), "top_p"),
                          (dict(max_tokens=0), "max_tokens"), (dict(n=2), "n")):
            with self.assertRaises(openai.BadRequestError) as ctx:
                self.chat("hi", **kw)
            self.assertEqual(ctx.exception.body.get("param"), param, kw)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model=MODEL_ID, messages=[])

    def test_concurrent_streams_each_get_their_own_answer(self):
        # Batching changes float summation order, and a 135M Q4_1 model can then pick another near-tie
        # token, so answers are checked for their facts, not byte for byte: no stream may get another's.
        capitals = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid"}
        answers = {}

        def run(country):
            answers[country] = "".join(c.choices[0].delta.content or "" for c in
                                       self.chat(f"What is the capital of {country}?", max_tokens=16, stream=True)
                                       if c.choices)
        threads = [threading.Thread(target=run, args=(c,)) for c in capitals]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for country, city in capitals.items():
            self.assertIn(city, answers[country])
            for other in set(capitals.values()) - {city}:
                self.assertNotIn(other, answers[country])

    def test_one_request_may_use_the_trained_context(self):
        # With no --ctx the KV cache holds the model's trained context (GGUF context_length, 8,192 for SmolLM2;
        # the old default of 4,096 refused this request and made 32 streams of 150 tokens preempt each other).
        meta = gguf_metadata(MODEL)
        trained = meta[meta["general.architecture"] + ".context_length"]
        self.assertGreater(trained, 4096)
        stream = self.chat("Write a long story about a dragon.", max_tokens=trained - 100, stream=True)
        self.assertTrue(any(True for _ in zip(range(2), stream)))  # accepted and streaming
        stream.close()
        with self.assertRaises(openai.BadRequestError):  # beyond the cache: refused before anything runs
            self.chat("Write a long story about a dragon.", max_tokens=trained)

    def test_a_client_that_goes_away_does_not_hurt_the_engine(self):
        stream = self.chat("Write a long story about a dragon.", max_tokens=200, stream=True)
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
        with urllib.request.urlopen(self.base.removesuffix("/v1") + "/health", timeout=30) as h:
            self.assertEqual(json.loads(h.read())["status"], "ok")
        self.assertTrue(self.chat("hi", max_tokens=3).choices[0].message.content is not None)


class MetricsTest(unittest.TestCase):
    """/metrics is valid Prometheus text (promtool says so) and counts what was served."""

    setUpClass = classmethod(OpenAiApiTest.setUpClass.__func__)
    tearDownClass = classmethod(OpenAiApiTest.tearDownClass.__func__)
    extra_flags = []

    def metrics(self):
        request = urllib.request.Request(self.base.removesuffix("/v1") + "/metrics",
                                         headers={"Authorization": "Bearer " + self.engine.admin_key})
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read().decode()

    def test_metrics_need_a_key(self):
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(self.base.removesuffix("/v1") + "/metrics", timeout=30)
        self.assertEqual(ctx.exception.code, 401)

    def value(self, text, name):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))

    def test_metrics_pass_promtool_and_count_requests(self):
        before = self.metrics()
        r = self.client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "Hi"}],
                                                max_tokens=6, temperature=0)
        after = self.metrics()
        self.assertEqual(self.value(after, "enclave_requests_total") - self.value(before, "enclave_requests_total"), 1)
        self.assertEqual(self.value(after, "enclave_generated_tokens_total")
                         - self.value(before, "enclave_generated_tokens_total"), r.usage.completion_tokens)
        self.assertEqual(self.value(after, "enclave_prompt_tokens_total")
                         - self.value(before, "enclave_prompt_tokens_total"), r.usage.prompt_tokens)
        self.assertGreaterEqual(self.value(after, "enclave_time_to_first_token_seconds_count"), 1)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is needed; ./enclave installs it")
        check = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


    def test_limit_refusals_and_security_counters_are_in_the_metrics(self):
        reply = rpc.UsersStub(self.engine.channel).CreateKey(
            pb.CreateKeyRequest(name="one-a-minute", role=pb.ROLE_ANALYST,
                                limits=pb.Limits(requests_per_minute=1)),
            metadata=self.engine.md(self.engine.admin), timeout=60)
        limited = openai.OpenAI(base_url=self.base, api_key=reply.secret, max_retries=0, timeout=120)
        before = self.metrics()
        limited.completions.create(model=MODEL_ID, prompt="Hi", max_tokens=1)
        with self.assertRaises(openai.RateLimitError):
            limited.completions.create(model=MODEL_ID, prompt="Hi", max_tokens=1)
        with self.assertRaises(urllib.error.HTTPError):  # one denial more
            urllib.request.urlopen(self.base.removesuffix("/v1") + "/metrics", timeout=30)
        after = self.metrics()
        series = (f'enclave_limit_refusals_total{{subject="api_key",id="{reply.key.id}",'
                  f'limit="requests_per_minute"}}')
        self.assertIn(series + " 1\n", after)
        self.assertEqual(self.value(after, "enclave_rate_limited_total") -
                         self.value(before, "enclave_rate_limited_total"), 1)
        self.assertGreaterEqual(self.value(after, "enclave_authorization_denied_total") -
                                self.value(before, "enclave_authorization_denied_total"), 1)
        self.assertIn("enclave_audit_log_healthy 1\n", after)
        for family in ("enclave_logins_failed_total", "enclave_lockouts_total", "enclave_audit_write_failures_total"):
            self.assertIn(f"# TYPE {family} counter\n", after)
        check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=after, capture_output=True,
                               text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


def config_file(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    f.write(text)
    f.close()
    return f.name


class QueueLimitTest(unittest.TestCase):
    """With a queue of 1 (set in a --config file), a second request while one is open is refused at once
    with 429 and Retry-After."""

    setUpClass = classmethod(OpenAiApiTest.setUpClass.__func__)
    tearDownClass = classmethod(OpenAiApiTest.tearDownClass.__func__)
    extra_flags = ["--config", config_file("[scheduler]\nqueue = 1\n")]

    def test_a_full_queue_answers_429(self):
        first = self.client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "Write a long story about a dragon."}],
            max_tokens=400, temperature=0, stream=True)
        next(iter(first))  # the first request is open and streaming
        with self.assertRaises(openai.RateLimitError) as ctx:
            self.client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=2)
        self.assertEqual(ctx.exception.response.headers.get("retry-after"), "1")
        first.close()


class BadStartTest(unittest.TestCase):
    """serve refuses a bad config or flag with a clear message and a non-zero exit, before listening."""

    def test_bad_config_and_flags(self):
        import socket
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        unreadable = tempfile.NamedTemporaryFile(suffix=".gguf", delete=False)
        unreadable.write(b"GGUF\x03\x00\x00\x00" + b"\x00" * 8)
        unreadable.close()
        for args, needle in ((["--config", config_file("[scheduler]\nmax_runing = 3\n")], "max_runing"),
                             (["--http", "127.0.0.1:99999"], "--http"),
                             (["--http", f"127.0.0.1:{port}"], f"127.0.0.1:{port}"),
                             (["--load", unreadable.name], unreadable.name),
                             (["--model", "/nonexistent/m.gguf"], "/nonexistent/m.gguf"),
                             (["--kv-share", "2"], "--kv-share"),
                             (["--config", config_file("kv_cache_share = 1.5\n")], "kv_cache_share")):
            p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--state-dir", tempfile.mkdtemp()] + args,
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(needle, p.stderr, args)
        busy.close()


class HttpsTest(unittest.TestCase):
    """Exposed HTTP is HTTPS: TLS 1.2 minimum with AEAD suites; an old or weak client is refused."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-https-")
        cls.cert, key = d + "/http.crt", d + "/http.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        cls.engine = Engine(ENGINE, [MODEL], ["--http-tls-cert", cls.cert, "--http-tls-key", key])
        cls.address = re.search(r"https://([\d.]+):(\d+)/v1", cls.engine.ready_line).groups()

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

    def handshake(self, context):
        import socket
        import ssl
        with socket.create_connection((self.address[0], int(self.address[1])), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version(), tls.cipher()[0]

    def test_openai_client_over_https(self):
        import ssl
        # The client trusts exactly the engine's certificate (DefaultHttpxClient passes verify to the transport).
        client = openai.OpenAI(base_url=f"https://{self.address[0]}:{self.address[1]}/v1", api_key=self.engine.admin_key,
                               max_retries=0, timeout=120,
                               http_client=openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=self.cert)))
        r = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
        self.assertGreater(r.usage.completion_tokens, 0)

    def test_old_protocols_and_weak_suites_are_refused(self):
        import ssl
        good = ssl.create_default_context(cafile=self.cert)
        version, _ = self.handshake(good)
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
        cbc.set_ciphers("ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA256")  # no AEAD
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            self.handshake(cbc)
        aead12 = ssl.create_default_context(cafile=self.cert)
        aead12.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(self.handshake(aead12)[0], "TLSv1.2")

    def test_exposed_plain_http_is_refused_at_start(self):
        p = subprocess.run([ENGINE, "serve", "--model", MODEL, "--http", "0.0.0.0:0", "--state-dir", tempfile.mkdtemp()],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TLS", p.stderr)


class AuthTest(unittest.TestCase):
    """Every route but /health wants a key; a wrong one is 401 in OpenAI's shape; a foreign Host is 421."""

    setUpClass = classmethod(OpenAiApiTest.setUpClass.__func__)
    tearDownClass = classmethod(OpenAiApiTest.tearDownClass.__func__)
    extra_flags = []

    def test_wrong_key_is_401_and_no_key_too(self):
        for key in ("enk_wrong", ""):
            client = openai.OpenAI(base_url=self.base, api_key=key or "x", max_retries=0, timeout=30,
                                   default_headers={} if key else {"Authorization": ""})
            with self.assertRaises(openai.AuthenticationError):
                client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=2)

    def test_health_needs_no_key(self):
        with urllib.request.urlopen(self.base.removesuffix("/v1") + "/health", timeout=30) as h:
            self.assertEqual(json.loads(h.read())["status"], "ok")

    def test_a_foreign_host_header_is_refused(self):
        request = urllib.request.Request(self.base + "/models", headers={"Host": "evil.example",
                                                                         "Authorization": "Bearer " + self.engine.admin_key})
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(request, timeout=30)
        self.assertEqual(ctx.exception.code, 421)


if __name__ == "__main__":
    run_tests()
