"""Starting a canned server from a Python test (the self-test and the client's tests):

    with CannedServer("rest", replies="replies.json", record="rec.jsonl") as srv:
        srv.address   # "http://127.0.0.1:PORT" (rest) or "127.0.0.1:PORT" (grpc)
        srv.records() # the record file, parsed
        srv.stop()    # SIGTERM; returns (exit code, stderr)

tls=(cert, key) serves TLS. Formats: README.md in this directory."""
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {"grpc": "grpc_canned_server.py", "rest": "rest_canned_server.py"}


class CannedServer:
    def __init__(self, kind, replies=None, record=None, tls=None, extra=()):
        self.record = record
        if record and os.path.exists(record):
            os.unlink(record)
        args = [sys.executable, os.path.join(HERE, SCRIPTS[kind])]
        if replies:
            args += ["--replies", replies]
        if record:
            args += ["--record", record]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.line = self.proc.stdout.readline().rstrip("\n")
        if not self.line.startswith("listening %s=" % kind):
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("bad first line %r: %s" % (self.line, err))
        self.address = self.line.split("=", 1)[1]

    def records(self):
        if not self.record or not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            return [json.loads(line) for line in f]

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
