"""ee-export exit codes 0-4 over both transports, one-line errors, -v logs without
secrets, and every class of bad input: exit 2, one clear line, nothing sent (checked with
a listener that counts connections and with the emulator's own list of operations)."""
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

from cli_support import (ERROR_LINE, EXPORT, TRANSPORTS, Emulator, Sentinel, clean_env, endpoint,
                         ops_of, run, small_request, write_json)


def free_port():
    """A loopback port with nothing listening (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator()
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.req = write_json(os.path.join(d, "req.json"), small_request(project="projects/bad"))
        cls.expr = write_json(os.path.join(d, "expr.json"), small_request()["expression"])
        cls.trunc = os.path.join(d, "trunc.json")
        with open(cls.trunc, "w") as f:
            f.write('{"description": "x", "grid": {"dimensions": {"width": 3,')
        cls.badtype = os.path.join(d, "badtype.json")
        with open(cls.badtype, "w") as f:
            f.write('{"description": "x",\n "grid": {"dimensions": {"width": "wide"}}}')
        cls.unknown = write_json(os.path.join(d, "unknown.json"), {"descripton": "typo"})
        bad = small_request(assetExportOptions={"pyramidingPolicy": "AVERAGE"})
        del bad["fileExportOptions"]
        cls.badpolicy = write_json(os.path.join(d, "badpolicy.json"), bad)
        cls.badexpr = os.path.join(d, "badexpr.json")
        with open(cls.badexpr, "w") as f:
            f.write('{"values": {"0": {"constantValue": 1, "integerValue": "2"}}, "result": "0"}')
        cls.jsonl = os.path.join(d, "b.jsonl")
        with open(cls.jsonl, "w") as f:
            f.write('{"description": "ok"}\n\n{"description": 5}\n')
        cls.jsonl_asset = os.path.join(d, "asset.jsonl")
        with open(cls.jsonl_asset, "w") as f:
            f.write('{"expression": {"values": {"0": {"integerValue": "1"}}, "result": "0"}, '
                    '"assetExportOptions": {"earthEngineDestination": {"name": "assets/x"}}}\n')

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        cls.tmp.cleanup()

    def cases(self):
        R, E = self.req, ["image", "--request", self.req]
        return [
            # (args, env extra, what the one line must mention)
            (["--bogus"] + E, {}, "--bogus"),
            (E + ["--bogus"], {}, "--bogus"),
            (["operations", "get", "--bogus", "projects/bad/operations/X"], {}, "--bogus"),
            (["operations", "frob", "projects/bad/operations/X"], {}, "frob"),
            (["batch", self.jsonl, "--bogus"], {}, "--bogus"),
            (["exprot"], {}, "exprot"),
            (E + ["--description"], {}, "--description"),
            (E + ["--description", "--wait"], {}, "--description"),
            (["image", "--request", self.trunc], {}, r"trunc\.json: .*\(byte \d+\)"),
            (["image", "--request", self.badtype], {}, r"grid\.dimensions\.width: .*\(byte \d+\)"),
            (["image", "--request", self.unknown], {}, r"descripton"),
            (["image", "--request", "-"], {}, r"\(stdin\)"),  # empty stdin
            (["image", "--request", "/nonexistent/r.json"], {}, "/nonexistent/r.json"),
            (["image", "--request", self.badpolicy], {}, r"pyramidingPolicy.*AVERAGE|AVERAGE.*pyramidingPolicy"),
            (["image", "--expression", self.badexpr, "--drive-folder", "f"], {}, r"expr.*values"),
            (E + ["--asset", "projects/bad/assets/a", "--pyramiding", "AVERAGE"], {}, "AVERAGE"),
            (E + ["--asset", "projects/bad/assets/a", "--pyramiding-override", "b1=AVG"], {}, "AVG"),
            (E + ["--asset", "projects/bad/assets/a", "--pyramiding-override", "b1"], {}, "BAND=POLICY"),
            (E + ["--asset", "projects/bad/assets/a", "--gcs-bucket", "b"], {}, "two destinations"),
            (E + ["--drive-folder", "d", "--gcs-bucket", "b"], {}, "two destinations"),
            (E + ["--overwrite"], {}, "--overwrite"),
            (E + ["--asset", "foo/bar"], {}, r"projects/\*/assets/\*\*"),
            (E + ["--asset", "projects/bad/assets/"], {}, r"projects/\*/assets/\*\*"),
            (E + ["--asset", "projects/bad/assets/a/../b"], {}, r"projects/\*/assets/\*\*"),
            (["--project", "a/b"] + E, {}, "a/b"),
            (["operations", "get", "foo"], {}, r"projects/\*/operations/\*\*"),
            (["operations", "cancel", "projects/bad/notops/X"], {}, r"projects/\*/operations"),
            (["operations", "wait", "operations/X"], {}, r"projects/\*/operations"),
            (["operations", "get"], {}, "NAME"),
            (E + ["--max-pixels", "12x"], {}, "--max-pixels"),
            (E + ["--max-pixels", "0"], {}, "--max-pixels"),
            (E + ["--max-pixels", "99999999999999999999"], {}, "--max-pixels"),
            (E + ["--priority", "-1"], {}, "--priority"),
            (E + ["--priority", "10000"], {}, "--priority"),
            (E + ["--dimensions", "0x5"], {}, "--dimensions"),
            (E + ["--dimensions", "5"], {}, "--dimensions"),
            (E + ["--dimensions", "3000000000x2"], {}, "--dimensions"),
            (E + ["--crs-transform", "1,2,3,4,5"], {}, "--crs-transform"),
            (E + ["--crs-transform", "1,2,3,4,5,x"], {}, "--crs-transform"),
            (E + ["--crs-transform", "1,2,3,4,5,inf"], {}, "--crs-transform"),
            (E + ["--crs", "EPSG:4326", "--crs-wkt", R], {}, "--crs-wkt"),
            (E + ["--format", "jpeg", "--drive-folder", "f"], {}, "jpeg"),
            (E + ["--request-id", "not valid!"], {}, "requestId"),
            (E + ["--request-id", "a" * 61], {}, "requestId"),
            (["operations", "list", "--state", "DONE"], {}, "DONE"),
            (["operations", "list", "--page-size", "0"], {}, "--page-size"),
            (["batch", self.jsonl, "--max-in-flight", "0"], {}, "--max-in-flight"),
            (["batch", self.jsonl], {}, r"b\.jsonl:3: description"),
            (["batch", self.jsonl_asset], {}, r"asset\.jsonl:1: .*projects/\*/assets"),
            (["batch", os.path.join(self.tmp.name, "none.jsonl")], {}, "none.jsonl"),
            (["--transport", "http2"] + E, {}, "http2"),
            (["--output", "xml"] + E, {}, "xml"),
            (E, {"EE_TRANSPORT": "carrier-pigeon"}, "EE_TRANSPORT"),
            (["image", "--drive-folder", "f"], {}, "expression"),
        ]

    def check_refused(self, args, extra, mention, url, transport):
        env = clean_env(**extra)
        r = subprocess.run([EXPORT, "--endpoint", url, "--transport", transport] +
                           (["--project", "projects/bad"] if "--project" not in args else []) +
                           args, capture_output=True, text=True, env=env, input="", timeout=60)
        self.assertEqual(r.returncode, 2, (r.stdout, r.stderr))
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], ERROR_LINE)
        self.assertRegex(lines[0], mention)

    def test_bad_input_sends_nothing(self):
        sentinel = Sentinel()
        try:
            for args, extra, mention in self.cases():
                for t in TRANSPORTS:
                    with self.subTest(args=args, transport=t):
                        self.check_refused(args, extra, mention, sentinel.url(), t)
                        self.check_refused(args, extra, mention, endpoint(self.emu, t), t)
            self.assertEqual(sentinel.accepted, 0)
        finally:
            sentinel.close()
        self.assertEqual(ops_of(self.emu, "projects/bad"), [])


class ExitCodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.req = write_json(os.path.join(cls.tmp.name, "req.json"),
                             small_request(project="projects/demo",
                                           grid={"dimensions": {"width": 100, "height": 100}}))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_1_service_errors(self):
        with Emulator() as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    r = run(["operations", "get", "projects/demo/operations/NOSUCH"], emu, t)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertEqual(r.stdout, "")
                    self.assertRegex(r.stderr, r"^error: NOT_FOUND: .*NOSUCH.*\n$")
                    # The service refuses the graph (a dangling reference): its verdict.
                    dangling = write_json(os.path.join(self.tmp.name, "d.json"), {
                        "values": {"0": {"valueReference": "1"}}, "result": "0"})
                    r = run(["image", "--expression", dangling, "--drive-folder", "f",
                             "--format", "geotiff"], emu, t)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertRegex(r.stderr, r"^error: INVALID_ARGUMENT: .+\n$")

    def test_1_unauthenticated_and_v_has_no_secret(self):
        token = "s3cret-token-for-the-cli-test"
        with Emulator("--token", token) as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    r = run(["image", "--request", self.req], emu, t)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertRegex(r.stderr, r"^error: UNAUTHENTICATED: ")
                    env = clean_env(EE_ACCESS_TOKEN=token)
                    r = run(["-v", "image", "--request", self.req, "--wait"], emu, t, env=env)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertNotIn(token, r.stderr + r.stdout)
                    self.assertNotIn(token[:12], r.stderr + r.stdout)
                    log = [ln for ln in r.stderr.splitlines() if " attempt " in ln]
                    self.assertGreaterEqual(len(log), 2)
                    if t == "rest":
                        self.assertRegex(log[0], r"^rest POST http://127\.0\.0\.1:\d+/v1/projects/"
                                         r"demo/image:export \(ExportImage\) attempt 1: OK "
                                         r"HTTP 200 \d+ ms$")
                        self.assertRegex(r.stderr, r"(?m)^rest (GET|POST) http://\S+/v1/projects/"
                                         r"demo/operations/\S+ \((Get|Wait)Operation\) attempt 1: OK")
                    else:
                        self.assertRegex(log[0], r"^grpc 127\.0\.0\.1:\d+/google\.earthengine\.v1\."
                                         r"EarthEngine/ExportImage attempt 1: OK \d+ ms$")

    def test_3_failed_and_cancelled(self):
        with Emulator("--task-seconds", "30") as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t, end="FAILED"):
                    # maxPixels below the grid (100x100): the emulator fails the task.
                    r = run(["image", "--request", self.req, "--max-pixels", "99", "--wait"],
                            emu, t)
                    self.assertEqual(r.returncode, 3, r.stderr)
                    self.assertRegex(r.stdout, r"^projects/demo/operations/\S+ FAILED ")
                    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
                    self.assertEqual(len(err), 1, r.stderr)
                    self.assertRegex(err[0], r"^error: INVALID_ARGUMENT: projects/demo/operations/"
                                     r"\S+ ended FAILED: Export too large")
                with self.subTest(transport=t, end="CANCELLED"):
                    before = {o["name"] for o in ops_of(emu)}
                    waiter = subprocess.Popen(
                        [EXPORT, "--endpoint", endpoint(emu, t), "--transport", t, "--project",
                         "projects/demo", "image", "--request", self.req, "--wait"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
                    try:
                        new = set()
                        for _ in range(600):
                            new = {o["name"] for o in ops_of(emu)} - before
                            if new:
                                break
                            time.sleep(0.05)
                        self.assertEqual(len(new), 1)
                        name = new.pop()
                        c = run(["operations", "cancel", name], emu, t)
                        self.assertEqual(c.returncode, 0, c.stderr)
                        out, err = waiter.communicate(timeout=60)
                    finally:
                        if waiter.poll() is None:
                            waiter.kill()
                    self.assertEqual(waiter.returncode, 3, err)
                    self.assertRegex(out, "^%s CANCELLED" % re.escape(name))
                    self.assertRegex(err, r"(?m)^error: CANCELLED: %s ended CANCELLED" % re.escape(name))

    def test_4_nothing_listening(self):
        port = free_port()
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = subprocess.run([EXPORT, "--endpoint", "http://127.0.0.1:%d" % port,
                                    "--transport", t, "--project", "projects/demo", "-v",
                                    "image", "--request", self.req], capture_output=True,
                                   text=True, env=clean_env(), timeout=120)
                self.assertEqual(r.returncode, 4, r.stderr)
                self.assertEqual(r.stdout, "")
                errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
                self.assertEqual(len(errors), 1, r.stderr)
                self.assertRegex(errors[0], r"^error: UNAVAILABLE: ")
                # -v: every attempt logged, retried before giving up.
                self.assertGreaterEqual(len(re.findall(r" attempt \d+: UNAVAILABLE", r.stderr)), 2)

    def test_4_service_unavailable_after_retries(self):
        with Emulator("--fail-rate", "1.0") as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    r = run(["operations", "list"], emu, t)
                    self.assertEqual(r.returncode, 4, r.stderr)
                    self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                    self.assertRegex(r.stderr, r"^error: UNAVAILABLE: ")


if __name__ == "__main__":
    unittest.main()
