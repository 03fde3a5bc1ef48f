"""Helpers for the ee-emulator integration tests.

Starts the emulator on port 0, parses its startup line, and drives it over REST (curl)
and gRPC (python3-grpcio with message classes from protoc --python_out). Both front ends
are wrapped in the same small interface so each test can run the same steps over both and
compare the results.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

EMULATOR = os.environ["EE_EMULATOR"]
sys.path.insert(0, os.environ["EE_PYTHON_PROTO_DIR"])

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.earthengine.v1 import earthengine_pb2, operation_metadata_pb2  # noqa: E402,F401
from google.longrunning import operations_pb2  # noqa: E402
from google.rpc import code_pb2, error_details_pb2, status_pb2  # noqa: E402

LINE = re.compile(r"^ee-emulator listening rest=(https?)://([^ ]+):(\d+) grpc=([^ ]+):(\d+)$")
CODE_NAMES = {v: k for k, v in code_pb2.Code.items()}


def small_request(project="projects/p1", **extra):
    """A valid ExportImageRequest as proto3 JSON."""
    req = {
        "project": project,
        "description": "test export",
        "expression": {
            "values": {
                "0": {"functionInvocationValue": {
                    "functionName": "Image.constant",
                    "arguments": {"value": {"constantValue": 5}}}}},
            "result": "0"},
        "fileExportOptions": {"fileFormat": "GEO_TIFF",
                              "driveDestination": {"folder": "out", "filenamePrefix": "img"}},
    }
    req.update(extra)
    return req


class Emulator:
    """One ee-emulator process; use as a context manager."""

    def __init__(self, *args, expect_start=True):
        self.args = [EMULATOR, "--rest-port", "0", "--grpc-port", "0"] + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr = ""
        if not expect_start:
            return
        line = self.proc.stdout.readline().rstrip("\n")
        m = LINE.match(line)
        if not m:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("bad startup line %r; stderr: %s" % (line, err))
        self.tls = m.group(1) == "https"
        self.rest_base = "%s://%s:%s" % (m.group(1), m.group(2), m.group(3))
        self.grpc_target = "%s:%s" % (m.group(4), m.group(5))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signals the emulator and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
            raise AssertionError("emulator did not exit within %ss after %s" % (timeout, sig))
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


class Result:
    """One call's outcome, the same shape for both front ends."""

    def __init__(self, code, body=None, message="", reason="", http=0):
        self.code = code        # canonical name, "OK" on success
        self.body = body        # response as proto3 JSON (dict) on success
        self.message = message
        self.reason = reason
        self.http = http

    def __repr__(self):
        return "Result(%s, %r, %r, reason=%r)" % (self.code, self.body, self.message, self.reason)


class Rest:
    name = "rest"

    def __init__(self, emu, token=None, cacert=None, base=None):
        self.base = base or emu.rest_base
        self.token = token
        self.cacert = cacert  # PEM file curl trusts (--cacert) for an https emulator

    def call(self, method, path, body=None, query=None, raw_body=None, headers=()):
        cmd = ["curl", "-sS", "-X", method, "-w", "\n%{http_code}", "--max-time", "90"]
        if self.cacert is not None:
            cmd += ["--cacert", self.cacert]
        if self.token is not None:
            cmd += ["-H", "Authorization: Bearer " + self.token]
        for h in headers:
            cmd += ["-H", h]
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        url = self.base + path + ("?" + query if query else "")
        out = subprocess.run(cmd + [url], input=data, capture_output=True, text=True, check=True)
        text, _, status = out.stdout.rpartition("\n")
        return self._result(int(status), text)

    @staticmethod
    def _result(http, text):
        doc = json.loads(text) if text.strip() else {}
        if http == 200:
            return Result("OK", doc, http=http)
        err = doc.get("error", {})
        reason = ""
        for d in err.get("details", []):
            if d.get("@type", "").endswith("google.rpc.ErrorInfo"):
                reason = d.get("reason", "")
        return Result(err.get("status", "?"), None, err.get("message", ""), reason, http)

    # The five operations methods and ExportImage, by their HTTP bindings.
    def export(self, req):
        return self.call("POST", "/v1/%s/image:export" % req.get("project", "projects/p1"), req)

    def get(self, name):
        return self.call("GET", "/v1/" + name)

    def list(self, project, filter=None, page_size=None, page_token=None):
        q = []
        from urllib.parse import quote
        if filter is not None:
            q.append("filter=" + quote(filter, safe=""))
        if page_size is not None:
            q.append("pageSize=%d" % page_size)
        if page_token is not None:
            q.append("pageToken=" + quote(page_token, safe=""))
        return self.call("GET", "/v1/%s/operations" % project, query="&".join(q))

    def cancel(self, name):
        return self.call("POST", "/v1/%s:cancel" % name, {})

    def delete(self, name):
        return self.call("DELETE", "/v1/" + name)

    def wait(self, name, timeout=None):
        return self.call("POST", "/v1/%s:wait" % name, {"timeout": timeout} if timeout else {})


class Grpc:
    name = "grpc"
    METHODS = {
        "ExportImage": ("/google.earthengine.v1.EarthEngine/ExportImage",
                        earthengine_pb2.ExportImageRequest, operations_pb2.Operation),
        "GetOperation": ("/google.longrunning.Operations/GetOperation",
                         operations_pb2.GetOperationRequest, operations_pb2.Operation),
        "ListOperations": ("/google.longrunning.Operations/ListOperations",
                           operations_pb2.ListOperationsRequest,
                           operations_pb2.ListOperationsResponse),
        "CancelOperation": ("/google.longrunning.Operations/CancelOperation",
                            operations_pb2.CancelOperationRequest, None),
        "DeleteOperation": ("/google.longrunning.Operations/DeleteOperation",
                            operations_pb2.DeleteOperationRequest, None),
        "WaitOperation": ("/google.longrunning.Operations/WaitOperation",
                          operations_pb2.WaitOperationRequest, operations_pb2.Operation),
    }

    def __init__(self, emu, token=None, cacert=None):
        if cacert is None:
            self.channel = grpc.insecure_channel(emu.grpc_target)
        else:  # TLS, trusting only the CA in this PEM file
            with open(cacert, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            self.channel = grpc.secure_channel(emu.grpc_target, creds)
        self.token = token

    def close(self):
        self.channel.close()

    def raw(self, path, payload, timeout=90):
        """Sends raw bytes to any method path; returns a Result with the raw response."""
        fn = self.channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        return self._invoke(fn, payload, None, timeout)

    def call(self, method, req_dict):
        path, req_type, resp_type = self.METHODS[method]
        req = json_format.ParseDict(req_dict, req_type())
        fn = self.channel.unary_unary(path, request_serializer=req_type.SerializeToString,
                                      response_deserializer=resp_type.FromString if resp_type else None)
        return self._invoke(fn, req, resp_type, 90)

    def _invoke(self, fn, req, resp_type, timeout):
        md = [("authorization", "Bearer " + self.token)] if self.token is not None else None
        try:
            resp = fn(req, metadata=md, timeout=timeout)
        except grpc.RpcError as e:
            message, reason = e.details() or "", ""
            for k, v in e.trailing_metadata() or ():
                if k == "grpc-status-details-bin":
                    st = status_pb2.Status.FromString(v)
                    assert st.code == e.code().value[0], (st.code, e.code())
                    assert st.message == message, (st.message, message)
                    for d in st.details:
                        info = error_details_pb2.ErrorInfo()
                        if d.Unpack(info):
                            reason = info.reason
            return Result(e.code().name, None, message, reason)
        if resp_type is None:
            body = {} if not isinstance(resp, bytes) or not resp else resp
        else:
            body = json_format.MessageToDict(resp)
        return Result("OK", body)

    def export(self, req):
        return self.call("ExportImage", req)

    def get(self, name):
        return self.call("GetOperation", {"name": name})

    def list(self, project, filter=None, page_size=None, page_token=None):
        req = {"name": project}
        if filter is not None:
            req["filter"] = filter
        if page_size is not None:
            req["pageSize"] = page_size
        if page_token is not None:
            req["pageToken"] = page_token
        return self.call("ListOperations", req)

    def cancel(self, name):
        return self.call("CancelOperation", {"name": name})

    def delete(self, name):
        return self.call("DeleteOperation", {"name": name})

    def wait(self, name, timeout=None):
        return self.call("WaitOperation", {"name": name, "timeout": timeout} if timeout else {"name": name})


def fronts(emu, token=None, cacert=None):
    return [Rest(emu, token, cacert), Grpc(emu, token, cacert)]


def metadata(op):
    md = dict(op["metadata"])
    assert md.pop("@type") == "type.googleapis.com/google.earthengine.v1.OperationMetadata", md
    return md


def state(op):
    return metadata(op).get("state")


def wait_done(front, name, limit=30):
    """Polls Get until the operation is done; returns it."""
    end = time.time() + limit
    while time.time() < end:
        r = front.get(name)
        assert r.code == "OK", r
        if r.body.get("done"):
            return r.body
        time.sleep(0.05)
    raise AssertionError("operation %s not done after %ss" % (name, limit))


def list_all(front, project, filter=None, page_size=None):
    ops, token = [], None
    while True:
        r = front.list(project, filter=filter, page_size=page_size, page_token=token)
        assert r.code == "OK", r
        ops += r.body.get("operations", [])
        token = r.body.get("nextPageToken")
        if not token:
            return ops


def strip_volatile(op):
    """An operation without what legitimately differs between two runs (name, times,
    progress), for comparing the two front ends' answers."""
    op = json.loads(json.dumps(op))
    op.pop("name", None)
    md = op.get("metadata", {})
    for k in ("createTime", "updateTime", "startTime", "endTime", "progress", "stages",
              "batchEecuUsageSeconds"):
        md.pop(k, None)
    return op
