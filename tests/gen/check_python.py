#!/usr/bin/python3
"""Cross-checks protobuf-c's binary encoding against Python's protobuf, field by field.

C -> Python: gen_roundtrip fills every field of every message type with random values,
packs it and writes its own dump of the C struct; Python parses the bytes and dumps what
it decoded with an independent walker (this file). The dumps must be equal.
Python -> C: Python fills every field of every message type, serializes it, gen_roundtrip
unpacks and dumps it; the dumps must be equal.

Usage: check_python.py GEN_ROUNDTRIP PYTHON_PROTO_DIR
"""
import importlib
import os
import random
import struct
import subprocess
import sys
import tempfile

from google.protobuf import descriptor as D

SEEDS = 5


def import_all(proto_dir):
    for root, _dirs, files in os.walk(proto_dir):
        for f in files:
            if f.endswith("_pb2.py"):
                rel = os.path.relpath(os.path.join(root, f), proto_dir)[:-3]
                importlib.import_module(rel.replace(os.sep, "."))


def message_class(full_name):
    from google.protobuf import symbol_database
    return symbol_database.Default().GetSymbol(full_name)


def scalar_repr(fd, v):
    t = fd.type
    if t == D.FieldDescriptor.TYPE_FLOAT:
        return "f%d" % struct.unpack("<I", struct.pack("<f", v))[0]
    if t == D.FieldDescriptor.TYPE_DOUBLE:
        return "d%d" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if t == D.FieldDescriptor.TYPE_STRING:
        return "s" + v.encode("utf-8").hex()
    if t == D.FieldDescriptor.TYPE_BYTES:
        return "b" + v.hex()
    if t == D.FieldDescriptor.TYPE_BOOL:
        return "1" if v else "0"
    return "%d" % v


def dump(msg, path, out):
    out.append("%s\t{}" % path)
    for fd, value in msg.ListFields():
        p = fd.name if not path else path + "." + fd.name
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            kfd, vfd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            for k, v in value.items():
                kp = "%s{%s}" % (p, scalar_repr(kfd, k))
                if vfd.message_type is not None:
                    dump(v, kp, out)
                else:
                    out.append("%s\t%s" % (kp, scalar_repr(vfd, v)))
        elif fd.label == D.FieldDescriptor.LABEL_REPEATED:
            for i, v in enumerate(value):
                ip = "%s[%d]" % (p, i)
                if fd.message_type is not None:
                    dump(v, ip, out)
                else:
                    out.append("%s\t%s" % (ip, scalar_repr(fd, v)))
        elif fd.message_type is not None:
            dump(value, p, out)
        else:
            out.append("%s\t%s" % (p, scalar_repr(fd, value)))


def dump_lines(msg):
    out = []
    dump(msg, "", out)
    return sorted(out)


# ---- Python's own random filler (independent of the C one) ----
INT_RANGES = {
    D.FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), D.FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    D.FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), D.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    D.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), D.FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    D.FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), D.FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    D.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), D.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
CHARS = "aZ0_ \"\\/\n\t\x01\x7f\u00e9\u20ac\U0001F600\u65e5"


def rand_scalar(fd, rng):
    t = fd.type
    if t in INT_RANGES:
        lo, hi = INT_RANGES[t]
        return rng.choice([lo, hi, 1, -1 if lo < 0 else 2, rng.randint(lo, hi)])
    if t == D.FieldDescriptor.TYPE_ENUM:
        return rng.choice(fd.enum_type.values).number
    if t == D.FieldDescriptor.TYPE_BOOL:
        return True
    if t == D.FieldDescriptor.TYPE_FLOAT:
        return struct.unpack("<f", struct.pack("<f", rng.choice([1.5, -3.25, 1e30, rng.uniform(-1e6, 1e6)])))[0]
    if t == D.FieldDescriptor.TYPE_DOUBLE:
        return rng.choice([0.1, -1e-300, 1.7976931348623157e308, float("inf"), rng.uniform(-1e9, 1e9)])
    if t == D.FieldDescriptor.TYPE_STRING:
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(1, 10)))
    if t == D.FieldDescriptor.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    raise AssertionError(t)


def fill(msg, rng, depth):
    desc = msg.DESCRIPTOR
    chosen = {o.name: rng.choice(o.fields) for o in desc.oneofs}
    for fd in desc.fields:
        if fd.containing_oneof is not None and chosen[fd.containing_oneof.name] is not fd:
            continue
        is_msg = fd.message_type is not None
        if is_msg and depth <= 0:
            continue
        if is_msg and fd.message_type.GetOptions().map_entry:
            kfd, vfd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            m = getattr(msg, fd.name)
            for _ in range(rng.randint(1, 3)):
                k = rand_scalar(kfd, rng)
                if vfd.message_type is not None:
                    fill(m[k], rng, depth - 1)
                else:
                    m[k] = rand_scalar(vfd, rng)
        elif fd.label == D.FieldDescriptor.LABEL_REPEATED:
            rep = getattr(msg, fd.name)
            for _ in range(rng.randint(1, 3)):
                if is_msg:
                    fill(rep.add(), rng, depth - 1)
                else:
                    rep.append(rand_scalar(fd, rng))
        elif is_msg:
            sub = getattr(msg, fd.name)
            sub.SetInParent()
            fill(sub, rng, depth - 1)
        else:
            setattr(msg, fd.name, rand_scalar(fd, rng))


def main():
    tool, proto_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, proto_dir)
    import_all(proto_dir)
    failures = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([tool, "emit", tmp, str(SEEDS)], check=True)
        # C -> Python
        for name in sorted(os.listdir(tmp)):
            if not name.endswith(".bin"):
                continue
            type_name = name.rsplit(".", 2)[0]
            msg = message_class(type_name)()
            with open(os.path.join(tmp, name), "rb") as f:
                msg.ParseFromString(f.read())
            with open(os.path.join(tmp, name[:-4] + ".dump"), encoding="utf-8") as f:
                c_lines = sorted(f.read().splitlines())
            checked += 1
            if dump_lines(msg) != c_lines:
                failures += 1
                print("FAIL C->Python %s:\n  C only: %s\n  Python only: %s" % (
                    name, sorted(set(c_lines) - set(dump_lines(msg)))[:5],
                    sorted(set(dump_lines(msg)) - set(c_lines))[:5]))
        # Python -> C
        rng = random.Random(20261128)
        listing, expected = [], {}
        for name in sorted({n.rsplit(".", 2)[0] for n in os.listdir(tmp) if n.endswith(".bin")}):
            for seed in range(SEEDS):
                msg = message_class(name)()
                fill(msg, rng, 4)
                path = os.path.join(tmp, "py.%s.%d.bin" % (name, seed))
                with open(path, "wb") as f:
                    f.write(msg.SerializeToString())
                listing.append("%s %s" % (name, path))
                expected[path] = dump_lines(msg)
        list_path = os.path.join(tmp, "list.txt")
        with open(list_path, "w") as f:
            f.write("\n".join(listing) + "\n")
        out = subprocess.run([tool, "dump", list_path], check=True, capture_output=True).stdout
        got, cur = {}, None
        for line in out.decode("utf-8").splitlines():
            if line.startswith("== "):
                cur = line[3:]
                got[cur] = []
            else:
                got[cur].append(line)
        for path, lines in expected.items():
            checked += 1
            if sorted(got.get(path, [])) != lines:
                failures += 1
                print("FAIL Python->C %s:\n  C only: %s\n  Python only: %s" % (
                    path, sorted(set(got.get(path, [])) - set(lines))[:5], sorted(set(lines) - set(got.get(path, [])))[:5]))
    print("%d messages checked field for field, %d failures" % (checked, failures))
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
