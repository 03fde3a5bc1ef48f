#!/usr/bin/python3
"""A REST server in Python's http.server that answers canned replies and records every
request: the client's REST wire checked by code we did not write.

Routes the six methods by the google.api.http rules in proto/ (as Python's descriptors
read them), parses each body with json_format.Parse (unknown fields NOT ignored) into the
method's request message together with the path variables and query parameters, and
answers 400 (recorded as a wire error) when that fails. HTTP/1.1 with keep-alive.
Formats of --replies and --record: README.md in this directory.

  rest_canned_server.py [--port 0] [--record FILE] [--replies FILE]
                        [--tls-cert PEM --tls-key PEM] [--proto-dir DIR]

First stdout line: `listening rest=http://127.0.0.1:PORT` (https with TLS).
SIGTERM/SIGINT: stop, exit 0.
"""
import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canned_common as cc  # noqa: E402

MAX_BODY = 8 << 20  # larger bodies are refused (413) without being read into memory
# Google's system parameters: accepted on any method, recorded, not part of the message.
SYSTEM_PARAMS = {"alt", "fields", "key", "prettyPrint", "quotaUser", "$.xgafv", "callback",
                 "access_token", "upload_protocol", "uploadType"}


class WireError(Exception):
    """The request is not what a correct client sends: 400, recorded as wire_error."""

    def __init__(self, message, http=400):
        super().__init__(message)
        self.http = http


def route(methods, http_method, path):
    """(method, {field: value}) for a request path (no query), or (None, None)."""
    for m in methods.values():
        if m.http_method != http_method:
            continue
        match = m.regex.match(path)
        if match:
            return m, {f: cc.unquote_var(v, multi)
                       for (f, multi), v in zip(m.vars, match.groups())}
    return None, None


def parse_query(raw):
    """The query string -> {name: value}; a repeated name is a list."""
    out = {}
    for k, v in urllib.parse.parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw),
                                       errors="strict"):
        out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [v] if k in out else v
    return out


def build_request(method, bindings, query, body):
    """The request message from path variables, query parameters and the JSON body, each
    parsed by json_format with unknown fields refused. Returns the message."""
    from google.protobuf import json_format
    msg = method.request()
    if method.body:
        if method.body != "*":
            raise WireError("canned server: body %r bindings are not supported" % method.body)
        text = body if body.strip() else "{}"
        try:
            json_format.Parse(text, msg, ignore_unknown_fields=False)
        except json_format.ParseError as e:
            raise WireError("body: %s" % e)
        keys = json.loads(text)
        for field in bindings:
            if field in keys or msg.DESCRIPTOR.fields_by_name[field].json_name in keys:
                raise WireError("body: repeats the path variable %s" % field)
    elif body:
        raise WireError("%s %s has no body, got %d bytes" % (method.http_method, method.name,
                                                           len(body.encode())))
    params = {k: v for k, v in query.items() if k not in SYSTEM_PARAMS}
    if params:
        if method.body == "*":
            raise WireError("query: body \"*\" leaves no field for the query, got %s"
                            % ", ".join(sorted(params)))
        for k, v in params.items():
            if isinstance(v, list):
                raise WireError("query: %s repeated (not a repeated field)" % k)
        try:
            part = method.request()
            json_format.ParseDict(params, part, ignore_unknown_fields=False)
        except json_format.ParseError as e:
            raise WireError("query: %s" % e)
        msg.MergeFrom(part)
    for field, value in bindings.items():
        setattr(msg, field, value)
    return msg


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length
    server_version = "canned-rest/1"

    def setup(self):
        # The TLS handshake runs here, in this connection's thread, not in the accept loop.
        if self.server.ssl_context is not None:
            self.request.settimeout(30)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    def do_GET(self):
        self.serve()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise WireError("body larger than %d bytes" % MAX_BODY, 413)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise WireError("body larger than %d bytes" % MAX_BODY, 413)
        return self.rfile.read(n) if n else b""

    def serve(self):
        srv = self.server
        path, _, raw_query = self.path.partition("?")
        rec = {"transport": "rest", "http_method": self.command, "path": path,
               "raw_query": raw_query, "query": None, "headers": cc.header_dict(
                   self.headers.items()), "body": None, "method": None, "request": None,
               "wire_error": None}
        method, reply = None, None
        try:
            raw = self.read_body()
            try:
                rec["body"] = body = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise WireError("body: not UTF-8")
            try:
                rec["query"] = query = parse_query(raw_query)
            except (ValueError, UnicodeDecodeError) as e:
                raise WireError("query: %s" % e)
            method, bindings = route(srv.methods, self.command, path)
            if method is None:
                raise WireError("no method for %s %s" % (self.command, path), 404)
            rec["method"] = method.name
            ctype = self.headers.get("Content-Type", "")
            if body and ctype.split(";")[0].strip().lower() != "application/json":
                raise WireError("Content-Type %r for a JSON body" % ctype)
            rec["request"] = cc.message_to_dict(build_request(method, bindings, query, body))
        except WireError as e:
            rec["wire_error"] = str(e)
            srv.recorder.write(rec)
            code = 5 if e.http == 404 else 3  # NOT_FOUND, else INVALID_ARGUMENT
            return self.send_status(e.http, code, "canned server: %s" % e)
        except cc.UsageError as e:
            srv.recorder.write(rec)
            return self.send_status(500, 13, "canned server: %s" % e)
        srv.recorder.write(rec)
        try:
            reply = srv.replies.take(method.name)
        except cc.UsageError as e:
            return self.send_status(500, 13, "canned server: %s" % e)
        if reply is None:
            return self.send_status(501, 12, "canned server: no reply for %s in the replies "
                                    "file" % method.name)
        self.send_reply(reply)

    def send_reply(self, reply):
        if reply.delay_ms:
            time.sleep(reply.delay_ms / 1000.0)
        if reply.raw_body is not None:
            body = reply.raw_body.encode("utf-8")
            ctype = "text/html; charset=UTF-8"
            http = reply.http or (200 if reply.error is None else cc.CODE_HTTP[reply.error.code])
        elif reply.error is not None:
            http = reply.http or cc.CODE_HTTP[reply.error.code]
            body = envelope(http, reply.error, reply.error_details_json)
            ctype = "application/json; charset=UTF-8"
        else:
            http = reply.http or 200
            body = json.dumps(reply.response_json).encode("utf-8")
            ctype = "application/json; charset=UTF-8"
        self.send(http, body, ctype, reply.headers)

    def send_status(self, http, code, message):
        from google.rpc import status_pb2
        st = status_pb2.Status(code=code, message=message)
        self.send(http, envelope(http, st, []), "application/json; charset=UTF-8", {})

    def send(self, http, body, ctype, headers):
        self.send_response(http)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def envelope(http, status, details):
    """Google's JSON error body: {"error": {"code", "message", "status", "details"}}."""
    err = {"code": http, "message": status.message, "status": cc.CODE_NAMES[status.code]}
    if details:
        err["details"] = details
    return json.dumps({"error": err}).encode("utf-8")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a second server on the same port must fail, not share

    def handle_error(self, request, client_address):
        # Failed TLS handshakes and clients that hang up are not server errors.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cc.add_common_flags(ap)
    args = ap.parse_args()
    cc.check_tls_flags(args)
    cc.load_protos(args.proto_dir)
    try:
        srv = Server(("127.0.0.1", args.port), Handler)
    except OSError as e:
        raise cc.UsageError("--port %d: %s" % (args.port, e))
    srv.methods = cc.load_methods()
    srv.replies = cc.Replies(args.replies, srv.methods)
    srv.recorder = cc.Recorder(args.record)
    srv.ssl_context = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (ssl.SSLError, OSError) as e:
            raise cc.UsageError("--tls-cert %s / --tls-key %s: %s"
                                % (args.tls_cert, args.tls_key, e))
        ctx.set_alpn_protocols(["http/1.1"])  # no HTTP/2 here
        srv.ssl_context = ctx
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("listening rest=%s://127.0.0.1:%d" % ("https" if args.tls_cert else "http",
                                                 srv.server_address[1]), flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    cc.main_guard(main)
