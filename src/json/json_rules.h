/* The json layer's rules that the layers above it use too (not installed).
 *
 * One implementation of each rule the JSON body and the URL forms of a message share, so
 * that the two can never disagree: how a double or float is spelled, base64, what valid
 * UTF-8 is, whether a field is set, how many bytes a field's value takes, which
 * well-known type a message is. Everything here is independent of the C locale
 * (LC_NUMERIC never changes a number's text) and of the host's byte order.
 *
 * The codec's own tables and helpers are in json_internal.h, which includes this. */
#ifndef EEI_JSON_RULES_H
#define EEI_JSON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/json.h"

/* --- numbers --- */

/* Writes the shortest text that parses back to v (Python repr style, as json_format
 * prints doubles): "1.0", "100.0", "0.1", "1e+16", "-0.0". Finite v only. Returns the
 * length; out needs 32 bytes. The route layer prints query and path doubles with it too,
 * as Google's Python clients do (str() of json_format's value). */
size_t eei_format_double(double v, char *out);

/* The same for a float field, with json_format's float rule: the fewest significant
 * digits (at least 6... 9) that read back as the same float. */
size_t eei_format_float(float v, char *out);

/* Decimal text of integers; out needs 24 bytes. */
size_t eei_format_u64(uint64_t v, char *out);
size_t eei_format_i64(int64_t v, char *out);

/* Parses exactly len bytes of text as a finite double; locale-independent. 0 on success. */
int eei_strtod(const char *s, size_t len, double *out);

/* --- base64 --- */
size_t eei_base64_encoded_len(size_t n);
/* Standard alphabet with padding; writes eei_base64_encoded_len(n) bytes (no NUL). */
void eei_base64_encode(const uint8_t *in, size_t n, char *out);
/* Standard or URL-safe alphabet, padded or not (a partial pad is refused). out needs
 * len*3/4+3 bytes. Returns the decoded length, or (size_t)-1 when the text is not base64. */
size_t eei_base64_decode(const char *in, size_t len, uint8_t *out);

/* --- UTF-8 --- */
/* Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0. Valid:
 * no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF (RFC 3629). */
size_t eei_utf8_seq(const unsigned char *p, const unsigned char *end);

/* True when all n bytes of s are valid UTF-8 (eei_utf8_seq's rule). */
bool eei_utf8_valid(const char *s, size_t n);

/* --- well-known types --- */

/* Well-known types with a special JSON form. Empty is absent on purpose: its form is the
 * ordinary {} and json_format treats it as an ordinary message inside Any too. */
typedef enum eei_wkt {
  EEI_WKT_NONE = 0,
  EEI_WKT_ANY,
  EEI_WKT_TIMESTAMP,
  EEI_WKT_DURATION,
  EEI_WKT_FIELD_MASK,
  EEI_WKT_STRUCT,
  EEI_WKT_VALUE,
  EEI_WKT_LIST_VALUE,
  EEI_WKT_WRAPPER
} eei_wkt;

/* Which well-known type d is, by full name. */
eei_wkt eei_wkt_of(const ProtobufCMessageDescriptor *d);

/* --- field storage (protobuf-c's struct layout) --- */

/* Bytes one value of a field of type t takes in a message or a repeated array. */
static inline size_t eei_storage_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return sizeof(uint32_t); /* the 32-bit integers, float, enum */
  }
}

/* Bytes a singular field takes in its message: a repeated field is its array pointer. */
static inline size_t eei_field_storage_size(const ProtobufCFieldDescriptor *fd) {
  return fd->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *) : eei_storage_size(fd->type);
}

/* Bytes of a field's quantifier (n_, oneof case or has_), 0 when it has none. */
static inline size_t eei_quantifier_size(const ProtobufCFieldDescriptor *fd) {
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) return sizeof(size_t);
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return sizeof(uint32_t);
  return fd->quantifier_offset ? sizeof(protobuf_c_boolean) : 0;
}

/* --- field presence: when a field counts as set (printed, sent as a parameter) --- */

typedef enum eei_presence {
  EEI_PRESENT_ALWAYS = 0, /* proto2 required */
  EEI_PRESENT_COUNT,      /* repeated: n > 0 */
  EEI_PRESENT_ONEOF,      /* case == number */
  EEI_PRESENT_HAS,        /* proto2 optional or proto3 `optional` scalar: has_ flag */
  EEI_PRESENT_PTR,        /* message: non-NULL */
  EEI_PRESENT_OPT_STRING, /* proto2 optional string: non-NULL, not the default */
  EEI_PRESENT_STRING,     /* proto3 string: non-empty */
  EEI_PRESENT_BYTES,      /* proto3 bytes: non-empty */
  EEI_PRESENT_BITS64,     /* proto3 64-bit scalar: any bit set (so -0.0 counts) */
  EEI_PRESENT_BITS32
} eei_presence;

/* The presence rule of a field (computed once per field by the codec's tables). */
eei_presence eei_presence_of(const ProtobufCFieldDescriptor *fd);

#define EEI_MEMBER(T, msg, off) (*(T *)((char *)(msg) + (off)))

/* Whether fd is set in msg under the rule presence (eei_presence_of(fd)). */
static inline bool eei_presence_holds(uint8_t presence, const ProtobufCFieldDescriptor *fd,
                                      const ProtobufCMessage *msg) {
  const char *p = (const char *)msg + fd->offset;
  switch (presence) {
    case EEI_PRESENT_COUNT: return EEI_MEMBER(size_t, msg, fd->quantifier_offset) != 0;
    case EEI_PRESENT_ONEOF: return EEI_MEMBER(uint32_t, msg, fd->quantifier_offset) == fd->id;
    case EEI_PRESENT_HAS: return EEI_MEMBER(protobuf_c_boolean, msg, fd->quantifier_offset) != 0;
    case EEI_PRESENT_PTR: return *(void *const *)p != NULL;
    case EEI_PRESENT_OPT_STRING:
      return *(void *const *)p != NULL && *(void *const *)p != fd->default_value;
    case EEI_PRESENT_STRING: return *(char *const *)p && **(char *const *)p;
    case EEI_PRESENT_BYTES: return ((const ProtobufCBinaryData *)p)->len != 0;
    case EEI_PRESENT_BITS64: { /* bit test: -0.0 is present */
      uint64_t v;
      memcpy(&v, p, 8);
      return v != 0;
    }
    case EEI_PRESENT_BITS32: {
      uint32_t v;
      memcpy(&v, p, 4);
      return v != 0;
    }
    default: return true;
  }
}

/* Whether fd holds a value in msg: what the encoder prints (without emit_defaults) and
 * what the route layer sends as a path variable or query parameter. */
static inline bool eei_field_is_set(const ProtobufCMessage *msg,
                                    const ProtobufCFieldDescriptor *fd) {
  return eei_presence_holds((uint8_t)eei_presence_of(fd), fd, msg);
}

/* --- byte order ---
 * Loads of little-endian data (protobuf's fixed32/fixed64 wire values) and the word-at-
 * a-time string scans assume a little-endian host where they read memory as integers.
 * EEI_LITTLE_ENDIAN says whether those fast forms may be used; a big-endian host, or a
 * build with EEI_FORCE_PORTABLE defined (the test of the fallbacks), gets the portable
 * byte-by-byte forms instead. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    !defined(EEI_FORCE_PORTABLE)
#define EEI_LITTLE_ENDIAN 1
#else
#define EEI_LITTLE_ENDIAN 0
#endif
/* SSE2 block scans (x86, so little-endian); off in the portable test build too. */
#if defined(__SSE2__) && !defined(EEI_FORCE_PORTABLE)
#define EEI_USE_SSE2 1
#else
#define EEI_USE_SSE2 0
#endif

static inline uint32_t eei_load_le32(const void *p) {
#if EEI_LITTLE_ENDIAN
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
#else
  const unsigned char *b = p;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
#endif
}

static inline uint64_t eei_load_le64(const void *p) {
#if EEI_LITTLE_ENDIAN
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
#else
  const unsigned char *b = p;
  return (uint64_t)eei_load_le32(b) | (uint64_t)eei_load_le32(b + 4) << 32;
#endif
}

#endif
