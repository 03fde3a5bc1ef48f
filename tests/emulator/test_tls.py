"""--tls-cert / --tls-key: both front ends over TLS with a CA this test makes (openssl,
tests/support/make_test_ca.sh); clients that trust another CA, or speak plaintext, fail;
bad flags and bad files are usage errors naming the flag or file."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

from emu_support import EMULATOR, Emulator, Grpc, Rest, fronts, small_request, wait_done

MAKE_CA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support",
                       "make_test_ca.sh")


def setUpModule():
    global PKI
    PKI = tempfile.mkdtemp(prefix="ee-tls-")
    subprocess.run([MAKE_CA, PKI], check=True)


def tearDownModule():
    shutil.rmtree(PKI, ignore_errors=True)


def pki(name):
    return os.path.join(PKI, name)


def tls_args():
    return ["--tls-cert", pki("server.pem"), "--tls-key", pki("server.key")]


class TlsServeTest(unittest.TestCase):
    def test_every_method_over_both_front_ends_with_the_test_ca(self):
        with Emulator(*tls_args(), "--task-seconds", "0.2") as emu:
            self.assertTrue(emu.tls)
            self.assertTrue(emu.rest_base.startswith("https://127.0.0.1:"), emu.rest_base)
            answers = {}
            for f in fronts(emu, cacert=pki("ca.pem")):
                r = f.export(small_request(requestId="tls-" + f.name))
                self.assertEqual(r.code, "OK", (f.name, r))
                name = r.body["name"]
                self.assertEqual(f.get(name).code, "OK")
                self.assertEqual(f.wait(name, "5s").code, "OK")
                done = wait_done(f, name)
                self.assertTrue(done["done"])
                self.assertEqual(f.list("projects/p1").code, "OK")
                self.assertEqual(f.cancel(name).code, "FAILED_PRECONDITION")
                self.assertEqual(f.delete(name).code, "OK")
                # Errors keep their details over TLS (ErrorInfo in the envelope / trailer).
                nf = f.get(name)
                answers[f.name] = (nf.code, nf.reason)
                if f.name == "grpc":
                    f.close()
            self.assertEqual(answers["rest"], answers["grpc"])
            self.assertEqual(answers["rest"][0], "NOT_FOUND")
            self.assertEqual(emu.stop(), 0)

    def test_rest_answers_for_localhost_too_and_keeps_the_connection(self):
        with Emulator(*tls_args()) as emu:
            port = int(emu.rest_base.rsplit(":", 1)[1])
            r = Rest(emu, cacert=pki("ca.pem"), base="https://localhost:%d" % port)
            self.assertEqual(r.list("projects/p1").code, "OK")
            # HTTP/1.1 keep-alive over TLS: three calls on one connection (what a client that
            # reuses connections relies on); Python's ssl module is an independent TLS peer.
            ctx = ssl.create_default_context(cafile=pki("ca.pem"))
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
            socks = set()
            for _ in range(3):
                conn.request("GET", "/v1/projects/p1/operations")
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.version, 11)
                self.assertEqual(json.loads(resp.read()), {})
                socks.add(id(conn.sock))
            self.assertEqual(len(socks), 1, "connection was not kept alive")
            self.assertEqual(conn.sock.version()[:3], "TLS")
            conn.close()
            self.assertEqual(emu.stop(), 0)

    def test_token_is_still_checked_over_tls(self):
        with Emulator(*tls_args(), "--token", "tls-token") as emu:
            for f in fronts(emu, cacert=pki("ca.pem")):
                self.assertEqual(f.list("projects/p1").code, "UNAUTHENTICATED", f.name)
            for f in fronts(emu, token="tls-token", cacert=pki("ca.pem")):
                self.assertEqual(f.list("projects/p1").code, "OK", f.name)
            self.assertEqual(emu.stop(), 0)


class TlsRefusalTest(unittest.TestCase):
    def curl(self, *args):
        return subprocess.run(["curl", "-sS", "--max-time", "30", "-o", "/dev/null",
                               "-w", "%{http_code}"] + list(args),
                              capture_output=True, text=True)

    def test_plaintext_and_wrong_ca_clients_fail_and_the_server_carries_on(self):
        with Emulator(*tls_args()) as emu:
            url = emu.rest_base + "/v1/projects/p1/operations"
            plain = self.curl("http://" + url[len("https://"):])
            self.assertNotEqual(plain.returncode, 0, "plain http answered over a TLS port")
            self.assertEqual(plain.stdout, "000")
            wrong = self.curl("--cacert", pki("other-ca.pem"), url)
            self.assertEqual(wrong.returncode, 60, wrong.stderr)  # peer certificate not trusted
            self.assertEqual(wrong.stdout, "000")
            # Python's TLS stack refuses too (independent of curl's).
            ctx = ssl.create_default_context(cafile=pki("other-ca.pem"))
            port = int(emu.rest_base.rsplit(":", 1)[1])
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
            with self.assertRaises(ssl.SSLCertVerificationError):
                conn.request("GET", "/v1/projects/p1/operations")
            conn.close()

            g = Grpc(emu, cacert=pki("other-ca.pem"))
            r = g.export(small_request())
            self.assertEqual(r.code, "UNAVAILABLE", r)
            g.close()
            g = Grpc(emu)  # plaintext HTTP/2 against the TLS port
            self.assertEqual(g.list("projects/p1").code, "UNAVAILABLE")
            g.close()

            # The failed handshakes left both front ends serving.
            ok = self.curl("--cacert", pki("ca.pem"), url)
            self.assertEqual(ok.stdout, "200", ok.stderr)
            g = Grpc(emu, cacert=pki("ca.pem"))
            self.assertEqual(g.list("projects/p1").code, "OK")
            g.close()
            self.assertEqual(emu.stop(), 0)

    def test_plaintext_emulator_still_says_http(self):
        with Emulator() as emu:
            self.assertFalse(emu.tls)
            self.assertTrue(emu.rest_base.startswith("http://"))
            self.assertEqual(emu.stop(), 0)


class TlsFlagTest(unittest.TestCase):
    def run_emulator(self, *args):
        p = subprocess.run([EMULATOR, "--rest-port", "0", "--grpc-port", "0"] + list(args),
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def assertRefused(self, args, *names):
        rc, out, err = self.run_emulator(*args)
        self.assertEqual(rc, 2, (args, out, err))
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("error: "), err)
        self.assertEqual(err.count("\n"), 1, err)
        for n in names:
            self.assertIn(n, err)
        return err

    def test_both_flags_or_neither(self):
        self.assertRefused(["--tls-cert", pki("server.pem")], "--tls-cert", "--tls-key")
        self.assertRefused(["--tls-key", pki("server.key")], "--tls-key", "--tls-cert")
        self.assertRefused(["--tls-cert", "", "--tls-key", pki("server.key")], "--tls-cert")
        self.assertRefused(["--tls-cert"], "--tls-cert")

    def test_bad_files_are_named(self):
        tmp = tempfile.mkdtemp(prefix="ee-tls-bad-")
        try:
            def write(name, data):
                path = os.path.join(tmp, name)
                with open(path, "wb") as f:
                    f.write(data)
                return path
            junk = write("junk.pem", b"hello\n")
            empty = write("empty.pem", b"")
            binary = write("binary.pem", bytes(range(256)))
            broken = write("broken.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                         b"-----END CERTIFICATE-----\n")
            broken_key = write("broken.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                             b"-----END PRIVATE KEY-----\n")
            other_key = os.path.join(tmp, "other.key")
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-out", other_key],
                           check=True, capture_output=True)
            enc_key = os.path.join(tmp, "enc.key")
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:x", "-out",
                            enc_key], check=True, capture_output=True)
            cert, key = pki("server.pem"), pki("server.key")
            missing = os.path.join(tmp, "missing.pem")
            cases = [
                ((missing, key), ("--tls-cert", missing, "No such file")),
                ((cert, missing), ("--tls-key", missing, "No such file")),
                ((tmp, key), ("--tls-cert", tmp)),
                ((empty, key), ("--tls-cert", empty, "empty")),
                ((junk, key), ("--tls-cert", junk, "BEGIN CERTIFICATE")),
                ((binary, key), ("--tls-cert", binary)),
                ((broken, key), ("--tls-cert", broken, "malformed")),
                ((cert, junk), ("--tls-key", junk, "PRIVATE KEY")),
                ((cert, broken_key), ("--tls-key", broken_key, "malformed")),
                ((key, cert), ("--tls-cert", key)),  # swapped
                ((cert, cert), ("--tls-key", cert)),
                ((cert, enc_key), ("--tls-key", enc_key, "encrypted")),
                ((cert, other_key), ("--tls-key", other_key, "does not match", cert)),
            ]
            for (c, k), names in cases:
                self.assertRefused(["--tls-cert", c, "--tls-key", k], *names)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_help_lists_the_flags(self):
        rc, out, _ = self.run_emulator("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--tls-cert FILE", out)
        self.assertIn("--tls-key FILE", out)


if __name__ == "__main__":
    unittest.main()
