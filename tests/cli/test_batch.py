"""ee-export batch: content-derived requestIds make a batch resumable (interrupted with
SIGINT or SIGKILL midway, run again: no duplicate operation, every request done, the
report says which already existed), a full queue (RESOURCE_EXHAUSTED) is waited out,
directories and JSON Lines, --report and --output json. The emulator's own list of
operations (Python grpcio) is the oracle."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from cli_support import EXPORT, TRANSPORTS, Emulator, clean_env, endpoint, ops_of, run

N = 40


def request(i, project=None):
    req = {"description": "batch-%03d" % i,
           "expression": {"values": {"0": {"functionInvocationValue": {
               "functionName": "Image.constant", "arguments": {"value": {"constantValue": i}}}}},
               "result": "0"},
           "fileExportOptions": {"fileFormat": "GEO_TIFF",
                                 "driveDestination": {"folder": "batch", "filenamePrefix": "f%d" % i}}}
    if project:
        req["project"] = project
    return req


def read_report(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class Batch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def jsonl(self, name, reqs):
        with open(self.path(name), "w") as f:
            for r in reqs:
                f.write(json.dumps(r) + "\n")
        return self.path(name)

    def resume(self, transport, sig):
        project = "projects/resume-%s" % transport
        src = self.jsonl("b.jsonl", [request(i) for i in range(N)])
        with Emulator("--latency-ms", "100", "--task-seconds", "1") as emu:
            cmd = [EXPORT, "--endpoint", endpoint(emu, transport), "--transport", transport,
                   "--project", project, "batch", src, "--max-in-flight", "2"]
            first = subprocess.Popen(cmd + ["--report", self.path("r1.jsonl")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=clean_env())
            try:
                while len(ops_of(emu, project)) < 5 and first.poll() is None:
                    time.sleep(0.02)
                first.send_signal(sig)
                out1, err1 = first.communicate(timeout=120)
            finally:
                if first.poll() is None:
                    first.kill()
            made = {o["name"] for o in ops_of(emu, project)}
            self.assertLess(len(made), N, "the batch was not interrupted midway")
            self.assertGreaterEqual(len(made), 5)
            if sig == signal.SIGINT:
                # In-flight requests finish; the summary and report say what happened.
                self.assertEqual(first.returncode, 130, err1)
                self.assertRegex(out1, r"^%d requests: %d submitted, 0 already existing, 0 failed, "
                                 r"%d not sent \(interrupted\)\n" % (N, len(made), N - len(made)))
                r1 = read_report(self.path("r1.jsonl"))
                self.assertEqual({r["operation"] for r in r1}, made)
                self.assertTrue(all(r["status"] == "submitted" for r in r1), r1)
            else:
                self.assertEqual(first.returncode, -signal.SIGKILL)

            second = subprocess.run(cmd + ["--report", self.path("r2.jsonl")],
                                    capture_output=True, text=True, env=clean_env(), timeout=300)
            self.assertEqual(second.returncode, 0, second.stderr)
            ops = ops_of(emu, project)
            # No duplicates: one operation per request, the first run's kept.
            self.assertEqual(len(ops), N)
            self.assertEqual(len({o["metadata"]["description"] for o in ops}), N)
            self.assertTrue(made <= {o["name"] for o in ops})
            r2 = read_report(self.path("r2.jsonl"))
            self.assertEqual(len(r2), N)
            existing = {r["operation"] for r in r2 if r["status"] == "existing"}
            submitted = [r for r in r2 if r["status"] == "submitted"]
            self.assertEqual(existing, made)
            self.assertEqual(len(submitted), N - len(made))
            self.assertEqual(second.stdout, "%d requests: %d submitted, %d already existing, "
                             "0 failed\n" % (N, N - len(made), len(made)))
            # Every record: its line, a derived requestId, the operation.
            for r in r2:
                self.assertRegex(r["source"], r"b\.jsonl:\d+$")
                self.assertRegex(r["requestId"], r"^b-[0-9a-f]{40}$")
            # A third run starts nothing.
            third = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                                   timeout=300)
            self.assertEqual(third.returncode, 0, third.stderr)
            self.assertEqual(third.stdout, "%d requests: 0 submitted, %d already existing, "
                             "0 failed\n" % (N, N))
            self.assertEqual(len(ops_of(emu, project)), N)

    def test_resume_after_sigint_rest(self):
        self.resume("rest", signal.SIGINT)

    def test_resume_after_sigkill_grpc(self):
        self.resume("grpc", signal.SIGKILL)

    def test_resume_after_sigkill_rest(self):
        self.resume("rest", signal.SIGKILL)

    def test_queue_full_waits(self):
        src = self.jsonl("q.jsonl", [request(i) for i in range(8)])
        with Emulator("--max-queued", "2", "--max-running", "1", "--task-seconds", "1") as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    project = "projects/queue-" + t
                    r = run(["-v", "batch", src, "--max-in-flight", "4", "--report",
                             self.path("q.report")], emu, t, project=project, timeout=300)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertRegex(r.stderr, r"attempt \d+: RESOURCE_EXHAUSTED")
                    self.assertEqual(r.stdout, "8 requests: 8 submitted, 0 already existing, "
                                     "0 failed\n")
                    self.assertEqual(len(ops_of(emu, project)), 8)
                    self.assertTrue(all(x["status"] == "submitted"
                                        for x in read_report(self.path("q.report"))))

    def test_directory_json_output_and_duplicates(self):
        d = self.path("dir")
        os.mkdir(d)
        for i in range(3):
            with open(os.path.join(d, "req%d.json" % i), "w") as f:
                json.dump(request(i), f, indent=2)
        with open(os.path.join(d, "dup.json"), "w") as f:  # the same request as req0.json
            json.dump(request(0), f)
        with open(os.path.join(d, "own-id.json"), "w") as f:
            json.dump(dict(request(9), requestId="my-own-id-1"), f)
        with open(os.path.join(d, "notes.txt"), "w") as f:
            f.write("not a request")
        with Emulator() as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    project = "projects/dir-" + t
                    r = run(["--output", "json", "batch", d, "--report", self.path("d.report")],
                            emu, t, project=project)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    summary = json.loads(r.stdout)
                    self.assertEqual(summary, {"total": 5, "submitted": 4, "existing": 1,
                                               "failed": 0, "notSent": 0, "failures": []})
                    rep = {x["source"]: x for x in read_report(self.path("d.report"))}
                    self.assertEqual(sorted(os.path.basename(s) for s in rep),
                                     ["dup.json", "own-id.json", "req0.json", "req1.json",
                                      "req2.json"])
                    by = {os.path.basename(s): x for s, x in rep.items()}
                    self.assertEqual(by["dup.json"]["operation"], by["req0.json"]["operation"])
                    self.assertEqual(by["dup.json"]["requestId"], by["req0.json"]["requestId"])
                    self.assertEqual(by["own-id.json"]["requestId"], "my-own-id-1")
                    self.assertEqual(len(ops_of(emu, project)), 4)

    def test_failures_are_reported(self):
        reqs = [request(0), dict(request(1), grid={"dimensions": {"width": 50, "height": 50}},
                                 maxPixels="10"),
                {"description": "dangling", "expression": {"values": {"0": {"valueReference": "9"}},
                                                           "result": "0"},
                 "fileExportOptions": {"fileFormat": "GEO_TIFF", "driveDestination": {}}}]
        src = self.jsonl("f.jsonl", reqs)
        with Emulator() as emu:
            for t in TRANSPORTS:
                with self.subTest(transport=t):
                    r = run(["batch", src, "--report", self.path("f.report")], emu, t,
                            project="projects/fail-" + t)
                    # The dangling reference is the service's verdict on one request.
                    self.assertEqual(r.returncode, 1, r.stderr)
                    lines = r.stdout.splitlines()
                    self.assertEqual(lines[0], "3 requests: 2 submitted, 0 already existing, "
                                     "1 failed")
                    self.assertRegex(lines[1], r"^  failed \S+f\.jsonl:3: INVALID_ARGUMENT: ")
                    rep = read_report(self.path("f.report"))
                    bad = [x for x in rep if x["status"] == "failed"]
                    self.assertEqual(len(bad), 1)
                    self.assertEqual(bad[0]["code"], "INVALID_ARGUMENT")
                    self.assertTrue(bad[0]["message"])


if __name__ == "__main__":
    unittest.main()
