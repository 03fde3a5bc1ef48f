"""ee-export end to end: every subcommand over both transports against ee-emulator, with
the emulator's own answers (read through Python grpcio) as the oracle."""
import json
import os
import re
import tempfile
import unittest

from cli_support import (TRANSPORTS, all_done, Emulator, clean_env, get_op, json_format, operations_pb2,
                         ops_of, parse_operation, run, small_request, write_json)

EXPR = small_request()["expression"]
OP_LINE = re.compile(r"^projects/demo/operations/[A-Z0-9]+ [A-Z]+")


class Commands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--task-seconds", "1")
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.expr = write_json(os.path.join(d, "expr.json"), EXPR)
        cls.req = write_json(os.path.join(d, "req.json"), small_request(project="projects/demo"))

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        cls.tmp.cleanup()

    def ok(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_image_from_request_file(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                out = self.ok(run(["image", "--request", self.req, "--request-id", "req-" + t],
                                  self.emu, t))
                self.assertRegex(out.strip(), OP_LINE)
                op = get_op(self.emu, out.split()[0])
                self.assertEqual(op["metadata"]["description"], "test export")

    def test_image_from_flags_json_output(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                args = ["--output", "json", "image", "--expression", self.expr,
                        "--description", "flags " + t, "--gcs-bucket", "bkt", "--file-prefix",
                        "pre/" + t, "--format", "geotiff", "--crs", "EPSG:4326",
                        "--crs-transform", "0.5,0,10,0,-0.5,20", "--dimensions", "8x4",
                        "--max-pixels", "1000", "--priority", "42", "--workload-tag", "tag1",
                        "--request-id", "flags-" + t]
                op = parse_operation(self.ok(run(args, self.emu, t)))
                self.assertTrue(op.name.startswith("projects/demo/operations/"))
                md = get_op(self.emu, op.name)["metadata"]
                self.assertEqual(md["description"], "flags " + t)
                self.assertEqual(md["priority"], 42)
                self.assertEqual(md["destinationUris"],
                                 ["https://console.developers.google.com/storage/browser/bkt/pre/" + t])

    def test_image_asset_wait(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                asset = "projects/demo/assets/cli/" + t
                r = run(["image", "--expression", self.expr, "--asset", asset, "--overwrite",
                         "--pyramiding", "MEAN", "--pyramiding-override", "b1=MODE",
                         "--description", "asset " + t, "--wait"], self.emu, t)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^projects/demo/operations/\S+ SUCCEEDED 100%")
                # Progress went to stderr, one plain line per change (not a terminal).
                self.assertIn("SUCCEEDED", r.stderr)
                op = get_op(self.emu, r.stdout.split()[0])
                self.assertEqual(op["metadata"]["destinationUris"],
                                 ["https://code.earthengine.google.com/?asset=" + asset])

    def test_image_request_from_stdin_wrappers(self):
        req = small_request(project="projects/demo", maxPixels={"value": "5000"},
                            priority={"value": 7}, requestId="stdin-1")
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                req["requestId"] = "stdin-" + t
                out = self.ok(run(["--output", "json", "image", "--request", "-"], self.emu, t,
                                  input=json.dumps(req)))
                op = parse_operation(out)
                self.assertEqual(get_op(self.emu, op.name)["metadata"]["priority"], 7)

    def test_same_request_id_same_operation(self):
        names = set()
        for t in TRANSPORTS:
            out = self.ok(run(["image", "--request", self.req, "--request-id", "idem-1"],
                              self.emu, t))
            names.add(out.split()[0])
        self.assertEqual(len(names), 1, names)

    def test_operations_get_wait_cancel_delete(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                name = self.ok(run(["image", "--request", self.req, "--request-id", "ops-" + t],
                                   self.emu, t)).split()[0]
                out = self.ok(run(["operations", "get", name], self.emu, t))
                self.assertTrue(out.startswith(name + " "), out)
                op = parse_operation(self.ok(run(["--output", "json", "operations", "get", name],
                                                 self.emu, t)))
                self.assertEqual(op.name, name)
                r = run(["operations", "wait", name], self.emu, t)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(" SUCCEEDED", r.stdout)
                self.assertTrue(get_op(self.emu, name)["done"])
                # Cancel a fresh one, then wait sees CANCELLED: exit 3.
                name2 = self.ok(run(["image", "--request", self.req, "--request-id",
                                     "cancel-" + t], self.emu, t)).split()[0]
                self.assertEqual(self.ok(run(["operations", "cancel", name2], self.emu, t)),
                                 "cancelled %s\n" % name2)
                r = run(["operations", "wait", name2], self.emu, t)
                self.assertEqual(r.returncode, 3, r.stderr)
                self.assertIn("CANCELLED", r.stdout)
                self.assertEqual(get_op(self.emu, name2)["metadata"]["state"], "CANCELLED")
                # Delete: the emulator forgets it; --output json prints Empty.
                self.assertEqual(self.ok(run(["--output", "json", "operations", "delete", name2],
                                             self.emu, t)), "{}\n")
                self.assertNotIn(name2, [o["name"] for o in ops_of(self.emu)])
                r = run(["operations", "get", name2], self.emu, t)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertRegex(r.stderr, r"^error: NOT_FOUND: ")

    def test_operations_list_all_pages_and_state(self):
        for i in range(12):
            self.ok(run(["image", "--request", self.req, "--request-id", "list-%d" % i,
                         "--dimensions", "10x10", "--max-pixels", "1" if i % 3 == 0 else "100000"], self.emu))
        want = ops_of(self.emu)
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = run(["-v", "--output", "json", "operations", "list", "--page-size", "5"],
                        self.emu, t)
                self.assertEqual(r.returncode, 0, r.stderr)
                resp = json_format.Parse(r.stdout, operations_pb2.ListOperationsResponse())
                self.assertEqual(sorted(o.name for o in resp.operations),
                                 sorted(o["name"] for o in want))
                pages = len(re.findall(r"ListOperations.* attempt 1: OK", r.stderr))
                self.assertGreaterEqual(pages, (len(want) + 4) // 5)
                # Text: one line per operation.
                text = self.ok(run(["operations", "list", "--page-size", "5"], self.emu, t))
                self.assertEqual(len(text.splitlines()), len(want))
        # maxPixels 1 fails the task (the grid is larger).
        failed = {o["name"] for o in all_done(self.emu) if o["metadata"].get("state") == "FAILED"}
        self.assertGreaterEqual(len(failed), 1)
        for t in TRANSPORTS:
            with self.subTest(transport=t, state="FAILED"):
                text = self.ok(run(["operations", "list", "--state", "FAILED"], self.emu, t))
                self.assertEqual({line.split()[0] for line in text.splitlines()}, failed)

    def test_project_from_environment(self):
        env = clean_env(EE_PROJECT="demo", EE_ENDPOINT=self.emu.rest_base)
        r = run(["image", "--expression", self.expr, "--drive-folder", "f", "--format", "tfrecord",
                 "--request-id", "env-1"], project=None, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("projects/demo/operations/"), r.stdout)
        env["EE_TRANSPORT"] = "grpc"
        env["EE_ENDPOINT"] = "http://" + self.emu.grpc_target
        r = run(["-v", "operations", "get", r.stdout.split()[0]], project=None, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("grpc ", r.stderr)

    def test_version_and_help(self):
        r = run(["--version"], project=None)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^ee-export \d+\.\d+\.\d+\n$")
        for args in (["--help"], ["image", "--help"], ["operations", "--help"],
                     ["batch", "--help"], ["help", "image"], ["operations", "list", "--help"]):
            with self.subTest(args=args):
                r = run(args, project=None)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("usage: ee-export", r.stdout)
                self.assertIn("Example", r.stdout)
                self.assertEqual(r.stderr, "")
        r = run([], project=None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)


if __name__ == "__main__":
    unittest.main()
