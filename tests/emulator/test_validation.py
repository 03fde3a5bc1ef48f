"""ExportImage validation: each bad request is INVALID_ARGUMENT naming the field, with the
same message over REST (HTTP 400, JSON envelope) and gRPC (status + details trailer)."""
import copy
import unittest

from emu_support import Emulator, fronts, metadata, small_request


def with_(**kv):
    return small_request(**kv)


def asset(options):
    r = small_request(assetExportOptions=options)
    del r["fileExportOptions"]
    return r


def without(field):
    r = small_request()
    del r[field]
    return r


def expr(values, result="0"):
    return small_request(expression={"values": values, "result": result})


CONST = {"constantValue": 1}
BAD = [
    # (label, request, expected message prefix)
    ("project", with_(project="projects/bad~id"), "project: must look like projects/{project-id}"),
    ("no expression", without("expression"), "expression: required"),
    ("empty graph", expr({}), "expression.values: at least one node is required"),
    ("result", expr({"0": CONST}, result="9"),
     'expression.result: "9" names no node in expression.values'),
    ("dangling valueReference",
     expr({"0": {"arrayValue": {"values": [CONST, {"valueReference": "x"}]}}}),
     'expression.values["0"].arrayValue.values[1].valueReference: "x" names no node'),
    ("dangling functionReference",
     expr({"0": {"functionInvocationValue": {"functionReference": "f"}}}),
     'expression.values["0"].functionInvocationValue.functionReference: "f" names no node'),
    ("dangling body", expr({"0": {"functionDefinitionValue": {"argumentNames": ["a"], "body": "b"}}}),
     'expression.values["0"].functionDefinitionValue.body: "b" names no node'),
    ("cycle", expr({"0": {"valueReference": "1"}, "1": {"dictionaryValue": {"values": {
        "k": {"valueReference": "2"}}}}, "2": {"valueReference": "0"}}),
     "expression.values: the graph has a cycle through node"),
    ("self cycle", expr({"0": {"valueReference": "0"}}),
     'expression.values: the graph has a cycle through node "0"'),
    ("no kind", expr({"0": {}}), 'expression.values["0"]: exactly one kind of value must be set'),
    ("nested no kind", expr({"0": {"functionInvocationValue": {
        "functionName": "Image.load", "arguments": {"id": {}}}}}),
     'expression.values["0"].functionInvocationValue.arguments["id"]: exactly one kind'),
    ("no function", expr({"0": {"functionInvocationValue": {"arguments": {"a": CONST}}}}),
     'expression.values["0"].functionInvocationValue: one of functionName or functionReference'),
    ("no export options", without("fileExportOptions"),
     "exportOptions: exactly one of fileExportOptions or assetExportOptions is required"),
    ("no destination", with_(fileExportOptions={"fileFormat": "GEO_TIFF"}),
     "fileExportOptions: exactly one of driveDestination or cloudStorageDestination"),
    ("no bucket", with_(fileExportOptions={"fileFormat": "GEO_TIFF",
                                           "cloudStorageDestination": {"filenamePrefix": "x"}}),
     "fileExportOptions.cloudStorageDestination.bucket"),
    ("format PNG", with_(fileExportOptions={"fileFormat": "PNG", "driveDestination": {}}),
     "fileExportOptions.fileFormat: image exports support GEO_TIFF or TF_RECORD_IMAGE"),
    ("format unset", with_(fileExportOptions={"driveDestination": {}}),
     "fileExportOptions.fileFormat"),
    ("format options mismatch", with_(fileExportOptions={
        "fileFormat": "TF_RECORD_IMAGE", "driveDestination": {}, "geoTiffOptions": {}}),
     "fileExportOptions.geoTiffOptions: only valid with fileFormat GEO_TIFF"),
    ("asset without destination", asset({}),
     "assetExportOptions: earthEngineDestination is required"),
    ("asset name", asset({"earthEngineDestination": {"name": "projects/p/assets"}}),
     "assetExportOptions.earthEngineDestination.name: must look like projects/*/assets/**"),
    ("asset name segments", asset({"earthEngineDestination": {
        "name": "projects/p/assets/a//b"}}), "assetExportOptions.earthEngineDestination.name"),
    ("requestId charset", with_(requestId="abc_def"),
     "requestId: character 3 is not one of [A-Za-z0-9-]"),
    ("requestId length", with_(requestId="a" * 61), "requestId: longer than 60 characters"),
    ("priority high", with_(priority=10000), "priority: must be between 0 and 9999"),
    ("priority negative", with_(priority=-1), "priority: must be between 0 and 9999"),
    ("maxPixels", with_(maxPixels="0"), "maxPixels: must be positive"),
    ("grid", with_(grid={"dimensions": {"width": 10, "height": -1}}),
     "grid.dimensions: width and height must be positive"),
]


class ValidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--task-seconds", "0.2")
        cls.rest, cls.grpc = fronts(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.grpc.close()
        assert cls.emu.stop() == 0

    def test_bad_requests_name_the_field_on_both_front_ends(self):
        for label, req, want in BAD:
            with self.subTest(label):
                results = [f.export(copy.deepcopy(req)) for f in (self.rest, self.grpc)]
                for r in results:
                    self.assertEqual(r.code, "INVALID_ARGUMENT", (label, r))
                    self.assertTrue(r.message.startswith(want), (label, r.message, want))
                    self.assertEqual(r.reason, "INVALID_ARGUMENT")
                self.assertEqual(results[0].http, 400)
                self.assertEqual(results[0].message, results[1].message)

    def test_a_path_too_long_to_quote_is_cut_visibly(self):
        # Ten dictionaries under 60-character keys: a path of ~900 characters, longer than
        # the emulator's 512-byte path buffer. The message keeps the head, marks the cut
        # with "..." and still ends with the field and the reason.
        key = "k" * 60
        node = {"valueReference": "x"}
        for _ in range(10):
            node = {"dictionaryValue": {"values": {key: node}}}
        head = 'expression.values["0"].dictionaryValue.values["' + key + '"]'
        results = [f.export(expr({"0": node})) for f in (self.rest, self.grpc)]
        for r in results:
            self.assertEqual(r.code, "INVALID_ARGUMENT", r)
            self.assertTrue(r.message.startswith(head), r.message)
            self.assertIn('....valueReference: "x" names no node in expression.values',
                          r.message)
            self.assertLess(len(r.message), 600)
        self.assertEqual(results[0].message, results[1].message)

    def test_nothing_was_queued_by_bad_requests(self):
        for label, req, _ in BAD:
            self.rest.export(copy.deepcopy(req))
        for f in (self.rest, self.grpc):
            r = f.list("projects/p1", filter="metadata.state=PENDING OR metadata.state=RUNNING")
            self.assertEqual(r.code, "OK")
            for op in r.body.get("operations", []):
                self.assertNotEqual(metadata(op).get("description"), "bad")

    def test_two_kinds_in_one_node_is_rejected_over_rest(self):
        # Binary protobuf cannot carry two members of a oneof (the last wins), so this is a
        # JSON-only case: the codec refuses the second member.
        req = expr({"0": {"constantValue": 1, "integerValue": "2"}})
        r = self.rest.export(req)
        self.assertEqual(r.code, "INVALID_ARGUMENT", r)
        self.assertIn("expression.values", r.message)

    def test_wrappers_bare_or_as_value_objects(self):
        bare = small_request(priority=7, maxPixels="1000")
        wrapped = small_request(priority={"value": 7}, maxPixels={"value": "1000"},
                                maxWorkers={"value": 3})
        for req in (bare, wrapped):
            r = self.rest.export(req)
            self.assertEqual(r.code, "OK", r)
            self.assertEqual(metadata(r.body)["priority"], 7)
        r = self.grpc.export(bare)
        self.assertEqual(r.code, "OK", r)
        self.assertEqual(metadata(r.body)["priority"], 7)

    def test_valid_graphs_and_destinations(self):
        graphs = [
            {"values": {"0": {"functionInvocationValue": {"functionReference": "f",
                                                          "arguments": {"x": {"valueReference": "c"}}}},
                        "f": {"functionDefinitionValue": {"argumentNames": ["x"], "body": "b"}},
                        "b": {"argumentReference": "x"}, "c": {"integerValue": "3"}},
             "result": "0"},
            {"values": {"r": {"dictionaryValue": {"values": {"a": {"bytesValue": "AAE="},
                                                             "b": {"arrayValue": {"values": [
                                                                 {"valueReference": "s"}]}}}}},
                        "s": {"constantValue": {"k": [1, "two", None]}}},
             "result": "r"},
        ]
        dests = [
            {"fileExportOptions": {"fileFormat": "TF_RECORD_IMAGE", "tfRecordOptions": {},
                                   "cloudStorageDestination": {"bucket": "b", "filenamePrefix": "p"}}},
            {"assetExportOptions": {"earthEngineDestination": {"name": "projects/p1/assets/x/y"}}},
        ]
        want_uri = ["https://console.developers.google.com/storage/browser/b/p",
                    "https://code.earthengine.google.com/?asset=projects/p1/assets/x/y"]
        for f in (self.rest, self.grpc):
            for g in graphs:
                for d, uri in zip(dests, want_uri):
                    req = small_request(expression=g)
                    del req["fileExportOptions"]
                    req.update(d)
                    r = f.export(req)
                    self.assertEqual(r.code, "OK", (f.name, r))
                    md = metadata(r.body)
                    self.assertEqual(md["destinationUris"], [uri])
                    self.assertEqual(md["type"], "EXPORT_IMAGE")
                    self.assertEqual(md["priority"], 100)


if __name__ == "__main__":
    unittest.main()
