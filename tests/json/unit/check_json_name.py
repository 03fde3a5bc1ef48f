#!/usr/bin/python3
"""Replays the "json_name cases" block of cases.txt against python3-protobuf's
json_format, the oracle for custom json_name options: every `ok` line must parse and
print (compact, field-number order) as the expected output, every `err` line must be
refused. json_unit runs the same lines through our codec, so both agree with python.

Usage: check_json_name.py CASES_TXT   (PYTHONPATH must hold the generated eetest module)
"""

import json
import sys

from google.protobuf import json_format

from eetest import all_types_pb2


def compact(msg, proto_names):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=proto_names)
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
    start = lines.index("# json_name cases begin")
    end = lines.index("# json_name cases end")
    failures = checks = 0
    proto_names = False
    for line in lines[start + 1:end]:
        if line.startswith("opts"):
            proto_names = "proto_names" in line.split()
            continue
        if not line or line.startswith("#"):
            continue
        kind, rest = line.split(" ", 1)
        text, want = rest.split(" => ", 1)
        checks += 1
        msg = all_types_pb2.TestAllTypes()
        try:
            json_format.Parse(text, msg)
        except json_format.ParseError as e:
            if kind != "err":
                print("FAIL json_format refused %s: %s" % (text, e))
                failures += 1
            continue
        if kind == "err":
            print("FAIL json_format accepted %s (we refuse it: %s)" % (text, want))
            failures += 1
            continue
        # MessageToDict keeps field-number order, as our encoder does.
        got = compact(msg, proto_names)
        if got != want:
            print("FAIL %s\n  json_format: %s\n  cases.txt:   %s" % (text, got, want))
            failures += 1
    print("check_json_name: %d cases, %d failures" % (checks, failures))
    return 1 if failures or checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
