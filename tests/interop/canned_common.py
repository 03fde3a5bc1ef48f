"""Shared parts of the two canned interop servers (grpc_canned_server.py,
rest_canned_server.py): the protos, the methods and their HTTP rules, the replies file and
the request record. README.md in this directory describes the formats.

These servers are the client's independent wire oracle: every request is decoded by
Python's protobuf (messages compiled from proto/ by protoc --python_out), never by our own
C code, and the REST routes come from the google.api.http annotations as Python's
descriptors see them, not from our generated route table.
"""
import atexit
import base64
import glob
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# The six methods a client of the export API calls, by their short names (the keys of the
# replies file and the "method" of a record).
SERVICES = ("google.earthengine.v1.EarthEngine", "google.longrunning.Operations")

# google.rpc.Code numbers -> names, and the HTTP status Google's REST front end uses for each.
CODE_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
              "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
              "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
              "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]
CODE_HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]


class UsageError(Exception):
    """Bad flags or files: the server prints `error: ...` and exits 2."""


def load_protos(proto_dir=None):
    """Imports the Python message modules of every proto in proto/.

    proto_dir: where protoc --python_out already wrote them (the build's python/ directory,
    also $EE_PYTHON_PROTO_DIR); when None, protoc compiles proto/ now into a temporary
    directory, so the servers also run outside a build tree."""
    proto_dir = proto_dir or os.environ.get("EE_PYTHON_PROTO_DIR")
    if not proto_dir:
        proto_dir = tempfile.mkdtemp(prefix="ee-interop-protos-")
        atexit.register(shutil.rmtree, proto_dir, True)
        src = os.path.join(REPO, "proto")
        files = sorted(os.path.relpath(p, src)
                       for p in glob.glob(os.path.join(src, "**", "*.proto"), recursive=True))
        subprocess.run(["protoc", "-I" + src, "-I/usr/include", "--python_out=" + proto_dir]
                       + files, check=True)
    if not os.path.isdir(os.path.join(proto_dir, "google", "earthengine")):
        raise UsageError("--proto-dir %s: no protoc --python_out output for proto/ there"
                         % proto_dir)
    sys.path.insert(0, proto_dir)
    for path in glob.glob(os.path.join(proto_dir, "google", "**", "*_pb2.py"), recursive=True):
        rel = os.path.relpath(path, proto_dir)[:-3]
        importlib.import_module(rel.replace(os.sep, "."))


class Method:
    """One RPC: its gRPC path, message classes and (first) HTTP binding."""

    def __init__(self, service, desc):
        from google.api import annotations_pb2
        from google.protobuf import symbol_database
        db = symbol_database.Default()
        self.name = desc.name
        self.grpc_path = "/%s/%s" % (service.full_name, desc.name)
        self.request = db.GetSymbol(desc.input_type.full_name)
        self.response = db.GetSymbol(desc.output_type.full_name)
        rule = desc.GetOptions().Extensions[annotations_pb2.http]
        kind = rule.WhichOneof("pattern")
        self.http_method = kind.upper() if kind != "custom" else rule.custom.kind
        self.template = getattr(rule, kind) if kind != "custom" else rule.custom.path
        self.body = rule.body
        self.regex, self.vars = compile_template(self.template)


def compile_template(template):
    """A google.api.http path template -> (regex over the raw path, [(field, multi)]).

    Grammar (TRANSCODING.md): "/" segments [":" verb]; a segment is *, **, a literal or
    {field[=segments]}; {f} means {f=*}. Each variable is one regex group."""
    # The verb is a colon after the last variable and the last slash.
    last = max(template.rfind("}"), template.rfind("/"))
    colon = template.find(":", last)
    path, verb = (template[:colon], template[colon + 1:]) if colon >= 0 else (template, "")
    out, fields = ["^"], []
    for part in re.findall(r"\{[^}]*\}|[^/{}]+|/", path):
        if part == "/":
            out.append("/")
        elif part.startswith("{"):
            field, _, pattern = part[1:-1].partition("=")
            pattern = pattern or "*"
            fields.append((field, "**" in pattern or "/" in pattern))
            out.append("(" + segments_regex(pattern) + ")")
        else:
            out.append(segments_regex(part))
    if verb:
        out.append(":" + re.escape(verb))
    out.append("$")
    return re.compile("".join(out)), fields


def segments_regex(pattern):
    parts = []
    for seg in pattern.split("/"):
        parts.append("[^/]+" if seg == "*" else ".+" if seg == "**" else re.escape(seg))
    return "/".join(parts)


def load_methods():
    """Every method of the two services, by short name."""
    from google.protobuf import descriptor_pool
    pool = descriptor_pool.Default()
    methods = {}
    for s in SERVICES:
        service = pool.FindServiceByName(s)
        for desc in service.methods:
            methods[desc.name] = Method(service, desc)
    return methods


def unknown_field_paths(msg, prefix=""):
    """Where a parsed binary message carried fields our protos do not define, as JSON paths
    ("" is the top level). Any is a wire error: the client and these servers compile the
    same protos, so an unknown field means a wrong number or wire type on one side."""
    from google.protobuf import descriptor as D
    found = [prefix] if len(msg.UnknownFields()) else []
    for f, value in msg.ListFields():
        if f.type != D.FieldDescriptor.TYPE_MESSAGE:
            continue
        path = (prefix + "." if prefix else "") + f.json_name
        if f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            items = value.items() if vf.type == D.FieldDescriptor.TYPE_MESSAGE else []
            for k, v in items:
                found += unknown_field_paths(v, "%s[%s]" % (path, json.dumps(str(k))))
        elif f.label == D.FieldDescriptor.LABEL_REPEATED:
            for i, v in enumerate(value):
                found += unknown_field_paths(v, "%s[%d]" % (path, i))
        else:
            found += unknown_field_paths(value, path)
    return found


class Reply:
    """One canned answer: a response (proto3 JSON) or an error (a google.rpc.Status)."""

    def __init__(self, method, spec, where):
        from google.protobuf import json_format
        from google.rpc import status_pb2
        if not isinstance(spec, dict):
            raise ValueError("%s: a reply is a JSON object" % where)
        allowed = {"response", "error", "delay_ms", "http", "headers", "raw_body"}
        extra = set(spec) - allowed
        if extra:
            raise ValueError("%s: unknown key(s) %s" % (where, ", ".join(sorted(extra))))
        if ("response" in spec) == ("error" in spec) and "raw_body" not in spec:
            raise ValueError("%s: exactly one of \"response\" and \"error\"" % where)
        self.delay_ms = spec.get("delay_ms", 0)
        self.http = spec.get("http")  # REST only: overrides the status line
        self.headers = spec.get("headers", {})  # REST only: extra response headers
        self.raw_body = spec.get("raw_body")  # REST only: sent verbatim instead of JSON
        self.response_json = spec.get("response")
        self.response_bytes = None
        self.error = None
        if self.response_json is not None:
            # Unknown fields are allowed here on purpose: REST sends the JSON as written (a
            # client must ignore fields the service adds), gRPC drops them.
            msg = json_format.ParseDict(self.response_json, method.response(),
                                        ignore_unknown_fields=True)
            self.response_bytes = msg.SerializeToString()
        if "error" in spec:
            e = spec["error"]
            if not isinstance(e, dict) or not isinstance(e.get("code"), int) or \
                    not 1 <= e["code"] <= 16:
                raise ValueError("%s: error needs \"code\" 1..16" % where)
            self.error = status_pb2.Status()
            json_format.ParseDict({"code": e["code"], "message": e.get("message", ""),
                                   "details": e.get("details", [])}, self.error)
            self.error_details_json = e.get("details", [])


class Replies:
    """The --replies file: {"MethodName": reply or [reply, ...], ...}.

    A list is consumed in order by successive calls of that method; its last reply then
    repeats. The file is re-read whenever it changes (mtime or size), which resets the
    lists, so a test may rewrite it between calls without restarting the server."""

    def __init__(self, path, methods):
        self.path, self.methods = path, methods
        self.lock = threading.Lock()
        self.stamp = None
        self.table, self.next = {}, {}
        if path:
            self._load()

    def _load(self):
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as f:
                doc = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError("--replies %s: %s" % (self.path, e))
        if not isinstance(doc, dict):
            raise UsageError("--replies %s: the top level is an object keyed by method"
                             % self.path)
        table = {}
        for name, spec in doc.items():
            if name not in self.methods:
                raise UsageError("--replies %s: unknown method %r (one of %s)"
                                 % (self.path, name, ", ".join(sorted(self.methods))))
            specs = spec if isinstance(spec, list) else [spec]
            if not specs:
                raise UsageError("--replies %s: %s: empty list" % (self.path, name))
            try:
                table[name] = [Reply(self.methods[name], s, "%s[%d]" % (name, i))
                               for i, s in enumerate(specs)]
            except Exception as e:  # json_format.ParseError, ValueError, TypeError
                raise UsageError("--replies %s: %s" % (self.path, e))
        self.table, self.next = table, {}
        self.stamp = (st.st_mtime_ns, st.st_size)

    def take(self, name):
        """The reply for the next call of method name, or None when the file has none."""
        with self.lock:
            if self.path:
                st = os.stat(self.path)
                if (st.st_mtime_ns, st.st_size) != self.stamp:
                    self._load()
            replies = self.table.get(name)
            if not replies:
                return None
            i = self.next.get(name, 0)
            self.next[name] = i + 1
            return replies[min(i, len(replies) - 1)]


class Recorder:
    """The --record file: one JSON object per request, one per line, written and flushed
    before the answer goes out (so a client that got its answer can read its record)."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None
        self.lock = threading.Lock()
        self.seq = 0

    def write(self, rec):
        with self.lock:
            self.seq += 1
            rec = dict(seq=self.seq, time=time.time(), **rec)
            if self.f:
                self.f.write(json.dumps(rec, sort_keys=True) + "\n")
                self.f.flush()


def header_dict(pairs):
    """[(name, value)] -> {lower-case name: value}; a name seen twice maps to a list;
    binary (-bin) values are base64 (standard, padded)."""
    out = {}
    for k, v in pairs:
        k = k.lower()
        if isinstance(v, bytes):
            v = base64.b64encode(v).decode("ascii")
        if k in out:
            out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [v]
        else:
            out[k] = v
    return out


def message_to_dict(msg):
    from google.protobuf import json_format
    return json_format.MessageToDict(msg)


def unquote_var(value, multi):
    """Decodes a path variable as a transcoding server does: every escape, except that
    %2F stays encoded inside a multi-segment variable (TRANSCODING.md)."""
    if not multi:
        return urllib.parse.unquote(value, errors="strict")
    return "%2F".join(urllib.parse.unquote(p, errors="strict")
                      for p in re.split("%2[Ff]", value))


def add_common_flags(ap):
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--record", help="append every request to this JSON Lines file")
    ap.add_argument("--replies", help="canned replies (JSON), re-read when it changes")
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve TLS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--proto-dir", help="protoc --python_out output for proto/ "
                    "(default $EE_PYTHON_PROTO_DIR, else compile proto/ now)")


def check_tls_flags(args):
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path and not os.path.isfile(path):
            raise UsageError("%s %s: no such file" % (flag, path))


def main_guard(fn):
    """Runs fn(); a UsageError is `error: ...` on stderr and exit 2."""
    try:
        fn()
    except UsageError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(2)
