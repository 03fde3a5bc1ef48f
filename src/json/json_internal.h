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
#include "json_rules.h"

struct eei_msg_info;

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

/* --- registry --- */
const ProtobufCMessageDescriptor *eei_registry_find_span(const ee_json_registry *reg,
                                                         const char *name, size_t len);

#endif
