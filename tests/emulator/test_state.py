"""--state: operations and assets survive a restart; a torn last record is skipped; a
corrupt record in the middle stops the start; SIGINT and SIGTERM shut down cleanly."""
import os
import signal
import struct
import tempfile
import unittest

from emu_support import Emulator, fronts, list_all, metadata, small_request, state, wait_done


def snapshot(front, project):
    """Every operation of project, without progress (which moves while tasks run)."""
    ops = list_all(front, project)
    for op in ops:
        op["metadata"].pop("progress", None)
        op["metadata"].pop("stages", None)
    return ops


class StateTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "emu.journal")

    def tearDown(self):
        self.dir.cleanup()

    def start(self, *extra):
        return Emulator("--state", self.path, "--task-seconds", "0.3", *extra)

    def populate(self, emu):
        rest, grpc_ = fronts(emu)
        asset = small_request(project="projects/s",
                              assetExportOptions={"earthEngineDestination": {
                                  "name": "projects/s/assets/kept"}})
        del asset["fileExportOptions"]
        done = wait_done(rest, rest.export(asset).body["name"])
        self.assertEqual(state(done), "SUCCEEDED")
        rid = grpc_.export(small_request(project="projects/s", requestId="survives")).body["name"]
        deleted = rest.export(small_request(project="projects/s")).body["name"]
        self.assertEqual(grpc_.delete(deleted).code, "OK")
        too_big = grpc_.export(small_request(project="projects/s", maxPixels="10",
                                             grid={"dimensions": {"width": 5, "height": 5}}))
        wait_done(grpc_, too_big.body["name"])
        for n in (rid,):
            wait_done(rest, n)
        grpc_.close()
        return asset, rid, deleted

    def test_restart_loses_nothing(self):
        emu = self.start()
        asset, rid, deleted = self.populate(emu)
        rest, _ = fronts(emu)
        before = snapshot(rest, "projects/s")
        self.assertEqual(len(before), 3)
        self.assertEqual(emu.stop(signal.SIGTERM), 0)

        emu = self.start()
        rest, grpc_ = fronts(emu)
        self.assertEqual(snapshot(rest, "projects/s"), before)
        self.assertEqual(snapshot(grpc_, "projects/s"), before)
        self.assertEqual(rest.get(deleted).code, "NOT_FOUND")
        # The requestId still finds its operation, and the asset still exists.
        self.assertEqual(grpc_.export(small_request(project="projects/s",
                                                    requestId="survives")).body["name"], rid)
        again = wait_done(rest, rest.export(asset).body["name"])
        self.assertEqual(state(again), "FAILED")
        self.assertIn("Cannot overwrite asset 'projects/s/assets/kept'", again["error"]["message"])
        grpc_.close()
        self.assertEqual(emu.stop(signal.SIGINT), 0)

    def test_pending_and_running_tasks_resume_after_restart(self):
        emu = Emulator("--state", self.path, "--task-seconds", "1", "--max-running", "1")
        rest, _ = fronts(emu)
        names = [rest.export(small_request(project="projects/r")).body["name"] for _ in range(2)]
        self.assertEqual(emu.stop(), 0)
        emu = Emulator("--state", self.path, "--task-seconds", "0.2")
        rest, _ = fronts(emu)
        for n in names:
            self.assertEqual(state(wait_done(rest, n)), "SUCCEEDED")
        self.assertEqual(emu.stop(), 0)

    def test_torn_last_record_is_skipped(self):
        emu = self.start()
        self.populate(emu)
        rest, _ = fronts(emu)
        before = snapshot(rest, "projects/s")
        self.assertEqual(emu.stop(), 0)
        size = os.path.getsize(self.path)
        # A write cut short: a header promising 500 bytes and only part of them.
        with open(self.path, "ab") as f:
            f.write(struct.pack("<II", 500, 0xDEADBEEF) + b"O" + b"\x01" * 40)
        emu = self.start()
        rest, _ = fronts(emu)
        self.assertEqual(snapshot(rest, "projects/s"), before)
        # The tail was cut off, so new records follow intact ones.
        self.assertEqual(rest.export(small_request(project="projects/s")).code, "OK")
        self.assertEqual(emu.stop(), 0)
        self.assertIn("torn record at byte %d" % size, emu.stderr)
        # A complete last record whose checksum fails is torn too.
        with open(self.path, "ab") as f:
            f.write(struct.pack("<II", 4, 12345) + b"Oabc")
        emu = self.start()
        rest, _ = fronts(emu)
        self.assertEqual(len(snapshot(rest, "projects/s")), 4)
        self.assertEqual(emu.stop(), 0)

    def test_corrupt_middle_record_refuses_to_start(self):
        emu = self.start()
        self.populate(emu)
        self.assertEqual(emu.stop(), 0)
        with open(self.path, "r+b") as f:
            f.seek(8 + 8 + 20)  # inside the first record's payload
            b = f.read(1)
            f.seek(8 + 8 + 20)
            f.write(bytes([b[0] ^ 0xFF]))
        emu = Emulator("--state", self.path, expect_start=False)
        out, err = emu.proc.communicate(timeout=20)
        self.assertEqual(emu.proc.returncode, 1)
        self.assertEqual(out, "")
        self.assertIn("fails its checksum", err)

    def test_not_a_journal(self):
        with open(self.path, "w") as f:
            f.write("hello, this is not a journal\n")
        emu = Emulator("--state", self.path, expect_start=False)
        _, err = emu.proc.communicate(timeout=20)
        self.assertEqual(emu.proc.returncode, 1)
        self.assertIn("not an ee-emulator journal", err)


if __name__ == "__main__":
    unittest.main()
