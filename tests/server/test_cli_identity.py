"""`enclave-engine user|key|audit|login` end to end: on the state directory directly (as its OS owner),
and through a running engine's socket and TLS listener with a session; clear errors for a wrong
password, a missing state directory, a bad session, an untrusted certificate and a wrong host name.

usage: test_cli_identity.py ENGINE_EXE MODEL
"""
import getpass
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc

from engine_fixture import ADMIN_PASSWORD, Engine, pb, rpc, run_tests

ENGINE, MODEL = sys.argv[1], sys.argv[2]
PASSWORD = "Tr0ubadour-And-Three-Dogs"


def cli(*args, stdin=None):
    return subprocess.run([ENGINE, *args], input=stdin, capture_output=True, text=True, timeout=120)


def self_signed(d, name):
    cert, key = f"{d}/{name}.crt", f"{d}/{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class CliIdentityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="enclave-cli-")
        cls.cert, key = self_signed(d, "engine")
        cls.other_cert, _ = self_signed(d, "other")
        cls.engine = Engine(ENGINE, [MODEL], ["--listen", "127.0.0.1:0", "--tls-cert", cls.cert, "--tls-key", key])
        cls.tls = re.search(r"gRPC\+TLS on (127\.0\.0\.1:\d+)", cls.engine.ready_line).group(1)
        cls.state = ["--state-dir", cls.engine.state_dir]
        cls.socket = ["--socket", cls.engine.socket]

    @classmethod
    def tearDownClass(cls):
        cls.engine.stop()

    def ok(self, *args, stdin=None):
        p = cli(*args, stdin=stdin)
        self.assertEqual(p.returncode, 0, f"{args}: {p.stdout}{p.stderr}")
        return p.stdout

    def login(self, *where, name="admin", password=ADMIN_PASSWORD):
        return cli("login", *where, "--name", name, "--password-file", "-", stdin=password + "\n")

    # ---- on the state directory, as its owner ----

    def test_users_and_keys_on_the_state_directory_are_audited_as_the_os_user(self):
        out = self.ok("user", "add", *self.state, "--name", "dora", "--role", "analyst", "--password-file", "-",
                      stdin=PASSWORD + "\n")
        self.assertIn("created user dora", out)
        users = {u["name"]: u for u in json.loads(self.ok("user", "list", *self.state, "--json"))}
        self.assertEqual(users["dora"]["role"], "analyst")
        # The running engine sees the CLI's user at once: dora signs in through it.
        token = self.login(*self.socket, name="dora", password=PASSWORD).stdout.strip()
        self.assertTrue(token.startswith("ens_"), token)
        key = self.ok("key", "create", *self.state, "--user", "dora", "--name", "dora-script").strip().splitlines()
        secret = [w for line in key for w in line.split() if w.startswith("enk_")]
        self.assertEqual(len(secret), 1, key)
        models = urllib.request.Request(self.engine.http + "/v1/models",
                                        headers={"Authorization": "Bearer " + secret[0]})
        with urllib.request.urlopen(models, timeout=60) as r:
            self.assertEqual(r.status, 200)
        listed = json.loads(self.ok("key", "list", *self.state, "--user", "dora", "--json"))
        self.assertEqual([k["name"] for k in listed], ["dora-script"])
        self.assertNotIn(secret[0], json.dumps(listed))  # shown once, never listed
        # Disabled by the CLI: the engine refuses her session and key at the next call.
        self.ok("user", "disable", *self.state, "--name", "dora")
        with self.assertRaises(grpc.RpcError) as ctx:
            rpc.AuthStub(self.engine.channel).WhoAmI(pb.WhoAmIRequest(), metadata=self.engine.md(token), timeout=60)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(models, timeout=60)
        self.assertEqual(ctx.exception.code, 401)
        self.ok("key", "revoke", *self.state, "--id", str(listed[0]["id"]))
        self.ok("user", "enable", *self.state, "--name", "dora")
        self.ok("user", "role", *self.state, "--name", "dora", "--role", "auditor")
        self.assertEqual({u["name"]: u for u in json.loads(self.ok("user", "list", *self.state, "--json"))}
                         ["dora"]["role"], "auditor")
        # Every change is in the chain, by cli:<os user>, and the chain verifies.
        records = json.loads(self.ok("audit", "query", *self.state, "--actor", "cli:" + getpass.getuser(),
                                     "--limit", "100", "--json"))
        actions = {r["action"] for r in (records["records"] if isinstance(records, dict) else records)}
        for a in ("user.create", "user.update", "key.create", "key.revoke", "user.list", "key.list"):
            self.assertIn(a, actions)
        self.assertIn("ok", self.ok("audit", "verify", *self.state).lower())
        csv = self.ok("audit", "export", *self.state, "--format", "csv")
        self.assertTrue(csv.startswith("seq,"), csv[:200])

    def test_a_missing_state_directory_is_a_clear_error(self):
        missing = os.path.join(tempfile.mkdtemp(), "no-such-state")
        for args in (("user", "list"), ("key", "list"), ("audit", "verify")):
            p = cli(*args, "--state-dir", missing)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("no engine state directory at " + missing, p.stderr)
            self.assertFalse(os.path.exists(missing))  # a typo does not start an empty state

    def test_a_weak_password_is_refused_with_the_rule(self):
        p = cli("user", "add", *self.state, "--name", "weakling", "--role", "analyst", "--password-file", "-",
                stdin="short\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("password", p.stderr.lower())

    # ---- through the running engine, with a session ----

    def test_through_the_socket_with_a_session(self):
        p = self.login(*self.socket)
        self.assertEqual(p.returncode, 0, p.stderr)
        token = p.stdout.strip()
        out = self.ok("user", "add", *self.socket, "--session", token, "--name", "emil", "--role", "auditor",
                      "--password-file", "-", stdin=PASSWORD + "\n")
        self.assertIn("created user emil", out)
        env = dict(os.environ, ENCLAVE_SESSION=token)
        p = subprocess.run([ENGINE, "user", "list", *self.socket, "--json"], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("emil", [u["name"] for u in json.loads(p.stdout)])
        self.assertIn("ok", self.ok("audit", "verify", *self.socket, "--session", token).lower())
        # The engine audited it as the admin (a pseudonym), from this socket peer.
        page = rpc.AuditStub(self.engine.channel).Query(pb.AuditQuery(action_class="USER", limit=20),
                                                        metadata=self.engine.md(self.engine.admin), timeout=60)
        create = [r for r in page.records if r.action == "user.create" and r.target_name == "emil"]
        self.assertEqual(len(create), 1)
        self.assertEqual(create[0].actor_name, "admin")
        self.assertRegex(create[0].source, r"^socket uid=\d+ pid=\d+$")
        # An auditor's session may read the log but not change users.
        emil = self.login(*self.socket, name="emil", password=PASSWORD).stdout.strip()
        p = cli("user", "disable", *self.socket, "--session", emil, "--name", "dora-not-here")
        self.assertNotEqual(p.returncode, 0)
        p = cli("user", "add", *self.socket, "--session", emil, "--name", "felix", "--role", "admin",
                "--password-file", "-", stdin=PASSWORD + "\n")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("may not do users_manage", p.stderr)

    def test_a_wrong_password_and_a_bad_session_are_clear_errors(self):
        p = self.login(*self.socket, password="Not-The-Password-123")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Login:", p.stderr)
        self.assertIn("gRPC status 16", p.stderr)  # UNAUTHENTICATED
        self.assertEqual(p.stdout, "")
        p = cli("user", "list", *self.socket, "--session", "ens_" + "0" * 43)
        self.assertEqual(p.returncode, 1)
        self.assertIn("sign in again", p.stderr)
        p = cli("user", "list", *self.socket)
        self.assertEqual(p.returncode, 2)
        self.assertIn("need a session", p.stderr)
        p = cli("user", "list", "--socket", os.path.join(tempfile.mkdtemp(), "none.sock"), "--session", "ens_x")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no engine listening", p.stderr)

    # ---- through the TLS listener: the engine's certificate and name are checked ----

    def test_through_tls_the_certificate_and_host_name_are_verified(self):
        token = self.login("--connect", self.tls, "--tls-ca", self.cert).stdout.strip()
        self.assertTrue(token.startswith("ens_"))
        users = json.loads(self.ok("user", "list", "--connect", self.tls, "--tls-ca", self.cert, "--session", token,
                                   "--json"))
        self.assertIn("admin", [u["name"] for u in users])
        host, port = self.tls.split(":")
        self.ok("user", "list", "--connect", "localhost:" + port, "--tls-ca", self.cert, "--session", token)
        # An untrusted certificate: refused before the session is sent.
        p = cli("user", "list", "--connect", self.tls, "--tls-ca", self.other_cert, "--session", token)
        self.assertEqual(p.returncode, 1)
        self.assertIn("TLS handshake failed", p.stderr)
        p = self.login("--connect", self.tls, "--tls-ca", self.other_cert)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        # The system's CAs do not know a self-signed engine either.
        p = cli("user", "list", "--connect", self.tls, "--session", token)
        self.assertEqual(p.returncode, 1)
        # A certificate for another name (the engine's is for localhost and 127.0.0.1).
        p = cli("user", "list", "--connect", self.tls, "--tls-ca", self.cert, "--tls-server-name", "engine.example",
                "--session", token)
        self.assertEqual(p.returncode, 1)
        self.assertIn("TLS handshake failed", p.stderr)


if __name__ == "__main__":
    run_tests()
