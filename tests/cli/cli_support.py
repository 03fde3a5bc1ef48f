"""Helpers for the ee-export end-to-end tests (label `cli`).

The built binary (EE_EXPORT) runs against the built ee-emulator (emu_support.Emulator, on
free loopback ports). Independent checks go through Python: grpcio and json_format on the
messages protoc generated for Python (emu_support.Grpc), never through ee-export itself.
"""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))

import emu_support  # noqa: E402
from emu_support import Emulator, Grpc, json_format, list_all, small_request  # noqa: E402,F401
from google.earthengine.v1 import earthengine_pb2  # noqa: E402,F401
from google.longrunning import operations_pb2  # noqa: E402,F401

EXPORT = os.environ["EE_EXPORT"]
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TRANSPORTS = ("rest", "grpc")
ERROR_LINE = r"^error: [A-Z_]+: .+$"


def clean_env(**extra):
    """The environment without the user's EE_* settings and credentials, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EE_") and k not in ("GOOGLE_APPLICATION_CREDENTIALS",
                                                    "GCE_METADATA_HOST")}
    env["EE_CREDENTIALS"] = "none"
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def endpoint(emu, transport):
    """The --endpoint for a transport of this emulator (http:// = plaintext)."""
    return emu.rest_base if transport == "rest" else "http://" + emu.grpc_target


def run(args, emu=None, transport="rest", project="projects/demo", input=None, env=None,
        timeout=120):
    """Runs ee-export [global flags for emu/transport/project] ARGS; returns the
    CompletedProcess (text)."""
    cmd = [EXPORT]
    if emu is not None:
        cmd += ["--endpoint", endpoint(emu, transport), "--transport", transport]
    if project:
        cmd += ["--project", project]
    return subprocess.run(cmd + list(args), input=input, capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout)


def ops_of(emu, project="projects/demo"):
    """Every operation the emulator holds for the project, through Python grpcio."""
    g = Grpc(emu)
    try:
        return list_all(g, project)
    finally:
        g.close()


def get_op(emu, name):
    g = Grpc(emu)
    try:
        r = g.get(name)
        assert r.code == "OK", r
        return r.body
    finally:
        g.close()


def parse_operation(text):
    """stdout of --output json: exactly one Operation in proto3 JSON (json_format is the
    oracle: unknown fields or a bad shape raise)."""
    op = operations_pb2.Operation()
    json_format.Parse(text, op)
    return op


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


class Sentinel:
    """A TCP listener on a free loopback port that counts connections: ee-export pointed
    at it must not connect when it refuses its input locally."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()


def all_done(emu, project="projects/demo", limit=60):
    """Waits until every operation of the project is done; returns them."""
    import time
    end = time.time() + limit
    while True:
        ops = ops_of(emu, project)
        if all(o.get("done") for o in ops) or time.time() > end:
            return ops
        time.sleep(0.1)
