#!/usr/bin/python3
"""Differential test of eeclient's proto3 JSON codec against python3-protobuf's json_format.

For each random message M (seeded, reproducible) this script writes one record with
json_format's JSON text J and M's binary encoding B. The C driver (json_diff_driver.c)
decodes J with ee_json_decode and packs the result to binary, and unpacks B with
protobuf-c and encodes it with ee_json_encode. Then this script checks:

  (a) our decode of J equals M          (compared as messages, not bytes)
  (b) json_format.Parse(our JSON) == M  (compared as messages)
  (c) our JSON text matches J wherever the mapping leaves no choice: the same keys in the
      same order (maps excepted), int64 as decimal strings, int32 as plain integers, enum
      names, standard padded base64, Timestamp/Duration/FieldMask strings, @type first in
      Any, compact layout. Where the mapping leaves a choice (number spelling, string
      escapes, map order) values are compared, not spellings: doubles must parse to the
      same double and floats to the same float32, with the same sign of zero.

It also sends malformed inputs (truncations, bad UTF-8, lone surrogates, duplicate keys,
two oneof members, trailing garbage, wrong types, nesting past the limit) that our decoder
must reject with an error naming a byte offset, and must never crash on.

Usage: json_differential.py --driver PATH [--seed N] [--count N] [--malformed N]
                            [--only INDEX] [--verbose]
EE_JSON_DIFF_COUNT / EE_JSON_DIFF_SEED in the environment override --count / --seed.
Every failure prints the seed, record index and type; `--seed S --only I` replays one.
"""

import argparse
import base64
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time

from google.protobuf import any_pb2
from google.protobuf import descriptor as pbd
from google.protobuf import duration_pb2
from google.protobuf import empty_pb2
from google.protobuf import field_mask_pb2
from google.protobuf import json_format
from google.protobuf import struct_pb2
from google.protobuf import symbol_database
from google.protobuf import timestamp_pb2
from google.protobuf import wrappers_pb2

from eetest import all_types_pb2
from google.earthengine.v1 import earthengine_pb2
from google.earthengine.v1 import expression_pb2
from google.earthengine.v1 import operation_metadata_pb2
from google.longrunning import operations_pb2
from google.rpc import error_details_pb2
from google.rpc import status_pb2

FD = pbd.FieldDescriptor
INT32_TYPES = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
UINT32_TYPES = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
UINT64_TYPES = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
WRAPPERS = {
    'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value',
    'google.protobuf.UInt64Value', 'google.protobuf.Int32Value', 'google.protobuf.UInt32Value',
    'google.protobuf.BoolValue', 'google.protobuf.StringValue', 'google.protobuf.BytesValue'
}
# Types whose JSON form is not an object of their fields; inside Any they go under "value".
# google.protobuf.Empty is deliberately absent: its JSON form is the ordinary {} of a message
# with no fields, so an Any holding it is {"@type": ...} (json_format and C++ agree).
SPECIAL_WKT = WRAPPERS | {
    'google.protobuf.Any', 'google.protobuf.Duration', 'google.protobuf.Timestamp',
    'google.protobuf.FieldMask', 'google.protobuf.Struct', 'google.protobuf.Value',
    'google.protobuf.ListValue'
}

OPT_PROTO_NAMES = 1
OPT_ENUMS_AS_INTS = 2
OPT_EMIT_DEFAULTS = 4

_sym_db = symbol_database.Default()


def message_class(full_name):
  return _sym_db.GetPrototype(_sym_db.pool.FindMessageTypeByName(full_name))


# ------------------------------------------------------------------ random values


class Gen:
  """Random proto messages with the edge cases the mapping has to get right."""

  def __init__(self, rng):
    self.r = rng

  def chance(self, p):
    return self.r.random() < p

  # -- scalars
  def int_in(self, lo, hi, edges):
    if self.chance(0.35):
      return self.r.choice([e for e in edges if lo <= e <= hi])
    if self.chance(0.5):
      return self.r.randint(max(lo, -1000), min(hi, 1000))
    bits = self.r.randint(1, 64)
    return max(lo, min(hi, self.r.randint(-(1 << bits), (1 << bits))))

  def int32(self):
    return self.int_in(-2**31, 2**31 - 1, [0, 1, -1, 2**31 - 1, -2**31, 2**24 + 1, -(2**24 + 1)])

  def uint32(self):
    return self.int_in(0, 2**32 - 1, [0, 1, 2**31, 2**32 - 1, 2**31 - 1])

  def int64(self):
    return self.int_in(-2**63, 2**63 - 1,
                       [0, 1, -1, 2**63 - 1, -2**63, 2**53, 2**53 + 1, -(2**53 + 1), 2**31, -2**31 - 1])

  def uint64(self):
    return self.int_in(0, 2**64 - 1, [0, 1, 2**64 - 1, 2**63, 2**53 + 1, 2**32])

  def double(self, finite=False):
    edges = [0.0, -0.0, 1.0, -1.0, 0.1, 1e21, 1e-7, 1e22, 123456789012345680000.0, 5e-324,
             -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
             2.0**53 + 2, 0.30000000000000004, 1e100, 1 / 3, 100.0, 4.35, 1e-5]
    if not finite:
      edges += [float('nan'), float('inf'), float('-inf')]
    c = self.r.random()
    if c < 0.35:
      return self.r.choice(edges)
    if c < 0.55:
      return float(self.r.randint(-10**6, 10**6)) / self.r.choice([1, 10, 100, 1000, 7])
    while True:
      v = struct.unpack('<d', self.r.getrandbits(64).to_bytes(8, 'little'))[0]
      if math.isfinite(v) or (not finite and self.chance(0.1)):
        return v

  def float32(self):
    edges = [0.0, -0.0, 1.0, 0.1, -0.1, 16777216.0, 16777218.0, 1.401298464324817e-45,
             1.1754943508222875e-38, 3.4028232635611926e38, float('nan'), float('inf'),
             float('-inf'), 0.3333333432674408, 1e10, 1e-10]
    c = self.r.random()
    if c < 0.005:
      # +-FLT_MAX: json_format prints 3.4028235e+38 and then rejects it, so records with
      # it lose check (b) (see main); rare on purpose, but (a) and (c) need it.
      v = self.r.choice([3.4028234663852886e38, -3.4028234663852886e38])
    elif c < 0.35:
      v = self.r.choice(edges)
    elif c < 0.55:
      v = float(self.r.randint(-10**5, 10**5)) / self.r.choice([1, 10, 100, 8])
    else:
      # Random bit patterns: most need all 9 significant digits to round-trip.
      while True:
        v = struct.unpack('<f', self.r.getrandbits(32).to_bytes(4, 'little'))[0]
        if math.isfinite(v):
          break
    return struct.unpack('<f', struct.pack('<f', v))[0]

  # No U+0000: protobuf-c keeps strings NUL-terminated, so no C program on it can hold one;
  # our decoder rejects it with a message saying so (a malformed case below checks that).
  STRING_POOL = ['', 'a', 'hello world', '"quoted"', 'back\\slash', 'slash/', '<tag>&amp;',
                 '\x01', '\x01\x1f\x7f', '\t\n\r\b\f', 'caf\u00e9', '\u00ff\u0100',
                 '\u2028\u2029', '\ufeff', '\uffff', '\U0001F600', '\U00010000', '\U0010FFFF',
                 '\u65e5\u672c\u8a9e', 'projects/my-project', 'users/x/assets/y', '\ud7ff\ue000',
                 '{"json":[1,2]}', ' leading space', '\u0800', '\\u0041']

  def string(self, maxlen=12):
    c = self.r.random()
    if c < 0.3:
      return self.r.choice(self.STRING_POOL)
    if c < 0.55:
      return ''.join(self.r.choice('abcdefghijklmnopqrstuvwxyz0123456789_-')
                     for _ in range(self.r.randint(0, maxlen)))
    parts = []
    for _ in range(self.r.randint(1, maxlen)):
      k = self.r.random()
      if k < 0.4:
        parts.append(chr(self.r.randint(0x20, 0x7e)))
      elif k < 0.55:
        parts.append(chr(self.r.randint(1, 0x1f)))
      elif k < 0.75:
        cp = self.r.randint(0x80, 0xfffd)
        while 0xd800 <= cp <= 0xdfff:
          cp = self.r.randint(0x80, 0xfffd)
        parts.append(chr(cp))
      elif k < 0.9:
        parts.append(chr(self.r.randint(0x10000, 0x10ffff)))
      else:
        parts.append(self.r.choice(self.STRING_POOL))
    return ''.join(parts)

  def bytes_(self):
    c = self.r.random()
    if c < 0.1:
      return bytes(range(256))
    if c < 0.2:
      return b''
    if c < 0.4:
      return bytes(self.r.getrandbits(8) for _ in range(self.r.randint(1, 3)))
    return bytes(self.r.getrandbits(8) for _ in range(self.r.randint(0, 40)))

  def enum(self, enum_desc, null_ok=True):
    if enum_desc.full_name == 'google.protobuf.NullValue':
      return 0
    if self.chance(0.05):
      return self.r.choice([42, -7, 2**31 - 1])  # open enum: unknown numbers print as ints
    return self.r.choice(enum_desc.values).number

  def scalar(self, f):
    t = f.type
    if t in INT32_TYPES:
      return self.int32()
    if t in UINT32_TYPES:
      return self.uint32()
    if t in INT64_TYPES:
      return self.int64()
    if t in UINT64_TYPES:
      return self.uint64()
    if t == FD.TYPE_DOUBLE:
      return self.double()
    if t == FD.TYPE_FLOAT:
      return self.float32()
    if t == FD.TYPE_BOOL:
      return self.chance(0.5)
    if t == FD.TYPE_STRING:
      return self.string()
    if t == FD.TYPE_BYTES:
      return self.bytes_()
    if t == FD.TYPE_ENUM:
      return self.enum(f.enum_type)
    raise AssertionError(f.full_name)

  def map_key(self, f):
    t = f.type
    if t == FD.TYPE_STRING:
      return self.string(6)
    if t == FD.TYPE_BOOL:
      return self.chance(0.5)
    return self.scalar(f)

  # -- well-known types
  def timestamp(self, m):
    lo, hi = -62135596800, 253402300799  # 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
    m.seconds = self.r.choice([lo, hi, 0, -1, 1, self.r.randint(lo, hi), self.r.randint(lo, hi)])
    m.nanos = self.nanos()

  def nanos(self):
    return self.r.choice([0, 0, 999999999, 1, self.r.randint(1, 999) * 1000000,
                          self.r.randint(1, 999999) * 1000, self.r.randint(1, 999999999)])

  def duration(self, m):
    lim = 315576000000
    s = self.r.choice([0, 0, 1, -1, lim, -lim, self.r.randint(-lim, lim), self.r.randint(-99, 99)])
    n = self.nanos()
    if s == lim or s == -lim:
      n = 0
    if s < 0 or (s == 0 and self.chance(0.5)):
      n = -n  # seconds and nanos share a sign; "-0.5s" has seconds 0, nanos -500000000
    m.seconds, m.nanos = s, n

  def field_mask(self, m):
    for _ in range(self.r.choice([0, 1, 1, 2, 4])):
      segs = []
      for _ in range(self.r.randint(1, 3)):
        words = [self.r.choice('abcdefxyz') + ''.join(
            self.r.choice('abcxyz019') for _ in range(self.r.randint(0, 4)))
                 for _ in range(self.r.randint(1, 3))]
        segs.append('_'.join(words))
      m.paths.append('.'.join(segs))

  def value(self, m, depth):
    # Always sets a kind: an unset Value prints as null, which parses back as null_value,
    # so json_format itself cannot round-trip it.
    kinds = ['null', 'number', 'string', 'bool']
    if depth > 0:
      kinds += ['struct', 'list']
    k = self.r.choice(kinds)
    if k == 'null':
      m.null_value = 0
    elif k == 'number':
      m.number_value = self.double(finite=True)
    elif k == 'string':
      m.string_value = self.string()
    elif k == 'bool':
      m.bool_value = self.chance(0.5)
    elif k == 'struct':
      self.struct(m.struct_value, depth - 1)
    else:
      self.list_value(m.list_value, depth - 1)

  def struct(self, m, depth):
    m.SetInParent()
    for _ in range(self.r.randint(0, 4)):
      self.value(m.fields[self.string(6)], depth)

  def list_value(self, m, depth):
    m.SetInParent()
    for _ in range(self.r.randint(0, 4)):
      self.value(m.values.add(), depth)

  ANY_TYPES = [
      'google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.FieldMask',
      'google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue',
      'google.protobuf.Empty', 'google.protobuf.Any', 'google.protobuf.Int64Value',
      'google.protobuf.StringValue', 'google.protobuf.BytesValue', 'google.protobuf.DoubleValue',
      'google.protobuf.FloatValue', 'google.protobuf.BoolValue', 'google.protobuf.UInt32Value',
      'google.earthengine.v1.OperationMetadata', 'google.rpc.ErrorInfo', 'google.rpc.Status',
      'eetest.ForeignMessage', 'eetest.TestAllTypes.NestedMessage', 'eetest.TestAllTypes',
      'google.earthengine.v1.ExportImageRequest', 'eetest.StreamableTypes'
  ]

  def any_(self, m, depth, types=None):
    if self.chance(0.04):
      m.Clear()  # the empty Any prints as {}
      m.SetInParent()
      return
    name = self.r.choice(types or self.ANY_TYPES)
    if depth <= 0 and name in ('google.protobuf.Any', 'eetest.TestAllTypes', 'eetest.StreamableTypes',
                               'google.earthengine.v1.ExportImageRequest', 'google.rpc.Status'):
      name = 'google.protobuf.Duration'
    sub = message_class(name)()
    self.message(sub, depth - 1)
    m.Pack(sub)

  # -- messages
  def message(self, m, depth):
    """Fills m at random; depth bounds recursion through message fields."""
    d = m.DESCRIPTOR
    n = d.full_name
    m.SetInParent()
    if n in WRAPPERS:
      m.value = self.scalar(d.fields_by_name['value'])
      return
    if n == 'google.protobuf.Timestamp':
      return self.timestamp(m)
    if n == 'google.protobuf.Duration':
      return self.duration(m)
    if n == 'google.protobuf.FieldMask':
      return self.field_mask(m)
    if n == 'google.protobuf.Struct':
      return self.struct(m, min(depth, 3))
    if n == 'google.protobuf.Value':
      return self.value(m, min(depth, 3))
    if n == 'google.protobuf.ListValue':
      return self.list_value(m, min(depth, 3))
    if n == 'google.protobuf.Any':
      return self.any_(m, min(depth, 3))
    if n == 'google.earthengine.v1.Expression':
      return self.expression(m)
    if n == 'google.earthengine.v1.ValueNode':
      return self.value_node(m, min(depth, 3))
    density = self.r.choice([0.1, 0.3, 0.6, 0.9])
    for o in d.oneofs:
      if self.chance(0.7):
        self.set_field(m, self.r.choice(o.fields), depth, force=True)
    for f in d.fields:
      if f.containing_oneof is None and self.chance(density):
        self.set_field(m, f, depth)

  def set_field(self, m, f, depth, force=False):
    force = force and depth > -3
    if is_map(f):
      kf, vf = f.message_type.fields_by_name['key'], f.message_type.fields_by_name['value']
      mp = getattr(m, f.name)
      for _ in range(self.r.randint(0, 4)):
        k = self.map_key(kf)
        if vf.message_type is not None:
          if depth > 0 or vf.message_type.full_name == 'google.protobuf.Value':
            self.message(mp[k], depth - 1)
        else:
          mp[k] = self.scalar(vf)
      return
    if f.label == FD.LABEL_REPEATED:
      rep = getattr(m, f.name)
      for _ in range(self.r.choice([0, 1, 2, 3, 5])):
        if f.message_type is not None:
          if depth <= 0 and f.message_type.full_name not in SPECIAL_WKT:
            break
          self.message(rep.add(), depth - 1)
        else:
          rep.append(self.scalar(f))
      return
    if f.message_type is not None:
      if depth <= 0 and not force and f.message_type.full_name not in SPECIAL_WKT:
        return
      self.message(getattr(m, f.name), depth - 1)
      return
    setattr(m, f.name, self.scalar(f))

  # -- Earth Engine expression graphs
  def value_node(self, m, depth, nkeys=None):
    kinds = ['constant', 'integer', 'bytes', 'argref', 'valref', 'fundef']
    if depth > 0:
      kinds += ['array', 'dict', 'invoke', 'invoke']
    k = self.r.choice(kinds)
    if k == 'constant':
      self.value(m.constant_value, 2)
    elif k == 'integer':
      m.integer_value = self.int64()
    elif k == 'bytes':
      m.bytes_value = self.bytes_()
    elif k == 'argref':
      m.argument_reference = self.r.choice(['_MAPPING_VAR_0_0', 'image', 'x', self.string(5)])
    elif k == 'valref':
      m.value_reference = str(self.r.randint(0, nkeys or 10))
    elif k == 'fundef':
      m.function_definition_value.argument_names.extend(
          self.r.choice(['x', 'image', '_MAPPING_VAR_0_0', 'a_b']) for _ in range(self.r.randint(0, 3)))
      m.function_definition_value.body = str(self.r.randint(0, nkeys or 10))
    elif k == 'array':
      m.array_value.SetInParent()
      for _ in range(self.r.randint(0, 4)):
        self.value_node(m.array_value.values.add(), depth - 1, nkeys)
    elif k == 'dict':
      m.dictionary_value.SetInParent()
      for _ in range(self.r.randint(0, 4)):
        self.value_node(m.dictionary_value.values[self.r.choice(
            ['bands', 'scale', 'geometry', 'crs', self.string(5)])], depth - 1, nkeys)
    else:
      fi = m.function_invocation_value
      fi.SetInParent()
      if self.chance(0.8):
        fi.function_name = self.r.choice(['Image.select', 'Image.load', 'Collection.map',
                                          'Image.reduceRegion', 'Number.add', 'Reducer.mean'])
      elif self.chance(0.9):
        fi.function_reference = str(self.r.randint(0, nkeys or 10))
      for _ in range(self.r.randint(0, 4)):
        self.value_node(fi.arguments[self.r.choice(['input', 'id', 'bandSelectors', 'reducer',
                                                    'collection', 'baseAlgorithm', 'value'])],
                        depth - 1, nkeys)

  def expression(self, m):
    shape = self.r.random()
    m.SetInParent()
    if shape < 0.15:
      # Deep: one chain of nested arrays / dictionaries / invocations, kept under the
      # decoders' nesting limit (100 JSON levels here; 100 messages for json_format).
      node = m.values['0']
      for level in range(self.r.randint(10, 28)):
        k = self.r.choice(['array', 'dict', 'invoke'])
        if k == 'array':
          node = node.array_value.values.add()
        elif k == 'dict':
          node = node.dictionary_value.values['v%d' % level]
        else:
          node.function_invocation_value.function_name = 'Image.select'
          node = node.function_invocation_value.arguments['input']
      node.constant_value.string_value = 'LANDSAT/LC08/C02/T1'
      m.result = '0'
      return
    n = self.r.randint(150, 400) if shape < 0.3 else self.r.randint(0, 12)
    for i in range(n):
      self.value_node(m.values[str(i)], self.r.randint(0, 3), n)
    if self.chance(0.1):  # non-numeric and unicode keys too
      self.value_node(m.values[self.string(6)], 1, n)
    if n or self.chance(0.5):
      m.result = str(self.r.randint(0, max(n - 1, 0)))


# Message types at the top of records, with weights.
TOP_TYPES = [
    ('eetest.TestAllTypes', 40),
    ('google.earthengine.v1.ExportImageRequest', 14),
    ('google.earthengine.v1.Expression', 14),
    ('google.longrunning.Operation', 10),
    ('google.longrunning.ListOperationsResponse', 6),
    ('google.rpc.Status', 6),
    ('google.earthengine.v1.OperationMetadata', 4),
    ('google.longrunning.ListOperationsRequest', 2),
    ('google.earthengine.v1.ImageFileExportOptions', 2),
    ('google.rpc.ErrorInfo', 2),
    ('eetest.StreamableTypes', 4),
]


def make_message(rng, type_name):
  g = Gen(rng)
  m = message_class(type_name)()
  if type_name == 'google.longrunning.Operation':
    operation(g, m)
  elif type_name == 'google.longrunning.ListOperationsResponse':
    for _ in range(rng.randint(0, 12)):
      operation(g, m.operations.add())
    if g.chance(0.7):
      m.next_page_token = g.string()
  else:
    g.message(m, rng.choice([1, 2, 3, 4]))
  return m


def operation(g, m):
  """A long-running operation as the service returns it: OperationMetadata in Any."""
  m.SetInParent()
  if g.chance(0.9):
    m.name = 'projects/p%d/operations/%s' % (g.r.randint(0, 99), g.string(8))
  if g.chance(0.9):
    md = operation_metadata_pb2.OperationMetadata()
    g.message(md, 2)
    m.metadata.Pack(md)
  elif g.chance(0.5):
    g.any_(m.metadata, 2)
  m.done = g.chance(0.5)
  c = g.r.random()
  if c < 0.3:
    g.message(m.error, 2)
  elif c < 0.6:
    g.any_(m.response, 2, ['google.protobuf.Empty', 'google.earthengine.v1.OperationMetadata',
                           'google.protobuf.Struct', 'google.protobuf.Value'])


# ------------------------------------------------------------------ message comparison


def float_key(v, bits, zero_sign):
  if math.isnan(v):
    return 'nan'  # JSON carries no NaN payload or sign
  if v == 0 and not zero_sign:
    v = 0.0
  return struct.pack('<f' if bits == 32 else '<d', v)


_map_entry_cache = {}


def is_map(f):
  r = _map_entry_cache.get(f)
  if r is None:
    r = _map_entry_cache[f] = (f.message_type is not None and
                               f.message_type.GetOptions().map_entry)
  return r


def canon(msg, zero_sign):
  """A comparable form of msg: its present fields (ListFields: proto3 scalars at their
  default are absent, a set oneof member is present whatever its value), maps as sorted
  item lists, Any unpacked, floats by bit pattern. zero_sign(field) says whether the sign
  of a zero in that field is compared; where it is not, a singular -0.0 counts as absent,
  like +0.0."""
  d = msg.DESCRIPTOR
  if d.full_name == 'google.protobuf.Any':
    if not msg.type_url and not msg.value:
      return ('Any', None)
    sub = message_class(msg.type_url.split('/')[-1])()
    sub.ParseFromString(msg.value)
    return ('Any', msg.type_url, canon(sub, zero_sign))
  out = [d.full_name]
  for f, v in msg.ListFields():
    if is_map(f):
      vf = f.message_type.fields_by_name['value']
      items = [(k, canon_value(vf, v[k], zero_sign)) for k in v]
      out.append((f.name, sorted(items, key=lambda kv: repr(kv[0]))))
    elif f.label == FD.LABEL_REPEATED:
      out.append((f.name, [canon_value(f, x, zero_sign) for x in v]))
    elif (f.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT) and v == 0 and
          f.containing_oneof is None and not zero_sign(f)):
      continue
    else:
      out.append((f.name, canon_value(f, v, zero_sign)))
  return tuple(out)


def canon_value(f, v, zero_sign):
  if f.message_type is not None:
    return canon(v, zero_sign)
  if f.type == FD.TYPE_DOUBLE:
    return float_key(v, 64, zero_sign(f))
  if f.type == FD.TYPE_FLOAT:
    return float_key(v, 32, zero_sign(f))
  return v


def diff_messages(want, got, zero_sign):
  """None when the messages are equal under canon(), else where they first differ.
  Equal deterministic encodings mean equal messages, so that cheap test comes first."""
  if want.SerializeToString(deterministic=True) == got.SerializeToString(deterministic=True):
    return None
  a, b = canon(want, zero_sign), canon(got, zero_sign)
  return None if a == b else first_diff(a, b)


def oracle_roundtrip_problem(msg, pj):
  """Why json_format cannot round-trip its own output pj for msg, or None. Check (b)
  trusts json_format.Parse, so where it cannot (it rejects its own "3.4028235e+38" for
  FLT_MAX: that shortest spelling is above FLT_MAX as a double) (b) says nothing about
  us; such records are counted and reported, and (a) and (c) still run."""
  try:
    back = json_format.Parse(pj, type(msg)())
  except json_format.ParseError as e:
    return 'rejects: ' + str(e).split(' at ')[0].split(': ')[-1]
  d = diff_messages(msg, back, zero_sign_never)
  return None if d is None else 'differs at ' + d.split(':')[0]


def zero_sign_except_implicit(f):
  """protobuf-c's packer skips a proto3 scalar that compares equal to zero unless it is in a
  oneof or repeated, so -0.0 in such a field (a map value and a wrapper's `value` included)
  cannot survive our decode -> protobuf_c_message_pack path, however right the decoder is.
  Check (c) sees the sign in our own JSON text instead."""
  return f.label == FD.LABEL_REPEATED or f.containing_oneof is not None


def zero_sign_never(_f):
  """json_format.Parse reads our "-0" through json.loads, which makes it the integer 0, so
  the sign of zero is lost on python's side; check (c) compares it in the text."""
  return False


def first_diff(a, b, path='$'):
  """A short description of where two canon() values first differ."""
  if type(a) != type(b):
    return '%s: %r != %r' % (path, trunc(a), trunc(b))
  if isinstance(a, (tuple, list)):
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str) and a[0] != path:
      pass
    for i, (x, y) in enumerate(zip(a, b)):
      if x != y:
        label = x[0] if isinstance(x, tuple) and x and isinstance(x[0], str) else i
        return first_diff(x, y, '%s.%s' % (path, label))
    if len(a) != len(b):
      return '%s: length %d != %d' % (path, len(a), len(b))
  return '%s: %r != %r' % (path, trunc(a), trunc(b))


def trunc(x, n=160):
  s = repr(x)
  return s if len(s) <= n else s[:n] + '...'


# ------------------------------------------------------------------ JSON text comparison


class Num:
  """A JSON number token, kept as written."""
  __slots__ = ('s',)

  def __init__(self, s):
    self.s = s

  def __repr__(self):
    return self.s


class Obj:
  """A JSON object as written: ordered (key, value) pairs."""
  __slots__ = ('pairs', 'd')

  def __init__(self, pairs):
    self.pairs = pairs
    self.d = dict(pairs)

  def __repr__(self):
    return '{' + ', '.join('%r: %r' % kv for kv in self.pairs) + '}'


def parse_tokens(text):
  return json.loads(text, parse_int=Num, parse_float=Num, object_pairs_hook=Obj,
                    parse_constant=lambda c: (_ for _ in ()).throw(ValueError('bare ' + c)))


INT_RE = re.compile(r'-?(0|[1-9][0-9]*)\Z')


class TextCompare:

  def __init__(self, opts):
    self.opts = opts
    self.errors = []

  def err(self, path, what, py, ours):
    if len(self.errors) < 8:
      self.errors.append('%s: %s: json_format %s, ours %s' % (path, what, trunc(py, 120),
                                                               trunc(ours, 120)))

  def message(self, d, py, ours, path):
    n = d.full_name
    if n in WRAPPERS:
      return self.single(d.fields_by_name['value'], py, ours, path)
    if n in ('google.protobuf.Timestamp', 'google.protobuf.Duration',
             'google.protobuf.FieldMask'):
      if not isinstance(ours, str) or py != ours:
        self.err(path, n.split('.')[-1], py, ours)
      return
    if n in ('google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue'):
      return self.any_json(py, ours, path)
    if not isinstance(py, Obj) or not isinstance(ours, Obj):
      return self.err(path, 'not an object', py, ours)
    if n == 'google.protobuf.Any':
      return self.any_(py, ours, path)
    self.fields(d, py.pairs, ours.pairs, path)

  def fields(self, d, py_pairs, our_pairs, path):
    pk = [k for k, _ in py_pairs]
    ok = [k for k, _ in our_pairs]
    if len(set(ok)) != len(ok):
      self.err(path, 'duplicate keys', pk, ok)
    if set(pk) != set(ok):
      self.err(path, 'keys differ (missing %s, extra %s)' % (sorted(set(pk) - set(ok)),
                                                              sorted(set(ok) - set(pk))), pk, ok)
    elif pk != ok and not self.opts & OPT_EMIT_DEFAULTS:
      # Field-number order. With including_default_value_fields json_format appends the
      # defaulted fields after the set ones, so its order says nothing there.
      self.err(path, 'field order', pk, ok)
    by_name = {}
    for f in d.fields:
      by_name[f.name if self.opts & OPT_PROTO_NAMES else f.json_name] = f
    od = dict(our_pairs)
    for k, v in py_pairs:
      if k in od:
        f = by_name[k]
        self.field(f, v, od[k], '%s.%s' % (path, k))

  def field(self, f, py, ours, path):
    if is_map(f):
      if not isinstance(py, Obj) or not isinstance(ours, Obj):
        return self.err(path, 'map not an object', py, ours)
      if set(py.d) != set(ours.d) or len(ours.pairs) != len(ours.d):
        return self.err(path, 'map keys', sorted(py.d), [k for k, _ in ours.pairs])
      vf = f.message_type.fields_by_name['value']
      for k, v in py.pairs:
        self.single(vf, v, ours.d[k], '%s[%s]' % (path, json.dumps(k)))
    elif f.label == FD.LABEL_REPEATED:
      if not isinstance(ours, list) or len(py) != len(ours):
        return self.err(path, 'repeated', py, ours)
      for i, (a, b) in enumerate(zip(py, ours)):
        self.single(f, a, b, '%s[%d]' % (path, i))
    else:
      self.single(f, py, ours, path)

  def single(self, f, py, ours, path):
    t = f.type
    if f.message_type is not None:
      return self.message(f.message_type, py, ours, path)
    if t == FD.TYPE_ENUM:
      if f.enum_type.full_name == 'google.protobuf.NullValue':
        # json_format prints NullValue as 0 when asked for integer enums; null is the
        # mapping's form and what C++ prints. Either is accepted from us.
        if ours is None or (isinstance(ours, Num) and ours.s == '0'):
          return
        return self.err(path, 'NullValue', py, ours)
      if isinstance(py, Num):
        if not isinstance(ours, Num) or ours.s != py.s:
          self.err(path, 'enum number', py, ours)
      elif py != ours:
        self.err(path, 'enum', py, ours)
      return
    if t in INT32_TYPES or t in UINT32_TYPES:
      if not isinstance(ours, Num) or not INT_RE.match(ours.s) or int(ours.s) != int(py.s):
        self.err(path, '32-bit integer', py, ours)
      return
    if t in INT64_TYPES or t in UINT64_TYPES:
      if not isinstance(ours, str) or ours != py:
        self.err(path, '64-bit integer string', py, ours)
      return
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
      return self.number(py, ours, path, 32 if t == FD.TYPE_FLOAT else 64)
    if t in (FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_BOOL):
      if type(py) != type(ours) or py != ours:
        self.err(path, FD_TYPE_NAMES.get(t, 'value'), py, ours)
      return
    raise AssertionError(t)

  def number(self, py, ours, path, bits):
    if isinstance(py, str):  # "NaN", "Infinity", "-Infinity": no choice
      if py != ours:
        self.err(path, 'special float', py, ours)
      return
    if not isinstance(ours, Num):
      return self.err(path, 'number', py, ours)
    a, b = float(py.s), float(ours.s)
    if bits == 32:
      a = struct.unpack('<f', struct.pack('<f', a))[0]
      try:
        b = struct.unpack('<f', struct.pack('<f', b))[0]
      except OverflowError:
        return self.err(path, 'float out of range', py, ours)
    if a != b or math.copysign(1, a) != math.copysign(1, b):
      self.err(path, 'float%d value' % bits, py, ours)

  def any_json(self, py, ours, path):
    """Struct / Value / ListValue: any JSON; numbers are doubles."""
    if isinstance(py, Num):
      return self.number(py, ours, path, 64)
    if isinstance(py, Obj):
      if not isinstance(ours, Obj) or set(py.d) != set(ours.d) or len(ours.pairs) != len(ours.d):
        return self.err(path, 'Struct keys', py, ours)
      for k, v in py.pairs:
        self.any_json(v, ours.d[k], '%s[%s]' % (path, json.dumps(k)))
      return
    if isinstance(py, list):
      if not isinstance(ours, list) or len(py) != len(ours):
        return self.err(path, 'ListValue', py, ours)
      for i, (a, b) in enumerate(zip(py, ours)):
        self.any_json(a, b, '%s[%d]' % (path, i))
      return
    if type(py) != type(ours) or py != ours:
      self.err(path, 'Value', py, ours)

  def any_(self, py, ours, path):
    if not py.pairs:
      if ours.pairs:
        self.err(path, 'empty Any', py, ours)
      return
    if not ours.pairs or ours.pairs[0][0] != '@type':
      return self.err(path, '@type first', [k for k, _ in py.pairs], [k for k, _ in ours.pairs])
    if ours.pairs[0][1] != py.d['@type']:
      return self.err(path, '@type', py.d['@type'], ours.pairs[0][1])
    d = _sym_db.pool.FindMessageTypeByName(py.d['@type'].split('/')[-1])
    if d.full_name in SPECIAL_WKT:
      if [k for k, _ in ours.pairs] != ['@type', 'value']:
        return self.err(path, 'Any of a well-known type', py, ours)
      return self.message(d, py.d['value'], ours.d['value'], path + '.value')
    self.fields(d, py.pairs[1:], ours.pairs[1:], path)


FD_TYPE_NAMES = {FD.TYPE_STRING: 'string', FD.TYPE_BYTES: 'bytes (standard base64, padded)',
                 FD.TYPE_BOOL: 'bool'}


def strip_strings(text):
  return re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)


# ------------------------------------------------------------------ malformed inputs


def malformed_cases(rng):
  """(type, json bytes, kind, python_rejects) tuples that must all be rejected."""
  cases = []
  g = Gen(rng)
  top = rng.choice(['eetest.TestAllTypes', 'google.earthengine.v1.ExportImageRequest',
                    'google.longrunning.Operation', 'google.earthengine.v1.Expression'])
  m = make_message(rng, top)
  text = json_format.MessageToJson(m, indent=None, ensure_ascii=False).encode('utf-8')
  k = rng.randrange(1, len(text))
  cases.append((top, text[:k], 'truncated at %d' % k, True))
  cases.append((top, text + rng.choice([b'x', b'}', b',', b'{}', b' 1', b'\x00', b']']),
                'trailing garbage', True))

  # Bad UTF-8 inside a string value, in a key, and outside strings.
  bad = rng.choice([b'\xff', b'\xc0\x80', b'\xc1\xbf', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
                    b'\xe2\x82', b'\x80', b'\xf8\x88\x80\x80\x80', b'\xe0\x80\xaf', b'\xfe'])
  t = all_types_pb2.TestAllTypes(optional_string='MARK' + g.string(3))
  g.message(t.optional_nested_message, 1)
  j = json_format.MessageToJson(t, indent=None, ensure_ascii=False).encode('utf-8')
  cases.append(('eetest.TestAllTypes', j.replace(b'MARK', b'a' + bad + b'b'),
                'bad UTF-8 %r in a string' % bad, True))
  cases.append(('eetest.TestAllTypes', b'{"optional' + bad + b'String": "x"}',
                'bad UTF-8 %r in a key' % bad, True))
  cases.append(('google.protobuf.Struct', b'{"k' + bad + b'": 1}', 'bad UTF-8 in a Struct key',
                True))
  # Lone surrogates (escaped): the mapping forbids them; python's json accepts them.
  sur = rng.choice([r'\ud800', r'\udfff', r'\ud83d', r'\ude00x', r'\ud800\u0041', r'\udc00\ud800'])
  cases.append(('eetest.TestAllTypes', ('{"optionalString": "a%sb"}' % sur).encode(),
                'lone surrogate %s' % sur, False))
  cases.append(('google.earthengine.v1.Expression',
                ('{"values": {"k%s": {"integerValue": "1"}}}' % sur).encode(),
                'lone surrogate in a map key', False))

  # Duplicate keys at a random object of a valid document.
  js = parse_tokens(text.decode('utf-8'))
  objs = []

  def walk(x):
    if isinstance(x, Obj):
      if x.pairs:
        objs.append(x)
      for _, v in x.pairs:
        walk(v)
    elif isinstance(x, list):
      for v in x:
        walk(v)

  walk(js)
  if objs:
    o = rng.choice(objs)
    kv = rng.choice(o.pairs)
    o.pairs.append(kv)
    cases.append((top, dump_tokens(js).encode('utf-8'), 'duplicate key %r' % kv[0], True))
  cases.append(('eetest.TestAllTypes', b'{"optionalInt32": 1, "optional_int32": 2}',
                'same field by both names', False))  # json_format checks names, not fields
  cases.append(('eetest.TestAllTypes', b'{"mapStringString": {"a": "1", "a": "2"}}',
                'duplicate map key', True))
  cases.append(('google.protobuf.Struct', b'{"a": 1, "b": {"c": 1, "c": 2}}',
                'duplicate Struct key', True))

  # U+0000 in a string: valid proto3 JSON, but protobuf-c strings are NUL-terminated, so
  # our decoder must refuse it rather than silently truncate (json_format accepts it).
  cases.append((rng.choice([('eetest.TestAllTypes', b'{"optionalString": "a\\u0000b"}'),
                            ('google.earthengine.v1.Expression', b'{"values": {"a\\u0000": {}}}'),
                            ('google.protobuf.Struct', b'{"k": ["\\u0000"]}')]) +
                ('U+0000 in a string', False)))

  # Two members of one oneof.
  a, b = rng.sample(['"oneofUint32": 1', '"oneofString": "x"', '"oneofBool": true',
                     '"oneofNestedMessage": {}', '"oneofDouble": 1.5', '"oneofEnum": "FOO"',
                     '"oneofNullValue": null', '"oneofBytes": ""'], 2)
  # json_format lets a null member stand next to another (null means "not set" for it).
  py_rejects = 'null' not in a + b
  cases.append(('eetest.TestAllTypes', ('{%s, %s}' % (a, b)).encode(), 'two oneof members',
                py_rejects))
  cases.append(('google.earthengine.v1.ValueNode',
                b'{"integerValue": "1", "valueReference": "0"}', 'two ValueNode kinds', True))

  # Values of the wrong type or out of range.
  wrong = rng.choice([
      ('optionalInt32', '2147483648'), ('optionalInt32', '1.5'), ('optionalInt32', '"abc"'),
      ('optionalUint32', '-1'), ('optionalUint64', '"-1"'), ('optionalInt64', '"9223372036854775808"'),
      ('optionalInt64', '1e19'), ('optionalString', '1'), ('optionalFloat', '1e39'), ('optionalDouble', '1e309'),
      ('optionalDouble', '"nan"'), ('optionalNestedEnum', '"NOPE"'), ('optionalNestedMessage', '1'),
      ('repeatedInt32', '1'), ('repeatedInt32', '[null]'), ('mapInt32Int32', '{"x": 1}'),
      ('mapBoolBool', '{"1": true}'), ('optionalTimestamp', '"2020-13-01T00:00:00Z"'),
      ('optionalTimestamp', '"10000-01-01T00:00:00Z"'), ('optionalDuration', '"1"'),
      ('optionalDuration', '"315576000001s"'), ('optionalFieldMask', '1'),
      ('optionalAny', '{"@type": "type.googleapis.com/no.such.Type"}'),
      ('optionalAny', '{"optionalInt32": 1}'), ('optionalBytes', '"a"'),
      ('optionalNestedMessage', '[]'), ('optionalStruct', '[]'), ('optionalListValue', '{}'),
      ('noSuchField', '1'), ('optionalInt32', '01'), ('optionalInt32', '+1'),
      ('optionalDouble', 'NaN'), ('optionalDouble', '.5'), ('optionalString', "'x'"),
  ])
  cases.append(('eetest.TestAllTypes', ('{"%s": %s}' % wrong).encode(), 'wrong value %s: %s' % wrong,
                None))

  # Nesting past the default limit of 100.
  deep = rng.randint(101, 3000)
  kind = rng.choice(['list', 'struct', 'message'])
  if kind == 'list':
    body = '{"optionalValue": ' + '[' * deep + ']' * deep + '}'
  elif kind == 'struct':
    body = '{"optionalStruct": ' + '{"a": ' * deep + '1' + '}' * deep + '}'
  else:
    body = '{"recursiveMessage": ' * deep + '{}' + '}' * deep
  cases.append(('eetest.TestAllTypes', body.encode(), 'nesting %d (%s)' % (deep, kind), None))
  # Not JSON at all, or not an object where a message is expected.
  cases.append((top, rng.choice([b'', b' ', b'null', b'[]', b'"x"', b'1', b'{', b'{"a"}', b'{,}',
                                 b'{"optionalInt32":}', b"{'a': 1}"]),
                'not a message object', None))
  return cases


def dump_tokens(x):
  if isinstance(x, Obj):
    return '{' + ','.join(json.dumps(k) + ':' + dump_tokens(v) for k, v in x.pairs) + '}'
  if isinstance(x, list):
    return '[' + ','.join(dump_tokens(v) for v in x) + ']'
  if isinstance(x, Num):
    return x.s
  return json.dumps(x, ensure_ascii=False)


# ------------------------------------------------------------------ driver protocol


def b64(b):
  return base64.b64encode(b).decode('ascii')


def run_driver(driver, lines, workdir):
  inp = os.path.join(workdir, 'in.tsv')
  out = os.path.join(workdir, 'out.tsv')
  with open(inp, 'w') as f:
    f.write(''.join(lines))
  p = subprocess.run([driver, inp, out], stderr=subprocess.PIPE)
  with open(out) as f:
    results = []
    for line in f:
      fields = line.rstrip('\n').split('\t')
      if not line.endswith('\n') or len(fields) != 4:
        break  # a partial last line: the driver died while writing it
      results.append(fields)
  return p.returncode, p.stderr.decode('utf-8', 'replace'), results


def decode_result(fields):
  """(code, payload bytes) from a driver result pair."""
  return int(fields[0]), base64.b64decode(fields[1])


# ------------------------------------------------------------------ main


def weighted_type(rng):
  total = sum(w for _, w in TOP_TYPES)
  x = rng.uniform(0, total)
  for name, w in TOP_TYPES:
    x -= w
    if x <= 0:
      return name
  return TOP_TYPES[0][0]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--driver', required=True)
  ap.add_argument('--seed', type=int, default=1)
  ap.add_argument('--count', type=int, default=3000)
  ap.add_argument('--malformed', type=int, default=300)
  ap.add_argument('--only', type=int, default=None)
  ap.add_argument('--verbose', action='store_true')
  a = ap.parse_args()
  seed = int(os.environ.get('EE_JSON_DIFF_SEED', a.seed))
  count = int(os.environ.get('EE_JSON_DIFF_COUNT', a.count))
  t0 = time.time()

  records = []  # (index, type, opts, msg, python json)
  skipped = {}
  indices = [a.only] if a.only is not None else range(count)
  for i in indices:
    rng = random.Random(seed * 1000003 + i)
    type_name = weighted_type(rng)
    msg = make_message(rng, type_name)
    opts = 0
    if rng.random() < 0.25:
      opts = rng.choice([OPT_PROTO_NAMES, OPT_ENUMS_AS_INTS, OPT_EMIT_DEFAULTS, 7])
    pj = json_format.MessageToJson(msg, indent=None, ensure_ascii=rng.random() < 0.3,
                                   preserving_proto_field_name=bool(opts & OPT_PROTO_NAMES),
                                   use_integers_for_enums=bool(opts & OPT_ENUMS_AS_INTS),
                                   including_default_value_fields=bool(opts & OPT_EMIT_DEFAULTS))
    records.append((i, type_name, opts, msg, pj))

  lines = ['R\t%s\t%d\t%s\t%s\n' % (t, o, b64(m.SerializeToString()), b64(pj.encode('utf-8')))
           for (_, t, o, m, pj) in records]
  mal = []
  if a.only is None:
    for i in range(a.malformed):
      for c in malformed_cases(random.Random(seed * 7919 + i)):
        mal.append((i,) + c)
  lines += ['X\t%s\t0\t\t%s\n' % (t, b64(j)) for (_, t, j, _, _) in mal]

  failures = []

  def fail(idx, type_name, what, detail):
    failures.append('seed=%d index=%d type=%s: %s\n    %s' % (seed, idx, type_name, what,
                                                               detail.replace('\n', '\n    ')))

  with tempfile.TemporaryDirectory() as wd:
    rc, err, results = run_driver(a.driver, lines, wd)
  if rc != 0 or len(results) != len(lines):
    n = len(results)
    if n < len(records):
      i, t, _, _, pj = records[n]
      fail(i, t, 'driver died (exit %d) on this record' % rc, 'json_format: %s\n%s' % (trunc(pj, 400), err[-2000:]))
    elif n < len(lines):
      i, t, j, kind, _ = mal[n - len(records)]
      fail(i, t, 'driver died (exit %d) on malformed input (%s)' % (rc, kind),
           '%r\n%s' % (j[:400], err[-2000:]))
    else:
      fail(-1, '-', 'driver exit %d' % rc, err[-2000:])

  stats = {'a': 0, 'b': 0, 'c': 0, 'rejected': 0}
  for (i, t, opts, msg, pj), res in zip(records, results):
    cls = message_class(t)
    # (a) our decode of json_format's JSON
    code, payload = decode_result(res[0:2])
    if code != 0:
      fail(i, t, '(a) ee_json_decode rejected json_format output: %s' % payload.decode('utf-8', 'replace'),
           'json_format: ' + trunc(pj, 600))
    else:
      got = cls()
      got.ParseFromString(payload)
      d = diff_messages(msg, got, zero_sign_except_implicit)
      if d is not None:
        fail(i, t, '(a) decode differs', '%s\njson_format: %s' % (d, trunc(pj, 600)))
      else:
        stats['a'] += 1
    # (b) + (c): our encode of the same message
    code, payload = decode_result(res[2:4])
    ours = payload.decode('utf-8', 'replace')
    if code != 0:
      fail(i, t, '(b) ee_json_encode failed: %s' % ours, 'json_format: ' + trunc(pj, 600))
      continue
    problem = None
    try:
      back = json_format.Parse(payload.decode('utf-8'), cls())
      d = diff_messages(msg, back, zero_sign_never)
      if d is not None:
        problem = ('(b) json_format.Parse(ours) differs', '%s\nours: %s' % (d, trunc(ours, 600)))
    except (json_format.ParseError, UnicodeDecodeError) as e:
      problem = ('(b) json_format.Parse rejected our JSON: %s' % e, 'ours: ' + trunc(ours, 600))
    if problem is not None:
      why = oracle_roundtrip_problem(msg, pj)
      if why is None:
        fail(i, t, *problem)
      else:
        skipped[why] = skipped.get(why, 0) + 1
    else:
      stats['b'] += 1
    tc = TextCompare(opts)
    try:
      tc.message(msg.DESCRIPTOR, parse_tokens(pj), parse_tokens(ours), '')
    except ValueError as e:
      tc.errors.append('not strict JSON: %s' % e)
    if re.search(r'\s', strip_strings(ours)):
      tc.errors.append('not compact (whitespace outside strings)')
    if tc.errors:
      fail(i, t, '(c) JSON text differs (options %d)' % opts,
           '\n'.join(tc.errors) + '\njson_format: %s\nours:        %s' % (trunc(pj, 600), trunc(ours, 600)))
    else:
      stats['c'] += 1

  byte_re = re.compile(r'\(byte [0-9]+\)')
  for (i, t, j, kind, py_rejects), res in zip(mal, results[len(records):]):
    code, payload = decode_result(res[0:2])
    if py_rejects:  # keep the case honest: the oracle must reject it too
      try:
        json_format.Parse(j, message_class(t)())
        fail(i, t, 'malformed case accepted by json_format (bad test)', kind)
      except (json_format.ParseError, UnicodeDecodeError, ValueError, TypeError, AttributeError):
        pass
    if code == 0:
      fail(i, t, 'accepted malformed input (%s)' % kind, trunc(j, 400))
    elif not byte_re.search(payload.decode('utf-8', 'replace')):
      fail(i, t, 'error without a byte offset (%s)' % kind, payload.decode('utf-8', 'replace'))
    else:
      stats['rejected'] += 1
      if a.verbose:
        print('  %-40s -> %s' % (kind[:40], payload.decode('utf-8', 'replace')))

  for f in failures[:30]:
    print('FAIL ' + f)
  if len(failures) > 30:
    print('... and %d more failures' % (len(failures) - 30))
  print('json differential: seed %d, %d messages, (a) %d ok, (b) %d ok (%d not checked: '
        'json_format cannot round-trip them%s), (c) %d ok; malformed %d/%d rejected; '
        '%d failures; %.1fs' %
        (seed, len(records), stats['a'], stats['b'], sum(skipped.values()),
         (' ' + str(skipped)) if skipped else '', stats['c'],
         stats['rejected'], len(mal), len(failures), time.time() - t0))
  return 1 if failures else 0


if __name__ == '__main__':
  sys.exit(main())
