"""Who may do what, over the real transports: every gRPC method and HTTP route of the engine's own
permission table (`enclave-engine permissions --json`, printed from security/permissions.cpp, so this
test keeps no copy of the rules) x {admin, analyst, auditor, disabled user, expired session, no
credentials, wrong API key} x {Unix socket, TLS, HTTP where the route exists}.

Allowed means the call got past authorisation: any status but UNAUTHENTICATED / PERMISSION_DENIED (HTTP
401 / 403), e.g. INVALID_ARGUMENT for an empty request or NOT_FOUND for the nonexistent ids that the
destructive methods are given. Denied means exactly UNAUTHENTICATED / PERMISSION_DENIED (401 / 403).
Also: an analyst cannot read another analyst's conversation (NOT_FOUND, as for an id that does not
exist), and an admin demoted while their stream runs loses the stream and their next call.

The engine runs with `[security] session_idle_seconds = 6` (a real setting) so that a session can expire
during the test; the role sessions are refreshed by a new login when they were idle for 2 s.

usage: test_authorization.py ENGINE_EXE MODEL
With ENCLAVE_MUTATE_MATRIX=1 the test expects auditors to manage users, and the matrix must then fail
(8 wrong cells: the 4 users_manage methods x socket and TLS): a check that it checks.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import grpc

from engine_fixture import ADMIN_PASSWORD, Engine, pb, rpc, run_tests

ENGINE, MODEL = sys.argv[1], sys.argv[2]
IDLE_SECONDS = 6
PASSWORD = "Tr0ubadour-And-Three-Dogs"
NOWHERE = 987654321  # an id no user, key or conversation has

TABLE = json.loads(subprocess.run([ENGINE, "permissions", "--json"], capture_output=True, text=True,
                                  check=True).stdout)
ACTIONS = {a["name"]: a for a in TABLE["actions"]}
DENIED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
ROLES = ("admin", "analyst", "auditor")
CREDENTIALS = ROLES + ("disabled", "expired", "none", "wrong_key")


def allowed(action, who):
    a = ACTIONS[action]
    if os.environ.get("ENCLAVE_MUTATE_MATRIX") and action == "users_manage" and who == "auditor":
        return True  # a wrong expectation, to see the matrix fail (see the module docstring)
    return a["anonymous"] or (who in ROLES and who in a["roles"])


def config_file(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    f.write(text)
    f.close()
    return f.name


class Session:
    """A role's session, signed in again when it was idle long enough to risk the short idle timeout."""

    def __init__(self, engine, name):
        self.engine, self.name, self.token, self.used = engine, name, None, 0

    def login(self):
        return rpc.AuthStub(self.engine.channel).Login(
            pb.LoginRequest(username=self.name, password=ADMIN_PASSWORD if self.name == "admin" else PASSWORD),
            timeout=60).session_token

    def get(self):
        if self.token is None or time.monotonic() - self.used > 2:
            self.token = self.login()
        self.used = time.monotonic()
        return self.token


class AuthorizationMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-authz-")
        cls.cert, key = d + "/engine.crt", d + "/engine.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        cfg = config_file(f"[security]\nsession_idle_seconds = {IDLE_SECONDS}\n")
        cls.engine = e = Engine(ENGINE, [MODEL], ["--config", cfg, "--listen", "127.0.0.1:0", "--tls-cert", cls.cert,
                                                  "--tls-key", key, "--telemetry-period-ms", "100"])
        address = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", e.ready_line).group(1)
        with open(cls.cert, "rb") as f:
            cls.tls = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=f.read()))
        cls.channels = {"socket": e.channel, "tls": cls.tls}
        users = rpc.UsersStub(e.channel)
        admin = Session(e, "admin")
        cls.ids = {}
        for name, role in (("ana1", pb.ROLE_ANALYST), ("ana2", pb.ROLE_ANALYST), ("aud1", pb.ROLE_AUDITOR),
                           ("dis1", pb.ROLE_ANALYST), ("exp1", pb.ROLE_ANALYST), ("adm2", pb.ROLE_ADMIN),
                           ("login1", pb.ROLE_ANALYST)):
            cls.ids[name] = users.CreateUser(pb.CreateUserRequest(name=name, role=role, password=PASSWORD),
                                             metadata=e.md(admin.get()), timeout=60).id
        # The expired session: signed in now, unused until it has been idle past the timeout.
        cls.expired_token = Session(e, "exp1").login()
        cls.expired_since = time.monotonic()
        cls.sessions = {"admin": admin, "analyst": Session(e, "ana1"), "auditor": Session(e, "aud1")}

        def key_for(user_id, role):
            return users.CreateKey(pb.CreateKeyRequest(name="matrix", user_id=user_id, role=role),
                                   metadata=e.md(admin.get()), timeout=60).secret

        cls.keys = {"admin": e.admin_key, "analyst": key_for(cls.ids["ana1"], pb.ROLE_ANALYST),
                    "auditor": key_for(cls.ids["aud1"], pb.ROLE_AUDITOR)}
        # The disabled user's session and key were valid until an admin disabled the account.
        dis = Session(e, "dis1")
        cls.disabled_token = dis.login()
        cls.disabled_key = key_for(cls.ids["dis1"], pb.ROLE_ANALYST)
        users.UpdateUser(pb.UpdateUserRequest(id=cls.ids["dis1"], disabled=True), metadata=e.md(admin.get()),
                         timeout=60)
        cls.wrong_key = "enk_" + "A" * 43
        wait = IDLE_SECONDS + 1.5 - (time.monotonic() - cls.expired_since)
        if wait > 0:
            time.sleep(wait)

    @classmethod
    def tearDownClass(cls):
        cls.tls.close()
        cls.engine.stop()

    # ---- credentials ----

    def grpc_token(self, who):
        if who in ROLES:
            return self.sessions[who].get()
        return {"disabled": self.disabled_token, "expired": self.expired_token, "none": None,
                "wrong_key": self.wrong_key}[who]

    def http_token(self, who):
        if who in ROLES:
            return self.keys[who]
        return {"disabled": self.disabled_key, "expired": self.expired_token, "none": None,
                "wrong_key": self.wrong_key}[who]

    # ---- one gRPC call with a minimal request ----

    def request_for(self, service, method, who):
        """The message a method gets: empty mostly; ids that do not exist for destructive methods."""
        m = pb.DESCRIPTOR.services_by_name[service].methods_by_name[method]
        cls = getattr(pb, m.input_type.name)
        special = {
            ("Auth", "Login"): lambda: pb.LoginRequest(username="login1", password=PASSWORD),
            ("Users", "UpdateUser"): lambda: pb.UpdateUserRequest(id=NOWHERE),
            ("Users", "DeleteUser"): lambda: pb.DeleteUserRequest(id=NOWHERE),
            ("Users", "RevokeKey"): lambda: pb.RevokeKeyRequest(id=NOWHERE),
            ("Users", "EraseUserData"): lambda: pb.EraseUserDataRequest(user_id=NOWHERE),
            ("Models", "Load"): lambda: pb.LoadModelRequest(file="no-such-model.gguf"),
            ("Models", "Unload"): lambda: pb.UnloadModelRequest(name="no-such-model"),
            ("Models", "Swap"): lambda: pb.SwapModelRequest(name="no-such-model", file="no-such-model.gguf"),
            ("Models", "DeleteRoute"): lambda: pb.DeleteRouteRequest(name="no-such-route"),
            ("Conversations", "GetConversation"): lambda: pb.GetConversationRequest(id=NOWHERE),
            ("Conversations", "DeleteConversation"): lambda: pb.DeleteConversationRequest(id=NOWHERE),
            ("Conversations", "Send"): lambda: pb.SendMessageRequest(conversation_id=NOWHERE),
            ("Alerts", "DeleteRule"): lambda: pb.DeleteAlertRuleRequest(id="no-such-rule"),
        }
        return special.get((service, method), cls)(), m.server_streaming

    def call(self, transport, full_method, who):
        service, method = full_method.split("/")[1].split(".")[-1], full_method.split("/")[2]
        request, streaming = self.request_for(service, method, who)
        token = self.grpc_token(who)
        if method == "Logout" and who in ROLES:
            token = self.sessions[who].login()  # logging out the shared session would end it for the rest
        stub = getattr(rpc, service + "Stub")(self.channels[transport])
        md = [("authorization", "Bearer " + token)] if token else []
        try:
            if streaming:
                # Denials come back at once; an allowed stream (Live, WatchEvents) may wait for events.
                it = getattr(stub, method)(request, metadata=md, timeout=2)
                for _ in it:
                    it.cancel()
                    break
            else:
                getattr(stub, method)(request, metadata=md, timeout=60)
            return grpc.StatusCode.OK
        except grpc.RpcError as err:
            return err.code()

    def test_every_grpc_method_on_socket_and_tls(self):
        wrong = []
        calls = 0
        for transport in ("socket", "tls"):
            for rule in TABLE["grpc_methods"]:
                for who in CREDENTIALS:
                    code = self.call(transport, rule["method"], who)
                    calls += 1
                    expect = allowed(rule["action"], who)
                    if expect == (code in DENIED) or code == grpc.StatusCode.UNAVAILABLE:
                        wrong.append(f"{transport} {rule['method']} as {who}: {code.name}, expected "
                                     f"{'allowed' if expect else 'denied'} ({rule['action']})")
        self.assertEqual(calls, 2 * len(TABLE["grpc_methods"]) * len(CREDENTIALS))
        self.assertGreaterEqual(len(TABLE["grpc_methods"]), 41)
        self.assertEqual(wrong, [], "\n".join(wrong))

    def test_every_http_route(self):
        base = self.engine.http
        bodies = {"POST": b"{}"}
        wrong = []
        for rule in TABLE["http_routes"]:
            for who in CREDENTIALS:
                token = self.http_token(who)
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = "Bearer " + token
                req = urllib.request.Request(base + rule["path"], data=bodies.get(rule["verb"]), headers=headers,
                                             method=rule["verb"])
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        status = r.status
                except urllib.error.HTTPError as err:
                    status = err.code
                expect = allowed(rule["action"], who)
                if expect == (status in (401, 403)):
                    wrong.append(f"HTTP {rule['verb']} {rule['path']} as {who}: {status}, expected "
                                 f"{'allowed' if expect else 'denied'} ({rule['action']})")
        self.assertEqual(wrong, [], "\n".join(wrong))

    def test_the_expired_session_was_audited_as_expired(self):
        self.call("socket", "/enclave.v1.Auth/WhoAmI", "expired")
        page = rpc.AuditStub(self.engine.channel).Query(pb.AuditQuery(text="idle timeout", limit=10),
                                                        metadata=self.engine.md(self.sessions["admin"].get()),
                                                        timeout=60)
        self.assertTrue(any(r.action == "auth.session_expired" for r in page.records), page)

    def test_an_analyst_cannot_read_another_analysts_conversation(self):
        e = self.engine
        ana1, ana2 = self.sessions["analyst"], Session(e, "ana2")
        conv = rpc.ConversationsStub(e.channel).CreateConversation(pb.CreateConversationRequest(title="mine"),
                                                                   metadata=e.md(ana1.get()), timeout=60).summary
        stub = rpc.ConversationsStub(e.channel)
        self.assertEqual(stub.GetConversation(pb.GetConversationRequest(id=conv.id), metadata=e.md(ana1.get()),
                                              timeout=60).summary.id, conv.id)
        results = {}
        for label, cid in (("other's", conv.id), ("nonexistent", NOWHERE)):
            with self.assertRaises(grpc.RpcError) as ctx:
                stub.GetConversation(pb.GetConversationRequest(id=cid), metadata=e.md(ana2.get()), timeout=60)
            results[label] = (ctx.exception.code(), ctx.exception.details().replace(str(cid), "ID"))
        self.assertEqual(results["other's"][0], grpc.StatusCode.NOT_FOUND)
        self.assertEqual(results["other's"], results["nonexistent"])  # nothing tells the two apart
        listed = stub.ListConversations(pb.ListConversationsRequest(), metadata=e.md(ana2.get()), timeout=60)
        self.assertNotIn(conv.id, [c.id for c in listed.conversations])
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.DeleteConversation(pb.DeleteConversationRequest(id=conv.id), metadata=e.md(ana2.get()), timeout=60)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(stub.GetConversation(pb.GetConversationRequest(id=conv.id), metadata=e.md(ana1.get()),
                                              timeout=60).summary.id, conv.id)  # still there for its owner

    def test_an_admin_demoted_mid_stream_loses_the_stream_and_the_next_call(self):
        e = self.engine
        adm2 = Session(e, "adm2")
        token = adm2.login()
        key = rpc.UsersStub(e.channel).CreateKey(pb.CreateKeyRequest(name="adm2-http", role=pb.ROLE_ADMIN),
                                                 metadata=e.md(token), timeout=60).secret
        request = pb.GenerateRequest(prompt="Once upon a time", sampling=pb.Sampling(max_tokens=4000, temperature=1, seed=7))
        stream = rpc.GenerationStub(e.channel).Generate(request, metadata=e.md(token), timeout=600)
        # The same admin streams over HTTP with their admin key.
        body = json.dumps({"prompt": "Once upon a time", "max_tokens": 4000, "stream": True, "seed": 7}).encode()
        http_req = urllib.request.Request(e.http + "/v1/completions", data=body, method="POST",
                                          headers={"Authorization": "Bearer " + key,
                                                   "Content-Type": "application/json"})
        http_resp = urllib.request.urlopen(http_req, timeout=600)
        http_lines = []

        def read_http():
            try:
                for line in iter(http_resp.readline, b""):
                    http_lines.append(line)
            except Exception as err:  # a stream cut off mid-chunk ends the read with an error
                http_lines.append(repr(err).encode())

        http_reader = threading.Thread(target=read_http)
        http_reader.start()
        tokens = 0
        code = None
        try:
            for event in stream:
                if event.WhichOneof("event") == "token":
                    tokens += 1
                    if tokens == 3:
                        rpc.UsersStub(e.channel).UpdateUser(
                            pb.UpdateUserRequest(id=self.ids["adm2"], role=pb.ROLE_ANALYST),
                            metadata=e.md(self.sessions["admin"].get()), timeout=60)
                if event.WhichOneof("event") == "finished":
                    break
        except grpc.RpcError as err:
            code = err.code()
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED, f"the stream went on ({tokens} tokens)")
        self.assertLess(tokens, 4000)
        with self.assertRaises(grpc.RpcError) as ctx:
            rpc.UsersStub(e.channel).ListUsers(pb.ListUsersRequest(), metadata=e.md(token), timeout=60)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        http_reader.join(timeout=120)
        self.assertFalse(http_reader.is_alive(), "the HTTP stream did not end")
        self.assertNotIn(b"data: [DONE]\n", http_lines)  # cut off, not finished
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(urllib.request.Request(e.http + "/v1/models",
                                                          headers={"Authorization": "Bearer " + key}), timeout=60)
        self.assertEqual(ctx.exception.code, 401)
        # Signed in again, they are an analyst now: the admin's methods are refused.
        analyst_token = adm2.login()
        with self.assertRaises(grpc.RpcError) as ctx:
            rpc.UsersStub(e.channel).ListUsers(pb.ListUsersRequest(), metadata=e.md(analyst_token), timeout=60)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.PERMISSION_DENIED)


if __name__ == "__main__":
    run_tests()
