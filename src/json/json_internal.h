/* Internal to the json layer: the per-descriptor side tables, number and text helpers
 * shared by the decoder and the encoder. Not installed. */
#ifndef EEI_JSON_INTERNAL_H
#define EEI_JSON_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ee/json.h"

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

struct eei_msg_info;

/* How the encoder tells whether a field is set. */
typedef enum eei_presence {
  EEI_PRESENT_ALWAYS = 0, /* proto2 required */
  EEI_PRESENT_COUNT,      /* repeated: n > 0 */
  EEI_PRESENT_ONEOF,      /* case == number */
  EEI_PRESENT_HAS,        /* proto2 optional scalar: has_ flag */
  EEI_PRESENT_PTR,        /* message: non-NULL */
  EEI_PRESENT_OPT_STRING, /* proto2 optional string: non-NULL, not the default */
  EEI_PRESENT_STRING,     /* proto3 string: non-empty */
  EEI_PRESENT_BYTES,      /* proto3 bytes: non-empty */
  EEI_PRESENT_BITS64,     /* proto3 64-bit scalar: any bit set (so -0.0 counts) */
  EEI_PRESENT_BITS32
} eei_presence;

#define EEI_KEY_BLOCK 16

/* Everything the codec needs about one field, computed once per descriptor. */
/* The first 32 bytes hold what the encoder's hot loops read (the array is 32-byte
 * aligned and the size a multiple of 32, so they sit in one cache line). */
typedef struct eei_field {
  /* hot */
  uint32_t id;       /* copies of fd's number, type and label, so hot loops need not */
  uint8_t type;      /* chase fd (ProtobufCType) */
  uint8_t wire_type; /* the wire type of one value (packed runs aside) */
  bool repeated;
  bool skip_zero; /* proto3 singular non-oneof scalar: a zero value is not printed */
  bool narrow;    /* a 32-bit type: protobuf-c keeps the low 32 bits of a wire value */
  bool is_oneof;
  uint8_t presence; /* eei_presence */
  bool is_map;
  uint32_t enc_json_len;
  const char *enc_json;  /* "\"jsonName\"" ready to copy; both allocations padded to */
  const char *enc_proto; /* whole EEI_KEY_BLOCKs, so block copies stay inside them */
  /* cold */
  uint32_t enc_proto_len;
  bool is_null_enum; /* enum type google.protobuf.NullValue (JSON null) */
  const ProtobufCFieldDescriptor *fd;
  const char *json_name; /* lowerCamelCase, NUL-terminated */
  uint32_t json_len, name_len;
  const ProtobufCFieldDescriptor *map_key, *map_value; /* when is_map */
  /* Info of the message type (of the map value for maps), resolved on first use. */
  _Atomic(const struct eei_msg_info *) child;
} __attribute__((aligned(32))) eei_field;

#define EEI_NUMBER_TABLE_MAX 4096

typedef struct eei_name_slot {
  uint32_t hash;
  int32_t field; /* index into fields, -1 when empty */
} eei_name_slot;

typedef struct eei_msg_info {
  const ProtobufCMessageDescriptor *desc;
  eei_wkt wkt;
  bool oneof_only;            /* every field belongs to the same oneof */
  unsigned oneof_case_offset; /* when oneof_only: where the message keeps the case */
  unsigned n_fields;
  eei_field *fields;
  uint32_t name_mask; /* name table: both spellings of every field */
  eei_name_slot *names;
  _Atomic int stream_state; /* encoder's Any fast path: 0 unknown, 1 usable, 2 not */
  /* Field index + 1 by field number (0: no such field) for numbers <= max_number; NULL
   * when the numbers are too sparse for a table (EEI_NUMBER_TABLE_MAX). */
  uint16_t *by_number;
  uint32_t max_number;
} eei_msg_info;

/* The info for desc, built on first use and kept for the life of the process.
 * Thread-safe; NULL only when out of memory. */
const eei_msg_info *eei_msg_info_get(const ProtobufCMessageDescriptor *desc);

/* The info of a field's message type (map value type for maps); NULL when out of memory. */
const eei_msg_info *eei_field_child(const eei_field *f);

/* Field index for a key in either spelling, or -1. */
int eei_msg_info_find(const eei_msg_info *mi, const char *key, size_t len);

/* The field with number id, or NULL: the table when there is one, else a search. */
static inline const eei_field *eei_msg_field_by_number(const eei_msg_info *mi, uint32_t id) {
  if (mi->by_number)
    return id <= mi->max_number && mi->by_number[id] ? &mi->fields[mi->by_number[id] - 1] : NULL;
  for (unsigned lo = 0, hi = mi->n_fields; lo < hi;) {
    unsigned mid = (lo + hi) / 2;
    if (mi->fields[mid].id == id) return &mi->fields[mid];
    if (mi->fields[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* The field with number id, or NULL. */
const ProtobufCFieldDescriptor *eei_field_by_id(const ProtobufCMessageDescriptor *d, uint32_t id);

#define EEI_MEMBER(T, msg, off) (*(T *)((char *)(msg) + (off)))

/* --- numbers --- */

/* Writes the shortest text that parses back to v (Python repr style, as json_format
 * prints doubles): "1.0", "0.1", "1e+16", "-0.0". Finite v only. Returns the length;
 * out needs 32 bytes. */
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
void eei_base64_encode(const uint8_t *in, size_t n, char *out);
/* Standard or URL-safe alphabet, padded or not. out needs len*3/4+3 bytes. Returns the
 * decoded length, or (size_t)-1 when the text is not base64. */
size_t eei_base64_decode(const char *in, size_t len, uint8_t *out);

/* --- time --- */
#define EEI_TS_MIN_SECONDS (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define EEI_TS_MAX_SECONDS 253402300799LL   /* 9999-12-31T23:59:59Z */
#define EEI_DURATION_MAX_SECONDS 315576000000LL

#define EEI_TIME_TEXT_MAX 40 /* the longest Timestamp or Duration text */

/* RFC 3339 text -> seconds/nanos (UTC). 0 on success, else a static reason. */
const char *eei_parse_timestamp(const char *s, size_t len, int64_t *sec, int32_t *nanos);
/* The date text of the last Timestamp formatted, reused while the day stays the same
 * (timestamps in one message tend to share a day). Start zeroed; one per encode. */
typedef struct eei_date_cache {
  int64_t days;
  char text[10]; /* YYYY-MM-DD */
  bool valid;
} eei_date_cache;
/* out needs EEI_TIME_TEXT_MAX bytes; returns the length or 0 when out of range. */
size_t eei_format_timestamp(int64_t sec, int32_t nanos, char *out, eei_date_cache *cache);
const char *eei_parse_duration(const char *s, size_t len, int64_t *sec, int32_t *nanos);
size_t eei_format_duration(int64_t sec, int32_t nanos, char *out);

/* --- UTF-8 --- */
/* Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0. */
size_t eei_utf8_seq(const unsigned char *p, const unsigned char *end);

/* --- registry --- */
const ProtobufCMessageDescriptor *eei_registry_find_span(const ee_json_registry *reg,
                                                         const char *name, size_t len);

#endif
