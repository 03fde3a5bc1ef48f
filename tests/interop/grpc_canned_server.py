#!/usr/bin/python3
"""A gRPC server in Python grpcio that answers canned replies and records every request:
the client's gRPC wire checked by code we did not write.

Serves google.earthengine.v1.EarthEngine/ExportImage and google.longrunning.Operations/
{Get,List,Cancel,Delete,Wait}Operation with generic handlers (Debian has no grpc_tools, so
no generated stubs): request bytes are parsed by the message classes protoc --python_out
made from proto/. Formats of --replies and --record: README.md in this directory.

  grpc_canned_server.py [--port 0] [--record FILE] [--replies FILE]
                        [--tls-cert PEM --tls-key PEM] [--proto-dir DIR]

First stdout line: `listening grpc=127.0.0.1:PORT`. SIGTERM/SIGINT: stop, exit 0.
"""
import argparse
import collections
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canned_common as cc  # noqa: E402

import grpc  # noqa: E402

STATUS_CODES = {sc.value[0]: sc for sc in grpc.StatusCode}


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")),
              grpc.Status):
    """What context.abort_with_status takes (grpc_status.rpc_status is not in Debian)."""


class Canned:
    def __init__(self, methods, replies, recorder):
        self.methods, self.replies, self.recorder = methods, replies, recorder

    def handler(self, method):
        def serve(request_bytes, context):
            return self.serve(method, request_bytes, context)
        # No deserializer: the raw bytes reach serve(), which parses them itself so that a
        # bad message is recorded as a wire error instead of failing inside grpc.
        return grpc.unary_unary_rpc_method_handler(serve)

    def record(self, method_name, path, context, request, wire_error, size):
        remaining = context.time_remaining()
        self.recorder.write({
            "transport": "grpc",
            "method": method_name,
            "path": path,
            "metadata": cc.header_dict(context.invocation_metadata()),
            # Seconds left until the client's deadline when the call arrived; null: none.
            "timeout": None if remaining is None or remaining > 1e9 else round(remaining, 3),
            "request": request,
            "request_bytes": size,
            "wire_error": wire_error,
        })

    def serve(self, method, request_bytes, context):
        request, wire_error = None, None
        try:
            msg = method.request.FromString(request_bytes)
            request = cc.message_to_dict(msg)
            unknown = cc.unknown_field_paths(msg)
            if unknown:
                wire_error = "unknown fields at %s" % ", ".join(p or "(top level)"
                                                                for p in unknown)
        except Exception as e:  # google.protobuf.message.DecodeError and friends
            wire_error = "not a valid %s: %s" % (method.request.DESCRIPTOR.full_name, e)
        self.record(method.name, method.grpc_path, context, request, wire_error,
                    len(request_bytes))
        if wire_error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "canned server: " + wire_error)
        try:
            reply = self.replies.take(method.name)
        except cc.UsageError as e:
            context.abort(grpc.StatusCode.INTERNAL, "canned server: %s" % e)
        if reply is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "canned server: no reply for %s in the replies file" % method.name)
        if reply.delay_ms:
            time.sleep(reply.delay_ms / 1000.0)
        if reply.error is not None:
            st = reply.error
            context.abort_with_status(_Status(
                STATUS_CODES[st.code], st.message,
                (("grpc-status-details-bin", st.SerializeToString()),)))
        if reply.response_bytes is None:  # a REST-only reply (raw_body alone)
            context.abort(grpc.StatusCode.INTERNAL,
                          "canned server: the reply for %s has no response or error for gRPC"
                          % method.name)
        return reply.response_bytes


class Unknown(grpc.GenericRpcHandler):
    """Any other method path: recorded as a wire error, answered UNIMPLEMENTED."""

    def __init__(self, recorder):
        self.recorder = recorder

    def service(self, details):
        def serve(request_bytes, context):
            self.recorder.write({
                "transport": "grpc", "method": None, "path": details.method,
                "metadata": cc.header_dict(context.invocation_metadata()), "timeout": None,
                "request": None, "request_bytes": len(request_bytes),
                "wire_error": "unknown method %s" % details.method})
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "canned server: unknown method %s" % details.method)
        return grpc.unary_unary_rpc_method_handler(serve)


def build_server(args, canned, recorder):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 0)])
    by_service = {}
    for m in canned.methods.values():
        service = m.grpc_path.split("/")[1]
        by_service.setdefault(service, {})[m.name] = canned.handler(m)
    handlers = [grpc.method_handlers_generic_handler(s, h) for s, h in by_service.items()]
    server.add_generic_rpc_handlers(handlers + [Unknown(recorder)])
    addr = "127.0.0.1:%d" % args.port
    if args.tls_cert:
        with open(args.tls_key, "rb") as k, open(args.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if not port:
        raise cc.UsageError("--port %d: cannot listen on %s" % (args.port, addr))
    return server, port


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cc.add_common_flags(ap)
    args = ap.parse_args()
    cc.check_tls_flags(args)
    cc.load_protos(args.proto_dir)
    methods = cc.load_methods()
    replies = cc.Replies(args.replies, methods)
    recorder = cc.Recorder(args.record)
    server, port = build_server(args, Canned(methods, replies, recorder), recorder)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print("listening grpc=127.0.0.1:%d" % port, flush=True)
    stop.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    cc.main_guard(main)
