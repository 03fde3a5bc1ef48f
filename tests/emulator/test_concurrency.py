"""50 concurrent clients (25 over REST with curl, 25 over gRPC) submit 2,000 exports:
2,000 distinct operations, all of which complete; then a clean SIGTERM. And the gRPC
front end's split: calls that may block (WaitOperation) take one of --grpc-threads
handler threads, every other call is served without one."""
import json
import subprocess
import threading
import time
import unittest

from emu_support import Emulator, Grpc, list_all, small_request

CLIENTS = 50
PER_CLIENT = 40


def rest_client(base, index, out):
    """One curl process sending PER_CLIENT exports on one keep-alive connection."""
    cmd = ["curl", "-sS", "--max-time", "120"]
    for i in range(PER_CLIENT):
        if i:
            cmd.append("--next")
        body = json.dumps(small_request(project="projects/load",
                                        description="rest-%d-%d" % (index, i)))
        cmd += ["-X", "POST", "-H", "Content-Type: application/json", "-d", body,
                "-w", "\n", base + "/v1/projects/load/image:export"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out.extend(json.loads(line)["name"] for line in p.stdout.splitlines() if line.strip())


def grpc_client(emu, index, out):
    g = Grpc(emu)
    try:
        for i in range(PER_CLIENT):
            r = g.export(small_request(project="projects/load", description="grpc-%d-%d" % (index, i)))
            assert r.code == "OK", r
            out.append(r.body["name"])
    finally:
        g.close()


class ConcurrencyTest(unittest.TestCase):
    def test_2000_exports_from_50_clients(self):
        with Emulator("--task-seconds", "0.05", "--max-running", "500") as emu:
            results = [[] for _ in range(CLIENTS)]
            threads = []
            for c in range(CLIENTS):
                if c % 2:
                    t = threading.Thread(target=grpc_client, args=(emu, c, results[c]))
                else:
                    t = threading.Thread(target=rest_client, args=(emu.rest_base, c, results[c]))
                threads.append(t)
            t0 = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join(150)
            names = [n for r in results for n in r]
            self.assertEqual(len(names), CLIENTS * PER_CLIENT)
            self.assertEqual(len(set(names)), CLIENTS * PER_CLIENT)
            submitted = time.time() - t0
            g = Grpc(emu)
            end = time.time() + 60
            while time.time() < end:
                if not list_all(g, "projects/load", filter="done=false", page_size=1000):
                    break
                time.sleep(0.2)
            ops = list_all(g, "projects/load", page_size=1000)
            self.assertEqual(sorted(o["name"] for o in ops), sorted(names))
            states = {o["metadata"]["state"] for o in ops}
            self.assertEqual(states, {"SUCCEEDED"})
            g.close()
            print("submitted %d exports in %.1fs" % (len(names), submitted))
            self.assertEqual(emu.stop(), 0)

    def test_blocked_waits_do_not_hold_other_grpc_calls(self):
        # One handler thread, held by a Wait of 3 s; a second Wait queues behind it. Gets
        # and exports meanwhile answer at once (with a thread per call they would queue).
        with Emulator("--task-seconds", "3600", "--grpc-threads", "1") as emu:
            g = Grpc(emu)
            name = g.export(small_request(project="projects/w")).body["name"]
            waits = []

            def wait():
                t0 = time.time()
                r = g.wait(name, timeout="3s")
                waits.append((r.code, time.time() - t0))

            ts = [threading.Thread(target=wait) for _ in range(2)]
            for t in ts:
                t.start()
            time.sleep(0.5)  # both Waits are in: one held, one queued
            t0 = time.time()
            for i in range(20):
                self.assertEqual(g.get(name).code, "OK")
                self.assertEqual(g.export(small_request(project="projects/w")).code, "OK")
            quick = time.time() - t0
            for t in ts:
                t.join(30)
            g.close()
            self.assertLess(quick, 2.0, "40 calls took %.1fs behind a held Wait" % quick)
            self.assertEqual(sorted(c for c, _ in waits), ["OK", "OK"])
            slow = max(s for _, s in waits)
            self.assertGreater(slow, 5.0, "the second Wait did not queue behind the first")
            self.assertEqual(emu.stop(), 0)


if __name__ == "__main__":
    unittest.main()
