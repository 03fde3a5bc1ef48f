"""Hostile and bounded input, command-line errors, many connections, and shutdown with
calls in flight."""
import socket
import subprocess
import threading
import time
import unittest

from emu_support import EMULATOR, Emulator, Grpc, fronts, small_request


def nested_value_node(depth):
    """Binary ValueNode nested depth times through arrayValue.values (built by hand, so no
    protobuf library recursion limit gets in the way)."""
    def ld(field, payload):
        n, out = len(payload), bytearray([field << 3 | 2])
        while n > 0x7F:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out) + payload
    node = ld(8, b"x")  # argumentReference
    for _ in range(depth):
        node = ld(1, node)  # ArrayValue.values
        node = ld(4, node)  # ValueNode.arrayValue
    return node


def export_with_node(node_bytes):
    """ExportImageRequest{project, expression{values{"0": node}, result "0"}} in binary."""
    def ld(field, payload):
        n, out = len(payload), bytearray([field << 3 | 2])
        while n > 0x7F:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out) + payload
    entry = ld(1, b"0") + ld(2, node_bytes)
    expression = ld(1, entry) + ld(2, b"0")
    return ld(1, b"projects/p1") + ld(2, expression)


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--max-request-bytes", "65536", "--max-depth", "64")
        cls.rest, cls.grpc = fronts(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.grpc.close()
        assert cls.emu.stop() == 0

    def test_request_size_limit(self):
        big = small_request(description="x" * 70000)
        results = [self.rest.export(big), self.grpc.export(big)]
        for r in results:
            self.assertEqual(r.code, "INVALID_ARGUMENT", r)
            self.assertEqual(r.reason, "REQUEST_TOO_LARGE")
        self.assertEqual(results[0].message, results[1].message)
        self.assertEqual(results[0].message, "request: larger than 65536 bytes")
        # Far past the limit, grpc itself refuses the message.
        r = self.grpc.raw("/google.earthengine.v1.EarthEngine/ExportImage", b"\x0a" * 300000)
        self.assertIn(r.code, ("RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"))
        self.assertEqual(self.rest.list("projects/p1").code, "OK")  # still serving

    def test_deep_json_is_refused(self):
        node = {"constantValue": 1}
        for _ in range(200):
            node = {"arrayValue": {"values": [node]}}
        r = self.rest.export(small_request(expression={"values": {"0": node}, "result": "0"}))
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)
        r = self.rest.call("POST", "/v1/projects/p1/image:export",
                           raw_body='{"expression":{"values":{"0":{"constantValue":' + "[" * 50000
                           + "]" * 50000 + "}}}}")
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)

    def test_deep_protobuf_is_refused(self):
        for depth in (40, 5000):
            r = self.grpc.raw("/google.earthengine.v1.EarthEngine/ExportImage",
                              export_with_node(nested_value_node(depth)))
            self.assertEqual(r.code, "INVALID_ARGUMENT", (depth, r))
            self.assertIn("deeper than the limit of 64", r.message)
        r = self.grpc.raw("/google.earthengine.v1.EarthEngine/ExportImage",
                          export_with_node(nested_value_node(10)))
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)  # shallow enough, but no export options
        self.assertTrue(r.message.startswith("exportOptions"), r.message)

    def test_malformed_input(self):
        r = self.grpc.raw("/google.earthengine.v1.EarthEngine/ExportImage", b"\x0a\xff\xff\xff")
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)
        self.assertIn("not a valid google.earthengine.v1.ExportImageRequest", r.message)
        r = self.grpc.raw("/google.earthengine.v1.EarthEngine/NoSuchMethod", b"")
        self.assertEqual(r.code, "UNIMPLEMENTED", r)
        r = self.rest.call("POST", "/v1/projects/p1/image:export", raw_body="{not json")
        self.assertEqual((r.code, r.http), ("INVALID_ARGUMENT", 400))
        r = self.rest.call("POST", "/v1/projects/p1/image:export", raw_body='{"bogusField": 1}')
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)
        r = self.rest.call("GET", "/v2/elsewhere")
        self.assertEqual((r.code, r.http), ("NOT_FOUND", 404))
        r = self.rest.call("GET", "/v1/projects/p1/operations", query="bogus=1")
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)

    def test_many_connections(self):
        host, port = self.emu.rest_base[len("http://"):].rsplit(":", 1)
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection((host, int(port))))
            channels = [Grpc(self.emu) for _ in range(50)]
            for c in channels:
                self.assertEqual(c.list("projects/p1").code, "OK")
                c.close()
            self.assertEqual(self.rest.list("projects/p1").code, "OK")
        finally:
            for s in socks:
                s.close()


class CommandLineTest(unittest.TestCase):
    def run_emu(self, *args):
        return subprocess.run([EMULATOR] + list(args), capture_output=True, text=True, timeout=20)

    def test_bad_flags_exit_2(self):
        for args in (["--bogus"], ["--rest-port", "70000"], ["--rest-port", "x"],
                     ["--task-seconds", "-1"], ["--fail-rate", "1.5"], ["--max-running", "0"],
                     ["--token", ""], ["--seed", "-3"], ["--grpc-port"], ["stray"],
                     ["--max-queued=abc"]):
            p = self.run_emu(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith("error: "), p.stderr)
            self.assertEqual(p.stdout, "")

    def test_help(self):
        p = self.run_emu("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--task-seconds", p.stdout)

    def test_port_in_use(self):
        with Emulator() as first:
            rest_port = first.rest_base.rsplit(":", 1)[1]
            grpc_port = first.grpc_target.rsplit(":", 1)[1]
            for flags in (["--rest-port", rest_port, "--grpc-port", "0"],
                          ["--rest-port", "0", "--grpc-port", grpc_port]):
                p = self.run_emu(*flags)
                self.assertEqual(p.returncode, 1, (flags, p.stderr))
                self.assertIn("error: --%s: cannot listen" % flags[0 if flags[1] != "0" else 2][2:],
                              p.stderr)
                self.assertEqual(p.stdout, "")
            self.assertEqual(first.stop(), 0)


class ShutdownTest(unittest.TestCase):
    def test_signal_with_calls_in_flight(self):
        for sig in ("SIGTERM", "SIGINT"):
            # On a loaded machine a wait may not have reached the emulator before the
            # signal; such a round proves nothing, so it is run again (not failed).
            for _ in range(4):
                results = self._signal_round(sig)
                if "NOT_SENT" not in results:
                    break
            # Waits in flight are answered (early, with the operation as it is), not cut off.
            self.assertEqual([r.code for r in results], ["OK", "OK"], results)
            for r in results:
                self.assertFalse(r.body.get("done", False))

    def _signal_round(self, sig):
        import signal as s
        emu = Emulator("--task-seconds", "100")
        rest, grpc_ = fronts(emu)
        name = rest.export(small_request()).body["name"]
        results = []

        def wait(front):
            try:
                results.append(front.wait(name, "50s"))
            except Exception:  # no connection: the call never got in
                results.append("NOT_SENT")

        threads = [threading.Thread(target=wait, args=(f,)) for f in (rest, grpc_)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        t0 = time.time()
        self.assertEqual(emu.stop(getattr(s, sig)), 0, emu.stderr)
        self.assertLess(time.time() - t0, 10)
        for t in threads:
            t.join(20)
        self.assertIn("shutting down", emu.stderr)
        grpc_.close()
        return results


if __name__ == "__main__":
    unittest.main()
