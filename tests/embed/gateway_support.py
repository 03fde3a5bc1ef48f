"""Helpers for the ee-gateway tests: start the gateway in front of an upstream, call it
with python3-grpcio (the independent client), and fake upstreams that record what reaches
them (metadata, cancellation) where ee-emulator cannot tell."""
import os
import re
import socket
import subprocess
import threading
import time

import grpc

from emu_support import status_pb2, error_details_pb2  # noqa: F401 (sets up sys.path)

GATEWAY = os.environ["EE_GATEWAY"]
LINE = re.compile(r"^ee-gateway listening grpc=([^ ]+):(\d+)$")
LOG = re.compile(r"^ee-gateway: (/\S+) ([A-Z_]+) ([0-9.]+) ms")


def clean_env(**extra):
    """The environment without credentials or endpoint settings of the caller's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EE_") and k not in ("GOOGLE_APPLICATION_CREDENTIALS",
                                                   "GCE_METADATA_HOST")}
    env["EE_CREDENTIALS"] = "none"
    env.update(extra)
    return env


class Gateway:
    """One ee-gateway process; use as a context manager. stderr goes to a file so a
    long run cannot block on a full pipe."""

    def __init__(self, upstream, transport, *args, env=None, tmpdir="/tmp"):
        self.args = [GATEWAY, "--grpc-port", "0", "--upstream", upstream,
                     "--upstream-transport", transport] + list(args)
        self.err_path = os.path.join(tmpdir, "gateway-%d-%d.err" % (os.getpid(), id(self)))
        self.err_file = open(self.err_path, "w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.err_file,
                                     text=True, env=env if env is not None else clean_env())
        line = self.proc.stdout.readline().rstrip("\n")
        m = LINE.match(line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("bad startup line %r; stderr: %s" % (line, self.stderr()))
        self.target = "%s:%s" % (m.group(1), m.group(2))
        self.channel = grpc.insecure_channel(self.target)

    def stderr(self):
        self.err_file.flush()
        with open(self.err_path) as f:
            return f.read()

    def log(self):
        """The per-call log lines as (method, code, ms)."""
        out = []
        for line in self.stderr().splitlines():
            m = LOG.match(line)
            if m:
                out.append((m.group(1), m.group(2), float(m.group(3))))
        return out

    def threads(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        raise AssertionError("no Threads: line")

    def thread_names(self):
        """The names (comm) of the gateway's threads, sorted."""
        task = "/proc/%d/task" % self.proc.pid
        names = []
        for tid in os.listdir(task):
            try:
                with open("%s/%s/comm" % (task, tid)) as f:
                    names.append(f.read().strip())
            except FileNotFoundError:  # ended while we looked
                pass
        return sorted(names)

    def stop(self, timeout=20):
        """SIGTERMs the gateway; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gateway did not exit within %ss of SIGTERM" % timeout)
        return self.proc.returncode, time.monotonic() - t0

    def close(self):
        """Stops the gateway; fails when it did not exit 0 or a sanitizer reported."""
        self.channel.close()
        if self.proc.poll() is None:
            self.stop()
        err = self.stderr()
        self.proc.stdout.close()
        self.err_file.close()
        os.unlink(self.err_path)
        if self.proc.returncode != 0 or "Sanitizer" in err:
            raise AssertionError("gateway exit %s; stderr:\n%s" % (self.proc.returncode,
                                                                   err[-6000:]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def unary(channel, path):
    """A raw-bytes stub for any method path."""
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def outcome(fn, payload, timeout=20, metadata=None):
    """(code name, response bytes or None, message, details bytes or None)."""
    try:
        return ("OK", fn(payload, timeout=timeout, metadata=metadata), "", None)
    except grpc.RpcError as e:
        details = None
        for k, v in e.trailing_metadata() or ():
            if k == "grpc-status-details-bin":
                details = v
        return (e.code().name, None, e.details() or "", details)


class FakeGrpcUpstream:
    """A grpcio server answering every method after `hold` seconds (or when the call is
    cancelled), recording each call's metadata, deadline and whether it was cancelled."""

    def __init__(self, hold=10.0):
        from concurrent import futures
        self.hold = hold
        self.calls = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((self,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.url = "http://127.0.0.1:%d" % self.port

    def service(self, details):  # grpc.GenericRpcHandler
        return grpc.unary_unary_rpc_method_handler(self._handle)

    def _handle(self, request, context):
        rec = {"metadata": dict(context.invocation_metadata()),
               "remaining": context.time_remaining(), "ended": threading.Event(),
               "cancelled": False}
        with self.lock:
            self.calls.append(rec)
        context.add_callback(rec["ended"].set)
        rec["ended"].wait(self.hold)
        rec["cancelled"] = not context.is_active()
        return b""

    def close(self):
        self.server.stop(0)


class FakeRestUpstream:
    """A TCP server that reads one HTTP request per connection, records its headers and
    never answers: it notes when the client closes the connection (a cancel)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests = []  # {"head": str, "closed": Event}
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        rec = {"head": "", "closed": threading.Event()}
        with self.lock:
            self.requests.append(rec)
        data = b""
        conn.settimeout(30)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                rec["head"] = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        except OSError:
            pass
        rec["closed"].set()
        conn.close()

    def close(self):
        self.sock.close()
