/* Wire-format framing and depth check ahead of protobuf_c_message_unpack (ee/wire.h).
 * Recursion here is bounded by max_depth, which is the point of the exercise. */
#include <stdio.h>

#include "ee/wire.h"

typedef struct walk {
  const uint8_t *base;
  int max_depth;
  ee_status *st;
} walk;

static ee_code bad(walk *w, const uint8_t *at, const char *why) {
  return ee_status_set(w->st, EE_INVALID_ARGUMENT, "malformed binary message: %s (byte %zu)", why,
                       (size_t)(at - w->base));
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

static ee_code walk_message(walk *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                            const uint8_t *end, int depth) {
  if (depth > w->max_depth)
    return ee_status_set(w->st, EE_INVALID_ARGUMENT,
                         "binary message nests deeper than the limit of %d (byte %zu)",
                         w->max_depth, (size_t)(p - w->base));
  while (p < end) {
    const uint8_t *at = p;
    uint64_t tag, v;
    if (varint(&p, end, &tag) != 0) return bad(w, at, "truncated tag");
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return bad(w, at, "invalid field number");
    switch (tag & 7) {
      case 0:
        if (varint(&p, end, &v) != 0) return bad(w, at, "truncated varint");
        break;
      case 1:
        if (end - p < 8) return bad(w, at, "truncated fixed64");
        p += 8;
        break;
      case 5:
        if (end - p < 4) return bad(w, at, "truncated fixed32");
        p += 4;
        break;
      case 2: {
        if (varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
          return bad(w, at, "truncated length-delimited field");
        const ProtobufCFieldDescriptor *fd =
            desc ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3)) : NULL;
        if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
          ee_code rc = walk_message(w, fd->descriptor, p, p + v, depth + 1);
          if (rc != EE_OK) return rc;
        }
        p += v;
        break;
      }
      default: return bad(w, at, "groups and wire types 6/7 are not supported");
    }
  }
  return EE_OK;
}

ee_code ee_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      int max_depth, ee_status *st) {
  walk w = {data, max_depth > 0 ? max_depth : EE_WIRE_DEFAULT_MAX_DEPTH, st};
  if (!desc || (!data && len))
    return ee_status_set(st, EE_INVALID_ARGUMENT, "ee_wire_check: bad arguments");
  /* data may be NULL when len is 0 (an empty Any value); NULL + 0 is undefined in C. */
  ee_code rc = walk_message(&w, desc, data, len ? data + len : data, 1);
  if (rc == EE_OK) ee_status_clear(st);
  return rc;
}

ee_code ee_wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       int max_depth, ProtobufCAllocator *allocator, ProtobufCMessage **out,
                       ee_status *st) {
  static const uint8_t empty[1];
  *out = NULL;
  ee_code rc = ee_wire_check(desc, data, len, max_depth, st);
  if (rc != EE_OK) return rc;
  *out = protobuf_c_message_unpack(desc, allocator, len, data ? data : empty);
  if (!*out)
    return ee_status_set(st, EE_INVALID_ARGUMENT,
                         "binary message does not parse as %s (bad field encoding or invalid "
                         "value)",
                         desc->name);
  return EE_OK;
}
