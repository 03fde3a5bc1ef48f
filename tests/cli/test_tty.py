"""ee-export's progress output: on a terminal (a pseudo-terminal from the pty module) one
live line redrawn in place with \\r, not scrolled; without a terminal one plain line per
change. The result stays on stdout (a pipe) in both cases."""
import json
import os
import pty
import re
import select
import subprocess
import tempfile
import unittest

from cli_support import EXPORT, TRANSPORTS, Emulator, clean_env, endpoint, small_request, write_json

REDRAW = "\r\x1b[K"


def run_on_pty(cmd):
    """Runs cmd with stderr on a pseudo-terminal; returns (exit code, stdout, terminal bytes)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=clean_env(TERM="xterm"))
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 1.0)
        if master in r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.stdout.close()
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, out, seen.decode()


class Terminal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--task-seconds", "4")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.req = write_json(os.path.join(cls.tmp.name, "r.json"),
                             small_request(project="projects/demo"))

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        cls.tmp.cleanup()

    def cmd(self, t, *args):
        return [EXPORT, "--endpoint", endpoint(self.emu, t), "--transport", t, "--project",
                "projects/demo"] + list(args)

    def test_wait_live_line_redrawn(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                code, out, term = run_on_pty(self.cmd(t, "image", "--request", self.req, "--wait"))
                self.assertEqual(code, 0, term)
                self.assertRegex(out, r"^projects/demo/operations/\S+ SUCCEEDED 100%")
                # Redrawn in place: several draws, each starting with \r + clear-line, and
                # only one line end (after the last draw; the terminal shows \n as \r\n).
                draws = term.split(REDRAW)[1:]
                self.assertGreaterEqual(len(draws), 2, repr(term))
                self.assertEqual(term.count("\n"), 1, repr(term))
                self.assertTrue(term.endswith("\r\n"), repr(term))
                for d in draws:  # state, stage, percent, elapsed
                    self.assertRegex(d, r"^projects/demo/operations/\S+ +[A-Z]+ +\S* +\d+\.\d% +"
                                     r"\d+\.\ds")
                self.assertRegex(draws[0], " (PENDING|RUNNING) ")
                self.assertIn("SUCCEEDED", draws[-1])

    def test_wait_plain_lines_without_terminal(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = subprocess.run(self.cmd(t, "image", "--request", self.req, "--wait"),
                                   capture_output=True, text=True, env=clean_env(), timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("\r", r.stderr)
                self.assertNotIn("\x1b", r.stderr)
                lines = r.stderr.splitlines()
                self.assertGreaterEqual(len(lines), 2, r.stderr)
                self.assertEqual(len(set(lines)), len(lines), "a line per change, no repeats")
                for ln in lines:
                    self.assertRegex(ln, r"^projects/demo/operations/\S+ [A-Z]+ stage=\S+ "
                                     r"progress=\d+\.\d% elapsed=\d+\.\ds$")
                self.assertRegex(lines[-1], " SUCCEEDED ")

    def test_batch_progress_bar(self):
        src = os.path.join(self.tmp.name, "b.jsonl")
        with open(src, "w") as f:
            for i in range(6):
                f.write(json.dumps(small_request(description="tty-%d" % i)) + "\n")
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                code, out, term = run_on_pty(self.cmd(t, "--project", "projects/tty-" + t,
                                                      "batch", src, "--max-in-flight", "1"))
                self.assertEqual(code, 0, term)
                self.assertEqual(out, "6 requests: 6 submitted, 0 already existing, 0 failed\n")
                draws = term.split(REDRAW)[1:]
                self.assertGreaterEqual(len(draws), 6, repr(term))
                self.assertEqual(term.count("\n"), 1, repr(term))
                self.assertRegex(draws[-1], r"^\[#{30}\] 6/6 +submitted 6")
                r = subprocess.run(self.cmd(t, "--project", "projects/tty-" + t, "batch", src),
                                   capture_output=True, text=True, env=clean_env(), timeout=120)
                self.assertNotIn("\r", r.stderr)
                self.assertEqual(r.stderr.splitlines(),
                                 ["[" + "#" * 30 + "] 6/6  submitted 0  existing 6  failed 0"])


if __name__ == "__main__":
    unittest.main()
