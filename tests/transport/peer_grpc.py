"""Our gRPC wire checked by code we did not write: a Python grpcio server (messages from
protoc --python_out) receives test_transport_grpc's calls, checks the metadata and the
request bytes with python3-protobuf, and answers with canned replies, including a
grpc-status-details-bin trailer the C side must decode. Then the same over TLS with a CA
made here (openssl), and a client without that CA must fail before sending.
   peer_grpc.py TEST_TRANSPORT_GRPC PYTHON_PROTO_DIR"""
import os
import subprocess
import sys
import tempfile
from concurrent import futures

sys.path.insert(0, sys.argv[2])
import grpc  # noqa: E402
from google.earthengine.v1 import earthengine_pb2  # noqa: E402
from google.longrunning import operations_pb2  # noqa: E402
from google.protobuf import duration_pb2, json_format  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

seen = {}


def export_image(request, context):
    seen["export_md"] = dict(context.invocation_metadata())
    seen["export_req"] = json_format.MessageToDict(request)
    return operations_pb2.Operation(name="projects/p1/operations/OP-7")


def get_operation(request, context):
    if request.name.endswith("/plain"):
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "plain denial, no details")
    info = error_details_pb2.ErrorInfo(reason="OPERATION_GONE", domain="earthengine.googleapis.com",
                                       metadata={"operation": request.name, "k": "v"})
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=500000000))
    st = status_pb2.Status(code=5, message="Operation %s not found." % request.name)
    st.details.add().Pack(info)
    st.details.add().Pack(retry)
    context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    context.abort(grpc.StatusCode.NOT_FOUND, st.message)


def handler(fn, req_cls, resp_cls):
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=req_cls.FromString,
                                               response_serializer=resp_cls.SerializeToString)


def make_certs(d):
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
        "/CN=eeclient test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")

    def read(name):
        with open(os.path.join(d, name), "rb") as f:
            return f.read()
    return os.path.join(d, "ca.pem"), grpc.ssl_server_credentials([(read("srv.key"),
                                                                      read("srv.pem"))])


def run_client(tls_dir):
    """Serves one run of the C side; returns its stdout lines."""
    seen.clear()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("google.earthengine.v1.EarthEngine", {
            "ExportImage": handler(export_image, earthengine_pb2.ExportImageRequest,
                                   operations_pb2.Operation)}),
        grpc.method_handlers_generic_handler("google.longrunning.Operations", {
            "GetOperation": handler(get_operation, operations_pb2.GetOperationRequest,
                                    operations_pb2.Operation)}),
    ))
    cmd = [sys.argv[1]]
    if tls_dir:
        ca, creds = make_certs(tls_dir)
        port = server.add_secure_port("127.0.0.1:0", creds)
        cmd += [str(port), "peer", ca]
    else:
        port = server.add_insecure_port("127.0.0.1:0")
        cmd += [str(port), "peer"]
    server.start()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        server.stop(None)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def check(lines):
    md = seen["export_md"]
    assert md["authorization"] == "Bearer s3cret", md
    assert md["x-goog-api-client"] == "gl-c/11 ee-c/0.1.0", md
    assert md["x-goog-user-project"] == "quota-proj", md
    assert md["x-goog-request-params"] == "project=projects%2Fp1", md
    assert md["user-agent"].startswith("eetest/1.0 ee-c/0.1.0 "), md  # grpc appends its own
    assert seen["export_req"] == {
        "project": "projects/p1", "description": "transport test", "requestId": "r-1",
        "priority": 7,
        "expression": {"values": {"0": {"functionInvocationValue": {
            "functionName": "Image.constant", "arguments": {"value": {"constantValue": 5}}}}},
            "result": "0"},
        "fileExportOptions": {"fileFormat": "GEO_TIFF",
                              "driveDestination": {"folder": "out", "filenamePrefix": "img"}},
    }, seen["export_req"]
    assert lines[0] == "export projects/p1/operations/OP-7", lines
    want = ("error NOT_FOUND|Operation projects/p1/operations/missing not found.|OPERATION_GONE|"
            "earthengine.googleapis.com|2500")
    assert lines[1] == want, (lines[1], want)
    assert sorted(lines[2:4]) == ["meta k=v", "meta operation=projects/p1/operations/missing"], lines
    assert lines[4] == "plain PERMISSION_DENIED|plain denial, no details|", lines


check(run_client(None))
with tempfile.TemporaryDirectory() as d:
    lines = run_client(d)
check(lines)
assert lines[5] == "untrusted UNAVAILABLE sent=0", lines
print("python grpcio peer, plaintext and TLS: metadata, request bytes and status details agree")
