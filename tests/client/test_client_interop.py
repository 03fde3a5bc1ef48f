"""Our wire, checked by code we did not write: the C client (through client_call) against
Python's grpcio server and a Python REST server that parses our bodies with
json_format.Parse (unknown fields refused), both answering canned replies.

Run by ctest with CLIENT_CALL (the client_call binary), EE_PYTHON_PROTO_DIR and the
interop directory on sys.path."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.environ["EE_INTEROP_DIR"])
from canned_support import CannedServer  # noqa: E402

CLIENT_CALL = os.environ["CLIENT_CALL"]
TOKEN = "interop-secret-token-7f3a"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

EXPORT = {
    "project": "projects/p",
    "description": "interop",
    "expression": {"values": {"0": {"functionInvocationValue": {
        "functionName": "Image.constant", "arguments": {"value": {"constantValue": 5}}}}},
        "result": "0"},
    "maxPixels": "1000000",
    "priority": 7,
    "grid": {"crsCode": "EPSG:4326", "affineTransform": {"scaleX": 0.5, "translateX": -10.0,
                                                         "scaleY": -0.5, "translateY": 5.0},
             "dimensions": {"width": 64, "height": 32}},
    "assetExportOptions": {"pyramidingPolicy": "MEAN",
                           "pyramidingPolicyOverrides": {"b1": "MODE"},
                           "earthEngineDestination": {"name": "projects/p/assets/a",
                                                      "overwrite": True}},
}
OPERATION = {"name": "projects/p/operations/OP1",
             "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                          "state": "RUNNING", "progress": 0.25, "description": "interop"}}

REPLIES = {
    # REST sends unknown fields as written: the client must ignore what the service adds.
    "ExportImage": {"response": dict(OPERATION, newServiceField={"x": 1})},
    "GetOperation": {"error": {"code": 5, "message": "operation OP9 not found", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "OPERATION_NOT_FOUND",
         "domain": "earthengine.googleapis.com", "metadata": {"operation": "OP9", "zone": "z1"}}]}},
    "ListOperations": [
        {"error": {"code": 8, "message": "slow down", "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.300s"}]}},
        {"response": {"operations": [OPERATION], "nextPageToken": ""}}],
    "CancelOperation": {"response": {}},
    "DeleteOperation": {"response": {}},
    "WaitOperation": {"response": dict(OPERATION, done=True)},
}


def call(kind, address, rpc, request, *extra):
    endpoint = address if kind == "rest" else "http://" + address
    args = [CLIENT_CALL, "--transport", kind, "--endpoint", endpoint, "--rpc", rpc,
            "--request", json.dumps(request), "--token", TOKEN, "--quota-project", "qp-1",
            "--attempts", "3"] + list(extra)
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip(), p.stderr


class Interop(unittest.TestCase):
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.replies = os.path.join(cls.dir, "replies.json")
        with open(cls.replies, "w") as f:
            json.dump(REPLIES, f)
        cls.record = os.path.join(cls.dir, "record.jsonl")
        cls.server = CannedServer(cls.kind, replies=cls.replies, record=cls.record)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def records(self, method):
        return [r for r in self.server.records() if r["method"] == method]

    def check_common(self, rec):
        self.assertIsNone(rec["wire_error"])
        meta = rec["metadata"] if self.kind == "grpc" else rec["headers"]
        self.assertEqual(meta["authorization"], "Bearer " + TOKEN)
        self.assertTrue(meta["x-goog-api-client"].startswith("ee-c/"), meta)
        self.assertEqual(meta["x-goog-user-project"], "qp-1")
        self.assertIn("ee-c/", meta["user-agent"])
        return meta

    def test_export(self):
        rc, out, err = call(self.kind, self.server.address,
                            "/google.earthengine.v1.EarthEngine/ExportImage", EXPORT)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(json.loads(out), OPERATION)  # the unknown field is dropped
        rec = self.records("ExportImage")[-1]
        meta = self.check_common(rec)
        sent = dict(rec["request"])
        self.assertRegex(sent.pop("requestId"), UUID4)  # filled by the client
        self.assertEqual(sent, EXPORT)
        if self.kind == "grpc":
            self.assertEqual(meta["x-goog-request-params"], "project=projects%2Fp")
            self.assertIsNotNone(rec["timeout"])  # a deadline is always sent
        else:
            self.assertEqual(rec["http_method"], "POST")
            self.assertEqual(rec["path"], "/v1/projects/p/image:export")
            self.assertTrue(meta["content-type"].startswith("application/json"))

    def test_error_details(self):
        rc, out, _ = call(self.kind, self.server.address,
                          "/google.longrunning.Operations/GetOperation",
                          {"name": "projects/p/operations/OP9"})
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("error NOT_FOUND "), out)
        self.assertIn("reason=OPERATION_NOT_FOUND", out)
        self.assertIn("domain=earthengine.googleapis.com", out)
        # Map entries come in whatever order the server wrote them.
        md = re.search(r" metadata=(\S*) ", out).group(1)
        self.assertEqual(sorted(md.split(",")), ["operation=OP9", "zone=z1"], out)
        self.assertIn("message=operation OP9 not found", out)
        self.assertNotIn(TOKEN, out)
        self.assertEqual(len(self.records("GetOperation")), 1)  # NOT_FOUND is not retried
        if self.kind == "rest":
            self.assertEqual(self.records("GetOperation")[-1]["path"],
                             "/v1/projects/p/operations/OP9")

    def test_retry_info(self):
        rc, out, err = call(self.kind, self.server.address,
                            "/google.longrunning.Operations/ListOperations",
                            {"name": "projects/p", "filter": "done = false", "pageSize": 5})
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(json.loads(out), {"operations": [OPERATION]})
        recs = self.records("ListOperations")
        self.assertEqual(len(recs), 2)
        # RetryInfo asked for 300 ms: the retry may not come sooner.
        self.assertGreaterEqual(recs[1]["time"] - recs[0]["time"], 0.29)
        for rec in recs:
            self.check_common(rec)
            self.assertEqual(rec["request"], {"name": "projects/p", "filter": "done = false",
                                              "pageSize": 5})
        if self.kind == "rest":
            self.assertEqual(recs[0]["query"], {"filter": "done = false", "pageSize": "5"})

    def test_cancel_delete_wait(self):
        name = {"name": "projects/p/operations/OP1"}
        for rpc, method in (("CancelOperation", "POST"), ("DeleteOperation", "DELETE")):
            rc, out, err = call(self.kind, self.server.address,
                                "/google.longrunning.Operations/" + rpc, name)
            self.assertEqual((rc, json.loads(out)), (0, {}), out + err)
            rec = self.records(rpc)[-1]
            self.check_common(rec)
            self.assertEqual(rec["request"], name)
            if self.kind == "rest":
                self.assertEqual(rec["http_method"], method)
        rc, out, err = call(self.kind, self.server.address,
                            "/google.longrunning.Operations/WaitOperation",
                            dict(name, timeout="3.500s"))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(json.loads(out), dict(OPERATION, done=True))
        self.assertEqual(self.records("WaitOperation")[-1]["request"], dict(name, timeout="3.500s"))


class RestInterop(Interop):
    kind = "rest"


class GrpcInterop(Interop):
    kind = "grpc"


del Interop

if __name__ == "__main__":
    unittest.main(verbosity=2)
