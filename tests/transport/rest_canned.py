"""Canned REST answers for the REST transport test: what ee-emulator never sends.

Prints `rest-canned listening http://127.0.0.1:PORT`, then serves HTTP/1.1 on loopback:
  GET  /v1/projects/p/operations/unknown-fields  200, an Operation with fields this
       client's protos do not know (top level and inside the metadata Any)
  GET  /v1/projects/p/operations/retry-seconds   429, Retry-After: 7, envelope with RetryInfo
  GET  /v1/projects/p/operations/retry-date      503, Retry-After as an HTTP-date (+30 s)
  GET  /v1/projects/p/operations/html            502, an HTML page (a proxy's answer)
  GET  /v1/projects/p/operations/empty           200, empty body
  GET and DELETE .../echo, POST /v1/projects/p/image:export   200, an Operation whose error.message
       is a JSON dump of the method, path, headers (names lower-cased) and body received
Stops on SIGTERM.
"""
import email.utils
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/v1/projects/p/operations/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="application/json", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def echo(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode() if n else None
        seen = {"method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        op = {"name": "projects/p/operations/echo", "done": True,
              "error": {"code": 2, "message": json.dumps(seen, sort_keys=True)}}
        self.reply(200, json.dumps(op))

    def envelope(self, code, status, message, details=()):
        return json.dumps({"error": {"code": code, "status": status, "message": message,
                                     "details": list(details)}})

    def do_GET(self):
        name = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else ""
        if name == "unknown-fields":
            op = {"name": PREFIX[4:] + name, "done": False, "someFutureField": {"x": [1, 2]},
                  "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                               "state": "RUNNING", "anotherNewField": "v"}}
            self.reply(200, json.dumps(op))
        elif name == "retry-seconds":
            self.reply(429, self.envelope(429, "RESOURCE_EXHAUSTED", "slow down", [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.500s"},
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                 "domain": "googleapis.com", "metadata": {"quota_limit": "ExportsPerMinute"}}]),
                extra=[("Retry-After", "7")])
        elif name == "retry-date":
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            self.reply(503, self.envelope(503, "UNAVAILABLE", "back later"),
                       extra=[("Retry-After", when)])
        elif name == "html":
            self.reply(502, "<html><body>Bad Gateway</body></html>", ctype="text/html")
        elif name == "echo":
            self.echo()
        elif name == "empty":
            self.reply(200, "")
        else:
            self.reply(404, self.envelope(404, "NOT_FOUND", "no canned answer for " + self.path))

    def do_POST(self):
        self.echo()

    def do_DELETE(self):
        self.echo()


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("rest-canned listening http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
