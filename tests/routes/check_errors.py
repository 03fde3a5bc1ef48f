"""Oracle for the error envelope and grpc-status-details-bin: what our C code emits must
read back, field for field, with Python's json and Debian's python3-protobuf.
   check_errors.py TEST_ROUTES_JSON PYTHON_PROTO_DIR"""
import json
import subprocess
import sys

sys.path.insert(0, sys.argv[2])
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

out = subprocess.run([sys.argv[1], "emit-errors"], check=True, capture_output=True).stdout
env_line, rpc_hex = out.decode("utf-8").splitlines()
msg = 'Too many tasks: "3000" queued \u00e9\t\x01'
meta = {"service": "earthengine.googleapis.com", 'q"uote': "v\\al"}

env = json.loads(env_line)
err = env["error"]
assert set(env) == {"error"}, env
assert err["code"] == 429 and err["status"] == "RESOURCE_EXHAUSTED", err
assert err["message"] == msg, repr(err["message"])
(d,) = err["details"]
assert d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo", d
assert d["reason"] == "RATE_LIMIT_EXCEEDED" and d["domain"] == "googleapis.com", d
assert d["metadata"] == meta, d

st = status_pb2.Status()
st.ParseFromString(bytes.fromhex(rpc_hex))
assert st.code == 8 and st.message == msg, st
info = error_details_pb2.ErrorInfo()
assert st.details[0].Unpack(info), st.details
assert info.reason == "RATE_LIMIT_EXCEEDED" and info.domain == "googleapis.com", info
assert dict(info.metadata) == meta, info.metadata
print("error envelope and google.rpc.Status agree with python json / protobuf")
