"""--token authentication and fault injection (--fail-rate, --fail-after-commit-rate,
--latency-ms), identically on both front ends."""
import time
import unittest

from emu_support import Emulator, fronts, list_all, small_request


class AuthTest(unittest.TestCase):
    def test_token_is_required_on_both_front_ends(self):
        with Emulator("--token", "s3cret-token") as emu:
            for token, want, reason in ((None, "UNAUTHENTICATED", "CREDENTIALS_MISSING"),
                                        ("wrong", "UNAUTHENTICATED", "ACCESS_TOKEN_INVALID"),
                                        ("s3cret-token-longer", "UNAUTHENTICATED", "ACCESS_TOKEN_INVALID"),
                                        ("s3cret-token", "OK", "")):
                rest, grpc_ = fronts(emu, token)
                results = [rest.export(small_request()), grpc_.export(small_request()),
                           rest.list("projects/p1"), grpc_.list("projects/p1"),
                           rest.get("projects/p1/operations/X"), grpc_.get("projects/p1/operations/X")]
                for r in results[:4]:
                    self.assertEqual(r.code, want, (token, r))
                    self.assertEqual(r.reason, reason, (token, r))
                if want != "OK":
                    self.assertEqual(results[0].http, 401)
                    self.assertEqual(results[0].message, results[1].message)
                    # Authentication comes before routing and decoding.
                    self.assertEqual(rest.call("GET", "/nowhere").code, want)
                    self.assertEqual(rest.call("POST", "/v1/projects/p1/image:export",
                                               raw_body="{not json").code, want)
                else:
                    self.assertEqual(results[4].code, "NOT_FOUND")
                    self.assertEqual(results[5].code, "NOT_FOUND")
                grpc_.close()
            # A token is a bearer token: other schemes do not count.
            rest, _ = fronts(emu)
            r = rest.call("GET", "/v1/projects/p1/operations",
                          headers=["Authorization: Basic s3cret-token"])
            self.assertEqual(r.code, "UNAUTHENTICATED")
            self.assertEqual(emu.stop(), 0)


class FaultTest(unittest.TestCase):
    def test_fail_rate_one_fails_everything_before_handling(self):
        with Emulator("--fail-rate", "1") as emu:
            rest, grpc_ = fronts(emu)
            for f in (rest, grpc_):
                r = f.export(small_request(requestId="f1"))
                self.assertEqual(r.code, "UNAVAILABLE", r)
                self.assertEqual(r.reason, "FAULT_INJECTED")
                self.assertEqual(f.list("projects/p1").code, "UNAVAILABLE")
            self.assertEqual(rest.export(small_request()).http, 503)
            grpc_.close()
            self.assertEqual(emu.stop(), 0)

    def test_fail_after_commit_keeps_one_operation_per_request_id(self):
        with Emulator("--fail-after-commit-rate", "0.5", "--seed", "42") as emu:
            rest, grpc_ = fronts(emu)
            failures = 0
            for i in range(12):
                f = (rest, grpc_)[i % 2]
                req = small_request(project="projects/fac", requestId="idem-%d" % i)
                for attempt in range(40):  # retry until an answer gets through, as a client does
                    r = f.export(req)
                    if r.code == "OK":
                        break
                    self.assertEqual(r.code, "UNAVAILABLE", r)
                    failures += 1
                self.assertEqual(r.code, "OK")
            self.assertGreater(failures, 0, "the seed should inject some faults")
            # Every request committed exactly one operation despite the lost answers; List
            # may itself lose its answer, so retry it too.
            for attempt in range(100):
                try:
                    ops = list_all(rest, "projects/fac")
                    break
                except AssertionError:
                    continue
            self.assertEqual(len(ops), 12)
            grpc_.close()
            self.assertEqual(emu.stop(), 0)

    def test_seeded_faults_repeat(self):
        def pattern():
            with Emulator("--fail-rate", "0.5", "--seed", "1234") as emu:
                rest, _ = fronts(emu)
                codes = [rest.list("projects/p1").code for _ in range(16)]
                self.assertEqual(emu.stop(), 0)
                return codes
        first = pattern()
        self.assertIn("UNAVAILABLE", first)
        self.assertIn("OK", first)
        self.assertEqual(first, pattern())

    def test_latency_delays_every_call(self):
        with Emulator("--latency-ms", "300") as emu:
            for f in fronts(emu):
                t0 = time.time()
                self.assertEqual(f.list("projects/p1").code, "OK")
                self.assertGreaterEqual(time.time() - t0, 0.3)
            self.assertEqual(emu.stop(), 0)


if __name__ == "__main__":
    unittest.main()
