"""Operations over both front ends: PENDING -> RUNNING (progress, stages) -> SUCCEEDED,
maxPixels failures, asset exports, Get/List/Cancel/Delete/Wait, requestId idempotency
and the queue cap. The same steps run over REST and gRPC and must agree."""
import time
import unittest

from emu_support import (Emulator, fronts, list_all, metadata, small_request, state,
                         strip_volatile, wait_done)

TASK = 0.6


class LifecycleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--task-seconds", str(TASK), "--max-running", "2", "--seed", "7")
        cls.rest, cls.grpc = fronts(cls.emu)
        cls.both = (cls.rest, cls.grpc)

    @classmethod
    def tearDownClass(cls):
        cls.grpc.close()
        assert cls.emu.stop() == 0

    def test_export_runs_to_success_with_progress_and_stages(self):
        finals = []
        for f in self.both:
            r = f.export(small_request(project="projects/life", description="d-" + f.name,
                                       grid={"dimensions": {"width": 1000, "height": 1000}}))
            self.assertEqual(r.code, "OK", r)
            op = r.body
            self.assertRegex(op["name"], r"^projects/life/operations/[A-Z2-7]{24}$")
            self.assertFalse(op.get("done", False))
            md = metadata(op)
            self.assertEqual(md["state"], "PENDING")
            self.assertEqual(md["description"], "d-" + f.name)
            self.assertIn("createTime", md)
            seen_running = None
            end = time.time() + 10
            while time.time() < end:
                cur = f.get(op["name"]).body
                if state(cur) == "RUNNING":
                    seen_running = metadata(cur)
                if cur.get("done"):
                    break
                time.sleep(TASK / 10)
            self.assertIsNotNone(seen_running, "never saw RUNNING")
            self.assertEqual(seen_running["attempt"], 1)
            self.assertIn("startTime", seen_running)
            self.assertLess(seen_running.get("progress", 0), 1)
            names = [s["displayName"] for s in seen_running["stages"]]
            self.assertEqual(names, ["Starting", "Computing", "Writing"])
            done = f.get(op["name"]).body
            md = metadata(done)
            self.assertEqual(md["state"], "SUCCEEDED")
            self.assertEqual(md["progress"], 1)
            self.assertTrue(done["done"])
            self.assertNotIn("error", done)
            self.assertEqual(done["response"]["@type"], "type.googleapis.com/google.protobuf.Empty")
            computing = md["stages"][1]
            self.assertEqual(computing["totalWorkUnits"], str((1000 * 1000 + 65535) // 65536))
            self.assertEqual(computing["completeWorkUnits"], int(computing["totalWorkUnits"]))
            self.assertLessEqual(md["startTime"], md["endTime"])
            self.assertEqual(md["updateTime"], md["endTime"])
            finals.append(done)
        # Both front ends see the same operation shape (names and times aside).
        a, b = (strip_volatile(x) for x in finals)
        a["metadata"].pop("description")
        b["metadata"].pop("description")
        self.assertEqual(a, b)
        # ...and each front end sees the other's operation identically.
        for op in finals:
            self.assertEqual(self.rest.get(op["name"]).body, self.grpc.get(op["name"]).body)

    def test_too_many_pixels_fails_the_task(self):
        for f in self.both:
            r = f.export(small_request(project="projects/big", maxPixels="1000000",
                                       grid={"dimensions": {"width": 2000, "height": 1000}}))
            self.assertEqual(r.code, "OK", r)
            done = wait_done(f, r.body["name"])
            self.assertEqual(state(done), "FAILED")
            self.assertEqual(done["error"]["code"], 3)
            self.assertEqual(done["error"]["message"],
                             "Export too large: specified 2000000 pixels (max: 1000000). Specify "
                             "higher maxPixels value if you intend to export a large area.")
            # The default limit is 1e8.
            r = f.export(small_request(project="projects/big",
                                       grid={"dimensions": {"width": 20000, "height": 10000}}))
            done = wait_done(f, r.body["name"])
            self.assertIn("specified 200000000 pixels (max: 100000000)", done["error"]["message"])

    def test_asset_export_records_the_asset_and_refuses_to_overwrite(self):
        for f in self.both:
            name = "projects/assets1/assets/from-%s" % f.name
            req = small_request(project="projects/assets1",
                                assetExportOptions={"earthEngineDestination": {"name": name}})
            del req["fileExportOptions"]
            first = wait_done(f, f.export(req).body["name"])
            self.assertEqual(state(first), "SUCCEEDED")
            again = wait_done(f, f.export(req).body["name"])
            self.assertEqual(state(again), "FAILED")
            self.assertEqual(again["error"]["code"], 6)
            self.assertEqual(again["error"]["message"], "Cannot overwrite asset '%s'." % name)
            req["assetExportOptions"]["earthEngineDestination"]["overwrite"] = True
            over = wait_done(f, f.export(req).body["name"])
            self.assertEqual(state(over), "SUCCEEDED")

    def test_cancel_goes_through_cancelling_to_cancelled(self):
        for f in self.both:
            # Fill the two running slots so the third stays PENDING, then cancel all three.
            names = [f.export(small_request(project="projects/cancel")).body["name"]
                     for _ in range(3)]
            for n in names:
                r = f.cancel(n)
                self.assertEqual(r.code, "OK", r)
                self.assertEqual(r.body, {})
                self.assertIn(state(f.get(n).body), ("CANCELLING", "CANCELLED"))
            r = f.cancel(names[0])  # cancelling again is fine while CANCELLING
            self.assertIn(r.code, ("OK", "FAILED_PRECONDITION"))
            for n in names:
                done = wait_done(f, n)
                self.assertEqual(state(done), "CANCELLED")
                self.assertEqual(done["error"]["code"], 1)
                self.assertTrue(done["done"])
            r = f.cancel(names[0])
            self.assertEqual(r.code, "FAILED_PRECONDITION", r)
            r = f.cancel("projects/cancel/operations/NOSUCHOPERATION")
            self.assertEqual(r.code, "NOT_FOUND", r)

    def test_delete_hides_the_operation(self):
        for f in self.both:
            name = f.export(small_request(project="projects/del")).body["name"]
            r = f.delete(name)
            self.assertEqual(r.code, "OK", r)
            self.assertEqual(r.body, {})
            for g in self.both:
                self.assertEqual(g.get(name).code, "NOT_FOUND")
                self.assertEqual(g.delete(name).code, "NOT_FOUND")
            self.assertNotIn(name, [o["name"] for o in list_all(f, "projects/del")])

    def test_wait_returns_when_done_or_at_the_timeout(self):
        for f in self.both:
            name = f.export(small_request(project="projects/wait")).body["name"]
            t0 = time.time()
            r = f.wait(name, timeout="0.1s")
            self.assertEqual(r.code, "OK", r)
            self.assertLess(time.time() - t0, 2)
            self.assertFalse(r.body.get("done", False))
            r = f.wait(name, timeout="30s")
            self.assertEqual(r.code, "OK", r)
            self.assertTrue(r.body["done"])
            self.assertEqual(state(r.body), "SUCCEEDED")
            self.assertEqual(f.wait("projects/wait/operations/NOSUCH").code, "NOT_FOUND")
            self.assertEqual(f.wait("not-a-name").code in ("INVALID_ARGUMENT", "NOT_FOUND"), True)

    def test_list_pages_filters_and_rejects_bad_filters(self):
        names = []
        for i in range(7):
            f = self.both[i % 2]
            names.append(f.export(small_request(project="projects/list")).body["name"])
        names.reverse()  # newest first
        for f in self.both:
            ops = list_all(f, "projects/list", page_size=3)
            self.assertEqual([o["name"] for o in ops], names)
            r = f.list("projects/list", page_size=3)
            self.assertEqual(len(r.body["operations"]), 3)
            self.assertIn("nextPageToken", r.body)
            self.assertEqual(f.list("projects/list", page_token="bogus").code, "INVALID_ARGUMENT")
            self.assertEqual(f.list("projects/list", page_size=-1).code, "INVALID_ARGUMENT")
            self.assertEqual(list_all(f, "projects/nothing-here"), [])
        for n in names:
            wait_done(self.rest, n)
        for f in self.both:
            self.assertEqual(len(list_all(f, "projects/list", filter="metadata.state=SUCCEEDED")), 7)
            self.assertEqual(list_all(f, "projects/list", filter='metadata.state = "RUNNING"'), [])
            self.assertEqual(len(list_all(f, "projects/list",
                                          filter="done=true AND state!=FAILED")), 7)
            self.assertEqual(list_all(f, "projects/list", filter="metadata.state=PENDING OR "
                                                                 "metadata.state=RUNNING"), [])
            for bad in ("metadata.state=DONE", "name=x", "metadata.state", "state=RUNNING OR",
                        "done=maybe", "metadata.state=RUNNING extra"):
                r = f.list("projects/list", filter=bad)
                self.assertEqual(r.code, "INVALID_ARGUMENT", (bad, r))
                self.assertTrue(r.message.startswith("filter: "), r.message)
        self.assertEqual(self.rest.list("projects/list", filter="x").message,
                         self.grpc.list("projects/list", filter="x").message)

    def test_request_id_returns_the_first_operation(self):
        # The caller is the same (no token) on both front ends, so a retry over the other
        # transport finds the same operation too.
        req = small_request(project="projects/rid", requestId="retry-me-1")
        first = self.rest.export(req).body["name"]
        for f in self.both:
            for _ in range(2):
                r = f.export(req)
                self.assertEqual(r.code, "OK", r)
                self.assertEqual(r.body["name"], first)
        other = self.grpc.export(small_request(project="projects/rid", requestId="retry-me-2"))
        self.assertNotEqual(other.body["name"], first)
        # Another project is another scope.
        elsewhere = self.grpc.export(small_request(project="projects/rid2", requestId="retry-me-1"))
        self.assertNotEqual(elsewhere.body["name"], first)
        # Deleting the operation frees its requestId.
        self.assertEqual(self.rest.delete(first).code, "OK")
        fresh = self.grpc.export(req)
        self.assertNotEqual(fresh.body["name"], first)
        self.assertEqual(len(list_all(self.rest, "projects/rid")), 2)

    def test_bad_operation_names(self):
        for f in self.both:
            self.assertEqual(f.get("projects/x/operations/NOPE").code, "NOT_FOUND")
        self.assertEqual(self.grpc.get("operations/x").code, "INVALID_ARGUMENT")
        self.assertEqual(self.grpc.list("nope").code, "INVALID_ARGUMENT")
        self.assertEqual(self.rest.get("operations/x").code, "NOT_FOUND")  # no route


class QueueCapTest(unittest.TestCase):
    def test_queue_cap_and_priority(self):
        with Emulator("--task-seconds", "30", "--max-running", "1", "--max-queued", "2") as emu:
            rest, grpc_ = fronts(emu)
            running = rest.export(small_request(project="projects/q")).body["name"]
            end = time.time() + 5
            while state(rest.get(running).body) != "RUNNING" and time.time() < end:
                time.sleep(0.02)
            low = rest.export(small_request(project="projects/q", priority=100))
            high = grpc_.export(small_request(project="projects/q", priority=500))
            self.assertEqual((low.code, high.code), ("OK", "OK"))
            for f in (rest, grpc_):
                r = f.export(small_request(project="projects/q"))
                self.assertEqual(r.code, "RESOURCE_EXHAUSTED", r)
                self.assertIn("Too many tasks already in the queue (2)", r.message)
                self.assertEqual(r.reason, "QUEUE_FULL")
            self.assertEqual(rest.export(small_request(project="projects/q")).http, 429)
            # Another project has its own queue.
            self.assertEqual(grpc_.export(small_request(project="projects/q2")).code, "OK")
            # Freeing the running slot starts the higher priority task, not the older one.
            self.assertEqual(rest.cancel(running).code, "OK")
            wait_done(rest, running)
            end = time.time() + 5
            while state(rest.get(high.body["name"]).body) != "RUNNING" and time.time() < end:
                time.sleep(0.02)
            self.assertEqual(state(rest.get(high.body["name"]).body), "RUNNING")
            self.assertEqual(state(grpc_.get(low.body["name"]).body), "PENDING")
            grpc_.close()
            self.assertEqual(emu.stop(), 0)


if __name__ == "__main__":
    unittest.main()
