"""Credentials end to end, on loopback (ctest label `auth`).

Every token source of ee/auth.h is run through the C client (auth_call, readme_export)
over REST and gRPC against ee-emulator acting as Google's token endpoint (--trust-key,
--trust-refresh-token) and a Python metadata server (fake_metadata.py). Keys are made
here with `openssl genpkey`. The oracles are the emulator (it verifies the JWT with
libcrypto and accepts only tokens it issued) and its stderr, which counts issued tokens.
At the end every byte any program printed is scanned for secrets.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_metadata import FakeMetadata  # noqa: E402

EMULATOR = os.environ["EE_EMULATOR"]
AUTH_CALL = os.environ["AUTH_CALL"]
README_EXPORT = os.environ.get("README_EXPORT")
LINE = re.compile(r"^ee-emulator listening rest=(\S+) grpc=(\S+)$")

REFRESH_TOKEN = "1//rt-" + os.urandom(12).hex()
CLIENT_SECRET = "cs-" + os.urandom(12).hex()
FIXED_TOKEN = "fixed-" + os.urandom(12).hex()
TRANSCRIPT = []  # (what, text) of every output, scanned by test_zz_no_secret_in_output
TMP = tempfile.mkdtemp(prefix="ee-auth-")


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def read(path):
    with open(path) as f:
        return f.read()


def make_key(name, algorithm="RSA"):
    path = os.path.join(TMP, name)
    opts = ["-pkeyopt", "rsa_keygen_bits:2048"] if algorithm == "RSA" else [
        "-pkeyopt", "ec_paramgen_curve:P-256"]
    run(["openssl", "genpkey", "-algorithm", algorithm] + opts + ["-out", path])
    run(["openssl", "pkey", "-in", path, "-pubout", "-out", path + ".pub"])
    return path


KEY = make_key("trusted.pem")
OTHER_KEY = make_key("untrusted.pem")
EC_KEY = make_key("ec.pem", "EC")


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def service_account(token_url, key=KEY, **extra):
    obj = {"type": "service_account", "project_id": "p", "private_key_id": "k1",
           "private_key": read(key), "client_email": "sa@p.iam.gserviceaccount.com",
           "client_id": "1", "token_uri": token_url}
    obj.update(extra)
    return obj


def authorized_user(token_url, refresh_token=REFRESH_TOKEN):
    return {"type": "authorized_user", "client_id": "cid.apps.googleusercontent.com",
            "client_secret": CLIENT_SECRET, "refresh_token": refresh_token,
            "token_uri": token_url, "quota_project_id": "user-quota"}


class Emulator:
    def __init__(self, *args):
        self.err_path = os.path.join(TMP, "emu-%d.err" % len(TRANSCRIPT))
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [EMULATOR, "--rest-port", "0", "--grpc-port", "0", "--trust-key", KEY + ".pub",
             "--trust-refresh-token", REFRESH_TOKEN, "--token", FIXED_TOKEN] + list(args),
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline().strip()
        m = LINE.match(line)
        if not m:
            self.proc.kill()
            raise AssertionError("emulator did not start: %r" % line)
        self.rest, self.grpc = m.group(1), "http://" + m.group(2)
        self.token_url = self.rest + "/token"

    def endpoint(self, transport):
        return self.rest if transport == "rest" else self.grpc

    def stderr(self):
        return read(self.err_path)

    def issued(self):
        return len(re.findall(r"^ee-emulator: token #\d+ issued", self.stderr(), re.M))

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.proc.stdout.close()
        self.err.close()
        TRANSCRIPT.append(("emulator stderr", self.stderr()))
        # A crash (a sanitizer abort) would otherwise show only as refused connections.
        if self.proc.returncode != 0 or "runtime error" in self.stderr():
            raise AssertionError("ee-emulator exited %s:\n%s" % (self.proc.returncode, self.stderr()))


def clean_env(**extra):
    """The environment without any credential variable, HOME an empty directory."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("EE_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST",
                        "EE_CREDENTIALS", "EE_TRANSPORT", "EE_ENDPOINT", "EE_PROJECT")}
    env["HOME"] = tempfile.mkdtemp(dir=TMP)
    env.update(extra)
    return env


def auth_call(*args, env=None):
    p = subprocess.run([AUTH_CALL] + list(args), capture_output=True, text=True,
                       env=env or clean_env(), timeout=120)
    TRANSCRIPT.append((" ".join(args), p.stdout + p.stderr))
    return p.returncode, p.stdout


def summary(out):
    m = re.search(r"^ok=(\d+) errors=(\d+) fetches=(\d+) kind=(\S+) quota=(\S+)$", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator()
        cls.sa = write("sa.json", json.dumps(service_account(cls.emu.token_url,
                                                             quota_project_id="sa-quota")))
        cls.au = write("au.json", json.dumps(authorized_user(cls.emu.token_url)))

    @classmethod
    def tearDownClass(cls):
        cls.emu.close()

    def call(self, transport, source, *args, env=None, emu=None):
        emu = emu or self.emu
        return auth_call("--transport", transport, "--endpoint", emu.endpoint(transport),
                         "--source", source, *args, env=env)

    def assert_calls_ok(self, out, n, kind):
        ok, errors, _, got_kind, _ = summary(out)
        self.assertEqual((ok, errors, got_kind), (n, 0, kind), out)

    # ---- every source, both transports ----

    def test_sources_over_both_transports(self):
        meta = FakeMetadata(self.emu.token_url, REFRESH_TOKEN)
        cases = [
            ("file:" + self.sa, {}, "service_account"),
            ("file:" + self.au, {}, "authorized_user"),
            ("metadata", {"GCE_METADATA_HOST": meta.host}, "metadata"),
            ("env", {"EE_ACCESS_TOKEN": FIXED_TOKEN}, "fixed"),
            ("adc", {"GOOGLE_APPLICATION_CREDENTIALS": self.sa}, "service_account"),
            ("from-env", {"GOOGLE_APPLICATION_CREDENTIALS": self.sa}, "service_account"),
            ("from-env", {"GCE_METADATA_HOST": meta.host}, "metadata"),
        ]
        try:
            for transport in ("rest", "grpc"):
                for source, env, kind in cases:
                    with self.subTest(transport=transport, source=source, env=sorted(env)):
                        rc, out = self.call(transport, source, "--calls", "3",
                                            env=clean_env(**env))
                        self.assertEqual(rc, 0, out)
                        self.assert_calls_ok(out, 3, kind)
            self.assertTrue(meta.scopes and all(
                s == "https://www.googleapis.com/auth/earthengine" for s in meta.scopes),
                meta.scopes)
        finally:
            meta.close()

    def test_adc_well_known_file(self):
        env = clean_env()
        os.makedirs(os.path.join(env["HOME"], ".config/gcloud"))
        with open(os.path.join(env["HOME"], ".config/gcloud/"
                               "application_default_credentials.json"), "w") as f:
            json.dump(authorized_user(self.emu.token_url), f)
        for transport in ("rest", "grpc"):
            rc, out = self.call(transport, "from-env", "--calls", "2", env=env)
            self.assertEqual(rc, 0, out)
            ok, _, _, kind, quota = summary(out)
            self.assertEqual((ok, kind, quota), (2, "authorized_user", "user-quota"))

    def test_adc_order(self):
        home = clean_env()["HOME"]
        os.makedirs(os.path.join(home, ".config/gcloud"))
        with open(os.path.join(home, ".config/gcloud/application_default_credentials.json"),
                  "w") as f:
            json.dump(authorized_user(self.emu.token_url), f)
        def kind(**env):
            e = clean_env(**env)
            e["HOME"] = home
            rc, out = auth_call("--source", "adc", "--check", env=e)
            self.assertEqual(rc, 0, out)
            return out.split()[0]
        self.assertEqual(kind(GOOGLE_APPLICATION_CREDENTIALS=self.sa, GCE_METADATA_HOST="x:1"),
                         "kind=service_account")
        self.assertEqual(kind(GCE_METADATA_HOST="127.0.0.1:1"), "kind=authorized_user")
        os.remove(os.path.join(home, ".config/gcloud/application_default_credentials.json"))
        self.assertEqual(kind(), "kind=metadata")

    def test_options_from_env_without_credentials(self):
        # No credential anywhere: no ADC, no metadata server, no Authorization header.
        rc, out = auth_call("--source", "from-env", "--check", env=clean_env())
        self.assertEqual(out.split(), ["kind=none", "quota=-", "adc=0"])
        rc, out = auth_call("--source", "from-env", "--check",
                            env=clean_env(EE_CREDENTIALS="adc"))
        self.assertIn("adc=1", out)
        rc, out = auth_call("--source", "from-env", "--check",
                            env=clean_env(EE_CREDENTIALS="none",
                                          GOOGLE_APPLICATION_CREDENTIALS=self.sa))
        self.assertIn("adc=0", out)
        rc, out = self.call("grpc", "from-env", env=clean_env())
        self.assertEqual(rc, 1)
        self.assertIn("error UNAUTHENTICATED Request is missing required authentication", out)

    def test_quota_project_and_dry_run(self):
        rc, out = self.call("rest", "file:" + self.sa, "--dry-run", "--calls", "0")
        self.assertEqual(rc, 0, out)
        prepared = json.loads(out.splitlines()[0])
        self.assertEqual(prepared["headers"]["authorization"], "REDACTED")
        self.assertEqual(prepared["headers"]["x-goog-user-project"], "sa-quota")
        rc, out = self.call("grpc", "file:" + self.sa, "--dry-run", "--calls", "0")
        prepared = json.loads(out.splitlines()[0])
        self.assertEqual(prepared["metadata"]["authorization"], "REDACTED")
        self.assertEqual(prepared["metadata"]["x-goog-user-project"], "sa-quota")

    def test_readme_export_with_a_key_file(self):
        """A service-account key file is all a C program needs, over either transport."""
        if not README_EXPORT:
            self.skipTest("readme_export not built")
        for transport in ("rest", "grpc"):
            env = clean_env(GOOGLE_APPLICATION_CREDENTIALS=self.sa, EE_TRANSPORT=transport,
                            EE_ENDPOINT=self.emu.endpoint(transport), EE_PROJECT="my-project")
            p = subprocess.run([README_EXPORT], capture_output=True, text=True, env=env,
                               timeout=120)
            TRANSCRIPT.append(("readme_export " + transport, p.stdout + p.stderr))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"^projects/my-project/operations/\S+ succeeded$")

    # ---- refresh ----

    def test_token_expiring_mid_run_is_refreshed(self):
        emu = Emulator("--token-ttl", "2")
        try:
            for transport in ("rest", "grpc"):
                before = emu.issued()
                sa = write("sa-ttl.json", json.dumps(service_account(emu.token_url)))
                rc, out = self.call(transport, "file:" + sa, "--calls", "16", "--interval-ms",
                                    "300", emu=emu)
                self.assertEqual(rc, 0, out)
                self.assert_calls_ok(out, 16, "service_account")
                self.assertGreaterEqual(emu.issued() - before, 3, emu.stderr())
            # Without a refresh the emulator does reject an expired token: checked by
            # the sticky metadata server, whose one token outlives its 2 s.
            meta = FakeMetadata(emu.token_url, REFRESH_TOKEN, mode="sticky")
            try:
                rc, out = self.call("rest", "metadata", "--calls", "2", "--interval-ms", "2500",
                                    "--log", env=clean_env(GCE_METADATA_HOST=meta.host), emu=emu)
                self.assertEqual(rc, 1, out)
                self.assertEqual(summary(out)[:2], (1, 1))
            finally:
                meta.close()
        finally:
            emu.close()

    def test_revoked_token_one_refresh_one_retry(self):
        for transport in ("rest", "grpc"):
            before = self.emu.issued()
            rc, out = self.call(transport, "file:" + self.sa, "--calls", "2", "--log",
                                "--revoke-url", self.emu.rest + "/revoke")
            self.assertEqual(rc, 0, out)
            self.assertIn("revoke: http=200", out)
            attempts = re.findall(r"^log \S+ \S+ attempt=(\d) code=(\S+)", out, re.M)
            self.assertEqual(attempts, [("1", "OK"), ("1", "UNAUTHENTICATED"), ("2", "OK")])
            self.assertEqual(self.emu.issued() - before, 2)

    def test_revoked_token_refresh_that_does_not_help(self):
        meta = FakeMetadata(self.emu.token_url, REFRESH_TOKEN, mode="sticky")
        try:
            for transport in ("rest", "grpc"):
                meta.sticky, meta.requests = None, 0
                rc, out = self.call(transport, "metadata", "--calls", "2", "--log",
                                    "--revoke-url", self.emu.rest + "/revoke",
                                    env=clean_env(GCE_METADATA_HOST=meta.host))
                self.assertEqual(rc, 1, out)
                attempts = re.findall(r"^log \S+ \S+ attempt=(\d) code=(\S+)", out, re.M)
                self.assertEqual(attempts, [("1", "OK"), ("1", "UNAUTHENTICATED"),
                                            ("2", "UNAUTHENTICATED")], out)
                self.assertRegex(out, r"error UNAUTHENTICATED after 2 attempts")
                self.assertEqual(meta.requests, 2)  # the first token and one refresh
        finally:
            meta.close()

    def test_token_endpoint_errors(self):
        bad = write("au-bad.json", json.dumps(authorized_user(self.emu.token_url,
                                                              "1//not-the-right-one")))
        untrusted = write("sa-untrusted.json",
                          json.dumps(service_account(self.emu.token_url, key=OTHER_KEY)))
        cases = [(bad, "invalid_grant: Token has been expired or revoked. (HTTP 400)"),
                 (untrusted, "invalid_grant: Invalid JWT Signature. (HTTP 400)")]
        for transport in ("rest", "grpc"):
            for path, text in cases:
                rc, out = self.call(transport, "file:" + path)
                self.assertEqual(rc, 1, out)
                self.assertIn("error UNAUTHENTICATED getting an access token: token endpoint "
                              + self.emu.token_url + ": " + text, out)
        unreachable = write("sa-unreachable.json",
                            json.dumps(service_account("http://127.0.0.1:1/token")))
        rc, out = self.call("rest", "file:" + unreachable)
        self.assertIn("error UNAVAILABLE getting an access token: token endpoint "
                      "http://127.0.0.1:1/token:", out)

    # ---- single flight ----

    def test_sixteen_threads_one_fetch(self):
        for transport in ("rest", "grpc"):
            emu = Emulator()
            try:
                sa = write("sa-sf.json", json.dumps(service_account(emu.token_url)))
                rc, out = self.call(transport, "file:" + sa, "--threads", "16", "--calls", "20",
                                    emu=emu)
                self.assertEqual(rc, 0, out)
                ok, errors, fetches, _, _ = summary(out)
                self.assertEqual((ok, errors, fetches), (320, 0, 1))
                self.assertEqual(emu.issued(), 1, emu.stderr())
            finally:
                emu.close()
        meta = FakeMetadata(self.emu.token_url, REFRESH_TOKEN)
        try:
            rc, out = self.call("grpc", "metadata", "--threads", "16", "--calls", "5",
                                env=clean_env(GCE_METADATA_HOST=meta.host))
            self.assertEqual(rc, 0, out)
            self.assertEqual(meta.requests, 1)
        finally:
            meta.close()

    # ---- bad key files ----

    def test_bad_key_files(self):
        good = json.dumps(service_account(self.emu.token_url))
        pem = read(KEY)
        lines = pem.splitlines()
        corrupt = "\n".join(lines[:5] + ["!!!!" + lines[5][4:]] + lines[6:])
        big = json.dumps(dict(service_account(self.emu.token_url), padding="x" * 70000))
        cases = {
            "missing": (os.path.join(TMP, "no-such.json"), "No such file or directory"),
            "directory": (TMP, "not a regular file"),
            "empty": (write("empty.json", ""), "empty"),
            "malformed": (write("malformed.json", "type=service_account"),
                          "malformed JSON: expected a JSON object at byte 0"),
            "truncated": (write("truncated.json", good[:len(good) // 2]), "truncated JSON"),
            "not an object": (write("array.json", "[]"), "expected a JSON object"),
            "unknown type": (write("type.json", json.dumps({"type": "external_account"})),
                             "unknown \"type\" \"external_account\""),
            "no type": (write("notype.json", "{}"), "no \"type\" string"),
            "missing field": (write("nofield.json", json.dumps(
                {k: v for k, v in service_account(self.emu.token_url).items()
                 if k != "client_email"})), "\"client_email\" is missing"),
            "field not a string": (write("num.json", json.dumps(
                dict(service_account(self.emu.token_url), private_key=5))),
                "\"private_key\" is not a string"),
            "refused key": (write("corrupt.json", json.dumps(
                dict(service_account(self.emu.token_url), private_key=corrupt))),
                "\"private_key\": OpenSSL cannot read it"),
            "not a key": (write("nokey.json", json.dumps(
                dict(service_account(self.emu.token_url), private_key="hello"))),
                "\"private_key\": OpenSSL cannot read it"),
            "EC key": (write("ec.json", json.dumps(
                dict(service_account(self.emu.token_url), private_key=read(EC_KEY)))),
                "not an RSA key"),
            "too large": (write("big.json", big), "larger than 65536 bytes"),
            "bad token_uri": (write("uri.json", json.dumps(
                dict(service_account(self.emu.token_url), token_uri="file:///etc/passwd"))),
                "\"token_uri\" must be an http(s) URL"),
            "authorized user without secret": (write("au-nosecret.json", json.dumps(
                {k: v for k, v in authorized_user(self.emu.token_url).items()
                 if k != "client_secret"})), "\"client_secret\" is missing"),
        }
        if os.geteuid() != 0:  # root reads any file
            unreadable = write("unreadable.json", good)
            os.chmod(unreadable, 0)
            cases["unreadable"] = (unreadable, "Permission denied")
        for name, (path, why) in cases.items():
            with self.subTest(name):
                rc, out = auth_call("--source", "file:" + path, "--check")
                self.assertEqual(rc, 1, out)
                self.assertIn("error INVALID_ARGUMENT key file %s: " % path, out)
                self.assertIn(why, out)
                # Through ADC, ee_client_new fails the same way, naming the variable.
                rc, out = auth_call("--transport", "rest", "--endpoint", self.emu.rest,
                                    "--source", "from-env",
                                    env=clean_env(GOOGLE_APPLICATION_CREDENTIALS=path))
                self.assertEqual(rc, 1, out)
                self.assertIn("error INVALID_ARGUMENT GOOGLE_APPLICATION_CREDENTIALS: key file "
                              + path, out)

    # ---- last: nothing secret was ever printed ----

    def test_zz_no_secret_in_output(self):
        secrets = [REFRESH_TOKEN, CLIENT_SECRET, FIXED_TOKEN, "ya29.emu-", "eyJ"]
        for key in (KEY, OTHER_KEY, EC_KEY):
            body = [l for l in read(key).splitlines() if not l.startswith("-----")]
            secrets += [l for l in body if len(l) >= 16]
        self.emu.close()  # its stderr joins the transcript
        AuthTest.emu = Emulator()  # for tearDownClass
        self.assertGreater(len(TRANSCRIPT), 20)
        for what, text in TRANSCRIPT:
            for s in secrets:
                self.assertNotIn(s, text, "a secret in the output of " + what)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
