"""ee-gateway end to end: python3-grpcio clients -> ee-gateway -> ee-emulator, with the
gateway's upstream over the transport named on the command line (rest|grpc).

The oracle is the emulator itself: the same call made directly (grpcio straight at the
emulator's gRPC port) must give the same answer, code, message and details. Where the
emulator cannot show what reached it (a cancel, metadata), a fake upstream records it.

usage: test_gateway.py rest|grpc [unittest args]
"""
import collections
import concurrent.futures
import json
import sys
import threading
import time
import unittest

import grpc
from google.protobuf import json_format

from emu_support import Emulator, small_request, strip_volatile  # noqa: E402
from emu_support import earthengine_pb2, operations_pb2, status_pb2
from gateway_support import (FakeGrpcUpstream, FakeRestUpstream, Gateway, clean_env, outcome,
                             unary)

TRANSPORT = "rest"

EXPORT = "/google.earthengine.v1.EarthEngine/ExportImage"
GET = "/google.longrunning.Operations/GetOperation"
LIST = "/google.longrunning.Operations/ListOperations"
CANCEL = "/google.longrunning.Operations/CancelOperation"
DELETE = "/google.longrunning.Operations/DeleteOperation"
WAIT = "/google.longrunning.Operations/WaitOperation"
# grpc core's own thread pools, by their thread names (comm, 15 characters).
GRPC_POOLS = {"default-executo", "event_engine", "grpc_global_tim"}


def upstream_url(emu):
    return emu.rest_base if TRANSPORT == "rest" else "http://" + emu.grpc_target


def export_bytes(request_id, project="projects/p1"):
    req = json_format.ParseDict(small_request(project, requestId=request_id),
                                earthengine_pb2.ExportImageRequest())
    return req.SerializeToString()


def name_bytes(cls, name, **kw):
    return cls(name=name, **kw).SerializeToString()


def op_dict(raw):
    op = operations_pb2.Operation.FromString(raw)
    return json_format.MessageToDict(op)


def same_op(a_raw, b_raw):
    """Two Operation answers equal but for what moves with time (progress, times)."""
    a, b = op_dict(a_raw), op_dict(b_raw)
    name_a, name_b = a.get("name"), b.get("name")
    return name_a == name_b and strip_volatile(a) == strip_volatile(b)


class Parity(unittest.TestCase):
    """Every method through the gateway equals the direct call."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--task-seconds", "1000", "--max-running", "1")
        try:
            cls.gw = Gateway(upstream_url(cls.emu), TRANSPORT)
        except BaseException:
            cls.emu.stop()
            raise
        cls.direct = grpc.insecure_channel(cls.emu.grpc_target)
        # One export takes the only RUNNING slot for good (--task-seconds 1000), so every
        # later one stays PENDING and answers do not change between the two calls.
        r = outcome(unary(cls.direct, EXPORT), export_bytes("gw-blocker"))
        assert r[0] == "OK", r

    @classmethod
    def tearDownClass(cls):
        cls.direct.close()
        try:
            cls.gw.close()
        finally:
            cls.emu.stop()

    def both(self, path, payload, timeout=20):
        via = outcome(unary(self.gw.channel, path), payload, timeout)
        direct = outcome(unary(self.direct, path), payload, timeout)
        return via, direct

    def export(self, rid):
        via, direct = self.both(EXPORT, export_bytes(rid))
        self.assertEqual(via[0], "OK", via)
        self.assertEqual(direct[0], "OK", direct)
        # Same requestId: the emulator answers with the operation the first call started.
        self.assertTrue(same_op(via[1], direct[1]), (op_dict(via[1]), op_dict(direct[1])))
        return op_dict(via[1])["name"]

    def test_export_get_list_wait(self):
        name = self.export("gw-parity-1")
        via, direct = self.both(GET, name_bytes(operations_pb2.GetOperationRequest, name))
        self.assertEqual((via[0], direct[0]), ("OK", "OK"))
        self.assertTrue(same_op(via[1], direct[1]))
        via, direct = self.both(LIST, name_bytes(operations_pb2.ListOperationsRequest,
                                                 "projects/p1"))
        self.assertEqual((via[0], direct[0]), ("OK", "OK"))
        lv = operations_pb2.ListOperationsResponse.FromString(via[1])
        ld = operations_pb2.ListOperationsResponse.FromString(direct[1])
        self.assertEqual([o.name for o in lv.operations], [o.name for o in ld.operations])
        self.assertIn(name, [o.name for o in lv.operations])
        wait = operations_pb2.WaitOperationRequest(name=name)
        wait.timeout.FromMilliseconds(200)
        via, direct = self.both(WAIT, wait.SerializeToString())
        self.assertEqual((via[0], direct[0]), ("OK", "OK"))
        self.assertTrue(same_op(via[1], direct[1]))

    def test_cancel_and_delete(self):
        for method, cls in ((CANCEL, operations_pb2.CancelOperationRequest),
                            (DELETE, operations_pb2.DeleteOperationRequest)):
            a, b = self.export("gw-%s-a" % method[-15:-9]), self.export("gw-%s-b" % method[-15:-9])
            via = outcome(unary(self.gw.channel, method), name_bytes(cls, a))
            direct = outcome(unary(self.direct, method), name_bytes(cls, b))
            self.assertEqual(via, direct)  # ("OK", b"", "", None): Empty
            self.assertEqual(via[0], "OK")
            # Both reached the store the same way.
            ga = outcome(unary(self.direct, GET), name_bytes(operations_pb2.GetOperationRequest, a))
            gb = outcome(unary(self.direct, GET), name_bytes(operations_pb2.GetOperationRequest, b))
            if method == CANCEL:
                da, db = op_dict(ga[1]), op_dict(gb[1])
                self.assertIn(da["metadata"]["state"], ("CANCELLING", "CANCELLED"))
                self.assertEqual(strip_volatile(da), strip_volatile(db))
            else:
                self.assertEqual(ga[0], "NOT_FOUND")
                self.assertEqual(gb[0], "NOT_FOUND")

    def test_errors_unchanged(self):
        missing = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/nope")
        via, direct = self.both(GET, missing)
        self.assertEqual(via[0], "NOT_FOUND")
        self.assertEqual(via, direct)  # code, message and the details trailer, byte for byte
        st = status_pb2.Status.FromString(via[3])
        self.assertEqual(st.code, 5)
        self.assertTrue(st.details, "ErrorInfo expected in the details")
        # A request the client refuses before sending keeps its code.
        bad = name_bytes(operations_pb2.GetOperationRequest, "not-an-operation")
        via, direct = self.both(GET, bad)
        self.assertEqual(via[0], direct[0])
        self.assertEqual(via[0], "INVALID_ARGUMENT")

    def test_unknown_method_and_garbage(self):
        code = outcome(unary(self.gw.channel, "/google.longrunning.Operations/Nope"), b"")[0]
        self.assertEqual(code, "UNIMPLEMENTED")
        code = outcome(unary(self.gw.channel, GET), b"\xff\xff\xff")[0]
        self.assertEqual(code, "INVALID_ARGUMENT")

    def test_log_lines(self):
        outcome(unary(self.gw.channel, GET),
                name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/logme"))
        for _ in range(50):
            if any(m == GET and c == "NOT_FOUND" for m, c, _ in self.gw.log()):
                return
            time.sleep(0.05)
        self.fail("no log line for the call: %s" % self.gw.stderr())


class Faults(unittest.TestCase):
    def test_fail_rate_same_code(self):
        with Emulator("--fail-rate", "1.0") as emu, \
                Gateway(upstream_url(emu), TRANSPORT, "--max-attempts", "1") as gw:
            direct = grpc.insecure_channel(emu.grpc_target)
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/x")
            via = outcome(unary(gw.channel, GET), req)
            dir_ = outcome(unary(direct, GET), req)
            direct.close()
            self.assertEqual(via[0], "UNAVAILABLE")
            self.assertEqual(via, dir_)

    def test_retries_still_end_unavailable(self):
        # The client's retry policy runs inside the gateway; the caller sees the last code.
        with Emulator("--fail-rate", "1.0") as emu, \
                Gateway(upstream_url(emu), TRANSPORT, "--max-attempts", "2") as gw:
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/x")
            self.assertEqual(outcome(unary(gw.channel, GET), req)[0], "UNAVAILABLE")


class SlowUpstream(unittest.TestCase):
    """--latency-ms on the emulator: cancel, deadline and --max-in-flight."""

    def test_cancel_deadline_and_bound(self):
        with Emulator("--latency-ms", "1500") as emu, \
                Gateway(upstream_url(emu), TRANSPORT, "--max-in-flight", "1") as gw:
            get = unary(gw.channel, GET)
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/slow")
            first = get.future(req, timeout=20)
            time.sleep(0.3)
            # The one upstream slot is taken: another call is refused at once.
            t0 = time.monotonic()
            self.assertEqual(outcome(get, req)[0], "RESOURCE_EXHAUSTED")
            self.assertLess(time.monotonic() - t0, 1.0)  # not after the 1.5 s upstream
            first.cancel()
            time.sleep(0.2)
            # The cancel ended the upstream call and freed the slot: the next call is
            # admitted (it then meets its own short deadline).
            t0 = time.monotonic()
            self.assertEqual(outcome(get, req, timeout=0.4)[0], "DEADLINE_EXCEEDED")
            self.assertLess(time.monotonic() - t0, 1.4)
            time.sleep(0.2)
            # The deadline ended that upstream call too: the slot is free again.
            code = outcome(get, req, timeout=10)[0]
            self.assertEqual(code, "NOT_FOUND")
            log = [(c, ms) for m, c, ms in gw.log() if m == GET]
            # The cancelled call ended long before the emulator's 1.5 s latency.
            self.assertTrue(any(c == "CANCELLED" and ms < 1200 for c, ms in log), log)
            self.assertTrue(any(c == "RESOURCE_EXHAUSTED" for c, ms in log), log)
            self.assertTrue(any(c in ("DEADLINE_EXCEEDED", "CANCELLED") and 300 < ms < 1400
                                for c, ms in log), log)  # ended by the 0.4 s deadline

    def test_concurrent_slow_calls_bounded(self):
        with Emulator("--latency-ms", "600") as emu, \
                Gateway(upstream_url(emu), TRANSPORT, "--max-in-flight", "1") as gw:
            get = unary(gw.channel, GET)
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/b")
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                codes = list(pool.map(lambda _: outcome(get, req)[0], range(6)))
            self.assertIn("NOT_FOUND", codes)  # the one that got the slot: the emulator's answer
            self.assertIn("RESOURCE_EXHAUSTED", codes)
            self.assertEqual(set(codes), {"NOT_FOUND", "RESOURCE_EXHAUSTED"})


class PassThrough(unittest.TestCase):
    """What reaches the upstream: a fake one records it."""

    def start_fake(self):
        fake = FakeRestUpstream() if TRANSPORT == "rest" else FakeGrpcUpstream(hold=10)
        self.addCleanup(fake.close)
        return fake

    def test_cancel_quota_deadline_token(self):
        fake = self.start_fake()
        env = clean_env(EE_ACCESS_TOKEN="gateway-token")
        with Gateway(fake.url, TRANSPORT, "--max-attempts", "1", env=env) as gw:
            get = unary(gw.channel, GET)
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/c")
            md = (("x-goog-user-project", "quota-proj"), ("authorization", "Bearer caller"))
            fut = get.future(req, timeout=8, metadata=md)
            rec = self.wait_for_call(fake)
            fut.cancel()
            ended = rec["closed"] if TRANSPORT == "rest" else rec["ended"]
            self.assertTrue(ended.wait(3), "the cancel did not reach the upstream")
            if TRANSPORT == "rest":
                head = rec["head"].lower()
                self.assertIn("x-goog-user-project: quota-proj", head)
                self.assertIn("authorization: bearer gateway-token", head)
                self.assertNotIn("caller", head)
            else:
                m = rec["metadata"]
                self.assertEqual(m.get("x-goog-user-project"), "quota-proj")
                self.assertEqual(m.get("authorization"), "Bearer gateway-token")
                # The caller's 8 s deadline travelled with the call.
                self.assertIsNotNone(rec["remaining"])
                self.assertLessEqual(rec["remaining"], 8.0)

    def wait_for_call(self, fake):
        for _ in range(100):
            calls = fake.requests if TRANSPORT == "rest" else fake.calls
            if calls and (TRANSPORT != "rest" or calls[0]["head"]):
                return calls[0]
            time.sleep(0.03)
        self.fail("the call never reached the fake upstream")


class Load(unittest.TestCase):
    def test_2000_calls_at_64(self):
        with Emulator("--task-seconds", "1000", "--grpc-threads", "64") as emu, \
                Gateway(upstream_url(emu), TRANSPORT) as gw:
            get = unary(gw.channel, GET)
            req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/load")
            # Warm up with the same load: connections, and grpc's own lazily started pools.
            self.run_calls(get, req, 1000, 64)
            before, names = gw.threads(), gw.thread_names()
            peak = [before]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], gw.threads())
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                codes = self.run_calls(get, req, 2000, 64)
            finally:
                stop.set()
                sampler.join()
            after = gw.threads()
            self.assertEqual(codes, {"NOT_FOUND": 2000})
            grown = gw.thread_names()
            # The gateway's own threads (main, pollers, the client's), all named after the
            # program, are exactly as many as before: no thread per call.
            self.assertEqual(grown.count("ee-gateway"), names.count("ee-gateway"), grown)
            # grpc core's internal pools (executor, event engine, timer manager) start
            # threads lazily up to a small fixed bound the first times they are all busy;
            # the warm-up usually gets there, but not always. Any change in Threads: must
            # be theirs, and small.
            extra = collections.Counter(grown) - collections.Counter(names)
            self.assertLessEqual(set(extra), GRPC_POOLS, (names, grown))
            self.assertLessEqual(after - before, 3, (names, grown))
            self.assertLessEqual(peak[0], before + 3, "a thread per call? peak %d" % peak[0])

    @staticmethod
    def run_calls(fn, req, n, concurrency):
        """n calls with at most `concurrency` outstanding, from one thread (futures)."""
        codes, lock, slots = {}, threading.Lock(), threading.Semaphore(concurrency)
        done = threading.Event()
        left = [n]

        def finished(f):
            code = f.code().name
            with lock:
                codes[code] = codes.get(code, 0) + 1
                left[0] -= 1
                if left[0] == 0:
                    done.set()
            slots.release()

        for _ in range(n):
            slots.acquire()
            fn.future(req, timeout=30).add_done_callback(finished)
        assert done.wait(60), "calls did not finish: %r" % codes
        return codes


class Shutdown(unittest.TestCase):
    def test_sigterm_lets_calls_finish(self):
        with Emulator("--latency-ms", "700") as emu:
            gw = Gateway(upstream_url(emu), TRANSPORT, "--grace-ms", "5000")
            try:
                req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/s")
                fut = unary(gw.channel, GET).future(req, timeout=10)
                time.sleep(0.2)
                rc, took = gw.stop()
                self.assertEqual(rc, 0, gw.stderr())
                self.assertLess(took, 3.0)
                self.assertEqual(fut.code(), grpc.StatusCode.NOT_FOUND)  # answered, not cut
            finally:
                gw.close()

    def test_sigterm_cancels_after_grace(self):
        with Emulator("--latency-ms", "4000") as emu:
            gw = Gateway(upstream_url(emu), TRANSPORT, "--grace-ms", "300")
            try:
                req = name_bytes(operations_pb2.GetOperationRequest, "projects/p1/operations/s")
                fut = unary(gw.channel, GET).future(req, timeout=10)
                time.sleep(0.2)
                rc, took = gw.stop()
                self.assertEqual(rc, 0, gw.stderr())
                self.assertLess(took, 3.0, "exit should follow the 300 ms grace, not the 4 s call")
                self.assertNotEqual(fut.code(), grpc.StatusCode.OK)
                self.assertIn("grace period over", gw.stderr())
            finally:
                gw.close()


class Flags(unittest.TestCase):
    def run_gw(self, *args):
        import subprocess
        from gateway_support import GATEWAY
        return subprocess.run([GATEWAY] + list(args), capture_output=True, text=True, timeout=10)

    def test_usage(self):
        r = self.run_gw("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--upstream", r.stdout)
        for args in (["--bogus", "1"], [], ["--upstream", "ftp://x"],
                     ["--upstream", "http://127.0.0.1:1", "--upstream-transport", "smoke"],
                     ["--upstream", "http://127.0.0.1:1", "--max-in-flight", "0"]):
            r = self.run_gw(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("error: INVALID_ARGUMENT: "), lines)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("rest", "grpc"):
        sys.exit("usage: test_gateway.py rest|grpc [unittest args]")
    TRANSPORT = sys.argv.pop(1)
    unittest.main(verbosity=2)
