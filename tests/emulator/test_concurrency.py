"""50 concurrent clients (25 over REST with curl, 25 over gRPC) submit 2,000 exports:
2,000 distinct operations, all of which complete; then a clean SIGTERM."""
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


if __name__ == "__main__":
    unittest.main()
