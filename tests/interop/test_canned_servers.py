"""Self-test of the two canned interop servers, driven by Python itself (grpcio and
http.client), so they are known to work before the C client is checked against them:
canned responses and errors (with details) come back as written, every request is
recorded as the README says, and malformed requests are answered and recorded as wire
errors. Plaintext and TLS (a CA made by tests/support/make_test_ca.sh)."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import canned_common as cc  # noqa: E402
from canned_support import CannedServer  # noqa: E402

cc.load_protos()
import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.earthengine.v1 import earthengine_pb2  # noqa: E402
from google.longrunning import operations_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

MAKE_CA = os.path.join(HERE, "..", "support", "make_test_ca.sh")
OP = {"name": "projects/p1/operations/OP1",
      "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                   "state": "RUNNING", "progress": 0.5}}
ERROR_INFO = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "OP_GONE",
              "domain": "earthengine.googleapis.com", "metadata": {"op": "X"}}
RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}
REPLIES = {
    "ExportImage": {"response": dict(OP, serviceAddsThisLater=True)},
    "GetOperation": [
        {"error": {"code": 14, "message": "busy", "details": [RETRY_INFO]}},
        {"error": {"code": 5, "message": "gone", "details": [ERROR_INFO]}},
    ],
    "ListOperations": {"response": {"operations": [OP], "nextPageToken": "next"}},
    "CancelOperation": {"response": {}},
    "DeleteOperation": {"response": {}},
    "WaitOperation": {"response": dict(OP, done=True)},
}
EXPORT = {"project": "projects/p1", "description": "d", "requestId": "req-1",
          "maxPixels": "1000", "expression": {"result": "0", "values": {"0": {
              "functionInvocationValue": {"functionName": "Image.constant",
                                          "arguments": {"value": {"constantValue": 5}}}}}},
          "fileExportOptions": {"fileFormat": "GEO_TIFF",
                                "driveDestination": {"folder": "f"}}}


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="ee-interop-")
    subprocess.run([MAKE_CA, os.path.join(TMP, "pki")], check=True)
    with open(os.path.join(TMP, "replies.json"), "w") as f:
        json.dump(REPLIES, f)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def pki(name):
    return os.path.join(TMP, "pki", name)


def Server(script, record, tls=None, replies=None):
    """A canned server with this test's replies file and a fresh record file."""
    kind = "grpc" if script.startswith("grpc") else "rest"
    return CannedServer(kind, replies=replies or os.path.join(TMP, "replies.json"),
                        record=os.path.join(TMP, record), tls=tls)


def status_of(err):
    for k, v in err.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            return status_pb2.Status.FromString(v)
    return None


class GrpcCannedTest(unittest.TestCase):
    def channel(self, srv, tls):
        if not tls:
            return grpc.insecure_channel(srv.address)
        with open(pki("ca.pem"), "rb") as f:
            return grpc.secure_channel(srv.address, grpc.ssl_channel_credentials(f.read()))

    def run_all(self, tls):
        pair = (pki("server.pem"), pki("server.key")) if tls else None
        with Server("grpc_canned_server.py", "grpc.jsonl", tls=pair) as srv:
            self.assertRegex(srv.line, r"^listening grpc=127\.0\.0\.1:\d+$")
            ch = self.channel(srv, tls)
            md = [("authorization", "Bearer tok"), ("x-goog-request-params",
                                                     "project=projects%2Fp1")]
            export = ch.unary_unary(
                "/google.earthengine.v1.EarthEngine/ExportImage",
                request_serializer=earthengine_pb2.ExportImageRequest.SerializeToString,
                response_deserializer=operations_pb2.Operation.FromString)
            req = json_format.ParseDict(EXPORT, earthengine_pb2.ExportImageRequest())
            op = export(req, metadata=md, timeout=20)
            self.assertEqual(json_format.MessageToDict(op), OP)  # unknown field dropped

            get = ch.unary_unary(
                "/google.longrunning.Operations/GetOperation",
                request_serializer=operations_pb2.GetOperationRequest.SerializeToString,
                response_deserializer=operations_pb2.Operation.FromString)
            want = [(grpc.StatusCode.UNAVAILABLE, "busy", RETRY_INFO, error_details_pb2.RetryInfo),
                    (grpc.StatusCode.NOT_FOUND, "gone", ERROR_INFO, error_details_pb2.ErrorInfo),
                    (grpc.StatusCode.NOT_FOUND, "gone", ERROR_INFO, error_details_pb2.ErrorInfo)]
            for code, message, detail, cls in want:  # the list's last reply repeats
                with self.assertRaises(grpc.RpcError) as cm:
                    get(operations_pb2.GetOperationRequest(name="projects/p1/operations/X"),
                        timeout=20)
                self.assertEqual(cm.exception.code(), code)
                self.assertEqual(cm.exception.details(), message)
                st = status_of(cm.exception)
                self.assertEqual((st.code, st.message), (code.value[0], message))
                d = cls()
                self.assertTrue(st.details[0].Unpack(d))
                self.assertEqual(json_format.MessageToDict(d),
                                 {k: v for k, v in detail.items() if k != "@type"})

            empty = ch.unary_unary("/google.longrunning.Operations/DeleteOperation")
            self.assertEqual(empty(operations_pb2.DeleteOperationRequest(
                name="projects/p1/operations/X").SerializeToString(), timeout=20), b"")
            # A field our protos do not have (number 99) is a wire error.
            with self.assertRaises(grpc.RpcError) as cm:
                empty(b"\x0a\x01x\x98\x06\x01", timeout=20)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            ch.close()

            recs = srv.records()
            self.assertEqual([r["method"] for r in recs],
                             ["ExportImage"] + ["GetOperation"] * 3 + ["DeleteOperation"] * 2)
            first = recs[0]
            self.assertEqual(first["transport"], "grpc")
            self.assertEqual(first["path"], "/google.earthengine.v1.EarthEngine/ExportImage")
            self.assertEqual(first["request"], EXPORT)
            self.assertEqual(first["metadata"]["authorization"], "Bearer tok")
            self.assertEqual(first["metadata"]["x-goog-request-params"], "project=projects%2Fp1")
            self.assertGreater(first["timeout"], 0)
            self.assertLessEqual(first["timeout"], 20)
            self.assertIsNone(first["wire_error"])
            self.assertEqual(recs[-1]["wire_error"], "unknown fields at (top level)")
            self.assertEqual(srv.stop()[0], 0)

    def test_plaintext(self):
        self.run_all(tls=False)

    def test_tls(self):
        self.run_all(tls=True)

    def test_wrong_ca_fails_the_handshake(self):
        pair = (pki("server.pem"), pki("server.key"))
        with Server("grpc_canned_server.py", "grpc-wrong.jsonl", tls=pair) as srv:
            with open(pki("other-ca.pem"), "rb") as f:
                ch = grpc.secure_channel(srv.address, grpc.ssl_channel_credentials(f.read()))
            with self.assertRaises(grpc.RpcError) as cm:
                ch.unary_unary("/google.longrunning.Operations/GetOperation")(b"", timeout=20)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            ch.close()
            self.assertEqual(srv.records(), [])
            self.assertEqual(srv.stop()[0], 0)


class RestCannedTest(unittest.TestCase):
    def connect(self, srv):
        scheme, _, hostport = srv.address.partition("://")
        host, port = hostport.rsplit(":", 1)
        if scheme == "https":
            ctx = ssl.create_default_context(cafile=pki("ca.pem"))
            return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
        return http.client.HTTPConnection(host, int(port), timeout=20)

    def call(self, conn, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer tok"}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}"), resp

    def run_all(self, tls):
        pair = (pki("server.pem"), pki("server.key")) if tls else None
        with Server("rest_canned_server.py", "rest.jsonl", tls=pair) as srv:
            self.assertRegex(srv.line, r"^listening rest=%s://127\.0\.0\.1:\d+$"
                             % ("https" if tls else "http"))
            conn = self.connect(srv)
            body = {k: v for k, v in EXPORT.items() if k != "project"}
            status, doc, resp = self.call(conn, "POST", "/v1/projects/p1/image:export",
                                          json.dumps(body))
            self.assertEqual(status, 200)
            self.assertEqual(resp.version, 11)
            self.assertEqual(doc, dict(OP, serviceAddsThisLater=True))  # sent as written
            sock = conn.sock
            for want_http, want in ((503, ("UNAVAILABLE", "busy", RETRY_INFO)),
                                    (404, ("NOT_FOUND", "gone", ERROR_INFO))):
                status, doc, _ = self.call(conn, "GET", "/v1/projects/p1/operations/X")
                self.assertEqual(status, want_http)
                err = doc["error"]
                self.assertEqual((err["status"], err["message"], err["details"]),
                                 (want[0], want[1], [want[2]]))
                self.assertEqual(err["code"], want_http)
            status, doc, _ = self.call(conn, "GET",
                                       "/v1/projects/p1/operations?pageSize=2&filter=done%3Dtrue")
            self.assertEqual((status, doc), (200, {"operations": [OP], "nextPageToken": "next"}))
            status, doc, _ = self.call(conn, "POST", "/v1/projects/p1/operations/X:cancel", "{}")
            self.assertEqual((status, doc), (200, {}))
            status, doc, _ = self.call(conn, "POST", "/v1/projects/p1/operations/X:wait",
                                       '{"timeout": "2.5s"}')
            self.assertEqual((status, doc), (200, dict(OP, done=True)))
            status, doc, _ = self.call(conn, "DELETE", "/v1/projects/p1/operations/X")
            self.assertEqual((status, doc), (200, {}))
            self.assertIs(conn.sock, sock, "keep-alive: one connection for every call")

            # Wire errors: unknown field in the body, unknown query parameter, wrong route,
            # the path variable repeated in the body, a body on a GET.
            bad = [("POST", "/v1/projects/p1/image:export", '{"descripton": "typo"}'),
                   ("GET", "/v1/projects/p1/operations?page_sise=1", None),
                   ("GET", "/v2/projects/p1/operations", None),
                   ("POST", "/v1/projects/p1/image:export", '{"project": "projects/p1"}'),
                   ("GET", "/v1/projects/p1/operations/X", "{}")]
            for method, path, b in bad:
                status, doc, _ = self.call(conn, method, path, b)
                self.assertIn(status, (400, 404), (method, path))
                self.assertTrue(doc["error"]["message"].startswith("canned server: "), doc)
            conn.close()

            recs = srv.records()
            self.assertEqual([r["method"] for r in recs][:8],
                             ["ExportImage", "GetOperation", "GetOperation", "ListOperations",
                              "CancelOperation", "WaitOperation", "DeleteOperation",
                              "ExportImage"])
            first = recs[0]
            self.assertEqual((first["transport"], first["http_method"], first["path"]),
                             ("rest", "POST", "/v1/projects/p1/image:export"))
            self.assertEqual(first["request"], EXPORT)  # path variable + body, as on gRPC
            self.assertEqual(json.loads(first["body"]), body)
            self.assertEqual(first["headers"]["authorization"], "Bearer tok")
            self.assertEqual(first["headers"]["content-type"], "application/json")
            self.assertIsNone(first["wire_error"])
            lst = recs[3]
            self.assertEqual(lst["query"], {"pageSize": "2", "filter": "done=true"})
            self.assertEqual(lst["raw_query"], "pageSize=2&filter=done%3Dtrue")
            self.assertEqual(lst["request"], {"name": "projects/p1", "pageSize": 2,
                                              "filter": "done=true"})
            self.assertEqual(recs[5]["request"], {"name": "projects/p1/operations/X",
                                                  "timeout": "2.500s"})
            errors = [r["wire_error"] for r in recs[7:]]
            self.assertEqual(len(errors), len(bad))
            self.assertTrue(all(errors), errors)
            self.assertIn("descripton", errors[0])
            self.assertIn("page_sise", errors[1])
            self.assertIn("repeats the path variable project", errors[3])
            self.assertEqual(srv.stop()[0], 0)

    def test_plaintext(self):
        self.run_all(tls=False)

    def test_tls(self):
        self.run_all(tls=True)

    def test_wrong_ca_fails_the_handshake(self):
        pair = (pki("server.pem"), pki("server.key"))
        with Server("rest_canned_server.py", "rest-wrong.jsonl", tls=pair) as srv:
            port = int(srv.address.rsplit(":", 1)[1])
            ctx = ssl.create_default_context(cafile=pki("other-ca.pem"))
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
            with self.assertRaises(ssl.SSLCertVerificationError):
                conn.request("GET", "/v1/projects/p1/operations/X")
            conn.close()
            # The server carries on.
            ok = http.client.HTTPSConnection(
                "127.0.0.1", port, context=ssl.create_default_context(cafile=pki("ca.pem")),
                timeout=20)
            ok.request("GET", "/v1/projects/p1/operations/X")
            self.assertEqual(ok.getresponse().status, 503)
            ok.close()
            self.assertEqual(len(srv.records()), 1)
            self.assertEqual(srv.stop()[0], 0)


class RepliesFileTest(unittest.TestCase):
    def start(self, script, replies):
        path = os.path.join(TMP, "bad-replies.json")
        with open(path, "w") as f:
            f.write(replies)
        return subprocess.run([sys.executable, os.path.join(HERE, script), "--replies", path],
                              capture_output=True, text=True, timeout=60)

    def test_bad_replies_files_are_usage_errors(self):
        cases = [("{", "--replies"),
                 ('{"Export": {"response": {}}}', "unknown method 'Export'"),
                 ('{"GetOperation": {"response": {"nmae": "x"}, "error": {"code": 5}}}',
                  "exactly one"),
                 ('{"GetOperation": {"error": {"code": 0}}}', "code"),
                 ('{"GetOperation": {"response": {"done": "maybe"}}}', "done"),
                 ('{"GetOperation": {"error": {"code": 5, "details": [{"@type": '
                  '"type.googleapis.com/no.Such"}]}}}', "no.Such")]
        for script in ("grpc_canned_server.py", "rest_canned_server.py"):
            for text, needle in cases:
                p = self.start(script, text)
                self.assertEqual(p.returncode, 2, (script, text, p.stderr))
                self.assertTrue(p.stderr.startswith("error: --replies "), p.stderr)
                self.assertIn(needle, p.stderr)
                self.assertEqual(p.stdout, "")

    def test_rewritten_replies_are_picked_up(self):
        path = os.path.join(TMP, "live-replies.json")
        with open(path, "w") as f:
            json.dump({"GetOperation": {"response": {"name": "first"}}}, f)
        with Server("rest_canned_server.py", "live.jsonl", replies=path) as srv:
            host, port = srv.address[len("http://"):].rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=20)
            conn.request("GET", "/v1/projects/p/operations/a")
            self.assertEqual(json.loads(conn.getresponse().read()), {"name": "first"})
            # A different size, so the change is seen whatever the mtime resolution.
            with open(path, "w") as f:
                json.dump({"GetOperation": {"response": {"name": "second", "done": True}}}, f)
            conn.request("GET", "/v1/projects/p/operations/a")
            self.assertEqual(json.loads(conn.getresponse().read()),
                             {"name": "second", "done": True})
            conn.close()
            self.assertEqual(srv.stop()[0], 0)


if __name__ == "__main__":
    unittest.main()
