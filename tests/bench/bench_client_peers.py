"""The Python peers of bench_client: the same ExportImage calls at the same concurrency.

    bench_client_peers.py grpcio --target HOST:PORT --request FILE [options]
    bench_client_peers.py http --endpoint http://HOST:PORT --request FILE [options]
    bench_client_peers.py wrk --endpoint http://HOST:PORT --request FILE [options]
    bench_client_peers.py h2load --target HOST:PORT --request FILE [--watch-pid PID] [options]
    bench_client_peers.py count --target HOST:PORT --project projects/ID
    options: --calls N --concurrency C --warmup W --label NAME

FILE is request.json from `bench_client --write-request` (proto3 JSON, no requestId), so
every contender sends the same request. Each call copies it and sets a uuid4 requestId,
as a Python user of the API would.

  grpcio  one grpc channel shared by C threads; unary calls through
          channel.unary_unary with the protoc --python_out message classes'
          SerializeToString / FromString (Debian has no grpc_tools, so no generated stubs).
  http    http.client with json_format, what `requests` + the discovery client do: each
          thread has its own keep-alive HTTPConnection, POSTs json_format.MessageToJson of
          the request to /v1/{project}/image:export and parses the reply with
          json_format.Parse(ignore_unknown_fields=True) into an Operation.
  wrk     the REST ceiling of the server: wrk -t2 -cC -d<--seconds> --latency -s
          wrk_export.lua, the same JSON body without requestId, after a 1 s warm-up (wrk
          runs for a time, not a number of calls: --calls does not apply);
          Requests/sec and the latency percentiles are wrk's.
  h2load  the gRPC ceiling: h2load -n N --data FILE.grpc (request.grpc next to FILE: the
          gRPC-framed binary request, no requestId) with content-type application/grpc
          and te: trailers, at -cC -m1 (or -c1 -mC with --h2load-shape c1mC); req/s is
          h2load's, latency percentiles from its --log-file. h2load cannot see
          grpc-status, so errors also count calls that created no operation (a
          ListOperations count afterwards; the server must be fresh for each run).
          With --watch-pid PID (a server such as ee-gateway), the line also has that
          process's CPU over the measured run (utime+stime from /proc/PID/stat, in clock
          ticks of sysconf(_SC_CLK_TCK), / N) and its thread count before the warm-up
          and after the measured run: server_cpu_us_per_call, server_threads_before,
          server_threads_after.
  count   prints how many operations the project has (ListOperations over gRPC).
For wrk and h2load, CPU is the tool's (getrusage RUSAGE_CHILDREN), peak RSS its VmHWM.

Prints one line in bench_client's format (scripts/bench reads it):
  <label> calls=N concurrency=C seconds=S calls_per_s=R cpu_us_per_call=U p50_ms=A
          p99_ms=B peak_rss_kib=K errors=E [first_error="..."]
CPU is resource.getrusage(RUSAGE_SELF) user+system over the measured calls, / N.
Run under /usr/bin/python3 with PYTHONPATH holding the build's python/ directory.
"""
import argparse
import http.client
import itertools
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from google.earthengine.v1 import earthengine_pb2, operation_metadata_pb2  # noqa: F401
from google.longrunning import operations_pb2

METHOD = "/google.earthengine.v1.EarthEngine/ExportImage"


class Run:
    """N calls of one function shared out to C threads; records latency and errors."""

    def __init__(self, total, record):
        self.total = total
        self.counter = itertools.count()  # next() on it is atomic under the GIL
        self.latency = [0.0] * total if record else None
        self.errors = 0
        self.first_error = ""
        self.lock = threading.Lock()

    def fail(self, what):
        with self.lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = what

    def worker(self, make_call):
        call = make_call()  # per-thread state (a connection) is made in the thread
        while True:
            i = next(self.counter)
            if i >= self.total:
                return
            t0 = time.perf_counter()
            try:
                err = call()
            except Exception as e:  # a peer's failure is counted, never fatal
                err = "%s: %s" % (type(e).__name__, e)
            t1 = time.perf_counter()
            if self.latency is not None:
                self.latency[i] = (t1 - t0) * 1e3
            if err:
                self.fail(err)

    def go(self, threads, make_call):
        ts = [threading.Thread(target=self.worker, args=(make_call,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def grpcio_calls(args, base):
    channel = grpc.insecure_channel(args.target)
    export = channel.unary_unary(
        METHOD,
        request_serializer=earthengine_pb2.ExportImageRequest.SerializeToString,
        response_deserializer=operations_pb2.Operation.FromString)

    def make_call():
        def call():
            req = earthengine_pb2.ExportImageRequest()
            req.CopyFrom(base)
            req.request_id = str(uuid.uuid4())
            op = export(req, timeout=60)
            return "" if op.name else "reply without a name"
        return call
    return make_call, channel.close


def http_calls(args, base):
    url = urlsplit(args.endpoint)
    if url.scheme != "http" or not url.hostname:
        sys.exit("bench_client_peers: --endpoint must be http://HOST:PORT")
    path = "/v1/%s/image:export" % base.project
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def make_call():
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)

        def call():
            req = earthengine_pb2.ExportImageRequest()
            req.CopyFrom(base)
            req.request_id = str(uuid.uuid4())
            conn.request("POST", path, body=json_format.MessageToJson(req), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                return "HTTP %d: %s" % (resp.status, data[:200].decode("utf-8", "replace"))
            op = json_format.Parse(data, operations_pb2.Operation(), ignore_unknown_fields=True)
            return "" if op.name else "reply without a name"
        return call
    return make_call, lambda: None


def count_operations(target, project):
    """Operations the project holds, over every ListOperations page."""
    with grpc.insecure_channel(target) as channel:
        list_ops = channel.unary_unary(
            "/google.longrunning.Operations/ListOperations",
            request_serializer=operations_pb2.ListOperationsRequest.SerializeToString,
            response_deserializer=operations_pb2.ListOperationsResponse.FromString)
        n, token = 0, ""
        while True:
            page = list_ops(operations_pb2.ListOperationsRequest(
                name=project, page_size=1000, page_token=token), timeout=120)
            n += len(page.operations)
            token = page.next_page_token
            if not token:
                return n


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_tool(cmd, env=None):
    """Runs a load tool; returns its stdout and its peak RSS in KiB, or exits with its
    output when it fails. The peak is VmHWM polled from /proc while it runs: a child's
    ru_maxrss would count this Python process, whose pages the child has until exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        hwm = 0
        while proc.poll() is None:
            try:
                with open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm = max(hwm, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        if proc.returncode != 0:
            sys.exit("bench_client_peers: %s failed (exit %d): %s%s"
                     % (cmd[0], proc.returncode, text, err.read().decode("utf-8", "replace")))
    return text, hwm


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def wrk_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        sys.exit("bench_client_peers: cannot read wrk latency %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def ceiling_wrk(args, base):
    """Returns the fields of the result line for wrk's run of args.seconds."""
    url = urlsplit(args.endpoint)
    threads = 2 if args.concurrency >= 2 else 1
    env = dict(os.environ, EE_WRK_BODY=args.request,
               EE_WRK_PATH="/v1/%s/image:export" % base.project)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_export.lua")

    def wrk(seconds):
        return run_tool(["wrk", "-t%d" % threads, "-c%d" % args.concurrency,
                         "-d%gs" % seconds, "--timeout", "60s", "--latency", "-s", script,
                         "%s://%s/" % (url.scheme, url.netloc)], env)

    if args.warmup:
        wrk(1)
    c0 = children_cpu()
    text, rss = wrk(args.seconds)
    c1 = children_cpu()
    done = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+)", text, re.M)
    rate = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", text, re.M))
    if not (done and rate and "50" in pct and "99" in pct):
        sys.exit("bench_client_peers: cannot read wrk's output:\n" + text)
    calls = int(done.group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(non2xx.group(1)) if non2xx else 0
    first = "wrk: %s" % " ".join(text.split()) if errors else ""
    return dict(calls=calls, seconds=calls / float(rate.group(1)), cpu=c1 - c0, rss=rss,
                p50=wrk_ms(pct["50"]), p99=wrk_ms(pct["99"]), errors=errors, first_error=first)


def proc_cpu_threads(pid):
    """A process's CPU seconds so far (utime + stime) and its thread count, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 onwards
    with open("/proc/%d/status" % pid) as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), threads


def ceiling_h2load(args, base):
    """Returns the fields of the result line for h2load's run of args.calls requests."""
    grpc_file = os.path.splitext(args.request)[0] + ".grpc"
    if args.h2load_shape == "c1mC":
        shape = ["-c1", "-m%d" % args.concurrency]
    else:
        shape = ["-c%d" % args.concurrency, "-m1"]
    url = "http://%s%s" % (args.target, METHOD)
    log = tempfile.NamedTemporaryFile(prefix="h2load", suffix=".log", delete=False)
    log.close()

    def h2load(calls, log_file):
        cmd = ["h2load", "-n%d" % calls] + shape + [
            "--data", grpc_file, "-H", "content-type: application/grpc", "-H", "te: trailers"]
        if log_file:
            cmd += ["--log-file", log_file]
        return run_tool(cmd + [url])

    watched = {}
    try:
        if args.watch_pid:
            _, watched["threads_before"] = proc_cpu_threads(args.watch_pid)
        if args.warmup:
            h2load(args.warmup, None)
        if args.watch_pid:
            s0, _ = proc_cpu_threads(args.watch_pid)
        c0 = children_cpu()
        text, rss = h2load(args.calls, log.name)
        c1 = children_cpu()
        if args.watch_pid:
            s1, watched["threads_after"] = proc_cpu_threads(args.watch_pid)
            watched["server_cpu"] = s1 - s0
        with open(log.name) as f:
            lat = sorted(int(line.split("\t")[2]) * 1e-3 for line in f if line.strip())
    finally:
        os.unlink(log.name)
    fin = re.search(r"^finished in ([0-9.]+)(\w+), ([0-9.]+) req/s", text, re.M)
    req = re.search(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not (fin and req and lat):
        sys.exit("bench_client_peers: cannot read h2load's output:\n" + text)
    calls = int(req.group(3))
    errors = int(req.group(4)) + int(req.group(5)) + int(req.group(6))
    first = "h2load: %s failed, %s errored, %s timeout" % req.group(4, 5, 6) if errors else ""
    # A gRPC error still has HTTP status 200: count the operations the calls created.
    created = count_operations(args.target, base.project)
    missing = args.warmup + args.calls - created
    if missing > 0:
        errors += missing
        first = first or "%d of %d calls created no operation" % (missing, args.warmup + args.calls)
    return dict(calls=calls, seconds=calls / float(fin.group(3)), cpu=c1 - c0, rss=rss,
                p50=percentile(lat, 50), p99=percentile(lat, 99), errors=errors,
                first_error=first, **watched)


def print_line(label, concurrency, r):
    line = ("%s calls=%d concurrency=%d seconds=%.3f calls_per_s=%.1f cpu_us_per_call=%.2f "
            "p50_ms=%.3f p99_ms=%.3f peak_rss_kib=%d errors=%d"
            % (label, r["calls"], concurrency, r["seconds"], r["calls"] / r["seconds"],
               r["cpu"] * 1e6 / r["calls"], r["p50"], r["p99"], r["rss"], r["errors"]))
    if "server_cpu" in r:
        line += (" server_cpu_us_per_call=%.2f server_threads_before=%d server_threads_after=%d"
                 % (r["server_cpu"] * 1e6 / max(r["calls"], 1), r["threads_before"],
                    r["threads_after"]))
    if r["errors"]:
        line += ' first_error="%s"' % r["first_error"].replace('"', "'").replace("\n", " ")
    print(line, flush=True)


def percentile(values, p):
    """Nearest-rank percentile of sorted values (as bench_client computes it)."""
    k = max(1, min(len(values), math.ceil(p / 100.0 * len(values) - 1e-9)))
    return values[k - 1]


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("peer", choices=["grpcio", "http", "wrk", "h2load", "count"])
    ap.add_argument("--target", help="HOST:PORT of the gRPC server (grpcio, h2load, count)")
    ap.add_argument("--endpoint", help="http://HOST:PORT of the REST server (http, wrk)")
    ap.add_argument("--request", help="request.json from bench_client --write-request")
    ap.add_argument("--project", default="projects/bench", help="for count")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=5.0, help="wrk: how long to run")
    ap.add_argument("--h2load-shape", choices=["cCm1", "c1mC"], default="cCm1",
                    help="h2load: C connections of 1 stream, or 1 connection of C streams")
    ap.add_argument("--watch-pid", type=int,
                    help="h2load: also report this server process's CPU and threads")
    ap.add_argument("--label")
    args = ap.parse_args()
    if args.calls < 1 or args.concurrency < 1 or args.warmup < 0:
        ap.error("--calls and --concurrency must be positive, --warmup not negative")
    grpc_side = args.peer in ("grpcio", "h2load", "count")
    if grpc_side != bool(args.target) or (not grpc_side) != bool(args.endpoint):
        ap.error("grpcio, h2load and count take --target; http and wrk take --endpoint")
    if args.peer == "count":
        print(count_operations(args.target, args.project))
        return 0
    if not args.request:
        ap.error("--request is required")
    with open(args.request, "rb") as f:
        base = json_format.Parse(f.read(), earthengine_pb2.ExportImageRequest())
    if args.peer in ("wrk", "h2load"):
        r = (ceiling_wrk if args.peer == "wrk" else ceiling_h2load)(args, base)
        print_line(args.label or args.peer, args.concurrency, r)
        return 1 if r["errors"] else 0

    make_call, close = (grpcio_calls if args.peer == "grpcio" else http_calls)(args, base)
    label = args.label or ("grpcio" if args.peer == "grpcio" else "http.client")
    warm = Run(args.warmup, record=False)
    warm.go(args.concurrency, make_call)
    if warm.errors:
        print("bench_client_peers: %d of %d warm-up calls failed; first: %s"
              % (warm.errors, args.warmup, warm.first_error), file=sys.stderr)

    run = Run(args.calls, record=True)
    c0, t0 = cpu_seconds(), time.perf_counter()
    run.go(args.concurrency, make_call)
    t1, c1 = time.perf_counter(), cpu_seconds()
    close()
    print_line(label, args.concurrency, dict(
        calls=args.calls, seconds=t1 - t0, cpu=c1 - c0,
        rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        p50=percentile(sorted(run.latency), 50), p99=percentile(sorted(run.latency), 99),
        errors=run.errors, first_error=run.first_error))
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
