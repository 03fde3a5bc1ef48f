"""ee-export image --dry-run: the DESIGN.md JSON shapes for both transports, the request
equal to what json_format makes of the expected ExportImageRequest, secrets redacted, and
nothing sent (the endpoint is a listener that counts connections)."""
import copy
import json
import os
import re
import subprocess
import tempfile
import unittest

from cli_support import (EXPORT, Sentinel, clean_env, earthengine_pb2, json_format, small_request,
                         write_json)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TOKEN = "ya29.secret-token-value-0123456789"


def canonical(req_dict):
    """The oracle: python3-protobuf's proto3 JSON of the request. json_format takes the
    wrappers bare only; the {"value": x} form the service also accepts is unwrapped."""
    req_dict = {k: v["value"] if k in ("maxPixels", "priority", "maxWorkers") and
                isinstance(v, dict) else v for k, v in req_dict.items()}
    msg = json_format.ParseDict(req_dict, earthengine_pb2.ExportImageRequest())
    return json_format.MessageToDict(msg)


class DryRun(unittest.TestCase):
    def setUp(self):
        self.sentinel = Sentinel()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.assertEqual(self.sentinel.accepted, 0, "--dry-run connected to the endpoint")
        self.sentinel.close()
        self.tmp.cleanup()

    def dry(self, transport, args, token=None, stdin=None):
        url = self.sentinel.url()
        env = clean_env(EE_ACCESS_TOKEN=token)
        r = subprocess.run([EXPORT, "--transport", transport, "--endpoint", url, "--project",
                            "projects/demo", "image", "--dry-run"] + args, input=stdin,
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(r.stdout.count("\n"), 1, r.stdout)
        return json.loads(r.stdout), r.stdout

    def file(self, name, doc):
        return write_json(os.path.join(self.tmp.name, name), doc)

    def check(self, args, want, token=None, stdin=None):
        """Dry-runs args over both transports; want is the expected request (a dict)."""
        want_c = canonical(want)
        for t in ("rest", "grpc"):
            with self.subTest(transport=t):
                doc, raw = self.dry(t, args, token, stdin)
                if t == "rest":
                    self.assertEqual(list(doc), ["transport", "method", "url", "headers", "body"])
                    self.assertEqual(doc["transport"], "rest")
                    self.assertEqual(doc["method"], "POST")
                    self.assertEqual(doc["url"],
                                     self.sentinel.url() + "/v1/projects/demo/image:export")
                    hdrs, got = doc["headers"], doc["body"]
                    expect = {k: v for k, v in want_c.items() if k != "project"}  # in the path
                    self.assertEqual(hdrs.get("content-type"), "application/json")
                else:
                    self.assertEqual(list(doc), ["transport", "method", "metadata", "message"])
                    self.assertEqual(doc["transport"], "grpc")
                    self.assertEqual(doc["method"], "/google.earthengine.v1.EarthEngine/ExportImage")
                    hdrs, got = doc["metadata"], doc["message"]
                    expect = want_c
                    self.assertEqual(hdrs["x-goog-request-params"], "project=projects%2Fdemo")
                self.assertRegex(hdrs["x-goog-api-client"], r"^ee-c/\d+\.\d+\.\d+$")
                if token:
                    self.assertEqual(hdrs["authorization"], "REDACTED")
                    self.assertNotIn(TOKEN, raw)
                    self.assertNotIn(TOKEN[6:20], raw)
                else:
                    self.assertNotIn("authorization", hdrs)
                if "requestId" not in want:  # the client's UUIDv4, fresh each run
                    self.assertRegex(got.pop("requestId"), UUID4)
                # The body/message is the request in proto3 JSON, as json_format prints it.
                self.assertEqual(got, expect)
                self.assertEqual(canonical(dict(got, project="projects/demo")),
                                 canonical(dict(expect, project="projects/demo")))

    def test_request_file_as_is(self):
        req = small_request(project="projects/demo", requestId="dry-1",
                            maxPixels={"value": "1000000000"}, priority=5)
        self.check(["--request", self.file("r.json", req)], req)

    def test_request_from_stdin_without_request_id(self):
        req = small_request(project="projects/demo")
        self.check(["--request", "-"], req, stdin=json.dumps(req))

    def test_every_flag(self):
        expr = small_request()["expression"]
        wkt = 'GEOGCS["WGS 84",DATUM["WGS_1984"]]'
        wkt_file = os.path.join(self.tmp.name, "crs.wkt")
        with open(wkt_file, "w") as f:
            f.write(wkt)
        args = ["--expression", self.file("e.json", expr), "--description", "every flag",
                "--asset", "projects/demo/assets/a/b", "--overwrite", "--pyramiding", "SAMPLE",
                "--pyramiding-override", "b1=MIN", "--pyramiding-override", "b2=MAX",
                "--crs-wkt", wkt_file, "--crs-transform", "30,0,500000,0,-30,4000000",
                "--dimensions", "256x128", "--max-pixels", "1000000000",
                "--priority", "9999", "--workload-tag", "wt", "--request-id", "every-flag-1"]
        want = {"project": "projects/demo", "expression": expr, "description": "every flag",
                "assetExportOptions": {
                    "earthEngineDestination": {"name": "projects/demo/assets/a/b",
                                               "overwrite": True},
                    "pyramidingPolicy": "SAMPLE",
                    "pyramidingPolicyOverrides": {"b1": "MIN", "b2": "MAX"}},
                "grid": {"crsWkt": wkt,
                         "affineTransform": {"scaleX": 30, "shearX": 0, "translateX": 500000,
                                             "shearY": 0, "scaleY": -30,
                                             "translateY": 4000000},
                         "dimensions": {"width": 256, "height": 128}},
                "maxPixels": "1000000000", "priority": 9999, "workloadTag": "wt",
                "requestId": "every-flag-1"}
        self.check(args, want)

    def test_flags_override_and_merge_with_file(self):
        base = small_request(project="projects/other", requestId="merge-1", description="old",
                             grid={"crsWkt": "X", "dimensions": {"width": 3, "height": 4}})
        f = self.file("m.json", base)
        # --file-prefix merges into the file's driveDestination; --crs replaces the WKT (a
        # oneof); --dimensions' width/height replace; --project overrides the file's.
        want = copy.deepcopy(base)
        want["project"] = "projects/demo"
        want["description"] = "new"
        want["fileExportOptions"]["driveDestination"]["filenamePrefix"] = "p2"
        want["grid"] = {"crsCode": "EPSG:3857", "dimensions": {"width": 10, "height": 20}}
        self.check(["--request", f, "--description", "new", "--file-prefix", "p2", "--crs",
                    "EPSG:3857", "--dimensions", "10x20"], want)
        # Another destination replaces the file's (the export_options oneof).
        want2 = copy.deepcopy(base)
        want2["project"] = "projects/demo"
        del want2["fileExportOptions"]
        want2["assetExportOptions"] = {"earthEngineDestination": {"name": "projects/demo/assets/x"}}
        self.check(["--request", f, "--asset", "projects/demo/assets/x"], want2)
        want3 = copy.deepcopy(base)
        want3["project"] = "projects/demo"
        want3["fileExportOptions"] = {"fileFormat": "TF_RECORD_IMAGE",
                                      "cloudStorageDestination": {"bucket": "bk"}}
        self.check(["--request", f, "--gcs-bucket", "bk", "--format", "tfrecord"], want3)

    def test_maps_and_messages_merge(self):
        base = small_request(project="projects/demo", requestId="merge-map")
        del base["fileExportOptions"]
        base["assetExportOptions"] = {
            "earthEngineDestination": {"name": "projects/demo/assets/m", "overwrite": True},
            "pyramidingPolicy": "MEAN",
            "pyramidingPolicyOverrides": {"b1": "MEAN", "b3": "MAX"}, "tileSize": 256}
        base["grid"] = {"crsCode": "EPSG:4326",
                        "affineTransform": {"scaleX": 1, "scaleY": -1, "translateX": 7}}
        f = self.file("map.json", base)
        want = copy.deepcopy(base)
        want["assetExportOptions"]["pyramidingPolicyOverrides"] = {"b1": "MIN", "b3": "MAX",
                                                                   "b4": "MODE"}
        want["grid"]["dimensions"] = {"width": 5, "height": 6}
        self.check(["--request", f, "--pyramiding-override", "b1=MIN", "--pyramiding-override",
                    "b4=MODE", "--dimensions", "5x6"], want)

    def test_token_redacted(self):
        req = small_request(project="projects/demo", requestId="tok-1")
        self.check(["--request", self.file("t.json", req)], req, token=TOKEN)


if __name__ == "__main__":
    unittest.main()
