#!/usr/bin/python3
"""Differential test of eeclient's binary parsing (ee_wire_unpack) against python3-protobuf.

The encoding spec parses two occurrences of a singular message field as their
concatenation, merges a oneof message member that occurs twice (a different member
replaces it), and keeps the last entry of a map key that occurs twice. protobuf-c 1.4.1
gets these wrong; our wire layer rewrites such input before protobuf-c reads it. For
every record (a message type and bytes) python's parser is the oracle:

  (s) the scan: python-serialized (canonical) bytes must reach protobuf-c untouched, and
      bytes made non-canonical where the scan can see it must take the rewrite;
  (u) ee_wire_unpack accepts what python's MergeFromString accepts, and the C struct
      holds what python holds: protobuf_c_message_pack of it, parsed by python, equals
      python's parse of the input (compared as messages);
  (j) ee_json_encode of it agrees with json_format.MessageToJson of python's parse: no
      duplicate key, json_format.Parse(ours) equals python's parse, and the text matches
      wherever the mapping leaves no choice (json_differential.TextCompare).

Records: hand-built byte strings for each rule (merge with a oneof member in the first
occurrence, merge with the oneof unset in both, oneof member twice, a different member,
a map key twice, keys equal only after normalisation), each also nested, in a map value,
inside Any and at the depth limit; then random messages (json_differential's generator)
serialized by python and mangled: message fields split into several occurrences, some
moved after later fields, decoy earlier occurrences of scalars and oneof members, map
entries repeated with decoy values before and after, Any payloads mangled the same way.

Usage: wire_differential.py --driver PATH [--seed N] [--count N] [--only INDEX]
EE_WIRE_DIFF_COUNT / EE_WIRE_DIFF_SEED in the environment override --count / --seed.
"""

import argparse
import json
import re
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'differential'))
import json_differential as jd  # noqa: E402  (its generator and comparisons)

from google.protobuf import descriptor as pbd  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402

FD = pbd.FieldDescriptor
DEPTH_LIMIT = 100  # EE_WIRE_DEFAULT_MAX_DEPTH: nested messages, the root counting as 1
ANY_URL = 'type.googleapis.com/'

# ------------------------------------------------------------------ wire helpers


def varint(n):
  n &= (1 << 64) - 1
  out = bytearray()
  while n >= 0x80:
    out.append((n & 0x7f) | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


def tag(num, wt):
  return varint(num << 3 | wt)


def ld(num, payload):
  return tag(num, 2) + varint(len(payload)) + payload


def vi(num, v):
  return tag(num, 0) + varint(v)


def read_varint(b, i):
  v = shift = 0
  while True:
    c = b[i]
    i += 1
    v |= (c & 0x7f) << shift
    shift += 7
    if not c & 0x80:
      return v, i


def fields_of(b):
  """[(num, wt, payload or None, raw field bytes)] of well-framed wire data."""
  out, i = [], 0
  while i < len(b):
    start = i
    t, i = read_varint(b, i)
    wt, payload = t & 7, None
    if wt == 0:
      _, i = read_varint(b, i)
    elif wt == 1:
      i += 8
    elif wt == 5:
      i += 4
    elif wt == 2:
      n, i = read_varint(b, i)
      payload = b[i:i + n]
      i += n
    else:
      raise ValueError('wire type %d' % wt)
    out.append((t >> 3, wt, payload, b[start:i]))
  return out


def is_map(fd):
  return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def any_of(type_name, value):
  return ld(1, (ANY_URL + type_name).encode()) + ld(2, value)


# ------------------------------------------------------------------ mangling


class Mangler:
  """Rewrites canonical bytes into non-canonical bytes python still accepts."""

  def __init__(self, rng):
    self.r = rng
    self.g = jd.Gen(rng)
    self.noncanon = False  # made non-canonical where ee_wire_unpack's scan looks

  def chance(self, p):
    return self.r.random() < p

  def decoy(self, desc, fd):
    """A random occurrence of field fd of desc (type-correct wire bytes), maybe empty."""
    m = jd.message_class(desc.full_name)()
    if desc.full_name == 'google.protobuf.Value' and fd.name == 'number_value':
      m.number_value = self.g.double(finite=True)  # (JSON has no NaN or Infinity in a Value)
    else:
      self.g.set_field(m, fd, 1, force=True)
    return m.SerializePartialToString()

  def map_decoy(self, fd, entry_payload):
    """An entry with the key of entry_payload and a random value (or none)."""
    key = b''.join(raw for num, _, _, raw in fields_of(entry_payload) if num == 1)
    if self.chance(0.2):
      return key
    ed = fd.message_type
    e = jd.message_class(ed.full_name)()
    self.g.set_field(e, ed.fields_by_name['value'], 1, force=True)
    return key + b''.join(raw for num, _, _, raw in fields_of(e.SerializePartialToString()) if num == 2)

  def split(self, payload):
    """payload as 1-3 consecutive runs of its fields (parsing their concatenation is
    parsing payload)."""
    fs = fields_of(payload)
    if not self.chance(0.35):
      return [payload]
    cuts = sorted(self.r.randint(0, len(fs)) for _ in range(self.r.randint(1, 2)))
    bounds = [0] + cuts + [len(fs)]
    return [b''.join(f[3] for f in fs[a:b]) for a, b in zip(bounds, bounds[1:])]

  def payload(self, mdesc, val, depth):
    if mdesc.full_name != 'google.protobuf.Any':
      return self.message(mdesc, val, depth)
    # Any.value is opaque to the parser, so what is mangled inside it is not the scan's
    # business; ee_json_encode unpacks it (through ee_wire_unpack) to print it.
    fs = fields_of(val)
    urls = [p for n, wt, p, _ in fs if n == 1 and wt == 2]
    values = [p for n, wt, p, _ in fs if n == 2 and wt == 2]
    if not urls or not values:
      return val
    try:
      inner = jd._sym_db.pool.FindMessageTypeByName(urls[-1].decode().split('/')[-1])
    except KeyError:
      return val
    saved = self.noncanon
    value = self.message(inner, values[-1], depth + 1)
    self.noncanon = saved
    return ld(1, urls[-1]) + ld(2, value)

  def message(self, desc, data, depth):
    if depth > 12:
      return data
    out, later = [], []
    for num, wt, val, raw in fields_of(data):
      fd = desc.fields_by_number.get(num)
      oneof = fd.containing_oneof if fd is not None else None
      if fd is None or fd.type != FD.TYPE_MESSAGE or wt != 2:
        if fd is not None and fd.label != FD.LABEL_REPEATED and self.chance(0.08):
          if oneof is not None:
            out.append(self.decoy(desc, self.r.choice(oneof.fields)))
            self.noncanon = True
          else:
            out.append(self.decoy(desc, fd))  # an earlier value: the last one wins
        out.append(raw)
        continue
      payload = self.payload(fd.message_type, val, depth + 1)
      if is_map(fd):
        if self.chance(0.25):
          out.append(ld(num, self.map_decoy(fd, payload)))
          self.noncanon = True
        out.append(ld(num, payload))
        if self.chance(0.08):
          out.append(ld(num, self.map_decoy(fd, payload)))  # a later value wins
          self.noncanon = True
        continue
      if fd.label == FD.LABEL_REPEATED:
        out.append(ld(num, payload))
        continue
      if oneof is not None and self.chance(0.15):
        out.append(self.decoy(desc, self.r.choice(oneof.fields)))
        self.noncanon = True
      parts = self.split(payload)
      if len(parts) > 1:
        self.noncanon = True
      out.append(ld(num, parts[0]))
      for p in parts[1:]:
        (later if oneof is None and self.chance(0.5) else out).append(ld(num, p))
      if oneof is not None and self.chance(0.04):
        out.append(self.decoy(desc, self.r.choice(oneof.fields)))  # a later member replaces
    return b''.join(out + later)


# ------------------------------------------------------------------ hand-built cases

T = 'eetest.TestAllTypes'
S = 'eetest.StreamableTypes'
# TestAllTypes field numbers
INT32, STRING, NESTED, MAP_I32, MAP_SS, MAP_SNM, MAP_BOOL = 1, 14, 18, 56, 69, 71, 68
ONEOF_U32, ONEOF_NM, ONEOF_STR, ANY, REPEATED_ANY, REC, STRUCT = 111, 112, 113, 305, 315, 500, 304
MAP_SV = 320  # map<string, google.protobuf.Value>
# NestedMessage: a = 1, corecursive = 2 (TestAllTypes)


def entry(key, value):
  return key + value


def base_cases():
  """(name, TestAllTypes bytes, python sanity check or None). All but the scalar case are
  non-canonical where the scan looks."""
  c = []
  c.append(('singular message twice, oneof member in the first',
            ld(REC, ld(ONEOF_STR, b'x')) + ld(REC, vi(INT32, 5)),
            lambda m: m.recursive_message.oneof_string == 'x' and
            m.recursive_message.optional_int32 == 5))
  c.append(('singular message twice, oneof unset in both',
            ld(REC, vi(INT32, 5)) + ld(REC, ld(STRING, b's')),
            lambda m: m.recursive_message.optional_int32 == 5 and
            m.recursive_message.optional_string == 's'))
  c.append(('singular message twice, apart, with a repeated field in both',
            ld(NESTED, vi(1, 3)) + vi(INT32, 9) + ld(NESTED, ld(2, ld(44, b'a'))) +
            ld(NESTED, ld(2, ld(44, b'b') + vi(1, 4))),
            lambda m: list(m.optional_nested_message.corecursive.repeated_string) == ['a', 'b']))
  c.append(('singular message three times, the middle one empty',
            ld(NESTED, vi(1, 3)) + ld(NESTED, b'') + ld(NESTED, ld(2, vi(INT32, 1))), None))
  c.append(('oneof message member twice merges',
            ld(ONEOF_NM, vi(1, 1)) + ld(ONEOF_NM, ld(2, vi(INT32, 7))),
            lambda m: m.oneof_nested_message.a == 1 and
            m.oneof_nested_message.corecursive.optional_int32 == 7))
  c.append(('different oneof member replaces a message member',
            ld(ONEOF_NM, vi(1, 1)) + ld(ONEOF_STR, b's'),
            lambda m: m.WhichOneof('oneof_field') == 'oneof_string'))
  c.append(('message member replaces a different member',
            ld(ONEOF_STR, b's') + vi(ONEOF_U32, 4) + ld(ONEOF_NM, vi(1, 1)),
            lambda m: m.WhichOneof('oneof_field') == 'oneof_nested_message'))
  c.append(('oneof member, another, the first again: no merge across',
            ld(ONEOF_NM, vi(1, 1)) + vi(ONEOF_U32, 4) + ld(ONEOF_NM, ld(2, b'')),
            lambda m: m.oneof_nested_message.a == 0 and
            m.oneof_nested_message.HasField('corecursive')))
  c.append(('scalar oneof members, the last wins',
            vi(ONEOF_U32, 4) + ld(ONEOF_STR, b's') + vi(ONEOF_U32, 6),
            lambda m: m.oneof_uint32 == 6))
  c.append(('scalar twice: the last wins', vi(INT32, 1) + ld(STRING, b'a') + vi(INT32, 2) +
            ld(STRING, b'b'), lambda m: m.optional_int32 == 2 and m.optional_string == 'b'))
  c.append(('map key twice keeps the last',
            ld(MAP_I32, entry(vi(1, 1), vi(2, 10))) + ld(MAP_I32, entry(vi(1, 2), vi(2, 5))) +
            ld(MAP_I32, entry(vi(1, 1), vi(2, 20))),
            lambda m: dict(m.map_int32_int32) == {1: 20, 2: 5}))
  c.append(('map message value: a repeated key replaces, it does not merge',
            ld(MAP_SNM, entry(ld(1, b'k'), ld(2, vi(1, 1)))) +
            ld(MAP_SNM, entry(ld(1, b'k'), ld(2, ld(2, vi(INT32, 5))))),
            lambda m: m.map_string_nested_message['k'].a == 0))
  c.append(('map entry with its value twice merges it',
            ld(MAP_SNM, entry(ld(1, b'k'), ld(2, vi(1, 1)) + ld(2, ld(2, vi(INT32, 5))))),
            lambda m: m.map_string_nested_message['k'].a == 1))
  c.append(('map entry with its key twice: the last key counts',
            ld(MAP_SS, ld(1, b'a') + ld(1, b'b') + ld(2, b'1')) + ld(MAP_SS, ld(1, b'b') + ld(2, b'2')),
            lambda m: dict(m.map_string_string) == {'b': '2'}))
  c.append(('map entries without a key, twice',
            ld(MAP_SS, ld(2, b'1')) + ld(MAP_SS, ld(2, b'2')) + ld(MAP_SS, ld(1, b'') + ld(2, b'3')),
            lambda m: dict(m.map_string_string) == {'': '3'}))
  c.append(('int32 map keys equal only as int32 (10- and 5-byte -1)',
            ld(MAP_I32, vi(1, -1) + vi(2, 1)) +
            ld(MAP_I32, tag(1, 0) + b'\xff\xff\xff\xff\x0f' + vi(2, 2)),
            lambda m: dict(m.map_int32_int32) == {-1: 2}))
  c.append(('bool map keys 1 and 2 are both true',
            ld(MAP_BOOL, vi(1, 1) + vi(2, 0)) + ld(MAP_BOOL, vi(1, 2) + vi(2, 1)),
            lambda m: dict(m.map_bool_bool) == {True: True}))
  c.append(('map key twice after equal elements of a two-field repeated message',
            ld(48, b'') + ld(48, b'') + ld(MAP_I32, vi(1, 3) + vi(2, 1)) + ld(MAP_I32, vi(1, 3) + vi(2, 2)),
            lambda m: dict(m.map_int32_int32) == {3: 2} and len(m.repeated_nested_message) == 2))
  c.append(('known fields with a wire type their type cannot have are unknown fields',
            vi(STRING, 5) + tag(INT32, 2) + varint(1) + b'x' + vi(NESTED, 3) + vi(INT32, 7) +
            vi(ONEOF_NM, 1) + tag(ONEOF_U32, 5) + b'\0\0\0\0',
            lambda m: m.optional_int32 == 7 and not m.HasField('optional_nested_message') and
            m.WhichOneof('oneof_field') is None))
  c.append(('bool map key with a wire type of its own: the key is false',
            ld(MAP_BOOL, ld(1, b'\x01') + vi(2, 1)) + ld(MAP_BOOL, vi(1, 1) + vi(2, 1)),
            lambda m: dict(m.map_bool_bool) == {False: True, True: True}))
  many = b''.join(ld(MAP_SS, ld(1, b'k%d' % (i % 23)) + ld(2, b'v%d' % i)) for i in range(60))
  c.append(('map of 60 entries over 23 keys', many, lambda m: len(m.map_string_string) == 23))
  c.append(('Struct key twice keeps the last',
            ld(STRUCT, ld(1, ld(1, b'a') + ld(2, vi(4, 1))) + ld(1, ld(1, b'a') + ld(2, ld(3, b'x')))),
            lambda m: m.optional_struct['a'] == 'x'))
  c.append(('map<string, Value>: a key twice, the Value merged inside an entry',
            ld(MAP_SV, ld(1, b'v') + ld(2, vi(4, 1)) + ld(2, ld(3, b'y'))) + ld(MAP_SV, ld(1, b'w')) +
            ld(MAP_SV, ld(1, b'w') + ld(2, tag(2, 1) + b'\0\0\0\0\0\0\xf0\x3f')),
            lambda m: m.map_string_value['v'].string_value == 'y'))
  return c


def hand_records():
  """(name, type, bytes, max_depth, sanity check or None, expected scan, expect refusal).
  The scan sees nothing inside Any.value (opaque bytes): there the JSON encoder meets the
  non-canonical bytes when it unpacks the payload to print it."""
  recs = []
  for name, b, check in base_cases():
    scan = 0 if name.startswith('scalar twice') else 1
    recs.append((name, T, b, 0, check, scan, False))
    recs.append((name + ', nested', T, ld(REC, ld(NESTED, ld(2, b)) + vi(INT32, 1)), 0, None, scan,
                 False))
    recs.append((name + ', in a map value', T,
                 ld(MAP_SNM, ld(1, b'k') + ld(2, ld(2, b))) + ld(MAP_SNM, ld(1, b'j')), 0, None,
                 scan, False))
    recs.append((name + ', inside Any', T, ld(ANY, any_of(T, b)), 0, None, 0, False))
    recs.append((name + ', inside Any inside Any', T,
                 ld(REPEATED_ANY, any_of('google.protobuf.Any', any_of(T, b))), 0, None, 0, False))
    recs.append((name + ', Any split in two', T,
                 ld(ANY, ld(1, (ANY_URL + T).encode())) + vi(INT32, 3) + ld(ANY, ld(2, b)), 0, None,
                 1, False))
    recs.append((name + ', at the depth limit', T, chain(b, DEPTH_LIMIT), 0, None, scan, False))
  # StreamableTypes in Any: the encoder's fast path must leave these to the general path.
  f_message, o_message, o_string, r_message = 17, 113, 112, 47
  for name, b in [
      ('StreamableTypes: f_message twice', ld(f_message, vi(1, 1)) + ld(f_message, vi(2, 2))),
      ('StreamableTypes: o_message twice', ld(o_message, vi(1, 1)) + ld(o_message, vi(3, 3))),
      ('StreamableTypes: o_string then o_message', ld(o_string, b'a') + ld(o_message, vi(1, 1))),
      ('StreamableTypes: element with f_message twice',
       ld(r_message, ld(f_message, vi(1, 1)) + ld(f_message, ld(14, b's')))),
  ]:
    recs.append((name, S, b, 0, None, 1, False))
    recs.append((name + ', inside Any', T, ld(ANY, any_of(S, b)), 0, None, 0, False))
  # The depth limit holds for the rewrite: one level more is refused (python allows one
  # more level than we do: its limit does not count the root).
  b = ld(REC, vi(INT32, 1)) + ld(REC, vi(INT32, 2))
  recs.append(('merge one level past the depth limit', T, chain(b, DEPTH_LIMIT + 1), 0, None,
               None, True))
  recs.append(('merge at an explicit depth limit of 5', T, chain(b, 5), 5, None, 1, False))
  recs.append(('merge past an explicit depth limit of 5', T, chain(b, 6), 5, None, None, True))
  return recs


def depth_of(desc, b):
  """How deep the messages in b (a desc) nest, b itself counting as 1 (Any.value opaque)."""
  d = 1
  for num, wt, payload, _ in fields_of(b):
    fd = desc.fields_by_number.get(num)
    if fd is not None and fd.message_type is not None and wt == 2:
      d = max(d, 1 + depth_of(fd.message_type, payload))
  return d


def chain(b, depth):
  """b (a TestAllTypes) inside as many recursive_message levels as make the deepest of its
  messages sit at exactly depth."""
  for _ in range(depth - depth_of(jd._sym_db.pool.FindMessageTypeByName(T), b)):
    b = ld(REC, b)
  return b


# ------------------------------------------------------------------ driver and judging


def run_driver(driver, lines, workdir):
  inp = os.path.join(workdir, 'in.tsv')
  out = os.path.join(workdir, 'out.tsv')
  with open(inp, 'w') as f:
    f.write(''.join(lines))
  p = subprocess.run([driver, inp, out], stderr=subprocess.PIPE)
  results = []
  with open(out) as f:
    for line in f:
      fields = line.rstrip('\n').split('\t')
      if not line.endswith('\n') or len(fields) != 5:
        break
      results.append(fields)
  return p.returncode, p.stderr.decode('utf-8', 'replace'), results


TIME_OUT_OF_RANGE = re.compile(r'(Timestamp|Duration) out of range \(seconds -?\d+, nanos (-?\d+)\)')


def invalid_time_nanos(message):
  """Whether our encoder refused a Timestamp or Duration whose nanos the spec forbids: a
  Timestamp's are in [0, 999999999], a Duration's in [-999999999, 999999999]."""
  m = TIME_OUT_OF_RANGE.search(message)
  if m is None:
    return False
  low = 0 if m.group(1) == 'Timestamp' else -999999999
  return not low <= int(m.group(2)) <= 999999999


def json_depth(x):
  if isinstance(x, dict):
    return 1 + max([json_depth(v) for v in x.values()] or [0])
  if isinstance(x, list):
    return 1 + max([json_depth(v) for v in x] or [0])
  return 0


def to_json(msg, opts):
  return json_format.MessageToJson(msg, indent=None,
                                   preserving_proto_field_name=bool(opts & jd.OPT_PROTO_NAMES),
                                   use_integers_for_enums=bool(opts & jd.OPT_ENUMS_AS_INTS),
                                   including_default_value_fields=bool(opts & jd.OPT_EMIT_DEFAULTS))


class Judge:

  def __init__(self):
    self.failures = []
    self.stats = {'records': 0, 'rewritten': 0, 'untouched': 0, 'struct': 0, 'json': 0,
                  'refused': 0, 'py_cannot_print': 0, 'json_too_deep': 0,
                  'py_prints_invalid_nanos': 0}

  def fail(self, label, what, detail=''):
    self.failures.append('%s: %s%s' % (label, what, ('\n    ' + detail.replace('\n', '\n    '))
                                       if detail else ''))

  def record(self, label, type_name, data, opts, expect_scan, expect_refusal, check, res):
    """expect_scan: 0 (untouched), 1 (rewritten) or None (either)."""
    self.stats['records'] += 1
    cls = jd.message_class(type_name)
    scan, ucode, upay, ecode, epay = res
    scan, ucode, ecode = int(scan), int(ucode), int(ecode)
    upay, epay = bytes.fromhex(upay), bytes.fromhex(epay)
    if expect_refusal:
      if ucode == 0:
        return self.fail(label, 'accepted input past the depth limit')
      msg = upay.decode('utf-8', 'replace')
      if 'deeper than the limit' not in msg:
        return self.fail(label, 'refused without naming the depth limit: ' + msg)
      self.stats['refused'] += 1
      return
    py = cls()
    try:
      py.MergeFromString(data)
    except DecodeError:
      if ucode == 0:
        self.fail(label, 'python refuses these bytes, ee_wire_unpack accepts them', data.hex())
      return
    if check is not None and not check(py):
      return self.fail(label, 'bad test: python does not hold what the case claims',
                       to_json(py, 0))
    if scan < 0:
      return self.fail(label, 'scan refused input python accepts: code %d' % -scan, data.hex())
    self.stats['rewritten' if scan else 'untouched'] += 1
    if expect_scan is not None and scan != expect_scan:
      self.fail(label, 'canonical input went through the rewrite' if expect_scan == 0 else
                'non-canonical input was not noticed by the scan', data.hex())
    if ucode != 0:
      return self.fail(label, 'ee_wire_unpack refused input python accepts: ' +
                       upay.decode('utf-8', 'replace'), data.hex())
    got = cls()
    got.ParseFromString(upay)
    d = jd.diff_messages(py, got, jd.zero_sign_except_implicit)
    if d is not None:
      return self.fail(label, '(u) the C struct differs from python\'s parse: ' + d,
                       'input %s\npython: %s' % (data.hex(), jd.trunc(to_json(py, 0), 600)))
    self.stats['struct'] += 1
    try:
      pj = to_json(py, opts)
    except (json_format.SerializeToJsonError, ValueError, OverflowError) as e:
      # (a merge can make a Duration with mixed signs or a Timestamp out of range; json_format
      # refuses to print them)
      self.stats['py_cannot_print'] += 1
      if ecode == 0:
        self.fail(label, 'ee_json_encode printed what json_format refuses (%s)' % e,
                  epay.decode('utf-8', 'replace'))
      return
    ours = epay.decode('utf-8', 'replace')
    if ecode != 0 and 'nests deeper than the limit' in ours and json_depth(json.loads(pj)) > DEPTH_LIMIT:
      # (the JSON limit counts arrays too: messages at the binary limit can exceed it)
      self.stats['json_too_deep'] += 1
      return
    if ecode != 0 and invalid_time_nanos(ours):
      # (a merge can also leave nanos outside the spec's range, e.g. a negative Timestamp
      # nanos: invalid in proto3 JSON, which C++ protobuf refuses to print; python's
      # json_format prints it carried into seconds)
      self.stats['py_prints_invalid_nanos'] += 1
      return
    if ecode != 0:
      return self.fail(label, '(j) ee_json_encode failed: ' + ours, 'json_format: ' + pj)
    problems = []
    try:
      back = json_format.Parse(ours, cls())
      d = jd.diff_messages(py, back, jd.zero_sign_never)
      if d is not None and jd.oracle_roundtrip_problem(py, pj) is None:
        problems.append('json_format.Parse(ours) differs: ' + d)
    except json_format.ParseError as e:
      if jd.oracle_roundtrip_problem(py, pj) is None:
        problems.append('json_format.Parse rejects ours: %s' % e)
    tc = jd.TextCompare(opts)
    try:
      tc.message(py.DESCRIPTOR, jd.parse_tokens(pj), jd.parse_tokens(ours), '')
    except ValueError as e:
      tc.errors.append('not strict JSON: %s' % e)
    problems += tc.errors
    if problems:
      return self.fail(label, '(j) JSON differs (options %d)' % opts,
                       '\n'.join(problems) + '\njson_format: %s\nours:        %s' %
                       (jd.trunc(pj, 600), jd.trunc(ours, 600)))
    self.stats['json'] += 1


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--driver', required=True)
  ap.add_argument('--seed', type=int, default=1)
  ap.add_argument('--count', type=int, default=1500)
  ap.add_argument('--only', type=int, default=None)
  a = ap.parse_args()
  seed = int(os.environ.get('EE_WIRE_DIFF_SEED', a.seed))
  count = int(os.environ.get('EE_WIRE_DIFF_COUNT', a.count))
  t0 = time.time()

  # (label, type, bytes, opts, max_depth, expect_scan, expect_refusal, check)
  records = []
  if a.only is None:
    for name, t, b, depth, check, scan, refuse in hand_records():
      records.append(('case "%s"' % name, t, b, 0, depth, scan, refuse, check))
  n_hand = len(records)
  indices = [a.only] if a.only is not None else range(count)
  for i in indices:
    rng = random.Random(seed * 1000003 + i)
    type_name = jd.weighted_type(rng)
    msg = jd.make_message(rng, type_name)
    canonical = msg.SerializeToString()
    opts = rng.choice([0, 0, 0, jd.OPT_PROTO_NAMES, jd.OPT_ENUMS_AS_INTS, 7])
    label = 'seed=%d index=%d type=%s' % (seed, i, type_name)
    if rng.random() < 0.25:
      records.append((label + ' (canonical)', type_name, canonical, opts, 0, 0, False, None))
      continue
    m = Mangler(rng)
    data = m.message(msg.DESCRIPTOR, canonical, 1)
    records.append((label + ' (mangled)', type_name, data, opts, 0, 1 if m.noncanon else None,
                    False, None))

  lines = ['%s\t%d\t%d\t%s\n' % (t, o, dep, b.hex()) for (_, t, b, o, dep, _, _, _) in records]
  judge = Judge()
  with tempfile.TemporaryDirectory() as wd:
    rc, err, results = run_driver(a.driver, lines, wd)
  if rc != 0 or len(results) != len(lines):
    n = len(results)
    where = records[n][0] if n < len(records) else '-'
    judge.fail(where, 'driver died (exit %d)' % rc, err[-2000:])
  # python's C++ backend logs "map keys are not unique" to stderr for every repeated map
  # key it reads (and keeps the last, as the spec says): expected here, so not shown.
  saved_stderr = os.dup(2)
  with open(os.devnull, 'w') as null:
    os.dup2(null.fileno(), 2)
  try:
    for (label, t, b, o, _, scan, refuse, check), res in zip(records, results):
      judge.record(label, t, b, o, scan, refuse, check, res)
  finally:
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)

  for f in judge.failures[:30]:
    print('FAIL ' + f)
  if len(judge.failures) > 30:
    print('... and %d more failures' % (len(judge.failures) - 30))
  s = judge.stats
  print('wire differential: seed %d, %d hand-built + %d random records; rewritten %d, untouched '
        '%d; C struct = python %d; JSON = json_format %d (json_format cannot print %d, deeper '
        'than the JSON limit %d); refused past the depth limit %d; %d failures; %.1fs' %
        (seed, n_hand, len(records) - n_hand, s['rewritten'], s['untouched'], s['struct'],
         s['json'], s['py_cannot_print'], s['json_too_deep'], s['refused'], len(judge.failures),
         time.time() - t0))
  return 1 if judge.failures else 0


if __name__ == '__main__':
  sys.exit(main())
